//! `cascade bench`: the engine's speed on a standard model, measured in wall time.
//!
//! This is one of the few places allowed to read the wall clock (it measures the
//! simulator, it does not simulate). Figures go to README; tests never assert on them.

use std::time::{Duration, Instant};

use crate::engine::RunError;
use crate::engine::mmc::{MmcConfig, MmcResult, MmcTheory, simulate};
use crate::time::SimDuration;

/// One benchmark measurement of the M/M/c reference model.
#[derive(Clone, Debug)]
pub struct MmcBench {
    /// The model that ran.
    pub config: MmcConfig,
    /// What it measured.
    pub result: MmcResult,
    /// What theory says.
    pub theory: MmcTheory,
    /// Wall time of the run.
    pub wall: Duration,
}

impl MmcBench {
    /// Handled events per wall-clock second (an arrival and a departure count one each).
    pub fn events_per_sec(&self) -> f64 {
        self.result.run.events as f64 / self.wall.as_secs_f64()
    }
    /// Simulated customers per wall-clock second.
    pub fn customers_per_sec(&self) -> f64 {
        self.config.customers as f64 / self.wall.as_secs_f64()
    }
}

/// The standard engine benchmark: M/M/c with c = 200, mean service 180 ms, ρ = 0.9,
/// single-threaded, for `customers` customers.
#[allow(clippy::disallowed_methods)] // measuring wall time is the point
pub fn mmc(customers: u64, seed: u64) -> Result<MmcBench, RunError> {
    let config =
        MmcConfig::at_utilisation(200, 0.9, SimDuration::from_millis(180), customers.max(100));
    let start = Instant::now();
    let result = simulate(config, seed, 0)?;
    let wall = start.elapsed();
    Ok(MmcBench {
        config,
        theory: config.theory(),
        result,
        wall,
    })
}
