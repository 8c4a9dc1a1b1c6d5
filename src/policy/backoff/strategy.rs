//! [`BackoffConfig`] (the enum as written in a file), [`Backoff`] (validated, one per
//! client) and [`BackoffState`] (per call); the enum dispatches to the strategy files.
//! Also the float-to-duration helpers every strategy shares.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{
    DecorrelatedJitterConfig, DecorrelatedJitterV2Config, ExponentialConfig, FixedConfig,
    GrpcBackoffConfig, JitterConfig, LinearConfig, PollyBackoffConfig, RandomizedExponentialConfig,
};
use crate::policy::ConfigError;
use crate::time::SimDuration;

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
    /// "Full Jitter": `U(0, E(n))`; by default exactly aws-sdk-java-v2's standard
    /// strategy (see [`JitterConfig`]).
    FullJitter(JitterConfig),
    /// "Equal Jitter": `E(n)/2 + U(0, E(n)/2)`; by default exactly aws-sdk-java-v2's
    /// `ExponentialDelayWithHalfJitter`.
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
    pub(super) retries: u32,
    pub(super) prev: u64,
    pub(super) polly: f64,
}

impl BackoffState {
    /// How many delays [`Backoff::next_delay`] has produced for this call.
    pub fn retries(&self) -> u32 {
        self.retries
    }
}

pub(super) fn ensure(ok: bool, field: &str, problem: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(field, problem))
    }
}

pub(super) fn cap_at_least(
    cap: SimDuration,
    base: SimDuration,
    base_name: &str,
) -> Result<(), ConfigError> {
    ensure(
        cap >= base,
        "cap",
        &format!("cap ({cap}) is below {base_name} ({base})"),
    )
}

/// `min(cap, base · mult^exp)` in nanoseconds, rounded once; saturates instead of overflowing.
pub(super) fn capped_exp_ns(base: SimDuration, mult: f64, exp: i32, cap: SimDuration) -> f64 {
    let v = base.as_nanos() as f64 * mult.powi(exp);
    let cap = cap.as_nanos() as f64;
    if v.is_nan() || v >= cap { cap } else { v }
}

/// Nanoseconds (float) to a duration, truncating (keeps `U·x` strictly below `x`).
pub(super) fn trunc_ns(v: f64) -> SimDuration {
    if v.is_nan() || v <= 0.0 {
        SimDuration::ZERO
    } else if v >= u64::MAX as f64 {
        SimDuration::MAX
    } else {
        SimDuration::from_nanos(v as u64)
    }
}

/// Nanoseconds (float) to a duration, rounding once.
pub(super) fn round_ns(v: f64) -> SimDuration {
    trunc_ns(v.round())
}

impl Backoff {
    /// Validates `config`. Errors name the offending field (`cap`, `multiplier`, …),
    /// relative to the strategy's own table.
    pub fn new(config: BackoffConfig) -> Result<Backoff, ConfigError> {
        match &config {
            BackoffConfig::None | BackoffConfig::Immediate | BackoffConfig::Fixed(_) => {}
            BackoffConfig::Linear(c) => c.validate()?,
            BackoffConfig::Exponential(c) => c.validate()?,
            BackoffConfig::FullJitter(c) | BackoffConfig::EqualJitter(c) => c.validate()?,
            BackoffConfig::DecorrelatedJitter(c) => c.validate()?,
            BackoffConfig::DecorrelatedJitterV2(_) => {}
            BackoffConfig::RandomizedExponential(c) => c.validate()?,
            BackoffConfig::Polly(c) => c.validate()?,
            BackoffConfig::Grpc(c) => c.validate()?,
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
            BackoffConfig::Polly(c) => c.max_delay(),
            BackoffConfig::Grpc(c) => c.max_delay(),
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
            BackoffConfig::Linear(c) => c.delay(n),
            BackoffConfig::Exponential(c) => c.delay(exp),
            BackoffConfig::FullJitter(c) => c.full(n, rng),
            BackoffConfig::EqualJitter(c) => c.equal(n, rng),
            BackoffConfig::DecorrelatedJitter(c) => c.delay(n, &mut state.prev, rng),
            BackoffConfig::DecorrelatedJitterV2(c) => c.delay(n - 1, &mut state.polly, rng),
            BackoffConfig::RandomizedExponential(c) => c.delay(n, &mut state.prev, rng),
            BackoffConfig::Polly(c) => super::polly::polly_delay(c, n - 1, &mut state.polly, rng),
            BackoffConfig::Grpc(c) => c.delay(exp, rng),
        }
    }
}
