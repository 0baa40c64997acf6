// WebP through libwebp's demuxer (the container: canvas, frames, EXIF chunk) and decoder.
#include <webp/decode.h>
#include <webp/demux.h>

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

Photo decode_webp(const unsigned char* data, std::size_t size, const std::string& name, const ImageLimits& limits) {
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
    int w = 0, h = 0;
    std::unique_ptr<std::uint8_t, void (*)(void*)> pixels(
        WebPDecodeRGBA(frame.fragment.bytes, frame.fragment.size, &w, &h), WebPFree);
    if (!pixels || w != frame.width || h != frame.height)
        throw input_error("image", name, "corrupt or truncated WebP (its first frame does not decode)");

    // An animation's first frame may cover part of the canvas: the rest is transparent.
    Photo photo;
    photo.image.width = static_cast<int>(canvas_w);
    photo.image.height = static_cast<int>(canvas_h);
    photo.image.pixels.assign(static_cast<std::size_t>(canvas_w) * canvas_h * 4, 0);
    for (int y = 0; y < h; ++y)
        std::memcpy(
            &photo.image.pixels[((static_cast<std::size_t>(frame.y_offset) + y) * canvas_w + frame.x_offset) * 4],
            pixels.get() + static_cast<std::size_t>(y) * w * 4, static_cast<std::size_t>(w) * 4);

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
