#pragma once
// How an indexing job's summary looks as JSON, for `opsis index --json` and the API's job
// status alike.
#include <nlohmann/json.hpp>

#include "indexer/index_job.h"

namespace opsis::indexer {

// {files, added, changed, duplicates, unchanged, failed, failed_before, pruned, texts_added,
// examined_again, failure_reasons, problems, seconds}
nlohmann::json summary_json(const JobSummary& summary);

}  // namespace opsis::indexer
