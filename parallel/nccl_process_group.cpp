// NcclProcessGroup (parallel/nccl_process_group.hpp): collectives over NCCL on a communication
// stream ordered against the caller's stream by events.
//
// Every call is validated and queued on the caller's thread: NCCL calls only enqueue work, so an
// error they return (a bad argument, a failed peer found at enqueue) throws at once, naming the
// call; what fails on the device later is NCCL's asynchronous error, which Work::wait() reports.
// Calls are serialised by the group's mutex, so every rank's collectives reach the communicator
// (and the call check) in the order of their sequence numbers.
#include "parallel/nccl_process_group.hpp"

#include <mpi.h>
#include <nccl.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "core/cuda/cuda_check.hpp"
#include "core/cuda_memory.hpp"
#include "core/device.hpp"
#include "core/factories.hpp"
#include "parallel/device_scope.hpp"
#include "parallel/dist.hpp"
#include "parallel/mpi_common.hpp"
#include "parallel/mpi_running.hpp"

namespace strata::dist {

using detail::Collective;

namespace {

// "allreduce(sum) f32 [3, 4]"
std::string describe(std::string_view op, const Tensor* tensor, std::string_view detail = {}) {
  std::ostringstream out;
  out << op;
  if (!detail.empty()) out << "(" << detail << ")";
  if (tensor) out << " " << dtype_name(tensor->dtype()) << " " << shape_str(tensor->shape());
  return out.str();
}

void nccl_check(ncclResult_t rc, ncclComm_t comm, std::string_view function,
                const std::string& call) {
  if (rc == ncclSuccess) return;
  const char* last = ncclGetLastError(comm);
  fail("ProcessGroup(nccl) ", call, ": ", function, " failed: ", ncclGetErrorString(rc),
       last && *last ? std::string(" (") + last + ")" : std::string());
}

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::f16: return ncclFloat16;
    case DType::bf16: return ncclBfloat16;
    case DType::i32: return ncclInt32;
    case DType::i64: return ncclInt64;
    case DType::boolean: return ncclUint8;  // Strata's bool is one byte, 0 or 1
  }
  fail("ProcessGroup(nccl): dtype ", dtype_name(dtype), " has no NCCL type");
}

ncclRedOp_t nccl_op(ReduceOp op, DType dtype) {
  if (dtype == DType::boolean) return ncclMax;  // logical or, for sum and max
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::avg: return ncclAvg;
    case ReduceOp::max: return ncclMax;
  }
  return ncclSum;
}

char* bytes(const Tensor& t) { return static_cast<char*>(t.data_ptr()); }

bool overlap(const Tensor& a, const Tensor& b) {
  return bytes(a) < bytes(b) + b.nbytes() && bytes(b) < bytes(a) + a.nbytes();
}

class NcclWork final : public Work {
 public:
  NcclWork(uint64_t sequence_number, cudaEvent_t done, std::vector<Tensor> tensors,
           std::weak_ptr<ncclComm_t> comm, std::string call, bool host_wait)
      : sequence_number_(sequence_number),
        done_(done),
        tensors_(std::move(tensors)),
        comm_(std::move(comm)),
        call_(std::move(call)),
        host_wait_(host_wait) {}

  ~NcclWork() override {
    // Later frees on the current stream (this Work's tensors among them) must follow the
    // collective; no error can be reported from here.
    cudaStreamWaitEvent(cuda::current_stream(), done_, 0);
    tensors_.clear();
    cudaEventDestroy(done_);
  }

  void wait() override {
    check_async_error();
    if (!host_wait_) {
      STRATA_CUDA_CHECK(cudaStreamWaitEvent(cuda::current_stream(), done_, 0));
      return;
    }
    // Polled rather than cudaEventSynchronize, so a peer's failure (an asynchronous error)
    // ends the wait instead of leaving it stuck.
    for (;;) {
      cudaError_t state = cudaEventQuery(done_);
      if (state == cudaSuccess) return;
      if (state != cudaErrorNotReady) STRATA_CUDA_CHECK(state);
      check_async_error();
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  bool is_completed() override { return cudaEventQuery(done_) != cudaErrorNotReady; }
  uint64_t sequence_number() const override { return sequence_number_; }

 private:
  // The group's communicator, while the group lives; NCCL reports device-side failures there.
  void check_async_error() {
    std::shared_ptr<ncclComm_t> comm = comm_.lock();
    if (!comm) return;
    ncclResult_t error = ncclSuccess;
    nccl_check(ncclCommGetAsyncError(*comm, &error), *comm, "ncclCommGetAsyncError", call_);
    if (error != ncclSuccess && error != ncclInProgress)
      nccl_check(error, *comm, "the collective (an asynchronous error)", call_);
  }

  const uint64_t sequence_number_;
  cudaEvent_t done_;
  std::vector<Tensor> tensors_;
  std::weak_ptr<ncclComm_t> comm_;
  const std::string call_;  // e.g. "allreduce(sum) f32 [1024], call 3"
  const bool host_wait_;
};

}  // namespace

struct NcclProcessGroup::Impl {
  // Freed after the NCCL communicator (members are destroyed last to first).
  struct HostCommunicator {
    MPI_Comm comm;
    ~HostCommunicator() {
      if (detail::mpi_running()) MPI_Comm_free(&comm);
    }
  } owned;
  MPI_Comm host;
  int size = 1;
  int device = 0;
  detail::CallCheck checks;
  std::mutex mutex;  // serialises the calls
  bool debug_checks = false;
  uint64_t next_sequence = 0;
  cudaStream_t stream = nullptr;
  // The communicator, shared with the Works (weakly) for their asynchronous-error checks.
  std::shared_ptr<ncclComm_t> comm;
  Tensor token;  // barrier's one element (its value is never read)

  // Collective over `host_comm`: rank 0's unique id reaches every rank, each joins on `device`.
  Impl(MPI_Comm host_comm, int device_index)
      : owned{host_comm}, host(host_comm), device(device_index), checks(host_comm, "nccl") {
    MPI_Comm_set_errhandler(host, MPI_ERRORS_RETURN);
    MPI_Comm_size(host, &size);
    int rank = 0;
    MPI_Comm_rank(host, &rank);
    debug_checks = detail::debug_checks_from_env();
    ncclUniqueId id{};
    if (rank == 0) nccl_check(ncclGetUniqueId(&id), nullptr, "ncclGetUniqueId", "create");
    detail::mpi_check(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, host), "nccl", "create");
    detail::DeviceScope scope(device);
    STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    ncclComm_t created = nullptr;
    ncclResult_t rc = ncclCommInitRank(&created, size, id, rank);
    if (rc != ncclSuccess) {
      cudaStreamDestroy(stream);
      nccl_check(rc, nullptr, "ncclCommInitRank",
                 "create (rank " + std::to_string(rank) + " of " + std::to_string(size) +
                     " on cuda:" + std::to_string(device) + ")");
    }
    comm = std::make_shared<ncclComm_t>(created);
    // Allocated in the current stream's order; the communication stream waits for that.
    token = empty({1}, TensorOptions(DType::f32, Device::cuda(device)));
    cudaEvent_t allocated = nullptr;
    STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&allocated, cudaEventDisableTiming));
    cudaError_t ordered = cudaEventRecord(allocated, cuda::current_stream());
    if (ordered == cudaSuccess) ordered = cudaStreamWaitEvent(stream, allocated, 0);
    cudaEventDestroy(allocated);
    STRATA_CUDA_CHECK(ordered);
  }

  ~Impl() {
    detail::DeviceScope scope(device);
    cudaStreamSynchronize(stream);
    token = Tensor();  // used on `stream` only, which is idle now
    ncclComm_t c = *comm;
    comm.reset();  // Works outliving the group stop asking it for errors
    ncclCommFinalize(c);
    ncclCommDestroy(c);
    cudaStreamDestroy(stream);
  }

  // Queues a call: the communication stream waits for the caller's current stream, `launch` puts
  // the NCCL calls on it, and the returned Work ends with them and holds `tensors`. A collective
  // (`op` set) takes the next sequence number and goes through the call check.
  std::shared_ptr<Work> enqueue(std::optional<Collective> op, const Tensor* checked, int64_t extra,
                                std::string call, std::vector<Tensor> tensors,
                                const std::function<ncclResult_t(ncclComm_t, cudaStream_t)>& launch,
                                std::string_view function, bool host_wait = false) {
    STRATA_CHECK(cuda::current_device() == device, "ProcessGroup(nccl) ", call,
                 ": the current device is cuda:", cuda::current_device(),
                 " but this group's communicator is on cuda:", device,
                 "; make it current (cuda::set_device) before the call");
    std::lock_guard lock(mutex);
    const uint64_t sequence = op ? next_sequence++ : next_sequence;
    if (op) checks.check(*op, checked, extra, sequence, debug_checks);
    call += ", call " + std::to_string(sequence);
    cudaEvent_t ready = nullptr, done = nullptr;
    STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    cudaError_t ordered = cudaEventRecord(ready, cuda::current_stream());
    if (ordered == cudaSuccess) ordered = cudaStreamWaitEvent(stream, ready, 0);
    cudaEventDestroy(ready);  // the wait keeps what it needs
    STRATA_CUDA_CHECK(ordered);
    nccl_check(launch(*comm, stream), *comm, function, call);
    STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    cudaError_t recorded = cudaEventRecord(done, stream);
    if (recorded != cudaSuccess) {
      cudaEventDestroy(done);
      STRATA_CUDA_CHECK(recorded);
    }
    return std::make_shared<NcclWork>(sequence, done, std::move(tensors), comm, std::move(call),
                                      host_wait);
  }

  void check_tensor(const Tensor& t, std::string_view op, std::string_view what) const {
    STRATA_CHECK(t.defined(), "ProcessGroup(nccl) ", op, ": the ", what, " is undefined");
    STRATA_CHECK(t.device() == Device::cuda(device), "ProcessGroup(nccl) ", op, ": the ", what,
                 " tensor is on ", t.device().str(),
                 "; this NCCL group takes tensors on cuda:", device,
                 " (the MPI group takes CPU tensors)");
    STRATA_CHECK(t.is_contiguous(), "ProcessGroup(nccl) ", op, ": the ", what, " of shape ",
                 shape_str(t.shape()),
                 " is not contiguous; pass a contiguous tensor (.contiguous()) and copy the result "
                 "back");
  }
};

namespace {

void check_reduce_op(const Tensor& t, ReduceOp op, std::string_view name) {
  STRATA_CHECK(!(t.dtype() == DType::boolean && op == ReduceOp::avg), "ProcessGroup(nccl) ", name,
               ": avg is not defined on bool tensors; use sum or max (logical or)");
}

}  // namespace

NcclProcessGroup::NcclProcessGroup(std::unique_ptr<Impl> impl, int rank,
                                   std::vector<int> world_ranks)
    : ProcessGroup(rank, std::move(world_ranks)), impl_(std::move(impl)) {}

NcclProcessGroup::~NcclProcessGroup() = default;

std::shared_ptr<NcclProcessGroup> NcclProcessGroup::create_world() {
  STRATA_CHECK(is_initialized() && dist::world().mpi,
               "NcclProcessGroup::create_world: MPI is not initialised; call dist::init() in a job "
               "started by mpirun or srun (NCCL's unique id travels over MPI)");
  STRATA_CHECK(dist::world().thread_multiple,
               "NcclProcessGroup::create_world: this MPI does not provide MPI_THREAD_MULTIPLE, "
               "which the process groups need (OpenMPI 4 and later provide it)");
  STRATA_CHECK(cuda_is_available(),
               "NcclProcessGroup::create_world: no CUDA device is visible; use the MPI group "
               "(dist::Backend::mpi) for CPU tensors");
  MPI_Comm comm;
  detail::mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "nccl", "create_world");
  std::vector<int> world_ranks(dist::world_size());
  for (int r = 0; r < dist::world_size(); ++r) world_ranks[r] = r;
  return std::make_shared<NcclProcessGroup>(std::make_unique<Impl>(comm, cuda::current_device()),
                                            dist::rank(), std::move(world_ranks));
}

uint64_t NcclProcessGroup::sequence_number() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->next_sequence;
}

void NcclProcessGroup::set_debug_checks(bool on) {
  std::lock_guard lock(impl_->mutex);
  impl_->debug_checks = on;
}

int NcclProcessGroup::device() const { return impl_->device; }

std::shared_ptr<Work> NcclProcessGroup::allreduce_async(const Tensor& tensor, ReduceOp op) {
  Impl& g = *impl_;
  g.check_tensor(tensor, "allreduce", "tensor");
  check_reduce_op(tensor, op, "allreduce");
  const ncclDataType_t type = nccl_type(tensor.dtype());
  const ncclRedOp_t reduce = nccl_op(op, tensor.dtype());
  const size_t count = static_cast<size_t>(tensor.numel());
  void* data = tensor.data_ptr();
  return g.enqueue(
      Collective::allreduce, &tensor, static_cast<int64_t>(op),
      describe("allreduce", &tensor, reduce_op_name(op)), {tensor},
      [&](ncclComm_t comm, cudaStream_t stream) {
        return count ? ncclAllReduce(data, data, count, type, reduce, comm, stream) : ncclSuccess;
      },
      "ncclAllReduce");
}

std::shared_ptr<Work> NcclProcessGroup::reduce_scatter_async(const Tensor& output,
                                                             const Tensor& input, ReduceOp op) {
  Impl& g = *impl_;
  g.check_tensor(output, "reduce_scatter", "output tensor");
  g.check_tensor(input, "reduce_scatter", "input tensor");
  check_reduce_op(input, op, "reduce_scatter");
  STRATA_CHECK(input.dtype() == output.dtype() && input.numel() == output.numel() * size(),
               "ProcessGroup(nccl) reduce_scatter: the input (", dtype_name(input.dtype()), " ",
               shape_str(input.shape()), ") must hold size() = ", size(), " chunks of the output (",
               dtype_name(output.dtype()), " ", shape_str(output.shape()),
               "), in the output's dtype");
  // NCCL reduces in place when the output is this rank's chunk of the input; any other overlap
  // reduces from a copy (made on the caller's stream, so the collective follows it).
  Tensor in = input;
  if (overlap(input, output) && bytes(output) != bytes(input) + rank() * output.nbytes())
    in = input.clone();
  const ncclDataType_t type = nccl_type(output.dtype());
  const ncclRedOp_t reduce = nccl_op(op, output.dtype());
  const size_t count = static_cast<size_t>(output.numel());
  const void* send = in.data_ptr();
  void* receive = output.data_ptr();
  return g.enqueue(
      Collective::reduce_scatter, &input, static_cast<int64_t>(op),
      describe("reduce_scatter", &input, reduce_op_name(op)), {output, input, in},
      [&](ncclComm_t comm, cudaStream_t stream) {
        return count ? ncclReduceScatter(send, receive, count, type, reduce, comm, stream)
                     : ncclSuccess;
      },
      "ncclReduceScatter");
}

std::shared_ptr<Work> NcclProcessGroup::allgather_async(const Tensor& output, const Tensor& input) {
  Impl& g = *impl_;
  g.check_tensor(output, "allgather", "output tensor");
  g.check_tensor(input, "allgather", "input tensor");
  STRATA_CHECK(input.dtype() == output.dtype() && output.numel() == input.numel() * size(),
               "ProcessGroup(nccl) allgather: the output (", dtype_name(output.dtype()), " ",
               shape_str(output.shape()), ") must hold size() = ", size(),
               " copies of the input's element count (", dtype_name(input.dtype()), " ",
               shape_str(input.shape()), "), in the input's dtype");
  // In place when the input is this rank's chunk of the output; any other overlap gathers from
  // a copy.
  Tensor in = input;
  if (overlap(input, output) && bytes(input) != bytes(output) + rank() * input.nbytes())
    in = input.clone();
  const ncclDataType_t type = nccl_type(input.dtype());
  const size_t count = static_cast<size_t>(input.numel());
  const void* send = in.data_ptr();
  void* receive = output.data_ptr();
  return g.enqueue(
      Collective::allgather, &input, 0, describe("allgather", &input), {output, input, in},
      [&](ncclComm_t comm, cudaStream_t stream) {
        return count ? ncclAllGather(send, receive, count, type, comm, stream) : ncclSuccess;
      },
      "ncclAllGather");
}

std::shared_ptr<Work> NcclProcessGroup::broadcast_async(const Tensor& tensor, int root) {
  Impl& g = *impl_;
  g.check_tensor(tensor, "broadcast", "tensor");
  STRATA_CHECK(root >= 0 && root < size(), "ProcessGroup(nccl) broadcast: root ", root,
               " is outside this group of ", size(), " ranks");
  const ncclDataType_t type = nccl_type(tensor.dtype());
  const size_t count = static_cast<size_t>(tensor.numel());
  void* data = tensor.data_ptr();
  return g.enqueue(
      Collective::broadcast, &tensor, root,
      describe("broadcast", &tensor, "root " + std::to_string(root)), {tensor},
      [&](ncclComm_t comm, cudaStream_t stream) {
        return count ? ncclBroadcast(data, data, count, type, root, comm, stream) : ncclSuccess;
      },
      "ncclBroadcast");
}

std::shared_ptr<Work> NcclProcessGroup::send_async(const Tensor& tensor, int dst, int tag) {
  Impl& g = *impl_;
  g.check_tensor(tensor, "send", "tensor");
  STRATA_CHECK(dst >= 0 && dst < size() && dst != rank(), "ProcessGroup(nccl) send: destination ",
               dst, " is not another rank of this group of ", size(), " (this is rank ", rank(),
               ")");
  STRATA_CHECK(tag >= 0, "ProcessGroup(nccl) send: tag ", tag, " is negative");
  const ncclDataType_t type = nccl_type(tensor.dtype());
  const size_t count = static_cast<size_t>(tensor.numel());
  const void* data = tensor.data_ptr();
  return g.enqueue(
      std::nullopt, nullptr, 0, describe("send", &tensor, "to " + std::to_string(dst)), {tensor},
      [&](ncclComm_t comm, cudaStream_t stream) {
        return count ? ncclSend(data, count, type, dst, comm, stream) : ncclSuccess;
      },
      "ncclSend");
}

std::shared_ptr<Work> NcclProcessGroup::recv_async(const Tensor& tensor, int src, int tag) {
  Impl& g = *impl_;
  g.check_tensor(tensor, "recv", "tensor");
  STRATA_CHECK(src >= 0 && src < size() && src != rank(), "ProcessGroup(nccl) recv: source ", src,
               " is not another rank of this group of ", size(), " (this is rank ", rank(), ")");
  STRATA_CHECK(tag >= 0, "ProcessGroup(nccl) recv: tag ", tag, " is negative");
  const ncclDataType_t type = nccl_type(tensor.dtype());
  const size_t count = static_cast<size_t>(tensor.numel());
  void* data = tensor.data_ptr();
  return g.enqueue(
      std::nullopt, nullptr, 0, describe("recv", &tensor, "from " + std::to_string(src)), {tensor},
      [&](ncclComm_t comm, cudaStream_t stream) {
        return count ? ncclRecv(data, count, type, src, comm, stream) : ncclSuccess;
      },
      "ncclRecv");
}

std::shared_ptr<Work> NcclProcessGroup::barrier_async() {
  Impl& g = *impl_;
  void* data = g.token.data_ptr();
  return g.enqueue(
      Collective::barrier, nullptr, 0, "barrier", {},
      [&](ncclComm_t comm, cudaStream_t stream) {
        return ncclAllReduce(data, data, 1, ncclFloat32, ncclSum, comm, stream);
      },
      "ncclAllReduce", true);
}

std::shared_ptr<ProcessGroup> NcclProcessGroup::split(int color, int key) {
  Impl& g = *impl_;
  std::lock_guard lock(g.mutex);
  ++g.next_sequence;  // like every collective, sub-group creation takes a number
  MPI_Comm comm = MPI_COMM_NULL;
  detail::mpi_check(MPI_Comm_split(g.host, color < 0 ? MPI_UNDEFINED : color, key, &comm), "nccl",
                    "split");
  if (comm == MPI_COMM_NULL) return nullptr;
  int new_rank = 0;
  MPI_Comm_rank(comm, &new_rank);
  std::vector<int> world_ranks;
  for (int r : detail::ranks_in_parent(g.host, comm)) world_ranks.push_back(this->world_ranks()[r]);
  return std::make_shared<NcclProcessGroup>(std::make_unique<Impl>(comm, g.device), new_rank,
                                            std::move(world_ranks));
}

}  // namespace strata::dist
