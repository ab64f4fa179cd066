#!/usr/bin/env bash
# Optional: Debian's PyTorch 1.13 + torchvision, for regenerating the parity fixtures
# (tests/parity/make_fixtures.py), converting .pth checkpoints (scripts/convert_state_dict.py) and the slow
# torchvision-import test, and the PyTorch side of scripts/compare_throughput.py (with Debian's OpenBLAS, which
# that script loads through LD_LIBRARY_PATH). Not needed to build, test or run vitbench: the fixtures are committed.
set -euo pipefail
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends python3-torch python3-torchvision python3-h5py libopenblas0-openmp
# Installing OpenBLAS makes it the system libblas.so.3 alternative; keep Debian's reference BLAS as the default
# (what torch gets unless a script asks for OpenBLAS explicitly, as compare_throughput.py does).
for lib in blas lapack; do
  $sudo update-alternatives --set lib$lib.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/$lib/lib$lib.so.3
done
/usr/bin/python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
