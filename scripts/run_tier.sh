#!/usr/bin/env bash
# Runs one tier of several training sweeps one after another, resuming wherever they stand (docs/sweeps.md, "Across
# sessions and machines"), with scripts/commit_records.sh beside them committing each record as it is collected.
# Each sweep runs with the threads its manifest was planned with (a sweep not planned yet: --threads N, default 1)
# and as many runs at once as fit the machine's cores (scripts/sweep.sh: nproc / threads). The
# sweeps run niced, with passive OpenMP waiting, so other work on the machine keeps priority: their results are
# deterministic whatever else runs (docs/sweeps.md), their speed is not. Stops when every sweep is done or it is
# killed (kill its process group: the runs resume from their checkpoints next time).
# usage: scripts/run_tier.sh <tier> [--threads N] <sweep> ...   e.g. standard data_scaling pe_ablation_tnt pe_ablation_vit
set -euo pipefail
cd "$(dirname "$0")/.."
tier=${1:?usage: scripts/run_tier.sh <tier> [--threads N] <sweep> ...}
shift
threads_new=1
if [[ ${1:-} == --threads ]]; then threads_new=$2; shift 2; fi
(($#)) || { echo "usage: scripts/run_tier.sh <tier> [--threads N] <sweep> ..."; exit 2; }
for s in "$@"; do
  [[ -f experiments/sweeps/$s.json ]] || { echo "run_tier.sh: experiments/sweeps/$s.json: no such sweep"; exit 1; }
done

bash scripts/commit_records.sh "${@/%//$tier}" >> /tmp/commit_records.log 2>&1 &
committer=$!
trap 'kill $committer 2>/dev/null || true' EXIT
echo "run_tier.sh: committing each record as it comes (scripts/commit_records.sh; log: /tmp/commit_records.log)"

# One sweep ending with failed runs does not hold up the next (a sweep pinned at an older commit, e.g. 03d8ceb of
# the standard tiers, counts the lines whose pair ran on another CPU kind as failed: they stay pending for a
# machine of that kind).
status=0
for s in "$@"; do  # sweep.sh runs nproc / the plan's threads lines at once
  echo "run_tier.sh: $s ($tier)"
  OMP_WAIT_POLICY=passive nice -n 5 bash scripts/sweep.sh "experiments/sweeps/$s.json" "$tier" --threads "$threads_new" ||
    { status=$?; echo "run_tier.sh: $s ($tier) ended with exit $status; going on with the next sweep"; }
done
exit $status
