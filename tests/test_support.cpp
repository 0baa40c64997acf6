#include "tests/test_support.h"

#include "indexer/cluster_plan.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <stb/stb_image_write.h>

namespace opsis::test {
namespace fs = std::filesystem;

TempDir::TempDir() {
    std::string templ = (fs::temp_directory_path() / "opsis-test-XXXXXX").string();
    if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

Tensor random_tensor(const Shape& shape, std::mt19937& rng, float scale) {
    Tensor t(shape);
    std::uniform_real_distribution<float> dist(-scale, scale);
    for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = dist(rng);
    return t;
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape()) return INFINITY;
    float m = 0;
    for (std::int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

double central_difference(Tensor& value, std::int64_t i, float eps, const std::function<double()>& loss) {
    const float saved = value[i];
    value[i] = saved + eps;
    const double up = loss();
    value[i] = saved - eps;
    const double down = loss();
    value[i] = saved;
    return (up - down) / (2.0 * static_cast<double>(eps));
}

bool gradients_agree(double analytic, double numeric, double atol, double rtol) {
    return std::abs(analytic - numeric) <= atol + rtol * std::max(std::abs(analytic), std::abs(numeric));
}

RgbaImage pattern_image(int width, int height, bool with_alpha) {
    RgbaImage img;
    img.width = width;
    img.height = height;
    img.pixels.resize(static_cast<std::size_t>(width) * height * 4);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            std::uint8_t* p = img.pixels.data() + (static_cast<std::size_t>(y) * width + x) * 4;
            const bool square = x > width / 4 && x < width / 2 && y > height / 4 && y < height / 2;
            p[0] = static_cast<std::uint8_t>(255 * x / std::max(1, width - 1));
            p[1] = static_cast<std::uint8_t>(255 * y / std::max(1, height - 1));
            p[2] = square ? 255 : 40;
            p[3] = with_alpha ? static_cast<std::uint8_t>(255 * x / std::max(1, width - 1)) : 255;
        }
    return img;
}

namespace {
void append_to(void* context, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(context);
    const auto* bytes = static_cast<const unsigned char*>(data);
    out->insert(out->end(), bytes, bytes + size);
}

std::vector<unsigned char> rgb_of(const RgbaImage& image) {
    std::vector<unsigned char> rgb;
    for (std::size_t i = 0; i < image.pixels.size(); i += 4)
        rgb.insert(rgb.end(), &image.pixels[i], &image.pixels[i] + 3);
    return rgb;
}

std::uint32_t crc32(const unsigned char* data, std::size_t n, std::uint32_t crc = 0) {
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i) {
        crc ^= data[i];
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

void put_be32(std::vector<unsigned char>& out, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(v >> s));
}

void put_chunk(std::vector<unsigned char>& png, const char* type, const std::vector<unsigned char>& body) {
    put_be32(png, static_cast<std::uint32_t>(body.size()));
    std::vector<unsigned char> typed(type, type + 4);
    typed.insert(typed.end(), body.begin(), body.end());
    png.insert(png.end(), typed.begin(), typed.end());
    put_be32(png, crc32(typed.data(), typed.size()));
}

// zlib stream of stored (uncompressed) deflate blocks.
std::vector<unsigned char> zlib_stored(const std::vector<unsigned char>& raw) {
    std::vector<unsigned char> z{0x78, 0x01};
    std::size_t pos = 0;
    do {
        const std::size_t n = std::min<std::size_t>(65535, raw.size() - pos);
        const bool last = pos + n == raw.size();
        z.push_back(last ? 1 : 0);
        z.push_back(static_cast<unsigned char>(n & 0xFF));
        z.push_back(static_cast<unsigned char>(n >> 8));
        z.push_back(static_cast<unsigned char>(~n & 0xFF));
        z.push_back(static_cast<unsigned char>((~n >> 8) & 0xFF));
        z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(pos),
                 raw.begin() + static_cast<std::ptrdiff_t>(pos + n));
        pos += n;
    } while (pos < raw.size());
    std::uint32_t a = 1, b = 0;
    for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
    put_be32(z, (b << 16) | a);
    return z;
}

std::vector<unsigned char> png_from_scanlines(
    int w, int h, int bit_depth, int color_type, const std::vector<unsigned char>& raw,
    const std::vector<std::pair<const char*, std::vector<unsigned char>>>& extra) {
    std::vector<unsigned char> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    std::vector<unsigned char> ihdr;
    put_be32(ihdr, static_cast<std::uint32_t>(w));
    put_be32(ihdr, static_cast<std::uint32_t>(h));
    ihdr.insert(ihdr.end(), {static_cast<unsigned char>(bit_depth), static_cast<unsigned char>(color_type), 0, 0, 0});
    put_chunk(png, "IHDR", ihdr);
    for (const auto& [type, body] : extra) put_chunk(png, type, body);
    put_chunk(png, "IDAT", zlib_stored(raw));
    put_chunk(png, "IEND", {});
    return png;
}
}  // namespace

std::vector<unsigned char> encode_png_rgba(const RgbaImage& image) {
    std::vector<unsigned char> out;
    stbi_write_png_to_func(append_to, &out, image.width, image.height, 4, image.pixels.data(), image.width * 4);
    return out;
}

std::vector<unsigned char> encode_jpeg(const RgbaImage& image, int quality) {
    std::vector<unsigned char> out;
    const auto rgb = rgb_of(image);
    stbi_write_jpg_to_func(append_to, &out, image.width, image.height, 3, rgb.data(), quality);
    return out;
}

std::vector<unsigned char> encode_bmp(const RgbaImage& image) {
    std::vector<unsigned char> out;
    const auto rgb = rgb_of(image);
    stbi_write_bmp_to_func(append_to, &out, image.width, image.height, 3, rgb.data());
    return out;
}

std::vector<unsigned char> encode_tga(const RgbaImage& image) {
    std::vector<unsigned char> out;
    stbi_write_tga_to_func(append_to, &out, image.width, image.height, 4, image.pixels.data());
    return out;
}

std::vector<unsigned char> encode_png_16bit_rgb(const RgbaImage& image) {
    std::vector<unsigned char> raw;
    for (int y = 0; y < image.height; ++y) {
        raw.push_back(0);  // filter: none
        for (int x = 0; x < image.width; ++x)
            for (int c = 0; c < 3; ++c) {
                const std::uint8_t v = image.pixels[(static_cast<std::size_t>(y) * image.width + x) * 4 + c];
                raw.push_back(v);  // v * 257 as 16 bits: high byte v, low byte v
                raw.push_back(v);
            }
    }
    return png_from_scanlines(image.width, image.height, 16, 2, raw, {});
}

std::vector<unsigned char> encode_png_palette(int width, int height, const std::vector<std::uint8_t>& indices,
                                              const std::vector<std::uint8_t>& rgb_palette,
                                              const std::vector<std::uint8_t>& alpha) {
    std::vector<unsigned char> raw;
    for (int y = 0; y < height; ++y) {
        raw.push_back(0);
        raw.insert(raw.end(), indices.begin() + y * width, indices.begin() + (y + 1) * width);
    }
    std::vector<std::pair<const char*, std::vector<unsigned char>>> extra{{"PLTE", rgb_palette}};
    if (!alpha.empty()) extra.emplace_back("tRNS", alpha);
    return png_from_scanlines(width, height, 8, 3, raw, extra);
}

std::vector<unsigned char> png_header_only(std::uint32_t width, std::uint32_t height) {
    std::vector<unsigned char> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    std::vector<unsigned char> ihdr;
    put_be32(ihdr, width);
    put_be32(ihdr, height);
    ihdr.insert(ihdr.end(), {8, 6, 0, 0, 0});
    put_chunk(png, "IHDR", ihdr);
    return png;
}

std::vector<unsigned char> encode_gif_two_frames(int width, int height, const std::vector<std::uint8_t>& first,
                                                 const std::vector<std::uint8_t>& palette4) {
    // 2-bit colour table; LZW with a clear code before every pixel keeps the code size at 3
    // bits, which is valid GIF and needs no dictionary.
    std::vector<unsigned char> g{'G', 'I', 'F', '8', '9', 'a'};
    auto put16 = [&](int v) {
        g.push_back(static_cast<unsigned char>(v & 0xFF));
        g.push_back(static_cast<unsigned char>(v >> 8));
    };
    put16(width);
    put16(height);
    g.insert(g.end(), {0xF1, 0, 0});  // global colour table of 4 entries
    g.insert(g.end(), palette4.begin(), palette4.end());
    auto frame = [&](const std::vector<std::uint8_t>& idx) {
        g.push_back(0x2C);
        put16(0);
        put16(0);
        put16(width);
        put16(height);
        g.push_back(0);
        g.push_back(2);  // LZW minimum code size
        std::vector<unsigned char> bits;
        std::uint32_t acc = 0;
        int nbits = 0;
        auto emit = [&](int code) {
            acc |= static_cast<std::uint32_t>(code) << nbits;
            nbits += 3;
            while (nbits >= 8) bits.push_back(static_cast<unsigned char>(acc & 0xFF)), acc >>= 8, nbits -= 8;
        };
        for (std::uint8_t i : idx) emit(4), emit(i);
        emit(5);
        if (nbits > 0) bits.push_back(static_cast<unsigned char>(acc & 0xFF));
        for (std::size_t p = 0; p < bits.size(); p += 255) {
            const std::size_t n = std::min<std::size_t>(255, bits.size() - p);
            g.push_back(static_cast<unsigned char>(n));
            g.insert(g.end(), bits.begin() + static_cast<std::ptrdiff_t>(p),
                     bits.begin() + static_cast<std::ptrdiff_t>(p + n));
        }
        g.push_back(0);
    };
    frame(first);
    frame(std::vector<std::uint8_t>(first.size(), 0));
    g.push_back(0x3B);
    return g;
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
}

std::string shell_quote(const std::string& s) { return indexer::shell_quote(s); }

CommandResult run_opsis(const std::string& args) { return run_opsis_with_prefix("", args); }

void require_opsis_refuses(const std::string& args, const std::string& message) {
    const CommandResult r = run_opsis(args);
    INFO("opsis " << args << ": " << r.output);
    REQUIRE(r.exit_code != 0);
    REQUIRE_THAT(r.output, Catch::Contains(message));
}

CommandResult run_opsis_with_prefix(const std::string& prefix, const std::string& args) {
    const std::string cmd = prefix + std::string(OPSIS_BINARY) + " " + args + " 2>&1 </dev/null";
    CommandResult r;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) return r;
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
    const int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

CommandResult run_opsis_killed_on(const std::string& args, const std::string& text, double max_seconds) {
    // The shell prints its pid and becomes opsis, so the pid is opsis's.
    const std::string cmd = "echo $$; exec " + std::string(OPSIS_BINARY) + " " + args + " 2>&1 </dev/null";
    CommandResult r;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) return r;
    const int fd = fileno(pipe);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(max_seconds);
    std::string seen;
    pid_t pid = -1;
    bool killed = false;
    std::array<char, 4096> buf{};
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        if (!killed && (left.count() <= 0 || poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0))) == 0)) {
            if (pid > 0) kill(pid, SIGKILL);
            killed = true;
            continue;
        }
        const ssize_t n = read(fd, buf.data(), buf.size());
        if (n <= 0) break;
        seen.append(buf.data(), static_cast<std::size_t>(n));
        if (pid < 0 && seen.find('\n') != std::string::npos) {
            pid = static_cast<pid_t>(std::stol(seen.substr(0, seen.find('\n'))));
            seen.erase(0, seen.find('\n') + 1);
        }
        if (!killed && pid > 0 && seen.find(text) != std::string::npos) {
            kill(pid, SIGKILL);
            killed = true;
        }
    }
    r.output = seen;
    const int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

DualEncoder tiny_model(const std::string& name, int context_length, std::uint64_t seed) {
    const nlohmann::json j = {
        {"name", name},
        {"embed_dim", 16},
        {"image",
         {{"arch", "resnet"},
          {"image_size", 16},
          {"stem_channels", 4},
          {"stem_stride", 1},
          {"stage_channels", {4}},
          {"stage_blocks", {1}}}},
        {"text", {{"context_length", context_length}, {"width", 8}, {"layers", 1}, {"heads", 2}, {"vocab_size", 514}}}};
    return DualEncoder::random(parse_model_config(j, "test"), Tokenizer::bytes_only(), seed);
}

std::vector<unsigned char> random_png(std::uint32_t seed, int size) {
    std::mt19937 rng(seed);
    RgbaImage img;
    img.width = img.height = size;
    img.pixels.resize(static_cast<std::size_t>(size) * size * 4);
    for (auto& p : img.pixels) p = static_cast<std::uint8_t>(rng());
    for (std::size_t i = 3; i < img.pixels.size(); i += 4) img.pixels[i] = 255;
    return encode_png_rgba(img);
}

std::string init_tiny_model(const TempDir& dir, const std::string& name, int seed) {
    write_text(dir.file(name + ".json"), R"({"name": ")" + name + R"(-tiny", "embed_dim": 8,
  "image": {"arch": "resnet", "image_size": 16, "stem_channels": 4, "stem_stride": 1,
            "stage_channels": [4], "stage_blocks": [1]},
  "text": {"context_length": 12, "width": 8, "layers": 1, "heads": 2}})");
    const CommandResult r = run_opsis("model init --config " + dir.file(name + ".json") + " --out " + dir.file(name) +
                                      " --seed " + std::to_string(seed));
    if (r.exit_code != 0) throw std::runtime_error("opsis model init failed: " + r.output);
    return dir.file(name);
}

std::set<std::string> python_word_set(const std::string& path, const std::string& name) {
    std::ifstream in(std::string(OPSIS_SOURCE_DIR) + "/" + path);
    REQUIRE(in);
    const std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t start = source.find(name + " = {");
    REQUIRE(start != std::string::npos);
    const std::string set = source.substr(start, source.find('}', start) - start);
    std::set<std::string> words;
    for (std::size_t open = set.find('"'); open != std::string::npos; open = set.find('"', open)) {
        const std::size_t close = set.find('"', open + 1);
        REQUIRE(close != std::string::npos);
        words.insert(set.substr(open + 1, close - open - 1));
        open = close + 1;
    }
    return words;
}

}  // namespace opsis::test
