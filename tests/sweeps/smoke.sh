#!/usr/bin/env bash
# The smoke tier of one sweep end to end (CTest label `smoke`): plan into a temporary folder, run every line,
# then check the manifest, every record (complete, the planned commit and ISA) and the status summary.
# usage: smoke.sh <vitbench> <experiments/sweeps/NAME.json>
set -euo pipefail
vitbench=$1 sweep=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$(dirname "$0")/../.."  # sweep files name data relative to the project root
# A sweep with bf16 arms (bf16_training) needs a CPU with bf16: plan refuses it elsewhere, naming the ISA (checked
# here), and the test is reported as skipped.
if grep -q '"dtype=bf16"' "$sweep" && ! "$vitbench" info --capabilities | grep -Eq '^bf16 +available'; then
  "$vitbench" --threads 2 sweep plan "$sweep" --tier smoke --out "$dir/refused" --allow-dirty 2>"$dir/err" && exit 1
  grep -q "bf16 not available on this CPU" "$dir/err" || { cat "$dir/err"; exit 1; }
  echo "VITBENCH_SKIP: $sweep has bf16 arms and this CPU has no bf16 (plan refused it: $(cat "$dir/err"))"
  exit 0
fi
"$vitbench" --threads 2 sweep plan "$sweep" --tier smoke --out "$dir/s" --allow-dirty
# The other tiers must plan too (a tier refused by its own max_hours, or a model an arm no longer builds, shows
# here rather than when someone starts the sweep); they are planned, not run.
for tier in quick standard full; do
  if /usr/bin/python3 -c "import json, sys; sys.exit(0 if sys.argv[2] in json.load(open(sys.argv[1]))['tiers'] else 1)" "$sweep" $tier; then
    "$vitbench" --threads 2 sweep plan "$sweep" --tier $tier --out "$dir/plan-$tier" --allow-dirty
  fi
done
"$vitbench" sweep run "$dir/s" --quiet --collect "$dir/collected"
status=$("$vitbench" sweep status "$dir/s")
echo "$status"
grep -Eq ": ([0-9]+) runs: \1 complete, 0 interrupted, 0 failed, 0 pending" <<<"$status"
/usr/bin/python3 - "$dir" <<'PY'
import json, sys, h5py
from pathlib import Path
d = Path(sys.argv[1])
meta = json.loads((d / "s/sweep.json").read_text())
lines = [json.loads(l) for l in (d / "s/sweep.jsonl").read_text().splitlines()]
assert len(lines) == meta["runs"] and [l["index"] for l in lines] == list(range(len(lines)))
assert len({l["id"] for l in lines}) == len(lines), "ids must be unique"
for l in lines:
    with h5py.File(d / "collected" / f"{l['name']}.h5", "r") as f:
        assert f.attrs["complete"] == 1 and f.attrs["git_commit"] == meta["commit"], l["name"]
        assert f.attrs["isa"] == meta["isa"], (f.attrs["isa"], meta["isa"])
        if meta.get("kind", "train") == "throughput":  # one measurement of the line's case
            c = l["config"]
            g = f"throughput/{c['model']}/{c['mode']}/{c['dtype']}/batch{c['batch']}"
            assert f.attrs["kind"] == "throughput" and f[g].attrs["images_per_s_median"] > 0, l["name"]
            assert len(f[g + "/total_s"]) == c["iters"], l["name"]
        else:
            cfg = json.loads(f.attrs["config"])
            assert cfg["seed"] == l["config"]["seed"] and cfg["model"] == l["config"]["model"]
    if "rf" in l:  # the rf step: trained weights and random init, both whole rf results
        for suffix in (".rf.h5", ".rf_init.h5"):
            with h5py.File(d / "collected" / f"{l['name']}{suffix}", "r") as f:
                assert f.attrs["complete"] == 1 and f.attrs["kind"] == "rf", (l["name"], suffix)
                assert ("random init" == f.attrs["checkpoint"]) == (suffix == ".rf_init.h5"), f.attrs["checkpoint"]
print(f"smoke: {meta['sweep']}: {len(lines)} runs complete, records collected")
PY
