//! The circuit breaker's configuration as written in a model file ([`CircuitBreakerConfig`]),
//! and its validation into the settings the state machine runs on ([`Settings`]).
//!
//! One breaker config names exactly one *window kind* — the rule that decides when to trip
//! — plus the Resilience4j knobs that govern the open and half-open states:
//!
//! ```toml
//! breaker = { count_window = { size = 20, failure_rate = 50.0, minimum_calls = 20 }, wait_open = "30s", half_open_calls = 3 }
//! ```
//!
//! The `hystrix` and `polly` presets carry their own open-state timing (`sleep_window`,
//! `break_duration`) and always use a single trial call, so the Resilience4j-only keys
//! (`wait_open`, `half_open_calls`, …) are rejected next to them instead of being silently
//! ignored. Validation happens once, here; the state machine never re-checks.

use serde::{Deserialize, Serialize};

use crate::policy::ConfigError;
use crate::time::SimDuration;

/// Resilience4j `waitDurationInOpenState` default: 60 s.
pub const DEFAULT_WAIT_OPEN: SimDuration = SimDuration::from_secs(60);
/// Resilience4j `permittedNumberOfCallsInHalfOpenState` default: 10.
pub const DEFAULT_HALF_OPEN_CALLS: u32 = 10;

/// A circuit breaker as written in a model file. Give exactly one window kind
/// (`consecutive`, `count_window`, `time_window`, `hystrix` or `polly`).
///
/// Defaults (Resilience4j's unless noted): `wait_open = "60s"`, no open-wait growth,
/// `half_open_calls = 10`, `max_wait_half_open = "0s"` (disabled),
/// `after_max_wait_half_open = "open"`, `automatic_transition = false`,
/// `record_on = ["timeout", "server_error", "rejected"]`, `ignore = []`.
/// [`Default`] is Resilience4j's default breaker: a 100-call count window.
///
/// # Which outcomes count (`record_on`, `ignore`)
/// The mapping to Resilience4j's `CircuitBreakerConfig` (semantics §1.2):
/// - `record_on` is `recordExceptions`: the outcome classes recorded as failures;
/// - `ignore` is `ignoreExceptions`: recorded as neither (a half-open probe slot is
///   given back); ignore beats record, as the library checks it first;
/// - an outcome in neither list counts as a **success**, as an exception that is neither
///   recorded nor ignored does in Resilience4j.
///
/// So by default a client error (the caller's own mistake) is not recorded as a failure:
/// it counts as a success (and is ignored by the Hystrix preset, whose `BAD_REQUEST` is
/// left out of the health counts). Resilience4j's *own* default, an empty
/// `recordExceptions`, records every exception; for an HTTP client that throws on a 4xx
/// that includes client errors, which is `record_on = ["timeout", "server_error",
/// "client_error", "rejected"]` (for Hystrix: a command that throws an ordinary exception,
/// not `HystrixBadRequestException`, on a 4xx). `record` is accepted as an alias of
/// `record_on`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// Trip after N consecutive failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive: Option<ConsecutiveConfig>,
    /// Resilience4j COUNT_BASED window: rates over the last `size` recorded calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_window: Option<CountWindowConfig>,
    /// Resilience4j TIME_BASED (SYNCHRONIZED) window: rates over the last `size` seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window: Option<TimeWindowConfig>,
    /// Hystrix 1.5 breaker preset (§9.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hystrix: Option<HystrixConfig>,
    /// Polly v8 breaker preset (§4.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polly: Option<PollyConfig>,
    /// `waitDurationInOpenState`: time spent open before a probe is allowed (default 60 s,
    /// at least 1 ms, whole milliseconds count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_open: Option<SimDuration>,
    /// Exponential open-wait growth (`IntervalFunction.ofExponentialBackoff`): the n-th
    /// consecutive opening waits `c_n` ms with `c_1 = wait_open`, `c_{k+1} = trunc(c_k · m)`.
    /// Unset: every opening waits `wait_open`. Must be at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_open_multiplier: Option<f64>,
    /// Cap on the grown open wait; needs `wait_open_multiplier`, at least `wait_open`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_open_max: Option<SimDuration>,
    /// `permittedNumberOfCallsInHalfOpenState`: probes admitted per half-open episode
    /// (default 10, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_calls: Option<u32>,
    /// `maxWaitDurationInHalfOpenState`: leave half-open after this long even if the probes
    /// have not decided (default 0 = stay until they do; below 1 ms also disables it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_half_open: Option<SimDuration>,
    /// `transitionToStateAfterWaitDuration`: where the half-open timer sends the breaker
    /// (default `open`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_max_wait_half_open: Option<AfterMaxWait>,
    /// `automaticTransitionFromOpenToHalfOpenEnabled`: a timer moves Open→HalfOpen at the end
    /// of the wait instead of the next call doing it (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_transition: Option<bool>,
    /// Outcomes that count as failures (`recordExceptions`; default timeouts, server errors
    /// and rejections). Listing `client_error` records client errors too.
    #[serde(default = "default_record", alias = "record")]
    pub record_on: Vec<OutcomeKind>,
    /// Outcomes that count as neither success nor failure (default none). Ignore beats record.
    #[serde(default)]
    pub ignore: Vec<OutcomeKind>,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            consecutive: None,
            count_window: Some(CountWindowConfig::default()),
            time_window: None,
            hystrix: None,
            polly: None,
            wait_open: None,
            wait_open_multiplier: None,
            wait_open_max: None,
            half_open_calls: None,
            max_wait_half_open: None,
            after_max_wait_half_open: None,
            automatic_transition: None,
            record_on: default_record(),
            ignore: Vec::new(),
        }
    }
}

fn default_record() -> Vec<OutcomeKind> {
    vec![
        OutcomeKind::Timeout,
        OutcomeKind::ServerError,
        OutcomeKind::Rejected,
        OutcomeKind::Throttled,
    ]
}

/// An outcome class named in `record_on` / `ignore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// [`Outcome::Timeout`](crate::policy::Outcome::Timeout).
    Timeout,
    /// [`Outcome::ServerError`](crate::policy::Outcome::ServerError).
    ServerError,
    /// [`Outcome::ClientError`](crate::policy::Outcome::ClientError): a success unless listed.
    ClientError,
    /// Any [`Outcome::Rejected`](crate::policy::Outcome::Rejected).
    Rejected,
    /// [`Outcome::Throttled`](crate::policy::Outcome::Throttled).
    Throttled,
}

/// Where the `max_wait_half_open` timer sends a breaker that is still half-open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterMaxWait {
    /// Open again, as a failed probe episode would (attempts + 1). Resilience4j's default.
    #[default]
    Open,
    /// Close, as if the probes had succeeded.
    Closed,
}

/// `consecutive = { failures = 5 }`: trip after `failures` failures in a row; any recorded
/// success resets the run. No default: the threshold must be written.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsecutiveConfig {
    /// Failures in a row that open the breaker (at least 1).
    pub failures: u32,
}

/// Resilience4j COUNT_BASED window. Defaults: `size = 100`, `failure_rate = 50.0`,
/// `slow_call_rate = 100.0`, `slow_call_duration = "60s"`, `minimum_calls = 100`
/// (clamped to `size`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CountWindowConfig {
    /// `slidingWindowSize`: the last N recorded calls.
    #[serde(default = "default_size")]
    pub size: u32,
    /// `failureRateThreshold` in percent, `0 < x ≤ 100`; trips at `>=`.
    #[serde(default = "default_failure_rate")]
    pub failure_rate: f32,
    /// `slowCallRateThreshold` in percent, `0 < x ≤ 100`; trips at `>=`.
    #[serde(default = "default_slow_call_rate")]
    pub slow_call_rate: f32,
    /// `slowCallDurationThreshold`: a call is slow if it took strictly longer.
    #[serde(default = "default_slow_call_duration")]
    pub slow_call_duration: SimDuration,
    /// `minimumNumberOfCalls` before rates are evaluated (at least 1).
    #[serde(default = "default_minimum_calls")]
    pub minimum_calls: u32,
}

impl Default for CountWindowConfig {
    fn default() -> Self {
        CountWindowConfig {
            size: default_size(),
            failure_rate: default_failure_rate(),
            slow_call_rate: default_slow_call_rate(),
            slow_call_duration: default_slow_call_duration(),
            minimum_calls: default_minimum_calls(),
        }
    }
}

/// Resilience4j TIME_BASED window (SYNCHRONIZED strategy), buckets aligned to whole
/// seconds of virtual time. Give the size as `size_secs = 10` or `size = "10s"` (whole
/// seconds; default 100 s). Other defaults as [`CountWindowConfig`]; `minimum_calls` is
/// *not* clamped, so a minimum above the window's traffic means the breaker never trips.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindowConfig {
    /// Window length in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_secs: Option<u32>,
    /// Window length as a duration of whole seconds (alternative to `size_secs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<SimDuration>,
    /// `failureRateThreshold` in percent (default 50).
    #[serde(default = "default_failure_rate")]
    pub failure_rate: f32,
    /// `slowCallRateThreshold` in percent (default 100).
    #[serde(default = "default_slow_call_rate")]
    pub slow_call_rate: f32,
    /// `slowCallDurationThreshold` (default 60 s).
    #[serde(default = "default_slow_call_duration")]
    pub slow_call_duration: SimDuration,
    /// `minimumNumberOfCalls` (default 100, not clamped).
    #[serde(default = "default_minimum_calls")]
    pub minimum_calls: u32,
}

impl Default for TimeWindowConfig {
    fn default() -> Self {
        TimeWindowConfig {
            size_secs: None,
            size: None,
            failure_rate: default_failure_rate(),
            slow_call_rate: default_slow_call_rate(),
            slow_call_duration: default_slow_call_duration(),
            minimum_calls: default_minimum_calls(),
        }
    }
}

/// Hystrix 1.5 breaker. Defaults: `request_volume = 20`, `error_percentage = 50`,
/// `rolling_window = "10s"`, `health_interval = "500ms"`, `sleep_window = "5s"`,
/// `execution_timeout = "1s"`, `timeout_enabled = true`. All durations are whole
/// milliseconds, as Hystrix's properties are.
///
/// A Hystrix command always runs under its own execution timeout (1 s by default), which
/// is what keeps a hung trial call from holding the breaker half-open: it times out and
/// counts as a failure. The breaker does not run that timer itself; it exposes it as
/// [`CircuitBreakerConfig::implied_timeout`] for the driver to apply when the client has
/// no explicit timeout.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HystrixConfig {
    /// `circuitBreaker.requestVolumeThreshold`: requests in the window before it can trip.
    #[serde(default = "default_request_volume")]
    pub request_volume: u32,
    /// `circuitBreaker.errorThresholdPercentage`: trips when the truncated integer error
    /// percentage is at least this (1–100).
    #[serde(default = "default_error_percentage")]
    pub error_percentage: u32,
    /// `metrics.rollingStats.timeInMilliseconds`: the health window.
    #[serde(default = "default_rolling_window")]
    pub rolling_window: SimDuration,
    /// `metrics.healthSnapshot.intervalInMilliseconds`: bucket width and evaluation period.
    #[serde(default = "default_health_interval")]
    pub health_interval: SimDuration,
    /// `circuitBreaker.sleepWindowInMilliseconds`: time open before the single trial.
    #[serde(default = "default_sleep_window")]
    pub sleep_window: SimDuration,
    /// `execution.isolation.thread.timeoutInMilliseconds`: the command's timeout (at least
    /// 1 ms).
    #[serde(default = "default_execution_timeout")]
    pub execution_timeout: SimDuration,
    /// `execution.timeout.enabled`: whether `execution_timeout` applies.
    #[serde(default = "yes")]
    pub timeout_enabled: bool,
}

impl Default for HystrixConfig {
    fn default() -> Self {
        HystrixConfig {
            request_volume: default_request_volume(),
            error_percentage: default_error_percentage(),
            rolling_window: default_rolling_window(),
            health_interval: default_health_interval(),
            sleep_window: default_sleep_window(),
            execution_timeout: default_execution_timeout(),
            timeout_enabled: true,
        }
    }
}

/// Polly v8 advanced breaker. Defaults: `failure_ratio = 0.1`, `minimum_throughput = 100`,
/// `sampling_duration = "30s"`, `break_duration = "5s"`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PollyConfig {
    /// `FailureRatio` in `[0, 1]`; breaks at `>=`.
    #[serde(default = "default_failure_ratio")]
    pub failure_ratio: f64,
    /// `MinimumThroughput` (at least 2).
    #[serde(default = "default_minimum_throughput")]
    pub minimum_throughput: u32,
    /// `SamplingDuration`, 0.5 s to 1 day; split into 10 rolling sub-windows.
    #[serde(default = "default_sampling_duration")]
    pub sampling_duration: SimDuration,
    /// `BreakDuration`, 0.5 s to 1 day.
    #[serde(default = "default_break_duration")]
    pub break_duration: SimDuration,
}

impl Default for PollyConfig {
    fn default() -> Self {
        PollyConfig {
            failure_ratio: default_failure_ratio(),
            minimum_throughput: default_minimum_throughput(),
            sampling_duration: default_sampling_duration(),
            break_duration: default_break_duration(),
        }
    }
}

/// Most slots a window (or the half-open probe window) may have: each is memory held
/// for the breaker's life, so a size of 4·10⁹ must be an error, not an allocation that
/// aborts the process. Resilience4j's own windows are tens to hundreds of calls.
pub const MAX_SLOTS: u32 = 1_000_000;

fn too_many(n: u32) -> String {
    format!("{n} is more than a window can hold (at most {MAX_SLOTS})")
}

fn default_size() -> u32 {
    100
}
fn default_failure_rate() -> f32 {
    50.0
}
fn default_slow_call_rate() -> f32 {
    100.0
}
fn default_slow_call_duration() -> SimDuration {
    SimDuration::from_secs(60)
}
fn default_minimum_calls() -> u32 {
    100
}
fn default_request_volume() -> u32 {
    20
}
fn default_error_percentage() -> u32 {
    50
}
fn default_rolling_window() -> SimDuration {
    SimDuration::from_secs(10)
}
fn default_health_interval() -> SimDuration {
    SimDuration::from_millis(500)
}
fn default_sleep_window() -> SimDuration {
    SimDuration::from_secs(5)
}
fn default_execution_timeout() -> SimDuration {
    SimDuration::from_secs(1)
}
fn yes() -> bool {
    true
}
fn default_failure_ratio() -> f64 {
    0.1
}
fn default_minimum_throughput() -> u32 {
    100
}
fn default_sampling_duration() -> SimDuration {
    SimDuration::from_secs(30)
}
fn default_break_duration() -> SimDuration {
    SimDuration::from_secs(5)
}

// ---------------------------------------------------------------------------------------
// Validated form
// ---------------------------------------------------------------------------------------

/// Resilience4j's rate rules, shared by the closed window and the half-open window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RateRules {
    pub failure_rate: f32,
    pub slow_call_rate: f32,
    pub slow_call_duration: SimDuration,
    pub minimum_calls: u32,
}

/// The validated window kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Consecutive { failures: u32 },
    Count { size: u32, rules: RateRules },
    Time { secs: u32, rules: RateRules },
    Hystrix(HystrixRules),
    Polly(PollyRules),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct HystrixRules {
    pub request_volume: u32,
    pub error_percentage: u32,
    pub buckets: u32,
    pub health_interval: SimDuration,
    pub sleep_window_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PollyRules {
    pub failure_ratio: f64,
    pub minimum_throughput: u32,
    pub sampling_duration: SimDuration,
    pub break_duration: SimDuration,
}

/// How a breaker treats one outcome class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Success,
    Failure,
    Ignored,
}

/// Everything the state machine needs, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Settings {
    pub kind: Kind,
    /// `waitDurationInOpenState` in whole ms.
    pub wait_open_ms: u64,
    pub wait_open_multiplier: Option<f64>,
    pub wait_open_max_ms: Option<u64>,
    pub half_open_calls: u32,
    /// 0 = disabled.
    pub max_wait_half_open_ms: u64,
    pub after_max_wait: AfterMaxWait,
    pub automatic_transition: bool,
    /// Indexed by [`outcome_index`]: timeout, server error, client error, rejected.
    pub classes: [Class; 5],
}

fn err(field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::new(field, problem)
}

fn check_rate(field: &str, x: f32) -> Result<(), ConfigError> {
    if x > 0.0 && x <= 100.0 {
        Ok(())
    } else {
        Err(err(field, format!("{x} is not a percentage in (0, 100]")))
    }
}

fn check_rules(
    failure_rate: f32,
    slow_call_rate: f32,
    slow_call_duration: SimDuration,
    minimum_calls: u32,
) -> Result<RateRules, ConfigError> {
    check_rate("failure_rate", failure_rate)?;
    check_rate("slow_call_rate", slow_call_rate)?;
    if slow_call_duration.is_zero() {
        return Err(err("slow_call_duration", "must be at least 1ns"));
    }
    if minimum_calls == 0 {
        return Err(err("minimum_calls", "must be at least 1"));
    }
    Ok(RateRules {
        failure_rate,
        slow_call_rate,
        slow_call_duration,
        minimum_calls,
    })
}

fn whole_ms(field: &str, d: SimDuration) -> Result<u64, ConfigError> {
    if !d.as_nanos().is_multiple_of(1_000_000) {
        return Err(err(
            field,
            format!("{d} is not a whole number of milliseconds"),
        ));
    }
    Ok(d.as_millis())
}

impl CircuitBreakerConfig {
    /// The timeout the configured library puts on every call by itself, if any: the
    /// Hystrix preset's `execution_timeout` (1 s by default) unless `timeout_enabled` is
    /// false. Resilience4j's and Polly's breakers carry none (Resilience4j's `TimeLimiter`
    /// and Polly's timeout strategy are separate decorators). The driver applies it to a
    /// client that has no explicit `timeout`; an explicit one wins.
    pub fn implied_timeout(&self) -> Option<SimDuration> {
        self.hystrix
            .as_ref()
            .filter(|h| h.timeout_enabled)
            .map(|h| h.execution_timeout)
    }

    /// Checks the config and derives the settings the state machine runs on.
    pub(crate) fn validate(&self) -> Result<Settings, ConfigError> {
        let kind = self.kind()?;
        let r4j = matches!(
            kind,
            Kind::Consecutive { .. } | Kind::Count { .. } | Kind::Time { .. }
        );
        if !r4j {
            let preset = if matches!(kind, Kind::Hystrix(_)) {
                "hystrix"
            } else {
                "polly"
            };
            let given = [
                ("wait_open", self.wait_open.is_some()),
                ("wait_open_multiplier", self.wait_open_multiplier.is_some()),
                ("wait_open_max", self.wait_open_max.is_some()),
                ("half_open_calls", self.half_open_calls.is_some()),
                ("max_wait_half_open", self.max_wait_half_open.is_some()),
                (
                    "after_max_wait_half_open",
                    self.after_max_wait_half_open.is_some(),
                ),
                ("automatic_transition", self.automatic_transition.is_some()),
            ];
            if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
                return Err(err(
                    field,
                    format!(
                        "is a resilience4j setting; the {preset} preset has its own open-state timing and a single trial call"
                    ),
                ));
            }
        }

        let wait_open = self.wait_open.unwrap_or(DEFAULT_WAIT_OPEN);
        if wait_open < SimDuration::from_millis(1) {
            return Err(err("wait_open", "must be at least 1ms"));
        }
        let wait_open_ms = wait_open.as_millis();
        if let Some(m) = self.wait_open_multiplier
            && !(m.is_finite() && m >= 1.0)
        {
            return Err(err("wait_open_multiplier", format!("{m} is below 1")));
        }
        let wait_open_max_ms = match self.wait_open_max {
            None => None,
            Some(_) if self.wait_open_multiplier.is_none() => {
                return Err(err(
                    "wait_open_max",
                    "has no effect without wait_open_multiplier",
                ));
            }
            Some(max) if max.as_millis() < wait_open_ms => {
                return Err(err(
                    "wait_open_max",
                    format!("{max} is below wait_open ({wait_open})"),
                ));
            }
            Some(max) => Some(max.as_millis()),
        };
        let half_open_calls = self.half_open_calls.unwrap_or(DEFAULT_HALF_OPEN_CALLS);
        if half_open_calls == 0 {
            return Err(err("half_open_calls", "must be at least 1"));
        }
        if half_open_calls > MAX_SLOTS {
            return Err(err("half_open_calls", too_many(half_open_calls)));
        }

        let mut classes = [Class::Success; 5];
        for k in &self.record_on {
            classes[kind_index(*k)] = Class::Failure;
        }
        if matches!(kind, Kind::Hystrix(_)) && !self.record_on.contains(&OutcomeKind::ClientError) {
            // BAD_REQUEST is excluded from Hystrix health counts.
            classes[kind_index(OutcomeKind::ClientError)] = Class::Ignored;
        }
        for k in &self.ignore {
            classes[kind_index(*k)] = Class::Ignored;
        }

        Ok(Settings {
            kind,
            wait_open_ms,
            wait_open_multiplier: self.wait_open_multiplier,
            wait_open_max_ms,
            half_open_calls: if r4j { half_open_calls } else { 1 },
            max_wait_half_open_ms: self.max_wait_half_open.map_or(0, |d| d.as_millis()),
            after_max_wait: self.after_max_wait_half_open.unwrap_or_default(),
            automatic_transition: self.automatic_transition.unwrap_or(false),
            classes,
        })
    }

    fn kind(&self) -> Result<Kind, ConfigError> {
        let given: Vec<&str> = [
            ("consecutive", self.consecutive.is_some()),
            ("count_window", self.count_window.is_some()),
            ("time_window", self.time_window.is_some()),
            ("hystrix", self.hystrix.is_some()),
            ("polly", self.polly.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        match given.as_slice() {
            [] => {
                return Err(err(
                    "count_window",
                    "missing: give exactly one of consecutive, count_window, time_window, hystrix, polly",
                ));
            }
            [_] => {}
            [first, second, ..] => {
                return Err(err(
                    second,
                    format!("conflicts with {first}: give exactly one window kind"),
                ));
            }
        }
        if let Some(c) = &self.consecutive {
            if c.failures == 0 {
                return Err(err("failures", "must be at least 1").within("consecutive"));
            }
            return Ok(Kind::Consecutive {
                failures: c.failures,
            });
        }
        if let Some(c) = &self.count_window {
            let within = |e: ConfigError| e.within("count_window");
            if c.size == 0 {
                return Err(within(err("size", "must be at least 1")));
            }
            if c.size > MAX_SLOTS {
                return Err(within(err("size", too_many(c.size))));
            }
            let rules = check_rules(
                c.failure_rate,
                c.slow_call_rate,
                c.slow_call_duration,
                c.minimum_calls,
            )
            .map_err(within)?;
            return Ok(Kind::Count {
                size: c.size,
                rules,
            });
        }
        if let Some(c) = &self.time_window {
            let within = |e: ConfigError| e.within("time_window");
            let secs = match (c.size_secs, c.size) {
                (Some(_), Some(_)) => {
                    return Err(within(err("size", "give size or size_secs, not both")));
                }
                (Some(s), None) => s,
                (None, Some(d)) => {
                    if !d.as_nanos().is_multiple_of(1_000_000_000) {
                        return Err(within(err(
                            "size",
                            format!("{d} is not a whole number of seconds"),
                        )));
                    }
                    u32::try_from(d.as_nanos() / 1_000_000_000)
                        .map_err(|_| within(err("size", "is too long")))?
                }
                (None, None) => default_size(),
            };
            if secs == 0 {
                let field = if c.size.is_some() {
                    "size"
                } else {
                    "size_secs"
                };
                return Err(within(err(field, "must be at least 1 second")));
            }
            if secs > MAX_SLOTS {
                let field = if c.size.is_some() {
                    "size"
                } else {
                    "size_secs"
                };
                return Err(within(err(field, too_many(secs))));
            }
            let rules = check_rules(
                c.failure_rate,
                c.slow_call_rate,
                c.slow_call_duration,
                c.minimum_calls,
            )
            .map_err(within)?;
            return Ok(Kind::Time { secs, rules });
        }
        if let Some(h) = &self.hystrix {
            let within = |e: ConfigError| e.within("hystrix");
            if !(1..=100).contains(&h.error_percentage) {
                return Err(within(err(
                    "error_percentage",
                    format!("{} is not a percentage in 1..=100", h.error_percentage),
                )));
            }
            let interval_ms = whole_ms("health_interval", h.health_interval).map_err(within)?;
            if interval_ms == 0 {
                return Err(within(err("health_interval", "must be at least 1ms")));
            }
            let window_ms = whole_ms("rolling_window", h.rolling_window).map_err(within)?;
            let buckets = window_ms / interval_ms;
            if buckets == 0 {
                return Err(within(err(
                    "rolling_window",
                    format!(
                        "{} is shorter than health_interval ({})",
                        h.rolling_window, h.health_interval
                    ),
                )));
            }
            let buckets = u32::try_from(buckets)
                .ok()
                .filter(|b| *b <= MAX_SLOTS)
                .ok_or_else(|| within(err("rolling_window", "holds too many health buckets")))?;
            let sleep_window_ms = whole_ms("sleep_window", h.sleep_window).map_err(within)?;
            if whole_ms("execution_timeout", h.execution_timeout).map_err(within)? == 0 {
                return Err(within(err("execution_timeout", "must be at least 1ms")));
            }
            return Ok(Kind::Hystrix(HystrixRules {
                request_volume: h.request_volume,
                error_percentage: h.error_percentage,
                buckets,
                health_interval: h.health_interval,
                sleep_window_ms,
            }));
        }
        let p = self.polly.as_ref().expect("one kind is set");
        let within = |e: ConfigError| e.within("polly");
        if !(0.0..=1.0).contains(&p.failure_ratio) {
            return Err(within(err(
                "failure_ratio",
                format!("{} is not a ratio in [0, 1]", p.failure_ratio),
            )));
        }
        if p.minimum_throughput < 2 {
            return Err(within(err("minimum_throughput", "must be at least 2")));
        }
        let range = SimDuration::from_millis(500)..=SimDuration::from_secs(86_400);
        for (field, d) in [
            ("sampling_duration", p.sampling_duration),
            ("break_duration", p.break_duration),
        ] {
            if !range.contains(&d) {
                return Err(within(err(field, format!("{d} is outside 500ms..=1d"))));
            }
        }
        Ok(Kind::Polly(PollyRules {
            failure_ratio: p.failure_ratio,
            minimum_throughput: p.minimum_throughput,
            sampling_duration: p.sampling_duration,
            break_duration: p.break_duration,
        }))
    }
}

const fn kind_index(k: OutcomeKind) -> usize {
    match k {
        OutcomeKind::Timeout => 0,
        OutcomeKind::ServerError => 1,
        OutcomeKind::ClientError => 2,
        OutcomeKind::Rejected => 3,
        OutcomeKind::Throttled => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::*;

    fn parse(s: &str) -> Result<Settings, String> {
        let c: CircuitBreakerConfig = toml::from_str(s).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())
    }

    fn field_of(s: &str) -> String {
        let c: CircuitBreakerConfig = toml::from_str(s).unwrap();
        c.validate().unwrap_err().field
    }

    mod parsing {
        use super::*;

        #[test]
        fn reads_the_model_format_example() {
            let s = parse(
                r#"count_window = { size = 20, failure_rate = 50.0, minimum_calls = 20 }
                   wait_open = "30s"
                   half_open_calls = 3"#,
            )
            .unwrap();
            let Kind::Count { size, rules } = s.kind else {
                panic!("{:?}", s.kind)
            };
            assert_eq!(size, 20);
            assert_eq!(rules.minimum_calls, 20);
            assert_eq!(rules.slow_call_rate, 100.0);
            assert_eq!(rules.slow_call_duration, secs(60));
            assert_eq!(s.wait_open_ms, 30_000);
            assert_eq!(s.half_open_calls, 3);
            assert!(!s.automatic_transition);
            assert_eq!(
                s.classes,
                [
                    Class::Failure,
                    Class::Failure,
                    Class::Success,
                    Class::Failure,
                    Class::Failure
                ]
            );
        }

        #[test]
        fn applies_resilience4j_defaults() {
            let s = CircuitBreakerConfig::default().validate().unwrap();
            let Kind::Count { size, rules } = s.kind else {
                panic!()
            };
            assert_eq!((size, rules.minimum_calls), (100, 100));
            assert_eq!(rules.failure_rate, 50.0);
            assert_eq!(s.wait_open_ms, 60_000);
            assert_eq!(s.half_open_calls, 10);
            assert_eq!(s.max_wait_half_open_ms, 0);
            assert_eq!(s.after_max_wait, AfterMaxWait::Open);
        }

        #[test]
        fn time_window_size_in_either_spelling() {
            for src in [
                "time_window = { size_secs = 10 }",
                "time_window = { size = \"10s\" }",
            ] {
                let s = parse(src).unwrap();
                assert!(matches!(s.kind, Kind::Time { secs: 10, .. }), "{src}");
            }
        }

        #[test]
        fn every_default_config_is_valid() {
            let base = CircuitBreakerConfig {
                count_window: None,
                ..CircuitBreakerConfig::default()
            };
            for c in [
                CircuitBreakerConfig::default(),
                CircuitBreakerConfig {
                    time_window: Some(TimeWindowConfig::default()),
                    ..base.clone()
                },
                CircuitBreakerConfig {
                    hystrix: Some(HystrixConfig::default()),
                    ..base.clone()
                },
                CircuitBreakerConfig {
                    polly: Some(PollyConfig::default()),
                    ..base.clone()
                },
            ] {
                assert!(c.validate().is_ok(), "{c:?}");
            }
        }

        #[test]
        fn hystrix_defaults_give_twenty_half_second_buckets() {
            let s = parse("hystrix = {}").unwrap();
            let Kind::Hystrix(h) = s.kind else { panic!() };
            assert_eq!(h.buckets, 20);
            assert_eq!(h.health_interval, ms(500));
            assert_eq!(h.sleep_window_ms, 5_000);
            assert_eq!((h.request_volume, h.error_percentage), (20, 50));
            assert_eq!(s.half_open_calls, 1);
            assert_eq!(s.classes[2], Class::Ignored, "BAD_REQUEST is excluded");
        }

        #[test]
        fn only_the_hystrix_preset_implies_a_timeout() {
            let c = |s: &str| toml::from_str::<CircuitBreakerConfig>(s).unwrap();
            // HystrixCommandProperties: execution.isolation.thread.timeoutInMilliseconds
            // 1000, execution.timeout.enabled true.
            assert_eq!(c("hystrix = {}").implied_timeout(), Some(secs(1)));
            assert_eq!(
                c("hystrix = { execution_timeout = \"250ms\" }").implied_timeout(),
                Some(ms(250))
            );
            assert_eq!(
                c("hystrix = { timeout_enabled = false }").implied_timeout(),
                None
            );
            for other in [
                "count_window = {}",
                "polly = {}",
                "consecutive = { failures = 3 }",
            ] {
                assert_eq!(c(other).implied_timeout(), None, "{other}");
            }
        }

        #[test]
        fn record_on_may_record_client_errors_like_resilience4j_s_default() {
            let all = parse(
                r#"count_window = {}
                   record_on = ["timeout", "server_error", "client_error", "rejected"]"#,
            )
            .unwrap();
            let f = Class::Failure;
            assert_eq!(
                all.classes,
                [f, f, f, f, Class::Success],
                "throttled not listed"
            );
            // The Hystrix preset too: a command that throws an ordinary exception on a 4xx.
            let h =
                parse("hystrix = {}\nrecord_on = [\"server_error\", \"client_error\"]").unwrap();
            assert_eq!(
                h.classes,
                [
                    Class::Success,
                    Class::Failure,
                    Class::Failure,
                    Class::Success,
                    Class::Success
                ]
            );
            // `record` is the older spelling of the same key.
            let old = parse("count_window = {}\nrecord = [\"timeout\"]").unwrap();
            assert_eq!(
                old.classes,
                [
                    Class::Failure,
                    Class::Success,
                    Class::Success,
                    Class::Success,
                    Class::Success
                ]
            );
            assert!(parse("count_window = {}\nrecord = []\nrecord_on = []").is_err());
        }

        #[test]
        fn ignore_beats_record() {
            let s =
                parse("consecutive = { failures = 3 }\nignore = [\"timeout\", \"client_error\"]")
                    .unwrap();
            assert_eq!(
                s.classes,
                [
                    Class::Ignored,
                    Class::Failure,
                    Class::Ignored,
                    Class::Failure,
                    Class::Failure
                ]
            );
        }

        #[test]
        fn round_trips_through_toml() {
            let c: CircuitBreakerConfig =
                toml::from_str("polly = { failure_ratio = 0.5 }\nrecord = [\"timeout\"]").unwrap();
            let back: CircuitBreakerConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
            assert_eq!(back, c);
        }

        #[test]
        fn unknown_keys_are_rejected() {
            assert!(parse("count_window = { sise = 3 }").is_err());
            assert!(parse("consecutive = { failures = 3 }\nwait = \"1s\"").is_err());
            assert!(parse("consecutive = { failures = 3 }\nrecord = [\"success\"]").is_err());
        }
    }

    mod validation {
        use super::*;

        #[test]
        fn exactly_one_window_kind() {
            assert_eq!(field_of("wait_open = \"1s\""), "count_window");
            assert_eq!(
                field_of("consecutive = { failures = 3 }\ntime_window = { size_secs = 3 }"),
                "time_window"
            );
        }

        #[test]
        fn names_the_offending_field() {
            let cases = [
                ("consecutive = { failures = 0 }", "consecutive.failures"),
                ("count_window = { size = 0 }", "count_window.size"),
                (
                    "count_window = { failure_rate = 0.0 }",
                    "count_window.failure_rate",
                ),
                (
                    "count_window = { failure_rate = 100.5 }",
                    "count_window.failure_rate",
                ),
                (
                    "time_window = { slow_call_rate = -1.0 }",
                    "time_window.slow_call_rate",
                ),
                (
                    "time_window = { minimum_calls = 0 }",
                    "time_window.minimum_calls",
                ),
                ("time_window = { size = \"1500ms\" }", "time_window.size"),
                ("time_window = { size_secs = 0 }", "time_window.size_secs"),
                (
                    "count_window = { slow_call_duration = \"0s\" }",
                    "count_window.slow_call_duration",
                ),
                ("count_window = {}\nhalf_open_calls = 0", "half_open_calls"),
                ("count_window = {}\nwait_open = \"999us\"", "wait_open"),
                (
                    "count_window = {}\nwait_open_multiplier = 0.5",
                    "wait_open_multiplier",
                ),
                ("count_window = {}\nwait_open_max = \"5m\"", "wait_open_max"),
                (
                    "count_window = {}\nwait_open = \"10s\"\nwait_open_multiplier = 2.0\nwait_open_max = \"5s\"",
                    "wait_open_max",
                ),
                (
                    "hystrix = { error_percentage = 0 }",
                    "hystrix.error_percentage",
                ),
                (
                    "hystrix = { rolling_window = \"100ms\" }",
                    "hystrix.rolling_window",
                ),
                (
                    "hystrix = { health_interval = \"0s\" }",
                    "hystrix.health_interval",
                ),
                (
                    "hystrix = { sleep_window = \"1500us\" }",
                    "hystrix.sleep_window",
                ),
                (
                    "hystrix = { execution_timeout = \"0s\" }",
                    "hystrix.execution_timeout",
                ),
                (
                    "hystrix = { execution_timeout = \"1500us\" }",
                    "hystrix.execution_timeout",
                ),
                ("hystrix = {}\nwait_open = \"1s\"", "wait_open"),
                ("polly = {}\nhalf_open_calls = 2", "half_open_calls"),
                ("polly = { failure_ratio = 1.5 }", "polly.failure_ratio"),
                (
                    "polly = { minimum_throughput = 1 }",
                    "polly.minimum_throughput",
                ),
                (
                    "polly = { break_duration = \"100ms\" }",
                    "polly.break_duration",
                ),
                (
                    "polly = { sampling_duration = \"2d\" }",
                    "polly.sampling_duration",
                ),
            ];
            for (src, field) in cases {
                assert_eq!(field_of(src), field, "{src}");
            }
        }

        #[test]
        fn accepts_the_boundaries() {
            for src in [
                "count_window = { size = 1, minimum_calls = 1, failure_rate = 100.0 }\nwait_open = \"1ms\"",
                "count_window = { failure_rate = 0.001 }\nhalf_open_calls = 1",
                "polly = { failure_ratio = 0.0, minimum_throughput = 2, break_duration = \"500ms\" }",
                "hystrix = { error_percentage = 100, request_volume = 0, sleep_window = \"0s\" }",
                "count_window = {}\nwait_open_multiplier = 1.0\nwait_open_max = \"60s\"",
            ] {
                assert!(parse(src).is_ok(), "{src}: {:?}", parse(src));
            }
        }
    }
}
