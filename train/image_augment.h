#pragma once
// Image perturbations that mirror the classic vision challenges (viewpoint, illumination,
// scale, deformation, occlusion, background clutter, fast motion, colour removal), each one
// keeping the item's captions true: no mirror image of a thing whose captions name a
// direction (or of a flag, arrow or letter), no colour removal where a caption names a colour
// or a skin tone, and no hue change ever.
//
// One entry point serves both users: the trainer (random_augment: a random subset at random
// strengths for every pair) and the robustness benchmark (apply_challenge: one challenge at
// a fixed strength). Strength 0 is exactly the identity; strength 1 is "hard but still
// recognisable by a person". The strength sets the size of the change; the rng picks its
// direction, angle and placement. All randomness comes from the rng argument, so the same
// seed gives the same bytes.
#include <array>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "image/decode.h"

namespace opsis::train {

enum class Challenge {
    viewpoint,
    illumination,
    scale,
    deformation,
    occlusion,
    background_clutter,
    fast_motion,
    colour_removal
};
inline constexpr int challenge_count = 8;

// "viewpoint", "illumination", "scale", "deformation", "occlusion", "background-clutter",
// "fast-motion", "colour-removal": the names tables, JSON and the command line use.
const char* challenge_name(Challenge c);
std::optional<Challenge> challenge_from_name(std::string_view name);
// All challenges in enum order.
const std::vector<Challenge>& all_challenges();

// What the captions of an item allow, computed once per item from all its captions.
struct CaptionFacts {
    bool names_colour = false;     // a colour word or a skin tone: colour removal is off
    bool names_direction = false;  // left/right/facing/..., or a flag, arrow, letter, sign: no mirroring
};
CaptionFacts caption_facts(const std::vector<std::string>& english, const std::vector<std::string>& greek);

// Applies one challenge at `strength` in [0, 1] (clamped; 0 returns the image unchanged) to an
// RGBA image and returns an RGBA image of the same size. `clutter` is an optional other picture
// used as the background for background_clutter (resized if its size differs; its own alpha is
// put over white); without one a procedural texture (noise, stripes, gradient or checks) is used.
// Throws opsis::Error if the pixel buffer does not match width x height x 4.
RgbaImage apply_challenge(const RgbaImage& image, Challenge c, float strength, const CaptionFacts& facts,
                          std::mt19937_64& rng, const RgbaImage* clutter = nullptr);

struct RandomAugmentOptions {
    // Probability of each challenge, indexed by the enum's value.
    std::array<float, challenge_count> probability{
        0.25f,  // viewpoint
        0.25f,  // illumination
        0.25f,  // scale
        0.25f,  // deformation
        0.25f,  // occlusion
        0.20f,  // background_clutter
        0.25f,  // fast_motion
        0.15f,  // colour_removal
    };
    float max_strength = 0.7f;  // each chosen challenge gets a strength uniform in [0, max_strength]

    float& operator[](Challenge c) { return probability[static_cast<std::size_t>(c)]; }
    float operator[](Challenge c) const { return probability[static_cast<std::size_t>(c)]; }
};

// For training: each challenge is chosen with its probability and applied at a uniform random
// strength, in a fixed order (geometry first: viewpoint, scale, deformation; then colour
// removal, occlusion, background clutter, illumination of the whole scene, and motion blur last).
RgbaImage random_augment(const RgbaImage& image, const CaptionFacts& facts, std::mt19937_64& rng,
                         const RandomAugmentOptions& options = {}, const RgbaImage* clutter = nullptr);

}  // namespace opsis::train
