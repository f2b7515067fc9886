// Where a DataLoader stands, saved in checkpoints so that a resumed run sees exactly the batches
// it would have seen: the position (epoch, batches of it delivered) and what the batches depend
// on (dataset size, global batch size, shuffling, seed, drop_last), which a restore checks.
// The data-parallel size is not part of it: the global batches do not depend on it
// (io/distributed_sampler.hpp), so a position saved with one layout resumes in another.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace strata::io {

struct LoaderState {
  int64_t epoch = 0;
  int64_t batch = 0;  // batches of `epoch` already delivered
  int64_t dataset_size = 0;
  int64_t global_batch_size = 0;  // batch size per rank * data-parallel size
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;

  bool operator==(const LoaderState&) const = default;
};

// One JSON object: {"epoch": 2, "batch": 17, "dataset_size": 60000, ...}.
std::string to_json(const LoaderState& state);
// Reads what to_json writes; a missing key or a wrong type is an error naming the key.
LoaderState loader_state_from_json(std::string_view json);

}  // namespace strata::io
