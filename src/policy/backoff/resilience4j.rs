//! Resilience4j's `IntervalFunction.ofExponentialRandomBackoff` (semantics §2.3), in whole
//! milliseconds with Java's truncating casts and its `+1` randomizer quirk. One `U[0,1)`
//! draw per delay.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::strategy::{cap_at_least, ensure};
use crate::policy::ConfigError;
use crate::time::SimDuration;

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

impl RandomizedExponentialConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            self.initial.as_millis() >= 1,
            "initial",
            "must be at least 1ms",
        )?;
        ensure(
            self.multiplier >= 1.0 && self.multiplier.is_finite(),
            "multiplier",
            "must be a finite number ≥ 1",
        )?;
        ensure(
            (0.0..=1.0).contains(&self.randomization_factor),
            "randomization_factor",
            "must be between 0 and 1",
        )?;
        if let Some(cap) = self.cap {
            cap_at_least(cap, self.initial, "initial")?;
        }
        Ok(())
    }

    /// Retry `n` (1-based); `prev` is the previous un-jittered interval in ms, updated.
    pub(super) fn delay<R: Rng + ?Sized>(
        &self,
        n: u32,
        prev: &mut u64,
        rng: &mut R,
    ) -> SimDuration {
        let interval = if n == 1 {
            self.initial.as_millis()
        } else {
            (*prev as f64 * self.multiplier) as u64 // Java (long) cast: truncates
        };
        *prev = interval;
        let f = self.randomization_factor;
        let cur = interval as f64;
        let r = (cur * (1.0 - f) + rng.random::<f64>() * (2.0 * f * cur + 1.0)).max(1.0);
        let d = SimDuration::from_millis(r as u64);
        self.cap
            .map_or(d, |cap| d.min(SimDuration::from_millis(cap.as_millis())))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::time::short::{ms, secs};

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
}
