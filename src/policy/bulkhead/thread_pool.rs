//! The thread-pool flavour: Java's `ThreadPoolExecutor` admission, exactly.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::policy::{ConfigError, RejectReason};
use crate::time::{SimDuration, SimTime};

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

    /// Removes a queued `task` that will not run after all (its caller left). True if it
    /// was queued.
    pub fn cancel(&mut self, task: W) -> bool {
        match self.queue.iter().position(|&t| t == task) {
            Some(i) => {
                self.queue.remove(i);
                true
            }
            None => false,
        }
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
