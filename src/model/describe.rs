//! `cascade check`: a validated model described for a person — the service graph, a
//! capacity estimate per service by Little's law, and a resilience lint for the known
//! pattern traps (found statically, before anything runs; see [`lint`]).
//!
//! Capacity: a request holds a worker for its local work plus the response time of its
//! synchronous calls (parallel calls: the slowest), estimated without queueing. By
//! Little's law a pool of `workers` threads then serves at most `workers ÷ hold`
//! requests per second; the peak offered load divides by that to give utilisation ρ.

use std::fmt::Write;
use std::path::Path;

use crate::model::graph::{Arrivals, Model, Step};

mod fleet_lint;
mod lint;
mod occ_lint;
mod suggest;

pub use lint::lint;
pub use suggest::{Suggestion, suggestions};

/// Mean time a request of endpoint `e` holds a worker, in seconds (no queueing).
fn hold_secs(model: &Model, e: usize) -> f64 {
    model.endpoints[e]
        .steps
        .iter()
        .map(|s| step_secs(model, s))
        .sum()
}

/// Mean time of one step, in seconds (no queueing; parallel calls: the slowest).
fn step_secs(model: &Model, s: &Step) -> f64 {
    match s {
        Step::Work { dist, .. } => dist.mean_secs(),
        Step::Calls(calls) => calls
            .iter()
            .map(|c| hold_secs(model, c.target as usize))
            .fold(0.0, f64::max),
        Step::Hold { .. } | Step::Release { .. } | Step::OccRead { .. } | Step::OccWrite { .. } => {
            0.0
        }
    }
}

/// The connections endpoint `e` holds: (pool, seconds held, the hold step's index, the
/// release step's index), one per `hold` step.
fn connection_holds(model: &Model, e: usize) -> Vec<(u32, f64, usize, usize)> {
    let steps = &model.endpoints[e].steps;
    steps
        .iter()
        .enumerate()
        .filter_map(|(j, s)| match *s {
            Step::Release { pool, from } => {
                let from = from as usize;
                let secs = steps[from + 1..j].iter().map(|s| step_secs(model, s)).sum();
                Some((pool, secs, from, j))
            }
            _ => None,
        })
        .collect()
}

/// Extra hold time per request in progress at the endpoint's own service (the sum of its
/// work steps' `per_inflight`), seconds.
fn per_inflight_secs(model: &Model, e: usize) -> f64 {
    model.endpoints[e]
        .steps
        .iter()
        .map(|s| match s {
            Step::Work { per_inflight, .. } => per_inflight.as_secs_f64(),
            _ => 0.0,
        })
        .sum()
}

/// Peak arrivals per second at every endpoint (first attempts only).
fn endpoint_rates(model: &Model) -> Vec<f64> {
    fn visit(model: &Model, e: usize, rate: f64, out: &mut [f64]) {
        out[e] += rate;
        for s in &model.endpoints[e].steps {
            if let Step::Calls(calls) = s {
                for c in calls {
                    visit(model, c.target as usize, rate, out);
                }
            }
        }
    }
    let mut out = vec![0.0; model.endpoints.len()];
    for w in &model.workloads {
        let rate = match &w.arrivals {
            Arrivals::Poisson(points) => points.iter().map(|p| p.1).fold(0.0, f64::max),
            Arrivals::Clients { count, think } => *count as f64 / think.mean_secs().max(1e-9),
            Arrivals::Bursts => 0.0,
        };
        visit(model, w.target as usize, rate, &mut out);
    }
    out
}

/// The estimated load of one service at peak.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServiceLoad {
    /// Peak arrivals per second (first attempts only).
    pub rate: f64,
    /// Most requests per second its workers can serve with the instances it starts with
    /// (Little's law, load-dependent hold time included).
    pub capacity: f64,
    /// The same with as many instances as it can have (an autoscaler's `max`).
    pub capacity_max: f64,
    /// Utilisation at peak with as many instances as it can have: `rate ÷ capacity_max`
    /// (≥ 1: the queue grows without bound).
    pub rho: f64,
    /// Extra hold time per request in progress, s.
    pub per_inflight: f64,
}

/// Peak load and capacity of every service, in model order.
///
/// Little's law with a load-dependent hold time h(N) = h0 + k·N, where N counts the
/// requests in progress at one instance: with every worker busy an instance of W workers
/// serves at most W / (h0 + k·W) requests per second, and a fleet that many times its
/// instances (a balanced fleet, the best case).
pub fn loads(model: &Model) -> Vec<ServiceLoad> {
    let rates = endpoint_rates(model);
    model
        .services
        .iter()
        .map(|svc| {
            let (mut rate, mut base_load, mut k_load) = (0.0, 0.0, 0.0);
            for &e in &svc.endpoints {
                let e = e as usize;
                rate += rates[e];
                base_load += rates[e] * hold_secs(model, e);
                k_load += rates[e] * per_inflight_secs(model, e);
            }
            let w = svc.workers as f64;
            let (h0, k) = if rate > 0.0 {
                (base_load / rate, k_load / rate)
            } else {
                (0.0, 0.0)
            };
            let per_instance = if h0 + k * w > 0.0 {
                w / (h0 + k * w)
            } else {
                f64::INFINITY
            };
            let capacity = per_instance * svc.instances as f64;
            let capacity_max = per_instance * svc.max_instances() as f64;
            ServiceLoad {
                rate,
                capacity,
                capacity_max,
                rho: if capacity_max.is_finite() {
                    rate / capacity_max
                } else {
                    0.0
                },
                per_inflight: k,
            }
        })
        .collect()
}

/// ρ to two decimals, or in scientific notation when absurd (`2.0e7`).
fn fmt_rho(rho: f64) -> String {
    if rho < 1e4 {
        format!("{rho:.2}")
    } else {
        format!("{rho:.1e}")
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The text `cascade check` prints for a model.
pub fn describe(file: &Path, model: &Model) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "model {}: {}, {}, {}, {}{}",
        file.display(),
        plural(model.services.len(), "service"),
        plural(model.endpoints.len(), "endpoint"),
        plural(model.workloads.len(), "workload"),
        plural(model.faults.len(), "fault"),
        if model.deadline_propagation {
            ", deadline propagation on"
        } else {
            ""
        }
    );
    if let Some(d) = &model.description {
        let _ = writeln!(s, "  {d}");
    }
    let _ = writeln!(
        s,
        "services (capacity by Little's law, no queueing; ρ = peak load ÷ capacity):"
    );
    for (svc, l) in model.services.iter().zip(loads(model)) {
        let _ = writeln!(
            s,
            "  {:<16} {:>6} workers{}  peak {:>8.1} req/s  capacity {:>10.1} req/s{}  ρ = {}{}",
            svc.name,
            svc.workers,
            if svc.instances > 1 || svc.autoscale.is_some() {
                format!(" × {}", plural(svc.instances as usize, "instance"))
            } else {
                String::new()
            },
            l.rate,
            l.capacity,
            match svc.autoscale {
                Some(a) => format!(
                    " (HPA {}–{}: {:.1} at {})",
                    a.min, a.max, l.capacity_max, a.max
                ),
                None => String::new(),
            },
            fmt_rho(l.rho),
            if l.per_inflight > 0.0 {
                format!(
                    "  (+{:.1} ms per request in progress)",
                    l.per_inflight * 1e3
                )
            } else {
                String::new()
            }
        );
        for &e in &svc.endpoints {
            let ep = &model.endpoints[e as usize];
            let calls: Vec<String> = ep
                .steps
                .iter()
                .filter_map(|st| match st {
                    Step::Calls(c) => Some(
                        c.iter()
                            .map(|c| model.endpoints[c.target as usize].name.clone())
                            .collect::<Vec<_>>()
                            .join(" + "),
                    ),
                    _ => None,
                })
                .collect();
            let connections: String = connection_holds(model, e as usize)
                .iter()
                .map(|(pool, secs, ..)| {
                    format!(
                        " and a {} connection ~{:.1} ms",
                        model.pools[*pool as usize].name,
                        secs * 1e3
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "    {:<28} holds a worker ~{:.1} ms{connections}{}",
                ep.name,
                hold_secs(model, e as usize) * 1e3,
                if calls.is_empty() {
                    String::new()
                } else {
                    format!(", calls {}", calls.join(", "))
                }
            );
        }
        for (kind, probe) in [
            ("readiness", svc.readiness),
            ("liveness", svc.liveness.map(|l| l.probe)),
        ] {
            if let Some(p) = probe {
                let _ = writeln!(
                    s,
                    "    {kind} probe on {}: every {}, timeout {}, {} failures",
                    model.endpoints[p.endpoint as usize].name,
                    p.timing.period,
                    p.timing.timeout,
                    p.timing.failure_threshold
                );
            }
        }
    }
    let rates = &endpoint_rates(model);
    for (p, pool) in model.pools.iter().enumerate() {
        let demand: f64 = (0..model.endpoints.len())
            .flat_map(|e| {
                connection_holds(model, e)
                    .into_iter()
                    .filter(|h| h.0 == p as u32)
                    .map(move |h| rates[e] * h.1)
            })
            .sum();
        if demand > 0.0 {
            let _ = writeln!(
                s,
                "  pool {:<11} {:>6} connections  held by steps: ρ = {} at peak",
                pool.name,
                pool.config.max_concurrent,
                fmt_rho(demand / pool.config.max_concurrent as f64)
            );
        }
    }
    for (r, res) in model.resources.iter().enumerate() {
        let uses = |write: bool| -> Vec<&str> {
            model
                .endpoints
                .iter()
                .filter(|e| {
                    e.steps.iter().any(|s| match *s {
                        Step::OccRead { resource } => !write && resource as usize == r,
                        Step::OccWrite { resource } => write && resource as usize == r,
                        _ => false,
                    })
                })
                .map(|e| e.name.as_str())
                .collect()
        };
        let (reads, writes) = (uses(false), uses(true));
        let _ = writeln!(
            s,
            "  resource {:<7} occ record  read by {}, written by {}",
            res.name,
            if reads.is_empty() {
                "nobody".to_string()
            } else {
                reads.join(", ")
            },
            if writes.is_empty() {
                "nobody".to_string()
            } else {
                writes.join(", ")
            },
        );
    }
    for w in &model.workloads {
        for b in &w.bursts {
            let _ = writeln!(
                s,
                "  burst of {}: {} users at {}{}",
                w.name,
                b.count,
                b.at.since_start(),
                if b.spread.is_zero() {
                    ", all at once".to_string()
                } else {
                    format!(", spread over {}", b.spread)
                }
            );
        }
    }
    let fleet_edges: Vec<String> = model
        .clients
        .iter()
        .filter(|c| {
            model.services[c.callee as usize].instances > 1
                || c.health_check.is_some()
                || c.outlier.is_some()
        })
        .map(|c| {
            let mut parts = vec![c.balancer.name().to_string()];
            if let Some(h) = &c.health_check {
                parts.push(format!(
                    "health checks on {} every {}",
                    model.endpoints[h.endpoint as usize].name, h.config.interval
                ));
            }
            if c.outlier.is_some() {
                parts.push("outlier detection".into());
            }
            parts.push(format!("panic below {} %", c.panic_threshold));
            format!("  {}: {}", c.name, parts.join(", "))
        })
        .collect();
    if !fleet_edges.is_empty() {
        let _ = writeln!(s, "balancers (one per client edge):");
        for line in fleet_edges {
            let _ = writeln!(s, "{line}");
        }
    }
    let suggested = suggestions(model);
    if !suggested.is_empty() {
        let _ = writeln!(
            s,
            "starting points (Little's law: calls in flight = peak calls/s × callee p99, no queueing; timeout = 2 × callee p99):"
        );
        for g in &suggested {
            let now = model
                .clients
                .iter()
                .find(|c| c.name == g.edge)
                .and_then(|c| c.timeout)
                .map_or("none".to_string(), |t| t.to_string());
            let _ = writeln!(
                s,
                "  {:<24} {:>8.1} calls/s × p99 {:>8}: bulkhead ≥ {} calls, timeout {} (now {now})",
                g.edge,
                g.rate,
                g.p99.short(),
                g.concurrency,
                g.timeout.short()
            );
        }
    }
    let warnings = lint(model);
    if warnings.is_empty() {
        let _ = writeln!(s, "lint: no pattern traps found");
    } else {
        let _ = writeln!(s, "lint: {}", plural(warnings.len(), "pattern trap"));
        for w in warnings {
            let _ = writeln!(s, "  {w}");
        }
    }
    s
}
