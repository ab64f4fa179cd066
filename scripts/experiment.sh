#!/usr/bin/env bash
# Runs one experiment preset (experiments/<name>.json) into a run folder, resuming it if it was interrupted
# and doing nothing if it is complete; copies the run record to results/train/<name>.h5.
# usage: experiment.sh <vitbench> <preset.json> <run folder>   (VITBENCH_RESULTS: another folder than results/train)
set -euo pipefail
vitbench=$1 preset=$2 run=$3
name=$(basename "$preset" .json)
results=${VITBENCH_RESULTS:-"$(dirname "$0")/../results/train"}
complete() {  # the record's `complete` attribute is 1 (a record is written with 0 first, 1 when finished)
  h5dump -a /complete "$1" 2>/dev/null | grep -q '(0): 1$'
}
if [[ -f "$run/record.h5" ]] && complete "$run/record.h5"; then
  echo "$name: already complete ($run/record.h5)"
else
  resume=()
  [[ -f "$run/checkpoint.h5" ]] && resume=(--resume)
  if [[ -f "$run/record.h5" && ${#resume[@]} -eq 0 ]]; then
    echo "$name: $run/record.h5 is an unfinished record and there is no checkpoint to resume from;" \
      "remove $run to start again" >&2
    exit 1
  fi
  "$vitbench" train --config "$preset" --output "$run" "${resume[@]}" --json
  complete "$run/record.h5" || { echo "$name: $run/record.h5 is not complete after training" >&2; exit 1; }
fi
mkdir -p "$results"
cp "$run/record.h5" "$results/.$name.h5.tmp"
mv "$results/.$name.h5.tmp" "$results/$name.h5"  # never a half-copied record under its own name
echo "$name: record copied to $results/$name.h5"
