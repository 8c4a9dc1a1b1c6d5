//! The `cascade` command line: a thin shell over the library.
//!
//! Exit codes: 0 success, 2 bad input (files, flags, values, an unwritable output
//! directory), 1 anything else. Errors are one line: `error: <file>: <key>: <problem>`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};

use cascade::experiment::output::{self, Manifest};
use cascade::experiment::runner::{self, RunOptions};
use cascade::experiment::spec::parse_set;
use cascade::experiment::{Experiment, Overrides};
use cascade::model::load::read_table;

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
    /// Writes runs.csv, summary.csv, timeseries.csv, manifest.json and charts into
    /// output/<experiment name>/ and prints a table of the variants by outage.
    ///
    /// Example: cascade run experiments/black_friday.toml --replications 5 --threads 2
    Run {
        /// The experiment file.
        file: PathBuf,
        /// Replications per variant and point (overrides the file).
        #[arg(long)]
        replications: Option<u32>,
        /// Experiment seed (overrides the file).
        #[arg(long)]
        seed: Option<u64>,
        /// Simulated duration (overrides the file), e.g. --duration 30m.
        #[arg(long)]
        duration: Option<String>,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Output directory (default: output/<experiment name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a model value in every variant, e.g. --set services.order.workers=50.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Run only slice K of N of the plan, e.g. --shard 1/4; merge with `cascade merge`.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Do not render charts.
        #[arg(long)]
        no_charts: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Validate a model or experiment file; print the service graph, capacity estimates
    /// and (for an experiment) the plan.
    ///
    /// Example: cascade check models/black_friday.toml
    Check {
        /// A model or experiment file.
        file: PathBuf,
    },
    /// Re-render the charts of an output directory from its CSV files.
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
    },
    /// Measure the engine and the world: events/s on reference models.
    ///
    /// Example: cascade bench --customers 2000000
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
    ($($arg:tt)*) => { emit(&format!("{}\n", format_args!($($arg)*))) };
}
macro_rules! out {
    ($($arg:tt)*) => { emit(&format!($($arg)*)) };
}

/// A failure and its exit code.
enum Fail {
    /// Bad input: exit 2.
    Input(anyhow::Error),
    /// Anything else: exit 1.
    Other(anyhow::Error),
}

fn input<E: Into<anyhow::Error>>(e: E) -> Fail {
    Fail::Input(e.into())
}
fn other<E: Into<anyhow::Error>>(e: E) -> Fail {
    Fail::Other(e.into())
}

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

#[allow(clippy::too_many_arguments)]
fn run(
    file: &Path,
    replications: Option<u32>,
    seed: Option<u64>,
    duration: Option<String>,
    threads: Option<usize>,
    out: Option<PathBuf>,
    set: &[String],
    shard: Option<String>,
    no_charts: bool,
    quiet: bool,
) -> Result<(), Fail> {
    if replications == Some(0) {
        return Err(input(anyhow!("--replications 0: must be at least 1")));
    }
    if threads == Some(0) {
        return Err(input(anyhow!("--threads 0: must be at least 1")));
    }
    let shard = shard.as_deref().map(parse_shard).transpose()?;
    let set = set
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| input(anyhow!(e)))?;
    let duration = duration
        .map(|d| {
            d.parse::<cascade::time::SimDuration>()
                .map_err(|e| input(anyhow!("--duration: {e}")))
        })
        .transpose()?;
    let cli = Overrides {
        replications,
        seed,
        duration,
        set,
    };
    let exp = Experiment::load(file, &cli).map_err(input)?;
    let out = out.unwrap_or_else(|| Path::new("output").join(&exp.spec.name));
    output::prepare(&out).map_err(input)?;
    let opts = RunOptions {
        threads,
        shard,
        progress: !quiet && std::io::stderr().is_terminal(),
    };
    let results = runner::run(&exp, &opts).map_err(other)?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let manifest = Manifest::new(&exp, &command, shard);
    output::write_run(&out, &exp, &results, &manifest).map_err(other)?;
    if !no_charts {
        cascade::report::charts::render(&out).map_err(other)?;
    }
    print_table(&out)?;
    let wall = results.wall.as_secs_f64();
    outln!(
        "{} jobs, {:.1} M events in {:.1} s ({:.1} M events/s); wrote {}",
        results.rows.len(),
        results.events as f64 / 1e6,
        wall,
        results.events as f64 / wall.max(1e-9) / 1e6,
        out.display()
    );
    Ok(())
}

/// The terminal summary: one row per variant × point, sorted by mean outage.
fn print_table(dir: &Path) -> Result<(), Fail> {
    let path = dir.join("summary.csv");
    let mut r = csv::Reader::from_path(&path)
        .with_context(|| format!("{}", path.display()))
        .map_err(other)?;
    let headers = r.headers().map_err(other)?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(v), Some(p), Some(m), Some(mean)) =
        (col("variant"), col("point"), col("metric"), col("mean"))
    else {
        return Err(other(anyhow!("{}: unexpected columns", path.display())));
    };
    let mut rows: Vec<(String, String, [f64; 5])> = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(other)?;
        let key = (rec[v].to_string(), rec[p].to_string());
        let idx = match rows.iter().position(|(a, b, _)| (a, b) == (&key.0, &key.1)) {
            Some(i) => i,
            None => {
                rows.push((key.0, key.1, [f64::NAN; 5]));
                rows.len() - 1
            }
        };
        let x: f64 = rec[mean].parse().unwrap_or(f64::NAN);
        let slot = match &rec[m] {
            "outage_s" => 0,
            "sustained_outage_s" => 1,
            "recovered_share" => 2,
            "lost" => 3,
            "p99_ms" => 4,
            _ => continue,
        };
        rows[idx].2[slot] = x;
    }
    rows.sort_by(|a, b| a.2[0].total_cmp(&b.2[0]));
    let width = rows
        .iter()
        .map(|r| r.0.len() + r.1.len() + 1)
        .max()
        .unwrap_or(7)
        .max(7);
    outln!(
        "{:<width$}  {:>10}  {:>10}  {:>9}  {:>10}  {:>9}",
        "variant",
        "outage",
        "sustained",
        "recovered",
        "lost",
        "p99"
    );
    for (variant, point, x) in rows {
        let name = if point.is_empty() {
            variant
        } else {
            format!("{variant} {point}")
        };
        outln!(
            "{:<width$}  {:>9.1}m  {:>9.1}m  {:>8.0}%  {:>10.0}  {:>7.0}ms",
            name,
            x[0] / 60.0,
            x[1] / 60.0,
            x[2] * 100.0,
            x[3],
            x[4]
        );
    }
    Ok(())
}

fn check(file: &Path) -> Result<(), Fail> {
    let table = read_table(file).map_err(input)?;
    if table.get("model").is_some_and(|m| m.is_str()) {
        let exp = Experiment::load(file, &Overrides::default()).map_err(input)?;
        outln!(
            "experiment {:?}: {} variants × {} points × {} replications = {} jobs, {} each",
            exp.spec.name,
            exp.variants.len(),
            exp.points.len(),
            exp.spec.replications,
            exp.jobs().len(),
            exp.spec.duration
        );
        outln!("variants: {}", exp.variants.join(", "));
        if !exp.sweep_paths.is_empty() {
            outln!("sweep: {}", exp.sweep_paths.join(", "));
        }
        print!(
            "{}",
            cascade::model::describe::describe(&exp.model_file, &exp.models[0])
        );
    } else {
        let model = cascade::model::load_model(file).map_err(input)?;
        out!("{}", cascade::model::describe::describe(file, &model));
    }
    Ok(())
}

fn bench(customers: u64, seed: u64, engine_only: bool) -> Result<(), Fail> {
    let b = cascade::bench::mmc(customers, seed).map_err(other)?;
    let r = &b.result;
    let t = &b.theory;
    outln!(
        "M/M/c reference model: c = {}, mean service {}, utilisation {:.2}, {} customers (single thread)",
        b.config.servers,
        b.config.mean_service,
        t.rho,
        b.config.customers
    );
    outln!(
        "  {:.2} M events/s, {:.2} M customers/s ({} events in {:.3} s wall)",
        b.events_per_sec() / 1e6,
        b.customers_per_sec() / 1e6,
        r.run.events,
        b.wall.as_secs_f64()
    );
    outln!(
        "  mean wait {:.3} ms ± {:.3} (simulated, 1 s.e.) vs {:.3} ms (Erlang C)",
        r.mean_wait * 1e3,
        r.mean_wait_se * 1e3,
        t.mean_wait * 1e3
    );
    outln!(
        "  P(wait) {:.4} vs {:.4}; mean time in system {:.3} ms vs {:.3} ms",
        r.p_wait,
        t.p_wait,
        r.mean_system * 1e3,
        t.mean_system * 1e3
    );
    if !engine_only {
        let w = cascade::bench::three_tier(seed).map_err(other)?;
        outln!(
            "Three-tier world (gateway → order → payment → processor, 300 req/s, full policy stacks, {} simulated, single thread)",
            w.simulated
        );
        outln!(
            "  {:.2} M events/s ({} events, {} user requests in {:.3} s wall)",
            w.events as f64 / w.wall.as_secs_f64() / 1e6,
            w.events,
            w.requests,
            w.wall.as_secs_f64()
        );
    }
    Ok(())
}

fn list(dir: &Path) -> Result<(), Fail> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list the directory", dir.display()))
        .map_err(input)?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for f in files {
        let (name, description) = match read_table(&f) {
            Ok(t) => (
                t.get("name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_string(),
                t.get("description")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
            ),
            Err(e) => ("(unreadable)".to_string(), e.to_string()),
        };
        outln!("{:<40} {:<28} {}", f.display(), name, description);
    }
    Ok(())
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
        Command::Run {
            file,
            replications,
            seed,
            duration,
            threads,
            out,
            set,
            shard,
            no_charts,
            quiet,
        } => run(
            &file,
            replications,
            seed,
            duration,
            threads,
            out,
            &set,
            shard,
            no_charts,
            quiet,
        ),
        Command::Check { file } => check(&file),
        Command::Plot { dir } => cascade::report::charts::render(&dir)
            .map(|files| {
                outln!(
                    "wrote {} chart files to {}",
                    files.len(),
                    dir.join("charts").display()
                )
            })
            .map_err(input),
        Command::Merge {
            out,
            shards,
            no_charts,
        } => output::merge(&out, &shards).map_err(input).and_then(|_| {
            if no_charts {
                Ok(())
            } else {
                cascade::report::charts::render(&out)
                    .map(|_| ())
                    .map_err(other)
            }
        }),
        Command::Bench {
            customers,
            seed,
            engine_only,
        } => bench(customers, seed, engine_only),
        Command::List { dir } => list(&dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Input(err)) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
        Err(Fail::Other(err)) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
