// opsis: one executable that trains, indexes, serves and measures. Subcommands live in
// cli/cmd_*.cpp; this file only parses and reports errors in one shape.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <malloc.h>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
    // Tensors of many megabytes are made and freed every batch. Above glibc's mmap threshold
    // each would be a fresh mapping whose pages the kernel zeroes on first touch; keeping
    // them in the heap lets the next batch reuse the same memory.
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    CLI::App app{"Opsis: cross-modal image/text search engine"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "opsis 0.1.0");
    opsis::cli::register_embed(app);
    opsis::cli::register_classify(app);
    opsis::cli::register_explain(app);
    opsis::cli::register_model(app);
    opsis::cli::register_tokenizer(app);
    opsis::cli::register_bench(app);
    opsis::cli::register_train(app);
    opsis::cli::register_index(app);
    opsis::cli::register_search(app);
    opsis::cli::register_serve(app);
    // CLI11 would only say "a subcommand is required" for a mistyped one; name it instead.
    const auto commands = app.get_subcommands([](const CLI::App*) { return true; });
    const bool known =
        argc < 2 || argv[1][0] == '-' ||
        std::any_of(commands.begin(), commands.end(), [&](const CLI::App* c) { return c->check_name(argv[1]); });
    if (!known) {
        std::fprintf(stderr, "opsis: unknown command '%s' (run opsis --help for the list)\n", argv[1]);
        return 2;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const opsis::Error& e) {
        std::fprintf(stderr, "opsis: error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "opsis: internal error: %s\n", e.what());
        return 3;
    }
    return 0;
}
