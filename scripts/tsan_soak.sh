#!/usr/bin/env bash
# The data loader's prefetch thread under ThreadSanitizer (docs/reliability.md): scripts/tsan_soak.sh [seconds=60]
# Builds the `tsan` preset's loader_soak (gcc's TSan runtime, libtsan2, comes with build-essential) and runs it
# with one OpenMP thread (libgomp is not TSan-instrumented: its own threads would be reported as races).
# Fails on any TSan report or on a batch that differs from the one prepared without the thread.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
[[ -f build/tsan/build.ninja ]] || cmake --preset tsan >/dev/null
cmake --build --preset tsan >/dev/null
OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" build/tsan/loader_soak "$seconds"
