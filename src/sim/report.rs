//! [`RunReport`]: what one run measured, as plain data for the experiment runner.
//!
//! Definitions (also `output/README.md`, which users read):
//! - every user request ends in exactly one of good, late, degraded, pending, failed,
//!   abandoned, or is still unresolved when the run ends;
//! - **lost** = failed + abandoned + unresolved + dead-lettered (intents answered
//!   "pending" whose replay finally gave up). Late answers are *not* lost: the user got an
//!   answer, too slowly, and it is counted in `late`; lost revenue is `value × lost`, so
//!   it does not include late answers either;
//! - `p50_ms`/`p99_ms` are over *all* user requests, from sending to the final outcome,
//!   including failed and abandoned ones (an outage shows in them instead of vanishing);
//!   `p50_ok_ms`/`p99_ok_ms` are over answered requests only (good, late, degraded,
//!   pending);
//! - a **diverged** run was stopped by a guard (live state or events) at `diverged_at`:
//!   its figures cover the time before, and it does not count as recovered.

use crate::engine::RunStats;
use crate::model::graph::Model;
use crate::sim::config::RunConfig;
use crate::sim::metrics::{ClientKind, Metrics, Outage};
use crate::time::{SimDuration, SimTime};

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
    /// Failed requests by root cause ([`crate::sim::metrics::FailReason::index`] order).
    pub failed_by: [u64; crate::sim::metrics::FAIL_REASONS],
    /// Retries (and hedges) the retry budgets refused, all client edges.
    pub retries_refused: u64,
    /// Fallback answers served (default or stale), all client edges.
    pub fallbacks: u64,
    /// Captured intents the outboxes delivered later.
    pub outbox_delivered: u64,
    /// Abandoned requests.
    pub abandoned: u64,
    /// Intents captured for later and then dead-lettered.
    pub dead_lettered: u64,
    /// Captured intents still in an outbox when the run ended (neither delivered nor
    /// dead-lettered yet: not counted as lost).
    pub outbox_pending: u64,
    /// User requests still waiting for an answer when the run ended (or diverged).
    pub unresolved: u64,
    /// Requests with no answer: failed + abandoned + unresolved + dead-lettered (late
    /// answers are not lost; they are counted in `late`).
    pub lost: u64,
    /// Revenue of the lost requests (`value × lost`; late answers are not included).
    pub lost_revenue: f64,
    /// Median latency of all user requests (sent to final outcome, including failed and
    /// abandoned ones), ms.
    pub p50_ms: f64,
    /// 99th percentile latency of all user requests (sent to final outcome, including
    /// failed and abandoned ones), ms.
    pub p99_ms: f64,
    /// Median latency of the answered user requests (good, late, degraded, pending), ms.
    pub p50_ok_ms: f64,
    /// 99th percentile latency of the answered user requests, ms.
    pub p99_ok_ms: f64,
    /// Retry amplification: attempts on the busiest client edge per user request (27 for
    /// three layers of three attempts against a dead leaf; NaN without client edges).
    /// Users' own refreshes are not counted.
    pub amplification: f64,
    /// Total down time, s.
    pub outage_s: f64,
    /// Down time after the last fault ended, s.
    pub sustained_outage_s: f64,
    /// Last fault's end to the end of the last down interval, s; NaN when the run did
    /// not recover (the time is censored, not known).
    pub recovery_s: f64,
    /// The run ended up (its last bucket was not down) and did not diverge.
    pub recovered: bool,
    /// A guard stopped the run (see [`RunReport::diverged`]).
    pub diverged: bool,
    /// When it was stopped, s since the start (NaN unless diverged).
    pub diverged_at_s: f64,
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
    /// Why and when a guard stopped the run, if one did.
    pub diverged: Option<Divergence>,
}

/// Which guard stopped a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DivergenceCause {
    /// Live requests + calls + pending events + outbox entries passed the limit; the
    /// count when it was seen.
    InFlight(u64),
    /// More events than the event guard (the limit).
    Events(u64),
    /// More outbox replays at one simulated instant than the live-state guard: replays
    /// that fail at once with an immediate back-off, looping in zero time (the count).
    ZeroTimeLoop(u64),
}

/// A run stopped by a guard: live state growing without bound (a retry storm against a
/// hanging dependency, an unbounded queue) or events without end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Which guard, with its figure.
    pub cause: DivergenceCause,
    /// When.
    pub at: SimTime,
    /// The service holding the most requests (queued or in progress) at that time.
    pub service: Option<String>,
    /// How many requests it held.
    pub service_requests: u64,
    /// How many of them were queued.
    pub service_queue: u64,
    /// For a zero-time loop, the client edge whose outbox loops.
    pub edge: Option<String>,
}

impl Divergence {
    /// One line for people: `at 3m12s, 4000123 live entities (limit 4000000); api holds
    /// 1950000 requests, 1949950 of them queued`.
    pub fn describe(&self, max_in_flight: u64) -> String {
        let cause = match self.cause {
            DivergenceCause::InFlight(live) => format!(
                "{live} requests, calls and pending events in flight (limit max_in_flight = {max_in_flight})"
            ),
            DivergenceCause::Events(limit) => format!("the event guard (max_events = {limit})"),
            DivergenceCause::ZeroTimeLoop(n) => format!(
                "{n} outbox replays of {} at one instant (they fail at once and retry with no back-off)",
                self.edge.as_deref().unwrap_or("a client")
            ),
        };
        let at = SimDuration::from_millis(self.at.since_start().as_millis());
        if matches!(self.cause, DivergenceCause::ZeroTimeLoop(_)) {
            return format!("diverged at {at}: {cause}");
        }
        match &self.service {
            Some(s) if self.service_requests > 0 => format!(
                "diverged at {at}: {cause}; the queue grew at {s}: {} requests, {} of them queued",
                self.service_requests, self.service_queue
            ),
            _ => format!("diverged at {at}: {cause}"),
        }
    }
}

impl RunReport {
    pub(crate) fn new(
        model: &Model,
        config: RunConfig,
        metrics: Metrics,
        stats: RunStats,
        diverged: Option<Divergence>,
    ) -> Self {
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
        let ok = |q| {
            metrics
                .workloads
                .iter()
                .map(|w| w.answered_latency_ms(q))
                .fold(f64::NAN, f64::max)
        };
        let recovered = outage.recovered && diverged.is_none();
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
        let mut failed_by = [0; crate::sim::metrics::FAIL_REASONS];
        for w in &metrics.workloads {
            for (f, n) in failed_by.iter_mut().zip(w.failed_by) {
                *f += n;
            }
        }
        let retries_refused = metrics
            .clients
            .iter()
            .map(|c| c.totals().budget_exhausted)
            .sum();
        let fallbacks = metrics.clients.iter().map(|c| c.fallbacks).sum();
        let outbox_delivered = metrics.clients.iter().map(|c| c.delivered).sum();
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
            failed_by,
            retries_refused,
            fallbacks,
            outbox_delivered,
            unresolved,
            lost: t.failed + t.abandoned + unresolved + dead,
            lost_revenue,
            p50_ms: p50,
            p99_ms: p99,
            p50_ok_ms: ok(0.5),
            p99_ok_ms: ok(0.99),
            amplification,
            outage_s: outage.outage_s,
            sustained_outage_s: outage.sustained_outage_s,
            recovery_s: if recovered {
                outage.recovery_s
            } else {
                f64::NAN
            },
            recovered,
            diverged: diverged.is_some(),
            diverged_at_s: diverged.as_ref().map_or(f64::NAN, |d| d.at.as_secs_f64()),
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
            diverged,
        }
    }
}
