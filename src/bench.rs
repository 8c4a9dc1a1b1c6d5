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

/// One measurement of the world on the three-tier reference model.
#[derive(Clone, Debug)]
pub struct WorldBench {
    /// Simulated time.
    pub simulated: SimDuration,
    /// Events handled.
    pub events: u64,
    /// User requests sent.
    pub requests: u64,
    /// Wall time.
    pub wall: Duration,
}

impl WorldBench {
    /// Handled events per wall-clock second.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64()
    }

    /// Wall time per handled event, nanoseconds.
    pub fn ns_per_event(&self) -> f64 {
        self.wall.as_nanos() as f64 / self.events.max(1) as f64
    }
}

/// Runs a model given as TOML text for `simulated`, single-threaded, timing the run only.
#[allow(clippy::disallowed_methods)] // measuring wall time is the point
fn time_world(
    name: &str,
    text: &str,
    simulated: SimDuration,
    seed: u64,
) -> Result<WorldBench, RunError> {
    use crate::model::load::{model_from_table, parse_table};
    use crate::sim::{RunConfig, World};
    let path = std::path::Path::new(name);
    let table = parse_table(path, text).expect("the bundled model parses");
    let (_, model) = model_from_table(path, table).expect("the bundled model is valid");
    let cfg = RunConfig {
        duration: simulated,
        seed,
        ..RunConfig::default()
    };
    let start = Instant::now();
    let report = World::run(&model, cfg)?;
    Ok(WorldBench {
        simulated,
        events: report.stats.events,
        requests: report.summary.offered,
        wall: start.elapsed(),
    })
}

/// The bundled three-tier model (gateway → order → payment → processor at 300 req/s,
/// full policy stacks) for one simulated hour, single-threaded.
pub fn three_tier(seed: u64) -> Result<WorldBench, RunError> {
    time_world(
        "models/three_tier.toml",
        include_str!("../models/three_tier.toml"),
        SimDuration::from_secs(3600),
        seed,
    )
}

/// One pool of 200 workers, or the same 200 workers as 10 instances of 20 behind a
/// least-request balancer: 3,000 requests/s through a proxy with a timeout and a
/// jittered retry, for one simulated hour each. What a fleet costs per event.
pub fn fleet(seed: u64) -> Result<(WorldBench, WorldBench), RunError> {
    let pool = |workers: u32, instances: u32, balancer: &str| {
        format!(
            r#"
[[workloads]]
name = "users"
target = "front.get"
arrivals = {{ poisson = {{ rate = 3000.0 }} }}
patience = "5s"
slo = "1s"
[services.front]
workers = 100000
[services.front.endpoints.get]
steps = [{{ call = "api.get" }}]
[services.front.clients.api]
timeout = "1s"
retry = {{ max_attempts = 2, backoff = {{ full_jitter = {{ base = "10ms", cap = "100ms" }} }} }}
load_balancer = {balancer}
[services.api]
workers = {workers}
instances = {instances}
[services.api.endpoints.get]
steps = [{{ work = {{ exponential = {{ mean = "50ms" }} }} }}]
"#
        )
    };
    let hour = SimDuration::from_secs(3600);
    let one = time_world("pool.toml", &pool(200, 1, "\"round_robin\""), hour, seed)?;
    let ten = time_world(
        "fleet.toml",
        &pool(20, 10, "{ least_request = { choice_count = 2 } }"),
        hour,
        seed,
    )?;
    Ok((one, ten))
}
