#!/usr/bin/env bash
# Runs one experiment preset (experiments/<name>.json) into a run folder, resuming it if it was interrupted
# and doing nothing if it is complete; copies the run record to results/train/<name>.h5.
# usage: experiment.sh <vitbench> <preset.json> <run folder>
set -euo pipefail
vitbench=$1 preset=$2 run=$3
name=$(basename "$preset" .json)
results="$(dirname "$0")/../results/train"
if [[ -f "$run/record.h5" ]]; then
  echo "$name: already complete ($run/record.h5)"
else
  resume=()
  [[ -f "$run/checkpoint.h5" ]] && resume=(--resume)
  "$vitbench" train --config "$preset" --output "$run" "${resume[@]}" --json
fi
mkdir -p "$results"
cp "$run/record.h5" "$results/$name.h5"
echo "$name: record copied to results/train/$name.h5"
