//! Health counting of the two presets: Hystrix's 500 ms health buckets, read on periodic
//! *snapshots* (§9.1), and Polly's rolling sub-windows that start at event times (§4.3).
//!
//! They differ from Resilience4j's windows in *when* the breaker looks: Hystrix decides only
//! at snapshot instants (every `health_interval` on a grid that starts when the stream is
//! (re)created), so a burst of failures trips it up to one interval late; Polly looks only
//! after a failure. Both allocate once, at construction.

use super::config::{HystrixRules, PollyRules};
use crate::time::{SimDuration, SimTime};

const EMPTY: u64 = u64::MAX;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    index: u64,
    total: u32,
    errors: u32,
}

const EMPTY_BUCKET: Bucket = Bucket {
    index: EMPTY,
    total: 0,
    errors: 0,
};

/// Hystrix `HealthCountsStream`: buckets of `health_interval` on a grid starting at
/// `origin`; the snapshot at `origin + k·interval` sums the `buckets` completed buckets
/// `k−buckets ..= k−1`. One extra slot holds the bucket still filling.
#[derive(Clone, Debug)]
pub(crate) struct HealthBuckets {
    slots: Vec<Bucket>,
    buckets: u64,
    interval: SimDuration,
    origin: SimTime,
    next_k: u64,
}

impl HealthBuckets {
    pub fn new(rules: &HystrixRules) -> Self {
        HealthBuckets {
            slots: vec![EMPTY_BUCKET; rules.buckets as usize + 1],
            buckets: u64::from(rules.buckets),
            interval: rules.health_interval,
            origin: SimTime::ZERO,
            next_k: 1,
        }
    }

    /// `resetStream()`: a new stream whose grid starts at `now`, with nothing counted.
    pub fn reset(&mut self, now: SimTime) {
        self.slots.fill(EMPTY_BUCKET);
        self.origin = now;
        self.next_k = 1;
    }

    /// The instant of the next health snapshot.
    pub fn next_snapshot(&self) -> SimTime {
        let offset = self.interval.as_nanos().saturating_mul(self.next_k);
        self.origin + SimDuration::from_nanos(offset)
    }

    /// Counts one finished request at `now` (call only after due snapshots were taken).
    pub fn record(&mut self, now: SimTime, error: bool) {
        let b = (now - self.origin).as_nanos() / self.interval.as_nanos();
        let len = self.slots.len() as u64;
        let slot = &mut self.slots[(b % len) as usize];
        if slot.index != b {
            *slot = Bucket {
                index: b,
                total: 0,
                errors: 0,
            };
        }
        slot.total += 1;
        slot.errors += u32::from(error);
    }

    /// Requests that the next snapshot or a later one can still see.
    pub fn pending(&self) -> u32 {
        let first = self.next_k.saturating_sub(self.buckets);
        self.slots
            .iter()
            .filter(|s| s.index != EMPTY && s.index >= first)
            .map(|s| s.total)
            .sum()
    }

    /// Takes the next snapshot: `(total, error percentage)` of its window.
    pub fn take_snapshot(&mut self) -> (u32, u32) {
        let k = self.next_k;
        let first = k.saturating_sub(self.buckets);
        let (mut total, mut errors) = (0u32, 0u32);
        for s in &self.slots {
            if s.index != EMPTY && s.index >= first && s.index < k {
                total += s.total;
                errors += s.errors;
            }
        }
        self.next_k += 1;
        (total, error_percentage(errors, total))
    }

    /// Skips every snapshot at or before `now` (they cannot see enough requests to trip).
    pub fn skip_past(&mut self, now: SimTime) {
        self.next_k = (now - self.origin).as_nanos() / self.interval.as_nanos() + 1;
    }
}

/// `HealthCounts`: `(int) ((double) errors / total * 100)`, 0 when empty. Evaluated in
/// `f64` exactly like Java, so e.g. 29/50 gives 57 (0.58·100 = 57.99…), not 58.
pub(crate) fn error_percentage(errors: u32, total: u32) -> u32 {
    if total == 0 {
        0
    } else {
        (f64::from(errors) / f64::from(total) * 100.0) as u32
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Window {
    start: SimTime,
    successes: u32,
    failures: u32,
}

/// At most 10 sub-windows can be live (their starts are ≥ window apart and all lie within
/// one sampling duration); one spare slot absorbs tick rounding.
const POLLY_SLOTS: usize = 11;
const NS_PER_TICK: u64 = 100;

/// Polly `RollingHealthMetrics`: 10 sub-windows of `sampling_duration / 10`, each starting
/// at the first event after the previous one aged out of its slot.
#[derive(Clone, Debug)]
pub(crate) struct RollingHealth {
    windows: [Window; POLLY_SLOTS],
    head: usize,
    len: usize,
    window: SimDuration,
    sampling: SimDuration,
}

impl RollingHealth {
    pub fn new(rules: &PollyRules) -> Self {
        // TimeSpan.FromTicks(SamplingDuration.Ticks / 10), in 100 ns ticks.
        let ticks = rules.sampling_duration.as_nanos() / NS_PER_TICK / 10;
        RollingHealth {
            windows: [Window::default(); POLLY_SLOTS],
            head: 0,
            len: 0,
            window: SimDuration::from_nanos(ticks * NS_PER_TICK),
            sampling: rules.sampling_duration,
        }
    }

    pub fn reset(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// `UpdateCurrentWindow`: start a new sub-window if the current one is `window` old,
    /// then drop sub-windows that started `sampling` or more ago. Returns the current slot.
    fn update(&mut self, now: SimTime) -> usize {
        let cur = (self.head + self.len + POLLY_SLOTS - 1) % POLLY_SLOTS;
        let cur = if self.len == 0 || now - self.windows[cur].start >= self.window {
            if self.len == POLLY_SLOTS {
                self.head = (self.head + 1) % POLLY_SLOTS;
                self.len -= 1;
            }
            let slot = (self.head + self.len) % POLLY_SLOTS;
            self.windows[slot] = Window {
                start: now,
                successes: 0,
                failures: 0,
            };
            self.len += 1;
            slot
        } else {
            cur
        };
        while now - self.windows[self.head].start >= self.sampling {
            self.head = (self.head + 1) % POLLY_SLOTS;
            self.len -= 1;
        }
        cur
    }

    pub fn success(&mut self, now: SimTime) {
        let i = self.update(now);
        self.windows[i].successes += 1;
    }

    pub fn failure(&mut self, now: SimTime) {
        let i = self.update(now);
        self.windows[i].failures += 1;
    }

    /// `GetHealthInfo`: `(throughput, failure ratio)` over the live sub-windows.
    pub fn health(&mut self, now: SimTime) -> (u32, f64) {
        self.update(now);
        let (mut s, mut f) = (0u32, 0u32);
        for i in 0..self.len {
            let w = &self.windows[(self.head + i) % POLLY_SLOTS];
            s += w.successes;
            f += w.failures;
        }
        let total = s + f;
        let ratio = if total == 0 {
            0.0
        } else {
            f64::from(f) / f64::from(total)
        };
        (total, ratio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::*;

    mod hystrix_buckets {
        use super::*;

        fn hb() -> HealthBuckets {
            HealthBuckets::new(&HystrixRules {
                request_volume: 20,
                error_percentage: 50,
                buckets: 20,
                health_interval: ms(500),
                sleep_window_ms: 5000,
            })
        }

        #[test]
        fn truncates_the_percentage_like_java() {
            assert_eq!(error_percentage(499, 1000), 49);
            assert_eq!(error_percentage(29, 50), 57);
            assert_eq!(error_percentage(1, 2), 50);
            assert_eq!(error_percentage(0, 0), 0);
        }

        #[test]
        fn a_snapshot_sees_only_completed_buckets_of_the_last_window() {
            let mut h = hb();
            h.record(t_ms(100), true);
            assert_eq!(h.next_snapshot(), t_ms(500));
            h.record(t_ms(499), false);
            assert_eq!(h.take_snapshot(), (2, 50));
            h.record(t_ms(500), true); // bucket 1, seen from the 1000 ms snapshot
            assert_eq!(h.pending(), 3);
            h.skip_past(t_ms(10_400)); // next snapshot 10.5 s: buckets 1..=20
            assert_eq!(h.next_snapshot(), t_ms(10_500));
            assert_eq!(h.take_snapshot(), (1, 100));
            assert_eq!(h.pending(), 0);
        }

        #[test]
        fn reset_restarts_the_grid() {
            let mut h = hb();
            h.record(t_ms(100), true);
            h.reset(t_ms(7_300));
            assert_eq!(h.pending(), 0);
            assert_eq!(h.next_snapshot(), t_ms(7_800));
        }
    }

    mod polly_windows {
        use super::*;

        fn rh() -> RollingHealth {
            RollingHealth::new(&PollyRules {
                failure_ratio: 0.5,
                minimum_throughput: 2,
                sampling_duration: secs(10),
                break_duration: secs(5),
            })
        }

        #[test]
        fn sub_windows_start_at_events_and_expire_after_the_sampling_duration() {
            let mut h = rh();
            h.failure(t_ms(300)); // window [300 ..)
            h.success(t_ms(1_200)); // same window (900 ms old < 1 s)
            h.success(t_ms(1_300)); // new window at 1300
            assert_eq!(h.health(t_ms(10_299)), (3, 1.0 / 3.0));
            assert_eq!(h.health(t_ms(10_300)), (1, 0.0));
            assert_eq!(h.health(t_ms(11_300)), (0, 0.0));
        }

        #[test]
        fn never_holds_more_than_ten_live_windows() {
            let mut h = rh();
            for i in 0..100 {
                h.failure(t_ms(i * 1_000));
                assert!(h.len <= 10);
            }
            assert_eq!(h.health(t_ms(99_000)).0, 10);
        }
    }
}
