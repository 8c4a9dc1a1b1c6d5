//! The files a run writes into its output directory, and the merge of shard outputs.
//!
//! - `runs.csv`: one row per job (plan order), every number written so that it reads
//!   back to exactly the same value;
//! - `summary.csv` (long format): per variant × point and metric, n, mean, std and the
//!   95 % interval of the mean (Student's t), clipped to the metric's range and empty
//!   for one replication; `recovered_share` with a Wilson interval;
//! - `timeseries.csv` (tidy): per variant × point, bucket, metric and entity, the mean
//!   across replications and a 95 % band;
//! - `manifest.json`, written last: the resolved configuration, seed, limits, crate
//!   version and command line, and every other file with its size and SHA-256;
//! - `timeseries.partial.csv`: only in a shard's directory, the exact accumulators that
//!   `cascade merge` adds up.
//!
//! Columns are defined in `output/README.md` (`cascade explain`). How a directory is
//! replaced whole, never mixed: [`dir`]. Layout: [`manifest`], [`files`] (the CSV
//! files), [`dir`] (staging, ownership, verification), [`sha256`].

pub mod dir;
pub mod files;
pub mod manifest;
pub mod sha256;

use std::path::{Path, PathBuf};

pub use dir::{Staging, claim, verify};
pub use files::{Row, exact, stat};
pub use manifest::{FileEntry, Manifest, SweepAxis, read_manifest};

use crate::experiment::results::GroupSeries;
use crate::experiment::runner::{JobResult, Results};
use crate::experiment::spec::Experiment;

/// Output that could not be written or read. Consequence: the destination directory
/// was left as it was (the new output stays in the staging area until it is complete).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A path cannot be created or written.
    #[error("{path}: cannot write the output: {cause}")]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A directory or file is missing, inconsistent, or not cascade's.
    #[error("{path}: {problem}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl OutputError {
    /// A write error at `path`.
    pub fn write(path: &Path, cause: std::io::Error) -> Self {
        OutputError::Write {
            path: path.to_path_buf(),
            cause,
        }
    }

    /// A problem with `path`.
    pub fn read(path: &Path, problem: impl Into<String>) -> Self {
        OutputError::Read {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}

fn run_row(exp: &Experiment, r: &JobResult) -> Row {
    let j = &r.job;
    let point = &exp.points[j.point];
    let mut f = vec![exp.variants[j.variant].clone(), point.label.clone()];
    f.extend(point.values.iter().cloned());
    f.push(j.replication.to_string());
    f.push(exp.spec.seed.to_string());
    f.extend(r.values.iter().map(|x| exact(*x)));
    f.push(r.diverged.clone().unwrap_or_default());
    Row {
        job: j.index,
        fields: f,
    }
}

/// Writes the data files of a run (or of one shard) into `dir` (a staging `out/`).
pub fn write_run(
    dir: &Path,
    exp: &Experiment,
    results: &Results,
    manifest: &Manifest,
) -> Result<(), OutputError> {
    let rows: Vec<Row> = results.rows.iter().map(|r| run_row(exp, r)).collect();
    files::write_data(dir, manifest, &rows, &results.groups)?;
    write_draft(dir, manifest)
}

/// A manifest without its file list, for the charts to read while the output is being
/// built; [`Staging::commit`] replaces it. A reader never takes it for a complete
/// output ([`verify`] requires the list).
pub(crate) fn write_draft(dir: &Path, manifest: &Manifest) -> Result<(), OutputError> {
    let mut draft = manifest.clone();
    draft.files.clear();
    let json = serde_json::to_vec_pretty(&draft).expect("a manifest serializes");
    files::write_file(dir, "manifest.json", &json)
}

/// Reads and verifies shard directories, and writes the data files an unsharded run
/// writes into `out` (a staging `out/`), returning their manifest (its `command` left
/// for the caller to fill in). Errors if a shard is
/// incomplete, if the shards disagree, or if they do not cover the plan exactly.
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<Manifest, OutputError> {
    let Some(first) = shards.first() else {
        return Err(OutputError::read(out, "no shard directories given"));
    };
    let mut manifest = verify(first, false)?;
    let mut rows = Vec::new();
    let mut groups =
        vec![GroupSeries::default(); manifest.variants.len() * manifest.points.len().max(1)];
    for dir in shards {
        let m = verify(dir, false)?;
        let key = |a: &Manifest| {
            (
                a.name.clone(),
                a.variants.clone(),
                a.points.clone(),
                a.replications,
                a.seed,
                a.jobs,
                a.duration_s,
                a.config.clone(),
                a.models.clone(),
            )
        };
        if key(&m) != key(&manifest) {
            return Err(OutputError::read(
                &dir.join("manifest.json"),
                "belongs to another experiment or configuration than the first shard",
            ));
        }
        if m.shard.is_none() {
            return Err(OutputError::read(
                &dir.join("manifest.json"),
                "is not a shard (run with --shard K/N)",
            ));
        }
        rows.extend(files::read_rows(dir, &m)?);
        files::read_partial(dir, &mut groups)?;
    }
    rows.sort_by_key(|r| r.job);
    if let Some(w) = rows.windows(2).find(|w| w[0].job == w[1].job) {
        return Err(OutputError::read(
            out,
            format!("job {} appears in two shards", w[0].job),
        ));
    }
    if rows.len() != manifest.jobs {
        return Err(OutputError::read(
            out,
            format!(
                "the shards hold {} of the plan's {} jobs: a shard is missing",
                rows.len(),
                manifest.jobs
            ),
        ));
    }
    manifest.shard = None;
    manifest.shard_jobs = None;
    manifest.files.clear();
    manifest.command.clear();
    files::write_data(out, &manifest, &rows, &groups)?;
    write_draft(out, &manifest)?;
    Ok(manifest)
}
