#include "encoder/relevance.h"

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "encoder/blas.h"

namespace opsis {
namespace {

constexpr std::uint64_t kMaxRuleFile = 1 << 20;
constexpr int kFormat = 1;

double finite_number(const nlohmann::json& j, const char* key, const std::string& name) {
    if (!j.contains(key)) throw input_error("relevance rule", name, std::string("has no \"") + key + "\"");
    if (!j[key].is_number()) throw input_error("relevance rule", name, std::string("\"") + key + "\" is not a number");
    const double v = j[key].get<double>();
    if (!std::isfinite(v)) throw input_error("relevance rule", name, std::string("\"") + key + "\" is not finite");
    return v;
}

}  // namespace

double RelevanceRule::probability(float cosine, float z) const {
    const double t = bias + w_score * cosine + w_z * z;
    return 1.0 / (1.0 + std::exp(-t));
}

double RelevanceRule::probability(float cosine) const {
    return 1.0 / (1.0 + std::exp(-(cosine_bias + cosine_w * cosine)));
}

std::optional<RelevanceRule> RelevanceRule::load(const std::string& folder) {
    const std::string path = (std::filesystem::path(folder) / kFileName).string();
    if (!std::filesystem::exists(path)) return std::nullopt;
    return parse(read_text_file(path, kMaxRuleFile), path);
}

RelevanceRule RelevanceRule::parse(std::string_view text, const std::string& name) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw input_error("relevance rule", name, std::string("is not JSON: ") + e.what());
    }
    if (!j.is_object()) throw input_error("relevance rule", name, "is not a JSON object");
    if (!j.contains("format") || j["format"] != kFormat)
        throw input_error("relevance rule", name,
                          "\"format\" must be " + std::to_string(kFormat) + " (written by opsis model calibrate)");
    RelevanceRule rule;
    rule.bias = finite_number(j, "bias", name);
    rule.w_score = finite_number(j, "w_score", name);
    rule.w_z = finite_number(j, "w_z", name);
    rule.threshold = finite_number(j, "threshold", name);
    if (!(rule.threshold > 0 && rule.threshold < 1))
        throw input_error("relevance rule", name, "\"threshold\" must lie strictly between 0 and 1");
    const double sample = finite_number(j, "background_sample", name);
    if (sample != std::floor(sample) || sample < 16 || sample > 1e6)
        throw input_error("relevance rule", name, "\"background_sample\" must be a whole number from 16 to 1000000");
    rule.background_sample = static_cast<int>(sample);
    const double below = finite_number(j, "min_background", name);
    if (below != std::floor(below) || below < 2 || below > sample)
        throw input_error("relevance rule", name,
                          "\"min_background\" must be a whole number from 2 to background_sample");
    rule.min_background = static_cast<int>(below);
    rule.cosine_bias = finite_number(j, "cosine_bias", name);
    rule.cosine_w = finite_number(j, "cosine_w", name);
    rule.cosine_threshold = finite_number(j, "cosine_threshold", name);
    if (!(rule.cosine_threshold > 0 && rule.cosine_threshold < 1))
        throw input_error("relevance rule", name, "\"cosine_threshold\" must lie strictly between 0 and 1");
    if (!j.contains("model_sha256") || !j["model_sha256"].is_string() ||
        j["model_sha256"].get<std::string>().size() != 64)
        throw input_error("relevance rule", name,
                          "\"model_sha256\" must be the 64-digit SHA-256 of the model it was fitted for");
    rule.model_sha256 = j["model_sha256"].get<std::string>();
    if (j.contains("fitted_on")) {
        if (!j["fitted_on"].is_string()) throw input_error("relevance rule", name, "\"fitted_on\" is not a string");
        rule.fitted_on = j["fitted_on"].get<std::string>();
    }
    return rule;
}

std::string RelevanceRule::to_json() const {
    const nlohmann::json j{
        {"format", kFormat},
        {"rule",
         "P(relevant) = sigmoid(bias + w_score * cosine + w_z * z), "
         "z = (cosine - background mean) / background std; in collections under "
         "min_background pictures, sigmoid(cosine_bias + cosine_w * cosine); likely relevant at or above "
         "threshold (cosine_threshold)"},
        {"bias", bias},
        {"w_score", w_score},
        {"w_z", w_z},
        {"threshold", threshold},
        {"background_sample", background_sample},
        {"min_background", min_background},
        {"cosine_bias", cosine_bias},
        {"cosine_w", cosine_w},
        {"cosine_threshold", cosine_threshold},
        {"fitted_on", fitted_on},
        {"model_sha256", model_sha256}};
    return j.dump(2) + "\n";
}

BackgroundSample::BackgroundSample(Tensor vectors) : vectors_(std::move(vectors)) {
    if (vectors_.numel() != 0 && vectors_.rank() != 2)
        throw Error("background sample: expected vectors [n, d], got " + vectors_.shape_string());
}

std::optional<QueryBackground> background_of(const float* scores, std::size_t n) {
    if (n < 2) return std::nullopt;
    double sum = 0, sum2 = 0;
    for (std::size_t i = 0; i < n; ++i) sum += scores[i];
    const double mean = sum / static_cast<double>(n);
    for (std::size_t i = 0; i < n; ++i) sum2 += (scores[i] - mean) * (scores[i] - mean);
    const double sd = std::sqrt(sum2 / static_cast<double>(n - 1));
    // Identical sample vectors leave no spread to measure against.
    if (!(sd > 1e-6)) return std::nullopt;
    return QueryBackground{static_cast<float>(mean), static_cast<float>(sd)};
}

std::optional<QueryBackground> BackgroundSample::background(const float* query) const {
    const std::int64_t n = size();
    if (n < 2) return std::nullopt;  // (an empty sample has no shape to read d from)
    const std::int64_t d = vectors_.shape()[1];
    std::vector<float> scores(static_cast<std::size_t>(n));
    blas::gemv(false, static_cast<int>(n), static_cast<int>(d), 1.0f, vectors_.data(), static_cast<int>(d), query, 0.0f,
               scores.data());
    return background_of(scores.data(), scores.size());
}

}  // namespace opsis
