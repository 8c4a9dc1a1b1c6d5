//! `cascade run`, `plot` and `merge`: the commands that write an output directory. Each
//! claims the destination, builds the new output in its staging area and commits it
//! whole ([`cascade::experiment::output::dir`]).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use cascade::experiment::checkpoint::Checkpoints;
use cascade::experiment::output::{self, Manifest};
use cascade::experiment::runner::{self, RunOptions, RunnerError};
use cascade::experiment::spec::parse_set;
use cascade::experiment::{Experiment, Overrides};

use crate::cli::{Fail, RunArgs, input, other, plural, system, table};

fn parse_shard(s: &str) -> Result<(usize, usize), Fail> {
    let bad = || {
        input(anyhow!(
            "--shard {s:?}: expected K/N with 1 ≤ K ≤ N, e.g. 1/4"
        ))
    };
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

fn note(text: &str) {
    eprintln!("note: {text}");
}

/// `cascade run`.
pub fn run(a: RunArgs) -> Result<(), Fail> {
    if a.replications == Some(0) {
        return Err(input(anyhow!("--replications 0: must be at least 1")));
    }
    if a.threads == Some(0) {
        return Err(input(anyhow!("--threads 0: must be at least 1")));
    }
    let shard = a.shard.as_deref().map(parse_shard).transpose()?;
    let set = a
        .set
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| input(anyhow!(e)))?;
    let duration = a
        .duration
        .map(|d| {
            d.parse::<cascade::time::SimDuration>()
                .map_err(|e| input(anyhow!("--duration: {e}")))
        })
        .transpose()?;
    let cli = Overrides {
        replications: a.replications,
        seed: a.seed,
        duration,
        set,
        max_in_flight: a.max_in_flight,
    };
    let exp = Experiment::load(&a.file, &cli).map_err(input)?;
    for n in &exp.notes {
        note(n);
    }
    if exp.spec.tune.is_some() {
        note(&format!(
            "{} has a [tune] table: this run compares its variants; `cascade tune {0}` searches tune.space",
            a.file.display()
        ));
    }
    let out = a
        .out
        .unwrap_or_else(|| Path::new("output").join(&exp.spec.name));
    let staging = output::claim(&out, a.force, "").map_err(input)?;
    let jobs = runner::shard_jobs(&exp, shard).len();
    if let Some((k, n)) = shard
        && jobs == 0
    {
        eprintln!(
            "warning: shard {k}/{n} holds none of the plan's {}: its output has no runs (use at most {} shards)",
            plural(exp.job_count(), "job"),
            exp.job_count()
        );
    }
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut manifest = Manifest::new(&exp, &command, shard, jobs);
    let (store, saved) =
        Checkpoints::open(&staging.jobs(), &manifest.fingerprint(), a.resume).map_err(input)?;
    if a.resume {
        note(&format!(
            "resuming: {} of {jobs} jobs were finished by an earlier run",
            saved.min(jobs)
        ));
    }
    let opts = RunOptions {
        threads: a.threads,
        shard,
        progress: !a.quiet && std::io::stderr().is_terminal(),
        free_memory: system::free_memory(),
        stop: Some(system::interrupt_flag()),
        store: Some(&store),
    };
    let results = match runner::run(&exp, &opts) {
        Ok(r) => r,
        Err(RunnerError::Interrupted { done, total }) => {
            return Err(Fail::Interrupted(format!(
                "interrupted after {done} of {total} jobs: the finished ones are saved in {}; run the same command with --resume to finish. {} was left as it was.",
                staging.root.display(),
                out.display()
            )));
        }
        Err(e) => return Err(other(e)),
    };
    for n in &results.notes {
        note(n);
    }
    staging.begin().map_err(input)?;
    output::write_run(&staging.out, &exp, &results, &manifest).map_err(other)?;
    cascade::report::write(&staging.out, !a.no_charts).map_err(other)?;
    staging.commit(&mut manifest).map_err(other)?;
    table::print(&out)?;
    let wall = results.wall.as_secs_f64();
    let reused = if results.reused > 0 {
        format!(" ({} reused from an interrupted run)", results.reused)
    } else {
        String::new()
    };
    outln!(
        "{}{reused}, {:.1} M events in {:.1} s ({:.1} M events/s); wrote {}",
        plural(results.rows.len(), "job"),
        results.events as f64 / 1e6,
        wall,
        results.events as f64 / wall.max(1e-9) / 1e6,
        out.display()
    );
    Ok(())
}

/// `cascade plot`: checks the directory against its manifest, then replaces its charts.
pub fn plot(dir: &Path) -> Result<(), Fail> {
    let mut manifest = output::verify(dir, false).map_err(input)?;
    let staging = output::claim(dir, true, "plot").map_err(input)?;
    staging.begin().map_err(other)?;
    staging.reuse_data(&manifest).map_err(other)?;
    let files = cascade::report::write(&staging.out, true).map_err(|e| {
        staging.discard();
        input(e)
    })?;
    staging.commit(&mut manifest).map_err(other)?;
    outln!(
        "wrote {} chart files to {} and {}",
        files.len() - 1,
        dir.join("charts").display(),
        dir.join("report.html").display()
    );
    Ok(())
}

/// `cascade merge`: verifies the shards and writes what an unsharded run writes.
pub fn merge(out: &Path, shards: &[PathBuf], no_charts: bool, force: bool) -> Result<(), Fail> {
    let staging = output::claim(out, force, "").map_err(input)?;
    staging.begin().map_err(other)?;
    let mut manifest = output::merge(&staging.out, shards).map_err(|e| {
        staging.discard();
        input(e)
    })?;
    manifest.command = std::env::args().collect::<Vec<_>>().join(" ");
    cascade::report::write(&staging.out, !no_charts).map_err(other)?;
    staging.commit(&mut manifest).map_err(other)?;
    table::print(out)?;
    outln!(
        "merged {} into {}",
        plural(shards.len(), "shard"),
        out.display()
    );
    Ok(())
}
