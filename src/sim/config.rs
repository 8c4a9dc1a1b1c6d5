//! [`RunConfig`]: the settings of one run that do not belong to the model (how long, which
//! seed and replication, how the outage is measured). Shared by the world and its report,
//! so that data flows one way: config → world → report.

use crate::time::SimDuration;

/// Run settings that do not belong to the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunConfig {
    /// Users send requests until this time; the run then drains.
    pub duration: SimDuration,
    /// Metrics bucket width.
    pub bucket: SimDuration,
    /// Experiment seed.
    pub seed: u64,
    /// Replication index (the other half of every stream's key).
    pub replication: u64,
    /// A bucket is down when ok answers ÷ offered is below this.
    pub good_ratio_below: f64,
    /// Event guard: a run that needs more events ends as diverged.
    pub max_events: u64,
    /// Live-state guard: requests + calls + pending events + outbox entries. A run whose
    /// live state passes it ends as diverged (see [`crate::sim::World::run`]).
    pub max_in_flight: u64,
}

impl RunConfig {
    /// Default of [`RunConfig::max_in_flight`]: about 1 GB of live state per run.
    pub const DEFAULT_MAX_IN_FLIGHT: u64 = 4_000_000;
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            duration: SimDuration::from_secs(600),
            bucket: SimDuration::from_secs(1),
            seed: 1,
            replication: 0,
            good_ratio_below: 0.5,
            max_events: 2_000_000_000,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
        }
    }
}
