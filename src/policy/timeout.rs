//! Timeouts: the per-attempt timeout, the total timeout across retries, deadline
//! propagation ([`Deadline`]) and an [`AdaptiveTimeout`] that follows the callee's latency.
//!
//! Why they exist: a caller without a timeout waits as long as its slowest dependency, so
//! one hung callee parks every thread of every caller above it — the textbook cascade. A
//! per-attempt timeout bounds one try (Resilience4j `TimeLimiter`, default 1 s; Polly v8
//! `Timeout`, default 30 s); a *total* timeout bounds the whole call including retries and
//! their backoff, which per-attempt timeouts alone do not (3 attempts × 5 s is 15 s plus
//! waits). A deadline passed down the call graph (gRPC style) lets a callee skip work
//! whose answer nobody is still waiting for.
//!
//! Failure modes the simulator can show:
//! - a timeout shorter than the callee's ordinary tail latency turns normal slowness into
//!   failures, and each failure into a retry: load grows exactly when the callee is slow;
//! - a timeout that fires while the callee keeps working (no cancellation) frees the
//!   caller but not the callee, whose queue keeps growing with abandoned work;
//! - inner timeouts longer than the outer budget are pointless: the caller has gone, so
//!   inner timeouts should be capped by the remaining budget ([`Deadline::cap`]).
//!
//! Nothing here reads a clock: a deadline is an absolute [`SimTime`] and every check takes
//! `now`. The driver arms a timer at `now + attempt_timeout` and reports what happened.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::policy::ConfigError;
use crate::time::{SimDuration, SimTime};

/// An absolute time by which an answer is no longer wanted (gRPC-style deadline).
///
/// ```
/// use cascade::policy::timeout::Deadline;
/// use cascade::time::short::{ms, t_ms};
///
/// let d = Deadline::after(t_ms(0), ms(300));
/// assert_eq!(d.remaining(t_ms(100)), ms(200));
/// assert_eq!(d.cap(ms(500), t_ms(100)), ms(200)); // an inner 500 ms timeout gets 200 ms
/// assert_eq!(d.child(t_ms(100), ms(50)).at(), t_ms(150));
/// assert!(d.is_expired(t_ms(300)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(SimTime);

impl Deadline {
    /// No deadline at all.
    pub const NEVER: Deadline = Deadline(SimTime::MAX);

    /// The deadline at the instant `at`.
    pub const fn at_time(at: SimTime) -> Self {
        Deadline(at)
    }

    /// The deadline `budget` after `now` (saturating at [`Deadline::NEVER`]).
    pub fn after(now: SimTime, budget: SimDuration) -> Self {
        Deadline(now + budget)
    }

    /// The instant of the deadline.
    pub const fn at(self) -> SimTime {
        self.0
    }

    /// Budget left at `now` (zero once expired).
    pub fn remaining(self, now: SimTime) -> SimDuration {
        self.0 - now
    }

    /// True once `now` has reached the deadline: the answer is no longer wanted, so the
    /// call should not be started (reject with `DeadlineExceeded`) or retried.
    pub fn is_expired(self, now: SimTime) -> bool {
        now >= self.0
    }

    /// An inner timeout capped by the remaining budget: `min(timeout, remaining(now))`.
    pub fn cap(self, timeout: SimDuration, now: SimTime) -> SimDuration {
        timeout.min(self.remaining(now))
    }

    /// The deadline to pass to a callee that has its own `local_timeout`: the earlier of
    /// this deadline and `now + local_timeout`.
    pub fn child(self, now: SimTime, local_timeout: SimDuration) -> Deadline {
        self.min(Deadline::after(now, local_timeout))
    }
}

/// Config of an [`AdaptiveTimeout`]; in TOML
/// `timeout = { adaptive = { percentile = 99.0, multiplier = 2.0, window = 1000, min = "50ms", max = "10s", initial = "1s" } }`.
///
/// All fields are optional; the defaults are the values shown, plus `min_samples = 100`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveTimeoutConfig {
    /// Which latency percentile to follow, in (0, 100]; default 99.
    #[serde(default = "default_percentile")]
    pub percentile: f64,
    /// Timeout = percentile × this, default 2.0; must be positive.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// How many recent latencies the percentile is taken over, default 1000; at least 1.
    #[serde(default = "default_window")]
    pub window: u32,
    /// Samples needed before the percentile replaces `initial`, default 100 (fewer than
    /// 100 samples cannot tell a p99 from the maximum); capped at `window`.
    #[serde(default = "default_min_samples")]
    pub min_samples: u32,
    /// Lower clamp, default `"50ms"`; must be more than zero.
    #[serde(default = "default_min")]
    pub min: SimDuration,
    /// Upper clamp, default `"10s"`; at least `min`.
    #[serde(default = "default_max")]
    pub max: SimDuration,
    /// Timeout used until `min_samples` latencies were seen, default `"1s"`; within
    /// `[min, max]`.
    #[serde(default = "default_initial")]
    pub initial: SimDuration,
}

fn default_percentile() -> f64 {
    99.0
}
fn default_multiplier() -> f64 {
    2.0
}
fn default_window() -> u32 {
    1000
}
fn default_min_samples() -> u32 {
    100
}
fn default_min() -> SimDuration {
    SimDuration::from_millis(50)
}
fn default_max() -> SimDuration {
    SimDuration::from_secs(10)
}
fn default_initial() -> SimDuration {
    SimDuration::from_secs(1)
}

impl Default for AdaptiveTimeoutConfig {
    fn default() -> Self {
        AdaptiveTimeoutConfig {
            percentile: default_percentile(),
            multiplier: default_multiplier(),
            window: default_window(),
            min_samples: default_min_samples(),
            min: default_min(),
            max: default_max(),
            initial: default_initial(),
        }
    }
}

/// A per-attempt timeout that follows the callee: `clamp(p × multiplier, min, max)` where
/// `p` is the configured percentile of the last `window` attempt latencies.
///
/// Cheap per call: a sample is one write into a preallocated ring; the percentile is
/// recomputed every `max(1, window / 10)` samples by a linear-time selection in a
/// preallocated scratch buffer (amortised ~10 element moves per sample, no sort, no
/// allocation after construction). The timeout therefore lags the latest samples by at
/// most a tenth of the window.
///
/// **Record timed-out attempts as the timeout value** ([`Self::on_timed_out`]). Their true
/// latency is unknown but at least the timeout (a *censored* sample). Dropping them biases
/// the window towards the calls that were fast enough to finish: if the callee's latency
/// shifts past the timeout, every slow call times out, none is recorded, the percentile
/// keeps describing the old fast regime and the timeout never grows to meet the new one —
/// the adaptive timeout ignores exactly the slowness it exists to track. Recording the
/// timeout value instead pushes the percentile up to the timeout, the multiplier lifts the
/// timeout above it, and it climbs (bounded by `max`) until it covers the new latency.
///
/// ```
/// use cascade::policy::timeout::{AdaptiveTimeout, AdaptiveTimeoutConfig};
/// use cascade::time::short::ms;
///
/// let cfg = AdaptiveTimeoutConfig { window: 100, ..Default::default() };
/// let mut t = AdaptiveTimeout::new(cfg).unwrap();
/// assert_eq!(t.timeout(), ms(1000)); // `initial` until 100 samples
/// for i in 1..=100 {
///     t.on_latency(ms(i));
/// }
/// assert_eq!(t.timeout(), ms(198)); // p99 of 1..=100 ms is 99 ms, × 2
/// ```
#[derive(Clone, Debug)]
pub struct AdaptiveTimeout {
    percentile: f64,
    multiplier: f64,
    min_samples: usize,
    min: SimDuration,
    max: SimDuration,
    recompute_every: u32,
    /// The last `window` latencies in nanoseconds; `ring.len()` grows to `window` once.
    ring: Vec<u64>,
    next: usize,
    since_recompute: u32,
    scratch: Vec<u64>,
    current: SimDuration,
}

impl AdaptiveTimeout {
    /// Validates the config (field names in errors: `percentile`, `multiplier`, `window`,
    /// `min`, `max`, `initial`) and preallocates the window.
    pub fn new(config: AdaptiveTimeoutConfig) -> Result<Self, ConfigError> {
        let c = config;
        if !(c.percentile > 0.0 && c.percentile <= 100.0) {
            return Err(ConfigError::new(
                "percentile",
                format!("must be in (0, 100], got {}", c.percentile),
            ));
        }
        if !(c.multiplier > 0.0 && c.multiplier.is_finite()) {
            return Err(ConfigError::new(
                "multiplier",
                format!("must be a positive number, got {}", c.multiplier),
            ));
        }
        if c.window == 0 {
            return Err(ConfigError::new("window", "must be at least 1 sample"));
        }
        if c.window > 1_000_000 {
            return Err(ConfigError::new(
                "window",
                format!(
                    "{} samples are more than it can keep (at most 1000000)",
                    c.window
                ),
            ));
        }
        if c.min.is_zero() {
            return Err(ConfigError::new("min", "must be more than 0s"));
        }
        if c.max < c.min {
            return Err(ConfigError::new(
                "max",
                format!("must be at least min ({}), got {}", c.min, c.max),
            ));
        }
        if c.initial < c.min || c.initial > c.max {
            return Err(ConfigError::new(
                "initial",
                format!("must be within [{}, {}], got {}", c.min, c.max, c.initial),
            ));
        }
        let window = c.window as usize;
        Ok(AdaptiveTimeout {
            percentile: c.percentile,
            multiplier: c.multiplier,
            min_samples: (c.min_samples as usize).clamp(1, window),
            min: c.min,
            max: c.max,
            recompute_every: (c.window / 10).max(1),
            ring: Vec::with_capacity(window),
            next: 0,
            since_recompute: 0,
            scratch: vec![0; window],
            current: c.initial,
        })
    }

    /// The timeout to give the next attempt.
    pub fn timeout(&self) -> SimDuration {
        self.current
    }

    /// An attempt completed (success or error) after `took`.
    pub fn on_latency(&mut self, took: SimDuration) {
        let ns = took.as_nanos();
        if self.ring.len() < self.ring.capacity() {
            self.ring.push(ns);
        } else {
            self.ring[self.next] = ns;
        }
        self.next = (self.next + 1) % self.ring.capacity();
        self.since_recompute += 1;
        let n = self.ring.len();
        if n >= self.min_samples
            && (self.since_recompute >= self.recompute_every || n == self.min_samples)
        {
            self.recompute();
        }
    }

    /// An attempt hit the adaptive timeout: records the current timeout as its (censored)
    /// latency — see the type docs for why. An attempt cut short by a caller's deadline
    /// says nothing about the callee and should not be recorded at all.
    pub fn on_timed_out(&mut self) {
        self.on_latency(self.current);
    }

    /// Samples currently in the window.
    pub fn samples(&self) -> usize {
        self.ring.len()
    }

    fn recompute(&mut self) {
        self.since_recompute = 0;
        let n = self.ring.len();
        let rank = ((self.percentile / 100.0) * n as f64).ceil() as usize;
        let k = rank.clamp(1, n) - 1;
        let buf = &mut self.scratch[..n];
        buf.copy_from_slice(&self.ring);
        let (_, p, _) = buf.select_nth_unstable(k);
        let t = SimDuration::from_nanos(*p).mul_f64(self.multiplier);
        self.current = t.clamp(self.min, self.max);
    }
}

/// A per-attempt timeout as written in a file: a duration (`timeout = "5s"`) or an adaptive
/// one (`timeout = { adaptive = { percentile = 99.0 } }`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttemptTimeout {
    /// The same timeout for every attempt.
    Fixed(SimDuration),
    /// A timeout following the callee's latency percentile.
    Adaptive(AdaptiveTimeoutConfig),
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AdaptiveTable {
    adaptive: AdaptiveTimeoutConfig,
}

impl Serialize for AttemptTimeout {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AttemptTimeout::Fixed(d) => d.serialize(s),
            AttemptTimeout::Adaptive(c) => AdaptiveTable { adaptive: *c }.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for AttemptTimeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AttemptTimeout;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like \"5s\" or { adaptive = { ... } }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AttemptTimeout, E> {
                v.parse().map(AttemptTimeout::Fixed).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AttemptTimeout, A::Error> {
                let t = AdaptiveTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(AttemptTimeout::Adaptive(t.adaptive))
            }
        }
        d.deserialize_any(V)
    }
}

/// Timeouts of one client; in TOML `timeout = "5s"`, `total_timeout = "10s"` (or
/// `timeout = { adaptive = { ... } }`).
///
/// Both default to none: no timeout, the caller waits for ever — the setting that lets a
/// hung callee take its callers down with it. (Resilience4j's `TimeLimiter` defaults to
/// 1 s and Polly's to 30 s; write them explicitly to model those libraries.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutConfig {
    /// Per-attempt timeout; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<AttemptTimeout>,
    /// Budget for the whole call, retries and backoff included; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_timeout: Option<SimDuration>,
}

#[derive(Clone, Debug)]
enum AttemptKind {
    None,
    Fixed(SimDuration),
    Adaptive(AdaptiveTimeout),
}

/// The validated timeouts of one client: hands out the call's [`Deadline`] and each
/// attempt's timeout, and feeds latencies to the adaptive timeout if there is one.
///
/// ```
/// use cascade::policy::timeout::{Deadline, Timeouts, TimeoutConfig, AttemptTimeout};
/// use cascade::time::short::{ms, secs, t_ms};
///
/// let cfg = TimeoutConfig {
///     timeout: Some(AttemptTimeout::Fixed(secs(5))),
///     total_timeout: Some(secs(10)),
/// };
/// let t = Timeouts::new(cfg).unwrap();
/// let call = t.call_deadline(t_ms(0), Deadline::NEVER);
/// assert_eq!(t.attempt_timeout(t_ms(0), call), Some(secs(5)));
/// // A third attempt starting at 8 s only gets the 2 s left of the total budget.
/// assert_eq!(t.attempt_timeout(t_ms(8_000), call), Some(secs(2)));
/// ```
#[derive(Clone, Debug)]
pub struct Timeouts {
    attempt: AttemptKind,
    total: Option<SimDuration>,
}

impl Timeouts {
    /// Validates the config: timeouts must be more than zero (`timeout`, `total_timeout`);
    /// adaptive errors are reported under `timeout.adaptive.<field>`.
    pub fn new(config: TimeoutConfig) -> Result<Self, ConfigError> {
        let attempt = match config.timeout {
            None => AttemptKind::None,
            Some(AttemptTimeout::Fixed(d)) if d.is_zero() => {
                return Err(ConfigError::new("timeout", "must be more than 0s"));
            }
            Some(AttemptTimeout::Fixed(d)) => AttemptKind::Fixed(d),
            Some(AttemptTimeout::Adaptive(c)) => AttemptKind::Adaptive(
                AdaptiveTimeout::new(c).map_err(|e| e.within("timeout.adaptive"))?,
            ),
        };
        if config.total_timeout == Some(SimDuration::ZERO) {
            return Err(ConfigError::new("total_timeout", "must be more than 0s"));
        }
        Ok(Timeouts {
            attempt,
            total: config.total_timeout,
        })
    }

    /// The deadline of a logical call starting at `now` (before its first attempt): the
    /// earlier of `inherited` (the caller's propagated deadline, or [`Deadline::NEVER`])
    /// and `now + total_timeout`.
    pub fn call_deadline(&self, now: SimTime, inherited: Deadline) -> Deadline {
        match self.total {
            Some(total) => inherited.child(now, total),
            None => inherited,
        }
    }

    /// The timeout for an attempt starting at `now`: the per-attempt timeout capped by what
    /// is left of `deadline`; `None` if no timer is needed at all. Check
    /// [`Deadline::is_expired`] first: an expired deadline yields `Some(0s)`.
    pub fn attempt_timeout(&self, now: SimTime, deadline: Deadline) -> Option<SimDuration> {
        let own = match &self.attempt {
            AttemptKind::None => None,
            AttemptKind::Fixed(d) => Some(*d),
            AttemptKind::Adaptive(a) => Some(a.timeout()),
        };
        match (own, deadline == Deadline::NEVER) {
            (None, true) => None,
            (None, false) => Some(deadline.remaining(now)),
            (Some(t), _) => Some(deadline.cap(t, now)),
        }
    }

    /// An attempt completed (success or error) after `took`; feeds an adaptive timeout.
    pub fn on_attempt_completed(&mut self, took: SimDuration) {
        if let AttemptKind::Adaptive(a) = &mut self.attempt {
            a.on_latency(took);
        }
    }

    /// An attempt hit its *own* per-attempt timeout (not the call deadline); an adaptive
    /// timeout records it as censored at the timeout value.
    pub fn on_attempt_timed_out(&mut self) {
        if let AttemptKind::Adaptive(a) = &mut self.attempt {
            a.on_timed_out();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::{ms, secs, t_ms};
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn adaptive(window: u32, min: SimDuration, max: SimDuration) -> AdaptiveTimeout {
        AdaptiveTimeout::new(AdaptiveTimeoutConfig {
            window,
            min,
            max,
            initial: min,
            ..Default::default()
        })
        .unwrap()
    }

    mod deadline {
        use super::*;

        #[test]
        fn caps_inner_timeouts_by_the_remaining_budget() {
            let d = Deadline::after(t_ms(100), ms(500));
            assert_eq!(d.cap(ms(200), t_ms(100)), ms(200));
            assert_eq!(d.cap(ms(200), t_ms(450)), ms(150));
            assert_eq!(d.cap(ms(200), t_ms(700)), SimDuration::ZERO);
            assert_eq!(Deadline::NEVER.cap(ms(200), t_ms(10)), ms(200));
        }

        #[test]
        fn expires_exactly_at_the_deadline() {
            let d = Deadline::at_time(t_ms(300));
            assert!(!d.is_expired(t_ms(299)));
            assert!(d.is_expired(t_ms(300)));
            assert_eq!(d.remaining(t_ms(299)), ms(1));
            assert_eq!(d.remaining(t_ms(400)), SimDuration::ZERO);
            assert!(!Deadline::NEVER.is_expired(t_ms(1_000_000)));
        }

        #[test]
        fn a_child_takes_the_earlier_of_the_two() {
            let d = Deadline::at_time(t_ms(300));
            assert_eq!(d.child(t_ms(100), ms(100)), Deadline::at_time(t_ms(200)));
            assert_eq!(d.child(t_ms(100), ms(500)), d);
            assert_eq!(
                Deadline::NEVER.child(t_ms(1), SimDuration::MAX),
                Deadline::NEVER
            );
        }
    }

    mod timeouts {
        use super::*;

        fn cfg(toml_text: &str) -> TimeoutConfig {
            toml::from_str(toml_text).unwrap()
        }

        #[test]
        fn parses_plain_and_adaptive_forms() {
            let c = cfg("timeout = \"5s\"\ntotal_timeout = \"10s\"");
            assert_eq!(c.timeout, Some(AttemptTimeout::Fixed(secs(5))));
            assert_eq!(c.total_timeout, Some(secs(10)));
            let c = cfg("timeout = { adaptive = { percentile = 95.0, window = 10 } }");
            let Some(AttemptTimeout::Adaptive(a)) = c.timeout else {
                panic!()
            };
            assert_eq!((a.percentile, a.window, a.multiplier), (95.0, 10, 2.0));
            assert_eq!(cfg(""), TimeoutConfig::default());
        }

        #[test]
        fn bad_files_say_what_is_wrong() {
            let e = toml::from_str::<TimeoutConfig>("timeout = \"5 sec\"")
                .unwrap_err()
                .to_string();
            assert!(e.contains("try \"5s\""), "{e}");
            assert!(toml::from_str::<TimeoutConfig>("timeout = { adaptiv = {} }").is_err());
            assert!(toml::from_str::<TimeoutConfig>("timeout = { adaptive = { p = 1 } }").is_err());
            assert!(toml::from_str::<TimeoutConfig>("timout = \"1s\"").is_err());
        }

        #[test]
        fn round_trips_through_toml() {
            for text in ["timeout = \"5s\"", "[timeout.adaptive]\nwindow = 10"] {
                let c = cfg(text);
                let back: TimeoutConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
                assert_eq!(back, c);
            }
        }

        #[test]
        fn validation_names_the_field() {
            let err = |c: &str| Timeouts::new(cfg(c)).unwrap_err().field;
            assert_eq!(err("timeout = \"0s\""), "timeout");
            assert_eq!(err("total_timeout = \"0s\""), "total_timeout");
            assert_eq!(
                err("timeout = { adaptive = { window = 0 } }"),
                "timeout.adaptive.window"
            );
        }

        #[test]
        fn total_timeout_caps_later_attempts() {
            let t = Timeouts::new(cfg("timeout = \"5s\"\ntotal_timeout = \"10s\"")).unwrap();
            let d = t.call_deadline(t_ms(1_000), Deadline::NEVER);
            assert_eq!(d.at(), t_ms(11_000));
            assert_eq!(t.attempt_timeout(t_ms(1_000), d), Some(secs(5)));
            assert_eq!(t.attempt_timeout(t_ms(7_500), d), Some(ms(3_500)));
        }

        #[test]
        fn an_inherited_deadline_wins_when_earlier() {
            let t = Timeouts::new(cfg("total_timeout = \"10s\"")).unwrap();
            let d = t.call_deadline(t_ms(0), Deadline::at_time(t_ms(2_000)));
            assert_eq!(d.at(), t_ms(2_000));
            assert_eq!(t.attempt_timeout(t_ms(500), d), Some(ms(1_500)));
        }

        #[test]
        fn no_timeouts_need_no_timer() {
            let t = Timeouts::new(TimeoutConfig::default()).unwrap();
            let d = t.call_deadline(t_ms(0), Deadline::NEVER);
            assert_eq!(t.attempt_timeout(t_ms(0), d), None);
        }
    }

    mod adaptive_timeout {
        use super::*;

        #[test]
        fn uses_initial_until_enough_samples() {
            let mut t = AdaptiveTimeout::new(AdaptiveTimeoutConfig::default()).unwrap();
            for _ in 0..99 {
                t.on_latency(ms(10));
            }
            assert_eq!(t.timeout(), secs(1));
            t.on_latency(ms(10));
            assert_eq!(t.timeout(), ms(50), "2 × 10 ms clamped up to min");
        }

        #[test]
        fn converges_to_multiplier_times_p99_of_a_known_distribution() {
            // Uniform on [0, 200 ms): p99 = 198 ms, so the timeout should be ~396 ms.
            let mut t = adaptive(1000, ms(1), secs(10));
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            for _ in 0..5_000 {
                t.on_latency(SimDuration::from_secs_f64(rng.random::<f64>() * 0.2));
            }
            let got = t.timeout().as_millis_f64();
            assert!((got - 396.0).abs() < 8.0, "timeout {got} ms");
        }

        #[test]
        fn follows_a_shift_in_latency_within_one_window() {
            let mut t = adaptive(100, ms(1), secs(10));
            for _ in 0..100 {
                t.on_latency(ms(10));
            }
            assert_eq!(t.timeout(), ms(20));
            for _ in 0..100 {
                t.on_latency(ms(40));
            }
            assert_eq!(t.timeout(), ms(80));
        }

        #[test]
        fn clamps_at_min_and_max() {
            let mut t = adaptive(10, ms(50), ms(300));
            for _ in 0..10 {
                t.on_latency(ms(1));
            }
            assert_eq!(t.timeout(), ms(50));
            for _ in 0..10 {
                t.on_latency(secs(5));
            }
            assert_eq!(t.timeout(), ms(300));
        }

        #[test]
        fn censored_timeouts_let_the_timeout_climb() {
            // The callee moved from 10 ms to 1 s. With timeouts recorded as the timeout
            // value, the timeout doubles per window until it covers the new latency.
            let mut t = adaptive(10, ms(10), secs(10));
            for _ in 0..10 {
                t.on_latency(ms(10));
            }
            for _ in 0..200 {
                if ms(1000) > t.timeout() {
                    t.on_timed_out();
                } else {
                    t.on_latency(ms(1000));
                }
            }
            assert_eq!(t.timeout(), secs(2));
        }

        #[test]
        fn rejects_nonsense() {
            let bad = |c: AdaptiveTimeoutConfig| AdaptiveTimeout::new(c).unwrap_err().field;
            let d = AdaptiveTimeoutConfig::default();
            assert_eq!(
                bad(AdaptiveTimeoutConfig {
                    percentile: 0.0,
                    ..d
                }),
                "percentile"
            );
            assert_eq!(
                bad(AdaptiveTimeoutConfig {
                    percentile: 100.5,
                    ..d
                }),
                "percentile"
            );
            assert_eq!(
                bad(AdaptiveTimeoutConfig {
                    multiplier: f64::NAN,
                    ..d
                }),
                "multiplier"
            );
            assert_eq!(bad(AdaptiveTimeoutConfig { window: 0, ..d }), "window");
            assert_eq!(
                bad(AdaptiveTimeoutConfig {
                    min: SimDuration::ZERO,
                    ..d
                }),
                "min"
            );
            assert_eq!(bad(AdaptiveTimeoutConfig { max: ms(10), ..d }), "max");
            assert_eq!(
                bad(AdaptiveTimeoutConfig {
                    initial: secs(11),
                    ..d
                }),
                "initial"
            );
        }

        proptest! {
            #[test]
            fn always_within_min_and_max(samples in proptest::collection::vec(0u64..20_000, 0..300)) {
                let mut t = adaptive(20, ms(50), secs(10));
                for s in samples {
                    t.on_latency(ms(s));
                    prop_assert!(t.timeout() >= ms(50) && t.timeout() <= secs(10));
                }
            }
        }
    }
}
