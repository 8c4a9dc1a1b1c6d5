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

mod semaphore;
#[cfg(test)]
mod tests;
mod thread_pool;

use serde::{Deserialize, Serialize};

use crate::policy::{ConfigError, RejectReason};
use crate::time::{SimDuration, SimTime};

pub use semaphore::{BulkheadConfig, SemaphoreBulkhead};
pub use thread_pool::{DEFAULT_CPUS, Submit, ThreadPoolBulkhead, ThreadPoolBulkheadConfig};

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

/// A client edge's bulkhead as written in a model file: the semaphore form
/// `bulkhead = { max_concurrent = 10, max_wait = "50ms" }` (Resilience4j `Bulkhead`), or
/// the thread-pool form `bulkhead = { thread_pool = { max_threads = 10, core_threads = 5,
/// queue_capacity = 20, keep_alive = "20ms" } }` (Resilience4j `ThreadPoolBulkhead`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BulkheadSpec {
    /// Semaphore permits (default 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Semaphore wait for a permit (default 0: fail at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<SimDuration>,
    /// The thread-pool form instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_pool: Option<ThreadPoolBulkheadConfig>,
}

/// A validated choice of bulkhead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkheadKind {
    /// A fair semaphore with a bounded wait.
    Semaphore(BulkheadConfig),
    /// A `ThreadPoolExecutor`.
    ThreadPool(ThreadPoolBulkheadConfig),
}

impl BulkheadSpec {
    /// Which bulkhead this is, validated. Errors name the field.
    pub fn kind(&self) -> Result<BulkheadKind, ConfigError> {
        let kind = match (self.thread_pool, self.max_concurrent, self.max_wait) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ConfigError::new(
                    "thread_pool",
                    "is the other kind of bulkhead: set max_concurrent/max_wait (a semaphore) or thread_pool, not both",
                ));
            }
            (Some(t), None, None) => BulkheadKind::ThreadPool(t),
            (None, n, w) => {
                let d = BulkheadConfig::default();
                BulkheadKind::Semaphore(BulkheadConfig {
                    max_concurrent: n.unwrap_or(d.max_concurrent),
                    max_wait: w.unwrap_or(d.max_wait),
                })
            }
        };
        Bulkhead::<u32>::new(kind)?;
        Ok(kind)
    }
}

impl From<BulkheadConfig> for BulkheadKind {
    fn from(c: BulkheadConfig) -> Self {
        BulkheadKind::Semaphore(c)
    }
}

impl BulkheadKind {
    /// Calls it lets run at once: the permits, or the maximum threads.
    pub fn max_concurrent(&self) -> u32 {
        match self {
            BulkheadKind::Semaphore(c) => c.max_concurrent,
            BulkheadKind::ThreadPool(c) => c.max_threads.unwrap_or(c.cpus),
        }
    }
}

/// Either bulkhead behind the semaphore's driver API. A task queued in the thread pool
/// waits until a thread takes it (`Acquire::Queued` with `give_up_at = SimTime::MAX`:
/// an executor queue has no wait limit); a finished task's thread takes the queue head.
#[derive(Clone, Debug)]
pub enum Bulkhead<W> {
    /// The semaphore.
    Semaphore(SemaphoreBulkhead<W>),
    /// The thread pool.
    ThreadPool(ThreadPoolBulkhead<W>),
}

impl<W: Copy + Eq> Bulkhead<W> {
    /// Builds the bulkhead `kind` describes.
    pub fn new(kind: BulkheadKind) -> Result<Self, ConfigError> {
        Ok(match kind {
            BulkheadKind::Semaphore(c) => Bulkhead::Semaphore(SemaphoreBulkhead::new(c)?),
            BulkheadKind::ThreadPool(c) => Bulkhead::ThreadPool(ThreadPoolBulkhead::new(c)?),
        })
    }

    /// Asks for a permit (a thread) for `waiter` at `now`.
    pub fn try_acquire(&mut self, now: SimTime, waiter: W) -> Acquire {
        match self {
            Bulkhead::Semaphore(s) => s.try_acquire(now, waiter),
            Bulkhead::ThreadPool(p) => match p.try_submit(now, waiter) {
                Submit::Started => Acquire::Admitted,
                Submit::Queued => Acquire::Queued {
                    give_up_at: SimTime::MAX,
                },
                Submit::Rejected(r) => Acquire::Rejected(r),
            },
        }
    }

    /// A permit holder is done; returns the waiter that takes its permit (or thread).
    pub fn release(&mut self, now: SimTime) -> Option<W> {
        match self {
            Bulkhead::Semaphore(s) => s.release(now),
            Bulkhead::ThreadPool(p) => p.on_task_finished(now),
        }
    }

    /// `waiter`'s give-up time has come: true if it was still waiting (now removed).
    pub fn on_wait_expired(&mut self, now: SimTime, waiter: W) -> bool {
        match self {
            Bulkhead::Semaphore(s) => s.on_wait_expired(now, waiter),
            Bulkhead::ThreadPool(_) => false,
        }
    }

    /// Removes `waiter` from the queue (it stopped waiting). True if it was queued. A Java
    /// executor would keep a cancelled task queued until a thread skipped it; here it
    /// leaves at once.
    pub fn cancel(&mut self, waiter: W) -> bool {
        match self {
            Bulkhead::Semaphore(s) => s.cancel(waiter),
            Bulkhead::ThreadPool(p) => p.cancel(waiter),
        }
    }
}
