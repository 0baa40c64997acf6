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

    std::string args;
    nlohmann::json inputs = nlohmann::json::array();
    for (const InputSpec& in : p.inputs) {
        const std::string path = absolute(in.path);
        const char* flag = in.kind == InputKind::list ? "--list " : in.kind == InputKind::manifest ? "--manifest " : "";
        args += std::string(" ") + flag + shell_quote(path);
        inputs.push_back({{"kind", in.kind == InputKind::list       ? "list"
                                   : in.kind == InputKind::manifest ? "manifest"
                                                                    : "path"},
                          {"path", path}});
    }
    if (!p.model.empty()) args += " --model " + shell_quote(absolute(p.model));
    if (!p.factory.empty()) args += " --factory " + shell_quote(p.factory);
    const std::string opsis = shell_quote(absolute(p.opsis));
    const std::string n = std::to_string(p.shards);
    std::string extra;
    for (const std::string& o : p.sbatch_options) extra += "#SBATCH " + o + "\n";

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
        "#SBATCH --cpus-per-task=" +
        std::to_string(p.cpus_per_task) +
        "\n"
        "#SBATCH --output=" +
        dir + "/logs/index-%A_%a.out\n" + extra +
        "set -euo pipefail\n"
        "i=\"${SLURM_ARRAY_TASK_ID:?run me with sbatch (or set SLURM_ARRAY_TASK_ID)}\"\n"
        "echo \"opsis index task $i of " +
        n +
        ", run ${SLURM_RESTART_COUNT:-0} after requeues, on $(hostname)\" >&2\n"
        "exec " +
        opsis + " index add --index " + shell_quote(dir) + "/shard-$i --shard $i/" + n + " --threads " +
        std::to_string(std::max(1, p.cpus_per_task - 1)) + " --json" + args + " > " + shell_quote(dir) +
        "/logs/summary-$i.json\n";
    std::string shard_list;
    for (std::uint32_t i = 0; i < p.shards; ++i) shard_list += " " + shell_quote(dir) + "/shard-" + std::to_string(i);
    const std::string merge_script =
        "#!/bin/bash\n"
        "# Made by `opsis index plan`: one index of the " +
        n +
        " shards, once every index task has ended well\n"
        "# (sbatch --dependency=afterok:<the index job's id> " +
        dir +
        "/merge.sbatch).\n"
        "#SBATCH --job-name=opsis-merge\n"
        "#SBATCH --cpus-per-task=" +
        std::to_string(p.cpus_per_task) +
        "\n"
        "#SBATCH --output=" +
        dir + "/logs/merge-%j.out\n" + extra +
        "set -euo pipefail\n"
        "exec " +
        opsis + " index merge --json --index " + shell_quote(dir) + "/merged" + shard_list + "\n";
    PlannedFiles files{dir + "/index.sbatch", dir + "/merge.sbatch", dir + "/plan.json"};
    write_script(files.index_script, index_script);
    write_script(files.merge_script, merge_script);
    const std::string plan =
        nlohmann::json{
            {"shards", p.shards},   {"inputs", inputs},           {"model", p.model.empty() ? "" : absolute(p.model)},
            {"factory", p.factory}, {"opsis", absolute(p.opsis)}, {"cpus_per_task", p.cpus_per_task}}
            .dump(2) +
        "\n";
    write_file_atomic(files.plan_json, plan.data(), plan.size());
    return files;
}

}  // namespace opsis::indexer
