#!/usr/bin/env bash
# Time-boxed libFuzzer runs (docs/reliability.md): scripts/fuzz.sh <target>[,<target>...]|all [seconds per target, default 60]
# Builds the `fuzz` preset when needed (after `bash scripts/setup-fuzz.sh`), fuzzes a copy of each target's
# committed corpus (tests/fuzz/corpus/<target>/) and prints one row per target: time, executions, crashes, corpus.
# A crash fails the run; its input is saved in build/fuzz/crashes/<target>/ - fix it, then commit the input to
# tests/fuzz/corpus/<target>/crash-<sha1> so that the fast tier replays it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
which=${1:?usage: scripts/fuzz.sh <target>[,<target>...]|all [seconds]}
seconds=${2:-60}
all=(idx_raw idx_gzip cifar_bin image_folder image_cache preset_json sweep_json checkpoint_h5 set_override)
[[ $which == all ]] && targets=("${all[@]}") || IFS=, read -r -a targets <<<"$which"

if ! command -v clang++ >/dev/null; then
  echo "scripts/fuzz.sh: clang++ not found: run bash scripts/setup-fuzz.sh (Debian's clang and its libFuzzer)" >&2
  exit 1
fi
build=$root/build/fuzz
mkdir -p "$build"
# Builds what it runs (VITBENCH_FUZZ_NO_BUILD=1: use the binaries as they are, e.g. while another build of the
# tree runs); one build at a time (CTest runs the slow/fuzz/* tests under one resource lock, a person might not).
if [[ ${VITBENCH_FUZZ_NO_BUILD:-0} != 1 ]]; then
  (
    flock 9
    [[ -f $build/build.ninja ]] || cmake --preset fuzz >/dev/null
    cmake --build --preset fuzz --target "${targets[@]/#/fuzz_}" >/dev/null
  ) 9>"$build/.build.lock"
fi
# The targets write their inputs into files: on tmpfs when there is one.
[[ -z ${TMPDIR:-} && -w /dev/shm ]] && export TMPDIR=/dev/shm

# Inputs larger than the seeds are rarely useful; the checkpoint images need room for structure-aware growth.
max_len() { case $1 in cifar_bin) echo 16384 ;; checkpoint_h5) echo 262144 ;; sweep_json) echo 8192 ;; *) echo 4096 ;; esac; }

printf '%-14s %8s %12s %8s %8s %14s\n' target seconds executions crashes new corpus
status=0
for t in "${targets[@]}"; do
  work=$build/work/$t
  rm -rf "$work"
  mkdir -p "$work/corpus" "$build/crashes/$t"
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
  seeds=$(ls "$work/corpus" | wc -l)
  # Findings: crash-, leak-, oom- and timeout- files (slow-unit- ones only say an input was slow, which on a busy
  # machine is mostly the machine).
  findings() { ls "$build/crashes/$t" | grep -cE '^(crash|leak|oom|timeout)-' || true; }
  before=$(findings)
  # detect_leaks=0: the models and libhdf5 keep process-wide caches that LeakSanitizer would report per input.
  # allocator_may_return_null=1: malloc of an impossible size returns NULL, as it does without ASan (libhdf5
  # mallocs a metadata block of the size a corrupt file claims, then reports the NULL as an error: see
  # docs/reliability.md); C++ `new` still reports such a size, so this does not hide the project's own bugs.
  set +e
  OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/fuzz_$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=3072 -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$build/crashes/$t/" "$work/corpus" >"$work/log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  crashes=$(( $(findings) - before ))
  files=$(ls "$work/corpus" | wc -l)
  bytes=$(du -sb "$work/corpus" | cut -f1)
  printf '%-14s %8s %12s %8s %8s %14s\n' "$t" "$seconds" "${execs:-?}" "$crashes" "$((files - seeds))" \
    "$files files/$((bytes / 1024)) KB"
  if ((rc != 0 || crashes > 0)); then
    status=1
    echo "  $t: libFuzzer exit $rc; log $work/log; inputs in $build/crashes/$t/" >&2
    grep -m5 -E "ERROR|runtime error|fuzz target|deadly signal|out-of-memory|timeout" "$work/log" >&2 || true
  fi
done
exit $status
