//! Reporting: turning an experiment's output directory into things people read.
//!
//! The runner writes `runs.csv`, `summary.csv`, `timeseries.csv` and `manifest.json`;
//! modules here only read those files back (never the simulation's in-memory state), so
//! a report can be redrawn from an old output directory, or from merged shards, without
//! running anything again.
//!
//! - [`charts`]: PNG and SVG figures in `DIR/charts/`;
//! - [`html`]: `DIR/report.html`, one self-contained page with every chart inline;
//! - [`summary`]: the summary table the terminal and the page share.

pub mod charts;
pub mod html;
pub mod summary;

use std::path::{Path, PathBuf};

/// Draws the charts of `dir` (unless `charts` is false) and writes `report.html`;
/// returns every file written, the page last.
pub fn write(dir: &Path, charts: bool) -> Result<Vec<PathBuf>, charts::ChartError> {
    let (mut paths, svgs) = if charts {
        let r = charts::render_all(dir)?;
        (r.paths, Some(r.charts))
    } else {
        (Vec::new(), None)
    };
    paths.push(html::write(dir, svgs.as_deref(), &[])?);
    Ok(paths)
}
