// JPEG through libjpeg-turbo, optionally scaled in the DCT domain: the decoder computes only
// the low frequencies a smaller picture needs, so a 4000x3000 photo meant for a 224-pixel model
// decodes at 1/8 (500x375) in a fraction of the time a full decode takes.
#include <turbojpeg.h>

#include <algorithm>
#include <memory>

#include "image/container_decoders.h"

namespace opsis::detail {
namespace {

struct HandleFree {
    void operator()(void* h) const { tjDestroy(h); }
};

}  // namespace

std::optional<RgbaImage> decode_jpeg_turbo(const unsigned char* data, std::size_t size, int min_short_side) {
    std::unique_ptr<void, HandleFree> handle(tjInitDecompress());
    if (!handle) return std::nullopt;
    int w = 0, h = 0, subsampling = 0, colorspace = 0;
    if (tjDecompressHeader3(handle.get(), data, static_cast<unsigned long>(size), &w, &h, &subsampling, &colorspace) !=
        0)
        return std::nullopt;
    // CMYK and YCCK need a conversion TurboJPEG does not make to RGB: stb's path takes them.
    if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK || w <= 0 || h <= 0) return std::nullopt;
    int factors_count = 0;
    const tjscalingfactor* factors = tjGetScalingFactors(&factors_count);
    tjscalingfactor chosen{1, 1};
    if (min_short_side > 0 && factors)
        for (int i = 0; i < factors_count; ++i) {
            const tjscalingfactor f = factors[i];
            if (f.num > f.denom) continue;  // only ever smaller
            const int short_side = std::min(TJSCALED(w, f), TJSCALED(h, f));
            const int chosen_side = std::min(TJSCALED(w, chosen), TJSCALED(h, chosen));
            if (short_side >= min_short_side && short_side < chosen_side) chosen = f;
        }
    RgbaImage image;
    image.width = TJSCALED(w, chosen);
    image.height = TJSCALED(h, chosen);
    image.pixels.resize(static_cast<std::size_t>(image.width) * image.height * 4);
    if (tjDecompress2(handle.get(), data, static_cast<unsigned long>(size), image.pixels.data(), image.width, 0,
                      image.height, TJPF_RGBA, TJFLAG_ACCURATEDCT) != 0 &&
        tjGetErrorCode(handle.get()) == TJERR_FATAL)
        return std::nullopt;  // stb's decoder then says what is wrong, as for every other file
    return image;
}

}  // namespace opsis::detail
