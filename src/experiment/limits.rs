//! Bounds on what an experiment may ask of the machine, checked before anything runs.
//!
//! Why: a simulator of cascading failure is asked, on purpose, to simulate systems whose
//! state grows without bound (a retry storm against a hanging dependency behind an
//! unbounded queue). It must report that as a finding, not die of it. Two kinds of bound:
//!
//! - **per run, while it runs**: [`Limits::max_in_flight`] live entities (requests,
//!   calls, pending events, outbox entries) and [`Limits::max_events`] events. A run that
//!   passes either ends as *diverged* (`crate::sim::World::run`) with its figures up to
//!   then; the experiment goes on. Both are part of the experiment (`limits = { … }`) and
//!   of its manifest, because they can change results: they never depend on the machine
//!   or on `--threads`, so outputs stay byte-identical everywhere;
//! - **before running**: inputs whose size is absurd on their face (10⁹ jobs, 10¹² arrivals
//!   per second, 10⁹ closed-loop clients, series that cannot fit in memory) get a one-line
//!   error naming the key, instead of eating the machine's memory first.
//!
//! What keeps `--threads` runs inside the machine's memory is the runner: it runs at most
//! as many jobs at a time as [`run_memory_bytes`] fits in the memory it is told is free.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::Model;
use crate::model::graph::Arrivals;
use crate::model::load::LoadError;
use crate::sim::RunConfig;
use crate::time::SimDuration;

/// `limits = { max_in_flight = 2000000, max_events = 2000000000 }` as written.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Live entities per run before it ends as diverged (default
    /// [`RunConfig::DEFAULT_MAX_IN_FLIGHT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
    /// Events per run before it ends as diverged (default 2·10⁹).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u64>,
}

/// The guards of every run of an experiment, defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// See [`RunConfig::max_in_flight`].
    pub max_in_flight: u64,
    /// See [`RunConfig::max_events`].
    pub max_events: u64,
}

impl LimitsSpec {
    /// The limits with defaults; `file` names the experiment in errors.
    pub fn resolve(&self, file: &Path) -> Result<Limits, LoadError> {
        let d = RunConfig::default();
        let limits = Limits {
            max_in_flight: self.max_in_flight.unwrap_or(d.max_in_flight),
            max_events: self.max_events.unwrap_or(d.max_events),
        };
        if limits.max_in_flight < 100 {
            return Err(LoadError::new(
                file,
                "limits.max_in_flight",
                format!(
                    "{} is too small to run anything: use at least 100",
                    limits.max_in_flight
                ),
            ));
        }
        if limits.max_in_flight > MAX_IN_FLIGHT_CEILING {
            return Err(LoadError::new(
                file,
                "limits.max_in_flight",
                format!(
                    "{} would let one run take about {} GB: use at most {MAX_IN_FLIGHT_CEILING}",
                    limits.max_in_flight,
                    (limits.max_in_flight * BYTES_PER_LIVE) >> 30
                ),
            ));
        }
        if limits.max_events == 0 {
            return Err(LoadError::new(
                file,
                "limits.max_events",
                "must be at least 1",
            ));
        }
        Ok(limits)
    }
}

/// Most jobs (variants × points × replications) in one experiment. Each job is a row of
/// `runs.csv` and at least milliseconds of work; more is a typo, or a plan to shard.
pub const MAX_JOBS: u64 = 1_000_000;

/// Most variant × point cells: each holds a validated model and its series.
pub const MAX_CELLS: u64 = 10_000;

/// Most accumulated series values (cells × series × buckets), about 1 GB of accumulators.
pub const MAX_SERIES_VALUES: u64 = 20_000_000;

/// Highest `max_in_flight` accepted (about 25 GB per run at [`BYTES_PER_LIVE`]).
pub const MAX_IN_FLIGHT_CEILING: u64 = 100_000_000;

/// Memory one live entity may cost at worst, in bytes: a request or call in its slab
/// slot, a pending event in the heap, their share of the queues, and the slack of
/// vectors that double. Measured with the acceptance retry storm (two runs stopped at
/// 4·10⁶ live entities each, 937 MB peak for the process): about 120 bytes per entity;
/// this allows twice that, for a slab caught reallocating.
pub const BYTES_PER_LIVE: u64 = 256;

/// The most memory one run can take before its guard stops it, in bytes: the live
/// state at its limit plus the per-bucket metrics (a few hundred bytes per bucket and
/// entity) and a fixed allowance for histograms.
pub fn run_memory_bytes(limits: &Limits, model: &Model, buckets: u64) -> u64 {
    let entities =
        (model.services.len() + 2 * model.clients.len() + 2 * model.workloads.len()) as u64;
    limits.max_in_flight * BYTES_PER_LIVE + buckets * entities * 160 + (32 << 20)
}

/// Refuses a plan of more than [`MAX_JOBS`] jobs or [`MAX_CELLS`] cells, before any of
/// it is built. `points` is `None` when the sweep's product overflows.
pub fn check_plan(
    file: &Path,
    variants: u64,
    points: Option<u64>,
    replications: u32,
) -> Result<u64, LoadError> {
    let cells = points.and_then(|p| p.checked_mul(variants));
    let jobs = cells.and_then(|c| c.checked_mul(replications as u64));
    let show = |x: Option<u64>, word: &str| match x {
        Some(1) => format!("1 {word}"),
        Some(x) => format!("{x} {word}s"),
        None => format!("more than 2^64 {word}s"),
    };
    if cells.is_none_or(|c| c > MAX_CELLS) {
        return Err(LoadError::new(
            file,
            "sweep",
            format!(
                "{} × {} = {}; at most {MAX_CELLS} (each is a model to build and chart)",
                show(Some(variants), "variant"),
                show(points, "sweep point"),
                show(cells, "cell")
            ),
        ));
    }
    match jobs {
        Some(j) if j <= MAX_JOBS => Ok(j),
        _ => Err(LoadError::new(
            file,
            "replications",
            format!(
                "{} × {} = {}; at most {MAX_JOBS} per experiment (fewer replications, or split the sweep)",
                show(Some(replications as u64), "replication"),
                show(cells, "cell"),
                show(jobs, "job")
            ),
        )),
    }
}

/// Refuses a model whose size makes the run pointless or dangerous at `duration` under
/// `limits`: more arrivals than the event guard allows (each is at least one event), or
/// more closed-loop clients than the live-state guard (each holds a pending event from
/// the start). `model_file` and `context` (the variant, if any) name it in the error.
pub fn check_model(
    model_file: &Path,
    context: &str,
    model: &Model,
    duration: SimDuration,
    limits: &Limits,
) -> Result<(), LoadError> {
    let err = |key: String, problem: String| {
        LoadError::new(model_file, key, format!("{problem}{context}"))
    };
    for (i, w) in model.workloads.iter().enumerate() {
        match &w.arrivals {
            Arrivals::Poisson(points) => {
                let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
                let arrivals = peak * duration.as_secs_f64();
                if arrivals > limits.max_events as f64 {
                    return Err(err(
                        format!("workloads[{i}].arrivals"),
                        format!(
                            "a peak of {peak:e} requests/s over {duration} is {arrivals:.1e} arrivals, more than one run can simulate (limits.max_events = {}): lower the rate or the duration",
                            limits.max_events
                        ),
                    ));
                }
            }
            Arrivals::Clients { count, .. } => {
                if *count as u64 > limits.max_in_flight {
                    return Err(err(
                        format!("workloads[{i}].arrivals.clients.count"),
                        format!(
                            "{count} clients are more than the live-state guard (limits.max_in_flight = {}) allows: each client is always waiting or in flight",
                            limits.max_in_flight
                        ),
                    ));
                }
            }
            Arrivals::Bursts => {}
        }
        for (k, b) in w.bursts.iter().enumerate() {
            let key = if matches!(w.arrivals, Arrivals::Bursts) && k == 0 {
                format!("workloads[{i}].arrivals.burst")
            } else {
                let k = k - matches!(w.arrivals, Arrivals::Bursts) as usize;
                format!("workloads[{i}].bursts[{k}]")
            };
            if b.at.since_start() >= duration {
                return Err(err(
                    format!("{key}.at"),
                    format!(
                        "{} is not before the end of the run ({duration}): none of its users would arrive",
                        b.at.since_start()
                    ),
                ));
            }
            if b.count as u64 > limits.max_in_flight {
                return Err(err(
                    format!("{key}.count"),
                    format!(
                        "a burst of {} users is more than the live-state guard (limits.max_in_flight = {}) allows: its users are all in flight at once",
                        b.count, limits.max_in_flight
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Refuses series too large to accumulate: `values` = Σ over cells of series × buckets.
pub fn check_series(file: &Path, values: u64, bucket: SimDuration) -> Result<(), LoadError> {
    if values > MAX_SERIES_VALUES {
        return Err(LoadError::new(
            file,
            "bucket",
            format!(
                "{bucket} buckets make {values} time-series values across the variants and points; at most {MAX_SERIES_VALUES} fit in memory (a coarser bucket, or fewer cells)"
            ),
        ));
    }
    Ok(())
}

/// How many jobs to run at once: `threads`, or fewer when `free_bytes` of memory do not
/// hold that many runs of `per_run` bytes; with a note saying so.
pub fn concurrent_runs(
    threads: usize,
    per_run: u64,
    free_bytes: Option<u64>,
) -> (usize, Option<String>) {
    let Some(free) = free_bytes else {
        return (threads, None);
    };
    let fit = ((free / 4 * 3) / per_run.max(1)).max(1) as usize;
    if fit >= threads {
        return (threads, None);
    }
    (
        fit,
        Some(format!(
            "running {fit} jobs at a time instead of {threads}: each may take up to {} MB before its guard stops it (limits.max_in_flight) and {} MB of memory are available",
            per_run >> 20,
            free >> 20
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_of_a_billion_jobs_is_refused_before_it_is_built() {
        let f = Path::new("x.toml");
        assert_eq!(check_plan(f, 2, Some(3), 4).unwrap(), 24);
        let e = check_plan(f, 1, Some(1), 1_000_000_000).unwrap_err();
        assert_eq!(e.key, "replications");
        assert!(e.problem.contains("1000000000 jobs"), "{e}");
        let e = check_plan(f, 3, None, 1).unwrap_err();
        assert_eq!(e.key, "sweep");
    }

    #[test]
    fn threads_are_reduced_to_what_memory_holds_and_never_below_one() {
        assert_eq!(concurrent_runs(8, 1 << 30, None), (8, None));
        assert_eq!(concurrent_runs(2, 1 << 30, Some(16 << 30)).0, 2);
        let (n, note) = concurrent_runs(8, 1 << 30, Some(4 << 30));
        assert_eq!(n, 3);
        assert!(note.unwrap().contains("instead of 8"));
        assert_eq!(concurrent_runs(8, 1 << 30, Some(1 << 20)).0, 1);
    }

    #[test]
    fn limits_default_and_refuse_nonsense() {
        let f = Path::new("x.toml");
        let l = LimitsSpec::default().resolve(f).unwrap();
        assert_eq!(l.max_in_flight, RunConfig::DEFAULT_MAX_IN_FLIGHT);
        let tiny = LimitsSpec {
            max_in_flight: Some(3),
            ..LimitsSpec::default()
        };
        assert_eq!(tiny.resolve(f).unwrap_err().key, "limits.max_in_flight");
    }
}
