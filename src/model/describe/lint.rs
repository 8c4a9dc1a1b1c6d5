//! The resilience lint: the pattern traps of the literature, found statically in a
//! validated model, each reported with the key path to change and the change to make.
//!
//! The traps, and why each matters (every one is a story in `models/`):
//! - a synchronous call with **no timeout** holds the caller's worker for as long as the
//!   callee takes; users give up, the call does not (Black Friday);
//! - an **unbounded queue in front of workers held across calls**: when a dependency
//!   slows, requests pile up and are served long after their users left, so the backlog
//!   outlives the fault (Black Friday, timeout hierarchy);
//! - an **optional call without a short timeout**: a dead dependency fails fast and the
//!   page degrades, a slow one holds every worker (slow vs dead);
//! - **one worker or connection pool shared** by several dependencies with no bulkhead:
//!   the slowest takes every thread, and paths that never call it stop too (Titanic);
//! - **retries without back-off** hit a struggling service with multiples of its load at
//!   once (retry storms, thundering herd);
//! - **retry amplification**: retries at several layers multiply; a budget on one client
//!   only tames that layer (retry amplification);
//! - **peak load above capacity** (ρ ≥ 1): the queue grows at the peak without a fault.
//!
//! And the classic misconfigurations: an inner timeout longer than the outer one, a
//! breaker inside the retry, a bulkhead larger than its pool, bulkheads summing past the
//! workers. Nothing here runs the model; estimates use [`super::loads`].

use crate::model::graph::{Client, Model, Step};
use crate::model::spec::Layer;
use crate::policy::budget::RetryBudgetConfig;
use crate::time::SimDuration;

use super::{connection_holds, hold_secs, loads};

/// Where a call is written: `services.frontend.endpoints.product.steps[1].parallel[1]`.
struct CallSite {
    endpoint: usize,
    path: String,
    client: usize,
    target: usize,
    critical: bool,
}

fn call_sites(model: &Model) -> Vec<CallSite> {
    let mut out = Vec::new();
    for (e, ep) in model.endpoints.iter().enumerate() {
        for (k, step) in ep.steps.iter().enumerate() {
            if let Step::Calls(calls) = step {
                for (j, c) in calls.iter().enumerate() {
                    let base = ep.keys[k].clone();
                    out.push(CallSite {
                        endpoint: e,
                        path: if calls.len() == 1 {
                            base
                        } else {
                            format!("{base}.parallel[{j}]")
                        },
                        client: c.client as usize,
                        target: c.target as usize,
                        critical: c.critical,
                    });
                }
            }
        }
    }
    out
}

/// The workloads whose requests reach each endpoint.
fn reaching(model: &Model) -> Vec<Vec<usize>> {
    fn visit(model: &Model, e: usize, w: usize, out: &mut [Vec<usize>]) {
        if out[e].contains(&w) {
            return;
        }
        out[e].push(w);
        for s in &model.endpoints[e].steps {
            if let Step::Calls(calls) = s {
                for c in calls {
                    visit(model, c.target as usize, w, out);
                }
            }
        }
    }
    let mut out = vec![Vec::new(); model.endpoints.len()];
    for (w, wl) in model.workloads.iter().enumerate() {
        visit(model, wl.target as usize, w, &mut out);
    }
    out
}

fn client_key(model: &Model, c: &Client) -> String {
    format!(
        "services.{}.clients.{}",
        model.services[c.caller as usize].name, model.services[c.callee as usize].name
    )
}

/// A duration rounded to something a person would write.
fn nice(secs: f64) -> SimDuration {
    let ms = (secs * 1e3).max(1.0);
    let step = if ms < 100.0 {
        10.0
    } else if ms < 1000.0 {
        50.0
    } else {
        500.0
    };
    SimDuration::from_millis(((ms / step).round().max(1.0) * step) as u64)
}

fn has_timeout(model: &Model, c: &Client) -> bool {
    c.timeout.is_some()
        || c.adaptive_timeout.is_some()
        || c.total_timeout.is_some()
        || model.deadline_propagation
}

/// The attempts one call through `c` can make at most in a sustained failure (or, for a
/// hedging edge, a sustained slowdown): its retry's or hedge's attempts, or what its
/// budget lets through.
fn attempts(c: &Client) -> f64 {
    let retry = c.retry.as_ref().map(|r| r.max_attempts());
    let max = retry
        .or(c.hedge.as_ref().map(|h| h.max_attempts()))
        .unwrap_or(1) as f64;
    let budgeted = match &c.budget {
        None => max,
        Some(RetryBudgetConfig::Finagle(b)) => 1.0 + b.percent_can_retry,
        Some(RetryBudgetConfig::Grpc(b)) => 1.0 + b.token_ratio,
        Some(RetryBudgetConfig::Aws(b)) => 1.0 + b.no_retry_increment as f64 / b.retry_cost as f64,
    };
    budgeted.min(max)
}

/// Static warnings: the resilience pattern traps, each `key path: problem; fix`.
pub fn lint(model: &Model) -> Vec<String> {
    let mut out = Vec::new();
    let sites = call_sites(model);
    let reach = reaching(model);
    let svc = |s: u32| &model.services[s as usize].name;
    let patience = |e: usize| reach[e].iter().map(|&w| model.workloads[w].patience).min();
    let slo = |e: usize| reach[e].iter().map(|&w| model.workloads[w].slo).min();

    // Optional calls without a short timeout (slow vs dead), then every other
    // synchronous call without a timeout.
    let mut flagged = vec![false; model.clients.len()];
    for site in sites.iter().filter(|s| !s.critical) {
        let c = &model.clients[site.client];
        let Some(slo) = slo(site.endpoint) else {
            continue;
        };
        let too_long = match c.timeout.or(c.total_timeout) {
            None => !has_timeout(model, c),
            Some(t) => t > slo,
        };
        if too_long && !flagged[site.client] {
            flagged[site.client] = true;
            let what = match c.timeout.or(c.total_timeout) {
                Some(t) => format!("a {t} timeout, longer than the {slo} SLO"),
                None => "no timeout".to_string(),
            };
            out.push(format!(
                "{}: the optional call to {} has {what}: a dead {} fails fast and the answer degrades, but a slow one holds {}'s workers as long as it hangs; set {}.timeout = \"{}\" (well under the SLO)",
                site.path,
                model.endpoints[site.target].name,
                svc(c.callee),
                svc(c.caller),
                client_key(model, c),
                nice(slo.as_secs_f64() / 4.0)
            ));
        }
    }
    for (i, c) in model.clients.iter().enumerate() {
        if flagged[i] || has_timeout(model, c) {
            continue;
        }
        let site = sites.iter().find(|s| s.client == i);
        let hold = site.map_or(0.0, |s| hold_secs(model, s.target));
        let limit = site.and_then(|s| patience(s.endpoint));
        let suggest = nice(
            (4.0 * hold)
                .max(0.05)
                .min(limit.map_or(f64::INFINITY, |p| p.as_secs_f64() / 2.0)),
        );
        out.push(format!(
            "{}: a synchronous call with no timeout: while {} is slow or hangs, every call holds one of {}'s {} workers for as long as it takes{}; set timeout = \"{suggest}\" (a few times its normal latency, below the callers' patience)",
            client_key(model, c),
            svc(c.callee),
            svc(c.caller),
            model.services[c.caller as usize].workers,
            limit.map_or(String::new(), |p| format!(" (users give up after {p}, the call does not)"))
        ));
    }

    // Timeouts longer than the users' patience on their path.
    for (i, c) in model.clients.iter().enumerate() {
        let (Some(t), false) = (c.timeout, flagged[i]) else {
            continue;
        };
        let p = sites
            .iter()
            .filter(|s| s.client == i)
            .filter_map(|s| patience(s.endpoint))
            .min();
        if let Some(p) = p
            && t > p
        {
            out.push(format!(
                "{}.timeout ({t}) is longer than the patience of the users whose requests make the call ({p}): the call outlives its user and holds a worker for nothing; set it below {p}",
                client_key(model, c)
            ));
        }
    }

    // Unbounded queues in front of workers held across calls.
    for (s, service) in model.services.iter().enumerate() {
        if service.queue_capacity.is_some()
            || service.queue_timeout.is_some()
            || service.concurrency_limit.is_some()
        {
            continue;
        }
        let callees: Vec<&str> = model
            .clients
            .iter()
            .filter(|c| c.caller == s as u32)
            .map(|c| svc(c.callee).as_str())
            .collect();
        if callees.is_empty() {
            continue;
        }
        let p = service
            .endpoints
            .iter()
            .filter_map(|&e| patience(e as usize))
            .min()
            .unwrap_or(SimDuration::from_secs(10));
        out.push(format!(
            "services.{}.queue: unbounded (no capacity, no timeout) in front of {} workers that are held across calls to {}: when those slow down, requests pile up here without limit and are served after their users left, so the backlog outlives the fault; set queue = {{ capacity = {}, timeout = \"{p}\" }}",
            service.name,
            service.workers,
            callees.join(", "),
            service.workers
        ));
    }

    // One worker pool shared by several dependencies, some without a bulkhead.
    for (s, service) in model.services.iter().enumerate() {
        let edges: Vec<(usize, &Client)> = model
            .clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.caller == s as u32)
            .collect();
        let open: Vec<String> = edges
            .iter()
            .filter(|(_, c)| c.bulkhead.is_none() && c.pool.is_none())
            .map(|(i, c)| {
                let optional = sites.iter().any(|x| x.client == *i && !x.critical);
                format!(
                    "{}{}",
                    svc(c.callee),
                    if optional { " (optional)" } else { "" }
                )
            })
            .collect();
        if edges.len() < 2 || open.is_empty() {
            continue;
        }
        let names: Vec<&str> = edges.iter().map(|(_, c)| svc(c.callee).as_str()).collect();
        out.push(format!(
            "services.{}: its {} workers are shared by calls to {} with no bulkhead on {}: when one dependency is slow its calls take every worker, and requests that never call it stop too; set services.{}.clients.<callee>.bulkhead = {{ max_concurrent = N }} for each, together below {}",
            service.name,
            service.workers,
            names.join(", "),
            open.join(", "),
            service.name,
            service.workers
        ));
    }
    // A connection pool shared by clients of different dependencies.
    for (p, pool) in model.pools.iter().enumerate() {
        let users: Vec<&Client> = model
            .clients
            .iter()
            .filter(|c| c.pool == Some(p as u32))
            .collect();
        let callees: Vec<&str> = users.iter().map(|c| svc(c.callee).as_str()).collect();
        if users.len() >= 2 && callees.iter().any(|c| *c != callees[0]) {
            out.push(format!(
                "pools.{}: {} connections shared by calls to {}: a slow one holds every connection and the others wait for one; give each its own pool, or a bulkhead below the pool size",
                pool.name,
                pool.config.max_concurrent,
                callees.join(", ")
            ));
        }
    }

    // A connection held across a call, in a pool others need.
    for (e, ep) in model.endpoints.iter().enumerate() {
        for (pool, _, from, to) in connection_holds(model, e) {
            let across: Vec<&str> = ep.steps[from + 1..to]
                .iter()
                .filter_map(|s| match s {
                    Step::Calls(calls) => Some(calls),
                    _ => None,
                })
                .flatten()
                .map(|c| model.endpoints[c.target as usize].name.as_str())
                .collect();
            let mut others: Vec<&str> = (0..model.endpoints.len())
                .filter(|&o| o != e && connection_holds(model, o).iter().any(|h| h.0 == pool))
                .map(|o| model.endpoints[o].name.as_str())
                .chain(
                    model
                        .clients
                        .iter()
                        .filter(|c| c.pool == Some(pool))
                        .map(|c| c.name.as_str()),
                )
                .collect();
            others.dedup();
            if let (Some(first), false) = (across.first(), others.is_empty()) {
                out.push(format!(
                    "{}: holds a {} connection across the call to {first}: when it slows down, every connection waits on it and none is left for {}; release the connection before the call, or give this path its own pool",
                    ep.keys[from],
                    model.pools[pool as usize].name,
                    others.join(", ")
                ));
            }
        }
    }

    // Retries without back-off.
    for c in &model.clients {
        if let Some(r) = &c.retry
            && r.max_attempts() > 1
            && r.backoff().max_delay().is_zero()
        {
            out.push(format!(
                "{}.retry.backoff: retries without back-off: each failure is retried at once, so a struggling {} gets up to {}× its load exactly when it can least take it; set backoff = {{ full_jitter = {{ base = \"100ms\", cap = \"5s\" }} }}",
                client_key(model, c),
                svc(c.callee),
                r.max_attempts()
            ));
        }
    }
    for c in &model.clients {
        if let Some(h) = &c.hedge
            && h.delay().is_zero()
        {
            out.push(format!(
                "{}.hedge.delay: 0 sends all {} attempts of every call at once: {}× the load on {} all the time; hedge after the callee's p95 latency instead (a few percent more load)",
                client_key(model, c),
                h.max_attempts(),
                h.max_attempts(),
                svc(c.callee)
            ));
        }
    }
    for (i, w) in model.workloads.iter().enumerate() {
        if let Some(r) = &w.retry
            && r.max_attempts() > 1
            && r.backoff().max_delay().is_zero()
        {
            out.push(format!(
                "workloads[{i}].retry.backoff: {:?} users retry at once: every failure comes straight back, {}× the load at the worst moment; give the retries a back-off with jitter",
                w.name,
                r.max_attempts()
            ));
        }
    }

    // The classic misconfigurations.
    for c in &model.clients {
        if let Some(inner) = c.timeout {
            for outer in model.clients.iter().filter(|o| o.callee == c.caller) {
                if let Some(t) = outer.timeout
                    && inner > t
                {
                    out.push(format!(
                        "{}.timeout ({inner}) is longer than {}'s timeout on it ({t}): {} keeps waiting (and holding a thread) after its caller gave up; make the inner timeout shorter",
                        client_key(model, c),
                        svc(outer.caller),
                        svc(c.caller)
                    ));
                }
            }
        }
        let pos = |l| c.layers.iter().position(|x| *x == l);
        if c.breaker.is_some() && c.retry.is_some() && pos(Layer::Retry) < pos(Layer::Breaker) {
            out.push(format!(
                "{}: the breaker sits inside the retry, so it counts every attempt and opens {}× sooner; put it outside (order = [\"breaker\", \"retry\", …])",
                client_key(model, c),
                c.retry.as_ref().map_or(1, |r| r.max_attempts())
            ));
        }
        if let (Some(p), Some(b)) = (c.pool, &c.bulkhead) {
            let pool = &model.pools[p as usize];
            if pool.config.max_concurrent < b.max_concurrent() {
                out.push(format!(
                    "{}: bulkhead ({}) is larger than its connection pool {:?} ({}): the pool, not the bulkhead, is the real limit",
                    client_key(model, c),
                    b.max_concurrent(),
                    pool.name,
                    pool.config.max_concurrent
                ));
            }
        }
    }
    for (s, service) in model.services.iter().enumerate() {
        let sum: u32 = model
            .clients
            .iter()
            .filter(|c| c.caller == s as u32)
            .filter_map(|c| c.bulkhead.map(|b| b.max_concurrent()))
            .sum();
        if sum > service.workers {
            out.push(format!(
                "services.{}: its bulkheads allow {sum} concurrent calls but it has {} workers: one slow dependency can still take every thread; make them sum below {}",
                service.name, service.workers, service.workers
            ));
        }
    }

    // Retry amplification across layers (a budget caps its own layer only).
    fn worst(model: &Model, e: usize) -> (f64, Vec<String>) {
        let mut best = (1.0, vec![model.endpoints[e].name.clone()]);
        for s in &model.endpoints[e].steps {
            if let Step::Calls(calls) = s {
                for c in calls {
                    let (below, mut path) = worst(model, c.target as usize);
                    let factor = attempts(&model.clients[c.client as usize]) * below;
                    if factor > best.0 {
                        path.insert(0, model.endpoints[e].name.clone());
                        best = (factor, path);
                    }
                }
            }
        }
        best
    }
    for w in &model.workloads {
        let (factor, path) = worst(model, w.target as usize);
        let users = w.retry.as_ref().map_or(1, |r| r.max_attempts()) as f64;
        if factor >= 9.0 {
            out.push(format!(
                "retry amplification: up to {factor:.0} attempts per user request along {}{}: retry at one layer (the one nearest the failure), and give the others a retry budget",
                path.join(" → "),
                if users > 1.0 {
                    format!(" (×{users:.0} more with the users' own retries)")
                } else {
                    String::new()
                }
            ));
        }
    }

    // Peak load above capacity.
    for (s, l) in loads(model).iter().enumerate() {
        if l.rho >= 1.0 {
            let service = &model.services[s];
            out.push(format!(
                "services.{}: peak load {:.0} req/s is above its capacity of {:.0} req/s (ρ = {}): its queue grows without bound at the peak, fault or not; add workers, or shed or rate-limit at its door",
                service.name,
                l.rate,
                l.capacity_max,
                super::fmt_rho(l.rho)
            ));
        }
    }
    out.extend(super::fleet_lint::lint(model));
    out.extend(super::occ_lint::lint(model));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::load::{model_from_table, parse_table};
    use std::path::Path;

    fn model(text: &str) -> Model {
        let p = Path::new("m.toml");
        model_from_table(p, parse_table(p, text).unwrap())
            .unwrap_or_else(|e| panic!("{e}"))
            .1
    }

    fn bundled(name: &str) -> Model {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        crate::model::load_model(&root.join("models").join(name)).unwrap()
    }

    fn has(lints: &[String], start: &str, needle: &str) -> bool {
        lints
            .iter()
            .any(|l| l.starts_with(start) && l.contains(needle))
    }

    /// Two tiers, `edge` spliced into the client of a → b, `queue` into a's service.
    fn two_tier(edge: &str, queue: &str) -> Model {
        model(&format!(
            r#"
[[workloads]]
name = "users"
target = "a.x"
arrivals = {{ poisson = {{ rate = 10.0 }} }}
patience = "5s"
slo = "1s"

[services.a]
workers = 10
{queue}
[services.a.endpoints.x]
steps = [{{ call = "b.y" }}]
[services.a.clients.b]
{edge}

[services.b]
workers = 10
[services.b.endpoints.y]
steps = [{{ work = {{ constant = "10ms" }} }}]
"#
        ))
    }

    const BOUNDED: &str = "queue = { capacity = 10, timeout = \"1s\" }";

    #[test]
    fn a_protected_call_raises_nothing() {
        assert_eq!(
            lint(&two_tier("timeout = \"100ms\"", BOUNDED)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn black_friday_as_written_has_calls_without_timeouts_and_unbounded_queues() {
        let l = lint(&bundled("black_friday.toml"));
        assert!(
            has(&l, "services.payment.clients.processor:", "no timeout"),
            "{l:#?}"
        );
        assert!(has(&l, "services.gateway.queue:", "unbounded"), "{l:#?}");
        assert!(has(
            &l,
            "services.order.clients.payment.retry.backoff:",
            "without back-off"
        ));
    }

    #[test]
    fn slow_vs_dead_flags_the_optional_call_with_its_step_and_the_fix() {
        let l = lint(&bundled("slow_vs_dead.toml"));
        assert!(
            has(
                &l,
                "services.frontend.endpoints.product.steps[1].parallel[1]:",
                "services.frontend.clients.recommendations.timeout"
            ),
            "{l:#?}"
        );
    }

    #[test]
    fn the_titanic_shared_pool_is_flagged_and_bulkheads_clear_it() {
        let mut m = bundled("titanic_bulkheads.toml");
        let l = lint(&m);
        assert!(
            has(&l, "services.payment:", "no bulkhead on fraud, db, tax"),
            "{l:#?}"
        );
        for c in &mut m.clients {
            c.bulkhead = Some(
                crate::policy::bulkhead::BulkheadConfig {
                    max_concurrent: 30,
                    ..Default::default()
                }
                .into(),
            );
        }
        assert!(!has(&lint(&m), "services.payment:", "shared"));
    }

    #[test]
    fn a_budget_on_one_layer_does_not_hide_the_amplification_of_the_others() {
        let l = lint(&bundled("retry_amplification.toml"));
        assert!(has(&l, "retry amplification", "27 attempts"), "{l:#?}");
        let mut m = bundled("retry_amplification.toml");
        m.clients[0].budget = Some(RetryBudgetConfig::Finagle(Default::default()));
        assert!(
            has(&lint(&m), "retry amplification", "attempts"),
            "still 3 × 3 below"
        );
        for c in &mut m.clients {
            c.budget = Some(RetryBudgetConfig::Finagle(Default::default()));
        }
        assert!(
            !has(&lint(&m), "retry amplification", ""),
            "budgets everywhere"
        );
    }

    #[test]
    fn peak_load_above_capacity_is_a_trap() {
        let mut m = two_tier("timeout = \"100ms\"", BOUNDED);
        if let crate::model::graph::Arrivals::Poisson(points) = &mut m.workloads[0].arrivals {
            points[0].1 = 5000.0;
        }
        let l = lint(&m);
        assert!(has(&l, "services.b:", "ρ = "), "{l:#?}");
    }

    #[test]
    fn immediate_retries_and_long_timeouts_are_flagged() {
        let l = lint(&two_tier(
            "timeout = \"9s\"\nretry = { max_attempts = 3, backoff = \"immediate\" }",
            BOUNDED,
        ));
        assert!(
            has(&l, "services.a.clients.b.retry.backoff:", "back-off"),
            "{l:#?}"
        );
        assert!(
            has(&l, "services.a.clients.b.timeout (9s)", "patience"),
            "{l:#?}"
        );
    }

    #[test]
    fn hedging_at_once_is_flagged_and_after_a_delay_is_not() {
        let l = lint(&two_tier("hedge = { max_attempts = 3 }", BOUNDED));
        assert!(
            has(&l, "services.a.clients.b.hedge.delay:", "3× the load"),
            "{l:#?}"
        );
        let l = lint(&two_tier(
            "hedge = { delay = \"50ms\", max_attempts = 3 }",
            BOUNDED,
        ));
        assert!(!has(&l, "services.a.clients.b.hedge", ""), "{l:#?}");
    }
}
