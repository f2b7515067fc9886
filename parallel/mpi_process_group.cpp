// MpiProcessGroup (parallel/mpi_process_group.hpp): the collectives over an MPI communicator.
//
// How asynchronous calls progress: each group has a progress thread that takes the queued
// collectives in order and runs each as a *blocking* MPI call (sends and receives have a thread
// each, see Impl). The alternative, MPI's non-blocking collectives (MPI_Iallreduce, ...) polled by
// MPI_Test from a thread, was not taken: OpenMPI's non-blocking collectives (libnbc) advance only
// inside MPI calls, so the polling thread would spin on a core for the whole reduction, while a
// blocking call on a dedicated thread runs OpenMPI's tuned algorithms (faster than libnbc's) and
// progresses by itself (process_group_test measures a 16 MiB allreduce finishing while the caller
// computes and never enters MPI). The thread also does what MPI cannot: the f32 accumulation of
// 16-bit floats, and the cross-rank check of each call. One collective at a time per group keeps
// them in the same order on every rank, which is what matches them across ranks.
//
// Every call is validated on the caller's thread (an error there throws at once); what can only
// fail during the exchange (a mismatch between ranks, an MPI error) is rethrown by Work::wait().
// The communicators use MPI_ERRORS_RETURN, so MPI errors become strata::Error instead of aborting.
#include "parallel/mpi_process_group.hpp"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/cuda_memory.hpp"
#include "core/factories.hpp"
#include "parallel/dist.hpp"
#include "parallel/host_staging.hpp"
#include "parallel/mpi_common.hpp"
#include "parallel/mpi_running.hpp"
#include "parallel/shm_collectives.hpp"
#include "parallel/watchdog.hpp"

namespace strata::dist {

using detail::Collective;

namespace {

void mpi_check(int rc, std::string_view op) { detail::mpi_check(rc, "mpi", op); }

class MpiWork final : public Work {
 public:
  explicit MpiWork(uint64_t sequence_number) : sequence_number_(sequence_number) {}

  void wait() override {
    std::unique_lock lock(mutex_);
    done_changed_.wait(lock, [&] { return done_; });
    if (error_) std::rethrow_exception(error_);
  }
  bool is_completed() override {
    std::lock_guard lock(mutex_);
    return done_;
  }
  uint64_t sequence_number() const override { return sequence_number_; }

  void finish(std::exception_ptr error) {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
      error_ = std::move(error);
    }
    done_changed_.notify_all();
  }

 private:
  const uint64_t sequence_number_;
  std::mutex mutex_;
  std::condition_variable done_changed_;
  bool done_ = false;
  std::exception_ptr error_;
};

// "allreduce(sum) f32 [3, 4]", "recv(from 1, tag 0) i64 [8]": a call as the hang watchdog
// reports it. `detail` follows the op's name in parentheses when not empty.
std::string describe_call(std::string_view op, std::string_view detail, const Tensor* tensor) {
  std::string text(op);
  if (!detail.empty()) text.append("(").append(detail).append(")");
  if (tensor)
    text.append(" ")
        .append(dtype_name(tensor->dtype()))
        .append(" ")
        .append(shape_str(tensor->shape()));
  return text;
}

// "[0, 2, 4]": a sub-group's world ranks, as the watchdog names it (create_world's is "world").
std::string group_label(const std::vector<int>& world_ranks) {
  std::string label = "[";
  for (size_t i = 0; i < world_ranks.size(); ++i) {
    std::string next = (i ? ", " : "") + std::to_string(world_ranks[i]);
    if (label.size() + next.size() > 24) {
      return label + ", ... " + std::to_string(world_ranks.back()) + "] (" +
             std::to_string(world_ranks.size()) + " ranks)";
    }
    label += next;
  }
  return label + "]";
}

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::f16:
    case DType::bf16: return MPI_UINT16_T;  // moved as bits; reduced through an f32 scratch
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
    case DType::boolean: return MPI_C_BOOL;
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op mpi_op(ReduceOp op, DType dtype) {
  if (dtype == DType::boolean) return MPI_LOR;
  return op == ReduceOp::max ? MPI_MAX : MPI_SUM;
}

// A flat contiguous handle on the tensor's elements with no autograd record, for the kernels
// (to, copy_) the progress thread runs.
Tensor flat(const Tensor& t) {
  return Tensor(t.storage(), {t.numel()}, {1}, t.offset(), t.dtype());
}

char* bytes(const Tensor& t) { return static_cast<char*>(t.data_ptr()); }

bool overlap(const Tensor& a, const Tensor& b) {
  return bytes(a) < bytes(b) + b.nbytes() && bytes(b) < bytes(a) + a.nbytes();
}

// MPI counts are int: a per-rank count beyond that is an error (allreduce and broadcast split).
int mpi_count(int64_t n, std::string_view op) {
  STRATA_CHECK(n <= INT_MAX, "ProcessGroup(mpi) ", op, ": ", n,
               " elements per rank exceed MPI's int count (", INT_MAX, "); split the tensor");
  return static_cast<int>(n);
}
constexpr int64_t kChunk = int64_t{1} << 30;  // elements per MPI call of allreduce and broadcast

// avg: the sum divided by the group size, in the accumulation type.
void divide(const Tensor& sum, int size) {
  STRATA_DISPATCH_NUMERIC(sum.dtype(), "ProcessGroup(mpi) avg", [&] {
    scalar_t* p = sum.data<scalar_t>();
    for (int64_t i = 0; i < sum.numel(); ++i) p[i] = p[i] / static_cast<scalar_t>(size);
  });
}

// The tensor the reduction runs on: f32 for 16-bit floats, else the tensor itself.
Tensor accumulator(const Tensor& t) { return is_16bit_float(t.dtype()) ? t.to(DType::f32) : t; }

// A thread that runs queued tasks in order, one at a time; the destructor runs what is queued,
// then joins.
class Lane {
 public:
  Lane() : thread_([this] { run(); }) {}
  ~Lane() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    queue_changed_.notify_all();
    thread_.join();
  }
  void push(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(task));
    }
    queue_changed_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        queue_changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable queue_changed_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the queue exists
};

}  // namespace

// Three lanes: collectives, sends and receives, each with its tracker for the hang watchdog. Sends
// and receives get their own threads because a blocking MPI_Send of a large message waits for its
// receive: in a ring (every rank sends to the next and receives from the previous) one thread per
// group would deadlock, one per direction does not. Calls in one lane keep their order, so
// same-tag messages between two ranks match in order.
struct MpiProcessGroup::Impl {
  // Freed after the lanes have run their queues and joined (members are destroyed last to first).
  struct Communicator {
    MPI_Comm comm;
    ~Communicator() {
      if (detail::mpi_running()) MPI_Comm_free(&comm);
    }
  } owned;
  MPI_Comm comm;
  std::string label;  // "world", or the world ranks of a sub-group
  int size = 1;
  std::mutex mutex;
  bool debug_checks = false;   // guarded by mutex
  uint64_t next_sequence = 0;  // guarded by mutex
  detail::CallCheck checks;    // used by the collective lane only
  // Large collectives of a group on one node (null otherwise); used by the collective lane only.
  std::unique_ptr<detail::ShmCollectives> shm;
  detail::CallTracker collective_calls, send_calls, receive_calls;  // outlive the lanes
  Lane collectives, sends, receives;

  Impl(MPI_Comm comm, const std::string& label)
      : owned{comm},
        comm(comm),
        label(label),
        checks(comm, "mpi"),
        collective_calls(label, "collectives"),
        send_calls(label, "sends"),
        receive_calls(label, "receives") {
    MPI_Comm_size(comm, &size);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    shm = detail::ShmCollectives::create(comm);
    debug_checks = detail::debug_checks_from_env();
  }

  // Queues body(sequence number, debug checks) on a lane; collectives take the next number,
  // point-to-point calls (between two ranks only) the number the next collective will take. The
  // lane's tracker brackets the call, described by `call`, for the watchdog.
  std::shared_ptr<Work> submit(Lane& lane, bool collective, std::string call,
                               std::function<void(uint64_t, bool)> body) {
    detail::CallTracker& tracker = &lane == &sends      ? send_calls
                                   : &lane == &receives ? receive_calls
                                                        : collective_calls;
    std::lock_guard lock(mutex);  // held while pushing: the lane's order is the numbers' order
    uint64_t sequence = collective ? next_sequence++ : next_sequence;
    auto work = std::make_shared<MpiWork>(sequence);
    lane.push([work, &tracker, call = std::move(call), body = std::move(body), sequence, collective,
               debug = debug_checks] {
      tracker.begin(sequence, collective, call);
      std::exception_ptr error;
      try {
        body(sequence, debug);
      } catch (...) {
        error = std::current_exception();
      }
      tracker.end();
      work->finish(error);
    });
    return work;
  }

  // Whether a collective of `bytes` in `dtype` goes through shared memory: a group on one node,
  // a tensor large enough, a dtype with arithmetic (bool's logical or stays on MPI).
  bool use_shm(size_t bytes, DType dtype) const {
    return shm && bytes >= detail::ShmCollectives::kMinBytes && dtype != DType::boolean;
  }

  // The zero-copy path when `tensor` is symmetric and its dtype has arithmetic there.
  detail::DataPath symmetric(const Tensor& tensor, detail::DataPath::Kind kind) const {
    if (!shm || tensor.dtype() == DType::boolean) return {};
    const int64_t offset = shm->symmetric_offset(tensor);
    return offset < 0 ? detail::DataPath{} : detail::DataPath{kind, offset};
  }

  // output [count] <- the reduction of chunk `rank` of every rank's input [size count].
  void reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op, int count,
                      detail::DataPath path) {
    Tensor out = flat(output);
    if (path.kind != detail::DataPath::copy) return shm->reduce_scatter(out, flat(input), op);
    // MPI forbids overlapping buffers (and its MPI_IN_PLACE keeps the result at the start, not at
    // this rank's chunk): an input that overlaps the output is reduced from a copy.
    Tensor in = overlap(input, output) && !is_16bit_float(input.dtype()) ? flat(input).clone()
                                                                         : flat(input);
    if (use_shm(in.nbytes(), in.dtype())) {
      if (overlap(in, out)) in = in.clone();  // a 16-bit input the clone above left
      return shm->reduce_scatter(out, in, op);
    }
    Tensor in_acc = accumulator(in);
    Tensor out_acc = is_16bit_float(out.dtype()) ? empty({count}, DType::f32) : out;
    mpi_check(MPI_Reduce_scatter_block(in_acc.data_ptr(), out_acc.data_ptr(), count,
                                       mpi_type(in_acc.dtype()), mpi_op(op, in_acc.dtype()), comm),
              "reduce_scatter");
    if (op == ReduceOp::avg) divide(out_acc, size);
    if (!out_acc.is_same(out)) out.copy_(out_acc);
  }

  // data[0, n) reduced over the ranks in place, in chunks MPI's int counts can hold.
  void allreduce_in_place(const Tensor& t, ReduceOp op) {
    MPI_Datatype type = mpi_type(t.dtype());
    for (int64_t begin = 0; begin < t.numel(); begin += kChunk) {
      int count = static_cast<int>(std::min(kChunk, t.numel() - begin));
      mpi_check(MPI_Allreduce(MPI_IN_PLACE, bytes(t) + begin * t.element_size(), count, type,
                              mpi_op(op, t.dtype()), comm),
                "allreduce");
    }
  }
};

namespace {

void check_tensor(const Tensor& t, std::string_view op, std::string_view what) {
  STRATA_CHECK(t.defined(), "ProcessGroup(mpi) ", op, ": the ", what, " is undefined");
  // A CUDA tensor is staged through host memory with copies on the current stream, which orders
  // them after the kernels that wrote it only on its own device.
  STRATA_CHECK(t.device().is_cpu() || t.device().index == cuda::current_device(),
               "ProcessGroup(mpi) ", op, ": the ", what, " tensor is on ", t.device().str(),
               " but the current device is cuda:", cuda::current_device(),
               "; call it with the tensor's device current (cuda::set_device)");
  STRATA_CHECK(t.is_contiguous(), "ProcessGroup(mpi) ", op, ": the ", what, " of shape ",
               shape_str(t.shape()),
               " is not contiguous; pass a contiguous tensor (.contiguous()) and copy the result "
               "back");
}

void check_reduce_op(const Tensor& t, ReduceOp op, std::string_view name) {
  STRATA_CHECK(!(t.dtype() == DType::boolean && op == ReduceOp::avg), "ProcessGroup(mpi) ", name,
               ": avg is not defined on bool tensors; use sum or max (logical or)");
}

}  // namespace

MpiProcessGroup::MpiProcessGroup(std::unique_ptr<Impl> impl, int rank, std::vector<int> world_ranks)
    : ProcessGroup(rank, std::move(world_ranks)), impl_(std::move(impl)) {}

// Destroying a group finishes its queued calls and frees its window, both of which wait for the
// other ranks: the watchdog bounds the wait (the window is freed as the group's last call). While
// an exception unwinds, the other ranks may be waiting for this one in one of the group's calls,
// so the group is abandoned instead (its threads, communicator and window are never freed): the
// process goes on unwinding, and ends the job when it exits (mpirun ends a job whose rank exits
// without MPI_Finalize) or calls dist::finalize (which then aborts).
MpiProcessGroup::~MpiProcessGroup() {
  if (std::uncaught_exceptions() > 0) {
    detail::mark_abandoned("process group " + impl_->label +
                           " was destroyed by an exception after " +
                           std::to_string(sequence_number()) + " calls");
    static_cast<void>(impl_.release());
    return;
  }
  Impl& g = *impl_;
  if (g.shm && detail::mpi_running())
    g.submit(g.collectives, true, "destroy", [&g](uint64_t, bool) { g.shm.reset(); });
}

std::shared_ptr<MpiProcessGroup> MpiProcessGroup::create_world() {
  STRATA_CHECK(is_initialized() && dist::world().mpi,
               "MpiProcessGroup::create_world: MPI is not initialised; call dist::init() in a job "
               "started by mpirun or srun");
  STRATA_CHECK(
      dist::world().thread_multiple,
      "MpiProcessGroup::create_world: this MPI does not provide MPI_THREAD_MULTIPLE, which "
      "the process group's progress threads need; use an MPI built with thread support "
      "(OpenMPI 4 and later provide it)");
  MPI_Comm comm;
  mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "create_world");
  std::vector<int> world_ranks(dist::world_size());
  for (int r = 0; r < dist::world_size(); ++r) world_ranks[r] = r;
  return std::make_shared<MpiProcessGroup>(std::make_unique<Impl>(comm, "world"), dist::rank(),
                                           std::move(world_ranks));
}

uint64_t MpiProcessGroup::sequence_number() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->next_sequence;
}

bool MpiProcessGroup::shared_memory() const { return impl_->shm != nullptr; }

void MpiProcessGroup::set_debug_checks(bool on) {
  std::lock_guard lock(impl_->mutex);
  impl_->debug_checks = on;
}

std::shared_ptr<Work> MpiProcessGroup::allreduce_async(const Tensor& tensor, ReduceOp op) {
  check_tensor(tensor, "allreduce", "tensor");
  check_reduce_op(tensor, op, "allreduce");
  Impl& g = *impl_;
  detail::Staged staged(tensor, true);
  return g.submit(
      g.collectives, true, describe_call("allreduce", reduce_op_name(op), &tensor),
      [&g, staged, op](uint64_t sequence, bool debug) {
        const Tensor& tensor = staged.host();
        const detail::DataPath path = g.symmetric(tensor, detail::DataPath::symmetric_tensor);
        g.checks.check(Collective::allreduce, &tensor, static_cast<int64_t>(op), sequence, debug,
                       path);
        if (tensor.numel() == 0) return;
        Tensor data = flat(tensor);
        if (path.kind != detail::DataPath::copy || g.use_shm(data.nbytes(), data.dtype())) {
          g.shm->allreduce(data, op);
        } else {
          Tensor acc = accumulator(data);
          g.allreduce_in_place(acc, op);
          if (op == ReduceOp::avg) divide(acc, g.size);
          if (!acc.is_same(data)) data.copy_(acc);
        }
        staged.copy_back();
      });
}

std::shared_ptr<Work> MpiProcessGroup::reduce_scatter_async(const Tensor& output,
                                                            const Tensor& input, ReduceOp op) {
  check_tensor(output, "reduce_scatter", "output tensor");
  check_tensor(input, "reduce_scatter", "input tensor");
  check_reduce_op(input, op, "reduce_scatter");
  STRATA_CHECK(input.dtype() == output.dtype() && input.numel() == output.numel() * size(),
               "ProcessGroup(mpi) reduce_scatter: the input (", dtype_name(input.dtype()), " ",
               shape_str(input.shape()), ") must hold size() = ", size(), " chunks of the output (",
               dtype_name(output.dtype()), " ", shape_str(output.shape()),
               "), in the output's dtype");
  int count = mpi_count(output.numel(), "reduce_scatter");
  Impl& g = *impl_;
  const int my_rank = rank();
  detail::Staged staged_output(output, false), staged_input(input, true);
  return g.submit(
      g.collectives, true, describe_call("reduce_scatter", reduce_op_name(op), &input),
      [&g, staged_output, staged_input, op, count, my_rank](uint64_t sequence, bool debug) {
        const Tensor& output = staged_output.host();
        const Tensor& input = staged_input.host();
        // Zero copy needs the output apart from the input, or exactly this rank's chunk of it
        // (which no other rank reads).
        const bool own_chunk =
            bytes(output) == bytes(input) + static_cast<size_t>(my_rank) * output.nbytes();
        const detail::DataPath path = !overlap(input, output) || own_chunk
                                          ? g.symmetric(input, detail::DataPath::symmetric_input)
                                          : detail::DataPath{};
        g.checks.check(Collective::reduce_scatter, &input, static_cast<int64_t>(op), sequence,
                       debug, path);
        if (count == 0) return;
        g.reduce_scatter(output, input, op, count, path);
        staged_output.copy_back();
      });
}

std::shared_ptr<Work> MpiProcessGroup::allgather_async(const Tensor& output, const Tensor& input) {
  check_tensor(output, "allgather", "output tensor");
  check_tensor(input, "allgather", "input tensor");
  STRATA_CHECK(input.dtype() == output.dtype() && output.numel() == input.numel() * size(),
               "ProcessGroup(mpi) allgather: the output (", dtype_name(output.dtype()), " ",
               shape_str(output.shape()), ") must hold size() = ", size(),
               " copies of the input's element count (", dtype_name(input.dtype()), " ",
               shape_str(input.shape()), "), in the input's dtype");
  int count = mpi_count(input.numel(), "allgather");
  Impl& g = *impl_;
  int my_rank = rank();
  detail::Staged staged_output(output, false), staged_input(input, true);
  return g.submit(
      g.collectives, true, describe_call("allgather", "", &input),
      [&g, staged_output, staged_input, count, my_rank](uint64_t sequence, bool debug) {
        const Tensor& output = staged_output.host();
        const Tensor& input = staged_input.host();
        detail::DataPath path = g.symmetric(output, detail::DataPath::symmetric_output);
        if (path.kind == detail::DataPath::copy)
          path = g.symmetric(input, detail::DataPath::symmetric_input);
        g.checks.check(Collective::allgather, &input, 0, sequence, debug, path);
        if (count == 0) return;
        if (path.kind != detail::DataPath::copy) {
          g.shm->allgather(output, input);
          return staged_output.copy_back();
        }
        MPI_Datatype type = mpi_type(input.dtype());
        // The input already at this rank's place in the output is MPI_IN_PLACE; any other overlap
        // gathers from a copy.
        const void* send = input.data_ptr();
        Tensor copy;
        if (bytes(input) == bytes(output) + static_cast<size_t>(my_rank) * input.nbytes()) {
          send = MPI_IN_PLACE;
        } else if (overlap(input, output)) {
          copy = flat(input).clone();
          send = copy.data_ptr();
        }
        mpi_check(MPI_Allgather(send, count, type, output.data_ptr(), count, type, g.comm),
                  "allgather");
        staged_output.copy_back();
      });
}

std::shared_ptr<Work> MpiProcessGroup::broadcast_async(const Tensor& tensor, int root) {
  check_tensor(tensor, "broadcast", "tensor");
  STRATA_CHECK(root >= 0 && root < size(), "ProcessGroup(mpi) broadcast: root ", root,
               " is outside this group of ", size(), " ranks");
  Impl& g = *impl_;
  detail::Staged staged(tensor, rank() == root);  // only the root's data is read
  return g.submit(
      g.collectives, true, describe_call("broadcast", "root " + std::to_string(root), &tensor),
      [&g, staged, root](uint64_t sequence, bool debug) {
        const Tensor& tensor = staged.host();
        g.checks.check(Collective::broadcast, &tensor, root, sequence, debug);
        MPI_Datatype type = mpi_type(tensor.dtype());
        for (int64_t begin = 0; begin < tensor.numel(); begin += kChunk) {
          int count = static_cast<int>(std::min(kChunk, tensor.numel() - begin));
          mpi_check(
              MPI_Bcast(bytes(tensor) + begin * tensor.element_size(), count, type, root, g.comm),
              "broadcast");
        }
        staged.copy_back();
      });
}

std::shared_ptr<Work> MpiProcessGroup::send_async(const Tensor& tensor, int dst, int tag) {
  check_tensor(tensor, "send", "tensor");
  STRATA_CHECK(dst >= 0 && dst < size() && dst != rank(), "ProcessGroup(mpi) send: destination ",
               dst, " is not another rank of this group of ", size(), " (this is rank ", rank(),
               ")");
  STRATA_CHECK(tag >= 0, "ProcessGroup(mpi) send: tag ", tag, " is negative");
  int count = mpi_count(tensor.numel(), "send");
  Impl& g = *impl_;
  detail::Staged staged(tensor, true);
  return g.submit(
      g.sends, false,
      describe_call("send", "to " + std::to_string(dst) + ", tag " + std::to_string(tag), &tensor),
      [&g, staged, dst, tag, count](uint64_t, bool) {
        const Tensor& tensor = staged.host();
        mpi_check(MPI_Send(tensor.data_ptr(), count, mpi_type(tensor.dtype()), dst, tag, g.comm),
                  "send");
      });
}

std::shared_ptr<Work> MpiProcessGroup::recv_async(const Tensor& tensor, int src, int tag) {
  check_tensor(tensor, "recv", "tensor");
  STRATA_CHECK(src >= 0 && src < size() && src != rank(), "ProcessGroup(mpi) recv: source ", src,
               " is not another rank of this group of ", size(), " (this is rank ", rank(), ")");
  STRATA_CHECK(tag >= 0, "ProcessGroup(mpi) recv: tag ", tag, " is negative");
  mpi_count(tensor.numel(), "recv");
  Impl& g = *impl_;
  detail::Staged staged(tensor, false);
  return g.submit(
      g.receives, false,
      describe_call("recv", "from " + std::to_string(src) + ", tag " + std::to_string(tag),
                    &tensor),
      [&g, staged, src, tag](uint64_t, bool) {
        const Tensor& tensor = staged.host();
        // The message's size is read first: one of another size is still received (so the channel
        // stays in step), then reported.
        MPI_Status status;
        mpi_check(MPI_Probe(src, tag, g.comm, &status), "recv");
        int sent = 0;
        MPI_Get_count(&status, MPI_BYTE, &sent);
        if (static_cast<size_t>(sent) != tensor.nbytes()) {
          std::vector<char> discard(sent);
          mpi_check(MPI_Recv(discard.data(), sent, MPI_BYTE, src, tag, g.comm, MPI_STATUS_IGNORE),
                    "recv");
          fail("ProcessGroup(mpi) recv: rank ", src, " sent ", sent, " bytes with tag ", tag,
               ", but the receiving tensor (", dtype_name(tensor.dtype()), " ",
               shape_str(tensor.shape()), ") holds ", tensor.nbytes());
        }
        mpi_check(MPI_Recv(tensor.data_ptr(), sent, MPI_BYTE, src, tag, g.comm, MPI_STATUS_IGNORE),
                  "recv");
        staged.copy_back();
      });
}

std::shared_ptr<Work> MpiProcessGroup::barrier_async() {
  Impl& g = *impl_;
  return g.submit(g.collectives, true, "barrier", [&g](uint64_t sequence, bool debug) {
    g.checks.check(Collective::barrier, nullptr, 0, sequence, debug);
    mpi_check(MPI_Barrier(g.comm), "barrier");
  });
}

Tensor MpiProcessGroup::empty_symmetric(const Shape& shape, TensorOptions options) {
  Impl& g = *impl_;
  if (!g.shm || !options.device.is_cpu()) return ProcessGroup::empty_symmetric(shape, options);
  Tensor result;
  // On the collective lane: the allocation exchanges messages on the group's node communicator.
  g.submit(g.collectives, false, "symmetric allocation of " + shape_str(shape),
           [&](uint64_t, bool) { result = g.shm->allocate(shape, options.dtype); })
      ->wait();
  return result;
}

std::shared_ptr<ProcessGroup> MpiProcessGroup::split(int color, int key) {
  Impl& g = *impl_;
  MPI_Comm comm = MPI_COMM_NULL;
  std::vector<int> ranks_here;  // the new group's ranks, as ranks of this group
  int new_rank = -1;
  g.submit(g.collectives, true, "split", [&](uint64_t, bool) {
     mpi_check(MPI_Comm_split(g.comm, color < 0 ? MPI_UNDEFINED : color, key, &comm), "split");
     if (comm == MPI_COMM_NULL) return;
     MPI_Comm_rank(comm, &new_rank);
     ranks_here = detail::ranks_in_parent(g.comm, comm);
   })->wait();
  if (comm == MPI_COMM_NULL) return nullptr;
  std::vector<int> world_ranks;
  for (int r : ranks_here) world_ranks.push_back(this->world_ranks()[r]);
  return std::make_shared<MpiProcessGroup>(std::make_unique<Impl>(comm, group_label(world_ranks)),
                                           new_rank, std::move(world_ranks));
}

}  // namespace strata::dist
