//! The simulated world against queueing theory and the cascade stories it must show.

use std::path::Path;

use cascade::engine::mmc::erlang_c;
use cascade::model::Model;
use cascade::model::load::{model_from_table, parse_table};
use cascade::sim::{RunConfig, RunReport, World};
use cascade::time::SimDuration;

pub fn model(text: &str) -> Model {
    let path = Path::new("inline.toml");
    let table = parse_table(path, text).unwrap_or_else(|e| panic!("{e}"));
    model_from_table(path, table)
        .unwrap_or_else(|e| panic!("{e}"))
        .1
}

pub fn run(model: &Model, secs: u64, seed: u64) -> RunReport {
    let cfg = RunConfig {
        duration: SimDuration::from_secs(secs),
        seed,
        ..RunConfig::default()
    };
    World::run(model, cfg).expect("runs")
}

fn mmc_model(c: u32, lambda: f64, mean_ms: u64, capacity: Option<u32>) -> String {
    let queue = capacity
        .map(|k| format!("queue = {{ capacity = {k} }}"))
        .unwrap_or_default();
    format!(
        r#"
[[workloads]]
name = "users"
target = "server.serve"
arrivals = {{ poisson = {{ rate = {lambda} }} }}
patience = "1h"
slo = "1h"

[services.server]
workers = {c}
{queue}
[services.server.endpoints.serve]
steps = [{{ work = {{ exponential = {{ mean = "{mean_ms}ms" }} }} }}]
"#
    )
}

#[test]
fn mmc_through_the_world_matches_erlang_c() {
    for (c, rho, mean_ms, seed) in [(1u32, 0.8, 100u64, 1u64), (20, 0.9, 100, 2)] {
        let lambda = rho * c as f64 / (mean_ms as f64 / 1e3);
        let m = model(&mmc_model(c, lambda, mean_ms, None));
        let r = run(&m, 20_000, seed);
        let w = &r.metrics.workloads[0];
        let exact = erlang_c(c, lambda, 1e3 / mean_ms as f64);
        let sim = w.mean_latency_ms() / 1e3;
        let rel = (sim - exact.mean_system).abs() / exact.mean_system;
        eprintln!(
            "c={c}: sim {sim:.4} exact {:.4} events {}",
            exact.mean_system, r.stats.events
        );
        assert!(
            rel < 0.03,
            "c={c}: mean time in system {sim:.4}s vs Erlang C {:.4}s ({:.1} %)",
            exact.mean_system,
            rel * 100.0
        );
        assert_eq!(w.totals.offered, w.totals.good + w.unresolved);
    }
}

#[test]
fn bounded_queue_rejects_at_the_mmck_blocking_probability() {
    // M/M/c/K: c = 5 servers, K = 8 in system (queue capacity 3), a = 5 (ρ = 1).
    let (c, k, lambda, mean_ms) = (5u32, 8u32, 50.0, 100u64);
    let m = model(&mmc_model(c, lambda, mean_ms, Some(k - c)));
    let r = run(&m, 5_000, 3);
    let a = lambda * mean_ms as f64 / 1e3;
    let mut q = vec![1.0f64];
    for n in 1..=k {
        q.push(q[n as usize - 1] * a / n.min(c) as f64);
    }
    let p_block = q[k as usize] / q.iter().sum::<f64>();
    let w = &r.metrics.workloads[0];
    let sim = w.totals.failed as f64 / w.totals.offered as f64;
    eprintln!("block sim {sim:.4} exact {p_block:.4}");
    assert!(
        (sim - p_block).abs() < 0.01,
        "blocking {sim:.4} vs M/M/c/K {p_block:.4}"
    );
}
