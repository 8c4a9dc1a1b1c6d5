//! Resilience4j (Spring Boot `application.yml`): `resilience4j.<module>.instances.<name>`
//! and `configs.<name>` (an instance takes `baseConfig`, or `configs.default` when there
//! is one). One client stack per instance name; instances of the same name in several
//! modules are one stack, layered as the Spring aspects order them:
//! `Retry(CircuitBreaker(RateLimiter(TimeLimiter(Bulkhead(call)))))`.
//!
//! | Resilience4j (default) | cascade |
//! |---|---|
//! | `circuitbreaker.slidingWindowType` (COUNT_BASED) | `breaker.count_window` / `breaker.time_window` |
//! | `slidingWindowSize` (100) | `size` (calls), `size_secs` (TIME_BASED: seconds) |
//! | `minimumNumberOfCalls` (100) | `minimum_calls` |
//! | `failureRateThreshold` (50) | `failure_rate` |
//! | `slowCallRateThreshold` (100) | `slow_call_rate` |
//! | `slowCallDurationThreshold` (60s) | `slow_call_duration` |
//! | `waitDurationInOpenState` (60s) | `breaker.wait_open` |
//! | `permittedNumberOfCallsInHalfOpenState` (10) | `breaker.half_open_calls` |
//! | `maxWaitDurationInHalfOpenState` (0: none) | `breaker.max_wait_half_open` |
//! | `automaticTransitionFromOpenToHalfOpenEnabled` (false) | `breaker.automatic_transition` |
//! | `retry.maxAttempts` (3) | `retry.max_attempts` |
//! | `waitDuration` (500ms), `enableExponentialBackoff` (false), `exponentialBackoffMultiplier` (1.5), `exponentialMaxWaitDuration` (none), `enableRandomizedWait` (false), `randomizedWaitFactor` (0.5) | `retry.backoff`: `fixed`, `exponential`, or `randomized_exponential` (Resilience4j's own formula; multiplier 1 for a randomized fixed wait) |
//! | `bulkhead.maxConcurrentCalls` (25), `maxWaitDuration` (0) | `bulkhead = { max_concurrent, max_wait }` |
//! | `thread-pool-bulkhead.maxThreadPoolSize`, `coreThreadPoolSize` (from the CPUs), `queueCapacity` (100), `keepAliveDuration` (20ms) | `bulkhead.thread_pool = { max_threads, core_threads, queue_capacity, keep_alive }` |
//! | `timelimiter.timeoutDuration` (1s) | `timeout` (per attempt, inside the retry) |
//! | `ratelimiter.limitForPeriod` (50), `limitRefreshPeriod` (500ns), `timeoutDuration` (5s) | `rate_limit.limit_for_period` |
//!
//! Reported, not mapped: exception lists and predicates (`recordExceptions`,
//! `ignoreExceptions`, `retryExceptions`, …: cascade classifies outcomes instead, see
//! `record_on` and `retry_on`), `cancelRunningFuture` (interrupting the local future does
//! not stop the remote work; `cancel = true` on the edge does), health indicators, event
//! buffers and metrics settings (no effect on behaviour), and a thread-pool bulkhead on an
//! instance that also has a semaphore one (one bulkhead per edge).

use toml::{Table, Value};
use yaml_rust2::Yaml;

use crate::model::import::yaml::{Bad, Node, Tracker};
use crate::model::import::{Import, Stack, Unmapped, duration_value};
use crate::time::SimDuration;

const MS: SimDuration = SimDuration::from_millis(1);

/// Keys that change nothing a simulation can show, with the reason reported.
const NO_EFFECT: [&str; 6] = [
    "registerHealthIndicator",
    "eventConsumerBufferSize",
    "writableStackTraceEnabled",
    "allowHealthIndicatorToFail",
    "metricsEnabled",
    "subscribeForEvents",
];

const BY_CLASS: [&str; 7] = [
    "recordExceptions",
    "ignoreExceptions",
    "retryExceptions",
    "recordFailurePredicate",
    "ignoreExceptionPredicate",
    "retryOnResultPredicate",
    "retryExceptionPredicate",
];

fn reason(key: &str) -> Option<&'static str> {
    if NO_EFFECT.contains(&key) {
        Some("monitoring only: no effect on behaviour")
    } else if BY_CLASS.contains(&key) {
        Some(
            "Java exception classes and predicates: cascade classifies outcomes (timeout, server_error, client_error, rejected, throttled); set record_on / retry_on",
        )
    } else if key == "cancelRunningFuture" {
        Some(
            "interrupting the local future does not stop the remote work; set cancel = true on the edge if the callee honours cancellation",
        )
    } else {
        None
    }
}

/// The value of `key` in the instance, else in its base config.
fn pick<'a>(inst: &Node<'a>, base: &Option<Node<'a>>, key: &str) -> Option<Node<'a>> {
    inst.get(key)
        .or_else(|| base.as_ref().and_then(|b| b.get(key)))
}

macro_rules! read {
    ($inst:expr, $base:expr, $key:expr, $how:ident $(, $arg:expr)?) => {{
        match $inst.$how($key $(, $arg)?)? {
            Some(v) => {
                // The instance's value hides the base config's: that one is not unmapped.
                if let Some(b) = &$base {
                    b.touch($key);
                }
                Some(v)
            }
            None => match &$base {
                Some(b) => b.$how($key $(, $arg)?)?,
                None => None,
            },
        }
    }};
}

/// Imports every Resilience4j instance of a document.
pub fn import(doc: &Yaml, tracker: &Tracker, out: &mut Import) -> Result<bool, Bad> {
    let root = tracker.root(doc, "");
    // `resilience4j: { circuitbreaker: ... }`, or Spring's relaxed form with the module
    // in the key (`resilience4j.circuitbreaker:`), as the Resilience4j docs write it.
    let nested = root.get("resilience4j");
    let dotted: Vec<String> = root
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("resilience4j."))
        .collect();
    if nested.is_none() && dotted.is_empty() {
        return Ok(false);
    }
    let module_node = |module: &str| -> Option<Node> {
        nested
            .as_ref()
            .and_then(|n| n.get(module))
            .or_else(|| root.get(&format!("resilience4j.{module}")))
    };
    let modules = [
        ("circuitbreaker", "breaker"),
        ("retry", "retry"),
        ("bulkhead", "bulkhead"),
        ("thread-pool-bulkhead", "thread_pool"),
        ("timelimiter", "timeout"),
        ("ratelimiter", "rate_limit"),
    ];
    for (module, what) in modules {
        let Some(m) = module_node(module) else {
            continue;
        };
        let configs = m.get("configs");
        let Some(instances) = m.get("instances") else {
            continue;
        };
        for name in instances.keys() {
            let inst = instances.get(&name).expect("a listed key");
            let base_name = inst.str("baseConfig")?;
            let base = match (&configs, &base_name) {
                (Some(c), Some(b)) => Some(c.get(b).ok_or_else(|| {
                    (
                        inst.at("baseConfig"),
                        format!("names {b:?}, which is not under {module}.configs"),
                    )
                })?),
                (Some(c), None) => c.get("default"),
                (None, Some(b)) => {
                    return Err((
                        inst.at("baseConfig"),
                        format!("names {b:?}, but {module} has no configs"),
                    ));
                }
                (None, None) => None,
            };
            let stack = out.stack(&name);
            match what {
                "breaker" => breaker(&inst, &base, stack)?,
                "retry" => retry(&inst, &base, stack)?,
                "bulkhead" => {
                    let max = read!(inst, base, "maxConcurrentCalls", uint).unwrap_or(25);
                    let wait =
                        read!(inst, base, "maxWaitDuration", duration, MS).unwrap_or_default();
                    let mut b = Table::new();
                    b.insert("max_concurrent".into(), Value::Integer(max as i64));
                    b.insert("max_wait".into(), duration_value(wait));
                    stack.client.insert("bulkhead".into(), Value::Table(b));
                }
                "thread_pool" => {
                    if stack.client.contains_key("bulkhead") {
                        out.unmapped.push(Unmapped {
                            path: inst.path(),
                            why: "the instance also has a semaphore bulkhead; cascade has one bulkhead per edge and keeps that one".into(),
                        });
                        for k in inst.keys() {
                            inst.touch(&k);
                        }
                        continue;
                    }
                    let mut t = Table::new();
                    if let Some(n) = read!(inst, base, "maxThreadPoolSize", uint) {
                        t.insert("max_threads".into(), Value::Integer(n as i64));
                    }
                    if let Some(n) = read!(inst, base, "coreThreadPoolSize", uint) {
                        t.insert("core_threads".into(), Value::Integer(n as i64));
                    }
                    let q = read!(inst, base, "queueCapacity", uint).unwrap_or(100);
                    t.insert("queue_capacity".into(), Value::Integer(q as i64));
                    let k = read!(inst, base, "keepAliveDuration", duration, MS)
                        .unwrap_or(SimDuration::from_millis(20));
                    t.insert("keep_alive".into(), duration_value(k));
                    let mut b = Table::new();
                    b.insert("thread_pool".into(), Value::Table(t));
                    stack.client.insert("bulkhead".into(), Value::Table(b));
                }
                "timeout" => {
                    let d = read!(inst, base, "timeoutDuration", duration, MS)
                        .unwrap_or(SimDuration::from_secs(1));
                    stack.client.insert("timeout".into(), duration_value(d));
                }
                _ => {
                    let n = read!(inst, base, "limitForPeriod", uint).unwrap_or(50);
                    let refresh = read!(inst, base, "limitRefreshPeriod", duration, MS)
                        .unwrap_or(SimDuration::from_nanos(500));
                    let wait = read!(inst, base, "timeoutDuration", duration, MS)
                        .unwrap_or(SimDuration::from_secs(5));
                    let mut l = Table::new();
                    l.insert("limit_for_period".into(), Value::Integer(n as i64));
                    l.insert("limit_refresh_period".into(), duration_value(refresh));
                    l.insert("timeout_duration".into(), duration_value(wait));
                    let mut r = Table::new();
                    r.insert("limit_for_period".into(), Value::Table(l));
                    stack.client.insert("rate_limit".into(), Value::Table(r));
                }
            }
        }
    }
    for stack in &mut out.stacks {
        let mut order = vec!["retry", "breaker"];
        if stack.client.contains_key("rate_limit") {
            order.push("rate_limiter");
        }
        order.extend(["timeout", "bulkhead"]);
        stack.client.insert(
            "order".into(),
            Value::Array(order.into_iter().map(|s| Value::String(s.into())).collect()),
        );
    }
    out.reasons = reason;
    Ok(true)
}

fn breaker(inst: &Node, base: &Option<Node>, stack: &mut Stack) -> Result<(), Bad> {
    let kind = read!(inst, base, "slidingWindowType", str).unwrap_or_else(|| "COUNT_BASED".into());
    let size = read!(inst, base, "slidingWindowSize", uint).unwrap_or(100);
    let mut w = Table::new();
    let key = match kind.as_str() {
        "COUNT_BASED" => {
            w.insert("size".into(), Value::Integer(size as i64));
            "count_window"
        }
        "TIME_BASED" => {
            w.insert("size_secs".into(), Value::Integer(size as i64));
            "time_window"
        }
        other => {
            let at = pick(inst, base, "slidingWindowType")
                .map(|n| n.path())
                .unwrap_or_default();
            return Err((at, format!("{other:?} is not COUNT_BASED or TIME_BASED")));
        }
    };
    let rate = |k: &str, d: f64| -> Result<Value, Bad> {
        Ok(Value::Float(read!(inst, base, k, float).unwrap_or(d)))
    };
    w.insert("failure_rate".into(), rate("failureRateThreshold", 50.0)?);
    w.insert(
        "slow_call_rate".into(),
        rate("slowCallRateThreshold", 100.0)?,
    );
    let slow = read!(inst, base, "slowCallDurationThreshold", duration, MS)
        .unwrap_or(SimDuration::from_secs(60));
    w.insert("slow_call_duration".into(), duration_value(slow));
    let min = read!(inst, base, "minimumNumberOfCalls", uint).unwrap_or(100);
    w.insert("minimum_calls".into(), Value::Integer(min as i64));
    let mut b = Table::new();
    b.insert(key.into(), Value::Table(w));
    let wait = read!(inst, base, "waitDurationInOpenState", duration, MS)
        .unwrap_or(SimDuration::from_secs(60));
    b.insert("wait_open".into(), duration_value(wait));
    let probes = read!(inst, base, "permittedNumberOfCallsInHalfOpenState", uint).unwrap_or(10);
    b.insert("half_open_calls".into(), Value::Integer(probes as i64));
    if let Some(d) = read!(inst, base, "maxWaitDurationInHalfOpenState", duration, MS)
        && !d.is_zero()
    {
        b.insert("max_wait_half_open".into(), duration_value(d));
    }
    let auto = read!(
        inst,
        base,
        "automaticTransitionFromOpenToHalfOpenEnabled",
        bool
    )
    .unwrap_or(false);
    b.insert("automatic_transition".into(), Value::Boolean(auto));
    stack.client.insert("breaker".into(), Value::Table(b));
    Ok(())
}

fn retry(inst: &Node, base: &Option<Node>, stack: &mut Stack) -> Result<(), Bad> {
    let attempts = read!(inst, base, "maxAttempts", uint).unwrap_or(3);
    let wait =
        read!(inst, base, "waitDuration", duration, MS).unwrap_or(SimDuration::from_millis(500));
    let exp = read!(inst, base, "enableExponentialBackoff", bool).unwrap_or(false);
    let mult = read!(inst, base, "exponentialBackoffMultiplier", float).unwrap_or(1.5);
    let cap = read!(inst, base, "exponentialMaxWaitDuration", duration, MS);
    let random = read!(inst, base, "enableRandomizedWait", bool).unwrap_or(false);
    let factor = read!(inst, base, "randomizedWaitFactor", float).unwrap_or(0.5);
    let mut b = Table::new();
    let backoff = if random {
        b.insert("initial".into(), duration_value(wait));
        b.insert(
            "multiplier".into(),
            Value::Float(if exp { mult } else { 1.0 }),
        );
        b.insert("randomization_factor".into(), Value::Float(factor));
        if let (true, Some(c)) = (exp, cap) {
            b.insert("cap".into(), duration_value(c));
        }
        "randomized_exponential"
    } else if exp {
        b.insert("base".into(), duration_value(wait));
        b.insert("multiplier".into(), Value::Float(mult));
        // Resilience4j has no cap by default; cascade's exponential needs one.
        b.insert(
            "cap".into(),
            duration_value(cap.unwrap_or(SimDuration::from_secs(86_400)).max(wait)),
        );
        "exponential"
    } else {
        b.insert("delay".into(), duration_value(wait));
        "fixed"
    };
    let mut backoff_t = Table::new();
    backoff_t.insert(backoff.into(), Value::Table(b));
    let mut r = Table::new();
    r.insert("max_attempts".into(), Value::Integer(attempts as i64));
    r.insert("backoff".into(), Value::Table(backoff_t));
    stack.client.insert("retry".into(), Value::Table(r));
    Ok(())
}
