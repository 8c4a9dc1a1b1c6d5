//! The deterministic shapes: [`FixedConfig`] (Resilience4j `IntervalFunction.of` for whole
//! milliseconds), [`LinearConfig`] and [`ExponentialConfig`] (generic formulas in
//! nanoseconds, no library's rounding: Resilience4j's `ofExponentialBackoff` truncates to
//! whole ms at every step, so it agrees only while every step is a whole number of ms).
//! No jitter, so no RNG draw: every client that failed together retries together.

use serde::{Deserialize, Serialize};

use super::strategy::{cap_at_least, capped_exp_ns, ensure, round_ns};
use crate::policy::ConfigError;
use crate::time::SimDuration;

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

impl LinearConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        cap_at_least(self.cap, self.base, "base")
    }

    /// Retry `n` (1-based).
    pub(super) fn delay(&self, n: u32) -> SimDuration {
        let step = self.step.unwrap_or(self.base);
        let extra = step.as_nanos().saturating_mul(u64::from(n - 1));
        (self.base + SimDuration::from_nanos(extra)).min(self.cap)
    }
}

impl ExponentialConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            self.multiplier >= 1.0 && self.multiplier.is_finite(),
            "multiplier",
            "must be a finite number ≥ 1",
        )?;
        cap_at_least(self.cap, self.base, "base")
    }

    /// Retry `n` (1-based, as `exp = n`).
    pub(super) fn delay(&self, exp: i32) -> SimDuration {
        round_ns(capped_exp_ns(self.base, self.multiplier, exp - 1, self.cap))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::time::short::{ms, secs};
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
}
