#include "indexer/job_summary_json.h"

namespace opsis::indexer {

nlohmann::json summary_json(const JobSummary& s) {
    return nlohmann::json{{"files", s.files},
                          {"added", s.added},
                          {"changed", s.changed},
                          {"duplicates", s.duplicates},
                          {"unchanged", s.unchanged},
                          {"dated", s.dated},
                          {"failed", s.failed},
                          {"failed_before", s.failed_before},
                          {"pruned", s.pruned},
                          {"texts_added", s.texts_added},
                          {"examined_again", s.examined_again},
                          {"other_shards", s.other_shards},
                          {"failure_reasons", s.failure_reasons},
                          {"problems", s.problems},
                          {"seconds", s.seconds}};
}

nlohmann::json round_json(const WatchRound& r) {
    return nlohmann::json{{"round", r.what},
                          {"removed", r.removed},
                          {"latency_seconds", r.latency_seconds},
                          {"summary", summary_json(r.summary)}};
}

nlohmann::json watch_status_json(const WatchStatus& s) {
    nlohmann::json j{{"state", s.state},
                     {"folders", s.folders},
                     {"watched_folders", s.watched_folders},
                     {"pending", s.pending},
                     {"events", s.events},
                     {"rounds", s.rounds},
                     {"rescans", s.rescans},
                     {"indexed", s.indexed},
                     {"removed", s.removed},
                     {"failed", s.failed},
                     {"last_latency_seconds", s.last_latency_seconds},
                     {"max_latency_seconds", s.max_latency_seconds},
                     {"last_round_unix", s.last_round_unix},
                     {"problems", s.problems}};
    if (!s.error.empty()) j["error"] = s.error;
    return j;
}

}  // namespace opsis::indexer
