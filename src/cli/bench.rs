//! `cascade bench`: events per second of the engine (M/M/c) and of the world.

use crate::cli::{Fail, other};

/// Runs both benchmarks and prints their figures.
pub fn bench(customers: u64, seed: u64, engine_only: bool) -> Result<(), Fail> {
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
            w.events_per_sec() / 1e6,
            w.events,
            w.requests,
            w.wall.as_secs_f64()
        );
        let (pool, fleet) = cascade::bench::fleet(seed).map_err(other)?;
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
    Ok(())
}
