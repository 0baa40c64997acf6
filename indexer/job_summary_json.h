#pragma once
// How an indexing job's summary and a folder watcher's rounds and status look as JSON, for
// `opsis index --json` and the API alike.
#include <nlohmann/json.hpp>

#include "indexer/folder_watcher.h"
#include "indexer/index_job.h"

namespace opsis::indexer {

// {files, added, changed, duplicates, unchanged, failed, failed_before, pruned, texts_added,
// examined_again, failure_reasons, problems, seconds}
nlohmann::json summary_json(const JobSummary& summary);
// {round: "rescan"|"changes", removed, latency_seconds, summary}
nlohmann::json round_json(const WatchRound& round);
// {state, folders, watched_folders, pending, events, rounds, rescans, indexed, removed, failed,
// last_latency_seconds, max_latency_seconds, last_round_unix, problems, error}
nlohmann::json watch_status_json(const WatchStatus& status);

}  // namespace opsis::indexer
