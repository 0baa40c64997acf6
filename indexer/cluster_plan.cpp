#include "indexer/cluster_plan.h"

#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"

namespace opsis::indexer {
namespace {

namespace fs = std::filesystem;

std::string absolute(const std::string& path) { return fs::absolute(path).lexically_normal().string(); }

void write_script(const std::string& path, const std::string& text) {
    write_file_atomic(path, text.data(), text.size());
    if (chmod(path.c_str(), 0755) != 0) throw input_error("script", path, "cannot be made executable");
}

}  // namespace

std::string shell_quote(const std::string& word) {
    if (!word.empty() &&
        word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@%") ==
            std::string::npos)
        return word;
    std::string out = "'";
    for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

PlannedFiles write_cluster_plan(const ClusterPlan& p) {
    if (p.shards < 1) throw input_error("shards", std::to_string(p.shards), "must be at least 1");
    if (p.train_job && p.train_slices < 1)
        throw input_error("train slices", std::to_string(p.train_slices), "must be at least 1");
    if (p.inputs.empty()) throw input_error("index plan", p.dir, "give folders or files, --list or --manifest");
    for (const std::string& o : p.sbatch_options)
        if (o.rfind("--", 0) != 0 || o.find('\n') != std::string::npos)
            throw input_error("sbatch option", o, "must be one --option[=value]");
    const std::string dir = absolute(p.dir);
    // The folder goes into #SBATCH lines, which Slurm splits at spaces and expands % in, and
    // into comments a newline would end.
    if (dir.find_first_of(" \t\r\n%") != std::string::npos)
        throw input_error("plan folder", dir, "may not hold spaces, newlines or % (Slurm reads it in #SBATCH lines)");
    std::error_code ec;
    fs::create_directories(dir + "/logs", ec);
    if (ec) throw input_error("plan folder", dir, "cannot be made: " + ec.message());

    std::string inputs_args;
    nlohmann::json inputs = nlohmann::json::array();
    for (const InputSpec& in : p.inputs) {
        const std::string path = absolute(in.path);
        const char* flag = in.kind == InputKind::list ? "--list " : in.kind == InputKind::manifest ? "--manifest " : "";
        inputs_args += std::string(" ") + flag + shell_quote(path);
        inputs.push_back({{"kind", in.kind == InputKind::list       ? "list"
                                   : in.kind == InputKind::manifest ? "manifest"
                                                                    : "path"},
                          {"path", path}});
    }
    if (!p.model.empty()) inputs_args += " --model " + shell_quote(absolute(p.model));
    const std::string opsis = shell_quote(absolute(p.opsis));
    const std::string qdir = shell_quote(dir);
    const std::string n = std::to_string(p.shards);
    const std::string threads = std::to_string(std::max(1, p.cpus_per_task - 1));
    const std::string trained = p.train_job ? dir + "/images.trained" : p.trained.empty() ? "" : absolute(p.trained);
    // The shards start from the shared training when there is one, else from the factory.
    const std::string vectors = !trained.empty()    ? " --trained " + shell_quote(trained)
                                : p.factory.empty() ? ""
                                                    : " --factory " + shell_quote(p.factory);
    std::string head;  // the #SBATCH lines every script has
    head += "#SBATCH --cpus-per-task=" + std::to_string(p.cpus_per_task) + "\n";
    for (const std::string& o : p.sbatch_options) head += "#SBATCH " + o + "\n";

    const std::string train_script =
        "#!/bin/bash\n"
        "# Made by `opsis index plan`: the shared training of the shards' vector index (" +
        p.factory + "). It indexes slice 0 of " + std::to_string(p.train_slices) +
        " of the inputs\n"
        "# (by the same stable hash as the shards) and trains on their vectors; every shard starts from it,\n"
        "# so the merge joins their lists as they are. Requeued, it resumes.\n"
        "#SBATCH --job-name=opsis-train\n"
        "#SBATCH --requeue\n"
        "#SBATCH --output=" +
        dir + "/logs/train-%j.out\n" + head +
        "set -euo pipefail\n"
        "# Run again (a requeue, submit once more), it keeps the training the shards began from.\n"
        "if [[ -s " +
        shell_quote(trained) + " ]]; then echo \"kept " + trained + "\" >&2; exit 0; fi\n" + opsis +
        " index add --index " + qdir + "/sample --shard 0/" + std::to_string(p.train_slices) + " --threads " + threads +
        " --json" + inputs_args + " > " + qdir +
        "/logs/sample.json\n"
        "exec " +
        opsis + " index train --index " + qdir + "/sample --factory " + shell_quote(p.factory) + " --out " +
        shell_quote(trained) + "\n";
    const std::string index_script =
        "#!/bin/bash\n"
        "# Made by `opsis index plan`: " +
        n +
        " array tasks, each indexing the part of the inputs that a stable\n"
        "# hash of each path gives it (index add --shard i/N) into its own shard index. A task killed or\n"
        "# requeued resumes on its next run: what it committed stays and is skipped.\n"
        "#SBATCH --job-name=opsis-index\n"
        "#SBATCH --array=0-" +
        std::to_string(p.shards - 1) +
        "\n"
        "#SBATCH --requeue\n"
        "#SBATCH --output=" +
        dir + "/logs/index-%A_%a.out\n" + head +
        "set -euo pipefail\n"
        "i=\"${SLURM_ARRAY_TASK_ID:?run me with sbatch (or set SLURM_ARRAY_TASK_ID)}\"\n"
        "echo \"opsis index task $i of " +
        n +
        ", run ${SLURM_RESTART_COUNT:-0} after requeues, on $(hostname)\" >&2\n"
        "exec " +
        opsis + " index add --index " + qdir + "/shard-$i --shard $i/" + n + " --threads " + threads + " --json" +
        vectors + inputs_args + " > " + qdir + "/logs/summary-$i.json\n";
    std::string shard_list;
    for (std::uint32_t i = 0; i < p.shards; ++i) shard_list += " " + qdir + "/shard-" + std::to_string(i);
    const std::string merge_script =
        "#!/bin/bash\n"
        "# Made by `opsis index plan`: one index of the " +
        n +
        " shards, once every index task has ended well\n"
        "# (sbatch --dependency=afterok:<the index job's id> " +
        dir +
        "/merge.sbatch).\n"
        "#SBATCH --job-name=opsis-merge\n"
        "#SBATCH --output=" +
        dir + "/logs/merge-%j.out\n" + head +
        "set -euo pipefail\n"
        "exec " +
        opsis + " index merge --json --index " + qdir + "/merged" + shard_list + "\n";
    // One command submits the whole job: each step waits for the one before to end well.
    std::string submit =
        "#!/bin/bash\n"
        "# Made by `opsis index plan`: submits the plan's jobs, each after the one before ended well\n"
        "# (afterok), and prints their ids (--parsable prints id;cluster on federated Slurm: the id\n"
        "# is kept). Extra arguments go to every sbatch (e.g. --partition=...).\n"
        "set -euo pipefail\n";
    auto submit_job = [&](const std::string& name, const std::string& after) {
        submit += name + "=$(sbatch --parsable" + (after.empty() ? "" : " --dependency=afterok:$" + after) +
                  " \"$@\" " + qdir + "/" + name + ".sbatch)\n" + name + "=${" + name + "%%;*}\necho \"" + name + " $" +
                  name + "\"\n";
    };
    if (p.train_job) submit_job("train", "");
    submit_job("index", p.train_job ? "train" : "");
    submit_job("merge", "index");

    PlannedFiles files{p.train_job ? dir + "/train.sbatch" : "", dir + "/index.sbatch", dir + "/merge.sbatch",
                       dir + "/submit", dir + "/plan.json"};
    std::error_code gone;
    // A new plan trains anew (its factory or inputs may differ): an earlier plan's training goes.
    if (trained != dir + "/images.trained" || p.train_job) fs::remove(dir + "/images.trained", gone);
    if (p.train_job)
        write_script(files.train_script, train_script);
    else
        fs::remove(dir + "/train.sbatch", gone);  // from an earlier plan in the folder
    write_script(files.index_script, index_script);
    write_script(files.merge_script, merge_script);
    write_script(files.submit_script, submit);
    const std::string plan = nlohmann::json{{"shards", p.shards},
                                            {"inputs", inputs},
                                            {"model", p.model.empty() ? "" : absolute(p.model)},
                                            {"factory", p.factory},
                                            {"trained", trained},
                                            {"train_slices", p.train_job ? p.train_slices : 0},
                                            {"opsis", absolute(p.opsis)},
                                            {"cpus_per_task", p.cpus_per_task}}
                                 .dump(2) +
                             "\n";
    write_file_atomic(files.plan_json, plan.data(), plan.size());
    return files;
}

}  // namespace opsis::indexer
