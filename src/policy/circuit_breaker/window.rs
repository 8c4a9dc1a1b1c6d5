//! Resilience4j's sliding windows: the COUNT_BASED ring of the last N calls and the
//! TIME_BASED (SYNCHRONIZED) ring of per-second buckets, plus the threshold check both
//! feed (§1.3, §1.4 of policy-semantics.md).
//!
//! Both windows keep running totals so a record or a check costs O(1) (O(N) only when a
//! long idle gap rotates a whole time ring), and both allocate once, at construction.
//! The time window buckets by *whole seconds of virtual time* (virtual time 0 is epoch
//! second 0), exactly like Resilience4j buckets by epoch second: the window is "the current
//! partial second plus the N−1 whole seconds before it", not a precise N-second span, so a
//! call at 10.999 s leaves a 10 s window at exactly 20 s.

use super::config::RateRules;
use crate::time::{SimDuration, SimTime};

/// Call counts of one bucket, or of a whole window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub calls: u32,
    pub failed: u32,
    pub slow: u32,
}

impl Tally {
    /// One recorded call: failed or not, slow if it took strictly longer than `slow_after`.
    pub fn one(failed: bool, took: SimDuration, slow_after: SimDuration) -> Tally {
        Tally {
            calls: 1,
            failed: u32::from(failed),
            slow: u32::from(took > slow_after),
        }
    }
    fn add(&mut self, o: Tally) {
        self.calls += o.calls;
        self.failed += o.failed;
        self.slow += o.slow;
    }
    fn sub(&mut self, o: Tally) {
        self.calls -= o.calls;
        self.failed -= o.failed;
        self.slow -= o.slow;
    }
}

/// What the threshold check concluded (Resilience4j `CircuitBreakerMetrics.Result`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    BelowMinimumCalls,
    BelowThresholds,
    Exceeded,
}

impl RateRules {
    /// §1.3: rates as Java `float` (`failed * 100.0f / calls`), both compared with `>=`.
    pub fn check(&self, t: Tally, minimum_calls: u32) -> Verdict {
        if t.calls == 0 || t.calls < minimum_calls {
            return Verdict::BelowMinimumCalls;
        }
        let failure_rate = t.failed as f32 * 100.0 / t.calls as f32;
        let slow_rate = t.slow as f32 * 100.0 / t.calls as f32;
        if failure_rate >= self.failure_rate || slow_rate >= self.slow_call_rate {
            Verdict::Exceeded
        } else {
            Verdict::BelowThresholds
        }
    }
}

/// COUNT_BASED: the last `size` recorded calls. A ring of one-call slots plus totals.
#[derive(Clone, Debug)]
pub(crate) struct CountWindow {
    slots: Vec<Tally>,
    head: usize,
    totals: Tally,
}

impl CountWindow {
    pub fn new(size: u32) -> Self {
        CountWindow {
            slots: vec![Tally::default(); size as usize],
            head: 0,
            totals: Tally::default(),
        }
    }

    /// Records one call, evicting the oldest once full; returns the new totals.
    pub fn record(&mut self, t: Tally) -> Tally {
        self.head = (self.head + 1) % self.slots.len();
        let slot = &mut self.slots[self.head];
        self.totals.sub(*slot);
        *slot = t;
        self.totals.add(t);
        self.totals
    }

    pub fn reset(&mut self) {
        self.slots.fill(Tally::default());
        self.head = 0;
        self.totals = Tally::default();
    }
}

/// TIME_BASED, SYNCHRONIZED: `size` one-second buckets tagged with the virtual second they
/// count; rotated lazily (on record) but exactly, because the tags are absolute.
#[derive(Clone, Debug)]
pub(crate) struct TimeWindow {
    buckets: Vec<Tally>,
    head: usize,
    head_second: u64,
    totals: Tally,
}

fn second_of(now: SimTime) -> u64 {
    now.as_nanos() / 1_000_000_000
}

impl TimeWindow {
    pub fn new(secs: u32) -> Self {
        TimeWindow {
            buckets: vec![Tally::default(); secs as usize],
            head: 0,
            head_second: 0,
            totals: Tally::default(),
        }
    }

    /// `moveWindowToCurrentEpochSecond`: advance the head to `now`'s second, clearing
    /// every bucket that fell out (at most `size` of them). Time never runs backwards for
    /// one breaker; an earlier `now` is counted in the current head bucket.
    fn roll(&mut self, now: SimTime) {
        let s = second_of(now);
        if s <= self.head_second {
            return;
        }
        let n = self.buckets.len() as u64;
        let k = (s - self.head_second).min(n);
        for _ in 0..k {
            self.head = (self.head + 1) % self.buckets.len();
            let b = &mut self.buckets[self.head];
            self.totals.sub(*b);
            *b = Tally::default();
        }
        self.head_second = s;
    }

    /// Records one call at `now`; returns the totals of the window ending at `now`.
    pub fn record(&mut self, now: SimTime, t: Tally) -> Tally {
        self.roll(now);
        self.buckets[self.head].add(t);
        self.totals.add(t);
        self.totals
    }

    /// A fresh window created at `now` (Resilience4j builds new metrics on entering Closed).
    pub fn reset(&mut self, now: SimTime) {
        self.buckets.fill(Tally::default());
        self.head = 0;
        self.head_second = second_of(now);
        self.totals = Tally::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::*;

    const FAIL: Tally = Tally {
        calls: 1,
        failed: 1,
        slow: 0,
    };
    const OK: Tally = Tally {
        calls: 1,
        failed: 0,
        slow: 0,
    };

    fn rules(rate: f32, min: u32) -> RateRules {
        RateRules {
            failure_rate: rate,
            slow_call_rate: 100.0,
            slow_call_duration: secs(60),
            minimum_calls: min,
        }
    }

    mod threshold_check {
        use super::*;

        #[test]
        fn trips_at_exactly_the_threshold() {
            let t = Tally {
                calls: 10,
                failed: 5,
                slow: 0,
            };
            assert_eq!(rules(50.0, 10).check(t, 10), Verdict::Exceeded);
            assert_eq!(rules(50.1, 10).check(t, 10), Verdict::BelowThresholds);
            assert_eq!(rules(50.0, 11).check(t, 11), Verdict::BelowMinimumCalls);
        }

        #[test]
        fn uses_java_float_arithmetic() {
            // 1 of 3 in f32 is 33.333332; a threshold written as 33.333332 trips.
            let t = Tally {
                calls: 3,
                failed: 1,
                slow: 0,
            };
            assert_eq!(rules(33.333332, 1).check(t, 1), Verdict::Exceeded);
            assert_eq!(rules(33.34, 1).check(t, 1), Verdict::BelowThresholds);
        }

        #[test]
        fn slow_means_strictly_longer() {
            assert_eq!(Tally::one(false, secs(60), secs(60)).slow, 0);
            assert_eq!(Tally::one(false, secs(60) + ns(1), secs(60)).slow, 1);
        }
    }

    mod count_window {
        use super::*;

        #[test]
        fn keeps_only_the_last_n_calls() {
            let mut w = CountWindow::new(3);
            w.record(FAIL);
            w.record(FAIL);
            w.record(OK);
            let t = w.record(OK);
            assert_eq!((t.calls, t.failed), (3, 1));
            let t = w.record(OK);
            assert_eq!((t.calls, t.failed), (3, 0));
            w.reset();
            assert_eq!(w.record(FAIL).calls, 1);
        }
    }

    mod time_window {
        use super::*;

        #[test]
        fn a_call_at_10_999s_leaves_a_10s_window_at_exactly_20s() {
            let mut w = TimeWindow::new(10);
            w.record(t_ms(10_999), FAIL);
            assert_eq!(w.record(t_ms(19_999), OK).failed, 1);
            assert_eq!(w.record(t_ms(20_000), OK).failed, 0);
        }

        #[test]
        fn a_long_gap_clears_everything_once() {
            let mut w = TimeWindow::new(4);
            for s in 0..4 {
                w.record(t_ms(s * 1000), FAIL);
            }
            assert_eq!(w.record(t_ms(3_500), OK).calls, 5);
            assert_eq!(w.record(t_ms(1_000_000), OK).calls, 1);
        }

        #[test]
        fn reset_aligns_to_the_current_second() {
            let mut w = TimeWindow::new(2);
            w.record(t_ms(100), FAIL);
            w.reset(t_ms(5_500));
            assert_eq!(w.record(t_ms(5_600), OK).calls, 1);
            assert_eq!(w.record(t_ms(6_900), OK).calls, 2);
            assert_eq!(w.record(t_ms(7_000), OK).calls, 2);
        }
    }
}
