//! The semaphore flavour: a fair counting semaphore with a bounded wait.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::Acquire;
use crate::policy::{ConfigError, RejectReason};
use crate::time::{SimDuration, SimTime};

/// Preallocated waiter slots for the semaphore flavour, before the queue ever has to grow.
const PREALLOCATED_WAITERS: usize = 1024;

/// Config of a [`SemaphoreBulkhead`]; in TOML
/// `bulkhead = { max_concurrent = 50, max_wait = "0s" }`.
///
/// Defaults are Resilience4j's: 25 permits, no waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BulkheadConfig {
    /// Permits (`maxConcurrentCalls`), default 25. Zero is allowed and admits nothing.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: u32,
    /// How long a caller may wait for a permit (`maxWaitDuration`), default `"0s"` (fail
    /// at once). Truncated to whole milliseconds, as Resilience4j does.
    #[serde(default)]
    pub max_wait: SimDuration,
}

fn default_max_concurrent() -> u32 {
    25
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig {
            max_concurrent: default_max_concurrent(),
            max_wait: SimDuration::ZERO,
        }
    }
}

/// A fair counting semaphore with a bounded wait (Resilience4j `SemaphoreBulkhead`).
///
/// Fair means FIFO: while anybody is queued, a newcomer queues behind them even if a permit
/// happens to be free, and a released permit goes straight to the head waiter.
///
/// ```
/// use cascade::policy::bulkhead::{Acquire, BulkheadConfig, SemaphoreBulkhead};
/// use cascade::time::short::{ms, t_ms};
///
/// let cfg = BulkheadConfig { max_concurrent: 1, max_wait: ms(100) };
/// let mut bh = SemaphoreBulkhead::<u32>::new(cfg).unwrap();
/// assert_eq!(bh.try_acquire(t_ms(0), 1), Acquire::Admitted);
/// assert_eq!(bh.try_acquire(t_ms(5), 2), Acquire::Queued { give_up_at: t_ms(105) });
/// // Call 1 finishes: its permit passes to call 2, which the driver now resumes.
/// assert_eq!(bh.release(t_ms(20)), Some(2));
/// assert_eq!(bh.in_flight(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct SemaphoreBulkhead<W> {
    max_concurrent: u32,
    max_wait: SimDuration,
    in_flight: u32,
    /// Waiters with their give-up times, in arrival order. Because every waiter gets the
    /// same `max_wait` and `now` never goes backwards, give-up times are non-decreasing
    /// along the queue: expiry only ever concerns its head.
    waiters: VecDeque<(W, SimTime)>,
}

impl<W: Copy + Eq> SemaphoreBulkhead<W> {
    /// Builds the bulkhead. Every value of the config is meaningful (0 permits rejects
    /// everything), so this cannot fail today; it returns `Result` like every policy.
    pub fn new(config: BulkheadConfig) -> Result<Self, ConfigError> {
        let max_wait = SimDuration::from_millis(config.max_wait.as_millis());
        Ok(SemaphoreBulkhead {
            max_concurrent: config.max_concurrent,
            max_wait,
            in_flight: 0,
            waiters: VecDeque::with_capacity(
                (config.max_concurrent as usize).clamp(16, PREALLOCATED_WAITERS),
            ),
        })
    }

    /// Ask for a permit for `waiter` at `now`. Call once per attempt, before running it.
    ///
    /// With zero permits and a positive `max_wait` the caller is queued and gives up after
    /// the wait, exactly like Java's `tryAcquire(timeout)` on an empty semaphore.
    pub fn try_acquire(&mut self, now: SimTime, waiter: W) -> Acquire {
        if self.waiters.is_empty() && self.in_flight < self.max_concurrent {
            self.in_flight += 1;
            Acquire::Admitted
        } else if self.max_wait.is_zero() {
            Acquire::Rejected(RejectReason::BulkheadFull)
        } else {
            let give_up_at = now + self.max_wait;
            self.waiters.push_back((waiter, give_up_at));
            Acquire::Queued { give_up_at }
        }
    }

    /// A call holding a permit ended, whatever its outcome. If someone is waiting, the
    /// permit passes to the head waiter, which is returned: the driver resumes it as
    /// admitted (it must `release` in turn). Returns `None` if the permit went back to the
    /// pool, or if nothing was in flight (a driver bug, ignored so counts stay sane).
    pub fn release(&mut self, _now: SimTime) -> Option<W> {
        if self.in_flight == 0 {
            return None;
        }
        match self.waiters.pop_front() {
            Some((w, _)) => Some(w),
            None => {
                self.in_flight -= 1;
                None
            }
        }
    }

    /// `waiter`'s give-up time (from [`Acquire::Queued`]) has come. Returns true if it was
    /// still waiting — it is removed and the driver fails it with
    /// [`RejectReason::BulkheadFull`] — and false if it had already been handed a permit.
    ///
    /// O(1) in the usual case: only waiters already due at `now` are inspected.
    pub fn on_wait_expired(&mut self, now: SimTime, waiter: W) -> bool {
        let due = self.waiters.iter().take_while(|(_, at)| *at <= now);
        match due.map(|(w, _)| *w).position(|w| w == waiter) {
            Some(i) => {
                self.waiters.remove(i);
                true
            }
            None => false,
        }
    }

    /// Removes `waiter` from the queue for a reason of the driver's own (its caller was
    /// cancelled). True if it was waiting. O(waiting); prefer `on_wait_expired` for expiry.
    pub fn cancel(&mut self, waiter: W) -> bool {
        match self.waiters.iter().position(|(w, _)| *w == waiter) {
            Some(i) => {
                self.waiters.remove(i);
                true
            }
            None => false,
        }
    }

    /// The earliest give-up time among waiters, for a driver that keeps one timer per
    /// bulkhead instead of one per waiter (then pair it with [`Self::pop_expired`]).
    pub fn next_wakeup(&self) -> Option<SimTime> {
        self.waiters.front().map(|(_, at)| *at)
    }

    /// Removes and returns one waiter whose give-up time is at or before `now`; call until
    /// `None` and fail each with [`RejectReason::BulkheadFull`].
    pub fn pop_expired(&mut self, now: SimTime) -> Option<W> {
        match self.waiters.front() {
            Some(&(w, at)) if at <= now => {
                self.waiters.pop_front();
                Some(w)
            }
            _ => None,
        }
    }

    /// Permits currently held.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Callers waiting for a permit.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// The configured number of permits.
    pub fn max_concurrent(&self) -> u32 {
        self.max_concurrent
    }
}
