//! `cascade backoff`: what the backoff strategies of a file (or the eight standard ones)
//! do to retry times, drawn through the real policy code.

use std::path::{Path, PathBuf};

use anyhow::anyhow;

use cascade::experiment::spec::is_experiment;
use cascade::experiment::{Experiment, Overrides};
use cascade::model::load::read_table;
use cascade::report::backoff;

use crate::cli::{Fail, input, other};

/// `cascade backoff [FILE]`.
pub fn run(
    file: Option<&Path>,
    out: Option<PathBuf>,
    clients: usize,
    retries: Option<u32>,
) -> Result<(), Fail> {
    if clients == 0 {
        return Err(input(anyhow!("--clients 0: must be at least 1")));
    }
    if retries == Some(0) {
        return Err(input(anyhow!("--retries 0: must be at least 1")));
    }
    let (name, strategies) = match file {
        None => (
            "standard backoffs".to_string(),
            backoff::standard(retries.unwrap_or(4)),
        ),
        Some(file) => {
            let table = read_table(file).map_err(input)?;
            let (name, strategies) = if is_experiment(&table) {
                let exp = Experiment::load(file, &Overrides::default()).map_err(input)?;
                let models: Vec<(String, &cascade::model::graph::Model)> = exp
                    .variants
                    .iter()
                    .enumerate()
                    .map(|(v, name)| (name.clone(), exp.model(v, 0)))
                    .collect();
                (exp.spec.name.clone(), backoff::of_models(&models, retries))
            } else {
                let model = cascade::model::load_model(file).map_err(input)?;
                let name = file
                    .file_stem()
                    .map_or("model".to_string(), |s| s.to_string_lossy().into_owned());
                (
                    name,
                    backoff::of_models(&[(String::new(), &model)], retries),
                )
            };
            if strategies.is_empty() {
                return Err(input(anyhow!(
                    "{}: no client edge or workload retries (retry with max_attempts above 1): no backoff to draw; `cascade backoff` without a file draws the standard ones",
                    file.display()
                )));
            }
            (name, strategies)
        }
    };
    let out = out.unwrap_or_else(|| Path::new("output").join("backoff"));
    let (paths, _) = backoff::write(&out, &name, &strategies, clients).map_err(other)?;
    for s in &strategies {
        outln!("{} ({} retries)", s.label, s.retries);
    }
    outln!(
        "wrote {}",
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
