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
    /// Event guard.
    pub max_events: u64,
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
        }
    }
}
