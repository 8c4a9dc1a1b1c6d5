//! [`RunReport`]: what one run measured, as plain data for the experiment runner.

use crate::engine::RunStats;
use crate::model::graph::Model;
use crate::sim::config::RunConfig;
use crate::sim::metrics::{ClientKind, Metrics, Outage};
use crate::time::SimTime;

/// One number per metric for a whole run (a row of `runs.csv`).
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// User requests sent.
    pub offered: u64,
    /// Good answers.
    pub good: u64,
    /// Late answers.
    pub late: u64,
    /// Degraded answers.
    pub degraded: u64,
    /// Pending answers.
    pub pending: u64,
    /// Failed requests.
    pub failed: u64,
    /// Abandoned requests.
    pub abandoned: u64,
    /// Intents captured for later and then dead-lettered.
    pub dead_lettered: u64,
    /// Captured intents still in an outbox when the run ended (neither delivered nor
    /// dead-lettered yet: not counted as lost).
    pub outbox_pending: u64,
    /// Requests with no good answer: failed + abandoned + unresolved + dead-lettered.
    pub lost: u64,
    /// Revenue of the lost requests.
    pub lost_revenue: f64,
    /// Median latency of user requests (sent to final outcome), ms.
    pub p50_ms: f64,
    /// 99th percentile latency of user requests (sent to final outcome), ms.
    pub p99_ms: f64,
    /// Retry amplification: attempts on the busiest client edge per user request (27 for
    /// three layers of three attempts against a dead leaf; NaN without client edges).
    /// Users' own refreshes are not counted.
    pub amplification: f64,
    /// Total down time, s.
    pub outage_s: f64,
    /// Down time after the last fault ended, s.
    pub sustained_outage_s: f64,
    /// Last fault's end to the end of the last down interval, s.
    pub recovery_s: f64,
    /// The run ended up.
    pub recovered: bool,
    /// Requests completed after their caller had given up.
    pub wasted: u64,
    /// Worker-seconds spent after callers had given up, all services.
    pub wasted_s: f64,
    /// Circuit-breaker state changes, all clients.
    pub breaker_transitions: u64,
    /// Instances restarted by their liveness probe, all services.
    pub restarts: u64,
    /// Outlier ejections enforced, all edges.
    pub ejections: u64,
    /// The largest number of replicas asked for at once, summed over services (equal to
    /// the instances written in the model when nothing autoscales).
    pub peak_replicas: u64,
    /// Replicas asked for at the end of the run, summed over services.
    pub final_replicas: u64,
    /// Events handled.
    pub events: u64,
}

/// Everything one run measured.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The settings of the run.
    pub config: RunConfig,
    /// Buckets covering `[0, duration)`.
    pub run_buckets: usize,
    /// First fault start and last fault end, if any.
    pub fault_window: Option<(SimTime, SimTime)>,
    /// Per-bucket series.
    pub metrics: Metrics,
    /// Down buckets and outage figures.
    pub outage: Outage,
    /// The headline numbers.
    pub summary: RunSummary,
    /// Engine statistics.
    pub stats: RunStats,
}

impl RunReport {
    pub(crate) fn new(model: &Model, config: RunConfig, metrics: Metrics, stats: RunStats) -> Self {
        let run_buckets = (config
            .duration
            .as_nanos()
            .div_ceil(config.bucket.as_nanos()) as usize)
            .min(metrics.n_buckets);
        let fault_end = model.last_fault_end();
        let fault_window =
            fault_end.map(|end| (model.faults.iter().map(|f| f.start).min().unwrap(), end));
        let outage = metrics.outage(run_buckets, fault_end, config.good_ratio_below);
        let mut t = crate::sim::metrics::UserCounts::default();
        let (mut unresolved, mut dead, mut lost_revenue) = (0, 0, 0.0);
        for w in &metrics.workloads {
            t.merge(&w.totals);
            unresolved += w.unresolved;
            dead += w.dead_lettered;
            lost_revenue += w.value * (w.lost() + w.dead_lettered) as f64;
        }
        // Latency quantiles over all workloads: the busiest workload's histogram is a fair
        // summary for single-workload models; with several, take the worst.
        let p50 = metrics
            .workloads
            .iter()
            .map(|w| w.latency_ms(0.5))
            .fold(f64::NAN, f64::max);
        let p99 = metrics
            .workloads
            .iter()
            .map(|w| w.latency_ms(0.99))
            .fold(f64::NAN, f64::max);
        let amplification = if t.offered == 0 {
            f64::NAN
        } else {
            // Attempts on the busiest client edge per user request. The users' own
            // refreshes are not counted: this is what the system's retries do.
            metrics
                .clients
                .iter()
                .filter(|c| c.kind == ClientKind::Edge)
                .map(|c| c.totals().attempts as f64 / t.offered as f64)
                .fold(f64::NAN, f64::max)
        };
        let wasted = metrics
            .services
            .iter()
            .flat_map(|s| &s.buckets)
            .map(|b| b.wasted)
            .sum();
        let wasted_s = metrics.services.iter().map(|s| s.wasted_seconds).sum();
        let breaker_transitions = metrics.clients.iter().map(|c| c.transitions).sum();
        let restarts = metrics
            .services
            .iter()
            .flat_map(|s| &s.buckets)
            .map(|b| b.restarts)
            .sum();
        let ejections = metrics.clients.iter().map(|c| c.totals().ejections).sum();
        let outbox_pending = metrics.clients.iter().map(|c| c.outbox_pending).sum();
        let summary = RunSummary {
            offered: t.offered,
            good: t.good,
            late: t.late,
            degraded: t.degraded,
            pending: t.pending,
            failed: t.failed,
            abandoned: t.abandoned,
            dead_lettered: dead,
            outbox_pending,
            lost: t.failed + t.abandoned + unresolved + dead,
            lost_revenue,
            p50_ms: p50,
            p99_ms: p99,
            amplification,
            outage_s: outage.outage_s,
            sustained_outage_s: outage.sustained_outage_s,
            recovery_s: outage.recovery_s,
            recovered: outage.recovered,
            wasted,
            wasted_s,
            breaker_transitions,
            restarts,
            ejections,
            peak_replicas: metrics.peak_replicas,
            final_replicas: metrics.final_replicas,
            events: stats.events,
        };
        RunReport {
            config,
            run_buckets,
            fault_window,
            metrics,
            outage,
            summary,
            stats,
        }
    }
}
