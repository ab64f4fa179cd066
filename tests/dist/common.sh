# Shared by the tests/dist/ scripts: skip without MPI, and one mpirun command line that works as root, on a
# busy machine and with a bound on how long a job may take (so a hung job fails instead of blocking CTest).
# shellcheck shell=bash
need_mpi() {
  local vitbench=$1
  if ! command -v mpirun > /dev/null; then echo "VITBENCH_SKIP: mpirun not installed (apt-get install openmpi-bin)"; exit 0; fi
  if ! "$vitbench" train --help | grep -q "MPI: compiled in"; then
    echo "VITBENCH_SKIP: vitbench built without MPI (install libopenmpi-dev and reconfigure)"; exit 0
  fi
}
# mpirun [args...]: --timeout ends a job (all ranks, nonzero status) that runs longer than MPI_TIMEOUT seconds;
# --oversubscribe: ranks may outnumber the cores a busy CI machine reports; --bind-to none: the threads per rank
# are given explicitly (--threads).
mpi() {
  local root=()
  [[ $(id -u) -eq 0 ]] && root=(--allow-run-as-root)
  mpirun "${root[@]}" --oversubscribe --bind-to none --timeout "${MPI_TIMEOUT:-120}" "$@"
}
