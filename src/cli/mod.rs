//! The commands of the `cascade` binary. Each turns arguments into library calls and
//! library results into text; none simulates or formats files itself.
//!
//! - `run`: run, plot and merge (the commands that write output directories);
//! - `table`: the terminal summary of an output directory;
//! - `check`: check, list, explain;
//! - `bench`: the benchmarks;
//! - `backoff`: the backoff pictures;
//! - `import`: Resilience4j, Istio and Envoy configurations as client stacks;
//! - `tune`: the search for the configuration that does best;
//! - `system`: what the operating system provides — interrupts and free memory.

pub mod backoff;
pub mod bench;
pub mod check;
pub mod import;
pub mod run;
pub mod system;
pub mod table;
pub mod tune;

use std::path::PathBuf;

/// A failure and its exit code.
pub enum Fail {
    /// Bad input: exit 2.
    Input(anyhow::Error),
    /// Interrupted by a signal: the message, exit 130.
    Interrupted(String),
    /// Anything else: exit 1.
    Other(anyhow::Error),
}

/// A bad-input failure.
pub fn input<E: Into<anyhow::Error>>(e: E) -> Fail {
    Fail::Input(e.into())
}

/// Any other failure.
pub fn other<E: Into<anyhow::Error>>(e: E) -> Fail {
    Fail::Other(e.into())
}

/// `cascade run` arguments.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The experiment file (or a model file, run as one variant).
    pub file: PathBuf,
    /// Replications per variant and point (overrides the file).
    #[arg(long)]
    pub replications: Option<u32>,
    /// Experiment seed (overrides the file).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulated duration (overrides the file), e.g. --duration 30m; faults past it are cut.
    #[arg(long)]
    pub duration: Option<String>,
    /// Worker threads (default: all cores, fewer if memory is short). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output directory (default: output/<experiment name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a model value in every variant, e.g. --set services.order.workers=50.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Run only slice K of N of the plan, e.g. --shard 1/4; merge with `cascade merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Live requests + calls + pending events per run before it ends as diverged
    /// (overrides limits.max_in_flight; default 4000000, about 1 GB).
    #[arg(long, value_name = "N")]
    pub max_in_flight: Option<u64>,
    /// Reuse the jobs an interrupted run of the same configuration finished.
    #[arg(long)]
    pub resume: bool,
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

/// `2` → "2 jobs", `1` → "1 job".
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
