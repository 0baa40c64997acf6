#pragma once
// A float32, row-major, owning tensor with a checked shape. Images are NHWC, token
// sequences [batch, length, width], weights keep the layout named where they are used.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace opsis {

using Shape = std::vector<std::int64_t>;

std::string shape_to_string(const Shape& shape);
std::int64_t shape_numel(const Shape& shape);  // throws on negative or overflowing sizes

class Tensor {
public:
    Tensor() = default;
    explicit Tensor(Shape shape);                    // zero-filled
    Tensor(Shape shape, std::vector<float> values);  // values.size() must match
    static Tensor filled(Shape shape, float value);

    const Shape& shape() const { return shape_; }
    int rank() const { return static_cast<int>(shape_.size()); }
    std::int64_t dim(int axis) const;  // negative axes count from the end
    std::int64_t numel() const { return static_cast<std::int64_t>(data_.size()); }
    bool empty() const { return data_.empty(); }

    float* data() { return data_.data(); }
    const float* data() const { return data_.data(); }
    float& operator[](std::int64_t i) { return data_[static_cast<std::size_t>(i)]; }
    float operator[](std::int64_t i) const { return data_[static_cast<std::size_t>(i)]; }
    const std::vector<float>& values() const { return data_; }

    // Same data, new shape with the same element count (one axis may be -1).
    Tensor reshaped(Shape shape) const&;
    Tensor reshaped(Shape shape) &&;

    std::string shape_string() const { return shape_to_string(shape_); }

private:
    Shape shape_;
    std::vector<float> data_;
};

// Throws opsis::Error "<op>: <what> has shape [..], expected [..]" unless shapes match;
// -1 in expected matches any size.
void expect_shape(const char* op, const char* what, const Tensor& t, const Shape& expected);

}  // namespace opsis
