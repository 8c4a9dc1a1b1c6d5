//! Reporting: turning an experiment's output directory into things people read.
//!
//! The runner writes `runs.csv`, `summary.csv`, `timeseries.csv` and `manifest.json`;
//! modules here only read those files back (never the simulation's in-memory state), so
//! a report can be redrawn from an old output directory, or from merged shards, without
//! running anything again.
//!
//! - [`charts`]: PNG and SVG figures in `DIR/charts/`;
//! - [`html`]: `DIR/report.html`, one self-contained page with every chart inline;
//! - [`summary`]: the summary table the terminal and the page share;
//! - [`backoff`]: what each backoff strategy does to retry times (`cascade backoff`,
//!   and the report of an experiment whose clients retry).

pub mod backoff;
pub mod charts;
pub mod html;
pub mod summary;

use std::path::{Path, PathBuf};

use crate::model;

/// Clients of the herd in a report's retry-arrival chart (`cascade backoff --clients`).
pub const CLIENTS: usize = 1000;

/// Draws the charts of `dir` (unless `charts` is false) and writes `report.html`;
/// returns every file written, the page last.
pub fn write(dir: &Path, charts: bool) -> Result<Vec<PathBuf>, charts::ChartError> {
    let (mut paths, svgs) = if charts {
        let mut r = charts::render_all(dir)?;
        let manifest = charts::data::read_manifest(&dir.join("manifest.json"))?;
        let built: Vec<(String, model::graph::Model)> = manifest
            .variants
            .iter()
            .filter_map(|v| Some((v.clone(), html::model_of(&manifest, v).ok()?.1)))
            .collect();
        let models: Vec<(String, &model::graph::Model)> =
            built.iter().map(|(v, m)| (v.clone(), m)).collect();
        let strategies = backoff::of_models(&models, None);
        if !strategies.is_empty() {
            let (p, c) = backoff::write(&dir.join("charts"), &manifest.name, &strategies, CLIENTS)?;
            r.paths.extend(p);
            r.charts.extend(c);
        }
        (r.paths, Some(r.charts))
    } else {
        (Vec::new(), None)
    };
    paths.push(html::write(dir, svgs.as_deref())?);
    Ok(paths)
}
