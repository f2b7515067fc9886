#!/usr/bin/env python3
"""Compares strata_bench_gpu_train with bench/torch_gpt2_reference.py: reads their JSON lines
(files, or standard input) and prints, per micro-batch, Strata's tokens/s and peak memory over each
PyTorch mode's, then the best of each against the issue #4 goals: >= 515k tokens/s on one H100,
>= 1.1x PyTorch + torch.compile, and no more peak allocated memory than PyTorch + torch.compile at
the same micro-batch. JSON lines out (bench "gpu_train_compare" and "gpu_train_goals"); --markdown
prints the same as a table for docs/BENCHMARKS.md.
"""

import argparse
import json
import sys

GOAL_TOKENS_PER_S = 515e3
GOAL_RATIO_VS_COMPILE = 1.1


def read_lines(paths):
    files = [open(p) for p in paths] if paths else [sys.stdin]
    for f in files:
        for text in f:
            text = text.strip()
            if text.startswith("{"):
                yield json.loads(text)


def ratio(a, b):
    return a / b if a is not None and b else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="JSON-lines outputs (default: standard input)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table as well")
    args = parser.parse_args()

    # runs[(library, mode)][batch] = the line; only measurements that succeeded.
    runs = {}
    for line in read_lines(args.files):
        if line.get("bench") == "gpu_train" and line.get("status") == "ok":
            runs.setdefault((line["library"], line["mode"]), {})[line["batch"]] = line
    strata = runs.get(("strata", "eager"), {})
    eager = runs.get(("torch", "eager"), {})
    compiled = runs.get(("torch", "compile"), {})
    if not strata:
        sys.exit("compare_gpu_train.py: no successful strata gpu_train line in the input")

    def field(run, batch, key):
        return run[batch][key] if batch in run else None

    rows = []
    for batch in sorted(set(strata) | set(eager) | set(compiled)):
        row = {"bench": "gpu_train_compare", "batch": batch}
        for name, run in (("strata", strata), ("torch_eager", eager), ("torch_compile", compiled)):
            row[name + "_tokens_per_s"] = field(run, batch, "tokens_per_s")
            row[name + "_mfu"] = field(run, batch, "mfu")
            row[name + "_peak_allocated_bytes"] = field(run, batch, "peak_allocated_bytes")
        row["ratio_vs_eager"] = ratio(row["strata_tokens_per_s"], row["torch_eager_tokens_per_s"])
        row["ratio_vs_compile"] = ratio(row["strata_tokens_per_s"],
                                        row["torch_compile_tokens_per_s"])
        row["memory_ratio_vs_compile"] = ratio(row["strata_peak_allocated_bytes"],
                                               row["torch_compile_peak_allocated_bytes"])
        rows.append(row)
        print(json.dumps(row))

    def best(run):
        return max(run.values(), key=lambda line: line["tokens_per_s"]) if run else None

    strata_best, compile_best = best(strata), best(compiled)
    goals = {
        "bench": "gpu_train_goals",
        "strata_best_batch": strata_best["batch"],
        "strata_best_tokens_per_s": strata_best["tokens_per_s"],
        "strata_best_mfu": strata_best["mfu"],
        "torch_compile_best_batch": compile_best["batch"] if compile_best else None,
        "torch_compile_best_tokens_per_s": compile_best["tokens_per_s"] if compile_best else None,
        "ratio_best_vs_compile_best": ratio(strata_best["tokens_per_s"],
                                            compile_best["tokens_per_s"] if compile_best else None),
    }
    # Memory is compared at the same micro-batch: Strata's best one.
    memory_ratio = ratio(strata_best["peak_allocated_bytes"],
                         field(compiled, strata_best["batch"], "peak_allocated_bytes"))
    goals["memory_ratio_vs_compile_at_strata_best_batch"] = memory_ratio
    goals["goal_tokens_per_s_met"] = strata_best["tokens_per_s"] >= GOAL_TOKENS_PER_S
    # null where the input has no torch.compile measurement to compare with.
    vs_compile = goals["ratio_best_vs_compile_best"]
    goals["goal_ratio_vs_compile_met"] = (None if vs_compile is None
                                          else vs_compile >= GOAL_RATIO_VS_COMPILE)
    goals["goal_memory_met"] = None if memory_ratio is None else memory_ratio <= 1.0
    print(json.dumps(goals))

    if args.markdown:
        def k(value):
            return "-" if value is None else f"{value / 1e3:,.0f}k"

        def r(value, digits=2):
            return "-" if value is None else f"{value:.{digits}f}"

        def gib(value):
            return "-" if value is None else f"{value / 2**30:.1f}"

        print("\n| B | Strata tok/s (MFU) | PyTorch eager | PyTorch compile | Strata / compile "
              "| peak GiB Strata / compile |")
        print("|---|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['batch']} | {k(row['strata_tokens_per_s'])} ({r(row['strata_mfu'])}) "
                  f"| {k(row['torch_eager_tokens_per_s'])} "
                  f"| {k(row['torch_compile_tokens_per_s'])} "
                  f"| {r(row['ratio_vs_compile'])} | {gib(row['strata_peak_allocated_bytes'])} / "
                  f"{gib(row['torch_compile_peak_allocated_bytes'])} |")


if __name__ == "__main__":
    main()
