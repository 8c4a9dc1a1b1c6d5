//! The runtime state of one run: what lives while the world simulates (instances with
//! their workers and queues, client stacks with live policy objects, edges with their
//! balancers, probers, requests and calls), as plain data addressed by index.
//!
//! Nothing here schedules events or calls policies with side effects; the handlers in
//! [`super::service`], [`super::client`], [`super::fleet`], [`super::probes`] and
//! [`super::users`] do.

use std::collections::VecDeque;

use crate::engine::{Dist, SimRng, TimerId};
use crate::model::spec::Layer;
use crate::policy::Outcome;
use crate::policy::balancer::Balancer;
use crate::policy::budget::{BudgetTicket, RetryBudget};
use crate::policy::bulkhead::Bulkhead;
use crate::policy::circuit_breaker::{BreakerState, CircuitBreaker};
use crate::policy::concurrency_limit::{Permit, SimpleLimiter};
use crate::policy::fallback::Fallback;
use crate::policy::health_check::{HealthCheckConfig, HostHealth};
use crate::policy::hedge::{Hedge, HedgeState};
use crate::policy::hpa::{Hpa, Pods};
use crate::policy::outlier::OutlierDetector;
use crate::policy::probe::{ProbeKind, ProbeState, ProbeTicker, ProbeTiming};
use crate::policy::rate_limit::RateLimiter;
use crate::policy::retry::{Retry, RetryState};
use crate::policy::shedding::PriorityShedder;
use crate::policy::timeout::AdaptiveTimeout;
use crate::sim::metrics::StepArea;
use crate::sim::slab::Handle;
use crate::time::{SimDuration, SimTime};

/// "No index" in u32 fields (no instance chosen, no breaker held).
pub(crate) const NONE: u32 = u32::MAX;

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
        /// The server's Retry-After hint in milliseconds (0: none).
        hint_ms: u32,
        /// A failure's root cause ([`crate::sim::metrics::FailReason::index`]).
        cause: u8,
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
    /// A request at a hold step was handed its connection: its next step runs.
    Step(Handle),
    /// A request's wait for a connection expired.
    HoldExpired(Handle),
    /// A breaker asked to be woken.
    BreakerWake(u32),
    /// A fault ended (capacity may have come back).
    FaultEnd(u32),
    /// An outbox has replays due.
    Drain(u32),
    /// A prober's next check or tick for one instance (stale when `session` moved on).
    ProbeTick {
        /// The prober.
        prober: u32,
        /// The instance.
        slot: u32,
        /// The session it belongs to.
        session: u32,
    },
    /// A container finished starting (stale when the incarnation moved on).
    InstanceUp {
        /// The service.
        service: u32,
        /// The instance.
        slot: u32,
        /// The incarnation that was starting.
        incarnation: u32,
    },
    /// A terminating instance's grace period is over: what is left is killed.
    GraceEnd {
        /// The service.
        service: u32,
        /// The instance.
        slot: u32,
        /// The incarnation that was terminating.
        incarnation: u32,
    },
    /// The autoscaler of a service syncs.
    HpaSync(u32),
    /// The outlier detector of an edge sweeps.
    OutlierSweep(u32),
    /// The next users of a burst arrive.
    Burst {
        /// The workload.
        workload: u32,
        /// Index into its bursts.
        burst: u32,
    },
}

/// Who waits for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parent {
    /// A request at the calling service (a step of its endpoint).
    Request(Handle),
    /// A user of a workload (`client` is the closed-population index or `u32::MAX`).
    User { workload: u32, client: u32 },
    /// An outbox replay through the call's own client: the intent is
    /// [`intent_id`]`(call.workload, call.target, seq)`.
    Outbox { seq: u32, attempt: u32 },
    /// A hedged call: this call is one of its attempts.
    Hedge(Handle),
    /// A health check or a kubelet probe of one instance.
    Probe {
        prober: u32,
        slot: u32,
        session: u32,
    },
}

/// The id of an intent captured by an outbox: its workload, its target endpoint and its
/// sequence number, packed (a replay's call carries the first two, its [`Parent`] the
/// third).
#[inline]
pub(crate) fn intent_id(workload: u8, target: u32, seq: u32) -> u64 {
    ((workload as u64) << 56) | ((target as u64 & 0xff_ffff) << 32) | seq as u64
}

/// Who waits for a connection of a shared pool: an attempt of a call (a client edge's
/// `pool`), or a request at a `hold` step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waiter {
    /// A call's attempt.
    Call(Handle),
    /// A request at its hold step.
    Request(Handle),
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
    /// A hedged call: its attempts are calls of their own (its `kids`).
    Hedging,
    /// Waiting for the permit its client-side rate limiter reserved.
    RateWait,
    /// Parked by its client-side rate limiter, to be refused when the timer fires.
    RateRefused,
}

pub(crate) const HOLD_BULKHEAD: u8 = 1;
pub(crate) const HOLD_BREAKER: u8 = 2;
pub(crate) const HOLD_POOL: u8 = 4;
/// The attempt counts as active at `inst` on the client's edge (least request).
pub(crate) const HOLD_ACTIVE: u8 = 8;

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
    /// Hedging memory of a hedged call.
    pub hedge: Option<HedgeState>,
    /// The attempts of a hedged call still out (a list through their `sibling`).
    pub kids: Option<Handle>,
    pub ticket: BudgetTicket,
    pub attempts: u32,
    pub attempt_started: SimTime,
    pub attempt_deadline: SimTime,
    pub breaker_at: SimTime,
    pub stage: u8,
    pub phase: Phase,
    pub holds: u8,
    /// Every attempt goes to this instance (probes; a breaker per instance outside the
    /// retry), or [`NONE`]: the edge's balancer picks per attempt.
    pub pin: u32,
    /// The next call made by the same request, or the next attempt of the same hedged call
    /// (both form lists).
    pub sibling: Option<Handle>,
    /// The instance of the current attempt, once picked.
    pub inst: u32,
    /// The runtime breaker held ([`NONE`] when none).
    pub breaker: u32,
    /// The Retry-After hint of the last answer in milliseconds (0: none), for the retry
    /// policy; as it travels in [`Ev::Respond`].
    pub hint_ms: u32,
    /// The root cause the last answer carried (a `FailReason` index).
    pub cause: u8,
    pub attempt_req: Option<Handle>,
    pub attempt_timer: Option<TimerId>,
    pub call_timer: Option<TimerId>,
    pub step_timer: Option<TimerId>,
}

impl Call {
    /// The Retry-After hint of the last answer.
    #[inline]
    pub fn hint(&self) -> Option<SimDuration> {
        (self.hint_ms > 0).then(|| SimDuration::from_millis(self.hint_ms as u64))
    }
}

/// One request executing an endpoint at one instance of a service.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    pub endpoint: u32,
    pub service: u32,
    pub instance: u32,
    pub step: u16,
    pub pending: u16,
    pub failed: Option<Outcome>,
    pub quality: Quality,
    pub origin: Handle,
    pub attempt: u32,
    pub client: u32,
    pub arrived: SimTime,
    /// When a worker took it up (`SimTime::MAX` while it waits): see [`Request::started`].
    pub started_at: SimTime,
    pub deadline: SimTime,
    /// When the caller stopped waiting for this request (`SimTime::MAX`: it still waits).
    pub abandoned_at: SimTime,
    /// The front door's concurrency-limit permit while held, as its admission time and
    /// in-flight count (0: none): see [`Request::permit`].
    pub permit_start: SimTime,
    pub permit_inflight: u32,
    pub workload: u8,
    pub class: u8,
    pub rate_passed: bool,
    /// Waiting in its instance's queue.
    pub queued: bool,
    /// Waiting for a pool's connection at a hold step.
    pub on_pool: bool,
    /// The root cause of its failure, once a critical call failed (a `FailReason` index).
    pub cause: u8,
    /// The calls it is waiting on (the first; the others follow `Call::sibling`).
    pub children: Option<Handle>,
}

impl Request {
    /// When a worker took it up, if one has.
    #[inline]
    pub fn started(&self) -> Option<SimTime> {
        (self.started_at < SimTime::MAX).then_some(self.started_at)
    }

    /// The concurrency-limit permit it holds (a permit counts its own call: never 0).
    #[inline]
    pub fn permit(&self) -> Option<Permit> {
        (self.permit_inflight > 0).then_some(Permit {
            start: self.permit_start,
            inflight: self.permit_inflight,
        })
    }
}

/// Where an instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Life {
    /// Scheduled, or restarting: its container is not running; connections are refused.
    Starting,
    /// Running (ready or not: see [`InstanceRt::ready`]).
    Running,
    /// Scaled down: out of every balancer, finishing what it holds.
    Terminating,
    /// Gone; the slot may be reused by a later scale-up.
    Gone,
}

/// One instance of a service: its own workers, queue and front door.
pub(crate) struct InstanceRt {
    pub life: Life,
    /// Bumps at every (re)start and removal; events of an older incarnation are stale.
    pub incarnation: u32,
    pub workers: u32,
    pub busy: u32,
    /// Requests waiting for a worker; cancelled ones stay until they reach the front
    /// (counted in `dead`) so that cancelling costs O(1).
    pub queue: VecDeque<Handle>,
    pub dead: u32,
    pub rate_limit: Option<RateLimiter>,
    pub shed: Option<PriorityShedder>,
    pub limiter: Option<SimpleLimiter>,
    pub limiter_rng: SimRng,
    /// Busy workers and queue length, integrated per bucket.
    pub area: StepArea<2>,
    /// In the endpoints: every balancer of the service's callers may use it.
    pub ready: bool,
    pub ready_since: SimTime,
    /// When its current container started running.
    pub started_at: SimTime,
    /// Work is slower until then (cold start).
    pub warm_until: SimTime,
    /// Worker-nanoseconds busy since the start of the run (exact, for the autoscaler).
    pub busy_ns: u128,
    /// `busy_ns` at the autoscaler's last sync.
    pub busy_mark: u128,
    pub restarts: u32,
    /// When its pod was created (`None`: before the run).
    pub created_at: Option<SimTime>,
    /// Scheduled and never run yet (a Pending pod).
    pub pending: bool,
    /// Runtime client stacks of this instance, one per model client the service calls
    /// through (in the order of [`ServiceRt::model_clients`]).
    pub clients: Vec<u32>,
}

impl InstanceRt {
    /// Requests really waiting (cancelled entries not counted).
    #[inline]
    pub fn queued(&self) -> usize {
        self.queue.len() - self.dead as usize
    }
}

/// Runtime state of a service: its instances and fleet controllers.
pub(crate) struct ServiceRt {
    pub instances: Vec<InstanceRt>,
    pub faults: Vec<u32>,
    pub rng: SimRng,
    /// The replica count the fleet is asked to run (the autoscaler sets it).
    pub replicas: u32,
    pub hpa: Option<Hpa>,
    pub last_sync: SimTime,
    /// The autoscaler's grouping of pods, kept to reuse its buffers.
    pub pods: Pods,
    /// Instances in the endpoints now.
    pub ready: u32,
    /// When the ready / replica integrals were last brought up to date.
    pub fleet_last: SimTime,
    /// Edges whose callee this service is (their balancers see its instances).
    pub edges_in: Vec<u32>,
    /// Kubelet probers (readiness, liveness) of this service.
    pub probers: Vec<u32>,
    /// Model clients whose caller this service is.
    pub model_clients: Vec<u32>,
}

/// Runtime state of a client stack: one per model client and caller instance, one per
/// workload (the users), one per prober.
pub(crate) struct ClientRt {
    pub layers: Vec<Layer>,
    pub retry_pos: u8,
    pub timeout: Option<SimDuration>,
    pub adaptive: Option<AdaptiveTimeout>,
    pub timeout_outer: bool,
    pub total_timeout: Option<SimDuration>,
    pub retry: Option<Retry>,
    pub hedge: Option<Hedge>,
    pub rate_limit: Option<RateLimiter>,
    pub budget: Option<RetryBudget>,
    /// The edge-scoped runtime breaker.
    pub breaker: Option<u32>,
    /// Breakers per callee instance (breaker scope `instance`), created on first use.
    pub instance_breakers: Option<Vec<u32>>,
    pub breaker_outer: bool,
    pub bulkhead: Option<Bulkhead<Handle>>,
    pub bulkhead_outer: bool,
    pub pool: Option<u32>,
    pub fallback: Fallback<u64>,
    pub drain_at: Option<SimTime>,
    pub network: Option<Dist>,
    pub jitter: SimRng,
    pub net_rng: SimRng,
    /// The edge whose balancer picks instances ([`NONE`] for probers: they are pinned).
    pub edge: u32,
    /// Index into the metrics' client list.
    pub metric: u32,
    /// The model client (for rebuilding), or [`NONE`].
    pub model: u32,
    /// The calling service, or [`NONE`] (users, probers).
    pub caller: u32,
    /// An attempt that ends without its response cancels the callee's request.
    pub cancel: bool,
}

impl ClientRt {
    /// The timeout of the `Timeout` layer now (an adaptive one follows the callee).
    pub fn current_timeout(&self) -> Option<SimDuration> {
        self.adaptive.as_ref().map(|a| a.timeout()).or(self.timeout)
    }
}

/// Runtime state of a breaker.
pub(crate) struct BreakerRt {
    /// Its definition in the model.
    pub def: u32,
    pub breaker: CircuitBreaker,
    pub wake_at: Option<SimTime>,
    pub state: BreakerState,
    pub since: SimTime,
    /// Metric clients whose breaker series this one feeds.
    pub metrics: Vec<u32>,
}

/// A client edge: how one caller (service or users) reaches one callee's instances. One
/// per model client and per workload; shared by every instance of the caller, like a proxy.
pub(crate) struct EdgeRt {
    pub callee: u32,
    pub balancer: Balancer,
    /// The balancer's own stream (nothing else draws from it).
    pub rng: SimRng,
    /// The callee never has more than one instance: every pick is that one, and the
    /// balancer (whose draws nothing else sees) need not run.
    pub single_host: bool,
    pub panic_threshold: f64,
    /// Instances in the endpoints, by slot order.
    pub all: Vec<u32>,
    /// Of those, the ones passing health checks and not ejected.
    pub healthy: Vec<u32>,
    /// Balancing across all hosts (Envoy panic mode).
    pub panic: bool,
    /// Attempts from this edge outstanding at each slot.
    pub active: Vec<u32>,
    /// The health-check prober, if the edge checks.
    pub checker: Option<u32>,
    pub outlier: Option<OutlierDetector>,
    pub outlier_rng: SimRng,
    /// Index into the metrics' client list.
    pub metric: u32,
    /// When the healthy / ejected integrals were last brought up to date.
    pub last_change: SimTime,
}

/// What a prober checks.
#[derive(Clone, Debug)]
pub(crate) enum ProberKind {
    /// Envoy active health checking from one edge.
    Check {
        edge: u32,
        config: HealthCheckConfig,
    },
    /// A kubelet probe of the service's instances.
    Kubelet {
        kind: ProbeKind,
        timing: ProbeTiming,
    },
}

/// The prober's state for one instance.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProbeSlot {
    /// Session (health check) or worker (kubelet) generation.
    pub session: u32,
    /// A session or worker exists for the slot.
    pub active: bool,
    pub health: HostHealth,
    pub state: ProbeState,
    pub ticker: ProbeTicker,
    /// Incarnation of the instance the running probe was sent to.
    pub sent_to: u32,
}

/// A health checker (one per checking edge) or a kubelet probe (per service and kind).
pub(crate) struct ProberRt {
    pub kind: ProberKind,
    pub service: u32,
    pub endpoint: u32,
    /// The client stack probe calls go through (a timeout layer only).
    pub client: u32,
    pub slots: Vec<ProbeSlot>,
}

/// Runtime state of a workload.
pub(crate) struct WorkloadRt {
    pub client: u32,
    pub arrivals: SimRng,
    pub users: SimRng,
    pub rate_max: f64,
    /// Per burst: users still to arrive, and the position in `[0, 1)` of the last one
    /// within the burst's spread.
    pub bursts: Vec<(u32, f64)>,
    /// Arrival offsets within bursts (its own stream: a burst never shifts the others).
    pub burst_rng: SimRng,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls and requests are the state a run touches at nearly every event, and the
    /// unprotected Black Friday holds ~600,000 of them at once: their size is their
    /// cache misses and the run's peak memory. Grow them knowingly.
    #[test]
    fn calls_and_requests_stay_small() {
        assert!(
            std::mem::size_of::<Call>() <= 200,
            "{}",
            std::mem::size_of::<Call>()
        );
        assert!(
            std::mem::size_of::<Request>() <= 96,
            "{}",
            std::mem::size_of::<Request>()
        );
        assert_eq!(std::mem::size_of::<Parent>(), 16);
    }
}
