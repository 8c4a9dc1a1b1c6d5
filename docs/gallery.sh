#!/usr/bin/env bash
# Regenerates the README gallery: runs every bundled experiment into output/<name>/ and
# copies the chart that tells its story to docs/: where a story is a contrast between
# variants, the comparison chart with every variant overlaid. Takes a few minutes on 2
# cores.
#   bash docs/gallery.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
shot() { # experiment, chart, picture
  ./target/release/cascade run "experiments/$1.toml" --out "output/$1" --quiet > /dev/null
  cp "output/$1/charts/$2.png" "docs/$3.png"
  echo "docs/$3.png  ←  experiments/$1.toml ($2)"
}
shot black_friday timeseries_unprotected black_friday_unprotected
shot black_friday_jitter sweep_lost black_friday_jitter
shot black_friday_timeout_sweep sweep_outage_s black_friday_sweeps
shot black_friday_breaker_sweep sweep_outage_s black_friday_breaker_sweep
shot thundering_herd compare thundering_herd
shot titanic_bulkheads compare titanic_bulkheads
shot retry_amplification compare retry_amplification
shot breaker_flapping compare breaker_flapping
shot timeout_hierarchy compare timeout_hierarchy
shot intent_parity lost intent_parity
shot slow_vs_dead compare slow_vs_dead
shot lb_death_spiral timeseries_as-written lb_death_spiral
shot gray_failure lost gray_failure
shot liveness_restart_storm timeseries_as-written liveness_restart_storm
shot black_friday_autoscale timeseries_hpa-45s-start black_friday_autoscale
shot connection_pool_drained timeseries_as-written connection_pool_drained
shot hedging_tail timeseries_hedged hedging_tail
shot retry_after_storm lost retry_after_storm
shot occ_backoff sweep_occ_writes_row occ_backoff_calls
cp output/occ_backoff/charts/sweep_completion_s.png docs/occ_backoff_time.png
echo "docs/occ_backoff_time.png  ←  experiments/occ_backoff.toml (sweep_completion_s)"
./target/release/cascade backoff experiments/black_friday_jitter.toml --out output/backoff-jitter > /dev/null
cp output/backoff-jitter/backoff_arrivals.png docs/backoff_arrivals.png
echo "docs/backoff_arrivals.png  ←  cascade backoff experiments/black_friday_jitter.toml"
