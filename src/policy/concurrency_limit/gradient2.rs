//! Netflix `Gradient2Limit` (semantics §8.4): compares the latest RTT sample with a long
//! exponential average and scales the limit by their ratio.

use serde::{Deserialize, Serialize};

use super::{WindowSetting, check_limits, twenty, two_hundred, windowed};
use crate::policy::ConfigError;
use crate::time::SimDuration;

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
    /// Sample through a `WindowedLimit`: default on with the library's window settings
    /// ([`WindowConfig`](super::WindowConfig)); `false` feeds every call to the algorithm.
    #[serde(default = "windowed")]
    pub window: WindowSetting,
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
            window: windowed(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::ms;

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
}
