//! cascade: a deterministic discrete-event simulator of cascading failure in service graphs.
//!
//! Layers, data flowing one way (a module never reaches up a layer):
//! 1. [`time`] and [`engine`]: integer virtual time, the event queue and run loop, seeded
//!    random streams, latency distributions. Knows nothing about services.
//! 2. [`policy`]: resilience policies as sans-IO state machines (they take `now` and an
//!    RNG, and return times). Knows nothing about the engine.

pub mod engine;
pub mod policy;
pub mod time;
