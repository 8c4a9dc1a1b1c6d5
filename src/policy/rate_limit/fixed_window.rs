//! A fixed-window request counter, as express-rate-limit's store and the Redis
//! `INCR` + `EXPIRE` recipe build it: a window opens with the first request after the
//! previous one ended and lasts `window`; **every** request in it is counted — refused
//! ones too — and the ones past `limit` are refused with a `Retry-After` of the seconds
//! left until the window resets (rounded up, as express-rate-limit sends it).
//!
//! Why it matters: because refused requests count, a client that keeps retrying inside
//! the window keeps the counter above the limit, and retries that spill into the next
//! window spend it on requests that fail. A client that waits for the Retry-After finds a
//! fresh window.

use serde::{Deserialize, Serialize};

use crate::policy::ConfigError;
use crate::time::{SimDuration, SimTime};

/// Config of a [`FixedWindow`]; in TOML `fixed_window = { limit = 6000, window = "1m" }`.
/// Defaults are express-rate-limit's: 5 requests per minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FixedWindowConfig {
    /// Requests allowed per window (`limit`, formerly `max`), at least 1.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// The window's length (`windowMs`), at least 1 ms.
    #[serde(default = "default_window")]
    pub window: SimDuration,
}

fn default_limit() -> u32 {
    5
}
fn default_window() -> SimDuration {
    SimDuration::from_secs(60)
}

impl Default for FixedWindowConfig {
    fn default() -> Self {
        FixedWindowConfig {
            limit: default_limit(),
            window: default_window(),
        }
    }
}

/// The counter. `Copy`-sized, no allocation.
///
/// ```
/// use cascade::policy::rate_limit::{FixedWindow, FixedWindowConfig};
/// use cascade::time::short::{secs, t_ms};
///
/// let mut w = FixedWindow::new(FixedWindowConfig { limit: 2, window: secs(10) }).unwrap();
/// assert!(w.try_acquire(t_ms(1_000)));          // opens the window [1 s, 11 s)
/// assert!(w.try_acquire(t_ms(2_000)));
/// assert!(!w.try_acquire(t_ms(3_000)));         // refused, and counted
/// assert_eq!(w.retry_after(t_ms(3_000)), secs(8));
/// assert!(w.try_acquire(t_ms(11_000)));         // a new window
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FixedWindow {
    limit: u32,
    window: SimDuration,
    reset_at: SimTime,
    hits: u64,
}

impl FixedWindow {
    /// Validates `config`.
    pub fn new(config: FixedWindowConfig) -> Result<Self, ConfigError> {
        if config.limit == 0 {
            return Err(ConfigError::new("limit", "must be at least 1"));
        }
        if config.window < SimDuration::from_millis(1) {
            return Err(ConfigError::new("window", "must be at least 1ms"));
        }
        Ok(FixedWindow {
            limit: config.limit,
            window: config.window,
            reset_at: SimTime::ZERO,
            hits: 0,
        })
    }

    /// Counts a request at `now`; true if it is within the limit.
    pub fn try_acquire(&mut self, now: SimTime) -> bool {
        if now >= self.reset_at {
            self.reset_at = now + self.window;
            self.hits = 0;
        }
        self.hits += 1;
        self.hits <= self.limit as u64
    }

    /// The Retry-After a refusal at `now` carries: whole seconds to the reset, rounded up.
    pub fn retry_after(&self, now: SimTime) -> SimDuration {
        let left = self.reset_at.saturating_since(now).as_nanos();
        SimDuration::from_secs(left.div_ceil(1_000_000_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::{ms, t_ms};

    #[test]
    fn refused_requests_count_so_a_steady_retrier_never_gets_through_its_window() {
        let mut w = FixedWindow::new(FixedWindowConfig {
            limit: 3,
            window: ms(1000),
        })
        .unwrap();
        let admitted = (0..100).filter(|i| w.try_acquire(t_ms(i * 10))).count();
        assert_eq!(
            admitted, 3,
            "one window, three admitted, 97 refused and counted"
        );
        // The next window opens with the next request after the reset, not on a grid.
        assert!(w.try_acquire(t_ms(1500)));
        assert_eq!(w.retry_after(t_ms(1500)), SimDuration::from_secs(1));
        assert_eq!(w.retry_after(t_ms(2499)), SimDuration::from_secs(1));
    }

    #[test]
    fn nonsense_is_refused_with_the_field_name() {
        let e = FixedWindow::new(FixedWindowConfig {
            limit: 0,
            window: ms(1),
        })
        .unwrap_err();
        assert!(e.to_string().contains("limit"));
        let e = FixedWindow::new(FixedWindowConfig {
            limit: 1,
            window: SimDuration::ZERO,
        })
        .unwrap_err();
        assert!(e.to_string().contains("window"));
    }
}
