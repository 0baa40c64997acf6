#include "search/result_json.h"

#include <string>

#include "core/calendar.h"

namespace opsis::search {

using storage::Collection;

nlohmann::json item_json(const storage::Item& it, Collection c) {
    nlohmann::json j{{"id", it.id}, {"collection", storage::collection_name(c)}, {"added_at", it.added_at}};
    if (c == Collection::images) {
        const std::string url = "/api/items/" + std::to_string(it.id);
        j["paths"] = it.paths;
        j["width"] = it.width;
        j["height"] = it.height;
        j["file_size"] = it.file_size;
        j["captions"] = it.captions;
        j["taken"] = nullptr;
        if (it.taken) {
            // "at" with the offset where the camera wrote one; "local" is the wall-clock time
            // the date filters compare; "from" says whether the photo or the file gave it.
            j["taken"] = {
                {"local", calendar::iso_local(it.taken->local)},
                {"at", it.taken->offset_minutes ? calendar::iso_with_offset(it.taken->local, *it.taken->offset_minutes)
                                                : calendar::iso_local(it.taken->local)},
                {"from", it.taken->from_file ? "file" : "exif"}};
        }
        j["camera"] = it.camera.empty() ? nlohmann::json(nullptr) : nlohmann::json(it.camera);
        j["position"] = nullptr;
        if (it.position) j["position"] = {{"latitude", it.position->latitude}, {"longitude", it.position->longitude}};
        j["image_url"] = url + "/image";
        j["thumbnail_url"] = url + "/thumbnail";
    } else {
        j["text"] = it.text;
    }
    j["sha256"] = it.hash;  // of the file's bytes, or of the text: the same content, wherever it is
    j["source"] = it.source;
    j["tags"] = it.tags;
    return j;
}

nlohmann::json hit_json(const Hit& hit, Collection c) {
    nlohmann::json j = item_json(hit.item, c);
    j["score"] = hit.score;
    if (hit.relevance) j["relevance"] = *hit.relevance;
    if (hit.likely_relevant) j["likely_relevant"] = *hit.likely_relevant;
    if (!hit.via.empty()) j["via"] = hit.via;
    return j;
}

nlohmann::json result_json(const Result& r, const std::vector<WeightedText>& texts) {
    nlohmann::json hits = nlohmann::json::array();
    for (const Hit& h : r.hits) hits.push_back(hit_json(h, r.collection));
    nlohmann::json terms = nlohmann::json::array();
    for (std::size_t i = 0; i < texts.size(); ++i) {
        nlohmann::json term{{"text", texts[i].text}, {"weight", texts[i].weight}};
        // What was searched for, when the words were brought to the model's ("cats" -> "cat").
        if (i < r.rewrites.size() && r.rewrites[i].changed()) {
            nlohmann::json changes = nlohmann::json::array();
            for (const WordChange& c : r.rewrites[i].changes)
                changes.push_back({{"from", c.from}, {"to", c.to}, {"why", c.why}});
            term["searched"] = r.rewrites[i].text;
            term["changes"] = std::move(changes);
        }
        // Longer than the text tower reads at once: read in parts whose meanings are averaged.
        if (i < r.rewrites.size() && r.rewrites[i].parts.size() > 1) {
            term["parts"] = r.rewrites[i].parts.size();
            term["part_tokens"] = r.rewrites[i].part_tokens;
        }
        // A kind of thing, searched with examples of it the model knows well (search/examples.h).
        if (i < r.rewrites.size() && !r.rewrites[i].examples.empty()) term["examples"] = r.rewrites[i].examples;
        terms.push_back(std::move(term));
    }
    nlohmann::json body{{"hits", std::move(hits)},
                        {"collection", storage::collection_name(r.collection)},
                        {"k", r.k},
                        {"offset", r.offset},
                        {"texts", std::move(terms)},
                        {"more", r.more},
                        {"exact_scan", r.exact_scan},
                        {"candidates", r.candidates},
                        {"rescored", r.rescored},
                        {"batch", r.batch},
                        {"embed_ms", r.embed_ms},
                        {"search_ms", r.search_ms}};
    if (r.more) body["next_offset"] = r.offset + r.k;
    body["no_good_match"] = r.no_good_match ? nlohmann::json(*r.no_good_match) : nlohmann::json(nullptr);
    if (r.no_good_match) body["relevance_threshold"] = r.relevance_threshold;
    return body;
}

}  // namespace opsis::search
