//! Rate limiters: the classic continuous [`TokenBucket`] (semantics §3.2),
//! Resilience4j's fixed-window [`LimitForPeriod`] (`AtomicRateLimiter`, §3.1) and a
//! fixed-window request counter ([`FixedWindow`], express-rate-limit), behind one
//! [`RateLimiter`] enum configured by [`RateLimiterConfig`].
//!
//! Why they exist: a rate limiter caps how fast a caller may hit a dependency (client
//! side) or how fast a service accepts work (server side), so a surge — a retry storm, a
//! batch job, a thundering herd after an outage — arrives as a bounded rate instead of a
//! spike that fills every queue.
//!
//! Failure modes worth knowing:
//! - a limit is a *rate*, not a concurrency: when the callee slows down, the same rate
//!   means more calls in flight, so a rate limiter alone does not stop a slow-down cascade;
//! - the two designs differ in bursts: a token bucket banks up to `burst` unused tokens,
//!   while Resilience4j refills to `limit_for_period` at each cycle boundary and drops the
//!   rest — but lets up to **2 × limit** through in a short interval straddling a boundary;
//! - waiting callers *reserve* future permits (Resilience4j's negative permits, the token
//!   bucket's debt), so under sustained overload everybody's wait grows until it passes
//!   the timeout; from then on the token bucket rejects at once, while Resilience4j parks
//!   each refused caller for its whole `timeout_duration` before refusing it (so an
//!   overloaded Resilience4j limiter holds every excess caller for the timeout).
//!
//! Both are exact in integer time: the token bucket is kept as a "theoretical arrival
//! time" (GCRA form) in picoseconds, so refilling never accumulates float error; the
//! Resilience4j limiter counts whole cycles of nanoseconds since its creation, as Java does.

mod fixed_window;

use serde::{Deserialize, Serialize};

pub use fixed_window::{FixedWindow, FixedWindowConfig};

use crate::policy::ConfigError;
use crate::time::{SimDuration, SimTime};

/// What a rate limiter decided for one acquisition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// Permits granted: proceed now.
    Now,
    /// Permits reserved: the caller waits and proceeds at this time (it must not ask again).
    At(SimTime),
    /// Token bucket: no permit within the allowed wait; nothing was reserved. The driver
    /// fails the call with `RejectReason::RateLimited` immediately (no waiting first).
    Rejected,
    /// Resilience4j: no permit within `timeout_duration`, so the caller is parked for the
    /// whole timeout and refused at this time (`now + timeout_duration`, `now` itself when
    /// the timeout is zero); nothing was reserved, so the caller holds no permit while it
    /// waits and later callers are unaffected. The driver fails the call with
    /// `RejectReason::RateLimited` at that time and must not ask again for it.
    RefusedAt(SimTime),
}

const PS_PER_NS: u128 = 1_000;
const PS_PER_S: f64 = 1e12;

/// Config of a [`TokenBucket`]; in TOML
/// `token_bucket = { rate = 100.0, burst = 50, max_wait = "0s" }`.
///
/// Defaults: `rate = 100.0` tokens per second, `burst = 50`, `max_wait = "0s"` (never
/// wait). A token bucket has no canonical library defaults; these mirror Resilience4j's
/// 50 permits per period.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBucketConfig {
    /// Refill rate in tokens per second; positive, at most 10¹² (one per picosecond).
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Capacity: the most tokens that can be banked, hence the largest burst; at least 1.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Longest a caller may wait for a token, default `"0s"` (reject at once).
    #[serde(default)]
    pub max_wait: SimDuration,
}

fn default_rate() -> f64 {
    100.0
}
fn default_burst() -> u32 {
    50
}

impl Default for TokenBucketConfig {
    fn default() -> Self {
        TokenBucketConfig {
            rate: default_rate(),
            burst: default_burst(),
            max_wait: SimDuration::ZERO,
        }
    }
}

/// A classic continuously refilled token bucket (§3.2), starting full.
///
/// Kept in GCRA form: `tat` is the instant at which the bucket would be full again. One
/// token takes `interval = 1/rate` to refill (rounded once, to the picosecond), and a
/// request for `n` tokens fits when `tat + n·interval − now ≤ burst·interval`. All
/// arithmetic is on integers, so a long run admits exactly `burst + rate × time` requests.
///
/// ```
/// use cascade::policy::rate_limit::{RateDecision, TokenBucket, TokenBucketConfig};
/// use cascade::time::short::{ms, t_ms};
///
/// let mut tb = TokenBucket::new(TokenBucketConfig { rate: 100.0, burst: 2, max_wait: ms(0) }).unwrap();
/// assert!(tb.try_acquire(t_ms(0)));
/// assert!(tb.try_acquire(t_ms(0)));
/// assert!(!tb.try_acquire(t_ms(0)));   // burst spent
/// assert!(tb.try_acquire(t_ms(10)));   // one token back every 10 ms
/// // With waiting allowed, the caller learns when its token will be there.
/// assert_eq!(tb.try_acquire_within(t_ms(10), 1, ms(50)), RateDecision::At(t_ms(20)));
/// ```
#[derive(Clone, Debug)]
pub struct TokenBucket {
    interval_ps: u128,
    burst: u32,
    max_wait: SimDuration,
    tat_ps: u128,
}

impl TokenBucket {
    /// Validates `rate` (positive, finite, at most 10¹²/s) and `burst` (at least 1).
    pub fn new(config: TokenBucketConfig) -> Result<Self, ConfigError> {
        let r = config.rate;
        if !(r > 0.0 && r <= PS_PER_S) {
            return Err(ConfigError::new(
                "rate",
                format!("must be a positive number of tokens per second up to 1e12, got {r}"),
            ));
        }
        if config.burst == 0 {
            return Err(ConfigError::new("burst", "must be at least 1"));
        }
        Ok(TokenBucket {
            interval_ps: ((PS_PER_S / r).round() as u128).max(1),
            burst: config.burst,
            max_wait: config.max_wait,
            tat_ps: 0,
        })
    }

    /// Takes one token at `now` if there is one (non-blocking).
    pub fn try_acquire(&mut self, now: SimTime) -> bool {
        self.try_acquire_within(now, 1, SimDuration::ZERO) == RateDecision::Now
    }

    /// Takes `permits` tokens at `now` using the configured `max_wait`.
    pub fn try_acquire_n(&mut self, now: SimTime, permits: u32) -> RateDecision {
        self.try_acquire_within(now, permits, self.max_wait)
    }

    /// Takes `permits` tokens, waiting at most `max_wait`: [`RateDecision::At`] reserves
    /// them (the bucket goes into debt, so later callers wait behind this one).
    pub fn try_acquire_within(
        &mut self,
        now: SimTime,
        permits: u32,
        max_wait: SimDuration,
    ) -> RateDecision {
        let now_ps = now.as_nanos() as u128 * PS_PER_NS;
        let cost = permits as u128 * self.interval_ps;
        let tolerance = self.burst as u128 * self.interval_ps;
        let ready_ps = (self.tat_ps + cost).saturating_sub(tolerance);
        let decision = if ready_ps <= now_ps {
            RateDecision::Now
        } else {
            let wait_ns = (ready_ps - now_ps).div_ceil(PS_PER_NS);
            if wait_ns > max_wait.as_nanos() as u128 {
                return RateDecision::Rejected;
            }
            RateDecision::At(now + SimDuration::from_nanos(wait_ns as u64))
        };
        self.tat_ps = self.tat_ps.max(now_ps) + cost;
        decision
    }

    /// Tokens available at `now` (negative while in debt to waiting callers), for reports.
    pub fn available(&self, now: SimTime) -> f64 {
        let now_ps = now.as_nanos() as u128 * PS_PER_NS;
        let debt = self.tat_ps.saturating_sub(now_ps) as f64 / self.interval_ps as f64;
        self.burst as f64 - debt
    }
}

/// Config of a [`LimitForPeriod`] limiter (Resilience4j `RateLimiterConfig`); in TOML
/// `limit_for_period = { limit_for_period = 50, limit_refresh_period = "500ns", timeout_duration = "5s" }`.
///
/// Defaults are the Java builder's, including its surprising **500 ns** refresh period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitForPeriodConfig {
    /// Permits per cycle (`limitForPeriod`), default 50; at least 1.
    #[serde(default = "default_limit_for_period")]
    pub limit_for_period: u32,
    /// Cycle length (`limitRefreshPeriod`), default `"500ns"`; at least 1 ns.
    #[serde(default = "default_refresh_period")]
    pub limit_refresh_period: SimDuration,
    /// Longest a caller may wait for a permit (`timeoutDuration`), default `"5s"`.
    #[serde(default = "default_timeout_duration")]
    pub timeout_duration: SimDuration,
}

fn default_limit_for_period() -> u32 {
    50
}
fn default_refresh_period() -> SimDuration {
    SimDuration::from_nanos(500)
}
fn default_timeout_duration() -> SimDuration {
    SimDuration::from_secs(5)
}

impl Default for LimitForPeriodConfig {
    fn default() -> Self {
        LimitForPeriodConfig {
            limit_for_period: default_limit_for_period(),
            limit_refresh_period: default_refresh_period(),
            timeout_duration: default_timeout_duration(),
        }
    }
}

/// Resilience4j's `AtomicRateLimiter` (§3.1): `limit_for_period` permits per cycle of
/// `limit_refresh_period`, cycles counted from the limiter's creation.
///
/// At a new cycle the permits are refilled by `L` per elapsed cycle but never above `L`
/// (no banking). A caller short of permits reserves them — the count goes negative — and
/// waits until the cycle that covers them, unless that wait exceeds `timeout_duration`.
/// Then, exactly as `AtomicRateLimiter.acquirePermission` does (the path every
/// Resilience4j decorator takes), the state is still moved to the current cycle with its
/// refilled permits but nothing is reserved (`reservePermissions` subtracts only when
/// `timeout >= nanosToWait`), and `waitForPermissionIfNecessary` parks the caller for the
/// whole timeout before returning false: [`RateDecision::RefusedAt`]`(now + timeout)`.
/// (Only `reservePermission`, used by the reactive operators, fails at once.)
///
/// ```
/// use cascade::policy::rate_limit::{LimitForPeriod, LimitForPeriodConfig, RateDecision};
/// use cascade::time::short::{ms, secs, t_ms};
///
/// let cfg = LimitForPeriodConfig { limit_for_period: 1, limit_refresh_period: secs(1), timeout_duration: secs(5) };
/// let mut rl = LimitForPeriod::new(cfg, t_ms(0)).unwrap();
/// assert_eq!(rl.try_acquire(t_ms(0), 1), RateDecision::Now);
/// assert_eq!(rl.try_acquire(t_ms(0), 1), RateDecision::At(t_ms(1_000))); // next cycle
/// assert_eq!(rl.try_acquire(t_ms(0), 1), RateDecision::At(t_ms(2_000))); // the one after
/// // Waits of up to the 5 s timeout are reserved...
/// for k in 3..=5 {
///     assert_eq!(rl.try_acquire(t_ms(0), 1), RateDecision::At(t_ms(1_000 * k)));
/// }
/// // ... the next permit is 6 s away: parked for the whole 5 s timeout, then refused.
/// assert_eq!(rl.try_acquire(t_ms(0), 1), RateDecision::RefusedAt(t_ms(5_000)));
/// ```
#[derive(Clone, Debug)]
pub struct LimitForPeriod {
    limit: i64,
    period_ns: u64,
    timeout: SimDuration,
    created_at: SimTime,
    active_cycle: u64,
    active_permissions: i64,
}

impl LimitForPeriod {
    /// Validates the config (`limit_for_period ≥ 1`, `limit_refresh_period ≥ 1ns`); cycles
    /// are counted from `created_at`. Java counts them from a `static` `nanoTime()` taken
    /// when the `AtomicRateLimiter` class is loaded, i.e. from the first limiter created
    /// in the process; for one limiter per process (per simulated instance) that is its
    /// creation.
    pub fn new(config: LimitForPeriodConfig, created_at: SimTime) -> Result<Self, ConfigError> {
        if config.limit_for_period == 0 {
            return Err(ConfigError::new("limit_for_period", "must be at least 1"));
        }
        if config.limit_refresh_period.is_zero() {
            return Err(ConfigError::new(
                "limit_refresh_period",
                "must be at least 1ns",
            ));
        }
        Ok(LimitForPeriod {
            limit: config.limit_for_period as i64,
            period_ns: config.limit_refresh_period.as_nanos(),
            timeout: config.timeout_duration,
            created_at,
            active_cycle: 0,
            active_permissions: config.limit_for_period as i64,
        })
    }

    /// Asks for `permits` (usually 1) at `now`, with the configured `timeout_duration`.
    pub fn try_acquire(&mut self, now: SimTime, permits: u32) -> RateDecision {
        self.try_acquire_within(now, permits, self.timeout)
    }

    /// Like [`Self::try_acquire`] with an explicit timeout (Java's
    /// `acquirePermission(permits, timeout)` overloads).
    pub fn try_acquire_within(
        &mut self,
        now: SimTime,
        permits: u32,
        timeout: SimDuration,
    ) -> RateDecision {
        let k = permits as i64;
        let t = now.saturating_since(self.created_at).as_nanos();
        let cycle = t / self.period_ns;
        let mut perms = self.active_permissions;
        if cycle != self.active_cycle {
            let elapsed = cycle.saturating_sub(self.active_cycle) as i128;
            let refilled = perms as i128 + elapsed * self.limit as i128;
            perms = refilled.min(self.limit as i128) as i64;
            self.active_cycle = cycle;
        }
        let wait_ns: u128 = if perms >= k {
            0
        } else {
            let to_next = ((cycle as u128 + 1) * self.period_ns as u128) - t as u128;
            let missing = (k - perms - self.limit).max(0) as u128;
            let full_cycles = missing.div_ceil(self.limit as u128);
            full_cycles * self.period_ns as u128 + to_next
        };
        if wait_ns > timeout.as_nanos() as u128 {
            // The cycle and the refill are kept; no reservation; parked for the timeout.
            self.active_permissions = perms;
            return RateDecision::RefusedAt(now + timeout);
        }
        self.active_permissions = perms - k;
        if wait_ns == 0 {
            RateDecision::Now
        } else {
            RateDecision::At(now + SimDuration::from_nanos(wait_ns as u64))
        }
    }

    /// Permits left in the current cycle as last computed (negative: reserved by waiters).
    pub fn available_permissions(&self) -> i64 {
        self.active_permissions
    }
}

/// Which rate limiter, as written in a file (externally tagged):
/// `rate_limit = { token_bucket = { rate = 100.0, burst = 50 } }` or
/// `rate_limit = { limit_for_period = { limit_for_period = 50, limit_refresh_period = "1s" } }`
/// (`resilience4j` is accepted as an alias of the second tag).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RateLimiterConfig {
    /// A continuous token bucket.
    TokenBucket(TokenBucketConfig),
    /// Resilience4j's fixed-cycle limiter.
    #[serde(alias = "resilience4j")]
    LimitForPeriod(LimitForPeriodConfig),
    /// A fixed-window counter that counts refused requests too (express-rate-limit).
    FixedWindow(FixedWindowConfig),
}

impl Default for RateLimiterConfig {
    /// Resilience4j's limiter with the builder defaults.
    fn default() -> Self {
        RateLimiterConfig::LimitForPeriod(LimitForPeriodConfig::default())
    }
}

/// Either rate limiter, behind one interface for the simulator.
///
/// ```
/// use cascade::policy::rate_limit::{RateDecision, RateLimiter, RateLimiterConfig};
/// use cascade::time::short::t_ms;
///
/// let cfg: RateLimiterConfig = toml::from_str("token_bucket = { rate = 10.0, burst = 1 }").unwrap();
/// let mut rl = RateLimiter::new(cfg, t_ms(0)).unwrap();
/// assert_eq!(rl.try_acquire(t_ms(0), 1), RateDecision::Now);
/// assert_eq!(rl.try_acquire(t_ms(50), 1), RateDecision::Rejected);
/// assert_eq!(rl.try_acquire(t_ms(100), 1), RateDecision::Now);
/// ```
#[derive(Clone, Debug)]
pub enum RateLimiter {
    /// See [`TokenBucket`].
    TokenBucket(TokenBucket),
    /// See [`LimitForPeriod`].
    LimitForPeriod(LimitForPeriod),
    /// See [`FixedWindow`].
    FixedWindow(FixedWindow),
}

impl RateLimiter {
    /// Builds the configured limiter; `created_at` aligns Resilience4j's cycles. Errors
    /// name the field under its tag (`token_bucket.rate`).
    pub fn new(config: RateLimiterConfig, created_at: SimTime) -> Result<Self, ConfigError> {
        match config {
            RateLimiterConfig::TokenBucket(c) => TokenBucket::new(c)
                .map(RateLimiter::TokenBucket)
                .map_err(|e| e.within("token_bucket")),
            RateLimiterConfig::LimitForPeriod(c) => LimitForPeriod::new(c, created_at)
                .map(RateLimiter::LimitForPeriod)
                .map_err(|e| e.within("limit_for_period")),
            RateLimiterConfig::FixedWindow(c) => FixedWindow::new(c)
                .map(RateLimiter::FixedWindow)
                .map_err(|e| e.within("fixed_window")),
        }
    }

    /// Asks for `permits` at `now`, waiting at most the configured wait
    /// (`max_wait` / `timeout_duration`). Call once per attempt, before sending it. A token
    /// bucket that cannot serve in time answers [`RateDecision::Rejected`] (fail now); a
    /// Resilience4j limiter answers [`RateDecision::RefusedAt`] (fail at that time, after
    /// parking the caller for its timeout).
    pub fn try_acquire(&mut self, now: SimTime, permits: u32) -> RateDecision {
        match self {
            RateLimiter::TokenBucket(tb) => tb.try_acquire_n(now, permits),
            RateLimiter::LimitForPeriod(l) => l.try_acquire(now, permits),
            RateLimiter::FixedWindow(w) => {
                if (0..permits).all(|_| w.try_acquire(now)) {
                    RateDecision::Now
                } else {
                    RateDecision::Rejected
                }
            }
        }
    }

    /// The Retry-After the limiter itself would send with a refusal at `now` (a fixed
    /// window: the seconds to its reset), if it computes one.
    pub fn retry_after(&self, now: SimTime) -> Option<SimDuration> {
        match self {
            RateLimiter::FixedWindow(w) => Some(w.retry_after(now)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::{ms, ns, secs, t_ms};
    use proptest::prelude::*;

    fn bucket(rate: f64, burst: u32) -> TokenBucket {
        TokenBucket::new(TokenBucketConfig {
            rate,
            burst,
            max_wait: SimDuration::ZERO,
        })
        .unwrap()
    }

    fn r4j(limit: u32, period: SimDuration, timeout: SimDuration) -> LimitForPeriod {
        let cfg = LimitForPeriodConfig {
            limit_for_period: limit,
            limit_refresh_period: period,
            timeout_duration: timeout,
        };
        LimitForPeriod::new(cfg, SimTime::ZERO).unwrap()
    }

    mod token_bucket {
        use super::*;

        #[test]
        fn starts_full_and_allows_exactly_the_burst() {
            let mut tb = bucket(100.0, 50);
            let admitted = (0..100).filter(|_| tb.try_acquire(t_ms(0))).count();
            assert_eq!(admitted, 50);
        }

        #[test]
        fn refills_continuously_one_token_per_interval() {
            let mut tb = bucket(100.0, 1);
            assert!(tb.try_acquire(t_ms(0)));
            assert!(!tb.try_acquire(SimTime::from_nanos(9_999_999)));
            assert!(tb.try_acquire(t_ms(10)));
            assert!(!tb.try_acquire(t_ms(10)));
        }

        #[test]
        fn never_banks_more_than_the_burst() {
            let mut tb = bucket(100.0, 5);
            let admitted = (0..20).filter(|_| tb.try_acquire(t_ms(60_000))).count();
            assert_eq!(admitted, 5);
        }

        #[test]
        fn does_not_drift_over_long_runs() {
            // 3 tokens/s: 1/3 s is not a whole number of nanoseconds. Polling every 1 ms
            // for an hour must admit exactly burst + 3 × 3600 requests.
            let mut tb = bucket(3.0, 10);
            let admitted = (0..=3_600_000u64)
                .filter(|&i| tb.try_acquire(t_ms(i)))
                .count();
            assert_eq!(admitted, 10 + 3 * 3600);
        }

        #[test]
        fn waiting_callers_reserve_in_order() {
            let mut tb = bucket(10.0, 1);
            assert_eq!(
                tb.try_acquire_within(t_ms(0), 1, secs(1)),
                RateDecision::Now
            );
            assert_eq!(
                tb.try_acquire_within(t_ms(0), 1, secs(1)),
                RateDecision::At(t_ms(100))
            );
            assert_eq!(
                tb.try_acquire_within(t_ms(0), 1, secs(1)),
                RateDecision::At(t_ms(200))
            );
            // Beyond the wait: rejected without reserving, so the next caller is unaffected.
            assert_eq!(
                tb.try_acquire_within(t_ms(0), 1, ms(250)),
                RateDecision::Rejected
            );
            assert_eq!(
                tb.try_acquire_within(t_ms(0), 1, ms(300)),
                RateDecision::At(t_ms(300))
            );
            assert!(tb.available(t_ms(0)) < -2.0);
        }

        #[test]
        fn validation_names_the_field() {
            let err = |c: TokenBucketConfig| TokenBucket::new(c).unwrap_err().field;
            let d = TokenBucketConfig::default();
            assert_eq!(err(TokenBucketConfig { rate: 0.0, ..d }), "rate");
            assert_eq!(
                err(TokenBucketConfig {
                    rate: f64::INFINITY,
                    ..d
                }),
                "rate"
            );
            assert_eq!(err(TokenBucketConfig { burst: 0, ..d }), "burst");
        }

        proptest! {
            #[test]
            fn never_admits_more_than_burst_plus_rate_times_elapsed(
                rate in 1.0f64..1000.0,
                burst in 1u32..20,
                gaps in proptest::collection::vec(0u64..5_000_000, 1..300),
            ) {
                let mut tb = bucket(rate, burst);
                let mut now = SimTime::ZERO;
                let mut admitted = 0u64;
                for g in gaps {
                    now += ns(g);
                    if tb.try_acquire(now) {
                        admitted += 1;
                    }
                    let bound = burst as f64 + rate * now.as_secs_f64() + 1e-6;
                    prop_assert!(admitted as f64 <= bound, "{admitted} > {bound}");
                }
            }
        }
    }

    mod limit_for_period {
        use super::*;

        #[test]
        fn defaults_are_the_java_builders() {
            let c: LimitForPeriodConfig = toml::from_str("").unwrap();
            assert_eq!(c.limit_for_period, 50);
            assert_eq!(c.limit_refresh_period, ns(500));
            assert_eq!(c.timeout_duration, secs(5));
        }

        #[test]
        fn burst_equals_the_limit_even_after_idle_cycles() {
            let mut rl = r4j(3, secs(1), SimDuration::ZERO);
            let admitted = (0..10)
                .filter(|_| rl.try_acquire(t_ms(10_500), 1) == RateDecision::Now)
                .count();
            assert_eq!(admitted, 3);
        }

        #[test]
        fn straddling_a_boundary_allows_twice_the_limit() {
            let mut rl = r4j(5, secs(1), SimDuration::ZERO);
            let before = (0..5)
                .filter(|_| rl.try_acquire(t_ms(999), 1) == RateDecision::Now)
                .count();
            let after = (0..5)
                .filter(|_| rl.try_acquire(t_ms(1_000), 1) == RateDecision::Now)
                .count();
            assert_eq!(
                before + after,
                10,
                "10 calls within 1 ms of a 5-per-second limit"
            );
            assert_eq!(
                rl.try_acquire(t_ms(1_001), 1),
                RateDecision::RefusedAt(t_ms(1_001)),
                "a zero timeout parks for no time: refused at once"
            );
        }

        #[test]
        fn a_refusal_parks_the_caller_for_the_whole_timeout_first() {
            let mut rl = r4j(1, secs(1), ms(500));
            assert_eq!(rl.try_acquire(t_ms(0), 1), RateDecision::Now);
            // The next permit is 1 s away > 500 ms: AtomicRateLimiter.acquirePermission
            // parks for the whole 500 ms timeout (waitForPermission(timeoutInNanos)) and
            // only then returns false.
            assert_eq!(
                rl.try_acquire(t_ms(0), 1),
                RateDecision::RefusedAt(t_ms(500))
            );
            assert_eq!(rl.available_permissions(), 0, "a refusal reserves nothing");
            // 600 ms later the wait is 400 ms ≤ 500 ms: reserved, unaffected by the refusal.
            assert_eq!(rl.try_acquire(t_ms(600), 1), RateDecision::At(t_ms(1_000)));
        }

        #[test]
        fn a_refusal_still_moves_the_state_to_the_current_cycle() {
            // reservePermissions keeps calculateNextState's refreshed cycle and permits
            // even when it does not subtract: a refused 5-permit request at 2.5 s leaves
            // cycle 2 refilled to the limit, so a 1-permit caller then gets one at once.
            let mut rl = r4j(2, secs(1), ms(100));
            assert_eq!(rl.try_acquire(t_ms(0), 2), RateDecision::Now);
            assert_eq!(rl.available_permissions(), 0);
            assert_eq!(
                rl.try_acquire(t_ms(2_500), 5),
                RateDecision::RefusedAt(t_ms(2_600))
            );
            assert_eq!(rl.available_permissions(), 2, "refilled, nothing reserved");
            assert_eq!(rl.try_acquire(t_ms(2_500), 1), RateDecision::Now);
        }

        #[test]
        fn callers_behind_a_reservation_are_refused_at_their_own_timeout() {
            // Two reservations push the wait past the timeout for everyone after them:
            // each later caller is refused timeout_duration after it asked.
            let mut rl = r4j(1, secs(1), ms(1_500));
            assert_eq!(rl.try_acquire(t_ms(0), 1), RateDecision::Now);
            assert_eq!(rl.try_acquire(t_ms(0), 1), RateDecision::At(t_ms(1_000)));
            assert_eq!(
                rl.try_acquire(t_ms(100), 1),
                RateDecision::RefusedAt(t_ms(1_600))
            );
            assert_eq!(rl.try_acquire(t_ms(700), 1), RateDecision::At(t_ms(2_000)));
            assert_eq!(
                rl.try_acquire(t_ms(700), 1),
                RateDecision::RefusedAt(t_ms(2_200))
            );
            assert_eq!(rl.available_permissions(), -2);
        }

        #[test]
        fn the_wait_may_equal_the_timeout() {
            let mut rl = r4j(1, secs(1), secs(1));
            rl.try_acquire(t_ms(0), 1);
            assert_eq!(rl.try_acquire(t_ms(0), 1), RateDecision::At(t_ms(1_000)));
        }

        #[test]
        fn reservations_queue_callers_across_cycles() {
            let mut rl = r4j(2, secs(1), secs(10));
            let got: Vec<RateDecision> = (0..7).map(|_| rl.try_acquire(t_ms(250), 1)).collect();
            use RateDecision::*;
            assert_eq!(
                got,
                [
                    Now,
                    Now,
                    At(t_ms(1_000)),
                    At(t_ms(1_000)),
                    At(t_ms(2_000)),
                    At(t_ms(2_000)),
                    At(t_ms(3_000))
                ]
            );
            assert_eq!(rl.available_permissions(), -5);
            // Reservations are paid back by later cycles: at 3 s one permit is left.
            assert_eq!(rl.try_acquire(t_ms(3_000), 1), Now);
            assert_eq!(rl.try_acquire(t_ms(3_000), 1), At(t_ms(4_000)));
        }

        #[test]
        fn multi_permit_requests_count_full_cycles() {
            let mut rl = r4j(2, secs(1), secs(10));
            // 5 permits with 2 available: 2 now, 2 next cycle, 1 the cycle after → 2 s wait.
            assert_eq!(rl.try_acquire(t_ms(0), 5), RateDecision::At(t_ms(2_000)));
            assert_eq!(rl.available_permissions(), -3);
        }

        #[test]
        fn cycles_are_aligned_to_creation() {
            let cfg = LimitForPeriodConfig {
                limit_for_period: 1,
                limit_refresh_period: secs(1),
                timeout_duration: secs(5),
            };
            let mut rl = LimitForPeriod::new(cfg, t_ms(300)).unwrap();
            assert_eq!(rl.try_acquire(t_ms(1_200), 1), RateDecision::Now);
            // Creation at 300 ms puts the boundaries at 1.3 s, 2.3 s, …
            assert_eq!(
                rl.try_acquire(t_ms(1_250), 1),
                RateDecision::At(t_ms(1_300))
            );
        }

        #[test]
        fn validation_names_the_field() {
            let d = LimitForPeriodConfig::default();
            let err = |c| LimitForPeriod::new(c, SimTime::ZERO).unwrap_err().field;
            assert_eq!(
                err(LimitForPeriodConfig {
                    limit_for_period: 0,
                    ..d
                }),
                "limit_for_period"
            );
            assert_eq!(
                err(LimitForPeriodConfig {
                    limit_refresh_period: ns(0),
                    ..d
                }),
                "limit_refresh_period"
            );
        }

        proptest! {
            #[test]
            fn immediate_grants_per_cycle_never_exceed_the_limit(
                limit in 1u32..6,
                gaps in proptest::collection::vec(0u64..400, 1..300),
            ) {
                let mut rl = r4j(limit, ms(1), ms(3));
                let mut now = SimTime::ZERO;
                let mut per_cycle = std::collections::BTreeMap::<u64, u32>::new();
                for g in gaps {
                    now += SimDuration::from_micros(g);
                    let at = match rl.try_acquire(now, 1) {
                        RateDecision::Now => now,
                        RateDecision::At(t) => { prop_assert!(t > now && t <= now + ms(3)); t }
                        RateDecision::RefusedAt(t) => { prop_assert_eq!(t, now + ms(3)); continue }
                        RateDecision::Rejected => { prop_assert!(false, "only the token bucket rejects at once"); continue }
                    };
                    *per_cycle.entry(at.as_nanos() / 1_000_000).or_default() += 1;
                }
                for (cycle, n) in per_cycle {
                    prop_assert!(n <= limit, "cycle {cycle}: {n} > {limit}");
                }
            }
        }
    }

    mod config {
        use super::*;

        #[test]
        fn the_enum_is_tagged_by_kind() {
            let c: RateLimiterConfig = toml::from_str("token_bucket = { rate = 5.0 }").unwrap();
            assert_eq!(
                c,
                RateLimiterConfig::TokenBucket(TokenBucketConfig {
                    rate: 5.0,
                    ..Default::default()
                })
            );
            let c: RateLimiterConfig = toml::from_str(
                "limit_for_period = { limit_for_period = 10, limit_refresh_period = \"1s\" }",
            )
            .unwrap();
            let RateLimiterConfig::LimitForPeriod(l) = c else {
                panic!()
            };
            assert_eq!((l.limit_for_period, l.limit_refresh_period), (10, secs(1)));
            let c: RateLimiterConfig = toml::from_str("resilience4j = {}").unwrap();
            assert_eq!(c, RateLimiterConfig::default());
            assert!(toml::from_str::<RateLimiterConfig>("token_bucket = { rte = 5.0 }").is_err());
            assert!(toml::from_str::<RateLimiterConfig>("leaky = {}").is_err());
        }

        #[test]
        fn errors_name_the_tag_and_field() {
            let c: RateLimiterConfig = toml::from_str("token_bucket = { burst = 0 }").unwrap();
            assert_eq!(
                RateLimiter::new(c, SimTime::ZERO).unwrap_err().field,
                "token_bucket.burst"
            );
        }
    }
}
