#pragma once
// EXIF orientation: turning stored pixels upright (the eight values of the EXIF standard).
#include "image/decode.h"

namespace opsis {

// The picture as it should be seen, for stored pixels tagged with `orientation` (1..8: 1 as
// stored, 2 mirrored, 3 turned 180°, 4 flipped, 5 transposed, 6 to be turned 90° clockwise,
// 7 transversed, 8 to be turned 90° anticlockwise). Other values leave it as stored.
RgbaImage turn_upright(const RgbaImage& stored, int orientation);

// The orientation that undoes `orientation` (6 and 8 swap; the others undo themselves): storing
// turn_upright(p, inverse_orientation(o)) tagged o gives p back.
int inverse_orientation(int orientation);

}  // namespace opsis
