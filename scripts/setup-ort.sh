#!/usr/bin/env bash
# Optional: ONNX Runtime (CPU execution provider) as the second speed anchor of the throughput comparison
# (docs/throughput.md; the `onnxruntime` arm of experiments/sweeps/throughput.json). Installs Debian's Node.js and npm,
# then onnxruntime-node (pinned in scripts/ort/package-lock.json) from npm into scripts/ort/node_modules. The CPU
# binaries come inside the package; ONNXRUNTIME_NODE_INSTALL=skip skips its install script, which only fetches GPU
# providers (and fails offline). Exporting the models needs PyTorch too: bash scripts/setup-torch.sh.
set -euo pipefail
cd "$(dirname "$0")/ort"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends nodejs npm
fi
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
node -e "const o = require('onnxruntime-node'); console.log('onnxruntime-node', require('onnxruntime-node/package.json').version)"
