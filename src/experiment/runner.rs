//! Running the plan: every job (variant × point × replication) is an independent
//! simulation, run on a pool of worker threads that start the longest jobs first, near
//! plan order (see [`Dispatch`]).
//!
//! Results are folded into the output in plan order (a reorder buffer behind the
//! workers), and with exact integer accumulators ([`super::results::Acc`]), so the files
//! are byte-identical whatever `--threads` is, however the plan is sharded, and however
//! often it was interrupted: a finished job is saved to a [`JobStore`] by the worker that
//! ran it, and a resumed run folds the saved result exactly where it would have folded
//! the fresh one.
//!
//! Memory: each run is bounded by its guards ([`super::limits`]); the runner runs at
//! most as many jobs at once as those bounds fit in the free memory it is told about.
//! Interrupts: when [`RunOptions::stop`] is set, workers take no new job, running jobs
//! give up at their next guard step, and [`run`] returns [`RunnerError::Interrupted`].
//! The progress bar (jobs done, ETA, share of the plan's simulated time covered, simulated
//! events per second) is the only place here
//! that reads the wall clock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::RunError;
use crate::experiment::limits;
use crate::experiment::results::{GroupSeries, RUN_METRICS, Series, run_values, series};
use crate::experiment::spec::{Experiment, Job};
use crate::sim::{RunConfig, World, drain_time};

/// Where finished jobs are kept so that an interrupted run can resume. Implemented by
/// [`super::checkpoint::Checkpoints`]; the runner never touches files itself.
pub trait JobStore: Sync {
    /// The saved result of `job`, if it was saved intact.
    fn load(&self, job: &Job) -> Option<(JobResult, Series)>;
    /// Saves a finished job. An error stops the run (results could not be kept).
    fn save(&self, result: &JobResult, series: &Series) -> Result<(), String>;
}

/// How to run.
#[derive(Clone, Copy, Default)]
pub struct RunOptions<'a> {
    /// Worker threads (default: all cores).
    pub threads: Option<usize>,
    /// Run only slice `K` of `N` (1-based K): jobs whose index ≡ K−1 (mod N).
    pub shard: Option<(usize, usize)>,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
    /// Free memory in bytes; when given, fewer jobs run at once if their guards need it.
    pub free_memory: Option<u64>,
    /// Set (by a signal handler) to stop: no new jobs, running ones give up.
    pub stop: Option<&'a AtomicBool>,
    /// Saves finished jobs and provides those saved by an earlier, interrupted run.
    pub store: Option<&'a dyn JobStore>,
}

/// One finished job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobResult {
    /// The job.
    pub job: Job,
    /// Values of [`super::results::RUN_METRICS`].
    pub values: Vec<f64>,
    /// What stopped the run, for a diverged run (`Divergence::describe`).
    pub diverged: Option<String>,
}

/// Everything the runner keeps.
#[derive(Clone, Debug)]
pub struct Results {
    /// Finished jobs in plan order.
    pub rows: Vec<JobResult>,
    /// Accumulated series per variant × point (`variant * points + point`).
    pub groups: Vec<GroupSeries>,
    /// Events simulated by this invocation (jobs reused from a store not included).
    pub events: u64,
    /// Jobs taken from the store instead of being run.
    pub reused: usize,
    /// Jobs run at once.
    pub concurrency: usize,
    /// For people: fewer threads than asked, and why.
    pub notes: Vec<String>,
    /// Wall time.
    pub wall: Duration,
}

/// A job that could not finish, or a run that was stopped. Consequence: no output was
/// written (finished jobs are in the store, if there is one).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A simulation failed.
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
    /// A finished job could not be saved.
    #[error("cannot save a finished job: {0}")]
    Store(String),
    /// [`RunOptions::stop`] was set.
    #[error("interrupted after {done} of {total} jobs")]
    Interrupted {
        /// Jobs finished (and saved, when there is a store).
        done: usize,
        /// Jobs of this run (the shard's, with `--shard`).
        total: usize,
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
        max_events: exp.limits.max_events,
        max_in_flight: exp.limits.max_in_flight,
    }
}

/// The jobs of the plan, or of one shard.
pub fn shard_jobs(exp: &Experiment, shard: Option<(usize, usize)>) -> Vec<Job> {
    exp.jobs()
        .into_iter()
        .filter(|j| shard.is_none_or(|(k, n)| j.index % n == k - 1))
        .collect()
}

/// The most memory one job of `exp` can take before its guards stop it.
fn per_run_bytes(exp: &Experiment) -> u64 {
    exp.models
        .iter()
        .map(|m| {
            let buckets = (exp.spec.duration + drain_time(m))
                .as_nanos()
                .div_ceil(exp.spec.bucket.as_nanos());
            limits::run_memory_bytes(&exp.limits, m, buckets)
        })
        .max()
        .unwrap_or(0)
}

/// Runs the jobs of the plan (or of one shard).
#[allow(clippy::disallowed_methods)] // wall time for the progress bar and the report only
pub fn run(exp: &Experiment, opts: &RunOptions) -> Result<Results, RunnerError> {
    let jobs = shard_jobs(exp, opts.shard);
    let asked = opts
        .threads
        .unwrap_or_else(rayon::current_num_threads)
        .max(1);
    let (threads, note) = limits::concurrent_runs(asked, per_run_bytes(exp), opts.free_memory);
    let threads = threads.min(jobs.len()).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunnerError::Threads {
            threads,
            message: e.to_string(),
        })?;
    // Workers and runs watch `halt`; this thread sets it when `opts.stop` is seen or a
    // job failed, so they end at their next guard step.
    let halt = AtomicBool::new(false);
    let stop = &halt;
    let asked_to_stop = || opts.stop.is_some_and(|s| s.load(Ordering::Relaxed));
    let saved: Vec<bool> = jobs
        .iter()
        .map(|j| opts.store.is_some_and(|s| s.load(j).is_some()))
        .collect();
    let reused = saved.iter().filter(|s| **s).count();
    let bar = if opts.progress {
        ProgressBar::with_draw_target(Some(jobs.len() as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    // The ETA comes from the share of simulated time covered, not from jobs done: it
    // moves during long jobs, and is not guessed ("0s") before there is anything to go on.
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} jobs  {msg}").expect("valid template"),
    );
    bar.set_position(reused as u64);
    let start = Instant::now();
    let events = AtomicU64::new(0);
    // Simulated time covered by running jobs, against the plan's total: for long jobs the
    // bar moves between job ends.
    let simulated = AtomicU64::new(0);
    let total_ns: u64 = jobs
        .iter()
        .zip(&saved)
        .filter(|(_, s)| !**s)
        .map(|(j, _)| {
            let m = exp.model(j.variant, j.point);
            (exp.spec.duration + drain_time(m)).as_nanos()
        })
        .fold(0u64, u64::saturating_add)
        .max(1);
    let progress_message = |events_total: u64| {
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let done = (simulated.load(Ordering::Relaxed) as f64 / total_ns as f64).min(1.0);
        let eta = if done >= 0.01 {
            let left = Duration::from_secs_f64(secs * (1.0 - done) / done);
            format!("ETA {}", indicatif::HumanDuration(left))
        } else {
            "ETA …".to_string()
        };
        let rate = if events_total > 0 {
            format!("  {:.1} M events/s", events_total as f64 / secs / 1e6)
        } else {
            String::new()
        };
        format!("{:.0}% of simulated time  {eta}{rate}", 100.0 * done)
    };
    let finished = AtomicUsize::new(reused);
    let mut groups = vec![GroupSeries::default(); exp.variants.len() * exp.points.len()];
    let mut rows = Vec::with_capacity(jobs.len());
    let resources: Vec<String> = exp.models[0]
        .resources
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let run_job = |job: &Job| -> Result<Option<(JobResult, Series)>, RunnerError> {
        let model = exp.model(job.variant, job.point);
        let cfg = run_config(exp, job);
        let report = World::run_watched(model, cfg, stop, Some(&simulated)).map_err(|error| {
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
        })?;
        let Some(report) = report else {
            return Ok(None);
        };
        let result = JobResult {
            job: *job,
            values: run_values(&report, &resources),
            diverged: report
                .diverged
                .as_ref()
                .map(|d| d.describe(cfg.max_in_flight)),
        };
        let s = series(&report);
        if let Some(store) = opts.store {
            store.save(&result, &s).map_err(RunnerError::Store)?;
        }
        finished.fetch_add(1, Ordering::Relaxed);
        let total = events.fetch_add(report.stats.events, Ordering::Relaxed) + report.stats.events;
        bar.set_message(progress_message(total));
        bar.inc(1);
        Ok(Some((result, s)))
    };
    // Workers run jobs in any order; this thread folds their results strictly in plan
    // order through a small reorder buffer, so nothing depends on scheduling and memory
    // holds only the results that finished ahead of a slower job.
    let mut first_error = None;
    let mut interrupted = false;
    let folded = AtomicUsize::new(0);
    // Workers take jobs from a shared dispatcher, longest first near the fold point.
    let dispatch = std::sync::Mutex::new(Dispatch::new(exp, &jobs, &saved, threads));
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        let (pool, jobs, run_job, saved) = (&pool, &jobs, &run_job, &saved);
        let (dispatch, folded) = (&dispatch, &folded);
        scope.spawn(move || {
            pool.scope(|s| {
                for _ in 0..threads {
                    let tx = tx.clone();
                    s.spawn(move |_| {
                        loop {
                            let at = folded.load(Ordering::Relaxed);
                            let Some(pos) = dispatch.lock().expect("dispatcher").next(at) else {
                                break;
                            };
                            let job = &jobs[pos];
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            let result = run_job(job);
                            if let Ok(Some((r, _))) = &result {
                                dispatch
                                    .lock()
                                    .expect("dispatcher")
                                    .finished(pos, &r.values);
                            }
                            let stopped = matches!(result, Ok(None));
                            if stopped || tx.send((pos, result)).is_err() {
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
        let mut fold = |result: (JobResult, Series), groups: &mut Vec<GroupSeries>| {
            let (row, s) = result;
            groups[row.job.variant * exp.points.len() + row.job.point].add(&s);
            rows.push(row);
        };
        while next < jobs.len() {
            if asked_to_stop() {
                interrupted = true;
                break;
            }
            if saved[next] {
                match opts.store.and_then(|s| s.load(&jobs[next])) {
                    Some(r) => fold(r, &mut groups),
                    None => {
                        first_error.get_or_insert(RunnerError::Store(format!(
                            "the saved result of job {} can no longer be read",
                            jobs[next].index
                        )));
                        break;
                    }
                }
                next += 1;
                folded.store(next, Ordering::Relaxed);
                continue;
            }
            if let Some(result) = pending.remove(&next) {
                match result {
                    Ok(Some(r)) => fold(r, &mut groups),
                    Ok(None) => {}
                    Err(e) => {
                        first_error.get_or_insert(e);
                        break;
                    }
                }
                next += 1;
                folded.store(next, Ordering::Relaxed);
                continue;
            }
            bar.set_message(progress_message(events.load(Ordering::Relaxed)));
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok((pos, result)) => {
                    pending.insert(pos, result);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    // Workers ended early: stopped, or an error is in `pending`.
                    if !pending.contains_key(&next) {
                        interrupted = true;
                        break;
                    }
                }
            }
        }
        if first_error.is_some() || interrupted {
            halt.store(true, Ordering::Relaxed);
        }
    });
    bar.finish_and_clear();
    if let Some(e) = first_error {
        return Err(e);
    }
    if interrupted {
        return Err(RunnerError::Interrupted {
            done: finished.into_inner(),
            total: jobs.len(),
        });
    }
    Ok(Results {
        rows,
        groups,
        events: events.into_inner(),
        reused,
        concurrency: threads,
        notes: note.into_iter().collect(),
        wall: start.elapsed(),
    })
}

/// Hands out the jobs of a plan, longest first as far as memory allows: among the jobs
/// not yet started within `window` positions of the next result to fold, the one whose
/// variant × point ran the most events so far (unknown counts as the most, so a group's
/// first replication starts in plan order); past the window, plan order. A slow variant
/// then does not start last and leave the other threads idle, and the reorder buffer
/// stays as small as in plan order. Only the order in which jobs *start* depends on it;
/// results are folded in plan order.
struct Dispatch {
    /// Positions not yet handed out.
    remaining: std::collections::BTreeSet<usize>,
    /// The group (`variant * points + point`) of every position.
    group: Vec<usize>,
    /// Events of each group's first finished replication (`None`: not known yet).
    cost: Vec<Option<u64>>,
    window: usize,
}

impl Dispatch {
    fn new(exp: &Experiment, jobs: &[Job], saved: &[bool], threads: usize) -> Self {
        let points = exp.points.len();
        Dispatch {
            remaining: (0..jobs.len()).filter(|&p| !saved[p]).collect(),
            group: jobs.iter().map(|j| j.variant * points + j.point).collect(),
            cost: vec![None; exp.variants.len() * points],
            window: 4 * threads,
        }
    }

    /// The next job to start, given the position of the next result to fold; `None` when
    /// every job has been handed out.
    fn next(&mut self, folded: usize) -> Option<usize> {
        let limit = folded.saturating_add(self.window);
        let pick = self
            .remaining
            .range(..limit)
            .max_by_key(|&&p| {
                let cost = self.cost[self.group[p]].unwrap_or(u64::MAX);
                (cost, std::cmp::Reverse(p))
            })
            .or_else(|| self.remaining.first())
            .copied()?;
        self.remaining.remove(&pick);
        Some(pick)
    }

    /// Learns a group's cost from a finished job.
    fn finished(&mut self, pos: usize, values: &[f64]) {
        let g = self.group[pos];
        if self.cost[g].is_none() {
            let events = RUN_METRICS.iter().position(|m| *m == "events");
            self.cost[g] = Some(events.map_or(0, |i| values[i] as u64));
        }
    }
}
