#!/usr/bin/env bash
# A real Slurm job array, end to end: starts a private single-node cluster on localhost
# (munged and slurmctld/slurmd with their own key, socket, ports, state and logs in a
# temporary directory), submits an experiment with deploy/slurm/submit.sh as an array of
# shards plus a merge job, and checks the merged files are byte-identical to one
# unsharded run. Stops everything it started, whatever happens.
#
# Needs Debian's slurm-wlm and munge (scripts/test.sh installs them) and root, or a
# user allowed to run slurmd. Missing tools are a failure that says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "slurm: FAIL: $*" >&2
  echo "slurm: 0 passed, 1 failed"
  exit 1
}
for tool in munged munge sbatch slurmctld slurmd scontrol sinfo; do
  command -v "$tool" >/dev/null ||
    fail "$tool not found: install Debian's slurm-wlm and munge (apt-get install slurm-wlm munge), or run scripts/test.sh"
done
cargo build --release --quiet
cascade="$PWD/target/release/cascade"

experiment=experiments/intent_parity.toml
flags=(--replications 2)
shards=3

D=$(mktemp -d /tmp/cascade-slurm.XXXXXX)
chmod 755 "$D"
mkdir -p "$D/state" "$D/spool" "$D/log" "$D/out"
stop() {
  if [ -f "$D/slurm.conf" ]; then
    SLURM_CONF="$D/slurm.conf" scontrol shutdown >/dev/null 2>&1 || true
  fi
  for pidfile in "$D/slurmd.pid" "$D/slurmctld.pid"; do
    if [ -s "$pidfile" ]; then
      pid=$(cat "$pidfile")
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill "$pid" 2>/dev/null || true
    fi
  done
  munged --stop --socket="$D/munge.sock" >/dev/null 2>&1 || true
  if [ "${keep:-}" = 1 ]; then
    echo "slurm: logs kept in $D/log" >&2
  else
    rm -rf "$D"
  fi
}
trap stop EXIT

# munge: a private key and socket, so the test touches nothing of the machine's.
head -c 1024 /dev/urandom >"$D/munge.key"
chmod 600 "$D/munge.key"
munged --force --socket="$D/munge.sock" --key-file="$D/munge.key" \
  --pid-file="$D/munged.pid" --log-file="$D/log/munged.log" --seed-file="$D/munged.seed" ||
  fail "munged did not start: $(tail -n 3 "$D/log/munged.log" 2>/dev/null)"

host=$(hostname -s)
port=$((20000 + ($$ % 5000) * 2))
cat >"$D/slurm.conf" <<EOF
ClusterName=cascadetest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$D/munge.sock
CredType=cred/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
InactiveLimit=0
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=2000 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=60 State=UP
EOF
export SLURM_CONF="$D/slurm.conf"
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start: $(tail -n 3 "$D/log/slurmctld.log" 2>/dev/null)"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start: $(tail -n 3 "$D/log/slurmd.log" 2>/dev/null)"
for _ in $(seq 120); do
  [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && break
  sleep 0.5
done
[ "$(sinfo -h -o %t 2>/dev/null)" = idle ] ||
  { keep=1; fail "the node never became idle: $(sinfo 2>&1 | tail -n 2 | tr '\n' ' ')"; }
echo "slurm: single-node cluster up ($(sinfo -h -o '%P %D %c CPUs %t'), Slurm $(sbatch --version | cut -d' ' -f2))"

# The experiment as a job array, then merged by a dependent job.
(cd "$D" && CASCADE="$cascade" timeout 600 "$OLDPWD/deploy/slurm/submit.sh" --wait \
  "$OLDPWD/$experiment" "$D/out" "$shards" "${flags[@]}") ||
  { keep=1; fail "the array or the merge failed: $(cat "$D"/cascade-*.out 2>/dev/null | tail -n 5 | tr '\n' ' ')"; }

for k in $(seq 1 $shards); do
  grep -q "\"shard\": \"$k/$shards\"" "$D/out/shard-$k/manifest.json" ||
    fail "shard-$k/manifest.json does not say it is shard $k/$shards"
done
"$cascade" run "$experiment" "${flags[@]}" --out "$D/whole" --quiet --no-charts >/dev/null
for f in runs.csv summary.csv timeseries.csv; do
  cmp -s "$D/out/merged/$f" "$D/whole/$f" ||
    { keep=1; fail "merged $f differs from an unsharded run"; }
done
"$cascade" plot "$D/out/merged" >/dev/null || fail "plot refuses the merged output"
jobs=$(($(wc -l <"$D/whole/runs.csv") - 1))
echo "slurm: $shards array tasks + merge: $jobs jobs of $experiment byte-identical to an unsharded run"
echo "slurm: 1 passed, 0 failed"
