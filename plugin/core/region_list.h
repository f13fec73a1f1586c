// Fixed regions of a camera (torchregions): the `regions` text and the `location` JSON
// file, parsed and turned into pixel rectangles of a frame. No GStreamer types.
//
// The text: entries separated by ';', each `[type:]x,y,w,h`.
//   - Whole numbers are pixels: `bay1:10,20,100,80`. x and y may be negative (the region
//     is clipped to the frame); w and h are at least 1.
//   - An entry with a decimal point in any of its numbers is in fractions of the frame:
//     `door:0.5,0,0.5,1.0`; each number then lies in [0, 1] and w, h are above 0.
//   - The type is letters, digits, '_', '-' or '.'; without one it is "region".
//   - Spaces around the parts are ignored; an empty entry (`a;;b`, a trailing ';') too.
// The JSON file: {"regions": [{"type": "bay1", "x": 10, "y": 20, "w": 100, "h": 80}, ...]}
// (or just the array), the same rules, "type" optional; numbers written with a fraction
// or exponent (0.5, 1.0, 1e-1) make the entry fractional.
//
// A region's id is its index in the list (0, 1, ...), whatever its type.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ta {

// A malformed list or file; what() names the entry (by index and as written) and says
// how to fix it.
class RegionListError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr const char* kDefaultRegionType = "region";

struct RegionSpec {
  std::string type = kDefaultRegionType;
  double x = 0, y = 0, w = 0, h = 0;
  bool fraction = false;  // x, y, w, h in fractions of the frame; else pixels
  std::string text;       // the entry as written, for messages
};

struct PixelRect {
  int x = 0, y = 0, w = 0, h = 0;
  bool empty() const { return w <= 0 || h <= 0; }
};

// Throws RegionListError. An empty (or blank) text gives no regions.
std::vector<RegionSpec> parse_region_list(const std::string& text);

// The content of a JSON file; `where` names it in messages. Throws RegionListError.
std::vector<RegionSpec> parse_region_json(const std::string& json_text, const std::string& where = "the JSON");

// The region on a frame_w x frame_h frame, clipped to it (empty when nothing is left).
// Fractions are rounded to the nearest pixel edge.
PixelRect region_pixels(const RegionSpec& r, int frame_w, int frame_h);

// The list back as text in the syntax above (what `regions` reads back after a file).
std::string format_region_list(const std::vector<RegionSpec>& regions);

}  // namespace ta
