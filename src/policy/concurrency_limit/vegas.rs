//! Netflix `VegasLimit` (semantics §8.3): TCP-Vegas-style, delay-based. It estimates the
//! queue at the callee from how far an RTT sample lies above the smallest one seen.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{WindowSetting, twenty, windowed};
use crate::policy::ConfigError;
use crate::time::SimDuration;

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
    /// Sample through a `WindowedLimit`: default on with the library's window settings
    /// ([`WindowConfig`](super::WindowConfig)); `false` feeds every call to the algorithm (the library's bare
    /// `SimpleLimiter` default), which misreads service-time variance as queueing.
    #[serde(default = "windowed")]
    pub window: WindowSetting,
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
            window: windowed(),
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

    /// One completed call (see [`AimdLimit::on_sample`](super::AimdLimit::on_sample));
    /// returns the new limit. A zero RTT (which Java rejects with an exception) is ignored.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::ms;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(5)
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
}
