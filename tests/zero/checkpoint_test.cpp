// Engine checkpoints: training 20 steps equals training 10, saving, loading into a fresh engine
// (another model initialisation, another RNG state) and training 10 more, bit for bit in f32 —
// with dropout, a shuffling data loader, fp16 loss scaling, Adam and an LR schedule. Also
// client state, load_module_only, and the errors of a save inside an accumulation window.
#include <doctest/doctest.h>

#include <filesystem>
#include <vector>

#include "engine_test_support.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

using namespace engine_test;

std::shared_ptr<nn::Sequential> dropout_mlp(uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 16), std::make_shared<nn::Dropout>(0.2),
      std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(16, 3)});
}

io::Config resume_config(bool fp16) {
  io::Config config;
  config.train_micro_batch_size_per_gpu = 4;
  config.gradient_accumulation_steps = 2;
  config.optimizer.type = "Adam";
  config.optimizer.params.lr = 1e-2;
  config.scheduler.type = "WarmupDecayLR";
  config.scheduler.params.total_num_steps = 20;
  config.scheduler.params.warmup_num_steps = 5;
  config.scheduler.params.warmup_max_lr = 1e-2;
  config.gradient_clipping = 1.0;
  config.steps_per_print = 1000;
  config.fp16.enabled = fp16;
  config.fp16.initial_scale_power = 8;
  config.fp16.loss_scale_window = 3;  // the scale grows during the run: its state must resume
  config.seed = 5;
  return config;
}

struct Trainer {
  std::ostringstream log;
  strata::Initialized run;

  Trainer(bool fp16, uint64_t model_seed, const io::Example& data)
      : run(initialize(resume_config(fp16), dropout_mlp(model_seed),
                       {.dataset = std::make_shared<io::TensorDataset>(data.inputs, data.targets),
                        .log = {.out = &log}})) {}

  // Trains `steps` optimizer steps; the f32 loss of every micro-step.
  std::vector<float> train(int64_t steps) {
    std::vector<float> losses;
    zero::Engine& engine = run.engine;
    const DType dtype = engine.flat_parameters().buffers()[0].params.dtype();
    for (int64_t i = 0; i < steps * engine.gradient_accumulation_steps(); ++i) {
      std::optional<io::Example> batch = run.loader->next();
      if (!batch) batch = run.loader->next();  // the next epoch
      Tensor logits = engine(batch->inputs.to(dtype));
      Tensor loss = nn::functional::cross_entropy(logits, batch->targets);
      losses.push_back(engine.backward(loss).item<float>());
      engine.step();
    }
    return losses;
  }
};

std::filesystem::path fresh_dir(const char* name) {
  auto dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(dir);
  return dir;
}

void check_exact_resume(bool fp16) {
  io::Example data = make_data(36, 4);  // 9 micro-batches per epoch: epochs end mid-step
  const auto dir = fresh_dir(fp16 ? "strata_engine_resume_fp16" : "strata_engine_resume_f32");

  Trainer straight(fp16, 1, data);
  std::vector<float> expected = straight.train(20);
  std::vector<Tensor> expected_weights = copies(straight.run.engine.module().parameters());

  std::vector<float> resumed;
  {
    Trainer first(fp16, 1, data);
    resumed = first.train(10);
    first.run.engine.save_checkpoint(dir, {}, R"({"epoch_note": "ten steps"})");
  }
  Trainer second(fp16, 99, data);  // other weights, and the generator moved on by initialisation
  zero::LoadedCheckpoint loaded = second.run.engine.load_checkpoint(dir);
  CHECK(loaded.path == dir / "global_step10");
  CHECK(test::contains(loaded.client_state, "ten steps"));
  CHECK(second.run.engine.global_steps() == 10);
  CHECK(second.run.engine.global_samples() == 80);
  std::vector<float> rest = second.train(10);
  resumed.insert(resumed.end(), rest.begin(), rest.end());

  CHECK(resumed == expected);  // bit for bit
  CHECK(max_difference(second.run.engine.module().parameters(), expected_weights) == 0);
  CHECK(second.run.engine.loss_scale() == straight.run.engine.loss_scale());
  if (fp16) CHECK(straight.run.engine.loss_scale() > 256);  // it grew: its state had to resume
  CHECK(second.run.engine.get_lr() == straight.run.engine.get_lr());
  CHECK(second.run.optimizer->fused(0));
  std::filesystem::remove_all(dir);
}

TEST_CASE("resume is exact: 20 steps = 10 + save + load into a fresh engine + 10 (f32)") {
  check_exact_resume(false);
}

TEST_CASE("resume is exact with fp16 loss scaling") { check_exact_resume(true); }

TEST_CASE("load_module_only loads the weights alone; saving mid-window is an error") {
  io::Example data = make_data(16, 2);
  const auto dir = fresh_dir("strata_engine_module_only");
  Trainer trained(false, 1, data);
  trained.train(3);
  trained.run.engine.save_checkpoint(dir, "mine");

  Trainer other(false, 2, data);
  other.run.engine.load_checkpoint(dir, "mine", {.load_module_only = true});
  CHECK(max_difference(other.run.engine.module().parameters(),
                       trained.run.engine.module().parameters()) == 0);
  CHECK(other.run.engine.global_steps() == 0);
  CHECK(other.run.optimizer->state_dict().tensors.empty());

  std::optional<io::Example> batch = other.run.loader->next();
  other.run.engine.backward(
      nn::functional::cross_entropy(other.run.engine(batch->inputs), batch->targets));
  other.run.engine.step();  // micro-step 1 of 2
  CHECK(test::contains(test::error_of([&] { other.run.engine.save_checkpoint(dir); }),
                       "inside an accumulation window"));
  CHECK(test::contains(test::error_of([&] { other.run.engine.load_checkpoint(dir, "nothing"); }),
                       "nothing"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a checkpoint of another model: the error lists the names and shapes") {
  io::Example data = make_data(16, 2);
  const auto dir = fresh_dir("strata_engine_other_model");
  Trainer trained(false, 1, data);
  trained.train(1);
  trained.run.engine.save_checkpoint(dir);

  std::ostringstream log;
  auto other = initialize(resume_config(false), make_mlp(1), {.log = {.out = &log}});
  const std::string error = test::error_of([&] { other.engine.load_checkpoint(dir); });
  CHECK(test::contains(error, "0.weight"));
  CHECK(test::contains(error, "[8, 4]"));
  CHECK(test::contains(error, "[16, 4]"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace strata
