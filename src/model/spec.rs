//! The model file as written: plain serde records, no cross-references resolved.
//!
//! Every struct denies unknown keys, so a typo (`wrokers = 200`) is an error naming the
//! key instead of a silently ignored line. Validation (ids, cycles, distributions,
//! policy parameters) happens once, in [`super::build`].
//!
//! ```toml
//! [[workloads]]
//! name = "shoppers"
//! target = "gateway.checkout"
//! arrivals = { poisson = { rate = 300.0 } }
//! patience = "10s"
//! slo = "2s"
//! value = 80.0
//!
//! [services.gateway]
//! workers = 200
//! queue = { capacity = 1000, discipline = "fifo", timeout = "5s" }
//!
//! [services.gateway.endpoints.checkout]
//! steps = [{ work = { lognormal = { p50 = "2ms", p99 = "10ms" } } }, { call = "order.place" }]
//!
//! [services.gateway.clients.order]
//! timeout = "5s"
//! retry = { max_attempts = 3, backoff = { exponential = { base = "100ms", cap = "5s" } } }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::DistSpec;
use crate::engine::dist::LognormalSpec;
use crate::policy::balancer::BalancerConfig;
use crate::policy::budget::RetryBudgetConfig;
use crate::policy::bulkhead::BulkheadSpec;
use crate::policy::circuit_breaker::CircuitBreakerConfig;
use crate::policy::concurrency_limit::ConcurrencyLimitConfig;
use crate::policy::concurrency_limit::{AimdConfig, Gradient2Config, VegasConfig};
use crate::policy::fallback::FallbackConfig;
use crate::policy::health_check::HealthCheckConfig;
use crate::policy::hedge::HedgeConfig;
use crate::policy::hpa::AutoscaleConfig;
use crate::policy::outlier::OutlierConfig;
use crate::policy::rate_limit::{
    FixedWindowConfig, LimitForPeriodConfig, RateLimiterConfig, TokenBucketConfig,
};
use crate::policy::retry::RetryConfig;
use crate::policy::shedding::ShedConfig;
use crate::policy::timeout::AttemptTimeout;
use crate::time::SimDuration;

/// A whole model file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// One line on what this model is (shown by `cascade check` and `cascade list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// User traffic into entry endpoints.
    #[serde(default)]
    pub workloads: Vec<WorkloadSpec>,
    /// Every service, internal or external, by name.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSpec>,
    /// Shared named connection pools that several clients draw from.
    #[serde(default)]
    pub pools: BTreeMap<String, PoolSpec>,
    /// Scheduled faults.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Contended records by name: `[resources.row] kind = "occ"` is one versioned record
    /// that `occ_read` and `occ_write` steps use (optimistic concurrency control).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, ResourceSpec>,
    /// Requests carry their absolute deadline; callees drop expired work when they
    /// dequeue it and inner timeouts are capped by the remaining budget.
    #[serde(default)]
    pub deadline_propagation: bool,
}

/// User traffic into one entry endpoint.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Name used in reports.
    pub name: String,
    /// Entry point, `service.endpoint`.
    pub target: String,
    /// How requests arrive.
    pub arrivals: ArrivalsSpec,
    /// The user gives up on an attempt after this long (abandons).
    pub patience: SimDuration,
    /// A success slower than this is "late", not good.
    pub slo: SimDuration,
    /// Revenue per good answer (for lost revenue).
    #[serde(default)]
    pub value: f64,
    /// Priority class for load shedding (0 = most important).
    #[serde(default)]
    pub priority: u8,
    /// The users' own retries (refresh button, app retry loop). Abandoning counts as a
    /// timeout for `retry_on`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryConfig>,
    /// How the front load balancer spreads these users over the entry service's
    /// instances (default `"round_robin"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<BalancerConfig>,
    /// When a user gives up, their request is cancelled (removed from its queue, or
    /// stopped with its worker freed, and its own calls cancelled where the edge cancels).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_on_abandon: bool,
    /// Extra users arriving together on top of `arrivals` (a reconnect after a connection
    /// drop): `bursts = [{ count = 10000, at = "5m", spread = "0s" }]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bursts: Vec<BurstSpec>,
}

/// `{ count = 10000, at = "5m", spread = "0s" }`: `count` users arrive at `at`, spread
/// uniformly over `[at, at + spread)` (all at the same instant with `spread = "0s"`, the
/// default). Each sends one request, retried with the workload's `retry`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BurstSpec {
    /// Users in the burst (at least 1).
    pub count: u32,
    /// When the burst starts.
    pub at: SimDuration,
    /// Over how long its users arrive (uniformly); default 0: all at once.
    #[serde(default)]
    pub spread: SimDuration,
}

/// A contended resource.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// What it is: `"occ"`, one record under optimistic concurrency control.
    pub kind: ResourceKind,
}

/// Kinds of [`ResourceSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// One versioned record: a read remembers its version, a write succeeds only if the
    /// version is still the one read (and bumps it), else fails as a `conflict`.
    Occ,
}

/// Open or closed arrivals.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ArrivalsSpec {
    /// Open-loop Poisson: a constant `rate` or a piecewise-linear `schedule`.
    Poisson(PoissonSpec),
    /// A fixed population of clients, each waiting `think` (exponential with this mean
    /// unless `think_dist` is given) between the end of one request and the next.
    Clients(ClientsSpec),
    /// Users who all arrive at once (or within `spread`): the workload's only arrivals.
    Burst(BurstSpec),
}

/// Poisson arrivals per second.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PoissonSpec {
    /// A constant rate per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// `[time, rate]` points, linearly interpolated, flat after the last point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Vec<(SimDuration, f64)>>,
}

/// A closed population.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsSpec {
    /// Number of clients.
    pub count: u32,
    /// Mean think time between requests (exponential).
    pub think: SimDuration,
    /// Think time distribution, replacing the exponential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_dist: Option<DistSpec>,
}

/// One service: a worker pool behind a queue, with endpoints and client stacks.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Threads: a request holds one from start to response, including while it waits on
    /// downstream calls, timeouts and back-off sleeps.
    pub workers: u32,
    /// The request queue in front of the workers (default: unbounded FIFO, no timeout).
    #[serde(default)]
    pub queue: QueueSpec,
    /// Endpoints by name.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointSpec>,
    /// Policy stacks for calls to other services, keyed by the callee service's name.
    #[serde(default)]
    pub clients: BTreeMap<String, ClientSpec>,
    /// Ingress rate limit at the front door (rejections are `rate_limited`; they answer
    /// "throttled", 429, unless `status` says otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Priority load shedding at the front door (utilisation = busy workers ÷ workers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shed: Option<ShedSpec>,
    /// Adaptive concurrency limit at the front door (Netflix concurrency-limits:
    /// `{ aimd = { … } }`, `{ vegas = { … } }`, `{ gradient2 = { … } }`): requests beyond
    /// the current limit of requests in progress (queued or running) are shed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<ConcurrencyLimitSpec>,
    /// Instances behind the callers' load balancers (default 1). `workers`, `queue`, the
    /// front-door policies and `per_inflight` are per instance.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub instances: u32,
    /// Kubernetes readiness probe: a failing instance leaves every load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<ReadinessSpec>,
    /// Kubernetes liveness probe: a failing instance is restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessSpec>,
    /// Kubernetes Horizontal Pod Autoscaler on busy workers ÷ workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoscaleConfig>,
    /// A started (or restarted) container is slower for a while: JIT, caches, pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupSpec>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// `readiness = { endpoint = "health", period = "10s", timeout = "1s", failure_threshold = 3,
/// success_threshold = 1, initial_delay = "0s" }`: Kubernetes' defaults for all but the
/// endpoint.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessSpec {
    /// The endpoint of this service that answers the probe, through the instance's queue
    /// and workers.
    pub endpoint: String,
    /// `periodSeconds` (10 s).
    #[serde(default = "probe_period")]
    pub period: SimDuration,
    /// `timeoutSeconds` (1 s).
    #[serde(default = "probe_timeout")]
    pub timeout: SimDuration,
    /// `failureThreshold` (3).
    #[serde(default = "three")]
    pub failure_threshold: u32,
    /// `successThreshold` (1).
    #[serde(default = "one")]
    pub success_threshold: u32,
    /// `initialDelaySeconds` (0).
    #[serde(default)]
    pub initial_delay: SimDuration,
}

/// `liveness = { endpoint = "health", period = "10s", timeout = "1s", failure_threshold = 3,
/// restart = "30s", warmup = { duration = "60s", latency_multiplier = 3.0 } }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LivenessSpec {
    /// The endpoint that answers the probe.
    pub endpoint: String,
    /// `periodSeconds` (10 s).
    #[serde(default = "probe_period")]
    pub period: SimDuration,
    /// `timeoutSeconds` (1 s).
    #[serde(default = "probe_timeout")]
    pub timeout: SimDuration,
    /// `failureThreshold` (3).
    #[serde(default = "three")]
    pub failure_threshold: u32,
    /// `successThreshold` (must be 1 for liveness).
    #[serde(default = "one")]
    pub success_threshold: u32,
    /// `initialDelaySeconds` (0).
    #[serde(default)]
    pub initial_delay: SimDuration,
    /// How long a restarted container is gone before it serves again (10 s).
    #[serde(default = "restart_time")]
    pub restart: SimDuration,
    /// Cold start after the restart (same as the service's `warmup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupSpec>,
}

/// `warmup = { duration = "60s", latency_multiplier = 3.0 }`: work steps take
/// `latency_multiplier` × as long for `duration` after a container starts.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupSpec {
    /// How long the instance is cold.
    pub duration: SimDuration,
    /// How much slower its work is meanwhile (≥ 1).
    pub latency_multiplier: f64,
}

fn probe_period() -> SimDuration {
    SimDuration::from_secs(10)
}

fn probe_timeout() -> SimDuration {
    SimDuration::from_secs(1)
}

fn three() -> u32 {
    3
}

fn restart_time() -> SimDuration {
    SimDuration::from_secs(10)
}

/// Queue discipline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Discipline {
    /// First in, first out.
    #[default]
    Fifo,
    /// Last in, first out (serves the freshest request first under overload).
    Lifo,
}

/// The request queue of a service.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// Maximum waiting requests; absent means unbounded. A full queue rejects at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// FIFO (default) or LIFO.
    #[serde(default)]
    pub discipline: Discipline,
    /// Requests that waited longer are dropped when dequeued (`queue_timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<SimDuration>,
    /// How a full queue or a queue timeout answers (default `"unavailable"`, 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusClass>,
    /// The Retry-After hint sent with those answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<SimDuration>,
}

/// The status class an overload refusal answers with: HTTP 503 / gRPC `UNAVAILABLE`, or
/// HTTP 429 / gRPC `RESOURCE_EXHAUSTED` (the caller sees [`crate::policy::Outcome::Throttled`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusClass {
    /// 503: the service cannot take the request now.
    Unavailable,
    /// 429: the caller should slow down.
    Throttled,
}

/// `rate_limit = { token_bucket = { rate = 500.0, burst = 50 }, retry_after = "1s" }` or
/// `{ limit_for_period = { … } }` (alias `resilience4j`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// A continuous token bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_bucket: Option<TokenBucketConfig>,
    /// Resilience4j's fixed-cycle limiter.
    #[serde(
        default,
        alias = "resilience4j",
        skip_serializing_if = "Option::is_none"
    )]
    pub limit_for_period: Option<LimitForPeriodConfig>,
    /// A fixed-window counter that counts refused requests too (express-rate-limit);
    /// its refusals carry the seconds to the window's reset as Retry-After.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_window: Option<FixedWindowConfig>,
    /// How a refusal answers (default `"throttled"`, 429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusClass>,
    /// The Retry-After hint sent with refusals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<SimDuration>,
}

impl RateLimitSpec {
    /// The limiter, if exactly one is given (`Err(n)` with the count otherwise).
    pub fn config(&self) -> Result<RateLimiterConfig, usize> {
        match (self.token_bucket, self.limit_for_period, self.fixed_window) {
            (Some(t), None, None) => Ok(RateLimiterConfig::TokenBucket(t)),
            (None, Some(l), None) => Ok(RateLimiterConfig::LimitForPeriod(l)),
            (None, None, Some(w)) => Ok(RateLimiterConfig::FixedWindow(w)),
            (None, None, None) => Err(0),
            _ => Err(2),
        }
    }
}

/// `shed = { thresholds = [1.0, 0.9, 0.8] }`, with `status` and `retry_after` as for the
/// queue.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShedSpec {
    /// Utilisation at or above which each priority class is shed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Vec<f64>>,
    /// How a shed request answers (default `"unavailable"`, 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusClass>,
    /// The Retry-After hint sent with those answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<SimDuration>,
}

impl ShedSpec {
    /// The shedding policy's config.
    pub fn config(&self) -> ShedConfig {
        match &self.thresholds {
            Some(t) => ShedConfig {
                thresholds: t.clone(),
            },
            None => ShedConfig::default(),
        }
    }
}

/// `concurrency_limit = { vegas = {} }` (or `aimd`, `gradient2`), with `status` and
/// `retry_after` as for the queue.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyLimitSpec {
    /// Netflix AIMD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aimd: Option<AimdConfig>,
    /// Netflix Vegas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vegas: Option<VegasConfig>,
    /// Netflix Gradient2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient2: Option<Gradient2Config>,
    /// How a request over the limit answers (default `"unavailable"`, 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusClass>,
    /// The Retry-After hint sent with those answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<SimDuration>,
}

impl ConcurrencyLimitSpec {
    /// The limit algorithm, if exactly one is given (`Err(n)` with the count otherwise).
    pub fn config(&self) -> Result<ConcurrencyLimitConfig, usize> {
        let mut found = Vec::new();
        if let Some(c) = self.aimd {
            found.push(ConcurrencyLimitConfig::Aimd(c));
        }
        if let Some(c) = self.vegas {
            found.push(ConcurrencyLimitConfig::Vegas(c));
        }
        if let Some(c) = self.gradient2 {
            found.push(ConcurrencyLimitConfig::Gradient2(c));
        }
        if found.len() == 1 {
            Ok(found.remove(0))
        } else {
            Err(found.len())
        }
    }
}

/// An endpoint: steps executed in order while holding a worker.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// The steps.
    pub steps: Vec<StepSpec>,
}

/// One step: exactly one of `work`, `call`, `parallel`, `occ_read`, `occ_write`, or `hold`
/// with nested `steps` (`{ hold = "db", steps = [...] }`: one connection of `[pools.db]`
/// held through them).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Local work holding the thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<WorkSpec>,
    /// A synchronous call to `service.endpoint` through this service's client stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// With `call`: false makes a failure degrade the answer instead of failing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<bool>,
    /// Calls made at once; the step ends when all have answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<Vec<CallSpec>>,
    /// Take one connection of this pool (named in `[pools]`, waiting up to its `max_wait`)
    /// and hold it through `steps`; no connection in time fails the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    /// With `hold`: the steps run while the connection is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepSpec>>,
    /// Read the version of this `occ` resource (named in `[resources]`) into the user
    /// request: the requests up the chain remember it, so a write reached by a later call
    /// of the same request sees it. Takes no time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occ_read: Option<String>,
    /// Write this `occ` resource: succeeds and bumps its version if it is still the
    /// version this request read, else fails the request as a `conflict` (a server error
    /// to retry policies). Takes no time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occ_write: Option<String>,
}

/// A call inside a `parallel` group.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// `service.endpoint`.
    pub call: String,
    /// False: failure degrades instead of failing the request.
    #[serde(default = "yes")]
    pub critical: bool,
}

fn yes() -> bool {
    true
}

/// Local work: one distribution, optionally growing with the service's load.
/// `{ lognormal = { p50 = "2ms", p99 = "10ms" } }` or
/// `{ constant = "1s", per_inflight = "10ms" }` (1 s + 10 ms × requests in progress).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkSpec {
    /// A fixed time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<SimDuration>,
    /// Uniform `{ min, max }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform: Option<MinMax>,
    /// Exponential `{ mean }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exponential: Option<Mean>,
    /// Normal truncated at zero `{ mean, sd }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal: Option<MeanSd>,
    /// Lognormal `{ p50, p99 }` or `{ median, sigma }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lognormal: Option<LognormalSpec>,
    /// Quantile table `{ quantiles = [[0.0, "1ms"], …, [1.0, "1s"]] }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empirical: Option<Quantiles>,
    /// Extra time per request in progress at the service when the work starts
    /// (overload makes the service slower).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_inflight: Option<SimDuration>,
}

/// `{ min, max }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MinMax {
    /// Lower bound.
    pub min: SimDuration,
    /// Upper bound.
    pub max: SimDuration,
}

/// `{ mean }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mean {
    /// The mean.
    pub mean: SimDuration,
}

/// `{ mean, sd }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MeanSd {
    /// The mean.
    pub mean: SimDuration,
    /// The standard deviation.
    pub sd: SimDuration,
}

/// `{ quantiles }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quantiles {
    /// `[quantile, value]` pairs.
    pub quantiles: Vec<(f64, SimDuration)>,
}

impl WorkSpec {
    /// The distribution part, if exactly one is given (`Err(n)` with the count otherwise).
    pub fn dist(&self) -> Result<DistSpec, usize> {
        let mut found = Vec::new();
        if let Some(c) = self.constant {
            found.push(DistSpec::Constant(c));
        }
        if let Some(u) = &self.uniform {
            found.push(DistSpec::Uniform {
                min: u.min,
                max: u.max,
            });
        }
        if let Some(e) = &self.exponential {
            found.push(DistSpec::Exponential { mean: e.mean });
        }
        if let Some(n) = &self.normal {
            found.push(DistSpec::Normal {
                mean: n.mean,
                sd: n.sd,
            });
        }
        if let Some(l) = &self.lognormal {
            found.push(DistSpec::Lognormal(l.clone()));
        }
        if let Some(q) = &self.empirical {
            found.push(DistSpec::Empirical {
                quantiles: q.quantiles.clone(),
            });
        }
        if found.len() == 1 {
            Ok(found.remove(0))
        } else {
            Err(found.len())
        }
    }
}

/// Which layer of a client stack (outermost first in `order`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The client's bulkhead (semaphore).
    Bulkhead,
    /// The circuit breaker.
    Breaker,
    /// The retry loop: layers before it act once per call, layers after it per attempt.
    Retry,
    /// The timeout: per attempt inside the retry, per call outside it.
    Timeout,
    /// The client-side rate limiter (only with `rate_limit`; by default just inside the
    /// retry, as Resilience4j's Spring aspects order it: each attempt takes a permit).
    RateLimiter,
}

/// The policy stack around calls from one service to another.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Timeout (per attempt with the default order): `"2s"`, or adaptive,
    /// `{ adaptive = { percentile = 99.0, multiplier = 2.0, min = "50ms", max = "10s" } }`
    /// (follows the callee's recent latency percentile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<AttemptTimeout>,
    /// Timeout across all attempts of one call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_timeout: Option<SimDuration>,
    /// Retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryConfig>,
    /// Hedging (gRFC A6): `{ delay = "50ms", max_attempts = 3, non_fatal = ["server_error"] }`
    /// sends another attempt every `delay` until one answers; it takes the retry's place in
    /// the layer order. Not together with `retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge: Option<HedgeConfig>,
    /// Retry budget (Finagle, gRPC throttling, AWS quota): retries, or hedges after the
    /// first attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<RetryBudgetConfig>,
    /// Circuit breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<CircuitBreakerConfig>,
    /// Share one breaker among every client of the model naming the same key (default:
    /// one breaker per client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_breaker: Option<String>,
    /// Bulkhead: a semaphore `{ max_concurrent = 10, max_wait = "50ms" }`, or a thread
    /// pool `{ thread_pool = { max_threads = 10, core_threads = 5, queue_capacity = 20 } }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulkhead: Option<BulkheadSpec>,
    /// A shared connection pool (named in `[pools]`): one connection per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// What a failed call answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackConfig>,
    /// A client-side rate limiter decorating the call (Resilience4j `RateLimiter`, or a
    /// token bucket): `{ limit_for_period = { limit_for_period = 50, limit_refresh_period
    /// = "1s", timeout_duration = "500ms" } }`. A caller with no permit in time is parked
    /// for the whole timeout, then fails as `rate_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Layer order, outermost first. Default `["bulkhead", "breaker", "retry", "timeout"]`
    /// (with a `rate_limit`, `"rate_limiter"` goes just after `"retry"` unless placed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<Layer>>,
    /// One-way network delay of each request and each response on this edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<DistSpec>,
    /// How attempts are spread over the callee's instances (default `"round_robin"`):
    /// one balancer for the edge, the view of a shared proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<BalancerConfig>,
    /// Envoy active health checking of the callee's instances from this edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckConfig>,
    /// Envoy's panic threshold, percent (default 50): with fewer healthy instances the
    /// balancer uses all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panic_threshold: Option<f64>,
    /// Envoy outlier detection on this edge (every field defaults to Envoy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierConfig>,
    /// `"edge"` (default): one breaker for the edge in each caller instance; `"instance"`:
    /// one per callee instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker_scope: Option<BreakerScope>,
    /// gRPC deadline / Go context semantics: an attempt that ends without its response
    /// (timeout, the caller cancelled) cancels the callee's request, which cancels its own
    /// calls in turn on edges that cancel. Default false: the callee never notices.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel: bool,
}

/// What one circuit breaker covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerScope {
    /// The whole callee service.
    #[default]
    Edge,
    /// One callee instance: a breaker per instance, chosen where the breaker sits in the
    /// layer order.
    Instance,
}

/// A shared connection pool.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// Connections.
    pub size: u32,
    /// How long an attempt may wait for a connection (default 0: fail at once).
    #[serde(default)]
    pub max_wait: SimDuration,
}

/// The class of a fault's injected errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorStatus {
    /// A 5xx.
    ServerError,
    /// A 4xx: the caller's request was wrong.
    ClientError,
    /// A 429: slow down.
    Throttled,
}

/// A fault on a service (`"processor"`) or one endpoint (`"processor.charge"`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// `service` or `service.endpoint`.
    pub target: String,
    /// Start time.
    pub at: SimDuration,
    /// How long it lasts.
    pub duration: SimDuration,
    /// Replace the latency of every work step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<DistSpec>,
    /// Multiply the latency of every work step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_multiplier: Option<f64>,
    /// Probability (0–1) that a request fails at once with an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// What those errors are: `"server_error"` (default, 500), `"client_error"` (400:
    /// never retried, not a breaker failure by default) or `"throttled"` (429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ErrorStatus>,
    /// Refuse every request at once (connection refused: fails fast).
    #[serde(default)]
    pub refuse: bool,
    /// Accept requests and never answer them (a black hole).
    #[serde(default)]
    pub hang: bool,
    /// Workers left during the fault (capacity loss).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<u32>,
    /// Hit only the first K instances of the target (default: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
}
