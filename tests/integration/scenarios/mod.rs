//! One test per scenario of the library: each asserts the outcome its story predicts,
//! on shortened runs with few replications so the suite stays fast.

mod black_friday;
mod black_friday_autoscale;
mod breaker_flapping;
mod connection_pool_drained;
mod gray_failure;
mod hedging_tail;
mod intent_parity;
mod jitter;
mod lb_death_spiral;
mod liveness_restart_storm;
mod occ_backoff;
mod retry_after_storm;
mod retry_amplification;
mod slow_vs_dead;
mod sweeps;
mod thundering_herd;
mod timeout_hierarchy;
mod titanic_bulkheads;

use std::path::Path;

use cascade::experiment::output::{self, Manifest};
use cascade::experiment::runner::{self, RunOptions};
use cascade::experiment::spec::parse_set;
use cascade::experiment::{Experiment, Overrides};
use cascade::sim::{RunReport, World};
use cascade::time::SimDuration;

/// Summary means of one run of a bundled experiment, shortened.
pub struct Outcome {
    /// `(variant, point, metric) → mean`.
    pub means: Vec<(String, String, String, f64)>,
    /// The experiment as run.
    pub experiment: Experiment,
    /// Raw results.
    pub results: runner::Results,
}

impl Outcome {
    /// Index of a variant by name.
    fn variant(&self, name: &str) -> usize {
        self.experiment
            .variants
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no variant {name}"))
    }

    /// Per-bucket means over replications of `metric` for `variant` at the first point
    /// whose label contains `point` (`""`: the first point).
    pub fn series(&self, variant: &str, point: &str, metric: &str) -> Vec<f64> {
        let v = self.variant(variant);
        let points = &self.experiment.points;
        let p = points
            .iter()
            .position(|x| x.label.contains(point))
            .unwrap_or_else(|| panic!("no point {point}"));
        self.results.groups[v * points.len() + p]
            .metrics
            .iter()
            .find(|(n, _)| n == metric)
            .unwrap_or_else(|| panic!("no series {metric} for {variant}"))
            .1
            .iter()
            .map(|a| a.mean())
            .collect()
    }

    /// The largest finite bucket mean of `metric` for `variant` (first point).
    pub fn peak(&self, variant: &str, metric: &str) -> f64 {
        self.series(variant, "", metric)
            .into_iter()
            .filter(|x| x.is_finite())
            .fold(0.0, f64::max)
    }

    /// Replication 0 of `variant` (first point) run again, for the world's full metrics
    /// (per-service and per-client counters that the CSV files summarise).
    pub fn report(&self, variant: &str) -> RunReport {
        let exp = &self.experiment;
        let v = self.variant(variant);
        let job = exp
            .jobs()
            .into_iter()
            .find(|j| j.variant == v && j.point == 0 && j.replication == 0)
            .expect("replication 0 exists");
        World::run(exp.model(v, 0), runner::run_config(exp, &job)).expect("runs")
    }

    /// Mean of `metric` for `variant` (first point).
    pub fn mean(&self, variant: &str, metric: &str) -> f64 {
        self.at(variant, "", metric)
    }

    /// Mean of `metric` for `variant` at the point whose label contains `point`.
    pub fn at(&self, variant: &str, point: &str, metric: &str) -> f64 {
        self.means
            .iter()
            .find(|(v, p, m, _)| v == variant && p.contains(point) && m == metric)
            .unwrap_or_else(|| panic!("no {metric} for {variant} {point}"))
            .3
    }
}

/// Runs `experiments/<file>` with `replications`, an optional shorter `duration` and
/// `--set` overrides, and reads back its summary.
pub fn run_experiment(
    file: &str,
    replications: u32,
    duration: Option<&str>,
    set: &[&str],
) -> Outcome {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cli = Overrides {
        replications: Some(replications),
        seed: None,
        duration: duration.map(|d| d.parse::<SimDuration>().unwrap()),
        set: set.iter().map(|s| parse_set(s).unwrap()).collect(),
        max_in_flight: None,
    };
    let experiment = Experiment::load(&root.join("experiments").join(file), &cli)
        .unwrap_or_else(|e| panic!("{e}"));
    let results = runner::run(&experiment, &RunOptions::default()).expect("runs");
    let dir =
        std::env::temp_dir().join(format!("cascade-scenario-{}-{}", std::process::id(), file));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = Manifest::new(&experiment, "test", None, experiment.job_count());
    output::write_run(&dir, &experiment, &results, &manifest).unwrap();
    let mut means = Vec::new();
    let mut r = csv::Reader::from_path(dir.join("summary.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (v, p, m, mean) = (col("variant"), col("point"), col("metric"), col("mean"));
    for rec in r.records() {
        let rec = rec.unwrap();
        means.push((
            rec[v].to_string(),
            rec[p].to_string(),
            rec[m].to_string(),
            rec[mean].parse().unwrap_or(f64::NAN),
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Outcome {
        means,
        experiment,
        results,
    }
}
