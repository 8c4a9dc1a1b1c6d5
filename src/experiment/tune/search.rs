//! The search: successive halving (or Hyperband's brackets of it) under common random
//! numbers.
//!
//! Every configuration is a variant of the start model: the start variant's overrides,
//! then one value per searched path. A rung runs its configurations on replications
//! `0..r` of the experiment seed, so every configuration of a rung sees the same arrivals,
//! base latencies and faults (the seed of a run depends on the replication only): a
//! difference between two configurations is their difference, not luck of the draw. The
//! best `1/eta` go on to the next rung, where they are run on more replications (the ones
//! they already ran are kept, not run again). A configuration is *feasible* when every
//! one of its replications meets every constraint and none diverged; feasible ones rank
//! first, then by the goal's mean, then by the cost's mean, then by the order they were
//! drawn in. The recommendation is the best configuration of the last rung.
//!
//! Determinism: configurations are drawn from the tuner's own ChaCha stream (seeded by
//! the experiment seed), runs go through [`runner::run`] (results in plan order, exact
//! accumulators), and every decision reads only those results: the same file and seed
//! give the same configurations, rungs and recommendation whatever `--threads`.
//!
//! The configuration of the start model itself (the value each searched path has there)
//! is the first one tried when every path has a value, so the search can only recommend
//! something else by beating it on the same replications.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use toml::{Table, Value};

use crate::experiment::overrides;
use crate::experiment::results::{Acc, RUN_METRICS, Series};
use crate::experiment::runner::{self, JobResult, JobStore, RunOptions, RunnerError};
use crate::experiment::spec::{Experiment, ExperimentSpec, Job, Overrides, VariantSpec};
use crate::experiment::tune::space::{Kind, duration_value};
use crate::experiment::tune::spec::{Method, Tune, text};
use crate::model::load::{LoadError, from_table, read_table};

/// A tuning file, validated: everything checked before anything runs.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// The tuning file.
    pub file: PathBuf,
    /// The model file.
    pub model_file: PathBuf,
    /// The experiment part (duration, seed, outage, limits, variants).
    pub spec: ExperimentSpec,
    /// The `[tune]` table, validated.
    pub tune: Tune,
    /// The model table as written.
    pub base: Table,
    /// The start variant (empty for the model as written).
    pub start: VariantSpec,
    /// Command-line changes (seed, duration).
    pub cli: Overrides,
    /// Notes for people (clipped faults).
    pub notes: Vec<String>,
}

/// Why a search stopped. Consequence: nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// A rung could not run (or was interrupted).
    #[error(transparent)]
    Run(#[from] RunnerError),
    /// A configuration's model failed validation (a value inside the range that the
    /// model refuses, e.g. with another searched value).
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// One configuration tried, with what its replications gave.
#[derive(Clone, Debug)]
pub struct Tried {
    /// Order of drawing (0 is the start model's configuration when it has one).
    pub id: usize,
    /// The value of every searched path.
    pub values: Vec<Value>,
    /// The Hyperband bracket (0 for successive halving).
    pub bracket: usize,
    /// The highest rung it reached (0-based).
    pub rung: usize,
    /// Whether it is the start model's own configuration.
    pub is_start: bool,
    /// The goal over its replications.
    pub goal: Acc,
    /// The cost over its replications.
    pub cost: Acc,
    /// Replications that broke a constraint or diverged.
    pub violations: u32,
    /// Replications that broke each constraint.
    pub broke: Vec<u32>,
    /// Replications that diverged.
    pub diverged: u32,
}

impl Tried {
    /// Replications run.
    pub fn replications(&self) -> u64 {
        self.goal.n
    }

    /// Every replication met every constraint.
    pub fn feasible(&self) -> bool {
        self.violations == 0
    }
}

/// The result of a search.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Every configuration tried, best first (most replications, feasible, goal, cost,
    /// drawing order).
    pub tried: Vec<Tried>,
    /// Simulated runs.
    pub runs: u64,
    /// Simulated events.
    pub events: u64,
    /// Wall time of the runs.
    pub wall: Duration,
    /// For people: brackets left out for lack of budget, fewer threads.
    pub notes: Vec<String>,
}

impl Outcome {
    /// The recommendation.
    pub fn best(&self) -> &Tried {
        &self.tried[0]
    }
}

fn bad(file: &Path, key: impl Into<String>, problem: impl Into<String>) -> LoadError {
    LoadError::new(file, key, problem)
}

/// The variant of `start` with `values` set on the searched paths. A searched path inside
/// a table the start variant sets whole (`services.payment.clients.processor.timeout`
/// inside `services.payment.clients.processor`) is set inside that table, so the variant
/// reads like the start with some values changed; any other path is a key of its own.
pub fn variant(tuning: &Tuning, name: &str, values: &[Value]) -> VariantSpec {
    let mut v = tuning.start.clone();
    v.name = name.to_string();
    v.description = None;
    for (p, value) in tuning.tune.space.iter().zip(values) {
        let owner = v
            .set
            .keys()
            .filter(|k| p.path.starts_with(&format!("{k}.")))
            .max_by_key(|k| k.len())
            .cloned();
        let inside = owner.and_then(|k| {
            let mut wrapper = Table::new();
            wrapper.insert("v".into(), v.set[&k].clone());
            let rest = format!("v.{}", &p.path[k.len() + 1..]);
            overrides::apply(&mut wrapper, &rest, value.clone()).ok()?;
            Some((k, wrapper.remove("v")?))
        });
        match inside {
            Some((k, table)) => {
                v.set.insert(k, table);
            }
            None => {
                v.set.insert(p.path.clone(), value.clone());
            }
        }
    }
    v
}

impl Tuning {
    /// Reads and validates a tuning file; `budget` replaces `tune.budget`.
    pub fn load(file: &Path, cli: &Overrides, budget: Option<u64>) -> Result<Tuning, LoadError> {
        let table = read_table(file)?;
        if !crate::experiment::spec::is_experiment(&table) {
            return Err(bad(
                file,
                "model",
                "a tuning file is an experiment file (model = \"../models/x.toml\") with a [tune] table",
            ));
        }
        let mut spec: ExperimentSpec = from_table(file, table)?;
        let Some(mut tune_spec) = spec.tune.take() else {
            return Err(bad(
                file,
                "tune",
                "has no [tune] table: nothing to search (`cascade run` runs an experiment)",
            ));
        };
        if let Some(b) = budget {
            tune_spec.budget = b;
        }
        if !spec.sweep.is_empty() {
            return Err(bad(
                file,
                "sweep",
                "a tuning file searches tune.space: move the swept paths there",
            ));
        }
        let tune = tune_spec.validate(file)?;
        let start = match &tune.start {
            None => VariantSpec {
                name: "as-written".into(),
                description: None,
                unset: Vec::new(),
                set: Table::new(),
            },
            Some(name) => spec
                .variants
                .iter()
                .find(|v| &v.name == name)
                .cloned()
                .ok_or_else(|| {
                    let names: Vec<&str> = spec.variants.iter().map(|v| v.name.as_str()).collect();
                    bad(
                        file,
                        "tune.start",
                        format!(
                            "{name:?} is not a variant of this file ({})",
                            names.join(", ")
                        ),
                    )
                })?,
        };
        // The whole file as an experiment: its variants, limits and model validated.
        let whole = Experiment::build(file, spec.clone(), cli, None, Vec::new())?;
        let base = read_table(&whole.model_file)?;
        let mut tuning = Tuning {
            file: file.to_path_buf(),
            model_file: whole.model_file.clone(),
            spec,
            tune,
            base,
            start,
            cli: cli.clone(),
            notes: whole.notes,
        };
        tuning.spec.seed = whole.spec.seed;
        tuning.spec.duration = whole.spec.duration;
        tuning.check_space()?;
        tuning.check_budget()?;
        Ok(tuning)
    }

    /// Every searched path exists in the start model, and its extremes (every choice)
    /// give a valid model: a typo or an impossible range is refused before anything runs.
    fn check_space(&self) -> Result<(), LoadError> {
        let mut start = self.base.clone();
        for p in &self.start.unset {
            let _ = overrides::remove(&mut start, p);
        }
        for (p, v) in &self.start.set {
            let _ = overrides::apply(&mut start, p, v.clone());
        }
        for p in &self.tune.space {
            let key = format!("tune.space.\"{}\"", p.path);
            let mut t = start.clone();
            overrides::apply(&mut t, &p.path, Value::Integer(0)).map_err(|e| {
                let after = match &self.tune.start {
                    Some(s) => format!(" (after the overrides of start variant {s:?})"),
                    None => String::new(),
                };
                bad(&self.file, &key, format!("{e}{after}"))
            })?;
            for value in p.extremes() {
                let mut v = self.start.clone();
                v.name = format!("{}={}", p.path, text(&value));
                v.set.insert(p.path.clone(), value.clone());
                let mut spec = self.spec.clone();
                spec.variants = vec![v];
                spec.replications = 1;
                Experiment::build(
                    &self.file,
                    spec,
                    &self.cli,
                    Some(self.base.clone()),
                    Vec::new(),
                )
                .map_err(|e| bad(&self.file, &key, format!("{}: {}", text(&value), e.problem)))?;
            }
        }
        Ok(())
    }

    /// The budget holds a search: two configurations for successive halving, one in
    /// some bracket for Hyperband.
    fn check_budget(&self) -> Result<(), LoadError> {
        let t = &self.tune;
        let enough = match t.method {
            Method::SuccessiveHalving => bracket_size(&t.rungs, t.eta, t.budget) >= 2,
            Method::Hyperband => {
                let share = t.budget / t.rungs.len() as u64;
                let first = t.budget - share * (t.rungs.len() as u64 - 1);
                bracket_size(&t.rungs, t.eta, first) >= 1
            }
        };
        if enough {
            return Ok(());
        }
        Err(bad(
            &self.file,
            "tune.budget",
            format!(
                "{} runs cannot compare two configurations over replications {:?}: give at least {}",
                t.budget,
                t.rungs,
                bracket_cost(&t.rungs, t.eta, 2)
                    * if t.method == Method::Hyperband {
                        t.rungs.len() as u64
                    } else {
                        1
                    }
            ),
        ))
    }

    /// The start model's value of every searched path, if it has them all.
    pub fn start_values(&self) -> Option<Vec<Value>> {
        let mut t = self.base.clone();
        for p in &self.start.unset {
            overrides::remove(&mut t, p).ok()?;
        }
        for (p, v) in &self.start.set {
            overrides::apply(&mut t, p, v.clone()).ok()?;
        }
        self.tune
            .space
            .iter()
            .map(|p| overrides::get(&t, &p.path).cloned())
            .collect()
    }

    /// The start with `cascade check`'s starting points on the searched client timeouts
    /// and bulkhead sizes (clamped into their ranges), when it differs from the start.
    pub fn check_values(&self) -> Option<Vec<Value>> {
        let start = self.start_values()?;
        let mut t = self.base.clone();
        for p in &self.start.unset {
            overrides::remove(&mut t, p).ok()?;
        }
        for (p, v) in &self.start.set {
            overrides::apply(&mut t, p, v.clone()).ok()?;
        }
        let (_, model) = crate::model::load::model_from_table(&self.model_file, t).ok()?;
        let hints = crate::model::describe::suggestions(&model);
        let mut values = start.clone();
        for (param, value) in self.tune.space.iter().zip(values.iter_mut()) {
            for h in &hints {
                if param.path == format!("{}.timeout", h.path)
                    && let Kind::Duration(lo, hi) = param.kind
                {
                    *value = duration_value(h.timeout.clamp(lo, hi));
                }
                if param.path == format!("{}.bulkhead.max_concurrent", h.path)
                    && let Kind::Int(lo, hi, _) = param.kind
                {
                    *value = Value::Integer((h.concurrency as i64).clamp(lo, hi));
                }
            }
        }
        (values != start).then_some(values)
    }

    /// Runs the search.
    pub fn search(&self, opts: &RunOptions) -> Result<Outcome, TuneError> {
        let tune = &self.tune;
        let brackets: Vec<usize> = match tune.method {
            Method::SuccessiveHalving => vec![0],
            Method::Hyperband => (0..tune.rungs.len()).collect(),
        };
        let share = tune.budget / brackets.len() as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(self.spec.seed ^ 0x7475_6e65_0000_0000);
        let mut configs: Vec<(Vec<Value>, usize, usize, bool)> = Vec::new(); // values, bracket, rung, start
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut done: BTreeMap<(usize, u32), JobResult> = BTreeMap::new();
        let (mut events, mut wall, mut notes) = (0u64, Duration::ZERO, Vec::new());
        let start_values = self.start_values();
        for (b, &first) in brackets.iter().enumerate() {
            let budget = if b == 0 {
                tune.budget - share * (brackets.len() as u64 - 1)
            } else {
                share
            };
            let n = bracket_size(&tune.rungs[first..], tune.eta, budget);
            if n == 0 {
                notes.push(format!(
                    "Hyperband bracket {b} (starting at {} replications) left out: its share of the budget ({budget} runs) holds no configuration",
                    tune.rungs[first]
                ));
                continue;
            }
            let mut alive = Vec::new();
            if b == 0
                && let Some(v) = &start_values
            {
                seen.insert(key(v));
                configs.push((v.clone(), b, first, true));
                alive.push(configs.len() - 1);
            }
            if b == 0
                && tune.from_check
                && let Some(v) = self.check_values()
                && seen.insert(key(&v))
            {
                configs.push((v, b, first, false));
                alive.push(configs.len() - 1);
                notes.push(format!(
                    "configuration {} is the start with cascade check's starting points (Little's law)",
                    configs.len() - 1
                ));
            }
            let mut tries = 0;
            while alive.len() < n && tries < 100 * n + 100 {
                tries += 1;
                let v: Vec<Value> = tune.space.iter().map(|p| p.sample(&mut rng)).collect();
                if seen.insert(key(&v)) {
                    configs.push((v, b, first, false));
                    alive.push(configs.len() - 1);
                }
            }
            if alive.len() < n {
                notes.push(format!(
                    "the space holds only {} distinct configurations; bracket {b} tries them all",
                    alive.len()
                ));
            }
            for (i, &reps) in tune.rungs.iter().enumerate().skip(first) {
                for &c in &alive {
                    configs[c].2 = i;
                }
                let (e, w, n) = self.evaluate(&configs, &alive, reps, &mut done, opts)?;
                events += e;
                wall += w;
                notes.extend(n);
                if i + 1 == tune.rungs.len() {
                    break;
                }
                let mut ranked: Vec<Tried> = alive
                    .iter()
                    .map(|&c| self.summarise(c, &configs[c], &done))
                    .collect();
                ranked.sort_by(|a, b| rank(tune, a, b));
                let keep = (alive.len() / tune.eta as usize).max(1);
                alive = ranked.iter().take(keep).map(|t| t.id).collect();
            }
        }
        let mut tried: Vec<Tried> = configs
            .iter()
            .enumerate()
            .map(|(c, cfg)| self.summarise(c, cfg, &done))
            .collect();
        tried.sort_by(|a, b| {
            b.replications()
                .cmp(&a.replications())
                .then_with(|| rank(tune, a, b))
        });
        notes.sort();
        notes.dedup();
        Ok(Outcome {
            tried,
            runs: done.len() as u64,
            events,
            wall,
            notes,
        })
    }

    /// Runs configurations `ids` on replications `0..reps`, reusing those already done.
    fn evaluate(
        &self,
        configs: &[(Vec<Value>, usize, usize, bool)],
        ids: &[usize],
        reps: u32,
        done: &mut BTreeMap<(usize, u32), JobResult>,
        opts: &RunOptions,
    ) -> Result<(u64, Duration, Vec<String>), TuneError> {
        let mut spec = self.spec.clone();
        spec.variants = ids
            .iter()
            .map(|&c| variant(self, &format!("c{c}"), &configs[c].0))
            .collect();
        spec.replications = reps;
        let exp = Experiment::build(
            &self.file,
            spec,
            &self.cli,
            Some(self.base.clone()),
            Vec::new(),
        )?;
        let memo = Memo { ids, done };
        let results = runner::run(
            &exp,
            &RunOptions {
                store: Some(&memo),
                ..*opts
            },
        )?;
        for row in results.rows {
            done.insert((ids[row.job.variant], row.job.replication), row);
        }
        Ok((results.events, results.wall, results.notes))
    }

    fn summarise(
        &self,
        c: usize,
        cfg: &(Vec<Value>, usize, usize, bool),
        done: &BTreeMap<(usize, u32), JobResult>,
    ) -> Tried {
        let tune = &self.tune;
        let diverged_at = RUN_METRICS
            .iter()
            .position(|m| *m == "diverged")
            .expect("diverged is a run metric");
        let mut t = Tried {
            id: c,
            values: cfg.0.clone(),
            bracket: cfg.1,
            rung: cfg.2,
            is_start: cfg.3,
            goal: Acc::default(),
            cost: Acc::default(),
            violations: 0,
            broke: vec![0; tune.constraints.len()],
            diverged: 0,
        };
        for (_, row) in done.range((c, 0)..=(c, u32::MAX)) {
            let goal = row.values[tune.goal];
            // A run whose goal has no value (p99_ok_ms with nothing answered) counts as
            // the worst possible one, not as a skipped one.
            t.goal.add(if goal.is_finite() {
                goal
            } else if tune.maximize {
                0.0
            } else {
                1e12
            });
            t.cost.add(row.values[tune.cost]);
            let diverged = row.values[diverged_at] > 0.0 || row.diverged.is_some();
            t.diverged += diverged as u32;
            let mut broke = diverged;
            for (k, con) in tune.constraints.iter().enumerate() {
                if !con.holds(row.values[con.metric]) {
                    t.broke[k] += 1;
                    broke = true;
                }
            }
            t.violations += broke as u32;
        }
        t
    }
}

/// The ranking within a rung: feasible first (fewest violating replications), then the
/// goal's mean, the cost's mean, and the drawing order.
pub fn rank(tune: &Tune, a: &Tried, b: &Tried) -> std::cmp::Ordering {
    let nan_last = |x: f64| if x.is_nan() { f64::INFINITY } else { x };
    a.violations
        .cmp(&b.violations)
        .then_with(|| {
            nan_last(tune.loss(a.goal.mean())).total_cmp(&nan_last(tune.loss(b.goal.mean())))
        })
        .then_with(|| nan_last(a.cost.mean()).total_cmp(&nan_last(b.cost.mean())))
        .then_with(|| a.id.cmp(&b.id))
}

fn key(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// Runs a bracket of `n` configurations costs over `rungs` (replications per rung),
/// keeping the best `n / eta` (at least one) at each.
pub fn bracket_cost(rungs: &[u32], eta: u32, n: u64) -> u64 {
    let (mut cost, mut prev, mut alive) = (0u64, 0u32, n);
    for &r in rungs {
        cost = cost.saturating_add(alive.saturating_mul((r - prev) as u64));
        prev = r;
        alive = (alive / eta as u64).max(1);
    }
    cost
}

/// The most configurations a bracket over `rungs` can start with inside `budget` runs
/// (at most 2000 a bracket).
pub fn bracket_size(rungs: &[u32], eta: u32, budget: u64) -> usize {
    let mut n = 0u64;
    while n < 2000 && bracket_cost(rungs, eta, n + 1) <= budget {
        n += 1;
    }
    n as usize
}

/// The runner's view of the runs already done: a configuration promoted to more
/// replications runs only the new ones. Run values only (a tuner reads no series).
struct Memo<'a> {
    ids: &'a [usize],
    done: &'a BTreeMap<(usize, u32), JobResult>,
}

impl JobStore for Memo<'_> {
    fn load(&self, job: &Job) -> Option<(JobResult, Series)> {
        let row = self.done.get(&(self.ids[job.variant], job.replication))?;
        let mut row = row.clone();
        row.job = *job;
        Some((row, Series::new()))
    }

    fn save(&self, _: &JobResult, _: &Series) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bracket_keeps_a_third_and_pays_only_new_replications() {
        // 9 on 1, 3 on 3 (2 new each), 1 on 9 (6 new): 9 + 6 + 6.
        assert_eq!(bracket_cost(&[1, 3, 9], 3, 9), 21);
        assert_eq!(bracket_size(&[1, 3, 9], 3, 21), 9);
        assert_eq!(bracket_size(&[1, 3, 9], 3, 20), 8);
        assert_eq!(bracket_size(&[1, 3], 3, 1), 0);
    }
}
