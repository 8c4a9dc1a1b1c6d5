//! Backoff: how long to wait before the next retry. [`Backoff`] is the validated, immutable
//! strategy (share one per client); [`BackoffState`] is the tiny per-call memory (retry
//! number, previous delay, Polly's decorrelated-jitter state). Start every logical call
//! with a fresh `BackoffState::default()` and call [`Backoff::next_delay`] once per retry.
//!
//! Why backoff exists: a failing dependency is usually failing *because it is overloaded*.
//! Retrying immediately multiplies its load exactly when it can least afford it (a retry
//! storm); waiting longer after each failure gives it room to recover.
//!
//! Why jitter exists: clients that failed together (one slow GC pause, one dropped link)
//! retry together. Without randomness a deterministic backoff keeps them synchronised, so
//! the callee sees the same spike again at `t + base`, `t + 2·base`, … ("thundering herd").
//! Full jitter spreads the herd over the whole interval; equal jitter keeps a guaranteed
//! minimum wait; decorrelated jitter makes each client's sequence depend on its own
//! history. Backoff alone does not bound the *amount* of retry traffic — that is what retry
//! budgets (`policy::budget`) are for.
//!
//! Every strategy reproduces one library's formula exactly (see
//! `shared/docs/policy-semantics.md`, §2.3 Resilience4j, §4.1 Polly v8, §5.1 AWS blog,
//! §6.1 gRPC), including rounding quirks. Each delay consumes exactly one `U[0,1)` draw
//! from the caller's RNG, except the deterministic strategies (`none`, `immediate`,
//! `fixed`, `linear`, `exponential`, un-jittered `polly`), which consume none.
//!
//! This module must not read a clock or own an RNG.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::time::SimDuration;

const NS_PER_TICK: u64 = 100; // a .NET TimeSpan tick

/// A backoff strategy as written in a model file (externally tagged, snake_case):
/// `backoff = "immediate"`, `backoff = { fixed = { delay = "1s" } }`,
/// `backoff = { exponential = { base = "100ms", cap = "5s" } }`, …
/// The default is Resilience4j's default: a fixed 500 ms wait.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackoffConfig {
    /// Retry without waiting (same as `immediate`).
    None,
    /// Retry without waiting: the retry-storm baseline.
    Immediate,
    /// The same wait every time (Resilience4j `IntervalFunction.of`).
    Fixed(FixedConfig),
    /// `base + (n−1)·step`, capped.
    Linear(LinearConfig),
    /// `base · multiplier^(n−1)`, capped; no jitter.
    Exponential(ExponentialConfig),
    /// AWS blog "Full Jitter": `U(0, E(n))`.
    FullJitter(JitterConfig),
    /// AWS blog "Equal Jitter": `E(n)/2 + U(0, E(n)/2)`.
    EqualJitter(JitterConfig),
    /// AWS blog "Decorrelated Jitter": `min(cap, U(base, 3·prev))`.
    DecorrelatedJitter(DecorrelatedJitterConfig),
    /// Polly v8's decorrelated jitter V2 (Polevoy/Reisenberger).
    DecorrelatedJitterV2(DecorrelatedJitterV2Config),
    /// Resilience4j `ofExponentialRandomBackoff`, integer milliseconds.
    RandomizedExponential(RandomizedExponentialConfig),
    /// Polly v8 `RetryStrategyOptions` delay (`GetRetryDelay`).
    Polly(PollyBackoffConfig),
    /// gRPC A6 retry backoff.
    Grpc(GrpcBackoffConfig),
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig::Fixed(FixedConfig::default())
    }
}

/// `{ fixed = { delay = "500ms" } }`. Default delay: 500 ms (Resilience4j `waitDuration`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FixedConfig {
    /// The wait before every retry. Default 500 ms.
    pub delay: SimDuration,
}

impl Default for FixedConfig {
    fn default() -> Self {
        FixedConfig {
            delay: SimDuration::from_millis(500),
        }
    }
}

/// `{ linear = { base = "100ms", step = "100ms", cap = "20s" } }`: retry `n` (1-based) waits
/// `min(cap, base + (n−1)·step)`. Defaults: base 100 ms, step = base, cap 20 s.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinearConfig {
    /// Wait before the first retry. Default 100 ms.
    pub base: SimDuration,
    /// Added per further retry. Default: equal to `base`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<SimDuration>,
    /// Largest wait. Default 20 s (the AWS SDKs' max backoff). Must be ≥ `base`.
    pub cap: SimDuration,
}

impl Default for LinearConfig {
    fn default() -> Self {
        LinearConfig {
            base: SimDuration::from_millis(100),
            step: None,
            cap: SimDuration::from_secs(20),
        }
    }
}

/// `{ exponential = { base = "100ms", cap = "5s", multiplier = 2.0 } }`: retry `n` (1-based)
/// waits `min(cap, base · multiplier^(n−1))`, so the first retry waits `base` (the
/// Resilience4j/gRPC/Polly convention; the AWS blog's un-jittered formula starts at
/// `2·base` instead). No jitter: every client that failed together retries together.
/// Defaults: base 100 ms, cap 20 s, multiplier 2.0.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExponentialConfig {
    /// Wait before the first retry. Default 100 ms.
    pub base: SimDuration,
    /// Largest wait. Default 20 s. Must be ≥ `base`.
    pub cap: SimDuration,
    /// Growth per retry. Default 2.0. Must be ≥ 1.
    pub multiplier: f64,
}

impl Default for ExponentialConfig {
    fn default() -> Self {
        ExponentialConfig {
            base: SimDuration::from_millis(100),
            cap: SimDuration::from_secs(20),
            multiplier: 2.0,
        }
    }
}

/// `{ full_jitter = { base = "100ms", cap = "20s" } }` (also `equal_jitter`). The AWS blog's
/// capped exponential is `E(n) = min(cap, base · 2^(n + exponent_offset))` for retry `n`
/// (1-based). Defaults: base 100 ms, cap 20 s, exponent_offset 0.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JitterConfig {
    /// Scale of the exponential. Default 100 ms (aws-sdk-java-v2 `BASE_DELAY`).
    pub base: SimDuration,
    /// Largest `E(n)`. Default 20 s (the AWS SDKs' max backoff). Must be ≥ `base`.
    pub cap: SimDuration,
    /// Added to the retry number in the exponent. The default 0 is the blog's own code
    /// (`backoff_simulator.py` increments before computing), so retry 1 draws from
    /// `[0, 2·base)`. Set −1 for the common re-implementation (retry 1 draws from
    /// `[0, base)`, like botocore's `U · 2^(i−1)`). Must be ≥ −1.
    pub exponent_offset: i32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            base: SimDuration::from_millis(100),
            cap: SimDuration::from_secs(20),
            exponent_offset: 0,
        }
    }
}

/// `{ decorrelated_jitter = { base = "100ms", cap = "20s" } }`: `sleep_0 = base`,
/// `sleep_n = min(cap, U(base, 3·sleep_{n−1}))`. The cap applies *after* the draw, so
/// delays pile up at `cap` (unlike Polly.Contrib's `AwsDecorrelatedJitterBackoff`).
/// Defaults: base 100 ms, cap 20 s.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecorrelatedJitterConfig {
    /// Smallest wait, and the starting "previous" delay. Default 100 ms. Must be > 0.
    pub base: SimDuration,
    /// Largest wait. Default 20 s. Must be ≥ `base`.
    pub cap: SimDuration,
}

impl Default for DecorrelatedJitterConfig {
    fn default() -> Self {
        DecorrelatedJitterConfig {
            base: SimDuration::from_millis(100),
            cap: SimDuration::from_secs(20),
        }
    }
}

/// `{ decorrelated_jitter_v2 = { median_first = "1s", cap = "30s" } }`: Polly v8's
/// exponential-with-jitter. Retry times (from the first failure) have medians near
/// `D, 2D, 4D, …`; each delay is the difference of consecutive points, so never negative.
/// Defaults: median_first 2 s (Polly `Delay`), no cap.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecorrelatedJitterV2Config {
    /// `D`: the median of the first delay. Default 2 s.
    pub median_first: SimDuration,
    /// Optional cap, applied after the formula (the state still advances unclamped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<SimDuration>,
}

impl Default for DecorrelatedJitterV2Config {
    fn default() -> Self {
        DecorrelatedJitterV2Config {
            median_first: SimDuration::from_secs(2),
            cap: None,
        }
    }
}

/// `{ randomized_exponential = { initial = "500ms", multiplier = 1.5,
/// randomization_factor = 0.5, cap = "10s" } }`: Resilience4j
/// `IntervalFunction.ofExponentialRandomBackoff`, in whole milliseconds: `c_1 = initial`,
/// `c_{k+1} = trunc(c_k · multiplier)`, delay `min(cap, trunc(max(1, c(1−f) + U·(2fc + 1))))`.
/// Durations are truncated to whole ms. Defaults: 500 ms, 1.5, 0.5, no cap.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomizedExponentialConfig {
    /// First un-jittered interval. Default 500 ms. Must be ≥ 1 ms.
    pub initial: SimDuration,
    /// Growth per retry. Default 1.5. Must be ≥ 1.
    pub multiplier: f64,
    /// Jitter half-width as a fraction of the interval. Default 0.5. In `[0, 1]`.
    pub randomization_factor: f64,
    /// Optional cap applied after the jitter. Must be ≥ `initial`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<SimDuration>,
}

impl Default for RandomizedExponentialConfig {
    fn default() -> Self {
        RandomizedExponentialConfig {
            initial: SimDuration::from_millis(500),
            multiplier: 1.5,
            randomization_factor: 0.5,
            cap: None,
        }
    }
}

/// Polly v8 `DelayBackoffType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PollyBackoffType {
    /// `D` every time (jitter: uniform in `[0.75D, 1.25D)`).
    #[default]
    Constant,
    /// `(a+1)·D` for 0-based retry `a` (jitter: ±25 %).
    Linear,
    /// `2^a·D` (jitter: decorrelated jitter V2).
    Exponential,
}

/// `{ polly = { delay = "2s", backoff_type = "exponential", use_jitter = true,
/// max_delay = "30s" } }`: Polly v8 `RetryStrategyOptions`. Defaults: 2 s, constant, no
/// jitter, no max delay.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollyBackoffConfig {
    /// Base delay `D`. Default 2 s. At most 1 day; 0 means no wait at all.
    pub delay: SimDuration,
    /// Growth shape. Default `constant`.
    pub backoff_type: PollyBackoffType,
    /// Add jitter. Default false.
    pub use_jitter: bool,
    /// Optional cap on the computed delay. At most 1 day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<SimDuration>,
}

impl Default for PollyBackoffConfig {
    fn default() -> Self {
        PollyBackoffConfig {
            delay: SimDuration::from_secs(2),
            backoff_type: PollyBackoffType::Constant,
            use_jitter: false,
            max_delay: None,
        }
    }
}

/// Which revision of gRPC A6's jitter to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrpcFlavor {
    /// 2024 revision: `b · U(0.8, 1.2)`; may exceed `max_backoff` by up to 20 %.
    #[default]
    Jitter20pct,
    /// Original 2017 text: `U(0, b)`.
    FullJitter,
}

/// `{ grpc = { initial_backoff = "100ms", max_backoff = "1s", backoff_multiplier = 2.0,
/// flavor = "jitter_20pct" } }`: with `b = min(initial · multiplier^(n−1), max)` for retry
/// `n` (1-based). gRPC has no defaults (the fields are required in a service config); the
/// defaults here are the A6 example values: 100 ms, 1 s, 2.0, the 2024 flavor.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcBackoffConfig {
    /// `initialBackoff`. Must be > 0.
    pub initial_backoff: SimDuration,
    /// `maxBackoff`: cap on the exponential term. Must be ≥ `initial_backoff`.
    pub max_backoff: SimDuration,
    /// `backoffMultiplier`. Must be > 0.
    pub backoff_multiplier: f64,
    /// Jitter revision. Default `jitter_20pct`.
    pub flavor: GrpcFlavor,
}

impl Default for GrpcBackoffConfig {
    fn default() -> Self {
        GrpcBackoffConfig {
            initial_backoff: SimDuration::from_millis(100),
            max_backoff: SimDuration::from_secs(1),
            backoff_multiplier: 2.0,
            flavor: GrpcFlavor::Jitter20pct,
        }
    }
}

/// A validated backoff strategy. Immutable and cheap to share; the per-call memory lives in
/// [`BackoffState`].
///
/// ```
/// use cascade::policy::backoff::{Backoff, BackoffConfig, BackoffState};
/// use cascade::time::short::ms;
/// use rand::SeedableRng;
///
/// let cfg: BackoffConfig =
///     toml::from_str::<std::collections::BTreeMap<String, BackoffConfig>>(
///         r#"b = { exponential = { base = "100ms", cap = "1s" } }"#,
///     ).unwrap().remove("b").unwrap();
/// let backoff = Backoff::new(cfg).unwrap();
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// let mut state = BackoffState::default(); // one per logical call
/// let delays: Vec<_> = (0..5).map(|_| backoff.next_delay(&mut state, &mut rng)).collect();
/// assert_eq!(delays, [ms(100), ms(200), ms(400), ms(800), ms(1000)]);
/// assert_eq!(backoff.max_delay(), ms(1000));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    config: BackoffConfig,
}

/// Per-call backoff memory: how many delays were handed out, the previous delay (AWS
/// decorrelated jitter; the un-jittered Resilience4j interval), and Polly's V2 state.
/// `Copy` and 24 bytes; start each logical call with `BackoffState::default()`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BackoffState {
    retries: u32,
    prev: u64,
    polly: f64,
}

impl BackoffState {
    /// How many delays [`Backoff::next_delay`] has produced for this call.
    pub fn retries(&self) -> u32 {
        self.retries
    }
}

fn ensure(ok: bool, field: &str, problem: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(field, problem))
    }
}

fn cap_at_least(cap: SimDuration, base: SimDuration, base_name: &str) -> Result<(), ConfigError> {
    ensure(
        cap >= base,
        "cap",
        &format!("cap ({cap}) is below {base_name} ({base})"),
    )
}

/// `min(cap, base · mult^exp)` in nanoseconds, rounded once; saturates instead of overflowing.
fn capped_exp_ns(base: SimDuration, mult: f64, exp: i32, cap: SimDuration) -> f64 {
    let v = base.as_nanos() as f64 * mult.powi(exp);
    let cap = cap.as_nanos() as f64;
    if v.is_nan() || v >= cap { cap } else { v }
}

/// Nanoseconds (float) to a duration, truncating (keeps `U·x` strictly below `x`).
fn trunc_ns(v: f64) -> SimDuration {
    if v.is_nan() || v <= 0.0 {
        SimDuration::ZERO
    } else if v >= u64::MAX as f64 {
        SimDuration::MAX
    } else {
        SimDuration::from_nanos(v as u64)
    }
}

/// Nanoseconds (float) to a duration, rounding once.
fn round_ns(v: f64) -> SimDuration {
    trunc_ns(v.round())
}

impl Backoff {
    /// Validates `config`. Errors name the offending field (`cap`, `multiplier`, …),
    /// relative to the strategy's own table.
    pub fn new(config: BackoffConfig) -> Result<Backoff, ConfigError> {
        match &config {
            BackoffConfig::None | BackoffConfig::Immediate | BackoffConfig::Fixed(_) => {}
            BackoffConfig::Linear(c) => cap_at_least(c.cap, c.base, "base")?,
            BackoffConfig::Exponential(c) => {
                ensure(
                    c.multiplier >= 1.0 && c.multiplier.is_finite(),
                    "multiplier",
                    "must be a finite number ≥ 1",
                )?;
                cap_at_least(c.cap, c.base, "base")?;
            }
            BackoffConfig::FullJitter(c) | BackoffConfig::EqualJitter(c) => {
                cap_at_least(c.cap, c.base, "base")?;
                ensure(
                    c.exponent_offset >= -1,
                    "exponent_offset",
                    "must be ≥ -1 (the first retry's exponent would be negative)",
                )?;
            }
            BackoffConfig::DecorrelatedJitter(c) => {
                ensure(
                    !c.base.is_zero(),
                    "base",
                    "must be positive (a zero base keeps decorrelated jitter at zero forever)",
                )?;
                cap_at_least(c.cap, c.base, "base")?;
            }
            BackoffConfig::DecorrelatedJitterV2(_) => {}
            BackoffConfig::RandomizedExponential(c) => {
                ensure(
                    c.initial.as_millis() >= 1,
                    "initial",
                    "must be at least 1ms",
                )?;
                ensure(
                    c.multiplier >= 1.0 && c.multiplier.is_finite(),
                    "multiplier",
                    "must be a finite number ≥ 1",
                )?;
                ensure(
                    (0.0..=1.0).contains(&c.randomization_factor),
                    "randomization_factor",
                    "must be between 0 and 1",
                )?;
                if let Some(cap) = c.cap {
                    cap_at_least(cap, c.initial, "initial")?;
                }
            }
            BackoffConfig::Polly(c) => {
                let day = SimDuration::from_secs(86_400);
                ensure(
                    c.delay <= day,
                    "delay",
                    "must be at most 1 day (Polly's limit)",
                )?;
                if let Some(max) = c.max_delay {
                    ensure(
                        max <= day,
                        "max_delay",
                        "must be at most 1 day (Polly's limit)",
                    )?;
                }
            }
            BackoffConfig::Grpc(c) => {
                ensure(
                    !c.initial_backoff.is_zero(),
                    "initial_backoff",
                    "must be > 0",
                )?;
                ensure(
                    c.max_backoff >= c.initial_backoff,
                    "max_backoff",
                    &format!(
                        "max_backoff ({}) is below initial_backoff ({})",
                        c.max_backoff, c.initial_backoff
                    ),
                )?;
                ensure(
                    c.backoff_multiplier > 0.0 && c.backoff_multiplier.is_finite(),
                    "backoff_multiplier",
                    "must be a finite number > 0",
                )?;
            }
        }
        Ok(Backoff { config })
    }

    /// The configuration this strategy was built from.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// An upper bound on any delay this strategy can return ([`SimDuration::MAX`] when the
    /// strategy is uncapped). Cheap; meant for static lints ("the backoff alone exceeds the
    /// caller's timeout"). gRPC's 2024 flavor may exceed `max_backoff` by 20 %.
    pub fn max_delay(&self) -> SimDuration {
        match &self.config {
            BackoffConfig::None | BackoffConfig::Immediate => SimDuration::ZERO,
            BackoffConfig::Fixed(c) => c.delay,
            BackoffConfig::Linear(c) => c.cap,
            BackoffConfig::Exponential(c) => c.cap,
            BackoffConfig::FullJitter(c) | BackoffConfig::EqualJitter(c) => c.cap,
            BackoffConfig::DecorrelatedJitter(c) => c.cap,
            BackoffConfig::DecorrelatedJitterV2(c) => c.cap.unwrap_or(SimDuration::MAX),
            BackoffConfig::RandomizedExponential(c) => c.cap.unwrap_or(SimDuration::MAX),
            BackoffConfig::Polly(c) => {
                let uncapped = match (c.backoff_type, c.use_jitter) {
                    _ if c.delay.is_zero() => SimDuration::ZERO,
                    (PollyBackoffType::Constant, false) => c.delay,
                    (PollyBackoffType::Constant, true) => c.delay.mul_f64(1.25),
                    _ => SimDuration::MAX,
                };
                c.max_delay.map_or(uncapped, |m| m.min(uncapped))
            }
            BackoffConfig::Grpc(c) => match c.flavor {
                GrpcFlavor::Jitter20pct => c.max_backoff.mul_f64(1.2),
                GrpcFlavor::FullJitter => c.max_backoff,
            },
        }
    }

    /// The wait before the next retry of the call that owns `state`, advancing `state`.
    /// Call once per retry, after deciding to retry (the first call of a fresh state gives
    /// the wait before retry 1).
    pub fn next_delay<R: Rng + ?Sized>(
        &self,
        state: &mut BackoffState,
        rng: &mut R,
    ) -> SimDuration {
        state.retries = state.retries.saturating_add(1);
        let n = state.retries; // 1-based retry number
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        match &self.config {
            BackoffConfig::None | BackoffConfig::Immediate => SimDuration::ZERO,
            BackoffConfig::Fixed(c) => c.delay,
            BackoffConfig::Linear(c) => {
                let step = c.step.unwrap_or(c.base);
                let extra = step.as_nanos().saturating_mul(u64::from(n - 1));
                (c.base + SimDuration::from_nanos(extra)).min(c.cap)
            }
            BackoffConfig::Exponential(c) => {
                round_ns(capped_exp_ns(c.base, c.multiplier, exp - 1, c.cap))
            }
            BackoffConfig::FullJitter(c) => {
                let e = capped_exp_ns(c.base, 2.0, exp.saturating_add(c.exponent_offset), c.cap);
                trunc_ns(rng.random::<f64>() * e.round())
            }
            BackoffConfig::EqualJitter(c) => {
                let e = capped_exp_ns(c.base, 2.0, exp.saturating_add(c.exponent_offset), c.cap);
                let half = e.round() / 2.0;
                trunc_ns(half + rng.random::<f64>() * half)
            }
            BackoffConfig::DecorrelatedJitter(c) => {
                let prev = if n == 1 {
                    c.base.as_nanos()
                } else {
                    state.prev
                };
                let lo = c.base.as_nanos() as f64;
                let hi = prev as f64 * 3.0;
                let d = trunc_ns(lo + rng.random::<f64>() * (hi - lo)).min(c.cap);
                state.prev = d.as_nanos();
                d
            }
            BackoffConfig::DecorrelatedJitterV2(c) => {
                let d = polly_v2(n - 1, c.median_first, &mut state.polly, rng);
                c.cap.map_or(d, |cap| d.min(cap))
            }
            BackoffConfig::RandomizedExponential(c) => {
                let interval = if n == 1 {
                    c.initial.as_millis()
                } else {
                    (state.prev as f64 * c.multiplier) as u64 // Java (long) cast: truncates
                };
                state.prev = interval;
                let f = c.randomization_factor;
                let cur = interval as f64;
                let r = (cur * (1.0 - f) + rng.random::<f64>() * (2.0 * f * cur + 1.0)).max(1.0);
                let d = SimDuration::from_millis(r as u64);
                c.cap
                    .map_or(d, |cap| d.min(SimDuration::from_millis(cap.as_millis())))
            }
            BackoffConfig::Polly(c) => polly_delay(c, n - 1, &mut state.polly, rng),
            BackoffConfig::Grpc(c) => {
                let b = capped_exp_ns(
                    c.initial_backoff,
                    c.backoff_multiplier,
                    exp - 1,
                    c.max_backoff,
                );
                match c.flavor {
                    GrpcFlavor::Jitter20pct => round_ns(b * (0.8 + 0.4 * rng.random::<f64>())),
                    GrpcFlavor::FullJitter => trunc_ns(rng.random::<f64>() * b),
                }
            }
        }
    }
}

/// Polly v8 `GetRetryDelay` for 0-based retry `a`, including the `MaxDelay` cap.
fn polly_delay<R: Rng + ?Sized>(
    c: &PollyBackoffConfig,
    a: u32,
    state: &mut f64,
    rng: &mut R,
) -> SimDuration {
    if c.delay.is_zero() {
        return SimDuration::ZERO;
    }
    let d = c.delay.as_nanos() as f64;
    // Polly's simple jitter: x + 0.5·x·U − 0.25·x, uniform in [0.75x, 1.25x).
    let jitter = |x: f64, rng: &mut R| x + 0.5 * x * rng.random::<f64>() - 0.25 * x;
    let delay = match (c.backoff_type, c.use_jitter) {
        (PollyBackoffType::Constant, false) => c.delay,
        (PollyBackoffType::Linear, false) => round_ns((f64::from(a) + 1.0) * d),
        (PollyBackoffType::Exponential, false) => round_ns(2f64.powi(a as i32) * d),
        (PollyBackoffType::Constant, true) => round_ns(jitter(d, rng)),
        (PollyBackoffType::Linear, true) => round_ns(jitter((f64::from(a) + 1.0) * d, rng)),
        (PollyBackoffType::Exponential, true) => polly_v2(a, c.delay, state, rng),
    };
    c.max_delay.map_or(delay, |m| delay.min(m))
}

/// Polly's decorrelated jitter V2 for 0-based retry `a`: `t = a + U`,
/// `next = 2^t · tanh(sqrt(4t))`, delay `= (next − prev) / 1.4 · D`, truncated to whole
/// .NET ticks; `prev = next` (unclamped).
fn polly_v2<R: Rng + ?Sized>(a: u32, d: SimDuration, prev: &mut f64, rng: &mut R) -> SimDuration {
    if d.is_zero() {
        return SimDuration::ZERO;
    }
    let t = f64::from(a) + rng.random::<f64>();
    let next = 2f64.powf(t) * (4.0 * t).sqrt().tanh();
    let intrinsic = next - *prev;
    *prev = next;
    if !next.is_finite() {
        return SimDuration::MAX;
    }
    let max_ticks = i64::MAX as f64 - 1000.0;
    let d_ticks = (d.as_nanos() / NS_PER_TICK) as f64;
    let ticks = (intrinsic * (1.0 / 1.4) * d_ticks).min(max_ticks).trunc();
    trunc_ns(ticks * NS_PER_TICK as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::{ms, secs};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    fn build(c: BackoffConfig) -> Backoff {
        Backoff::new(c).expect("valid config")
    }

    /// The first `k` delays of one call sequence.
    fn seq(b: &Backoff, k: usize, seed: u64) -> Vec<SimDuration> {
        let mut r = rng(seed);
        let mut s = BackoffState::default();
        (0..k).map(|_| b.next_delay(&mut s, &mut r)).collect()
    }

    fn jitter(base: SimDuration, cap: SimDuration, exponent_offset: i32) -> JitterConfig {
        JitterConfig {
            base,
            cap,
            exponent_offset,
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Holder {
        backoff: BackoffConfig,
    }

    fn parse(s: &str) -> Result<BackoffConfig, toml::de::Error> {
        toml::from_str::<Holder>(s).map(|h| h.backoff)
    }

    mod config {
        use super::*;

        #[test]
        fn parses_every_documented_toml_shape() {
            assert_eq!(
                parse(r#"backoff = "immediate""#).unwrap(),
                BackoffConfig::Immediate
            );
            assert_eq!(parse(r#"backoff = "none""#).unwrap(), BackoffConfig::None);
            assert_eq!(
                parse(r#"backoff = { fixed = { delay = "1s" } }"#).unwrap(),
                BackoffConfig::Fixed(FixedConfig { delay: secs(1) })
            );
            assert_eq!(
                parse(r#"backoff = { linear = { base = "100ms", cap = "10s" } }"#).unwrap(),
                BackoffConfig::Linear(LinearConfig {
                    base: ms(100),
                    step: None,
                    cap: secs(10)
                })
            );
            assert_eq!(
                parse(
                    r#"backoff = { exponential = { base = "100ms", cap = "5s", multiplier = 3 } }"#
                )
                .unwrap(),
                BackoffConfig::Exponential(ExponentialConfig {
                    base: ms(100),
                    cap: secs(5),
                    multiplier: 3.0
                })
            );
            assert_eq!(
                parse(r#"backoff = { full_jitter = { base = "1s", cap = "20s" } }"#).unwrap(),
                BackoffConfig::FullJitter(jitter(secs(1), secs(20), 0))
            );
            for shape in [
                r#"backoff = { equal_jitter = { base = "1s", cap = "20s", exponent_offset = -1 } }"#,
                r#"backoff = { decorrelated_jitter = { base = "1s", cap = "20s" } }"#,
                r#"backoff = { decorrelated_jitter_v2 = { median_first = "1s" } }"#,
                r#"backoff = { decorrelated_jitter_v2 = { median_first = "1s", cap = "9s" } }"#,
                r#"backoff = { randomized_exponential = { initial = "500ms", multiplier = 1.5, randomization_factor = 0.5, cap = "9s" } }"#,
                r#"backoff = { polly = { delay = "2s", backoff_type = "exponential", use_jitter = true, max_delay = "30s" } }"#,
                r#"backoff = { grpc = { initial_backoff = "100ms", max_backoff = "1s", backoff_multiplier = 2.0, flavor = "full_jitter" } }"#,
            ] {
                let c = parse(shape).unwrap_or_else(|e| panic!("{shape}: {e}"));
                Backoff::new(c).unwrap();
            }
        }

        #[test]
        fn rejects_unknown_fields_and_variants() {
            assert!(parse(r#"backoff = { fixed = { delay = "1s", jitter = 1 } }"#).is_err());
            assert!(parse(r#"backoff = "exponential_ish""#).is_err());
            assert!(
                parse(
                    r#"backoff = { decorrelated_jitter = { base = "1s", exponent_offset = 1 } }"#
                )
                .is_err()
            );
        }

        #[test]
        fn defaults_follow_the_libraries() {
            assert_eq!(
                BackoffConfig::default(),
                BackoffConfig::Fixed(FixedConfig { delay: ms(500) })
            );
            let r = RandomizedExponentialConfig::default();
            assert_eq!(
                (r.initial, r.multiplier, r.randomization_factor),
                (ms(500), 1.5, 0.5)
            );
            let p = PollyBackoffConfig::default();
            assert_eq!(
                (p.delay, p.backoff_type, p.use_jitter),
                (secs(2), PollyBackoffType::Constant, false)
            );
            assert_eq!(GrpcBackoffConfig::default().flavor, GrpcFlavor::Jitter20pct);
        }

        #[test]
        fn round_trips_through_toml() {
            let c = BackoffConfig::Exponential(ExponentialConfig::default());
            let s = toml::to_string(&std::collections::BTreeMap::from([("backoff", c.clone())]))
                .unwrap();
            assert_eq!(parse(&s).unwrap(), c);
        }
    }

    mod validation {
        use super::*;

        fn field(c: BackoffConfig) -> String {
            Backoff::new(c).unwrap_err().field
        }

        #[test]
        fn names_the_offending_field() {
            let exp = |base, cap, multiplier| {
                BackoffConfig::Exponential(ExponentialConfig {
                    base,
                    cap,
                    multiplier,
                })
            };
            assert_eq!(field(exp(secs(2), secs(1), 2.0)), "cap");
            assert_eq!(field(exp(ms(1), secs(1), 0.5)), "multiplier");
            assert_eq!(field(exp(ms(1), secs(1), f64::NAN)), "multiplier");
            assert_eq!(
                field(BackoffConfig::FullJitter(jitter(secs(2), secs(1), 0))),
                "cap"
            );
            assert_eq!(
                field(BackoffConfig::EqualJitter(jitter(ms(1), secs(1), -2))),
                "exponent_offset"
            );
            assert_eq!(
                field(BackoffConfig::DecorrelatedJitter(
                    DecorrelatedJitterConfig {
                        base: SimDuration::ZERO,
                        cap: secs(1)
                    }
                )),
                "base"
            );
            assert_eq!(
                field(BackoffConfig::Linear(LinearConfig {
                    base: secs(2),
                    step: None,
                    cap: secs(1)
                })),
                "cap"
            );
            let r4j = |initial, randomization_factor, cap| {
                BackoffConfig::RandomizedExponential(RandomizedExponentialConfig {
                    initial,
                    randomization_factor,
                    cap,
                    ..Default::default()
                })
            };
            assert_eq!(field(r4j(ms(500), 1.5, None)), "randomization_factor");
            assert_eq!(field(r4j(ms(500), -0.1, None)), "randomization_factor");
            assert_eq!(
                field(r4j(crate::time::short::us(500), 0.5, None)),
                "initial"
            );
            assert_eq!(field(r4j(ms(500), 0.5, Some(ms(100)))), "cap");
            let grpc = |initial_backoff, max_backoff, backoff_multiplier| {
                BackoffConfig::Grpc(GrpcBackoffConfig {
                    initial_backoff,
                    max_backoff,
                    backoff_multiplier,
                    flavor: GrpcFlavor::Jitter20pct,
                })
            };
            assert_eq!(
                field(grpc(SimDuration::ZERO, secs(1), 2.0)),
                "initial_backoff"
            );
            assert_eq!(field(grpc(secs(2), secs(1), 2.0)), "max_backoff");
            assert_eq!(field(grpc(secs(1), secs(2), 0.0)), "backoff_multiplier");
            assert_eq!(
                field(BackoffConfig::Polly(PollyBackoffConfig {
                    delay: secs(86_401),
                    ..Default::default()
                })),
                "delay"
            );
        }

        #[test]
        fn accepts_edge_values() {
            Backoff::new(BackoffConfig::Exponential(ExponentialConfig {
                base: secs(1),
                cap: secs(1),
                multiplier: 1.0,
            }))
            .unwrap();
            Backoff::new(BackoffConfig::RandomizedExponential(
                RandomizedExponentialConfig {
                    randomization_factor: 1.0,
                    ..Default::default()
                },
            ))
            .unwrap();
        }
    }

    mod deterministic {
        use super::*;

        #[test]
        fn none_immediate_and_fixed() {
            assert_eq!(
                seq(&build(BackoffConfig::None), 3, 1),
                [SimDuration::ZERO; 3]
            );
            assert_eq!(
                seq(&build(BackoffConfig::Immediate), 3, 1),
                [SimDuration::ZERO; 3]
            );
            let fixed = build(BackoffConfig::Fixed(FixedConfig { delay: secs(1) }));
            assert_eq!(seq(&fixed, 10, 1), [secs(1); 10]);
        }

        #[test]
        fn linear_adds_step_and_caps() {
            let b = build(BackoffConfig::Linear(LinearConfig {
                base: ms(100),
                step: Some(ms(50)),
                cap: ms(300),
            }));
            assert_eq!(
                seq(&b, 6, 1),
                [ms(100), ms(150), ms(200), ms(250), ms(300), ms(300)]
            );
            let default_step = build(BackoffConfig::Linear(LinearConfig {
                base: ms(100),
                step: None,
                cap: secs(10),
            }));
            assert_eq!(seq(&default_step, 3, 1), [ms(100), ms(200), ms(300)]);
        }

        #[test]
        fn exponential_starts_at_base_and_caps() {
            let b = build(BackoffConfig::Exponential(ExponentialConfig {
                base: ms(100),
                cap: secs(5),
                multiplier: 2.0,
            }));
            let expected: Vec<_> = [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]
                .into_iter()
                .map(ms)
                .collect();
            assert_eq!(seq(&b, 10, 1), expected);
        }

        #[test]
        fn exponential_saturates_instead_of_overflowing() {
            let b = build(BackoffConfig::Exponential(ExponentialConfig {
                base: secs(1),
                cap: SimDuration::MAX,
                multiplier: 10.0,
            }));
            let d = seq(&b, 200, 1);
            assert_eq!(*d.last().unwrap(), SimDuration::MAX);
            assert!(d.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    mod aws_jitter {
        use super::*;

        fn e(base: SimDuration, cap: SimDuration, n: u32, offset: i32) -> SimDuration {
            let exp = n as i32 + offset;
            SimDuration::from_nanos(base.as_nanos().saturating_mul(1 << exp)).min(cap)
        }

        #[test]
        fn full_jitter_stays_in_zero_to_capped_exponential() {
            for offset in [0, -1] {
                let b = build(BackoffConfig::FullJitter(jitter(ms(100), secs(20), offset)));
                for seed in 0..200 {
                    for (i, d) in seq(&b, 10, seed).into_iter().enumerate() {
                        let hi = e(ms(100), secs(20), i as u32 + 1, offset);
                        assert!(d < hi, "retry {} offset {offset}: {d} ≥ {hi}", i + 1);
                        assert!(d <= secs(20));
                    }
                }
            }
        }

        #[test]
        fn blog_convention_first_retry_draws_up_to_twice_base() {
            let blog = build(BackoffConfig::FullJitter(jitter(ms(100), secs(20), 0)));
            let common = build(BackoffConfig::FullJitter(jitter(ms(100), secs(20), -1)));
            let max_first = |b: &Backoff| (0..2000).map(|s| seq(b, 1, s)[0]).max().unwrap();
            assert!(max_first(&blog) > ms(150), "blog: E(1) = 2·base");
            assert!(max_first(&common) < ms(100), "offset −1: E(1) = base");
        }

        #[test]
        fn full_jitter_mean_is_half_the_capped_exponential() {
            let b = build(BackoffConfig::FullJitter(jitter(ms(100), secs(20), 0)));
            let mut r = rng(42);
            for n in [1u32, 3, 10] {
                let draws = 100_000;
                let total: f64 = (0..draws)
                    .map(|_| {
                        let mut s = BackoffState {
                            retries: n - 1,
                            ..Default::default()
                        };
                        b.next_delay(&mut s, &mut r).as_secs_f64()
                    })
                    .sum();
                let mean = total / draws as f64;
                let want = e(ms(100), secs(20), n, 0).as_secs_f64() / 2.0;
                assert!(
                    (mean / want - 1.0).abs() < 0.02,
                    "retry {n}: mean {mean}, want {want}"
                );
            }
        }

        #[test]
        fn equal_jitter_keeps_half_the_exponential() {
            let b = build(BackoffConfig::EqualJitter(jitter(ms(100), secs(20), 0)));
            for seed in 0..200 {
                for (i, d) in seq(&b, 10, seed).into_iter().enumerate() {
                    let hi = e(ms(100), secs(20), i as u32 + 1, 0);
                    assert!(
                        d >= SimDuration::from_nanos(hi.as_nanos() / 2) && d < hi,
                        "{d} vs {hi}"
                    );
                }
            }
        }

        #[test]
        fn decorrelated_draws_between_base_and_three_times_previous() {
            let cap = secs(2);
            let b = build(BackoffConfig::DecorrelatedJitter(
                DecorrelatedJitterConfig { base: ms(10), cap },
            ));
            let mut reached_cap = false;
            for seed in 0..200 {
                let mut prev = ms(10);
                for d in seq(&b, 10, seed) {
                    assert!(d >= ms(10) && d <= cap, "{d}");
                    if d < cap {
                        assert!(d.as_nanos() < 3 * prev.as_nanos(), "{d} ≥ 3·{prev}");
                    }
                    reached_cap |= d == cap;
                    prev = d;
                }
            }
            assert!(
                reached_cap,
                "the cap applies after the draw, so values pile up at it"
            );
        }

        #[test]
        fn decorrelated_depends_on_the_previous_delay() {
            let b = build(BackoffConfig::DecorrelatedJitter(
                DecorrelatedJitterConfig {
                    base: ms(10),
                    cap: secs(100),
                },
            ));
            let mut r = rng(3);
            let small = BackoffState {
                retries: 5,
                prev: ms(10).as_nanos(),
                polly: 0.0,
            };
            let large = BackoffState {
                retries: 5,
                prev: secs(10).as_nanos(),
                polly: 0.0,
            };
            let mut big = 0;
            for _ in 0..100 {
                let (mut s, mut l) = (small, large);
                let after_small = b.next_delay(&mut s, &mut r);
                assert!(
                    after_small >= ms(10) && after_small < ms(30),
                    "{after_small}"
                );
                let after_large = b.next_delay(&mut l, &mut r);
                assert!(
                    after_large >= ms(10) && after_large < secs(30),
                    "{after_large}"
                );
                big += usize::from(after_large > secs(1));
            }
            // U(10ms, 30s) exceeds 1 s with probability ~97 %; U(10ms, 30ms) never does.
            assert!(big > 85, "{big}");
        }
    }

    mod resilience4j {
        use super::*;

        fn r4j(factor: f64, cap: Option<SimDuration>) -> Backoff {
            build(BackoffConfig::RandomizedExponential(
                RandomizedExponentialConfig {
                    initial: ms(500),
                    multiplier: 1.5,
                    randomization_factor: factor,
                    cap,
                },
            ))
        }

        #[test]
        fn worked_example_truncates_at_every_step() {
            let d = seq(&r4j(0.0, None), 5, 1);
            assert_eq!(d, [ms(500), ms(750), ms(1125), ms(1687), ms(2530)]);
        }

        #[test]
        fn randomized_delays_lie_in_the_plus_one_quirk_bounds() {
            let un_jittered = [
                500u64, 750, 1125, 1687, 2530, 3795, 5692, 8538, 12807, 19210,
            ];
            let b = r4j(0.5, None);
            let mut hit_top = false;
            for seed in 0..500 {
                for (d, c) in seq(&b, 10, seed).into_iter().zip(un_jittered) {
                    assert_eq!(d.as_nanos() % 1_000_000, 0, "whole milliseconds");
                    let got = d.as_millis() as f64;
                    let c = c as f64;
                    assert!(
                        got >= (c * 0.5).floor() && got < c * 1.5 + 1.0,
                        "{got} vs {c}"
                    );
                    hit_top |= got > c * 1.5 - 5.0;
                }
            }
            assert!(hit_top);
        }

        #[test]
        fn cap_applies_after_jitter() {
            let b = r4j(0.5, Some(secs(2)));
            for seed in 0..200 {
                let d = seq(&b, 10, seed);
                assert!(d.iter().all(|&x| x <= secs(2)));
                assert_eq!(d[9], secs(2), "c_10 = 19210 ms ≥ 2 s after any jitter");
            }
        }

        #[test]
        fn never_below_one_millisecond() {
            let b = build(BackoffConfig::RandomizedExponential(
                RandomizedExponentialConfig {
                    initial: ms(1),
                    multiplier: 1.0,
                    randomization_factor: 1.0,
                    cap: None,
                },
            ));
            for seed in 0..200 {
                assert!(seq(&b, 3, seed).iter().all(|&d| d >= ms(1) && d <= ms(2)));
            }
        }
    }

    mod polly {
        use super::*;

        fn polly(
            delay: SimDuration,
            t: PollyBackoffType,
            jit: bool,
            max: Option<SimDuration>,
        ) -> Backoff {
            build(BackoffConfig::Polly(PollyBackoffConfig {
                delay,
                backoff_type: t,
                use_jitter: jit,
                max_delay: max,
            }))
        }

        #[test]
        fn unjittered_shapes() {
            use PollyBackoffType::*;
            assert_eq!(
                seq(&polly(secs(2), Constant, false, None), 3, 1),
                [secs(2); 3]
            );
            assert_eq!(
                seq(&polly(secs(2), Linear, false, None), 3, 1),
                [secs(2), secs(4), secs(6)]
            );
            assert_eq!(
                seq(&polly(secs(2), Exponential, false, None), 4, 1),
                [secs(2), secs(4), secs(8), secs(16)]
            );
            assert_eq!(
                seq(&polly(secs(2), Exponential, false, Some(secs(5))), 4, 1),
                [secs(2), secs(4), secs(5), secs(5)]
            );
            assert_eq!(
                seq(&polly(SimDuration::ZERO, Exponential, true, None), 3, 1),
                [SimDuration::ZERO; 3]
            );
        }

        #[test]
        fn simple_jitter_is_plus_minus_a_quarter() {
            use PollyBackoffType::*;
            for seed in 0..200 {
                for d in seq(&polly(secs(2), Constant, true, None), 5, seed) {
                    assert!(d >= ms(1500) && d < ms(2500), "{d}");
                }
                for (a, d) in seq(&polly(secs(1), Linear, true, None), 10, seed)
                    .into_iter()
                    .enumerate()
                {
                    let x = (a as u64 + 1) * 1000;
                    assert!(d >= ms(x * 3 / 4) && d < ms(x * 5 / 4), "{d}");
                }
            }
        }

        #[test]
        fn v2_delays_are_non_negative_and_bounded() {
            let b = build(BackoffConfig::DecorrelatedJitterV2(
                DecorrelatedJitterV2Config {
                    median_first: secs(1),
                    cap: None,
                },
            ));
            for seed in 0..500 {
                for (a, d) in seq(&b, 10, seed).into_iter().enumerate() {
                    let hi = secs(1).as_secs_f64() * 2f64.powi(a as i32 + 1) / 1.4;
                    assert!(d.as_secs_f64() <= hi, "retry {a}: {d} > {hi}s");
                }
            }
        }

        #[test]
        fn v2_median_retry_times_roughly_double() {
            let b = build(BackoffConfig::DecorrelatedJitterV2(
                DecorrelatedJitterV2Config {
                    median_first: secs(1),
                    cap: None,
                },
            ));
            let runs = 4001;
            let mut cumulative: Vec<Vec<f64>> = vec![Vec::new(); 8];
            for seed in 0..runs as u64 {
                let mut at = 0.0;
                for (k, d) in seq(&b, 8, seed).into_iter().enumerate() {
                    at += d.as_secs_f64();
                    cumulative[k].push(at);
                }
            }
            for (k, times) in cumulative.iter_mut().enumerate() {
                times.sort_by(f64::total_cmp);
                let median = times[runs / 2];
                let ratio = median / 2f64.powi(k as i32);
                assert!((0.8..1.15).contains(&ratio), "retry {k}: median {median}s");
            }
        }

        #[test]
        fn v2_cap_clamps_the_delay_but_not_the_state() {
            let capped = build(BackoffConfig::DecorrelatedJitterV2(
                DecorrelatedJitterV2Config {
                    median_first: secs(1),
                    cap: Some(secs(3)),
                },
            ));
            let free = build(BackoffConfig::DecorrelatedJitterV2(
                DecorrelatedJitterV2Config {
                    median_first: secs(1),
                    cap: None,
                },
            ));
            for seed in 0..100 {
                let (c, f) = (seq(&capped, 10, seed), seq(&free, 10, seed));
                for (c, f) in c.into_iter().zip(f) {
                    assert_eq!(c, f.min(secs(3)));
                }
            }
        }

        #[test]
        fn polly_exponential_jitter_is_v2_with_max_delay() {
            let p = polly(secs(1), PollyBackoffType::Exponential, true, Some(secs(3)));
            let v2 = build(BackoffConfig::DecorrelatedJitterV2(
                DecorrelatedJitterV2Config {
                    median_first: secs(1),
                    cap: Some(secs(3)),
                },
            ));
            assert_eq!(seq(&p, 10, 9), seq(&v2, 10, 9));
        }
    }

    mod grpc {
        use super::*;

        fn grpc(flavor: GrpcFlavor) -> Backoff {
            build(BackoffConfig::Grpc(GrpcBackoffConfig {
                initial_backoff: ms(100),
                max_backoff: secs(1),
                backoff_multiplier: 2.0,
                flavor,
            }))
        }

        fn b(n: usize) -> f64 {
            (0.1 * 2f64.powi(n as i32)).min(1.0)
        }

        #[test]
        fn jitter_20pct_may_exceed_max_backoff_by_a_fifth() {
            let mut above = false;
            for seed in 0..300 {
                for (i, d) in seq(&grpc(GrpcFlavor::Jitter20pct), 10, seed)
                    .into_iter()
                    .enumerate()
                {
                    let (d, b) = (d.as_secs_f64(), b(i));
                    assert!(
                        d >= 0.8 * b - 1e-9 && d <= 1.2 * b + 1e-9,
                        "retry {}: {d} vs {b}",
                        i + 1
                    );
                    above |= d > 1.0;
                }
            }
            assert!(above, "the 2024 formula jitters around max_backoff");
            assert_eq!(grpc(GrpcFlavor::Jitter20pct).max_delay(), ms(1200));
        }

        #[test]
        fn original_full_jitter_stays_below_the_term() {
            for seed in 0..300 {
                for (i, d) in seq(&grpc(GrpcFlavor::FullJitter), 10, seed)
                    .into_iter()
                    .enumerate()
                {
                    assert!(d.as_secs_f64() < b(i), "retry {}: {d}", i + 1);
                }
            }
        }
    }

    mod laws {
        use super::*;
        use proptest::prelude::*;

        fn any_config() -> impl Strategy<Value = BackoffConfig> {
            let dur = |lo: u64, hi: u64| (lo..hi).prop_map(SimDuration::from_millis);
            (
                dur(1, 2_000),
                dur(0, 60_000),
                1.0f64..4.0,
                0.0f64..=1.0,
                0usize..10,
            )
                .prop_map(|(base, extra, mult, f, kind)| {
                    let cap = base + extra;
                    match kind {
                        0 => BackoffConfig::Linear(LinearConfig {
                            base,
                            step: Some(extra),
                            cap,
                        }),
                        1 => BackoffConfig::Exponential(ExponentialConfig {
                            base,
                            cap,
                            multiplier: mult,
                        }),
                        2 => BackoffConfig::FullJitter(jitter(base, cap, 0)),
                        3 => BackoffConfig::EqualJitter(jitter(base, cap, -1)),
                        4 => BackoffConfig::DecorrelatedJitter(DecorrelatedJitterConfig {
                            base,
                            cap,
                        }),
                        5 => BackoffConfig::DecorrelatedJitterV2(DecorrelatedJitterV2Config {
                            median_first: base,
                            cap: Some(cap),
                        }),
                        6 => BackoffConfig::RandomizedExponential(RandomizedExponentialConfig {
                            initial: base,
                            multiplier: mult,
                            randomization_factor: f,
                            cap: Some(cap),
                        }),
                        7 => BackoffConfig::Polly(PollyBackoffConfig {
                            delay: base,
                            backoff_type: PollyBackoffType::Linear,
                            use_jitter: f > 0.5,
                            max_delay: Some(cap),
                        }),
                        8 => BackoffConfig::Grpc(GrpcBackoffConfig {
                            initial_backoff: base,
                            max_backoff: cap,
                            backoff_multiplier: mult,
                            flavor: if f > 0.5 {
                                GrpcFlavor::FullJitter
                            } else {
                                GrpcFlavor::Jitter20pct
                            },
                        }),
                        _ => BackoffConfig::Fixed(FixedConfig { delay: base }),
                    }
                })
        }

        proptest! {
            #[test]
            fn every_delay_lies_within_zero_and_the_cap(cfg in any_config(), seed in any::<u64>()) {
                let b = Backoff::new(cfg).unwrap();
                let cap = b.max_delay();
                prop_assert!(cap < SimDuration::MAX);
                for d in seq(&b, 20, seed) {
                    prop_assert!(d <= cap, "{} > {}", d, cap);
                }
            }
        }
    }
}
