// opsis tokenizer train | encode: learn BPE merges from text, show how a text is split.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/json_text.h"
#include "core/error.h"
#include "core/file_io.h"
#include "encoder/tokenizer_train.h"

namespace opsis::cli {
namespace {

struct TrainArgs {
    std::vector<std::string> inputs;
    std::string out;
    BpeTrainingOptions options;
};

void run_train(const TrainArgs& a) {
    std::vector<std::string> lines;
    for (const std::string& path : a.inputs) {
        const std::string text = read_text_file(path, 1ull << 32);
        std::size_t line_no = 0;
        for (std::size_t pos = 0; pos < text.size();) {
            std::size_t eol = text.find('\n', pos);
            if (eol == std::string::npos) eol = text.size();
            ++line_no;
            std::string line = text.substr(pos, eol - pos);
            pos = eol + 1;
            try {
                (void)clean_text(line);
            } catch (const Error& e) {
                throw input_error("corpus", path, "line " + std::to_string(line_no) + ": " + e.what());
            }
            lines.push_back(std::move(line));
        }
    }
    const Tokenizer tokenizer = train_bpe(lines, a.options);
    tokenizer.save(a.out);
    std::printf("wrote %s: %d tokens (%zu merges) from %zu lines\n", a.out.c_str(), tokenizer.vocab_size(),
                tokenizer.merges().size(), lines.size());
}

}  // namespace

void register_tokenizer(CLI::App& app) {
    CLI::App* tok = app.add_subcommand("tokenizer", "Train and inspect byte-level BPE tokenizers");
    tok->require_subcommand(1);

    auto train = std::make_shared<TrainArgs>();
    CLI::App* cmd = tok->add_subcommand("train", "Learn BPE merges from text files (one text per line)");
    cmd->add_option("--input,-i", train->inputs, "UTF-8 text file(s)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--out,-o", train->out, "Folder for vocab.json and merges.txt")->required();
    cmd->add_option("--vocab-size", train->options.vocab_size, "Vocabulary size incl. 514 byte and special tokens")
        ->capture_default_str()
        ->check(CLI::Range(514, 1 << 20));
    cmd->add_option("--min-frequency", train->options.min_frequency, "Never merge rarer pairs")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->callback([train] { run_train(*train); });

    auto dir = std::make_shared<std::string>();
    auto texts = std::make_shared<std::vector<std::string>>();
    CLI::App* enc = tok->add_subcommand("encode", "Print the token ids and pieces of texts (JSON lines)");
    enc->add_option("--tokenizer", *dir, "Tokenizer folder (or a model folder)")
        ->required()
        ->check(CLI::ExistingDirectory);
    enc->add_option("text", *texts, "Text(s)")->required();
    enc->callback([dir, texts] {
        const Tokenizer t = Tokenizer::load(*dir);
        for (const std::string& text : *texts) {
            const auto ids = t.encode(text);
            std::vector<std::string> pieces;
            for (const auto id : ids) pieces.push_back(t.decode({id}));
            std::printf(
                "%s\n",
                json_text(nlohmann::json{{"text", text}, {"ids", ids}, {"pieces", pieces}, {"decoded", t.decode(ids)}})
                    .c_str());
        }
    });
}

}  // namespace opsis::cli
