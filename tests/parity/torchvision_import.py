#!/usr/bin/python3
"""End-to-end check that torchvision weights import directly: a torchvision ResNet-50 with random (non-default)
weights and BatchNorm statistics is saved as .pth, converted by scripts/convert_state_dict.py, run by
`vitbench predict`, and the logits compared with PyTorch's. Exit 77 (CTest: skipped) when torch is missing.

    /usr/bin/python3 tests/parity/torchvision_import.py build/release/vitbench
"""
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import torch
    import torchvision
except ImportError as e:  # torch is an optional dependency
    print(f"skipped: {e}")
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
vitbench = sys.argv[1]
torch.manual_seed(0)
model = torchvision.models.resnet50()
with torch.no_grad():  # make BatchNorm's running statistics non-trivial, so eval mode is really tested
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.5, 1.5)
model.eval()
x = torch.randn(2, 3, 224, 224)
with torch.no_grad():
    want = model(x).double()
with tempfile.TemporaryDirectory() as d:
    torch.save(model.state_dict(), f"{d}/r50.pth")
    subprocess.run([sys.executable, f"{here}/../../scripts/convert_state_dict.py", f"{d}/r50.pth", f"{d}/r50.h5"], check=True)
    with h5py.File(f"{d}/x.h5", "w") as f:
        f["images"] = x.numpy()
    subprocess.run([vitbench, "predict", "--model", "resnet50", "--weights", f"{d}/r50.h5", "--input", f"{d}/x.h5",
                    "--output", f"{d}/y.h5"], check=True)
    with h5py.File(f"{d}/y.h5") as f:
        got = torch.from_numpy(f["logits"][:]).double()
err = ((got - want).abs().max() / want.abs().max()).item()
print(f"max |vitbench - torchvision| / max |logit| = {err:.2e}")
sys.exit(0 if err < 1e-4 else 1)
