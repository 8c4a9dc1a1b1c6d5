//! The simulated world: services with worker pools and queues, endpoints made of steps,
//! client stacks running the real policies, workloads, faults, and streaming metrics.
//!
//! Entry point: [`World::run`] with a validated [`crate::model::Model`] and a
//! [`RunConfig`]; it returns a [`RunReport`] of plain data.

mod build;
mod client;
mod config;
mod connections;
mod fleet;
pub mod metrics;
mod occ;
mod probes;
pub mod report;
mod service;
pub mod slab;
mod state;
mod users;
mod world;

pub use config::RunConfig;
pub use report::{Divergence, DivergenceCause, RunReport, RunSummary};
pub use state::{Ev, Quality};
pub use world::{World, drain_time};
