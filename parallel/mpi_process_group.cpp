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
#include <array>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/factories.hpp"
#include "parallel/dist.hpp"
#include "parallel/mpi_running.hpp"
#include "parallel/shm_collectives.hpp"
#include "parallel/watchdog.hpp"

namespace strata::dist {

namespace {

void mpi_check(int rc, std::string_view op) {
  if (rc == MPI_SUCCESS) return;
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, message, &length);
  fail("ProcessGroup(mpi) ", op, ": MPI failed: ", std::string_view(message, length));
}

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

// Every call a lane runs; the first kCheckedOps are the collectives whose calls are compared
// across ranks. split makes a sub-group; destroy frees the group's shared-memory window.
enum class Op : int64_t {
  allreduce,
  reduce_scatter,
  allgather,
  broadcast,
  barrier,
  send,
  recv,
  split,
  destroy
};
constexpr int kCheckedOps = 5;
constexpr const char* kOpNames[] = {"allreduce", "reduce_scatter", "allgather",
                                    "broadcast", "barrier",        "send",
                                    "recv",      "split",          "destroy"};

// One rank's call, as exchanged: op, dtype, reduce op or root (or peer), element count, sequence
// number, then the tag of a send or recv and the shape (up to kSignatureDims sizes), which are
// reported but not compared.
constexpr int kSignatureDims = 6;
constexpr int kSignatureSize = 7 + kSignatureDims;
constexpr int kComparedFields = 5;
using Signature = std::array<int64_t, kSignatureSize>;

// The call, its sequence number left for submit() to fill.
Signature signature(Op op, const Tensor* tensor, int64_t extra = 0, int64_t tag = 0) {
  Signature s{};
  s[0] = static_cast<int64_t>(op);
  s[1] = tensor ? static_cast<int64_t>(tensor->dtype()) : -1;
  s[2] = extra;
  s[3] = tensor ? tensor->numel() : 0;
  s[5] = tensor ? tensor->dim() : 0;
  s[6] = tag;
  for (int64_t d = 0; tensor && d < std::min<int64_t>(tensor->dim(), kSignatureDims); ++d)
    s[7 + d] = tensor->size(d);
  return s;
}

bool is_collective(Op op) { return op != Op::send && op != Op::recv; }

// "allreduce(sum) f32 [3, 4]", "recv(from 1, tag 0) i64 [8]", written into `text` (truncated
// to its size) without allocating: the lanes describe every call for the hang watchdog.
template <size_t N>
std::string_view describe_call(const int64_t* s, char (&text)[N]) {
  size_t used = 0;
  auto add = [&](const char* format, auto... values) {
    if (used < N) used += std::snprintf(text + used, N - used, format, values...);
  };
  Op op = static_cast<Op>(s[0]);
  add("%s", s[0] >= 0 && s[0] <= static_cast<int64_t>(Op::destroy) ? kOpNames[s[0]] : "?");
  if (op == Op::allreduce || op == Op::reduce_scatter) {
    std::string_view name = reduce_op_name(static_cast<ReduceOp>(s[2]));
    add("(%.*s)", static_cast<int>(name.size()), name.data());
  }
  if (op == Op::broadcast) add("(root %lld)", static_cast<long long>(s[2]));
  if (op == Op::send || op == Op::recv) {
    add(op == Op::send ? "(to %lld, tag %lld)" : "(from %lld, tag %lld)",
        static_cast<long long>(s[2]), static_cast<long long>(s[6]));
  }
  if (s[1] >= 0) {
    std::string_view name = dtype_name(static_cast<DType>(s[1]));
    add(" %.*s [", static_cast<int>(name.size()), name.data());
    if (s[5] > kSignatureDims) {
      add("%lld-dim tensor of %lld elements", static_cast<long long>(s[5]),
          static_cast<long long>(s[3]));
    } else {
      for (int64_t d = 0; d < s[5]; ++d)
        add(d ? ", %lld" : "%lld", static_cast<long long>(s[7 + d]));
    }
    add("%s", "]");
  }
  return std::string_view(text, std::min(used, N - 1));
}

// "allreduce(sum) f32 [3, 4], call 5"
std::string describe(const int64_t* s) {
  char text[160];
  return std::string(describe_call(s, text)) + ", call " + std::to_string(s[4]);
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
// group would deadlock, one per direction does not. Calls in one lane keep their order, so same-tag
// messages between two ranks match in order.
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
  bool debug_checks = false;       // guarded by mutex
  uint64_t next_sequence = 0;      // guarded by mutex
  bool checked[kCheckedOps] = {};  // each op's first call compared (the collective lane's)
  // Large collectives of a group on one node (null otherwise); used by the collective lane only.
  std::unique_ptr<detail::ShmCollectives> shm;
  detail::CallTracker collective_calls, send_calls, receive_calls;  // outlive the lanes
  Lane collectives, sends, receives;

  Impl(MPI_Comm comm, const std::string& label)
      : owned{comm},
        comm(comm),
        label(label),
        collective_calls(label, "collectives"),
        send_calls(label, "sends"),
        receive_calls(label, "receives") {
    MPI_Comm_size(comm, &size);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    shm = detail::ShmCollectives::create(comm);
    const char* env = std::getenv("STRATA_DIST_DEBUG");
    debug_checks = env && std::strcmp(env, "1") == 0;
  }

  // Queues body(call, debug checks) on the lane of `call`'s op, its sequence number filled in:
  // collectives take the next number, point-to-point calls (between two ranks only) the number
  // the next collective will take. The lane's tracker brackets the call for the watchdog.
  std::shared_ptr<Work> submit(Signature call, std::function<void(const Signature&, bool)> body) {
    const Op op = static_cast<Op>(call[0]);
    const bool collective = is_collective(op);
    Lane& lane = op == Op::send ? sends : op == Op::recv ? receives : collectives;
    detail::CallTracker& tracker = op == Op::send   ? send_calls
                                   : op == Op::recv ? receive_calls
                                                    : collective_calls;
    std::lock_guard lock(mutex);  // held while pushing: the lane's order is the numbers' order
    call[4] = static_cast<int64_t>(collective ? next_sequence++ : next_sequence);
    auto work = std::make_shared<MpiWork>(call[4]);
    lane.push([work, &tracker, body = std::move(body), call, collective, debug = debug_checks] {
      char text[96];
      tracker.begin(call[4], collective, describe_call(call.data(), text));
      std::exception_ptr error;
      try {
        body(call, debug);
      } catch (...) {
        error = std::current_exception();
      }
      tracker.end();
      work->finish(error);
    });
    return work;
  }

  // On the first call of `op` (every call in debug mode), every rank's call is gathered and
  // compared: all ranks see the same table, so all of them throw, or none.
  void check_call(const Signature& mine, bool debug) {
    int op = static_cast<int>(mine[0]);  // one of the first kCheckedOps
    if (checked[op] && !debug) return;
    std::vector<int64_t> all(static_cast<size_t>(kSignatureSize) * size);
    mpi_check(MPI_Allgather(mine.data(), kSignatureSize, MPI_INT64_T, all.data(), kSignatureSize,
                            MPI_INT64_T, comm),
              kOpNames[op]);
    bool match = true;
    for (int r = 1; r < size; ++r)
      match = match && std::equal(all.begin(), all.begin() + kComparedFields,
                                  all.begin() + r * kSignatureSize);
    if (!match) {
      std::string calls;
      for (int r = 0; r < size; ++r)
        calls += "\n  rank " + std::to_string(r) + ": " + describe(&all[r * kSignatureSize]);
      fail("ProcessGroup(mpi) ", kOpNames[op],
           ": the ranks' calls do not match (every rank must call the same collectives in the "
           "same order, with the same dtype and element count):",
           calls);
    }
    checked[op] = true;
  }

  // Whether a collective of `bytes` in `dtype` goes through shared memory: a group on one node,
  // a tensor large enough, a dtype with arithmetic (bool's logical or stays on MPI).
  bool use_shm(size_t bytes, DType dtype) const {
    return shm && bytes >= detail::ShmCollectives::kMinBytes && dtype != DType::boolean;
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
  STRATA_CHECK(t.device().is_cpu(), "ProcessGroup(mpi) ", op, ": the ", what, " tensor is on ",
               t.device().str(),
               "; the MPI process group takes CPU tensors (move it with .to(Device::cpu()))");
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
    g.submit(signature(Op::destroy, nullptr), [&g](const Signature&, bool) { g.shm.reset(); });
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
  return g.submit(signature(Op::allreduce, &tensor, static_cast<int64_t>(op)),
                  [&g, tensor, op](const Signature& call, bool debug) {
                    g.check_call(call, debug);
                    if (tensor.numel() == 0) return;
                    Tensor data = flat(tensor);
                    if (g.use_shm(data.nbytes(), data.dtype())) return g.shm->allreduce(data, op);
                    Tensor acc = accumulator(data);
                    g.allreduce_in_place(acc, op);
                    if (op == ReduceOp::avg) divide(acc, g.size);
                    if (!acc.is_same(data)) data.copy_(acc);
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
  return g.submit(signature(Op::reduce_scatter, &input, static_cast<int64_t>(op)),
                  [&g, output, input, op, count](const Signature& call, bool debug) {
                    g.check_call(call, debug);
                    if (count == 0) return;
                    Tensor out = flat(output);
                    // MPI forbids overlapping buffers (and its MPI_IN_PLACE keeps the result at the
                    // start, not at this rank's chunk): an input that overlaps the output is
                    // reduced from a copy.
                    Tensor in = overlap(input, output) && !is_16bit_float(input.dtype())
                                    ? flat(input).clone()
                                    : flat(input);
                    if (g.use_shm(in.nbytes(), in.dtype())) {
                      if (overlap(in, out)) in = in.clone();  // a 16-bit input the clone above left
                      return g.shm->reduce_scatter(out, in, op);
                    }
                    Tensor in_acc = accumulator(in);
                    Tensor out_acc = is_16bit_float(out.dtype()) ? empty({count}, DType::f32) : out;
                    mpi_check(MPI_Reduce_scatter_block(in_acc.data_ptr(), out_acc.data_ptr(), count,
                                                       mpi_type(in_acc.dtype()),
                                                       mpi_op(op, in_acc.dtype()), g.comm),
                              "reduce_scatter");
                    if (op == ReduceOp::avg) divide(out_acc, g.size);
                    if (!out_acc.is_same(out)) out.copy_(out_acc);
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
  return g.submit(signature(Op::allgather, &input), [&g, output, input, count, my_rank](
                                                        const Signature& call, bool debug) {
    g.check_call(call, debug);
    if (count == 0) return;
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
  });
}

std::shared_ptr<Work> MpiProcessGroup::broadcast_async(const Tensor& tensor, int root) {
  check_tensor(tensor, "broadcast", "tensor");
  STRATA_CHECK(root >= 0 && root < size(), "ProcessGroup(mpi) broadcast: root ", root,
               " is outside this group of ", size(), " ranks");
  Impl& g = *impl_;
  return g.submit(signature(Op::broadcast, &tensor, root), [&g, tensor, root](const Signature& call,
                                                                              bool debug) {
    g.check_call(call, debug);
    MPI_Datatype type = mpi_type(tensor.dtype());
    for (int64_t begin = 0; begin < tensor.numel(); begin += kChunk) {
      int count = static_cast<int>(std::min(kChunk, tensor.numel() - begin));
      mpi_check(MPI_Bcast(bytes(tensor) + begin * tensor.element_size(), count, type, root, g.comm),
                "broadcast");
    }
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
  return g.submit(signature(Op::send, &tensor, dst, tag), [&g, tensor, dst, tag, count](
                                                              const Signature&, bool) {
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
  return g.submit(
      signature(Op::recv, &tensor, src, tag), [&g, tensor, src, tag](const Signature&, bool) {
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
      });
}

std::shared_ptr<Work> MpiProcessGroup::barrier_async() {
  Impl& g = *impl_;
  return g.submit(signature(Op::barrier, nullptr), [&g](const Signature& call, bool debug) {
    g.check_call(call, debug);
    mpi_check(MPI_Barrier(g.comm), "barrier");
  });
}

std::shared_ptr<ProcessGroup> MpiProcessGroup::split(int color, int key) {
  Impl& g = *impl_;
  MPI_Comm comm = MPI_COMM_NULL;
  std::vector<int> ranks_here;  // the new group's ranks, as ranks of this group
  int new_rank = -1;
  g.submit(signature(Op::split, nullptr), [&](const Signature&, bool) {
     mpi_check(MPI_Comm_split(g.comm, color < 0 ? MPI_UNDEFINED : color, key, &comm), "split");
     if (comm == MPI_COMM_NULL) return;
     int n = 0;
     MPI_Comm_rank(comm, &new_rank);
     MPI_Comm_size(comm, &n);
     MPI_Group from, to;
     MPI_Comm_group(comm, &from);
     MPI_Comm_group(g.comm, &to);
     std::vector<int> new_ranks(n);
     for (int r = 0; r < n; ++r) new_ranks[r] = r;
     ranks_here.resize(n);
     MPI_Group_translate_ranks(from, n, new_ranks.data(), to, ranks_here.data());
     MPI_Group_free(&from);
     MPI_Group_free(&to);
   })->wait();
  if (comm == MPI_COMM_NULL) return nullptr;
  std::vector<int> world_ranks;
  for (int r : ranks_here) world_ranks.push_back(this->world_ranks()[r]);
  return std::make_shared<MpiProcessGroup>(std::make_unique<Impl>(comm, group_label(world_ranks)),
                                           new_rank, std::move(world_ranks));
}

}  // namespace strata::dist
