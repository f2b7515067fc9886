// Checkpoint files: round trips of groups, per-rank shards (also written by contributor writers),
// sections, `latest`, and every failure the loader must explain: missing directory or tag, `latest`
// naming nothing, truncated and bit-flipped files, a manifest from another model, and a disk that
// fills up mid-save.

#include <fstream>

#include "io/checkpoint_reader.hpp"
#include "io/checkpoint_writer.hpp"
#include "io/file.hpp"
#include "io_files.hpp"
#include "strata.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

using io::CheckpointReader;
using io::CheckpointWriter;

io::NamedTensors small_model(int64_t width = 4) {
  return {{"wte.weight", randn({8, width})},
          {"h.0.ln_1.weight", ones({width})},
          {"h.0.attn.bias", zeros({width}).to(DType::bf16)},
          {"steps", from_vector<int64_t>({3})}};
}

void save(const std::filesystem::path& dir, const std::string& tag, const io::NamedTensors& model,
          bool update_latest = true) {
  CheckpointWriter writer(dir, tag);
  writer.add_tensors("model", model);
  writer.add_section("counters", R"({"global_steps": 10, "global_samples": 80})");
  writer.commit(update_latest);
}

void check_same(const io::NamedTensors& got, const io::NamedTensors& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CAPTURE(want[i].first);
    CHECK(got[i].first == want[i].first);
    CHECK(got[i].second.dtype() == want[i].second.dtype());
    CHECK(got[i].second.shape() == want[i].second.shape());
    CHECK(got[i].second.to_vector<double>() == want[i].second.to_vector<double>());
  }
}

std::vector<std::string> names_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

void flip_bit(const std::filesystem::path& file, uint64_t byte) {
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  stream.seekg(static_cast<std::streamoff>(byte));
  char c = 0;
  stream.read(&c, 1);
  c ^= 0x10;
  stream.seekp(static_cast<std::streamoff>(byte));
  stream.write(&c, 1);
  REQUIRE(stream.good());
}

TEST_CASE("checkpoint round trip: groups, per-rank shards, sections, layout and latest") {
  test::TempDir dir;
  Tensor matrix = randn({3, 5});
  io::NamedTensors model = small_model();
  model.emplace_back("lm_head.weight", matrix.t());  // a view is saved contiguous
  std::map<std::string, Tensor> optimizer = {{"state.0.exp_avg", randn({8, 4})},
                                             {"state.0.step", full({}, 7.0)}};
  io::CheckpointLayout layout{.world_size = 2, .zero_stage = 1, .partitioning = {{"dp", 2}}};
  {
    CheckpointWriter writer(dir.path() / "run", "global_step10", layout);
    writer.add_tensors("model", model);
    writer.add_tensors("optimizer", optimizer, 0);
    writer.add_tensors("optimizer", optimizer, 1);
    writer.add_section("scheduler", R"({"last_epoch": 10, "base_lrs": [0.001]})");
    writer.add_section("rng", R"({"seed": 42, "offset": 4096})", 1);
    CHECK(writer.commit() == dir.path() / "run" / "global_step10");
  }
  CHECK(names_in(dir.path() / "run") == std::vector<std::string>{"global_step10", "latest"});
  CHECK(io::read_file(dir.path() / "run" / "latest", "test") == "global_step10\n");
  CHECK(names_in(dir.path() / "run" / "global_step10") ==
        std::vector<std::string>{"manifest.json", "model.safetensors",
                                 "optimizer.rank0.safetensors", "optimizer.rank1.safetensors",
                                 "rng.rank1.json", "scheduler.json"});

  CheckpointReader reader(dir.path() / "run");  // through `latest`
  CHECK(reader.tag() == "global_step10");
  CHECK(reader.manifest().layout == layout);
  CHECK(reader.manifest().format_version == io::kCheckpointFormatVersion);
  CHECK(reader.verify().empty());
  check_same(reader.read_tensors("model"), model);
  CHECK(reader.has_group("optimizer", 1));
  CHECK_FALSE(reader.has_group("optimizer"));
  check_same(reader.read_tensors("optimizer", 1),
             io::NamedTensors(optimizer.begin(), optimizer.end()));
  CHECK(reader.read_section("scheduler") == R"({"last_epoch": 10, "base_lrs": [0.001]})");
  CHECK(reader.read_section("rng", 1) == R"({"seed": 42, "offset": 4096})");
  CHECK_FALSE(reader.has_section("rng"));

  // Expected tensors come back in the caller's order.
  io::NamedTensors reversed(model.rbegin(), model.rend());
  check_same(reader.read_tensors("model", io::specs_of(reversed)), reversed);

  // The manifest lists every tensor with its dtype and shape, so a mismatch is found unread.
  const io::ManifestEntry* entry = reader.manifest().find(io::EntryKind::tensors, "model", {});
  REQUIRE(entry != nullptr);
  CHECK(entry->tensors == io::specs_of(model));
  CHECK(entry->digest == io::digest_file(reader.path() / "model.safetensors", "test"));
  // The model file is plain safetensors that other tools read.
  CHECK(io::load_safetensors(reader.path() / "model.safetensors").metadata.at("format") == "pt");
}

TEST_CASE("a save by several writers: contributors' shards join the owner's manifest") {
  test::TempDir dir;
  const io::CheckpointLayout layout{.world_size = 2, .zero_stage = 2};
  CheckpointWriter owner(dir.path(), "global_step3", layout);
  CheckpointWriter contributor(dir.path(), "global_step3", layout,
                               CheckpointWriter::Role::contributor);
  const io::NamedTensors shard0 = {{"0.master", randn({6})}};
  const io::NamedTensors shard1 = {{"0.master", randn({6})}};
  owner.add_tensors("optimizer", shard0, 0);
  contributor.add_tensors("optimizer", shard1, 1);
  REQUIRE(contributor.entries().size() == 1);
  CHECK(test::contains(test::error_of([&] { contributor.commit(); }), "its owner commits"));

  io::ManifestEntry wrong = contributor.entries()[0];
  wrong.digest.size += 1;
  const std::string error = test::error_of([&] { owner.add_written(wrong); });
  CHECK(test::contains(error, "group \"optimizer\" of rank 1 should be"));
  CHECK(test::contains(error, "(is DIR on a file system every rank shares?)"));
  owner.add_written(contributor.entries()[0]);
  owner.commit();

  const CheckpointReader reader(dir.path());
  CHECK(reader.verify().empty());
  CHECK(reader.manifest().layout == layout);
  CHECK(reader.read_tensors("optimizer", 1)[0].second.to_vector<float>() ==
        shard1[0].second.to_vector<float>());
  CHECK(reader.open_tensors("optimizer", 0).read("0.master").to_vector<float>() ==
        shard0[0].second.to_vector<float>());
  // A contributor needs the owner's partial directory.
  CHECK(test::contains(test::error_of([&] {
                         CheckpointWriter(dir.path(), "global_step4", layout,
                                          CheckpointWriter::Role::contributor);
                       }),
                       "a contributor writes into the directory its owner created"));
}

TEST_CASE("latest moves to the newest tag; older tags stay loadable; a tag can be saved again") {
  test::TempDir dir;
  io::NamedTensors first = small_model(), second = small_model(), third = small_model();
  save(dir.path(), "global_step1", first);
  save(dir.path(), "global_step2", second);
  CHECK(CheckpointReader(dir.path()).tag() == "global_step2");
  check_same(CheckpointReader(dir.path(), "global_step1").read_tensors("model"), first);
  CHECK(io::checkpoint_tags(dir.path()) ==
        std::vector<std::string>{"global_step1", "global_step2"});

  save(dir.path(), "best", third, /*update_latest=*/false);
  CHECK(CheckpointReader(dir.path()).tag() == "global_step2");

  // Saving an existing tag replaces it whole.
  save(dir.path(), "global_step1", third);
  check_same(CheckpointReader(dir.path()).read_tensors("model"), third);
  CHECK(CheckpointReader(dir.path()).tag() == "global_step1");
  CHECK(names_in(dir.path()) ==
        std::vector<std::string>{"best", "global_step1", "global_step2", "latest"});
}

TEST_CASE("checkpoint errors: missing directory, missing tag, latest naming nothing") {
  test::TempDir dir;
  std::string error = test::error_of([&] { CheckpointReader(dir / "nowhere"); });
  CHECK(test::contains(error, "nowhere"));
  CHECK(test::contains(error, "does not exist"));

  CHECK(test::contains(test::error_of([&] { CheckpointReader(dir.path()); }),
                       "has no \"latest\" file, so no save there has completed"));

  save(dir.path(), "global_step5", small_model());
  save(dir.path(), "global_step9", small_model());
  error = test::error_of([&] { CheckpointReader(dir.path(), "global_step7"); });
  CHECK(test::contains(error, "there is no tag \"global_step7\""));
  CHECK(test::contains(error, "global_step5, global_step9"));

  // A save that crashed leaves a .partial directory: never loaded, named when its tag is asked for.
  std::filesystem::create_directory(dir / "global_step12.partial");
  io::write_file(dir / "global_step12.partial" / "model.safetensors", "half", "test");
  CHECK(test::contains(test::error_of([&] { CheckpointReader(dir.path(), "global_step12"); }),
                       "is left by a save of it that did not finish"));
  CHECK(io::checkpoint_tags(dir.path()) ==
        std::vector<std::string>{"global_step5", "global_step9"});
  save(dir.path(), "global_step12", small_model());  // clears the leftover
  CHECK(CheckpointReader(dir.path()).verify().empty());

  std::filesystem::remove_all(dir / "global_step12");
  error = test::error_of([&] { CheckpointReader(dir.path()); });
  CHECK(test::contains(error, "names tag \"global_step12\""));
  CHECK(test::contains(error, "does not exist"));
  CHECK(test::contains(error, "global_step5, global_step9. Pass a tag"));

  io::write_file(dir / "latest", "../elsewhere\n", "test");
  CHECK(
      test::contains(test::error_of([&] { CheckpointReader(dir.path()); }), "which is not a tag"));

  std::filesystem::remove(dir / "global_step9" / "manifest.json");
  CHECK(test::contains(test::error_of([&] { CheckpointReader(dir.path(), "global_step9"); }),
                       "has no manifest.json, so it is not a complete Strata checkpoint"));
  CHECK(test::contains(
      test::error_of([&] { CheckpointReader(dir.path(), "global_step5").read_section("rng"); }),
      "has no section \"rng\"; it holds: group \"model\", section \"counters\""));
}

TEST_CASE("checkpoint errors: a truncated or bit-flipped file names the file") {
  test::TempDir dir;
  save(dir.path(), "global_step1", small_model());
  save(dir.path(), "global_step2", small_model());
  const std::filesystem::path model = dir / "global_step2" / "model.safetensors";
  uint64_t size = std::filesystem::file_size(model);

  flip_bit(model, size - 3);  // in the tensor data, where the safetensors reader cannot see it
  CheckpointReader reader(dir.path());
  std::string error = test::error_of([&] { reader.read_tensors("model"); });
  CHECK(test::contains(error, model.string()));
  CHECK(test::contains(error, "fails its CRC-32 check"));
  CHECK(test::contains(error, "Load an earlier tag"));
  REQUIRE(reader.verify().size() == 1);
  CHECK(test::contains(reader.verify()[0], "model.safetensors"));
  CHECK(reader.read_section("counters") == R"({"global_steps": 10, "global_samples": 80})");

  std::filesystem::resize_file(model, size - 100);
  error = test::error_of([&] { reader.read_tensors("model"); });
  CHECK(test::contains(error, "the file is truncated"));
  CHECK(test::contains(error, model.string()));

  std::filesystem::remove(model);
  CHECK(test::contains(reader.verify()[0], "is missing"));

  const std::filesystem::path counters = dir / "global_step1" / "counters.json";
  flip_bit(counters, 3);
  CHECK(test::contains(test::error_of([&] {
                         CheckpointReader(dir.path(), "global_step1").read_section("counters");
                       }),
                       "counters.json\" fails its CRC-32 check"));

  io::write_file(dir / "global_step1" / "manifest.json", "{\"format\": \"strata-checkpoint\"}",
                 "test");
  CHECK(test::contains(test::error_of([&] { CheckpointReader(dir.path(), "global_step1"); }),
                       "lacks \"format_version\""));
  io::write_file(dir / "global_step1" / "manifest.json",
                 "{\"format\": \"strata-checkpoint\", \"format_version\": 99}", "test");
  CHECK(test::contains(test::error_of([&] { CheckpointReader(dir.path(), "global_step1"); }),
                       "format version 99"));
}

TEST_CASE("checkpoint errors: a manifest from another model lists every mismatch") {
  test::TempDir dir;
  save(dir.path(), "global_step1", small_model(4));
  io::NamedTensors other = small_model(6);           // wte and ln_1 differ in shape
  other[2].second = zeros({4});                      // h.0.attn.bias: bf16 saved, f32 expected
  other.erase(other.begin() + 3);                    // no "steps"
  other.emplace_back("h.1.ln_1.weight", ones({6}));  // not in the checkpoint
  std::string error = test::error_of(
      [&] { CheckpointReader(dir.path()).read_tensors("model", io::specs_of(other)); });
  CHECK(test::contains(error, "does not match the tensors it is loaded into"));
  CHECK(test::contains(error, "missing from the checkpoint (1):\n    h.1.ln_1.weight [6] F32"));
  CHECK(test::contains(error, "in the checkpoint but not expected (1):\n    steps [1] I64"));
  CHECK(test::contains(error,
                       "shape mismatch (2):\n    wte.weight is [8, 4] in the checkpoint, "
                       "[8, 6] expected\n    h.0.ln_1.weight is [4] in the checkpoint, [6] "
                       "expected"));
  CHECK(test::contains(error,
                       "dtype mismatch (1):\n    h.0.attn.bias is BF16 in the checkpoint, "
                       "F32 expected"));
}

TEST_CASE("checkpoint writer rejects bad names, sections and misuse") {
  test::TempDir dir;
  CHECK(test::contains(test::error_of([&] { CheckpointWriter(dir.path(), "latest"); }),
                       "cannot be a checkpoint tag"));
  CHECK(test::contains(test::error_of([&] { CheckpointWriter(dir.path(), "a/b"); }),
                       "cannot be a checkpoint tag"));
  CHECK(test::contains(test::error_of([&] { CheckpointWriter(dir.path(), "x.partial"); }),
                       "cannot be a checkpoint tag"));
  CheckpointWriter writer(dir.path(), "t");
  CHECK(test::contains(test::error_of([&] { writer.add_tensors("model.v2", small_model()); }),
                       "cannot name a tensor group or JSON section"));
  CHECK(test::contains(test::error_of([&] { writer.add_section("client", "[1, 2]"); }),
                       "is not a JSON object"));
  CHECK(test::contains(test::error_of([&] { writer.add_section("client", "{\"a\": "); }),
                       "is not a JSON object"));
  writer.add_section("client", "{}");
  CHECK(test::contains(test::error_of([&] { writer.add_section("client", "{}"); }),
                       "was added twice"));
  CHECK(test::contains(test::error_of([&] {
                         writer.add_tensors("model", io::NamedTensors{{"w", Tensor()}});
                       }),
                       "tensor \"w\" of group \"model\" is undefined"));
  writer.commit();
  CHECK(test::contains(test::error_of([&] { writer.commit(); }), "committed twice"));
  CHECK(CheckpointReader(dir.path()).verify().empty());
}

TEST_CASE("a disk-full save fails clearly and leaves the previous checkpoint loadable") {
  test::TempDir dir;
  io::NamedTensors model = small_model();
  save(dir.path(), "global_step1", model);
  const auto before = names_in(dir.path());

  SUBCASE("the disk fills while a tensor file is written") {
    std::string error;
    {
      test::FileSizeLimit limit(64 << 10);
      CheckpointWriter writer(dir.path(), "global_step2");
      writer.add_section("counters", R"({"global_steps": 20})");
      error = test::error_of([&] {
        writer.add_tensors("model", io::NamedTensors{{"big", zeros({1 << 16})}});
      });
    }
    CHECK(test::contains(error, "writing group \"model\" of tag \"global_step2\" failed"));
    CHECK(test::contains(error, "the previous checkpoints in"));
    CHECK(test::contains(error, "File too large"));
  }
  SUBCASE("the disk fills while the manifest is written, after every tensor file") {
    // Four groups of 400 scalars: each file is about 25 KB, their manifest about 80 KB.
    std::string error;
    {
      test::FileSizeLimit limit(48 << 10);
      CheckpointWriter writer(dir.path(), "global_step2");
      for (const char* group : {"a", "b", "c", "d"}) {
        io::NamedTensors scalars;
        for (int i = 0; i < 400; ++i) scalars.emplace_back("t" + std::to_string(i), full({}, i));
        writer.add_tensors(group, scalars);
      }
      error = test::error_of([&] { writer.commit(); });
    }
    CHECK(test::contains(error, "tag \"global_step2\" was not saved; the previous checkpoints in"));
    CHECK(test::contains(error, "manifest.json"));
  }
  // No trace of the failed save; the previous checkpoint is intact and `latest` names it.
  CHECK(names_in(dir.path()) == before);
  CheckpointReader reader(dir.path());
  CHECK(reader.tag() == "global_step1");
  CHECK(reader.verify().empty());
  check_same(reader.read_tensors("model"), model);
}

}  // namespace
}  // namespace strata
