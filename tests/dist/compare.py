"""Compares data-parallel runs with the 1-process run (tests/dist/parity.sh): per-step loss, final parameters,
test metrics. The tolerance comes from the reference run's own sensitivity to summation order (`reordered`:
same run, other thread count), so it scales with the model, the step count and the machine's kernels.
A --control run must differ by more than the tolerance (a run that is a different function of the batch, e.g.
per-rank BatchNorm): it shows that the comparison can fail.
usage: compare.py <dir> <reference> <reordered> <run>... [--control <run>]...
       (each a run folder <dir>/<name> + <name>.json)"""
import json
import sys

import h5py
import numpy as np

F32_EPS = np.finfo(np.float32).eps  # 2^-23


def load(d, name):
    rec = h5py.File(f"{d}/{name}/record.h5", "r")
    ck = h5py.File(f"{d}/{name}/checkpoint.h5", "r")
    params = {}
    ck.visititems(lambda k, v: params.setdefault(k, v[()]) if isinstance(v, h5py.Dataset)
                  and not k.startswith("train_state") else None)
    return {"loss": rec["steps/loss"][:], "params": params, "attrs": dict(rec.attrs),
            "json": json.load(open(f"{d}/{name}.json"))}


def diffs(a, b):
    dl = float(np.max(np.abs(a["loss"] - b["loss"])))
    assert a["params"].keys() == b["params"].keys(), "the runs hold different parameters"
    dp = max(float(np.max(np.abs(a["params"][k].astype(np.float64) - b["params"][k])))
             for k in a["params"] if a["params"][k].size)
    return dl, dp


argv, controls = [], []
it = iter(sys.argv[1:])
for a in it:
    (controls.append(next(it)) if a == "--control" else argv.append(a))
d, ref_name, reo_name, runs = argv[0], argv[1], argv[2], argv[3:]
ref, reo = load(d, ref_name), load(d, reo_name)
steps = len(ref["loss"])
pmax = max(float(np.max(np.abs(v))) for v in ref["params"].values() if v.size)
# Tolerance: 10x the reordering's effect (a 2-rank split reorders the batch sums once more, at the allreduce),
# and at least what float32 rounding of the largest values allows after `steps` steps of drift (a few ulps of
# the loss / of the largest parameter per step), so a reference run that happens to be insensitive to its
# thread count (difference 0) still gets a meaningful, nonzero bound.
rl, rp = diffs(ref, reo)
tol_loss = max(10 * rl, 4 * steps * F32_EPS * float(np.max(np.abs(ref["loss"]))))
tol_param = max(10 * rp, 4 * steps * F32_EPS * pmax)
print(f"{steps} steps; reordering ({reo_name} vs {ref_name}): max |loss diff| {rl:.3g}, max |param diff| {rp:.3g}")
print(f"tolerance: loss {tol_loss:.3g}, parameters {tol_param:.3g}")
ok = True
for name in runs:
    r = load(d, name)
    ws = int(r["attrs"].get("world_size", 0))
    dl, dp = diffs(ref, r)
    top = abs(r["json"]["top1"] - ref["json"]["top1"])
    good = dl <= tol_loss and dp <= tol_param and ws == 2 and top <= 100.0 / 64 + 1e-9
    ok &= good
    print(f"{name}: world_size {ws}, max |loss diff| {dl:.3g}, max |param diff| {dp:.3g}, "
          f"test top-1 {r['json']['top1']:.2f}% vs {ref['json']['top1']:.2f}%: {'ok' if good else 'FAIL'}")
for name in controls:
    r = load(d, name)
    dl, dp = diffs(ref, r)
    step1 = abs(float(r["loss"][0] - ref["loss"][0]))
    good = dl > tol_loss and dp > tol_param
    ok &= good
    print(f"{name} (control, must differ): max |loss diff| {dl:.3g} (step 1: {step1:.3g}), max |param diff| {dp:.3g}, "
          f"test top-1 {r['json']['top1']:.2f}%: {'differs, ok' if good else 'FAIL: within the tolerance'}")
# The check must be able to fail: the runs' losses move by far more than the tolerance from step to step.
move = float(np.max(np.abs(np.diff(ref["loss"]))))
if move <= 100 * tol_loss:
    print(f"FAIL: the loss moves by at most {move:.3g} per step, too little to tell runs apart at {tol_loss:.3g}")
    ok = False
sys.exit(0 if ok else 1)
