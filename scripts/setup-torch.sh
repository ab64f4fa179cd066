#!/usr/bin/env bash
# Optional: Debian's PyTorch 1.13 + torchvision, for regenerating the parity fixtures
# (tests/parity/make_fixtures.py), converting .pth checkpoints (scripts/convert_state_dict.py) and the slow
# torchvision-import test. Not needed to build, test or run vitbench: the fixtures are committed.
set -euo pipefail
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends python3-torch python3-torchvision python3-h5py
/usr/bin/python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
