#pragma once
// Photos as cameras write them, made from a seed: a scene (sky, ground, sun, objects) with the
// fine noise of a sensor, as a 4:2:0 JPEG at quality 90 with an EXIF block (date, camera, GPS;
// every fourth stored sideways with orientation 6). What `bench decode` and
// `bench index --synthetic-photos` measure, cached under ~/.cache/opsis.
#include <cstdint>
#include <string>
#include <vector>

#include "image/decode.h"

namespace opsis::bench {

RgbaImage synthetic_scene(int width, int height, std::uint32_t seed);
std::vector<unsigned char> synthetic_photo_jpeg(int width, int height, std::uint32_t seed);
// A folder of n such photos of width x height (made once, then reused); their paths.
std::vector<std::string> synthetic_photo_folder(std::size_t n, int width, int height, std::string& folder);

}  // namespace opsis::bench
