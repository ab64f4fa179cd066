"""A planned sweep folder as the launcher scripts read and write it (docs/sweeps.md): its sweep.json and sweep.jsonl,
and files replaced whole through a temporary name. Imported by share_runs.py and extend_plan.py; no side effects."""
import json
import os
import shutil


def load_plan(folder):
    """(sweep.json, [sweep.jsonl lines]) of a planned sweep folder (a pathlib.Path)."""
    with open(folder / "sweep.json") as f:
        meta = json.load(f)
    with open(folder / "sweep.jsonl") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return meta, lines


def copy_atomically(src, dst):
    """src -> dst through dst.partial, fsync and rename: dst is whole or absent, never half a file."""
    tmp = dst.with_name(dst.name + ".partial")
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout)
        fout.flush()
        os.fsync(fout.fileno())
    os.replace(tmp, dst)
