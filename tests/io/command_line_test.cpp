// CommandLine: binding, both value forms, bool and list flags, --help, and errors that suggest a
// flag.
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

TEST_CASE("list flags split on commas, replace their default and show it in --help") {
  std::vector<int64_t> batches = {4, 8, 16}, sizes;
  std::vector<std::string> models = {"tiny", "gpt2"};
  io::CommandLine cli("bench", "Measures things.");
  cli.flag("batches", batches, "micro-batch sizes");
  cli.flag("models", models, "models to run");
  cli.flag("sizes", sizes, "sizes");
  const std::string usage = cli.usage();
  CHECK(test::contains(usage, "micro-batch sizes (comma-separated; default 4,8,16)"));
  CHECK(test::contains(usage, "models to run (comma-separated; default tiny,gpt2)"));
  CHECK(test::contains(usage, "sizes (comma-separated; default none)"));

  const char* argv[] = {"bench", "--batches", "2", "--models=gpt2,tiny,x", "--sizes", "-1,0,7"};
  REQUIRE(cli.try_parse(6, argv));
  CHECK(batches == std::vector<int64_t>{2});
  CHECK(models == std::vector<std::string>{"gpt2", "tiny", "x"});
  CHECK(sizes == std::vector<int64_t>{-1, 0, 7});
}

TEST_CASE("a malformed list element is an error naming the flag, the element and the list") {
  std::vector<int64_t> batches = {4, 8};
  std::vector<std::string> models = {"tiny"};
  io::CommandLine cli("bench", "Measures things.");
  cli.flag("batches", batches, "micro-batch sizes");
  cli.flag("models", models, "models to run");
  auto error = [&](const char* flag, const char* value) {
    const char* argv[] = {"bench", flag, value};
    return test::error_of([&] { cli.try_parse(3, argv); });
  };
  CHECK(error("--batches", "4,x,16") ==
        "--batches: expected a comma-separated list of integers, but element 2 of \"4,x,16\" is "
        "\"x\"");
  CHECK(test::contains(error("--batches", "4,8.5"), "element 2 of \"4,8.5\" is \"8.5\""));
  CHECK(test::contains(error("--batches", "4,,16"), "element 2 of \"4,,16\" is empty"));
  CHECK(test::contains(error("--batches", "4,"), "element 2 of \"4,\" is empty"));
  CHECK(test::contains(error("--models", "tiny,,gpt2"),
                       "--models: expected a comma-separated list of values, but element 2 of "
                       "\"tiny,,gpt2\" is empty"));
  CHECK(test::contains(error("--models", ""), "element 1 of \"\" is empty"));
  CHECK(batches == std::vector<int64_t>{4, 8});  // a failed parse leaves the list as it was
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

TEST_CASE("the rest of the line passes through untouched, after -- or the first non-flag") {
  int64_t procs = 1;
  bool dry_run = false;
  std::vector<std::string> command;
  io::CommandLine cli("launch", "Launches a program.");
  cli.flag("num_procs", procs, "ranks");
  cli.flag("dry_run", dry_run, "print only");
  cli.rest("PROGRAM", command, "the program and its arguments");
  const char* dashes[] = {"launch", "--num_procs", "2", "--", "prog", "--num_procs", "7", "--help"};
  REQUIRE(cli.try_parse(8, dashes));
  CHECK(procs == 2);
  CHECK(command == std::vector<std::string>{"prog", "--num_procs", "7", "--help"});
  const char* bare[] = {"launch", "--dry_run", "prog", "--dry_run", "x"};
  REQUIRE(cli.try_parse(5, bare));
  CHECK(dry_run);
  CHECK(command == std::vector<std::string>{"prog", "--dry_run", "x"});
  const char* none[] = {"launch", "--num_procs=3"};
  command.clear();
  REQUIRE(cli.try_parse(2, none));
  CHECK(command.empty());
  CHECK(test::contains(cli.usage(), "Usage: launch [flags] [--] PROGRAM...\n"));
  CHECK(test::contains(cli.usage(), "Arguments:\n  PROGRAM  the program and its arguments\n"));
}

}  // namespace
}  // namespace strata
