"""Writes the parity fixtures tests/fixtures/*.h5 from the PyTorch reference (tests/parity/torch_models.py) and
the counter-based weights (tests/parity/counter_weights.py). Deterministic: no torch RNG is used anywhere.
Layout of the files: tests/parity/README.md. Run: python3 tests/parity/make_fixtures.py [case ...]"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import counter_weights as cw  # noqa: E402
import torch_models as tm  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SEED_WEIGHTS, SEED_INPUT, SEED_LABELS = 1, 2, 3
BATCH = 4
LABEL_SMOOTHING = 0.1
SGD_LR, SGD_STEPS = 0.1, 5
MAX_FILE, MAX_TOTAL = 300_000, 3_000_000

# ----------------------------------------------------------------------------------------------------------
# Cases: small configs derived from the presets, covering every family and option.

P = tm.PRESETS
# ResNet: base_width 4, not 8: at width 8 the gradients alone (130k parameters) exceed the 300 KB file limit.
_RESNET = dict(layers=(1, 1, 1, 1), base_width=4, num_classes=10)
_VIT = dict(img_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2, mlp_dim=64, num_classes=10)
_TNT = dict(img_size=16, patch_size=8, word_kernel=3, word_stride=2, word_padding=1, embed_dim=32, num_heads=2,
            inner_dim=8, inner_heads=2, depth=2, mlp_ratio=2.0, inner_mlp_ratio=2.0, num_classes=10)

SMALL_CASES = {  # case name -> (preset it derives from, config)
    "resnet_cifar": ("resnet50_32", tm.override(P["resnet50_32"], name="resnet_cifar", img_size=16, **_RESNET)),
    "resnet_imagenet": ("resnet50", tm.override(P["resnet50"], name="resnet_imagenet", img_size=32, **_RESNET)),
}
for _pos in tm.POS_EMBEDS:
    SMALL_CASES[f"vit_pos_{_pos}"] = (
        "vit_tiny_patch4_32", tm.override(P["vit_tiny_patch4_32"], name=f"vit_pos_{_pos}", pos_embed=_pos, **_VIT))
for _pos in tm.TNT_POS:
    SMALL_CASES[f"tnt_pos_{_pos}"] = (
        "tnt_tiny_patch8_32", tm.override(P["tnt_tiny_patch8_32"], name=f"tnt_pos_{_pos}", tnt_pos=_pos, **_TNT))

LARGE_CASES = {f"{name}_224": name for name in tm.EXPECTED_PARAMS}


# ----------------------------------------------------------------------------------------------------------
# HDF5 writing: float32 for gradients and inputs (gzip + shuffle when large, to meet the size limit), float64
# for the small results (logits, losses). No object timestamps, so regenerating gives identical bytes.

def create_file(path: Path) -> h5py.File:
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)  # the root group
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    return h5py.File(h5py.h5f.create(str(path).encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl))


def ensure_group(f: h5py.File, path: str) -> None:
    parent = f["/"]
    for part in [p for p in path.split("/") if p]:
        if part not in parent:
            gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
            gcpl.set_obj_track_times(False)
            h5py.h5g.create(parent.id, part.encode(), gcpl=gcpl)
        parent = parent[part]


def put(f: h5py.File, name: str, value) -> None:
    ensure_group(f, name.rpartition("/")[0])
    a = np.ascontiguousarray(value)
    if a.size >= 256:
        f.create_dataset(name, data=a, compression="gzip", compression_opts=9, shuffle=True, track_times=False)
    else:
        f.create_dataset(name, data=a, track_times=False)


def f32(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


def write_root_attrs(f: h5py.File, cfg: tm.ModelConfig, preset: str) -> None:
    f.attrs["config"] = cfg.to_json()
    f.attrs["preset"] = preset
    f.attrs["seed_weights"] = SEED_WEIGHTS
    f.attrs["seed_input"] = SEED_INPUT


def counter_input(cfg: tm.ModelConfig, batch: int) -> np.ndarray:
    shape = (batch, cfg.in_chans, cfg.img_size, cfg.img_size)
    return cw.normal(SEED_INPUT, int(np.prod(shape))).reshape(shape)


def counter_labels(cfg: tm.ModelConfig, batch: int) -> np.ndarray:
    return np.floor(cw.uniform(SEED_LABELS, batch) * cfg.num_classes).astype(np.int64)


def fresh_model(cfg: tm.ModelConfig):
    """Model with counter weights (seed 1), computing in float64; also returns the float32 weight values."""
    model = tm.build(cfg)
    weights = cw.load_counter_weights(model, SEED_WEIGHTS)
    return model.double(), weights


def loss_fn(logits, labels):
    return F.cross_entropy(logits, labels, label_smoothing=LABEL_SMOOTHING)


def write_small(case: str, preset: str, cfg: tm.ModelConfig, path: Path) -> None:
    x_np = counter_input(cfg, BATCH)
    labels_np = counter_labels(cfg, BATCH)
    x = torch.from_numpy(x_np).double()
    labels = torch.from_numpy(labels_np)

    model, weights = fresh_model(cfg)
    with torch.no_grad():
        logits_eval = model.eval()(x)

    model.train()  # BatchNorm uses batch statistics (and updates its running stats once)
    xg = x.clone().requires_grad_(True)
    logits_train = model(xg)
    loss = loss_fn(logits_train, labels)
    loss.backward()
    grads = {k: p.grad for k, p in model.named_parameters()}
    assert all(g is not None for g in grads.values()), f"{case}: a parameter got no gradient"

    # SGD from the same start: step k records the loss before its update.
    model, _ = fresh_model(cfg)
    model.train()
    sgd_losses = []
    for _ in range(SGD_STEPS):
        model.zero_grad(set_to_none=True)
        step_loss = loss_fn(model(x), labels)
        step_loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= SGD_LR * p.grad
        sgd_losses.append(step_loss.item())
    assert abs(sgd_losses[0] - loss.item()) <= 1e-12 * abs(loss.item()), f"{case}: SGD step 0 differs from the gradient pass"

    with create_file(path) as f:
        write_root_attrs(f, cfg, preset)
        f.attrs["seed_labels"] = SEED_LABELS
        f.attrs["label_smoothing"] = LABEL_SMOOTHING
        f.attrs["sgd_lr"] = SGD_LR
        put(f, "input", x_np)
        put(f, "labels", labels_np)
        # The weights are not stored (the gradients alone nearly fill the 300 KB budget): they are
        # counter_tensor(seed_weights, key, shape) for every entry listed here.
        f.attrs["state_dict"] = json.dumps([[k, list(v.shape)] for k, v in weights.items()])
        if cfg.family == "vit" and cfg.pos_embed == "sincos_2d":
            put(f, "fixed/pos_embed", f64(model.pos_embed))
        put(f, "logits_eval", f64(logits_eval))
        put(f, "logits_train", f64(logits_train))
        put(f, "loss", np.float64(loss.item()))
        for k, g in grads.items():
            put(f, f"grads/{k}", f32(g))
        put(f, "grad_input", f32(xg.grad))
        put(f, "sgd_losses", np.array(sgd_losses, dtype=np.float64))
        for k, v in model.state_dict().items():
            if k.endswith("running_mean") or k.endswith("running_var"):
                put(f, f"running_after/{k}", f32(v))


def write_large(case: str, preset: str, path: Path) -> None:
    """224 presets: eval logits of one counter-normal image; the weights come from the generator on both
    sides. The input (602 KB) is not stored, it is rng::normal(seed_input, i); its first values and sum are."""
    cfg = tm.PRESETS[preset]
    x_np = counter_input(cfg, 1)
    model, weights = fresh_model(cfg)
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(x_np).double())
    with create_file(path) as f:
        write_root_attrs(f, cfg, preset)
        f.attrs["state_dict"] = json.dumps([[k, list(v.shape)] for k, v in weights.items()])
        f.attrs["input_shape"] = np.array(x_np.shape, dtype=np.int64)
        put(f, "input_head", x_np.reshape(-1)[:256])
        put(f, "input_sum", np.float64(x_np.astype(np.float64).sum()))
        put(f, "logits_eval", f32(logits))


def write_counter_weights(path: Path) -> None:
    """Full counter values of a few keys/shapes covering every rule, plus normal draws, for the C++ twin."""
    keys = [("blocks.0.attn.qkv.weight", (96, 32)), ("layer1.0.bn1.running_var", (8,)),
            ("layer1.0.bn1.running_mean", (8,)), ("norm.weight", (32,)), ("head.bias", (10,)),
            ("pixel_pos", (1, 8, 4, 4)), ("cls_token", (1, 1, 32)), ("conv1.weight", (8, 3, 7, 7))]
    with create_file(path) as f:
        f.attrs["seed"] = SEED_WEIGHTS
        for k, shape in keys:  # dataset name = state_dict key, dataset shape = tensor shape
            put(f, f"tensors/{k}", cw.counter_tensor(SEED_WEIGHTS, k, shape))
        f.attrs["normal_seed"] = SEED_INPUT
        put(f, "normal", cw.normal(SEED_INPUT, 1024))


def main(argv) -> int:
    torch.manual_seed(0)  # unused: nothing here draws from torch's RNG
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    FIXTURES.mkdir(parents=True, exist_ok=True)
    wanted = set(argv)
    jobs = [("counter_weights", lambda p: write_counter_weights(p))]
    jobs += [(c, (lambda p, c=c, pr=pr, cfg=cfg: write_small(c, pr, cfg, p))) for c, (pr, cfg) in SMALL_CASES.items()]
    jobs += [(c, (lambda p, c=c, pr=pr: write_large(c, pr, p))) for c, pr in LARGE_CASES.items()]
    for case, job in jobs:
        if wanted and case not in wanted:
            continue
        path = FIXTURES / f"{case}.h5"
        job(path)
        print(f"wrote {path.name}", flush=True)

    print(f"\n{'fixture':32s} {'bytes':>10s}")
    total = 0
    ok = True
    for p in sorted(FIXTURES.glob("*.h5")):
        size = p.stat().st_size
        total += size
        flag = "" if size < MAX_FILE else "  > 300 KB"
        ok &= size < MAX_FILE
        print(f"{p.name:32s} {size:10,d}{flag}")
    print(f"{'total':32s} {total:10,d}{'' if total < MAX_TOTAL else '  > 3 MB'}")
    return 0 if ok and total < MAX_TOTAL else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
