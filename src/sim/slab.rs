//! [`Slab`]: an arena of entities addressed by [`Handle`] (index + generation).
//!
//! Requests and calls live here while in flight. Freed slots are reused, so memory is
//! proportional to what is in flight, never to what was ever simulated. The generation
//! makes a stale handle (an event for a call that has since finished and whose slot was
//! reused) detectable instead of silently hitting the wrong entity.

use std::num::NonZeroU32;

use crate::engine::next_generation;

/// A reference to a slab entry: index plus the generation it was allocated with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    index: u32,
    /// Never zero, so that an `Option<Handle>` takes no more room than the handle.
    generation: NonZeroU32,
}

impl Handle {
    /// The slot index (stable while the entry lives).
    pub fn index(self) -> u32 {
        self.index
    }
}

struct Slot<T> {
    generation: NonZeroU32,
    value: Option<T>,
}

/// An arena with generation-checked handles.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Stores `value` and returns its handle.
    #[inline]
    pub fn insert(&mut self, value: T) -> Handle {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.value = Some(value);
            Handle {
                index,
                generation: slot.generation,
            }
        } else {
            self.slots.push(Slot {
                generation: NonZeroU32::MIN,
                value: Some(value),
            });
            Handle {
                index: (self.slots.len() - 1) as u32,
                generation: NonZeroU32::MIN,
            }
        }
    }

    /// The live entry behind `h`, or `None` if it was removed (even if the slot was reused).
    #[inline]
    pub fn get(&self, h: Handle) -> Option<&T> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.generation == h.generation {
            slot.value.as_ref()
        } else {
            None
        }
    }

    /// Mutable access to the live entry behind `h`.
    #[inline]
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation == h.generation {
            slot.value.as_mut()
        } else {
            None
        }
    }

    /// Removes and returns the entry; the handle (and copies of it) become stale.
    #[inline]
    pub fn remove(&mut self, h: Handle) -> Option<T> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = next_generation(slot.generation);
        self.free.push(h.index);
        self.live -= 1;
        Some(value)
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when nothing is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Live entries with their handles, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value.as_ref().map(|v| {
                (
                    Handle {
                        index: i as u32,
                        generation: s.generation,
                    },
                    v,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_optional_handle_costs_nothing() {
        assert_eq!(std::mem::size_of::<Option<Handle>>(), 8);
    }

    #[test]
    fn a_removed_handle_goes_stale_even_when_its_slot_is_reused() {
        let mut s = Slab::default();
        let a = s.insert("a");
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b");
        assert_eq!(a.index(), b.index(), "slot reused");
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 1);
    }
}
