#include "indexer/committer.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <optional>

#include "core/sha256.h"
#include "core/utf8.h"

namespace opsis::indexer {

using storage::Catalog;
using storage::Collection;

namespace {
// The photo's own date, or else the file's modification time on this machine's clock (marked
// as such: a copied folder's times are when it was copied).
storage::TakenAt taken_at(const PhotoMetadata& metadata, std::int64_t mtime_ns) {
    storage::TakenAt taken;
    if (metadata.taken_local) {
        taken.local = *metadata.taken_local;
        taken.offset_minutes = metadata.taken_offset_minutes;
        return taken;
    }
    const std::time_t seconds = static_cast<std::time_t>(mtime_ns / 1'000'000'000);
    std::tm tm{};
    localtime_r(&seconds, &tm);
    taken.local = static_cast<std::int64_t>(seconds) + tm.tm_gmtoff;
    taken.offset_minutes = static_cast<int>(tm.tm_gmtoff / 60);
    taken.from_file = true;
    return taken;
}
void set_photo_facts(storage::Item& item, const FileResult& r) {
    item.taken = taken_at(r.metadata, r.mtime_ns);
    item.camera = r.metadata.camera();
    if (r.metadata.latitude && r.metadata.longitude)
        item.position = storage::GeoPoint{*r.metadata.latitude, *r.metadata.longitude};
}
}  // namespace

Committer::Committer(storage::IndexStore& store, const DualEncoder& model, const JobOptions& options,
                     JobSummary& summary)
    : store_(store), model_(model), options_(options), summary_(summary), thread_([this] { commit_loop(); }) {}

Committer::~Committer() {
    queue_.close();
    if (thread_.joinable()) thread_.join();
}

void Committer::take(FileResult&& r) {
    if (r.kind == FileResult::Kind::encode) ++to_encode_;
    pending_.push_back(std::move(r));
}

void Committer::rethrow_commit_failure() const {
    if (commit_failed_.load(std::memory_order_acquire)) std::rethrow_exception(error_);
}

void Committer::flush() {
    rethrow_commit_failure();
    std::vector<InputFile> again;
    {
        std::lock_guard lock(returned_mutex_);
        again.swap(returned_);
    }
    for (InputFile& f : again) take(examine(std::move(f), store_.catalog(), model_, options_));
    if (pending_.empty()) return;
    const int s = model_.config().image.preprocess.image_size;
    const std::size_t per = static_cast<std::size_t>(s) * s * 3;
    EncodedBatch e;
    Tensor batch({static_cast<std::int64_t>(to_encode_), s, s, 3});
    std::size_t row = 0;
    for (const FileResult& r : pending_)
        if (r.kind == FileResult::Kind::encode) std::copy(r.pixels.begin(), r.pixels.end(), batch.data() + row++ * per);
    if (to_encode_ > 0) e.vectors = model_.encode_images(batch);
    // Captions new to the index (and to this job) are embedded here; the commit thread checks
    // again, in commit order, before adding them.
    std::vector<std::string> texts;
    if (options_.captions_as_texts)
        for (const FileResult& r : pending_) {
            if (r.kind != FileResult::Kind::encode && r.kind != FileResult::Kind::duplicate) continue;
            for (const std::string& caption : r.file.captions) {
                const std::string h = sha256_hex(caption.data(), caption.size());
                if (utf8::find_invalid(caption) || seen_texts_.count(h) ||
                    store_.catalog().find_hash(Collection::texts, h))
                    continue;
                seen_texts_.insert(h);
                storage::Item t;
                t.hash = h;
                t.text = caption;
                t.source = r.file.source;
                t.tags = r.file.tags;
                e.texts.push_back(std::move(t));
                texts.push_back(caption);
            }
        }
    if (!texts.empty()) e.text_vectors = model_.encode_texts(texts);
    e.results = std::move(pending_);
    pending_.clear();
    to_encode_ = 0;
    ++in_flight_;
    if (!queue_.push(std::move(e))) {
        --in_flight_;
        rethrow_commit_failure();
    }
}

void Committer::finish() {
    // What the commit thread hands back is examined, encoded and committed in turn, until a
    // round brings nothing back.
    while (true) {
        flush();
        while (in_flight_.load() > 0 && !commit_failed_.load(std::memory_order_acquire))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        rethrow_commit_failure();
        std::lock_guard lock(returned_mutex_);
        if (returned_.empty() && pending_.empty()) break;
    }
    queue_.close();
    if (thread_.joinable()) thread_.join();
    rethrow_commit_failure();
}

void Committer::commit_loop() {
    try {
        while (std::optional<EncodedBatch> e = queue_.pop()) {
            const std::size_t dim = static_cast<std::size_t>(model_.config().embed_dim);
            Catalog::Batch b(store_.catalog());
            std::size_t row = 0;
            std::vector<InputFile> handed_back;
            for (FileResult& r : e->results) {
                const bool encoded = r.kind == FileResult::Kind::encode;
                if (!commit_one(b, r, encoded ? e->vectors.data() + row++ * dim : nullptr))
                    handed_back.push_back(std::move(r.file));
            }
            for (std::size_t i = 0; i < e->texts.size(); ++i) {
                if (b.find_hash(Collection::texts, e->texts[i].hash)) continue;
                b.add_item(Collection::texts, std::move(e->texts[i]), e->text_vectors.data() + i * dim, dim);
                ++summary_.texts_added;
            }
            store_.commit(b);
            // Handed back only now: examined before this commit, they would find the content
            // that left still there and come back again.
            done_ += e->results.size() - handed_back.size();
            if (!handed_back.empty()) {
                std::lock_guard lock(returned_mutex_);
                for (InputFile& f : handed_back) returned_.push_back(std::move(f));
            }
            --in_flight_;
        }
    } catch (...) {
        error_ = std::current_exception();
        commit_failed_.store(true, std::memory_order_release);  // error_ is read only after this
        queue_.close();
    }
}

bool Committer::commit_one(Catalog::Batch& b, FileResult& r, const float* vector) {
    using K = FileResult::Kind;
    const std::string& path = r.file.path;
    switch (r.kind) {
        case K::unchanged:
        case K::touched: {
            ++summary_.unchanged;
            if (const auto e = b.find_path(path)) {
                if (r.kind == K::touched) b.add_path(e->id, path, r.size, r.mtime_ns);
                merge_metadata(b, e->id, r);
                if (r.dates_missing) add_photo_facts(b, e->id, r);
            }
            return true;
        }
        case K::failed_before: ++summary_.failed_before; return true;
        case K::failure: {
            ++failed_;
            ++summary_.failure_reasons[reason_category(r.reason)];
            b.record_failure({path, r.reason, r.size, r.mtime_ns, now_seconds()});
            // The old entry described content that is no longer there.
            if (b.find_path(path)) b.remove_path(path);
            return true;
        }
        case K::duplicate:
        case K::encode: break;
    }
    const std::optional<storage::PathEntry> before = b.find_path(path);
    const std::optional<std::int64_t> same = b.find_hash(Collection::images, r.hash);
    if (same) {
        if (r.had_failure) b.clear_failure(path);
        if (before && before->id == *same) {
            ++summary_.unchanged;
        } else {
            ++(before ? summary_.changed : summary_.duplicates);
        }
        b.add_path(*same, path, r.size, r.mtime_ns);
        merge_metadata(b, *same, r);
        return true;
    }
    if (vector == nullptr) {
        // Its content was indexed when a worker looked, but has gone since (its only path
        // changed earlier in this job): it goes back to be examined and embedded.
        ++summary_.examined_again;
        return false;
    }
    if (r.had_failure) b.clear_failure(path);
    storage::Item item;
    item.hash = r.hash;
    item.width = r.width;
    item.height = r.height;
    item.file_size = r.size;
    item.source = r.file.source;
    item.tags = r.file.tags;
    item.captions = r.file.captions;
    set_photo_facts(item, r);
    const std::int64_t id =
        b.add_item(Collection::images, std::move(item), vector, static_cast<std::size_t>(model_.config().embed_dim));
    b.add_path(id, path, r.size, r.mtime_ns);
    ++(before ? summary_.changed : summary_.added);
    return true;
}

// An item indexed before Opsis kept dates: its date, camera and place, once.
void Committer::add_photo_facts(Catalog::Batch& b, std::int64_t id, const FileResult& r) {
    std::optional<storage::Item> item = b.item(Collection::images, id);
    if (!item || item->taken) return;
    set_photo_facts(*item, r);
    b.update_item(Collection::images, *item);
    ++summary_.dated;
}

void Committer::merge_metadata(Catalog::Batch& b, std::int64_t id, const FileResult& r) {
    if (r.file.captions.empty() && r.file.tags.empty() && r.file.source.empty()) return;
    std::optional<storage::Item> item = b.item(Collection::images, id);
    if (!item) return;
    bool changed = false;
    auto merge = [&](std::vector<std::string>& into, const std::vector<std::string>& from) {
        for (const std::string& s : from)
            if (std::find(into.begin(), into.end(), s) == into.end()) {
                into.push_back(s);
                changed = true;
            }
    };
    merge(item->captions, r.file.captions);
    merge(item->tags, r.file.tags);
    if (item->source.empty() && !r.file.source.empty()) {
        item->source = r.file.source;
        changed = true;
    }
    if (changed) b.update_item(Collection::images, *item);
}

}  // namespace opsis::indexer
