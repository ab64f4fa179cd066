#!/usr/bin/env bash
# The test command (README, .ci/run): setup, then the fast test tier in the Release build, the throughput
# gate (docs/throughput.md: instruction counts and normalised images/s vs results/baselines/throughput.json),
# and the fast tier again in the AddressSanitizer+UndefinedBehaviorSanitizer build.
# Slow tests: `ctest --preset slow` (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/setup.sh
echo "== fast tests (Release)"
ctest --preset fast
echo "== throughput gate"
bash scripts/throughput_gate.sh
echo "== building the sanitizer preset"
cmake --preset sanitize >/dev/null
cmake --build --preset sanitize --target vitbench_tests vitbench  # benchmarks are not run under sanitizers
echo "== fast tests (ASan + UBSan)"
ctest --preset sanitize-fast
echo "test.sh: all fast tests passed in $((SECONDS - start)) s"
