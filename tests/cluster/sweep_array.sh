#!/usr/bin/env bash
# A sweep's smoke tier as one Slurm job array on a one-node cluster (CTest label `cluster`; docs/cluster.md): the
# queue as status sees it, a run that fails, every record complete, `--only-failed` resubmitting that run alone,
# nothing resubmitted once all are complete, and runs asked to stop by Slurm resuming when submitted again. usage: sweep_array.sh <vitbench> <experiments/sweeps/NAME.json>
set -euo pipefail
vitbench=$(realpath "$1") sweep=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/vitbench-cluster-test.XXXXXX)
trap '"$here/cluster.sh" stop "$work/cluster"; rm -rf "$work"' EXIT
cd "$here/../.."  # sweep files name data relative to the project root
start=$SECONDS
fail() { echo "sweep_array: $*" >&2; exit 1; }
has() { grep -Eq -- "$2" <<<"$1" || fail "expected /$2/ in: $1"; }

"$here/cluster.sh" start "$work/cluster"
export SLURM_CONF=$work/cluster/slurm.conf
# Bounded: the smoke tier takes seconds; a task that hangs must fail the test, not CI's time limit.
wait_for_empty_queue() {
  for _ in $(seq 1 600); do
    [[ -z $(squeue -h -o %i) ]] && return 0
    sleep 0.2
  done
  squeue
  fail "the queue is not empty after 120 s"
}

# One thread per run on the 2-CPU node, so that --max-parallel 2 runs two tasks at once.
s=$work/s
"$vitbench" --threads 1 sweep plan "$sweep" --tier smoke --out "$s" --allow-dirty
n=$(wc -l <"$s/sweep.jsonl")
name_of() { /usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[int(sys.argv[2])])["name"])' "$s/sweep.jsonl" "$1"; }
# Line 1 fails: a checkpoint that is not HDF5, which its resume cannot read.
bad=1 bad_name=$(name_of 1)
mkdir -p "$s/$bad_name"
echo "not an HDF5 file" >"$s/$bad_name/checkpoint.h5"

# Held in the queue (partition down) so that status and a second submit see queued tasks deterministically.
scontrol update PartitionName=debug State=DOWN
out=$("$vitbench" sweep submit "$s" --slurm --max-parallel 2 --time 5:00)
echo "$out"
has "$out" "^submitted job [0-9]+: $n task\(s\), --array=0-$((n - 1))%2; script $s/slurm/submit-.*\.sbatch"
job=$(sed -E 's/^submitted job ([0-9]+):.*/\1/' <<<"$out")
status=$("$vitbench" sweep status -v "$s")
echo "$status"
has "$status" "slurm: $n task\(s\) in the queue: $n PENDING"
has "$status" "\[slurm ${job}_0 PENDING \(PartitionDown\)\]"
out=$("$vitbench" sweep submit "$s" --slurm 2>&1)
has "$out" "line 0 .*: already PENDING in job $job; not submitted again"
has "$out" "nothing to submit"
scontrol update PartitionName=debug State=UP
wait_for_empty_queue

status=$("$vitbench" sweep status "$s")
echo "$status"
has "$status" ": $n runs: $((n - 1)) complete, 0 interrupted, 1 failed, 0 pending"
has "$status" "slurm: 0 task\(s\) in the queue"
[[ -f $s/$bad_name/failed.json ]] || fail "no failed.json for $bad_name"
for i in $(seq 0 $((n - 1))); do [[ -s $s/slurm/${job}_$i.out ]] || fail "no log $s/slurm/${job}_$i.out"; done
grep -q "vitbench: error:" "$s/slurm/${job}_$bad.out" || fail "the failed task's log does not say why"

# The cause removed, --only-failed resubmits that line alone.
rm "$s/$bad_name/checkpoint.h5"
out=$("$vitbench" sweep submit "$s" --slurm --only-failed)
echo "$out"
has "$out" "^submitted job [0-9]+: 1 task\(s\), --array=$bad;"
wait_for_empty_queue
status=$("$vitbench" sweep status "$s")
echo "$status"
has "$status" ": ([0-9]+) runs: \1 complete, 0 interrupted, 0 failed, 0 pending"

# All complete: nothing is submitted again, and no script is written for it.
out=$("$vitbench" sweep submit "$s" --slurm)
has "$out" "nothing to submit"
[[ $(ls "$s"/slurm/submit-*.sbatch | wc -l) -eq 2 ]] || fail "expected exactly 2 scripts: $(ls "$s/slurm")"

# A task asked to stop as at its time limit (the script's `--signal=B:TERM@120`; here `scancel --batch --signal
# TERM`, the same SIGTERM to the batch shell, which is vitbench): its run saves its state, ends without a failed.json
# and is interrupted, not failed; submitted again, it resumes and completes.
l=$work/long
bash "$here/../sweeps/two_arm_sweep.sh" "$work/long.json" long "[0]" pos_embed=none 600
"$vitbench" --threads 1 sweep plan "$work/long.json" --tier smoke --out "$l" --allow-dirty
out=$("$vitbench" sweep submit "$l" --slurm)
job=$(sed -E 's/^submitted job ([0-9]+):.*/\1/' <<<"$out")
for _ in $(seq 1 600); do
  (($(find "$l" -name checkpoint.h5 | wc -l) == 2)) && break
  sleep 0.1
done
(($(find "$l" -name checkpoint.h5 | wc -l) == 2)) || fail "the long runs wrote no checkpoint in 60 s"
scancel --batch --signal=TERM "$job"
wait_for_empty_queue
status=$("$vitbench" sweep status "$l")
echo "$status"
has "$status" ": 2 runs: 0 complete, 2 interrupted, 0 failed, 0 pending"
grep -q "stopped by SIGTERM after step" "$l/slurm/${job}_0.out" || fail "task 0's log: $(cat "$l/slurm/${job}_0.out")"
"$vitbench" sweep submit "$l" --slurm >/dev/null
wait_for_empty_queue
has "$("$vitbench" sweep status "$l")" ": 2 runs: 2 complete, 0 interrupted, 0 failed, 0 pending"
grep -q "resuming .* at step" "$l"/slurm/*_0.out || fail "the resubmitted task did not resume"

/usr/bin/python3 - "$s" <<'PY'
import json, sys, h5py
from pathlib import Path
s = Path(sys.argv[1])
meta = json.loads((s / "sweep.json").read_text())
lines = [json.loads(l) for l in (s / "sweep.jsonl").read_text().splitlines()]
for l in lines:
    with h5py.File(s / l["name"] / "record.h5", "r") as f:
        assert f.attrs["complete"] == 1 and f.attrs["git_commit"] == meta["commit"], l["name"]
        assert f.attrs["threads"] == l["threads"] == 1, (l["name"], f.attrs["threads"])
jobs = json.loads((s / "slurm/jobs.json").read_text())
assert [j["indices"] for j in jobs] == [list(range(len(lines))), [1]], jobs
print(f"sweep_array: {meta['sweep']}: {len(lines)} runs complete through 2 array jobs")
PY
echo "sweep_array: passed in $((SECONDS - start)) s (cluster start included)"
