//! `cascade check`: a validated model described for a person — the service graph, a
//! capacity estimate per service by Little's law, and a resilience lint for the known
//! pattern traps (found statically, before anything runs).
//!
//! Capacity: a request holds a worker for its local work plus the response time of its
//! synchronous calls (parallel calls: the slowest), estimated without queueing. By
//! Little's law a pool of `workers` threads then serves at most `workers ÷ hold`
//! requests per second; the peak offered load divides by that to give utilisation ρ.

use std::fmt::Write;
use std::path::Path;

use crate::model::graph::{Arrivals, Model, Step};
use crate::model::spec::Layer;

/// Mean time a request of endpoint `e` holds a worker, in seconds (no queueing).
fn hold_secs(model: &Model, e: usize) -> f64 {
    model.endpoints[e]
        .steps
        .iter()
        .map(|s| match s {
            Step::Work { dist, .. } => dist.mean_secs(),
            Step::Calls(calls) => calls
                .iter()
                .map(|c| hold_secs(model, c.target as usize))
                .fold(0.0, f64::max),
        })
        .sum()
}

/// Extra hold time per request in progress at the endpoint's own service (the sum of its
/// work steps' `per_inflight`), seconds.
fn per_inflight_secs(model: &Model, e: usize) -> f64 {
    model.endpoints[e]
        .steps
        .iter()
        .map(|s| match s {
            Step::Work { per_inflight, .. } => per_inflight.as_secs_f64(),
            Step::Calls(_) => 0.0,
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
        };
        visit(model, w.target as usize, rate, &mut out);
    }
    out
}

/// Static warnings: the resilience "pattern traps" of the literature.
pub fn lint(model: &Model) -> Vec<String> {
    let mut out = Vec::new();
    let timeout_of = |caller: u32, callee: u32| {
        model
            .clients
            .iter()
            .find(|c| c.caller == caller && c.callee == callee)
            .and_then(|c| c.timeout)
    };
    for c in &model.clients {
        let name = |s: u32| &model.services[s as usize].name;
        // Inner timeout longer than the outer one.
        if let Some(inner) = c.timeout {
            for outer in model.clients.iter().filter(|o| o.callee == c.caller) {
                if let Some(t) = timeout_of(outer.caller, outer.callee)
                    && inner > t
                {
                    out.push(format!(
                        "services.{}.clients.{}.timeout ({inner}) is longer than {}'s timeout on it ({t}): {} keeps waiting (and holding a thread) after its caller gave up",
                        name(c.caller),
                        name(c.callee),
                        name(outer.caller),
                        name(c.caller)
                    ));
                }
            }
        }
        // Breaker inside the retry: it counts every attempt.
        let pos = |l| c.layers.iter().position(|x| *x == l);
        if c.breaker.is_some() && c.retry.is_some() && pos(Layer::Retry) < pos(Layer::Breaker) {
            out.push(format!(
                "services.{}.clients.{}: the breaker sits inside the retry, so it counts every attempt and opens {}× sooner",
                name(c.caller),
                name(c.callee),
                c.retry.as_ref().map_or(1, |r| r.max_attempts())
            ));
        }
        // Pool smaller than the bulkhead.
        if let (Some(p), Some(b)) = (c.pool, &c.bulkhead) {
            let pool = &model.pools[p as usize];
            if pool.config.max_concurrent < b.max_concurrent {
                out.push(format!(
                    "services.{}.clients.{}: bulkhead ({}) is larger than its connection pool {:?} ({}): the pool, not the bulkhead, is the real limit",
                    name(c.caller),
                    name(c.callee),
                    b.max_concurrent,
                    pool.name,
                    pool.config.max_concurrent
                ));
            }
        }
    }
    // Bulkheads summing past the worker pool.
    for (s, svc) in model.services.iter().enumerate() {
        let sum: u32 = model
            .clients
            .iter()
            .filter(|c| c.caller == s as u32)
            .filter_map(|c| c.bulkhead.map(|b| b.max_concurrent))
            .sum();
        if sum > svc.workers {
            out.push(format!(
                "services.{}: its bulkheads allow {sum} concurrent calls but it has {} workers: one slow dependency can still take every thread",
                svc.name, svc.workers
            ));
        }
    }
    // Retry amplification across layers.
    fn worst(model: &Model, e: usize) -> (u64, Vec<String>) {
        let mut best = (1, vec![model.endpoints[e].name.clone()]);
        for s in &model.endpoints[e].steps {
            if let Step::Calls(calls) = s {
                for c in calls {
                    let attempts = model.clients[c.client as usize]
                        .retry
                        .as_ref()
                        .map_or(1, |r| r.max_attempts() as u64);
                    let (below, mut path) = worst(model, c.target as usize);
                    if attempts * below > best.0 {
                        path.insert(0, model.endpoints[e].name.clone());
                        best = (attempts * below, path);
                    }
                }
            }
        }
        best
    }
    for w in &model.workloads {
        let (factor, path) = worst(model, w.target as usize);
        let budgeted = model.clients.iter().any(|c| c.budget.is_some());
        if factor >= 9 && !budgeted {
            out.push(format!(
                "retry amplification: up to {factor} attempts per user request along {} (retry at one layer, or add a retry budget)",
                path.join(" → ")
            ));
        }
    }
    out
}

/// The text `cascade check` prints for a model.
pub fn describe(file: &Path, model: &Model) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "model {}: {} services, {} endpoints, {} workloads, {} faults{}",
        file.display(),
        model.services.len(),
        model.endpoints.len(),
        model.workloads.len(),
        model.faults.len(),
        if model.deadline_propagation {
            ", deadline propagation on"
        } else {
            ""
        }
    );
    if let Some(d) = &model.description {
        let _ = writeln!(s, "  {d}");
    }
    let rates = endpoint_rates(model);
    let _ = writeln!(s, "services (capacity by Little's law, no queueing):");
    for svc in &model.services {
        // Little's law with a load-dependent hold time h(N) = h0 + k·N: at arrival rate λ
        // the service holds N = λ·h0 / (1 − λ·k) requests; with every worker busy it
        // serves at most W / (h0 + k·W) per second.
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
        let capacity = if h0 + k * w > 0.0 {
            w / (h0 + k * w)
        } else {
            f64::INFINITY
        };
        let in_flight = if rate * k < 1.0 {
            base_load / (1.0 - rate * k)
        } else {
            f64::INFINITY
        };
        let rho = in_flight / w;
        let _ = writeln!(
            s,
            "  {:<16} {:>6} workers  peak {:>8.1} req/s  capacity {:>10.1} req/s  ρ = {}{}",
            svc.name,
            svc.workers,
            rate,
            capacity,
            if rho.is_finite() {
                format!("{rho:.2}")
            } else {
                "overloaded".to_string()
            },
            if k > 0.0 {
                format!("  (+{:.1} ms per request in progress)", k * 1e3)
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
            let _ = writeln!(
                s,
                "    {:<28} holds a worker ~{:.1} ms{}",
                ep.name,
                hold_secs(model, e as usize) * 1e3,
                if calls.is_empty() {
                    String::new()
                } else {
                    format!(", calls {}", calls.join(", "))
                }
            );
        }
    }
    let warnings = lint(model);
    if warnings.is_empty() {
        let _ = writeln!(s, "lint: no pattern traps found");
    } else {
        for w in warnings {
            let _ = writeln!(s, "lint: {w}");
        }
    }
    s
}
