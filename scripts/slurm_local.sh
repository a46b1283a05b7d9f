#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing simgen's Slurm path for real
# (tests/test_cluster.py, marker "slurm": the tests need it up and do not start it; .ci/run
# does). Needs root and Debian/Ubuntu (apt-get). Idempotent: `up` installs only what is
# missing and starts only the daemons that are not running.
#
#   bash scripts/slurm_local.sh up      # install slurm-wlm + munge if missing, configure, start
#   bash scripts/slurm_local.sh down    # stop the daemons (packages and config stay)
#   bash scripts/slurm_local.sh status  # sinfo
#
# One partition "debug" holding this host with all its CPUs; no accounting, no cgroups
# (proctrack/linuxproc, task/none), so it runs inside containers without systemd.
set -euo pipefail

here=$(hostname -s)
state=/var/spool/slurm-simgen
logs=/var/log/slurm-simgen

alive() { pgrep -r D,R,S -x "$1" >/dev/null; }  # not zombies

up() {
    if [ "$(id -u)" != 0 ]; then echo "slurm_local.sh: needs root" >&2; exit 1; fi
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        exec 8>/var/lock/simgen-apt.lock  # one apt-get of simgen's scripts at a time
        flock 8
        echo "slurm_local.sh: installing slurm-wlm and munge with apt-get ..." >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
    fi
    mkdir -p /etc/slurm "$state/ctld" "$state/d" "$logs" /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null || \
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    chown munge:munge /etc/munge/munge.key /run/munge 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
    alive munged || runuser -u munge -- /usr/sbin/munged
    local cpus mem
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    cat > /etc/slurm/slurm.conf <<EOF
ClusterName=simgen-local
SlurmctldHost=$here
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=/run/slurmctld-simgen.pid
SlurmdPidFile=/run/slurmd-simgen.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=10
NodeName=$here CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$here Default=YES MaxTime=INFINITE State=UP
EOF
    printf 'CgroupPlugin=cgroup/v1\nIgnoreSystemd=yes\n' > /etc/slurm/cgroup.conf
    alive slurmctld || slurmctld
    alive slurmd || slurmd
    for _ in $(seq 60); do
        if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            echo "slurm_local.sh: cluster up on $here ($cpus CPUs, partition debug)" >&2
            return 0
        fi
        scontrol update nodename="$here" state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    echo "slurm_local.sh: the node did not come up; see $logs/" >&2
    tail -n 20 "$logs"/*.log >&2 || true
    exit 1
}

down() {
    scontrol shutdown >/dev/null 2>&1 || true
    for d in slurmd slurmctld; do pkill -x "$d" 2>/dev/null || true; done
    pkill -x munged 2>/dev/null || true
    echo "slurm_local.sh: stopped" >&2
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) sinfo ;;
    *) echo "usage: bash scripts/slurm_local.sh up|down|status" >&2; exit 2 ;;
esac
