//! Streaming metrics of one run: per-bucket counters and time integrals, latency
//! histograms, and the outage summary computed from them.
//!
//! Memory is proportional to the number of buckets (the run's length), never to the
//! number of requests: every request updates a few counters and a histogram and is gone.
//!
//! Definitions (DESIGN "Metrics and definitions"):
//! - user outcomes are attributed to the bucket in which the user *sent* the request, so
//!   each bucket satisfies `offered = good + late + degraded + pending + failed + abandoned`
//!   (plus `unresolved` at the end of the run);
//! - latency is measured per user request from sending to its final outcome (an answer,
//!   an error, or the user giving up), by completion bucket;
//! - an *ok answer* is good, degraded (fallback) or pending (queued intent), answered
//!   within the SLO; a bucket is *down* when ok ÷ offered is below the threshold;
//! - outage = total down time; recovery = from the last fault's end to the end of the last
//!   down interval; sustained outage = down time after the last fault ended.

use hdrhistogram::Histogram;

use crate::policy::{Outcome, RejectReason};
use crate::time::{SimDuration, SimTime};

mod area;
mod latency;

pub use area::{StepArea, add_area, for_each_span};
pub use latency::BucketLatency;
use latency::{BucketSamples, histogram, micros};

/// Every rejection reason, in CSV column order.
pub const REJECT_REASONS: [RejectReason; 8] = RejectReason::ALL;

/// Index of a reason in [`REJECT_REASONS`].
pub fn reason_index(r: RejectReason) -> usize {
    REJECT_REASONS.iter().position(|x| *x == r).unwrap_or(0)
}

/// How a user request (intent) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserOutcome {
    /// A full answer within the SLO.
    Good,
    /// A full answer after the SLO.
    Late,
    /// A fallback answer (default or stale) within the SLO.
    Degraded,
    /// "We'll get back to you": the intent was queued for later, within the SLO.
    Pending,
    /// An error answer, and its root cause: what failed deepest down (a server error
    /// caused by a timed-out call counts as a timeout).
    Failed(FailReason),
    /// The user stopped waiting (patience) and did not try again.
    Abandoned,
}

/// Why a user request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// A server error at its origin (an injected error, a crashed or refusing instance).
    Error,
    /// A call timed out (and its caller failed for it).
    Timeout,
    /// The answer was a client error (the request itself was wrong).
    ClientError,
    /// The system throttled it (HTTP 429).
    Throttled,
    /// A protection rejected it.
    Rejected(RejectReason),
    /// An optimistic-concurrency write found the record changed since its read.
    Conflict,
}

/// Why user requests failed, in CSV column order: `failed_error`, `failed_timeout`,
/// `failed_client_error`, `failed_throttled`, then `failed_<reason>` for each of
/// [`REJECT_REASONS`], then `failed_conflict`.
pub const FAIL_REASONS: usize = 4 + REJECT_REASONS.len() + 1;

/// The index of [`FailReason::Conflict`].
const CONFLICT: usize = 4 + REJECT_REASONS.len();

/// The column name of failure reason `i` (see [`FAIL_REASONS`]).
pub fn fail_reason_name(i: usize) -> &'static str {
    match i {
        0 => "error",
        1 => "timeout",
        2 => "client_error",
        3 => "throttled",
        CONFLICT => "conflict",
        i => REJECT_REASONS[i - 4].name(),
    }
}

impl FailReason {
    /// Its index among [`FAIL_REASONS`].
    pub fn index(self) -> usize {
        match self {
            FailReason::Error => 0,
            FailReason::Timeout => 1,
            FailReason::ClientError => 2,
            FailReason::Throttled => 3,
            FailReason::Rejected(r) => 4 + reason_index(r),
            FailReason::Conflict => CONFLICT,
        }
    }

    /// The reason of index `i` (the inverse of [`Self::index`]).
    pub fn from_index(i: usize) -> FailReason {
        match i {
            0 => FailReason::Error,
            1 => FailReason::Timeout,
            2 => FailReason::ClientError,
            3 => FailReason::Throttled,
            CONFLICT => FailReason::Conflict,
            i => FailReason::Rejected(REJECT_REASONS[i - 4]),
        }
    }

    /// The root cause of a failed `outcome`: a server error passes on what made the
    /// callee fail (`downstream`); any other failure is its own cause.
    pub fn of(outcome: Outcome, downstream: FailReason) -> FailReason {
        match outcome {
            Outcome::Success | Outcome::ServerError => downstream,
            Outcome::Timeout => FailReason::Timeout,
            Outcome::ClientError => FailReason::ClientError,
            Outcome::Throttled => FailReason::Throttled,
            Outcome::Rejected(r) => FailReason::Rejected(r),
        }
    }
}

/// Per-bucket counts of user outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserCounts {
    /// Requests sent.
    pub offered: u64,
    /// Good answers.
    pub good: u64,
    /// Late answers.
    pub late: u64,
    /// Degraded answers.
    pub degraded: u64,
    /// Pending answers.
    pub pending: u64,
    /// Failed.
    pub failed: u64,
    /// Abandoned.
    pub abandoned: u64,
}

impl UserCounts {
    /// Good, degraded and pending answers (all within the SLO).
    pub fn ok(&self) -> u64 {
        self.good + self.degraded + self.pending
    }

    fn add(&mut self, o: UserOutcome) {
        match o {
            UserOutcome::Good => self.good += 1,
            UserOutcome::Late => self.late += 1,
            UserOutcome::Degraded => self.degraded += 1,
            UserOutcome::Pending => self.pending += 1,
            UserOutcome::Failed(_) => self.failed += 1,
            UserOutcome::Abandoned => self.abandoned += 1,
        }
    }

    /// Element-wise sum.
    pub fn merge(&mut self, o: &UserCounts) {
        self.offered += o.offered;
        self.good += o.good;
        self.late += o.late;
        self.degraded += o.degraded;
        self.pending += o.pending;
        self.failed += o.failed;
        self.abandoned += o.abandoned;
    }
}

/// A workload's metrics.
#[derive(Clone, Debug)]
pub struct WorkloadMetrics {
    /// Its name.
    pub name: String,
    /// Revenue per good answer.
    pub value: f64,
    /// Totals over the run.
    pub totals: UserCounts,
    /// Failed requests by reason ([`FailReason::index`]).
    pub failed_by: [u64; FAIL_REASONS],
    /// Requests still unanswered when the run ended.
    pub unresolved: u64,
    /// Intents of this workload captured for later and then dead-lettered.
    pub dead_lettered: u64,
    /// Per arrival bucket.
    pub buckets: Vec<UserCounts>,
    /// Ok answers per completion bucket (good answers per second, by when they arrived).
    pub ok_done: Vec<u64>,
    /// Latency of resolved requests (answered, failed or abandoned) per completion bucket.
    pub latency: Vec<BucketLatency>,
    all: Histogram<u64>,
    /// Answered requests only: failures and abandonment excluded.
    answered: Histogram<u64>,
    current: BucketSamples,
    current_answered: BucketSamples,
    current_bucket: usize,
}

impl WorkloadMetrics {
    fn new(name: String, value: f64, buckets: usize) -> Self {
        WorkloadMetrics {
            name,
            value,
            totals: UserCounts::default(),
            failed_by: [0; FAIL_REASONS],
            unresolved: 0,
            dead_lettered: 0,
            buckets: vec![UserCounts::default(); buckets],
            ok_done: vec![0; buckets],
            latency: vec![
                BucketLatency {
                    count: 0,
                    p50_ms: f64::NAN,
                    p99_ms: f64::NAN,
                    p99_ok_ms: f64::NAN,
                };
                buckets
            ],
            all: histogram(),
            answered: histogram(),
            current: BucketSamples::default(),
            current_answered: BucketSamples::default(),
            current_bucket: 0,
        }
    }

    /// Latency quantile over the whole run, ms (NaN without resolved requests).
    pub fn latency_ms(&self, q: f64) -> f64 {
        if self.all.is_empty() {
            f64::NAN
        } else {
            self.all.value_at_quantile(q) as f64 / 1e3
        }
    }

    /// Latency quantile over the answered requests only (good, late, degraded, pending),
    /// ms (NaN when nothing was answered).
    pub fn answered_latency_ms(&self, q: f64) -> f64 {
        if self.answered.is_empty() {
            f64::NAN
        } else {
            self.answered.value_at_quantile(q) as f64 / 1e3
        }
    }

    /// Mean latency of resolved requests, ms (NaN without any).
    pub fn mean_latency_ms(&self) -> f64 {
        if self.all.is_empty() {
            f64::NAN
        } else {
            self.all.mean() / 1e3
        }
    }

    /// Requests that got no good answer: failed + abandoned + unresolved (dead-lettered
    /// intents are added by the world's report).
    pub fn lost(&self) -> u64 {
        self.totals.failed + self.totals.abandoned + self.unresolved
    }

    fn roll_latency(&mut self, to: usize) {
        if to == self.current_bucket {
            return;
        }
        if !self.current.is_empty() {
            let p99_ok_ms = if self.current_answered.is_empty() {
                f64::NAN
            } else {
                self.current_answered.value_at_quantile(0.99, &self.all) as f64 / 1e3
            };
            self.latency[self.current_bucket] = BucketLatency {
                count: self.current.len(),
                p50_ms: self.current.value_at_quantile(0.5, &self.all) as f64 / 1e3,
                p99_ms: self.current.value_at_quantile(0.99, &self.all) as f64 / 1e3,
                p99_ok_ms,
            };
            self.current.clear();
            self.current_answered.clear();
        }
        self.current_bucket = to;
    }
}

/// A service's per-bucket series.
#[derive(Clone, Debug, Default)]
pub struct ServiceBucket {
    /// Requests that reached the service.
    pub arrivals: u64,
    /// Responses sent after work (success or failure).
    pub completions: u64,
    /// Rejections by [`REJECT_REASONS`]: at the front door (queue, rate limit, shedding,
    /// deadline) and by this service's own clients (breaker, bulkhead).
    pub rejected: [u64; 8],
    /// Server errors returned by a fault (error rate or refuse).
    pub fault_errors: u64,
    /// Requests swallowed by a hang fault.
    pub hung: u64,
    /// Completions that came after their caller had given up (wasted work).
    pub wasted: u64,
    /// Requests that failed because a call timed out.
    pub failed_timeout: u64,
    /// Requests that failed because a call failed otherwise (`downstream_error`).
    pub failed_downstream: u64,
    /// Worker-seconds busy (÷ bucket seconds = average busy workers).
    pub busy_area: f64,
    /// Request-seconds queued (÷ bucket seconds = average queue length).
    pub queue_area: f64,
    /// Instance-seconds in the endpoints (÷ bucket seconds = average ready instances).
    pub ready_area: f64,
    /// Replica-seconds asked for (÷ bucket seconds = average replica count).
    pub replicas_area: f64,
    /// Instances restarted by their liveness probe.
    pub restarts: u64,
    /// Requests cancelled because their caller stopped waiting (queued or running).
    pub cancelled: u64,
}

/// Arrivals, busy workers and queue length of one instance, per bucket (small fleets
/// only).
#[derive(Clone, Debug, Default)]
pub struct InstanceSeries {
    /// Requests that reached the instance (probes and health checks included).
    pub arrivals: Vec<u64>,
    /// Worker-seconds busy.
    pub busy_area: Vec<f64>,
    /// Request-seconds queued.
    pub queue_area: Vec<f64>,
}

/// Fleets with at most this many instances get per-instance series.
pub const MAX_INSTANCE_SERIES: u32 = 20;

/// A shared connection pool's metrics: connections in use and callers waiting, as
/// integrals per bucket (÷ bucket seconds = averages).
#[derive(Clone, Debug)]
pub struct PoolMetrics {
    /// Its name in `[pools]`.
    pub name: String,
    /// Connection-seconds in use per bucket.
    pub in_use_area: Vec<f64>,
    /// Waiter-seconds queued per bucket.
    pub waiting_area: Vec<f64>,
    /// The counts since the last change, integrated per bucket.
    area: StepArea<2>,
    in_use: u32,
    waiting: u32,
}

impl PoolMetrics {
    /// Empty metrics of pool `name`.
    pub fn new(name: String, bucket: SimDuration, n_buckets: usize) -> Self {
        PoolMetrics {
            name,
            in_use_area: vec![0.0; n_buckets],
            waiting_area: vec![0.0; n_buckets],
            area: StepArea::new(SimTime::ZERO, bucket, n_buckets),
            in_use: 0,
            waiting: 0,
        }
    }

    /// Brings the areas up to `now`, then records the counts from now on.
    pub fn touch(&mut self, bucket: SimDuration, now: SimTime, in_use: u32, waiting: u32) {
        let values = [self.in_use as u64, self.waiting as u64];
        let n = self.in_use_area.len();
        let (a, b) = (&mut self.in_use_area, &mut self.waiting_area);
        self.area.advance(now, values, bucket, n, |i, [u, w]| {
            a[i] += u;
            b[i] += w;
        });
        self.in_use = in_use;
        self.waiting = waiting;
    }

    /// Brings the areas up to the end of the run, `end`, and closes them.
    pub fn finish(&mut self, bucket: SimDuration, end: SimTime) {
        self.touch(bucket, end, self.in_use, self.waiting);
        let (a, b) = (&mut self.in_use_area, &mut self.waiting_area);
        self.area.close(|i, [u, w]| {
            a[i] += u;
            b[i] += w;
        });
    }
}

/// An `occ` resource's metrics: writes tried and the conflicts among them, in total and
/// per bucket.
#[derive(Clone, Debug)]
pub struct ResourceMetrics {
    /// Its name in `[resources]`.
    pub name: String,
    /// Writes tried (successful or not).
    pub writes: u64,
    /// Writes that found the version changed since their read.
    pub conflicts: u64,
    /// Writes tried per bucket.
    pub writes_per_bucket: Vec<u64>,
    /// Conflicts per bucket.
    pub conflicts_per_bucket: Vec<u64>,
}

impl ResourceMetrics {
    /// Empty metrics of resource `name`.
    pub fn new(name: String, n_buckets: usize) -> Self {
        ResourceMetrics {
            name,
            writes: 0,
            conflicts: 0,
            writes_per_bucket: vec![0; n_buckets],
            conflicts_per_bucket: vec![0; n_buckets],
        }
    }
}

/// A service's metrics.
#[derive(Clone, Debug)]
pub struct ServiceMetrics {
    /// Its name.
    pub name: String,
    /// Worker pool size.
    pub workers: u32,
    /// Per bucket.
    pub buckets: Vec<ServiceBucket>,
    /// Worker-seconds spent on requests after their caller had given up.
    pub wasted_seconds: f64,
    /// Whether the service runs as a fleet (instances, probes, autoscaling): its fleet
    /// series are written.
    pub fleet: bool,
    /// Per-instance series, by slot (empty unless a fleet of at most
    /// [`MAX_INSTANCE_SERIES`] instances).
    pub instances: Vec<InstanceSeries>,
}

impl ServiceMetrics {
    /// Marks a fleet and prepares per-instance series for small ones.
    pub fn setup_fleet(&mut self, fleet: bool, max_instances: u32) {
        self.fleet = fleet;
        if fleet && max_instances <= MAX_INSTANCE_SERIES {
            let n = self.buckets.len();
            self.instances = (0..max_instances)
                .map(|_| InstanceSeries {
                    arrivals: vec![0; n],
                    busy_area: vec![0.0; n],
                    queue_area: vec![0.0; n],
                })
                .collect();
        }
    }
}

/// A client edge's per-bucket series.
#[derive(Clone, Debug, Default)]
pub struct ClientBucket {
    /// Logical calls started.
    pub calls: u64,
    /// Attempts sent (first attempts and retries).
    pub attempts: u64,
    /// Retries (attempts after the first).
    pub retries: u64,
    /// Calls that failed after all layers (before fallback).
    pub failures: u64,
    /// Calls or attempts refused by this client's breaker.
    pub breaker_rejections: u64,
    /// Calls or attempts refused by this client's bulkhead or pool.
    pub bulkhead_rejections: u64,
    /// Retries refused by the budget.
    pub budget_exhausted: u64,
    /// Seconds the breaker spent open in this bucket.
    pub open_seconds: f64,
    /// Seconds the breaker spent half-open in this bucket.
    pub half_open_seconds: f64,
    /// Breaker-seconds in this bucket: with one breaker per caller instance or per callee
    /// instance, open ÷ this is the share of the edge's breakers that were open.
    pub breaker_seconds: f64,
    /// Instance-seconds healthy from this edge's view (in the endpoints, passing health
    /// checks, not ejected).
    pub healthy_area: f64,
    /// Instance-seconds ejected by outlier detection.
    pub ejected_area: f64,
    /// Ejections enforced.
    pub ejections: u64,
}

/// What a client metric entry stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientKind {
    /// A client edge of the model.
    #[default]
    Edge,
    /// A workload's users.
    Users,
    /// A prober (health checks, kubelet probes): not written out.
    Probe,
}

/// A client edge's metrics.
#[derive(Clone, Debug)]
pub struct ClientMetrics {
    /// `caller→callee`, or `users:<workload>` for the users' own stack.
    pub name: String,
    /// Per bucket.
    pub buckets: Vec<ClientBucket>,
    /// Whether this edge has a circuit breaker (its open time is a series).
    pub has_breaker: bool,
    /// Breaker transitions.
    pub transitions: u64,
    /// Fallback answers served (default or stale).
    pub fallbacks: u64,
    /// Intents captured for later.
    pub captured: u64,
    /// Captured intents delivered by the drain.
    pub delivered: u64,
    /// Captured intents dead-lettered (lost).
    pub dead_lettered: u64,
    /// Captured intents neither delivered nor dead-lettered when the run ended.
    pub outbox_pending: u64,
    /// Edge, users or prober.
    pub kind: ClientKind,
    /// Whether the edge leads to a fleet or checks its callee: its fleet series are written.
    pub fleet: bool,
    /// Breakers feeding this entry now, and since when that count holds.
    alive: u32,
    alive_since: SimTime,
}

impl ClientMetrics {
    fn new(name: String, n_buckets: usize) -> Self {
        let kind = if name.starts_with("users:") {
            ClientKind::Users
        } else {
            ClientKind::Edge
        };
        ClientMetrics {
            name,
            buckets: vec![ClientBucket::default(); n_buckets],
            has_breaker: false,
            transitions: 0,
            fallbacks: 0,
            captured: 0,
            delivered: 0,
            dead_lettered: 0,
            outbox_pending: 0,
            kind,
            fleet: false,
            alive: 0,
            alive_since: SimTime::ZERO,
        }
    }

    /// Totals over the run.
    pub fn totals(&self) -> ClientBucket {
        let mut t = ClientBucket::default();
        for b in &self.buckets {
            t.calls += b.calls;
            t.attempts += b.attempts;
            t.retries += b.retries;
            t.failures += b.failures;
            t.breaker_rejections += b.breaker_rejections;
            t.bulkhead_rejections += b.bulkhead_rejections;
            t.budget_exhausted += b.budget_exhausted;
            t.open_seconds += b.open_seconds;
            t.half_open_seconds += b.half_open_seconds;
            t.breaker_seconds += b.breaker_seconds;
            t.ejections += b.ejections;
        }
        t
    }

    /// Integrates the breaker count up to `now`.
    fn touch_alive(&mut self, bucket: SimDuration, now: SimTime) {
        if self.alive > 0 && now > self.alive_since {
            let n = self.buckets.len();
            let alive = self.alive as f64;
            let buckets = &mut self.buckets;
            for_each_span(bucket, n, self.alive_since, now, |i, secs| {
                buckets[i].breaker_seconds += alive * secs;
            });
        }
        self.alive_since = now;
    }

    /// Attempts ÷ calls (1.0 without retries; NaN without calls).
    pub fn amplification(&self) -> f64 {
        let t = self.totals();
        if t.calls == 0 {
            f64::NAN
        } else {
            t.attempts as f64 / t.calls as f64
        }
    }
}

/// All metrics of a run, and the bucket layout.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Bucket width.
    pub bucket: SimDuration,
    /// Buckets (covering the run plus its drain time).
    pub n_buckets: usize,
    /// Per workload.
    pub workloads: Vec<WorkloadMetrics>,
    /// Per service.
    pub services: Vec<ServiceMetrics>,
    /// Per client edge.
    pub clients: Vec<ClientMetrics>,
    /// Per shared connection pool.
    pub pools: Vec<PoolMetrics>,
    /// Σ replicas over services at the end of the run.
    pub final_replicas: u64,
    /// The largest Σ replicas over services during the run.
    pub peak_replicas: u64,
    /// Per `occ` resource.
    pub resources: Vec<ResourceMetrics>,
    /// When the last user request that succeeded (good, late, degraded or pending) got
    /// its answer.
    pub last_success: Option<SimTime>,
    /// The span `[start, end)` of the bucket last looked up, and its index.
    last_bucket: std::cell::Cell<(u64, u64, usize)>,
}

impl Metrics {
    /// Empty metrics with `n_buckets` buckets of width `bucket`.
    pub fn new(
        bucket: SimDuration,
        n_buckets: usize,
        workloads: impl IntoIterator<Item = (String, f64)>,
        services: impl IntoIterator<Item = (String, u32)>,
        clients: impl IntoIterator<Item = String>,
    ) -> Self {
        Metrics {
            bucket,
            n_buckets,
            workloads: workloads
                .into_iter()
                .map(|(n, v)| WorkloadMetrics::new(n, v, n_buckets))
                .collect(),
            services: services
                .into_iter()
                .map(|(name, workers)| ServiceMetrics {
                    name,
                    workers,
                    buckets: vec![ServiceBucket::default(); n_buckets],
                    wasted_seconds: 0.0,
                    fleet: false,
                    instances: Vec::new(),
                })
                .collect(),
            clients: clients
                .into_iter()
                .map(|name| ClientMetrics::new(name, n_buckets))
                .collect(),
            pools: Vec::new(),
            final_replicas: 0,
            peak_replicas: 0,
            resources: Vec::new(),
            last_success: None,
            last_bucket: std::cell::Cell::new((0, 0, 0)),
        }
    }

    /// A prober's entry (its calls are counted like any client's, never written out).
    pub fn add_probe_client(&mut self, name: String) -> u32 {
        let mut c = ClientMetrics::new(name, self.n_buckets);
        c.kind = ClientKind::Probe;
        self.clients.push(c);
        (self.clients.len() - 1) as u32
    }

    /// Client entry `c` gained a breaker at `now`.
    pub fn on_breaker_created(&mut self, c: usize, now: SimTime) {
        let bucket = self.bucket;
        let cm = &mut self.clients[c];
        cm.touch_alive(bucket, now);
        cm.alive += 1;
    }

    /// The bucket holding instant `t`.
    #[inline]
    pub fn index(&self, t: SimTime) -> usize {
        // Most lookups fall in the bucket of the previous one: a range check instead of
        // a 64-bit division.
        let (start, end, i) = self.last_bucket.get();
        let ns = t.as_nanos();
        if start <= ns && ns < end {
            return i;
        }
        self.locate(ns)
    }

    #[cold]
    fn locate(&self, ns: u64) -> usize {
        let width = self.bucket.as_nanos();
        let i = ((ns / width) as usize).min(self.n_buckets - 1);
        let start = i as u64 * width;
        let end = if i == self.n_buckets - 1 {
            u64::MAX
        } else {
            start + width
        };
        self.last_bucket.set((start, end, i));
        i
    }

    /// A user request was sent at `at`.
    pub fn on_offered(&mut self, workload: usize, at: SimTime) {
        let i = self.index(at);
        let w = &mut self.workloads[workload];
        w.buckets[i].offered += 1;
        w.totals.offered += 1;
    }

    /// A user request sent at `sent` ended at `now` with `outcome`.
    pub fn on_user_outcome(
        &mut self,
        workload: usize,
        sent: SimTime,
        now: SimTime,
        outcome: UserOutcome,
    ) {
        let i = self.index(sent);
        let done = self.index(now);
        let w = &mut self.workloads[workload];
        w.buckets[i].add(outcome);
        w.totals.add(outcome);
        if let UserOutcome::Failed(why) = outcome {
            w.failed_by[why.index()] += 1;
        } else if outcome != UserOutcome::Abandoned {
            self.last_success = Some(self.last_success.map_or(now, |t| t.max(now)));
        }
        if matches!(
            outcome,
            UserOutcome::Good | UserOutcome::Degraded | UserOutcome::Pending
        ) {
            w.ok_done[done] += 1;
        }
        // Every request's latency is the time from sending to its final outcome, whatever
        // it was: an error or giving up is a latency the user lived through too, so an
        // outage shows in the percentiles instead of vanishing from them.
        let us = micros(now - sent);
        w.roll_latency(done);
        let _ = w.all.record(us);
        w.current.record(us);
        if !matches!(outcome, UserOutcome::Failed(_) | UserOutcome::Abandoned) {
            let _ = w.answered.record(us);
            w.current_answered.record(us);
        }
    }

    /// Closes the per-bucket latency of every workload and the breaker counts (end of run).
    pub fn finish(&mut self, end: SimTime) {
        let bucket = self.bucket;
        for c in &mut self.clients {
            c.touch_alive(bucket, end);
        }
        for p in &mut self.pools {
            let (u, w) = (p.in_use, p.waiting);
            p.touch(bucket, end, u, w);
        }
        for w in &mut self.workloads {
            let last = w.current_bucket;
            w.roll_latency(last + 1);
            w.current_bucket = last;
        }
    }

    /// The outage summary for the first `buckets` buckets (the run proper), given the
    /// last fault's end and the threshold ok ratio.
    pub fn outage(
        &self,
        buckets: usize,
        fault_end: Option<SimTime>,
        good_ratio_below: f64,
    ) -> Outage {
        let n = buckets.min(self.n_buckets);
        let width = self.bucket.as_secs_f64();
        let mut down = vec![false; n];
        for (i, d) in down.iter_mut().enumerate() {
            let mut c = UserCounts::default();
            for w in &self.workloads {
                c.merge(&w.buckets[i]);
            }
            *d = c.offered > 0 && (c.ok() as f64) < good_ratio_below * c.offered as f64;
        }
        let outage_s = down.iter().filter(|d| **d).count() as f64 * width;
        let (sustained_s, recovery_s) = match fault_end {
            None => (0.0, 0.0),
            Some(end) => {
                let end_s = end.as_secs_f64();
                let mut sustained = 0.0;
                let mut last_down_end: f64 = end_s;
                for (i, d) in down.iter().enumerate() {
                    if !*d {
                        continue;
                    }
                    let (b0, b1) = (i as f64 * width, (i + 1) as f64 * width);
                    sustained += (b1.max(end_s) - b0.max(end_s)).max(0.0);
                    if b1 > end_s {
                        last_down_end = last_down_end.max(b1);
                    }
                }
                (sustained, last_down_end - end_s)
            }
        };
        // Recovered: the last bucket of the run is up.
        let recovered = !down.last().copied().unwrap_or(false);
        Outage {
            down,
            outage_s,
            sustained_outage_s: sustained_s,
            recovery_s,
            recovered,
        }
    }
}

/// Outage summary of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Outage {
    /// Per bucket: down or not.
    pub down: Vec<bool>,
    /// Total down time, seconds.
    pub outage_s: f64,
    /// Down time after the last fault ended, seconds (the metastability signal).
    pub sustained_outage_s: f64,
    /// From the last fault's end to the end of the last down interval, seconds.
    pub recovery_s: f64,
    /// The run ended up (its last bucket was not down).
    pub recovered: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::*;

    #[test]
    fn outage_counts_down_time_after_the_fault_as_sustained() {
        let mut m = Metrics::new(secs(1), 10, [("w".to_string(), 1.0)], [], []);
        for i in 0..10u64 {
            m.on_offered(0, t_ms(i * 1000));
            let o = if (3..7).contains(&i) {
                UserOutcome::Failed(FailReason::Error)
            } else {
                UserOutcome::Good
            };
            m.on_user_outcome(0, t_ms(i * 1000), t_ms(i * 1000 + 10), o);
        }
        // Fault 3 s–5 s; down buckets 3,4,5,6 → outage 4 s, sustained 2 s, recovery 2 s.
        let o = m.outage(10, Some(t_ms(5000)), 0.5);
        assert_eq!(o.outage_s, 4.0);
        assert_eq!(o.sustained_outage_s, 2.0);
        assert_eq!(o.recovery_s, 2.0);
        assert!(o.recovered);
    }
}
