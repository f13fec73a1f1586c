// Which regions of a frame are classified (torchclassify inference-region=roi-list): the
// detector's rectangles are clipped to the frame, filtered by type and size, and the
// largest kept. GStreamer-free: the element turns each GstVideoRegionOfInterestMeta into a
// Region and back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ta {

// A region as a detector reports it: any coordinates (negative, past the frame, huge).
struct Region {
  int64_t x = 0, y = 0, w = 0, h = 0;
  std::string type;     // the roi type ("face", "car"; may be empty)
  int id = 0;           // the ROI meta's id
  size_t index = 0;     // its place in the input list (the element finds the meta by it)
};

struct RegionSettings {
  std::vector<std::string> classes;  // roi types to classify; empty: every type
  int min_size = 0;                  // regions narrower or lower than this are skipped
  int max_rois = 16;                 // most regions classified per frame (the largest first)
};

// A region to classify: its rectangle inside the frame.
struct SelectedRegion {
  int x, y, w, h;
  std::string type;
  int id;
  size_t index;
};

struct RegionSelection {
  std::vector<SelectedRegion> regions;  // in input order
  size_t skipped_class = 0;  // type not in `classes`
  size_t skipped_empty = 0;  // no area left inside the frame
  size_t skipped_small = 0;  // narrower or lower than min_size (after clipping)
  size_t skipped_limit = 0;  // beyond max_rois
};

// Parses a comma-separated list of roi types ("face", "car, truck"); blanks around names
// and empty entries are dropped.
std::vector<std::string> parse_classes(const std::string& list);

// The regions of a `width` x `height` frame to classify under `s`. When more than max_rois
// pass the other filters, the largest areas (ties: the earlier region) are kept: the cost
// is O(n log max_rois), so 10,000 regions cost little more than reading them.
RegionSelection select_regions(int width, int height, const std::vector<Region>& in, const RegionSettings& s);

}  // namespace ta
