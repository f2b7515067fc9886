// The hang watchdog (parallel/watchdog.hpp): the call trackers, the board of this node's ranks, and
// the thread that ends a job stuck in a call.
//
// Board records are written by one process and read by the others, with no lock between them: a
// sequence lock. The writer makes the version odd, writes, makes it even again; a reader copies
// the record and keeps the copy only when it saw the same even version before and after. Times
// are steady_clock (CLOCK_MONOTONIC on Linux), one clock for every process of a node.
#include "parallel/watchdog.hpp"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "parallel/dist.hpp"

namespace strata::dist {

namespace detail {

struct CallRecord {
  std::atomic<uint32_t> version{0};  // odd while the writer is inside
  std::atomic<uint32_t> in_use{0};   // a tracker owns this board record
  uint64_t sequence = 0;             // the call in flight, or the last one
  int64_t started_ns = 0;            // when the call in flight began; 0 when idle
  uint8_t collective = 0;            // the call is a collective (else send or recv)
  uint8_t begun = 0;                 // the lane has begun a call
  char group[48] = {};
  char lane[16] = {};
  char call[96] = {};
};

namespace {

constexpr int kBoardRecords = 32;  // per rank: 3 lanes per group, so ~10 groups
constexpr double kDefaultTimeout = 300;

struct Slot {
  int32_t world_rank;
  CallRecord records[kBoardRecords];
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void copy_text(char* to, size_t capacity, std::string_view text) {
  size_t n = std::min(text.size(), capacity - 1);
  std::memcpy(to, text.data(), n);
  to[n] = 0;
}

// The fields of `from` (not its version or in_use) into `to`, under `to`'s sequence lock.
void publish(CallRecord& to, const CallRecord& from) {
  uint32_t v = to.version.load(std::memory_order_relaxed);
  to.version.store(v + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  to.sequence = from.sequence;
  to.started_ns = from.started_ns;
  to.collective = from.collective;
  to.begun = from.begun;
  std::memcpy(to.group, from.group, sizeof(to.group));
  std::memcpy(to.lane, from.lane, sizeof(to.lane));
  std::memcpy(to.call, from.call, sizeof(to.call));
  to.version.store(v + 2, std::memory_order_release);
}

// A consistent copy of another process's record; false when it stayed busy.
bool read(const CallRecord& from, CallRecord& to) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    uint32_t before = from.version.load(std::memory_order_acquire);
    if (before & 1) continue;
    to.sequence = from.sequence;
    to.started_ns = from.started_ns;
    to.collective = from.collective;
    to.begun = from.begun;
    std::memcpy(to.group, from.group, sizeof(to.group));
    std::memcpy(to.lane, from.lane, sizeof(to.lane));
    std::memcpy(to.call, from.call, sizeof(to.call));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (from.version.load(std::memory_order_relaxed) == before) return true;
  }
  return false;
}

std::string seconds(int64_t ns) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f s", static_cast<double>(ns) * 1e-9);
  return text;
}

// "allreduce(sum) f32 [4], call 1, for 5.0 s" or "idle after call 0".
std::string describe(const CallRecord& r, int64_t now) {
  if (!r.started_ns) {
    return r.begun ? "idle after call " + std::to_string(r.sequence) : "idle, no call yet";
  }
  std::string text = std::string("in ") + r.call;
  text += r.collective ? ", call " : ", before call ";
  return text + std::to_string(r.sequence) + ", for " + seconds(now - r.started_ns);
}

double timeout_from_environment() {
  const char* env = std::getenv("STRATA_DIST_TIMEOUT");
  if (!env) return kDefaultTimeout;
  char* end = nullptr;
  double value = std::strtod(env, &end);
  STRATA_CHECK(*env && *end == 0 && value >= 0, "dist: STRATA_DIST_TIMEOUT='", env,
               "' is not a number of seconds >= 0 (0 disables the hang watchdog)");
  return value;
}

}  // namespace

struct Watchdog {
  std::mutex mutex;  // guards everything below but timeout
  std::condition_variable wake;
  std::atomic<double> timeout{-1};  // seconds; -1 until set or read from the environment
  std::vector<CallTracker*> trackers;
  std::thread thread;
  bool stopping = false;
  // The board: this node's ranks' slots, this rank's at `mine`.
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Win win = MPI_WIN_NULL;
  std::vector<Slot*> slots;
  Slot* mine = nullptr;

  // Never destroyed: groups destroyed at exit still unregister, and a thread still running at
  // exit (no dist::finalize) must not make ~thread call std::terminate.
  static Watchdog& get() {
    static Watchdog& instance = *new Watchdog;
    return instance;
  }

  double current_timeout() {
    double t = timeout.load();
    if (t < 0) {
      t = timeout_from_environment();
      timeout.store(t);
    }
    return t;
  }

  // Gives `tracker` a free record of this rank's slot, if any is left (else it is watched here
  // but not visible to the node's other ranks). Under mutex.
  void attach(CallTracker& tracker) {
    if (!mine) return;
    for (CallRecord& record : mine->records) {
      if (record.in_use.load(std::memory_order_relaxed)) continue;
      publish(record, *tracker.record_);
      record.in_use.store(1, std::memory_order_release);
      tracker.board_ = &record;
      return;
    }
  }

  void detach(CallTracker& tracker) {
    if (!tracker.board_) return;
    tracker.board_->in_use.store(0, std::memory_order_release);
    tracker.board_ = nullptr;
  }

  void run() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      // A tenth of the timeout between looks: a hang is reported within 1.1 timeouts.
      double limit = timeout.load();
      wake.wait_for(
          lock, std::chrono::duration<double>(limit > 0 ? std::clamp(limit / 10, 0.05, 1.0) : 1.0));
      limit = timeout.load();
      if (stopping || limit <= 0) continue;
      const int64_t now = now_ns();
      for (CallTracker* tracker : trackers) {
        const CallRecord& r = *tracker->record_;
        if (r.started_ns && static_cast<double>(now - r.started_ns) > limit * 1e9) {
          std::string report = this->report(r, now, limit);
          lock.unlock();
          dist::abort(report);
        }
      }
    }
  }

  // What the stuck call is, then every lane of this node's ranks that is in a call, and every
  // collective lane that is idle (a rank idle while the others wait skipped a call).
  std::string report(const CallRecord& stuck, int64_t now, double limit) {
    char head[160];
    std::snprintf(head, sizeof(head), "hang watchdog: no progress for %s (timeout %g s)",
                  seconds(now - stuck.started_ns).c_str(), limit);
    std::string text = std::string(head) + " in " + stuck.call +
                       (stuck.collective ? ", call " : ", before call ") +
                       std::to_string(stuck.sequence) + " of group " + stuck.group + " (" +
                       stuck.lane + " lane); ending the job.";
    if (slots.empty()) return text;
    text += "\nThe ranks of this node (sequence numbers count each group's collectives):";
    for (const Slot* slot : slots) {
      std::string lines;
      for (const CallRecord& shared : slot->records) {
        CallRecord r;
        if (!shared.in_use.load(std::memory_order_acquire)) continue;
        if (!read(shared, r)) {
          lines += "\n    (a record kept changing)";
          continue;
        }
        if (!r.started_ns && std::strcmp(r.lane, "collectives") != 0) continue;
        lines += std::string("\n    group ") + r.group + " " + r.lane + ": " + describe(r, now);
      }
      text += "\n  rank " + std::to_string(slot->world_rank) + ":" +
              (lines.empty() ? " in no group's call" : lines);
    }
    return text +
           "\nA rank idle, or in another call, while the others wait skipped a collective or made "
           "them in another order; set STRATA_DIST_DEBUG=1 to compare every call across ranks.";
  }
};

CallTracker::CallTracker(std::string_view group, std::string_view lane)
    : record_(std::make_unique<CallRecord>()) {
  copy_text(record_->group, sizeof(record_->group), group);
  copy_text(record_->lane, sizeof(record_->lane), lane);
  Watchdog& w = Watchdog::get();
  std::lock_guard lock(w.mutex);
  w.trackers.push_back(this);
  w.attach(*this);
}

CallTracker::~CallTracker() {
  Watchdog& w = Watchdog::get();
  std::lock_guard lock(w.mutex);
  w.detach(*this);
  w.trackers.erase(std::find(w.trackers.begin(), w.trackers.end(), this));
}

void CallTracker::begin(uint64_t sequence, bool collective, std::string_view call) {
  Watchdog& w = Watchdog::get();
  std::lock_guard lock(w.mutex);
  CallRecord& r = *record_;
  r.sequence = sequence;
  r.collective = collective;
  r.begun = 1;
  copy_text(r.call, sizeof(r.call), call);
  r.started_ns = now_ns();
  if (board_) publish(*board_, r);
}

void CallTracker::end() {
  Watchdog& w = Watchdog::get();
  std::lock_guard lock(w.mutex);
  record_->started_ns = 0;
  if (board_) publish(*board_, *record_);
}

void start_watchdog() {
  Watchdog& w = Watchdog::get();
  int world_rank = 0, node_rank = 0, node_size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &w.node);
  MPI_Comm_rank(w.node, &node_rank);
  MPI_Comm_size(w.node, &node_size);
  char* base = nullptr;
  MPI_Win_allocate_shared(sizeof(Slot), 1, MPI_INFO_NULL, w.node, &base, &w.win);
  std::lock_guard lock(w.mutex);
  w.mine = new (base) Slot{world_rank, {}};
  MPI_Barrier(w.node);  // every slot initialised before any is read
  w.slots.resize(node_size);
  for (int r = 0; r < node_size; ++r) {
    MPI_Aint size = 0;
    int unit = 0;
    MPI_Win_shared_query(w.win, r, &size, &unit, &w.slots[r]);
  }
  for (CallTracker* tracker : w.trackers) w.attach(*tracker);
  w.stopping = false;
  w.thread = std::thread([&w] { w.run(); });
}

void stop_watchdog() {
  Watchdog& w = Watchdog::get();
  {
    std::lock_guard lock(w.mutex);
    if (!w.thread.joinable()) return;
    w.stopping = true;
  }
  w.wake.notify_all();
  w.thread.join();
  std::lock_guard lock(w.mutex);
  // Groups that outlive the world (a static one) keep their records, off the board.
  for (CallTracker* tracker : w.trackers) w.detach(*tracker);
  w.mine = nullptr;
  w.slots.clear();
  MPI_Win_free(&w.win);
  MPI_Comm_free(&w.node);
}

}  // namespace detail

void set_collective_timeout(double seconds) {
  STRATA_CHECK(seconds >= 0, "dist::set_collective_timeout: ", seconds,
               " s; expected a number of seconds >= 0 (0 disables the hang watchdog)");
  detail::Watchdog& w = detail::Watchdog::get();
  w.timeout.store(seconds);
  w.wake.notify_all();
}

double collective_timeout() { return detail::Watchdog::get().current_timeout(); }

}  // namespace strata::dist
