#include "staging.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "error.h"

namespace ta {

size_t plane_bytes(const FrameView& f, int i) {
  if (i < 0 || i > 2 || !f.planes[i] || f.strides[i] <= 0 || f.height <= 0) return 0;
  const int rows = (i == 0) ? f.height : (f.height + 1) / 2;
  return (size_t)f.strides[i] * (size_t)rows;
}

size_t staging_layout(const FrameView& f, size_t offsets[3]) {
  size_t total = 0;
  for (int i = 0; i < 3; i++) {
    offsets[i] = total;
    total += (plane_bytes(f, i) + 255) & ~(size_t)255;
  }
  return total;
}

std::shared_ptr<StagingPool> StagingPool::create(Alloc alloc, Release release, bool pinned, size_t max_idle) {
  return std::shared_ptr<StagingPool>(new StagingPool(std::move(alloc), std::move(release), pinned, max_idle));
}

std::shared_ptr<StagingPool> StagingPool::host(size_t max_idle) {
  // 256-byte aligned, as the layout's offsets are.
  return create([](size_t n) { return std::aligned_alloc(256, (n + 255) & ~(size_t)255); },
                [](void* p) { std::free(p); }, false, max_idle);
}

StagingPool::StagingPool(Alloc alloc, Release release, bool pinned, size_t max_idle)
    : alloc_(std::move(alloc)), release_(std::move(release)), pinned_(pinned), max_idle_(max_idle) {}

StagingPool::~StagingPool() {
  for (auto& b : idle_) release_(b.second);
}

void* StagingPool::take(size_t bytes, size_t* capacity) {
  {
    std::lock_guard<std::mutex> l(mu_);
    // The smallest idle block that holds it, unless it is more than twice the size.
    auto it = idle_.lower_bound(bytes);
    if (it != idle_.end() && it->first / 2 <= bytes) {
      void* b = it->second;
      *capacity = it->first;
      idle_.erase(it);
      return b;
    }
  }
  void* b = nullptr;
  try {
    b = alloc_(bytes);
  } catch (const std::exception&) {
    b = nullptr;
  }
  if (!b)
    throw Error(ErrorKind::Stream, "No memory for a queued frame's copy.",
                std::to_string(bytes) + " bytes" + (pinned_ ? " of page-locked host memory" : ""));
  *capacity = bytes;
  std::lock_guard<std::mutex> l(mu_);
  allocations_++;
  return b;
}

void StagingPool::give_back(void* block, size_t capacity) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (idle_.size() < max_idle_) {
      idle_.emplace(capacity, block);
      return;
    }
  }
  release_(block);
}

StagedFrame StagingPool::stage(const FrameView& f) {
  if (f.on_device) throw Error(ErrorKind::Stream, "A frame in device memory cannot be staged through the host.");
  size_t offs[3];
  const size_t total = staging_layout(f, offs);
  if (total == 0) throw Error(ErrorKind::Stream, "A frame without planes was queued.");
  size_t capacity = 0;
  uint8_t* block = static_cast<uint8_t*>(take(total, &capacity));
  StagedFrame s;
  s.view = f;
  for (int i = 0; i < 3; i++) {
    const size_t n = plane_bytes(f, i);
    if (!n) continue;
    std::memcpy(block + offs[i], f.planes[i], n);
    s.view.planes[i] = block + offs[i];
  }
  s.view.staged_block = block;
  s.view.staged_bytes = total;
  s.view.staged_pinned = pinned_;
  std::shared_ptr<StagingPool> self = shared_from_this();
  s.hold = std::shared_ptr<void>(block, [self, capacity](void* b) { self->give_back(b, capacity); });
  std::lock_guard<std::mutex> l(mu_);
  frames_++;
  return s;
}

uint64_t StagingPool::allocations() const {
  std::lock_guard<std::mutex> l(mu_);
  return allocations_;
}

uint64_t StagingPool::frames() const {
  std::lock_guard<std::mutex> l(mu_);
  return frames_;
}

size_t StagingPool::idle() const {
  std::lock_guard<std::mutex> l(mu_);
  return idle_.size();
}

}  // namespace ta
