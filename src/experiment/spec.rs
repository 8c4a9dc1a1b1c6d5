//! Experiment files: what to compare. [`ExperimentSpec`] as written, [`Experiment`]
//! validated: the model file read once, every variant × sweep point built and checked
//! before anything runs, including the size checks of [`super::limits`].
//!
//! A model file given where an experiment is expected runs as an experiment of one
//! variant (`baseline`) with defaults that fit a first look ([`model_defaults`]).
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

use crate::experiment::limits::{self, Limits, LimitsSpec};
use crate::experiment::overrides;
use crate::experiment::plan;
pub use crate::experiment::plan::{Job, Point};
use crate::experiment::tune::TuneSpec;
use crate::model::Model;
use crate::model::load::{LoadError, from_table, model_from_table, read_table};
use crate::time::{SimDuration, SimTime};

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
    /// Guards of every run: `limits = { max_in_flight = 2000000, max_events = 2000000000 }`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub limits: LimitsSpec,
    /// What `cascade tune` searches ([`crate::experiment::tune`]); `cascade run` runs the
    /// variants and leaves it to `tune`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tune: Option<TuneSpec>,
}

fn is_default(l: &LimitsSpec) -> bool {
    *l == LimitsSpec::default()
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
    /// `--max-in-flight` (replaces `limits.max_in_flight`).
    pub max_in_flight: Option<u64>,
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

/// A validated experiment: every variant × point model built.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// The experiment file (or the model file run directly).
    pub file: PathBuf,
    /// The model file.
    pub model_file: PathBuf,
    /// The spec after command-line overrides.
    pub spec: ExperimentSpec,
    /// The guards of every run, defaults filled in.
    pub limits: Limits,
    /// `--set` overrides applied to every variant (recorded in the manifest).
    pub set: Vec<(String, Value)>,
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
    /// What was adjusted on the way, for people (printed, and kept in the manifest).
    pub notes: Vec<String>,
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

/// An experiment file names its model; a model file does not.
pub fn is_experiment(table: &Table) -> bool {
    table.get("model").is_some_and(Value::is_str)
}

/// The experiment a model file runs as: one variant, three replications (one seed can
/// storm where another recovers), seed 1, 1 s buckets, and long enough to see the
/// aftermath: the last fault's end plus ten minutes, at least ten minutes.
pub fn model_defaults(file: &Path, model: &Model) -> ExperimentSpec {
    let ten = SimDuration::from_secs(600);
    let end = model
        .last_fault_end()
        .map_or(SimDuration::ZERO, SimTime::since_start);
    let minutes = (end + ten)
        .as_nanos()
        .div_ceil(SimDuration::from_secs(60).as_nanos());
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().replace(['/', '\\'], "_"))
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "model".to_string());
    ExperimentSpec {
        name,
        description: model.description.clone(),
        model: file
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        duration: SimDuration::from_secs(60 * minutes),
        replications: 3,
        seed: 1,
        bucket: one_second(),
        outage: OutageSpec::default(),
        variants: Vec::new(),
        sweep: Table::new(),
        limits: LimitsSpec::default(),
        tune: None,
    }
}

impl Experiment {
    /// Reads and validates an experiment file (or a model file, run as one variant) and
    /// its model. Errors name the file (the experiment or the model), the key path and
    /// the variant or point involved.
    pub fn load(file: &Path, cli: &Overrides) -> Result<Experiment, LoadError> {
        let table = read_table(file)?;
        if is_experiment(&table) {
            let spec: ExperimentSpec = from_table(file, table)?;
            return Self::build(file, spec, cli, None, Vec::new());
        }
        let (_, model) = model_from_table(file, table.clone())?;
        let spec = model_defaults(file, &model);
        let note = format!(
            "{} is a model, run as one variant for {} with {} replications (--duration and --replications change that; an experiment file compares variants)",
            file.display(),
            cli.duration.unwrap_or(spec.duration),
            cli.replications.unwrap_or(spec.replications)
        );
        Self::build(file, spec, cli, Some(table), vec![note])
    }

    /// Validates `spec` of `file` against the model table `model_table` (read from the
    /// spec's model file when `None`). `cascade tune` builds its rungs this way.
    pub(crate) fn build(
        file: &Path,
        mut spec: ExperimentSpec,
        cli: &Overrides,
        model_table: Option<Table>,
        mut notes: Vec<String>,
    ) -> Result<Experiment, LoadError> {
        if let Some(r) = cli.replications {
            spec.replications = r;
        }
        if let Some(s) = cli.seed {
            spec.seed = s;
        }
        if let Some(d) = cli.duration {
            spec.duration = d;
        }
        if let Some(m) = cli.max_in_flight {
            spec.limits.max_in_flight = Some(m);
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
        let limits = spec.limits.resolve(file)?;
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
        limits::check_plan(
            file,
            variants.len() as u64,
            plan::point_count(&sweep_values),
            spec.replications,
        )?;
        let points = plan::cartesian(&sweep_paths, &sweep_values);

        let model_file = file.parent().unwrap_or(Path::new(".")).join(&spec.model);
        let base = match model_table {
            Some(t) => t,
            None => read_table(&model_file).map_err(|e| {
                if e.key.is_empty() && e.problem.starts_with("cannot read") {
                    bad(
                        file,
                        "model",
                        format!("{}: {}", model_file.display(), e.problem),
                    )
                } else {
                    e
                }
            })?,
        };
        // Built only when an override leads to an invalid model: was it the model already?
        let mut base_error: Option<Option<LoadError>> = None;
        let mut clipped = false;
        let mut series_values = 0u64;
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
                        .map_err(|e| bad(file, format!("variants[{vi}] ({:?}).set", v.name), e))?;
                }
                for (si, path) in sweep_paths.iter().enumerate() {
                    let value = plan::point_value(&sweep_values, pi, si);
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
                let mut model = match model_from_table(&model_file, t.clone()) {
                    Ok((_, m)) => m,
                    Err(e) => {
                        let base_error = base_error.get_or_insert_with(|| {
                            model_from_table(&model_file, base.clone()).err()
                        });
                        return Err(blame(
                            file,
                            &model_file,
                            e,
                            base_error.as_ref(),
                            vi,
                            v,
                            p,
                            cli,
                        ));
                    }
                };
                if let Some(end) = model.last_fault_end()
                    && end.since_start() > spec.duration
                {
                    if cli.duration.is_none() {
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
                    if !clipped {
                        notes.push(format!(
                            "--duration {} ends before the last fault of {} does ({}): faults are cut at {0}, those starting later are left out",
                            spec.duration,
                            model_file.display(),
                            end.since_start()
                        ));
                        clipped = true;
                    }
                    clip_faults(&mut model, SimTime::at(spec.duration));
                }
                limits::check_model(&model_file, &context, &model, spec.duration, &limits)?;
                series_values = series_values.saturating_add(
                    crate::experiment::results::series_count(&model).saturating_mul(buckets),
                );
                models.push(model);
                tables.push(t);
            }
        }
        limits::check_series(file, series_values, spec.bucket)?;
        spec.variants = variants.clone();
        Ok(Experiment {
            file: file.to_path_buf(),
            model_file,
            limits,
            set: cli.set.clone(),
            variants: variants.into_iter().map(|v| v.name).collect(),
            sweep_paths,
            points,
            models,
            tables,
            notes,
            spec,
        })
    }

    /// The model of variant `v` at point `p`.
    pub fn model(&self, v: usize, p: usize) -> &Model {
        &self.models[v * self.points.len() + p]
    }

    /// Jobs in plan order: variant-major, then point, then replication.
    pub fn jobs(&self) -> Vec<Job> {
        plan::jobs(
            self.variants.len(),
            self.points.len(),
            self.spec.replications,
        )
    }

    /// The number of jobs in the plan.
    pub fn job_count(&self) -> usize {
        self.variants.len() * self.points.len() * self.spec.replications as usize
    }
}

/// The error of a model that an override made invalid: the model file's own error when
/// the model as written fails the same way, otherwise one that names the experiment file
/// and the override (variant, sweep point or `--set`) that broke it.
#[allow(clippy::too_many_arguments)]
fn blame(
    file: &Path,
    model_file: &Path,
    e: LoadError,
    base_error: Option<&LoadError>,
    vi: usize,
    v: &VariantSpec,
    p: &Point,
    cli: &Overrides,
) -> LoadError {
    if base_error.is_some_and(|b| b.key == e.key && b.problem == e.problem) {
        return e;
    }
    let key = if !v.set.is_empty() {
        format!("variants[{vi}] ({:?}).set", v.name)
    } else if !p.label.is_empty() {
        format!("sweep ({})", p.label)
    } else if !cli.set.is_empty() {
        "--set".to_string()
    } else {
        return e;
    };
    let inner = if e.key.is_empty() {
        e.problem
    } else {
        format!("{}: {}", e.key, e.problem)
    };
    bad(
        file,
        key,
        format!("makes {} invalid: {inner}", model_file.display()),
    )
}

/// Cuts every fault at `end` and drops those that would start after it.
fn clip_faults(model: &mut Model, end: SimTime) {
    model.faults.retain(|f| f.start < end);
    for f in &mut model.faults {
        f.end = f.end.min(end);
    }
}
