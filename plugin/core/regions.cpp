#include "regions.h"

#include <algorithm>

namespace ta {

std::vector<std::string> parse_classes(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    size_t a = start, b = end;
    while (a < b && (list[a] == ' ' || list[a] == '\t')) a++;
    while (b > a && (list[b - 1] == ' ' || list[b - 1] == '\t')) b--;
    if (b > a) out.push_back(list.substr(a, b - a));
    start = end + 1;
  }
  return out;
}

RegionSelection select_regions(int width, int height, const std::vector<Region>& in, const RegionSettings& s) {
  RegionSelection sel;
  if (width <= 0 || height <= 0) {
    sel.skipped_empty = in.size();
    return sel;
  }
  std::vector<SelectedRegion> kept;
  for (size_t i = 0; i < in.size(); i++) {
    const Region& r = in[i];
    if (!s.classes.empty() && std::find(s.classes.begin(), s.classes.end(), r.type) == s.classes.end()) {
      sel.skipped_class++;
      continue;
    }
    // Clipped in 64 bits: a huge x + w must not wrap.
    const int64_t x0 = std::max<int64_t>(0, r.x), y0 = std::max<int64_t>(0, r.y);
    const int64_t w = std::max<int64_t>(0, r.w), h = std::max<int64_t>(0, r.h);
    const int64_t x1 = r.x > (int64_t)width ? (int64_t)width : std::min<int64_t>(width, r.x + w);
    const int64_t y1 = r.y > (int64_t)height ? (int64_t)height : std::min<int64_t>(height, r.y + h);
    if (x1 <= x0 || y1 <= y0) {
      sel.skipped_empty++;
      continue;
    }
    if (x1 - x0 < s.min_size || y1 - y0 < s.min_size) {
      sel.skipped_small++;
      continue;
    }
    kept.push_back({(int)x0, (int)y0, (int)(x1 - x0), (int)(y1 - y0), r.type, r.id, r.index});
  }
  const size_t limit = (size_t)std::max(0, s.max_rois);
  if (kept.size() > limit) {
    auto larger = [](const SelectedRegion& a, const SelectedRegion& b) {
      const int64_t aa = (int64_t)a.w * a.h, ab = (int64_t)b.w * b.h;
      return aa > ab || (aa == ab && a.index < b.index);
    };
    std::partial_sort(kept.begin(), kept.begin() + limit, kept.end(), larger);
    sel.skipped_limit = kept.size() - limit;
    kept.resize(limit);
    std::sort(kept.begin(), kept.end(),
              [](const SelectedRegion& a, const SelectedRegion& b) { return a.index < b.index; });
  }
  sel.regions = std::move(kept);
  return sel;
}

}  // namespace ta
