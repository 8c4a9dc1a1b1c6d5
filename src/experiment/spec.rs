//! Experiment files: what to compare. [`ExperimentSpec`] as written, [`Experiment`]
//! validated: the model file read once, every variant × sweep point built and checked
//! before anything runs.
//!
//! ```toml
//! name = "black-friday-jitter"
//! model = "../models/black_friday.toml"    # relative to this file
//! duration = "90m"
//! replications = 20
//! seed = 2026
//! bucket = "1s"
//! outage = { good_ratio_below = 0.5 }
//!
//! [[variants]]
//! name = "full-jitter"
//! set = { "services.order.clients.payment.retry.backoff" = { full_jitter = { base = "100ms", cap = "10s" } } }
//!
//! [sweep]
//! "services.order.clients.payment.timeout" = ["500ms", "1s", "2s", "4s"]
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::experiment::overrides;
use crate::model::Model;
use crate::model::load::{LoadError, from_table, model_from_table, read_table};
use crate::time::SimDuration;

/// The outage definition.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutageSpec {
    /// A bucket is down when ok answers ÷ requests sent is below this (default 0.5).
    #[serde(default = "half")]
    pub good_ratio_below: f64,
}

fn half() -> f64 {
    0.5
}

impl Default for OutageSpec {
    fn default() -> Self {
        OutageSpec {
            good_ratio_below: half(),
        }
    }
}

/// A named set of overrides.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// Name in reports (unique).
    pub name: String,
    /// One line on what it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Dotted model paths to remove before `set` applies (`unset =
    /// ["services.api.liveness"]`: the variant without that probe).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unset: Vec<String>,
    /// Dotted model path → value.
    #[serde(default)]
    pub set: Table,
}

/// An experiment file as written.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Name; also the default output directory `output/<name>`.
    pub name: String,
    /// One line on what it compares (shown by `cascade list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The model file, relative to this file.
    pub model: String,
    /// How long users send requests.
    pub duration: SimDuration,
    /// Replications per variant and point (default 1).
    #[serde(default = "one")]
    pub replications: u32,
    /// Experiment seed (default 1).
    #[serde(default = "one_u64")]
    pub seed: u64,
    /// Metrics bucket (default 1 s).
    #[serde(default = "one_second")]
    pub bucket: SimDuration,
    /// Outage definition.
    #[serde(default)]
    pub outage: OutageSpec,
    /// Variants (default: one, `baseline`, the model as written).
    #[serde(default)]
    pub variants: Vec<VariantSpec>,
    /// Cartesian grid: dotted path → values, applied to every variant.
    #[serde(default)]
    pub sweep: Table,
    /// Event guard per run (default 2·10⁹).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u64>,
}

fn one() -> u32 {
    1
}
fn one_u64() -> u64 {
    1
}
fn one_second() -> SimDuration {
    SimDuration::from_secs(1)
}

/// Most metric buckets a run may have: every series keeps one value per bucket, so this
/// bounds memory (a 1 ms bucket over 90 minutes would need gigabytes).
pub const MAX_BUCKETS: u64 = 200_000;

/// Command-line changes to an experiment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--replications`.
    pub replications: Option<u32>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--duration` (a quick look at a shorter run).
    pub duration: Option<SimDuration>,
    /// `--set PATH=VALUE`, applied to every variant after its own overrides.
    pub set: Vec<(String, Value)>,
}

/// Parses `PATH=VALUE`; the value is TOML if it parses as TOML, else a string
/// (`timeout=1s` sets the string "1s", `workers=3` the integer 3).
pub fn parse_set(arg: &str) -> Result<(String, Value), String> {
    let (path, value) = arg.split_once('=').ok_or_else(|| {
        format!("--set {arg:?}: expected PATH=VALUE, e.g. services.order.workers=50")
    })?;
    let value = match format!("v = {value}").parse::<Table>() {
        Ok(mut t) => t.remove("v").unwrap_or(Value::String(value.to_string())),
        Err(_) => Value::String(value.to_string()),
    };
    Ok((path.trim().to_string(), value))
}

/// One sweep point: the values of every swept path.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Short label, `timeout=500ms` (empty without a sweep).
    pub label: String,
    /// The value of each swept path, as text.
    pub values: Vec<String>,
}

/// A validated experiment: every variant × point model built.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// The experiment file.
    pub file: PathBuf,
    /// The model file.
    pub model_file: PathBuf,
    /// The spec after command-line overrides.
    pub spec: ExperimentSpec,
    /// Variant names in order.
    pub variants: Vec<String>,
    /// Swept paths in order.
    pub sweep_paths: Vec<String>,
    /// Sweep points in order (one empty point without a sweep).
    pub points: Vec<Point>,
    /// Models, `models[variant * points.len() + point]`.
    pub models: Vec<Model>,
    /// The resolved model table of each model (for the manifest).
    pub tables: Vec<Table>,
}

/// Text of a TOML value as a user would write it in a label.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn bad(file: &Path, key: impl Into<String>, problem: impl Into<String>) -> LoadError {
    LoadError::new(file, key, problem)
}

impl Experiment {
    /// Reads and validates an experiment file and its model. Errors name the file (the
    /// experiment or the model), the key path and the variant or point involved.
    pub fn load(file: &Path, cli: &Overrides) -> Result<Experiment, LoadError> {
        let mut spec: ExperimentSpec = from_table(file, read_table(file)?)?;
        if let Some(r) = cli.replications {
            spec.replications = r;
        }
        if let Some(s) = cli.seed {
            spec.seed = s;
        }
        if let Some(d) = cli.duration {
            spec.duration = d;
        }
        if spec.name.trim().is_empty() || spec.name.contains(['/', '\\']) {
            return Err(bad(
                file,
                "name",
                "needs a non-empty name without slashes (it names the output directory)",
            ));
        }
        if spec.replications == 0 {
            return Err(bad(file, "replications", "must be at least 1"));
        }
        if spec.duration.is_zero() {
            return Err(bad(file, "duration", "must be above zero"));
        }
        if spec.bucket.is_zero() || spec.bucket > spec.duration {
            return Err(bad(
                file,
                "bucket",
                format!(
                    "must be above zero and at most the duration ({})",
                    spec.duration
                ),
            ));
        }
        let buckets = spec.duration.as_nanos().div_ceil(spec.bucket.as_nanos());
        if buckets > MAX_BUCKETS {
            return Err(bad(
                file,
                "bucket",
                format!(
                    "{} makes {buckets} buckets over {}; use at most {MAX_BUCKETS} (a coarser bucket)",
                    spec.bucket, spec.duration
                ),
            ));
        }
        let g = spec.outage.good_ratio_below;
        if !(g > 0.0 && g <= 1.0) {
            return Err(bad(file, "outage.good_ratio_below", "must be in (0, 1]"));
        }
        let mut variants: Vec<VariantSpec> = spec.variants.clone();
        if variants.is_empty() {
            variants.push(VariantSpec {
                name: "baseline".into(),
                description: None,
                unset: Vec::new(),
                set: Table::new(),
            });
        }
        for (i, v) in variants.iter().enumerate() {
            if v.name.trim().is_empty() {
                return Err(bad(
                    file,
                    format!("variants[{i}].name"),
                    "must not be empty",
                ));
            }
            if variants[..i].iter().any(|w| w.name == v.name) {
                return Err(bad(
                    file,
                    format!("variants[{i}].name"),
                    format!("{:?} is used twice", v.name),
                ));
            }
        }
        let mut sweep_paths = Vec::new();
        let mut sweep_values: Vec<Vec<Value>> = Vec::new();
        for (path, values) in &spec.sweep {
            let key = format!("sweep.\"{path}\"");
            let Value::Array(values) = values else {
                return Err(bad(file, key, "must be a list of values"));
            };
            if values.is_empty() {
                return Err(bad(file, key, "is an empty list: give at least one value"));
            }
            sweep_paths.push(path.clone());
            sweep_values.push(values.clone());
        }
        let points = cartesian(&sweep_paths, &sweep_values);

        let model_file = file.parent().unwrap_or(Path::new(".")).join(&spec.model);
        let base = read_table(&model_file).map_err(|e| {
            if e.key.is_empty() && e.problem.starts_with("cannot read") {
                bad(
                    file,
                    "model",
                    format!("{}: {}", model_file.display(), e.problem),
                )
            } else {
                e
            }
        })?;
        let mut models = Vec::new();
        let mut tables = Vec::new();
        for (vi, v) in variants.iter().enumerate() {
            for (pi, p) in points.iter().enumerate() {
                let mut t = base.clone();
                for path in &v.unset {
                    overrides::remove(&mut t, path)
                        .map_err(|e| bad(file, format!("variants[{vi}] ({}).unset", v.name), e))?;
                }
                for (path, value) in &v.set {
                    overrides::apply(&mut t, path, value.clone())
                        .map_err(|e| bad(file, format!("variants[{vi}] ({}).set", v.name), e))?;
                }
                for (si, path) in sweep_paths.iter().enumerate() {
                    let value = point_value(&sweep_values, &points, pi, si);
                    overrides::apply(&mut t, path, value)
                        .map_err(|e| bad(file, format!("sweep.\"{path}\""), e))?;
                }
                for (path, value) in &cli.set {
                    overrides::apply(&mut t, path, value.clone())
                        .map_err(|e| bad(file, "--set", e))?;
                }
                let changed = !v.set.is_empty() || !v.unset.is_empty();
                let context = match (variants.len() > 1 || changed, p.label.is_empty()) {
                    (true, true) => format!(" (variant {:?})", v.name),
                    (true, false) => format!(" (variant {:?}, {})", v.name, p.label),
                    (false, false) => format!(" ({})", p.label),
                    (false, true) => String::new(),
                };
                let (_, model) = model_from_table(&model_file, t.clone()).map_err(|mut e| {
                    e.file = PathBuf::from(format!("{}{context}", model_file.display()));
                    e
                })?;
                if let Some(end) = model.last_fault_end()
                    && end.since_start() > spec.duration
                {
                    return Err(bad(
                        file,
                        "duration",
                        format!(
                            "{} ends before the last fault of {} does ({}){context}",
                            spec.duration,
                            model_file.display(),
                            end.since_start()
                        ),
                    ));
                }
                models.push(model);
                tables.push(t);
            }
        }
        spec.variants = variants.clone();
        Ok(Experiment {
            file: file.to_path_buf(),
            model_file,
            variants: variants.into_iter().map(|v| v.name).collect(),
            sweep_paths,
            points,
            models,
            tables,
            spec,
        })
    }

    /// The model of variant `v` at point `p`.
    pub fn model(&self, v: usize, p: usize) -> &Model {
        &self.models[v * self.points.len() + p]
    }

    /// Jobs in plan order: variant-major, then point, then replication.
    pub fn jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        for v in 0..self.variants.len() {
            for p in 0..self.points.len() {
                for r in 0..self.spec.replications {
                    jobs.push(Job {
                        index: jobs.len(),
                        variant: v,
                        point: p,
                        replication: r,
                    });
                }
            }
        }
        jobs
    }
}

/// One run of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// Position in the plan.
    pub index: usize,
    /// Variant index.
    pub variant: usize,
    /// Sweep point index.
    pub point: usize,
    /// Replication (the seed of every random stream depends on it, not on the variant).
    pub replication: u32,
}

fn cartesian(paths: &[String], values: &[Vec<Value>]) -> Vec<Point> {
    if paths.is_empty() {
        return vec![Point {
            label: String::new(),
            values: Vec::new(),
        }];
    }
    let short: Vec<String> = paths
        .iter()
        .map(|p| p.rsplit('.').next().unwrap_or(p).to_string())
        .collect();
    let unique = short
        .iter()
        .enumerate()
        .all(|(i, s)| !short[..i].contains(s));
    let names: Vec<&String> = if unique {
        short.iter().collect()
    } else {
        paths.iter().collect()
    };
    let mut points = vec![Vec::<String>::new()];
    for vals in values {
        let mut next = Vec::new();
        for p in &points {
            for v in vals {
                let mut q = p.clone();
                q.push(value_text(v));
                next.push(q);
            }
        }
        points = next;
    }
    points
        .into_iter()
        .map(|values| Point {
            label: names
                .iter()
                .zip(&values)
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            values,
        })
        .collect()
}

/// The value of swept path `si` at point `pi` (points are the cartesian product in order).
fn point_value(values: &[Vec<Value>], points: &[Point], pi: usize, si: usize) -> Value {
    let _ = points;
    let stride: usize = values[si + 1..].iter().map(Vec::len).product();
    values[si][(pi / stride) % values[si].len()].clone()
}
