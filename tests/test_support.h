#pragma once
// Helpers the tests share: temporary folders, synthetic images in every supported format,
// random tensors, running the opsis binary.
#include <cstdint>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "image/decode.h"
#include "encoder/dual_encoder.h"
#include "encoder/tensor.h"

namespace opsis::test {

// A fresh folder under the system temp dir, removed on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

Tensor random_tensor(const Shape& shape, std::mt19937& rng, float scale = 1.0f);
// A tiny random dual encoder (16-d; a ResNet of one 4-channel block over 16 px; a one-layer,
// 8-wide text tower over the bytes-only tokenizer), for tests of what surrounds a model.
DualEncoder tiny_model(const std::string& name, int context_length, std::uint64_t seed);
float max_abs_diff(const Tensor& a, const Tensor& b);
// (loss(x + eps) - loss(x - eps)) / 2 eps for entry i of `value`, which `loss` reads; restores it.
double central_difference(Tensor& value, std::int64_t i, float eps, const std::function<double()>& loss);
bool gradients_agree(double analytic, double numeric, double atol, double rtol);

// An RGBA test pattern: gradients plus a bright square, with alpha varying by column.
RgbaImage pattern_image(int width, int height, bool with_alpha);

std::vector<unsigned char> encode_png_rgba(const RgbaImage& image);
std::vector<unsigned char> encode_jpeg(const RgbaImage& image, int quality = 90);
std::vector<unsigned char> encode_bmp(const RgbaImage& image);
std::vector<unsigned char> encode_tga(const RgbaImage& image);
// Hand-built PNG variants stb_image_write cannot make.
std::vector<unsigned char> encode_png_16bit_rgb(const RgbaImage& image);
std::vector<unsigned char> encode_png_palette(int width, int height, const std::vector<std::uint8_t>& indices,
                                              const std::vector<std::uint8_t>& rgb_palette,
                                              const std::vector<std::uint8_t>& alpha);
// Only the IHDR of a PNG: claims any size without the pixels (a decompression bomb's header).
std::vector<unsigned char> png_header_only(std::uint32_t width, std::uint32_t height);
// A GIF with two frames; the first is `first`, the second solid black.
std::vector<unsigned char> encode_gif_two_frames(int width, int height, const std::vector<std::uint8_t>& first_indices,
                                                 const std::vector<std::uint8_t>& rgb_palette4);

// A PNG of random opaque pixels: every seed gives different content.
std::vector<unsigned char> random_png(std::uint32_t seed, int size = 12);

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes);
void write_text(const std::string& path, const std::string& text);

struct CommandResult {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};
// Runs the opsis binary with the given shell-quoted argument string.
CommandResult run_opsis(const std::string& args);
// Runs opsis, which must fail saying `message` (Catch assertions, with the output on failure).
void require_opsis_refuses(const std::string& args, const std::string& message);
// The same with a command in front, e.g. "timeout -s KILL 0.5 ".
CommandResult run_opsis_with_prefix(const std::string& prefix, const std::string& args);
// Runs opsis and kills it (SIGKILL, exit code 137) as soon as its output holds `text`, or after
// `max_seconds` if it never does: a kill at a moment of the run's own, however loaded the machine.
CommandResult run_opsis_killed_on(const std::string& args, const std::string& text, double max_seconds);
std::string shell_quote(const std::string& s);
// The 8-d model of one small ResNet block and a one-layer text tower that the index, watcher
// and server tests index with, made by `opsis model init` into dir/name (named `name`-tiny).
std::string init_tiny_model(const TempDir& dir, const std::string& name, int seed);
// The quoted words of the Python set `NAME = {...}` in the repository's file `path` (the corpus
// builder's word lists, which tests hold to their C++ counterparts).
std::set<std::string> python_word_set(const std::string& path, const std::string& name);

}  // namespace opsis::test
