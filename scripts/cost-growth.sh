#!/usr/bin/env bash
# How cost grows with the work: wall time, events and peak memory of one run against
# simulated duration, request rate and graph size (a generated chain of N services, each
# with a timeout and a jittered retry on its client). Prints the Markdown table the
# README's performance section shows. Wall times are this machine's; read them as ratios
# to each other (and run ../shared/bench/reference beside them for a yardstick).
#
# Usage: scripts/cost-growth.sh            (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/cascade"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
command -v /usr/bin/time >/dev/null || { echo "cost-growth: FAIL: needs GNU time (Debian: apt-get install time)" >&2; exit 1; }

# chain N RATE: a model of N services, s0 → s1 → … → s(N-1), RATE requests/s into s0.
chain() {
  local n=$1 rate=$2
  echo "description = \"generated chain of $n services at $rate req/s\""
  echo "[[workloads]]"
  echo "name = \"users\""
  echo "target = \"s0.get\""
  echo "arrivals = { poisson = { rate = $rate } }"
  echo "patience = \"60s\""
  echo "slo = \"1s\""
  for ((i = 0; i < n; i++)); do
    echo "[services.s$i]"
    echo "workers = 1000"
    echo "[services.s$i.endpoints.get]"
    if ((i + 1 < n)); then
      echo "steps = [{ work = { exponential = { mean = \"1ms\" } } }, { call = \"s$((i + 1)).get\" }]"
      echo "[services.s$i.clients.s$((i + 1))]"
      echo "timeout = \"30s\""
      echo "retry = { max_attempts = 2, backoff = { full_jitter = { base = \"10ms\", cap = \"100ms\" } } }"
    else
      echo "steps = [{ work = { exponential = { mean = \"1ms\" } } }]"
    fi
  done
}

experiment() {
  local model=$1 duration=$2
  cat <<EXP
name = "cost"
model = "$model"
duration = "$duration"
replications = 1
seed = 1
bucket = "10s"
[[variants]]
name = "as-written"
EXP
}

measure() {
  local label=$1 n=$2 rate=$3 duration=$4
  chain "$n" "$rate" > "$work/m.toml"
  experiment "$work/m.toml" "$duration" > "$work/e.toml"
  rm -rf "$work/out"
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin" run "$work/e.toml" --threads 1 --no-charts \
    --quiet --out "$work/out" > /dev/null
  read -r wall kb < "$work/time"
  events=$(python3 -c "import csv; print(next(csv.DictReader(open('$work/out/runs.csv')))['events'])")
  python3 -c "
e=$events; w=$wall; kb=$kb
print(f'| $label | {e/1e6:.1f} M | {w:.2f} s | {w*1e9/e:.0f} ns | {kb/1024:.0f} MB |')"
}

echo "| case | events | wall | per event | peak memory |"
echo "|---|---|---|---|---|"
for d in 10m 30m 90m; do measure "chain of 3, 300 req/s, $d simulated" 3 300 "$d"; done
for r in 100 1000 10000; do measure "chain of 3, $r req/s, 10m simulated" 3 "$r" 10m; done
for n in 10 100 1000; do measure "chain of $n, 30 req/s, 10m simulated" "$n" 30 10m; done
