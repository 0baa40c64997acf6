// HEIF/HEIC and AVIF through libheif: the primary image (or, when a smaller picture serves, a
// thumbnail the file carries), with the container's rotation and mirroring applied (libheif's
// default), and the primary's EXIF block.
#include <libheif/heif.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "image/container_decoders.h"

namespace opsis::detail {
namespace {

struct ContextFree {
    void operator()(heif_context* c) const { heif_context_free(c); }
};
struct HandleFree {
    void operator()(heif_image_handle* h) const { heif_image_handle_release(h); }
};
struct ImageFree {
    void operator()(heif_image* i) const { heif_image_release(i); }
};
struct OptionsFree {
    void operator()(heif_decoding_options* o) const { heif_decoding_options_free(o); }
};

// The EXIF item of the image: 4 bytes giving the offset of the TIFF header, then the block.
PhotoMetadata exif_of(heif_image_handle* handle) {
    heif_item_id id = 0;
    if (heif_image_handle_get_list_of_metadata_block_IDs(handle, "Exif", &id, 1) != 1) return {};
    const std::size_t size = heif_image_handle_get_metadata_size(handle, id);
    if (size < 8 || size > (16u << 20)) return {};
    std::vector<unsigned char> block(size);
    if (heif_image_handle_get_metadata(handle, id, block.data()).code != heif_error_Ok) return {};
    const std::uint32_t skip =
        (std::uint32_t{block[0]} << 24) | (std::uint32_t{block[1]} << 16) | (std::uint32_t{block[2]} << 8) | block[3];
    if (skip > size - 4) return {};
    return read_exif({block.data() + 4 + skip, size - 4 - skip});
}

// The smallest thumbnail of `primary` (w x h) with a short side of at least min_short_side and
// the primary's shape; null if none.
heif_image_handle* thumbnail_for(heif_image_handle* primary, int w, int h, int min_short_side) {
    const int n = heif_image_handle_get_number_of_thumbnails(primary);
    if (n <= 0 || n > 16) return nullptr;
    std::vector<heif_item_id> ids(static_cast<std::size_t>(n));
    heif_image_handle_get_list_of_thumbnail_IDs(primary, ids.data(), n);
    heif_image_handle* best = nullptr;
    for (const heif_item_id id : ids) {
        heif_image_handle* t = nullptr;
        if (heif_image_handle_get_thumbnail(primary, id, &t).code != heif_error_Ok || !t) continue;
        const int tw = heif_image_handle_get_width(t), th = heif_image_handle_get_height(t);
        const bool same_shape =
            tw > 0 && th > 0 &&
            std::abs(static_cast<double>(tw) / th - static_cast<double>(w) / h) < 0.02 * static_cast<double>(w) / h;
        const bool serves = same_shape && std::min(tw, th) >= min_short_side && tw < w;
        if (serves && (!best || tw < heif_image_handle_get_width(best))) std::swap(best, t);
        if (t) heif_image_handle_release(t);
    }
    return best;
}

}  // namespace

Photo decode_heif(const unsigned char* data, std::size_t size, const std::string& name, const ImageLimits& limits,
                  ImageFormat format, int min_short_side) {
    const char* fmt = image_format_name(format);
    auto fail = [&](const char* what, const heif_error& e) {
        throw input_error("image", name, std::string(what) + " " + fmt + ": " + (e.message ? e.message : "unknown"));
    };
    std::unique_ptr<heif_context, ContextFree> context(heif_context_alloc());
    heif_error e = heif_context_read_from_memory_without_copy(context.get(), data, size, nullptr);
    if (e.code != heif_error_Ok) fail("corrupt or truncated", e);
    heif_image_handle* raw_handle = nullptr;
    e = heif_context_get_primary_image_handle(context.get(), &raw_handle);
    if (e.code != heif_error_Ok) fail("no primary image in", e);
    std::unique_ptr<heif_image_handle, HandleFree> handle(raw_handle);
    // The size as shown (after the container's rotation), from the header: checked before decoding.
    const int w = heif_image_handle_get_width(handle.get()), h = heif_image_handle_get_height(handle.get());
    check_dimensions(static_cast<std::uint64_t>(std::max(w, 0)), static_cast<std::uint64_t>(std::max(h, 0)), fmt, name,
                     limits);

    std::unique_ptr<heif_image_handle, HandleFree> thumbnail(min_short_side > 0 && std::min(w, h) > min_short_side
                                                                 ? thumbnail_for(handle.get(), w, h, min_short_side)
                                                                 : nullptr);
    heif_image_handle* decoded = thumbnail ? thumbnail.get() : handle.get();
    const int iw = heif_image_handle_get_width(decoded), ih = heif_image_handle_get_height(decoded);
    std::unique_ptr<heif_decoding_options, OptionsFree> options(heif_decoding_options_alloc());
    heif_image* raw_image = nullptr;
    e = heif_decode_image(decoded, &raw_image, heif_colorspace_RGB, heif_chroma_interleaved_RGBA, options.get());
    if (e.code != heif_error_Ok) fail("corrupt", e);
    std::unique_ptr<heif_image, ImageFree> image(raw_image);
    int stride = 0;
    const std::uint8_t* plane = heif_image_get_plane_readonly(image.get(), heif_channel_interleaved, &stride);
    const int dw = heif_image_get_width(image.get(), heif_channel_interleaved);
    const int dh = heif_image_get_height(image.get(), heif_channel_interleaved);
    if (!plane || dw != iw || dh != ih || stride < iw * 4)
        throw input_error("image", name, std::string("corrupt ") + fmt + ": decoded size differs from header");
    Photo photo;
    photo.width = w;
    photo.height = h;
    photo.image.width = iw;
    photo.image.height = ih;
    photo.image.pixels.resize(static_cast<std::size_t>(iw) * ih * 4);
    for (int y = 0; y < ih; ++y)
        std::memcpy(&photo.image.pixels[static_cast<std::size_t>(y) * iw * 4],
                    plane + static_cast<std::size_t>(y) * stride, static_cast<std::size_t>(iw) * 4);
    photo.metadata = exif_of(handle.get());
    // libheif has already turned the picture as the container says; the EXIF copy of the
    // orientation must not turn it again (the HEIF standard's rule).
    photo.metadata.orientation = 1;
    return photo;
}

}  // namespace opsis::detail
