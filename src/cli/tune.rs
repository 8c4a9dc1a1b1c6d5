//! `cascade tune`: loads a tuning file, runs the search, writes its output directory
//! whole ([`cascade::experiment::tune::output`]) and prints the ranked table.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use cascade::experiment::Overrides;
use cascade::experiment::output::{self, Manifest};
use cascade::experiment::runner::{RunOptions, RunnerError};
use cascade::experiment::tune::output as files;
use cascade::experiment::tune::{Outcome, TuneError, Tuning};

use crate::cli::{Fail, input, other, plural, system};

/// `cascade tune` arguments.
#[derive(clap::Args)]
pub struct TuneArgs {
    /// The tuning file: an experiment file with a [tune] table.
    pub file: PathBuf,
    /// Simulated runs in all (overrides tune.budget).
    #[arg(long)]
    pub budget: Option<u64>,
    /// Experiment seed (overrides the file): the configurations drawn and the replications run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulated duration (overrides the file); faults past it are cut.
    #[arg(long)]
    pub duration: Option<String>,
    /// Worker threads (default: all cores, fewer if memory is short). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output directory (default: output/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write into --out even if it holds files cascade did not write (they are kept).
    #[arg(long)]
    pub force: bool,
    /// Do not render charts.
    #[arg(long)]
    pub no_charts: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `cascade tune`.
pub fn tune(a: TuneArgs) -> Result<(), Fail> {
    if a.threads == Some(0) {
        return Err(input(anyhow!("--threads 0: must be at least 1")));
    }
    if a.budget == Some(0) {
        return Err(input(anyhow!(
            "--budget 0: must be at least 1 simulated run"
        )));
    }
    let duration = a
        .duration
        .map(|d| {
            d.parse::<cascade::time::SimDuration>()
                .map_err(|e| input(anyhow!("--duration: {e}")))
        })
        .transpose()?;
    let cli = Overrides {
        seed: a.seed,
        duration,
        ..Overrides::default()
    };
    let tuning = Tuning::load(&a.file, &cli, a.budget).map_err(input)?;
    for n in &tuning.notes {
        eprintln!("note: {n}");
    }
    let out = a
        .out
        .unwrap_or_else(|| Path::new("output").join(&tuning.spec.name));
    let staging = output::claim(&out, a.force, "tune").map_err(input)?;
    let opts = RunOptions {
        threads: a.threads,
        shard: None,
        progress: !a.quiet && std::io::stderr().is_terminal(),
        free_memory: system::free_memory(),
        stop: Some(system::interrupt_flag()),
        store: None,
    };
    let outcome = match tuning.search(&opts) {
        Ok(o) => o,
        Err(TuneError::Run(RunnerError::Interrupted { done, total })) => {
            staging.discard();
            return Err(Fail::Interrupted(format!(
                "interrupted after {done} of {total} jobs of a rung: nothing was written; {} was left as it was",
                out.display()
            )));
        }
        Err(TuneError::Load(e)) => {
            staging.discard();
            return Err(input(e));
        }
        Err(e) => {
            staging.discard();
            return Err(other(e));
        }
    };
    for n in &outcome.notes {
        eprintln!("note: {n}");
    }
    staging.begin().map_err(other)?;
    files::write_csv(&staging.out, &tuning, &outcome).map_err(other)?;
    let (spec, exp) =
        files::tuned_experiment(&tuning, outcome.best(), &staging.dest).map_err(other)?;
    files::write_experiment(&staging.out, &tuning, &spec).map_err(other)?;
    output::files::write_file(
        &staging.out,
        files::PATCH,
        files::patch(&tuning, outcome.best()).as_bytes(),
    )
    .map_err(other)?;
    if !a.no_charts {
        cascade::report::charts::render(&staging.out).map_err(other)?;
    }
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut manifest = Manifest::new(&exp, &command, None, 0);
    manifest.name = tuning.spec.name.clone();
    manifest.experiment = tuning.file.display().to_string();
    manifest.jobs = outcome.runs as usize;
    staging.commit(&mut manifest).map_err(other)?;
    print_table(&tuning, &outcome);
    let wall = outcome.wall.as_secs_f64();
    outln!(
        "{} over {}, {:.1} M events in {:.1} s; wrote {} (run {} to check it)",
        plural(outcome.tried.len(), "configuration"),
        plural(outcome.runs as usize, "run"),
        outcome.events as f64 / 1e6,
        wall,
        out.display(),
        out.join(files::TUNED).display()
    );
    Ok(())
}

/// The ten best configurations, then the recommendation against the start.
fn print_table(tuning: &Tuning, outcome: &Outcome) {
    let t = &tuning.tune;
    let short: Vec<String> = t
        .space
        .iter()
        .map(|p| {
            let s: Vec<&str> = p.path.split('.').collect();
            s[s.len().saturating_sub(2)..].join(".")
        })
        .collect();
    let mut rows = vec![{
        let mut h = vec!["rank".to_string(), "reps".to_string()];
        h.extend(short.iter().cloned());
        h.extend([
            format!("{} (95% CI)", t.goal_name()),
            t.cost_name().to_string(),
            "constraints".to_string(),
        ]);
        h
    }];
    for (i, c) in outcome.tried.iter().enumerate().take(10) {
        let (lo, hi) = c.goal.ci95();
        let ci = if lo.is_finite() {
            format!("{:.1} [{:.1}, {:.1}]", c.goal.mean(), lo, hi)
        } else {
            format!("{:.1}", c.goal.mean())
        };
        let mut r = vec![
            format!("{}{}", i + 1, if c.is_start { "*" } else { "" }),
            c.replications().to_string(),
        ];
        r.extend(c.values.iter().map(|v| {
            let s = cascade::experiment::spec::value_text(v);
            if s.chars().count() > 28 {
                format!("{}…", s.chars().take(27).collect::<String>())
            } else {
                s
            }
        }));
        let broke = files::broke(tuning, c);
        r.extend([
            ci,
            format!("{:.0}", c.cost.mean()),
            if broke.is_empty() { "ok".into() } else { broke },
        ]);
        rows.push(r);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|k| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        outln!("{}", line.join("  ").trim_end());
    }
    if outcome.tried.iter().take(10).any(|c| c.is_start) {
        outln!("* the start model's own configuration");
    }
    let best = outcome.best();
    if !best.feasible() {
        outln!(
            "warning: no configuration met every constraint on every replication; the best is shown"
        );
    }
}
