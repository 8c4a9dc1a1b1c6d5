//! cascade: a deterministic discrete-event simulator of cascading failure in service graphs.
//!
//! Layers, data flowing one way (a module never reaches up a layer):
//! 1. [`time`] and [`engine`]: integer virtual time, the event queue and run loop, seeded
//!    random streams, latency distributions. Knows nothing about services.
//! 2. [`policy`]: resilience policies as sans-IO state machines (they take `now` and an
//!    RNG, and return times). Knows nothing about the engine.
//! 3. [`model`] and [`sim`]: the typed model of a service graph (validated from files)
//!    and the simulated world built from it, which schedules engine events and calls
//!    the policies.
//!
//! ```
//! use cascade::engine::{Scheduler, Model, run, RunLimits};
//! use cascade::time::{SimTime, short::ms};
//!
//! // A model that ticks every 100 ms, five times.
//! struct Ticker { ticks: u32 }
//! impl Model for Ticker {
//!     type Event = ();
//!     fn handle(&mut self, sched: &mut Scheduler<()>, _ev: ()) {
//!         self.ticks += 1;
//!         if self.ticks < 5 { sched.schedule_in(ms(100), ()); }
//!     }
//! }
//! let mut sched = Scheduler::new();
//! sched.schedule_at(SimTime::ZERO, ());
//! let mut model = Ticker { ticks: 0 };
//! let stats = run(&mut model, &mut sched, RunLimits::default()).unwrap();
//! assert_eq!(model.ticks, 5);
//! assert_eq!(sched.now(), SimTime::at(ms(400)));
//! assert_eq!(stats.events, 5);
//! ```

pub mod bench;
pub mod engine;
pub mod error;
pub mod model;
pub mod policy;
pub mod report;
pub mod sim;
pub mod time;
