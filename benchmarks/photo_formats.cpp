#include "benchmarks/photo_formats.h"

#include <libheif/heif.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "image/encode.h"
#include "image/preprocess.h"
#include "image/photo_metadata.h"

namespace opsis::bench {

std::vector<unsigned char> exif_tiff_block(const PhotoMetadata& metadata) {
    RgbaImage one;
    one.width = one.height = 1;
    one.pixels = {255, 255, 255, 255};
    const std::vector<unsigned char> jpeg = jpeg_with_exif(encode_jpeg(one), metadata);
    const std::span<const unsigned char> block = jpeg_exif_block(jpeg.data(), jpeg.size());
    if (block.size() < 6) throw std::runtime_error("exif_tiff_block: no block");
    return {block.begin() + 6, block.end()};  // without "Exif\0\0"
}

std::vector<unsigned char> encode_webp(const RgbaImage& image, bool lossless, std::span<const unsigned char> exif) {
    std::uint8_t* out = nullptr;
    const std::size_t n =
        lossless ? WebPEncodeLosslessRGBA(image.pixels.data(), image.width, image.height, image.width * 4, &out)
                 : WebPEncodeRGBA(image.pixels.data(), image.width, image.height, image.width * 4, 90.0f, &out);
    if (n == 0) throw std::runtime_error("WebPEncode failed");
    std::vector<unsigned char> bytes(out, out + n);
    WebPFree(out);
    if (exif.empty()) return bytes;
    WebPData whole{bytes.data(), bytes.size()}, chunk{exif.data(), exif.size()}, assembled{};
    WebPMux* mux = WebPMuxCreate(&whole, 1);
    if (!mux || WebPMuxSetChunk(mux, "EXIF", &chunk, 1) != WEBP_MUX_OK ||
        WebPMuxAssemble(mux, &assembled) != WEBP_MUX_OK)
        throw std::runtime_error("WebPMux failed");
    std::vector<unsigned char> with(assembled.bytes, assembled.bytes + assembled.size);
    WebPDataClear(&assembled);
    WebPMuxDelete(mux);
    return with;
}

std::vector<unsigned char> encode_animated_webp(const RgbaImage& first_quarter, const RgbaImage& second) {
    WebPAnimEncoderOptions options;
    WebPAnimEncoderOptionsInit(&options);
    WebPAnimEncoder* encoder = WebPAnimEncoderNew(second.width, second.height, &options);
    WebPConfig config;
    WebPConfigInit(&config);
    config.lossless = 1;
    auto add = [&](const RgbaImage& frame, int timestamp) {
        RgbaImage canvas = frame;
        if (frame.width != second.width) {  // the quarter, placed top left on a transparent canvas
            canvas.width = second.width;
            canvas.height = second.height;
            canvas.pixels.assign(static_cast<std::size_t>(second.width) * second.height * 4, 0);
            for (int y = 0; y < frame.height; ++y)
                std::memcpy(&canvas.pixels[static_cast<std::size_t>(y) * second.width * 4],
                            &frame.pixels[static_cast<std::size_t>(y) * frame.width * 4],
                            static_cast<std::size_t>(frame.width) * 4);
        }
        WebPPicture picture;
        WebPPictureInit(&picture);
        picture.use_argb = 1;
        picture.width = canvas.width;
        picture.height = canvas.height;
        WebPPictureImportRGBA(&picture, canvas.pixels.data(), canvas.width * 4);
        const int ok = WebPAnimEncoderAdd(encoder, &picture, timestamp, &config);
        WebPPictureFree(&picture);
        if (!ok) throw std::runtime_error("WebPAnimEncoderAdd failed");
    };
    add(first_quarter, 0);
    add(second, 100);
    WebPAnimEncoderAdd(encoder, nullptr, 200, nullptr);
    WebPData data{};
    if (!WebPAnimEncoderAssemble(encoder, &data)) throw std::runtime_error("WebPAnimEncoderAssemble failed");
    std::vector<unsigned char> bytes(data.bytes, data.bytes + data.size);
    WebPDataClear(&data);
    WebPAnimEncoderDelete(encoder);
    return bytes;
}

namespace {
heif_error write_to_vector(heif_context*, const void* data, size_t size, void* userdata) {
    auto* out = static_cast<std::vector<unsigned char>*>(userdata);
    out->insert(out->end(), static_cast<const unsigned char*>(data), static_cast<const unsigned char*>(data) + size);
    return heif_error{heif_error_Ok, heif_suberror_Unspecified, "ok"};
}
void check(const heif_error& e, const char* what) {
    if (e.code != heif_error_Ok) throw std::runtime_error(std::string(what) + ": " + (e.message ? e.message : ""));
}

// The pixels as libheif's interleaved RGBA image (the caller releases it).
heif_image* to_heif(const RgbaImage& image) {
    heif_image* picture = nullptr;
    check(heif_image_create(image.width, image.height, heif_colorspace_RGB, heif_chroma_interleaved_RGBA, &picture),
          "heif_image_create");
    check(heif_image_add_plane(picture, heif_channel_interleaved, image.width, image.height, 8), "add_plane");
    int stride = 0;
    std::uint8_t* plane = heif_image_get_plane(picture, heif_channel_interleaved, &stride);
    for (int y = 0; y < image.height; ++y)
        std::memcpy(plane + static_cast<std::size_t>(y) * stride,
                    &image.pixels[static_cast<std::size_t>(y) * image.width * 4],
                    static_cast<std::size_t>(image.width) * 4);
    return picture;
}
}  // namespace

std::vector<unsigned char> encode_heif(const RgbaImage& image, ImageFormat format, std::span<const unsigned char> exif,
                                       int thumbnail_box) {
    heif_context* context = heif_context_alloc();
    heif_encoder* encoder = nullptr;
    check(heif_context_get_encoder_for_format(
              context, format == ImageFormat::avif ? heif_compression_AV1 : heif_compression_HEVC, &encoder),
          "no encoder");
    heif_encoder_set_lossy_quality(encoder, 95);
    heif_image* picture = to_heif(image);
    heif_image_handle* handle = nullptr;
    check(heif_context_encode_image(context, picture, encoder, nullptr, &handle), "encode");
    if (!exif.empty())
        check(heif_context_add_exif_metadata(context, handle, exif.data(), static_cast<int>(exif.size())), "exif");
    if (thumbnail_box > 0) {
        // Scaled as a camera does (antialiased) to one pixel over the box: libheif's own scaler,
        // which samples the nearest pixel, then only drops a row or column. (libheif 1.15 does
        // not list a thumbnail attached with heif_context_assign_thumbnail.)
        const double s = static_cast<double>(thumbnail_box + 1) / std::max(image.width, image.height);
        heif_image* small = to_heif(resize_rgba(image, std::max(1, static_cast<int>(std::lround(image.width * s))),
                                                std::max(1, static_cast<int>(std::lround(image.height * s)))));
        heif_image_handle* thumbnail = nullptr;
        check(heif_context_encode_thumbnail(context, small, handle, encoder, nullptr, thumbnail_box, &thumbnail),
              "thumbnail");
        heif_image_handle_release(thumbnail);
        heif_image_release(small);
    }
    std::vector<unsigned char> bytes;
    heif_writer writer{1, write_to_vector};
    check(heif_context_write(context, &writer, &bytes), "write");
    heif_image_handle_release(handle);
    heif_image_release(picture);
    heif_encoder_release(encoder);
    heif_context_free(context);
    return bytes;
}

}  // namespace opsis::bench
