#pragma once
// A bulk indexing job planned for a Slurm cluster (opsis index plan): N array tasks, each
// running `opsis index add --shard i/N` over the same inputs into its own shard index, so the
// parts are disjoint and together hold every file; then either one merged index (`opsis index
// merge`, a job that waits for the array) or the shards served as they are (`opsis serve
// --shards`). A task that is killed or requeued resumes: an indexing job is idempotent and
// crash-safe, so its next run skips what the last one committed. With a trained vector index
// type (IVF…), a train job first indexes one slice of the inputs and trains the shared
// quantiser on it (opsis index train); every task starts from it, so the merge joins the
// shards' inverted lists instead of encoding every vector again.
#include <string>
#include <vector>

#include "indexer/inputs.h"

namespace opsis::indexer {

struct ClusterPlan {
    std::string dir;  // the plan's folder: scripts, logs, shard-0 ... shard-(N-1), merged
    std::uint32_t shards = 1;
    std::vector<InputSpec> inputs;
    std::string opsis;           // the executable every task runs (a path all nodes see)
    std::string model, factory;  // passed on when given
    // With a factory: the train job indexes slice 0 of this many (index add --shard 0/S) and
    // trains on it. It needs 39 vectors a list (IVF4096: 160k pictures in the slice).
    std::uint32_t train_slices = 32;
    std::string trained;     // a shared training already made (opsis index train): no train job
    bool train_job = false;  // the factory trains a quantiser and none was given: plan the train job
    int cpus_per_task = 2;
    std::vector<std::string> sbatch_options;  // more #SBATCH lines: "--partition=gpu", "--time=2:00:00"
};

struct PlannedFiles {
    std::string train_script;  // "" when the shards need no training or one was given
    std::string index_script, merge_script, submit_script, plan_json;
};

// Writes DIR/train.sbatch (see ClusterPlan::train_slices), DIR/index.sbatch, DIR/merge.sbatch,
// DIR/submit (sbatch of each, chained by afterok; prints their job ids) and DIR/plan.json (and
// DIR/logs/). Inputs and paths are made absolute: tasks may start elsewhere. Throws naming
// what cannot be written.
PlannedFiles write_cluster_plan(const ClusterPlan& plan);

std::string shell_quote(const std::string& word);

}  // namespace opsis::indexer
