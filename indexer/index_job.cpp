#include "indexer/index_job.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "core/utf8.h"
#include "encoder/image_preprocess.h"
#include "indexer/bounded_queue.h"
#include "indexer/progress.h"

namespace opsis::indexer {
namespace {

using storage::Catalog;
using storage::Collection;
namespace fs = std::filesystem;


std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What a worker found out about one file.
struct FileResult {
    enum class Kind { unchanged, failed_before, touched, duplicate, encode, failure } kind = Kind::failure;
    InputFile file;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::string hash, reason;
    int width = 0, height = 0;
    std::vector<float> pixels;  // the encoder's input, for Kind::encode
    bool had_failure = false;
};

// Decodes and preprocesses one image into the encoder's input layout.
void prepare_pixels(const std::vector<unsigned char>& bytes, const DualEncoder& model, const ImageLimits& limits,
                    FileResult& r) {
    const RgbaImage image = decode_image(bytes.data(), bytes.size(), r.file.path, limits);
    r.width = image.width, r.height = image.height;
    const auto& pre = model.config().image.preprocess;
    r.pixels.resize(static_cast<std::size_t>(pre.image_size) * pre.image_size * 3);
    preprocess_image(image, pre, r.pixels.data());
}

FileResult examine(InputFile&& file, const Catalog& catalog, const DualEncoder& model, const JobOptions& options) {
    FileResult r;
    r.file = std::move(file);
    try {
        struct stat st {};
        if (::stat(r.file.path.c_str(), &st) != 0) throw input_error("image", r.file.path, std::string("cannot stat: ") + std::strerror(errno));
        if (!S_ISREG(st.st_mode)) throw input_error("image", r.file.path, "not a regular file");
        r.size = static_cast<std::uint64_t>(st.st_size);
        r.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
        const std::optional<storage::Failure> failure = catalog.failure(r.file.path);
        r.had_failure = failure.has_value();
        if (failure && !options.retry_failed && failure->size == r.size && failure->mtime_ns == r.mtime_ns) {
            r.kind = FileResult::Kind::failed_before;
            return r;
        }
        const std::optional<storage::PathEntry> known = catalog.find_path(r.file.path);
        const std::vector<unsigned char> bytes = read_file(r.file.path, options.limits.max_file_bytes);
        r.hash = sha256_hex(bytes.data(), bytes.size());
        if (known) {
            const std::optional<storage::Item> item = catalog.item(Collection::images, known->id);
            if (item && item->hash == r.hash) {
                r.kind = known->size == r.size && known->mtime_ns == r.mtime_ns ? FileResult::Kind::unchanged
                                                                                     : FileResult::Kind::touched;
                return r;
            }
        }
        if (catalog.find_hash(Collection::images, r.hash)) {
            r.kind = FileResult::Kind::duplicate;
            return r;
        }
        prepare_pixels(bytes, model, options.limits, r);
        r.kind = FileResult::Kind::encode;
    } catch (const std::exception& e) {
        r.kind = FileResult::Kind::failure;
        r.reason = failure_reason(e.what(), r.file.path);
    }
    return r;
}

// The short category of a failure, for the summary ("too large", "truncated file", ...).
std::string reason_category(const std::string& reason) {
    std::size_t cut = reason.find_first_of("(:");
    std::string c = reason.substr(0, cut);
    while (!c.empty() && c.back() == ' ') c.pop_back();
    return c.empty() ? reason : c;
}

// Encodes what the workers found, in batches (the calling thread: the only one that runs the
// model, so OpenMP keeps one team), and commits it on a thread of its own, so that the WAL's
// fsync overlaps the next batch's encoding. The commit thread is the only writer.
class Committer {
public:
    Committer(storage::IndexStore& store, const DualEncoder& model, const JobOptions& options, JobSummary& summary)
        : store_(store), model_(model), options_(options), summary_(summary), thread_([this] { commit_loop(); }) {}
    ~Committer() {
        queue_.close();
        if (thread_.joinable()) thread_.join();
    }

    void take(FileResult&& r) {
        if (r.kind == FileResult::Kind::encode) ++to_encode_;
        pending_.push_back(std::move(r));
    }
    bool full() const { return to_encode_ >= static_cast<std::size_t>(options_.batch) || pending_.size() >= 512; }
    bool empty() const { return pending_.empty(); }

    void flush() {
        if (commit_failed_.load(std::memory_order_acquire)) std::rethrow_exception(error_);
        if (pending_.empty()) return;
        const int s = model_.config().image.preprocess.image_size;
        const std::size_t per = static_cast<std::size_t>(s) * s * 3;
        EncodedBatch e;
        Tensor batch({static_cast<std::int64_t>(to_encode_), s, s, 3});
        std::size_t row = 0;
        for (const FileResult& r : pending_)
            if (r.kind == FileResult::Kind::encode) std::copy(r.pixels.begin(), r.pixels.end(), batch.data() + row++ * per);
        if (to_encode_ > 0) e.vectors = model_.encode_images(batch);
        // Captions new to the index (and to this job) are embedded here; the commit thread
        // checks again, in commit order, before adding them.
        std::vector<std::string> texts;
        if (options_.captions_as_texts)
            for (const FileResult& r : pending_) {
                if (r.kind != FileResult::Kind::encode && r.kind != FileResult::Kind::duplicate) continue;
                for (const std::string& caption : r.file.captions) {
                    const std::string h = sha256_hex(caption.data(), caption.size());
                    if (utf8::find_invalid(caption) || seen_texts_.count(h) || store_.catalog().find_hash(Collection::texts, h)) continue;
                    seen_texts_.insert(h);
                    storage::Item t;
                    t.hash = h, t.text = caption, t.source = r.file.source, t.tags = r.file.tags;
                    e.texts.push_back(std::move(t));
                    texts.push_back(caption);
                }
            }
        if (!texts.empty()) e.text_vectors = model_.encode_texts(texts);
        e.results = std::move(pending_);
        pending_.clear();
        to_encode_ = 0;
        queue_.push(std::move(e));
    }

    // Waits for every batch to be committed; rethrows a commit's failure.
    void finish() {
        queue_.close();
        if (thread_.joinable()) thread_.join();
        if (commit_failed_.load(std::memory_order_acquire)) std::rethrow_exception(error_);
    }

    std::uint64_t done() const { return done_.load(); }
    std::uint64_t failed() const { return failed_.load(); }

private:
    struct EncodedBatch {
        std::vector<FileResult> results;
        Tensor vectors;                   // one row per Kind::encode result, in order
        std::vector<storage::Item> texts; // new captions
        Tensor text_vectors;
    };

    void commit_loop() {
        try {
            while (std::optional<EncodedBatch> e = queue_.pop()) {
                const std::size_t dim = static_cast<std::size_t>(model_.config().embed_dim);
                Catalog::Batch b(store_.catalog());
                std::size_t row = 0;
                for (FileResult& r : e->results)
                    commit_one(b, r, r.kind == FileResult::Kind::encode ? e->vectors.data() + row++ * dim : nullptr);
                for (std::size_t i = 0; i < e->texts.size(); ++i) {
                    if (b.find_hash(Collection::texts, e->texts[i].hash)) continue;
                    b.add_item(Collection::texts, std::move(e->texts[i]), e->text_vectors.data() + i * dim, dim);
                    ++summary_.texts_added;
                }
                store_.commit(b);
                done_ += e->results.size();
            }
        } catch (...) {
            error_ = std::current_exception();
            commit_failed_.store(true, std::memory_order_release);  // error_ is read only after this
            queue_.close();
        }
    }


private:
    void commit_one(Catalog::Batch& b, FileResult& r, const float* vector) {
        using K = FileResult::Kind;
        const std::string& path = r.file.path;
        switch (r.kind) {
            case K::unchanged: ++summary_.unchanged; return;
            case K::failed_before: ++summary_.failed_before; return;
            case K::failure: {
                ++failed_;
                ++summary_.failure_reasons[reason_category(r.reason)];
                b.record_failure({path, r.reason, r.size, r.mtime_ns, now_seconds()});
                // The old entry described content that is no longer there.
                if (b.find_path(path)) b.remove_path(path);
                return;
            }
            case K::touched: {
                ++summary_.unchanged;
                if (auto e = b.find_path(path)) b.add_path(e->id, path, r.size, r.mtime_ns);
                return;
            }
            case K::duplicate:
            case K::encode: break;
        }
        const std::optional<storage::PathEntry> before = b.find_path(path);
        const std::optional<std::int64_t> same = b.find_hash(Collection::images, r.hash);
        if (r.had_failure) b.clear_failure(path);
        if (same) {
            if (before && before->id == *same) {
                ++summary_.unchanged;
            } else {
                ++(before ? summary_.changed : summary_.duplicates);
            }
            b.add_path(*same, path, r.size, r.mtime_ns);
            merge_metadata(b, *same, r);
            return;
        }
        std::vector<float> own;
        if (vector == nullptr) {
            // Its content was indexed when a worker looked, but has gone since (its only
            // path changed earlier in this job): embed it after all.
            try {
                prepare_pixels(read_file(path, options_.limits.max_file_bytes), model_, options_.limits, r);
            } catch (const std::exception& e) {
                r.kind = FileResult::Kind::failure;
                r.reason = failure_reason(e.what(), path);
                return commit_one(b, r, nullptr);
            }
            const int s = model_.config().image.preprocess.image_size;
            Tensor one({1, s, s, 3});
            std::copy(r.pixels.begin(), r.pixels.end(), one.data());
            const Tensor v = model_.encode_images(one);
            own.assign(v.data(), v.data() + v.numel());
            vector = own.data();
        }
        storage::Item item;
        item.hash = r.hash, item.width = r.width, item.height = r.height, item.file_size = r.size;
        item.source = r.file.source, item.tags = r.file.tags, item.captions = r.file.captions;
        const std::int64_t id = b.add_item(Collection::images, std::move(item), vector,
                                           static_cast<std::size_t>(model_.config().embed_dim));
        b.add_path(id, path, r.size, r.mtime_ns);
        ++(before ? summary_.changed : summary_.added);
    }

    // A second path may bring captions, tags or a source the item lacks.
    void merge_metadata(Catalog::Batch& b, std::int64_t id, const FileResult& r) {
        std::optional<storage::Item> item = b.item(Collection::images, id);
        if (!item) return;
        bool changed = false;
        auto merge = [&](std::vector<std::string>& into, const std::vector<std::string>& from) {
            for (const std::string& s : from)
                if (std::find(into.begin(), into.end(), s) == into.end()) into.push_back(s), changed = true;
        };
        merge(item->captions, r.file.captions);
        merge(item->tags, r.file.tags);
        if (item->source.empty() && !r.file.source.empty()) item->source = r.file.source, changed = true;
        if (changed) b.update_item(Collection::images, *item);
    }

    storage::IndexStore& store_;
    const DualEncoder& model_;
    const JobOptions& options_;
    JobSummary& summary_;
    std::vector<FileResult> pending_;
    std::size_t to_encode_ = 0;
    std::set<std::string> seen_texts_;
    std::atomic<std::uint64_t> done_{0}, failed_{0};
    std::exception_ptr error_;  // written by the commit thread before commit_failed_
    std::atomic<bool> commit_failed_{false};
    BoundedQueue<EncodedBatch> queue_{2};
    std::thread thread_;
};

void prune_missing(storage::IndexStore& store, const std::vector<InputSpec>& inputs, JobSummary& summary) {
    std::vector<std::string> roots;
    for (const InputSpec& in : inputs)
        if (in.kind == InputKind::path && fs::is_directory(in.path)) roots.push_back(absolute_path(in.path) + "/");
    if (roots.empty()) return;
    auto inside = [&](const std::string& p) {
        for (const std::string& r : roots)
            if (p.compare(0, r.size(), r) == 0) return true;
        return false;
    };
    std::vector<std::string> gone, gone_failures;
    store.catalog().for_each_path([&](const std::string& p, const storage::PathEntry&) {
        std::error_code ec;
        if (inside(p) && !fs::exists(p, ec)) gone.push_back(p);
        return true;
    });
    store.catalog().for_each_failure([&](const storage::Failure& f) {
        std::error_code ec;
        if (inside(f.path) && !fs::exists(f.path, ec)) gone_failures.push_back(f.path);
        return true;
    });
    for (std::size_t i = 0; i < gone.size() || i < gone_failures.size(); i += 1024) {
        Catalog::Batch b(store.catalog());
        for (std::size_t j = i; j < std::min(gone.size(), i + 1024); ++j) b.remove_path(gone[j]);
        for (std::size_t j = i; j < std::min(gone_failures.size(), i + 1024); ++j) b.clear_failure(gone_failures[j]);
        store.commit(b);
    }
    summary.pruned = gone.size();
}

}  // namespace


namespace {
bool stopping(const JobOptions& options) { return options.cancel && options.cancel->load(); }
}  // namespace

std::string failure_reason(const std::string& message, const std::string& path) {
    const std::string quoted = "'" + path + "': ";
    const std::size_t at = message.find(quoted);
    return at == std::string::npos ? message : message.substr(at + quoted.size());
}

JobSummary index_images(storage::IndexStore& store, const DualEncoder& model, const std::vector<InputSpec>& inputs,
                        const JobOptions& options) {
    if (model.config().embed_dim != store.model().dim) throw Error("the model does not match the index's dimension");
    const auto start = std::chrono::steady_clock::now();
    JobSummary summary;
    std::mutex problems_mutex;
    std::atomic<std::uint64_t> walked{0};
    std::atomic<bool> walk_done{false};

    const int workers = options.decode_threads > 0
                            ? options.decode_threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) - 1);
    BoundedQueue<InputFile> files(1024);
    BoundedQueue<FileResult> results(static_cast<std::size_t>(std::max(2 * options.batch, 16)));
    std::exception_ptr walk_error;

    std::thread walker([&] {
        try {
            WalkOptions walk = options.walk;
            walk.stopped = [&options] { return stopping(options); };
            for_each_input_file(
                inputs, walk,
                [&](InputFile&& f) {
                    if (files.push(std::move(f))) ++walked;
                },
                [&](const std::string& name, const std::string& reason) {
                    std::lock_guard lock(problems_mutex);
                    summary.problems.push_back(name + ": " + reason);
                });
        } catch (...) {
            walk_error = std::current_exception();
        }
        walk_done = true;
        files.close();
    });
    std::atomic<int> running{workers};
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w)
        pool.emplace_back([&] {
            // Once stopped, queued files are dropped unread (a re-run takes them), so a stop
            // takes a moment, not the decoding of everything queued.
            while (std::optional<InputFile> f = files.pop())
                if (!stopping(options) && !results.push(examine(std::move(*f), store.catalog(), model, options))) break;
            if (--running == 0) results.close();
        });

    Progress progress("index", options.progress_every);
    Committer committer(store, model, options, summary);
    std::exception_ptr commit_error;
    try {
        while (true) {
            std::optional<FileResult> r = results.pop_for(std::chrono::milliseconds(25));
            if (r) committer.take(std::move(*r));
            if (committer.full() || (!r && !committer.empty())) committer.flush();
            if (options.show_progress) {
                progress.set_total(walked.load(), walk_done.load());
                progress.update(committer.done(), committer.failed());
            }
            if (!r && results.closed_and_empty()) break;
        }
        committer.flush();
        committer.finish();
    } catch (...) {
        commit_error = std::current_exception();
        files.close();
        results.close();
    }
    walker.join();
    for (std::thread& t : pool) t.join();
    if (commit_error) std::rethrow_exception(commit_error);
    if (walk_error) std::rethrow_exception(walk_error);
    if (options.show_progress) {
        progress.set_total(walked.load(), true);
        progress.update(committer.done(), committer.failed());
        progress.finish();
    }
    summary.files = committer.done();
    summary.failed = committer.failed();
    if (options.prune && !stopping(options)) prune_missing(store, inputs, summary);
    store.train_if_ready(Collection::images);
    store.train_if_ready(Collection::texts);
    store.snapshot();
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return summary;
}

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
            for (const auto& [id, added] : add_text_items(store, model, std::move(items))) ++(added ? summary.added : summary.duplicates);
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
        for (std::size_t n = 1; !stopping(options) && next_line(in, line, too_long); ++n) {
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
                if (auto bad = utf8::find_invalid(item.text)) throw Error("invalid UTF-8 at byte " + std::to_string(*bad));
            } catch (const std::exception& e) {
                ++summary.failed;
                ++summary.failure_reasons[reason_category(e.what())];
                failures.push_back({file + ":" + std::to_string(n), e.what(), 0, 0, now_seconds()});
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
