//! Resilience policies as sans-IO state machines: the "real implementations" that the
//! simulator runs in virtual time and that a program could equally wrap around a real call.
//!
//! Rules every file here keeps (see `shared/docs/STYLE.md` §1):
//! - nothing here reads a clock, sleeps, spawns or uses a global RNG: every method that
//!   depends on time takes `now: SimTime`, every method that needs randomness takes
//!   `rng: &mut R` (last argument);
//! - a policy that wants to be woken returns a time ("retry at t"); the driver (the
//!   simulator, or a wall-clock adapter) turns it into an event or a sleep;
//! - refusals are outcomes ([`Rejected`](Outcome::Rejected)), not Rust errors; Rust
//!   errors ([`ConfigError`]) are for configurations that make no sense;
//! - configs deserialize with serde (snake_case names of the libraries' parameters,
//!   durations as strings like `"30s"`), carry the libraries' defaults, and are checked
//!   once by a validating constructor.
//!
//! Fleet policies (what users configure in Envoy and Kubernetes) follow the same rules:
//! [`balancer`], [`health_check`], [`outlier`] detection, [`probe`]s and the [`hpa`].
//!
//! Nothing here depends on the engine or the simulated world; only on [`crate::time`].

mod outcome;

pub mod backoff;
pub mod balancer;
pub mod budget;
pub mod bulkhead;
pub mod circuit_breaker;
pub mod concurrency_limit;
pub mod fallback;
pub mod health_check;
pub mod hedge;
pub mod hpa;
pub mod outlier;
pub mod probe;
pub mod rate_limit;
pub mod retry;
pub mod shedding;
pub mod timeout;

pub use outcome::{ConfigError, Outcome, RejectReason};
