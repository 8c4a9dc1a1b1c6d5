//! gRPC A6 retry backoff (semantics §6.1), in its two published revisions
//! ([`GrpcFlavor`]). One `U[0,1)` draw per delay.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::strategy::{capped_exp_ns, ensure, round_ns, trunc_ns};
use crate::policy::ConfigError;
use crate::time::SimDuration;

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
/// defaults here are the A6 example values: 100 ms, 1 s, 2.0, the 2024 flavor. A retry
/// with this backoff is a gRPC `retryPolicy`: its `max_attempts` is clamped to 5.
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

impl GrpcBackoffConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            !self.initial_backoff.is_zero(),
            "initial_backoff",
            "must be > 0",
        )?;
        ensure(
            self.max_backoff >= self.initial_backoff,
            "max_backoff",
            &format!(
                "max_backoff ({}) is below initial_backoff ({})",
                self.max_backoff, self.initial_backoff
            ),
        )?;
        ensure(
            self.backoff_multiplier > 0.0 && self.backoff_multiplier.is_finite(),
            "backoff_multiplier",
            "must be a finite number > 0",
        )
    }

    pub(super) fn max_delay(&self) -> SimDuration {
        match self.flavor {
            GrpcFlavor::Jitter20pct => self.max_backoff.mul_f64(1.2),
            GrpcFlavor::FullJitter => self.max_backoff,
        }
    }

    /// Retry `exp` (1-based).
    pub(super) fn delay<R: Rng + ?Sized>(&self, exp: i32, rng: &mut R) -> SimDuration {
        let b = capped_exp_ns(
            self.initial_backoff,
            self.backoff_multiplier,
            exp - 1,
            self.max_backoff,
        );
        match self.flavor {
            GrpcFlavor::Jitter20pct => round_ns(b * (0.8 + 0.4 * rng.random::<f64>())),
            GrpcFlavor::FullJitter => trunc_ns(rng.random::<f64>() * b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::time::short::{ms, secs};

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
}
