// opsis bench ...: benchmarks that print measured figures.
#include "benchmarks/decode_bench.h"
#include "benchmarks/encoder_bench.h"
#include "benchmarks/index_bench.h"
#include "benchmarks/watch_bench.h"
#include "benchmarks/queries_bench.h"
#include "benchmarks/merge_bench.h"
#include "benchmarks/search_bench.h"
#include "benchmarks/recall_bench.h"
#include "benchmarks/robustness_bench.h"
#include "benchmarks/zeroshot_bench.h"
#include "cli/commands.h"

namespace opsis::cli {

void register_bench(CLI::App& app) {
    CLI::App* bench = app.add_subcommand("bench", "Measure speed (and later recall)");
    bench->require_subcommand(1);
    auto o = std::make_shared<bench::EncoderBenchOptions>();
    CLI::App* enc = bench->add_subcommand(
        "encoder", "Images/s and texts/s per batch size, against sgemm (and PyTorch with --torch)");
    auto* model = enc->add_option("--model,-m", o->model, "Model folder");
    enc->add_option("--config,-c", o->config, "Architecture config (random weights)")
        ->excludes(model)
        ->check(CLI::ExistingFile);
    enc->add_option("--seconds", o->seconds, "Seconds per figure")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 600.0));
    enc->add_option("--threads", o->threads, "Threads (0: all cores)")
        ->capture_default_str()
        ->check(CLI::Range(0, 256));
    enc->add_option("--batches", o->batches, "Batch sizes measured")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    enc->add_option("--precision", o->precisions,
                    "Precisions measured, e.g. fp32,bf16,int8 (bf16: AVX-512 BF16 or AMX; int8: VNNI or AMX)")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
    enc->add_flag("--torch", o->torch,
                  "Also PyTorch on the same CLIP checkpoint in the same run (fp32, and bf16 where the CPU has it)");
    enc->add_option("--json", o->json_out, "Also write the figures to this JSON file");
    enc->callback([o] { bench::run_encoder_bench(*o); });

    auto r = std::make_shared<bench::RecallBenchOptions>();
    CLI::App* rec =
        bench->add_subcommand("recall", "R@1/5/10 both directions, per split and source, English and Greek");
    rec->add_option("--model,-m", r->model, "Model folder")->required();
    auto* corpus =
        rec->add_option("--corpus", r->corpus, "Corpus folder from data/build-corpus")->check(CLI::ExistingDirectory);
    rec->add_option("--splits", r->splits, "Split files to score (without .txt)")
        ->capture_default_str()
        ->delimiter(',');
    auto* karpathy = rec->add_option("--karpathy", r->karpathy, "dataset_flickr30k.json or dataset_coco.json")
                         ->check(CLI::ExistingFile)
                         ->excludes(corpus);
    rec->add_option("--images", r->images, "Image folder for --karpathy")
        ->check(CLI::ExistingDirectory)
        ->needs(karpathy);
    rec->add_option("--karpathy-split", r->karpathy_split, "Which split of the Karpathy file")->capture_default_str();
    rec->add_option("--json", r->json_out, "Also write the table as JSON");
    rec->add_option("--threads", r->threads, "Threads (0: all cores)")
        ->capture_default_str()
        ->check(CLI::Range(0, 256));
    rec->add_option("--precision", r->precision, "Precision of the towers: fp32, bf16 or int8")
        ->capture_default_str()
        ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
    rec->callback([r] { bench::run_recall_bench(*r); });

    auto z = std::make_shared<bench::ZeroShotBenchOptions>();
    CLI::App* zs = bench->add_subcommand(
        "zeroshot", "Zero-shot labelling top-1/top-5 over a split's concept names, English and Greek");
    zs->add_option("--model,-m", z->model, "Model folder")->required();
    zs->add_option("--corpus", z->corpus, "Corpus folder from data/build-corpus")
        ->required()
        ->check(CLI::ExistingDirectory);
    zs->add_option("--splits", z->splits, "Split files to score (without .txt)")->capture_default_str()->delimiter(',');
    zs->add_option("--json", z->json_out, "Also write the table as JSON");
    zs->add_option("--threads", z->threads, "Threads (0: all cores)")->capture_default_str()->check(CLI::Range(0, 256));
    zs->add_option("--precision", z->precision, "Precision of the towers: fp32, bf16 or int8")
        ->capture_default_str()
        ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
    zs->callback([z] { bench::run_zeroshot_bench(*z); });

    auto rb = std::make_shared<bench::RobustnessBenchOptions>();
    CLI::App* rob = bench->add_subcommand(
        "robustness", "Text->image R@1/R@10 with each vision challenge (viewpoint, clutter, ...) at 3 strengths");
    rob->add_option("--model,-m", rb->model, "Model folder")->required();
    rob->add_option("--corpus", rb->corpus, "Corpus folder from data/build-corpus")
        ->required()
        ->check(CLI::ExistingDirectory);
    rob->add_option("--split", rb->split, "Split file to score (without .txt): val, zeroshot, style")
        ->capture_default_str();
    rob->add_option("--limit", rb->limit, "Pictures: an evenly spaced sample of the sorted ids (0: all)")
        ->capture_default_str();
    rob->add_option("--seed", rb->seed, "Seed of the perturbations")->capture_default_str();
    rob->add_option("--json", rb->json_out, "Also write the table as JSON");
    rob->add_option("--plot", rb->plot_out, "Also draw R@10 against strength into this PNG");
    rob->add_option("--threads", rb->threads, "Threads (0: all cores)")
        ->capture_default_str()
        ->check(CLI::Range(0, 256));
    rob->add_option("--precision", rb->precision, "Precision of the towers: fp32, bf16 or int8")
        ->capture_default_str()
        ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
    rob->callback([rb] { bench::run_robustness_bench(*rb); });

    auto ib = std::make_shared<bench::IndexBenchOptions>();
    CLI::App* idx =
        bench->add_subcommand("index", "End-to-end indexing images/s next to the encoder alone, and memory");
    idx->add_option("--model,-m", ib->model, "Model folder (default: models/default)");
    auto* images =
        idx->add_option("--images,--photos", ib->folders, "Folders of images")->check(CLI::ExistingDirectory);
    idx->add_option("--synthetic", ib->synthetic, "Generate and index this many small PNGs instead")->excludes(images);
    idx->add_option("--synthetic-size", ib->synthetic_size, "Side of the generated PNGs")
        ->capture_default_str()
        ->check(CLI::Range(8, 1024));
    idx->add_option("--synthetic-photos", ib->synthetic_photos,
                    "Generate and index this many camera JPEGs with EXIF instead (of --photo-size)")
        ->excludes(images);
    idx->add_option("--photo-size", ib->photo_size, "Size of the generated photos, WIDTHxHEIGHT")
        ->capture_default_str();
    idx->add_flag("--full-decode", ib->full_decode, "Decode JPEGs at full size (the slower path, for comparison)");
    idx->add_option("--limit", ib->limit, "Files taken from --images")->capture_default_str();
    idx->add_option("--threads", ib->threads, "Decoding threads (0: the indexer's default)")->capture_default_str();
    idx->add_option("--batch", ib->batch, "Encoder batch")->capture_default_str()->check(CLI::Range(1, 4096));
    idx->add_option("--json", ib->json_out, "Also write the figures as JSON");
    idx->add_option("--precision", ib->precision, "Precision of the towers: fp32, bf16 or int8")
        ->capture_default_str()
        ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
    idx->callback([ib] { bench::run_index_bench(*ib); });

    auto wb = std::make_shared<bench::WatchBenchOptions>();
    CLI::App* wat = bench->add_subcommand(
        "watch", "Photo written into a watched folder -> searchable: at rest and during a burst, next to a bulk job");
    wat->add_option("--model,-m", wb->model, "Model folder (default: models/default)");
    wat->add_option("--at-rest", wb->at_rest, "Photos written one at a time, each waited for")->capture_default_str();
    wat->add_option("--burst", wb->burst, "Photos copied in at once")->capture_default_str();
    wat->add_option("--photo-size", wb->photo_size, "Size of the generated photos, WIDTHxHEIGHT")
        ->capture_default_str();
    wat->add_option("--settle-ms", wb->settle_ms, "The watcher's settle time")
        ->capture_default_str()
        ->check(CLI::Range(0, 60000));
    wat->add_option("--json", wb->json_out, "Also write the figures as JSON");
    wat->add_option("--precision", wb->precision, "Precision of the towers: fp32, bf16 or int8")
        ->capture_default_str()
        ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
    wat->callback([wb] { bench::run_watch_bench(*wb); });

    auto db = std::make_shared<bench::DecodeBenchOptions>();
    CLI::App* dec = bench->add_subcommand(
        "decode", "JPEG decode + fit to the model's input: stb_image, libjpeg-turbo, and DCT-scaled, side by side");
    dec->add_option("--model,-m", db->model,
                    "Model folder whose input size and embeddings are used (default: models/default)");
    dec->add_option("--sizes", db->sizes, "Synthetic photos' sizes, WIDTHxHEIGHT")
        ->capture_default_str()
        ->delimiter(',');
    dec->add_option("--photos", db->photos, "A folder of JPEG photos instead")->check(CLI::ExistingDirectory);
    dec->add_option("--count", db->count, "Photos per size (or taken from --photos)")
        ->capture_default_str()
        ->check(CLI::Range(1, 10000));
    dec->add_option("--seconds", db->seconds, "At least this long per path")->capture_default_str();
    dec->add_option("--json", db->json_out, "Also write the figures as JSON");
    dec->callback([db] { bench::run_decode_bench(*db); });

    auto vb = std::make_shared<bench::VectorBenchOptions>();
    CLI::App* vec = bench->add_subcommand(
        "vectors", "FAISS index types on synthetic clustered vectors: build, memory, q/s, recall");
    vec->add_option("--n", vb->n, "Vectors in the index")->capture_default_str()->check(CLI::Range(1000, 100000000));
    vec->add_option("--dim", vb->dim, "Dimension")->capture_default_str()->check(CLI::Range(4, 4096));
    vec->add_option("--factories", vb->factories, "index_factory strings, separated by ';'")
        ->delimiter(';')
        ->capture_default_str();
    vec->add_option("--queries", vb->queries, "Queries")->capture_default_str()->check(CLI::Range(1, 100000));
    vec->add_option("--k", vb->k, "Neighbours")->capture_default_str()->check(CLI::Range(1, 1000));
    vec->add_option("--rescore", vb->rescore, "Candidates re-scored exactly")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    vec->add_option("--clusters", vb->clusters, "Clusters in the synthetic data")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
    vec->add_option("--json", vb->json_out, "Also write the figures as JSON");
    vec->callback([vb] { bench::run_vector_bench(*vb); });

    auto sb = std::make_shared<bench::SearchBenchOptions>();
    CLI::App* sea = bench->add_subcommand("search", "Query latency p50/p99, text and image, in-process and over HTTP");
    auto* six = sea->add_option("--index", sb->index, "Index folder")->check(CLI::ExistingDirectory);
    sea->add_option("--synthetic", sb->synthetic, "Or a synthetic index of this many vectors (made once, cached)")
        ->excludes(six);
    sea->add_option("--factory", sb->factory, "Vector index type of the synthetic index")->capture_default_str();
    sea->add_option("--dim", sb->dim,
                    "Dimension of the synthetic index's vectors (default: the model's; more: the model's vectors "
                    "placed in more dimensions by a fixed orthonormal map, cosines unchanged)")
        ->check(CLI::Range(1, 4096));
    sea->add_option("--real", sb->real, "An index whose pictures and captions the synthetic index holds first")
        ->check(CLI::ExistingDirectory);
    sea->add_flag("--batches", sb->batches,
                  "Load the synthetic index through catalog batches of 10,000 (the indexing jobs' path), not bulks");
    sea->add_option("--efforts", sb->efforts, "Also recall and latency at these search efforts (IVF lists probed)")
        ->delimiter(',')
        ->check(CLI::Range(1, 65536));
    sea->add_option("--rescore", sb->rescores,
                    "Also recall and latency at these re-scoring depths (compressed candidates re-scored exactly), "
                    "at each effort")
        ->delimiter(',')
        ->check(CLI::Range(1, 65536));
    sea->add_option("--model,-m", sb->model, "Model folder (default: the index's, or models/default)");
    sea->add_option("--queries", sb->queries, "Queries of each kind")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    sea->add_option("-k", sb->k, "Results per query")->capture_default_str()->check(CLI::Range(1, 500));
    sea->add_option("--json", sb->json_out, "Also write the figures as JSON");
    sea->add_option("--precision", sb->precision, "Precision of the towers: fp32, bf16 or int8 (default: the index's)")
        ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
    sea->callback([sb] { bench::run_search_bench(*sb); });

    auto mb = std::make_shared<bench::MergeBenchOptions>();
    CLI::App* mer = bench->add_subcommand(
        "merge", "Shards from one shared training merged by joining lists, against training anew: time and recall");
    mer->add_option("--synthetic", mb->synthetic, "Vectors in all (made once, cached, like bench search's)")
        ->required()
        ->check(CLI::Range(std::size_t{1000}, std::size_t{1} << 34));
    mer->add_option("--shards", mb->shards, "Parts")->capture_default_str()->check(CLI::Range(2, 1024));
    mer->add_option("--train-slices", mb->train_slices, "The training sample: 1 vector in this many")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
    mer->add_option("--factory", mb->factory, "Vector index type of the parts")->capture_default_str();
    mer->add_option("--dim", mb->dim, "Dimension of the vectors (default: the model's)")->check(CLI::Range(1, 4096));
    mer->add_option("--real", mb->real, "An index whose pictures and captions come first")
        ->check(CLI::ExistingDirectory);
    mer->add_option("--model,-m", mb->model, "Model folder (default: models/default)");
    mer->add_option("--efforts", mb->efforts, "Search efforts (IVF lists probed) for the recall")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::Range(1, 65536));
    mer->add_option("--rescore", mb->rescores, "Re-scoring depths for the recall")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::Range(1, 65536));
    mer->add_option("--queries", mb->queries, "Queries of each kind")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    mer->add_flag("--keep", mb->keep, "Keep the two merged indexes in ~/.cache/opsis");
    mer->callback([mb] { bench::run_merge_bench(*mb); });

    auto qb = std::make_shared<bench::QueriesBenchOptions>();
    CLI::App* que = bench->add_subcommand(
        "queries", "What people type: P@k and S@1 by kind of query (word, sentence, Greek, ...), judged by captions");
    que->add_option("--index", qb->index, "Index folder")->required()->check(CLI::ExistingDirectory);
    que->add_option("--queries", qb->queries, "Queries file (default: the repository's benchmarks/queries.jsonl)")
        ->check(CLI::ExistingFile);
    que->add_option("--model,-m", qb->model, "Model folder (default: the index's)");
    que->add_option("-k", qb->k, "Results judged per query")->capture_default_str()->check(CLI::Range(1, 500));
    que->add_option("--show", qb->show, "Print this many hits of each query, marked relevant or not")
        ->check(CLI::Range(0, 500));
    que->add_option("--precision", qb->precision, "Precision of the towers: fp32, bf16 or int8 (default: the index's)")
        ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
    que->add_option("--json", qb->json_out, "Also write the figures and every query's results as JSON");
    que->add_flag(
        "--no-rewrite", [qb](std::int64_t) { qb->rewrite = false; },
        "Search the queries as typed, not brought to the model's lexicon first (the model alone)");
    que->add_flag(
        "--no-examples", [qb](std::int64_t) { qb->examples = false; },
        "Search a query that names a kind of thing alone, not also with the lexicon's examples of it");
    que->callback([qb] { bench::run_queries_bench(*qb); });
}

}  // namespace opsis::cli
