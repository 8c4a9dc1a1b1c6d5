//! `cascade check`, `list` and `explain`: reading files for people, running nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use cascade::experiment::columns;
use cascade::experiment::spec::is_experiment;
use cascade::experiment::{Experiment, Overrides};
use cascade::model::describe::{describe, lint};
use cascade::model::load::read_table;

use crate::cli::{Fail, input, plural};

/// `cascade check FILE`: a model's graph, capacity and lint; for an experiment, its plan,
/// the lint of its base model as written, and what each variant changes in it.
pub fn check(file: &Path) -> Result<(), Fail> {
    let table = read_table(file).map_err(input)?;
    if !is_experiment(&table) {
        let model = cascade::model::load_model(file).map_err(input)?;
        out!("{}", describe(file, &model));
        return Ok(());
    }
    let exp = Experiment::load(file, &Overrides::default()).map_err(input)?;
    outln!(
        "experiment {:?}: {} × {} × {} = {}, {} each",
        exp.spec.name,
        plural(exp.variants.len(), "variant"),
        plural(exp.points.len(), "point"),
        plural(exp.spec.replications as usize, "replication"),
        plural(exp.job_count(), "job"),
        exp.spec.duration
    );
    outln!("variants: {}", exp.variants.join(", "));
    if !exp.sweep_paths.is_empty() {
        outln!("sweep: {}", exp.sweep_paths.join(", "));
    }
    for n in &exp.notes {
        outln!("note: {n}");
    }
    // The base model as written; if only the variants make it valid, the first variant.
    let base =
        cascade::model::load_model(&exp.model_file).unwrap_or_else(|_| exp.models[0].clone());
    out!("{}", describe(&exp.model_file, &base));
    let base_lint = lint(&base);
    for (v, name) in exp.variants.iter().enumerate() {
        let mine = lint(exp.model(v, 0));
        if mine == base_lint {
            continue;
        }
        let fixed = base_lint.iter().filter(|w| !mine.contains(w)).count();
        let new: Vec<&String> = mine.iter().filter(|w| !base_lint.contains(w)).collect();
        outln!(
            "lint, variant {name:?}: {} of the base model's traps fixed, {} left{}",
            fixed,
            mine.len() - new.len(),
            if new.is_empty() { "" } else { "; new:" }
        );
        for w in new {
            outln!("  {w}");
        }
    }
    Ok(())
}

/// `cascade list DIR`: the experiments and models in a directory, in aligned columns.
pub fn list(dir: &Path) -> Result<(), Fail> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list the directory", dir.display()))
        .map_err(input)?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let rows: Vec<(String, String, String)> = files
        .iter()
        .map(|f| {
            let (name, description) = match read_table(f) {
                Ok(t) => {
                    let text = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
                    let name = text("name").unwrap_or_else(|| {
                        if is_experiment(&t) { "?" } else { "(model)" }.to_string()
                    });
                    (name, text("description").unwrap_or_default())
                }
                Err(e) => ("(unreadable)".to_string(), e.to_string()),
            };
            (f.display().to_string(), name, description)
        })
        .collect();
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    for (path, name, description) in rows {
        let p0 = w0 - path.chars().count() + path.len();
        let p1 = w1 - name.chars().count() + name.len();
        let line = format!("{path:<p0$}  {name:<p1$}  {description}");
        outln!("{}", line.trim_end());
    }
    Ok(())
}

/// `cascade explain [NAME]`: column definitions.
pub fn explain(name: Option<&str>, markdown: bool) -> Result<(), Fail> {
    if markdown {
        out!("{}", columns::markdown());
        return Ok(());
    }
    let found: Vec<&columns::Column> = columns::COLUMNS
        .iter()
        .filter(|c| name.is_none_or(|n| columns::matches(c, n)))
        .collect();
    if found.is_empty() {
        return Err(input(anyhow!(
            "{:?}: no such column (cascade explain lists them all)",
            name.unwrap_or_default()
        )));
    }
    let w = found.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in found {
        outln!("{:<16} {:<w$}  {}", c.file, c.name, c.meaning);
    }
    Ok(())
}
