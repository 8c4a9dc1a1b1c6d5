//! Exponential backoff with jitter as AWS ships it: [`JitterConfig`] for full and equal
//! jitter (by default exactly aws-sdk-java-v2's standard retry strategy; the AWS blog's
//! and botocore's float formula as `flavor = "continuous"`), and
//! [`DecorrelatedJitterConfig`] for the blog's decorrelated jitter (semantics §5.1, §5.2).
//! One `U[0,1)` draw per delay.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::strategy::{cap_at_least, capped_exp_ns, ensure, trunc_ns};
use crate::policy::ConfigError;
use crate::time::SimDuration;

/// How [`JitterConfig`] turns `E(n)` into a delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JitterFlavor {
    /// aws-sdk-java-v2 (`software.amazon.awssdk.retries`, the standard strategy's
    /// `ExponentialDelayWithJitter` and `ExponentialDelayWithHalfJitter`): whole
    /// milliseconds throughout. `E = min(cap_ms, trunc_ms(base · 2^k))` with the exponent `k`
    /// frozen after the SDK's 30-attempt ceiling; full jitter is `nextInt(E)`, a whole
    /// number of ms in `[0, E)`; equal ("half") jitter is `E/2 + nextInt(E/2 + 1)` with
    /// integer halves, so it may reach `E` itself. Drawn here as `floor(U · bound)`.
    #[default]
    AwsJavaV2,
    /// Real-valued, as the AWS blog's `backoff_simulator.py` (`random.uniform(0, E)`) and
    /// botocore's standard mode (`random() · min(2^(i−1), 20)` s, i.e. base 1 s) compute:
    /// full jitter `U · E`, equal jitter `E/2 + U · E/2`, truncated to the nanosecond.
    Continuous,
}

/// `{ full_jitter = { base = "100ms", cap = "20s" } }` (also `equal_jitter`): the capped
/// exponential `E(n) = min(cap, base · 2^(n + exponent_offset))` for retry `n` (1-based),
/// jittered per [`JitterFlavor`].
///
/// **The defaults reproduce aws-sdk-java-v2's standard retry strategy exactly**
/// (`DefaultRetryStrategy`: `BASE_DELAY = 100 ms`, `MAX_BACKOFF = 20 s`, exponent
/// `attempt − 2` = `n − 1`): base 100 ms, cap 20 s, exponent_offset −1, flavor
/// `aws_java_v2`, so retry 1 waits a whole number of ms drawn from `[0, 100 ms)`, retry 2
/// from `[0, 200 ms)`, … For botocore's standard mode write `base = "1s", flavor =
/// "continuous"` (retry 1 draws from `U(0, 1 s)`, retry `i` from `U(0, 1 s)·2^(i−1)`); for
/// the AWS blog's own code `exponent_offset = 0, flavor = "continuous"` (retry 1 draws from
/// `[0, 2·base)`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JitterConfig {
    /// Scale of the exponential. Default 100 ms (aws-sdk-java-v2 `BASE_DELAY`); at least
    /// 1 ms with the `aws_java_v2` flavor (it works in whole milliseconds).
    pub base: SimDuration,
    /// Largest `E(n)`. Default 20 s (the AWS SDKs' max backoff). Must be ≥ `base`.
    pub cap: SimDuration,
    /// Added to the retry number in the exponent. Default −1: retry 1 draws up to `base`
    /// (aws-sdk-java-v2's `attempt − 2`, botocore's `i − 1`). The AWS blog's code uses 0
    /// (retry 1 draws up to `2·base`). Must be ≥ −1.
    pub exponent_offset: i32,
    /// Whole-millisecond SDK arithmetic (`aws_java_v2`, the default) or real-valued
    /// (`continuous`).
    pub flavor: JitterFlavor,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            base: SimDuration::from_millis(100),
            cap: SimDuration::from_secs(20),
            exponent_offset: -1,
            flavor: JitterFlavor::AwsJavaV2,
        }
    }
}

/// aws-sdk-java-v2's `RETRIES_ATTEMPTED_CEILING`: `floor(log2(Integer.MAX_VALUE))`.
const JAVA_ATTEMPTS_CEILING: i32 = 30;

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
        )?;
        ensure(
            self.flavor != JitterFlavor::AwsJavaV2 || self.base >= SimDuration::from_millis(1),
            "base",
            "must be at least 1ms with flavor \"aws_java_v2\" (the SDK works in whole milliseconds); use flavor = \"continuous\" for a finer base",
        )
    }

    /// `E(n)` in whole milliseconds, as aws-sdk-java-v2's `calculateExponentialDelay`:
    /// `(int) min(baseDelay.multipliedBy(1L << k).toMillis(), maxBackoff.toMillis())`, with
    /// the attempt number (`n + 1`) capped at the SDK's ceiling before `k` is taken.
    fn ceiling_ms(&self, n: u32) -> u64 {
        let attempt = i32::try_from(n).unwrap_or(i32::MAX).saturating_add(1);
        let k = attempt.min(JAVA_ATTEMPTS_CEILING) - 2 + (self.exponent_offset + 1);
        let grown = (self.base.as_nanos() as u128) << k.clamp(0, 64);
        let grown_ms = u64::try_from(grown / 1_000_000).unwrap_or(u64::MAX);
        grown_ms.min(self.cap.as_millis())
    }

    /// `E(n)` in nanoseconds (float), rounded once.
    fn ceiling_ns(&self, n: u32) -> f64 {
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        capped_exp_ns(
            self.base,
            2.0,
            exp.saturating_add(self.exponent_offset),
            self.cap,
        )
        .round()
    }

    /// Full jitter before retry `n` (1-based): `U(0, E(n))`.
    pub(super) fn full<R: Rng + ?Sized>(&self, n: u32, rng: &mut R) -> SimDuration {
        match self.flavor {
            JitterFlavor::AwsJavaV2 => {
                // Java: nextInt(E), a whole number of ms in [0, E).
                let e = self.ceiling_ms(n);
                SimDuration::from_millis(next_int(e, rng))
            }
            JitterFlavor::Continuous => trunc_ns(rng.random::<f64>() * self.ceiling_ns(n)),
        }
    }

    /// Equal jitter before retry `n` (1-based): `E(n)/2 + U(0, E(n)/2)`.
    pub(super) fn equal<R: Rng + ?Sized>(&self, n: u32, rng: &mut R) -> SimDuration {
        match self.flavor {
            JitterFlavor::AwsJavaV2 => {
                // Java: (E / 2) + nextInt((E / 2) + 1), integer halves.
                let half = self.ceiling_ms(n) / 2;
                SimDuration::from_millis(half + next_int(half + 1, rng))
            }
            JitterFlavor::Continuous => {
                let half = self.ceiling_ns(n) / 2.0;
                trunc_ns(half + rng.random::<f64>() * half)
            }
        }
    }
}

/// Java's `Random.nextInt(bound)` as a distribution: a whole number in `[0, bound)`, from
/// one `U[0,1)` draw (`floor(U · bound)`). A zero bound (which Java rejects) gives 0; the
/// draw is taken anyway so every delay consumes exactly one.
fn next_int<R: Rng + ?Sized>(bound: u64, rng: &mut R) -> u64 {
    let u = rng.random::<f64>();
    ((u * bound as f64) as u64).min(bound.saturating_sub(1))
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
            // Java's half jitter draws `nextInt(E/2 + 1)`, so it may reach E itself; the
            // continuous formula stays strictly below.
            for (flavor, may_reach_e) in [
                (JitterFlavor::AwsJavaV2, true),
                (JitterFlavor::Continuous, false),
            ] {
                let b = build(BackoffConfig::EqualJitter(JitterConfig {
                    flavor,
                    ..jitter(ms(100), secs(20), 0)
                }));
                for seed in 0..200 {
                    for (i, d) in seq(&b, 10, seed).into_iter().enumerate() {
                        let hi = e(ms(100), secs(20), i as u32 + 1, 0);
                        let below = if may_reach_e { d <= hi } else { d < hi };
                        assert!(
                            d >= SimDuration::from_nanos(hi.as_nanos() / 2) && below,
                            "{flavor:?}: {d} vs {hi}"
                        );
                    }
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

    /// The `U[0,1)` draws a seeded RNG hands out, in order: what the policy will see.
    fn draws(seed: u64, k: usize) -> Vec<f64> {
        use rand::Rng;
        let mut r = rng(seed);
        (0..k).map(|_| r.random::<f64>()).collect()
    }

    /// An RNG whose every `U[0,1)` draw is the largest below 1.
    struct AlmostOne;
    impl rand::RngCore for AlmostOne {
        fn next_u32(&mut self) -> u32 {
            u32::MAX
        }
        fn next_u64(&mut self) -> u64 {
            u64::MAX
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.fill(0xff);
        }
    }

    mod aws_java_v2 {
        use super::*;

        /// aws-sdk-java-v2 standard strategy: `E = min(20 000, 100 · 2^(attempt − 2))` ms.
        const E_MS: [u64; 10] = [100, 200, 400, 800, 1600, 3200, 6400, 12800, 20000, 20000];

        #[test]
        fn full_jitter_defaults_are_the_sdk_standard_strategy_draw_by_draw() {
            let b = build(BackoffConfig::FullJitter(JitterConfig::default()));
            let got = seq(&b, 10, 11);
            for (i, (u, e)) in draws(11, 10).into_iter().zip(E_MS).enumerate() {
                // nextInt(E): floor(U · E) whole milliseconds.
                let want = ms((u * e as f64) as u64);
                assert_eq!(got[i], want, "retry {}: U = {u}, E = {e} ms", i + 1);
            }
        }

        #[test]
        fn equal_jitter_defaults_are_the_sdk_half_jitter_draw_by_draw() {
            let b = build(BackoffConfig::EqualJitter(JitterConfig::default()));
            let got = seq(&b, 10, 12);
            for (i, (u, e)) in draws(12, 10).into_iter().zip(E_MS).enumerate() {
                // (E / 2) + nextInt((E / 2) + 1), integer halves.
                let want = ms(e / 2 + (u * (e / 2 + 1) as f64) as u64);
                assert_eq!(got[i], want, "retry {}: U = {u}, E = {e} ms", i + 1);
            }
        }

        #[test]
        fn retry_one_draws_whole_milliseconds_below_base() {
            let b = build(BackoffConfig::FullJitter(JitterConfig::default()));
            let firsts: Vec<SimDuration> = (0..2000).map(|s| seq(&b, 1, s)[0]).collect();
            assert!(firsts.iter().all(|d| d.as_nanos() % 1_000_000 == 0));
            assert_eq!(
                firsts.iter().max(),
                Some(&ms(99)),
                "nextInt(100) tops out at 99"
            );
            assert!(firsts.contains(&SimDuration::ZERO));
        }

        #[test]
        fn half_jitter_reaches_the_ceiling_and_full_jitter_does_not() {
            let full = build(BackoffConfig::FullJitter(JitterConfig::default()));
            let equal = build(BackoffConfig::EqualJitter(JitterConfig::default()));
            let (mut s, mut t) = (BackoffState::default(), BackoffState::default());
            assert_eq!(full.next_delay(&mut s, &mut AlmostOne), ms(99));
            assert_eq!(equal.next_delay(&mut t, &mut AlmostOne), ms(100));
            // An odd ceiling halves down: E = 3 ms gives 1 + nextInt(2), at most 2 ms.
            let odd = build(BackoffConfig::EqualJitter(jitter(ms(3), secs(1), -1)));
            let mut o = BackoffState::default();
            assert_eq!(odd.next_delay(&mut o, &mut AlmostOne), ms(2));
        }

        #[test]
        fn sub_millisecond_ceilings_truncate_like_to_millis() {
            // base 1.5 ms: E(1) = toMillis(1.5 ms) = 1, E(2) = toMillis(3 ms) = 3.
            let b = build(BackoffConfig::FullJitter(jitter(
                crate::time::short::us(1500),
                secs(1),
                -1,
            )));
            let mut s = BackoffState::default();
            assert_eq!(b.next_delay(&mut s, &mut AlmostOne), ms(0));
            assert_eq!(b.next_delay(&mut s, &mut AlmostOne), ms(2));
        }

        #[test]
        fn a_base_below_one_millisecond_needs_the_continuous_flavor() {
            let sub_ms = |flavor| {
                Backoff::new(BackoffConfig::FullJitter(JitterConfig {
                    base: crate::time::short::us(500),
                    flavor,
                    ..Default::default()
                }))
            };
            assert_eq!(sub_ms(JitterFlavor::AwsJavaV2).unwrap_err().field, "base");
            assert!(sub_ms(JitterFlavor::Continuous).is_ok());
        }
    }

    mod continuous {
        use super::*;

        #[test]
        fn botocore_standard_mode_is_base_one_second_draw_by_draw() {
            // botocore: random() * min(2 ** (attempt_number - 1), 20) seconds.
            let b = build(BackoffConfig::FullJitter(JitterConfig {
                base: secs(1),
                flavor: JitterFlavor::Continuous,
                ..Default::default()
            }));
            let got = seq(&b, 8, 13);
            for (i, u) in draws(13, 8).into_iter().enumerate() {
                let e_secs = 2f64.powi(i as i32).min(20.0);
                let want = SimDuration::from_nanos((u * e_secs * 1e9) as u64);
                assert_eq!(got[i], want, "retry {}", i + 1);
            }
        }

        #[test]
        fn the_blogs_code_starts_at_twice_base() {
            // backoff_simulator.py: random.uniform(0, min(cap, base * 2 ** n)), n from 1.
            let b = build(BackoffConfig::FullJitter(JitterConfig {
                exponent_offset: 0,
                flavor: JitterFlavor::Continuous,
                ..Default::default()
            }));
            let got = seq(&b, 5, 14);
            for (i, u) in draws(14, 5).into_iter().enumerate() {
                let e_ns = 100e6 * 2f64.powi(i as i32 + 1);
                assert_eq!(got[i], SimDuration::from_nanos((u * e_ns) as u64));
            }
        }
    }
}
