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
                          {"failure_reasons", s.failure_reasons},
                          {"problems", s.problems},
                          {"seconds", s.seconds}};
}

}  // namespace opsis::indexer
