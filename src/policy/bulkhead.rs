//! Bulkheads: caps on how much concurrent work one dependency may hold, after Resilience4j's
//! `SemaphoreBulkhead` (semantics §2.1) and `ThreadPoolBulkhead` (§2.2).
//!
//! Why they exist: when a dependency slows down, every call to it holds a thread (or a
//! connection, or memory) for longer. Without a cap, a caller's whole pool ends up parked
//! on the one slow dependency and the caller stops serving *everything*: the slowness
//! cascades upstream. A bulkhead — named after a ship's watertight compartments — limits
//! the damage to the calls that go to the sick dependency; the rest keep flowing.
//!
//! Failure modes worth knowing, because the simulator exists to show them:
//! - a cap set too low rejects healthy traffic at ordinary peaks (the rejections then count
//!   as failures in an enclosing circuit breaker, §2.5, and may trip it);
//! - a long `max_wait` turns the bulkhead into a queue: latency grows by the wait and the
//!   caller's own threads are held anyway, which is what the bulkhead was meant to prevent;
//! - the thread-pool flavour only grows past `core_threads` once its queue is *full*, so
//!   with a large queue it queues for a long time at core size before adding threads.
//!
//! Both types are sans-IO: they never block. A caller that has to wait is *queued* and the
//! driver suspends it; the bulkhead later hands it back (`release` / `on_task_finished`
//! return the waiter or task that may now run). Waiters and tasks are the driver's own ids
//! (`W: Copy + Eq`, e.g. a `u64` call id). Queues are preallocated `VecDeque`s, so the
//! steady state does not allocate.
//!
//! The permit must be released on **every** outcome (success, error, timeout, cancelled):
//! a leaked permit shrinks the bulkhead for ever.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

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

/// What [`SemaphoreBulkhead::try_acquire`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquire {
    /// A permit was taken: run the call, then [`release`](SemaphoreBulkhead::release).
    Admitted,
    /// No permit now; the caller waits in FIFO order. It is handed a permit by a later
    /// [`release`](SemaphoreBulkhead::release), or gives up at `give_up_at` (the driver then
    /// calls [`on_wait_expired`](SemaphoreBulkhead::on_wait_expired)).
    Queued {
        /// When the wait ends without a permit.
        give_up_at: SimTime,
    },
    /// No permit and no waiting allowed: the call is not executed.
    Rejected(RejectReason),
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

/// The CPU count assumed for [`ThreadPoolBulkheadConfig`] defaults. Resilience4j reads
/// `availableProcessors()`; a simulation must not depend on the machine it runs on
/// (semantics §0.4), so the default is this documented constant: 4 CPUs, hence
/// `core_threads = 3` and `max_threads = 4`.
pub const DEFAULT_CPUS: u32 = 4;

/// Config of a [`ThreadPoolBulkhead`]; in TOML
/// `thread_pool_bulkhead = { cpus = 4, core_threads = 3, max_threads = 4, queue_capacity = 100, keep_alive = "20ms" }`.
///
/// Defaults are Resilience4j's with `availableProcessors()` replaced by `cpus`
/// (default [`DEFAULT_CPUS`]): `core_threads = max(1, cpus − 1)`, `max_threads = cpus`,
/// `queue_capacity = 100`, `keep_alive = "20ms"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadPoolBulkheadConfig {
    /// The processor count the thread defaults derive from (default 4).
    #[serde(default = "default_cpus")]
    pub cpus: u32,
    /// Core threads (`coreThreadPoolSize`); default `max(1, cpus − 1)`. At least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_threads: Option<u32>,
    /// Maximum threads (`maxThreadPoolSize`); default `cpus`. At least `core_threads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_threads: Option<u32>,
    /// Bounded FIFO queue (`queueCapacity`), default 100; 0 means direct hand-off (a Java
    /// `SynchronousQueue`): a task starts on an idle thread or a new one, or is rejected.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: u32,
    /// Idle time after which a thread above `core_threads` exits (`keepAliveDuration`),
    /// default `"20ms"`.
    #[serde(default = "default_keep_alive")]
    pub keep_alive: SimDuration,
}

fn default_cpus() -> u32 {
    DEFAULT_CPUS
}
fn default_queue_capacity() -> u32 {
    100
}
fn default_keep_alive() -> SimDuration {
    SimDuration::from_millis(20)
}

impl Default for ThreadPoolBulkheadConfig {
    fn default() -> Self {
        ThreadPoolBulkheadConfig {
            cpus: DEFAULT_CPUS,
            core_threads: None,
            max_threads: None,
            queue_capacity: default_queue_capacity(),
            keep_alive: default_keep_alive(),
        }
    }
}

/// What [`ThreadPoolBulkhead::try_submit`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submit {
    /// A thread (idle, or newly started) runs the task now; call
    /// [`on_task_finished`](ThreadPoolBulkhead::on_task_finished) when it ends.
    Started,
    /// The task waits in the queue; a later `on_task_finished` returns it when it starts.
    Queued,
    /// No thread, no queue room: the task is not executed.
    Rejected(RejectReason),
}

/// A bounded thread pool in front of a dependency, admitting exactly like Java's
/// `ThreadPoolExecutor` (Resilience4j `FixedThreadPoolBulkhead`):
///
/// 1. fewer than `core_threads` threads → start a new thread with this task (even if
///    another thread is idle — Java does the same);
/// 2. else an idle thread exists → it takes the task;
/// 3. else room in the queue → queue it (FIFO);
/// 4. else fewer than `max_threads` threads → start an extra thread with *this* task, which
///    thus runs before the tasks already queued;
/// 5. else reject with [`RejectReason::BulkheadFull`].
///
/// A thread that finishes takes the queue head. Threads above core that stay idle for
/// `keep_alive` exit (the oldest-idle first); wake the pool at [`Self::next_wakeup`].
///
/// ```
/// use cascade::policy::bulkhead::{Submit, ThreadPoolBulkhead, ThreadPoolBulkheadConfig};
/// use cascade::time::short::{ms, t_ms};
///
/// let cfg = ThreadPoolBulkheadConfig {
///     core_threads: Some(1), max_threads: Some(2), queue_capacity: 1,
///     keep_alive: ms(20), ..Default::default()
/// };
/// let mut pool = ThreadPoolBulkhead::<u32>::new(cfg).unwrap();
/// assert_eq!(pool.try_submit(t_ms(0), 1), Submit::Started); // core thread
/// assert_eq!(pool.try_submit(t_ms(0), 2), Submit::Queued);  // queue before growing
/// assert_eq!(pool.try_submit(t_ms(0), 3), Submit::Started); // queue full: extra thread
/// assert_eq!(pool.try_submit(t_ms(0), 4), Submit::Rejected(cascade::policy::RejectReason::BulkheadFull));
/// assert_eq!(pool.on_task_finished(t_ms(10)), Some(2));     // the freed thread takes task 2
/// ```
#[derive(Clone, Debug)]
pub struct ThreadPoolBulkhead<W> {
    core: u32,
    max: u32,
    queue_capacity: u32,
    keep_alive: SimDuration,
    /// Threads alive (busy + idle).
    threads: u32,
    /// Threads running a task.
    busy: u32,
    queue: VecDeque<W>,
    /// When each idle thread became idle, oldest first.
    idle_since: VecDeque<SimTime>,
}

impl<W: Copy + Eq> ThreadPoolBulkhead<W> {
    /// Validates the config: `cpus ≥ 1`, `core_threads ≥ 1`, `max_threads ≥ 1` and
    /// `max_threads ≥ core_threads`.
    pub fn new(config: ThreadPoolBulkheadConfig) -> Result<Self, ConfigError> {
        if config.cpus == 0 {
            return Err(ConfigError::new("cpus", "must be at least 1"));
        }
        let core = config.core_threads.unwrap_or((config.cpus - 1).max(1));
        let max = config.max_threads.unwrap_or(config.cpus);
        if core == 0 {
            return Err(ConfigError::new("core_threads", "must be at least 1"));
        }
        if max == 0 {
            return Err(ConfigError::new("max_threads", "must be at least 1"));
        }
        if max < core {
            return Err(ConfigError::new(
                "max_threads",
                format!("must be at least core_threads ({core}), got {max}"),
            ));
        }
        Ok(ThreadPoolBulkhead {
            core,
            max,
            queue_capacity: config.queue_capacity,
            keep_alive: config.keep_alive,
            threads: 0,
            busy: 0,
            // Room grows with use: a huge configured bound must not be allocated up front.
            queue: VecDeque::with_capacity((config.queue_capacity as usize).min(1024)),
            idle_since: VecDeque::with_capacity((max as usize).min(1024)),
        })
    }

    /// Submit `task` at `now`. Call once per attempt.
    pub fn try_submit(&mut self, now: SimTime, task: W) -> Submit {
        self.retire_idle(now);
        if self.threads < self.core {
            self.threads += 1;
            self.busy += 1;
            Submit::Started
        } else if self.take_idle_thread() {
            self.busy += 1;
            Submit::Started
        } else if (self.queue.len() as u32) < self.queue_capacity {
            self.queue.push_back(task);
            Submit::Queued
        } else if self.threads < self.max {
            self.threads += 1;
            self.busy += 1;
            Submit::Started
        } else {
            Submit::Rejected(RejectReason::BulkheadFull)
        }
    }

    /// A running task ended, whatever its outcome. The freed thread takes the queue head,
    /// which is returned (the driver starts it now); otherwise the thread goes idle.
    pub fn on_task_finished(&mut self, now: SimTime) -> Option<W> {
        if self.busy == 0 {
            return None;
        }
        if let Some(next) = self.queue.pop_front() {
            return Some(next);
        }
        self.busy -= 1;
        self.idle_since.push_back(now);
        self.retire_idle(now);
        None
    }

    /// When the next thread above core would exit for having idled `keep_alive`; `None`
    /// if no thread is due to exit.
    pub fn next_wakeup(&self) -> Option<SimTime> {
        if self.threads > self.core {
            self.idle_since.front().map(|&t| t + self.keep_alive)
        } else {
            None
        }
    }

    /// The wake-up asked for by [`Self::next_wakeup`]: retires idle threads above core.
    /// (Also done lazily by the other methods, so a missed wake-up changes nothing.)
    pub fn on_wakeup(&mut self, now: SimTime) {
        self.retire_idle(now);
    }

    fn retire_idle(&mut self, now: SimTime) {
        while self.threads > self.core {
            match self.idle_since.front() {
                Some(&since) if since + self.keep_alive <= now => {
                    self.idle_since.pop_front();
                    self.threads -= 1;
                }
                _ => break,
            }
        }
    }

    /// Hands a task to an idle thread if any. With a queue (`ArrayBlockingQueue`) the
    /// longest-waiting thread is signalled first; a `SynchronousQueue` hands off to the
    /// most recently parked thread (its non-fair stack), which matters only for which
    /// thread's keep-alive keeps running.
    fn take_idle_thread(&mut self) -> bool {
        if self.queue_capacity == 0 {
            self.idle_since.pop_back().is_some()
        } else {
            self.idle_since.pop_front().is_some()
        }
    }

    /// Threads running a task.
    pub fn running(&self) -> u32 {
        self.busy
    }

    /// Tasks waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Threads alive, busy or idle.
    pub fn threads(&self) -> u32 {
        self.threads
    }

    /// The validated core size.
    pub fn core_threads(&self) -> u32 {
        self.core
    }

    /// The validated maximum size.
    pub fn max_threads(&self) -> u32 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::{ms, t_ms, us};
    use proptest::prelude::*;

    fn sem(max_concurrent: u32, max_wait: SimDuration) -> SemaphoreBulkhead<u32> {
        SemaphoreBulkhead::new(BulkheadConfig {
            max_concurrent,
            max_wait,
        })
        .unwrap()
    }

    fn pool(core: u32, max: u32, queue: u32, keep_alive: SimDuration) -> ThreadPoolBulkhead<u32> {
        ThreadPoolBulkhead::new(ThreadPoolBulkheadConfig {
            core_threads: Some(core),
            max_threads: Some(max),
            queue_capacity: queue,
            keep_alive,
            ..Default::default()
        })
        .unwrap()
    }

    const FULL: Acquire = Acquire::Rejected(RejectReason::BulkheadFull);

    mod config {
        use super::*;

        #[test]
        fn defaults_are_resilience4j_ones() {
            let c: BulkheadConfig = toml::from_str("").unwrap();
            assert_eq!(c, BulkheadConfig::default());
            assert_eq!((c.max_concurrent, c.max_wait), (25, SimDuration::ZERO));
            let c: BulkheadConfig =
                toml::from_str("max_concurrent = 50\nmax_wait = \"250ms\"").unwrap();
            assert_eq!((c.max_concurrent, c.max_wait), (50, ms(250)));
            assert!(toml::from_str::<BulkheadConfig>("max_concurent = 5").is_err());
        }

        #[test]
        fn thread_pool_defaults_follow_the_documented_cpu_count() {
            let c: ThreadPoolBulkheadConfig = toml::from_str("").unwrap();
            let p = ThreadPoolBulkhead::<u32>::new(c).unwrap();
            assert_eq!((p.core_threads(), p.max_threads()), (3, 4));
            let c: ThreadPoolBulkheadConfig = toml::from_str("cpus = 1").unwrap();
            let p = ThreadPoolBulkhead::<u32>::new(c).unwrap();
            assert_eq!((p.core_threads(), p.max_threads()), (1, 1));
            assert_eq!(c.keep_alive, ms(20));
            assert_eq!(c.queue_capacity, 100);
        }

        #[test]
        fn thread_pool_rejects_nonsense_with_the_field_name() {
            let bad =
                |c: ThreadPoolBulkheadConfig| ThreadPoolBulkhead::<u32>::new(c).unwrap_err().field;
            let d = ThreadPoolBulkheadConfig::default();
            assert_eq!(bad(ThreadPoolBulkheadConfig { cpus: 0, ..d }), "cpus");
            assert_eq!(
                bad(ThreadPoolBulkheadConfig {
                    core_threads: Some(0),
                    ..d
                }),
                "core_threads"
            );
            assert_eq!(
                bad(ThreadPoolBulkheadConfig {
                    max_threads: Some(0),
                    core_threads: Some(1),
                    ..d
                }),
                "max_threads"
            );
            assert_eq!(
                bad(ThreadPoolBulkheadConfig {
                    core_threads: Some(5),
                    max_threads: Some(4),
                    ..d
                }),
                "max_threads"
            );
        }

        #[test]
        fn max_wait_is_truncated_to_milliseconds() {
            let mut b = sem(0, us(999));
            assert_eq!(b.try_acquire(t_ms(0), 1), FULL);
            let mut b = sem(0, us(1_500));
            assert_eq!(
                b.try_acquire(t_ms(0), 1),
                Acquire::Queued {
                    give_up_at: t_ms(1)
                }
            );
        }
    }

    mod semaphore {
        use super::*;

        #[test]
        fn rejects_when_full_without_waiting() {
            let mut b = sem(2, SimDuration::ZERO);
            assert_eq!(b.try_acquire(t_ms(0), 1), Acquire::Admitted);
            assert_eq!(b.try_acquire(t_ms(0), 2), Acquire::Admitted);
            assert_eq!(b.try_acquire(t_ms(0), 3), FULL);
            assert_eq!(b.in_flight(), 2);
            assert_eq!(b.release(t_ms(1)), None);
            assert_eq!(b.try_acquire(t_ms(1), 4), Acquire::Admitted);
        }

        #[test]
        fn zero_permits_rejects_everything() {
            let mut b = sem(0, SimDuration::ZERO);
            for i in 0..5 {
                assert_eq!(b.try_acquire(t_ms(i), i as u32), FULL);
            }
            assert_eq!(b.release(t_ms(9)), None);
            assert_eq!(b.in_flight(), 0);
        }

        #[test]
        fn admits_waiters_in_fifo_order() {
            let mut b = sem(1, ms(100));
            assert_eq!(b.try_acquire(t_ms(0), 1), Acquire::Admitted);
            for (i, w) in [2, 3, 4].into_iter().enumerate() {
                let at = t_ms(i as u64 + 1);
                assert_eq!(
                    b.try_acquire(at, w),
                    Acquire::Queued {
                        give_up_at: at + ms(100)
                    }
                );
            }
            assert_eq!(b.release(t_ms(10)), Some(2));
            assert_eq!(b.release(t_ms(11)), Some(3));
            assert_eq!(b.release(t_ms(12)), Some(4));
            assert_eq!(b.release(t_ms(13)), None);
            assert_eq!((b.in_flight(), b.waiting()), (0, 0));
        }

        #[test]
        fn a_newcomer_never_barges_past_a_waiter() {
            let mut b = sem(1, ms(100));
            b.try_acquire(t_ms(0), 1);
            b.try_acquire(t_ms(1), 2);
            // The permit passes to waiter 2, so a newcomer at the same instant queues.
            assert_eq!(b.release(t_ms(5)), Some(2));
            assert_eq!(
                b.try_acquire(t_ms(5), 3),
                Acquire::Queued {
                    give_up_at: t_ms(105)
                }
            );
        }

        #[test]
        fn waiters_expire_and_the_driver_learns_which() {
            let mut b = sem(1, ms(50));
            b.try_acquire(t_ms(0), 1);
            b.try_acquire(t_ms(10), 2);
            b.try_acquire(t_ms(20), 3);
            assert_eq!(b.next_wakeup(), Some(t_ms(60)));
            assert!(b.on_wait_expired(t_ms(60), 2));
            assert_eq!(b.waiting(), 1);
            // Waiter 3 gets the permit before its give-up time; its timer is then stale.
            assert_eq!(b.release(t_ms(65)), Some(3));
            assert!(!b.on_wait_expired(t_ms(70), 3));
            assert_eq!(b.in_flight(), 1);
        }

        #[test]
        fn expiry_at_one_instant_works_in_any_order() {
            let mut b = sem(1, ms(50));
            b.try_acquire(t_ms(0), 1);
            b.try_acquire(t_ms(10), 2);
            b.try_acquire(t_ms(10), 3);
            assert!(b.on_wait_expired(t_ms(60), 3));
            assert!(b.on_wait_expired(t_ms(60), 2));
            assert!(!b.on_wait_expired(t_ms(60), 2));
        }

        #[test]
        fn pop_expired_drains_only_due_waiters() {
            let mut b = sem(1, ms(50));
            b.try_acquire(t_ms(0), 1);
            b.try_acquire(t_ms(10), 2);
            b.try_acquire(t_ms(30), 3);
            assert_eq!(b.pop_expired(t_ms(59)), None);
            assert_eq!(b.pop_expired(t_ms(60)), Some(2));
            assert_eq!(b.pop_expired(t_ms(60)), None);
            assert!(b.cancel(3));
            assert!(!b.cancel(3));
            assert_eq!(b.next_wakeup(), None);
        }

        #[test]
        fn releases_on_failure_like_on_success() {
            // The bulkhead does not know outcomes: a failed call releases the same way, and
            // forgetting to release would shrink it for ever.
            let mut b = sem(1, SimDuration::ZERO);
            for i in 0..10 {
                assert_eq!(b.try_acquire(t_ms(i), i as u32), Acquire::Admitted);
                assert_eq!(b.release(t_ms(i)), None);
            }
        }

        #[test]
        fn zero_permits_with_a_wait_queues_then_gives_up() {
            let mut b = sem(0, ms(10));
            assert_eq!(
                b.try_acquire(t_ms(0), 1),
                Acquire::Queued {
                    give_up_at: t_ms(10)
                }
            );
            assert!(b.on_wait_expired(t_ms(10), 1));
            assert_eq!(b.in_flight(), 0);
        }
    }

    mod thread_pool {
        use super::*;

        #[test]
        fn fills_core_then_queue_then_extra_threads_then_rejects() {
            let mut p = pool(2, 3, 2, ms(20));
            let got: Vec<Submit> = (1..=6).map(|i| p.try_submit(t_ms(0), i)).collect();
            use Submit::*;
            let full = Rejected(RejectReason::BulkheadFull);
            assert_eq!(got, [Started, Started, Queued, Queued, Started, full]);
            assert_eq!((p.threads(), p.running(), p.queued()), (3, 3, 2));
        }

        #[test]
        fn the_extra_thread_task_runs_before_queued_ones_which_stay_fifo() {
            let mut p = pool(1, 2, 2, ms(20));
            p.try_submit(t_ms(0), 1);
            p.try_submit(t_ms(0), 2);
            p.try_submit(t_ms(0), 3);
            assert_eq!(p.try_submit(t_ms(0), 4), Submit::Started);
            assert_eq!(p.on_task_finished(t_ms(1)), Some(2));
            assert_eq!(p.on_task_finished(t_ms(2)), Some(3));
            assert_eq!(p.on_task_finished(t_ms(3)), None);
        }

        #[test]
        fn creates_core_threads_even_when_one_is_idle() {
            let mut p = pool(2, 2, 0, ms(20));
            p.try_submit(t_ms(0), 1);
            p.on_task_finished(t_ms(1));
            assert_eq!(p.try_submit(t_ms(2), 2), Submit::Started);
            assert_eq!(p.threads(), 2);
            // Now at core: the idle thread takes the next task, no new thread.
            assert_eq!(p.try_submit(t_ms(3), 3), Submit::Started);
            assert_eq!((p.threads(), p.running()), (2, 2));
        }

        #[test]
        fn zero_capacity_is_direct_hand_off() {
            let mut p = pool(1, 2, 0, ms(20));
            assert_eq!(p.try_submit(t_ms(0), 1), Submit::Started);
            assert_eq!(p.try_submit(t_ms(0), 2), Submit::Started);
            assert_eq!(
                p.try_submit(t_ms(0), 3),
                Submit::Rejected(RejectReason::BulkheadFull)
            );
        }

        #[test]
        fn non_core_threads_exit_after_keep_alive() {
            let mut p = pool(1, 3, 0, ms(20));
            for i in 0..3 {
                p.try_submit(t_ms(0), i);
            }
            p.on_task_finished(t_ms(10));
            p.on_task_finished(t_ms(15));
            assert_eq!(p.next_wakeup(), Some(t_ms(30)));
            p.on_wakeup(t_ms(29));
            assert_eq!(p.threads(), 3);
            p.on_wakeup(t_ms(30));
            assert_eq!(p.threads(), 2);
            assert_eq!(p.next_wakeup(), Some(t_ms(35)));
            // The last task finishing leaves one idle thread, but only one more may exit.
            p.on_task_finished(t_ms(16));
            p.on_wakeup(t_ms(100));
            assert_eq!((p.threads(), p.running()), (1, 0));
            assert_eq!(p.next_wakeup(), None);
        }

        #[test]
        fn zero_keep_alive_retires_at_once() {
            let mut p = pool(1, 2, 0, SimDuration::ZERO);
            p.try_submit(t_ms(0), 1);
            p.try_submit(t_ms(0), 2);
            p.on_task_finished(t_ms(5));
            assert_eq!(p.threads(), 1);
        }

        #[test]
        fn releases_on_failure_too() {
            let mut p = pool(1, 1, 0, ms(20));
            for i in 0..5 {
                assert_eq!(p.try_submit(t_ms(i), i as u32), Submit::Started);
                assert_eq!(p.on_task_finished(t_ms(i)), None);
            }
        }
    }

    mod laws {
        use super::*;

        proptest! {
            #[test]
            fn semaphore_in_flight_never_exceeds_the_limit(
                max in 0u32..5,
                wait_ms in 0u64..20,
                ops in proptest::collection::vec((0u8..3, 0u64..10), 0..200),
            ) {
                let mut b = sem(max, ms(wait_ms));
                let mut now = t_ms(0);
                let mut next_id = 0u32;
                let mut queued: Vec<u32> = Vec::new();
                for (op, dt) in ops {
                    now += ms(dt);
                    match op {
                        0 => {
                            next_id += 1;
                            if let Acquire::Queued { .. } = b.try_acquire(now, next_id) {
                                queued.push(next_id);
                            }
                        }
                        1 => {
                            if let Some(w) = b.release(now) {
                                queued.retain(|&q| q != w);
                            }
                        }
                        _ => {
                            while let Some(w) = b.pop_expired(now) {
                                queued.retain(|&q| q != w);
                            }
                        }
                    }
                    prop_assert!(b.in_flight() <= max);
                    prop_assert_eq!(b.waiting(), queued.len());
                    // Nobody waits while a permit is idle.
                    prop_assert!(b.waiting() == 0 || b.in_flight() == max);
                }
            }

            #[test]
            fn thread_pool_stays_within_its_bounds(
                core in 1u32..4,
                extra in 0u32..3,
                cap in 0u32..4,
                ops in proptest::collection::vec((any::<bool>(), 0u64..30), 0..200),
            ) {
                let max = core + extra;
                let mut p = pool(core, max, cap, ms(20));
                let mut now = t_ms(0);
                for (i, (submit, dt)) in ops.into_iter().enumerate() {
                    now += ms(dt);
                    if submit {
                        p.try_submit(now, i as u32);
                    } else {
                        p.on_task_finished(now);
                    }
                    p.on_wakeup(now);
                    prop_assert!(p.running() <= p.threads());
                    prop_assert!(p.threads() <= max);
                    prop_assert!(p.queued() <= cap as usize);
                    // Work never waits while a thread is idle.
                    prop_assert!(p.queued() == 0 || p.running() == p.threads());
                }
            }
        }
    }
}
