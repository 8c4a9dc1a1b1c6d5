//! The engine: virtual time advance over a queue of small `Copy` events, seeded random
//! streams, latency distributions, and the reference M/M/c model.
//!
//! It knows nothing about services or policies. Determinism lives here:
//! - integer time ([`crate::time`]), queue key `(time, seq)` so ties pop in insertion
//!   order ([`Scheduler`]);
//! - every pending event in a timing wheel: O(1) insert and cancel, exact `(time, seq)`
//!   order ([`Scheduler`]);
//! - one ChaCha stream per source derived from `(seed, replication)` only ([`Streams`]);
//! - a rolling trace hash of every event ([`RunStats::trace_hash`]) to compare runs.

pub mod dist;
pub mod mmc;
mod rng;
mod run;
mod scheduler;
mod wheel;

pub use dist::{Dist, DistSpec};
pub use rng::{SimRng, StreamKind, Streams};
pub use run::{Model, RunError, RunLimits, RunStats, run};
pub use scheduler::{Popped, Scheduler, TimerId};
pub(crate) use wheel::next_generation;
