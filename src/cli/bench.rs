//! `cascade bench`: events per second of the engine (M/M/c) and of the world, and, with
//! `--reference`, each as a multiple of the bare reference loop run in the same invocation
//! (absolute events/s differ 2× between machines of one kind; ratios measured side by
//! side do not).

use std::path::Path;
use std::process::Command;

use crate::cli::{Fail, input, other};

/// Runs the benchmarks and prints their figures; with `reference`, also each case's
/// events/s as a multiple of the reference loop's, measured before and after the cases.
pub fn bench(
    customers: u64,
    seed: u64,
    engine_only: bool,
    reference: Option<&Path>,
) -> Result<(), Fail> {
    let before = reference.map(|r| run_reference(r, seed)).transpose()?;
    let mut cases: Vec<(&str, f64)> = Vec::new();
    let b = cascade::bench::mmc(customers, seed).map_err(other)?;
    cases.push(("M/M/c through the engine", b.events_per_sec()));
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
        cases.push(("three-tier world, full policy stacks", w.events_per_sec()));
        outln!(
            "Three-tier world (gateway → order → payment → processor, 300 req/s, full policy stacks, {} simulated, single thread)",
            w.simulated
        );
        outln!(
            "  {:.2} M events/s ({} events, {} user requests in {:.3} s wall)",
            w.events_per_sec() / 1e6,
            w.events,
            w.requests,
            w.wall.as_secs_f64()
        );
        let (pool, fleet) = cascade::bench::fleet(seed).map_err(other)?;
        cases.push(("one pool of 200 workers", pool.events_per_sec()));
        cases.push(("10 instances × 20, least request", fleet.events_per_sec()));
        outln!(
            "Fleet (3,000 req/s through a proxy; {} simulated each, single thread)",
            pool.simulated
        );
        outln!(
            "  one pool of 200 workers:            {:.2} M events/s, {:.1} ns per event",
            pool.events_per_sec() / 1e6,
            pool.ns_per_event()
        );
        outln!(
            "  10 instances × 20, least request:   {:.2} M events/s, {:.1} ns per event ({:.2}× the pool's cost per event)",
            fleet.events_per_sec() / 1e6,
            fleet.ns_per_event(),
            fleet.ns_per_event() / pool.ns_per_event()
        );
    }
    if let (Some(path), Some(before)) = (reference, before) {
        let after = run_reference(path, seed)?;
        let r = (before + after) / 2.0;
        outln!(
            "As multiples of the reference loop ({}: {:.2} M ev/s before the cases, {:.2} after, same machine, same run)",
            path.display(),
            before / 1e6,
            after / 1e6
        );
        for (name, eps) in &cases {
            outln!("  {:<40} {:.2}×", name, eps / r);
        }
    }
    Ok(())
}

/// Runs the reference loop (`PATH 2000000 SEED`, the shared bare binary-heap M/M/c) and
/// reads the `events_per_s=` figure it prints.
fn run_reference(path: &Path, seed: u64) -> Result<f64, Fail> {
    let fail = |why: String| input(anyhow::anyhow!("--reference {}: {why}", path.display()));
    let out = Command::new(path)
        .args(["2000000", &seed.to_string()])
        .output()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(fail(format!("it failed ({}): {last}", out.status)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("events_per_s="))
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| fail("it printed no events_per_s= figure".into()))
}
