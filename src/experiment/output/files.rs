//! The data files of an output directory: writing `runs.csv`, `summary.csv`,
//! `timeseries.csv` (and a shard's `timeseries.partial.csv`) from rows in plan order and
//! group accumulators, and reading a shard's files back for a merge.
//!
//! Every summary goes through the text of `runs.csv` (rows of fields), whether the rows
//! come from a run or from shards being merged: one path, so a merge writes the same
//! bytes as the whole run. Files are streamed to disk, never built in memory; they are
//! written into a staging directory, so a half-written file is never seen as a result.
//! Column definitions: `output/README.md`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::experiment::output::{Manifest, OutputError};
use crate::experiment::results::{
    Acc, GroupSeries, RUN_METRICS, SeriesKey, metric_range, resource_metrics, wilson,
};

/// A number as written in `runs.csv`: integers plainly, other values in the shortest form
/// that reads back exactly, NaN as an empty field.
pub fn exact(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else if x == x.trunc() && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// A computed statistic, to 6 decimals, trailing zeros trimmed; empty when not finite.
pub fn stat(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// An interval clipped to the metric's range (counts ≥ 0, shares in [0, 1]).
fn clipped(metric: &str, (lo, hi): (f64, f64)) -> (f64, f64) {
    let (min, max) = metric_range(metric);
    (lo.clamp(min, max), hi.clamp(min, max))
}

/// A job row as read back from `runs.csv` (for merges).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Plan index.
    pub job: usize,
    /// The remaining fields in order: variant, point, one per swept path, replication,
    /// seed, [`RUN_METRICS`], the resource metrics, `diverged_why`.
    pub fields: Vec<String>,
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

/// The header of `runs.csv`.
pub fn runs_header(m: &Manifest) -> Vec<String> {
    let mut h = strings(&["job", "variant", "point"]);
    h.extend(m.sweep.iter().map(|a| a.path.clone()));
    h.extend(strings(&["replication", "seed"]));
    h.extend(strings(&RUN_METRICS));
    h.extend(resource_metrics(&m.resources));
    h.push("diverged_why".to_string());
    h
}

struct Csv {
    path: std::path::PathBuf,
    w: csv::Writer<BufWriter<File>>,
}

impl Csv {
    fn create(dir: &Path, name: &str, header: &[String]) -> Result<Csv, OutputError> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|cause| OutputError::write(&path, cause))?;
        let mut csv = Csv {
            w: csv::Writer::from_writer(BufWriter::new(file)),
            path,
        };
        csv.row(header)?;
        Ok(csv)
    }

    fn row<S: AsRef<[u8]>>(
        &mut self,
        fields: impl IntoIterator<Item = S>,
    ) -> Result<(), OutputError> {
        self.w
            .write_record(fields)
            .map_err(|e| OutputError::write(&self.path, std::io::Error::other(e)))
    }

    fn finish(self) -> Result<(), OutputError> {
        let path = self.path;
        let file = self
            .w
            .into_inner()
            .map_err(|e| OutputError::write(&path, std::io::Error::other(e.to_string())))?
            .into_inner()
            .map_err(|e| OutputError::write(&path, e.into_error()))?;
        file.sync_all()
            .map_err(|cause| OutputError::write(&path, cause))
    }
}

/// Writes runs, summary, timeseries (and a shard's partial accumulators) into `dir`
/// from rows in plan order and the group accumulators.
pub fn write_data(
    dir: &Path,
    m: &Manifest,
    rows: &[Row],
    groups: &[GroupSeries],
) -> Result<(), OutputError> {
    let n_sweep = m.sweep.len();
    let mut runs = Csv::create(dir, "runs.csv", &runs_header(m))?;
    for r in rows {
        runs.row(std::iter::once(r.job.to_string()).chain(r.fields.iter().cloned()))?;
    }
    runs.finish()?;

    // summary.csv: per (variant, point) in plan order.
    let mut sh = strings(&["variant", "point"]);
    sh.extend(m.sweep.iter().map(|a| a.path.clone()));
    sh.extend(strings(&["metric", "n", "mean", "std", "lo", "hi"]));
    let mut summary = Csv::create(dir, "summary.csv", &sh)?;
    let first_metric = 2 + n_sweep + 2; // variant, point, sweep…, replication, seed
    let recovered = RUN_METRICS
        .iter()
        .position(|m| *m == "recovered")
        .expect("a metric");
    let mut i = 0;
    while i < rows.len() {
        let key = &rows[i].fields[..2 + n_sweep];
        let mut j = i;
        while j < rows.len() && rows[j].fields[..2 + n_sweep] == *key {
            j += 1;
        }
        let group = &rows[i..j];
        let metrics: Vec<String> = strings(&RUN_METRICS)
            .into_iter()
            .chain(resource_metrics(&m.resources))
            .collect();
        for (k, metric) in metrics.iter().enumerate() {
            let mut acc = Acc::default();
            for r in group {
                acc.add(
                    r.fields[first_metric + k]
                        .parse::<f64>()
                        .unwrap_or(f64::NAN),
                );
            }
            let (lo, hi) = clipped(metric, acc.ci95());
            let mut line = key.to_vec();
            line.extend([
                metric.to_string(),
                acc.n.to_string(),
                stat(acc.mean()),
                stat(acc.std()),
                stat(lo),
                stat(hi),
            ]);
            summary.row(line)?;
        }
        let k = group
            .iter()
            .filter(|r| r.fields[first_metric + recovered] == "1")
            .count() as u64;
        let n = group.len() as u64;
        let (p, lo, hi) = wilson(k, n);
        let (lo, hi) = if n < 2 {
            (f64::NAN, f64::NAN)
        } else {
            (lo, hi)
        };
        let mut line = key.to_vec();
        line.extend([
            "recovered_share".to_string(),
            n.to_string(),
            stat(p),
            String::new(),
            stat(lo),
            stat(hi),
        ]);
        summary.row(line)?;
        i = j;
    }
    summary.finish()?;

    // timeseries.csv (tidy: one row per cell, bucket, metric and entity).
    let mut th = strings(&["variant", "point"]);
    th.extend(m.sweep.iter().map(|a| a.path.clone()));
    th.extend(strings(&["t_s", "metric", "entity", "mean", "lo", "hi"]));
    let mut ts = Csv::create(dir, "timeseries.csv", &th)?;
    let mut partial = match m.shard {
        Some(_) => Some(Csv::create(
            dir,
            "timeseries.partial.csv",
            &strings(&["group", "metric", "entity", "bucket", "n", "sum", "sumsq"]),
        )?),
        None => None,
    };
    let points = m.points.len().max(1);
    for (g, series) in groups.iter().enumerate() {
        let (v, p) = (g / points, g % points);
        let cell: Vec<String> = std::iter::once(m.variants[v].clone())
            .chain(std::iter::once(
                m.points.get(p).cloned().unwrap_or_default(),
            ))
            .chain(point_values(m, p))
            .collect();
        for (key, accs) in &series.metrics {
            for (b, acc) in accs.iter().enumerate() {
                let (lo, hi) = clipped(&key.metric, acc.ci95());
                let mut line = cell.clone();
                line.extend([
                    stat(b as f64 * m.bucket_s),
                    key.metric.clone(),
                    key.entity.clone(),
                    stat(acc.mean()),
                    stat(lo),
                    stat(hi),
                ]);
                ts.row(line)?;
                if let Some(part) = &mut partial {
                    part.row([
                        g.to_string(),
                        key.metric.clone(),
                        key.entity.clone(),
                        b.to_string(),
                        acc.n.to_string(),
                        acc.sum.to_string(),
                        acc.sumsq.to_string(),
                    ])?;
                }
            }
        }
    }
    ts.finish()?;
    if let Some(part) = partial {
        part.finish()?;
    }
    Ok(())
}

/// The value of every swept path at point `p` (points are the cartesian product of the
/// manifest's sweep values, last path fastest).
fn point_values(m: &Manifest, p: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(m.sweep.len());
    let mut stride: usize = m.sweep.iter().map(|a| a.values.len().max(1)).product();
    for axis in &m.sweep {
        let n = axis.values.len().max(1);
        stride /= n;
        out.push(
            axis.values
                .get((p / stride) % n)
                .cloned()
                .unwrap_or_default(),
        );
    }
    out
}

fn read_err(path: &Path, problem: impl Into<String>) -> OutputError {
    OutputError::read(path, problem)
}

/// Reads `dir/runs.csv`, checking its header is the one `m` implies.
pub fn read_rows(dir: &Path, m: &Manifest) -> Result<Vec<Row>, OutputError> {
    let path = dir.join("runs.csv");
    let mut r =
        csv::Reader::from_path(&path).map_err(|e| read_err(&path, format!("cannot read: {e}")))?;
    let header: Vec<String> = r
        .headers()
        .map_err(|e| read_err(&path, format!("cannot read: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    if header != runs_header(m) {
        return Err(read_err(
            &path,
            "its columns are not the ones this version of cascade writes",
        ));
    }
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| read_err(&path, format!("line {}: {e}", i + 2)))?;
        let job = rec
            .get(0)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| read_err(&path, format!("line {}: no job index", i + 2)))?;
        rows.push(Row {
            job,
            fields: rec.iter().skip(1).map(str::to_string).collect(),
        });
    }
    Ok(rows)
}

/// Adds the accumulators of `dir/timeseries.partial.csv` into `groups`.
pub fn read_partial(dir: &Path, groups: &mut [GroupSeries]) -> Result<(), OutputError> {
    let path = dir.join("timeseries.partial.csv");
    let mut r =
        csv::Reader::from_path(&path).map_err(|e| read_err(&path, format!("cannot read: {e}")))?;
    let mut shard = vec![GroupSeries::default(); groups.len()];
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| read_err(&path, format!("line {line}: {e}")))?;
        let bad = || read_err(&path, format!("line {line}: malformed accumulator"));
        let g: usize = rec.get(0).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let key = SeriesKey {
            metric: rec.get(1).ok_or_else(bad)?.to_string(),
            entity: rec.get(2).ok_or_else(bad)?.to_string(),
        };
        let b: usize = rec.get(3).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let acc = Acc {
            n: rec.get(4).and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            sum: rec.get(5).and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            sumsq: rec.get(6).and_then(|s| s.parse().ok()).ok_or_else(bad)?,
        };
        if b > 10_000_000 {
            return Err(bad());
        }
        let accs = shard.get_mut(g).ok_or_else(bad)?.slot(&key);
        if accs.len() <= b {
            accs.resize(b + 1, Acc::default());
        }
        accs[b] = acc;
    }
    for (mine, theirs) in groups.iter_mut().zip(&shard) {
        mine.merge(theirs);
    }
    Ok(())
}

/// Writes `bytes` to `dir/name` and syncs it.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), OutputError> {
    let path = dir.join(name);
    let mut f = File::create(&path).map_err(|cause| OutputError::write(&path, cause))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|cause| OutputError::write(&path, cause))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_clipped_to_the_metric_range() {
        assert_eq!(clipped("lost", (-3.0, 5.0)), (0.0, 5.0));
        assert_eq!(clipped("recovered", (-0.2, 1.4)), (0.0, 1.0));
        let (lo, hi) = clipped("lost", (f64::NAN, f64::NAN));
        assert!(lo.is_nan() && hi.is_nan(), "no interval stays no interval");
    }

    #[test]
    fn point_values_follow_the_cartesian_order() {
        let m = Manifest {
            sweep: vec![
                super::super::SweepAxis {
                    path: "a".into(),
                    values: vec!["1".into(), "2".into()],
                },
                super::super::SweepAxis {
                    path: "b".into(),
                    values: vec!["x".into(), "y".into(), "z".into()],
                },
            ],
            ..Manifest::default()
        };
        assert_eq!(point_values(&m, 0), ["1", "x"]);
        assert_eq!(point_values(&m, 4), ["2", "y"]);
    }
}
