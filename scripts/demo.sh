#!/usr/bin/env bash
# The main command: sets up, builds, and runs the most complete demo Strata has: the GPT sample
# trained data-parallel on 2 CPU ranks launched by strata-run (or one rank per GPU where there are
# GPUs and a CUDA build), with a DeepSpeed config (samples/gpt/ds_config_demo.json: gradient
# accumulation, bf16, warm-up and cosine decay, clipping, reduction overlapped with backward). It
# trains 250 of 300 steps and saves a checkpoint, then a new job resumes from it for the last 50
# steps and prints generated quotations; weights, metrics, loss plot and checkpoints in runs/gpt/.
# Extra arguments go to both runs of the trainer.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh train_gpt strata-run

launch=(build/tools/strata-run --num_procs 2 --)
device=()
nvcc_found() { command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; }
if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU && nvcc_found; then
  launch=(build/tools/strata-run --)  # one rank per visible GPU
  device=(--device cuda)
fi

train=("${launch[@]}" build/samples/train_gpt --config samples/gpt/ds_config_demo.json --steps 300
       --eval-every 50 --out runs/gpt "${device[@]}")
rm -rf runs/gpt/checkpoints
"${train[@]}" --stop-after 250 --save-dir runs/gpt/checkpoints --samples 0 "$@"
"${train[@]}" --resume runs/gpt/checkpoints --plot "$@"
