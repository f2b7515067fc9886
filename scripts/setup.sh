#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing Strata needs, and nothing else.
# A no-op when they are all present; runs `apt-get update` only when something must be installed.
# The CUDA toolkit is not a Debian package here: the build finds nvcc on its own (STRATA_CUDA=AUTO).
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache                # toolchain; ccache keeps rebuilds fast
  libdnnl-dev ocl-icd-opencl-dev              # oneDNN (CPU GEMM); its CMake package needs OpenCL
  libopenblas-dev libblis-dev libeigen3-dev   # GEMM libraries the benchmark compares
  doctest-dev                                 # the test framework
  libopenmpi-dev openmpi-bin                  # process groups (parallel/)
  libyaml-cpp-dev                             # DeepSpeed-style configs (io/)
  zlib1g-dev                                  # gzip-compressed datasets (io/)
  liburing-dev                                # io_uring for NVMe offload (zero/)
  dataset-fashion-mnist fortunes              # the samples' data: Fashion-MNIST, fortune quotations
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "setup: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: run as root (or install sudo) to install packages" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
