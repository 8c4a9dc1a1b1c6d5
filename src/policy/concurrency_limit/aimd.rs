//! Netflix `AIMDLimit` (semantics §8.2): loss-based additive increase, multiplicative
//! decrease. It reacts only to drops and timeouts, never to latency.

use serde::{Deserialize, Serialize};

use super::{WindowSetting, check_limits, twenty, two_hundred};
use crate::policy::ConfigError;
use crate::time::SimDuration;

/// Config of an [`AimdLimit`]; in TOML
/// `{ aimd = { initial_limit = 20, min_limit = 20, max_limit = 200, backoff_ratio = 0.9, timeout = "5s", window = false } }`
/// (these are the defaults: AIMD reacts to every drop, so by default it sees every call).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AimdConfig {
    /// Starting limit, default 20; at least 1.
    #[serde(default = "twenty")]
    pub initial_limit: u32,
    /// Floor, default 20 (so by default the limit never drops below its start).
    #[serde(default = "twenty")]
    pub min_limit: u32,
    /// Ceiling, default 200; at least `min_limit`.
    #[serde(default = "two_hundred")]
    pub max_limit: u32,
    /// Multiplicative decrease on a drop, default 0.9; in [0.5, 1).
    #[serde(default = "default_backoff_ratio")]
    pub backoff_ratio: f64,
    /// An RTT strictly above this counts as a drop, default `"5s"`; more than zero.
    #[serde(default = "default_aimd_timeout")]
    pub timeout: SimDuration,
    /// Sample through a `WindowedLimit`: default `false` (every call is a sample);
    /// `true` or a table for [`WindowConfig`](super::WindowConfig).
    #[serde(default = "per_sample")]
    pub window: WindowSetting,
}

fn per_sample() -> WindowSetting {
    WindowSetting::PerSample
}

fn default_backoff_ratio() -> f64 {
    0.9
}
fn default_aimd_timeout() -> SimDuration {
    SimDuration::from_secs(5)
}

impl Default for AimdConfig {
    fn default() -> Self {
        AimdConfig {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            backoff_ratio: default_backoff_ratio(),
            timeout: default_aimd_timeout(),
            window: per_sample(),
        }
    }
}

/// Loss-based additive-increase / multiplicative-decrease (`AIMDLimit`, §8.2):
///
/// ```text
/// if did_drop or rtt > timeout:  L = trunc(L · backoff_ratio)
/// elif inflight · 2 >= L:        L = L + 1
/// L = clamp(L, min_limit, max_limit)
/// ```
///
/// ```
/// use cascade::policy::concurrency_limit::{AimdConfig, AimdLimit};
/// use cascade::time::short::ms;
///
/// let mut l = AimdLimit::new(AimdConfig { min_limit: 1, ..Default::default() }).unwrap();
/// assert_eq!(l.on_sample(ms(10), 10, false), 21); // half the limit in use: +1
/// assert_eq!(l.on_sample(ms(10), 5, false), 21);  // app-limited: unchanged
/// assert_eq!(l.on_sample(ms(10), 21, true), 18);  // drop: trunc(21 × 0.9)
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AimdLimit {
    limit: u32,
    min: u32,
    max: u32,
    ratio: f64,
    timeout: SimDuration,
}

impl AimdLimit {
    /// Validates the config (`backoff_ratio` in [0.5, 1), `timeout > 0`,
    /// `initial_limit ≥ 1`, `max_limit ≥ min_limit`).
    pub fn new(c: AimdConfig) -> Result<Self, ConfigError> {
        if !(c.backoff_ratio >= 0.5 && c.backoff_ratio < 1.0) {
            return Err(ConfigError::new(
                "backoff_ratio",
                format!("must be in [0.5, 1), got {}", c.backoff_ratio),
            ));
        }
        if c.timeout.is_zero() {
            return Err(ConfigError::new("timeout", "must be more than 0s"));
        }
        check_limits(c.initial_limit, c.min_limit, c.max_limit, "max_limit")?;
        Ok(AimdLimit {
            limit: c.initial_limit,
            min: c.min_limit,
            max: c.max_limit,
            ratio: c.backoff_ratio,
            timeout: c.timeout,
        })
    }

    /// One completed call: its RTT, the in-flight count when it was admitted (itself
    /// included) and whether it was dropped. Returns the new limit.
    pub fn on_sample(&mut self, rtt: SimDuration, inflight: u32, did_drop: bool) -> u32 {
        let mut l = self.limit;
        if did_drop || rtt > self.timeout {
            l = (l as f64 * self.ratio) as u32;
        } else if inflight as u64 * 2 >= l as u64 {
            l = l.saturating_add(1);
        }
        self.limit = l.clamp(self.min, self.max);
        self.limit
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::{ms, secs};

    fn aimd(initial: u32, min: u32, max: u32) -> AimdLimit {
        AimdLimit::new(AimdConfig {
            initial_limit: initial,
            min_limit: min,
            max_limit: max,
            ..Default::default()
        })
        .unwrap()
    }

    mod aimd_limit {
        use super::*;

        #[test]
        fn backs_off_on_a_drop_by_truncating_l_times_the_ratio() {
            let mut l = aimd(100, 1, 200);
            assert_eq!(l.on_sample(ms(10), 100, true), 90);
            assert_eq!(l.on_sample(ms(10), 90, true), 81);
            assert_eq!(l.on_sample(ms(10), 81, true), 72, "trunc(72.9)");
        }

        #[test]
        fn an_rtt_strictly_above_the_timeout_counts_as_a_drop() {
            let mut l = aimd(100, 1, 200);
            assert_eq!(l.on_sample(secs(5), 100, false), 101, "= timeout is fine");
            assert_eq!(l.on_sample(secs(5) + ms(1), 100, false), 90);
        }

        #[test]
        fn grows_by_one_per_sample_while_half_used() {
            let mut l = aimd(20, 20, 200);
            assert_eq!(l.on_sample(ms(10), 10, false), 21, "10·2 ≥ 20");
            assert_eq!(l.on_sample(ms(10), 10, false), 21, "10·2 < 21: app-limited");
            assert_eq!(l.on_sample(ms(10), 11, false), 22);
        }

        #[test]
        fn clamps_to_min_and_max() {
            let mut l = aimd(20, 20, 21);
            assert_eq!(
                l.on_sample(ms(10), 20, true),
                20,
                "default floor: never below 20"
            );
            l.on_sample(ms(10), 20, false);
            assert_eq!(l.on_sample(ms(10), 21, false), 21);
            let mut l = aimd(1, 1, 10);
            assert_eq!(
                l.on_sample(ms(10), 1, true),
                1,
                "trunc(0.9) = 0 clamps up to 1"
            );
        }

        #[test]
        fn validates_the_backoff_ratio_and_limits() {
            let bad = |c: AimdConfig| AimdLimit::new(c).unwrap_err().field;
            let d = AimdConfig::default();
            assert_eq!(
                bad(AimdConfig {
                    backoff_ratio: 0.49,
                    ..d
                }),
                "backoff_ratio"
            );
            assert_eq!(
                bad(AimdConfig {
                    backoff_ratio: 1.0,
                    ..d
                }),
                "backoff_ratio"
            );
            assert!(
                AimdLimit::new(AimdConfig {
                    backoff_ratio: 0.5,
                    ..d
                })
                .is_ok()
            );
            assert_eq!(
                bad(AimdConfig {
                    timeout: SimDuration::ZERO,
                    ..d
                }),
                "timeout"
            );
            assert_eq!(bad(AimdConfig { max_limit: 10, ..d }), "max_limit");
            assert_eq!(
                bad(AimdConfig {
                    initial_limit: 0,
                    ..d
                }),
                "initial_limit"
            );
        }
    }
}
