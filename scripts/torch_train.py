#!/usr/bin/python3
"""The PyTorch side of a training-curve comparison: trains one of tests/parity/torch_models.py's presets with the
recipe of `vitbench train` (docs/training.md, "Against PyTorch") - the same schedule (linear warm-up in steps,
cosine to min_lr, per step), AdamW or SGD + Nesterov with weight decay off for norms, biases, the cls token and
position tables, label smoothing, random crop + flip, the same starting distributions (timm's for ViT/TNT,
torchvision's for ResNet) - and prints the training loss per 100 steps and the test top-1, optionally beside a
vitbench run record's. Not bit-identical (its own weights, split and batch order): it answers "does vitbench train
like PyTorch with this recipe", e.g. when a recipe misbehaves.

    /usr/bin/python3 scripts/torch_train.py --model vit_tiny_patch4_32 --lr 5e-4 --steps 600 \\
        --data ../shared/datasets/cifar10 --compare runs/vit/record.h5 [--json out.json]

Needs Debian's python3-torch/torchvision (scripts/setup-torch.sh). Runs Debian's OpenBLAS with the setup of
scripts/compare_throughput.py (re-executes itself with OPENBLAS_CORETYPE etc. when they are not set): without it
torch 1.13's GEMMs on this VM run ~20x slower.
"""
import argparse
import json
import math
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "parity"))
sys.path.insert(0, os.path.join(REPO, "scripts"))

import compare_throughput as CT  # noqa: E402  (the OpenBLAS setup, one place)


def fast_blas_env():
    """Re-execute with compare_throughput's OpenBLAS environment unless it is already in place."""
    env = os.environ
    if env.get("OPENBLAS_CORETYPE") != "SkylakeX" or CT.OPENBLAS_DIR not in env.get("LD_LIBRARY_PATH", ""):
        os.execve(sys.executable, [sys.executable] + sys.argv, CT.fast_torch_env(os.environ))


def init_like_vitbench(model, family):
    """The starting distributions vitbench draws from (its own weights differ): timm's for ViT/TNT (Linear
    trunc-normal 0.02, zero bias, position tables and cls token trunc-normal 0.02, ViT's patch projection
    lecun-normal, TNT's pixel conv normal 1/sqrt(fan_in)); torchvision's for ResNet (the modules' defaults)."""
    import torch
    import torch.nn as nn
    if family == "resnet":
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        return
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            if family == "vit":  # lecun-normal, truncated at 2 std and widened to keep std 1/sqrt(fan_in)
                std = 1.0 / math.sqrt(fan_in) / 0.87962566103423978
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            else:
                nn.init.normal_(m.weight, std=1.0 / math.sqrt(fan_in))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "pos" in name or "cls_token" in name:
                nn.init.trunc_normal_(p, std=0.02, a=-2.0, b=2.0)


def decays(name, p):
    """vitbench's rule: weight decay on weights of rank >= 2 except position tables and the cls token."""
    return p.dim() >= 2 and "pos" not in name and "cls_token" not in name


def lr_at(step, a):
    """harness/train/schedule.hpp: linear warm-up to lr over warmup steps, then cosine to min_lr."""
    if step < a.warmup_steps:
        return a.lr * (step + 1) / a.warmup_steps
    t = min(1.0, (step - a.warmup_steps) / max(1, a.steps - a.warmup_steps))
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * t))


def vitbench_curve(path, every):
    """Mean training loss per `every` steps and test top-1 of a vitbench run record."""
    import h5py
    import numpy as np
    with h5py.File(path, "r") as f:
        loss = f["steps/loss"][:]
        top1 = float(f.attrs["test_top1"]) if "test_top1" in f.attrs else math.nan
    return [float(np.mean(loss[i:i + every])) for i in range(0, len(loss) - every + 1, every)], top1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a preset of tests/parity/torch_models.py, e.g. vit_tiny_patch4_32")
    p.add_argument("--set", nargs="*", default=[], help="preset overrides, e.g. pos_embed=none")
    p.add_argument("--data", default=os.path.join(REPO, "..", "shared", "datasets", "cifar10"),
                   help="an image folder with train/<class>/ and test/<class>/")
    p.add_argument("--opt", choices=("adamw", "sgd"), default="adamw")
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--min-lr", type=float, default=1e-5)
    p.add_argument("--warmup-steps", type=int, default=200)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--val", type=int, default=5000, help="train images held out (stratified), as vitbench's --val")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--every", type=int, default=100, help="report the mean loss over this many steps")
    p.add_argument("--compare", help="a vitbench record.h5 of the same recipe: its curve beside this one")
    p.add_argument("--json", help="write the curve and the test top-1 here")
    a = p.parse_args()
    fast_blas_env()

    import numpy as np
    import torch
    import torch.nn as nn
    import torchvision
    import torchvision.transforms as T
    import torch_models as tm

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.model not in tm.PRESETS:
        sys.exit(f"torch_train: unknown model {a.model!r} (presets: {', '.join(sorted(tm.PRESETS))})")
    kw = {}
    for s in a.set:
        k, _, v = s.partition("=")
        kw[k] = type(getattr(tm.PRESETS[a.model], k))(v)
    cfg = tm.override(tm.PRESETS[a.model], num_classes=10, **kw)
    model = tm.build(cfg)
    init_like_vitbench(model, cfg.family)

    mean, std = [0.4915, 0.4818, 0.4469], [0.2452, 0.2428, 0.2606]  # CIFAR-10's train split (vitbench's record)
    train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])
    test_tf = T.Compose([T.ToTensor(), T.Normalize(mean, std)])
    for split in ("train", "test"):
        if not os.path.isdir(os.path.join(a.data, split)):
            sys.exit(f"torch_train: {os.path.join(a.data, split)}: no such folder (want train/<class>/*.jpg, test/...)")
    train = torchvision.datasets.ImageFolder(os.path.join(a.data, "train"), train_tf)
    test = torchvision.datasets.ImageFolder(os.path.join(a.data, "test"), test_tf)
    rng = np.random.default_rng(a.seed)
    targets = np.array(train.targets)
    held = set()
    for c in np.unique(targets):  # stratified hold-out, a.val images in all
        idx = np.flatnonzero(targets == c)
        held.update(rng.permutation(idx)[:round(a.val * len(idx) / len(targets))].tolist())
    keep = [i for i in range(len(train)) if i not in held]
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(train, keep), batch_size=a.batch, shuffle=True,
                                         drop_last=True, num_workers=0)

    named = list(model.named_parameters())
    groups = [{"params": [q for n, q in named if decays(n, q)], "weight_decay": a.weight_decay},
              {"params": [q for n, q in named if not decays(n, q)], "weight_decay": 0.0}]
    opt = (torch.optim.AdamW(groups, lr=a.lr) if a.opt == "adamw"
           else torch.optim.SGD(groups, lr=a.lr, momentum=a.momentum, nesterov=True))
    crit = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    losses, step, t0 = [], 0, time.time()
    model.train()
    while step < a.steps:
        for x, y in loader:
            for g in opt.param_groups:
                g["lr"] = lr_at(step, a)
            loss = crit(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            if step % a.every == 0:
                print(f"step {step}: loss {np.mean(losses[-a.every:]):.3f} (lr {lr_at(step - 1, a):.2e}, "
                      f"{time.time() - t0:.0f} s)", flush=True)
            if step >= a.steps:
                break
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(test, batch_size=256):
            correct += (model(x).argmax(1) == y).sum().item()
    top1 = 100.0 * correct / len(test)
    curve = [float(np.mean(losses[i:i + a.every])) for i in range(0, len(losses) - a.every + 1, a.every)]
    print(f"PyTorch: test top-1 {top1:.2f}% after {a.steps} steps")
    out = {"model": a.model, "set": a.set, "opt": a.opt, "lr": a.lr, "steps": a.steps, "batch": a.batch,
           "every": a.every, "torch_loss": curve, "torch_test_top1": top1, "torch": torch.__version__}
    if a.compare:
        theirs, their_top1 = vitbench_curve(a.compare, a.every)
        if len(theirs) != len(curve):
            print(f"torch_train: note: {a.compare} has {len(theirs) * a.every} steps, this run {a.steps}: the test "
                  "top-1 are not comparable", file=sys.stderr)
        print(f"{'steps':>10} {'vitbench':>9} {'PyTorch':>9}")
        for i, (v, t) in enumerate(zip(theirs, curve)):
            print(f"{(i + 1) * a.every:>10} {v:>9.3f} {t:>9.3f}")
        print(f"{'test top-1':>10} {their_top1:>9.2f} {top1:>9.2f}")
        out.update(vitbench_record=a.compare, vitbench_loss=theirs, vitbench_test_top1=their_top1)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
