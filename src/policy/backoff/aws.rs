//! The AWS Architecture Blog's jittered backoffs (semantics §5.1): [`JitterConfig`] for
//! full and equal jitter, [`DecorrelatedJitterConfig`] for decorrelated jitter. One
//! `U[0,1)` draw per delay.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::strategy::{cap_at_least, capped_exp_ns, ensure, trunc_ns};
use crate::policy::ConfigError;
use crate::time::SimDuration;

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

impl JitterConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        cap_at_least(self.cap, self.base, "base")?;
        ensure(
            self.exponent_offset >= -1,
            "exponent_offset",
            "must be ≥ -1 (the first retry's exponent would be negative)",
        )
    }

    /// `E(n)` in nanoseconds (float), rounded once.
    fn ceiling(&self, exp: i32) -> f64 {
        capped_exp_ns(
            self.base,
            2.0,
            exp.saturating_add(self.exponent_offset),
            self.cap,
        )
        .round()
    }

    /// Full jitter before retry `exp` (1-based): `U(0, E(n))`.
    pub(super) fn full<R: Rng + ?Sized>(&self, exp: i32, rng: &mut R) -> SimDuration {
        trunc_ns(rng.random::<f64>() * self.ceiling(exp))
    }

    /// Equal jitter before retry `exp` (1-based): `E(n)/2 + U(0, E(n)/2)`.
    pub(super) fn equal<R: Rng + ?Sized>(&self, exp: i32, rng: &mut R) -> SimDuration {
        let half = self.ceiling(exp) / 2.0;
        trunc_ns(half + rng.random::<f64>() * half)
    }
}

impl DecorrelatedJitterConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            !self.base.is_zero(),
            "base",
            "must be positive (a zero base keeps decorrelated jitter at zero forever)",
        )?;
        cap_at_least(self.cap, self.base, "base")
    }

    /// Retry `n` (1-based); `prev` is the previous delay in ns, updated.
    pub(super) fn delay<R: Rng + ?Sized>(
        &self,
        n: u32,
        prev: &mut u64,
        rng: &mut R,
    ) -> SimDuration {
        let last = if n == 1 { self.base.as_nanos() } else { *prev };
        let lo = self.base.as_nanos() as f64;
        let hi = last as f64 * 3.0;
        let d = trunc_ns(lo + rng.random::<f64>() * (hi - lo)).min(self.cap);
        *prev = d.as_nanos();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::time::short::{ms, secs};

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
}
