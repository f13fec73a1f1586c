// StagingPool (plugin/core/staging.*): where frames queued without a hold are copied. The
// layout the GPU upload relies on, block reuse and its bounds, and the lifetime of blocks
// against the pool's. The allocator is counted, not faked: the pool's own calls are real.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <vector>

#include "error.h"
#include "staging.h"

using namespace ta;

namespace {

// An I420 frame of w x h over `mem` with these strides; pixel values are their offsets.
FrameView i420(std::vector<uint8_t>& mem, int w, int h, int sy, int sc) {
  const size_t y = (size_t)sy * h, c = (size_t)sc * ((h + 1) / 2);
  mem.resize(y + 2 * c);
  for (size_t i = 0; i < mem.size(); i++) mem[i] = (uint8_t)(i * 7 + 3);
  FrameView v;
  v.format = PixelFormat::I420;
  v.width = w;
  v.height = h;
  v.planes[0] = mem.data();
  v.planes[1] = mem.data() + y;
  v.planes[2] = mem.data() + y + c;
  v.strides[0] = sy;
  v.strides[1] = v.strides[2] = sc;
  return v;
}

struct Counted {
  int allocs = 0, frees = 0;
  std::shared_ptr<StagingPool> pool(size_t max_idle) {
    return StagingPool::create(
        [this](size_t n) {
          allocs++;
          return std::aligned_alloc(256, (n + 255) & ~(size_t)255);
        },
        [this](void* p) {
          frees++;
          std::free(p);
        },
        /*pinned=*/true, max_idle);
  }
};

}  // namespace

// Odd sizes: each plane starts 256-byte aligned in the block, holds stride x rows bytes
// (chroma rows rounded up), equal to the source; the view points into the block and says so.
TEST(Staging, EachPlaneIsCopiedWhole256ByteAlignedAndTheViewPointsIntoTheBlock) {
  std::vector<uint8_t> mem;
  const FrameView f = i420(mem, 333, 251, 352, 176);
  size_t offs[3];
  const size_t total = staging_layout(f, offs);
  EXPECT_EQ(plane_bytes(f, 0), 352u * 251);
  EXPECT_EQ(plane_bytes(f, 1), 176u * 126);
  EXPECT_EQ(offs[0], 0u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(offs[i] % 256, 0u) << i;
  EXPECT_GE(offs[1], plane_bytes(f, 0));
  EXPECT_GE(offs[2], offs[1] + plane_bytes(f, 1));
  EXPECT_GE(total, offs[2] + plane_bytes(f, 2));
  EXPECT_LT(total, offs[2] + plane_bytes(f, 2) + 256);

  auto pool = StagingPool::host();
  StagedFrame s = pool->stage(f);
  ASSERT_NE(s.view.staged_block, nullptr);
  EXPECT_EQ(s.view.staged_bytes, total);
  EXPECT_FALSE(s.view.staged_pinned);
  EXPECT_EQ(s.view.width, 333);
  EXPECT_EQ(s.view.format, PixelFormat::I420);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(s.view.planes[i], s.view.staged_block + offs[i]) << i;
    EXPECT_EQ(s.view.strides[i], f.strides[i]) << i;
    EXPECT_EQ(0, std::memcmp(s.view.planes[i], f.planes[i], plane_bytes(f, i))) << "plane " << i;
  }
  // A packed frame has one plane.
  std::vector<uint8_t> rgb(640 * 3 * 480, 9);
  FrameView p;
  p.width = 640;
  p.height = 480;
  p.planes[0] = rgb.data();
  p.strides[0] = 640 * 3;
  StagedFrame sp = pool->stage(p);
  EXPECT_EQ(sp.view.staged_bytes, rgb.size());
  EXPECT_EQ(sp.view.planes[1], nullptr);
}

// Frames of one size reuse blocks: a camera's stream allocates only as many as are in
// flight. Freed blocks beyond max_idle go back to the allocator; a much smaller frame does
// not take a big block; blocks still in use keep the pool (and its allocator) alive.
TEST(Staging, BlocksAreReusedBoundedAndOutliveThePool) {
  Counted c;
  std::vector<uint8_t> mem;
  const FrameView f = i420(mem, 640, 480, 640, 320);
  {
    auto pool = c.pool(2);
    for (int i = 0; i < 50; i++) pool->stage(f);  // each released at once
    EXPECT_EQ(pool->frames(), 50u);
    EXPECT_EQ(c.allocs, 1) << "one frame in flight at a time needs one block";
    std::vector<StagedFrame> in_flight;
    for (int i = 0; i < 5; i++) in_flight.push_back(pool->stage(f));
    EXPECT_EQ(c.allocs, 5);
    in_flight.clear();
    EXPECT_EQ(pool->idle(), 2u);
    EXPECT_EQ(c.frees, 3) << "blocks beyond max_idle are freed";

    std::vector<uint8_t> small_mem;
    const FrameView small = i420(small_mem, 64, 48, 64, 32);
    pool->stage(small);
    EXPECT_EQ(c.allocs, 6) << "a small frame took a block of a large one";

    StagedFrame kept = pool->stage(f);
    EXPECT_TRUE(kept.view.staged_pinned);
    pool.reset();  // the element stopped; the frame still waits for its batch
    EXPECT_EQ(0, std::memcmp(kept.view.planes[0], f.planes[0], plane_bytes(f, 0)));
  }
  EXPECT_EQ(c.allocs, c.frees) << "every block is freed once the pool and its frames are gone";
}

// Device planes cannot be copied through the host, a frame without planes is no frame,
// and an allocator that fails gives an error that says what could not be had.
TEST(Staging, RefusesDevicePlanesEmptyFramesAndReportsAFailedAllocation_n) {
  auto pool = StagingPool::host();
  std::vector<uint8_t> mem;
  FrameView f = i420(mem, 64, 48, 64, 32);
  f.on_device = true;
  EXPECT_THROW(pool->stage(f), Error);
  EXPECT_THROW(pool->stage(FrameView{}), Error);

  auto broken = StagingPool::create([](size_t) -> void* { return nullptr; }, [](void*) {}, true);
  f.on_device = false;
  try {
    broken->stage(f);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.detail()).find("page-locked"), std::string::npos) << e.detail();
  }
  EXPECT_EQ(broken->allocations(), 0u);
}
