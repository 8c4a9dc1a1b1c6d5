//! Charts of an experiment's output directory: reads `runs.csv`, `summary.csv`,
//! `timeseries.csv` and `manifest.json`, writes PNG and SVG figures into `DIR/charts/`.
//!
//! What the figures are for. Cascading failure is a story in time (a fault, a retry
//! storm, queues that never drain) and a story across seeds (the same configuration
//! storms on one seed and recovers on another). So every summary bar carries its 95 %
//! confidence interval *and* a dot per replication, and every time series shows the
//! fault window it is reacting to:
//!
//! | file (`.png` and `.svg`)            | what it shows                                         |
//! |-------------------------------------|-------------------------------------------------------|
//! | `outage`                            | outage and sustained outage per variant (× point)     |
//! | `lost`                              | lost requests per variant (× point)                   |
//! | `sweep_outage_s`, `sweep_lost`      | metric vs swept value, a line and CI band per variant |
//! | `sweep_completion_s`, `sweep_occ_writes_<resource>` | with `occ` resources: completion time and writes vs swept value |
//! | `compare[_<point>]`                 | key metrics over time, every variant overlaid         |
//! | `timeseries_<variant>[_<point>]`    | load, p99, busy workers, queues, open breakers, occ writes |
//!
//! A `cascade tune` directory (a `tune.csv`, no `runs.csv`) gets the charts of [`tune`]
//! instead.
//!
//! With several swept paths the sweep charts are `sweep_<metric>_<path>`. Names derived
//! from variants and points are reduced to safe ASCII (`timeout=500ms` → `timeout_500ms`).
//!
//! Invariants: colours follow `manifest.variants` order in every chart; nothing panics on
//! empty or degenerate data (what cannot be drawn is skipped); a chart file is either
//! complete or absent (temp file, then rename). This module never runs a simulation and
//! never writes outside `DIR/charts/`.
//!
//! Layout: `data` reads the files, `axes` makes ranges and numbers safe to draw,
//! `canvas` holds the shared drawing pieces (font, palette, legend, atomic writes),
//! and `bars`, `sweep`, `timeseries` and `compare` build one kind of figure each
//! ([`render_all`] also hands back the SVG text, for `report.html`).

mod axes;
pub(crate) mod backoff;
mod bars;
pub(crate) mod canvas;
mod compare;
pub(crate) mod data;
#[cfg(test)]
mod fixture;
mod sweep;
mod timeseries;
pub mod tune;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use canvas::write_figure;
use data::{Manifest, Runs, Summary, TimeSeries};

/// Why charts could not be drawn. Charts written before the error stay in place (each
/// is complete); the failing chart and those after it are not written.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// An input file does not exist; no chart was written (run the experiment first).
    #[error("missing {}", .path.display())]
    Missing { path: PathBuf },
    /// An input file exists but cannot be read; no chart was written.
    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `manifest.json` is not valid JSON of the expected shape; no chart was written.
    #[error("{}: {source}", .path.display())]
    BadManifest {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A CSV file lacks a column the charts need; no chart was written.
    #[error("{}: no `{column}` column", .path.display())]
    MissingColumn { path: PathBuf, column: String },
    /// A CSV row cannot be read; `line` is 1-based. No chart was written.
    #[error("{}: line {line}: {message}", .path.display())]
    BadRow {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// `DIR/charts/` cannot be created; no chart was written.
    #[error("{}: cannot create directory: {source}", .path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A chart could not be drawn or written; it was not left behind half-written.
    #[error("{}: cannot write chart: {message}", .path.display())]
    Write { path: PathBuf, message: String },
    /// The embedded font was rejected by the rasteriser (a build problem); nothing drawn.
    #[error("embedded font assets/fonts/DejaVuSans.ttf could not be loaded")]
    Font,
}

/// Renders every chart the data allow into `dir/charts/`, each as `.png` and `.svg`,
/// and returns the written paths (PNG then SVG per chart, in the order of the table in
/// the module docs). `timeseries.csv` is optional; the other three inputs are required.
pub fn render(dir: &Path) -> Result<Vec<PathBuf>, ChartError> {
    if dir.join("tune.csv").exists() && !dir.join("runs.csv").exists() {
        return tune::render(dir);
    }
    Ok(render_all(dir)?.paths)
}

/// What [`render_all`] drew: the files written, and each chart's SVG text for pages
/// that embed them (`report.html`).
pub struct Rendered {
    /// PNG then SVG of every chart, in order.
    pub paths: Vec<PathBuf>,
    /// Every chart in order, with the SVG text written to `charts/<stem>.svg`.
    pub charts: Vec<ChartSvg>,
}

/// One chart as SVG text.
pub struct ChartSvg {
    /// File stem under `charts/`.
    pub stem: String,
    /// Which part of a report it belongs in.
    pub kind: ChartKind,
    /// The SVG document.
    pub svg: String,
}

/// The kinds of chart, in the order a report shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChartKind {
    /// Outage and lost requests per variant.
    Bars,
    /// Metric against a swept value.
    Sweep,
    /// Key metrics over time, every variant overlaid.
    Compare,
    /// Backoff delays and retry arrivals.
    Backoff,
    /// One variant's time series.
    Series,
}

/// Like [`render`], and also returns every chart's SVG text.
pub fn render_all(dir: &Path) -> Result<Rendered, ChartError> {
    let inputs = Inputs::read(dir)?;
    canvas::ensure_font()?;
    let out = dir.join("charts");
    std::fs::create_dir_all(&out).map_err(|source| ChartError::CreateDir {
        path: out.clone(),
        source,
    })?;
    let mut rendered = Rendered {
        paths: Vec::new(),
        charts: Vec::new(),
    };
    for (stem, kind, fig) in figures(&inputs) {
        let (paths, svg) = write_figure(&out, &stem, &fig)?;
        rendered.paths.extend(paths);
        rendered.charts.push(ChartSvg { stem, kind, svg });
    }
    Ok(rendered)
}

/// The `i`-th series colour of every chart, as `#rrggbb` (for pages that match them).
pub fn palette_hex(i: usize) -> String {
    let c = canvas::colour(i);
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Any of the figures, so they can be listed and written alike.
enum Chart {
    Bars(bars::BarFigure),
    Sweep(sweep::SweepFigure),
    Series(timeseries::TimeSeriesFigure),
}

impl canvas::Figure for Chart {
    fn size(&self) -> (u32, u32) {
        match self {
            Chart::Bars(f) => f.size(),
            Chart::Sweep(f) => f.size(),
            Chart::Series(f) => f.size(),
        }
    }

    fn draw<DB: plotters::prelude::DrawingBackend>(
        &self,
        root: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    ) -> canvas::Drawn {
        match self {
            Chart::Bars(f) => f.draw(root),
            Chart::Sweep(f) => f.draw(root),
            Chart::Series(f) => f.draw(root),
        }
    }
}

/// Every figure the data allow, with its file stem, in the order of the module docs.
fn figures(inputs: &Inputs) -> Vec<(String, ChartKind, Chart)> {
    let mut out = Vec::new();
    if let Some(fig) = bars::outage(inputs) {
        out.push(("outage".to_string(), ChartKind::Bars, Chart::Bars(fig)));
    }
    if let Some(fig) = bars::lost(inputs) {
        out.push(("lost".to_string(), ChartKind::Bars, Chart::Bars(fig)));
    }
    let several = inputs.manifest.sweep.len() > 1;
    // With contended resources, the work done and the time to serve everyone (the AWS
    // backoff study's two figures).
    let mut metrics = vec!["outage_s".to_string(), "lost".to_string()];
    if !inputs.manifest.resources.is_empty() {
        metrics.push("completion_s".to_string());
        metrics.extend(
            inputs
                .manifest
                .resources
                .iter()
                .map(|r| format!("occ_writes:{r}")),
        );
    }
    for (axis, spec) in inputs.manifest.sweep.iter().enumerate() {
        for metric in &metrics {
            let Some(fig) = sweep::build(inputs, axis, metric) else {
                continue;
            };
            let metric = safe_name(metric);
            let stem = if several {
                format!("sweep_{metric}_{}", safe_name(&spec.path))
            } else {
                format!("sweep_{metric}")
            };
            out.push((stem, ChartKind::Sweep, Chart::Sweep(fig)));
        }
    }
    for (stem, fig) in compare::build(inputs) {
        out.push((stem, ChartKind::Compare, Chart::Series(fig)));
    }
    let mut used = BTreeSet::new();
    for variant in &inputs.variants {
        for point in &inputs.points {
            let Some(fig) = timeseries::build(inputs, variant, point) else {
                continue;
            };
            let mut stem = format!("timeseries_{}", safe_name(variant));
            if !point.is_empty() {
                stem = format!("{stem}_{}", safe_name(point));
            }
            // Two names that differ only in punctuation must not overwrite each other.
            let base = stem.clone();
            let mut k = 2;
            while !used.insert(stem.clone()) {
                stem = format!("{base}_{k}");
                k += 1;
            }
            out.push((stem, ChartKind::Series, Chart::Series(fig)));
        }
    }
    out
}

/// Everything read from the output directory, with variants and points in display order.
struct Inputs {
    manifest: Manifest,
    runs: Runs,
    summary: Summary,
    timeseries: Option<TimeSeries>,
    /// Variants in `manifest.variants` order, then any others the files mention.
    variants: Vec<String>,
    /// Points in `manifest.points` order, then any others the files mention.
    points: Vec<String>,
}

impl Inputs {
    fn read(dir: &Path) -> Result<Self, ChartError> {
        // runs.csv first: its absence is the common mistake (charts before a run).
        let runs = data::read_runs(&dir.join("runs.csv"))?;
        let manifest = data::read_manifest(&dir.join("manifest.json"))?;
        let summary = data::read_summary(&dir.join("summary.csv"), &manifest.sweep)?;
        let ts_path = dir.join("timeseries.csv");
        let timeseries = if ts_path.exists() {
            Some(data::read_timeseries(&ts_path)?)
        } else {
            None
        };
        let mut seen_v = runs.seen.variants.clone();
        let mut seen_p = runs.seen.points.clone();
        let ts_seen = timeseries.as_ref().map(|t| &t.seen);
        for seen in std::iter::once(&summary.seen).chain(ts_seen) {
            seen_v.extend(seen.variants.iter().cloned());
            seen_p.extend(seen.points.iter().cloned());
        }
        let variants = data::ordered(&manifest.variants, &dedup(seen_v));
        let points = data::ordered(&manifest.points, &dedup(seen_p));
        Ok(Inputs {
            manifest,
            runs,
            summary,
            timeseries,
            variants,
            points,
        })
    }

    /// A point as shown on an axis: with a single swept path just its value (`500ms`),
    /// otherwise the point label (`timeout=500ms,retries=3`).
    fn point_label(&self, point: &str) -> String {
        if self.manifest.sweep.len() == 1
            && let Some(Some(v)) = self.summary.point_values.get(point).and_then(|v| v.first())
        {
            return v.clone();
        }
        point.to_string()
    }

    /// "20 replications" or "" when the manifest does not say; for a shard, the
    /// replications it holds (fewer than the experiment's).
    fn replications_text(&self) -> String {
        if self.manifest.shard.is_some() {
            return "the replications in this shard".to_string();
        }
        match self.manifest.replications {
            0 => String::new(),
            1 => "1 replication".to_string(),
            n => format!("{n} replications"),
        }
    }

    /// `"lines: mean of 20 replications"` (`what` = "lines"), or "… mean over
    /// replications" when the manifest does not say how many.
    fn mean_of(&self, what: &str) -> String {
        let reps = self.replications_text();
        if reps.is_empty() {
            format!("{what}: mean over replications")
        } else {
            format!("{what}: mean of {reps}")
        }
    }

    /// `" — PARTIAL: shard 1/2, 3 of 6 jobs"` for a shard's charts, else empty: every
    /// title carries it, so a shard's figure is never mistaken for the whole result.
    fn partial_tag(&self) -> String {
        match &self.manifest.shard {
            Some(s) => format!(
                " — PARTIAL: shard {s}, {} of {} jobs",
                self.manifest.shard_jobs.unwrap_or(0),
                self.manifest.jobs
            ),
            None => String::new(),
        }
    }

    /// `" · 2 runs diverged: stopped by a guard, figures up to then"` or empty.
    fn diverged_note(&self) -> String {
        match self.runs.diverged_total() {
            0 => String::new(),
            1 => " · 1 run diverged: stopped by a guard, figures up to then".to_string(),
            n => format!(" · {n} runs diverged: stopped by a guard, figures up to then"),
        }
    }
}

/// A file-name-safe ASCII version of `name`: letters, digits, `-` and `.` kept, every
/// other run of characters (including `→`, `:`, `=`, spaces, `/`) becomes one `_`.
fn safe_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches(|c| c == '_' || c == '.').to_string();
    if out.is_empty() { "x".to_string() } else { out }
}

fn dedup(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fixture::{self, Fixture};
    use super::*;

    /// Writes the fixture, renders it, and returns the directory and the written paths.
    /// Set `CASCADE_KEEP_CHARTS=1` to keep the directory for looking at the charts.
    fn rendered(tag: &str, f: &Fixture) -> (PathBuf, Vec<PathBuf>) {
        let dir = fixture::temp_dir(tag);
        fixture::write(&dir, f);
        let paths = render(&dir).unwrap_or_else(|e| panic!("{tag}: {e}"));
        (dir, paths)
    }

    fn cleanup(dir: &Path) {
        if std::env::var_os("CASCADE_KEEP_CHARTS").is_none() {
            let _ = std::fs::remove_dir_all(dir);
        } else {
            eprintln!("charts kept in {}", dir.join("charts").display());
        }
    }

    /// Width and height from a PNG's IHDR chunk, after checking the signature.
    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 24, "{}: too short", path.display());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
        assert_eq!(&bytes[12..16], b"IHDR");
        let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
        (be(16), be(20))
    }

    fn stems(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    fn svg(dir: &Path, stem: &str) -> String {
        std::fs::read_to_string(dir.join("charts").join(format!("{stem}.svg"))).unwrap()
    }

    mod full_experiment {
        use super::*;

        #[test]
        fn writes_every_chart_as_png_and_svg() {
            let (dir, paths) = rendered("full", &Fixture::default());
            assert_eq!(
                stems(&paths),
                [
                    "outage",
                    "lost",
                    "compare",
                    "timeseries_unprotected",
                    "timeseries_protected"
                ]
            );
            assert_eq!(paths.len(), 10);
            for p in &paths {
                assert!(p.starts_with(dir.join("charts")), "{}", p.display());
                assert!(
                    std::fs::metadata(p).unwrap().len() > 1000,
                    "{}",
                    p.display()
                );
            }
            cleanup(&dir);
        }

        #[test]
        fn pngs_are_the_promised_size() {
            let (dir, _) = rendered("sizes", &Fixture::default());
            let charts = dir.join("charts");
            assert_eq!(png_size(&charts.join("outage.png")), (1600, 900));
            assert_eq!(png_size(&charts.join("lost.png")), (1600, 900));
            let (w, h) = png_size(&charts.join("timeseries_protected.png"));
            assert_eq!(w, 1600);
            assert!(h > 1500, "five panels need height, got {h}");
            // Unprotected has no breaker that ever opened: four panels, shorter figure.
            let (_, h4) = png_size(&charts.join("timeseries_unprotected.png"));
            assert!(h4 < h, "{h4} vs {h}");
            cleanup(&dir);
        }

        #[test]
        fn svgs_carry_titles_labels_and_the_fault_legend() {
            let (dir, _) = rendered("svg", &Fixture::default());
            let outage = svg(&dir, "outage");
            assert!(outage.contains("black-friday-jitter — Outage duration by variant"));
            assert!(outage.contains("outage (minutes per run)"));
            assert!(outage.contains("unprotected") && outage.contains("protected"));
            let ts = svg(&dir, "timeseries_protected");
            assert!(ts.contains("black-friday-jitter — protected"));
            assert!(ts.contains("time (minutes)"));
            assert!(
                ts.contains(">fault<") || ts.contains("fault\n"),
                "fault legend"
            );
            assert!(ts.contains("order→payment"), "breaker edge in legend");
            cleanup(&dir);
        }

        #[test]
        fn leaves_no_temporary_files() {
            let (dir, _) = rendered("tmp", &Fixture::default());
            let leftovers: Vec<_> = std::fs::read_dir(dir.join("charts"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
            cleanup(&dir);
        }
    }

    mod sweep {
        use super::*;

        #[test]
        fn adds_sweep_charts_and_one_time_series_per_point() {
            let f = Fixture {
                sweep: true,
                ..Fixture::default()
            };
            let (dir, paths) = rendered("sweep", &f);
            let names = stems(&paths);
            assert_eq!(
                names[..4],
                ["outage", "lost", "sweep_outage_s", "sweep_lost"]
            );
            assert!(names.contains(&"timeseries_unprotected_timeout_500ms".to_string()));
            assert!(names.contains(&"timeseries_protected_timeout_2s".to_string()));
            assert!(
                names.contains(&"compare".to_string()),
                "2 × 3 cells: one figure"
            );
            assert_eq!(names.len(), 5 + 2 * 3);
            assert_eq!(png_size(&dir.join("charts/sweep_lost.png")), (1600, 900));
            let s = svg(&dir, "sweep_outage_s");
            assert!(
                s.contains("Outage vs order → payment timeout"),
                "the path in words"
            );
            assert!(s.contains(">500ms<") || s.contains("500ms"));
            cleanup(&dir);
        }
    }

    mod file_names {
        use super::*;

        #[test]
        fn file_names_are_ascii_without_separators() {
            assert_eq!(safe_name("gateway→order"), "gateway_order");
            assert_eq!(safe_name("timeout=500ms"), "timeout_500ms");
            assert_eq!(safe_name("breaker_open:a→b"), "breaker_open_a_b");
            assert_eq!(safe_name("../x"), "x");
            assert_eq!(safe_name("→"), "x");
        }
    }

    mod two_swept_paths {
        use super::*;

        #[test]
        fn name_sweep_charts_by_path_and_label_lines_by_the_other_path() {
            let dir = fixture::temp_dir("twopaths");
            let manifest = serde_json::json!({
                "name": "grid",
                "variants": ["base"],
                "sweep": [
                    { "path": "services.order.clients.payment.timeout", "values": ["1s", "2s"] },
                    { "path": "services.order.clients.payment.retry.max_attempts", "values": [1, 3] },
                ],
                "points": ["a", "b", "c", "d"],
            });
            std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
            let timeout = "services.order.clients.payment.timeout";
            let attempts = "services.order.clients.payment.retry.max_attempts";
            let mut runs =
                format!("variant,point,{timeout},{attempts},replication,outage_s,lost\n");
            let mut summary =
                format!("variant,point,{timeout},{attempts},metric,n,mean,std,lo,hi\n");
            for (p, t, a, v) in [
                ("a", "1s", 1, 10.0),
                ("b", "1s", 3, 30.0),
                ("c", "2s", 1, 20.0),
                ("d", "2s", 3, 90.0),
            ] {
                runs.push_str(&format!("base,{p},{t},{a},0,{v},{v}\n"));
                for m in ["outage_s", "lost"] {
                    summary.push_str(&format!("base,{p},{t},{a},{m},1,{v},0,,\n"));
                }
            }
            std::fs::write(dir.join("runs.csv"), runs).unwrap();
            std::fs::write(dir.join("summary.csv"), summary).unwrap();
            let names = stems(&render(&dir).unwrap());
            assert_eq!(
                names,
                [
                    "outage",
                    "lost",
                    "sweep_outage_s_services.order.clients.payment.timeout",
                    "sweep_lost_services.order.clients.payment.timeout",
                    "sweep_outage_s_services.order.clients.payment.retry.max_attempts",
                    "sweep_lost_services.order.clients.payment.retry.max_attempts",
                ]
            );
            let s = svg(
                &dir,
                "sweep_outage_s_services.order.clients.payment.timeout",
            );
            assert!(
                s.contains("base · max_attempts=3"),
                "one line per other-path value"
            );
            cleanup(&dir);
        }
    }

    mod partial_and_diverged {
        use super::*;

        /// The fixture as a shard whose first unprotected replication diverged.
        fn marked(tag: &str) -> PathBuf {
            let dir = fixture::temp_dir(tag);
            fixture::write(&dir, &Fixture::default());
            let path = dir.join("manifest.json");
            let mut m: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            m["shard"] = "1/2".into();
            m["shard_jobs"] = 3.into();
            m["jobs"] = 6.into();
            std::fs::write(&path, m.to_string()).unwrap();
            let runs = std::fs::read_to_string(dir.join("runs.csv")).unwrap();
            let mut out = String::new();
            for (i, line) in runs.lines().enumerate() {
                let extra = match i {
                    0 => ",diverged,diverged_at_s",
                    _ if line.starts_with("unprotected,,0,") => ",1,3000",
                    _ => ",0,",
                };
                out.push_str(&format!("{line}{extra}\n"));
            }
            std::fs::write(dir.join("runs.csv"), out).unwrap();
            render(&dir).unwrap();
            dir
        }

        #[test]
        fn a_shard_says_partial_in_every_title() {
            let dir = marked("partial");
            for stem in ["outage", "lost", "timeseries_protected"] {
                assert!(
                    svg(&dir, stem).contains("PARTIAL: shard 1/2, 3 of 6 jobs"),
                    "{stem}"
                );
                assert!(svg(&dir, stem).contains("in this shard"), "{stem}");
            }
            cleanup(&dir);
        }

        #[test]
        fn a_diverged_run_is_a_cross_and_a_stop_line() {
            let dir = marked("diverged");
            assert!(svg(&dir, "lost").contains("diverged run"));
            assert!(svg(&dir, "outage").contains("1 run diverged"));
            let ts = svg(&dir, "timeseries_unprotected");
            assert!(ts.contains("run diverged (guard)"), "legend");
            assert!(
                ts.contains("first at 50"),
                "subtitle gives the time in minutes"
            );
            assert!(!svg(&dir, "timeseries_protected").contains("run diverged"));
            cleanup(&dir);
        }
    }

    mod degenerate_inputs {
        use super::*;

        #[test]
        fn a_single_variant_without_fault_renders() {
            let f = Fixture {
                variants: vec!["protected"],
                fault: false,
                ..Fixture::default()
            };
            let (dir, paths) = rendered("single", &f);
            assert_eq!(stems(&paths), ["outage", "lost", "timeseries_protected"]);
            assert!(!svg(&dir, "timeseries_protected").contains(">fault<"));
            cleanup(&dir);
        }

        #[test]
        fn many_bars_stack_the_outage_panels() {
            let f = Fixture {
                variants: vec![
                    "unprotected",
                    "retry-budget",
                    "breaker",
                    "breaker+budget",
                    "bulkhead",
                ],
                sweep: true,
                ..Fixture::default()
            };
            let (dir, _) = rendered("many", &f);
            assert_eq!(
                png_size(&dir.join("charts/outage.png")),
                (1600, 2 * 520 + 84)
            );
            cleanup(&dir);
        }

        #[test]
        fn nan_fields_render() {
            let f = Fixture {
                nan: true,
                sweep: true,
                ..Fixture::default()
            };
            let (dir, paths) = rendered("nan", &f);
            assert_eq!(stems(&paths).len(), 11);
            cleanup(&dir);
        }

        #[test]
        fn all_zeros_render() {
            let f = Fixture {
                zeros: true,
                sweep: true,
                ..Fixture::default()
            };
            let (dir, paths) = rendered("zeros", &f);
            assert!(stems(&paths).contains(&"outage".to_string()));
            cleanup(&dir);
        }

        #[test]
        fn without_timeseries_only_bars_are_drawn() {
            let f = Fixture {
                timeseries: false,
                ..Fixture::default()
            };
            let (dir, paths) = rendered("nots", &f);
            assert_eq!(stems(&paths), ["outage", "lost"]);
            cleanup(&dir);
        }

        #[test]
        fn header_only_files_draw_nothing() {
            let dir = fixture::temp_dir("empty");
            std::fs::write(dir.join("manifest.json"), "{}").unwrap();
            std::fs::write(dir.join("runs.csv"), "variant,point,outage_s\n").unwrap();
            std::fs::write(
                dir.join("summary.csv"),
                "variant,point,metric,n,mean,std,lo,hi\n",
            )
            .unwrap();
            assert!(render(&dir).unwrap().is_empty());
            cleanup(&dir);
        }
    }

    mod errors {
        use super::*;

        #[test]
        fn missing_runs_csv_names_the_file() {
            let dir = fixture::temp_dir("missing");
            fixture::write(&dir, &Fixture::default());
            std::fs::remove_file(dir.join("runs.csv")).unwrap();
            let err = render(&dir).unwrap_err();
            assert!(matches!(err, ChartError::Missing { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(
                msg.starts_with("missing ") && msg.ends_with("runs.csv"),
                "{msg}"
            );
            assert!(!dir.join("charts").exists(), "nothing written");
            cleanup(&dir);
        }

        #[test]
        fn a_bad_number_names_file_line_and_column() {
            let dir = fixture::temp_dir("badrow");
            fixture::write(&dir, &Fixture::default());
            let path = dir.join("summary.csv");
            let mut text = std::fs::read_to_string(&path).unwrap();
            text.push_str("protected,,lost,3,many,0,0,0\n");
            let line = text.lines().count();
            std::fs::write(&path, text).unwrap();
            let msg = render(&dir).unwrap_err().to_string();
            assert!(msg.contains("summary.csv"), "{msg}");
            assert!(
                msg.contains(&format!("line {line}: mean: \"many\" is not a number")),
                "{msg}"
            );
            cleanup(&dir);
        }

        #[test]
        fn a_short_row_names_its_line() {
            let dir = fixture::temp_dir("shortrow");
            fixture::write(&dir, &Fixture::default());
            let path = dir.join("runs.csv");
            let mut text = std::fs::read_to_string(&path).unwrap();
            text.push_str("protected,,1\n");
            let line = text.lines().count();
            std::fs::write(&path, text).unwrap();
            let err = render(&dir).unwrap_err();
            assert!(
                matches!(err, ChartError::BadRow { line: l, .. } if l == line as u64),
                "{err:?}"
            );
            cleanup(&dir);
        }

        #[test]
        fn a_missing_column_is_named() {
            let dir = fixture::temp_dir("nocol");
            fixture::write(&dir, &Fixture::default());
            std::fs::write(
                dir.join("summary.csv"),
                "variant,point,metric,n,mean,std,lo\n",
            )
            .unwrap();
            let msg = render(&dir).unwrap_err().to_string();
            assert!(msg.ends_with("summary.csv: no `hi` column"), "{msg}");
            cleanup(&dir);
        }

        #[test]
        fn an_unwritable_chart_is_a_write_error() {
            let dir = fixture::temp_dir("unwritable");
            fixture::write(&dir, &Fixture::default());
            // A directory squatting on the chart's name makes the final rename fail.
            std::fs::create_dir_all(dir.join("charts/outage.png/x")).unwrap();
            let err = render(&dir).unwrap_err();
            assert!(matches!(err, ChartError::Write { .. }), "{err:?}");
            assert!(
                err.to_string().contains("outage.png: cannot write chart"),
                "{err}"
            );
            assert!(!dir.join("charts/.outage.partial.png").exists());
            cleanup(&dir);
        }
    }
}
