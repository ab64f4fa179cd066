#!/usr/bin/python3
"""Writes tests/fixtures/optimizers.h5: PyTorch's SGD (momentum, Nesterov) and AdamW applied to two small tensors
(one with weight decay, one without, as vitbench's no-decay group) for 4 steps with given gradients and learning
rates. tests/train/test_optimizer.cpp replays the same steps and compares. Run with Debian's python3-torch:
    /usr/bin/python3 tests/parity/make_optimizer_fixture.py tests/fixtures/optimizers.h5
"""
import sys

import h5py
import numpy as np
import torch

torch.manual_seed(0)
shapes = {"w": (3, 5), "b": (5,)}  # w decays, b does not
init = {k: torch.randn(s, dtype=torch.float32) for k, s in shapes.items()}
steps = 4
grads = [{k: torch.randn(s, dtype=torch.float32) for k, s in shapes.items()} for _ in range(steps)]
lrs = [0.1, 0.05, 0.02, 0.01]
settings = {
    "sgd": dict(cls=torch.optim.SGD, kw=dict(momentum=0.9, weight_decay=0.01)),
    "sgd_nesterov": dict(cls=torch.optim.SGD, kw=dict(momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adamw": dict(cls=torch.optim.AdamW, kw=dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)),
}

with h5py.File(sys.argv[1], "w") as f:
    for k, v in init.items():
        f[f"init/{k}"] = v.numpy()
    for i, g in enumerate(grads):
        for k, v in g.items():
            f[f"grads/{i}/{k}"] = v.numpy()
    f["lrs"] = np.array(lrs)
    for name, s in settings.items():
        params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
        wd = s["kw"]["weight_decay"]
        kw = {k: v for k, v in s["kw"].items() if k != "weight_decay"}
        opt = s["cls"]([{"params": [params["w"]], "weight_decay": wd}, {"params": [params["b"]], "weight_decay": 0.0}],
                       lr=lrs[0], **kw)
        for i in range(steps):
            for group in opt.param_groups:
                group["lr"] = lrs[i]
            for k, p in params.items():
                p.grad = grads[i][k].clone()
            opt.step()
            for k, p in params.items():
                f[f"{name}/{i}/{k}"] = p.detach().numpy()
        f[name].attrs["settings"] = repr(s["kw"])
    f.attrs["torch_version"] = str(torch.__version__)
