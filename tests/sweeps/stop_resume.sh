#!/usr/bin/env bash
# `sweep run` asked to stop (SIGTERM to the runner alone, as `kill <pid>` sends): it passes the request on to its
# runs, which save their state between two evaluations, starts no new run, writes no failed.json and exits with
# 128 + 15; run again, it resumes them, and their records equal an uninterrupted sweep's (per-step losses, training
# loss per period, test top-1). usage: stop_resume.sh <vitbench>
set -euo pipefail
vitbench=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
bash "$(dirname "$0")/two_arm_sweep.sh" "$dir/stop.json" stop "[0, 1]" pos_embed=none 120
for out in whole stopped; do
  "$vitbench" --threads 1 sweep plan "$dir/stop.json" --tier smoke --out "$dir/$out" --allow-dirty
done
"$vitbench" sweep run "$dir/whole" --jobs 2 --quiet
# In a process group of its own (setsid execs in place, so $! is the runner), to be frozen with its runs.
setsid "$vitbench" sweep run "$dir/stopped" --jobs 2 --quiet > "$dir/run.log" 2>&1 &
runner=$!
for _ in $(seq 1 30000); do  # both first runs past their first evaluation
  (($(find "$dir/stopped" -name checkpoint.h5 | wc -l) == 2)) && break
  kill -0 $runner 2>/dev/null || { echo "the sweep ended before the request"; cat "$dir/run.log"; exit 1; }
  sleep 0.02
done
# The request reaches a frozen sweep, so on a quiet machine the two runs cannot end (and the runner start the next
# two) between the checkpoints' appearing and the request; a fixed sleep raced with them.
kill -STOP -- -$runner
[[ -z $(find "$dir/stopped" -name record.h5) ]] || { echo "stop_resume: a run had ended before the request; make them longer"; exit 1; }
# Two processes hold their run folders (frozen, their locks stand): status counts them as running, with the share
# of steps their checkpoints hold, and takes no lock itself.
"$vitbench" sweep status "$dir/stopped" -v | tee "$dir/status-running.txt"
grep -q "0 interrupted, 0 failed, 2 pending, 2 running" "$dir/status-running.txt" || { echo "stop_resume: status while running"; exit 1; }
(($(grep -Ec "^running .*% done" "$dir/status-running.txt") == 2)) || { echo "stop_resume: no progress of the running runs"; exit 1; }
kill -TERM $runner
kill -CONT -- -$runner
status=0
wait $runner || status=$?
cat "$dir/run.log"
[[ $status == 143 ]] || { echo "stop_resume: sweep run exit status $status, expected 143"; exit 1; }
grep -q "sweep run stopped by SIGTERM: 2 run(s) stopped" "$dir/run.log" || { echo "stop_resume: no stop summary"; exit 1; }
[[ -z $(find "$dir/stopped" -name failed.json -o -name record.h5) ]] || { echo "stop_resume: a stopped run left a failed.json or a record"; exit 1; }
"$vitbench" sweep status "$dir/stopped" | tee "$dir/status.txt"
grep -q "2 interrupted, 0 failed, 2 pending" "$dir/status.txt" || { echo "stop_resume: status after the stop"; exit 1; }
"$vitbench" sweep run "$dir/stopped" --jobs 2 --quiet
/usr/bin/python3 - "$dir" <<'PY'
import h5py, pathlib, sys
d = pathlib.Path(sys.argv[1])
for a in sorted((d / "whole").glob("*/record.h5")):
    b = d / "stopped" / a.parent.name / "record.h5"
    fa, fb = h5py.File(a), h5py.File(b)
    for k in ("steps/loss", "epochs/train_loss", "epochs/train_top1"):
        assert (fa[k][:] == fb[k][:]).all(), f"{a.parent.name}: {k} differs"
    assert fa.attrs["test_top1"] == fb.attrs["test_top1"], a.parent.name
print("stop_resume: the stopped sweep resumed and ended with the uninterrupted sweep's records")
PY
