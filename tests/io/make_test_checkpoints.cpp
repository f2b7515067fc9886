// Writes the checkpoints that check_strata_ckpt.cmake runs `strata-ckpt` on: OUT/good (tags
// global_step2 and global_step4, the latest) and OUT/damaged (the same, with one bit of
// global_step4/model.safetensors flipped), written by CheckpointWriter; OUT/engine, an engine's
// stage-0 checkpoint of a bf16 MLP after 2 Adam steps, and OUT/engine_fp32.safetensors, what
// `to-fp32` must write for it: the optimizer's f32 master of each parameter, by module name.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "io/checkpoint_writer.hpp"
#include "strata.hpp"
#include "zero/from_config.hpp"

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

void save_engine(const std::filesystem::path& out) {
  manual_seed(3);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(8, 3)});
  io::Config config;
  config.train_micro_batch_size_per_gpu = 4;
  config.optimizer.type = "Adam";
  config.bf16.enabled = true;
  config.steps_per_print = 1000;
  auto optimizer = zero::make_optimizer(config.resolve(1), model->parameters());
  zero::Engine engine(config.resolve(1), model, optimizer, nullptr);
  for (int step = 0; step < 2; ++step) {
    Tensor logits = engine(randn({4, 4}).to(DType::bf16));
    engine.backward(nn::functional::cross_entropy(logits, from_vector<int64_t>({0, 1, 2, 1})));
    engine.step();
  }
  engine.save_checkpoint(out / "engine");
  // The optimizer's entries are the model's parameters in order, each with its f32 master.
  const optim::StateDict state = optimizer->state_dict();
  io::NamedTensors masters;
  const nn::OrderedDict<Tensor> named = model->named_parameters();
  for (size_t i = 0; i < named.size(); ++i)
    masters.emplace_back(named.items()[i].first,
                         state.tensors.at("state." + std::to_string(i) + ".master"));
  io::save_safetensors(out / "engine_fp32.safetensors", masters, {{"format", "pt"}});
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
  save_engine(out);
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
