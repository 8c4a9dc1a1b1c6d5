//! [`World`]: the simulated service graph of one run, built from a validated [`Model`].
//!
//! It owns the runtime state (services with their workers and queues, client stacks with
//! live policy objects, in-flight requests and calls in slabs) and implements the engine's
//! [`EngineModel`]: every event is dispatched to a handler in [`super::service`]
//! (workers, queues, steps), [`super::client`] (policy stacks, retries, timeouts,
//! fallbacks) or [`super::users`] (workloads and user outcomes).
//!
//! Invariants:
//! - a request holds one worker of its service from start to response, including while
//!   it waits on downstream calls, timeouts and back-off sleeps;
//! - every call ends exactly once (`finish_call`), releasing every permit it holds and
//!   cancelling every timer it armed;
//! - a response nobody waits for any more is wasted work: it is counted, never delivered;
//! - randomness comes from per-source streams, so a policy change never shifts arrivals
//!   or service times.

use crate::engine::{
    Dist, Model as EngineModel, RunError, RunLimits, Scheduler, SimRng, StreamKind, Streams,
};
use crate::model::graph::{Arrivals, Model};
use crate::model::spec::Layer;
use crate::policy::Outcome;
use crate::policy::budget::{BudgetTicket, RetryBudget};
use crate::policy::bulkhead::SemaphoreBulkhead;
use crate::policy::circuit_breaker::{BreakerState, CircuitBreaker};
use crate::policy::concurrency_limit::{Permit, SimpleLimiter};
use crate::policy::fallback::Fallback;
use crate::policy::rate_limit::RateLimiter;
use crate::policy::retry::{Retry, RetryState};
use crate::policy::shedding::PriorityShedder;
use crate::policy::timeout::AdaptiveTimeout;
use crate::sim::metrics::{Metrics, for_each_span};
use crate::sim::report::{Divergence, DivergenceCause, RunReport};
use crate::sim::slab::{Handle, Slab};
use crate::time::{SimDuration, SimTime};

use std::collections::VecDeque;

/// Run settings that do not belong to the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunConfig {
    /// Users send requests until this time; the run then drains.
    pub duration: SimDuration,
    /// Metrics bucket width.
    pub bucket: SimDuration,
    /// Experiment seed.
    pub seed: u64,
    /// Replication index (the other half of every stream's key).
    pub replication: u64,
    /// A bucket is down when ok answers ÷ offered is below this.
    pub good_ratio_below: f64,
    /// Event guard: a run that needs more events ends as diverged.
    pub max_events: u64,
    /// Live-state guard: requests + calls + pending events + outbox entries. A run whose
    /// live state passes it ends as diverged (see [`World::run`]).
    pub max_in_flight: u64,
}

impl RunConfig {
    /// Default of [`RunConfig::max_in_flight`]: about 1 GB of live state per run.
    pub const DEFAULT_MAX_IN_FLIGHT: u64 = 4_000_000;
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            duration: SimDuration::from_secs(600),
            bucket: SimDuration::from_secs(1),
            seed: 1,
            replication: 0,
            good_ratio_below: 0.5,
            max_events: 2_000_000_000,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

/// What an answer carries besides success or failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Quality {
    /// A full answer.
    #[default]
    Full,
    /// Some part came from a fallback (default, stale) or a non-critical call failed.
    Degraded,
    /// The intent was queued for later.
    Pending,
}

/// Engine events of the world. Small and `Copy`.
#[derive(Clone, Copy, Debug)]
pub enum Ev {
    /// Next candidate arrival of an open workload.
    Arrival(u32),
    /// A closed-population client finished thinking.
    Think(u32, u32),
    /// A request reaches its service (after network delay or a rate-limit wait).
    Deliver(Handle),
    /// The current work step of a request ends.
    WorkDone(Handle),
    /// A response reaches its caller.
    Respond {
        /// The call.
        call: Handle,
        /// Which attempt it answers.
        attempt: u32,
        /// How it went.
        outcome: Outcome,
        /// Answer quality.
        quality: Quality,
    },
    /// Per-attempt timeout.
    AttemptTimeout(Handle),
    /// Per-call (total) timeout.
    CallTimeout(Handle),
    /// Back-off over: next attempt.
    RetryNow(Handle),
    /// A bulkhead or pool wait expired.
    WaitExpired(Handle),
    /// A waiting call was handed a permit.
    Resume(Handle),
    /// A breaker asked to be woken.
    BreakerWake(u32),
    /// A fault ended (capacity may have come back).
    FaultEnd(u32),
    /// An outbox has replays due.
    Drain(u32),
}

/// Who waits for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parent {
    /// A request at the calling service (a step of its endpoint).
    Request(Handle),
    /// A user of a workload (`client` is the closed-population index or `u32::MAX`).
    User { workload: u32, client: u32 },
    /// An outbox replay.
    Outbox {
        client: u32,
        intent: u64,
        attempt: u32,
    },
}

/// Where a call is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Going through the layers.
    Acquiring,
    /// Waiting in a bulkhead or pool queue.
    Waiting,
    /// An attempt is out.
    InFlight,
    /// Sleeping before a retry.
    Backoff,
}

pub(crate) const HOLD_BULKHEAD: u8 = 1;
pub(crate) const HOLD_BREAKER: u8 = 2;
pub(crate) const HOLD_POOL: u8 = 4;

/// One logical call through a client stack.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub client: u32,
    pub target: u32,
    pub parent: Parent,
    pub critical: bool,
    pub replay: bool,
    pub workload: u8,
    pub class: u8,
    pub started: SimTime,
    pub deadline: SimTime,
    pub retry: Option<RetryState>,
    pub ticket: BudgetTicket,
    pub attempts: u32,
    pub attempt_started: SimTime,
    pub attempt_deadline: SimTime,
    pub breaker_at: SimTime,
    pub stage: u8,
    pub phase: Phase,
    pub holds: u8,
    pub attempt_req: Option<Handle>,
    pub attempt_timer: Option<crate::engine::TimerId>,
    pub call_timer: Option<crate::engine::TimerId>,
    pub step_timer: Option<crate::engine::TimerId>,
}

/// One request executing an endpoint at a service.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    pub endpoint: u32,
    pub service: u32,
    pub step: u16,
    pub pending: u16,
    pub failed: Option<Outcome>,
    pub quality: Quality,
    pub origin: Handle,
    pub attempt: u32,
    pub client: u32,
    pub arrived: SimTime,
    pub started: Option<SimTime>,
    pub deadline: SimTime,
    /// When the caller stopped waiting for this request (`SimTime::MAX`: it still waits).
    pub abandoned_at: SimTime,
    /// The front door's concurrency-limit permit, while held.
    pub permit: Option<Permit>,
    pub workload: u8,
    pub class: u8,
    pub rate_passed: bool,
}

/// Runtime state of a service.
pub(crate) struct ServiceRt {
    pub workers: u32,
    pub busy: u32,
    pub queue: VecDeque<Handle>,
    pub capacity: Option<u32>,
    pub lifo: bool,
    pub queue_timeout: Option<SimDuration>,
    pub rate_limit: Option<RateLimiter>,
    pub shed: Option<PriorityShedder>,
    pub limiter: Option<SimpleLimiter>,
    pub limiter_rng: SimRng,
    pub faults: Vec<u32>,
    pub rng: SimRng,
    pub last_change: SimTime,
}

impl ClientRt {
    /// The timeout of the `Timeout` layer now (an adaptive one follows the callee).
    pub fn current_timeout(&self) -> Option<SimDuration> {
        self.adaptive.as_ref().map(|a| a.timeout()).or(self.timeout)
    }
}

/// Runtime state of a client stack (a model client, or a workload's users).
pub(crate) struct ClientRt {
    pub layers: Vec<Layer>,
    pub retry_pos: u8,
    pub timeout: Option<SimDuration>,
    pub adaptive: Option<AdaptiveTimeout>,
    pub timeout_outer: bool,
    pub total_timeout: Option<SimDuration>,
    pub retry: Option<Retry>,
    pub budget: Option<RetryBudget>,
    pub breaker: Option<u32>,
    pub breaker_outer: bool,
    pub bulkhead: Option<SemaphoreBulkhead<Handle>>,
    pub bulkhead_outer: bool,
    pub pool: Option<u32>,
    pub fallback: Fallback<u64>,
    pub drain_at: Option<SimTime>,
    pub network: Option<Dist>,
    pub jitter: SimRng,
    pub net_rng: SimRng,
}

/// Runtime state of a breaker (one per client, or shared).
pub(crate) struct BreakerRt {
    pub breaker: CircuitBreaker,
    pub wake_at: Option<SimTime>,
    pub state: BreakerState,
    pub since: SimTime,
    pub clients: Vec<u32>,
}

/// Runtime state of a workload.
pub(crate) struct WorkloadRt {
    pub client: u32,
    pub arrivals: SimRng,
    pub users: SimRng,
    pub rate_max: f64,
}

/// The simulated world of one run.
pub struct World<'m> {
    pub(crate) model: &'m Model,
    pub(crate) cfg: RunConfig,
    pub(crate) horizon: SimTime,
    pub(crate) services: Vec<ServiceRt>,
    pub(crate) clients: Vec<ClientRt>,
    pub(crate) breakers: Vec<BreakerRt>,
    pub(crate) pools: Vec<SemaphoreBulkhead<Handle>>,
    pub(crate) workloads: Vec<WorkloadRt>,
    pub(crate) requests: Slab<Request>,
    pub(crate) calls: Slab<Call>,
    pub(crate) metrics: Metrics,
    pub(crate) fault_rng: SimRng,
    pub(crate) intent_seq: u64,
    /// Set when a guard stopped the run.
    pub(crate) diverged: Option<Divergence>,
    /// Outbox replays started at `replay_instant` (a zero-time loop guard).
    pub(crate) replays_at_instant: u64,
    pub(crate) replay_instant: SimTime,
}

fn layer_pos(layers: &[Layer], l: Layer) -> usize {
    layers.iter().position(|x| *x == l).unwrap_or(0)
}

impl<'m> World<'m> {
    /// Builds the runtime state of one run. Policies were validated with the model, so
    /// building them again cannot fail.
    pub fn new(model: &'m Model, cfg: RunConfig) -> Self {
        let streams = Streams::new(cfg.seed, cfg.replication);
        let grace = drain_time(model);
        let horizon = SimTime::at(cfg.duration);
        let n_buckets = ((cfg.duration + grace)
            .as_nanos()
            .div_ceil(cfg.bucket.as_nanos()))
        .max(1) as usize;

        let mut services: Vec<ServiceRt> = model
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| ServiceRt {
                workers: s.workers,
                busy: 0,
                queue: VecDeque::new(),
                capacity: s.queue_capacity,
                lifo: s.discipline == crate::model::spec::Discipline::Lifo,
                queue_timeout: s.queue_timeout,
                rate_limit: s
                    .rate_limit
                    .map(|c| RateLimiter::new(c, SimTime::ZERO).expect("validated")),
                shed: s
                    .shed
                    .clone()
                    .map(|c| PriorityShedder::new(c).expect("validated")),
                limiter: s.concurrency_limit.map(|c| {
                    let mut rng = streams.stream(StreamKind::Service, 1_000_000 + i as u32);
                    SimpleLimiter::new(c, &mut rng).expect("validated")
                }),
                limiter_rng: streams.stream(StreamKind::Service, 2_000_000 + i as u32),
                faults: Vec::new(),
                rng: streams.stream(StreamKind::Service, i as u32),
                last_change: SimTime::ZERO,
            })
            .collect();
        for (i, f) in model.faults.iter().enumerate() {
            services[f.service as usize].faults.push(i as u32);
        }

        let mut clients: Vec<ClientRt> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (i, c) in model.clients.iter().enumerate() {
            let retry_pos = layer_pos(&c.layers, Layer::Retry);
            clients.push(ClientRt {
                retry_pos: retry_pos as u8,
                timeout: c.timeout,
                adaptive: c
                    .adaptive_timeout
                    .map(|a| AdaptiveTimeout::new(a).expect("validated")),
                timeout_outer: layer_pos(&c.layers, Layer::Timeout) < retry_pos,
                total_timeout: c.total_timeout,
                retry: c.retry.clone(),
                budget: c
                    .budget
                    .clone()
                    .map(|b| RetryBudget::new(b, SimTime::ZERO).expect("validated")),
                breaker: c.breaker,
                breaker_outer: layer_pos(&c.layers, Layer::Breaker) < retry_pos,
                bulkhead: c
                    .bulkhead
                    .map(|b| SemaphoreBulkhead::new(b).expect("validated")),
                bulkhead_outer: layer_pos(&c.layers, Layer::Bulkhead) < retry_pos,
                pool: c.pool,
                fallback: Fallback::new(c.fallback.clone()).expect("validated"),
                drain_at: None,
                network: c.network.clone(),
                jitter: streams.stream(StreamKind::Jitter, i as u32),
                net_rng: streams.stream(StreamKind::Network, i as u32),
                layers: c.layers.clone(),
            });
            names.push(c.name.clone());
        }
        let mut workloads = Vec::new();
        for (w, wl) in model.workloads.iter().enumerate() {
            let id = clients.len() as u32;
            let layers = vec![
                Layer::Bulkhead,
                Layer::Breaker,
                Layer::Retry,
                Layer::Timeout,
            ];
            clients.push(ClientRt {
                layers,
                retry_pos: 2,
                timeout: Some(wl.patience),
                adaptive: None,
                timeout_outer: false,
                total_timeout: None,
                retry: wl.retry.clone(),
                budget: None,
                breaker: None,
                breaker_outer: false,
                bulkhead: None,
                bulkhead_outer: false,
                pool: None,
                fallback: Fallback::Error,
                drain_at: None,
                network: None,
                jitter: streams.stream(StreamKind::Users, 1_000_000 + w as u32),
                net_rng: streams.stream(StreamKind::Users, 2_000_000 + w as u32),
            });
            names.push(format!("users:{}", wl.name));
            let rate_max = match &wl.arrivals {
                Arrivals::Poisson(points) => points.iter().map(|p| p.1).fold(0.0, f64::max),
                Arrivals::Clients { .. } => 0.0,
            };
            workloads.push(WorkloadRt {
                client: id,
                arrivals: streams.stream(StreamKind::Arrivals, w as u32),
                users: streams.stream(StreamKind::Users, w as u32),
                rate_max,
            });
        }
        let breakers = model
            .breakers
            .iter()
            .enumerate()
            .map(|(b, def)| BreakerRt {
                breaker: CircuitBreaker::new(def.config.clone()).expect("validated"),
                wake_at: None,
                state: BreakerState::Closed,
                since: SimTime::ZERO,
                clients: model
                    .clients
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.breaker == Some(b as u32))
                    .map(|(i, _)| i as u32)
                    .collect(),
            })
            .collect();
        let pools = model
            .pools
            .iter()
            .map(|p| SemaphoreBulkhead::new(p.config).expect("validated"))
            .collect();
        let metrics = Metrics::new(
            cfg.bucket,
            n_buckets,
            model.workloads.iter().map(|w| (w.name.clone(), w.value)),
            model.services.iter().map(|s| (s.name.clone(), s.workers)),
            names,
        );
        let mut metrics = metrics;
        for (i, c) in model.clients.iter().enumerate() {
            metrics.clients[i].has_breaker = c.breaker.is_some();
        }
        World {
            model,
            cfg,
            horizon,
            services,
            clients,
            breakers,
            pools,
            workloads,
            requests: Slab::default(),
            calls: Slab::default(),
            metrics,
            fault_rng: streams.stream(StreamKind::Faults, 0),
            intent_seq: 0,
            diverged: None,
            replays_at_instant: 0,
            replay_instant: SimTime::ZERO,
        }
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
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(None);
            }
            let live = world.live(&sched);
            if live > cfg.max_in_flight {
                world.diverge(DivergenceCause::InFlight(live), next);
                break;
            }
            at = next;
        }
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
    /// (queued or in progress): where the backlog grew.
    pub(crate) fn diverge(&mut self, cause: DivergenceCause, at: SimTime) {
        let mut held = vec![0u64; self.services.len()];
        for (_, r) in self.requests.iter() {
            held[r.service as usize] += 1;
        }
        let worst = (0..held.len()).max_by_key(|&i| (held[i], std::cmp::Reverse(i)));
        self.diverged = Some(Divergence {
            cause,
            at,
            service: worst.map(|i| self.model.services[i].name.clone()),
            service_requests: worst.map_or(0, |i| held[i]),
            service_queue: worst.map_or(0, |i| self.services[i].queue.len() as u64),
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
    }

    /// Integrates busy workers and queue length of `svc` up to now. Call before either
    /// changes.
    #[inline]
    pub(crate) fn touch_service(&mut self, svc: u32, now: SimTime) {
        let s = &mut self.services[svc as usize];
        if now > s.last_change {
            let (busy, queued) = (s.busy as f64, s.queue.len() as f64);
            let m = &mut self.metrics;
            let buckets = &mut m.services[svc as usize].buckets;
            for_each_span(m.bucket, buckets.len(), s.last_change, now, |i, secs| {
                buckets[i].busy_area += busy * secs;
                buckets[i].queue_area += queued * secs;
            });
            s.last_change = now;
        }
    }

    /// Records breaker transitions and asks for the next wake-up.
    pub(crate) fn observe_breaker(&mut self, sched: &mut Scheduler<Ev>, b: u32) {
        let rt = &mut self.breakers[b as usize];
        let transitions: Vec<_> = rt.breaker.drain_transitions().collect();
        for t in transitions {
            let from = rt.since;
            for &c in &rt.clients {
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

    fn finish(mut self, stats: crate::engine::RunStats) -> RunReport {
        let end = stats.end;
        for s in 0..self.services.len() {
            self.touch_service(s as u32, end);
        }
        for b in 0..self.breakers.len() {
            let rt = &self.breakers[b];
            for &c in &rt.clients {
                state_area(
                    &mut self.metrics.clients[c as usize].buckets,
                    self.metrics.bucket,
                    rt.state,
                    rt.since,
                    end,
                );
            }
        }
        // Unresolved user requests, and intents still waiting in an outbox.
        for (_, call) in self.calls.iter() {
            if let Parent::User { workload, .. } = call.parent {
                self.metrics.workloads[workload as usize].unresolved += 1;
            }
        }
        for (i, c) in self.clients.iter_mut().enumerate() {
            if let Some(o) = c.fallback.outbox_mut()
                && let Some(cm) = self.metrics.clients.get_mut(i)
            {
                cm.outbox_pending = (o.pending() + o.draining()) as u64;
            }
        }
        self.metrics.finish();
        RunReport::new(self.model, self.cfg, self.metrics, stats, self.diverged)
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
            } => self.on_response(sched, call, attempt, outcome, quality),
            Ev::AttemptTimeout(c) => self.on_attempt_timeout(sched, c),
            Ev::CallTimeout(c) => self.on_call_timeout(sched, c),
            Ev::RetryNow(c) => self.on_retry_now(sched, c),
            Ev::WaitExpired(c) => self.on_wait_expired(sched, c),
            Ev::Resume(c) => self.on_resume(sched, c),
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
                self.start_queued(sched, svc);
            }
            Ev::Drain(c) => self.on_drain(sched, c),
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
        }
    }
}
