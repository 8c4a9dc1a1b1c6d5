//! The files a run writes into its output directory, and the merge of shard outputs.
//!
//! - `runs.csv`: one row per job (plan order), every number written so that it reads
//!   back to exactly the same value;
//! - `summary.csv` (long format): per variant × point and metric, n, mean, std and the
//!   95 % CI of the mean; `recovered_share` with a Wilson interval;
//! - `timeseries.csv` (long format): per variant × point, bucket and metric, the mean
//!   across replications and a 95 % band;
//! - `manifest.json`: the resolved configuration, seed, crate version and command line;
//! - `timeseries.partial.csv`: only in a shard's directory, the exact accumulators that
//!   `cascade merge` adds up.
//!
//! Every file is written under a temporary name and renamed when complete, so an
//! interrupted run never leaves a half-written file that looks finished.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::experiment::results::{Acc, GroupSeries, RUN_METRICS, wilson};
use crate::experiment::runner::{JobResult, Results};
use crate::experiment::spec::{Experiment, Job};

/// What `manifest.json` holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Manifest {
    /// Experiment name.
    pub name: String,
    /// Experiment file.
    pub experiment: String,
    /// Model file.
    pub model: String,
    /// Run duration, s.
    pub duration_s: f64,
    /// Bucket width, s.
    pub bucket_s: f64,
    /// Replications per variant × point.
    pub replications: u32,
    /// Experiment seed.
    pub seed: u64,
    /// Variant names in order.
    pub variants: Vec<String>,
    /// Swept paths and their values.
    pub sweep: Vec<SweepAxis>,
    /// Point labels in order.
    pub points: Vec<String>,
    /// `[start_s, end_s]` of every fault (of the first variant's model).
    pub fault_windows: Vec<[f64; 2]>,
    /// Outage threshold.
    pub good_ratio_below: f64,
    /// Service names.
    pub services: Vec<String>,
    /// Client edge names.
    pub clients: Vec<String>,
    /// Workload names.
    pub workloads: Vec<String>,
    /// Jobs in the whole plan.
    pub jobs: usize,
    /// `K/N` when this directory holds one shard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Crate version that wrote it.
    pub crate_version: String,
    /// Command line.
    pub command: String,
    /// The experiment as resolved (after command-line overrides).
    pub config: serde_json::Value,
    /// The resolved model of each variant × point, keyed `variant` or `variant|point`.
    pub models: BTreeMap<String, serde_json::Value>,
}

/// One swept path.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SweepAxis {
    /// Dotted path.
    pub path: String,
    /// Values as text.
    pub values: Vec<String>,
}

/// Output that could not be written or read. Consequence: the output directory holds no
/// new complete file for the failed step.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The directory cannot be created or written.
    #[error("{path}: cannot write the output: {cause}")]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A shard directory is missing a file or has a bad one.
    #[error("{path}: {problem}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl Manifest {
    /// The manifest of an experiment run.
    pub fn new(exp: &Experiment, command: &str, shard: Option<(usize, usize)>) -> Manifest {
        let m0 = &exp.models[0];
        let mut models = BTreeMap::new();
        for (v, name) in exp.variants.iter().enumerate() {
            for (p, point) in exp.points.iter().enumerate() {
                let key = if point.label.is_empty() {
                    name.clone()
                } else {
                    format!("{name}|{}", point.label)
                };
                let table = &exp.tables[v * exp.points.len() + p];
                models.insert(
                    key,
                    serde_json::to_value(table).unwrap_or(serde_json::Value::Null),
                );
            }
        }
        Manifest {
            name: exp.spec.name.clone(),
            experiment: exp.file.display().to_string(),
            model: exp.model_file.display().to_string(),
            duration_s: exp.spec.duration.as_secs_f64(),
            bucket_s: exp.spec.bucket.as_secs_f64(),
            replications: exp.spec.replications,
            seed: exp.spec.seed,
            variants: exp.variants.clone(),
            sweep: exp
                .sweep_paths
                .iter()
                .enumerate()
                .map(|(i, path)| {
                    let mut values: Vec<String> = Vec::new();
                    for p in &exp.points {
                        if !values.contains(&p.values[i]) {
                            values.push(p.values[i].clone());
                        }
                    }
                    SweepAxis {
                        path: path.clone(),
                        values,
                    }
                })
                .collect(),
            points: exp.points.iter().map(|p| p.label.clone()).collect(),
            fault_windows: m0
                .faults
                .iter()
                .map(|f| [f.start.as_secs_f64(), f.end.as_secs_f64()])
                .collect(),
            good_ratio_below: exp.spec.outage.good_ratio_below,
            services: m0.services.iter().map(|s| s.name.clone()).collect(),
            clients: m0.clients.iter().map(|c| c.name.clone()).collect(),
            workloads: m0.workloads.iter().map(|w| w.name.clone()).collect(),
            jobs: exp.jobs().len(),
            shard: shard.map(|(k, n)| format!("{k}/{n}")),
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            command: command.to_string(),
            config: serde_json::to_value(&exp.spec).unwrap_or(serde_json::Value::Null),
            models,
        }
    }
}

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

/// A computed statistic, to 6 decimals, trailing zeros trimmed.
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

/// A job row as read back from `runs.csv` (for merges).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Plan index.
    pub job: usize,
    /// The remaining fields in order.
    pub fields: Vec<String>,
}

fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), OutputError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|source| {
        let _ = fs::remove_file(&tmp);
        OutputError::Write {
            path,
            cause: source,
        }
    })
}

fn csv_bytes(header: &[String], rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).expect("in-memory write");
    for r in rows {
        w.write_record(&r).expect("in-memory write");
    }
    w.into_inner().expect("in-memory flush")
}

/// Creates the output directory, or says why it cannot be written.
pub fn prepare(dir: &Path) -> Result<(), OutputError> {
    fs::create_dir_all(dir).map_err(|cause| OutputError::Write {
        path: dir.to_path_buf(),
        cause,
    })?;
    write_atomic(dir, ".write-test", b"")?;
    let _ = fs::remove_file(dir.join(".write-test"));
    Ok(())
}

fn runs_header(m: &Manifest) -> Vec<String> {
    let mut h: Vec<String> = ["job", "variant", "point"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    h.extend(m.sweep.iter().map(|a| a.path.clone()));
    h.extend(["replication", "seed"].iter().map(|s| s.to_string()));
    h.extend(RUN_METRICS.iter().map(|s| s.to_string()));
    h
}

fn run_row(exp: &Experiment, r: &JobResult) -> Row {
    let j: &Job = &r.job;
    let point = &exp.points[j.point];
    let mut f = vec![exp.variants[j.variant].clone(), point.label.clone()];
    f.extend(point.values.iter().cloned());
    f.push(j.replication.to_string());
    f.push(exp.spec.seed.to_string());
    f.extend(r.values.iter().map(|x| exact(*x)));
    Row {
        job: j.index,
        fields: f,
    }
}

/// Writes every output file of a run (or of one shard).
pub fn write_run(
    dir: &Path,
    exp: &Experiment,
    results: &Results,
    manifest: &Manifest,
) -> Result<(), OutputError> {
    let rows: Vec<Row> = results.rows.iter().map(|r| run_row(exp, r)).collect();
    write_files(dir, manifest, &rows, &results.groups)
}

/// Writes runs, summary, timeseries (and the partial accumulators of a shard) and the
/// manifest from rows in plan order and the group accumulators.
pub fn write_files(
    dir: &Path,
    m: &Manifest,
    rows: &[Row],
    groups: &[GroupSeries],
) -> Result<(), OutputError> {
    let n_sweep = m.sweep.len();
    let header = runs_header(m);
    write_atomic(
        dir,
        "runs.csv",
        &csv_bytes(
            &header,
            rows.iter().map(|r| {
                let mut v = vec![r.job.to_string()];
                v.extend(r.fields.iter().cloned());
                v
            }),
        ),
    )?;

    // summary.csv: per (variant, point) in plan order.
    let mut sh: Vec<String> = ["variant", "point"].iter().map(|s| s.to_string()).collect();
    sh.extend(m.sweep.iter().map(|a| a.path.clone()));
    sh.extend(
        ["metric", "n", "mean", "std", "lo", "hi"]
            .iter()
            .map(|s| s.to_string()),
    );
    let first_metric = 2 + n_sweep + 2; // variant, point, sweep…, replication, seed
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let key = &rows[i].fields[..2 + n_sweep];
        let mut j = i;
        while j < rows.len() && rows[j].fields[..2 + n_sweep] == *key {
            j += 1;
        }
        let group = &rows[i..j];
        for (k, metric) in RUN_METRICS.iter().enumerate() {
            let mut acc = Acc::default();
            for r in group {
                acc.add(
                    r.fields[first_metric + k]
                        .parse::<f64>()
                        .unwrap_or(f64::NAN),
                );
            }
            let (lo, hi) = acc.ci95();
            let mut line = key.to_vec();
            line.extend([
                metric.to_string(),
                acc.n.to_string(),
                stat(acc.mean()),
                stat(acc.std()),
                stat(lo),
                stat(hi),
            ]);
            out.push(line);
        }
        let k = RUN_METRICS.iter().position(|m| *m == "recovered").unwrap();
        let recovered = group
            .iter()
            .filter(|r| r.fields[first_metric + k] == "1")
            .count() as u64;
        let (p, lo, hi) = wilson(recovered, group.len() as u64);
        let mut line = key.to_vec();
        line.extend([
            "recovered_share".to_string(),
            group.len().to_string(),
            stat(p),
            String::new(),
            stat(lo),
            stat(hi),
        ]);
        out.push(line);
        i = j;
    }
    write_atomic(dir, "summary.csv", &csv_bytes(&sh, out))?;

    // timeseries.csv
    let th: Vec<String> = ["variant", "point", "t_s", "metric", "mean", "lo", "hi"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut ts = Vec::new();
    let mut partial = Vec::new();
    for (g, series) in groups.iter().enumerate() {
        if series.metrics.is_empty() {
            continue;
        }
        let (v, p) = (g / m.points.len(), g % m.points.len());
        for (metric, accs) in &series.metrics {
            for (b, acc) in accs.iter().enumerate() {
                let (lo, hi) = acc.ci95();
                ts.push(vec![
                    m.variants[v].clone(),
                    m.points[p].clone(),
                    stat(b as f64 * m.bucket_s),
                    metric.clone(),
                    stat(acc.mean()),
                    stat(lo),
                    stat(hi),
                ]);
                partial.push(vec![
                    g.to_string(),
                    metric.clone(),
                    b.to_string(),
                    acc.n.to_string(),
                    acc.sum.to_string(),
                    acc.sumsq.to_string(),
                ]);
            }
        }
    }
    write_atomic(dir, "timeseries.csv", &csv_bytes(&th, ts))?;
    if m.shard.is_some() {
        let ph: Vec<String> = ["group", "metric", "bucket", "n", "sum", "sumsq"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        write_atomic(dir, "timeseries.partial.csv", &csv_bytes(&ph, partial))?;
    }
    let json = serde_json::to_vec_pretty(m).expect("manifest serializes");
    write_atomic(dir, "manifest.json", &json)
}

fn read_err(path: &Path, problem: impl Into<String>) -> OutputError {
    OutputError::Read {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// Reads a manifest.
pub fn read_manifest(dir: &Path) -> Result<Manifest, OutputError> {
    let path = dir.join("manifest.json");
    let text = fs::read(&path).map_err(|e| read_err(&path, format!("cannot read: {e}")))?;
    serde_json::from_slice(&text)
        .map_err(|e| read_err(&path, format!("not a cascade manifest: {e}")))
}

fn read_rows(dir: &Path) -> Result<Vec<Row>, OutputError> {
    let path = dir.join("runs.csv");
    let mut r =
        csv::Reader::from_path(&path).map_err(|e| read_err(&path, format!("cannot read: {e}")))?;
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

fn read_partial(dir: &Path, groups: &mut [GroupSeries]) -> Result<(), OutputError> {
    let path = dir.join("timeseries.partial.csv");
    let mut r =
        csv::Reader::from_path(&path).map_err(|e| read_err(&path, format!("cannot read: {e}")))?;
    let mut shard = vec![GroupSeries::default(); groups.len()];
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| read_err(&path, format!("line {line}: {e}")))?;
        let bad = || read_err(&path, format!("line {line}: malformed accumulator"));
        let g: usize = rec.get(0).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let metric = rec.get(1).ok_or_else(bad)?.to_string();
        let b: usize = rec.get(2).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let acc = Acc {
            n: rec.get(3).and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            sum: rec.get(4).and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            sumsq: rec.get(5).and_then(|s| s.parse().ok()).ok_or_else(bad)?,
        };
        let slot = shard.get_mut(g).ok_or_else(bad)?;
        let accs = match slot.metrics.iter().position(|(n, _)| *n == metric) {
            Some(i) => &mut slot.metrics[i].1,
            None => {
                slot.metrics.push((metric, Vec::new()));
                &mut slot.metrics.last_mut().expect("just pushed").1
            }
        };
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

/// Merges shard directories into `out`: the same runs, summary and timeseries files an
/// unsharded run writes. Errors if the shards disagree or do not cover the plan.
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<Manifest, OutputError> {
    let Some(first) = shards.first() else {
        return Err(read_err(out, "no shard directories given"));
    };
    let mut manifest = read_manifest(first)?;
    let mut rows = Vec::new();
    let mut groups =
        vec![GroupSeries::default(); manifest.variants.len() * manifest.points.len().max(1)];
    for dir in shards {
        let m = read_manifest(dir)?;
        let same = |a: &Manifest, b: &Manifest| {
            (
                &a.name,
                &a.variants,
                &a.points,
                a.replications,
                a.seed,
                a.jobs,
                a.duration_s,
            ) == (
                &b.name,
                &b.variants,
                &b.points,
                b.replications,
                b.seed,
                b.jobs,
                b.duration_s,
            )
        };
        if !same(&m, &manifest) {
            return Err(read_err(
                &dir.join("manifest.json"),
                "belongs to another experiment or plan than the first shard",
            ));
        }
        if m.shard.is_none() {
            return Err(read_err(
                &dir.join("manifest.json"),
                "is not a shard (run with --shard K/N)",
            ));
        }
        rows.extend(read_rows(dir)?);
        read_partial(dir, &mut groups)?;
    }
    rows.sort_by_key(|r| r.job);
    if let Some(w) = rows.windows(2).find(|w| w[0].job == w[1].job) {
        return Err(read_err(
            out,
            format!("job {} appears in two shards", w[0].job),
        ));
    }
    if rows.len() != manifest.jobs {
        return Err(read_err(
            out,
            format!(
                "the shards hold {} of the plan's {} jobs: a shard is missing",
                rows.len(),
                manifest.jobs
            ),
        ));
    }
    manifest.shard = None;
    manifest.command = format!(
        "cascade merge --out {} {}",
        out.display(),
        shards
            .iter()
            .map(|s| s.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    prepare(out)?;
    write_files(out, &manifest, &rows, &groups)?;
    Ok(manifest)
}
