#include "encoder/tensor.h"

#include <limits>

#include "core/error.h"

namespace opsis {

std::string shape_to_string(const Shape& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

std::int64_t shape_numel(const Shape& shape) {
    std::int64_t n = 1;
    for (const std::int64_t d : shape) {
        if (d < 0) throw Error("negative dimension in shape " + shape_to_string(shape));
        if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d)
            throw Error("shape " + shape_to_string(shape) + " is too large");
        n *= d;
    }
    return n;
}

Tensor::Tensor(Shape shape) : shape_(std::move(shape)) {
    data_.assign(static_cast<std::size_t>(shape_numel(shape_)), 0.0f);
}

Tensor::Tensor(Shape shape, std::vector<float> values) : shape_(std::move(shape)), data_(std::move(values)) {
    if (static_cast<std::int64_t>(data_.size()) != shape_numel(shape_))
        throw Error("tensor of shape " + shape_to_string(shape_) + " given " + std::to_string(data_.size()) +
                    " values");
}

Tensor Tensor::filled(Shape shape, float value) {
    Tensor t(std::move(shape));
    std::fill(t.data_.begin(), t.data_.end(), value);
    return t;
}

std::int64_t Tensor::dim(int axis) const {
    const int r = rank();
    const int a = axis < 0 ? axis + r : axis;
    if (a < 0 || a >= r) throw Error("axis " + std::to_string(axis) + " out of range for shape " + shape_string());
    return shape_[static_cast<std::size_t>(a)];
}

namespace {
Shape resolve_reshape(const Shape& from, Shape to) {
    std::int64_t known = 1;
    int infer = -1;
    for (std::size_t i = 0; i < to.size(); ++i) {
        if (to[i] == -1) {
            if (infer >= 0) throw Error("reshape to " + shape_to_string(to) + ": more than one -1");
            infer = static_cast<int>(i);
        } else {
            known *= to[i];
        }
    }
    const std::int64_t total = shape_numel(from);
    if (infer >= 0) {
        if (known == 0 || total % known != 0)
            throw Error("cannot reshape " + shape_to_string(from) + " to " + shape_to_string(to));
        to[static_cast<std::size_t>(infer)] = total / known;
    }
    if (shape_numel(to) != total) throw Error("cannot reshape " + shape_to_string(from) + " to " + shape_to_string(to));
    return to;
}
}  // namespace

Tensor Tensor::reshaped(Shape shape) const& {
    Tensor t = *this;
    t.shape_ = resolve_reshape(shape_, std::move(shape));
    return t;
}

Tensor Tensor::reshaped(Shape shape) && {
    shape_ = resolve_reshape(shape_, std::move(shape));
    return std::move(*this);
}

void expect_shape(const char* op, const char* what, const Tensor& t, const Shape& expected) {
    bool ok = t.rank() == static_cast<int>(expected.size());
    for (std::size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] == -1 || expected[i] == t.shape()[i];
    if (!ok)
        throw Error(std::string(op) + ": " + what + " has shape " + t.shape_string() + ", expected " +
                    shape_to_string(expected));
}

}  // namespace opsis
