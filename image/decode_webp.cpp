// WebP through libwebp's demuxer (the container: canvas, frames, EXIF chunk) and decoder.
#include <webp/decode.h>
#include <webp/demux.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "image/container_decoders.h"

namespace opsis::detail {
namespace {

struct DemuxFree {
    void operator()(WebPDemuxer* d) const { WebPDemuxDelete(d); }
};

}  // namespace

Photo decode_webp(const unsigned char* data, std::size_t size, const std::string& name, const ImageLimits& limits,
                  int min_short_side) {
    const WebPData whole{data, size};
    WebPDemuxState state = WEBP_DEMUX_PARSING_HEADER;
    std::unique_ptr<WebPDemuxer, DemuxFree> demux(WebPDemuxPartial(&whole, &state));
    if (!demux || state == WEBP_DEMUX_PARSE_ERROR) throw input_error("image", name, "corrupt WebP header");
    if (state != WEBP_DEMUX_DONE) throw input_error("image", name, "truncated WebP (the file ends inside a chunk)");
    const std::uint32_t canvas_w = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_WIDTH);
    const std::uint32_t canvas_h = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_HEIGHT);
    check_dimensions(canvas_w, canvas_h, "WebP", name, limits);

    WebPIterator frame;
    if (!WebPDemuxGetFrame(demux.get(), 1, &frame)) throw input_error("image", name, "WebP without a frame");
    std::unique_ptr<WebPIterator, void (*)(WebPIterator*)> release(&frame, WebPDemuxReleaseIterator);
    if (static_cast<std::uint64_t>(frame.x_offset) + frame.width > canvas_w ||
        static_cast<std::uint64_t>(frame.y_offset) + frame.height > canvas_h)
        throw input_error("image", name, "corrupt WebP (its first frame lies outside the canvas)");
    // A still picture (one frame covering the canvas) is scaled while decoding when a smaller
    // one serves: for a photo, decoding at the model's size costs a fraction of the whole.
    const bool still = frame.x_offset == 0 && frame.y_offset == 0 &&
                       static_cast<std::uint32_t>(frame.width) == canvas_w &&
                       static_cast<std::uint32_t>(frame.height) == canvas_h;
    int out_w = frame.width, out_h = frame.height;
    const int short_side = std::min(out_w, out_h);
    const bool scaled = still && min_short_side > 0 && short_side > min_short_side;
    if (scaled) {
        const double s = static_cast<double>(min_short_side) / short_side;
        out_w = std::max(min_short_side, static_cast<int>(std::lround(out_w * s)));
        out_h = std::max(min_short_side, static_cast<int>(std::lround(out_h * s)));
    }
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) throw Error("libwebp: version mismatch");
    // Scaling mixes neighbours: with alpha, premultiplied (a transparent pixel's colour must not
    // bleed), straightened again below.
    const bool alpha = frame.has_alpha;
    config.output.colorspace = scaled && alpha ? MODE_rgbA : MODE_RGBA;
    config.options.use_scaling = scaled ? 1 : 0;
    config.options.scaled_width = out_w;
    config.options.scaled_height = out_h;
    std::unique_ptr<WebPDecBuffer, void (*)(WebPDecBuffer*)> decoded(&config.output, WebPFreeDecBuffer);
    if (WebPDecode(frame.fragment.bytes, frame.fragment.size, &config) != VP8_STATUS_OK ||
        config.output.width != out_w || config.output.height != out_h)
        throw input_error("image", name, "corrupt or truncated WebP (its first frame does not decode)");
    const WebPRGBABuffer& rgba = config.output.u.RGBA;

    // An animation's first frame may cover part of the canvas: the rest is transparent.
    Photo photo;
    photo.width = static_cast<int>(canvas_w);
    photo.height = static_cast<int>(canvas_h);
    const int image_w = scaled ? out_w : static_cast<int>(canvas_w),
              image_h = scaled ? out_h : static_cast<int>(canvas_h);
    photo.image.width = image_w;
    photo.image.height = image_h;
    photo.image.pixels.assign(static_cast<std::size_t>(image_w) * image_h * 4, 0);
    const int x0 = scaled ? 0 : frame.x_offset, y0 = scaled ? 0 : frame.y_offset;
    for (int y = 0; y < out_h; ++y)
        std::memcpy(&photo.image.pixels[((static_cast<std::size_t>(y0) + y) * image_w + x0) * 4],
                    rgba.rgba + static_cast<std::size_t>(y) * rgba.stride, static_cast<std::size_t>(out_w) * 4);
    if (scaled && alpha)
        for (std::size_t i = 0; i < photo.image.pixels.size(); i += 4) {
            std::uint8_t* p = &photo.image.pixels[i];
            if (p[3] == 0 || p[3] == 255) continue;
            for (int c = 0; c < 3; ++c) p[c] = static_cast<std::uint8_t>(std::min(255, (p[c] * 255 + p[3] / 2) / p[3]));
        }

    WebPChunkIterator exif;
    if (WebPDemuxGetChunk(demux.get(), "EXIF", 1, &exif)) {
        photo.metadata = read_exif({exif.chunk.bytes, exif.chunk.size});
        WebPDemuxReleaseChunkIterator(&exif);
    }
    // Browsers show WebP as stored, whatever its EXIF says: so does Opsis.
    photo.metadata.orientation = 1;
    return photo;
}

}  // namespace opsis::detail
