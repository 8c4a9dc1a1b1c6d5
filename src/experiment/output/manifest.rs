//! `manifest.json`: what a directory holds and how to make it again — the resolved
//! configuration, seed, limits, crate version and command line — and, written last, the
//! list of every other file with its size and SHA-256, which readers check
//! ([`super::dir::verify`]) before they believe a single number.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::experiment::limits::Limits;
use crate::experiment::output::OutputError;
use crate::experiment::results::series::edge_name;
use crate::experiment::spec::Experiment;

/// What `manifest.json` holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Manifest {
    /// Experiment name.
    pub name: String,
    /// Experiment file (or the model file run directly).
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
    /// Client edge names, `caller->callee`.
    pub clients: Vec<String>,
    /// Workload names.
    pub workloads: Vec<String>,
    /// `occ` resource names (of the first variant's model): each has its `occ_writes` and
    /// `occ_conflicts` columns in `runs.csv`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Jobs in the whole plan.
    pub jobs: usize,
    /// `K/N` when this directory holds one shard: a partial result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Jobs this shard holds (with `shard`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_jobs: Option<usize>,
    /// The guards every run had.
    pub limits: Option<LimitsRecord>,
    /// Adjustments made on the way (clipped faults, a model run directly).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Crate version that wrote it.
    pub crate_version: String,
    /// Command line.
    pub command: String,
    /// The experiment as resolved (after command-line overrides; `set` holds `--set`).
    pub config: serde_json::Value,
    /// The resolved model of each variant × point, keyed `variant` or `variant|point`.
    pub models: BTreeMap<String, serde_json::Value>,
    /// Every other file of the directory, written before this one.
    pub files: Vec<FileEntry>,
}

/// The limits as recorded.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LimitsRecord {
    /// Live entities per run.
    pub max_in_flight: u64,
    /// Events per run.
    pub max_events: u64,
}

impl From<Limits> for LimitsRecord {
    fn from(l: Limits) -> Self {
        LimitsRecord {
            max_in_flight: l.max_in_flight,
            max_events: l.max_events,
        }
    }
}

/// One file of an output directory.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Path relative to the directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// One swept path.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SweepAxis {
    /// Dotted path.
    pub path: String,
    /// Values as text.
    pub values: Vec<String>,
}

impl Manifest {
    /// The manifest of an experiment run (of one shard: `shard` and the jobs it holds).
    pub fn new(
        exp: &Experiment,
        command: &str,
        shard: Option<(usize, usize)>,
        shard_jobs: usize,
    ) -> Manifest {
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
        let mut config = serde_json::to_value(&exp.spec).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(c) = &mut config {
            let set: serde_json::Map<String, serde_json::Value> = exp
                .set
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
                .collect();
            c.insert("set".into(), serde_json::Value::Object(set));
            c.insert(
                "limits".into(),
                serde_json::to_value(LimitsRecord::from(exp.limits)).unwrap_or_default(),
            );
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
            clients: m0.clients.iter().map(|c| edge_name(&c.name)).collect(),
            workloads: m0.workloads.iter().map(|w| w.name.clone()).collect(),
            resources: m0.resources.iter().map(|r| r.name.clone()).collect(),
            jobs: exp.job_count(),
            shard: shard.map(|(k, n)| format!("{k}/{n}")),
            shard_jobs: shard.map(|_| shard_jobs),
            limits: Some(exp.limits.into()),
            notes: exp.notes.clone(),
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            command: command.to_string(),
            config,
            models,
            files: Vec::new(),
        }
    }

    /// A fingerprint of everything that decides the results (configuration, models,
    /// shard, crate version), not of how they were asked for (command line, threads):
    /// checkpoints are reused only under the same fingerprint.
    pub fn fingerprint(&self) -> String {
        let what = serde_json::json!({
            "config": self.config,
            "models": self.models,
            "shard": self.shard,
            "crate_version": self.crate_version,
        });
        super::sha256::hex(what.to_string().as_bytes())
    }

    /// "shard 1/2: 3 of 6 jobs", or `None` for a whole result.
    pub fn partial(&self) -> Option<String> {
        self.shard.as_ref().map(|s| {
            format!(
                "shard {s}: {} of {} jobs",
                self.shard_jobs.unwrap_or(0),
                self.jobs
            )
        })
    }
}

/// Reads `dir/manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, OutputError> {
    let path = dir.join("manifest.json");
    let text = std::fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            OutputError::read(
                &path,
                "does not exist: not a complete cascade output (a run writes it last; an interrupted one leaves none)",
            )
        } else {
            OutputError::read(&path, format!("cannot read: {e}"))
        }
    })?;
    serde_json::from_slice(&text)
        .map_err(|e| OutputError::read(&path, format!("not a cascade manifest: {e}")))
}
