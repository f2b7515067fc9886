// Writes the checkpoints that check_strata_ckpt.cmake runs `strata-ckpt inspect` on:
// OUT/good (tags global_step2 and global_step4, the latest) and OUT/damaged (the same, with one
// bit of global_step4/model.safetensors flipped).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "io/checkpoint_writer.hpp"
#include "strata.hpp"

namespace {

using namespace strata;

void save(const std::filesystem::path& dir, int step) {
  io::CheckpointWriter writer(dir, "global_step" + std::to_string(step));
  writer.add_tensors("model", io::NamedTensors{{"wte.weight", randn({16, 8})},
                                               {"h.0.ln_1.weight", ones({8})},
                                               {"h.0.ln_1.bias", zeros({8}).to(DType::bf16)}});
  writer.add_tensors("optimizer", io::NamedTensors{{"state.0.exp_avg", zeros({16, 8})}}, 0);
  writer.add_section("counters", "{\"global_steps\": " + std::to_string(step) +
                                     ", \"global_samples\": " + std::to_string(8 * step) + "}");
  writer.add_section("config", R"({"train_batch_size": 8, "optimizer": {"type": "AdamW"}})");
  writer.add_section("rng", R"({"seed": 1234, "offset": 4096})", 0);
  writer.commit();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_test_checkpoints OUT\n");
    return 2;
  }
  const std::filesystem::path out = argv[1];
  std::filesystem::remove_all(out);
  for (const char* name : {"good", "damaged"}) {
    save(out / name, 2);
    save(out / name, 4);
  }
  // One flipped bit in the last byte of the tensor data.
  std::fstream model(out / "damaged" / "global_step4" / "model.safetensors",
                     std::ios::in | std::ios::out | std::ios::binary | std::ios::ate);
  std::streamoff last = model.tellg() - std::streamoff{1};
  char byte = 0;
  model.seekg(last).read(&byte, 1);
  byte ^= 0x01;
  model.seekp(last).write(&byte, 1);
  return model.good() ? 0 : 1;
}
