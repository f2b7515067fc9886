// The process groups' shared MPI pieces (parallel/mpi_common.hpp): error checks, split ranks, and
// the call check's signatures of collective calls, gathered and compared.
#include "parallel/mpi_common.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "parallel/process_group.hpp"

namespace strata::dist::detail {

namespace {

constexpr int kOpCount = 5;
constexpr const char* kOpNames[kOpCount] = {"allreduce", "reduce_scatter", "allgather", "broadcast",
                                            "barrier"};

// One rank's call, as exchanged: op, dtype, reduce op or root, element count, sequence number,
// data path and symmetric offset, then the shape (up to kSignatureDims sizes), which is reported
// but not compared.
constexpr int kSignatureDims = 6;
constexpr int kComparedFields = 7;
constexpr int kSignatureSize = kComparedFields + 1 + kSignatureDims;
using Signature = std::array<int64_t, kSignatureSize>;

Signature signature(Collective op, const Tensor* tensor, int64_t extra, uint64_t sequence_number,
                    DataPath path) {
  Signature s{};
  s[0] = static_cast<int64_t>(op);
  s[1] = tensor ? static_cast<int64_t>(tensor->dtype()) : -1;
  s[2] = extra;
  s[3] = tensor ? tensor->numel() : 0;
  s[4] = static_cast<int64_t>(sequence_number);
  s[5] = path.kind;
  s[6] = path.offset;
  s[7] = tensor ? tensor->dim() : 0;
  for (int64_t d = 0; tensor && d < std::min<int64_t>(tensor->dim(), kSignatureDims); ++d)
    s[8 + d] = tensor->size(d);
  return s;
}

// "allreduce(sum) f32 [3, 4], call 5"
std::string describe(const int64_t* s) {
  std::ostringstream out;
  Collective op = static_cast<Collective>(s[0]);
  out << (s[0] >= 0 && s[0] < kOpCount ? kOpNames[s[0]] : "?");
  if (op == Collective::allreduce || op == Collective::reduce_scatter)
    out << "(" << reduce_op_name(static_cast<ReduceOp>(s[2])) << ")";
  if (op == Collective::broadcast) out << "(root " << s[2] << ")";
  if (s[1] >= 0) {
    out << " " << dtype_name(static_cast<DType>(s[1])) << " [";
    if (s[7] > kSignatureDims) {
      out << s[7] << "-dim tensor of " << s[3] << " elements";
    } else {
      for (int64_t d = 0; d < s[7]; ++d) out << (d ? ", " : "") << s[8 + d];
    }
    out << "]";
  }
  constexpr const char* kPaths[] = {"", ", symmetric tensor", ", symmetric output",
                                    ", symmetric input"};
  if (s[5] > DataPath::copy && s[5] <= DataPath::symmetric_input)
    out << kPaths[s[5]] << " at byte " << s[6];
  out << ", call " << s[4];
  return out.str();
}

}  // namespace

void mpi_check(int rc, std::string_view backend, std::string_view op) {
  if (rc == MPI_SUCCESS) return;
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, message, &length);
  fail("ProcessGroup(", backend, ") ", op, ": MPI failed: ", std::string_view(message, length));
}

std::vector<int> ranks_in_parent(MPI_Comm parent, MPI_Comm child) {
  int n = 0;
  MPI_Comm_size(child, &n);
  MPI_Group from, to;
  MPI_Comm_group(child, &from);
  MPI_Comm_group(parent, &to);
  std::vector<int> child_ranks(n), parent_ranks(n);
  for (int r = 0; r < n; ++r) child_ranks[r] = r;
  MPI_Group_translate_ranks(from, n, child_ranks.data(), to, parent_ranks.data());
  MPI_Group_free(&from);
  MPI_Group_free(&to);
  return parent_ranks;
}

bool debug_checks_from_env() {
  const char* env = std::getenv("STRATA_DIST_DEBUG");
  return env && std::strcmp(env, "1") == 0;
}

std::string_view collective_name(Collective op) { return kOpNames[static_cast<int>(op)]; }

CallCheck::CallCheck(MPI_Comm comm, std::string_view backend) : comm_(comm), backend_(backend) {
  MPI_Comm_size(comm, &size_);
}

void CallCheck::check(Collective op, const Tensor* tensor, int64_t extra, uint64_t sequence,
                      bool debug, DataPath path) {
  const int index = static_cast<int>(op);
  if (checked_[index] && !debug) return;
  const Signature mine = signature(op, tensor, extra, sequence, path);
  std::vector<int64_t> all(static_cast<size_t>(kSignatureSize) * size_);
  mpi_check(MPI_Allgather(mine.data(), kSignatureSize, MPI_INT64_T, all.data(), kSignatureSize,
                          MPI_INT64_T, comm_),
            backend_, kOpNames[index]);
  bool match = true;
  for (int r = 1; r < size_; ++r)
    match = match && std::equal(all.begin(), all.begin() + kComparedFields,
                                all.begin() + r * kSignatureSize);
  if (!match) {
    std::string calls;
    for (int r = 0; r < size_; ++r)
      calls += "\n  rank " + std::to_string(r) + ": " + describe(&all[r * kSignatureSize]);
    fail("ProcessGroup(", backend_, ") ", kOpNames[index],
         ": the ranks' calls do not match (every rank must call the same collectives in the same "
         "order, with the same dtype and element count):",
         calls);
  }
  checked_[index] = true;
}

}  // namespace strata::dist::detail
