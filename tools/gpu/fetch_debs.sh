#!/usr/bin/env bash
# Downloads, here where apt works, the Debian packages that building and testing Strata needs, as
# .deb files into .gpu-debs/ (git-ignored). tools/gpu/run.sh unpacks them with `dpkg -x` on a GPU
# machine that has nvcc and CMake but neither internet access nor these packages; the device tool
# takes the folder along when its `carry` names `.gpu-debs`. Prints each file's size and the total,
# which must stay well under the 64 MiB that the working tree and the carried paths share.
#
# Usage: tools/gpu/fetch_debs.sh [--fashion-mnist] [DIR]   (DIR defaults to .gpu-debs)
#   --fashion-mnist  also the Fashion-MNIST dataset (30 MiB more) for the CNN sample on the GPU
set -euo pipefail
cd "$(dirname "$0")/../.."
extra=()
if [[ ${1:-} == --fashion-mnist ]]; then
  extra=(dataset-fashion-mnist)
  shift
fi
dir=${1:-.gpu-debs}

# Exactly what the root CMakeLists and bench/ find, with the runtime libraries they link:
packages=(
  libdnnl-dev libdnnl2                        # oneDNN: the CPU GEMM (find_package(dnnl))
  ocl-icd-opencl-dev ocl-icd-libopencl1       # dnnl's CMake package asks for OpenCL...
  opencl-c-headers opencl-clhpp-headers       # ...and its headers
  libyaml-cpp-dev libyaml-cpp0.7              # io/: configs, safetensors headers
  zlib1g-dev zlib1g                           # io/: gzip'd datasets (headers; the runtime too)
  doctest-dev                                 # the test framework
  libeigen3-dev                               # bench/ requires Eigen
  fortunes fortunes-min                       # the GPT sample's quotations (the GPU benchmark)
)
# Not fetched: the compiler, its OpenMP (libgomp comes with g++), CMake and ninja are on the GPU
# machine; CUDA, cuBLASLt, cuDNN and NCCL come from its CUDA toolkit and PyTorch's wheels.

mkdir -p "$dir"
rm -f "$dir"/*.deb
(cd "$dir" && apt-get download "${packages[@]}" "${extra[@]}")
# apt writes an epoch's colon as %3a: keep the names plain.
for deb in "$dir"/*%3a*.deb; do [[ -e $deb ]] && mv "$deb" "${deb//%3a/_}"; done
du -b "$dir"/*.deb | awk '{ printf "%8.1f KiB  %s\n", $1 / 1024, $2; total += $1 }
                          END { printf "%8.1f MiB  total\n", total / 1048576 }'
# What the device tool sends: the tracked files and this folder, against its 64 MiB.
debs_bytes=$(cat "$dir"/*.deb | wc -c)
tree_bytes=$(git ls-files -z | xargs -0 cat | wc -c)
total_mib=$(((debs_bytes + tree_bytes) / 1048576))
echo "with the source tree: about $total_mib MiB of the device tool's 64"
if ((total_mib > 56)); then
  echo "fetch_debs: too close to the 64 MiB the device tool carries" >&2
  exit 1
fi
