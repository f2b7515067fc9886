#!/usr/bin/env bash
# The test command: sets up, builds everything incrementally, and runs the whole CTest suite.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh
cd build
ctest --output-on-failure --parallel "$(nproc)" --timeout 600
