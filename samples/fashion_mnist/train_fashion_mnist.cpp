// Trains image classifiers on Fashion-MNIST (Debian's dataset-fashion-mnist): an MLP and a small
// CNN (two conv + batch-norm + pooling stages), each through the engine with a DeepSpeed config
// (samples/fashion_mnist/ds_config.json: Adam, a linearly decaying lr, the data loader's batch
// size and seed), reporting per epoch the training loss, the test accuracy and the time taken.
// Metrics go to a JSON Lines file (and a PNG with --plot).
// --device cuda trains on the GPU: each step's images are gathered on the host and copied over
// once; the only other wait for the device is reading the step's loss for the progress line.
#include <cstdio>
#include <filesystem>

#include "samples/common/device_flags.hpp"
#include "samples/common/engine_config.hpp"
#include "samples/common/weights.hpp"
#include "strata.hpp"

using namespace strata;

namespace {

struct Options {
  std::string config = STRATA_SAMPLES_DIR "/fashion_mnist/ds_config.json";
  std::string model = "both";  // mlp, cnn or both
  std::string data = std::string(io::kFashionMnistDir);
  std::string out = "runs/fashion_mnist";
  std::string device = "cpu";
  int64_t mlp_epochs = 10, cnn_epochs = 6;
  int64_t batch = 0;  // 0: the config's train_micro_batch_size_per_gpu
  int threads = 0;
  bool plot = false;
};

io::CommandLine command_line(Options& o) {
  io::CommandLine cli("train_fashion_mnist",
                      "Trains an MLP and a small CNN on Fashion-MNIST; prints the training loss "
                      "and test accuracy per epoch and writes metrics and weights to --out.");
  cli.flag("config", o.config, "DeepSpeed-style config (JSON or YAML): optimizer, schedule, ...");
  cli.flag("model", o.model, "mlp, cnn or both");
  cli.flag("data", o.data, "directory of the IDX files (Debian package dataset-fashion-mnist)");
  cli.flag("out", o.out, "output directory: metrics.jsonl, <model>.safetensors, accuracy.png");
  cli.flag("device", o.device, "cpu, cuda or cuda:N");
  cli.flag("mlp-epochs", o.mlp_epochs, "epochs for the MLP");
  cli.flag("cnn-epochs", o.cnn_epochs, "epochs for the CNN");
  cli.flag("batch", o.batch, "images per micro-step, over the config's micro-batch size");
  cli.flag("threads", o.threads, "CPU threads (0: OpenMP's default)");
  cli.flag("plot", o.plot, "also write accuracy.png");
  return cli;
}

// Fraction of test images whose largest logit is their label.
double test_accuracy(nn::Module& model, const io::FashionMnist& test, Device device) {
  autograd::NoGradGuard no_grad;
  model.eval();
  constexpr int64_t kBatch = 1000;
  const int64_t n = test.images.size(0);
  Tensor correct = zeros({}, {DType::i64, device});  // counted on the device: one read at the end
  for (int64_t begin = 0; begin < n; begin += kBatch) {
    int64_t length = std::min(kBatch, n - begin);
    Tensor logits = model(test.images.narrow(0, begin, length).to(device));
    Tensor labels = test.labels.narrow(0, begin, length).to(device);
    correct = correct + sum(eq(argmax(logits, 1), labels));  // sum of bools: i64
  }
  model.train();
  return static_cast<double>(correct.item<int64_t>()) / static_cast<double>(n);
}

double train(const std::string& name, const std::shared_ptr<nn::Module>& model, int64_t epochs,
             io::Config config, const Options& o, const io::FashionMnist& train_set,
             const io::FashionMnist& test_set, Device device, io::MetricsLog& metrics) {
  model->to(device);
  std::printf("%s: %lld parameters\n", name.c_str(),
              static_cast<long long>(model->num_parameters()));
  // The schedule decays over this model's run.
  const io::Config resolved = config.resolve();
  const int64_t images = train_set.images.size(0), micro = *resolved.train_micro_batch_size_per_gpu;
  const int64_t batches =
      config.dataloader_drop_last ? images / micro : (images + micro - 1) / micro;
  const int64_t steps = epochs * (batches / *resolved.gradient_accumulation_steps);
  if (config.scheduler.type == "WarmupDecayLR" || config.scheduler.type == "WarmupCosineLR")
    config.scheduler.params.total_num_steps = std::max<int64_t>(steps, 1);
  auto [engine, optimizer, loader, scheduler] = initialize(
      config, model,
      {.dataset = std::make_shared<io::TensorDataset>(train_set.images, train_set.labels),
       .log = {.total_steps = steps}});
  double accuracy = 0;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    double loss_sum = 0;
    int64_t micro_steps = 0;
    for (const io::Example& batch : *loader) {  // one epoch
      Tensor loss =
          nn::functional::cross_entropy(engine(batch.inputs.to(device)), batch.targets.to(device));
      loss_sum += engine.backward(loss).item<double>();
      engine.step();
      ++micro_steps;
    }
    engine.finish_log_line();
    double train_loss = loss_sum / static_cast<double>(micro_steps);
    accuracy = test_accuracy(*model, test_set, device);
    std::printf("%s epoch %lld: train loss %.4f, test accuracy %.2f%%\n", name.c_str(),
                static_cast<long long>(epoch + 1), train_loss, 100 * accuracy);
    metrics.write({{"model", name},
                   {"epoch", epoch + 1},
                   {"train_loss", train_loss},
                   {"test_accuracy", accuracy}});
  }
  samples::save_weights(*model, std::filesystem::path(o.out) / (name + ".safetensors"));
  return accuracy;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  command_line(o).parse(argc, argv);
  try {
    STRATA_CHECK(o.model == "mlp" || o.model == "cnn" || o.model == "both",
                 "--model must be mlp, cnn or both, got ", o.model);
    const Device device = samples::select_device(o.device);
    if (o.threads > 0) set_num_threads(o.threads);
    const io::Config config = samples::load_sample_config(o.config, "", o.batch);
    std::filesystem::create_directories(o.out);
    io::FashionMnist train_set = io::load_fashion_mnist(io::Split::train, o.data);
    io::FashionMnist test_set = io::load_fashion_mnist(io::Split::test, o.data);
    std::printf("Fashion-MNIST: %lld training and %lld test images\n",
                static_cast<long long>(train_set.images.size(0)),
                static_cast<long long>(test_set.images.size(0)));
    io::MetricsLog metrics(std::filesystem::path(o.out) / "metrics.jsonl");
    manual_seed(static_cast<uint64_t>(config.seed));
    if (o.model != "cnn") {
      auto mlp = std::make_shared<nn::MLPClassifier>(28 * 28, std::vector<int64_t>{512, 256}, 10,
                                                     /*dropout=*/0.2);
      train("mlp", mlp, o.mlp_epochs, config, o, train_set, test_set, device, metrics);
    }
    if (o.model != "mlp") {
      train("cnn", std::make_shared<nn::CNNClassifier>(), o.cnn_epochs, config, o, train_set,
            test_set, device, metrics);
    }
    if (o.plot) {
      auto png = std::filesystem::path(o.out) / "accuracy.png";
      io::plot_metrics_png(metrics.path(), png, "epoch", {"test_accuracy"},
                           {.title = "Fashion-MNIST test accuracy"});
      std::printf("plot: %s\n", png.c_str());
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "train_fashion_mnist: %s\n", e.what());
    return 1;
  }
}
