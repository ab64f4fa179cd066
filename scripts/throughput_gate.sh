#!/usr/bin/env bash
# The CI throughput gate (docs/throughput.md): instruction counts under callgrind (primary) and images/s
# normalised by the run's GEMM peak (secondary) of a short model set vs results/baselines/throughput.json.
#   scripts/throughput_gate.sh            check (exit 1 on a regression beyond the thresholds)
#   scripts/throughput_gate.sh --update   refresh the baseline (thresholds from the committed noise measurement)
#   scripts/throughput_gate.sh --noise    re-measure the noise (5 back-to-back runs) -> results/baselines/throughput_noise.json
# VITBENCH=path/to/vitbench selects the binary (default build/release/vitbench).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "throughput_gate: valgrind missing (bash scripts/setup.sh installs it)"; exit 1; }
args=(--vitbench "${VITBENCH:-build/release/vitbench}")
case "${1:-}" in
  --update) exec /usr/bin/python3 scripts/throughput_gate.py update "${args[@]}" ;;
  --noise) exec /usr/bin/python3 scripts/throughput_gate.py noise "${args[@]}" "${@:2}" ;;
  "") exec /usr/bin/python3 scripts/throughput_gate.py check "${args[@]}" ;;
  *) echo "usage: $0 [--update | --noise [--runs N]]"; exit 2 ;;
esac
