//! Running the plan: every job (variant × point × replication) is an independent
//! simulation, run on all cores with rayon, in chunks taken in plan order.
//!
//! Results are folded into the output in plan order (a reorder buffer behind the
//! workers), and with exact integer accumulators
//! ([`super::results::Acc`]), so the files are byte-identical whatever `--threads` is.
//! The progress bar (jobs done, ETA, simulated events per second) is the only place here
//! that reads the wall clock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::RunError;
use crate::experiment::results::{GroupSeries, run_values, series};
use crate::experiment::spec::{Experiment, Job};
use crate::sim::{RunConfig, World};

/// One run's per-bucket series, `(metric, values)`.
type Series = Vec<(String, Vec<f64>)>;

/// How to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Worker threads (default: all cores).
    pub threads: Option<usize>,
    /// Run only slice `K` of `N` (1-based K): jobs whose index ≡ K−1 (mod N).
    pub shard: Option<(usize, usize)>,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
}

/// One finished job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobResult {
    /// The job.
    pub job: Job,
    /// Values of [`super::results::RUN_METRICS`].
    pub values: Vec<f64>,
}

/// Everything the runner keeps.
#[derive(Clone, Debug)]
pub struct Results {
    /// Finished jobs in plan order.
    pub rows: Vec<JobResult>,
    /// Accumulated series per variant × point (`variant * points + point`).
    pub groups: Vec<GroupSeries>,
    /// Events simulated in total.
    pub events: u64,
    /// Wall time.
    pub wall: Duration,
}

/// A job that could not finish. Consequence: no output was written.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A simulation stopped (event guard).
    #[error("variant {variant:?}{point}, replication {replication}: {error}")]
    Run {
        /// Variant name.
        variant: String,
        /// Point label, with a leading comma when present.
        point: String,
        /// Replication.
        replication: u32,
        /// What stopped it.
        error: RunError,
    },
    /// The thread pool could not start.
    #[error("cannot start {threads} worker threads: {message}")]
    Threads {
        /// Requested threads.
        threads: usize,
        /// Why.
        message: String,
    },
}

/// The run settings of `job`.
pub fn run_config(exp: &Experiment, job: &Job) -> RunConfig {
    RunConfig {
        duration: exp.spec.duration,
        bucket: exp.spec.bucket,
        seed: exp.spec.seed,
        replication: job.replication as u64,
        good_ratio_below: exp.spec.outage.good_ratio_below,
        max_events: exp
            .spec
            .max_events
            .unwrap_or(RunConfig::default().max_events),
        max_in_flight: RunConfig::default().max_in_flight,
    }
}

/// Runs the jobs of the plan (or of one shard).
#[allow(clippy::disallowed_methods)] // wall time for the progress bar and the report only
pub fn run(exp: &Experiment, opts: &RunOptions) -> Result<Results, RunnerError> {
    let jobs: Vec<Job> = exp
        .jobs()
        .into_iter()
        .filter(|j| opts.shard.is_none_or(|(k, n)| j.index % n == k - 1))
        .collect();
    let threads = opts
        .threads
        .unwrap_or_else(rayon::current_num_threads)
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunnerError::Threads {
            threads,
            message: e.to_string(),
        })?;
    let bar = if opts.progress {
        ProgressBar::with_draw_target(Some(jobs.len() as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} jobs  ETA {eta}  {msg}")
            .expect("valid template"),
    );
    let start = Instant::now();
    let events = AtomicU64::new(0);
    let mut groups = vec![GroupSeries::default(); exp.variants.len() * exp.points.len()];
    let mut rows = Vec::with_capacity(jobs.len());
    let run_job = |job: &Job| -> Result<(JobResult, Series), RunnerError> {
        let report = World::run(exp.model(job.variant, job.point), run_config(exp, job)).map_err(
            |error| {
                let p = &exp.points[job.point].label;
                RunnerError::Run {
                    variant: exp.variants[job.variant].clone(),
                    point: if p.is_empty() {
                        String::new()
                    } else {
                        format!(", {p}")
                    },
                    replication: job.replication,
                    error,
                }
            },
        )?;
        let total = events.fetch_add(report.stats.events, Ordering::Relaxed) + report.stats.events;
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{:.1} M events/s", total as f64 / secs / 1e6));
        bar.inc(1);
        Ok((
            JobResult {
                job: *job,
                values: run_values(&report),
            },
            series(&report),
        ))
    };
    // Workers run jobs in any order; this thread folds their results strictly in plan
    // order through a small reorder buffer, so nothing depends on scheduling and memory
    // holds only the results that finished ahead of a slower job.
    let mut first_error = None;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        let (pool, jobs, run_job) = (&pool, &jobs, &run_job);
        // Each worker takes the next job in plan order from a shared counter, so jobs
        // start in order and the idle tail is at most one job long.
        let next_job = AtomicUsize::new(0);
        scope.spawn(move || {
            pool.scope(|s| {
                for _ in 0..threads {
                    let tx = tx.clone();
                    let next_job = &next_job;
                    s.spawn(move |_| {
                        loop {
                            let pos = next_job.fetch_add(1, Ordering::Relaxed);
                            let Some(job) = jobs.get(pos) else { break };
                            if tx.send((pos, run_job(job))).is_err() {
                                break;
                            }
                        }
                    });
                }
            });
            drop(tx);
        });
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for (pos, result) in rx {
            pending.insert(pos, result);
            while let Some(result) = pending.remove(&next) {
                next += 1;
                match result {
                    Ok((row, s)) => {
                        groups[row.job.variant * exp.points.len() + row.job.point].add(&s);
                        rows.push(row);
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
    });
    if let Some(e) = first_error {
        bar.finish_and_clear();
        return Err(e);
    }
    bar.finish_and_clear();
    Ok(Results {
        rows,
        groups,
        events: events.into_inner(),
        wall: start.elapsed(),
    })
}
