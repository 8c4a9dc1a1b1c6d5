//! The live-state guard: a retry storm against a hanging dependency behind an unbounded
//! queue grows without bound; the run must end as diverged, with its figures up to then,
//! the service whose queue grew named, and the experiment finished.

use std::path::Path;

use cascade::experiment::results::RUN_METRICS;
use cascade::experiment::runner::{self, RunOptions};
use cascade::experiment::{Experiment, Overrides};
use cascade::sim::{DivergenceCause, RunConfig, World};
use cascade::time::SimDuration;

use crate::cli::temp_dir;

const STORM: &str = r#"
[[workloads]]
name = "users"
target = "api.get"
arrivals = { poisson = { rate = 1000.0 } }
patience = "5s"
slo = "1s"
retry = { max_attempts = 10, backoff = "immediate" }

[services.api]
workers = 50
[services.api.endpoints.get]
steps = [{ call = "db.query" }]
[services.api.clients.db]
retry = { max_attempts = 10, backoff = "immediate" }

[services.db]
workers = 1000
[services.db.endpoints.query]
steps = [{ work = { exponential = { mean = "5ms" } } }]

[[faults]]
target = "db"
at = "30s"
duration = "1h"
hang = true
"#;

fn storm(dir: &Path, max_in_flight: u64) -> Experiment {
    std::fs::write(dir.join("storm.toml"), STORM).unwrap();
    let exp = format!(
        "name = \"storm\"\nmodel = \"storm.toml\"\nduration = \"2h\"\nreplications = 2\nseed = 3\nbucket = \"10s\"\nlimits = {{ max_in_flight = {max_in_flight} }}\n"
    );
    std::fs::write(dir.join("exp.toml"), exp).unwrap();
    Experiment::load(&dir.join("exp.toml"), &Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn metric(values: &[f64], name: &str) -> f64 {
    values[RUN_METRICS.iter().position(|m| *m == name).unwrap()]
}

#[test]
fn a_retry_storm_ends_as_diverged_naming_the_queue_that_grew() {
    let dir = temp_dir("guard");
    let exp = storm(&dir, 200_000);
    let results = runner::run(&exp, &RunOptions::default()).expect("the experiment finishes");
    assert_eq!(results.rows.len(), 2);
    for row in &results.rows {
        let v = &row.values;
        assert_eq!(metric(v, "diverged"), 1.0);
        assert_eq!(
            metric(v, "recovered"),
            0.0,
            "a diverged run is not recovered"
        );
        assert!(metric(v, "recovery_s").is_nan(), "no recovery time for it");
        let at = metric(v, "diverged_at_s");
        assert!(
            at > 30.0 && at < 7200.0,
            "stopped after the fault began: {at}"
        );
        assert!(metric(v, "offered") > 0.0, "figures up to then are kept");
        let why = row.diverged.as_deref().unwrap();
        assert!(why.contains("the queue grew at api"), "{why}");
        assert!(why.contains("max_in_flight = 200000"), "{why}");
    }
    // The series stop where the run did: unknown afterwards, not zero.
    let queue = results.groups[0]
        .metrics
        .iter()
        .find(|(k, _)| k == "queue:api")
        .unwrap();
    let stops: Vec<usize> = results
        .rows
        .iter()
        .map(|r| (metric(&r.values, "diverged_at_s") / 10.0) as usize)
        .collect();
    let (first, last) = (*stops.iter().min().unwrap(), *stops.iter().max().unwrap());
    assert!(
        queue.1[..first].iter().all(|a| a.n == 2),
        "both runs up to the first stop"
    );
    assert!(
        queue.1[last..].iter().all(|a| a.n == 0),
        "no run after the last stop"
    );
}

#[test]
fn the_guard_does_not_depend_on_threads_and_stops_the_world_directly() {
    let dir = temp_dir("guard-threads");
    let exp = storm(&dir, 100_000);
    let one = runner::run(
        &exp,
        &RunOptions {
            threads: Some(1),
            ..RunOptions::default()
        },
    )
    .unwrap();
    let two = runner::run(
        &exp,
        &RunOptions {
            threads: Some(2),
            ..RunOptions::default()
        },
    )
    .unwrap();
    let bits = |r: &runner::Results| {
        r.rows
            .iter()
            .flat_map(|x| x.values.iter().map(|v| v.to_bits()))
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&one), bits(&two));

    let cfg = RunConfig {
        duration: SimDuration::from_secs(3600),
        max_in_flight: 100_000,
        ..RunConfig::default()
    };
    let report = World::run(exp.model(0, 0), cfg).unwrap();
    let d = report.diverged.expect("diverged");
    assert!(matches!(d.cause, DivergenceCause::InFlight(n) if n > 100_000));
    assert_eq!(d.service.as_deref(), Some("api"));
    // The event guard ends a run the same way.
    let cfg = RunConfig {
        max_events: 50_000,
        ..cfg
    };
    let report = World::run(exp.model(0, 0), cfg).unwrap();
    assert!(matches!(
        report.diverged.map(|d| d.cause),
        Some(DivergenceCause::Events(50_000))
    ));
    assert!(report.summary.diverged && !report.summary.recovered);
}
