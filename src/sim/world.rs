//! [`World`]: the simulated service graph of one run, built from a validated [`Model`].
//!
//! It owns the runtime state ([`super::state`]: services as fleets of instances, client
//! stacks with live policy objects, edges with their balancers, probers, in-flight
//! requests and calls in slabs) and implements the engine's [`EngineModel`]: every event
//! is dispatched to a handler in [`super::service`] (workers, queues, steps),
//! [`super::client`] (policy stacks, retries, timeouts, fallbacks), [`super::fleet`]
//! (instances, balancing, restarts, autoscaling), [`super::probes`] (health checks and
//! kubelet probes) or [`super::users`] (workloads and user outcomes).
//!
//! Invariants:
//! - a request is served by one instance from start to response, and holds one of its
//!   workers from start to response, including while it waits on downstream calls,
//!   timeouts and back-off sleeps;
//! - every call ends exactly once (`finish_call`, or `abort_call` when its caller's
//!   process died), releasing every permit it holds and cancelling every timer it armed;
//! - a response nobody waits for any more is wasted work: it is counted, never delivered;
//! - an instance is in a balancer's host set only while it is ready (running, passing its
//!   readiness probe, not terminating); a restart fails its queued and running requests at
//!   once, and events of an earlier incarnation are ignored;
//! - randomness comes from per-source streams, so a policy change never shifts arrivals
//!   or service times; a model without fleets uses exactly the streams it always did.

use crate::engine::{
    Model as EngineModel, RunError, RunLimits, Scheduler, SimRng, StreamKind, Streams,
};
use crate::model::graph::{Arrivals, Model};
use crate::policy::bulkhead::SemaphoreBulkhead;
use crate::policy::circuit_breaker::BreakerState;
use crate::sim::metrics::{Metrics, for_each_span};
use crate::sim::report::{Divergence, DivergenceCause, RunReport};
use crate::sim::slab::Slab;
use crate::sim::state::{
    BreakerRt, Call, ClientRt, EdgeRt, Ev, Parent, ProberRt, Request, ServiceRt, Waiter, WorkloadRt,
};
use crate::time::{SimDuration, SimTime};

pub use crate::sim::config::RunConfig;

/// The simulated world of one run.
pub struct World<'m> {
    pub(crate) model: &'m Model,
    pub(crate) cfg: RunConfig,
    pub(crate) streams: Streams,
    pub(crate) horizon: SimTime,
    pub(crate) services: Vec<ServiceRt>,
    pub(crate) clients: Vec<ClientRt>,
    pub(crate) edges: Vec<EdgeRt>,
    pub(crate) breakers: Vec<BreakerRt>,
    /// Edge-scoped runtime breakers by definition and caller instance.
    pub(crate) breaker_slots: Vec<Vec<u32>>,
    pub(crate) probers: Vec<ProberRt>,
    pub(crate) pools: Vec<SemaphoreBulkhead<Waiter>>,
    /// `occ` resources, by index in the model.
    pub(crate) occ: Vec<crate::sim::occ::OccRt>,
    pub(crate) workloads: Vec<WorkloadRt>,
    pub(crate) requests: Slab<Request>,
    pub(crate) calls: Slab<Call>,
    pub(crate) metrics: Metrics,
    pub(crate) fault_rng: SimRng,
    pub(crate) intent_seq: u64,
    /// Σ replicas over services, and its peak.
    pub(crate) replicas_total: u32,
    pub(crate) peak_replicas: u32,
    /// Set when a guard stopped the run.
    pub(crate) diverged: Option<Divergence>,
    /// Outbox replays started at `replay_instant` (a zero-time loop guard).
    pub(crate) replays_at_instant: u64,
    pub(crate) replay_instant: SimTime,
}

impl<'m> World<'m> {
    /// Builds the runtime state of one run.
    pub fn new(model: &'m Model, cfg: RunConfig) -> Self {
        let streams = Streams::new(cfg.seed, cfg.replication);
        let grace = drain_time(model);
        let horizon = SimTime::at(cfg.duration);
        let n_buckets = ((cfg.duration + grace)
            .as_nanos()
            .div_ceil(cfg.bucket.as_nanos()))
        .max(1) as usize;
        let mut names: Vec<String> = model.clients.iter().map(|c| c.name.clone()).collect();
        names.extend(model.workloads.iter().map(|w| format!("users:{}", w.name)));
        let mut metrics = Metrics::new(
            cfg.bucket,
            n_buckets,
            model.workloads.iter().map(|w| (w.name.clone(), w.value)),
            model.services.iter().map(|s| (s.name.clone(), s.workers)),
            names,
        );
        for (i, s) in model.services.iter().enumerate() {
            metrics.services[i].setup_fleet(s.is_fleet(), s.max_instances());
        }
        metrics.resources = model
            .resources
            .iter()
            .map(|r| crate::sim::metrics::ResourceMetrics::new(r.name.clone(), n_buckets))
            .collect();
        metrics.pools = model
            .pools
            .iter()
            .map(|p| crate::sim::metrics::PoolMetrics::new(p.name.clone(), cfg.bucket, n_buckets))
            .collect();
        for (i, c) in model.clients.iter().enumerate() {
            metrics.clients[i].has_breaker = c.breaker.is_some();
            metrics.clients[i].fleet = model.services[c.callee as usize].is_fleet()
                || c.health_check.is_some()
                || c.outlier.is_some();
        }
        let replicas_total = model.services.iter().map(|s| s.instances).sum();
        let mut world = World {
            model,
            cfg,
            streams,
            horizon,
            services: Vec::new(),
            clients: Vec::new(),
            edges: Vec::new(),
            breakers: Vec::new(),
            breaker_slots: Vec::new(),
            probers: Vec::new(),
            pools: model
                .pools
                .iter()
                .map(|p| SemaphoreBulkhead::new(p.config).expect("validated"))
                .collect(),
            occ: model.resources.iter().map(|_| Default::default()).collect(),
            workloads: Vec::new(),
            requests: Slab::default(),
            calls: Slab::default(),
            metrics,
            fault_rng: streams.stream(StreamKind::Faults, 0),
            intent_seq: 0,
            replicas_total,
            peak_replicas: replicas_total,
            diverged: None,
            replays_at_instant: 0,
            replay_instant: SimTime::ZERO,
        };
        world.build();
        world
    }

    /// Runs the world to the end of its drain time and reports.
    ///
    /// The run is bounded: every [`guard_step`] of simulated time the world counts its
    /// live state (requests, calls, pending events, outbox entries); past
    /// `cfg.max_in_flight`, or past `cfg.max_events` events, it stops there and reports
    /// as *diverged* ([`RunReport::diverged`]) with every figure up to that time. Running
    /// in steps changes nothing else: the engine handles the same events in the same
    /// order, it only returns to this loop between steps.
    pub fn run(model: &'m Model, cfg: RunConfig) -> Result<RunReport, RunError> {
        let never = std::sync::atomic::AtomicBool::new(false);
        Ok(Self::run_stoppable(model, cfg, &never)?.expect("never stopped"))
    }

    /// [`World::run`], giving up (`None`) at the next guard step after `stop` is set: how
    /// an interrupted experiment ends its running jobs promptly.
    pub fn run_stoppable(
        model: &'m Model,
        cfg: RunConfig,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<Option<RunReport>, RunError> {
        Self::run_watched(model, cfg, stop, None)
    }

    /// [`World::run_stoppable`], adding the simulated nanoseconds covered to `simulated`
    /// at every guard step (a progress bar's view of a long job; the run's total is
    /// `cfg.duration + drain_time(model)`, all of it added by the end, also when the run
    /// diverged early).
    pub fn run_watched(
        model: &'m Model,
        cfg: RunConfig,
        stop: &std::sync::atomic::AtomicBool,
        simulated: Option<&std::sync::atomic::AtomicU64>,
    ) -> Result<Option<RunReport>, RunError> {
        let covered = |from: SimTime, to: SimTime| {
            if let Some(s) = simulated {
                let ns = to.saturating_since(from).as_nanos();
                s.fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
            }
        };
        let mut world = World::new(model, cfg);
        let mut sched = Scheduler::with_capacity(4096);
        world.start(&mut sched);
        let until = SimTime::at(cfg.duration + drain_time(model));
        let step = guard_step(model, &cfg);
        let mut stats = crate::engine::RunStats {
            events: 0,
            end: SimTime::ZERO,
            trace_hash: 0,
        };
        let mut at = SimTime::ZERO;
        loop {
            let next = (at + step).min(until);
            let limits = RunLimits {
                until: Some(next),
                max_events: cfg.max_events - stats.events,
            };
            match crate::engine::run(&mut world, &mut sched, limits) {
                Ok(s) => {
                    stats.events += s.events;
                    stats.end = s.end;
                    stats.trace_hash = stats.trace_hash.rotate_left(7) ^ s.trace_hash;
                }
                Err(RunError::RunawayEvents { events, at, .. }) => {
                    stats.events += events;
                    stats.end = at;
                    world.diverge(DivergenceCause::Events(cfg.max_events), at);
                    break;
                }
            }
            if next >= until || world.diverged.is_some() {
                break;
            }
            covered(at, next);
            at = next;
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(None);
            }
            let live = world.live(&sched);
            if live > cfg.max_in_flight {
                world.diverge(DivergenceCause::InFlight(live), at);
                break;
            }
        }
        // Steps before `at` were reported; the rest counts as covered too (a diverged
        // run ends its job).
        covered(at, until);
        Ok(Some(world.finish(stats)))
    }

    /// Live entities: what memory grows with.
    fn live(&self, sched: &Scheduler<Ev>) -> u64 {
        let outboxes: u64 = self
            .metrics
            .clients
            .iter()
            .map(|c| c.captured.saturating_sub(c.delivered + c.dead_lettered))
            .sum();
        (self.requests.len() + self.calls.len() + sched.pending()) as u64 + outboxes
    }

    /// Records why and when the run stopped, and the service holding the most requests
    /// (queued or in progress, over all its instances): where the backlog grew.
    pub(crate) fn diverge(&mut self, cause: DivergenceCause, at: SimTime) {
        let mut held = vec![0u64; self.services.len()];
        for (_, r) in self.requests.iter() {
            held[r.service as usize] += 1;
        }
        let worst = (0..held.len()).max_by_key(|&i| (held[i], std::cmp::Reverse(i)));
        let queued = |i: usize| -> u64 {
            self.services[i]
                .instances
                .iter()
                .map(|inst| inst.queued() as u64)
                .sum()
        };
        self.diverged = Some(Divergence {
            cause,
            at,
            service: worst.map(|i| self.model.services[i].name.clone()),
            service_requests: worst.map_or(0, |i| held[i]),
            service_queue: worst.map_or(0, queued),
            edge: None,
        });
    }

    fn start(&mut self, sched: &mut Scheduler<Ev>) {
        for (i, f) in self.model.faults.iter().enumerate() {
            sched.schedule_at(f.end, Ev::FaultEnd(i as u32));
        }
        for w in 0..self.workloads.len() {
            self.start_workload(sched, w as u32);
        }
        self.start_fleets(sched);
    }

    /// Integrates busy workers and queue length of one instance up to now. Call before
    /// either changes.
    #[inline]
    pub(crate) fn touch_instance(&mut self, svc: u32, slot: u32, now: SimTime) {
        let s = &mut self.services[svc as usize].instances[slot as usize];
        let from = s.area.last();
        if now > from {
            s.busy_ns += s.busy as u128 * (now - from).as_nanos() as u128;
            let values = [s.busy as u64, s.queued() as u64];
            self.integrate_instance(svc, slot, now, values);
        }
    }

    /// Adds an instance's busy workers and queue length `values`, held since its last
    /// change, up to `now`, to its service's series and its own.
    #[inline]
    pub(crate) fn integrate_instance(
        &mut self,
        svc: u32,
        slot: u32,
        now: SimTime,
        values: [u64; 2],
    ) {
        let s = &mut self.services[svc as usize].instances[slot as usize];
        let m = &mut self.metrics;
        let (width, n) = (m.bucket, m.n_buckets);
        s.area
            .advance(now, values, width, n, instance_sink(m, svc, slot));
    }

    /// Brings pool `p`'s metrics up to now (call after every change to the pool).
    pub(crate) fn touch_pool(&mut self, p: u32, now: SimTime) {
        let pool = &self.pools[p as usize];
        let (in_use, waiting) = (pool.in_flight(), pool.waiting() as u32);
        self.metrics.pools[p as usize].touch(self.metrics.bucket, now, in_use, waiting);
    }

    /// Records breaker transitions and asks for the next wake-up.
    pub(crate) fn observe_breaker(&mut self, sched: &mut Scheduler<Ev>, b: u32) {
        let rt = &mut self.breakers[b as usize];
        let transitions: Vec<_> = rt.breaker.drain_transitions().collect();
        for t in transitions {
            let from = rt.since;
            for &c in &rt.metrics {
                let cm = &mut self.metrics.clients[c as usize];
                cm.transitions += 1;
                state_area(&mut cm.buckets, self.metrics.bucket, rt.state, from, t.at);
            }
            rt.state = t.to;
            rt.since = t.at;
        }
        if let Some(t) = rt.breaker.next_wakeup()
            && rt.wake_at != Some(t)
        {
            rt.wake_at = Some(t);
            sched.schedule_at(t, Ev::BreakerWake(b));
        }
    }

    /// Adds breaker `b`'s current state up to `now` to its series.
    pub(crate) fn close_breaker_span(&mut self, b: u32, now: SimTime) {
        let rt = &mut self.breakers[b as usize];
        for &c in &rt.metrics {
            state_area(
                &mut self.metrics.clients[c as usize].buckets,
                self.metrics.bucket,
                rt.state,
                rt.since,
                now,
            );
        }
        rt.since = now;
    }

    fn finish(mut self, stats: crate::engine::RunStats) -> RunReport {
        let end = stats.end;
        for s in 0..self.services.len() {
            for slot in 0..self.services[s].instances.len() {
                self.touch_instance(s as u32, slot as u32, end);
                let sink = instance_sink(&mut self.metrics, s as u32, slot as u32);
                self.services[s].instances[slot].area.close(sink);
            }
            self.touch_fleet(s as u32, end);
        }
        for p in self.metrics.pools.iter_mut() {
            p.finish(self.metrics.bucket, end);
        }
        for e in 0..self.edges.len() {
            self.touch_edge(e as u32, end);
        }
        for b in 0..self.breakers.len() {
            self.close_breaker_span(b as u32, end);
        }
        // Unresolved user requests, and intents still waiting in an outbox.
        for (_, call) in self.calls.iter() {
            if let Parent::User { workload, .. } = call.parent {
                self.metrics.workloads[workload as usize].unresolved += 1;
            }
        }
        for c in self.clients.iter_mut() {
            if let Some(o) = c.fallback.outbox_mut() {
                self.metrics.clients[c.metric as usize].outbox_pending +=
                    (o.pending() + o.draining()) as u64;
            }
        }
        self.metrics.final_replicas = self.replicas_total as u64;
        self.metrics.peak_replicas = self.peak_replicas as u64;
        self.metrics.finish(end);
        RunReport::new(self.model, self.cfg, self.metrics, stats, self.diverged)
    }
}

/// Where an instance's closed buckets of busy-worker and queue area go: its service's
/// buckets and, in a small fleet, its own series.
fn instance_sink(m: &mut Metrics, svc: u32, slot: u32) -> impl FnMut(usize, [f64; 2]) + '_ {
    let sm = &mut m.services[svc as usize];
    let (buckets, mut series) = (&mut sm.buckets, sm.instances.get_mut(slot as usize));
    move |i, [busy, queue]| {
        buckets[i].busy_area += busy;
        buckets[i].queue_area += queue;
        if let Some(s) = series.as_deref_mut() {
            s.busy_area[i] += busy;
            s.queue_area[i] += queue;
        }
    }
}

fn state_area(
    buckets: &mut [crate::sim::metrics::ClientBucket],
    bucket: SimDuration,
    state: BreakerState,
    from: SimTime,
    to: SimTime,
) {
    let open = match state {
        BreakerState::Open | BreakerState::ForcedOpen => true,
        BreakerState::HalfOpen => false,
        _ => return,
    };
    let n = buckets.len();
    for_each_span(bucket, n, from, to, |i, secs| {
        if open {
            buckets[i].open_seconds += secs;
        } else {
            buckets[i].half_open_seconds += secs;
        }
    });
}

/// How often [`World::run`] checks its guards, in simulated time: every second, or more
/// often when the peak arrival rate could fill a quarter of `max_in_flight` in less.
pub fn guard_step(model: &Model, cfg: &RunConfig) -> SimDuration {
    let rate: f64 = model
        .workloads
        .iter()
        .map(|w| match &w.arrivals {
            Arrivals::Poisson(points) => points.iter().map(|p| p.1).fold(0.0, f64::max),
            Arrivals::Clients { count, think } => *count as f64 / think.mean_secs().max(1e-3),
            Arrivals::Bursts => 0.0,
        })
        .sum();
    let secs = (cfg.max_in_flight as f64 / (4.0 * rate.max(1e-9))).clamp(1e-3, 1.0);
    SimDuration::from_secs_f64(secs)
}

/// How long after the end of arrivals the run continues, so that requests sent near the
/// end can finish: per workload, every allowed attempt's patience plus its back-off.
pub fn drain_time(model: &Model) -> SimDuration {
    let ten_minutes = SimDuration::from_secs(600);
    model
        .workloads
        .iter()
        .map(|w| {
            let (attempts, backoff) = match &w.retry {
                Some(r) => (
                    r.max_attempts() as u64,
                    r.backoff().max_delay().min(ten_minutes),
                ),
                None => (1, SimDuration::ZERO),
            };
            let per = w.patience.as_nanos().saturating_add(backoff.as_nanos());
            SimDuration::from_nanos(per.saturating_mul(attempts))
        })
        .max()
        .unwrap_or(SimDuration::ZERO)
        .min(SimDuration::from_secs(3600))
        + SimDuration::from_secs(1)
}

impl EngineModel for World<'_> {
    type Event = Ev;

    fn handle(&mut self, sched: &mut Scheduler<Ev>, ev: Ev) {
        match ev {
            Ev::Arrival(w) => self.on_arrival(sched, w),
            Ev::Think(w, c) => self.on_think(sched, w, c),
            Ev::Deliver(r) => self.admit(sched, r),
            Ev::WorkDone(r) => self.on_work_done(sched, r),
            Ev::Respond {
                call,
                attempt,
                outcome,
                quality,
                hint_ms,
                cause,
            } => self.on_response(sched, call, attempt, outcome, quality, hint_ms, cause),
            Ev::AttemptTimeout(c) => self.on_attempt_timeout(sched, c),
            Ev::CallTimeout(c) => self.on_call_timeout(sched, c),
            Ev::RetryNow(c) => self.on_retry_now(sched, c),
            Ev::WaitExpired(c) => self.on_wait_expired(sched, c),
            Ev::Resume(c) => self.on_resume(sched, c),
            Ev::Step(r) => self.on_step(sched, r),
            Ev::HoldExpired(r) => self.on_hold_expired(sched, r),
            Ev::BreakerWake(b) => {
                let now = sched.now();
                let rt = &mut self.breakers[b as usize];
                if rt.wake_at == Some(now) {
                    rt.wake_at = None;
                    rt.breaker.on_wakeup(now);
                    self.observe_breaker(sched, b);
                }
            }
            Ev::FaultEnd(f) => {
                let svc = self.model.faults[f as usize].service;
                for slot in 0..self.services[svc as usize].instances.len() {
                    self.start_queued(sched, svc, slot as u32);
                }
            }
            Ev::Drain(c) => self.on_drain(sched, c),
            Ev::ProbeTick {
                prober,
                slot,
                session,
            } => self.on_probe_tick(sched, prober, slot, session),
            Ev::InstanceUp {
                service,
                slot,
                incarnation,
            } => self.on_instance_up(sched, service, slot, incarnation),
            Ev::GraceEnd {
                service,
                slot,
                incarnation,
            } => self.on_grace_end(sched, service, slot, incarnation),
            Ev::HpaSync(s) => self.on_hpa_sync(sched, s),
            Ev::OutlierSweep(e) => self.on_outlier_sweep(sched, e),
            Ev::Burst { workload, burst } => self.on_burst(sched, workload, burst),
        }
    }

    fn trace_key(ev: &Ev) -> u64 {
        match *ev {
            Ev::Arrival(w) => (1 << 56) | w as u64,
            Ev::Think(w, c) => (2 << 56) | ((w as u64) << 32) | c as u64,
            Ev::Deliver(h) => (3 << 56) | h.index() as u64,
            Ev::WorkDone(h) => (4 << 56) | h.index() as u64,
            Ev::Respond { call, attempt, .. } => {
                (5 << 56) | ((attempt as u64) << 32) | call.index() as u64
            }
            Ev::AttemptTimeout(h) => (6 << 56) | h.index() as u64,
            Ev::CallTimeout(h) => (7 << 56) | h.index() as u64,
            Ev::RetryNow(h) => (8 << 56) | h.index() as u64,
            Ev::WaitExpired(h) => (9 << 56) | h.index() as u64,
            Ev::Resume(h) => (10 << 56) | h.index() as u64,
            Ev::BreakerWake(b) => (11 << 56) | b as u64,
            Ev::FaultEnd(f) => (12 << 56) | f as u64,
            Ev::Drain(c) => (13 << 56) | c as u64,
            Ev::ProbeTick { prober, slot, .. } => {
                (14 << 56) | ((prober as u64) << 32) | slot as u64
            }
            Ev::InstanceUp { service, slot, .. } => {
                (15 << 56) | ((service as u64) << 32) | slot as u64
            }
            Ev::GraceEnd { service, slot, .. } => {
                (16 << 56) | ((service as u64) << 32) | slot as u64
            }
            Ev::HpaSync(s) => (17 << 56) | s as u64,
            Ev::OutlierSweep(e) => (18 << 56) | e as u64,
            Ev::Step(h) => (19 << 56) | h.index() as u64,
            Ev::HoldExpired(h) => (20 << 56) | h.index() as u64,
            Ev::Burst { workload, burst } => (21 << 56) | ((workload as u64) << 32) | burst as u64,
        }
    }
}
