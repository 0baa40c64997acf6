// Text jobs: sentences from files (plain or JSONL) or from the API, embedded in batches and
// committed with their failures.
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/sha256.h"
#include "core/utf8.h"
#include "indexer/examine.h"
#include "indexer/index_job.h"
#include "indexer/progress.h"

namespace opsis::indexer {

using storage::Catalog;
using storage::Collection;

std::vector<std::pair<std::int64_t, bool>> add_text_items(storage::IndexStore& store, const DualEncoder& model,
                                                          std::vector<storage::Item> items) {
    const std::size_t dim = static_cast<std::size_t>(model.config().embed_dim);
    Catalog::Batch b(store.catalog());
    std::vector<std::pair<std::int64_t, bool>> out(items.size());
    std::vector<std::size_t> fresh;
    std::map<std::string, std::size_t> first_of;  // hash -> index of its first new occurrence
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < items.size(); ++i) {
        items[i].hash = sha256_hex(items[i].text.data(), items[i].text.size());
        if (auto id = b.find_hash(Collection::texts, items[i].hash)) {
            out[i] = {*id, false};
        } else if (auto it = first_of.find(items[i].hash); it != first_of.end()) {
            out[i] = {-static_cast<std::int64_t>(it->second) - 1, false};  // resolved below
        } else {
            first_of[items[i].hash] = i;
            fresh.push_back(i);
            texts.push_back(items[i].text);
        }
    }
    if (!texts.empty()) {
        const Tensor v = model.encode_texts(texts);
        for (std::size_t j = 0; j < fresh.size(); ++j)
            out[fresh[j]] = {b.add_item(Collection::texts, items[fresh[j]], v.data() + j * dim, dim), true};
        store.commit(b);
    }
    for (auto& [id, added] : out)
        if (id < 0) id = out[static_cast<std::size_t>(-id - 1)].first;
    return out;
}

JobSummary index_texts(storage::IndexStore& store, const DualEncoder& model, const std::vector<std::string>& files,
                       const JobOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    JobSummary summary;
    Progress progress("index texts", options.progress_every);
    for (const std::string& file : files) {
        if (const std::string why = unreadable_reason(file); !why.empty()) throw input_error("text file", file, why);
        std::ifstream in(file, std::ios::binary);
        if (!in) throw input_error("text file", file, "cannot open");
        const bool jsonl = file.size() >= 6 && file.compare(file.size() - 6, 6, ".jsonl") == 0;
        std::vector<storage::Item> items;
        std::vector<storage::Failure> failures;
        auto flush = [&] {
            for (const auto& [id, added] : add_text_items(store, model, std::move(items)))
                ++(added ? summary.added : summary.duplicates);
            if (!failures.empty()) {
                Catalog::Batch b(store.catalog());
                for (const storage::Failure& f : failures) b.record_failure(f);
                store.commit(b);
            }
            items.clear(), failures.clear();
            if (options.show_progress) progress.update(summary.files, summary.failed);
        };
        std::string line;
        bool too_long = false;
        for (std::size_t n = 1; !options.cancelled() && next_line(in, line, too_long); ++n) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (!too_long && line.find_first_not_of(" \t") == std::string::npos) continue;
            ++summary.files;
            storage::Item item;
            try {
                if (too_long) throw Error("line longer than " + std::to_string(kMaxInputLineBytes) + " bytes");
                if (jsonl) {
                    const nlohmann::json j = parse_json_line(line);
                    if (!j.is_object() || !j.contains("text") || !j.at("text").is_string())
                        throw Error("needs \"text\" as a string");
                    item.text = j.at("text").get<std::string>();
                    item.source = j.value("source", std::string{});
                    if (j.contains("tags")) item.tags = j.at("tags").get<std::vector<std::string>>();
                } else {
                    item.text = line;
                }
                if (auto bad = utf8::find_invalid(item.text))
                    throw Error("invalid UTF-8 at byte " + std::to_string(*bad));
            } catch (const std::exception& e) {
                ++summary.failed;
                ++summary.failure_reasons[reason_category(e.what())];
                failures.push_back({file + ":" + std::to_string(n), e.what(), 0, 0, now_seconds(), Collection::texts});
                continue;
            }
            items.push_back(std::move(item));
            if (items.size() >= static_cast<std::size_t>(std::max(options.batch, 1))) flush();
        }
        flush();
    }
    if (options.show_progress) progress.finish();
    summary.texts_added = summary.added;
    store.train_if_ready(Collection::texts);
    store.snapshot();
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return summary;
}

}  // namespace opsis::indexer
