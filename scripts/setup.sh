#!/usr/bin/env bash
# Installs every Debian package vitbench needs (idempotent, no prompts; apt runs only when something is
# missing) and configures + builds the Release preset. Called by main.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build git pkg-config    # toolchain
  libdnnl-dev ocl-icd-opencl-dev                      # oneDNN 2.6 (its CMake config needs OpenCL's)
  libbenchmark-dev catch2 libfmt-dev libcli11-dev nlohmann-json3-dev
  libhdf5-dev hdf5-tools python3-h5py python3-matplotlib python3-scipy   # results, figure and report scripts
  libjpeg-dev libpng-dev libstb-dev zlib1g-dev        # image decoding, gzip'd IDX (datasets)
  dataset-fashion-mnist                               # the embedded default data
  valgrind                                            # the throughput gate's instruction counts
  libopenmpi-dev openmpi-bin                          # data-parallel training over MPI (docs/distributed.md)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake --preset release >/dev/null
cmake --build --preset release
