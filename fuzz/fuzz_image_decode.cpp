// libFuzzer target for the image decode path: any byte string must give an image or an
// opsis::Error, never a crash, hang or out-of-memory.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "image/decode.h"
#include "image/preprocess.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    opsis::ImageLimits limits;
    limits.max_pixels = 1'000'000;
    limits.max_file_bytes = 1 << 20;
    // The first byte picks the name, so the TGA path (chosen by extension) is fuzzed too;
    // the rest is the file.
    if (size == 0) return 0;
    const char* name = (data[0] & 1) ? "input.tga" : "input.png";
    try {
        const opsis::RgbaImage image = opsis::decode_image(data + 1, size - 1, name, limits);
        std::vector<float> out(16 * 16 * 3);
        opsis::PreprocessOptions options;
        options.image_size = 16;
        opsis::preprocess_image(image, options, out.data());
    } catch (const opsis::Error&) {}
    return 0;
}
