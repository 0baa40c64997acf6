// GET /api/items/{id}/heatmap?text=…: where in the item's picture the text matches, as a PNG
// (explain/heatmap.h), made on an inference worker and kept in a small cache.
#include <cstdio>

#include "core/utf8.h"
#include "explain/heatmap.h"
#include "web/api_impl.h"
#include "web/request_parsing.h"
#include "web/responses.h"

namespace opsis::web {

namespace {
constexpr int kHeatmapSide = 384;
constexpr std::size_t kMaxHeatmapText = 1000;
// The PNG, and the picture's cosine with the text beside it.
Response heatmap_response(const CachedHeatmap& drawn, unsigned version) {
    Response r = bytes_response(drawn.png, "image/png", version, "private, max-age=3600");
    char cosine[32];
    std::snprintf(cosine, sizeof cosine, "%.4f", static_cast<double>(drawn.cosine));
    r.set("X-Opsis-Cosine", cosine);
    return r;
}

}  // namespace

Api::Impl::Routed Api::Impl::heatmap(const Request& req, std::int64_t id) {
    const Target t = parse_target(req);
    const auto found_text = t.query.find("text");
    if (found_text == t.query.end() || found_text->second.find_first_not_of(" \t\r\n") == std::string::npos)
        reject(http::status::bad_request, "heatmap: give the text to find in the picture (?text=…)");
    const std::string text = found_text->second;
    if (utf8::find_invalid(text)) reject(http::status::bad_request, "heatmap.text is not valid UTF-8");
    if (text.size() > kMaxHeatmapText)
        reject(http::status::bad_request, "heatmap.text is longer than " + std::to_string(kMaxHeatmapText) + " bytes");
    auto [collection, item] = requested_item(req, id);
    if (collection != storage::Collection::images) reject(http::status::not_found, "texts have no image");
    const std::string key = std::to_string(id) + "\n" + text;
    const unsigned version = req.version();
    if (std::optional<CachedHeatmap> drawn = heatmaps_.find(key)) return heatmap_response(*drawn, version);
    return std::function<Response()>([this, item = std::move(item), text, key, version] {
        const storage::OriginalFile original = original_of(item);
        const RgbaImage picture = decode_image(original.bytes.data(), original.bytes.size(),
                                               "images/" + std::to_string(item.id), options_.limits.image);
        const explain::DrawnHeatmap made = explain::draw_heatmap(model_, picture, text, kHeatmapSide);
        CachedHeatmap drawn{std::string(made.png.begin(), made.png.end()), made.map.cosine};
        heatmaps_.put(key, drawn);
        return heatmap_response(drawn, version);
    });
}

}  // namespace opsis::web
