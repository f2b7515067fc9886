// The consumer's program: makes tensors, copies between layouts and dtypes, reads an IDX file
// (io/, which links zlib), runs an nn/ layer, prints the results, and exits non-zero unless the
// values are right.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "strata.hpp"

int main() {
  using namespace strata;
  Tensor x = arange(6).view({2, 3});  // [[0, 1, 2], [3, 4, 5]]
  Tensor y = zeros({3, 2}, {DType::bf16});
  y.copy_(x.t());                                                 // strided read, f32 -> bf16
  Tensor z = full({3, 2}, 10.0, {DType::f64}).slice(0, 0, 3, 2);  // rows 0 and 2: [2, 2]
  z.copy_(y.select(0, 1));                                        // broadcast row [1, 4]
  std::cout << y << '\n' << z << '\n';

  // An IDX file of three u8 values: magic {0, 0, 8 (u8), rank 1}, size 3 (big-endian), values.
  auto idx_path = std::filesystem::temp_directory_path() / "strata_consumer.idx";
  std::ofstream(idx_path, std::ios::binary).write("\0\0\x08\x01\0\0\0\x03\x07\x08\xff", 11);
  Tensor idx = io::read_idx(idx_path);
  std::filesystem::remove(idx_path);
  std::cout << idx << '\n';

  // nn/ (its own library): a Linear layer loaded from a state dict, [1, 2] x [[1, 1], [0, 2]]^T.
  nn::Linear linear(2, 2, /*bias=*/false);
  nn::OrderedDict<Tensor> weights;
  weights.insert("weight", from_vector<float>({1, 1, 0, 2}, {2, 2}));
  linear.load_state_dict(weights);
  Tensor out = linear(from_vector<float>({1, 2}, {1, 2}));
  std::cout << out << '\n';

  // parallel/ (links MPI privately): outside a launcher the world is one rank, MPI uninitialised.
  const dist::World& world = dist::init();
  std::cout << "rank " << world.rank << " of " << world.world_size << '\n';
  dist::finalize();

  bool ok = world.rank == 0 && world.world_size == 1 && !world.mpi &&
            y.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5} &&
            z.to_vector<double>() == std::vector<double>{1, 4, 1, 4} &&
            idx.to_vector<int32_t>() == std::vector<int32_t>{7, 8, 255} &&
            out.to_vector<float>() == std::vector<float>{3, 4};
  std::cout << (ok ? "consumer: ok" : "consumer: WRONG VALUES") << '\n';
  return ok ? 0 : 1;
}
