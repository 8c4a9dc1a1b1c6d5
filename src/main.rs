//! The `cascade` command line: a thin shell over the library.
//!
//! Exit codes: 0 success, 2 bad input (files, flags, values), 1 anything else.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Deterministic simulator of cascading failure in service graphs.
#[derive(Parser)]
#[command(name = "cascade", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the engine: events/s on the reference M/M/c model.
    ///
    /// Example: cascade bench --customers 2000000
    Bench {
        /// Customers to simulate through the M/M/c model (c = 200, mean service 180 ms, ρ = 0.9).
        #[arg(long, default_value_t = 2_000_000)]
        customers: u64,
        /// Seed of the run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn bench(customers: u64, seed: u64) -> anyhow::Result<()> {
    let b = cascade::bench::mmc(customers, seed)?;
    let r = &b.result;
    let t = &b.theory;
    println!(
        "M/M/c reference model: c = {}, mean service {}, utilisation {:.2}, {} customers (single thread)",
        b.config.servers, b.config.mean_service, t.rho, b.config.customers
    );
    println!(
        "  {:.2} M events/s, {:.2} M customers/s ({} events in {:.3} s wall)",
        b.events_per_sec() / 1e6,
        b.customers_per_sec() / 1e6,
        r.run.events,
        b.wall.as_secs_f64()
    );
    println!(
        "  mean wait {:.3} ms ± {:.3} (simulated, 1 s.e.) vs {:.3} ms (Erlang C)",
        r.mean_wait * 1e3,
        r.mean_wait_se * 1e3,
        t.mean_wait * 1e3
    );
    println!(
        "  P(wait) {:.4} vs {:.4}; mean time in system {:.3} ms vs {:.3} ms",
        r.p_wait,
        t.p_wait,
        r.mean_system * 1e3,
        t.mean_system * 1e3
    );
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
        Command::Bench { customers, seed } => bench(customers, seed),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
