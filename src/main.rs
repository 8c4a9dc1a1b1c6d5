//! The `cascade` command line: a thin shell over the library.
//!
//! Exit codes: 0 success, 2 bad input (files, flags, values, an output directory that
//! cannot be written or is not cascade's), 130 interrupted, 1 anything else. Errors are
//! one line: `error: <file>: <key>: <problem>`. The commands live in `cli/`; this file
//! only parses and dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Writes to stdout; a closed pipe (`cascade list | head`) ends the program cleanly.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

macro_rules! outln {
    ($($arg:tt)*) => { crate::emit(&format!("{}\n", format_args!($($arg)*))) };
}
macro_rules! out {
    ($($arg:tt)*) => { crate::emit(&format!($($arg)*)) };
}

mod cli;

use cli::{Fail, RunArgs};

/// Deterministic simulator of cascading failure in service graphs.
#[derive(Parser)]
#[command(name = "cascade", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an experiment: every variant × sweep point × replication, in parallel.
    ///
    /// Writes runs.csv, summary.csv, timeseries.csv, charts and (last) manifest.json
    /// into output/<experiment name>/ and prints a table of the variants by outage. The
    /// directory is replaced whole when the run is complete; Ctrl-C keeps the finished
    /// jobs, and --resume finishes the rest. A model file runs directly, as one variant.
    ///
    /// Example: cascade run experiments/black_friday.toml --replications 5 --threads 2
    Run(RunArgs),
    /// Search timeouts, retries, breaker thresholds and pool sizes for the configuration
    /// that does best on a goal under constraints (the [tune] table of an experiment).
    ///
    /// Successive halving (or Hyperband) under common random numbers: many configurations
    /// on few replications, the best on more. Writes tune.csv, tuned.toml (a ready-to-run
    /// experiment comparing the recommendation with the model as written), tuned.patch and
    /// manifest.json into output/<name>/. The same file and seed give the same
    /// recommendation whatever --threads.
    ///
    /// Example: cascade tune experiments/black_friday.tune.toml --budget 30
    Tune(cli::tune::TuneArgs),
    /// Print the client stacks of a Resilience4j application.yml, an Istio DestinationRule /
    /// VirtualService or an Envoy cluster as model TOML; keys with no equivalent are listed.
    ///
    /// Example: cascade import istio destination-rule.yaml --caller checkout
    Import {
        /// The format of FILE.
        #[arg(value_enum)]
        format: ImportFormat,
        /// The YAML file.
        file: PathBuf,
        /// The service that makes the calls (the `[services.<caller>.clients.*]` tables).
        #[arg(long, default_value = "caller")]
        caller: String,
    },
    /// Validate a model or experiment file; print the service graph, capacity estimates,
    /// the resilience lint and (for an experiment) the plan.
    ///
    /// Example: cascade check experiments/black_friday.toml
    Check {
        /// A model or experiment file.
        file: PathBuf,
    },
    /// Re-render the charts of an output directory from its CSV files, after checking
    /// them against its manifest.
    ///
    /// Example: cascade plot output/black-friday
    Plot {
        /// The output directory.
        dir: PathBuf,
    },
    /// Combine shard outputs into the files an unsharded run writes.
    ///
    /// Example: cascade merge --out output/bf output/bf-1 output/bf-2
    Merge {
        /// Where to write the merged output.
        #[arg(long)]
        out: PathBuf,
        /// The shard output directories.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Do not render charts.
        #[arg(long)]
        no_charts: bool,
        /// Write into --out even if it holds files cascade did not write (they are kept).
        #[arg(long)]
        force: bool,
    },
    /// Define the columns of the output files (all, or those matching NAME).
    ///
    /// Example: cascade explain p99_ok_ms
    Explain {
        /// A column or metric name (default: every column).
        name: Option<String>,
        /// Print output/README.md (Markdown) instead.
        #[arg(long)]
        markdown: bool,
    },
    /// Measure the engine and the world: events/s on reference models.
    ///
    /// Example: cascade bench --reference ../shared/bench/reference
    Bench {
        /// Customers to simulate through the M/M/c model (c = 200, mean service 180 ms, ρ = 0.9).
        #[arg(long, default_value_t = 2_000_000)]
        customers: u64,
        /// Seed of the runs.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Skip the three-tier world benchmark.
        #[arg(long)]
        engine_only: bool,
        /// Also run this reference loop (e.g. ../shared/bench/reference) before and after
        /// the cases and print each case as a multiple of its events/s.
        #[arg(long, value_name = "PATH")]
        reference: Option<PathBuf>,
    },
    /// Draw what backoff strategies do to retry times: the wait before retry 1, 2, 3, …
    /// (10 000 calls each, through the policy code) and when the retries of N clients
    /// that failed at the same instant arrive. PNG and SVG.
    ///
    /// With a model or experiment file: the strategies its clients and workloads use;
    /// without: the eight standard ones with their defaults.
    ///
    /// Example: cascade backoff experiments/black_friday_jitter.toml --out output/jitter-backoff
    Backoff {
        /// A model or experiment file (default: the standard strategies).
        file: Option<PathBuf>,
        /// Where to write backoff_delays and backoff_arrivals (default: output/backoff).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Clients failing at the same instant, for the arrival chart.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Retries per call to draw (default: each policy's max_attempts − 1; 4 for the
        /// standard strategies).
        #[arg(long)]
        retries: Option<u32>,
    },
    /// List the experiments in a directory with their descriptions.
    ///
    /// Example: cascade list
    List {
        /// The directory (default: experiments).
        #[arg(default_value = "experiments")]
        dir: PathBuf,
    },
}

/// `cascade import` formats.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ImportFormat {
    Resilience4j,
    Istio,
    Envoy,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Run(args) => cli::run::run(args),
        Command::Tune(args) => cli::tune::tune(args),
        Command::Import {
            format,
            file,
            caller,
        } => {
            use cascade::model::import::Format;
            let f = match format {
                ImportFormat::Resilience4j => Format::Resilience4j,
                ImportFormat::Istio => Format::Istio,
                ImportFormat::Envoy => Format::Envoy,
            };
            cli::import::import(f, &file, &caller)
        }
        Command::Check { file } => cli::check::check(&file),
        Command::Plot { dir } => cli::run::plot(&dir),
        Command::Merge {
            out,
            shards,
            no_charts,
            force,
        } => cli::run::merge(&out, &shards, no_charts, force),
        Command::Explain { name, markdown } => cli::check::explain(name.as_deref(), markdown),
        Command::Bench {
            customers,
            seed,
            engine_only,
            reference,
        } => cli::bench::bench(customers, seed, engine_only, reference.as_deref()),
        Command::List { dir } => cli::check::list(&dir),
        Command::Backoff {
            file,
            out,
            clients,
            retries,
        } => cli::backoff::run(file.as_deref(), out, clients, retries),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Input(err)) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
        Err(Fail::Interrupted(message)) => {
            eprintln!("{message}");
            ExitCode::from(130)
        }
        Err(Fail::Other(err)) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
