// Media: an item's JSON, its original (only while its file still holds the indexed picture),
// and its thumbnail (made once on a worker, then cached); the item's stored vector.
#include <algorithm>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "image/encode.h"
#include "image/preprocess.h"
#include "search/result_json.h"
#include "web/api_impl.h"
#include "web/request_parsing.h"
#include "web/responses.h"

namespace opsis::web {

using json = nlohmann::json;
using storage::Collection;
namespace fs = std::filesystem;

Api::Impl::RequestedItem Api::Impl::requested_item(const Request& req, std::int64_t id) const {
    const Target t = parse_target(req);
    const Collection c = parse_collection_param(t.query.count("collection") ? t.query.at("collection") : "images");
    std::optional<storage::Item> item = store_.catalog().item(c, id);
    if (!item) throw not_found_error("item", std::string(storage::collection_name(c)) + "/" + std::to_string(id));
    return {c, std::move(*item)};
}

// The item's stored vector: what "more like this" starts from, for a program or another shard.
Response Api::Impl::item_vector(const Request& req, std::int64_t id) const {
    const auto [c, found] = requested_item(req, id);
    const std::vector<float> v = store_.catalog().vector(c, id);
    if (v.empty())
        throw not_found_error("vector of item", std::string(storage::collection_name(c)) + "/" + std::to_string(id));
    return json_response(http::status::ok,
                         {{"id", id},
                          {"collection", storage::collection_name(c)},
                          {"sha256", found.hash},
                          {"dim", v.size()},
                          {"vector", v}},
                         req.version());
}

Api::Impl::Routed Api::Impl::item(const Request& req, std::int64_t id, const std::string& what) {
    const auto [c, found] = requested_item(req, id);
    if (what.empty()) return json_response(http::status::ok, search::item_json(found, c), req.version());
    if (c != Collection::images) reject(http::status::not_found, "texts have no image");
    if (what == "thumbnail") {
        std::string type;
        if (std::optional<std::string> body = cached_thumbnail(id, type))
            return bytes_response(*body, type, req.version(), "public, max-age=86400");
        // Decoding and resizing a large photo takes tens of milliseconds: not on a connection thread.
        return std::function<Response()>([this, item = found, version = req.version()] {
            std::string made_type;
            const std::string body = make_thumbnail(item, made_type);
            return bytes_response(body, made_type, version, "public, max-age=86400");
        });
    }
    const storage::OriginalFile original = original_of(found);
    const std::vector<unsigned char>& bytes = original.bytes;
    const ImageFormat format = sniff_image_format(bytes.data(), bytes.size(), original.path);
    if (format != ImageFormat::heif && format != ImageFormat::tga)
        return bytes_response(std::string(bytes.begin(), bytes.end()), image_mime(format), req.version(),
                              "public, max-age=3600");
    // Browsers show neither HEIC nor TGA: the picture goes as JPEG (PNG where it is transparent),
    // decoded off the connection thread.
    return std::function<Response()>([this, item = found, version = req.version()] {
        const storage::OriginalFile file = original_of(item);
        const RgbaImage image = decode_image(file.bytes.data(), file.bytes.size(), "images/" + std::to_string(item.id),
                                             options_.limits.image);
        const bool alpha = has_transparency(image);
        const std::vector<unsigned char> shown = alpha ? encode_png(image) : encode_jpeg(image, 92);
        return bytes_response(std::string(shown.begin(), shown.end()), alpha ? "image/png" : "image/jpeg", version,
                              "public, max-age=3600");
    });
}

// Clients never name files: the item's recorded paths are read, and only while one still holds
// the indexed content (storage/original_file.h), so a path swapped for a link to another file
// serves nothing.
storage::OriginalFile Api::Impl::original_of(const storage::Item& item) const {
    storage::OriginalFile original =
        storage::read_original(store_.catalog(), item, options_.limits.image.max_file_bytes);
    const std::string name = "item images/" + std::to_string(item.id);
    if (original.state == storage::OriginalFile::State::missing)
        reject(http::status::not_found, name + ": none of its files exists any more");
    if (original.state == storage::OriginalFile::State::changed)
        reject(http::status::gone,
               name + ": its file no longer holds the picture that was indexed (index the folder again)");
    return original;
}

std::optional<std::string> Api::Impl::cached_thumbnail(std::int64_t id, std::string& content_type) const {
    const std::string dir = store_.dir() + "/thumbnails";
    for (const auto& [ext, type] : {std::pair<const char*, const char*>{".jpg", "image/jpeg"}, {".png", "image/png"}}) {
        const std::string cached = dir + "/" + std::to_string(id) + ext;
        std::error_code ec;
        if (fs::exists(cached, ec)) {
            content_type = type;
            const auto bytes = read_file(cached, 64 << 20);
            return std::string(bytes.begin(), bytes.end());
        }
    }
    return std::nullopt;
}

std::string Api::Impl::make_thumbnail(const storage::Item& item, std::string& content_type) {
    const std::string dir = store_.dir() + "/thumbnails";
    const storage::OriginalFile original = original_of(item);
    const int side = options_.thumbnail_size;
    const RgbaImage image = decode_photo(original.bytes.data(), original.bytes.size(),
                                         "images/" + std::to_string(item.id), options_.limits.image, DecodeHint{side})
                                .image;
    const double scale = std::min(1.0, static_cast<double>(side) / std::max(image.width, image.height));
    const RgbaImage small = scale < 1.0 ? resize_rgba(image, std::max(1, static_cast<int>(image.width * scale + 0.5)),
                                                      std::max(1, static_cast<int>(image.height * scale + 0.5)))
                                        : image;
    const bool alpha = has_transparency(small);
    const std::vector<unsigned char> bytes = alpha ? encode_png(small) : encode_jpeg(small, 85);
    std::error_code ec;
    fs::create_directories(dir, ec);
    try {
        write_file_atomic(dir + "/" + std::to_string(item.id) + (alpha ? ".png" : ".jpg"), bytes.data(), bytes.size());
    } catch (const Error& e) {  // a full disk: the thumbnail is still answered, made again next time
        std::fprintf(stderr, "opsis serve: thumbnail not kept: %s\n", e.what());
    }
    content_type = alpha ? "image/png" : "image/jpeg";
    return std::string(bytes.begin(), bytes.end());
}

}  // namespace opsis::web
