// Small helpers shared by the test files.
#pragma once

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/tensor.hpp"

namespace strata::test {

// The message of the strata::Error that fn throws ("" when it throws none).
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A full disk, simulated portably: RLIMIT_FSIZE caps the size of any file this process writes,
// and with SIGXFSZ ignored a write past the cap fails with EFBIG, as a full disk fails one with
// ENOSPC. Both take the same path through the writer (a failed write(2)), the real one, with no
// test-only seam; and no root, mount or loop device is needed. The cap is lifted when this ends.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    previous_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_{};
  sighandler_t previous_handler_;
};

// Runs `run` on one thread and on two (or more), and checks that every tensor it returns is the
// same bit for bit: results must not depend on the thread count (design decision 12). Returns the
// one-thread results.
inline std::vector<Tensor> check_same_at_any_thread_count(
    const std::function<std::vector<Tensor>()>& run) {
  int threads = get_num_threads();
  set_num_threads(1);
  std::vector<Tensor> serial = run();
  set_num_threads(std::max(threads, 2));
  std::vector<Tensor> parallel = run();
  set_num_threads(threads);
  REQUIRE(serial.size() == parallel.size());
  for (size_t i = 0; i < serial.size(); ++i) {
    CAPTURE(i);
    Tensor one = serial[i].to(Device::cpu()).contiguous();
    Tensor two = parallel[i].to(Device::cpu()).contiguous();
    REQUIRE(one.shape() == two.shape());
    CHECK(std::memcmp(one.data_ptr(), two.data_ptr(), one.nbytes()) == 0);
  }
  return serial;
}

}  // namespace strata::test
