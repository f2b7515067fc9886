#!/usr/bin/env bash
# Builds Strata on a GPU machine and runs the CUDA tests, then the GPU benchmarks, writing logs and
# a JSON summary into a results folder. Made for a machine with nvcc, CMake, ninja and PyTorch's
# wheels but no internet and none of our Debian packages (the device tool's H100/H200 machines):
# the packages travel as .deb files (tools/gpu/fetch_debs.sh) and are unpacked into a prefix.
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() {
  cat <<'EOF'
tools/gpu/run.sh [options]: build Strata with CUDA, run the CUDA tests, then the GPU benchmarks.

  --out DIR          results folder (default: $OUT when set, else build-gpu/results)
  --debs DIR         .deb files to unpack (default .gpu-debs; tools/gpu/fetch_debs.sh fills it).
                     Missing or empty: the system's packages are used, as on a developer machine
  --build DIR        build folder (default build-gpu)
  --prefix DIR       where the .debs are unpacked (default /tmp/strata-gpu-deps)
  --jobs N           build jobs (default: the number of cores)
  --arch LIST        CMAKE_CUDA_ARCHITECTURES (default 90: H100/H200)
  --stop-after STAGE configure, build or test: stop after that stage (default: run all)
  --skip-tests       build, then go straight to the benchmarks
  --targets "T..."   build only these targets (default all; with --stop-after build, a quick check)
  --require-prefix   fail unless every Debian dependency was found in the unpacked prefix
  --deadline S       seconds from the start by which the run must end (default 570, inside the
                     device tool's 600): the tests and each benchmark get at most what is left
  --help             this text

Stages: unpack the .debs (dpkg -x) into the prefix; find cuDNN and NCCL (in /usr/local/cuda, else
in PyTorch's nvidia-cudnn-cu13 / nvidia-nccl-cu13 wheels, whose versioned-only libraries get
unversioned links in a folder of their own); configure (Release, STRATA_CUDA=ON, CMAKE_PREFIX_PATH
= the prefix, STRATA_CUDNN_ROOT / STRATA_NCCL_ROOT = <root> with include/ and lib/); build; run
CTest (every test but the package and libtorch cross-check labels: the op harness and the CUDA
tests run each case on the GPU); run the GPU benchmarks that this build has, most important first:
strata_bench_gpu_train (GPT-2 124M tokens/s, MFU, peak memory), bench/torch_gpt2_reference.py
(the same in PyTorch) and bench/compare_gpu_train.py on the two, strata_bench_gpu_gemm,
strata_bench_gpu_bandwidth, strata_bench_gpu_attention, and the GPT sample in bf16. Each has a
cap in seconds and none starts with less than 30 s left before the deadline. A failed configure
or build ends the run; failing tests or benchmarks are recorded and the rest still run.
Results (at most 8 files, as the device tool brings back):
  summary.json   each stage's status (passed, failed, timed_out, absent, no_time) and seconds,
                 the test counts, the GPT sample's throughput
  build.log      configure and build output
  ctest.log, ctest.xml   the tests' output and their JUnit report
  bench.log      the benchmarks' output, each under a header
  bench.jsonl    the benchmarks' JSON lines, each with "benchmark": its name added
  gpt_cuda_metrics.jsonl  the GPT sample's per-step metrics
The exit status is 0 only when every stage that ran passed.

With the device tool, from the repository root here:
  tools/gpu/fetch_debs.sh          # once: .gpu-debs/, about 10 MiB (git-ignored)
  run(command="tools/gpu/run.sh", carry=[".gpu-debs"], timeout_s=600)
The results come back from $OUT. The whole run is sized for the tool's 10-minute limit on 16
cores: the build is about 1000 CPU-seconds of compilation (nvcc included; the sum of the ninja
log's steps on the 2-core development machine), so 2-3 minutes on 16 cores with the longest
single file (~70 s) as the floor; the tests take about 1 minute (their CTest costs sum to ~40 s
serially, leaving out the package tests); the benchmarks get the rest, up to the deadline. For
every benchmark in full, split the run over two calls on the same warm machine, whose ignored
build-gpu/ stays: "tools/gpu/run.sh --stop-after test", then "tools/gpu/run.sh --skip-tests".
EOF
}

out=${OUT:-}
debs=.gpu-debs
build="build-gpu"
prefix=/tmp/strata-gpu-deps
jobs=$(nproc)
arch=90
stop_after=all
skip_tests=0
targets=""
require_prefix=0
deadline=570
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --debs) debs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --stop-after) stop_after=$2; shift 2 ;;
    --skip-tests) skip_tests=1; shift ;;
    --targets) targets=$2; shift 2 ;;
    --deadline) deadline=$2; shift 2 ;;
    --require-prefix) require_prefix=1; shift ;;
    --help | -h) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $stop_after in configure | build | test | all) ;; *)
  echo "run.sh: --stop-after takes configure, build or test, got $stop_after" >&2; exit 2 ;;
esac
mkdir -p "$build"
build=$(cd "$build" && pwd)
out=${out:-$build/results}
mkdir -p "$out"
out=$(cd "$out" && pwd)
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

# --- bookkeeping: each stage's status and duration, written as JSON at the end ---------------
stages=()
failed=0
record() {  # record NAME STATUS SECONDS
  stages+=("\"$1\": {\"status\": \"$2\", \"seconds\": $3}")
  [[ $2 == passed || $2 == absent ]] || failed=1
}
seconds_left() { echo $((deadline - SECONDS)); }
# run_stage NAME LOG COMMAND...: runs the command, its output appended to LOG (with stdout also
# in $stage_stdout when set), and records passed, failed or timed_out (timeout's status 124).
stage_stdout=""
run_stage() {
  local name=$1 log=$2 start=$SECONDS status=passed rc=0
  shift 2
  echo "== $name: $*" | tee -a "$log"
  if [[ -n $stage_stdout ]]; then
    "$@" >"$stage_stdout" 2>>"$log" || rc=$?
    cat "$stage_stdout" >>"$log"
  else
    "$@" >>"$log" 2>&1 || rc=$?
  fi
  [[ $rc == 0 ]] || status=failed
  [[ $rc == 124 ]] && status=timed_out
  record "$name" "$status" $((SECONDS - start))
  echo "== $name $status in $((SECONDS - start)) s"
  [[ $status == passed ]]
}
summary_extra=()
# shellcheck disable=SC2317  # called by the EXIT trap
write_summary() {
  local IFS=,
  printf '{"device": "%s", "stages": {%s}%s}\n' \
    "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo none)" \
    "${stages[*]}" "${summary_extra[*]:+, ${summary_extra[*]}}" >"$out/summary.json"
}
trap write_summary EXIT

# --- unpack the Debian packages -------------------------------------------------------------
# dpkg -x where dpkg is; else the .deb's ar archive is opened with Python (data.tar.* inside).
unpack_deb() {
  if command -v dpkg >/dev/null; then
    dpkg -x "$1" "$prefix"
  else
    python3 - "$1" "$prefix" <<'PY'
import io, sys, tarfile
data = open(sys.argv[1], "rb").read()
pos = 8  # "!<arch>\n", then 60-byte member headers, members padded to even sizes
while pos < len(data):
    name, size = data[pos:pos + 16].decode().strip().rstrip("/"), int(data[pos + 48:pos + 58])
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(data[pos + 60:pos + 60 + size])).extractall(sys.argv[2])
    pos += 60 + size + size % 2
PY
  fi
}
debs_used=0
if compgen -G "$debs/*.deb" >/dev/null; then
  rm -rf "$prefix"
  mkdir -p "$prefix"
  deb_files=("$debs"/*.deb)
  for deb in "${deb_files[@]}"; do unpack_deb "$deb"; done
  debs_used=1
  echo "== unpacked ${#deb_files[@]} packages from $debs into $prefix"
else
  echo "== no .deb files in $debs: using the system's packages"
fi

# --- cuDNN and NCCL ---------------------------------------------------------------------------
# find_cuda_library ROOT_NAME HEADER LIBRARY: prints a root with include/HEADER and lib/LIBRARY.so,
# or nothing. In the wheels (under Python's `nvidia` namespace package, nvidia/cudnn/ or, in some
# CUDA 13 wheels, nvidia/cu13/) there are only versioned libraries (libcudnn.so.9), so their root
# is a folder of links made under the build folder, to LIBRARY's files alone.
find_cuda_library() {
  local root_name=$1 header=$2 library=$3
  if [[ -f /usr/local/cuda/include/$header ]] && compgen -G "/usr/local/cuda/lib64/$library.so*" >/dev/null; then
    echo /usr/local/cuda
    return
  fi
  local packages package include_dir="" lib_dir=""
  packages=$(python3 -c "import nvidia; print('\n'.join(nvidia.__path__))" 2>/dev/null) || return 0
  while read -r package; do
    if [[ -z $include_dir ]]; then
      include_dir=$(find -L "$package" -name "$header" -printf '%h\n' -quit)
    fi
    if [[ -z $lib_dir ]]; then
      lib_dir=$(find -L "$package" -name "$library.so.*" -printf '%h\n' -quit)
    fi
  done <<<"$packages"
  [[ -n $include_dir && -n $lib_dir ]] || return 0
  local root=$build/$root_name
  rm -rf "$root"
  mkdir -p "$root/lib"
  ln -s "$include_dir" "$root/include"
  for so in "$lib_dir/$library"*.so.*; do
    local base=${so##*/}
    ln -sf "$so" "$root/lib/$base"
    ln -sf "$so" "$root/lib/${base%%.so.*}.so"
  done
  echo "$root"
}
cudnn_root=$(find_cuda_library cudnn cudnn.h libcudnn)
nccl_root=$(find_cuda_library nccl nccl.h libnccl)
# LD_LIBRARY_PATH for Strata's programs (tests, benchmarks, samples), and for them only: cuDNN
# loads its parts (libcudnn_*.so.9) by name, and libdnnl needs libOpenCL.so.1 from the prefix,
# which the programs' RUNPATH does not cover. CMake and Python keep the machine's own libraries.
runtime_path=()
for root in "$cudnn_root" "$nccl_root"; do
  if [[ -n $root && $root != /usr/local/cuda ]]; then
    links=("$root"/lib/*.so)  # all in the one wheel folder
    runtime_path+=("$(dirname "$(readlink -f "${links[0]}")")")
  fi
done
echo "== cuDNN: ${cudnn_root:-not found}; NCCL: ${nccl_root:-not found}"

# --- configure --------------------------------------------------------------------------------
cmake_args=(-S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRATA_CUDA=ON
            "-DCMAKE_CUDA_ARCHITECTURES=$arch" -DSTRATA_BUILD_TESTS=ON -DSTRATA_BUILD_BENCH=ON)
if [[ $debs_used == 1 ]]; then
  # The prefix comes first in every search. Its lib/<multiarch>/cmake is listed too, so the
  # packages' CMake files are found even where CMake does not know the multiarch folder.
  cmake_args+=("-DCMAKE_PREFIX_PATH=$prefix/usr;$prefix/usr/lib/$multiarch/cmake"
               "-DCMAKE_LIBRARY_PATH=$prefix/usr/lib/$multiarch"
               "-DCMAKE_INCLUDE_PATH=$prefix/usr/include")
  runtime_path+=("$prefix/usr/lib/$multiarch")
fi
[[ -n $cudnn_root ]] && cmake_args+=("-DSTRATA_CUDNN_ROOT=$cudnn_root")
# NCCL found here must be built in (ON: a configure that misses it fails instead of leaving the NCCL
# process group and its tests out).
[[ -n $nccl_root ]] && cmake_args+=("-DSTRATA_NCCL_ROOT=$nccl_root" -DSTRATA_NCCL=ON)
with_runtime=()  # prefixed to the commands that run Strata's programs
if [[ ${#runtime_path[@]} -gt 0 ]]; then
  runtime_joined=$(IFS=:; echo "${runtime_path[*]}")
  with_runtime=(env "LD_LIBRARY_PATH=$runtime_joined${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
fi

log=$out/build.log
: >"$log"
run_stage configure "$log" cmake "${cmake_args[@]}" || exit 1

# Where each Debian dependency was found: in the prefix when the .debs were unpacked.
prefix_check=passed
for variable in dnnl_DIR yaml-cpp_DIR doctest_DIR ZLIB_INCLUDE_DIR OpenCL_LIBRARY Eigen3_DIR; do
  value=$(sed -n "s/^$variable:[A-Z]*=//p" "$build/CMakeCache.txt")
  where=system
  [[ $debs_used == 1 && $value == "$prefix"/* ]] && where=prefix
  echo "   $variable = $value ($where)" | tee -a "$log"
  [[ $where == prefix ]] || prefix_check=failed
done
if [[ $require_prefix == 1 ]]; then
  record prefix_used "$prefix_check" 0
  [[ $prefix_check == passed ]] || { echo "== not every dependency came from $prefix" >&2; exit 1; }
fi
[[ $stop_after == configure ]] && exit $failed

# --- build ------------------------------------------------------------------------------------
build_targets=()
for target in $targets; do build_targets+=(--target "$target"); done
run_stage build "$log" cmake --build "$build" --parallel "$jobs" "${build_targets[@]}" || exit 1
[[ $stop_after == build ]] && exit $failed

# --- tests ------------------------------------------------------------------------------------
# The io tests and the samples read the datasets at their Debian paths: link the unpacked ones
# there when the machine has none.
for data in share/games/fortunes share/datasets/fashion-mnist; do
  if [[ -d $prefix/usr/$data && ! -e /usr/$data ]]; then
    mkdir -p "$(dirname "/usr/$data")"
    ln -s "$prefix/usr/$data" "/usr/$data" || echo "run.sh: could not link /usr/$data"
  fi
done
if [[ $skip_tests == 0 ]]; then
  (nvidia-smi -L 2>/dev/null || echo "no GPU visible: the CUDA cases will skip") | tee "$out/ctest.log"
  # io_test needs Fashion-MNIST (fetch_debs.sh --fashion-mnist); without it, it is left out (it
  # has no CUDA part).
  excluded=()
  if [[ ! -d /usr/share/datasets/fashion-mnist ]]; then
    excluded=(--exclude-regex '^io_test$')
    echo "no Fashion-MNIST at /usr/share/datasets/fashion-mnist: io_test left out" | tee -a "$out/ctest.log"
  fi
  budget=$(($(seconds_left) - 30))
  run_stage test "$out/ctest.log" "${with_runtime[@]}" timeout $((budget > 60 ? budget : 60)) \
    ctest --test-dir "$build" \
    --label-exclude "package|crosscheck" "${excluded[@]}" --output-on-failure --parallel "$jobs" \
    --timeout 300 --output-junit "$out/ctest.xml" || true
  tests_line=$(grep -E "tests passed|tests failed" "$out/ctest.log" | tail -1 || true)
  summary_extra+=("\"tests\": \"$tests_line\"")
fi
[[ $stop_after == test ]] && exit $failed

# --- benchmarks -------------------------------------------------------------------------------
# Each: name|cap in seconds|command, run when its program is in this build (else "absent").
# JSON lines from each go to bench.jsonl with the benchmark's name added; the rest to bench.log.
bench=$build/bench
runs=$build/bench-runs
mkdir -p "$runs"
export PYTHONUNBUFFERED=1
benchmarks=(
  "gpu_train|150|$bench/strata_bench_gpu_train"
  "torch_gpt2|180|python3 bench/torch_gpt2_reference.py"
  "gpu_gemm|60|$bench/strata_bench_gpu_gemm"
  "gpu_bandwidth|45|$bench/strata_bench_gpu_bandwidth"
  "gpu_attention|45|$bench/strata_bench_gpu_attention"
  "gpt_sample_bf16|60|$build/samples/train_gpt --device cuda --dtype bf16 --out $runs/gpt_cuda --layers 6 --heads 6 --width 384 --context 256 --batch 32 --steps 200 --eval-every 200 --samples 1"
)
bench_log=$out/bench.log
: >"$bench_log"
: >"$out/bench.jsonl"
for benchmark in "${benchmarks[@]}"; do
  IFS='|' read -r name cap command_line <<<"$benchmark"
  read -r -a command <<<"$command_line"
  program=${command[0]}
  [[ $program == python3 ]] && program=${command[1]}
  if [[ ! -e $program ]]; then
    record "$name" absent 0
    continue
  fi
  budget=$(($(seconds_left) - 10))
  if ((budget < 20)); then
    record "$name" no_time 0
    continue
  fi
  stage_stdout=$runs/$name.out
  runner=("${with_runtime[@]}")
  [[ ${command[0]} == python3 ]] && runner=()
  run_stage "$name" "$bench_log" "${runner[@]}" timeout $((budget < cap ? budget : cap)) \
    "${command[@]}" || true
  stage_stdout=""
  grep '^{' "$runs/$name.out" | sed "s/^{/{\"benchmark\": \"$name\", /" >>"$out/bench.jsonl" || true
done
# The GPT sample's throughput, from its last progress line ("| 412k tokens/s |").
rate=$(grep -oE '[0-9.]+[kMGT]? tokens/s' "$runs/gpt_sample_bf16.out" 2>/dev/null | tail -1 || true)
summary_extra+=("\"gpt_sample_bf16_rate\": \"$rate\"")
[[ -f $runs/gpt_cuda/metrics.jsonl ]] && cp "$runs/gpt_cuda/metrics.jsonl" "$out/gpt_cuda_metrics.jsonl"
# Strata against PyTorch on GPT-2 124M, against the issue's goals.
if [[ -s $runs/gpu_train.out && -s $runs/torch_gpt2.out && -e bench/compare_gpu_train.py ]]; then
  run_stage compare_gpu_train "$bench_log" python3 bench/compare_gpu_train.py --markdown \
    "$runs/gpu_train.out" "$runs/torch_gpt2.out" || true
fi
exit $failed
