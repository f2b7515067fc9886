#!/usr/bin/env bash
# The main command: sets up, builds, and runs the most complete demo Strata has. Today that is the
# GPT sample on a short schedule: a byte-level GPT trained on the fortunes quotations on the CPU,
# with validation loss against the corpus's unigram entropy, generated text, the weights, the
# metrics and a loss plot in runs/gpt/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh train_gpt
build/samples/train_gpt --steps 400 --eval-every 100 --out runs/gpt --plot "$@"
