#!/usr/bin/env bash
# A sweep killed mid-run (SIGKILL to the runner and its run, right after a run's first checkpoint) and started
# again ends with the same records as an uninterrupted one, timing fields aside; the uninterrupted one runs its
# two lines at once (--jobs 2), so that is checked against one at a time too. usage: kill_resume.sh <vitbench>
set -euo pipefail
vitbench=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/kill.json" <<'JSON'
{
  "sweep": "kill_test",
  "base": {"model": "vit_tiny_patch4_32", "overrides": ["img_size=16", "depth=1"], "dataset":
           "synthetic:train=448,test=64,classes=4,size=16", "val_size": 64, "batch": 32, "eval_batch": 64,
           "steps": 24, "eval_every": 6, "warmup_steps": 2, "drop_path": 0.1, "mixup": 0.2, "test_every_epoch": false},
  "arms": [{"name": "a"}, {"name": "b", "overrides": ["pos_embed=none"]}],
  "axes": {"seed": [0]},
  "tiers": {"smoke": {}},
  "seconds_per_step": {"vit_tiny_patch4_32": {"seconds": 0.01, "batch": 32}}
}
JSON
"$vitbench" --threads 2 sweep plan "$dir/kill.json" --tier smoke --out "$dir/whole" --allow-dirty
"$vitbench" sweep run "$dir/whole" --quiet --jobs 2  # both arms at once: the same records as one at a time
"$vitbench" --threads 2 sweep plan "$dir/kill.json" --tier smoke --out "$dir/killed" --allow-dirty
second=$(sed -n 2p "$dir/killed/sweep.jsonl" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['name'])")
setsid "$vitbench" sweep run "$dir/killed" --quiet &
runner=$!
for _ in $(seq 1 600); do  # until the second run has its first checkpoint (at most 60 s)
  [[ -f "$dir/killed/$second/checkpoint.h5" ]] && break
  sleep 0.1
done
kill -KILL -- "-$runner" 2>/dev/null || true
wait "$runner" 2>/dev/null || true
[[ -f "$dir/killed/$second/checkpoint.h5" && ! -f "$dir/killed/$second/record.h5" ]] \
  || { echo "kill_resume: the kill did not land inside the second run"; exit 1; }
"$vitbench" sweep status -v "$dir/killed" | tee "$dir/status"
grep -q "interrupted" "$dir/status"
"$vitbench" sweep run "$dir/killed" --quiet
/usr/bin/python3 - "$dir" <<'PY'
import json, sys, h5py, numpy as np
from pathlib import Path
d = Path(sys.argv[1])
TIMING = {"start_time", "end_time", "train_wall_s", "run_wall_s", "session_wall_s", "images_per_s", "command",
          "sessions"}  # sessions: the processes a run took, 2 for the killed one (checked below)
for i, line in enumerate((d / "whole/sweep.jsonl").read_text().splitlines()):
    name = json.loads(line)["name"]
    with h5py.File(d / "whole" / name / "record.h5") as a, h5py.File(d / "killed" / name / "record.h5") as b:
        assert (a.attrs["sessions"], b.attrs["sessions"]) == (1, 1 + i), (name, a.attrs["sessions"], b.attrs["sessions"])
        assert b.attrs["run_wall_s"] >= b.attrs["session_wall_s"], name
        for k in a.attrs:
            if k not in TIMING:
                assert str(a.attrs[k]) == str(b.attrs[k]), (name, k, a.attrs[k], b.attrs[k])
        def datasets(f):
            out = {}
            f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
            return out
        da, db = datasets(a), datasets(b)
        assert da.keys() == db.keys()
        for k in da:
            if k in ("epochs/wall_s", "epochs/images_per_s"):
                continue
            assert np.array_equal(da[k], db[k], equal_nan=True), (name, k)
print("kill_resume: the killed and restarted sweep's records equal the uninterrupted ones (timing fields aside)")
PY
