//! The simulated world against queueing theory and the cascade stories it must show.

use std::path::Path;

use cascade::engine::mmc::erlang_c;
use cascade::model::Model;
use cascade::model::load::{model_from_table, parse_table};
use cascade::sim::{RunConfig, RunReport, World};
use cascade::time::SimDuration;

pub fn model(text: &str) -> Model {
    let path = Path::new("inline.toml");
    let table = parse_table(path, text).unwrap_or_else(|e| panic!("{e}"));
    model_from_table(path, table)
        .unwrap_or_else(|e| panic!("{e}"))
        .1
}

pub fn run(model: &Model, secs: u64, seed: u64) -> RunReport {
    let cfg = RunConfig {
        duration: SimDuration::from_secs(secs),
        seed,
        ..RunConfig::default()
    };
    World::run(model, cfg).expect("runs")
}

fn mmc_model(c: u32, lambda: f64, mean_ms: u64, capacity: Option<u32>) -> String {
    let queue = capacity
        .map(|k| format!("queue = {{ capacity = {k} }}"))
        .unwrap_or_default();
    format!(
        r#"
[[workloads]]
name = "users"
target = "server.serve"
arrivals = {{ poisson = {{ rate = {lambda} }} }}
patience = "1h"
slo = "1h"

[services.server]
workers = {c}
{queue}
[services.server.endpoints.serve]
steps = [{{ work = {{ exponential = {{ mean = "{mean_ms}ms" }} }} }}]
"#
    )
}

#[test]
fn mmc_through_a_model_file_matches_erlang_c() {
    for (c, rho, mean_ms, seed) in [(1u32, 0.8, 100u64, 1u64), (20, 0.9, 100, 2)] {
        let lambda = rho * c as f64 / (mean_ms as f64 / 1e3);
        let m = model(&mmc_model(c, lambda, mean_ms, None));
        let r = run(&m, 20_000, seed);
        let w = &r.metrics.workloads[0];
        let exact = erlang_c(c, lambda, 1e3 / mean_ms as f64);
        let sim = w.mean_latency_ms() / 1e3;
        let rel = (sim - exact.mean_system).abs() / exact.mean_system;
        assert!(
            rel < 0.03,
            "c={c}: mean time in system {sim:.4}s vs Erlang C {:.4}s ({:.1} %)",
            exact.mean_system,
            rel * 100.0
        );
        assert_eq!(w.totals.offered, w.totals.good + w.unresolved);
    }
}

#[test]
fn bounded_queue_rejects_at_the_mmck_blocking_probability() {
    // M/M/c/K: c = 5 servers, K = 8 in system (queue capacity 3), a = 5 (ρ = 1).
    let (c, k, lambda, mean_ms) = (5u32, 8u32, 50.0, 100u64);
    let m = model(&mmc_model(c, lambda, mean_ms, Some(k - c)));
    let r = run(&m, 5_000, 3);
    let a = lambda * mean_ms as f64 / 1e3;
    let mut q = vec![1.0f64];
    for n in 1..=k {
        q.push(q[n as usize - 1] * a / n.min(c) as f64);
    }
    let p_block = q[k as usize] / q.iter().sum::<f64>();
    let w = &r.metrics.workloads[0];
    let sim = w.totals.failed as f64 / w.totals.offered as f64;
    assert!(
        (sim - p_block).abs() < 0.01,
        "blocking {sim:.4} vs M/M/c/K {p_block:.4}"
    );
}

/// Share of ok answers among the requests sent in `[from, to)` seconds, by workload.
fn ok_ratio(r: &RunReport, workload: usize, from: usize, to: usize) -> f64 {
    let b = &r.metrics.workloads[workload].buckets[from..to];
    let ok: u64 = b.iter().map(|c| c.ok()).sum();
    let offered: u64 = b.iter().map(|c| c.offered).sum();
    ok as f64 / offered as f64
}

fn busy(r: &RunReport, service: usize) -> impl Iterator<Item = f64> + '_ {
    r.metrics.services[service]
        .buckets
        .iter()
        .map(|b| b.busy_area)
}

const CHAIN: &str = r#"
[[workloads]]
name = "users"
target = "a.serve"
arrivals = { poisson = { rate = 100.0 } }
patience = "10s"
slo = "1s"

[services.a]
workers = 50
[services.a.endpoints.serve]
steps = [{ work = { constant = "5ms" } }, { call = "b.serve" }]

[services.b]
workers = 200
[services.b.endpoints.serve]
steps = [{ work = { constant = "5ms" } }, { call = "c.serve" }]
CLIENT_B_TO_C

[services.c]
workers = 10000
[services.c.endpoints.serve]
steps = [{ work = { lognormal = { p50 = "50ms", p99 = "100ms" } } }]

[[faults]]
target = "c.serve"
at = "60s"
duration = "60s"
latency = { constant = "5s" }
"#;

mod cascading {
    use super::*;

    #[test]
    fn a_slow_leaf_exhausts_the_top_without_timeouts_and_not_with_them() {
        let bare = run(&model(&CHAIN.replace("CLIENT_B_TO_C", "")), 180, 1);
        // Services are sorted by name: a = 0.
        let peak = busy(&bare, 0).skip(60).take(60).fold(0.0, f64::max);
        assert!(
            peak > 49.0,
            "A's pool should be exhausted, peak busy {peak:.1}"
        );
        let ok = ok_ratio(&bare, 0, 70, 120);
        assert!(ok < 0.6, "good answers should collapse, ok ratio {ok:.2}");

        let guarded = CHAIN.replace(
            "CLIENT_B_TO_C",
            "[services.b.clients.c]\ntimeout = \"200ms\"\nfallback = \"default\"\n",
        );
        let safe = run(&model(&guarded), 180, 1);
        let peak = busy(&safe, 0).skip(60).take(60).fold(0.0, f64::max);
        assert!(peak < 35.0, "A keeps spare workers, peak busy {peak:.1}");
        let ok = ok_ratio(&safe, 0, 70, 120);
        assert!(
            ok > 0.95,
            "A stays healthy (degraded answers), ok ratio {ok:.2}"
        );
    }
}

mod bulkheads {
    use super::*;

    const TWO_DEPS: &str = r#"
[[workloads]]
name = "fast"
target = "s.fast"
arrivals = { poisson = { rate = 50.0 } }
patience = "10s"
slo = "1s"

[[workloads]]
name = "slow"
target = "s.slow"
arrivals = { poisson = { rate = 50.0 } }
patience = "10s"
slo = "1s"

[services.s]
workers = 40
[services.s.endpoints.fast]
steps = [{ call = "d1.get" }]
[services.s.endpoints.slow]
steps = [{ call = "d2.get" }]
BULKHEAD

[services.d1]
workers = 1000
[services.d1.endpoints.get]
steps = [{ work = { constant = "20ms" } }]

[services.d2]
workers = 1000
[services.d2.endpoints.get]
steps = [{ work = { constant = "20ms" } }]

[[faults]]
target = "d2"
at = "30s"
duration = "60s"
latency = { constant = "5s" }
"#;

    #[test]
    fn a_slow_dependency_drags_the_other_endpoint_down_only_without_a_bulkhead() {
        let shared = run(&model(&TWO_DEPS.replace("BULKHEAD", "")), 120, 2);
        let ok = ok_ratio(&shared, 0, 40, 90);
        assert!(
            ok < 0.5,
            "shared pool: the fast endpoint collapses too, ok {ok:.2}"
        );

        let isolated = TWO_DEPS.replace(
            "BULKHEAD",
            "[services.s.clients.d2]\nbulkhead = { max_concurrent = 15, max_wait = \"0s\" }\n",
        );
        let iso = run(&model(&isolated), 120, 2);
        let ok = ok_ratio(&iso, 0, 40, 90);
        assert!(
            ok > 0.99,
            "bulkhead: the fast endpoint is unaffected, ok {ok:.3}"
        );
    }
}

mod amplification {
    use super::*;

    fn chain(first_layer_extra: &str) -> String {
        let retry = "retry = { max_attempts = 3, backoff = { fixed = { delay = \"10ms\" } } }";
        format!(
            r#"
[[workloads]]
name = "users"
target = "gateway.in"
arrivals = {{ poisson = {{ rate = 20.0 }} }}
patience = "1m"
slo = "1s"

[services.gateway]
workers = 1000
[services.gateway.endpoints.in]
steps = [{{ call = "order.place" }}]
[services.gateway.clients.order]
{retry}
{first_layer_extra}

[services.order]
workers = 1000
[services.order.endpoints.place]
steps = [{{ call = "payment.pay" }}]
[services.order.clients.payment]
{retry}

[services.payment]
workers = 1000
[services.payment.endpoints.pay]
steps = [{{ call = "bank.charge" }}]
[services.payment.clients.bank]
{retry}

[services.bank]
workers = 1000
[services.bank.endpoints.charge]
steps = [{{ work = {{ constant = "5ms" }} }}]

[[faults]]
target = "bank"
at = "0s"
duration = "10m"
refuse = true
"#
        )
    }

    #[test]
    fn three_layers_of_three_attempts_make_27_attempts_at_the_leaf() {
        let r = run(&model(&chain("")), 60, 3);
        let bank = r
            .metrics
            .services
            .iter()
            .find(|s| s.name == "bank")
            .unwrap();
        let arrivals: u64 = bank.buckets.iter().map(|b| b.arrivals).sum();
        let offered = r.summary.offered;
        assert_eq!(
            arrivals,
            27 * offered,
            "every user request makes 27 bank attempts"
        );
        assert!((r.summary.amplification - 27.0).abs() < 1e-9);
    }

    #[test]
    fn a_breaker_at_the_first_layer_cuts_the_storm() {
        let breaker = "breaker = { consecutive = { failures = 5 }, wait_open = \"10s\", half_open_calls = 1 }";
        let r = run(&model(&chain(breaker)), 60, 3);
        assert!(
            r.summary.amplification < 3.0,
            "breaker open most of the time: {:.2} attempts per request",
            r.summary.amplification
        );
    }
}

mod deadlines {
    use super::*;

    /// C loses most of its workers for 20 s: a backlog builds that nobody waits for.
    fn backlog(propagate: bool) -> String {
        format!(
            r#"
deadline_propagation = {propagate}

[[workloads]]
name = "users"
target = "a.serve"
arrivals = {{ poisson = {{ rate = 20.0 }} }}
patience = "2s"
slo = "1s"

[services.a]
workers = 1000
[services.a.endpoints.serve]
steps = [{{ call = "c.serve" }}]
[services.a.clients.c]
timeout = "1s"

[services.c]
workers = 10
[services.c.endpoints.serve]
steps = [{{ work = {{ constant = "300ms" }} }}]

[[faults]]
target = "c"
at = "20s"
duration = "20s"
workers = 1
"#
        )
    }

    #[test]
    fn propagation_drops_the_stale_backlog_instead_of_serving_it() {
        let without = run(&model(&backlog(false)), 90, 4);
        let with = run(&model(&backlog(true)), 90, 4);
        let wasted = |r: &RunReport| {
            r.metrics
                .services
                .iter()
                .find(|s| s.name == "c")
                .unwrap()
                .wasted_seconds
        };
        let (w0, w1) = (wasted(&without), wasted(&with));
        assert!(
            w0 > 60.0,
            "the backlog is served to nobody without deadlines: {w0:.0} s"
        );
        assert!(
            w1 < w0 / 4.0,
            "deadline propagation drops it: {w1:.0} s vs {w0:.0} s"
        );
        assert!(
            with.outage.outage_s < without.outage.outage_s,
            "and users recover sooner ({} s vs {} s down)",
            with.outage.outage_s,
            without.outage.outage_s
        );
    }
}

mod metastability {
    use super::*;

    fn storm(base: f64) -> String {
        format!(
            r#"
[[workloads]]
name = "users"
target = "proxy.get"
arrivals = {{ poisson = {{ schedule = [["0s", {base}], ["60s", {base}], ["60.001s", 400.0], ["70s", 400.0], ["70.001s", {base}]] }} }}
patience = "10s"
slo = "1s"

[services.proxy]
workers = 100000
[services.proxy.endpoints.get]
steps = [{{ call = "server.get" }}]
[services.proxy.clients.server]
timeout = "500ms"
retry = {{ max_attempts = 3, backoff = "immediate" }}

[services.server]
workers = 100000
[services.server.endpoints.get]
steps = [{{ work = {{ constant = "100ms", per_inflight = "2ms" }} }}]
"#
        )
    }

    fn down_share(r: &RunReport, from: usize, to: usize) -> f64 {
        r.outage.down[from..to].iter().filter(|d| **d).count() as f64 / (to - from) as f64
    }

    #[test]
    fn the_same_spike_is_absorbed_at_low_load_and_never_recovered_from_at_high_load() {
        let low = run(&model(&storm(100.0)), 240, 5);
        assert!(
            down_share(&low, 60, 90) > 0.5,
            "the spike hurts at low load too"
        );
        assert!(
            down_share(&low, 100, 240) < 0.05,
            "low base load recovers after the spike"
        );

        let high = run(&model(&storm(150.0)), 240, 5);
        assert!(
            down_share(&high, 0, 55) < 0.05,
            "high base load is healthy before the spike"
        );
        assert!(
            down_share(&high, 100, 240) > 0.95,
            "high base load stays down long after the spike ended (metastable)"
        );
    }
}

mod garbage {
    //! The loader must answer any input with a value or an error, never a panic; and any
    //! model it accepts must run.

    use super::*;
    use proptest::prelude::*;

    const BASE: &str = include_str!("../../models/black_friday.toml");

    fn load(text: &str) -> Option<Model> {
        let path = Path::new("fuzz.toml");
        let table = parse_table(path, text).ok()?;
        model_from_table(path, table).ok().map(|(_, m)| m)
    }

    /// Replaces the `k`-th number or quoted string of the base model with `with`.
    fn mutate(k: usize, with: &str) -> String {
        let mut seen = 0;
        let mut out = String::new();
        for line in BASE.lines() {
            if line.trim_start().starts_with('#') {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let mut replaced = line.to_string();
            for token in line.split(|c: char| {
                c == ' ' || c == ',' || c == '[' || c == ']' || c == '{' || c == '}'
            }) {
                let is_value = token.parse::<f64>().is_ok()
                    || (token.starts_with('"') && token.ends_with('"') && token.len() > 1);
                if is_value {
                    if seen == k {
                        replaced = line.replacen(token, with, 1);
                    }
                    seen += 1;
                }
            }
            out.push_str(&replaced);
            out.push('\n');
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_are_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let text = String::from_utf8_lossy(&bytes);
            prop_assert!(load(&text).is_none() || text.contains("services"));
        }

        #[test]
        fn mutated_values_validate_or_fail_cleanly_and_accepted_models_run(
            k in 0usize..60,
            with in prop_oneof![
                Just("0".to_string()), Just("-1".to_string()), Just("1e308".to_string()),
                Just("\"0s\"".to_string()), Just("\"-5s\"".to_string()), Just("\"1d\"".to_string()),
                Just("\"nowhere.x\"".to_string()), Just("\"\"".to_string()), Just("nan".to_string()),
                Just("4294967295".to_string()), Just("0.000001".to_string()), Just("true".to_string()),
            ],
        ) {
            if let Some(m) = load(&mutate(k, &with)) {
                let cfg = RunConfig {
                    duration: SimDuration::from_secs(5),
                    max_events: 2_000_000,
                    ..RunConfig::default()
                };
                let _ = World::run(&m, cfg);
            }
        }
    }
}

/// M/G/1 mean time in system by Pollaczek–Khinchine: W = E[S] + λ·E[S²] / (2(1 − ρ)).
#[test]
fn mg1_through_a_model_file_matches_pollaczek_khinchine() {
    // (work spec, E[S], E[S²]) for deterministic and uniform service at ρ = 0.8.
    let cases = [
        ("{ constant = \"100ms\" }", 0.1, 0.01),
        (
            "{ uniform = { min = \"0ms\", max = \"200ms\" } }",
            0.1,
            0.04 / 3.0,
        ),
    ];
    for (work, es, es2) in cases {
        let lambda = 8.0;
        let text = format!(
            r#"
[[workloads]]
name = "users"
target = "server.serve"
arrivals = {{ poisson = {{ rate = {lambda} }} }}
patience = "1h"
slo = "1h"

[services.server]
workers = 1
[services.server.endpoints.serve]
steps = [{{ work = {work} }}]
"#
        );
        let r = run(&model(&text), 40_000, 21);
        let rho = lambda * es;
        let exact = es + lambda * es2 / (2.0 * (1.0 - rho));
        let sim = r.metrics.workloads[0].mean_latency_ms() / 1e3;
        let rel = (sim - exact).abs() / exact;
        assert!(
            rel < 0.03,
            "{work}: W = {sim:.4} s vs P-K {exact:.4} s ({:.1} %)",
            rel * 100.0
        );
    }
}
