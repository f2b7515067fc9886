// NvmeSwapper and AsyncFileIo: round trips of many buffers under several aio settings (both the
// O_DIRECT and the page-cache halves of a transfer), transfers in flight together, partial reads
// and writes at offsets, and the errors: a missing, non-folder or unwritable nvme_path, a full
// disk (through the file size limit), out-of-range and wrongly typed transfers.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/factories.hpp"
#include "core/random.hpp"
#include "io/io_files.hpp"
#include "zero/nvme_swapper.hpp"

using namespace strata;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() &&
         std::memcmp(a.data_ptr(), b.data_ptr(), static_cast<size_t>(a.numel()) * 4) == 0;
}

std::vector<io::AioConfig> aio_settings() {
  io::AioConfig plain;
  io::AioConfig small_blocks;  // many pieces per part, one at a time, drained per batch
  small_blocks.block_size = 4096;
  small_blocks.queue_depth = 2;
  small_blocks.thread_count = 3;
  small_blocks.single_submit = true;
  small_blocks.overlap_events = false;
  io::AioConfig odd_blocks;  // a block size O_DIRECT cannot take as it is (rounded to 4 KiB)
  odd_blocks.block_size = 10000;
  odd_blocks.queue_depth = 16;
  odd_blocks.thread_count = 2;
  return {plain, small_blocks, odd_blocks};
}

// Sizes around the 4 KiB (1024-element) boundaries, small (64-byte aligned, through the page
// cache) and large (2 MiB aligned, direct where the file system allows).
const std::vector<int64_t> kSizes = {0, 1, 7, 1023, 1024, 1025, 4096, 70000, 600000, 1 << 20};

}  // namespace

TEST_CASE("NvmeSwapper: many buffers round trip bit for bit under every aio setting") {
  for (const io::AioConfig& aio : aio_settings()) {
    test::TempDir dir;
    std::filesystem::path folder;
    {
      zero::NvmeSwapper swapper(dir.path(), aio, "test");
      folder = swapper.folder();
      CHECK(std::filesystem::is_directory(folder));
      std::vector<Tensor> written;
      std::vector<int64_t> tickets;
      for (size_t i = 0; i < kSizes.size() * 3; ++i) {
        const std::string name = "buffer." + std::to_string(i);
        const int64_t n = kSizes[i % kSizes.size()];
        swapper.create(name, n);
        written.push_back(randn({n}));
        tickets.push_back(swapper.write(name, written.back()));
      }
      for (int64_t ticket : tickets) swapper.wait(ticket);
      int64_t total = 0;
      for (const Tensor& t : written) total += t.numel() * 4;
      CHECK(swapper.bytes() == total);
      std::vector<Tensor> read;
      tickets.clear();
      for (size_t i = 0; i < written.size(); ++i) {
        read.push_back(full({written[i].numel()}, -1.0));
        tickets.push_back(swapper.read("buffer." + std::to_string(i), read.back()));
      }
      for (int64_t ticket : tickets) swapper.wait(ticket);
      for (size_t i = 0; i < written.size(); ++i) {
        INFO("buffer ", i, " of ", written[i].numel(), " elements, ", swapper.backend(),
             swapper.direct_io() ? ", O_DIRECT" : "");
        CHECK(same_bits(read[i], written[i]));
      }
    }
    CHECK_FALSE(std::filesystem::exists(folder));
  }
}

TEST_CASE("NvmeSwapper: chunks at offsets, reads and writes in flight together") {
  test::TempDir dir;
  zero::NvmeSwapper swapper(dir.path(), {}, "test");
  const int64_t n = 1 << 20, chunk = 1 << 16;
  Tensor whole = randn({n});
  swapper.create("a", n);
  swapper.create("b", n);
  swapper.wait(swapper.write("a", whole));
  // Stream "a" into "b" chunk by chunk, each chunk read while the previous one is written, as the
  // NVMe optimizer step does; chunk starts at aligned offsets and at odd ones.
  for (int64_t shift : {int64_t{0}, int64_t{3}}) {
    std::vector<Tensor> buffers = {empty({chunk}), empty({chunk})};
    int64_t pending_write = -1;
    for (int64_t begin = shift, k = 0; begin < n; begin += chunk, ++k) {
      Tensor buffer = buffers[k % 2].slice(0, 0, std::min(chunk, n - begin));
      swapper.wait(swapper.read("a", buffer, begin));
      if (pending_write >= 0) swapper.wait(pending_write);
      pending_write = swapper.write("b", buffer, begin);
      // The other buffer is free again once its write is done: the next read goes there.
    }
    swapper.wait(pending_write);
    Tensor back = empty({n - shift});
    swapper.wait(swapper.read("b", back, shift));
    CHECK(same_bits(back, whole.slice(0, shift, n)));
  }
  // Many transfers of distinct buffers at once.
  std::vector<Tensor> sources, targets;
  std::vector<int64_t> tickets;
  for (int i = 0; i < 16; ++i) {
    swapper.create("c" + std::to_string(i), chunk);
    sources.push_back(randn({chunk}));
    tickets.push_back(swapper.write("c" + std::to_string(i), sources.back()));
    targets.push_back(empty({chunk}));
    tickets.push_back(swapper.read("a", targets.back(), i * chunk));
  }
  for (int64_t ticket : tickets) swapper.wait(ticket);
  for (int i = 0; i < 16; ++i) {
    CHECK(same_bits(targets[i], whole.slice(0, i * chunk, (i + 1) * chunk)));
    Tensor back = empty({chunk});
    swapper.wait(swapper.read("c" + std::to_string(i), back));
    CHECK(same_bits(back, sources[i]));
  }
}

TEST_CASE("NvmeSwapper: a missing, non-folder or unwritable nvme_path is an error naming it") {
  test::TempDir dir;
  CHECK_THROWS_WITH(
      zero::NvmeSwapper(dir / "absent", {}, "t"),
      doctest::Contains(("nvme_path '" + (dir / "absent").string() + "' does not exist").c_str()));
  test::write_bytes(dir / "file", "x");
  CHECK_THROWS_WITH(
      zero::NvmeSwapper(dir / "file", {}, "t"),
      doctest::Contains(("nvme_path '" + (dir / "file").string() + "' is not a folder").c_str()));
  // Even root cannot make folders in /proc.
  CHECK_THROWS_WITH(zero::NvmeSwapper("/proc", {}, "t"),
                    doctest::Contains("cannot write in nvme_path '/proc'"));
}

TEST_CASE("NvmeSwapper: misuse is an error naming the buffer") {
  test::TempDir dir;
  zero::NvmeSwapper swapper(dir.path(), {}, "test");
  swapper.create("m", 100);
  CHECK_THROWS_WITH(swapper.create("m", 5), doctest::Contains("'m' exists already"));
  CHECK_THROWS_WITH(swapper.read("n", empty({4})), doctest::Contains("no buffer 'n'"));
  CHECK_THROWS_WITH(swapper.write("m", empty({10}), 95),
                    doctest::Contains("elements [95, 105) are outside 'm' of 100"));
  CHECK_THROWS_WITH(swapper.write("m", empty({10}, DType::f64)),
                    doctest::Contains("'m' needs a contiguous f32 CPU tensor, got f64"));
  CHECK_THROWS_WITH(swapper.wait(12345), doctest::Contains("unknown or already waited ticket"));
}

TEST_CASE("NvmeSwapper: a full disk is an error naming the file") {
  // The file size limit stands in for a full disk: the same failures (EFBIG instead of ENOSPC)
  // at the same places, without filling one.
  test::TempDir dir;
  zero::NvmeSwapper swapper(dir.path(), {}, "test");
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto previous = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 1 << 20;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string message;
  try {
    swapper.create("big", 1 << 20);  // 4 MiB
  } catch (const Error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous);
  CHECK(message.find("cannot reserve 4194304 bytes for 'big'") != std::string::npos);
  CHECK(message.find(swapper.folder().string()) != std::string::npos);
  CHECK(message.find("full") != std::string::npos);
  CHECK_FALSE(swapper.contains("big"));
}
