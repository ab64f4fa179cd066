#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for tests (no systemd, root, any cgroup version): munged, slurmctld and
# slurmd with every file (config, key, spool, logs, sockets, pid files) under one state folder, on free ports.
# usage: cluster.sh start DIR | stop DIR | run CMD...   (`run`: a fresh DIR, CMD with SLURM_CONF set, always stopped)
# Needs scripts/setup-cluster.sh (slurm-wlm, munge, libpmix2). docs/cluster.md.
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }

# A TCP port nobody listens on (slurmctld and slurmd need two; the defaults 6817/6818 may be taken by a real
# Slurm or another test cluster on the same machine).
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {
  local d=$1
  for tool in munged slurmctld slurmd sinfo; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup-cluster.sh first"
  done
  mkdir -p "$d"/{munge,ctld,spool,log}
  chmod 700 "$d/munge"
  d=$(cd "$d" && pwd)
  # A private munge key and socket, so that the test cluster never talks to a real munged. --force: munged
  # refuses to run as root, and a key under /tmp, without it.
  dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$d/munge/munge.key"
  munged --force --key-file="$d/munge/munge.key" --socket="$d/munge/munge.socket" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/munged.seed"

  # What slurmd detects on this machine; a node configured with more CPUs or memory than that is refused (`inval`).
  local detected cpus mem
  detected=$(slurmd -C | head -1)
  cpus=$(grep -oP 'CPUs=\K[0-9]+' <<<"$detected")
  mem=$(grep -oP 'RealMemory=\K[0-9]+' <<<"$detected")
  cat >"$d/slurm.conf" <<EOF
# One-node test cluster written by tests/cluster/cluster.sh; every path under $d.
ClusterName=vitbench-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.socket
StateSaveLocation=$d/ctld
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
# No systemd and cgroups v1 here: track processes by their parent chain, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
# No slurmdbd: no accounting (sacct has nothing), job completions to a text file instead.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$d/log/jobcomp.txt
# Schedule at once: tests wait for the queue to empty.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
ReturnToService=2
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$d/slurm.conf"
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF" -N localhost
  # Up when the node is idle (about 2 s here); its log says why otherwise.
  local state=""
  for _ in $(seq 1 150); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    [[ $state == idle ]] && { echo "cluster.sh: one-node cluster up ($cpus CPUs, $mem MB; SLURM_CONF=$SLURM_CONF)"; return 0; }
    sleep 0.2
  done
  tail -5 "$d/log/slurmctld.log" "$d/log/slurmd.log" >&2 || true
  die "the node is not idle after 30 s (state '${state:-none}')"
}

# Kills the daemon whose pid file is $1 (only that process: ours), waiting up to 10 s for it to exit.
stop_daemon() {
  [[ -f $1 ]] || return 0
  local pid
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

stop() {
  local d
  d=$(cd "$1" && pwd) || return 0
  export SLURM_CONF="$d/slurm.conf"
  # Job steps outlive the daemons, so cancel every job and wait for the queue to empty first.
  if [[ -f $d/slurmctld.pid ]] && kill -0 "$(cat "$d/slurmctld.pid")" 2>/dev/null; then
    scancel --full -u "$(id -un)" 2>/dev/null || true
    for _ in $(seq 1 100); do
      [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  stop_daemon "$d/slurmd.pid"
  stop_daemon "$d/slurmctld.pid"
  stop_daemon "$d/munge/munged.pid"
}

case ${1:-} in
  start) [[ $# -eq 2 ]] || die "usage: cluster.sh start DIR"; start "$2" ;;
  stop) [[ $# -eq 2 ]] || die "usage: cluster.sh stop DIR"; stop "$2" ;;
  run)
    shift
    [[ $# -ge 1 ]] || die "usage: cluster.sh run CMD..."
    dir=$(mktemp -d /tmp/vitbench-cluster.XXXXXX)
    trap 'stop "$dir"; rm -rf "$dir"' EXIT
    start "$dir"
    "$@"
    ;;
  *) die "usage: cluster.sh start DIR | stop DIR | run CMD..." ;;
esac
