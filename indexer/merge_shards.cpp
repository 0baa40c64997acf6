#include "indexer/merge_shards.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "storage/index_store.h"

namespace opsis::indexer {
namespace {

using storage::Collection;
namespace fs = std::filesystem;

// Items a bulk holds before it is committed: its memory (items and vectors) stays bounded.
constexpr std::size_t kBulkItems = 100000;

// A picture met again in a later shard: its paths join the item the first shard's became.
struct LaterPaths {
    std::string hash;
    std::vector<std::pair<std::string, storage::PathEntry>> paths;
};

// The shared training every shard's index of collection c started from (their lists join),
// or "" when they were trained apart.
// Checked before anything is written: a training file that does not load makes the merge train
// anew rather than fail half-way.
std::string common_training(const std::vector<std::unique_ptr<storage::IndexStore>>& shards, Collection c) {
    const std::string& first = shards.front()->vectors(c).trained_from();
    for (const auto& shard : shards)
        if (shard->vectors(c).trained_from() != first || !shard->shared_training(c)) return "";
    if (first.empty()) return "";
    const std::string file = *shards.front()->shared_training(c);
    try {
        if (storage::VectorIndex::load_trained(file)->trained_from() == first) return file;
    } catch (const Error& e) {
        std::fprintf(stderr, "opsis: warning: %s; the merged index is trained anew\n", e.what());
    }
    return "";
}

}  // namespace

MergeSummary merge_shards(const std::vector<std::string>& shards, const std::string& out,
                          const MergeOptions& merge_options, const std::function<void(std::uint64_t)>& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    if (shards.empty()) throw input_error("index merge", out, "give the shard indexes to merge");
    if (fs::exists(storage::marker_path(out)))
        throw input_error("index", out, "is an index already: merge into a new folder");
    storage::StoreOptions read_only;
    read_only.read_only = true;
    std::vector<std::unique_ptr<storage::IndexStore>> in;
    for (const std::string& dir : shards) {
        if (fs::weakly_canonical(dir) == fs::weakly_canonical(out))
            throw input_error("shard", dir, "is the index being made");
        in.push_back(storage::IndexStore::open(dir, std::nullopt, false, read_only));
        const storage::ModelIdentity& first = in.front()->model();
        if (in.back()->model().sha256 != first.sha256)
            throw input_error("shard", dir,
                              "was made with model " + storage::describe(in.back()->model()) + ", but " +
                                  shards.front() + " with " + storage::describe(first) +
                                  ": vectors of different models cannot be merged");
    }
    storage::StoreOptions options;
    options.image_factory = in.front()->vectors(Collection::images).factory();
    options.text_factory = in.front()->vectors(Collection::texts).factory();
    std::unique_ptr<storage::IndexStore> store = storage::IndexStore::open(out, in.front()->model(), true, options);
    storage::Catalog& merged = store->catalog();

    MergeSummary summary;
    summary.shards = in.size();
    std::uint64_t done = 0;
    for (Collection c : {Collection::images, Collection::texts}) {
        std::vector<LaterPaths> later;
        // Shards that share a training (opsis index train) hand their encoded vectors over:
        // the merged index starts from that training and takes their lists under the new ids.
        const std::string training = merge_options.retrain ? "" : common_training(in, c);
        const bool join = !training.empty() && !store->vectors(c).is_trained();
        std::vector<std::unordered_map<std::int64_t, std::int64_t>> new_ids(in.size());
        storage::Catalog::Bulk bulk(merged);
        std::set<std::string> pending_hashes, pending_paths;  // in the bulk, not yet committed
        auto commit = [&] {
            store->commit(bulk);
            pending_hashes.clear();
            pending_paths.clear();
        };
        for (std::size_t s = 0; s < in.size(); ++s) {
            const auto& shard = in[s];
            const storage::Catalog& from = shard->catalog();
            from.for_each_item(c, [&](const storage::Item& item) {
                if (progress && ++done % 10000 == 0) progress(done);
                std::vector<std::pair<std::string, storage::PathEntry>> paths;
                for (const std::string& p : item.paths) {
                    if (pending_paths.count(p) || merged.find_path(p)) {
                        ++summary.paths_taken;
                        continue;
                    }
                    if (const auto entry = from.find_path(p)) paths.emplace_back(p, *entry);
                }
                if (pending_hashes.count(item.hash) || merged.find_hash(c, item.hash)) {
                    ++summary.duplicates;
                    if (!paths.empty()) later.push_back({item.hash, std::move(paths)});
                    return true;
                }
                if (c == Collection::images && paths.empty()) return true;  // every path taken: nothing to find it by
                const std::vector<float> vector = from.vector(c, item.id);
                if (vector.empty()) throw input_error("shard", shard->dir(), "holds an item without a vector");
                storage::Item copy = item;
                copy.paths.clear();
                const std::int64_t id = bulk.add_item(c, std::move(copy), vector.data(), vector.size());
                if (join) new_ids[s][item.id] = id;
                pending_hashes.insert(item.hash);
                for (const auto& [p, entry] : paths) {
                    bulk.add_path(id, p, entry.size, entry.mtime_ns);
                    pending_paths.insert(p);
                }
                ++(c == Collection::images ? summary.images : summary.texts);
                if (pending_hashes.size() >= kBulkItems) commit();
                return true;
            });
        }
        commit();
        if (!later.empty()) {  // few: through a batch, onto the items they join
            storage::Catalog::Batch batch(merged);
            for (const LaterPaths& l : later) {
                const std::optional<std::int64_t> id = merged.find_hash(c, l.hash);
                if (!id) continue;  // a picture all of whose paths were taken
                for (const auto& [p, entry] : l.paths)
                    if (!batch.find_path(p)) batch.add_path(*id, p, entry.size, entry.mtime_ns);
            }
            store->commit(batch);
        }
        const auto vectors_start = std::chrono::steady_clock::now();
        if (join) {
            std::unique_ptr<storage::VectorIndex> joined = storage::VectorIndex::load_trained(training);
            const bool lists = joined->can_join_lists();
            for (std::size_t s = 0; lists && s < in.size(); ++s) try {
                    joined->join_lists(in[s]->vectors(c), new_ids[s]);
                } catch (const Error& e) {
                    throw input_error("shard", in[s]->dir(), std::string("its lists could not be joined: ") + e.what());
                }
            store->adopt(c, std::move(joined), training);  // adds (encodes) what was not joined
            summary.vectors[c] = lists ? "lists joined" : "encoded with the shared training";
        } else if (store->vectors(c).is_trained()) {
            summary.vectors[c] = "added";
        } else {
            summary.vectors[c] =
                store->train_if_ready(c) ? "trained on the merged vectors and encoded" : "untrained (too few vectors)";
        }
        summary.vector_seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - vectors_start).count();
    }
    store->snapshot();
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return summary;
}

}  // namespace opsis::indexer
