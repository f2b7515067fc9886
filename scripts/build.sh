#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), then configures and builds Strata into build/
# (Release, Ninja, all cores, ccache). With arguments, builds only those targets.
# The CUDA backend is built when nvcc is found (STRATA_CUDA=AUTO).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build build --parallel "$(nproc)" "${targets[@]}"
