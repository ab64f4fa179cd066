"""Compares two training run records field by field, ignoring only the fields that measure time.
usage: compare_records.py <reference.h5> <other.h5>; exit 1 naming every differing field."""
import json
import sys

import h5py
import numpy as np

# Wall-clock measurements differ between any two runs; `command` holds the --output folder and --resume;
# `sessions` counts the processes a run took (a killed and resumed run took more).
TIMING_ATTRS = {"start_time", "end_time", "train_wall_s", "images_per_s", "run_wall_s", "session_wall_s", "sessions",
                "command"}
TIMING_DATASETS = {"epochs/wall_s", "epochs/images_per_s"}


def datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def main(a_path, b_path):
    a, b = h5py.File(a_path, "r"), h5py.File(b_path, "r")
    diffs = []
    for key in sorted(set(a.attrs) | set(b.attrs)):
        if key in TIMING_ATTRS:
            continue
        va, vb = a.attrs.get(key), b.attrs.get(key)
        if key == "config":  # the settings, minus the output folder each run was given
            va, vb = json.loads(va), json.loads(vb)
            va.pop("output", None), vb.pop("output", None)
        if not np.array_equal(np.asarray(va), np.asarray(vb), equal_nan=va is not None and np.asarray(va).dtype.kind == "f"):
            diffs.append(f"attribute {key}: {va!r} vs {vb!r}")
    da, db = datasets(a), datasets(b)
    for key in sorted(set(da) | set(db)):
        if key in TIMING_DATASETS:
            continue
        if key not in da or key not in db:
            diffs.append(f"dataset {key}: only in {'the reference' if key in da else b_path}")
        elif not np.array_equal(da[key], db[key], equal_nan=True):
            diffs.append(f"dataset {key} differs")
    if diffs:
        print(f"{b_path} differs from {a_path}:\n  " + "\n  ".join(diffs))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
