#!/usr/bin/python3
"""scripts/convert_state_dict.py converts a plain state_dict and refuses a .pth that pickles code (weights_only=True),
without running it. Exit 77 (CTest: skipped) without Debian's python3-torch, which is optional."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import h5py
    import torch
except ImportError:
    print("VITBENCH_SKIP: python3-torch is not installed (optional: bash scripts/setup-torch.sh)")
    sys.exit(77)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "convert_state_dict.py"


class Evil:  # unpickling this would run a shell command
    def __reduce__(self):
        return (os.system, ("touch {}",))


def main():
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        sd = {"fc.weight": torch.ones(2, 3), "bn.num_batches_tracked": torch.tensor(3)}
        torch.save({"state_dict": sd}, d / "ok.pth")
        r = subprocess.run([sys.executable, SCRIPT, d / "ok.pth", d / "ok.h5"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with h5py.File(d / "ok.h5") as f:
            assert sorted(f) == ["bn.num_batches_tracked", "fc.weight"] and f["fc.weight"].shape == (2, 3)
        marker = d / "pwned"
        Evil.__reduce__ = lambda self: (os.system, (f"touch {marker}",))
        torch.save({"state_dict": sd, "extra": Evil()}, d / "evil.pth")
        r = subprocess.run([sys.executable, SCRIPT, d / "evil.pth", d / "evil.h5"], capture_output=True, text=True)
        assert r.returncode != 0 and "weights_only=True refused it" in r.stderr, (r.returncode, r.stderr)
        assert not marker.exists(), "the pickled command ran"
        assert not (d / "evil.h5").exists()
    print("convert_untrusted: plain weights converted; a pickled command refused and not run")


if __name__ == "__main__":
    main()
