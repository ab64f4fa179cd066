#!/usr/bin/env bash
# The slow tier's sanitizer builds (docs/reliability.md): Debian's clang 14 with its libFuzzer and ThreadSanitizer
# runtimes. Kept out of scripts/setup.sh: clang and LLVM are about 300 MB that the main job and the fast tier do
# not need. Idempotent; then `bash scripts/fuzz.sh all 60` and `bash scripts/tsan_soak.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
packages=(clang libclang-rt-14-dev)  # clang++ 14; libFuzzer, ASan/UBSan and TSan runtimes
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup-fuzz: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
