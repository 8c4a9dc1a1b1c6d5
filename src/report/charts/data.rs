//! Reading an output directory back for charts: `manifest.json`, `runs.csv`,
//! `summary.csv` and `timeseries.csv`, into plain tables keyed by variant and point.
//!
//! Tolerant by design, because the runner evolves independently of the charts: unknown
//! JSON fields and extra CSV columns are ignored, optional manifest fields default, and
//! a NaN may be written as an empty field or as `NaN`. What is *not* tolerated is a row
//! that cannot be read or a number that is not a number: that is an error naming the
//! file and the line, since a chart silently drawn from half a file would mislead.
//!
//! This module owns no drawing; it must never guess values that are not in the files.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use serde::Deserialize;

use super::ChartError;

/// The parts of `manifest.json` the charts use. Everything defaults, so a manifest from
/// an older or newer runner still draws.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Manifest {
    /// The experiment's name, used in every chart title.
    pub name: String,
    /// Simulated duration in seconds; the time axis ends here (0: use the data).
    pub duration_s: f64,
    /// Width of a time-series bucket in seconds (0: infer from the data).
    pub bucket_s: f64,
    /// Replications per variant and point, shown in titles (0: unknown).
    pub replications: u64,
    /// Variant names in the order the experiment file lists them: the colour order.
    pub variants: Vec<String>,
    /// The swept paths and their values, in order.
    pub sweep: Vec<SweepAxis>,
    /// Sweep point labels in order (`[""]` without a sweep).
    pub points: Vec<String>,
    /// Fault windows `[start_s, end_s]`, shaded in time series.
    pub fault_windows: Vec<(f64, f64)>,
    /// The outage threshold on the good-answer ratio, quoted in captions if present.
    pub good_ratio_below: Option<f64>,
    /// Service names in model order.
    pub services: Vec<String>,
    /// Client edge names (`caller->callee`) in model order.
    pub clients: Vec<String>,
    /// `occ` resource names: their writes and the completion time get sweep charts.
    pub resources: Vec<String>,
    /// Jobs in the whole plan.
    pub jobs: u64,
    /// `K/N` when the directory holds one shard (a partial result).
    pub shard: Option<String>,
    /// Jobs the shard holds.
    pub shard_jobs: Option<u64>,
    /// The experiment file (or model file run directly).
    pub experiment: String,
    /// The model file.
    pub model: String,
    /// The experiment seed.
    pub seed: u64,
    /// The crate version that wrote the directory.
    pub crate_version: String,
    /// The command line of the run.
    pub command: String,
    /// Adjustments the run made (clipped faults, …).
    pub notes: Vec<String>,
    /// The experiment as resolved (descriptions, variants' overrides).
    pub config: serde_json::Value,
    /// The resolved model table of each variant (× point), keyed `variant[|point]`.
    pub models: BTreeMap<String, serde_json::Value>,
}

/// One swept path and its values as written in the experiment file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SweepAxis {
    /// Dotted path, also the name of its column in the CSV files.
    pub path: String,
    /// The values in sweep order; numbers are kept as their JSON text.
    #[serde(deserialize_with = "values_as_text")]
    pub values: Vec<String>,
}

impl SweepAxis {
    /// The last segment of the path (`…payment.timeout` → `timeout`), for short labels.
    pub fn short_name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }
}

/// Sweep values may be strings (`"500ms"`) or bare numbers (`3`): keep both as text.
fn values_as_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = Vec::<serde_json::Value>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
        .collect())
}

/// Mean and 95 % confidence interval of one metric in one cell (variant × point).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

/// `(variant, point)`: one cell of the experiment plan.
pub type Cell = (String, String);

/// `summary.csv`: one [`Stat`] per cell and metric, plus each point's swept values.
#[derive(Debug, Default)]
pub struct Summary {
    stats: BTreeMap<(String, String, String), Stat>,
    /// Point label → value of each manifest sweep path (aligned with `Manifest::sweep`;
    /// `None` where the column is missing).
    pub point_values: BTreeMap<String, Vec<Option<String>>>,
    /// Variants and points in order of first appearance.
    pub seen: Seen,
}

impl Summary {
    /// The statistic of `metric` in the cell, if the file has it.
    pub fn get(&self, variant: &str, point: &str, metric: &str) -> Option<Stat> {
        self.stats
            .get(&(variant.to_string(), point.to_string(), metric.to_string()))
            .copied()
    }
}

/// `runs.csv`: per cell, the per-replication values of the metrics charts overlay as dots.
#[derive(Debug, Default)]
pub struct Runs {
    /// Per cell and metric, one value per row in file order (NaN kept, so columns align).
    values: BTreeMap<Cell, BTreeMap<String, Vec<f64>>>,
    pub seen: Seen,
}

/// The `runs.csv` columns read (others are ignored): what the bar charts dot, and which
/// runs diverged (a guard stopped them) and when.
pub const RUN_METRICS: [&str; 5] = [
    "outage_s",
    "sustained_outage_s",
    "lost",
    "diverged",
    "diverged_at_s",
];

impl Runs {
    fn raw(&self, variant: &str, point: &str, metric: &str) -> &[f64] {
        self.values
            .get(&(variant.to_string(), point.to_string()))
            .and_then(|m| m.get(metric))
            .map_or(&[], Vec::as_slice)
    }

    /// The replications' values of `metric` in the cell (finite ones only).
    pub fn values(&self, variant: &str, point: &str, metric: &str) -> Vec<f64> {
        self.marked(variant, point, metric)
            .into_iter()
            .map(|(x, _)| x)
            .collect()
    }

    /// The finite values of `metric` in the cell, each with whether its run diverged.
    pub fn marked(&self, variant: &str, point: &str, metric: &str) -> Vec<(f64, bool)> {
        let diverged = self.raw(variant, point, "diverged");
        self.raw(variant, point, metric)
            .iter()
            .enumerate()
            .filter(|(_, x)| x.is_finite())
            .map(|(i, x)| (*x, diverged.get(i).is_some_and(|d| *d > 0.0)))
            .collect()
    }

    /// When the cell's diverged runs were stopped, s.
    pub fn diverged_at(&self, variant: &str, point: &str) -> Vec<f64> {
        self.marked(variant, point, "diverged_at_s")
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }

    /// Diverged runs in the whole file.
    pub fn diverged_total(&self) -> usize {
        self.values
            .values()
            .filter_map(|m| m.get("diverged"))
            .flatten()
            .filter(|d| **d > 0.0)
            .count()
    }
}

/// One bucket of a time series: start time in seconds, mean and 95 % band.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t_s: f64,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

/// `timeseries.csv`: per cell, metric name → samples sorted by time.
#[derive(Debug, Default)]
pub struct TimeSeries {
    series: BTreeMap<Cell, BTreeMap<String, Vec<Sample>>>,
    pub seen: Seen,
}

impl TimeSeries {
    /// All metrics of one cell (empty if the cell has no rows).
    pub fn cell(&self, variant: &str, point: &str) -> Option<&BTreeMap<String, Vec<Sample>>> {
        self.series.get(&(variant.to_string(), point.to_string()))
    }
}

/// Variants and points in the order a file first mentions them.
#[derive(Debug, Default)]
pub struct Seen {
    pub variants: Vec<String>,
    pub points: Vec<String>,
}

impl Seen {
    fn note(&mut self, variant: &str, point: &str) {
        if !self.variants.iter().any(|v| v == variant) {
            self.variants.push(variant.to_string());
        }
        if !self.points.iter().any(|p| p == point) {
            self.points.push(point.to_string());
        }
    }
}

/// `preferred` order first (only names that occur in `seen`), then the rest of `seen`.
pub fn ordered(preferred: &[String], seen: &[String]) -> Vec<String> {
    let mut out: Vec<String> = preferred
        .iter()
        .filter(|p| seen.contains(p))
        .cloned()
        .collect();
    for s in seen {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// Reads `manifest.json`.
pub fn read_manifest(path: &Path) -> Result<Manifest, ChartError> {
    let text = std::fs::read_to_string(path).map_err(|source| read_error(path, source))?;
    serde_json::from_str(&text).map_err(|source| ChartError::BadManifest {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `runs.csv`, keeping [`RUN_METRICS`].
pub fn read_runs(path: &Path) -> Result<Runs, ChartError> {
    let mut table = CsvTable::open(path)?;
    let variant = table.column("variant")?;
    let point = table.column("point")?;
    let metrics: Vec<(usize, &str)> = RUN_METRICS
        .iter()
        .filter_map(|m| table.find(m).map(|i| (i, *m)))
        .collect();
    let mut runs = Runs::default();
    while let Some((line, row)) = table.next_row()? {
        let cell = (row[variant].to_string(), row[point].to_string());
        runs.seen.note(&cell.0, &cell.1);
        let slot = runs.values.entry(cell).or_default();
        for &(i, name) in &metrics {
            let v = number(path, line, name, &row[i])?;
            slot.entry(name.to_string()).or_default().push(v);
        }
    }
    Ok(runs)
}

/// Reads `summary.csv`; `sweep` names the per-path columns to pick up.
pub fn read_summary(path: &Path, sweep: &[SweepAxis]) -> Result<Summary, ChartError> {
    let mut table = CsvTable::open(path)?;
    let variant = table.column("variant")?;
    let point = table.column("point")?;
    let metric = table.column("metric")?;
    let mean = table.column("mean")?;
    let lo = table.column("lo")?;
    let hi = table.column("hi")?;
    let swept: Vec<Option<usize>> = sweep.iter().map(|a| table.find(&a.path)).collect();
    let mut summary = Summary::default();
    while let Some((line, row)) = table.next_row()? {
        let (v, p, m) = (&row[variant], &row[point], &row[metric]);
        summary.seen.note(v, p);
        summary
            .point_values
            .entry(p.to_string())
            .or_insert_with(|| {
                swept
                    .iter()
                    .map(|c| c.map(|i| row[i].to_string()))
                    .collect()
            });
        let stat = Stat {
            mean: number(path, line, "mean", &row[mean])?,
            lo: number(path, line, "lo", &row[lo])?,
            hi: number(path, line, "hi", &row[hi])?,
        };
        summary
            .stats
            .insert((v.to_string(), p.to_string(), m.to_string()), stat);
    }
    Ok(summary)
}

/// Reads `timeseries.csv`, sorting every series by time. A series is keyed `metric`, or
/// `metric:entity` when the `entity` column names one (`busy:gateway`).
pub fn read_timeseries(path: &Path) -> Result<TimeSeries, ChartError> {
    let mut table = CsvTable::open(path)?;
    let variant = table.column("variant")?;
    let point = table.column("point")?;
    let t_s = table.column("t_s")?;
    let metric = table.column("metric")?;
    let entity = table.find("entity");
    let mean = table.column("mean")?;
    let lo = table.column("lo")?;
    let hi = table.column("hi")?;
    let mut ts = TimeSeries::default();
    while let Some((line, row)) = table.next_row()? {
        let cell = (row[variant].to_string(), row[point].to_string());
        ts.seen.note(&cell.0, &cell.1);
        let sample = Sample {
            t_s: number(path, line, "t_s", &row[t_s])?,
            mean: number(path, line, "mean", &row[mean])?,
            lo: number(path, line, "lo", &row[lo])?,
            hi: number(path, line, "hi", &row[hi])?,
        };
        if !sample.t_s.is_finite() {
            continue;
        }
        let key = match entity.map(|e| &row[e]) {
            Some(e) if !e.is_empty() => format!("{}:{e}", &row[metric]),
            _ => row[metric].to_string(),
        };
        ts.series
            .entry(cell)
            .or_default()
            .entry(key)
            .or_default()
            .push(sample);
    }
    for metrics in ts.series.values_mut() {
        for samples in metrics.values_mut() {
            samples.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
        }
    }
    Ok(ts)
}

/// A CSV file with a header row, read record by record with line numbers.
pub(crate) struct CsvTable<'p> {
    path: &'p Path,
    headers: csv::StringRecord,
    reader: csv::Reader<File>,
    row: csv::StringRecord,
}

impl<'p> CsvTable<'p> {
    pub(crate) fn open(path: &'p Path) -> Result<Self, ChartError> {
        let file = File::open(path).map_err(|source| read_error(path, source))?;
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(file);
        let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
        Ok(CsvTable {
            path,
            headers,
            reader,
            row: csv::StringRecord::new(),
        })
    }

    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    pub(crate) fn column(&self, name: &str) -> Result<usize, ChartError> {
        self.find(name).ok_or_else(|| ChartError::MissingColumn {
            path: self.path.to_path_buf(),
            column: name.to_string(),
        })
    }

    /// The next record and the line it starts on, or `None` at the end.
    pub(crate) fn next_row(&mut self) -> Result<Option<(u64, &csv::StringRecord)>, ChartError> {
        match self.reader.read_record(&mut self.row) {
            Ok(true) => {
                let line = self.row.position().map_or(0, |p| p.line());
                Ok(Some((line, &self.row)))
            }
            Ok(false) => Ok(None),
            Err(e) => Err(csv_error(self.path, e)),
        }
    }
}

/// A number as the runner writes it: empty or `NaN` (any case) mean NaN.
pub fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    text.parse().ok()
}

pub(crate) fn number(path: &Path, line: u64, column: &str, text: &str) -> Result<f64, ChartError> {
    parse_number(text).ok_or_else(|| ChartError::BadRow {
        path: path.to_path_buf(),
        line,
        message: format!("{column}: {text:?} is not a number"),
    })
}

fn read_error(path: &Path, source: std::io::Error) -> ChartError {
    if source.kind() == std::io::ErrorKind::NotFound {
        ChartError::Missing {
            path: path.to_path_buf(),
        }
    } else {
        ChartError::Read {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn csv_error(path: &Path, err: csv::Error) -> ChartError {
    let line = err.position().map_or(0, |p| p.line());
    let message = match err.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
        csv::ErrorKind::Io(e) => e.to_string(),
        _ => err.to_string(),
    };
    ChartError::BadRow {
        path: path.to_path_buf(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod numbers {
        use super::*;

        #[test]
        fn empty_and_nan_in_any_case_are_nan() {
            for text in ["", "  ", "NaN", "nan", "NAN"] {
                assert!(parse_number(text).unwrap().is_nan(), "{text:?}");
            }
        }

        #[test]
        fn plain_numbers_and_infinities_parse() {
            assert_eq!(parse_number("1.5"), Some(1.5));
            assert_eq!(parse_number("-2e3"), Some(-2000.0));
            assert_eq!(parse_number("inf"), Some(f64::INFINITY));
            assert_eq!(parse_number("12s"), None);
        }
    }

    mod manifest {
        use super::*;

        #[test]
        fn optional_fields_default_and_unknown_fields_are_ignored() {
            let m: Manifest =
                serde_json::from_str(r#"{"name":"x","variants":["a"],"future":1}"#).unwrap();
            assert_eq!(m.name, "x");
            assert!(m.sweep.is_empty() && m.fault_windows.is_empty());
        }

        #[test]
        fn sweep_values_may_be_numbers() {
            let m: Manifest =
                serde_json::from_str(r#"{"sweep":[{"path":"a.b.retries","values":[1,"2",3.5]}]}"#)
                    .unwrap();
            assert_eq!(m.sweep[0].values, ["1", "2", "3.5"]);
            assert_eq!(m.sweep[0].short_name(), "retries");
        }
    }

    #[test]
    fn ordered_puts_the_manifest_order_first_and_drops_absent_names() {
        let pref = ["b".to_string(), "a".to_string(), "gone".to_string()];
        let seen = ["a".to_string(), "c".to_string(), "b".to_string()];
        assert_eq!(ordered(&pref, &seen), ["b", "a", "c"]);
    }
}
