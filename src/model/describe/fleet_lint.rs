//! The fleet traps, found statically: probes and balancers configured so that overload or
//! a dependency's slowness removes or restarts healthy capacity.
//!
//! - a **liveness probe on an endpoint that calls another service** restarts the whole
//!   fleet when that service is slow (the restart storm);
//! - a **liveness timeout at least its period**: a slow instance fails every probe back
//!   to back, and the kubelet skips ticks behind it;
//! - a **health check or readiness probe on an endpoint that calls another service** (a
//!   deep check) takes every instance out at once when that service is slow;
//! - **active health checks through a pool that can saturate, with no panic threshold**:
//!   saturated instances fail their checks, are ejected, and their traffic saturates the
//!   rest (the load-balancer death spiral);
//! - **outlier detection that can eject everything** (`max_ejection_percent = 100`), or
//!   nothing at all (a cap below one instance in small fleets).

use crate::model::graph::{EndpointId, Model, Step};

/// Whether endpoint `e` calls another service (so its answer depends on that one).
fn calls_out(model: &Model, e: EndpointId) -> Option<String> {
    model.endpoints[e as usize]
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Calls(calls) => calls
                .first()
                .map(|c| model.endpoints[c.target as usize].name.clone()),
            _ => None,
        })
}

/// Whether any endpoint of service `s` holds a worker across a call (so the pool can
/// saturate when a dependency slows).
fn holds_across_calls(model: &Model, s: u32) -> bool {
    model.services[s as usize]
        .endpoints
        .iter()
        .any(|&e| calls_out(model, e).is_some())
}

/// The fleet traps, each `key path: problem; fix`.
pub fn lint(model: &Model) -> Vec<String> {
    let mut out = Vec::new();
    for svc in &model.services {
        let path = format!("services.{}", svc.name);
        if let Some(l) = &svc.liveness {
            let ep = &model.endpoints[l.probe.endpoint as usize].name;
            if let Some(dep) = calls_out(model, l.probe.endpoint) {
                out.push(format!(
                    "{path}.liveness.endpoint: {ep} calls {dep}: when that is slow every liveness probe fails and the kubelet restarts every instance, which is the one thing that cannot help; probe an endpoint that answers from the process alone"
                ));
            }
            if l.probe.timing.timeout >= l.probe.timing.period {
                out.push(format!(
                    "{path}.liveness.timeout: {} is not shorter than the {} period: a slow instance fails every probe back to back and ticks are skipped behind it; keep timeout well under period",
                    l.probe.timing.timeout, l.probe.timing.period
                ));
            }
        }
        if let Some(r) = &svc.readiness
            && let Some(dep) = calls_out(model, r.endpoint)
        {
            out.push(format!(
                "{path}.readiness.endpoint: {} calls {dep}: when that is slow every instance is taken out of the endpoints at once and the whole service stops answering; probe what this process needs to serve, not its dependencies",
                model.endpoints[r.endpoint as usize].name
            ));
        }
    }
    for c in &model.clients {
        let key = format!(
            "services.{}.clients.{}",
            model.services[c.caller as usize].name, model.services[c.callee as usize].name
        );
        let callee = &model.services[c.callee as usize];
        if let Some(h) = &c.health_check {
            let ep = &model.endpoints[h.endpoint as usize].name;
            if let Some(dep) = calls_out(model, h.endpoint) {
                out.push(format!(
                    "{key}.health_check.endpoint: {ep} calls {dep}: a slow {dep} fails every instance's checks at once and the balancer has nothing left; check an endpoint that answers from the process alone, or keep a panic threshold"
                ));
            } else if c.panic_threshold == 0.0 && holds_across_calls(model, c.callee) {
                out.push(format!(
                    "{key}.panic_threshold: 0 with health checks served by {}'s workers, which are held across calls: when a dependency slows, saturated instances fail their checks, are ejected, and their traffic saturates the rest (a death spiral); set panic_threshold = 50.0 (Envoy's default) and time out the calls",
                    callee.name
                ));
            }
        }
        if let Some(o) = &c.outlier {
            let n = callee.instances;
            if o.max_ejection_percent >= 100 {
                out.push(format!(
                    "{key}.outlier_detection.max_ejection_percent: 100 lets every instance be ejected: an overloaded dependency or a bad deploy ejects the whole fleet; keep it at 10–50"
                ));
            } else if n > 1 && !o.always_eject_one_host && 100 > o.max_ejection_percent * n {
                out.push(format!(
                    "{key}.outlier_detection.max_ejection_percent: {} % of {n} instances is less than one, so nothing is ever ejected (Envoy ejects while 100 × (ejected + 1) ÷ hosts ≤ the percentage); raise it to {} or set always_eject_one_host = true",
                    o.max_ejection_percent,
                    100_u32.div_ceil(n)
                ));
            }
        }
    }
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

    #[test]
    fn the_bundled_fleet_stories_raise_their_traps() {
        let storm = lint(&bundled("liveness_restart_storm.toml"));
        assert!(
            has(&storm, "services.api.liveness.endpoint", "calls db.ping"),
            "{storm:?}"
        );
        let spiral = lint(&bundled("lb_death_spiral.toml"));
        assert!(
            has(
                &spiral,
                "services.lb.clients.web.panic_threshold",
                "death spiral"
            ),
            "{spiral:?}"
        );
        let gray = lint(&bundled("gray_failure.toml"));
        assert!(gray.is_empty(), "{gray:?}");
    }

    fn fleet(client: &str, service: &str) -> Model {
        model(&format!(
            r#"
[[workloads]]
name = "users"
target = "lb.x"
arrivals = {{ poisson = {{ rate = 10.0 }} }}
patience = "5s"
slo = "1s"

[services.lb]
workers = 100
[services.lb.endpoints.x]
steps = [{{ call = "web.x" }}]
[services.lb.clients.web]
timeout = "1s"
{client}

[services.web]
workers = 10
instances = 4
{service}
[services.web.endpoints.x]
steps = [{{ work = {{ constant = "10ms" }} }}]
[services.web.endpoints.health]
steps = [{{ work = {{ constant = "1ms" }} }}]
"#
        ))
    }

    #[test]
    fn liveness_timeout_not_under_its_period() {
        let l = lint(&fleet(
            "",
            "liveness = { endpoint = \"health\", period = \"5s\", timeout = \"5s\" }",
        ));
        assert!(
            has(&l, "services.web.liveness.timeout", "not shorter"),
            "{l:?}"
        );
        assert!(lint(&fleet("", "liveness = { endpoint = \"health\" }")).is_empty());
    }

    #[test]
    fn outlier_caps_that_eject_everything_or_nothing() {
        let all = lint(&fleet(
            "outlier_detection = { max_ejection_percent = 100 }",
            "",
        ));
        assert!(
            has(
                &all,
                "services.lb.clients.web.outlier_detection.max_ejection_percent",
                "every instance"
            ),
            "{all:?}"
        );
        let none = lint(&fleet("outlier_detection = {}", ""));
        assert!(
            has(
                &none,
                "services.lb.clients.web.outlier_detection.max_ejection_percent",
                "nothing is ever ejected"
            ),
            "{none:?}"
        );
        assert!(
            lint(&fleet(
                "outlier_detection = { max_ejection_percent = 25 }",
                ""
            ))
            .is_empty()
        );
    }
}
