#!/usr/bin/env bash
# The main command: sets up, builds, and runs the most complete demo Strata has. Today that is the
# core benchmark (machine limits, GEMM library comparison, op bandwidth; one JSON line each).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh strata_bench_core
build/bench/strata_bench_core --quick
