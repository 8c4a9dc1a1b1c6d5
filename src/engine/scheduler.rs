//! [`Scheduler`]: the virtual clock and the pending-event queue.
//!
//! Invariants:
//! - events pop in `(time, seq)` order; `seq` increments on every schedule, so events with
//!   equal times pop in the order they were scheduled, on every machine;
//! - time never goes backwards: scheduling in the past is clamped to `now`, so the event
//!   fires next, after the events already due at `now`;
//! - every pending event lives in a [`TimerWheel`]: inserting is O(1), cancelling a timer
//!   unlinks it in O(1) (it never reaches a heap), and only the events due within the
//!   current ~130 µs sit in a small binary heap. Cancelling never changes the order of
//!   other events.
//!
//! Events are small `Copy` values; the wheel's nodes and its due heap grow to the largest
//! number of pending events and then stop allocating.

pub use crate::engine::wheel::TimerId;
use crate::engine::wheel::TimerWheel;
use crate::time::{SimDuration, SimTime};

/// An event taken off the queue by [`Scheduler::pop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Popped<E> {
    /// When it fires (the scheduler's `now` has advanced to it).
    pub time: SimTime,
    /// Its position in the global scheduling order (for traces).
    pub seq: u64,
    /// The event itself.
    pub event: E,
}

/// The clock and the queue of pending events of one run.
pub struct Scheduler<E> {
    now: SimTime,
    seq: u64,
    queue: TimerWheel<E>,
}

impl<E: Copy> Default for Scheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> Scheduler<E> {
    /// An empty queue with the clock at [`SimTime::ZERO`].
    pub fn new() -> Self {
        Self::with_capacity(1024)
    }

    /// An empty queue with room for `n` pending events before it grows.
    pub fn with_capacity(n: usize) -> Self {
        Scheduler {
            now: SimTime::ZERO,
            seq: 0,
            queue: TimerWheel::with_capacity(n),
        }
    }

    /// The current virtual time: the time of the event being handled.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Pending events, armed timers included (cancelled ones are gone).
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    #[inline]
    fn next_seq(&mut self) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        seq
    }

    /// Schedules `event` at `at` (clamped to now). It cannot be cancelled.
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, event: E) {
        self.schedule_timer_at(at, event);
    }

    /// Schedules `event` after `delay`. It cannot be cancelled.
    #[inline]
    pub fn schedule_in(&mut self, delay: SimDuration, event: E) {
        self.schedule_at(self.now + delay, event);
    }

    /// Schedules a cancellable `event` at `at` (clamped to now).
    #[inline]
    pub fn schedule_timer_at(&mut self, at: SimTime, event: E) -> TimerId {
        let time = at.max(self.now).as_nanos();
        let seq = self.next_seq();
        self.queue.insert(time, seq, event)
    }

    /// Schedules a cancellable `event` after `delay`.
    #[inline]
    pub fn schedule_timer_in(&mut self, delay: SimDuration, event: E) -> TimerId {
        self.schedule_timer_at(self.now + delay, event)
    }

    /// Cancels a timer that has not fired yet. Returns false if it already fired or was
    /// already cancelled. Other events keep their order.
    #[inline]
    pub fn cancel(&mut self, id: TimerId) -> bool {
        self.queue.cancel(id)
    }

    /// Takes the earliest event off the queue and advances the clock to its time.
    /// `None` when nothing is pending.
    #[inline]
    pub fn pop(&mut self) -> Option<Popped<E>> {
        self.pop_until(SimTime::MAX)
    }

    /// [`Scheduler::pop`], but only an event at or before `until`: when the earliest
    /// pending event is later, it stays pending and `None` is returned.
    #[inline]
    pub fn pop_until(&mut self, until: SimTime) -> Option<Popped<E>> {
        let until = until.as_nanos();
        match self.queue.peek_before(until) {
            Some((time, _)) if time <= until => {}
            _ => return None,
        }
        let (time, seq, event) = self.queue.pop_ready();
        self.now = SimTime::from_nanos(time);
        Some(Popped {
            time: self.now,
            seq,
            event,
        })
    }

    /// Moves the clock forward to `t` without handling anything (end of a run at a
    /// horizon). Never moves it backwards.
    pub fn advance_to(&mut self, t: SimTime) {
        self.now = self.now.max(t);
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::*;

    fn drain(s: &mut Scheduler<u32>) -> Vec<(u64, u32)> {
        std::iter::from_fn(|| s.pop().map(|p| (p.time.as_nanos(), p.event))).collect()
    }

    mod ordering {
        use super::*;

        #[test]
        fn pops_by_time_then_insertion_order() {
            let mut s = Scheduler::new();
            s.schedule_at(t_ms(5), 1);
            s.schedule_at(t_ms(1), 2);
            s.schedule_at(t_ms(5), 3);
            s.schedule_at(t_ms(1), 4);
            s.schedule_at(t_ms(3), 5);
            let order: Vec<u32> = drain(&mut s).into_iter().map(|(_, e)| e).collect();
            assert_eq!(order, vec![2, 4, 5, 1, 3]);
        }

        #[test]
        fn many_equal_time_events_keep_insertion_order() {
            let mut s = Scheduler::new();
            for i in 0..10_000 {
                s.schedule_at(t_ms(7), i);
            }
            let order: Vec<u32> = drain(&mut s).into_iter().map(|(_, e)| e).collect();
            assert_eq!(order, (0..10_000).collect::<Vec<_>>());
        }

        #[test]
        fn the_past_is_clamped_to_now_and_fires_after_due_events() {
            let mut s = Scheduler::new();
            s.schedule_at(t_ms(10), 1);
            s.schedule_at(t_ms(10), 2);
            assert_eq!(s.pop().unwrap().event, 1);
            s.schedule_at(t_ms(3), 3); // in the past
            let rest = drain(&mut s);
            assert_eq!(rest, vec![(10_000_000, 2), (10_000_000, 3)]);
            assert_eq!(s.now(), t_ms(10));
        }
    }

    mod timers {
        use super::*;

        #[test]
        fn a_cancelled_timer_never_fires_and_others_keep_their_order() {
            let mut with = Scheduler::new();
            let mut without = Scheduler::new();
            let mut timers = Vec::new();
            for i in 0..100u32 {
                let at = t_ms(u64::from(i % 7));
                with.schedule_at(at, i);
                without.schedule_at(at, i);
                // A timer at the same instant as real events, cancelled before it fires.
                timers.push(with.schedule_timer_at(at, 1000 + i));
            }
            for id in timers {
                assert!(with.cancel(id));
            }
            let got = drain(&mut with);
            assert!(
                got.iter().all(|&(_, e)| e < 1000),
                "a cancelled timer fired"
            );
            assert_eq!(got, drain(&mut without));
        }

        #[test]
        fn cancel_after_firing_or_twice_returns_false() {
            let mut s = Scheduler::new();
            let a = s.schedule_timer_in(ms(1), 1);
            let b = s.schedule_timer_in(ms(2), 2);
            assert!(s.cancel(b));
            assert!(!s.cancel(b));
            assert_eq!(s.pop().unwrap().event, 1);
            assert!(!s.cancel(a), "already fired");
            assert!(s.pop().is_none());
        }

        #[test]
        fn a_reused_slot_does_not_revive_a_cancelled_entry() {
            let mut s = Scheduler::new();
            let old = s.schedule_timer_at(t_ms(5), 1);
            assert!(s.cancel(old));
            let new = s.schedule_timer_at(t_ms(5), 2); // reuses the slot
            assert_ne!(old, new);
            assert_eq!(drain(&mut s), vec![(5_000_000, 2)]);
        }

        #[test]
        fn nodes_are_recycled_so_the_queue_stays_small() {
            let mut s = Scheduler::new();
            for round in 0..1000u32 {
                let id = s.schedule_timer_in(ms(10), round);
                if round % 2 == 0 {
                    s.cancel(id);
                }
                s.schedule_in(ms(1), round);
                while s.pending() > 4 {
                    s.pop();
                }
            }
            assert!(s.queue.capacity_used() <= 8, "{}", s.queue.capacity_used());
        }
    }
}
