#!/usr/bin/env bash
# The C++ sources follow .clang-format (Debian 12's clang-format 14): `scripts/check_format.sh` checks every
# .cpp/.hpp git tracks or would add (new files too, not ignored ones) and names the files that differ;
# `scripts/check_format.sh --fix` formats them in place.
# Installs clang-format (apt) when it is missing, as scripts/setup.sh does for the build's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format > /dev/null; then
  echo "check_format: installing clang-format"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends clang-format > /dev/null
fi
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' | sort -u)
if [[ ${1:-} == --fix ]]; then
  clang-format -i --style=file "${files[@]}"
  exit 0
fi
# One clang-format process for every file (one per file costs ~50 s here); its warnings name the files.
mapfile -t bad < <(clang-format --style=file --dry-run "${files[@]}" 2>&1 | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: warning: code should be clang-formatted.*/\1/p' | sort -u)
if ((${#bad[@]})); then
  echo "check_format: ${#bad[@]} file(s) differ from .clang-format ($(clang-format --version | head -1)):"
  printf '  %s\n' "${bad[@]}"
  echo "run scripts/check_format.sh --fix (or clang-format -i <file>) and commit the result"
  exit 1
fi
echo "check_format: ${#files[@]} files follow .clang-format"
