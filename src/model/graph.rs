//! The validated model: what a model file means once every name is resolved to an id and
//! every distribution and policy config has been checked ([`super::build`] makes it).
//!
//! Plain data, shared read-only by every run of an experiment; the simulated world
//! (`crate::sim`) instantiates fresh policy objects from it for each run.

use crate::engine::Dist;
use crate::model::spec::{BreakerScope, Discipline, Layer};
use crate::policy::balancer::BalancerConfig;
use crate::policy::budget::RetryBudgetConfig;
use crate::policy::bulkhead::{BulkheadConfig, BulkheadKind};
use crate::policy::circuit_breaker::CircuitBreakerConfig;
use crate::policy::concurrency_limit::ConcurrencyLimitConfig;
use crate::policy::fallback::FallbackConfig;
use crate::policy::health_check::HealthCheckConfig;
use crate::policy::hedge::Hedge;
use crate::policy::hpa::AutoscaleConfig;
use crate::policy::outlier::OutlierConfig;
use crate::policy::probe::ProbeTiming;
use crate::policy::rate_limit::RateLimiterConfig;
use crate::policy::retry::Retry;
use crate::policy::shedding::ShedConfig;
use crate::policy::timeout::AdaptiveTimeoutConfig;
use crate::time::{SimDuration, SimTime};

/// Index of a service in [`Model::services`].
pub type ServiceId = u32;
/// Index of an endpoint in [`Model::endpoints`].
pub type EndpointId = u32;
/// Index of a client in [`Model::clients`].
pub type ClientId = u32;

/// A validated model, ready to instantiate any number of runs.
#[derive(Clone, Debug)]
pub struct Model {
    /// The description line, if any.
    pub description: Option<String>,
    /// Services, sorted by name.
    pub services: Vec<Service>,
    /// Endpoints of all services.
    pub endpoints: Vec<Endpoint>,
    /// Client stacks, one per (caller, callee) pair that is called.
    pub clients: Vec<Client>,
    /// Circuit breaker configs; clients refer to them by index (shared or own).
    pub breakers: Vec<BreakerDef>,
    /// Shared connection pools.
    pub pools: Vec<Pool>,
    /// Workloads in file order.
    pub workloads: Vec<Workload>,
    /// Faults in file order.
    pub faults: Vec<Fault>,
    /// Deadline propagation on or off.
    pub deadline_propagation: bool,
    /// Contended resources (`occ` records), sorted by name.
    pub resources: Vec<Resource>,
}

/// A validated contended resource: one record under optimistic concurrency control.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// Its name in `[resources]`.
    pub name: String,
}

/// A validated service.
#[derive(Clone, Debug)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// Worker threads.
    pub workers: u32,
    /// Queue capacity (`None`: unbounded).
    pub queue_capacity: Option<u32>,
    /// FIFO or LIFO.
    pub discipline: Discipline,
    /// Queue timeout.
    pub queue_timeout: Option<SimDuration>,
    /// Ingress rate limit.
    pub rate_limit: Option<RateLimiterConfig>,
    /// Priority shedding.
    pub shed: Option<ShedConfig>,
    /// Adaptive concurrency limit.
    pub concurrency_limit: Option<ConcurrencyLimitConfig>,
    /// Its endpoints.
    pub endpoints: Vec<EndpointId>,
    /// Instances at the start (each with `workers`, its own queue and front door).
    pub instances: u32,
    /// Readiness probe.
    pub readiness: Option<Probe>,
    /// Liveness probe and what a restart costs.
    pub liveness: Option<Liveness>,
    /// Horizontal Pod Autoscaler.
    pub autoscale: Option<AutoscaleConfig>,
    /// Cold start of a (re)started container.
    pub warmup: Option<Warmup>,
    /// How each front-door refusal answers its caller.
    pub signals: Signals,
}

/// How one kind of front-door refusal answers: throttled (429) or unavailable (503), and
/// the Retry-After hint it carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signal {
    /// 429 instead of 503.
    pub throttled: bool,
    /// The Retry-After hint.
    pub retry_after: Option<SimDuration>,
}

/// The refusal answers of a service's front door, by source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    /// Queue full and queue timeout.
    pub queue: Signal,
    /// The rate limiter.
    pub rate_limit: Signal,
    /// Priority shedding.
    pub shed: Signal,
    /// The adaptive concurrency limit.
    pub concurrency: Signal,
}

impl Service {
    /// The most instances the service can have at once (an autoscaled one grows to its
    /// `max`).
    pub fn max_instances(&self) -> u32 {
        self.autoscale
            .map_or(self.instances, |a| a.max.max(self.instances))
    }

    /// Whether it has any fleet behaviour worth its own time series.
    pub fn is_fleet(&self) -> bool {
        self.instances > 1
            || self.readiness.is_some()
            || self.liveness.is_some()
            || self.autoscale.is_some()
    }
}

/// A validated Kubernetes probe.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// The endpoint probed (of the service itself).
    pub endpoint: EndpointId,
    /// Period, timeout, thresholds, initial delay.
    pub timing: ProbeTiming,
}

/// A validated liveness probe.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    /// The probe.
    pub probe: Probe,
    /// Time a restarted container is gone.
    pub restart: SimDuration,
}

/// A cold start: work takes `multiplier` × as long for `duration` after a container starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warmup {
    /// How long.
    pub duration: SimDuration,
    /// How much slower.
    pub multiplier: f64,
}

/// A validated active health check of an edge.
#[derive(Clone, Debug)]
pub struct HealthCheck {
    /// The callee's endpoint that answers checks.
    pub endpoint: EndpointId,
    /// Interval, timeout, thresholds.
    pub config: HealthCheckConfig,
}

/// A validated endpoint.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The service it belongs to.
    pub service: ServiceId,
    /// `service.endpoint`.
    pub name: String,
    /// Steps in order (`hold` groups flattened into hold, steps, release).
    pub steps: Vec<Step>,
    /// The key path each step was written at (`services.a.endpoints.x.steps[0].steps[1]`;
    /// a hold's and its release's: the `hold` step's).
    pub keys: Vec<String>,
}

impl Endpoint {
    /// The pools whose connection a request at step `at` holds: taken at an earlier
    /// [`Step::Hold`] and not yet given back.
    pub fn held_at(&self, at: usize) -> impl Iterator<Item = u32> + '_ {
        self.steps.iter().skip(at).filter_map(move |s| match *s {
            Step::Release { pool, from } if (from as usize) < at => Some(pool),
            _ => None,
        })
    }
}

/// A validated step.
#[derive(Clone, Debug)]
pub enum Step {
    /// Local work: `dist` + `per_inflight` × requests in progress.
    Work {
        /// Base time.
        dist: Dist,
        /// Extra per request in progress.
        per_inflight: SimDuration,
    },
    /// One call, or several in parallel; the step ends when all have answered.
    Calls(Vec<CallDef>),
    /// Take a connection of a pool (waiting up to its `max_wait`), held until the
    /// matching [`Step::Release`].
    Hold {
        /// Index into [`Model::pools`].
        pool: u32,
    },
    /// Read the version of `occ` resource `resource` (index into [`Model::resources`]).
    OccRead {
        /// The resource.
        resource: u32,
    },
    /// Write `occ` resource `resource` if its version is still the one read, else fail
    /// as a conflict.
    OccWrite {
        /// The resource.
        resource: u32,
    },
    /// Give back the connection taken at step `from`.
    Release {
        /// Index into [`Model::pools`].
        pool: u32,
        /// The index of the matching [`Step::Hold`] in the endpoint's steps.
        from: u16,
    },
}

/// A call made by a step.
#[derive(Clone, Copy, Debug)]
pub struct CallDef {
    /// The client stack used.
    pub client: ClientId,
    /// The endpoint called.
    pub target: EndpointId,
    /// Failure fails the request (true) or degrades it (false).
    pub critical: bool,
}

/// A validated client stack.
#[derive(Clone, Debug)]
pub struct Client {
    /// `caller→callee`.
    pub name: String,
    /// The calling service.
    pub caller: ServiceId,
    /// The called service.
    pub callee: ServiceId,
    /// Layers outermost first; those before `Retry` act per call, after it per attempt.
    pub layers: Vec<Layer>,
    /// Timeout of the `Timeout` layer: fixed, or the start value of an adaptive one.
    pub timeout: Option<SimDuration>,
    /// Adaptive timeout (replaces `timeout` as it learns the callee's latency).
    pub adaptive_timeout: Option<AdaptiveTimeoutConfig>,
    /// Timeout across all attempts.
    pub total_timeout: Option<SimDuration>,
    /// Retry policy.
    pub retry: Option<Retry>,
    /// Hedging policy (never with a retry policy).
    pub hedge: Option<Hedge>,
    /// Client-side rate limiter (the `RateLimiter` layer).
    pub rate_limit: Option<RateLimiterConfig>,
    /// Retry budget.
    pub budget: Option<RetryBudgetConfig>,
    /// Index into [`Model::breakers`].
    pub breaker: Option<u32>,
    /// Bulkhead.
    pub bulkhead: Option<BulkheadKind>,
    /// Index into [`Model::pools`].
    pub pool: Option<u32>,
    /// Fallback on failure.
    pub fallback: FallbackConfig,
    /// One-way network delay.
    pub network: Option<Dist>,
    /// How attempts are spread over the callee's instances.
    pub balancer: BalancerConfig,
    /// Active health checking.
    pub health_check: Option<HealthCheck>,
    /// Envoy panic threshold, percent.
    pub panic_threshold: f64,
    /// Outlier detection.
    pub outlier: Option<OutlierConfig>,
    /// One breaker for the edge, or one per callee instance.
    pub breaker_scope: BreakerScope,
    /// Attempts that end without their response cancel the callee's request.
    pub cancel: bool,
}

/// A breaker definition (one instance per run).
#[derive(Clone, Debug)]
pub struct BreakerDef {
    /// Client name, or the shared key.
    pub name: String,
    /// Its config.
    pub config: CircuitBreakerConfig,
}

/// A shared connection pool.
#[derive(Clone, Debug)]
pub struct Pool {
    /// Its name.
    pub name: String,
    /// The semaphore behind it.
    pub config: BulkheadConfig,
}

/// How a workload's requests arrive.
#[derive(Clone, Debug)]
pub enum Arrivals {
    /// Poisson with a piecewise-linear rate: `(time, rate/s)` points, flat outside.
    Poisson(Vec<(SimTime, f64)>),
    /// A closed population.
    Clients {
        /// Population size.
        count: u32,
        /// Think time.
        think: Dist,
    },
    /// No arrivals but the workload's [`Workload::bursts`].
    Bursts,
}

/// Users arriving together: `count` of them uniformly over `[at, at + spread)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Burst {
    /// Users.
    pub count: u32,
    /// Start.
    pub at: SimTime,
    /// Width (zero: all at `at`).
    pub spread: SimDuration,
}

impl Arrivals {
    /// The rate at `t` (Poisson), linearly interpolated.
    pub fn rate_at(points: &[(SimTime, f64)], t: SimTime) -> f64 {
        let i = points.partition_point(|p| p.0 <= t);
        if i == 0 {
            return points[0].1;
        }
        if i == points.len() {
            return points[i - 1].1;
        }
        let (t0, r0) = points[i - 1];
        let (t1, r1) = points[i];
        let f = (t - t0).as_secs_f64() / (t1 - t0).as_secs_f64();
        r0 + (r1 - r0) * f
    }
}

/// A validated workload.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Name.
    pub name: String,
    /// Entry endpoint.
    pub target: EndpointId,
    /// Arrivals.
    pub arrivals: Arrivals,
    /// Per-attempt patience.
    pub patience: SimDuration,
    /// SLO for a good answer.
    pub slo: SimDuration,
    /// Revenue per good answer.
    pub value: f64,
    /// The users' own retry policy.
    pub retry: Option<Retry>,
    /// Priority class for shedding.
    pub priority: u8,
    /// The front balancer over the entry service's instances.
    pub balancer: BalancerConfig,
    /// A user giving up cancels their request.
    pub cancel_on_abandon: bool,
    /// Users arriving in bursts, on top of (or, with [`Arrivals::Bursts`], instead of)
    /// the arrivals.
    pub bursts: Vec<Burst>,
}

/// A validated fault.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The service hit.
    pub service: ServiceId,
    /// One endpoint only, or all of the service.
    pub endpoint: Option<EndpointId>,
    /// Start.
    pub start: SimTime,
    /// End.
    pub end: SimTime,
    /// Latency replacement.
    pub latency: Option<Dist>,
    /// Latency multiplier.
    pub latency_multiplier: Option<f64>,
    /// Probability of an immediate error.
    pub error_rate: f64,
    /// What that error is: a server error, a client error or a throttle.
    pub error: crate::policy::Outcome,
    /// Refuse everything.
    pub refuse: bool,
    /// Swallow everything.
    pub hang: bool,
    /// Workers left.
    pub workers: Option<u32>,
    /// Only instances below this index are hit (`u32::MAX`: all).
    pub instances: u32,
}

impl Fault {
    /// Whether the fault is active at `now` on instance `instance`.
    #[inline]
    pub fn hits(&self, instance: u32, now: SimTime) -> bool {
        self.start <= now && now < self.end && instance < self.instances
    }
}

impl Model {
    /// The endpoint named `service.endpoint`.
    pub fn endpoint_by_name(&self, name: &str) -> Option<EndpointId> {
        self.endpoints
            .iter()
            .position(|e| e.name == name)
            .map(|i| i as EndpointId)
    }

    /// The service named `name`.
    pub fn service_by_name(&self, name: &str) -> Option<ServiceId> {
        self.services
            .iter()
            .position(|s| s.name == name)
            .map(|i| i as ServiceId)
    }

    /// The latest fault end, if any.
    pub fn last_fault_end(&self) -> Option<SimTime> {
        self.faults.iter().map(|f| f.end).max()
    }
}
