//! What the operating system provides: an interrupt flag set by Ctrl-C (SIGINT) or
//! SIGTERM (what Slurm and Kubernetes send before they kill a job), and the memory that
//! is free for runs.
//!
//! Why no crate: on Unix the C library that std already links has `signal(2)`; the
//! handler only sets an atomic flag (async-signal-safe), and a second signal exits at
//! once. The runner polls the flag, stops taking jobs, and lets running ones give up at
//! their next guard step, so finished jobs are kept and nothing half-written appears.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
mod unix {
    use super::{Ordering, STOP};

    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;

    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
        fn _exit(status: i32) -> !;
    }

    extern "C" fn on_signal(_: i32) {
        if STOP.swap(true, Ordering::SeqCst) {
            // Second signal: the user means it.
            unsafe { _exit(130) }
        }
    }

    pub fn install() {
        let handler = on_signal as extern "C" fn(i32) as usize;
        // SAFETY: `signal` is the C library's; the handler only touches an atomic and
        // calls `_exit`, both async-signal-safe.
        unsafe {
            signal(SIGINT, handler);
            signal(SIGTERM, handler);
        }
    }
}

/// Installs the interrupt handler (once) and returns the flag it sets.
pub fn interrupt_flag() -> &'static AtomicBool {
    #[cfg(unix)]
    unix::install();
    &STOP
}

/// Memory available for new runs, in bytes: `MemAvailable` of `/proc/meminfo`, or the
/// container's limit (cgroup v2 `memory.max`) if that is lower; `None` where neither
/// can be read.
pub fn free_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .map(|limit| {
            let used = std::fs::read_to_string("/sys/fs/cgroup/memory.current")
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .unwrap_or(0);
            limit.saturating_sub(used)
        });
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_memory_is_plausible_where_it_can_be_read() {
        if let Some(m) = super::free_memory() {
            assert!(m > 1 << 20, "{m} bytes free");
        }
    }
}
