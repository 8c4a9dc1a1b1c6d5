//! Adaptive concurrency limits after Netflix `concurrency-limits` (semantics §8): a
//! [`SimpleLimiter`] that admits while `inflight < limit`, and three algorithms that move
//! the limit from each completed call's round-trip time and drop signal — [`AimdLimit`]
//! (§8.2), [`VegasLimit`] (§8.3) and [`Gradient2Limit`] (§8.4).
//!
//! Why they exist: a fixed bulkhead size is right for one load and one latency only. Set
//! it high and an overloaded callee queues everything (latency explodes, callers time out
//! and retry); set it low and healthy capacity is wasted. An adaptive limit treats the
//! callee like TCP treats a network path: grow while latency stays flat, back off when
//! latency rises (queueing) or calls are dropped (timeouts, load-shed answers). By Little's
//! law the right limit is throughput × no-load latency; these algorithms search for it.
//!
//! Failure modes the simulator can show:
//! - AIMD reacts only to drops and timeouts: it grows until things break, then saws
//!   between the limit and 90 % of it; with its default `min_limit = initial_limit = 20`
//!   it can never go below 20;
//! - Vegas estimates the no-load RTT from the minimum seen; if latency rises for good
//!   (a slower dependency below) it keeps reading it as queueing and shrinks the limit
//!   until its periodic re-probe resets the baseline;
//! - Gradient2 compares a short RTT with a long average; a slow latency drift fools both;
//! - while callers use less than half the limit ("app-limited") the limits do not grow,
//!   so a burst after a quiet period meets the old limit.
//!
//! The limiter passes each algorithm the in-flight count **at acquire time, including the
//! call itself** (Netflix's `inflightAtStart`), carried in the [`Permit`] the driver keeps
//! per call. Vegas's probe jitter takes the caller's RNG (one `U(0.5, 1)` draw at
//! construction and one per probe); the other algorithms draw nothing.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::policy::ConfigError;
use crate::time::{SimDuration, SimTime};

/// Config of an [`AimdLimit`]; in TOML
/// `{ aimd = { initial_limit = 20, min_limit = 20, max_limit = 200, backoff_ratio = 0.9, timeout = "5s" } }`
/// (these are the defaults).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AimdConfig {
    /// Starting limit, default 20; at least 1.
    #[serde(default = "twenty")]
    pub initial_limit: u32,
    /// Floor, default 20 (so by default the limit never drops below its start).
    #[serde(default = "twenty")]
    pub min_limit: u32,
    /// Ceiling, default 200; at least `min_limit`.
    #[serde(default = "two_hundred")]
    pub max_limit: u32,
    /// Multiplicative decrease on a drop, default 0.9; in [0.5, 1).
    #[serde(default = "default_backoff_ratio")]
    pub backoff_ratio: f64,
    /// An RTT strictly above this counts as a drop, default `"5s"`; more than zero.
    #[serde(default = "default_aimd_timeout")]
    pub timeout: SimDuration,
}

fn twenty() -> u32 {
    20
}
fn two_hundred() -> u32 {
    200
}
fn default_backoff_ratio() -> f64 {
    0.9
}
fn default_aimd_timeout() -> SimDuration {
    SimDuration::from_secs(5)
}

impl Default for AimdConfig {
    fn default() -> Self {
        AimdConfig {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            backoff_ratio: default_backoff_ratio(),
            timeout: default_aimd_timeout(),
        }
    }
}

/// Loss-based additive-increase / multiplicative-decrease (`AIMDLimit`, §8.2):
///
/// ```text
/// if did_drop or rtt > timeout:  L = trunc(L · backoff_ratio)
/// elif inflight · 2 >= L:        L = L + 1
/// L = clamp(L, min_limit, max_limit)
/// ```
///
/// ```
/// use cascade::policy::concurrency_limit::{AimdConfig, AimdLimit};
/// use cascade::time::short::ms;
///
/// let mut l = AimdLimit::new(AimdConfig { min_limit: 1, ..Default::default() }).unwrap();
/// assert_eq!(l.on_sample(ms(10), 10, false), 21); // half the limit in use: +1
/// assert_eq!(l.on_sample(ms(10), 5, false), 21);  // app-limited: unchanged
/// assert_eq!(l.on_sample(ms(10), 21, true), 18);  // drop: trunc(21 × 0.9)
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AimdLimit {
    limit: u32,
    min: u32,
    max: u32,
    ratio: f64,
    timeout: SimDuration,
}

impl AimdLimit {
    /// Validates the config (`backoff_ratio` in [0.5, 1), `timeout > 0`,
    /// `initial_limit ≥ 1`, `max_limit ≥ min_limit`).
    pub fn new(c: AimdConfig) -> Result<Self, ConfigError> {
        if !(c.backoff_ratio >= 0.5 && c.backoff_ratio < 1.0) {
            return Err(ConfigError::new(
                "backoff_ratio",
                format!("must be in [0.5, 1), got {}", c.backoff_ratio),
            ));
        }
        if c.timeout.is_zero() {
            return Err(ConfigError::new("timeout", "must be more than 0s"));
        }
        check_limits(c.initial_limit, c.min_limit, c.max_limit, "max_limit")?;
        Ok(AimdLimit {
            limit: c.initial_limit,
            min: c.min_limit,
            max: c.max_limit,
            ratio: c.backoff_ratio,
            timeout: c.timeout,
        })
    }

    /// One completed call: its RTT, the in-flight count when it was admitted (itself
    /// included) and whether it was dropped. Returns the new limit.
    pub fn on_sample(&mut self, rtt: SimDuration, inflight: u32, did_drop: bool) -> u32 {
        let mut l = self.limit;
        if did_drop || rtt > self.timeout {
            l = (l as f64 * self.ratio) as u32;
        } else if inflight as u64 * 2 >= l as u64 {
            l = l.saturating_add(1);
        }
        self.limit = l.clamp(self.min, self.max);
        self.limit
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }
}

fn check_limits(initial: u32, min: u32, max: u32, max_name: &str) -> Result<(), ConfigError> {
    if initial == 0 {
        return Err(ConfigError::new("initial_limit", "must be at least 1"));
    }
    if max < min {
        return Err(ConfigError::new(
            max_name,
            format!("must be at least min_limit ({min}), got {max}"),
        ));
    }
    Ok(())
}

/// Config of a [`VegasLimit`]; in TOML
/// `{ vegas = { initial_limit = 20, max_concurrency = 1000, smoothing = 1.0, probe_multiplier = 30 } }`
/// (the defaults). `alpha`, `beta`, `threshold`, `increase` and `decrease` are the
/// library's default functions of `lg(L)` (see [`lg`]) and are not configurable here.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VegasConfig {
    /// Starting limit, default 20; at least 1.
    #[serde(default = "twenty")]
    pub initial_limit: u32,
    /// Ceiling, default 1000; at least 1 (the floor is always 1).
    #[serde(default = "default_vegas_max")]
    pub max_concurrency: u32,
    /// Weight of the new limit against the old, default 1.0; in (0, 1].
    #[serde(default = "one")]
    pub smoothing: f64,
    /// Re-probe the no-load RTT every `jitter · probe_multiplier · L` samples, jitter
    /// `U(0.5, 1)`; default 30, at least 1.
    #[serde(default = "default_probe_multiplier")]
    pub probe_multiplier: u32,
}

fn default_vegas_max() -> u32 {
    1000
}
fn one() -> f64 {
    1.0
}
fn default_probe_multiplier() -> u32 {
    30
}

impl Default for VegasConfig {
    fn default() -> Self {
        VegasConfig {
            initial_limit: 20,
            max_concurrency: 1000,
            smoothing: 1.0,
            probe_multiplier: 30,
        }
    }
}

/// `lg(x) = max(1, trunc(log10 x))` for `x < 1000`, `trunc(log10 x)` above — so 1 up to
/// 99, 2 for 100–999, 3 for 1000–9999 (Netflix `Log10RootIntFunction`; computed on
/// integers, so powers of ten are exact). Values below 1 give 1.
pub fn lg(x: i64) -> i64 {
    if x < 1 { 1 } else { (x.ilog10() as i64).max(1) }
}

/// Delay-based TCP-Vegas-style limit (`VegasLimit`, §8.3): estimates the queue at the
/// callee as `ceil(L · (1 − rtt_noload / rtt))` and grows fast while it is below
/// `lg(L)`, slowly below `3·lg(L)`, shrinks above `6·lg(L)` or on a drop.
///
/// ```
/// use cascade::policy::concurrency_limit::{VegasConfig, VegasLimit};
/// use cascade::time::short::ms;
/// use rand::SeedableRng;
///
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
/// let mut v = VegasLimit::new(VegasConfig::default(), &mut rng).unwrap();
/// assert_eq!(v.on_sample(ms(10), 20, false, &mut rng), 20); // first RTT: the no-load baseline
/// assert_eq!(v.on_sample(ms(10), 20, false, &mut rng), 26); // no queueing: + 6·lg(20)
/// assert_eq!(v.on_sample(ms(20), 26, false, &mut rng), 25); // queue 13 > 6: − lg(26)
/// ```
#[derive(Clone, Copy, Debug)]
pub struct VegasLimit {
    estimated: f64,
    max: u32,
    smoothing: f64,
    probe_multiplier: u32,
    probe_count: u64,
    probe_jitter: f64,
    rtt_noload: u64,
}

impl VegasLimit {
    /// Validates the config and draws the first probe jitter from `rng`.
    pub fn new<R: Rng + ?Sized>(c: VegasConfig, rng: &mut R) -> Result<Self, ConfigError> {
        if c.initial_limit == 0 {
            return Err(ConfigError::new("initial_limit", "must be at least 1"));
        }
        if c.max_concurrency == 0 {
            return Err(ConfigError::new("max_concurrency", "must be at least 1"));
        }
        if !(c.smoothing > 0.0 && c.smoothing <= 1.0) {
            return Err(ConfigError::new(
                "smoothing",
                format!("must be in (0, 1], got {}", c.smoothing),
            ));
        }
        if c.probe_multiplier == 0 {
            return Err(ConfigError::new("probe_multiplier", "must be at least 1"));
        }
        Ok(VegasLimit {
            estimated: c.initial_limit as f64,
            max: c.max_concurrency,
            smoothing: c.smoothing,
            probe_multiplier: c.probe_multiplier,
            probe_count: 0,
            probe_jitter: rng.random_range(0.5..1.0),
            rtt_noload: 0,
        })
    }

    /// One completed call (see [`AimdLimit::on_sample`]); returns the new limit. A zero
    /// RTT (which Java rejects with an exception) is ignored.
    pub fn on_sample<R: Rng + ?Sized>(
        &mut self,
        rtt: SimDuration,
        inflight: u32,
        did_drop: bool,
        rng: &mut R,
    ) -> u32 {
        let rtt = rtt.as_nanos();
        if rtt == 0 {
            return self.limit();
        }
        self.probe_count += 1;
        let l = self.estimated;
        if self.probe_jitter * self.probe_multiplier as f64 * l <= self.probe_count as f64 {
            self.probe_jitter = rng.random_range(0.5..1.0);
            self.probe_count = 0;
            self.rtt_noload = rtt;
            return self.limit();
        }
        if self.rtt_noload == 0 || rtt < self.rtt_noload {
            self.rtt_noload = rtt;
            return self.limit();
        }
        let queue = (l * (1.0 - self.rtt_noload as f64 / rtt as f64)).ceil() as i64;
        let li = lg(l as i64) as f64;
        let new = if did_drop {
            l - li
        } else if (inflight as f64) * 2.0 < l {
            return self.limit();
        } else {
            let (alpha, beta, threshold) = (3.0 * li, 6.0 * li, li);
            let q = queue as f64;
            if q <= threshold {
                l + beta
            } else if q < alpha {
                l + li
            } else if q > beta {
                l - li
            } else {
                return self.limit();
            }
        };
        let new = new.clamp(1.0, self.max as f64);
        self.estimated = (1.0 - self.smoothing) * l + self.smoothing * new;
        self.limit()
    }

    /// The current limit, `(int) estimated`.
    pub fn limit(&self) -> u32 {
        self.estimated as u32
    }

    /// The no-load RTT estimate (zero before the first sample).
    pub fn rtt_noload(&self) -> SimDuration {
        SimDuration::from_nanos(self.rtt_noload)
    }
}

/// Config of a [`Gradient2Limit`]; in TOML
/// `{ gradient2 = { initial_limit = 20, min_limit = 20, max_concurrency = 200, smoothing = 0.2, queue_size = 4, long_window = 600, rtt_tolerance = 1.5 } }`
/// (the defaults; `queue_size` is the library's constant-function default).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Gradient2Config {
    /// Starting limit, default 20; at least 1.
    #[serde(default = "twenty")]
    pub initial_limit: u32,
    /// Floor, default 20.
    #[serde(default = "twenty")]
    pub min_limit: u32,
    /// Ceiling, default 200; at least `min_limit`.
    #[serde(default = "two_hundred")]
    pub max_concurrency: u32,
    /// Weight of the new limit, default 0.2; in (0, 1].
    #[serde(default = "default_g2_smoothing")]
    pub smoothing: f64,
    /// Headroom added each update, default 4.
    #[serde(default = "default_queue_size")]
    pub queue_size: u32,
    /// Samples of the long RTT average (EMA factor `2/(n+1)`), default 600; at least 1.
    #[serde(default = "default_long_window")]
    pub long_window: u32,
    /// How much the short RTT may exceed the long one before the limit shrinks, default
    /// 1.5; at least 1.
    #[serde(default = "default_rtt_tolerance")]
    pub rtt_tolerance: f64,
}

fn default_g2_smoothing() -> f64 {
    0.2
}
fn default_queue_size() -> u32 {
    4
}
fn default_long_window() -> u32 {
    600
}
fn default_rtt_tolerance() -> f64 {
    1.5
}

impl Default for Gradient2Config {
    fn default() -> Self {
        Gradient2Config {
            initial_limit: 20,
            min_limit: 20,
            max_concurrency: 200,
            smoothing: 0.2,
            queue_size: 4,
            long_window: 600,
            rtt_tolerance: 1.5,
        }
    }
}

/// Gradient-based limit (`Gradient2Limit`, §8.4): compares the latest RTT with a long
/// exponential average; `gradient = clamp(rtt_tolerance · long / short, 0.5, 1)` scales
/// the limit, `queue_size` adds headroom, and the result is smoothed. Drops are ignored
/// except through their RTT. With steady latency it grows by `queue_size · smoothing`
/// (0.8) per sample while at least half the limit is in use.
///
/// ```
/// use cascade::policy::concurrency_limit::{Gradient2Config, Gradient2Limit};
/// use cascade::time::short::ms;
///
/// let mut g = Gradient2Limit::new(Gradient2Config::default()).unwrap();
/// g.on_sample(ms(10), 20);
/// assert!((g.estimated_limit() - 20.8).abs() < 1e-9);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Gradient2Limit {
    estimated: f64,
    min: u32,
    max: u32,
    smoothing: f64,
    queue_size: u32,
    tolerance: f64,
    long: ExpAvg,
}

/// Netflix `ExpAvgMeasurement` with a warm-up: the plain mean of the first `warmup`
/// samples, then `v = v·(1 − f) + x·f` with `f = 2/(window + 1)`.
#[derive(Clone, Copy, Debug)]
struct ExpAvg {
    value: f64,
    sum: f64,
    count: u32,
    warmup: u32,
    factor: f64,
}

impl ExpAvg {
    fn add(&mut self, x: f64) -> f64 {
        if self.count < self.warmup {
            self.count += 1;
            self.sum += x;
            self.value = self.sum / self.count as f64;
        } else {
            self.value = self.value * (1.0 - self.factor) + x * self.factor;
        }
        self.value
    }
}

impl Gradient2Limit {
    /// Validates the config (`smoothing` in (0, 1], `rtt_tolerance ≥ 1`,
    /// `long_window ≥ 1`, `initial_limit ≥ 1`, `max_concurrency ≥ min_limit`).
    pub fn new(c: Gradient2Config) -> Result<Self, ConfigError> {
        if !(c.smoothing > 0.0 && c.smoothing <= 1.0) {
            return Err(ConfigError::new(
                "smoothing",
                format!("must be in (0, 1], got {}", c.smoothing),
            ));
        }
        if !(c.rtt_tolerance >= 1.0 && c.rtt_tolerance.is_finite()) {
            return Err(ConfigError::new(
                "rtt_tolerance",
                format!("must be at least 1.0, got {}", c.rtt_tolerance),
            ));
        }
        if c.long_window == 0 {
            return Err(ConfigError::new("long_window", "must be at least 1 sample"));
        }
        check_limits(
            c.initial_limit,
            c.min_limit,
            c.max_concurrency,
            "max_concurrency",
        )?;
        Ok(Gradient2Limit {
            estimated: c.initial_limit as f64,
            min: c.min_limit,
            max: c.max_concurrency,
            smoothing: c.smoothing,
            queue_size: c.queue_size,
            tolerance: c.rtt_tolerance,
            long: ExpAvg {
                value: 0.0,
                sum: 0.0,
                count: 0,
                warmup: 10,
                factor: 2.0 / (c.long_window as f64 + 1.0),
            },
        })
    }

    /// One completed call: its RTT and the in-flight count at admission. Returns the new
    /// limit. A zero RTT is ignored (the ratio would be undefined).
    pub fn on_sample(&mut self, rtt: SimDuration, inflight: u32) -> u32 {
        if rtt.is_zero() {
            return self.limit();
        }
        let l = self.estimated;
        let q = self.queue_size as f64;
        let short = rtt.as_nanos() as f64;
        let long = self.long.add(short);
        if long / short > 2.0 {
            self.long.value *= 0.95;
        }
        if (inflight as f64) < l / 2.0 {
            return self.limit();
        }
        let gradient = (self.tolerance * long / short).clamp(0.5, 1.0);
        let new = l * gradient + q;
        let new = l * (1.0 - self.smoothing) + new * self.smoothing;
        self.estimated = new.clamp(self.min as f64, self.max as f64);
        self.limit()
    }

    /// The current limit, `(int) estimated`.
    pub fn limit(&self) -> u32 {
        self.estimated as u32
    }

    /// The unrounded limit estimate.
    pub fn estimated_limit(&self) -> f64 {
        self.estimated
    }
}

/// Which algorithm, as written in a file (externally tagged):
/// `concurrency_limit = { aimd = { … } }`, `{ vegas = { … } }` or `{ gradient2 = { … } }`.
/// Default: Vegas, the library's default `Limit`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrencyLimitConfig {
    /// See [`AimdConfig`].
    Aimd(AimdConfig),
    /// See [`VegasConfig`].
    Vegas(VegasConfig),
    /// See [`Gradient2Config`].
    Gradient2(Gradient2Config),
}

impl Default for ConcurrencyLimitConfig {
    fn default() -> Self {
        ConcurrencyLimitConfig::Vegas(VegasConfig::default())
    }
}

/// One of the limit algorithms, sampled the same way.
#[derive(Clone, Copy, Debug)]
pub enum LimitAlgorithm {
    /// See [`AimdLimit`].
    Aimd(AimdLimit),
    /// See [`VegasLimit`].
    Vegas(VegasLimit),
    /// See [`Gradient2Limit`].
    Gradient2(Gradient2Limit),
}

impl LimitAlgorithm {
    /// Builds the configured algorithm (Vegas draws its first probe jitter from `rng`).
    /// Errors name the field under its tag (`aimd.backoff_ratio`).
    pub fn new<R: Rng + ?Sized>(
        config: ConcurrencyLimitConfig,
        rng: &mut R,
    ) -> Result<Self, ConfigError> {
        Ok(match config {
            ConcurrencyLimitConfig::Aimd(c) => {
                LimitAlgorithm::Aimd(AimdLimit::new(c).map_err(|e| e.within("aimd"))?)
            }
            ConcurrencyLimitConfig::Vegas(c) => {
                LimitAlgorithm::Vegas(VegasLimit::new(c, rng).map_err(|e| e.within("vegas"))?)
            }
            ConcurrencyLimitConfig::Gradient2(c) => LimitAlgorithm::Gradient2(
                Gradient2Limit::new(c).map_err(|e| e.within("gradient2"))?,
            ),
        })
    }

    /// Feeds one sample; returns the new limit.
    pub fn on_sample<R: Rng + ?Sized>(
        &mut self,
        rtt: SimDuration,
        inflight: u32,
        did_drop: bool,
        rng: &mut R,
    ) -> u32 {
        match self {
            LimitAlgorithm::Aimd(a) => a.on_sample(rtt, inflight, did_drop),
            LimitAlgorithm::Vegas(v) => v.on_sample(rtt, inflight, did_drop, rng),
            LimitAlgorithm::Gradient2(g) => g.on_sample(rtt, inflight),
        }
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        match self {
            LimitAlgorithm::Aimd(a) => a.limit(),
            LimitAlgorithm::Vegas(v) => v.limit(),
            LimitAlgorithm::Gradient2(g) => g.limit(),
        }
    }
}

/// What the driver keeps per admitted call and hands back when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permit {
    /// When the call was admitted (its RTT is measured from here).
    pub start: SimTime,
    /// In-flight count at admission, this call included.
    pub inflight: u32,
}

/// Netflix `SimpleLimiter` (§8.1): admit while `inflight < limit`, no queue; every
/// completion feeds the algorithm, which moves the limit.
///
/// ```
/// use cascade::policy::concurrency_limit::{AimdConfig, ConcurrencyLimitConfig, SimpleLimiter};
/// use cascade::time::short::t_ms;
/// use rand::SeedableRng;
///
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let cfg = ConcurrencyLimitConfig::Aimd(AimdConfig { initial_limit: 1, min_limit: 1, ..Default::default() });
/// let mut lim = SimpleLimiter::new(cfg, &mut rng).unwrap();
/// let p = lim.try_acquire(t_ms(0)).unwrap();
/// assert!(lim.try_acquire(t_ms(0)).is_none()); // limit 1 reached: reject (Shed)
/// lim.on_success(t_ms(10), p, &mut rng);         // 1·2 ≥ 1: the limit grows to 2
/// assert_eq!(lim.limit(), 2);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SimpleLimiter {
    algorithm: LimitAlgorithm,
    inflight: u32,
}

impl SimpleLimiter {
    /// Builds the limiter around the configured algorithm.
    pub fn new<R: Rng + ?Sized>(
        config: ConcurrencyLimitConfig,
        rng: &mut R,
    ) -> Result<Self, ConfigError> {
        Ok(SimpleLimiter {
            algorithm: LimitAlgorithm::new(config, rng)?,
            inflight: 0,
        })
    }

    /// Ask to start a call at `now`. `None`: the limit is reached; reject it (the driver
    /// uses `RejectReason::Shed`). Keep the permit until the call ends.
    pub fn try_acquire(&mut self, now: SimTime) -> Option<Permit> {
        if self.inflight >= self.algorithm.limit() {
            return None;
        }
        self.inflight += 1;
        Some(Permit {
            start: now,
            inflight: self.inflight,
        })
    }

    /// The call succeeded (or failed in a way that says nothing about load) at `now`.
    pub fn on_success<R: Rng + ?Sized>(&mut self, now: SimTime, permit: Permit, rng: &mut R) {
        self.release(now, permit, false, rng);
    }

    /// The call was dropped at `now`: timed out or shed by the callee — a load signal.
    pub fn on_dropped<R: Rng + ?Sized>(&mut self, now: SimTime, permit: Permit, rng: &mut R) {
        self.release(now, permit, true, rng);
    }

    /// The call ended without a useful sample (e.g. a client error): release only.
    pub fn on_ignore(&mut self, _permit: Permit) {
        self.inflight = self.inflight.saturating_sub(1);
    }

    fn release<R: Rng + ?Sized>(&mut self, now: SimTime, p: Permit, drop: bool, rng: &mut R) {
        self.inflight = self.inflight.saturating_sub(1);
        self.algorithm
            .on_sample(now - p.start, p.inflight, drop, rng);
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        self.algorithm.limit()
    }

    /// Calls in flight.
    pub fn inflight(&self) -> u32 {
        self.inflight
    }

    /// The algorithm, for reports.
    pub fn algorithm(&self) -> &LimitAlgorithm {
        &self.algorithm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::{ms, secs, t_ms};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(5)
    }

    fn aimd(initial: u32, min: u32, max: u32) -> AimdLimit {
        AimdLimit::new(AimdConfig {
            initial_limit: initial,
            min_limit: min,
            max_limit: max,
            ..Default::default()
        })
        .unwrap()
    }

    mod aimd_limit {
        use super::*;

        #[test]
        fn backs_off_on_a_drop_by_truncating_l_times_the_ratio() {
            let mut l = aimd(100, 1, 200);
            assert_eq!(l.on_sample(ms(10), 100, true), 90);
            assert_eq!(l.on_sample(ms(10), 90, true), 81);
            assert_eq!(l.on_sample(ms(10), 81, true), 72, "trunc(72.9)");
        }

        #[test]
        fn an_rtt_strictly_above_the_timeout_counts_as_a_drop() {
            let mut l = aimd(100, 1, 200);
            assert_eq!(l.on_sample(secs(5), 100, false), 101, "= timeout is fine");
            assert_eq!(l.on_sample(secs(5) + ms(1), 100, false), 90);
        }

        #[test]
        fn grows_by_one_per_sample_while_half_used() {
            let mut l = aimd(20, 20, 200);
            assert_eq!(l.on_sample(ms(10), 10, false), 21, "10·2 ≥ 20");
            assert_eq!(l.on_sample(ms(10), 10, false), 21, "10·2 < 21: app-limited");
            assert_eq!(l.on_sample(ms(10), 11, false), 22);
        }

        #[test]
        fn clamps_to_min_and_max() {
            let mut l = aimd(20, 20, 21);
            assert_eq!(
                l.on_sample(ms(10), 20, true),
                20,
                "default floor: never below 20"
            );
            l.on_sample(ms(10), 20, false);
            assert_eq!(l.on_sample(ms(10), 21, false), 21);
            let mut l = aimd(1, 1, 10);
            assert_eq!(
                l.on_sample(ms(10), 1, true),
                1,
                "trunc(0.9) = 0 clamps up to 1"
            );
        }

        #[test]
        fn validates_the_backoff_ratio_and_limits() {
            let bad = |c: AimdConfig| AimdLimit::new(c).unwrap_err().field;
            let d = AimdConfig::default();
            assert_eq!(
                bad(AimdConfig {
                    backoff_ratio: 0.49,
                    ..d
                }),
                "backoff_ratio"
            );
            assert_eq!(
                bad(AimdConfig {
                    backoff_ratio: 1.0,
                    ..d
                }),
                "backoff_ratio"
            );
            assert!(
                AimdLimit::new(AimdConfig {
                    backoff_ratio: 0.5,
                    ..d
                })
                .is_ok()
            );
            assert_eq!(
                bad(AimdConfig {
                    timeout: SimDuration::ZERO,
                    ..d
                }),
                "timeout"
            );
            assert_eq!(bad(AimdConfig { max_limit: 10, ..d }), "max_limit");
            assert_eq!(
                bad(AimdConfig {
                    initial_limit: 0,
                    ..d
                }),
                "initial_limit"
            );
        }
    }

    mod vegas_limit {
        use super::*;

        fn vegas(r: &mut ChaCha8Rng) -> VegasLimit {
            VegasLimit::new(VegasConfig::default(), r).unwrap()
        }

        #[test]
        fn lg_matches_the_library_table() {
            let cases = [
                (0, 1),
                (1, 1),
                (9, 1),
                (10, 1),
                (99, 1),
                (100, 2),
                (999, 2),
                (1000, 3),
                (9999, 3),
                (10_000, 4),
            ];
            for (x, want) in cases {
                assert_eq!(lg(x), want, "lg({x})");
            }
        }

        #[test]
        fn walks_through_every_branch() {
            let mut r = rng();
            let mut v = vegas(&mut r);
            assert_eq!(v.on_sample(ms(10), 20, false, &mut r), 20);
            assert_eq!(v.rtt_noload(), ms(10));
            assert_eq!(
                v.on_sample(ms(10), 20, false, &mut r),
                26,
                "queue 0 ≤ lg: + beta 6"
            );
            assert_eq!(
                v.on_sample(ms(20), 26, false, &mut r),
                25,
                "queue 13 > beta 6: − lg"
            );
            assert_eq!(
                v.on_sample(ms(12), 25, false, &mut r),
                25,
                "queue 5 in [alpha, beta]"
            );
            assert_eq!(
                v.on_sample(ms(11), 25, false, &mut r),
                25,
                "queue ceil(2.27) = 3 = alpha: sweet spot"
            );
            let rtt = SimDuration::from_micros(10_600);
            assert_eq!(
                v.on_sample(rtt, 25, false, &mut r),
                26,
                "queue ceil(1.42) = 2 < alpha: + lg"
            );
            assert_eq!(v.on_sample(ms(10), 5, false, &mut r), 26, "app-limited");
            assert_eq!(
                v.on_sample(ms(10), 5, true, &mut r),
                25,
                "a drop decreases even when app-limited"
            );
            assert_eq!(
                v.on_sample(ms(5), 25, true, &mut r),
                25,
                "a new minimum only resets the baseline"
            );
            assert_eq!(v.rtt_noload(), ms(5));
        }

        #[test]
        fn re_probes_the_baseline_after_jittered_sample_counts() {
            let mut r = rng();
            let mut v = vegas(&mut r);
            v.on_sample(ms(10), 1, false, &mut r);
            let mut probed_at = None;
            for n in 2..=700u32 {
                v.on_sample(ms(50), 1, false, &mut r);
                if v.rtt_noload() == ms(50) {
                    probed_at = Some(n);
                    break;
                }
            }
            let n = probed_at.expect("a probe within 30 · L samples");
            assert!((300..=600).contains(&n), "probe after {n} samples");
        }

        #[test]
        fn never_leaves_one_to_max_concurrency() {
            let mut r = rng();
            let mut v = VegasLimit::new(
                VegasConfig {
                    initial_limit: 2,
                    max_concurrency: 5,
                    ..Default::default()
                },
                &mut r,
            )
            .unwrap();
            v.on_sample(ms(10), 2, false, &mut r);
            for _ in 0..5 {
                v.on_sample(ms(10), 10, true, &mut r);
            }
            assert_eq!(v.limit(), 1);
            for _ in 0..5 {
                v.on_sample(ms(10), 10, false, &mut r);
            }
            assert_eq!(v.limit(), 5);
        }
    }

    mod gradient2_limit {
        use super::*;

        #[test]
        fn grows_by_point_eight_per_sample_at_steady_latency() {
            let mut g = Gradient2Limit::new(Gradient2Config::default()).unwrap();
            let mut prev = g.estimated_limit();
            for _ in 0..20 {
                g.on_sample(ms(10), 200);
                let now = g.estimated_limit();
                assert!((now - prev - 0.8).abs() < 1e-9, "{prev} -> {now}");
                prev = now;
            }
            assert_eq!(g.limit(), 36);
        }

        #[test]
        fn does_not_grow_while_app_limited() {
            let mut g = Gradient2Limit::new(Gradient2Config::default()).unwrap();
            g.on_sample(ms(10), 9);
            assert_eq!(g.estimated_limit(), 20.0);
        }

        #[test]
        fn shrinks_when_latency_jumps_but_at_most_by_half_a_step() {
            let cfg = Gradient2Config {
                min_limit: 1,
                initial_limit: 100,
                ..Default::default()
            };
            let mut g = Gradient2Limit::new(cfg).unwrap();
            for _ in 0..10 {
                g.on_sample(ms(10), 100);
            }
            let before = g.estimated_limit();
            g.on_sample(ms(1_000), 200);
            // gradient clamps at 0.5: 0.8·L + 0.2·(0.5·L + 4)
            let want = 0.8 * before + 0.2 * (0.5 * before + 4.0);
            assert!((g.estimated_limit() - want).abs() < 1e-9);
        }

        #[test]
        fn validates() {
            let bad = |c: Gradient2Config| Gradient2Limit::new(c).unwrap_err().field;
            let d = Gradient2Config::default();
            assert_eq!(
                bad(Gradient2Config {
                    rtt_tolerance: 0.9,
                    ..d
                }),
                "rtt_tolerance"
            );
            assert_eq!(
                bad(Gradient2Config {
                    smoothing: 0.0,
                    ..d
                }),
                "smoothing"
            );
            assert_eq!(
                bad(Gradient2Config {
                    long_window: 0,
                    ..d
                }),
                "long_window"
            );
            assert_eq!(
                bad(Gradient2Config {
                    max_concurrency: 10,
                    ..d
                }),
                "max_concurrency"
            );
        }
    }

    mod limiter {
        use super::*;

        fn parse(text: &str) -> ConcurrencyLimitConfig {
            toml::from_str(text).unwrap()
        }

        #[test]
        fn configs_are_tagged_by_algorithm() {
            assert_eq!(
                parse("aimd = {}"),
                ConcurrencyLimitConfig::Aimd(AimdConfig::default())
            );
            assert_eq!(parse("vegas = {}"), ConcurrencyLimitConfig::default());
            let ConcurrencyLimitConfig::Gradient2(g) = parse("gradient2 = { rtt_tolerance = 2.0 }")
            else {
                panic!()
            };
            assert_eq!(g.rtt_tolerance, 2.0);
            assert!(
                toml::from_str::<ConcurrencyLimitConfig>("aimd = { backof_ratio = 0.8 }").is_err()
            );
            let e = LimitAlgorithm::new(parse("aimd = { backoff_ratio = 1.5 }"), &mut rng())
                .unwrap_err();
            assert_eq!(e.field, "aimd.backoff_ratio");
        }

        #[test]
        fn passes_the_inflight_count_at_acquire_time() {
            let mut r = rng();
            let cfg = ConcurrencyLimitConfig::Aimd(AimdConfig {
                initial_limit: 4,
                min_limit: 1,
                ..Default::default()
            });
            let mut lim = SimpleLimiter::new(cfg, &mut r).unwrap();
            let p1 = lim.try_acquire(t_ms(0)).unwrap();
            let p2 = lim.try_acquire(t_ms(0)).unwrap();
            assert_eq!((p1.inflight, p2.inflight), (1, 2));
            // p1 saw 1 in flight: 1·2 < 4, no growth even though 2 are in flight now.
            lim.on_success(t_ms(10), p1, &mut r);
            assert_eq!(lim.limit(), 4);
            // p2 saw 2: 2·2 ≥ 4, growth.
            lim.on_success(t_ms(10), p2, &mut r);
            assert_eq!(lim.limit(), 5);
        }

        #[test]
        fn drops_shrink_and_ignores_only_release() {
            let mut r = rng();
            let cfg = ConcurrencyLimitConfig::Aimd(AimdConfig {
                initial_limit: 10,
                min_limit: 1,
                ..Default::default()
            });
            let mut lim = SimpleLimiter::new(cfg, &mut r).unwrap();
            let p = lim.try_acquire(t_ms(0)).unwrap();
            lim.on_dropped(t_ms(1), p, &mut r);
            assert_eq!(lim.limit(), 9);
            let p = lim.try_acquire(t_ms(1)).unwrap();
            lim.on_ignore(p);
            assert_eq!((lim.limit(), lim.inflight()), (9, 0));
        }

        proptest! {
            #[test]
            fn never_admits_beyond_the_current_limit(
                ops in proptest::collection::vec((0u8..4, 0u64..2_000), 0..300),
                which in 0u8..3,
            ) {
                let mut r = rng();
                let cfg = match which {
                    0 => ConcurrencyLimitConfig::Aimd(AimdConfig { initial_limit: 3, min_limit: 1, max_limit: 8, ..Default::default() }),
                    1 => ConcurrencyLimitConfig::Vegas(VegasConfig { initial_limit: 3, max_concurrency: 8, ..Default::default() }),
                    _ => ConcurrencyLimitConfig::Gradient2(Gradient2Config { initial_limit: 3, min_limit: 1, max_concurrency: 8, ..Default::default() }),
                };
                let mut lim = SimpleLimiter::new(cfg, &mut r).unwrap();
                let mut held: Vec<Permit> = Vec::new();
                let mut now = t_ms(0);
                for (op, dt) in ops {
                    now += ms(dt);
                    match op {
                        0 | 1 => {
                            let limit = lim.limit();
                            match lim.try_acquire(now) {
                                Some(p) => { prop_assert!(p.inflight <= limit); held.push(p); }
                                None => prop_assert!(lim.inflight() >= limit),
                            }
                        }
                        2 => if let Some(p) = held.pop() { lim.on_success(now, p, &mut r) },
                        _ => if let Some(p) = held.pop() { lim.on_dropped(now, p, &mut r) },
                    }
                    prop_assert_eq!(lim.inflight() as usize, held.len());
                    prop_assert!(lim.limit() >= 1 && lim.limit() <= 8);
                }
            }
        }
    }
}
