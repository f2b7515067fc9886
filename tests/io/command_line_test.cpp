// CommandLine: binding, both value forms, bool flags, --help, and errors that suggest a flag.
#include <doctest/doctest.h>

#include "io/command_line.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

struct Options {
  int64_t steps = 100;
  double lr = 3e-4;
  std::string device = "cpu";
  bool plot = false;
};

io::CommandLine make_cli(Options& options) {
  io::CommandLine cli("train", "Trains something.");
  cli.flag("steps", options.steps, "optimizer steps");
  cli.flag("lr", options.lr, "learning rate");
  cli.flag("device", options.device, "cpu or cuda");
  cli.flag("plot", options.plot, "write a PNG of the loss curves");
  return cli;
}

TEST_CASE("flags parse into their variables; defaults stay") {
  Options options;
  io::CommandLine cli = make_cli(options);
  const char* argv[] = {"train", "--steps", "20", "--lr=0.01", "--plot"};
  CHECK(cli.try_parse(5, argv));
  CHECK(options.steps == 20);
  CHECK(options.lr == 0.01);
  CHECK(options.plot);
  CHECK(options.device == "cpu");
}

TEST_CASE("--help lists every flag with its default") {
  Options options;
  io::CommandLine cli = make_cli(options);
  const char* argv[] = {"train", "--help"};
  CHECK_FALSE(cli.try_parse(2, argv));
  std::string usage = cli.usage();
  CHECK(test::contains(usage, "--steps"));
  CHECK(test::contains(usage, "(default 100)"));
  CHECK(test::contains(usage, "Trains something."));
}

TEST_CASE("bad flags say what is wrong") {
  Options options;
  io::CommandLine cli = make_cli(options);
  auto error = [&](std::vector<const char*> args) {
    args.insert(args.begin(), "train");
    return test::error_of([&] { cli.try_parse(static_cast<int>(args.size()), args.data()); });
  };
  CHECK(test::contains(error({"--step", "3"}), "did you mean --steps?"));
  CHECK(test::contains(error({"--steps", "many"}), "expected an integer"));
  CHECK(test::contains(error({"--lr"}), "needs a value"));
  CHECK(test::contains(error({"steps"}), "unexpected argument"));
}

TEST_CASE("positional arguments fill in order, between flags; optional ones may be left out") {
  std::string command, dir, tag = "latest";
  int64_t limit = 10;
  io::CommandLine cli("tool", "Does things.");
  cli.positional("COMMAND", command, "what to do");
  cli.positional("DIR", dir, "a directory");
  cli.positional("TAG", tag, "a tag", /*required=*/false);
  cli.flag("limit", limit, "a limit");
  const char* two[] = {"tool", "inspect", "--limit", "3", "runs"};
  REQUIRE(cli.try_parse(5, two));
  CHECK(command == "inspect");
  CHECK(dir == "runs");
  CHECK(tag == "latest");
  CHECK(limit == 3);
  const char* three[] = {"tool", "inspect", "runs", "step9"};
  REQUIRE(cli.try_parse(4, three));
  CHECK(tag == "step9");
  const char* four[] = {"tool", "inspect", "runs", "step9", "extra"};
  CHECK(test::contains(test::error_of([&] { cli.try_parse(5, four); }),
                       "unexpected argument \"extra\""));
  const char* one[] = {"tool", "inspect"};
  CHECK(test::contains(test::error_of([&] { cli.try_parse(2, one); }),
                       "missing the argument DIR (a directory)"));
  CHECK(test::contains(cli.usage(), "Usage: tool COMMAND DIR [TAG] [flags]"));
  CHECK(test::contains(cli.usage(), "Arguments:\n  COMMAND  what to do\n"));
}

}  // namespace
}  // namespace strata
