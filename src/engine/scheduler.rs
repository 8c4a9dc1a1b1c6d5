//! [`Scheduler`]: the virtual clock and the pending-event queue.
//!
//! Invariants:
//! - the queue key is `(time, seq)`; `seq` increments on every schedule, so events with
//!   equal times pop in the order they were scheduled, on every machine;
//! - time never goes backwards: scheduling in the past is clamped to `now`, so the event
//!   fires next, after the events already due at `now`;
//! - a cancellable event (a *timer*) is cancelled by bumping the generation of its slot;
//!   the stale entry stays in the heap and is skipped when it pops. Nothing searches inside
//!   the heap and nothing else moves, so cancelling never changes the order of other events.
//!
//! Events are small `Copy` values; the heap and the timer table grow to the largest number
//! of pending events and then stop allocating.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::time::{SimDuration, SimTime};

const NO_TIMER: u32 = u32::MAX;

/// Handle to a cancellable event, returned by [`Scheduler::schedule_timer_at`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: u32,
    generation: u32,
}

struct Entry<E> {
    time: u64,
    seq: u64,
    slot: u32,
    generation: u32,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed, so that the max-heap pops the earliest `(time, seq)`.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

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
    heap: BinaryHeap<Entry<E>>,
    generations: Vec<u32>,
    free_slots: Vec<u32>,
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
            heap: BinaryHeap::with_capacity(n),
            generations: Vec::new(),
            free_slots: Vec::new(),
        }
    }

    /// The current virtual time: the time of the event being handled.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Pending entries, counting cancelled timers not yet skipped.
    pub fn pending(&self) -> usize {
        self.heap.len()
    }

    /// The time of the next live event, if any (cancelled timers at the head are
    /// dropped first: they must not hide a later event from a horizon check).
    pub fn peek_time(&mut self) -> Option<SimTime> {
        while let Some(e) = self.heap.peek() {
            if e.slot != NO_TIMER && self.generations[e.slot as usize] != e.generation {
                self.heap.pop();
                continue;
            }
            return Some(SimTime::from_nanos(e.time));
        }
        None
    }

    #[inline]
    fn push(&mut self, at: SimTime, slot: u32, generation: u32, event: E) {
        let time = at.max(self.now).as_nanos();
        let seq = self.seq;
        self.seq += 1;
        self.heap.push(Entry {
            time,
            seq,
            slot,
            generation,
            event,
        });
    }

    /// Schedules `event` at `at` (clamped to now). It cannot be cancelled.
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, event: E) {
        self.push(at, NO_TIMER, 0, event);
    }

    /// Schedules `event` after `delay`. It cannot be cancelled.
    #[inline]
    pub fn schedule_in(&mut self, delay: SimDuration, event: E) {
        self.push(self.now + delay, NO_TIMER, 0, event);
    }

    /// Schedules a cancellable `event` at `at` (clamped to now).
    #[inline]
    pub fn schedule_timer_at(&mut self, at: SimTime, event: E) -> TimerId {
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.generations.push(0);
                (self.generations.len() - 1) as u32
            }
        };
        let generation = self.generations[slot as usize];
        self.push(at, slot, generation, event);
        TimerId { slot, generation }
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
        let generation = &mut self.generations[id.slot as usize];
        if *generation != id.generation {
            return false;
        }
        *generation = generation.wrapping_add(1);
        self.free_slots.push(id.slot);
        true
    }

    /// Takes the earliest live event off the queue and advances the clock to its time.
    /// Cancelled timers are skipped. `None` when nothing is pending.
    #[inline]
    pub fn pop(&mut self) -> Option<Popped<E>> {
        while let Some(entry) = self.heap.pop() {
            if entry.slot != NO_TIMER {
                let generation = &mut self.generations[entry.slot as usize];
                if *generation != entry.generation {
                    continue; // cancelled
                }
                *generation = generation.wrapping_add(1);
                self.free_slots.push(entry.slot);
            }
            self.now = SimTime::from_nanos(entry.time);
            return Some(Popped {
                time: self.now,
                seq: entry.seq,
                event: entry.event,
            });
        }
        None
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
        fn slots_are_recycled_so_the_table_stays_small() {
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
            assert!(s.generations.len() <= 8, "{}", s.generations.len());
        }
    }
}
