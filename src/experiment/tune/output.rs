//! What `cascade tune` writes into its output directory (staged and committed whole, like
//! a run's):
//!
//! - `tune.csv`: every configuration tried, best first: its values, bracket, rung,
//!   replications, the goal's mean and 95 % interval, the cost's mean, and which
//!   constraints it broke on how many replications;
//! - `tuned.toml`: the recommendation as a ready-to-run experiment that compares it with
//!   the model as written (and the start variant), on the seed and replications the
//!   search ranked it on, so `cascade run output/<name>/tuned.toml` reproduces the claim
//!   (and `--seed` checks it on fresh replications);
//! - `tuned.patch`: the recommended tables in model TOML, to paste into the model;
//! - `manifest.json`, last.

use std::path::{Component, Path, PathBuf};

use toml::{Table, Value};

use crate::experiment::output::{OutputError, files, stat};
use crate::experiment::overrides;
use crate::experiment::spec::{Experiment, ExperimentSpec, Overrides, VariantSpec};
use crate::experiment::tune::search::{Outcome, Tried, Tuning, variant};
use crate::experiment::tune::spec::text;

/// The name of the written experiment.
pub const TUNED: &str = "tuned.toml";
/// The name of the written patch.
pub const PATCH: &str = "tuned.patch";

/// The header of `tune.csv`.
pub fn header(tuning: &Tuning) -> Vec<String> {
    let t = &tuning.tune;
    let mut h: Vec<String> = ["rank", "config", "start", "bracket", "rung", "replications"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    h.extend(t.space.iter().map(|p| p.path.clone()));
    let g = t.goal_name();
    h.extend([
        format!("{g}_mean"),
        format!("{g}_lo"),
        format!("{g}_hi"),
        format!("{}_mean", t.cost_name()),
        "feasible".into(),
        "violations".into(),
        "diverged".into(),
        "broke".into(),
    ]);
    h
}

/// One row of `tune.csv`.
pub fn row(tuning: &Tuning, rank: usize, t: &Tried) -> Vec<String> {
    let mut r = vec![
        (rank + 1).to_string(),
        t.id.to_string(),
        t.is_start.to_string(),
        t.bracket.to_string(),
        t.rung.to_string(),
        t.replications().to_string(),
    ];
    r.extend(t.values.iter().map(text));
    let (lo, hi) = t.goal.ci95();
    r.extend([
        stat(t.goal.mean()),
        stat(lo),
        stat(hi),
        stat(t.cost.mean()),
        t.feasible().to_string(),
        t.violations.to_string(),
        t.diverged.to_string(),
        broke(tuning, t),
    ]);
    r
}

/// Which constraints a configuration broke: `p99_ok_ms <= 2000: 2/3`, `;`-separated.
pub fn broke(tuning: &Tuning, t: &Tried) -> String {
    let n = t.replications();
    let mut parts: Vec<String> = tuning
        .tune
        .constraints
        .iter()
        .zip(&t.broke)
        .filter(|(_, k)| **k > 0)
        .map(|(c, k)| format!("{}: {k}/{n}", c.text))
        .collect();
    if t.diverged > 0 {
        parts.push(format!("diverged: {}/{n}", t.diverged));
    }
    parts.join("; ")
}

/// Writes `tune.csv`.
pub fn write_csv(dir: &Path, tuning: &Tuning, outcome: &Outcome) -> Result<(), OutputError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| OutputError::write(&dir.join("tune.csv"), std::io::Error::other(e));
    w.write_record(header(tuning)).map_err(err)?;
    for (i, t) in outcome.tried.iter().enumerate() {
        w.write_record(row(tuning, i, t)).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| {
        OutputError::write(&dir.join("tune.csv"), std::io::Error::other(e.to_string()))
    })?;
    files::write_file(dir, "tune.csv", &bytes)
}

/// `to` relative to the directory `from` (both absolute), or `to` itself when they share
/// no root.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return to.to_path_buf();
    }
    let mut p = PathBuf::new();
    for _ in common..a.len() {
        p.push("..");
    }
    for c in &b[common..] {
        p.push(c.as_os_str());
    }
    p
}

/// The experiment that compares the recommendation with the model as written (and the
/// start variant), for the directory `dest`; validated here, so what is written runs.
pub fn tuned_experiment(
    tuning: &Tuning,
    best: &Tried,
    dest: &Path,
) -> Result<(ExperimentSpec, Experiment), OutputError> {
    let model = tuning
        .model_file
        .canonicalize()
        .unwrap_or_else(|_| tuning.model_file.clone());
    let rel = relative(dest, &model);
    let mut spec = tuning.spec.clone();
    spec.name = format!("{}-tuned", tuning.spec.name);
    spec.description = Some(format!(
        "The configuration `cascade tune` recommends for {} (goal: {} {}) against the model as written",
        tuning.file.display(),
        if tuning.tune.maximize {
            "maximize"
        } else {
            "minimize"
        },
        tuning.tune.goal_name()
    ));
    spec.model = rel.to_string_lossy().replace('\\', "/");
    spec.replications = *tuning.tune.rungs.last().expect("at least one rung");
    spec.sweep = Table::new();
    spec.tune = None;
    let mut variants = vec![VariantSpec {
        name: "as-written".into(),
        description: Some("The model as written".into()),
        unset: Vec::new(),
        set: Table::new(),
    }];
    if tuning.tune.start.is_some() {
        variants.push(tuning.start.clone());
    }
    let mut tuned = variant(tuning, "tuned", &best.values);
    tuned.description = Some(format!(
        "Recommended by cascade tune: {}",
        tuning
            .tune
            .space
            .iter()
            .zip(&best.values)
            .map(|(p, v)| format!("{}={}", p.path, text(v)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    variants.push(tuned);
    spec.variants = variants;
    let exp = Experiment::build(
        &dest.join(TUNED),
        spec.clone(),
        &Overrides::default(),
        Some(tuning.base.clone()),
        Vec::new(),
    )
    .map_err(|e| OutputError::read(&dest.join(TUNED), e.to_string()))?;
    Ok((spec, exp))
}

/// Writes `tuned.toml`.
pub fn write_experiment(
    dir: &Path,
    tuning: &Tuning,
    spec: &ExperimentSpec,
) -> Result<(), OutputError> {
    let body = toml::to_string(spec)
        .map_err(|e| OutputError::write(&dir.join(TUNED), std::io::Error::other(e)))?;
    let text = format!(
        "# Written by `cascade tune {}`: the recommendation (variant \"tuned\") against the\n# model as written, on the seed and replications the search ranked it on. Run it with\n# `cascade run {TUNED}`; `--seed N` checks the claim on fresh replications.\n{body}",
        tuning.file.display()
    );
    files::write_file(dir, TUNED, text.as_bytes())
}

/// The tables the recommendation changes, in model TOML: a client edge that changed is
/// given whole (`[services.order.clients.payment]`, every key), so it replaces the
/// model's table of that name; any other changed key is given under its own table.
pub fn patch(tuning: &Tuning, best: &Tried) -> String {
    let mut model = tuning.base.clone();
    let v = variant(tuning, "tuned", &best.values);
    for p in &v.unset {
        let _ = overrides::remove(&mut model, p);
    }
    for (p, value) in &v.set {
        let _ = overrides::apply(&mut model, p, value.clone());
    }
    let mut units: Vec<String> = v
        .set
        .keys()
        .map(|path| {
            let s: Vec<&str> = path.split('.').collect();
            if s.len() >= 4 && s[0] == "services" && s[2] == "clients" {
                s[..4].join(".")
            } else {
                path.clone()
            }
        })
        .collect();
    units.sort();
    units.dedup();
    let mut out = Table::new();
    let mut loose = Vec::new();
    for unit in &units {
        if units
            .iter()
            .any(|u| u != unit && unit.starts_with(&format!("{u}.")))
        {
            continue;
        }
        let Some(value) = overrides::get(&model, unit) else {
            continue;
        };
        if through_array(&model, unit) || !insert(&mut out, unit, value.clone()) {
            loose.push(format!("# {unit} = {value}"));
        }
    }
    let mut text = format!(
        "# cascade tune: the recommendation for {}, as a patch to {}.\n# Each client table below is the whole client stack: replace the model's table of that name.\n# Other keys: set them in the table they are under.\n",
        tuning.file.display(),
        tuning.model_file.display()
    );
    for p in &v.unset {
        text.push_str(&format!("# remove {p}\n"));
    }
    for l in loose {
        text.push_str(&l);
        text.push('\n');
    }
    text.push_str(&toml::to_string(&out).unwrap_or_default());
    text
}

/// Whether a prefix of `path` is an array in `model` (`faults.0.at`).
fn through_array(model: &Table, path: &str) -> bool {
    let segs: Vec<&str> = path.split('.').collect();
    (1..segs.len())
        .any(|k| overrides::get(model, &segs[..k].join(".")).is_some_and(Value::is_array))
}

/// Inserts `value` at the dotted `path` of nested tables; false when a segment is an
/// array index (the value is then written as a comment).
fn insert(t: &mut Table, path: &str, value: Value) -> bool {
    let segs: Vec<&str> = path.split('.').collect();
    let (last, parents) = segs.split_last().expect("a path has a segment");
    let mut cur = t;
    for s in parents {
        let entry = cur
            .entry(s.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        match entry {
            Value::Table(next) => cur = next,
            _ => return false,
        }
    }
    cur.insert(last.to_string(), value);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_prefix() {
        assert_eq!(
            relative(Path::new("/w/out/bf"), Path::new("/w/models/bf.toml")),
            PathBuf::from("../../models/bf.toml")
        );
        assert_eq!(
            relative(Path::new("/w"), Path::new("/w/m.toml")),
            PathBuf::from("m.toml")
        );
    }

    #[test]
    fn nested_insert_builds_tables() {
        let mut t = Table::new();
        assert!(insert(&mut t, "a.b.c", Value::Integer(1)));
        assert_eq!(t["a"]["b"]["c"].as_integer(), Some(1));
    }
}
