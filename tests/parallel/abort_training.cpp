// A data-parallel training job (an MLP through strata::initialize, the engine averaging gradients
// over the world group) in which rank 2 fails at step 3 while the others go on into that step's
// gradient reduction. How it fails is the argument:
//   throw   an exception escapes main: dist::init's terminate handler aborts the job
//   kill    the process dies of SIGKILL: mpirun sees it and ends the job
//   return  main catches the error and returns 1: the group's destructors run while the other
//           ranks wait in its collective, so they must not wait for them (the group is abandoned)
// Each must end the whole job within seconds with a non-zero status and a message naming rank 2
// (tests/parallel/CMakeLists.txt checks both with expect_abort.cmake).
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "parallel/mpi_process_group.hpp"
#include "strata.hpp"

namespace {

using namespace strata;

constexpr int kFailingRank = 2, kFailingStep = 3, kSteps = 10, kMicroBatch = 4;

void train(const char* mode) {
  auto group = dist::MpiProcessGroup::create_world();
  // A collective large enough for the shared-memory path: the group now holds a window, whose
  // collective MPI_Win_free would wait for the other ranks if the group were freed on failure.
  group->allreduce(zeros({int64_t{1} << 17}));
  manual_seed(7);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(8, 3)});
  const int64_t examples = int64_t{kMicroBatch} * group->size() * kSteps;
  Generator gen(11);
  auto data = std::make_shared<io::TensorDataset>(randn({examples, 4}, {}, gen),
                                                  randint(0, 3, {examples}, DType::i64, gen));
  io::Config config;
  config.train_micro_batch_size_per_gpu = kMicroBatch;
  config.optimizer.type = "SGD";
  config.optimizer.params.lr = 0.1;
  config.steps_per_print = 1000;
  auto [engine, optimizer, loader, scheduler] =
      initialize(config, model, {.dataset = data, .group = group});
  for (int step = 0; step < kSteps; ++step) {
    std::optional<io::Example> batch = loader->next();
    Tensor loss = nn::functional::cross_entropy(engine(batch->inputs), batch->targets);
    if (dist::rank() == kFailingRank && step == kFailingStep) {
      if (std::strcmp(mode, "kill") == 0) std::raise(SIGKILL);
      if (std::strcmp(mode, "throw") == 0)
        throw std::runtime_error("rank 2 fails at step 3 on purpose");
      fail("rank 2 fails at step 3 on purpose");
    }
    engine.backward(loss);
    engine.step();
  }
}

}  // namespace

int main(int argc, char** argv) {
  dist::InitGuard guard;
  const char* mode = argc > 1 ? argv[1] : "throw";
  if (std::strcmp(mode, "return") != 0) {
    train(mode);
    return 0;
  }
  try {
    train(mode);
  } catch (const Error& e) {
    std::fprintf(stderr, "abort_training: rank %d: %s\n", dist::rank(), e.what());
    return 1;
  }
  return 0;
}
