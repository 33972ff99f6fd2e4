// The cache of large per-call buffers (an allocator that keeps freed blocks).

#pragma once

#include <torch/extension.h>
#include <ATen/EmptyTensor.h>
#include <c10/core/Allocator.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

namespace lstmkit {
namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

// ---- a cache of large buffers --------------------------------------------------------------
// A training step allocates and frees the same (T, B, n) buffers every call (saved
// activations, gradients). Through malloc, blocks of megabytes are returned to the kernel
// and faulted in again page by page each call (perf, 32x100x2x64 layer-norm training: ~20%
// of the time in the kernel's page-fault path). Buffers of >= 256 KiB come from this
// allocator instead: a freed block is kept (at most LSTMKIT_BUFFER_CACHE_MB, default
// 1024; 0 turns the cache off) and handed out again for a request of up to its size.
// The tensors are ordinary CPU tensors (resizable, freed through the allocator).
class BufferCache final : public c10::Allocator {
 public:
  static BufferCache& get() {
    static BufferCache* c = new BufferCache();  // never destroyed: tensors may outlive static destruction
    return *c;
  }
  size_t limit() const { return limit_; }

  c10::DataPtr allocate(size_t n) override {
    const size_t bytes = (std::max<size_t>(n, 1) + 4095) / 4096 * 4096;
    char* base = nullptr;
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= bytes + bytes / 4) {
        base = it->second;
        cached_ -= it->first;
        free_.erase(it);
      }
    }
    if (base == nullptr) {
      base = static_cast<char*>(std::aligned_alloc(kHeader, bytes + kHeader));
      TORCH_CHECK(base != nullptr, "lstmkit: out of memory allocating ", bytes, " bytes");
      *reinterpret_cast<size_t*>(base) = bytes;
    }
    void* data = base + kHeader;
    return {data, data, &BufferCache::release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &BufferCache::release; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
  void clear() {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& kv : free_) std::free(kv.second);
    free_.clear();
    cached_ = 0;
  }

 private:
  static constexpr size_t kHeader = 64;
  BufferCache() {
    int64_t mb = 1024;
    if (const char* e = std::getenv("LSTMKIT_BUFFER_CACHE_MB")) mb = std::max<int64_t>(0, std::atoll(e));
    limit_ = static_cast<size_t>(mb) << 20;
  }
  static void release(void* data) {
    char* base = static_cast<char*>(data) - kHeader;
    const size_t bytes = *reinterpret_cast<size_t*>(base);
    BufferCache& c = get();
    {
      std::lock_guard<std::mutex> g(c.mu_);
      if (c.cached_ + bytes <= c.limit_) {
        c.free_.emplace(bytes, base);
        c.cached_ += bytes;
        return;
      }
    }
    std::free(base);
  }
  std::mutex mu_;
  std::multimap<size_t, char*> free_;
  size_t cached_ = 0, limit_ = 0;
};

// at::empty for the per-call (T, B, n) buffers: large ones from the cache.
inline Tensor buffer(at::IntArrayRef sizes, const at::TensorOptions& opt) {
  int64_t n = 1;
  for (auto v : sizes) n *= v;
  const size_t bytes = static_cast<size_t>(n) * opt.dtype().itemsize();
  BufferCache& c = BufferCache::get();
  if (bytes < (256u << 10) || c.limit() == 0) return at::empty(sizes, opt);
  return Tensor(at::detail::empty_generic(sizes, &c, c10::DispatchKeySet(c10::DispatchKey::CPU),
                                          c10::typeMetaToScalarType(opt.dtype()), c10::nullopt));
}

}  // namespace
}  // namespace lstmkit
