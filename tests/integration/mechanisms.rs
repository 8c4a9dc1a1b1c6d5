//! Each model mechanism, wired through the world, does what its documentation says:
//! front-door rate limiting and shedding, queue discipline, shared pools, layer order,
//! fallbacks, network delay and total timeouts.

use crate::world::{model, run};
use cascade::sim::RunReport;

fn svc<'a>(r: &'a RunReport, name: &str) -> &'a cascade::sim::metrics::ServiceMetrics {
    r.metrics.services.iter().find(|s| s.name == name).unwrap()
}

fn ok_ratio(r: &RunReport, workload: usize) -> f64 {
    let t = &r.metrics.workloads[workload].totals;
    t.ok() as f64 / t.offered as f64
}

fn one_service(front: &str, rate: f64, work: &str) -> String {
    format!(
        r#"
[[workloads]]
name = "users"
target = "s.x"
arrivals = {{ poisson = {{ rate = {rate} }} }}
patience = "5s"
slo = "5s"

[services.s]
workers = 100
{front}
[services.s.endpoints.x]
steps = [{{ work = {work} }}]
"#
    )
}

#[test]
fn a_token_bucket_at_the_front_door_admits_its_rate() {
    let m = model(&one_service(
        "rate_limit = { token_bucket = { rate = 50.0, burst = 10 } }",
        100.0,
        "{ constant = \"10ms\" }",
    ));
    let r = run(&m, 600, 1);
    let admitted = ok_ratio(&r, 0) * 100.0;
    assert!(
        (admitted - 50.0).abs() < 2.0,
        "admitted {admitted:.1}/s of 100/s at a 50/s bucket"
    );
    let rejected: u64 = svc(&r, "s").buckets.iter().map(|b| b.rejected[4]).sum();
    assert!(
        rejected > 25_000,
        "rate_limited rejections counted: {rejected}"
    );
}

#[test]
fn a_resilience4j_rate_limiter_parks_a_refused_caller_for_its_whole_timeout() {
    // 100/s against 10 permits a second: most callers cannot get a permit within the
    // 300 ms timeout, and AtomicRateLimiter.acquirePermission parks each of them for the
    // whole timeout before refusing, so a refusal takes 300 ms, not 0.
    let m = model(&one_service(
        "rate_limit = { limit_for_period = { limit_for_period = 10, limit_refresh_period = \"1s\", timeout_duration = \"300ms\" } }",
        100.0,
        "{ constant = \"10ms\" }",
    ));
    let r = run(&m, 120, 1);
    let rejected: u64 = svc(&r, "s").buckets.iter().map(|b| b.rejected[4]).sum();
    let share = rejected as f64 / r.summary.offered as f64;
    assert!(share > 0.8, "rate_limited share {share:.2}");
    assert!(
        (r.summary.p50_ms - 300.0).abs() < 1.0,
        "the median request is refused after the 300 ms timeout: p50 {} ms",
        r.summary.p50_ms
    );
    assert!(r.summary.p99_ms <= 311.0, "p99 {} ms", r.summary.p99_ms);
}

#[test]
fn shedding_drops_the_least_important_class_first() {
    let text = r#"
[[workloads]]
name = "checkout"
target = "s.x"
arrivals = { poisson = { rate = 60.0 } }
patience = "5s"
slo = "5s"
priority = 0

[[workloads]]
name = "browse"
target = "s.x"
arrivals = { poisson = { rate = 60.0 } }
patience = "5s"
slo = "5s"
priority = 2

[services.s]
workers = 10
shed = { thresholds = [1.0, 0.9, 0.5] }
[services.s.endpoints.x]
steps = [{ work = { constant = "100ms" } }]
"#;
    let r = run(&model(text), 300, 2);
    let (critical, browse) = (ok_ratio(&r, 0), ok_ratio(&r, 1));
    assert!(
        critical > 0.9,
        "the important class is served: {critical:.3}"
    );
    assert!(
        browse < critical - 0.2,
        "the overload is shed from the least important class: {browse:.3} vs {critical:.3}"
    );
}

#[test]
fn lifo_serves_fresh_requests_under_overload_fifo_serves_stale_ones() {
    let overloaded = |discipline: &str| {
        let text = one_service(
            &format!("queue = {{ discipline = \"{discipline}\" }}"),
            110.0,
            "{ exponential = { mean = \"1s\" } }",
        )
        .replace(
            "patience = \"5s\"\nslo = \"5s\"",
            "patience = \"3s\"\nslo = \"3s\"",
        );
        run(&model(&text), 300, 3)
    };
    let (fifo, lifo) = (overloaded("fifo"), overloaded("lifo"));
    let (f, l) = (ok_ratio(&fifo, 0), ok_ratio(&lifo, 0));
    assert!(
        l > f + 0.3,
        "LIFO answers far more users in time under 10 % overload: {l:.2} vs FIFO {f:.2}"
    );
}

fn two_clients(pools: &str, client_a: &str, client_b: &str) -> String {
    format!(
        r#"
{pools}
[[workloads]]
name = "a"
target = "s.a"
arrivals = {{ poisson = {{ rate = 50.0 }} }}
patience = "10s"
slo = "1s"

[[workloads]]
name = "b"
target = "s.b"
arrivals = {{ poisson = {{ rate = 50.0 }} }}
patience = "10s"
slo = "1s"

[services.s]
workers = 1000
[services.s.endpoints.a]
steps = [{{ call = "slow.x" }}]
[services.s.endpoints.b]
steps = [{{ call = "fast.x" }}]
[services.s.clients.slow]
{client_a}
[services.s.clients.fast]
{client_b}

[services.slow]
workers = 1000
[services.slow.endpoints.x]
steps = [{{ work = {{ constant = "2s" }} }}]

[services.fast]
workers = 1000
[services.fast.endpoints.x]
steps = [{{ work = {{ constant = "10ms" }} }}]
"#
    )
}

#[test]
fn a_shared_connection_pool_lets_a_slow_dependency_starve_a_fast_one() {
    let shared = two_clients(
        "[pools.http]\nsize = 60\nmax_wait = \"500ms\"\n",
        "pool = \"http\"",
        "pool = \"http\"",
    );
    let separate = two_clients(
        "[pools.slow]\nsize = 60\nmax_wait = \"500ms\"\n[pools.fast]\nsize = 60\nmax_wait = \"500ms\"\n",
        "pool = \"slow\"",
        "pool = \"fast\"",
    );
    let (sh, se) = (run(&model(&shared), 120, 4), run(&model(&separate), 120, 4));
    assert!(
        ok_ratio(&se, 1) > 0.99,
        "separate pools: the fast path is untouched ({:.3})",
        ok_ratio(&se, 1)
    );
    assert!(
        ok_ratio(&sh, 1) < 0.7,
        "shared pool: the fast path starves ({:.3})",
        ok_ratio(&sh, 1)
    );
}

fn flaky(order: &str) -> String {
    format!(
        r#"
[[workloads]]
name = "users"
target = "s.x"
arrivals = {{ poisson = {{ rate = 50.0 }} }}
patience = "10s"
slo = "1s"

[services.s]
workers = 1000
[services.s.endpoints.x]
steps = [{{ call = "dep.x" }}]
[services.s.clients.dep]
retry = {{ max_attempts = 3, backoff = "immediate" }}
breaker = {{ count_window = {{ size = 50, failure_rate = 50.0, minimum_calls = 20 }}, wait_open = "5s", half_open_calls = 3 }}
{order}

[services.dep]
workers = 1000
[services.dep.endpoints.x]
steps = [{{ work = {{ constant = "5ms" }} }}]

[[faults]]
target = "dep"
at = "10s"
duration = "60s"
error_rate = 0.6
"#
    )
}

#[test]
fn a_breaker_inside_the_retry_counts_every_attempt() {
    // 60 % of attempts fail, but only 0.6³ ≈ 22 % of calls fail after three attempts.
    let outside = run(&model(&flaky("")), 90, 5);
    let inside = run(
        &model(&flaky(
            "order = [\"retry\", \"breaker\", \"timeout\", \"bulkhead\"]",
        )),
        90,
        5,
    );
    assert_eq!(
        outside.summary.breaker_transitions, 0,
        "outside the retry the breaker sees 22 % failures"
    );
    assert!(
        inside.summary.breaker_transitions >= 2,
        "inside it sees 60 % and opens"
    );
}

#[test]
fn a_stale_cache_answers_degraded_while_the_dependency_is_down() {
    let with = |fallback: &str| {
        model(&format!(
            r#"
[[workloads]]
name = "users"
target = "s.x"
arrivals = {{ poisson = {{ rate = 20.0 }} }}
patience = "10s"
slo = "1s"

[services.s]
workers = 100
[services.s.endpoints.x]
steps = [{{ call = "prices.get" }}]
[services.s.clients.prices]
fallback = {fallback}

[services.prices]
workers = 100
[services.prices.endpoints.get]
steps = [{{ work = {{ constant = "5ms" }} }}]

[[faults]]
target = "prices"
at = "30s"
duration = "60s"
refuse = true
"#
        ))
    };
    let stale = run(&with("{ stale_cache = { max_age = \"5m\" } }"), 120, 6);
    let error = run(&with("\"error\""), 120, 6);
    let t = &stale.metrics.workloads[0].totals;
    assert_eq!(t.failed, 0, "every failure is answered from the cache");
    assert!(
        t.degraded > 1000,
        "degraded answers during the outage: {}",
        t.degraded
    );
    assert!(error.metrics.workloads[0].totals.failed > 1000);
}

#[test]
fn network_delay_adds_to_every_hop_both_ways() {
    let text = |network: &str| {
        format!(
            r#"
[[workloads]]
name = "users"
target = "a.x"
arrivals = {{ poisson = {{ rate = 20.0 }} }}
patience = "10s"
slo = "1s"

[services.a]
workers = 100
[services.a.endpoints.x]
steps = [{{ call = "b.x" }}]
[services.a.clients.b]
{network}

[services.b]
workers = 100
[services.b.endpoints.x]
steps = [{{ work = {{ constant = "10ms" }} }}]
"#
        )
    };
    let far = run(&model(&text("network = { constant = \"25ms\" }")), 60, 7);
    let near = run(&model(&text("")), 60, 7);
    let d =
        far.metrics.workloads[0].mean_latency_ms() - near.metrics.workloads[0].mean_latency_ms();
    assert!(
        (d - 50.0).abs() < 1.0,
        "25 ms each way adds 50 ms: {d:.2} ms"
    );
}

fn slow_backend(client: &str) -> String {
    format!(
        r#"
[[workloads]]
name = "users"
target = "a.x"
arrivals = {{ poisson = {{ rate = 20.0 }} }}
patience = "1m"
slo = "1m"

[services.a]
workers = 1000
[services.a.endpoints.x]
steps = [{{ call = "b.x" }}]
[services.a.clients.b]
{client}

[services.b]
workers = 1000
[services.b.endpoints.x]
steps = [{{ work = {{ constant = "5s" }} }}]
"#
    )
}

#[test]
fn a_total_timeout_ends_the_call_mid_attempt() {
    let r = run(
        &model(&slow_backend(
            "total_timeout = \"2500ms\"\nretry = { max_attempts = 5, backoff = \"immediate\" }",
        )),
        60,
        8,
    );
    let w = &r.metrics.workloads[0];
    assert!(
        (w.latency_ms(0.5) - 2500.0).abs() < 5.0,
        "the call ends at 2.5 s: {} ms",
        w.latency_ms(0.5)
    );
    assert!(
        (r.summary.amplification - 1.0).abs() < 0.01,
        "one attempt: {:.2}",
        r.summary.amplification
    );
}

#[test]
fn no_retry_starts_when_the_remaining_budget_is_shorter_than_an_attempt() {
    let client = "timeout = \"1s\"\ntotal_timeout = \"2500ms\"\nretry = { max_attempts = 5, backoff = \"immediate\" }";
    let r = run(&model(&slow_backend(client)), 60, 8);
    let w = &r.metrics.workloads[0];
    // Attempts at 0 s and 1 s; at 2 s only 0.5 s is left for a 1 s attempt: give up.
    assert!(
        (w.latency_ms(0.5) - 2000.0).abs() < 5.0,
        "gives up at 2 s: {} ms",
        w.latency_ms(0.5)
    );
    assert!(
        (r.summary.amplification - 2.0).abs() < 0.01,
        "two attempts: {:.2}",
        r.summary.amplification
    );
}

#[test]
fn an_adaptive_timeout_follows_the_callees_latency() {
    let with = |timeout: &str| {
        model(&format!(
            r#"
[[workloads]]
name = "users"
target = "a.x"
arrivals = {{ poisson = {{ rate = 50.0 }} }}
patience = "1m"
slo = "1m"

[services.a]
workers = 1000
[services.a.endpoints.x]
steps = [{{ call = "b.x" }}]
[services.a.clients.b]
timeout = {timeout}

[services.b]
workers = 1000
[services.b.endpoints.x]
steps = [{{ work = {{ lognormal = {{ p50 = "100ms", p99 = "300ms" }} }} }}]

[[faults]]
target = "b"
at = "60s"
duration = "60s"
latency_multiplier = 5.0
"#
        ))
    };
    let timeouts = |r: &RunReport, from: usize, to: usize| -> u64 {
        svc(r, "a").buckets[from..to]
            .iter()
            .map(|b| b.failed_timeout)
            .sum()
    };
    let fixed = run(&with("\"600ms\""), 120, 9);
    let adaptive = run(
        &with(
            "{ adaptive = { percentile = 99.0, multiplier = 2.0, min = \"50ms\", max = \"3s\", initial = \"1s\" } }",
        ),
        120,
        9,
    );
    // Healthy: p99 300 ms × 2 ≈ 600 ms, like the fixed timeout: almost nothing times out.
    assert!(
        timeouts(&adaptive, 10, 60) < 40,
        "healthy: {} timeouts",
        timeouts(&adaptive, 10, 60)
    );
    // Five times slower (p50 500 ms, p99 1.5 s): the fixed 600 ms timeout cuts ~40 % of
    // calls; the adaptive one rises with the p99 and cuts a few percent.
    let (f, a) = (timeouts(&fixed, 70, 120), timeouts(&adaptive, 70, 120));
    assert!(
        f > 800 && a * 5 < f,
        "slow phase: fixed {f} timeouts, adaptive {a}"
    );
}

#[test]
fn an_adaptive_concurrency_limit_sheds_overload_and_keeps_latency_low() {
    let with = |limit: &str| {
        model(&format!(
            r#"
[[workloads]]
name = "users"
target = "s.x"
arrivals = {{ poisson = {{ rate = 120.0 }} }}
patience = "5s"
slo = "1s"

[services.s]
workers = 10
{limit}
[services.s.endpoints.x]
steps = [{{ work = {{ constant = "100ms" }} }}]
"#
        ))
    };
    // 120/s against a 100/s service: without a limit the queue grows for ever and every
    // answer comes late; AIMD sheds the excess at the door and keeps answers fast.
    let none = run(&with(""), 120, 10);
    let aimd = run(
        &with(
            "concurrency_limit = { aimd = { initial_limit = 10, min_limit = 10, max_limit = 200, timeout = \"500ms\" } }",
        ),
        120,
        10,
    );
    let shed: u64 = svc(&aimd, "s").buckets.iter().map(|b| b.rejected[5]).sum();
    assert!(shed > 1000, "the limit sheds the excess: {shed}");
    assert!(
        ok_ratio(&aimd, 0) > ok_ratio(&none, 0) + 0.3,
        "limited {:.2} vs unlimited {:.2} answered within the SLO",
        ok_ratio(&aimd, 0),
        ok_ratio(&none, 0)
    );
}
