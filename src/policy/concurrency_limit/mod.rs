//! Adaptive concurrency limits after Netflix `concurrency-limits` (semantics §8): a
//! [`SimpleLimiter`] that admits while `inflight < limit`, and three algorithms that move
//! the limit from each completed call's round-trip time and drop signal — [`AimdLimit`]
//! (§8.2), [`VegasLimit`] (§8.3) and [`Gradient2Limit`] (§8.4).
//!
//! Why they exist: a fixed bulkhead size is right for one load and one latency only. Set
//! it high and an overloaded callee queues everything (latency explodes, callers time out
//! and retry); set it low and healthy capacity is wasted. An adaptive limit treats the
//! callee like TCP treats a network path: grow while latency stays flat, back off when
//! latency rises (queueing) or calls are dropped (timeouts, load-shed answers). By Little's
//! law the right limit is throughput × no-load latency; these algorithms search for it.
//!
//! Failure modes the simulator can show:
//! - AIMD reacts only to drops and timeouts: it grows until things break, then saws
//!   between the limit and 90 % of it; with its default `min_limit = initial_limit = 20`
//!   it can never go below 20;
//! - Vegas estimates the no-load RTT from the minimum seen; if latency rises for good
//!   (a slower dependency below) it keeps reading it as queueing and shrinks the limit
//!   until its periodic re-probe resets the baseline;
//! - Gradient2 compares a short RTT with a long average; a slow latency drift fools both;
//! - while callers use less than half the limit ("app-limited") the limits do not grow,
//!   so a burst after a quiet period meets the old limit.
//!
//! - fed every call's own RTT, the delay-based algorithms mistake service-time variance
//!   for queueing: per-sample Vegas keeps the fastest call it ever saw as its no-load RTT
//!   and shrinks to a limit of 6 on a healthy service. That is why Vegas and Gradient2
//!   sample through a [`WindowedLimit`] by default (one averaged sample per second, the
//!   library's window settings; `window = false` restores per-call samples, as the
//!   library's bare `SimpleLimiter` default has them). AIMD, which reacts to drops, sees
//!   every call by default.
//!
//! The limiter passes each algorithm the in-flight count **at acquire time, including the
//! call itself** (Netflix's `inflightAtStart`), carried in the [`Permit`] the driver keeps
//! per call; through a window, the largest such count in the window. Vegas's probe jitter
//! takes the caller's RNG (one `U(0.5, 1)` draw at construction and one per probe, which
//! counts samples the algorithm sees, i.e. windows when windowed); the other algorithms
//! draw nothing.
//!
//! Files: one per algorithm (`aimd`, `vegas`, `gradient2`), `windowed` (the sampling
//! window) and `limiter` (the config enum, [`LimitAlgorithm`] and [`SimpleLimiter`]).

mod aimd;
mod gradient2;
mod limiter;
mod vegas;
mod windowed;

pub use aimd::{AimdConfig, AimdLimit};
pub use gradient2::{Gradient2Config, Gradient2Limit};
pub use limiter::{ConcurrencyLimitConfig, LimitAlgorithm, Permit, SimpleLimiter};
pub use vegas::{VegasConfig, VegasLimit, lg};
pub use windowed::{WindowConfig, WindowSample, WindowSetting, WindowedLimit};

use crate::policy::ConfigError;

fn twenty() -> u32 {
    20
}
fn two_hundred() -> u32 {
    200
}
fn windowed() -> WindowSetting {
    WindowSetting::Windowed(WindowConfig::default())
}

fn check_limits(initial: u32, min: u32, max: u32, max_name: &str) -> Result<(), ConfigError> {
    if initial == 0 {
        return Err(ConfigError::new("initial_limit", "must be at least 1"));
    }
    if max < min {
        return Err(ConfigError::new(
            max_name,
            format!("must be at least min_limit ({min}), got {max}"),
        ));
    }
    Ok(())
}
