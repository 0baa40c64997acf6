// Search requests: the JSON body or an uploaded picture read into a search::Query, and the
// answer in the shape of search/result_json.h.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "search/filters.h"
#include "search/query_text.h"
#include "search/result_json.h"
#include "web/api_impl.h"
#include "web/json_fields.h"
#include "web/request_parsing.h"
#include "web/responses.h"

namespace opsis::web {

using json = nlohmann::json;
using storage::Collection;

Response Api::Impl::search_response(const search::Result& r, const SearchShape& shape, unsigned version,
                                    std::chrono::steady_clock::time_point started) {
    json body = search::result_json(r, shape.texts);
    body["took_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    return json_response(http::status::ok, body, version);
}

search::Query Api::Impl::parse_search_json(const Request& req) {
    const json j = json_object_body(req);
    check_fields(j,
                 {"q",
                  "text",
                  "texts",
                  "image",
                  "images",
                  "item",
                  "items",
                  "vector",
                  "vectors",
                  "negative",
                  "negative_weight",
                  "collection",
                  "k",
                  "offset",
                  "min_score",
                  "filters",
                  "collapse_duplicates",
                  "effort",
                  "rescore",
                  "rewrite",
                  "examples",
                  "sort"},
                 "search");
    search::Query q;
    const float negative_weight = number_field(j, "negative_weight", 0.5f, "search");
    if (j.contains("q")) {  // what a person typed: "beach + sunset - people"
        if (!j["q"].is_string()) reject(http::status::bad_request, "search.q must be a string");
        q.texts = search::parse_query_text(j["q"].get<std::string>(), negative_weight);
    }
    for (const std::string& t : string_list(j, "text", "search")) q.texts.push_back({t, 1.0f});
    for (const std::string& t : string_list(j, "negative", "search")) q.texts.push_back({t, -negative_weight});
    if (j.contains("texts")) {
        if (!j["texts"].is_array()) reject(http::status::bad_request, "search.texts must be a list");
        for (const json& t : j["texts"]) {
            if (t.is_string()) {
                q.texts.push_back({t.get<std::string>(), 1.0f});
                continue;
            }
            if (!t.is_object() || !t.contains("text") || !t["text"].is_string())
                reject(http::status::bad_request,
                       "search.texts entries must be strings or {\"text\": string, \"weight\": number}");
            check_fields(t, {"text", "weight"}, "search.texts[]");
            q.texts.push_back({t["text"].get<std::string>(), number_field(t, "weight", 1.0f, "search.texts[]")});
        }
    }
    const std::uint64_t image_limit = options_.limits.image.max_file_bytes;
    if (j.contains("image")) {
        if (!j["image"].is_string()) reject(http::status::bad_request, "search.image must be a base64 string");
        q.images.push_back(
            {base64_bytes(j["image"].get<std::string>(), "search.image", image_limit), "search.image", 1.0f});
    }
    if (j.contains("images")) {
        if (!j["images"].is_array()) reject(http::status::bad_request, "search.images must be a list");
        for (const json& im : j["images"]) {
            if (!im.is_object() || !im.contains("data") || !im["data"].is_string())
                reject(http::status::bad_request,
                       "search.images entries must be {\"data\": base64 string, \"weight\": number}");
            check_fields(im, {"data", "weight"}, "search.images[]");
            q.images.push_back({base64_bytes(im["data"].get<std::string>(), "search.images[]", image_limit),
                                "search.images[]", number_field(im, "weight", 1.0f, "search.images[]")});
        }
    }
    if (j.contains("item")) {
        if (!j["item"].is_number_integer())
            reject(http::status::bad_request, "search.item must be an item id (integer)");
        q.items.push_back({Collection::images, j["item"].get<std::int64_t>(), 1.0f});
    }
    if (j.contains("items")) {
        if (!j["items"].is_array()) reject(http::status::bad_request, "search.items must be a list");
        for (const json& it : j["items"]) {
            if (!it.is_object() || !it.contains("id") || !it["id"].is_number_integer())
                reject(http::status::bad_request,
                       "search.items entries must be {\"id\": integer, \"collection\": ..., \"weight\": number}");
            check_fields(it, {"id", "collection", "weight"}, "search.items[]");
            q.items.push_back({parse_collection_param(it.value("collection", "images")), it["id"].get<std::int64_t>(),
                               number_field(it, "weight", 1.0f, "search.items[]")});
        }
    }
    // Vectors in the model's space: another shard's item (serve --shards), or a program's own.
    auto numbers = [](const json& v, const std::string& where) {
        if (!v.is_array() || v.empty())
            reject(http::status::bad_request, where + " must be a non-empty list of numbers");
        if (v.size() > 65536) reject(http::status::bad_request, where + " has more than 65536 numbers");
        std::vector<float> out;
        out.reserve(v.size());
        for (const json& x : v) {
            if (!x.is_number()) reject(http::status::bad_request, where + " must be a non-empty list of numbers");
            const double value = x.get<double>();
            if (!(std::abs(value) <= std::numeric_limits<float>::max()))
                reject(http::status::bad_request, where + " holds a number beyond a float's range");
            out.push_back(static_cast<float>(value));
        }
        return out;
    };
    if (j.contains("vector")) q.vectors.push_back({numbers(j["vector"], "search.vector"), 1.0f});
    if (j.contains("vectors")) {
        if (!j["vectors"].is_array()) reject(http::status::bad_request, "search.vectors must be a list");
        for (const json& v : j["vectors"]) {
            if (!v.is_object() || !v.contains("vector"))
                reject(http::status::bad_request,
                       "search.vectors entries must be {\"vector\": [numbers], \"weight\": number}");
            check_fields(v, {"vector", "weight"}, "search.vectors[]");
            q.vectors.push_back(
                {numbers(v["vector"], "search.vectors[].vector"), number_field(v, "weight", 1.0f, "search.vectors[]")});
        }
    }
    if (j.contains("collection") && !j["collection"].is_string())
        reject(http::status::bad_request, "search.collection must be a string");
    q.target = parse_collection_param(j.value("collection", "images"));
    q.k = count_field(j, "k", 20, "search");
    q.offset = count_field(j, "offset", 0, "search");
    q.effort = static_cast<int>(std::min<std::size_t>(count_field(j, "effort", 0, "search"), 1u << 30));
    q.rescore = count_field(j, "rescore", 0, "search");
    if (j.contains("min_score")) q.min_score = number_field(j, "min_score", 0, "search");
    if (j.contains("rewrite")) {
        if (!j["rewrite"].is_boolean()) reject(http::status::bad_request, "search.rewrite must be true or false");
        q.rewrite = j["rewrite"].get<bool>();
    }
    if (j.contains("examples")) {
        if (!j["examples"].is_boolean()) reject(http::status::bad_request, "search.examples must be true or false");
        q.examples = j["examples"].get<bool>();
    }
    if (j.contains("collapse_duplicates")) {
        if (!j["collapse_duplicates"].is_boolean())
            reject(http::status::bad_request, "search.collapse_duplicates must be true or false");
        q.collapse_duplicates = j["collapse_duplicates"].get<bool>();
    }
    if (j.contains("filters")) {
        const json& f = j["filters"];
        if (!f.is_object()) reject(http::status::bad_request, "search.filters must be an object");
        check_fields(f, {"source", "tags", "path_prefix", "taken_after", "taken_before", "camera", "near"},
                     "search.filters");
        q.filters.sources = string_list(f, "source", "search.filters");
        q.filters.tags = string_list(f, "tags", "search.filters");
        auto text = [&](const char* name) -> std::optional<std::string> {
            if (!f.contains(name)) return std::nullopt;
            if (!f[name].is_string())
                reject(http::status::bad_request, std::string("search.filters.") + name + " must be a string");
            return f[name].get<std::string>();
        };
        q.filters.path_prefix = text("path_prefix").value_or("");
        if (const auto after = text("taken_after"))
            q.filters.taken_after = search::parse_date_filter("search.filters.taken_after", *after);
        if (const auto before = text("taken_before"))
            q.filters.taken_before = search::parse_date_filter("search.filters.taken_before", *before);
        q.filters.camera = text("camera").value_or("");
        if (f.contains("near")) {
            const json& near = f["near"];
            if (!near.is_object()) reject(http::status::bad_request, "search.filters.near must be an object");
            check_fields(near, {"latitude", "longitude", "radius_km"}, "search.filters.near");
            double v[3];
            int i = 0;
            for (const char* key : {"latitude", "longitude", "radius_km"}) {
                if (!near.contains(key) || !near[key].is_number())
                    reject(http::status::bad_request, std::string("search.filters.near.") + key + " must be a number");
                v[i++] = near[key].get<double>();
            }
            q.filters.near = search::parse_near("search.filters.near", v[0], v[1], v[2]);
        }
    }
    if (j.contains("sort")) {
        if (!j["sort"].is_string()) reject(http::status::bad_request, "search.sort must be \"relevance\" or \"date\"");
        q.order = search::parse_order(j["sort"].get<std::string>());
    }
    return q;
}

search::Query Api::Impl::parse_search_image(const Request& req) {
    const Target t = parse_target(req);
    search::Query q;
    Upload upload = read_upload(req, t.query);
    std::map<std::string, std::string>& fields = upload.fields;
    q.images.push_back({std::vector<unsigned char>(upload.bytes.begin(), upload.bytes.end()), upload.filename, 1.0f});
    q.target = parse_collection_param(fields.count("collection") ? fields["collection"] : "images");
    q.k = parse_count(fields, "k", 20);
    q.offset = parse_count(fields, "offset", 0);
    if (const auto collapse = parse_flag(fields, "collapse_duplicates")) q.collapse_duplicates = *collapse;
    return q;
}

}  // namespace opsis::web
