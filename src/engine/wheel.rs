//! [`TimerWheel`]: the pending events of a run in a hierarchical timing wheel (Varghese &
//! Lauck, as in the Linux kernel and tokio): inserting is O(1), cancelling a timer is O(1)
//! and a cancelled timer never reaches a heap.
//!
//! Almost every timer of a service graph is cancelled: an attempt timeout is armed for
//! every call and disarmed when the answer comes, milliseconds later. In a binary heap a
//! cancelled entry stays until it surfaces, so the heap is mostly garbage and every pop
//! pays for it; and even without timers, a heap of every pending event pays `log n` per
//! pop. Here an event is an entry (its time, sequence number and the event itself) in the
//! list of one slot of the wheel; a small node per timer (12 bytes) says where its entry
//! is, and cancelling takes the entry off its list with a swap-remove. Entries move by
//! value from slot to slot, so taking a slot reads one contiguous list and touches no
//! node.
//!
//! Layout: level `k` has 64 slots of `2^(SHIFT + 6k)` ns. An event sits at the level of
//! the highest 6-bit digit (above `SHIFT`) in which its time differs from the wheel's
//! `cursor`, in the slot of that digit; so every event at level `k` is later than every
//! event at levels below `k`, and within a level the lowest occupied slot holds the
//! earliest ones. Advancing takes the lowest occupied slot of the lowest occupied level:
//! at level 0 its events move to `ready`, a small binary heap ordered by `(time, seq)`;
//! above, they are spread again over the levels below. Invariant: every live event
//! earlier than `cursor` is in `ready`, every other one is in the wheel.
//!
//! The order of firing is exact `(time, seq)`, as if every event were in one heap. A timer
//! cancelled while it is in `ready` (in its last ~130 µs) is skipped when it
//! surfaces there.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::num::NonZeroU32;

/// Level-0 slot width: 2^17 ns ≈ 131 µs (a wider slot puts more events in `ready`).
const SHIFT: u32 = 17;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// 8 levels of 6 bits above `SHIFT` cover every `u64` time.
const LEVELS: usize = 8;
const NONE: u32 = u32::MAX;
/// Entries a slot's list keeps room for when it empties.
const FLOOR: usize = 32;
/// `Node::at` of a node that is not in a slot's list (in `ready`, or free).
const NOWHERE: u16 = u16::MAX;

/// A cancellable event: its node index and the node's generation when it was armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    node: u32,
    /// Never zero, so that an `Option<TimerId>` takes no more room than the id.
    generation: NonZeroU32,
}

/// Where a timer's entry is. Its generation moves on when the timer fires or is
/// cancelled, so old ids are stale.
#[derive(Clone, Copy)]
struct Node {
    generation: NonZeroU32,
    /// Its entry's index in slot `at`'s list (possibly stale: see
    /// [`TimerWheel::cancel`]); the next free node while free.
    pos: u32,
    /// `level * 64 + slot` of the list its entry was last put in, or [`NOWHERE`].
    at: u16,
}

/// A pending event, in a slot's list or in `ready`.
#[derive(Clone, Copy)]
struct Entry<E> {
    time: u64,
    seq: u64,
    node: u32,
    generation: NonZeroU32,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed: the max-heap pops the earliest `(time, seq)`.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// The cancellable events of one run.
pub struct TimerWheel<E> {
    nodes: Vec<Node>,
    free: u32,
    /// The entries of each slot (`level * 64 + slot`), in no particular order: a slot is
    /// taken whole, and `ready` orders what is due.
    slots: Vec<Vec<Entry<E>>>,
    occupied: [u64; LEVELS],
    /// Every live timer earlier than this is in `ready`; the wheel holds the others.
    cursor: u64,
    ready: BinaryHeap<Entry<E>>,
    live: usize,
}

impl<E: Copy> Default for TimerWheel<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> TimerWheel<E> {
    /// An empty wheel with its cursor at time zero.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty wheel with room for `n` pending events before it grows.
    pub fn with_capacity(n: usize) -> Self {
        TimerWheel {
            nodes: Vec::with_capacity(n),
            free: NONE,
            slots: (0..LEVELS * SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; LEVELS],
            cursor: 0,
            ready: BinaryHeap::new(),
            live: 0,
        }
    }

    /// Timers armed and neither fired nor cancelled.
    #[inline]
    pub fn len(&self) -> usize {
        self.live
    }

    /// Nodes allocated: the most events ever pending at once.
    #[cfg(test)]
    pub fn capacity_used(&self) -> usize {
        self.nodes.len()
    }

    /// True when no timer is armed.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Arms `event` at `(time, seq)`. `time` must not be earlier than any timer already
    /// taken off the wheel (the scheduler clamps times to its clock).
    #[inline]
    pub fn insert(&mut self, time: u64, seq: u64, event: E) -> TimerId {
        let node = if self.free != NONE {
            let n = self.free;
            self.free = self.nodes[n as usize].pos;
            n
        } else {
            self.nodes.push(Node {
                generation: NonZeroU32::MIN,
                pos: NONE,
                at: NOWHERE,
            });
            (self.nodes.len() - 1) as u32
        };
        self.live += 1;
        let generation = self.nodes[node as usize].generation;
        let entry = Entry {
            time,
            seq,
            node,
            generation,
            event,
        };
        if time < self.cursor {
            self.nodes[node as usize].at = NOWHERE;
            self.ready.push(entry);
        } else {
            self.place(entry);
        }
        TimerId { node, generation }
    }

    /// Puts a live entry, not earlier than the cursor, in the slot its time belongs to,
    /// relative to the cursor.
    #[inline]
    fn place(&mut self, e: Entry<E>) {
        let diff = (e.time >> SHIFT) ^ (self.cursor >> SHIFT);
        let level = if diff == 0 {
            0
        } else {
            (63 - diff.leading_zeros()) / SLOT_BITS
        };
        let slot = (e.time >> (SHIFT + SLOT_BITS * level)) as usize & (SLOTS - 1);
        let at = level as usize * SLOTS + slot;
        let list = &mut self.slots[at];
        self.nodes[e.node as usize] = Node {
            generation: e.generation,
            pos: list.len() as u32,
            at: at as u16,
        };
        list.push(e);
        self.occupied[level as usize] |= 1 << slot;
    }

    /// Returns a node to the free list; its generation moves on, so old ids are stale.
    #[inline]
    fn release(&mut self, node: u32) {
        let n = &mut self.nodes[node as usize];
        n.generation = next_generation(n.generation);
        n.at = NOWHERE;
        n.pos = self.free;
        self.free = node;
        self.live -= 1;
    }

    /// Cancels a timer that has not fired. Returns false if it already fired or was
    /// already cancelled. O(1); other timers keep their order.
    ///
    /// A live timer's entry is in `ready` or at `(at, pos)`: an entry moved to `ready`
    /// leaves its node pointing at the slot it came from, whose list has been emptied
    /// since; another timer's entry there never carries this node and generation.
    #[inline]
    pub fn cancel(&mut self, id: TimerId) -> bool {
        let Some(&n) = self.nodes.get(id.node as usize) else {
            return false;
        };
        if n.generation != id.generation {
            return false;
        }
        let (at, pos) = (n.at as usize, n.pos as usize);
        if let Some(list) = self.slots.get_mut(at)
            && list
                .get(pos)
                .is_some_and(|e| e.node == id.node && e.generation == id.generation)
        {
            list.swap_remove(pos);
            if let Some(moved) = list.get(pos) {
                self.nodes[moved.node as usize].pos = pos as u32;
            }
            if list.is_empty() {
                self.occupied[at / SLOTS] &= !(1 << (at % SLOTS));
            }
            if list.len() * 4 < list.capacity() {
                trim(list, list.capacity() / 2);
            }
        }
        // In `ready`: the entry stays and is skipped (its generation no longer matches).
        self.release(id.node);
        true
    }

    /// Brings every live timer at or before `upto` into `ready`, then returns the key
    /// `(time, seq)` of the earliest one there (which may lie after `upto`), or `None`
    /// when `ready` is empty: then every live timer is later than `upto`.
    #[inline]
    pub fn peek_before(&mut self, before: u64) -> Option<(u64, u64)> {
        loop {
            while let Some(top) = self.ready.peek() {
                if self.nodes[top.node as usize].generation == top.generation {
                    return Some((top.time, top.seq));
                }
                self.ready.pop(); // cancelled while due
            }
            // `ready` is empty: every live timer is at or after the cursor.
            if self.live == 0 || before < self.cursor || !self.advance(before) {
                return None;
            }
        }
    }

    /// Takes the earliest timer, which [`TimerWheel::peek_before`] just returned.
    #[inline]
    pub fn pop_ready(&mut self) -> (u64, u64, E) {
        let top = self.ready.pop().expect("peeked a ready timer");
        self.release(top.node);
        (top.time, top.seq, top.event)
    }

    /// Processes the lowest occupied slot, if it starts at or before `before`: into
    /// `ready` at level 0, spread over the levels below otherwise. Only called with live
    /// timers in the wheel and `ready` empty. False when there was nothing to do.
    fn advance(&mut self, before: u64) -> bool {
        let Some(level) = self.occupied.iter().position(|&bits| bits != 0) else {
            debug_assert!(false, "advance with an empty wheel");
            return false;
        };
        let slot = self.occupied[level].trailing_zeros() as usize;
        let shift = SHIFT + SLOT_BITS * level as u32;
        // The slot's start: the cursor's digits above this level, this slot's digit.
        let above = shift + SLOT_BITS;
        let high = if above >= 64 {
            0
        } else {
            (self.cursor >> above) << above
        };
        let start = high | ((slot as u64) << shift);
        if start > before {
            return false;
        }
        let at = level * SLOTS + slot;
        self.occupied[level] &= !(1 << slot);
        if level == 0 {
            let old = self.cursor;
            self.cursor = start + (1 << SHIFT);
            self.take_due(at);
            // The cursor may have carried into the next slot of higher levels: the timers
            // there now share the cursor's digit and belong lower down.
            let carried = (old ^ self.cursor) >> (SHIFT + SLOT_BITS);
            if carried != 0 {
                let top = (63 - carried.leading_zeros()) / SLOT_BITS + 1;
                for k in (1..=top.min(LEVELS as u32 - 1)).rev() {
                    let digit = (self.cursor >> (SHIFT + SLOT_BITS * k)) as usize & (SLOTS - 1);
                    self.occupied[k as usize] &= !(1 << digit);
                    self.replace_slot(k as usize * SLOTS + digit);
                }
            }
        } else {
            debug_assert!(start > self.cursor, "a higher slot starts after the cursor");
            self.cursor = start;
            self.replace_slot(at);
        }
        true
    }

    /// Moves the live entries of level-0 slot `at` (now behind the cursor) to `ready`;
    /// their nodes are not touched (see [`TimerWheel::cancel`]).
    #[inline]
    fn take_due(&mut self, at: usize) {
        let list = &mut self.slots[at];
        self.ready.extend(list.iter().copied());
        list.clear();
        trim(list, 0);
    }

    /// Places again every live entry of slot `at` (its occupied bit already cleared).
    /// They all go to lower levels or to `ready`, never back to `at`.
    #[inline]
    fn replace_slot(&mut self, at: usize) {
        let mut list = std::mem::take(&mut self.slots[at]);
        for &e in &list {
            if e.time < self.cursor {
                self.nodes[e.node as usize].at = NOWHERE;
                self.ready.push(e);
            } else {
                self.place(e);
            }
        }
        list.clear();
        trim(&mut list, 0);
        self.slots[at] = list;
    }
}

/// The generation after `g`, skipping zero when it wraps.
#[inline]
pub(crate) fn next_generation(g: NonZeroU32) -> NonZeroU32 {
    NonZeroU32::new(g.get().wrapping_add(1)).unwrap_or(NonZeroU32::MIN)
}

/// Gives back a list's memory beyond `keep` entries (and [`FLOOR`]). A list a quarter
/// full halves, and a taken slot starts again from the floor (its next entries are a
/// rotation away): the wheel's memory follows the entries pending now, not the sum over
/// its 512 slots of each one's busiest moment. (Black Friday's long timers once left
/// ~10,000 entries of room in each of 60 level-3 slots.)
#[inline]
fn trim<T>(list: &mut Vec<T>, keep: usize) {
    if list.capacity() > keep.max(FLOOR) {
        list.shrink_to(keep.max(FLOOR));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_optional_id_costs_nothing_and_generations_skip_zero_when_they_wrap() {
        assert_eq!(std::mem::size_of::<Option<TimerId>>(), 8);
        let last = NonZeroU32::new(u32::MAX).unwrap();
        assert_eq!(next_generation(last), NonZeroU32::MIN);
        assert_eq!(next_generation(NonZeroU32::MIN).get(), 2);
    }

    /// Pops everything in order, as the scheduler does with no other events.
    fn drain(w: &mut TimerWheel<u32>) -> Vec<(u64, u64, u32)> {
        let mut out = Vec::new();
        while w.peek_before(u64::MAX).is_some() {
            out.push(w.pop_ready());
        }
        out
    }

    #[test]
    fn fires_in_time_then_sequence_order_across_levels() {
        let mut w = TimerWheel::new();
        let times = [
            5u64,
            1 << 40,
            3_000_000,
            3_000_000,
            70_000_000,
            0,
            1 << 25,
            999,
        ];
        for (seq, &t) in times.iter().enumerate() {
            w.insert(t, seq as u64, seq as u32);
        }
        let got: Vec<u64> = drain(&mut w).iter().map(|&(t, s, _)| t * 100 + s).collect();
        let mut want: Vec<u64> = times
            .iter()
            .enumerate()
            .map(|(s, &t)| t * 100 + s as u64)
            .collect();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn a_cancelled_timer_never_fires_wherever_it_is() {
        let mut w = TimerWheel::new();
        let near = w.insert(10, 0, 0);
        let far = w.insert(1 << 36, 1, 1);
        let kept = w.insert(1 << 30, 2, 2);
        assert!(w.cancel(far));
        assert_eq!(w.peek_before(u64::MAX), Some((10, 0)));
        assert!(w.cancel(near), "cancelled while due");
        assert!(!w.cancel(near));
        assert_eq!(drain(&mut w), vec![(1 << 30, 2, 2)]);
        assert!(!w.cancel(kept), "already fired");
        assert!(w.is_empty());
    }

    #[test]
    fn nodes_are_recycled_and_old_ids_stay_stale() {
        let mut w = TimerWheel::new();
        let old = w.insert(100, 0, 0);
        assert!(w.cancel(old));
        let new = w.insert(100, 1, 1);
        assert_ne!(old, new);
        assert!(!w.cancel(old), "a stale id does not cancel the new timer");
        assert_eq!(drain(&mut w), vec![(100, 1, 1)]);
        for i in 0..1000u32 {
            let id = w.insert(200 + u64::from(i), u64::from(i), i);
            w.cancel(id);
        }
        assert_eq!(w.nodes.len(), 1);
    }

    #[test]
    fn cancelling_most_of_a_slot_keeps_the_rest_in_order() {
        let mut w = TimerWheel::new();
        // 1000 timers in one slot of level 2 (about a second away), 900 of them cancelled
        // in an order unrelated to their positions in the slot's list.
        let ids: Vec<_> = (0..1000u32)
            .map(|i| w.insert(1_000_000_000 + u64::from(i * 7 % 1000), u64::from(i), i))
            .collect();
        for k in 0..1000usize {
            let i = k * 337 % 1000;
            if i % 10 != 0 {
                assert!(w.cancel(ids[i]));
            }
        }
        assert_eq!(w.slots.iter().map(Vec::len).sum::<usize>(), 100);
        let mut want: Vec<_> = (0..1000u32)
            .filter(|i| i % 10 == 0)
            .map(|i| (1_000_000_000 + u64::from(i * 7 % 1000), u64::from(i), i))
            .collect();
        want.sort();
        assert_eq!(drain(&mut w), want);
        assert!(w.is_empty());
        let room: usize = w.slots.iter().map(Vec::capacity).sum();
        assert!(
            room <= LEVELS * SLOTS * FLOOR,
            "{room}: emptied lists gave memory back"
        );
    }

    #[test]
    fn peek_before_does_not_search_past_its_bound() {
        let mut w = TimerWheel::new();
        w.insert(5 << 30, 0, 0);
        assert_eq!(w.peek_before(1_000), None);
        assert_eq!(w.cursor, 0, "nothing was advanced");
        assert_eq!(w.peek_before(6 << 30), Some((5 << 30, 0)));
    }

    proptest! {
        /// Against a sorted list: random inserts (never earlier than the last fired),
        /// cancels and pops interleaved.
        #[test]
        fn matches_a_sorted_list(ops in prop::collection::vec((0u8..4, 0u64..1u64 << 34, any::<u16>()), 1..400)) {
            let mut w = TimerWheel::new();
            let mut model: Vec<(u64, u64, u32)> = Vec::new();
            let mut ids: Vec<(TimerId, u64, u64)> = Vec::new();
            let (mut now, mut seq) = (0u64, 0u64);
            for (op, x, pick) in ops {
                match op {
                    0 | 1 => {
                        let t = now + x % (1 << (x % 34));
                        ids.push((w.insert(t, seq, seq as u32), t, seq));
                        model.push((t, seq, seq as u32));
                        seq += 1;
                    }
                    2 if !ids.is_empty() => {
                        let (id, t, s) = ids[pick as usize % ids.len()];
                        let there = model.iter().position(|&(a, b, _)| (a, b) == (t, s));
                        prop_assert_eq!(w.cancel(id), there.is_some());
                        if let Some(i) = there { model.remove(i); }
                    }
                    _ => {
                        model.sort();
                        let want = model.first().copied();
                        let got = w.peek_before(u64::MAX).map(|_| w.pop_ready());
                        prop_assert_eq!(got, want);
                        if let Some((t, _, _)) = want { now = t; model.remove(0); }
                    }
                }
                prop_assert_eq!(w.len(), model.len());
            }
            model.sort();
            prop_assert_eq!(drain(&mut w), model);
        }
    }
}
