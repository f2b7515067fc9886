// nn::Module: registration and naming, modes, conversion, zero_grad, state dicts, hooks, printout.
#include <doctest/doctest.h>

#include <sstream>

#include "strata.hpp"
#include "test_support.hpp"

namespace strata::nn {
namespace {

// A module with its own parameter, a buffer and a submodule, registered in that order.
struct Block : Module {
  Block() : Module("Block") {
    scale = register_parameter("scale", ones({3}));
    fc = register_module("fc", std::make_shared<Linear>(2, 3));
    steps = register_buffer("steps", zeros({1}, DType::i64));
  }
  Tensor forward(const Tensor& x) override { return (*fc)(x)*scale; }
  Tensor scale, steps;
  std::shared_ptr<Linear> fc;
};

struct Net : Module {
  Net() : Module("Net") {
    blocks = register_module(
        "blocks", std::make_shared<ModuleList>(std::initializer_list<std::shared_ptr<Module>>{
                      std::make_shared<Block>(), std::make_shared<Block>()}));
    head = register_module("head", std::make_shared<Linear>(3, 1, false));
    offset = register_parameter("offset", zeros({1}));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    h = (*blocks->at<Block>(0))(h);
    h = (*blocks->at<Block>(1))(h.narrow(-1, 0, 2));
    return (*head)(h) + offset;
  }
  std::shared_ptr<ModuleList> blocks;
  std::shared_ptr<Linear> head;
  Tensor offset;
};

TEST_CASE("names are dotted and in registration order, own entries first") {
  Net net;
  CHECK(net.named_parameters().keys() ==
        std::vector<std::string>{"offset", "blocks.0.scale", "blocks.0.fc.weight",
                                 "blocks.0.fc.bias", "blocks.1.scale", "blocks.1.fc.weight",
                                 "blocks.1.fc.bias", "head.weight"});
  CHECK(net.named_parameters(/*recurse=*/false).keys() == std::vector<std::string>{"offset"});
  CHECK(net.named_buffers().keys() == std::vector<std::string>{"blocks.0.steps", "blocks.1.steps"});
  CHECK(net.named_modules().keys() == std::vector<std::string>{"", "blocks", "blocks.0",
                                                               "blocks.0.fc", "blocks.1",
                                                               "blocks.1.fc", "head"});
  CHECK(net.named_modules().at("blocks.1.fc") == net.blocks->at<Block>(1)->fc.get());
  CHECK(net.children().size() == 2);
  CHECK(net.named_children().keys() == std::vector<std::string>{"blocks", "head"});
  CHECK(net.parameters().size() == 8);
  CHECK(net.num_parameters() == 1 + 2 * (3 + 6 + 3) + 3);
  CHECK(net.named_parameters().at("head.weight").is_same(net.head->weight));
  for (const Tensor& p : net.parameters()) CHECK(p.requires_grad());
  CHECK_FALSE(net.blocks->at<Block>(0)->steps.requires_grad());
}

TEST_CASE("registration errors name the module and the problem") {
  Block block;
  CHECK(test::contains(test::error_of([&] { block.register_parameter("scale", ones({1})); }),
                       "already taken"));
  CHECK(test::contains(test::error_of([&] { block.register_buffer("fc", ones({1})); }),
                       "already taken"));
  CHECK(test::contains(test::error_of([&] { block.register_parameter("a.b", ones({1})); }),
                       "contain no '.'"));
  CHECK(test::contains(test::error_of([&] { block.register_parameter("", ones({1})); }),
                       "non-empty"));
  CHECK(test::contains(test::error_of([&] { block.register_parameter("u", Tensor()); }),
                       "undefined"));
  CHECK(test::contains(
      test::error_of([&] { block.register_module("m", std::shared_ptr<Module>()); }), "null"));
  CHECK(test::contains(test::error_of([&] { ModuleList().forward(ones({1})); }),
                       "ModuleList::forward"));
  CHECK(test::contains(test::error_of([&] { ModuleList().at<Linear>(0); }), "out of range"));
  CHECK(test::contains(test::error_of([&] { Net().blocks->at<Linear>(0); }), "is a Block"));
  Tensor frozen = ones({2});
  block.register_parameter("frozen", frozen, /*requires_grad=*/false);
  CHECK_FALSE(frozen.requires_grad());
}

TEST_CASE("a tensor registered twice (tied weights) is one parameter") {
  auto a = std::make_shared<Linear>(4, 4);
  Module holder("Holder");
  holder.register_parameter("w", a->weight);
  auto inner = holder.register_module("inner", std::make_shared<Linear>(4, 4));
  inner->weight = a->weight;  // a member handle only: not registered, not listed
  CHECK(holder.named_parameters().keys() ==
        std::vector<std::string>{"w", "inner.weight", "inner.bias"});
  Module twice("Twice");
  twice.register_parameter("first", a->weight);
  twice.register_parameter("second", a->weight);
  CHECK(twice.named_parameters().keys() == std::vector<std::string>{"first"});
  CHECK(twice.num_parameters() == 16);
  CHECK(twice.state_dict().keys() == std::vector<std::string>{"first", "second"});
}

TEST_CASE("train and eval reach every descendant") {
  Net net;
  CHECK(net.is_training());
  net.eval();
  for (auto& [name, module] : net.named_modules()) CHECK_FALSE(module->is_training());
  net.blocks->train();
  CHECK_FALSE(net.is_training());
  CHECK(net.blocks->at<Block>(1)->fc->is_training());
  net.train();
  for (auto& [name, module] : net.named_modules()) CHECK(module->is_training());
}

TEST_CASE("to(dtype) converts floating tensors in place: member handles stay valid") {
  Net net;
  Tensor weight = net.head->weight;  // a handle taken before the conversion
  Tensor x = randn({5, 2});
  sum(net(x)).backward();
  std::vector<double> before = weight.to_vector<double>();
  std::vector<double> grad_before = weight.grad().to_vector<double>();
  net.to(DType::f64);
  CHECK(weight.dtype() == DType::f64);
  CHECK(net.head->weight.dtype() == DType::f64);
  CHECK(net.named_parameters().at("head.weight").is_same(weight));
  CHECK(weight.to_vector<double>() == before);
  CHECK(weight.requires_grad());
  CHECK(weight.grad().dtype() == DType::f64);
  CHECK(weight.grad().to_vector<double>() == grad_before);
  CHECK(net.blocks->at<Block>(0)->steps.dtype() == DType::i64);  // integer buffers keep theirs

  net.zero_grad();
  Tensor y = net(x.to(DType::f64));
  CHECK(y.dtype() == DType::f64);
  sum(y).backward();
  CHECK(weight.grad().dtype() == DType::f64);
  CHECK(net.blocks->at<Block>(0)->fc->bias.grad().defined());
  net.to(Device::cpu());
  CHECK(weight.device() == Device::cpu());
  CHECK(test::contains(test::error_of([&] { net.to(DType::i32); }), "floating dtype"));
}

TEST_CASE("zero_grad fills with zeros or clears to undefined") {
  Net net;
  sum(net(randn({3, 2}))).backward();
  for (const Tensor& p : net.parameters()) REQUIRE(p.grad().defined());
  net.zero_grad(/*set_to_none=*/false);
  for (const Tensor& p : net.parameters()) {
    REQUIRE(p.grad().defined());
    CHECK(sum(abs(p.grad())).item<double>() == 0);
  }
  net.zero_grad();
  for (const Tensor& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("state_dict round trip: parameters and buffers by name") {
  manual_seed(1);
  Net source;
  source.blocks->at<Block>(1)->steps.fill_(7);
  manual_seed(2);
  Net target;
  OrderedDict<Tensor> dict = source.state_dict();
  CHECK(dict.keys() ==
        std::vector<std::string>{"offset", "blocks.0.scale", "blocks.0.steps", "blocks.0.fc.weight",
                                 "blocks.0.fc.bias", "blocks.1.scale", "blocks.1.steps",
                                 "blocks.1.fc.weight", "blocks.1.fc.bias", "head.weight"});
  CHECK_FALSE(dict.at("head.weight").requires_grad());
  LoadStateDictResult result = target.load_state_dict(dict);
  CHECK(result.missing_keys.empty());
  CHECK(result.unexpected_keys.empty());
  for (const auto& [name, tensor] : target.state_dict()) {
    CHECK_MESSAGE(tensor.to_vector<double>() == dict.at(name).to_vector<double>(), name);
  }
  // Loaded by copy: the target's tensors are its own, and still parameters.
  CHECK_FALSE(target.head->weight.storage().data() == source.head->weight.storage().data());
  CHECK(target.head->weight.requires_grad());
  Tensor x = randn({4, 2});
  CHECK(target(x).to_vector<float>() == source(x).to_vector<float>());

  // A state dict of another dtype converts on load.
  Net f64_net;
  f64_net.to(DType::f64);
  f64_net.load_state_dict(dict);
  CHECK(f64_net.head->weight.dtype() == DType::f64);
  CHECK(f64_net.head->weight.to_vector<float>() == source.head->weight.to_vector<float>());
}

TEST_CASE("load_state_dict lists every missing, unexpected and mis-shaped key at once") {
  Net net;
  std::vector<float> before = net.head->weight.to_vector<float>();
  OrderedDict<Tensor> dict;
  for (const auto& [name, tensor] : net.state_dict()) {
    if (name == "blocks.0.scale" || name == "blocks.1.steps") continue;  // missing
    if (name == "head.weight") {
      dict.insert(name, zeros({2, 3}));  // mis-shaped
    } else {
      dict.insert(name, zeros_like(tensor));
    }
  }
  dict.insert("blocks.2.scale", zeros({3}));  // unexpected
  dict.insert("extra", zeros({1}));           // unexpected
  std::string message = test::error_of([&] { net.load_state_dict(dict); });
  CHECK(test::contains(message, "Net::load_state_dict: nothing was loaded"));
  CHECK(test::contains(message, "missing keys (2): blocks.0.scale, blocks.1.steps"));
  CHECK(test::contains(message, "unexpected keys (2): blocks.2.scale, extra"));
  CHECK(test::contains(message,
                       "mis-shaped keys (1): head.weight (checkpoint [2, 3], model [1, 3])"));
  CHECK(test::contains(message, "strict = false"));
  CHECK(net.head->weight.to_vector<float>() == before);
  CHECK(sum(abs(net.blocks->at<Block>(0)->fc->bias)).item<double>() > 0);

  // Not strict: missing and unexpected keys are returned, but a mis-shaped key is still an error.
  message = test::error_of([&] { net.load_state_dict(dict, /*strict=*/false); });
  CHECK(test::contains(message, "mis-shaped keys (1): head.weight"));
  CHECK_FALSE(test::contains(message, "missing"));
  OrderedDict<Tensor> fitting;
  for (const auto& [name, tensor] : dict) {
    if (name != "head.weight") fitting.insert(name, tensor);
  }
  LoadStateDictResult result = net.load_state_dict(fitting, /*strict=*/false);
  CHECK(result.missing_keys ==
        std::vector<std::string>{"blocks.0.scale", "blocks.1.steps", "head.weight"});
  CHECK(result.unexpected_keys == std::vector<std::string>{"blocks.2.scale", "extra"});
  CHECK(sum(abs(net.blocks->at<Block>(0)->fc->bias)).item<double>() == 0);
  CHECK(net.head->weight.to_vector<float>() == before);
}

TEST_CASE("forward hooks run in order around forward, and can be removed") {
  Net net;
  std::vector<std::string> events;
  auto& block = *net.blocks->at<Block>(0);
  HookId first = block.register_forward_pre_hook([&](Module& m, const std::vector<Tensor>& in) {
    CHECK(&m == &block);
    CHECK(in.size() == 1);
    CHECK(in[0].shape() == Shape{4, 2});
    events.push_back("pre1");
  });
  block.register_forward_pre_hook(
      [&](Module&, const std::vector<Tensor>&) { events.push_back("pre2"); });
  block.register_forward_hook([&](Module&, const std::vector<Tensor>& in, const Tensor& out) {
    CHECK(in[0].shape() == Shape{4, 2});
    CHECK(out.shape() == Shape{4, 3});
    events.push_back("post1");
  });
  block.fc->register_forward_hook(
      [&](Module&, const std::vector<Tensor>&, const Tensor&) { events.push_back("fc"); });
  HookId last = block.register_forward_hook(
      [&](Module&, const std::vector<Tensor>&, const Tensor&) { events.push_back("post2"); });
  net.register_forward_pre_hook(
      [&](Module&, const std::vector<Tensor>&) { events.push_back("net.pre"); });
  net(randn({4, 2}));
  CHECK(events == std::vector<std::string>{"net.pre", "pre1", "pre2", "fc", "post1", "post2"});

  block.remove_hook(first);
  block.remove_hook(last);
  events.clear();
  block(randn({4, 2}));
  CHECK(events == std::vector<std::string>{"pre2", "fc", "post1"});
  CHECK(test::contains(test::error_of([&] { block.remove_hook(first); }), "no hook with id"));

  // Sequential calls its modules through operator(), so their hooks fire too.
  Sequential sequential{std::make_shared<Linear>(2, 2), std::make_shared<ReLU>()};
  events.clear();
  for (const auto& module : sequential) {
    module->register_forward_hook([&](Module& m, const std::vector<Tensor>&, const Tensor&) {
      events.push_back(m.type_name());
    });
  }
  sequential(randn({1, 2}));
  CHECK(events == std::vector<std::string>{"Linear", "ReLU"});
}

TEST_CASE("apply visits children before parents") {
  Net net;
  std::vector<std::string> order;
  net.apply([&](Module& m) { order.push_back(m.type_name()); });
  CHECK(order == std::vector<std::string>{"Linear", "Block", "Linear", "Block", "ModuleList",
                                          "Linear", "Net"});
}

TEST_CASE("ModuleDict keeps insertion order and looks modules up by name") {
  ModuleDict dict{{"encoder", std::make_shared<Linear>(2, 3)}, {"act", std::make_shared<ReLU>()}};
  dict.insert("decoder", std::make_shared<Linear>(3, 2));
  CHECK(dict.size() == 3);
  CHECK(dict.contains("act"));
  CHECK(dict.at<Linear>("decoder")->in_features == 3);
  CHECK(dict.named_parameters().keys() == std::vector<std::string>{"encoder.weight", "encoder.bias",
                                                                   "decoder.weight",
                                                                   "decoder.bias"});
  std::vector<std::string> names;
  for (const auto& [name, module] : dict) names.push_back(name);
  CHECK(names == std::vector<std::string>{"encoder", "act", "decoder"});
  CHECK(test::contains(test::error_of([&] { dict["missing"]; }), "no module named 'missing'"));
  CHECK(test::contains(test::error_of([&] { dict.insert("act", std::make_shared<Tanh>()); }),
                       "already taken"));
}

TEST_CASE("the printout shows the tree with parameter counts") {
  Sequential model{std::make_shared<Flatten>(), std::make_shared<Linear>(784, 256),
                   std::make_shared<ReLU>(), std::make_shared<Dropout>(0.1),
                   std::make_shared<Linear>(256, 10, false)};
  std::ostringstream out;
  out << model;
  CHECK(out.str() ==
        "Sequential(  # 203,520 parameters\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(in_features=784, out_features=256, bias=true)  # 200,960 parameters\n"
        "  (2): ReLU\n"
        "  (3): Dropout(p=0.1)\n"
        "  (4): Linear(in_features=256, out_features=10, bias=false)  # 2,560 parameters\n"
        ")");
  Net net;
  std::ostringstream tree;
  tree << net;
  CHECK(tree.str() ==
        "Net(  # 28 parameters\n"
        "  (blocks): ModuleList(  # 24 parameters\n"
        "    (0): Block(  # 12 parameters\n"
        "      (fc): Linear(in_features=2, out_features=3, bias=true)  # 9 parameters\n"
        "    )\n"
        "    (1): Block(  # 12 parameters\n"
        "      (fc): Linear(in_features=2, out_features=3, bias=true)  # 9 parameters\n"
        "    )\n"
        "  )\n"
        "  (head): Linear(in_features=3, out_features=1, bias=false)  # 3 parameters\n"
        ")");
}

}  // namespace
}  // namespace strata::nn
