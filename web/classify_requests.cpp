// POST /api/classify: zero-shot labels for an uploaded picture (classify/zero_shot.h). The
// body is read and checked on the connection thread; the model runs on an inference worker.
#include <chrono>

#include "classify/zero_shot.h"
#include "web/api_impl.h"
#include "web/json_fields.h"
#include "web/request_parsing.h"
#include "web/responses.h"

namespace opsis::web {

using json = nlohmann::json;

Api::Impl::Routed Api::Impl::classify(const Request& req) {
    const auto started = std::chrono::steady_clock::now();
    const json j = json_object_body(req);
    check_fields(j, {"image", "labels", "templates", "top"}, "classify");
    if (!j.contains("image") || !j["image"].is_string())
        reject(http::status::bad_request, "classify.image must be a picture as a base64 string");
    if (!j.contains("labels")) reject(http::status::bad_request, "classify.labels is missing: give a list of labels");
    std::vector<unsigned char> bytes =
        base64_bytes(j["image"].get<std::string>(), "classify.image", options_.limits.image.max_file_bytes);
    std::vector<std::string> labels = string_list(j, "labels", "classify");
    classify::ZeroShotOptions zero_shot;
    zero_shot.templates = string_list(j, "templates", "classify");
    const std::size_t top = count_field(j, "top", 5, "classify");
    if (top == 0) reject(http::status::bad_request, "classify.top must be at least 1");
    return Routed(
        std::function<Response()>([this, bytes = std::move(bytes), labels = std::move(labels),
                                   zero_shot = std::move(zero_shot), top, started, version = req.version()]() mutable {
            const classify::ZeroShotClassifier classifier(model_, std::move(labels), zero_shot);
            const RgbaImage picture = decode_image(bytes.data(), bytes.size(), "classify.image", options_.limits.image);
            const std::vector<classify::LabelScore> scores =
                classifier.classify(model_.encode_images(model_.preprocess({picture})), top).front();
            json out = json::array();
            for (const auto& s : scores)
                out.push_back({{"label", s.label}, {"probability", s.probability}, {"cosine", s.cosine}});
            return json_response(
                http::status::ok,
                {{"labels", std::move(out)},
                 {"model", model_.config().name},
                 {"took_ms",
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count()}},
                version);
        }));
}

}  // namespace opsis::web
