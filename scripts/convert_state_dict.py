#!/usr/bin/python3
"""Convert a PyTorch checkpoint (.pth / .pt: a state_dict, or a dict holding one under 'state_dict', 'model'
or 'model_state') into a vitbench checkpoint: one HDF5 dataset per state_dict key, PyTorch layout and shape,
float32 (integer buffers such as num_batches_tracked as int64). A 'module.' prefix (DataParallel) is dropped.

    /usr/bin/python3 scripts/convert_state_dict.py resnet50-0676ba61.pth resnet50.h5

Needs Debian's python3-torch and python3-h5py (use /usr/bin/python3 if another python3 comes first on PATH).
"""
import argparse
import os
import sys

import h5py
import torch


def load_state_dict(path):
    # weights_only=True: a .pth file is a pickle, and unpickling one from the internet can run arbitrary code;
    # this mode (torch >= 1.13) restores tensors and plain containers only, and refuses anything else. The
    # vitbench HDF5 checkpoints are the safe format (plain datasets, nothing executed on load).
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (torch raises UnpicklingError, RuntimeError, ... for a refused file)
        sys.exit(f"{path}: not loadable as plain weights (weights_only=True refused it: {e}); a checkpoint that "
                 "pickles code or custom classes is not converted - export its state_dict with PyTorch first")
    for key in ("state_dict", "model", "model_state"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        sys.exit(f"{path}: no state_dict found (expected a dict of tensors)")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="PyTorch checkpoint (.pth/.pt)")
    ap.add_argument("output", help="vitbench checkpoint to write (.h5)")
    args = ap.parse_args()
    state = load_state_dict(args.input)
    partial = args.output + ".partial"
    with h5py.File(partial, "w") as f:
        for key, value in state.items():
            value = value.detach().cpu()
            if value.is_floating_point():
                f.create_dataset(key, data=value.float().numpy())
            else:
                f.create_dataset(key, data=value.long().numpy())
    os.replace(partial, args.output)
    print(f"{len(state)} tensors -> {args.output}")


if __name__ == "__main__":
    main()
