#include "image/orientation.h"

#include <cstring>

namespace opsis {

RgbaImage turn_upright(const RgbaImage& stored, int orientation) {
    if (orientation < 2 || orientation > 8) return stored;
    const int W = stored.width, H = stored.height;
    const bool swaps = orientation >= 5;
    RgbaImage out;
    out.width = swaps ? H : W;
    out.height = swaps ? W : H;
    out.pixels.resize(stored.pixels.size());
    for (int y = 0; y < out.height; ++y)
        for (int x = 0; x < out.width; ++x) {
            int sx = x, sy = y;  // where the upright pixel (x, y) is stored
            switch (orientation) {
                case 2: sx = W - 1 - x; break;
                case 3: sx = W - 1 - x, sy = H - 1 - y; break;
                case 4: sy = H - 1 - y; break;
                case 5: sx = y, sy = x; break;
                case 6: sx = y, sy = H - 1 - x; break;
                case 7: sx = W - 1 - y, sy = H - 1 - x; break;
                case 8: sx = W - 1 - y, sy = x; break;
            }
            std::memcpy(&out.pixels[(static_cast<std::size_t>(y) * out.width + x) * 4],
                        &stored.pixels[(static_cast<std::size_t>(sy) * W + sx) * 4], 4);
        }
    return out;
}

int inverse_orientation(int orientation) {
    if (orientation == 6) return 8;
    if (orientation == 8) return 6;
    return orientation;
}

}  // namespace opsis
