#include "encoder/image_tower.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "encoder/transformer.h"

namespace opsis {
namespace {

constexpr float kBatchNormEps = 1e-5f;

// ---- ResNet ---------------------------------------------------------------------------------

void add_conv_bn_params(std::vector<ParamSpec>& specs, const std::string& prefix, std::int64_t out, std::int64_t in,
                        int kernel, bool closes_residual = false) {
    const float he_std = std::sqrt(2.0f / static_cast<float>(in * kernel * kernel));
    specs.push_back({prefix + ".conv.weight", {out, in, kernel, kernel}, Init::normal, he_std, true});
    specs.push_back({prefix + ".bn.weight", {out}, Init::ones, 0.0f, false, true, closes_residual});
    specs.push_back({prefix + ".bn.bias", {out}, Init::zeros, 0.0f, false, true, closes_residual});
    specs.push_back({prefix + ".bn.running_mean", {out}, Init::zeros, 0.0f, false, false});
    specs.push_back({prefix + ".bn.running_var", {out}, Init::ones, 0.0f, false, false});
}

// A conv followed by batch-norm, folded into one packed convolution at load.
ops::PackedConv2d load_conv_bn(const Weights& w, const std::string& prefix, int stride, int padding,
                               Precision precision) {
    Tensor kernel = weight(w, prefix + ".conv.weight");
    Tensor bias;
    ops::fold_batch_norm(kernel, bias, weight(w, prefix + ".bn.weight"), weight(w, prefix + ".bn.bias"),
                         weight(w, prefix + ".bn.running_mean"), weight(w, prefix + ".bn.running_var"), kBatchNormEps);
    return ops::pack_conv2d(kernel, bias, stride, padding, 1, precision);
}

// One basic block: conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut (a 1x1
// conv + BN when the size or width changes), then ReLU. Stages after the first halve the size.
struct BlockPlan {
    std::string prefix;
    int in, out, stride;
    bool downsample;
};

std::vector<BlockPlan> resnet_blocks(const ResNetConfig& r) {
    std::vector<BlockPlan> plan;
    int in = r.stem_channels;
    for (std::size_t s = 0; s < r.stage_channels.size(); ++s)
        for (int b = 0; b < r.stage_blocks[s]; ++b) {
            const int out = r.stage_channels[s], stride = (b == 0 && s > 0) ? 2 : 1;
            plan.push_back({"visual.layers." + std::to_string(s) + "." + std::to_string(b), in, out, stride,
                            stride != 1 || in != out});
            in = out;
        }
    return plan;
}

void add_resnet_params(std::vector<ParamSpec>& specs, const ModelConfig& c) {
    const ResNetConfig& r = c.image.resnet;
    add_conv_bn_params(specs, "visual.stem", r.stem_channels, 3, 3);
    for (const BlockPlan& b : resnet_blocks(r)) {
        add_conv_bn_params(specs, b.prefix + ".conv1", b.out, b.in, 3);
        add_conv_bn_params(specs, b.prefix + ".conv2", b.out, b.out, 3, true);
        if (b.downsample) add_conv_bn_params(specs, b.prefix + ".downsample", b.out, b.in, 1);
    }
    const int last = r.stage_channels.back();
    specs.push_back(
        {"visual.proj", {last, c.embed_dim}, Init::normal, 1.0f / std::sqrt(static_cast<float>(last)), true});
}

class ResNetTower final : public ImageTower {
public:
    ResNetTower(const ModelConfig& c, const Weights& w, Precision p) : config_(c.image.resnet) {
        stem_ = load_conv_bn(w, "visual.stem", config_.stem_stride, 1, p);
        for (const BlockPlan& plan : resnet_blocks(config_)) {
            Block block{load_conv_bn(w, plan.prefix + ".conv1", plan.stride, 1, p),
                        load_conv_bn(w, plan.prefix + ".conv2", 1, 1, p),
                        {},
                        plan.downsample};
            if (plan.downsample) block.downsample = load_conv_bn(w, plan.prefix + ".downsample", plan.stride, 0, p);
            blocks_.push_back(std::move(block));
        }
        proj_ = DenseWeights(weight(w, "visual.proj"), DenseWeights::Layout::in_out, p);
    }

    Tensor forward(const Tensor& images) const override {
        return ops::project(ops::global_avg_pool(feature_map(images)), proj_);
    }

    Tensor places_forward(const Tensor& images) const override { return ops::project(feature_map(images), proj_); }

    std::vector<Tensor> stage_maps(const Tensor& images) const override {
        std::vector<Tensor> maps;
        feature_map(images, &maps);
        return maps;
    }

private:
    // [N, h, w, C]; `stages`, when given, receives the stem's output and each stage's.
    Tensor feature_map(const Tensor& images, std::vector<Tensor>* stages = nullptr) const {
        Tensor x = ops::conv2d(images, stem_);
        ops::activate(x, ops::Activation::relu);
        if (config_.stem_pool) x = ops::max_pool2d(x, 3, 2, 1);
        if (stages) stages->push_back(x);
        std::size_t block = 0;
        for (std::size_t s = 0; s < config_.stage_blocks.size(); ++s) {
            for (int k = 0; k < config_.stage_blocks[s]; ++k, ++block) {
                const Block& b = blocks_[block];
                Tensor h = ops::conv2d(x, b.conv1);
                ops::activate(h, ops::Activation::relu);
                h = ops::conv2d(h, b.conv2);
                ops::add_inplace(h, b.has_downsample ? ops::conv2d(x, b.downsample) : x);
                ops::activate(h, ops::Activation::relu);
                x = std::move(h);
            }
            if (stages) stages->push_back(x);
        }
        return x;
    }

    struct Block {
        ops::PackedConv2d conv1, conv2, downsample;
        bool has_downsample;
    };
    ResNetConfig config_;
    ops::PackedConv2d stem_;
    std::vector<Block> blocks_;
    DenseWeights proj_;
};

// ---- ViT ------------------------------------------------------------------------------------

void add_vit_params(std::vector<ParamSpec>& specs, const ModelConfig& c) {
    const VitConfig& v = c.image.vit;
    const std::int64_t grid = c.image.preprocess.image_size / v.patch_size;
    const int width = v.transformer.width;
    const float scale = 1.0f / std::sqrt(static_cast<float>(width));
    specs.push_back({"visual.conv1.weight",
                     {width, 3, v.patch_size, v.patch_size},
                     Init::normal,
                     std::sqrt(1.0f / static_cast<float>(3 * v.patch_size * v.patch_size)),
                     true});
    specs.push_back({"visual.class_embedding", {width}, Init::normal, scale, false});
    specs.push_back({"visual.positional_embedding", {grid * grid + 1, width}, Init::normal, scale, false});
    add_layer_norm_params(specs, "visual.ln_pre", width);
    add_transformer_params(specs, "visual.transformer", v.transformer);
    add_layer_norm_params(specs, "visual.ln_post", width);
    specs.push_back({"visual.proj", {width, c.embed_dim}, Init::normal, scale, true});
}

class VitTower final : public ImageTower {
public:
    VitTower(const ModelConfig& c, const Weights& w, Precision p)
        : config_(c.image.vit),
          patch_(ops::pack_conv2d(weight(w, "visual.conv1.weight"), Tensor(), config_.patch_size, 0, 1, p)),
          class_embedding_(weight(w, "visual.class_embedding")),
          positional_embedding_(weight(w, "visual.positional_embedding")),
          ln_pre_w_(weight(w, "visual.ln_pre.weight")),
          ln_pre_b_(weight(w, "visual.ln_pre.bias")),
          transformer_("visual.transformer", config_.transformer, w, p),
          ln_post_w_(weight(w, "visual.ln_post.weight")),
          ln_post_b_(weight(w, "visual.ln_post.bias")),
          proj_(weight(w, "visual.proj"), DenseWeights::Layout::in_out, p) {}

    Tensor forward(const Tensor& images) const override {
        const Tensor x = tokens(images);
        const std::int64_t n = x.dim(0), count = x.dim(1), width = x.dim(2);
        Tensor cls({n, width});
        for (std::int64_t b = 0; b < n; ++b) std::copy_n(x.data() + b * count * width, width, cls.data() + b * width);
        return ops::project(ops::layer_norm(cls, ln_post_w_, ln_post_b_, 1e-5f), proj_);
    }

    Tensor places_forward(const Tensor& images) const override {
        return ops::project(ops::layer_norm(patch_map(tokens(images)), ln_post_w_, ln_post_b_, 1e-5f), proj_);
    }

    std::vector<Tensor> stage_maps(const Tensor& images) const override {
        std::vector<Tensor> maps;
        const BlockInspector keep = [&](const BlockInternals& b) {
            maps.push_back(class_attention_map(b.attention));
            maps.push_back(patch_map(b.mlp_hidden));
        };
        tokens(images, &keep);
        return maps;
    }

private:
    // Attention probabilities [N, heads, L, L] -> the class token's to each patch [N, G, G, heads].
    static Tensor class_attention_map(const Tensor& probs) {
        const std::int64_t n = probs.dim(0), heads = probs.dim(1), len = probs.dim(2), grid = grid_of(len);
        Tensor out({n, grid, grid, heads});
        for (std::int64_t b = 0; b < n; ++b)
            for (std::int64_t h = 0; h < heads; ++h) {
                const float* row = probs.data() + (b * heads + h) * len * len;  // the class token's row
                for (std::int64_t p = 1; p < len; ++p) out.data()[(b * (len - 1) + p - 1) * heads + h] = row[p];
            }
        return out;
    }
    // Per-token values [N, L, U] -> the patches' [N, G, G, U] (the class token dropped).
    static Tensor patch_map(const Tensor& values) {
        const std::int64_t n = values.dim(0), len = values.dim(1), units = values.dim(2), grid = grid_of(len);
        Tensor out({n, grid, grid, units});
        for (std::int64_t b = 0; b < n; ++b)
            std::copy_n(values.data() + (b * len + 1) * units, (len - 1) * units, out.data() + b * (len - 1) * units);
        return out;
    }
    static std::int64_t grid_of(std::int64_t tokens) {
        return static_cast<std::int64_t>(std::lround(std::sqrt(static_cast<double>(tokens - 1))));
    }

    // The transformer's output [N, 1 + G*G, W]: the class token, then the patches row by row;
    // `inspect`, when given, sees each block's internals.
    Tensor tokens(const Tensor& images, const BlockInspector* inspect = nullptr) const {
        const Tensor patches = ops::conv2d(images, patch_);  // [N, G, G, W]
        const std::int64_t n = patches.dim(0), width = config_.transformer.width;
        const std::int64_t count = patches.dim(1) * patches.dim(2) + 1;
        expect_shape("vit", "positional_embedding", positional_embedding_, {count, width});
        Tensor x({n, count, width});
        for (std::int64_t b = 0; b < n; ++b) {
            float* dst = x.data() + b * count * width;
            std::copy_n(class_embedding_.data(), width, dst);
            std::copy_n(patches.data() + b * (count - 1) * width, (count - 1) * width, dst + width);
            for (std::int64_t i = 0; i < count * width; ++i) dst[i] += positional_embedding_[i];
        }
        Tensor normed = ops::layer_norm(x, ln_pre_w_, ln_pre_b_, 1e-5f);
        return inspect ? transformer_.forward_inspected(std::move(normed), false, *inspect)
                       : transformer_.forward(std::move(normed), false);
    }

    VitConfig config_;
    ops::PackedConv2d patch_;
    Tensor class_embedding_, positional_embedding_, ln_pre_w_, ln_pre_b_;
    TransformerStack transformer_;
    Tensor ln_post_w_, ln_post_b_;
    DenseWeights proj_;
};

}  // namespace

std::vector<ParamSpec> image_tower_params(const ModelConfig& config) {
    std::vector<ParamSpec> specs;
    if (config.image.arch == ImageTowerConfig::Arch::resnet)
        add_resnet_params(specs, config);
    else
        add_vit_params(specs, config);
    return specs;
}

std::unique_ptr<ImageTower> make_image_tower(const ModelConfig& config, const Weights& weights, Precision precision) {
    if (config.image.arch == ImageTowerConfig::Arch::resnet)
        return std::make_unique<ResNetTower>(config, weights, precision);
    return std::make_unique<VitTower>(config, weights, precision);
}

}  // namespace opsis
