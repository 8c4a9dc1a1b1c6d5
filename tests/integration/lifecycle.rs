//! The request lifecycle through the world: cancellation, error classes, server signals
//! with Retry-After, and hedged calls.

use crate::world::{model, run};
use cascade::sim::RunReport;

fn client<'a>(r: &'a RunReport, name: &str) -> &'a cascade::sim::metrics::ClientMetrics {
    r.metrics
        .clients
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no client {name}"))
}

fn calls_attempts(r: &RunReport, name: &str) -> (u64, u64) {
    let c = client(r, name);
    let calls = c.buckets.iter().map(|b| b.calls).sum();
    let attempts = c.buckets.iter().map(|b| b.attempts).sum();
    (calls, attempts)
}

fn failed_share(r: &RunReport) -> f64 {
    let t = &r.metrics.workloads[0].totals;
    t.failed as f64 / t.offered as f64
}

/// Users → front → leaf; `edge` is the front's client of the leaf, `leaf` the leaf's work.
fn two_tier(users: &str, edge: &str, leaf: &str, faults: &str) -> String {
    format!(
        r#"
[[workloads]]
name = "users"
target = "front.get"
arrivals = {{ poisson = {{ rate = 100.0 }} }}
patience = "10s"
slo = "2s"
{users}

[services.front]
workers = 2000
[services.front.endpoints.get]
steps = [{{ call = "leaf.get" }}]
[services.front.clients.leaf]
{edge}

[services.leaf]
workers = 2000
[services.leaf.endpoints.get]
steps = [{{ work = {leaf} }}]
{faults}
"#
    )
}

const HEAVY_TAIL: &str = r#"{ lognormal = { p50 = "10ms", p99 = "200ms" } }"#;

// ---- cancellation ----------------------------------------------------------------------

#[test]
fn cancelling_edges_stop_the_work_of_attempts_that_timed_out() {
    let slow = r#"{ constant = "500ms" }"#;
    let plain = run(
        &model(&two_tier("", "timeout = \"100ms\"", slow, "")),
        120,
        1,
    );
    let cancel = run(
        &model(&two_tier(
            "",
            "timeout = \"100ms\"\ncancel = true",
            slow,
            "",
        )),
        120,
        1,
    );
    assert!(
        plain.summary.wasted_s > 1000.0,
        "{}",
        plain.summary.wasted_s
    );
    assert!(cancel.summary.wasted_s < 1.0, "{}", cancel.summary.wasted_s);
    let cancelled: u64 = cancel.metrics.services[1]
        .buckets
        .iter()
        .map(|b| b.cancelled)
        .sum();
    assert!(
        cancelled > 10_000,
        "every timed-out request is cancelled: {cancelled}"
    );
}

#[test]
fn a_user_who_gives_up_cancels_the_chain_when_the_workload_says_so() {
    let slow = r#"{ constant = "3s" }"#;
    let users = "patience = \"1s\"";
    let text = |extra: &str, edge: &str| {
        two_tier(users, edge, slow, "").replace("patience = \"10s\"\n", extra)
    };
    let keep = run(&model(&text("", "")), 60, 1);
    let cancel = run(
        &model(&text("cancel_on_abandon = true\n", "cancel = true")),
        60,
        1,
    );
    assert!(keep.summary.wasted_s > 1000.0, "{}", keep.summary.wasted_s);
    assert!(cancel.summary.wasted_s < 1.0, "{}", cancel.summary.wasted_s);
}

// ---- error classes ---------------------------------------------------------------------

#[test]
fn client_errors_are_not_retried_and_do_not_open_the_breaker() {
    let retry = r#"retry = { max_attempts = 3, backoff = { fixed = { delay = "10ms" } } }"#;
    let breaker =
        "breaker = { count_window = { size = 20, failure_rate = 50.0, minimum_calls = 10 } }";
    let fault = |status: &str| {
        format!(
            "[[faults]]\ntarget = \"leaf\"\nat = \"10s\"\nduration = \"30s\"\nerror_rate = 0.6\nstatus = \"{status}\""
        )
    };
    let leaf = r#"{ constant = "5ms" }"#;
    let go =
        |edge: &str, status: &str| run(&model(&two_tier("", edge, leaf, &fault(status))), 60, 1);
    let (calls, attempts) = calls_attempts(&go(retry, "client_error"), "front→leaf");
    assert_eq!(calls, attempts, "a 400 is never retried");
    let (calls, attempts) = calls_attempts(&go(retry, "server_error"), "front→leaf");
    assert!(
        attempts > calls + calls / 10,
        "500s are: {attempts} for {calls}"
    );
    let opened = |status| client(&go(breaker, status), "front→leaf").transitions;
    assert_eq!(opened("client_error"), 0, "a 400 is not a breaker failure");
    assert!(opened("server_error") > 0, "500s open the breaker");
}

// ---- server signals --------------------------------------------------------------------

#[test]
fn a_throttled_answer_with_retry_after_holds_back_the_retries_that_honour_it() {
    let front = "rate_limit = { token_bucket = { rate = 60.0, burst = 5 }, retry_after = \"1s\" }";
    let text = |honour: &str| {
        format!(
            r#"
[[workloads]]
name = "users"
target = "front.get"
arrivals = {{ poisson = {{ rate = 100.0 }} }}
patience = "10s"
slo = "5s"

[services.front]
workers = 200
[services.front.endpoints.get]
steps = [{{ call = "leaf.get" }}]
[services.front.clients.leaf]
retry = {{ max_attempts = 4, backoff = {{ fixed = {{ delay = "20ms" }} }}{honour} }}

[services.leaf]
workers = 200
{front}
[services.leaf.endpoints.get]
steps = [{{ work = {{ constant = "5ms" }} }}]
"#
        )
    };
    // 100/s into a 60/s bucket: a fixed 20 ms backoff retries into the same empty bucket,
    // Retry-After waits the second the server asks for.
    let own = run(&model(&text("")), 60, 3);
    let honour = run(&model(&text(", honor_retry_after = true")), 60, 3);
    let push = run(&model(&text(", pushback = true")), 60, 3);
    let p99 = |r: &RunReport| r.summary.p99_ok_ms;
    assert!(
        p99(&own) < 200.0,
        "own backoff retries at once: p99 {}",
        p99(&own)
    );
    assert!(
        p99(&honour) >= 1000.0,
        "honoured hint: p99 {}",
        p99(&honour)
    );
    assert!(p99(&push) >= 1000.0, "pushback: p99 {}", p99(&push));
}

// ---- hedging ---------------------------------------------------------------------------

#[test]
fn hedging_after_the_tail_starts_cuts_the_p99_for_the_predicted_extra_load() {
    let plain = run(
        &model(&two_tier("", "cancel = true", HEAVY_TAIL, "")),
        300,
        5,
    );
    let hedged = run(
        &model(&two_tier(
            "",
            "cancel = true\nhedge = { delay = \"30ms\", max_attempts = 2 }",
            HEAVY_TAIL,
            "",
        )),
        300,
        5,
    );
    assert!(
        hedged.summary.p99_ms < 0.5 * plain.summary.p99_ms,
        "p99 {} hedged vs {} plain",
        hedged.summary.p99_ms,
        plain.summary.p99_ms
    );
    // A hedge goes for every call still out at 30 ms: P(X > 30 ms) of a lognormal with
    // median 10 ms and p99 200 ms is 1 − Φ(ln 3 / σ), σ = ln 20 / 2.326.
    let sigma = 20f64.ln() / 2.326_348;
    let z: f64 = 3f64.ln() / sigma;
    let tail = 0.5 * libm_erfc(z / std::f64::consts::SQRT_2);
    let (calls, attempts) = calls_attempts(&hedged, "front→leaf");
    let extra = attempts as f64 / calls as f64 - 1.0;
    assert!(
        (extra - tail).abs() < 0.01,
        "hedges per call {extra:.4}, theory {tail:.4}"
    );
    // Cancelled losers leave no wasted work.
    assert!(hedged.summary.wasted_s < 1.0, "{}", hedged.summary.wasted_s);
}

/// erfc by the Abramowitz–Stegun 7.1.26 rational approximation (error < 1.5e-7).
fn libm_erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    poly * (-x * x).exp()
}

#[test]
fn losers_that_are_not_cancelled_run_on_for_nobody() {
    let edge = "hedge = { delay = \"0ms\", max_attempts = 3 }";
    let r = run(&model(&two_tier("", edge, HEAVY_TAIL, "")), 120, 2);
    let (calls, attempts) = calls_attempts(&r, "front→leaf");
    assert_eq!(attempts, 3 * calls, "delay 0 sends all three at once");
    // Two of every three requests answer after the call is over.
    let wasted = r.summary.wasted as f64 / calls as f64;
    assert!((wasted - 2.0).abs() < 0.01, "wasted per call {wasted}");
}

#[test]
fn a_fatal_failure_ends_a_hedged_call_and_a_non_fatal_one_lets_the_others_answer() {
    let fault = "[[faults]]\ntarget = \"leaf\"\nat = \"0s\"\nduration = \"10m\"\nerror_rate = 0.5";
    let leaf = r#"{ constant = "20ms" }"#;
    let fatal = run(
        &model(&two_tier("", "hedge = { max_attempts = 2 }", leaf, fault)),
        120,
        3,
    );
    let non_fatal = run(
        &model(&two_tier(
            "",
            "hedge = { max_attempts = 2, non_fatal = [\"server_error\"] }",
            leaf,
            fault,
        )),
        120,
        3,
    );
    // Errors answer at once, before any success: with both attempts out at once the call
    // fails if either fails (3/4) when errors are fatal, only if both do (1/4) otherwise.
    assert!(
        (failed_share(&fatal) - 0.75).abs() < 0.02,
        "{}",
        failed_share(&fatal)
    );
    assert!(
        (failed_share(&non_fatal) - 0.25).abs() < 0.02,
        "{}",
        failed_share(&non_fatal)
    );
}

#[test]
fn a_retry_budget_caps_the_hedges() {
    let edge = r#"hedge = { delay = "0ms", max_attempts = 2 }
budget = { finagle = { percent_can_retry = 0.1, min_retries_per_sec = 0, ttl = "10s" } }"#;
    let r = run(&model(&two_tier("", edge, HEAVY_TAIL, "")), 300, 4);
    let (calls, attempts) = calls_attempts(&r, "front→leaf");
    let extra = attempts as f64 / calls as f64 - 1.0;
    assert!((extra - 0.1).abs() < 0.01, "hedges per call {extra:.3}");
    let refused: u64 = client(&r, "front→leaf")
        .buckets
        .iter()
        .map(|b| b.budget_exhausted)
        .sum();
    assert!(
        refused as f64 > 0.85 * calls as f64,
        "refused {refused} of {calls}"
    );
}

#[test]
fn a_per_try_timeout_hedges_but_a_late_first_answer_still_wins() {
    // The leaf answers in 50 ms; the per-try timeout (30 ms) hedges, and the first
    // attempt, still out, answers at 50 ms: no call fails, each sent two attempts.
    let edge = "timeout = \"30ms\"\nhedge = { delay = \"10s\", max_attempts = 2 }";
    let r = run(
        &model(&two_tier("", edge, r#"{ constant = "50ms" }"#, "")),
        60,
        1,
    );
    let (calls, attempts) = calls_attempts(&r, "front→leaf");
    assert_eq!(attempts, 2 * calls);
    assert_eq!(r.metrics.workloads[0].totals.failed, 0);
    assert!(
        (r.summary.p50_ms - 50.0).abs() < 1.0,
        "{}",
        r.summary.p50_ms
    );
}

#[test]
fn hedged_calls_into_a_black_hole_all_end_at_their_per_try_timeouts() {
    let edge = "timeout = \"100ms\"\nhedge = { delay = \"10s\", max_attempts = 3 }";
    let fault = "[[faults]]\ntarget = \"leaf\"\nat = \"0s\"\nduration = \"10m\"\nhang = true";
    let r = run(
        &model(&two_tier("", edge, r#"{ constant = "5ms" }"#, fault)),
        60,
        1,
    );
    let t = &r.metrics.workloads[0].totals;
    assert_eq!(t.failed + r.metrics.workloads[0].unresolved, t.offered);
    assert!(r.metrics.workloads[0].unresolved < 100, "every call ends");
    // Three per-try periods: hedge, hedge, then each attempt ends.
    assert!(
        (r.summary.p50_ms - 300.0).abs() < 1.0,
        "{}",
        r.summary.p50_ms
    );
}

// ---- thread-pool bulkhead --------------------------------------------------------------

#[test]
fn a_thread_pool_bulkhead_queues_behind_its_threads_where_a_semaphore_rejects() {
    // 20 calls/s of 1 s each against 10 threads: the pool serves 10/s, its 20 queued
    // calls waiting 2 s for a thread; the semaphore fails at once what finds it full.
    let leaf = r#"{ constant = "1s" }"#;
    let text = |bulkhead: &str| {
        two_tier("", &format!("bulkhead = {bulkhead}"), leaf, "")
            .replace("rate = 100.0", "rate = 20.0")
            .replace("slo = \"2s\"", "slo = \"5s\"")
    };
    let pool = run(
        &model(&text(
            "{ thread_pool = { core_threads = 5, max_threads = 10, queue_capacity = 20 } }",
        )),
        300,
        1,
    );
    let sem = run(&model(&text("{ max_concurrent = 10 }")), 300, 1);
    let served = |r: &RunReport| r.metrics.workloads[0].totals.ok() as f64 / 300.0;
    assert!(
        (served(&pool) - 10.0).abs() < 0.3,
        "pool {}/s",
        served(&pool)
    );
    // The semaphore is an Erlang loss system: 20 Erlangs on 10 permits lose B(10, 20).
    let erlang_b = (1..=10).fold(1.0, |b: f64, k| 20.0 * b / (k as f64 + 20.0 * b));
    let expected = 20.0 * (1.0 - erlang_b);
    assert!(
        (served(&sem) - expected).abs() < 0.3,
        "semaphore {}/s, Erlang B {expected:.2}/s",
        served(&sem)
    );
    assert!((sem.summary.p50_ok_ms - 1000.0).abs() < 1.0);
    assert!(
        (pool.summary.p50_ok_ms - 3000.0).abs() < 100.0,
        "queued 2 s, then 1 s: {}",
        pool.summary.p50_ok_ms
    );
}

#[test]
fn the_thread_pool_bulkhead_and_the_semaphore_form_are_exclusive() {
    let text = two_tier(
        "",
        "bulkhead = { max_concurrent = 3, thread_pool = { max_threads = 4 } }",
        r#"{ constant = "1s" }"#,
        "",
    );
    let path = std::path::Path::new("inline.toml");
    let table = cascade::model::load::parse_table(path, &text).unwrap();
    let e = cascade::model::load::model_from_table(path, table).unwrap_err();
    assert!(
        e.to_string()
            .contains("services.front.clients.leaf.bulkhead.thread_pool"),
        "{e}"
    );
}

// ---- held connections ------------------------------------------------------------------

#[test]
fn a_held_connection_comes_back_however_the_request_ends() {
    // A hold across a call into a black hole (0–60 s): requests end by the call's
    // timeout, by the user's cancellation, or by waiting too long for a connection.
    // Afterwards every connection must be free again and every request served.
    let text = |edge: &str, users: &str| {
        format!(
            r#"
[[workloads]]
name = "users"
target = "front.get"
arrivals = {{ poisson = {{ rate = 50.0 }} }}
patience = "2s"
slo = "2s"
{users}

[pools.db]
size = 5
max_wait = "200ms"

[services.front]
workers = 1000
[services.front.endpoints.get]
steps = [{{ hold = "db", steps = [{{ work = {{ constant = "2ms" }} }}, {{ call = "leaf.get" }}] }}]
[services.front.clients.leaf]
{edge}

[services.leaf]
workers = 1000
[services.leaf.endpoints.get]
steps = [{{ work = {{ constant = "10ms" }} }}]

[[faults]]
target = "leaf"
at = "0s"
duration = "60s"
hang = true
"#
        )
    };
    for (edge, users) in [
        ("timeout = \"500ms\"", ""),
        ("cancel = true", "cancel_on_abandon = true"),
    ] {
        let r = run(&model(&text(edge, users)), 180, 1);
        let pool = &r.metrics.pools[0];
        let width = r.metrics.bucket.as_secs_f64();
        let during = pool.in_use_area[5] / width;
        let after = pool.in_use_area[r.run_buckets - 1] / width;
        assert!(during > 4.9, "{edge}: drained during the fault ({during})");
        assert!(after < 1.0, "{edge}: given back afterwards ({after})");
        let last: Vec<_> = r.metrics.workloads[0].buckets[r.run_buckets - 10..].to_vec();
        let (ok, offered) = last
            .iter()
            .fold((0, 0), |(a, b), c| (a + c.ok(), b + c.offered));
        assert_eq!(ok, offered, "{edge}: served again");
        let rejected: u64 = r.metrics.services[0]
            .buckets
            .iter()
            .map(|b| b.rejected[2])
            .sum();
        assert!(
            rejected > 1000,
            "{edge}: waits for a connection fail ({rejected})"
        );
    }
}

// ---- reasons ---------------------------------------------------------------------------

#[test]
fn failures_are_counted_by_their_root_cause() {
    // The leaf is slow: front's call times out and front answers 500; the user sees the
    // error, and the reason recorded is the timeout where it started.
    let slow = run(
        &model(&two_tier(
            "",
            "timeout = \"100ms\"",
            r#"{ constant = "500ms" }"#,
            "",
        )),
        60,
        1,
    );
    let s = &slow.summary;
    assert!(s.failed > 5000);
    assert_eq!(s.failed_by[1], s.failed, "all timeouts: {:?}", s.failed_by);
    // Injected errors are errors at their origin; a full queue is its own reason.
    let fault = "[[faults]]\ntarget = \"leaf\"\nat = \"0s\"\nduration = \"10m\"\nerror_rate = 0.5";
    let broken = run(
        &model(&two_tier("", "", r#"{ constant = "5ms" }"#, fault)),
        60,
        1,
    );
    assert_eq!(broken.summary.failed_by[0], broken.summary.failed);
    let full = two_tier("", "", r#"{ constant = "1s" }"#, "").replace(
        "workers = 2000\n[services.leaf.endpoints",
        "workers = 10\nqueue = { capacity = 5 }\n[services.leaf.endpoints",
    );
    let r = run(&model(&full), 60, 1);
    let queue_full =
        4 + cascade::sim::metrics::reason_index(cascade::policy::RejectReason::QueueFull);
    assert!(
        r.summary.failed_by[queue_full] as f64 > 0.8 * r.summary.failed as f64,
        "{:?}",
        r.summary.failed_by
    );
    assert_eq!(r.summary.failed_by.iter().sum::<u64>(), r.summary.failed);
}

// ---- client-side rate limiter ----------------------------------------------------------

#[test]
fn a_client_side_rate_limiter_parks_then_refuses_each_attempt_it_cannot_serve() {
    // The same Resilience4j limiter decorating the front's calls: 10 permits a second,
    // a 300 ms timeout, 100 calls a second. Each refused call waits the 300 ms, then
    // fails as rate_limited at the caller; the leaf sees only the permitted 10/s.
    let edge = "rate_limit = { limit_for_period = { limit_for_period = 10, limit_refresh_period = \"1s\", timeout_duration = \"300ms\" } }";
    let r = run(
        &model(&two_tier("", edge, r#"{ constant = "10ms" }"#, "")),
        120,
        1,
    );
    let leaf: u64 = r.metrics.services[1]
        .buckets
        .iter()
        .map(|b| b.arrivals)
        .sum();
    assert!(
        (leaf as f64 / 120.0 - 10.0).abs() < 0.2,
        "leaf sees {leaf} in 120 s"
    );
    let rate_limited =
        4 + cascade::sim::metrics::reason_index(cascade::policy::RejectReason::RateLimited);
    assert_eq!(r.summary.failed_by[rate_limited], r.summary.failed);
    assert!(
        (r.summary.p50_ms - 300.0).abs() < 1.0,
        "p50 {}",
        r.summary.p50_ms
    );
    // Inside the retry (the default place) each attempt asks for a permit.
    let retried = format!(
        "{edge}\nretry = {{ max_attempts = 2, backoff = {{ fixed = {{ delay = \"10ms\" }} }} }}"
    );
    let r = run(
        &model(&two_tier("", &retried, r#"{ constant = "10ms" }"#, "")),
        120,
        1,
    );
    assert!(
        (r.summary.p50_ms - 610.0).abs() < 1.0,
        "two parked attempts and the back-off: p50 {}",
        r.summary.p50_ms
    );
    // A rate_limiter in `order` needs a rate_limit.
    let text = two_tier(
        "",
        "order = [\"rate_limiter\", \"bulkhead\", \"breaker\", \"retry\", \"timeout\"]",
        r#"{ constant = "10ms" }"#,
        "",
    );
    let path = std::path::Path::new("inline.toml");
    let table = cascade::model::load::parse_table(path, &text).unwrap();
    let e = cascade::model::load::model_from_table(path, table).unwrap_err();
    assert!(e.to_string().contains("clients.leaf.order"), "{e}");
}
