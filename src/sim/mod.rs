//! The simulated world: services with worker pools and queues, endpoints made of steps,
//! client stacks running the real policies, workloads, faults, and streaming metrics.
//!
//! Entry point: [`World::run`] with a validated [`crate::model::Model`] and a
//! [`RunConfig`]; it returns a [`RunReport`] of plain data.

mod client;
pub mod metrics;
pub mod report;
mod service;
pub mod slab;
mod users;
mod world;

pub use report::{Divergence, DivergenceCause, RunReport, RunSummary};
pub use world::{Ev, Quality, RunConfig, World, drain_time};
