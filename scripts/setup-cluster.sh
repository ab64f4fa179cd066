#!/usr/bin/env bash
# Installs what a one-node Slurm cluster needs (slurm-wlm, munge, libpmix2 for `--mpi=pmix`) for the cluster test
# tier (tests/cluster/, docs/cluster.md). Idempotent: apt runs only when a package is missing, and `apt-get update`
# only when the install fails (a stale package list). The one-node config itself is written by tests/cluster/cluster.sh.
set -euo pipefail

packages=(slurm-wlm munge libpmix2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0

echo "setup-cluster: installing ${missing[*]}"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
# The lock timeout: another setup script (scripts/setup.sh) may be running apt at the same moment.
install() {
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}"
}
if ! install; then
  $sudo apt-get update -q -o DPkg::Lock::Timeout=300
  install
fi
