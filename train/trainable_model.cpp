#include "train/trainable_model.h"

#include <algorithm>

#include "core/error.h"
#include "encoder/dual_encoder.h"
#include "encoder/ops.h"

namespace opsis::train {
namespace {

constexpr float kBatchNormEps = 1e-5f;
constexpr float kBatchNormMomentum = 0.1f;
constexpr float kLayerNormEps = 1e-5f;

Tensor& grad_of(Gradients& g, const std::string& name) {
    const auto it = g.find(name);
    if (it == g.end()) throw Error("training: no gradient buffer for '" + name + "'");
    return it->second;
}

Tensor relu_of(const Tensor& x) {
    Tensor y = x;
    ops::activate(y, ops::Activation::relu);
    return y;
}

}  // namespace

Gradients zero_gradients(const std::vector<ParamSpec>& specs) {
    Gradients g;
    for (const ParamSpec& s : specs)
        if (s.trainable) g.emplace(s.name, Tensor(s.shape));
    return g;
}

void clear(Gradients& grads) {
    for (auto& [name, t] : grads) std::fill(t.data(), t.data() + t.numel(), 0.0f);
}

// ---- the ResNet image tower -------------------------------------------------------------------

struct TrainableDualEncoder::ImagePass {
    // conv -> batch-norm, as one unit: forward keeps the conv input and the norm's cache.
    struct ConvBn {
        std::string prefix;
        int stride = 1, padding = 0;
        Tensor input;
        ops::PackedConv2d conv;
        ops::BatchNormCache bn;
        bool running_statistics = false;  // inference's batch-norm: no update, no backward

        Tensor forward(const Tensor& x, Weights& w) {
            input = x;
            conv = ops::pack_conv2d(weight(w, prefix + ".conv.weight"), Tensor(), stride, padding, 1);
            if (running_statistics)
                return ops::batch_norm(ops::conv2d(x, conv), weight(w, prefix + ".bn.weight"),
                                       weight(w, prefix + ".bn.bias"), w.at(prefix + ".bn.running_mean"),
                                       w.at(prefix + ".bn.running_var"), kBatchNormEps);
            return ops::batch_norm_train(ops::conv2d(x, conv), weight(w, prefix + ".bn.weight"),
                                         weight(w, prefix + ".bn.bias"), w.at(prefix + ".bn.running_mean"),
                                         w.at(prefix + ".bn.running_var"), kBatchNormMomentum, kBatchNormEps, bn);
        }
        Tensor backward(const Tensor& dz, const Weights& w, Gradients& g, bool need_dx = true) const {
            const Tensor dy =
                ops::batch_norm_backward(dz, bn, weight(w, prefix + ".bn.weight"), grad_of(g, prefix + ".bn.weight"),
                                         grad_of(g, prefix + ".bn.bias"));
            return ops::conv2d_backward(input, conv, dy, grad_of(g, prefix + ".conv.weight"), nullptr, !need_dx);
        }
    };
    struct Block {
        ConvBn conv1, conv2, downsample;
        bool has_downsample = false;
        Tensor h1_pre, out_pre;  // inputs of the two ReLUs
    };

    const ResNetConfig& config;
    ConvBn stem;
    Tensor stem_pre, pool_input;
    std::vector<Block> blocks;
    Shape last_shape;
    Tensor pooled;

    explicit ImagePass(const ResNetConfig& c) : config(c) {
        stem = {"visual.stem", c.stem_stride, 1, {}, {}, {}};
        int in = c.stem_channels;
        for (std::size_t s = 0; s < c.stage_channels.size(); ++s)
            for (int b = 0; b < c.stage_blocks[s]; ++b) {
                const int out = c.stage_channels[s], stride = (b == 0 && s > 0) ? 2 : 1;
                const std::string p = "visual.layers." + std::to_string(s) + "." + std::to_string(b);
                Block block;
                block.conv1 = {p + ".conv1", stride, 1, {}, {}, {}};
                block.conv2 = {p + ".conv2", 1, 1, {}, {}, {}};
                block.has_downsample = stride != 1 || in != out;
                if (block.has_downsample) block.downsample = {p + ".downsample", stride, 0, {}, {}, {}};
                blocks.push_back(std::move(block));
                in = out;
            }
    }

    void use_running_statistics() {
        stem.running_statistics = true;
        for (Block& b : blocks) {
            b.conv1.running_statistics = true;
            b.conv2.running_statistics = true;
            b.downsample.running_statistics = true;
        }
    }

    Tensor forward(const Tensor& images, Weights& w) {
        stem_pre = stem.forward(images, w);
        Tensor x = relu_of(stem_pre);
        if (config.stem_pool) {
            pool_input = x;
            x = ops::max_pool2d(x, 3, 2, 1);
        }
        for (Block& b : blocks) {
            b.h1_pre = b.conv1.forward(x, w);
            Tensor out = b.conv2.forward(relu_of(b.h1_pre), w);
            ops::add_inplace(out, b.has_downsample ? b.downsample.forward(x, w) : x);
            b.out_pre = out;
            x = relu_of(out);
        }
        last_shape = x.shape();
        pooled = ops::global_avg_pool(x);
        return ops::project(pooled, weight(w, "visual.proj"));
    }

    void backward(const Tensor& dfeatures, const Weights& w, Gradients& g) {
        const Tensor dpooled =
            ops::project_backward(pooled, weight(w, "visual.proj"), dfeatures, grad_of(g, "visual.proj"));
        Tensor dx = ops::global_avg_pool_backward(dpooled, last_shape);
        for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
            Block& b = *it;
            ops::activate_backward(b.out_pre, ops::Activation::relu, dx);  // dx is now d out_pre
            Tensor dh1 = b.conv2.backward(dx, w, g);
            ops::activate_backward(b.h1_pre, ops::Activation::relu, dh1);
            Tensor dinput = b.conv1.backward(dh1, w, g);
            ops::add_inplace(dinput, b.has_downsample ? b.downsample.backward(dx, w, g) : dx);
            dx = std::move(dinput);
        }
        if (config.stem_pool) dx = ops::max_pool2d_backward(pool_input, dx, 3, 2, 1);
        ops::activate_backward(stem_pre, ops::Activation::relu, dx);
        (void)stem.backward(dx, w, g, false);  // the images need no gradient
    }
};

// ---- the text tower -------------------------------------------------------------------------

struct TrainableDualEncoder::TextPass {
    struct Block {
        std::string prefix;
        Tensor x_in, ln1_out, x_mid, ln2_out, fc_out, act_out;
        ops::AttentionCache attention;
    };
    const TextTowerConfig& config;
    std::vector<Block> blocks;
    std::vector<std::int32_t> ids;
    std::vector<std::int64_t> ends;
    std::int64_t len = 0;
    Tensor pooled, normed;

    explicit TextPass(const TextTowerConfig& c) : config(c) {
        for (int i = 0; i < c.transformer.layers; ++i)
            blocks.push_back({"transformer.resblocks." + std::to_string(i), {}, {}, {}, {}, {}, {}, {}});
    }

    static ops::AttentionWeights attention_weights(const Weights& w, const std::string& p) {
        return {weight(w, p + ".attn.in_proj_weight"), weight(w, p + ".attn.in_proj_bias"),
                weight(w, p + ".attn.out_proj.weight"), weight(w, p + ".attn.out_proj.bias")};
    }

    Tensor forward(const std::vector<std::vector<std::int32_t>>& rows, const Weights& w) {
        const std::int64_t n = static_cast<std::int64_t>(rows.size()), width = config.transformer.width;
        std::size_t longest = 0;
        for (const auto& row : rows) {
            if (row.empty() || row.size() > static_cast<std::size_t>(config.context_length))
                throw Error("training: a token row has length " + std::to_string(row.size()));
            longest = std::max(longest, row.size());
        }
        len = static_cast<std::int64_t>(longest);
        ids.clear();
        ends.clear();
        for (const auto& row : rows) {
            ids.insert(ids.end(), row.begin(), row.end());
            ids.insert(ids.end(), longest - row.size(), row.back());
            ends.push_back(static_cast<std::int64_t>(row.size()) - 1);
        }
        Tensor x = ops::embedding(ids, weight(w, "token_embedding.weight")).reshaped({n, len, width});
        const Tensor& pos = weight(w, "positional_embedding");
        for (std::int64_t b = 0; b < n; ++b)
            for (std::int64_t i = 0; i < len * width; ++i) x[b * len * width + i] += pos[i];
        for (Block& blk : blocks) {
            const std::string& p = blk.prefix;
            blk.x_in = x;
            blk.ln1_out = ops::layer_norm(x, weight(w, p + ".ln_1.weight"), weight(w, p + ".ln_1.bias"), kLayerNormEps);
            ops::add_inplace(x, ops::multi_head_attention_train(blk.ln1_out, attention_weights(w, p),
                                                                config.transformer.heads, true, blk.attention));
            blk.x_mid = x;
            blk.ln2_out = ops::layer_norm(x, weight(w, p + ".ln_2.weight"), weight(w, p + ".ln_2.bias"), kLayerNormEps);
            blk.fc_out = ops::linear(blk.ln2_out, weight(w, p + ".mlp.c_fc.weight"), weight(w, p + ".mlp.c_fc.bias"));
            blk.act_out = blk.fc_out;
            ops::activate(blk.act_out, config.transformer.activation);
            ops::add_inplace(
                x, ops::linear(blk.act_out, weight(w, p + ".mlp.c_proj.weight"), weight(w, p + ".mlp.c_proj.bias")));
        }
        pooled = Tensor({n, width});
        for (std::int64_t b = 0; b < n; ++b)
            std::copy_n(x.data() + (b * len + ends[static_cast<std::size_t>(b)]) * width, width,
                        pooled.data() + b * width);
        normed = ops::layer_norm(pooled, weight(w, "ln_final.weight"), weight(w, "ln_final.bias"), kLayerNormEps);
        return ops::project(normed, weight(w, "text_projection"));
    }

    void backward(const Tensor& dfeatures, const Weights& w, Gradients& g) {
        const std::int64_t n = pooled.dim(0), width = pooled.dim(1);
        const Tensor dnormed =
            ops::project_backward(normed, weight(w, "text_projection"), dfeatures, grad_of(g, "text_projection"));
        const Tensor dpooled =
            ops::layer_norm_backward(pooled, weight(w, "ln_final.weight"), dnormed, grad_of(g, "ln_final.weight"),
                                     grad_of(g, "ln_final.bias"), kLayerNormEps);
        Tensor dx({n, len, width});
        for (std::int64_t b = 0; b < n; ++b)
            std::copy_n(dpooled.data() + b * width, width,
                        dx.data() + (b * len + ends[static_cast<std::size_t>(b)]) * width);
        for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
            const Block& blk = *it;
            const std::string& p = blk.prefix;
            // x_out = x_mid + c_proj(act(c_fc(ln_2(x_mid))))
            Tensor dact =
                ops::linear_backward(blk.act_out, weight(w, p + ".mlp.c_proj.weight"), dx,
                                     grad_of(g, p + ".mlp.c_proj.weight"), &grad_of(g, p + ".mlp.c_proj.bias"));
            ops::activate_backward(blk.fc_out, config.transformer.activation, dact);
            const Tensor dln2 =
                ops::linear_backward(blk.ln2_out, weight(w, p + ".mlp.c_fc.weight"), dact,
                                     grad_of(g, p + ".mlp.c_fc.weight"), &grad_of(g, p + ".mlp.c_fc.bias"));
            ops::add_inplace(dx, ops::layer_norm_backward(blk.x_mid, weight(w, p + ".ln_2.weight"), dln2,
                                                          grad_of(g, p + ".ln_2.weight"), grad_of(g, p + ".ln_2.bias"),
                                                          kLayerNormEps));
            // x_mid = x_in + attn(ln_1(x_in))
            const Tensor dln1 = ops::multi_head_attention_backward(
                blk.ln1_out, attention_weights(w, p), config.transformer.heads, blk.attention, dx,
                {grad_of(g, p + ".attn.in_proj_weight"), grad_of(g, p + ".attn.in_proj_bias"),
                 grad_of(g, p + ".attn.out_proj.weight"), grad_of(g, p + ".attn.out_proj.bias")});
            ops::add_inplace(dx, ops::layer_norm_backward(blk.x_in, weight(w, p + ".ln_1.weight"), dln1,
                                                          grad_of(g, p + ".ln_1.weight"), grad_of(g, p + ".ln_1.bias"),
                                                          kLayerNormEps));
        }
        Tensor& dpos = grad_of(g, "positional_embedding");
        for (std::int64_t b = 0; b < n; ++b)
            for (std::int64_t i = 0; i < len * width; ++i) dpos[i] += dx[b * len * width + i];
        ops::embedding_backward(ids, dx.reshaped({n * len, width}), grad_of(g, "token_embedding.weight"));
    }
};

// Rows padded to the batch's longest waste most of the text tower's work: one long Greek
// caption pads a hundred short English ones. The tower treats each row on its own (no
// batch statistics), so running it on groups of rows of similar length gives the same
// features and gradients for less work. Groups are chosen over the rows sorted by length to
// minimise padded tokens plus a fixed cost per group (each group's GEMMs and barriers).
std::vector<std::vector<std::size_t>> group_rows_by_length(const std::vector<std::vector<std::int32_t>>& rows,
                                                           std::int64_t cost_per_group) {
    const std::size_t n = rows.size();
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return rows[a].size() < rows[b].size(); });
    // best[i]: the least cost of the first i sorted rows; a group (j, i] costs its rows times
    // its longest, which is the last one's length since the rows are sorted.
    std::vector<std::int64_t> best(n + 1, 0);
    std::vector<std::size_t> cut(n + 1, 0);
    for (std::size_t i = 1; i <= n; ++i) {
        const auto longest = static_cast<std::int64_t>(rows[order[i - 1]].size());
        best[i] = -1;
        for (std::size_t j = 0; j < i; ++j) {
            const std::int64_t cost = best[j] + static_cast<std::int64_t>(i - j) * longest + cost_per_group;
            if (best[i] < 0 || cost < best[i]) {
                best[i] = cost;
                cut[i] = j;
            }
        }
    }
    std::vector<std::vector<std::size_t>> groups;
    for (std::size_t i = n; i > 0; i = cut[i])
        groups.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(cut[i]),
                            order.begin() + static_cast<std::ptrdiff_t>(i));
    std::reverse(groups.begin(), groups.end());  // shortest first
    return groups;
}

struct TrainableDualEncoder::TextGroups {
    const TextTowerConfig& config;
    std::int64_t cost_per_group;
    std::vector<std::vector<std::size_t>> groups;
    std::vector<TextPass> passes;
    std::int64_t embed_dim = 0;

    TextGroups(const TextTowerConfig& c, std::int64_t cost) : config(c), cost_per_group(cost) {}

    Tensor forward(const std::vector<std::vector<std::int32_t>>& rows, const Weights& w) {
        groups = group_rows_by_length(rows, cost_per_group);
        passes.clear();
        passes.reserve(groups.size());
        Tensor features;
        for (const auto& group : groups) {
            std::vector<std::vector<std::int32_t>> group_rows;
            for (std::size_t r : group) group_rows.push_back(rows[r]);
            passes.emplace_back(config);
            const Tensor f = passes.back().forward(group_rows, w);
            if (features.numel() == 0) {
                embed_dim = f.dim(1);
                features = Tensor({static_cast<std::int64_t>(rows.size()), embed_dim});
            }
            for (std::size_t i = 0; i < group.size(); ++i)
                std::copy_n(f.data() + static_cast<std::int64_t>(i) * embed_dim, embed_dim,
                            features.data() + static_cast<std::int64_t>(group[i]) * embed_dim);
        }
        return features;
    }

    void backward(const Tensor& dfeatures, const Weights& w, Gradients& g) {
        for (std::size_t k = 0; k < groups.size(); ++k) {
            const auto& group = groups[k];
            Tensor d({static_cast<std::int64_t>(group.size()), embed_dim});
            for (std::size_t i = 0; i < group.size(); ++i)
                std::copy_n(dfeatures.data() + static_cast<std::int64_t>(group[i]) * embed_dim, embed_dim,
                            d.data() + static_cast<std::int64_t>(i) * embed_dim);
            passes[k].backward(d, w, g);
        }
    }
};

// ---- the dual encoder -------------------------------------------------------------------------

TrainableDualEncoder::TrainableDualEncoder(ModelConfig config, Weights weights)
    : config_(std::move(config)), weights_(std::move(weights)), specs_(DualEncoder::param_specs(config_)) {
    if (config_.image.arch != ImageTowerConfig::Arch::resnet)
        throw Error("training: only the ResNet image tower trains; the ViT tower runs imported weights");
    for (const ParamSpec& s : specs_) {
        const auto it = weights_.find(s.name);
        if (it == weights_.end() || it->second.shape() != s.shape)
            throw Error("training: weights do not match the config at '" + s.name + "'");
    }
}

TrainableDualEncoder::~TrainableDualEncoder() = default;
TrainableDualEncoder::TrainableDualEncoder(TrainableDualEncoder&&) noexcept = default;

TrainableDualEncoder::Embeddings TrainableDualEncoder::embed(const Tensor& images,
                                                             const std::vector<std::vector<std::int32_t>>& token_rows) {
    ImagePass image_pass(config_.image.resnet);
    image_pass.use_running_statistics();
    TextGroups text_pass(config_.text, text_group_cost_);
    Embeddings out{image_pass.forward(images, weights_), text_pass.forward(token_rows, weights_)};
    ops::l2_normalize_rows(out.images);
    ops::l2_normalize_rows(out.texts);
    return out;
}

StepOutcome TrainableDualEncoder::forward_backward(const Tensor& images,
                                                   const std::vector<std::vector<std::int32_t>>& token_rows,
                                                   const std::vector<std::int32_t>& concepts, Gradients& grads,
                                                   float label_smoothing) {
    ImagePass image_pass(config_.image.resnet);
    TextGroups text_pass(config_.text, text_group_cost_);
    const Tensor image_raw = image_pass.forward(images, weights_);
    const Tensor text_raw = text_pass.forward(token_rows, weights_);
    Tensor image_unit = image_raw, text_unit = text_raw;
    ops::l2_normalize_rows(image_unit);
    ops::l2_normalize_rows(text_unit);

    const ContrastiveResult loss =
        contrastive_loss(image_unit, text_unit, concepts, weights_.at("logit_scale")[0], 100.0f, label_smoothing);
    grad_of(grads, "logit_scale")[0] += static_cast<float>(loss.d_logit_scale);
    text_pass.backward(ops::l2_normalize_backward(text_raw, text_unit, loss.d_texts), weights_, grads);
    image_pass.backward(ops::l2_normalize_backward(image_raw, image_unit, loss.d_images), weights_, grads);
    return {loss.loss, loss.temperature};
}

StepOutcome TrainableDualEncoder::forward_backward_text_pairs(const std::vector<std::vector<std::int32_t>>& rows_a,
                                                             const std::vector<std::vector<std::int32_t>>& rows_b,
                                                             const std::vector<std::int32_t>& groups, Gradients& grads,
                                                             float weight) {
    const std::size_t n = rows_a.size();
    if (rows_b.size() != n || groups.size() != n) throw Error("training: text pairs' rows and groups differ in count");
    // Both sides through the tower as one batch: rows [0, n) are a, [n, 2n) are b.
    std::vector<std::vector<std::int32_t>> rows = rows_a;
    rows.insert(rows.end(), rows_b.begin(), rows_b.end());
    TextGroups text_pass(config_.text, text_group_cost_);
    const Tensor raw = text_pass.forward(rows, weights_);
    Tensor unit = raw;
    ops::l2_normalize_rows(unit);
    const std::int64_t rows_n = static_cast<std::int64_t>(n), dim = unit.dim(1);
    Tensor a({rows_n, dim}), b({rows_n, dim});
    std::copy_n(unit.data(), rows_n * dim, a.data());
    std::copy_n(unit.data() + rows_n * dim, rows_n * dim, b.data());
    const ContrastiveResult loss = contrastive_loss(a, b, groups, weights_.at("logit_scale")[0], 100.0f);
    Tensor dunit({2 * rows_n, dim});
    for (std::int64_t i = 0; i < rows_n * dim; ++i) {
        dunit[i] = weight * loss.d_images[i];
        dunit[rows_n * dim + i] = weight * loss.d_texts[i];
    }
    text_pass.backward(ops::l2_normalize_backward(raw, unit, dunit), weights_, grads);
    return {loss.loss, loss.temperature};
}

}  // namespace opsis::train
