//! Istio: `DestinationRule` (`spec.trafficPolicy`) and `VirtualService` (`spec.http[]`
//! retries and timeouts), one client stack per host. Istio hands these to Envoy; the
//! mapping follows what its translation writes into the Envoy cluster and route.
//!
//! | Istio (default) | cascade |
//! |---|---|
//! | `connectionPool.tcp.maxConnections` (2³²−1), `connectionPool.http.http2MaxRequests` (2³²−1) | `bulkhead.thread_pool.core_threads = max_threads` = the smaller: requests in flight to the host |
//! | `connectionPool.http.http1MaxPendingRequests` (2³²−1) | `bulkhead.thread_pool.queue_capacity`: requests waiting for a connection; past it Envoy answers 503 at once |
//! | `outlierDetection.consecutive5xxErrors` (5) | `outlier_detection.consecutive_5xx` (0 disables: `enforcing_consecutive_5xx = 0`) |
//! | `outlierDetection.consecutiveGatewayErrors` (off) | `consecutive_gateway_failure`, `enforcing_consecutive_gateway_failure = 100` |
//! | `outlierDetection.interval` (10s), `baseEjectionTime` (30s), `maxEjectionPercent` (10) | `interval`, `base_ejection_time`, `max_ejection_percent` |
//! | (always) | `enforcing_success_rate = 0`: Istio turns Envoy's success-rate ejection off |
//! | `outlierDetection.minHealthPercent` (0) | `panic_threshold`: Istio sets Envoy's panic threshold to it, 0 by default (no panic mode) |
//! | `loadBalancer.simple` ROUND_ROBIN / LEAST_REQUEST (LEAST_CONN) / RANDOM | `load_balancer` `round_robin` / `least_request` (2 choices) / `random` |
//! | VirtualService `http[].retries.attempts` | `retry.max_attempts` = attempts + 1 (Istio counts retries) |
//! | `http[].retries.perTryTimeout` | `timeout` (per attempt) |
//! | `http[].timeout` | `total_timeout` |
//! | `http[].retries.retryOn` | `retry.retry_on`: `5xx` → server_error, `gateway-error`/`connect-failure`/`reset`/`refused-stream`/`unavailable` → server_error and timeout, `retriable-4xx` → client_error; others reported |
//! | (Envoy's back-off, 25 ms base) | `retry.backoff = { full_jitter = { base = "25ms", cap = "250ms" } }` |
//!
//! Reported, not mapped: `maxRequestsPerConnection`, `idleTimeout`, `h2UpgradePolicy`,
//! TCP keepalives and connect timeouts (cascade does not model connections being set up),
//! `maxRetries` (a cap on concurrent retries to the host; cascade's budgets are ratio and
//! token based), TLS, subsets and port-level settings.

use toml::{Table, Value};
use yaml_rust2::Yaml;

use crate::model::import::yaml::{Bad, Node, Tracker};
use crate::model::import::{
    Import, Unmapped, duration_value, full_jitter_backoff, least_request, retry_on_classes,
};
use crate::time::SimDuration;

const S: SimDuration = SimDuration::from_secs(1);

/// Imports a DestinationRule or VirtualService document (anything else is skipped).
pub fn import(doc: &Yaml, tracker: &Tracker, prefix: &str, out: &mut Import) -> Result<bool, Bad> {
    let root = tracker.root(doc, prefix);
    let kind = root.str("kind")?;
    match kind.as_deref() {
        Some("DestinationRule") => destination_rule(&root, out).map(|()| true),
        Some("VirtualService") => virtual_service(&root, out).map(|()| true),
        _ => Ok(false),
    }
    .inspect(|hit| {
        if *hit {
            root.touch("apiVersion");
            root.touch("metadata");
        }
    })
}

fn short_host(host: &str) -> String {
    host.split('.').next().unwrap_or(host).to_string()
}

fn destination_rule(root: &Node, out: &mut Import) -> Result<(), Bad> {
    let spec = root
        .get("spec")
        .ok_or_else(|| (root.at("spec"), "a DestinationRule needs a spec".into()))?;
    let host = spec
        .str("host")?
        .ok_or_else(|| (spec.at("host"), "a DestinationRule needs a host".into()))?;
    let name = short_host(&host);
    let Some(tp) = spec.get("trafficPolicy") else {
        out.stack(&name);
        return Ok(());
    };
    let mut notes = Vec::new();
    let mut client = Table::new();
    if let Some(pool) = tp.get("connectionPool") {
        let tcp = pool.get("tcp");
        let http = pool.get("http");
        let conns = match &tcp {
            Some(t) => t.uint("maxConnections")?,
            None => None,
        };
        let (pending, h2) = match &http {
            Some(h) => (
                h.uint("http1MaxPendingRequests")?,
                h.uint("http2MaxRequests")?,
            ),
            None => (None, None),
        };
        let unlimited = u32::MAX as u64;
        let limit = match (conns, h2) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if limit.is_some() || pending.is_some() {
            let n = limit.unwrap_or(unlimited).clamp(1, unlimited);
            let q = pending.unwrap_or(unlimited).min(unlimited);
            let mut t = Table::new();
            t.insert("core_threads".into(), Value::Integer(n as i64));
            t.insert("max_threads".into(), Value::Integer(n as i64));
            t.insert("queue_capacity".into(), Value::Integer(q as i64));
            let mut b = Table::new();
            b.insert("thread_pool".into(), Value::Table(t));
            client.insert("bulkhead".into(), Value::Table(b));
            notes.push(format!(
                "bulkhead: {n} requests in flight (the smaller of maxConnections and http2MaxRequests), {q} waiting (http1MaxPendingRequests); past both Envoy answers 503 at once"
            ));
        }
    }
    if let Some(od) = tp.get("outlierDetection") {
        let mut o = Table::new();
        let c5 = od.uint("consecutive5xxErrors")?;
        o.insert(
            "consecutive_5xx".into(),
            Value::Integer(c5.unwrap_or(5) as i64),
        );
        if c5 == Some(0) {
            o.insert("enforcing_consecutive_5xx".into(), Value::Integer(0));
        }
        if let Some(g) = od.uint("consecutiveGatewayErrors")? {
            o.insert(
                "consecutive_gateway_failure".into(),
                Value::Integer(g.max(1) as i64),
            );
            let enforce = if g > 0 { 100 } else { 0 };
            o.insert(
                "enforcing_consecutive_gateway_failure".into(),
                Value::Integer(enforce),
            );
        }
        let interval = od
            .duration("interval", S)?
            .unwrap_or(SimDuration::from_secs(10));
        o.insert("interval".into(), duration_value(interval));
        let base = od
            .duration("baseEjectionTime", S)?
            .unwrap_or(SimDuration::from_secs(30));
        o.insert("base_ejection_time".into(), duration_value(base));
        let max = od.uint("maxEjectionPercent")?.unwrap_or(10);
        o.insert(
            "max_ejection_percent".into(),
            Value::Integer(max.min(100) as i64),
        );
        o.insert("enforcing_success_rate".into(), Value::Integer(0));
        client.insert("outlier_detection".into(), Value::Table(o));
        let min_health = od.float("minHealthPercent")?.unwrap_or(0.0);
        client.insert(
            "panic_threshold".into(),
            Value::Float(min_health.clamp(0.0, 100.0)),
        );
        notes.push(
            "outlier_detection: as Istio configures Envoy (success-rate ejection off; panic threshold = minHealthPercent, 0 by default)".into(),
        );
    }
    if let Some(lb) = tp.get("loadBalancer")
        && let Some(simple) = lb.str("simple")?
    {
        let v = match simple.as_str() {
            "ROUND_ROBIN" => Some(Value::String("round_robin".into())),
            "RANDOM" => Some(Value::String("random".into())),
            "LEAST_REQUEST" | "LEAST_CONN" => Some(least_request(2)),
            _ => None,
        };
        match v {
            Some(v) => {
                client.insert("load_balancer".into(), v);
            }
            None => out.unmapped.push(Unmapped {
                path: lb.at("simple"),
                why: format!("{simple}: no equivalent balancer in cascade"),
            }),
        }
    }
    let stack = out.stack(&name);
    stack.client.extend(client);
    stack
        .notes
        .extend(notes.into_iter().map(|n| format!("{host}: {n}")));
    out.reasons = reason;
    Ok(())
}

fn reason(key: &str) -> Option<&'static str> {
    match key {
        "maxRequestsPerConnection"
        | "idleTimeout"
        | "h2UpgradePolicy"
        | "connectTimeout"
        | "tcpKeepalive"
        | "useClientProtocol"
        | "maxConcurrentStreams" => {
            Some("cascade does not model connections being set up or reused")
        }
        "maxRetries" => Some(
            "a cap on concurrent retries to the host: cascade's retry budgets are ratio and token based (budget = { finagle = { ... } })",
        ),
        "tls" => Some("TLS is not simulated"),
        "subsets" | "portLevelSettings" | "exportTo" | "workloadSelector" => {
            Some("cascade has one client stack per edge")
        }
        "gateways" | "hosts" | "match" | "rewrite" | "headers" | "mirror" | "fault" => {
            Some("routing, not resilience: not imported")
        }
        _ => None,
    }
}

fn virtual_service(root: &Node, out: &mut Import) -> Result<(), Bad> {
    let spec = root
        .get("spec")
        .ok_or_else(|| (root.at("spec"), "a VirtualService needs a spec".into()))?;
    let Some(http) = spec.get("http") else {
        return Ok(());
    };
    for route in http.items() {
        let hosts: Vec<String> = match route.get("route") {
            Some(r) => r
                .items()
                .iter()
                .filter_map(|d| {
                    d.touch("weight");
                    d.get("destination").and_then(|dest| {
                        dest.touch("subset");
                        dest.touch("port");
                        dest.str("host").ok().flatten()
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        let mut client = Table::new();
        if let Some(t) = route.duration("timeout", S)? {
            client.insert("total_timeout".into(), duration_value(t));
        }
        if let Some(r) = route.get("retries") {
            let attempts = r.uint("attempts")?.unwrap_or(2);
            let mut retry = Table::new();
            retry.insert("max_attempts".into(), Value::Integer(attempts as i64 + 1));
            // Envoy's default back-off: 25 ms base, 10 × base cap.
            let base = SimDuration::from_millis(25);
            retry.insert(
                "backoff".into(),
                full_jitter_backoff(base, base.mul_f64(10.0)),
            );
            if let Some(on) = r.str("retryOn")? {
                let classes = retry_on_classes(&on, &r.at("retryOn"), &mut out.unmapped);
                retry.insert("retry_on".into(), classes);
            }
            if let Some(t) = r.duration("perTryTimeout", S)? {
                client.insert("timeout".into(), duration_value(t));
            }
            client.insert("retry".into(), Value::Table(retry));
        }
        for host in hosts {
            let stack = out.stack(&short_host(&host));
            stack.client.extend(client.clone());
            stack.notes.push(format!(
                "{host}: retries and timeouts from the VirtualService route"
            ));
        }
    }
    out.reasons = reason;
    Ok(())
}
