//! Polly v8's retry delays (semantics §4.1): [`PollyBackoffConfig`] (`RetryStrategyOptions`:
//! constant, linear, exponential, with or without jitter) and its decorrelated jitter V2
//! ([`DecorrelatedJitterV2Config`], Polevoy/Reisenberger), truncated to whole .NET ticks.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::strategy::{ensure, round_ns, trunc_ns};
use crate::policy::ConfigError;
use crate::time::SimDuration;

const NS_PER_TICK: u64 = 100; // a .NET TimeSpan tick

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

impl PollyBackoffConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let day = SimDuration::from_secs(86_400);
        ensure(
            self.delay <= day,
            "delay",
            "must be at most 1 day (Polly's limit)",
        )?;
        if let Some(max) = self.max_delay {
            ensure(
                max <= day,
                "max_delay",
                "must be at most 1 day (Polly's limit)",
            )?;
        }
        Ok(())
    }

    pub(super) fn max_delay(&self) -> SimDuration {
        let uncapped = match (self.backoff_type, self.use_jitter) {
            _ if self.delay.is_zero() => SimDuration::ZERO,
            (PollyBackoffType::Constant, false) => self.delay,
            (PollyBackoffType::Constant, true) => self.delay.mul_f64(1.25),
            _ => SimDuration::MAX,
        };
        self.max_delay.map_or(uncapped, |m| m.min(uncapped))
    }
}

impl DecorrelatedJitterV2Config {
    /// Retry `a` (0-based); `state` is V2's previous point, updated.
    pub(super) fn delay<R: Rng + ?Sized>(
        &self,
        a: u32,
        state: &mut f64,
        rng: &mut R,
    ) -> SimDuration {
        let d = polly_v2(a, self.median_first, state, rng);
        self.cap.map_or(d, |cap| d.min(cap))
    }
}

/// Polly v8 `GetRetryDelay` for 0-based retry `a`, including the `MaxDelay` cap.
pub(super) fn polly_delay<R: Rng + ?Sized>(
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
    use super::super::tests::*;
    use super::*;
    use crate::time::short::{ms, secs};

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
}
