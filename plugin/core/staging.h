// Frames copied out of their buffers when they are queued (Engine::submit_frame without a
// hold), so that the buffer can go on downstream at once (live mode: no copy of the
// buffer, no copy on torchoverlay's write map) while the frame waits for its batch. Each
// plane goes into one block at a 256-byte aligned offset: on the GPU path the block is
// page-locked (cudaHostAlloc), and the upload is one asynchronous copy of it, with no
// second copy into pinned memory in the worker. LibTorch-, CUDA- and GStreamer-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "frame.h"

namespace ta {

// A queued frame: the view of its copied planes, and what keeps them (the block goes back
// to its pool when the last copy of `hold` goes).
struct StagedFrame {
  FrameView view;
  std::shared_ptr<void> hold;
};

// The bytes of plane i of `f` (stride x rows; 0 for an absent plane), and the layout of all
// of them in one block: offsets[i] (256-byte aligned), returning the block's size.
size_t plane_bytes(const FrameView& f, int i);
size_t staging_layout(const FrameView& f, size_t offsets[3]);

// Blocks for staged frames, kept for reuse: a camera's frames all have one size, so after
// the first batches no block is allocated (page-locking memory costs milliseconds). At most
// `max_idle` unused blocks are kept; a block is reused for a frame of at least half its size.
// Thread-safe; blocks in use keep the pool alive.
class StagingPool : public std::enable_shared_from_this<StagingPool> {
 public:
  using Alloc = std::function<void*(size_t)>;  // nullptr (or a throw) when it fails
  using Release = std::function<void(void*)>;

  // `pinned`: the blocks are page-locked (FrameView::staged_pinned is set on the views).
  static std::shared_ptr<StagingPool> create(Alloc alloc, Release release, bool pinned, size_t max_idle = 32);
  // Ordinary (pageable) host memory.
  static std::shared_ptr<StagingPool> host(size_t max_idle = 32);
  ~StagingPool();
  StagingPool(const StagingPool&) = delete;
  StagingPool& operator=(const StagingPool&) = delete;

  // Copies the planes of a host frame into a block. Throws ta::Error(Stream) for device
  // planes or a frame without planes, ta::Error(Stream) when no block can be had.
  StagedFrame stage(const FrameView& f);

  bool pinned() const { return pinned_; }
  uint64_t allocations() const;  // blocks ever allocated
  uint64_t frames() const;       // frames staged
  size_t idle() const;           // blocks kept for reuse now

 private:
  StagingPool(Alloc alloc, Release release, bool pinned, size_t max_idle);
  void* take(size_t bytes, size_t* capacity);
  void give_back(void* block, size_t capacity);

  Alloc alloc_;
  Release release_;
  const bool pinned_;
  const size_t max_idle_;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> idle_;  // capacity -> block
  uint64_t allocations_ = 0;
  uint64_t frames_ = 0;
};

}  // namespace ta
