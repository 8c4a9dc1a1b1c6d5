//! Envoy: clusters (a single cluster, `clusters: [...]`, or a bootstrap's
//! `static_resources.clusters`) and route retry policies (`virtual_hosts[].routes[]`, at
//! the top or under `route_config`), one client stack per cluster.
//!
//! | Envoy (default) | cascade |
//! |---|---|
//! | `circuit_breakers.thresholds[]` (DEFAULT priority) `max_connections` (1024), `max_requests` (1024) | `bulkhead.thread_pool.core_threads = max_threads` = the smaller |
//! | `max_pending_requests` (1024) | `bulkhead.thread_pool.queue_capacity` (overflow: 503 at once) |
//! | `outlier_detection.*` | `outlier_detection.*`, the same names and defaults (`consecutive_5xx`, `interval`, `base_ejection_time`, `max_ejection_percent`, `enforcing_*`, `success_rate_*`, `failure_percentage_*`, `max_ejection_time`, `max_ejection_time_jitter`, `always_eject_one_host`, `consecutive_gateway_failure`, `successful_active_health_check_uneject_host`) |
//! | `lb_policy` ROUND_ROBIN / LEAST_REQUEST (`least_request_lb_config.choice_count`, 2) / RANDOM | `load_balancer` |
//! | `common_lb_config.healthy_panic_threshold` (50) | `panic_threshold` |
//! | route `retry_policy.num_retries` (1) | `retry.max_attempts` = num_retries + 1 |
//! | `retry_policy.retry_back_off.base_interval` (25ms), `max_interval` (10 × base) | `retry.backoff.full_jitter = { base, cap }` |
//! | `retry_policy.per_try_timeout` | `timeout` |
//! | `retry_policy.retry_on` | `retry.retry_on` (as for Istio) |
//! | route `timeout` (15s) | `total_timeout` |
//!
//! Reported, not mapped: `max_retries` and `retry_budget` (limits on *concurrent*
//! retries, `budget_percent` of the active requests: cascade's budgets count retries
//! against requests over time, Finagle- or gRPC-style, a different rule), the other
//! priorities' thresholds, connection settings (`connect_timeout`, protocol options,
//! `max_requests_per_connection`), discovery (`type`, `load_assignment`, DNS), TLS and
//! active health checks (set `health_check` on the edge by hand: its endpoint is a
//! model endpoint).

use toml::{Table, Value};
use yaml_rust2::Yaml;

use crate::model::import::yaml::{Bad, Node, Tracker};
use crate::model::import::{
    Import, Unmapped, duration_value, full_jitter_backoff, least_request, retry_on_classes,
};
use crate::time::SimDuration;

const S: SimDuration = SimDuration::from_secs(1);

const OUTLIER_INTS: [&str; 14] = [
    "consecutive_5xx",
    "max_ejection_percent",
    "enforcing_consecutive_5xx",
    "consecutive_gateway_failure",
    "enforcing_consecutive_gateway_failure",
    "enforcing_success_rate",
    "success_rate_minimum_hosts",
    "success_rate_request_volume",
    "success_rate_stdev_factor",
    "failure_percentage_threshold",
    "enforcing_failure_percentage",
    "failure_percentage_minimum_hosts",
    "failure_percentage_request_volume",
    "max_ejection_time_jitter",
];
const OUTLIER_DURATIONS: [&str; 3] = ["interval", "base_ejection_time", "max_ejection_time"];
const OUTLIER_BOOLS: [&str; 2] = [
    "always_eject_one_host",
    "successful_active_health_check_uneject_host",
];

/// Imports the clusters and routes of a document.
pub fn import(doc: &Yaml, tracker: &Tracker, prefix: &str, out: &mut Import) -> Result<bool, Bad> {
    let root = tracker.root(doc, prefix);
    let mut clusters = Vec::new();
    if let Some(sr) = root.get("static_resources") {
        if let Some(cs) = sr.get("clusters") {
            clusters.extend(cs.items());
        }
        sr.touch("listeners");
    }
    if let Some(cs) = root.get("clusters") {
        clusters.extend(cs.items());
    }
    let single = root.keys().iter().any(|k| {
        [
            "circuit_breakers",
            "outlier_detection",
            "lb_policy",
            "connect_timeout",
        ]
        .contains(&k.as_str())
    });
    if single {
        clusters.push(root.clone());
    }
    let mut hit = !clusters.is_empty();
    for c in &clusters {
        cluster(c, out)?;
    }
    let vhosts = root.get("virtual_hosts").or_else(|| {
        root.get("route_config")
            .and_then(|r| r.get("virtual_hosts"))
    });
    if let Some(v) = vhosts {
        hit = true;
        for vh in v.items() {
            vh.touch("name");
            vh.touch("domains");
            let shared = vh.get("retry_policy");
            if let Some(routes) = vh.get("routes") {
                for r in routes.items() {
                    r.touch("match");
                    r.touch("name");
                    if let Some(action) = r.get("route") {
                        route(&action, shared.as_ref(), out)?;
                    }
                }
            }
        }
    }
    out.reasons = reason;
    Ok(hit)
}

fn reason(key: &str) -> Option<&'static str> {
    match key {
        "max_retries" | "retry_budget" => Some(
            "limits concurrent retries (a share of active requests): cascade's budgets count retries against requests over time (budget = { finagle = { ... } } is the nearest)",
        ),
        "connect_timeout"
        | "typed_extension_protocol_options"
        | "http2_protocol_options"
        | "max_requests_per_connection"
        | "upstream_connection_options"
        | "track_remaining"
        | "max_connection_pools" => {
            Some("cascade does not model connections being set up or reused")
        }
        "type" | "load_assignment" | "dns_lookup_family" | "eds_cluster_config"
        | "dns_refresh_rate" => Some("service discovery: the model lists instances itself"),
        "transport_socket" => Some("TLS is not simulated"),
        "health_checks" => Some(
            "set health_check = { endpoint, interval, timeout, unhealthy_threshold, healthy_threshold } on the edge: its endpoint is a model endpoint",
        ),
        "priority" => Some("only the DEFAULT priority's thresholds are imported"),
        "retriable_status_codes" | "retry_host_predicate" | "host_selection_retry_max_attempts" => {
            Some("no equivalent: retries go wherever the balancer picks")
        }
        _ => None,
    }
}

fn cluster(c: &Node, out: &mut Import) -> Result<(), Bad> {
    let name = c
        .str("name")?
        .ok_or_else(|| (c.at("name"), "an Envoy cluster needs a name".into()))?;
    let mut client = Table::new();
    let mut notes = Vec::new();
    if let Some(cb) = c.get("circuit_breakers")
        && let Some(ths) = cb.get("thresholds")
    {
        for th in ths.items() {
            let prio = th.str("priority")?.unwrap_or_else(|| "DEFAULT".into());
            if prio != "DEFAULT" {
                out.unmapped.push(Unmapped {
                    path: th.path(),
                    why: format!(
                        "{prio} priority thresholds: cascade has no request priorities on an edge"
                    ),
                });
                for k in th.keys() {
                    th.touch(&k);
                }
                continue;
            }
            let conns = th.uint("max_connections")?.unwrap_or(1024);
            let reqs = th.uint("max_requests")?.unwrap_or(1024);
            let pending = th.uint("max_pending_requests")?.unwrap_or(1024);
            let n = conns.min(reqs).clamp(1, u32::MAX as u64);
            let mut t = Table::new();
            t.insert("core_threads".into(), Value::Integer(n as i64));
            t.insert("max_threads".into(), Value::Integer(n as i64));
            t.insert(
                "queue_capacity".into(),
                Value::Integer(pending.min(u32::MAX as u64) as i64),
            );
            let mut b = Table::new();
            b.insert("thread_pool".into(), Value::Table(t));
            client.insert("bulkhead".into(), Value::Table(b));
            notes.push(format!(
                "bulkhead: {n} requests in flight (the smaller of max_connections and max_requests), {pending} pending"
            ));
        }
    }
    if let Some(od) = c.get("outlier_detection") {
        let mut o = Table::new();
        for k in OUTLIER_INTS {
            if let Some(v) = od.uint(k)? {
                o.insert(k.into(), Value::Integer(v.min(u32::MAX as u64) as i64));
            }
        }
        for k in OUTLIER_DURATIONS {
            if let Some(v) = od.duration(k, S)? {
                o.insert(k.into(), duration_value(v));
            }
        }
        for k in OUTLIER_BOOLS {
            if let Some(v) = od.bool(k)? {
                o.insert(k.into(), Value::Boolean(v));
            }
        }
        client.insert("outlier_detection".into(), Value::Table(o));
    }
    if let Some(p) = c.str("lb_policy")? {
        let v = match p.as_str() {
            "ROUND_ROBIN" => Some(Value::String("round_robin".into())),
            "RANDOM" => Some(Value::String("random".into())),
            "LEAST_REQUEST" => {
                let k = match c.get("least_request_lb_config") {
                    Some(l) => l.uint("choice_count")?.unwrap_or(2),
                    None => 2,
                };
                Some(least_request(k))
            }
            _ => None,
        };
        match v {
            Some(v) => {
                client.insert("load_balancer".into(), v);
            }
            None => out.unmapped.push(Unmapped {
                path: c.at("lb_policy"),
                why: format!("{p}: no equivalent balancer in cascade"),
            }),
        }
    }
    if let Some(common) = c.get("common_lb_config")
        && let Some(p) = common.float("healthy_panic_threshold")?
    {
        client.insert("panic_threshold".into(), Value::Float(p.clamp(0.0, 100.0)));
    }
    let stack = out.stack(&name);
    stack.client.extend(client);
    stack
        .notes
        .extend(notes.into_iter().map(|n| format!("{name}: {n}")));
    Ok(())
}

fn route(action: &Node, shared: Option<&Node>, out: &mut Import) -> Result<(), Bad> {
    let Some(cluster) = action.str("cluster")? else {
        return Ok(());
    };
    let mut client = Table::new();
    if let Some(t) = action.duration("timeout", S)? {
        client.insert("total_timeout".into(), duration_value(t));
    }
    let policy = action.get("retry_policy");
    if let Some(p) = policy.as_ref().or(shared) {
        let n = p.uint("num_retries")?.unwrap_or(1);
        let mut retry = Table::new();
        retry.insert("max_attempts".into(), Value::Integer(n as i64 + 1));
        let (mut base, mut cap) = (SimDuration::from_millis(25), None);
        if let Some(b) = p.get("retry_back_off") {
            base = b.duration("base_interval", S)?.unwrap_or(base);
            cap = b.duration("max_interval", S)?;
        }
        let cap = cap.unwrap_or(base.mul_f64(10.0)).max(base);
        retry.insert("backoff".into(), full_jitter_backoff(base, cap));
        if let Some(on) = p.str("retry_on")? {
            let classes = retry_on_classes(&on, &p.at("retry_on"), &mut out.unmapped);
            retry.insert("retry_on".into(), classes);
        }
        if let Some(t) = p.duration("per_try_timeout", S)? {
            client.insert("timeout".into(), duration_value(t));
        }
        client.insert("retry".into(), Value::Table(retry));
    }
    let stack = out.stack(&cluster);
    stack.client.extend(client);
    Ok(())
}
