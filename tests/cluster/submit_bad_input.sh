#!/usr/bin/env bash
# `sweep submit --slurm` without a cluster (CTest label `smoke`): what it writes, the array it asks for, and its
# refusals - Slurm absent, an unplanned folder, a thread count other than the manifest's, sbatch failing - each
# naming the problem and leaving nothing behind that looks like a submission; then what status shows from squeue
# and sacct. Stub sbatch/squeue/scontrol/sacct stand in for Slurm.
# usage: submit_bad_input.sh <vitbench>
set -euo pipefail
vitbench=$(realpath "$1")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
expect="$(cd "$(dirname "$0")/../cli" && pwd)/expect.sh"
cd "$(dirname "$0")/../.."  # sweep files name data relative to the project root
no_submission() {  # the folder holds no slurm/ (no script, no jobs.json)
  [[ ! -e $1/slurm ]] || { echo "submit_bad_input: $2 left $(ls "$1/slurm") in $1/slurm"; exit 1; }
}

"$vitbench" --threads 2 sweep plan experiments/sweeps/pe_ablation_vit.json --tier smoke --out "$dir/s" --allow-dirty
n=$(wc -l <"$dir/s/sweep.jsonl")

# Slurm absent: no sbatch on PATH.
mkdir "$dir/nobin"
"$expect" 1 "sbatch is not on PATH: submitting needs Slurm's client commands" \
  env PATH="$dir/nobin" "$vitbench" sweep submit "$dir/s" --slurm
no_submission "$dir/s" "Slurm absent"
# ... but a dry run prints the script without it, and writes nothing.
"$expect" 0 "#SBATCH --array=0-$((n - 1))%3" \
  env PATH="$dir/nobin" "$vitbench" sweep submit "$dir/s" --slurm --dry-run --max-parallel 3
no_submission "$dir/s" "a dry run"

# An unplanned folder.
mkdir "$dir/empty"
"$expect" 1 "empty/sweep.json: cannot open the sweep metadata \(written by .vitbench sweep plan.\)" \
  "$vitbench" sweep submit "$dir/empty" --slurm
no_submission "$dir/empty" "an unplanned folder"

# Threads other than the manifest's, at submission and in a task.
"$expect" 1 "sweep.jsonl: line 0 .*threads: planned with 2, asked to run with 1: results depend on the thread count" \
  "$vitbench" sweep submit "$dir/s" --slurm --cpus-per-task 1
no_submission "$dir/s" "a thread mismatch"
"$expect" 1 "threads: planned with 2, asked to run with 1" "$vitbench" --threads 1 sweep exec "$dir/s" --index 0
[[ ! -e $dir/s/$(/usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["name"])' \
  "$dir/s/sweep.jsonl") ]] || { echo "submit_bad_input: a refused exec made a run folder"; exit 1; }

# sbatch failing: its stderr is shown and the script it was given is removed.
mkdir "$dir/failbin"
cat >"$dir/failbin/sbatch" <<'SH'
#!/bin/sh
echo "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified" >&2
exit 1
SH
chmod +x "$dir/failbin/sbatch"
"$expect" 1 "sbatch refused the array job for .*\(exit 1\): sbatch: error: Batch job submission failed: Invalid account" \
  env PATH="$dir/failbin:$PATH" "$vitbench" sweep submit "$dir/s" --slurm --account nosuch
no_submission "$dir/s" "a failing sbatch"

# Lines out of range, or complete, are refused by name.
"$expect" 1 "sweep.jsonl: no line $n \(the manifest has lines 0 to $((n - 1))\)" \
  "$vitbench" sweep submit "$dir/s" --slurm --index "0,$n" --dry-run
"$expect" 1 "--index: 'x' is not a line number or a range" "$vitbench" sweep submit "$dir/s" --slurm --index x --dry-run

# A stub sbatch that accepts: the script on disk, the array, jobs.json.
mkdir "$dir/okbin"
cat >"$dir/okbin/sbatch" <<SH
#!/bin/sh
cp "\$2" "$dir/submitted.sbatch"; echo "\$@" > "$dir/sbatch.args"; echo "4242;cluster"
SH
chmod +x "$dir/okbin/sbatch"
"$expect" 0 "submitted job 4242: 3 task\(s\), --array=0,2-3%2; script .*/s/slurm/submit-[0-9T]+Z.sbatch" \
  env PATH="$dir/okbin:$PATH" "$vitbench" sweep submit "$dir/s" --slurm --index 0,2-3 --max-parallel 2 \
  --partition p1 --time 10:00 --qos q1
script=$(ls "$dir"/s/slurm/submit-*.sbatch)
cmp "$script" "$dir/submitted.sbatch"
[[ $(cat "$dir/sbatch.args") == "--parsable $script" ]]
for line in "#SBATCH --array=0,2-3%2" "#SBATCH --cpus-per-task=2" "#SBATCH --partition=p1" "#SBATCH --time=10:00" \
  "#SBATCH --signal=B:TERM@120" \
  "#SBATCH --qos=q1" "#SBATCH --output=$(realpath "$dir/s")/slurm/%A_%a.out" \
  "exec '$vitbench' --threads \"\$SLURM_CPUS_PER_TASK\" sweep exec '$(realpath "$dir/s")' --index \"\$SLURM_ARRAY_TASK_ID\" --quiet"; do
  grep -qxF -- "$line" "$script" || { echo "submit_bad_input: no line '$line' in $script:"; cat "$script"; exit 1; }
done
/usr/bin/python3 - "$dir/s/slurm/jobs.json" <<'PY'
import json, sys
jobs = json.load(open(sys.argv[1]))
assert [(j["job_id"], j["array"], j["indices"]) for j in jobs] == [("4242", "0,2-3%2", [0, 2, 3])], jobs
PY
# status -v: the queue (squeue) and, only where the cluster keeps accounting, how sacct says a task ended.
mkdir "$dir/acctbin"
printf '#!/bin/sh\nexit 0\n' >"$dir/acctbin/squeue"  # nothing queued any more
cat >"$dir/acctbin/sacct" <<SH
#!/bin/sh
touch "$dir/sacct.called"; printf '4242_0|TIMEOUT\n4242_2|CANCELLED by 0\n4242_[3]|PENDING\n'
SH
chmod +x "$dir/acctbin/squeue" "$dir/acctbin/sacct"
accounting() { printf '#!/bin/sh\necho "AccountingStorageType   = accounting_storage/%s"\n' "$1" >"$dir/acctbin/scontrol"
  chmod +x "$dir/acctbin/scontrol"; }
accounting slurmdbd
out=$(env PATH="$dir/acctbin:$PATH" "$vitbench" sweep status -v "$dir/s")
echo "$out"
grep -q "^pending .*\[slurm 4242_0 TIMEOUT\]$" <<<"$out" && grep -q "\[slurm 4242_2 CANCELLED\]$" <<<"$out" &&
  grep -q "^slurm: 0 task(s) in the queue$" <<<"$out" && [[ $(grep -c "\[slurm" <<<"$out") -eq 2 ]] ||
  { echo "submit_bad_input: status -v does not show sacct's end states"; exit 1; }
accounting none
rm "$dir/sacct.called"
out=$(env PATH="$dir/acctbin:$PATH" "$vitbench" sweep status -v "$dir/s")
[[ ! -e $dir/sacct.called ]] && ! grep -q "\[slurm" <<<"$out" ||
  { echo "submit_bad_input: sacct asked on a cluster without accounting"; exit 1; }

echo "submit_bad_input: every refusal named its problem and left no submission behind"
