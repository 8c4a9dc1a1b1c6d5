//! What the runner keeps of each run, and how replications are aggregated.
//!
//! Aggregation must give byte-identical output whatever the number of threads, however a
//! sweep is sharded and however often a run was interrupted and resumed. Floating-point
//! sums depend on the order of addition, so every value is first quantized to
//! micro-units and summed as an integer ([`Acc`]): integer sums are exact, hence
//! independent of order, and a merge of shards adds up to exactly what one run would
//! have.
//!
//! - [`acc`]: the accumulators and intervals;
//! - [`series`]: per-bucket series of a run, keyed by metric and entity;
//! - here: the per-run numbers of `runs.csv` ([`RUN_METRICS`], [`run_values`]).

pub mod acc;
pub mod series;

pub use acc::{Acc, t975, wilson};
pub use series::{GroupSeries, Series, SeriesKey, series, series_count};

use crate::sim::RunReport;

/// The per-run metrics written to `runs.csv`, in column order (defined in
/// `output/README.md`).
pub const RUN_METRICS: [&str; 48] = [
    "outage_s",
    "sustained_outage_s",
    "recovery_s",
    "recovered",
    "diverged",
    "diverged_at_s",
    "offered",
    "good",
    "late",
    "degraded",
    "pending",
    "failed",
    "abandoned",
    "unresolved",
    "dead_lettered",
    "outbox_pending",
    "failed_error",
    "failed_timeout",
    "failed_client_error",
    "failed_throttled",
    "failed_queue_full",
    "failed_queue_timeout",
    "failed_bulkhead_full",
    "failed_circuit_open",
    "failed_rate_limited",
    "failed_shed",
    "failed_deadline_exceeded",
    "failed_no_healthy_upstream",
    "failed_conflict",
    "retries_refused",
    "fallbacks",
    "outbox_delivered",
    "lost",
    "lost_revenue",
    "p50_ms",
    "p99_ms",
    "p50_ok_ms",
    "p99_ok_ms",
    "completion_s",
    "amplification",
    "wasted",
    "wasted_s",
    "breaker_transitions",
    "restarts",
    "ejections",
    "peak_replicas",
    "final_replicas",
    "events",
];

/// The range a metric's values (and so its interval) can take: shares in `[0, 1]`,
/// everything else `≥ 0`. Intervals are clipped to it.
pub fn metric_range(metric: &str) -> (f64, f64) {
    match metric {
        "recovered" | "diverged" | "recovered_share" | "good_ratio" | "down" | "breaker_open" => {
            (0.0, 1.0)
        }
        _ => (0.0, f64::INFINITY),
    }
}

/// The per-resource metrics of `runs.csv`, after [`RUN_METRICS`]: for each `occ` resource
/// (in `resources` order) `occ_writes:<name>`, then `occ_conflicts:<name>`.
pub fn resource_metrics(resources: &[String]) -> Vec<String> {
    resources
        .iter()
        .flat_map(|r| [format!("occ_writes:{r}"), format!("occ_conflicts:{r}")])
        .collect()
}

/// The values of [`RUN_METRICS`] for one run, then of [`resource_metrics`] for
/// `resources` (NaN for a resource this run's model does not have).
pub fn run_values(r: &RunReport, resources: &[String]) -> Vec<f64> {
    let s = &r.summary;
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let mut v = vec![
        s.outage_s,
        s.sustained_outage_s,
        s.recovery_s,
        flag(s.recovered),
        flag(s.diverged),
        s.diverged_at_s,
        s.offered as f64,
        s.good as f64,
        s.late as f64,
        s.degraded as f64,
        s.pending as f64,
        s.failed as f64,
        s.abandoned as f64,
        s.unresolved as f64,
        s.dead_lettered as f64,
        s.outbox_pending as f64,
    ];
    v.extend(s.failed_by.iter().map(|&n| n as f64));
    v.extend([
        s.retries_refused as f64,
        s.fallbacks as f64,
        s.outbox_delivered as f64,
        s.lost as f64,
        s.lost_revenue,
        s.p50_ms,
        s.p99_ms,
        s.p50_ok_ms,
        s.p99_ok_ms,
        r.metrics.last_success.map_or(f64::NAN, |t| t.as_secs_f64()),
        s.amplification,
        s.wasted as f64,
        s.wasted_s,
        s.breaker_transitions as f64,
        s.restarts as f64,
        s.ejections as f64,
        s.peak_replicas as f64,
        s.final_replicas as f64,
        s.events as f64,
    ]);
    for name in resources {
        let m = r.metrics.resources.iter().find(|m| &m.name == name);
        v.push(m.map_or(f64::NAN, |m| m.writes as f64));
        v.push(m.map_or(f64::NAN, |m| m.conflicts as f64));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::RUN_METRICS;
    use crate::sim::metrics::{FAIL_REASONS, fail_reason_name};

    #[test]
    fn the_failed_columns_follow_the_reasons_in_order() {
        let first = RUN_METRICS
            .iter()
            .position(|m| *m == "failed_error")
            .unwrap();
        for i in 0..FAIL_REASONS {
            assert_eq!(
                RUN_METRICS[first + i],
                format!("failed_{}", fail_reason_name(i))
            );
        }
    }
}
