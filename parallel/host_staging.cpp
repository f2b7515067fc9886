// Staged (parallel/host_staging.hpp): CUDA tensors through pinned host buffers for the MPI group.
#include "parallel/host_staging.hpp"

#include <algorithm>
#include <bit>
#include <map>
#include <mutex>

#include "core/factories.hpp"

#if defined(STRATA_HAVE_CUDA)
#include "core/cuda/cuda_check.hpp"
#include "parallel/device_scope.hpp"
#endif

namespace strata::dist::detail {

#if defined(STRATA_HAVE_CUDA)
namespace {

// Pinned host blocks by capacity. Never destroyed: its blocks stay registered until the process
// ends (unregistering at exit could run after the CUDA runtime has shut down).
class PinnedPool {
 public:
  static PinnedPool& instance() {
    static PinnedPool* pool = new PinnedPool;
    return *pool;
  }

  // A block of at least `nbytes`: at least 2 MiB, a power of two, so the CPU allocator maps each
  // on its own and no two registrations share a page.
  Storage acquire(size_t nbytes) {
    const size_t capacity = std::bit_ceil(std::max(nbytes, kMinBytes));
    {
      std::lock_guard lock(mutex_);
      auto it = free_.find(capacity);
      if (it != free_.end()) {
        Storage block = std::move(it->second);
        free_.erase(it);
        return block;
      }
    }
    Storage block(capacity, Device::cpu());
    STRATA_CUDA_CHECK(cudaHostRegister(block.data(), capacity, cudaHostRegisterPortable));
    return block;
  }

  void release(Storage block) {
    std::lock_guard lock(mutex_);
    free_.emplace(block.nbytes(), std::move(block));
  }

 private:
  static constexpr size_t kMinBytes = size_t{2} << 20;
  std::mutex mutex_;
  std::multimap<size_t, Storage> free_;
};

}  // namespace
#endif

struct Staged::State {
  Tensor device;  // the CUDA tensor; undefined for a CPU tensor
  Tensor host;
#if defined(STRATA_HAVE_CUDA)
  Storage block;                 // from the pool; undefined for CPU and empty tensors
  cudaEvent_t copied = nullptr;  // the device-to-host copy's end, when the tensor is read
  bool waited = false;           // copied has been waited for (on the progress thread)

  ~State() {
    // The copy into the block must be over before the block is reused; the device tensor is
    // released on its own device, whose pool freed it.
    if (copied) {
      cudaEventSynchronize(copied);
      cudaEventDestroy(copied);
    }
    host = Tensor();  // the last view of the block before it goes back
    if (block.defined()) PinnedPool::instance().release(std::move(block));
    if (device.defined()) {
      DeviceScope scope(device.device().index);
      device = Tensor();
    }
  }
#endif
};

Staged::Staged(const Tensor& tensor, bool in) : state_(std::make_shared<State>()) {
  State& s = *state_;
  if (tensor.device().is_cpu()) {
    s.host = tensor;
    return;
  }
  // A CUDA tensor (only a CUDA build has any).
#if defined(STRATA_HAVE_CUDA)
  s.device = tensor;
  if (tensor.nbytes() == 0) {
    s.host = empty(tensor.shape(), tensor.dtype());
    return;
  }
  s.block = PinnedPool::instance().acquire(tensor.nbytes());
  s.host = Tensor(s.block, tensor.shape(), contiguous_strides(tensor.shape()), 0, tensor.dtype());
  if (!in) return;
  STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&s.copied, cudaEventDisableTiming));
  STRATA_CUDA_CHECK(cudaMemcpyAsync(s.host.data_ptr(), tensor.data_ptr(), tensor.nbytes(),
                                    cudaMemcpyDeviceToHost, cuda::current_stream()));
  STRATA_CUDA_CHECK(cudaEventRecord(s.copied, cuda::current_stream()));
#endif
}

const Tensor& Staged::host() const {
#if defined(STRATA_HAVE_CUDA)
  State& s = *state_;
  if (s.copied && !s.waited) {
    STRATA_CUDA_CHECK(cudaEventSynchronize(s.copied));
    s.waited = true;
  }
#endif
  return state_->host;
}

void Staged::copy_back() const {
#if defined(STRATA_HAVE_CUDA)
  const State& s = *state_;
  if (!s.device.defined() || s.device.nbytes() == 0) return;
  DeviceScope scope(s.device.device().index);
  cudaStream_t stream = nullptr;
  STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaError_t copied = cudaMemcpyAsync(s.device.data_ptr(), s.host.data_ptr(), s.device.nbytes(),
                                       cudaMemcpyHostToDevice, stream);
  if (copied == cudaSuccess) copied = cudaStreamSynchronize(stream);
  cudaStreamDestroy(stream);
  STRATA_CUDA_CHECK(copied);
#endif
}

}  // namespace strata::dist::detail
