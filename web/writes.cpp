// Writes: uploads (through the indexer's examine and commit stages), texts, deletes, and the
// background indexing job. Each needs the token and runs on a worker holding the write lock.
#include <filesystem>
#include <map>
#include <span>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "core/utf8.h"
#include "indexer/index_job.h"
#include "indexer/job_summary_json.h"
#include "search/result_json.h"
#include "web/api_impl.h"
#include "web/json_fields.h"
#include "web/request_parsing.h"
#include "web/responses.h"

namespace opsis::web {

using json = nlohmann::json;
using storage::Collection;
namespace fs = std::filesystem;
namespace beast = boost::beast;

Api::Impl::Routed Api::Impl::write(Request& req, std::function<Response(const Request&)> fn) {
    require_token(req);
    // Decoding, encoding and the synced commit take milliseconds to seconds: on a worker.
    return std::function<Response()>(
        [this, fn = std::move(fn), request = std::make_shared<const Request>(std::move(req))] {
            const std::unique_lock lock = lock_for_write();
            return fn(*request);
        });
}

std::unique_lock<std::mutex> Api::Impl::lock_for_write() {
    // API writes wait for one another (each is short), but not for a bulk job, which holds the
    // lock until it ends: waiting would hold a worker, and the client, for the whole job.
    std::unique_lock lock(writes_mutex_, std::defer_lock);
    while (true) {
        if (job_running_)  // from the moment the job is accepted, before its thread has the lock
            reject(http::status::conflict,
                   "an indexing job is running (GET /api/index/jobs): writes are refused until it ends");
        if (lock.try_lock()) return lock;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

void Api::Impl::require_token(const Request& req) const {
    if (options_.write_token.empty())
        reject(http::status::forbidden,
               "writes are disabled: start opsis serve with --token (or OPSIS_TOKEN) to allow them");
    // "Bearer" is a scheme name, which HTTP compares without case (RFC 9110 §11.1).
    const beast::string_view header = req[http::field::authorization];
    const std::string_view auth(header.data(), header.size());
    const std::size_t space = auth.find(' ');
    const bool bearer = space != std::string_view::npos && iequals(auth.substr(0, space), "bearer");
    std::string_view given = bearer ? auth.substr(space + 1) : std::string_view{};
    while (given.starts_with(' ')) given.remove_prefix(1);
    const std::string& expected = options_.write_token;
    // Compared in constant time: the token is a secret.
    bool same = bearer && given.size() == expected.size();
    unsigned char diff = 0;
    for (std::size_t i = 0; i < std::min(given.size(), expected.size()); ++i)
        diff |= static_cast<unsigned char>(given[i] ^ expected[i]);
    if (!same || diff != 0)
        reject(http::status::unauthorized,
               "writes need the header 'Authorization: Bearer <token>' with the server's token");
}

Response Api::Impl::add_item(const Request& req) {
    const Target t = parse_target(req);
    Upload upload = read_upload(req, t.query);
    const std::string& filename = upload.filename;
    const std::span<const unsigned char> bytes(reinterpret_cast<const unsigned char*>(upload.bytes.data()),
                                               upload.bytes.size());
    const ImageFormat format = sniff_image_format(bytes.data(), bytes.size(), filename);
    if (format == ImageFormat::unknown)
        reject(
            http::status::unsupported_media_type,
            "upload '" + filename + "': not a supported image format (JPEG, PNG, WebP, HEIC, AVIF, BMP, GIF or TGA)");
    // The kept copy's extension (the indexer names it by content in the index folder).
    static const std::map<ImageFormat, const char*> ext{{ImageFormat::jpeg, ".jpg"},  {ImageFormat::png, ".png"},
                                                        {ImageFormat::gif, ".gif"},   {ImageFormat::bmp, ".bmp"},
                                                        {ImageFormat::tga, ".tga"},   {ImageFormat::webp, ".webp"},
                                                        {ImageFormat::heif, ".heic"}, {ImageFormat::avif, ".avif"}};
    indexer::InputFile file;
    if (upload.fields.count("source")) file.source = upload.fields["source"];
    if (upload.fields.count("tags")) {
        std::stringstream in(upload.fields["tags"]);
        for (std::string tag; std::getline(in, tag, ',');)
            if (!tag.empty()) file.tags.push_back(tag);
    }
    indexer::JobOptions o;
    o.show_progress = false;
    o.limits = options_.limits.image;
    const indexer::UploadOutcome added =
        indexer::index_upload(store_, model_, filename, bytes, ext.at(format), file, o);
    const std::optional<storage::Item> item = store_.catalog().item(Collection::images, added.id);
    if (!item) reject(http::status::internal_server_error, "upload indexed but not found");
    json body = search::item_json(*item, Collection::images);
    body["created"] = added.created;
    return json_response(added.created ? http::status::created : http::status::ok, body, req.version());
}

Response Api::Impl::add_texts(const Request& req) {
    const json j = json_object_body(req);
    check_fields(j, {"text", "texts", "source", "tags"}, "texts");
    std::vector<std::string> texts = string_list(j, "text", "texts");
    for (const std::string& t : string_list(j, "texts", "texts")) texts.push_back(t);
    if (texts.empty()) reject(http::status::bad_request, "give \"text\" or \"texts\"");
    if (texts.size() > 1000) reject(http::status::payload_too_large, "at most 1000 texts per request");
    std::vector<storage::Item> items;
    for (const std::string& t : texts) {
        if (auto bad = utf8::find_invalid(t))
            reject(http::status::bad_request, "text: invalid UTF-8 at byte " + std::to_string(*bad));
        if (t.find_first_not_of(" \t\r\n") == std::string::npos) reject(http::status::bad_request, "text: empty");
        // The same limit as a query's text: a stored text is embedded the same way.
        if (t.size() > options_.limits.max_text_bytes)
            reject(http::status::payload_too_large, "text: " + std::to_string(t.size()) + " bytes, longer than " +
                                                        std::to_string(options_.limits.max_text_bytes));
        storage::Item it;
        it.text = t;
        if (j.contains("source")) {
            if (!j["source"].is_string()) reject(http::status::bad_request, "texts.source must be a string");
            it.source = j["source"].get<std::string>();
        }
        it.tags = string_list(j, "tags", "texts");
        items.push_back(std::move(it));
    }
    json results = json::array();
    std::size_t added = 0;
    for (const auto& [id, created] : indexer::add_text_items(store_, model_, std::move(items))) {
        results.push_back({{"id", id}, {"created", created}});
        added += created;
    }
    return json_response(added > 0 ? http::status::created : http::status::ok, {{"items", results}}, req.version());
}

Response Api::Impl::delete_item(const Request& req, std::int64_t id) {
    const auto [c, item] = requested_item(req, id);
    storage::Catalog::Batch b(store_.catalog());
    b.remove_item(c, id);
    store_.commit(b);
    // What the server made of the item goes with it, after the commit (a crash before leaves
    // files that nothing refers to, never an item without its file): its thumbnails, and an
    // upload's kept copy (named by content, so no other item shares it).
    if (c == Collection::images) {
        std::error_code ec;
        for (const char* ext : {".jpg", ".png"})
            fs::remove(store_.dir() + "/thumbnails/" + std::to_string(id) + ext, ec);
        const std::string uploads = store_.dir() + "/uploads/";
        for (const std::string& p : item.paths)
            if (p.rfind(uploads, 0) == 0 && p.find('/', uploads.size()) == std::string::npos) fs::remove(p, ec);
    }
    return json_response(http::status::ok, {{"deleted", id}, {"collection", storage::collection_name(c)}},
                         req.version());
}

Response Api::Impl::start_job(const Request& req) {
    require_token(req);
    // Everything is validated before any state changes: a bad request leaves no job behind.
    const json j = json_object_body(req);
    check_fields(j, {"paths", "manifests", "prune"}, "job");
    std::vector<indexer::InputSpec> inputs;
    for (const std::string& p : string_list(j, "paths", "job")) inputs.push_back({indexer::InputKind::path, p});
    for (const std::string& p : string_list(j, "manifests", "job")) inputs.push_back({indexer::InputKind::manifest, p});
    if (inputs.empty())
        reject(http::status::bad_request, "give \"paths\" (folders or files on the server) or \"manifests\"");
    if (j.contains("prune") && !j["prune"].is_boolean())
        reject(http::status::bad_request, "job.prune must be true or false");
    indexer::JobOptions o;
    o.show_progress = false;
    o.limits = options_.limits.image;
    o.prune = j.value("prune", false);
    o.cancel = &job_cancel_;

    std::lock_guard lock(job_mutex_);
    if (job_running_) reject(http::status::conflict, "an indexing job is already running (GET /api/index/jobs)");
    if (job_thread_.joinable()) job_thread_.join();
    job_cancel_ = false;
    job_running_ = true;
    job_status_ = {{"state", "running"}, {"inputs", j}};
    try {
        job_thread_ = std::thread([this, inputs, o] {
            json status;
            try {
                std::lock_guard w(writes_mutex_);
                const indexer::JobSummary s = indexer::index_images(store_, model_, inputs, o);
                status = indexer::summary_json(s);
                status["state"] = job_cancel_ ? "cancelled" : "done";
            } catch (const std::exception& e) {
                status = {{"state", "failed"}, {"error", e.what()}};
            }
            std::lock_guard lock(job_mutex_);
            job_status_ = status;
            job_running_ = false;
        });
    } catch (...) {
        job_running_ = false;
        job_status_ = {{"state", "failed"}, {"error", "the job could not start"}};
        throw;
    }
    return json_response(http::status::accepted, job_status_, req.version());
}

Response Api::Impl::cancel_job(const Request& req) {
    require_token(req);
    std::lock_guard lock(job_mutex_);
    if (!job_running_) reject(http::status::not_found, "no indexing job is running");
    job_cancel_ = true;
    job_status_["state"] = "cancelling";
    return json_response(http::status::accepted, job_status_, req.version());
}

Response Api::Impl::job_status(const Request& req) {
    std::lock_guard lock(job_mutex_);
    return json_response(http::status::ok, job_status_, req.version());
}

}  // namespace opsis::web
