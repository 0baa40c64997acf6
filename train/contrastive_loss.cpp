#include "train/contrastive_loss.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "encoder/blas.h"

namespace opsis::train {

ContrastiveResult contrastive_loss(const Tensor& images, const Tensor& texts, const std::vector<std::int32_t>& concepts,
                                   float logit_scale, float max_scale, float label_smoothing) {
    expect_shape("contrastive loss", "images", images, {-1, -1});
    expect_shape("contrastive loss", "texts", texts, images.shape());
    const std::int64_t b = images.dim(0), e = images.dim(1);
    if (static_cast<std::int64_t>(concepts.size()) != b) throw Error("contrastive loss: one concept per pair needed");
    if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
        throw Error("contrastive loss: label smoothing must be in [0, 1)");
    const double smooth = label_smoothing, uniform = smooth / static_cast<double>(b);
    const double raw_scale = std::exp(static_cast<double>(logit_scale));
    const bool clamped = raw_scale > max_scale;
    const double scale = clamped ? max_scale : raw_scale;

    Tensor sims({b, b});  // images . texts^T
    blas::gemm(false, true, static_cast<int>(b), static_cast<int>(b), static_cast<int>(e), 1.0f, images.data(),
               static_cast<int>(e), texts.data(), static_cast<int>(e), 0.0f, sims.data(), static_cast<int>(b));

    // d loss / d logits, accumulated from the row (image->text) and column (text->image) terms.
    std::vector<double> dlogits(static_cast<std::size_t>(b * b), 0.0);
    double loss = 0;
    const double half_mean = 0.5 / static_cast<double>(b);
    for (int direction = 0; direction < 2; ++direction) {
        for (std::int64_t i = 0; i < b; ++i) {
            // Row i of the logits (direction 0) or column i (direction 1).
            auto at = [&](std::int64_t j) { return direction == 0 ? i * b + j : j * b + i; };
            double peak = -INFINITY;
            for (std::int64_t j = 0; j < b; ++j) peak = std::max(peak, scale * sims[at(j)]);
            double all = 0, positive = 0, mean_shifted = 0;
            for (std::int64_t j = 0; j < b; ++j) {
                const double w = std::exp(scale * sims[at(j)] - peak);
                all += w;
                mean_shifted += (scale * sims[at(j)] - peak) / static_cast<double>(b);
                if (concepts[static_cast<std::size_t>(j)] == concepts[static_cast<std::size_t>(i)]) positive += w;
            }
            loss += half_mean *
                    ((1.0 - smooth) * (std::log(all) - std::log(positive)) + smooth * (std::log(all) - mean_shifted));
            for (std::int64_t j = 0; j < b; ++j) {
                const double w = std::exp(scale * sims[at(j)] - peak);
                const bool pos = concepts[static_cast<std::size_t>(j)] == concepts[static_cast<std::size_t>(i)];
                dlogits[static_cast<std::size_t>(at(j))] +=
                    half_mean * (w / all - (1.0 - smooth) * (pos ? w / positive : 0.0) - uniform);
            }
        }
    }

    ContrastiveResult r;
    r.loss = loss;
    r.temperature = 1.0 / scale;
    Tensor dsims({b, b});
    double dscale = 0;
    for (std::int64_t k = 0; k < b * b; ++k) {
        dsims[k] = static_cast<float>(dlogits[static_cast<std::size_t>(k)] * scale);
        dscale += dlogits[static_cast<std::size_t>(k)] * sims[k];
    }
    r.d_logit_scale = clamped ? 0.0 : dscale * scale;  // d scale / d logit_scale = scale
    r.d_images = Tensor({b, e});
    r.d_texts = Tensor({b, e});
    blas::gemm(false, false, static_cast<int>(b), static_cast<int>(e), static_cast<int>(b), 1.0f, dsims.data(),
               static_cast<int>(b), texts.data(), static_cast<int>(e), 0.0f, r.d_images.data(), static_cast<int>(e));
    blas::gemm(true, false, static_cast<int>(b), static_cast<int>(e), static_cast<int>(b), 1.0f, dsims.data(),
               static_cast<int>(b), images.data(), static_cast<int>(e), 0.0f, r.d_texts.data(), static_cast<int>(e));
    return r;
}

}  // namespace opsis::train
