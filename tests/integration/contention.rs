//! Contention mechanics: burst arrivals and the optimistic-concurrency resource, on small
//! models whose outcome can be worked out by hand.

use cascade::sim::metrics::FailReason;

use crate::world::{model, run};

/// `n` writers in a burst at 1 s against one row; `update` is client.update's steps,
/// `edge` the client → db edge, `retry` the users'.
fn occ(n: u32, spread: &str, update: &str, db: &str, retry: &str) -> String {
    format!(
        r#"
[resources.row]
kind = "occ"

[[workloads]]
name = "writers"
target = "client.update"
arrivals = {{ burst = {{ count = {n}, at = "1s", spread = "{spread}" }} }}
patience = "1h"
slo = "1h"
{retry}

[services.client]
workers = 100000
[services.client.endpoints.update]
steps = {update}
[services.client.clients.db]
network = {{ constant = "10ms" }}

[services.db]
workers = 100000
{db}
"#
    )
}

const SPLIT: &str = r#"[{ call = "db.read" }, { call = "db.write" }]"#;
const DB: &str = "[services.db.endpoints.read]\nsteps = [{ occ_read = \"row\" }]\n[services.db.endpoints.write]\nsteps = [{ occ_write = \"row\" }]";

#[test]
fn a_burst_arrives_whole_at_its_instant_or_spread_over_its_window() {
    let m = model(&occ(500, "0s", SPLIT, DB, ""));
    let r = run(&m, 10, 1);
    let w = &r.metrics.workloads[0];
    assert_eq!(w.totals.offered, 500);
    assert_eq!(w.buckets[1].offered, 500, "all 500 in the bucket of 1 s");
    let m = model(&occ(1000, "4s", SPLIT, DB, ""));
    let r = run(&m, 10, 1);
    let w = &r.metrics.workloads[0];
    let per: Vec<u64> = w.buckets[..7].iter().map(|b| b.offered).collect();
    assert_eq!(per.iter().sum::<u64>(), 1000, "{per:?}");
    assert_eq!(
        (per[0], per[5], per[6]),
        (0, 0, 0),
        "only within [1 s, 5 s): {per:?}"
    );
    assert!(
        per[1..5].iter().all(|&k| (200..300).contains(&k)),
        "uniform: {per:?}"
    );
}

#[test]
fn simultaneous_writers_conflict_and_without_retries_only_one_wins() {
    // Constant delays: all read version 0, the first write wins, the others conflict.
    let m = model(&occ(10, "0s", SPLIT, DB, ""));
    let r = run(&m, 10, 1);
    let row = &r.metrics.resources[0];
    assert_eq!((row.writes, row.conflicts), (10, 9));
    let w = &r.metrics.workloads[0];
    assert_eq!(w.totals.good, 1);
    assert_eq!(
        w.failed_by[FailReason::Conflict.index()],
        9,
        "{:?}",
        w.failed_by
    );
    assert_eq!(r.summary.failed_by[FailReason::Conflict.index()], 9);
}

#[test]
fn retrying_users_repeat_read_then_write_until_all_have_written() {
    // Immediate retries with constant delays: every round of k writers lets one through.
    let retry = "retry = { max_attempts = 100, backoff = \"immediate\" }";
    let m = model(&occ(10, "0s", SPLIT, DB, retry));
    let r = run(&m, 10, 1);
    let row = &r.metrics.resources[0];
    assert_eq!(row.writes - row.conflicts, 10, "each writer once");
    assert_eq!(
        row.writes,
        (1..=10).sum::<u64>(),
        "rounds of 10, 9, …, 1 writers"
    );
    assert_eq!(r.metrics.workloads[0].totals.good, 10);
    // Ten rounds of read + write, 4 hops of 10 ms each: the last succeeds at 1 s + 400 ms.
    let done = r.metrics.last_success.unwrap().as_secs_f64();
    assert!((done - 1.4).abs() < 1e-9, "{done}");
}

#[test]
fn read_and_write_in_one_endpoint_hold_the_version_in_that_request() {
    let update = r#"[{ call = "db.update" }]"#;
    let db = "[services.db.endpoints.update]\nsteps = [{ occ_read = \"row\" }, { work = { constant = \"5ms\" } }, { occ_write = \"row\" }]";
    let m = model(&occ(3, "0s", update, db, ""));
    let r = run(&m, 10, 1);
    let row = &r.metrics.resources[0];
    // All three read version 0 before any writes (the 5 ms between): one wins.
    assert_eq!((row.writes, row.conflicts), (3, 2));
}

#[test]
fn a_write_with_no_read_before_it_always_conflicts() {
    let update = r#"[{ call = "db.write" }]"#;
    let m = model(&occ(4, "1s", update, DB, ""));
    let r = run(&m, 10, 1);
    let row = &r.metrics.resources[0];
    assert_eq!((row.writes, row.conflicts), (4, 4));
}

#[test]
fn a_retry_of_the_write_alone_resends_the_stale_version() {
    // client → db retries its write call; the users do not: each loser's retries find
    // the version it read gone, so only the first writer ever succeeds.
    let db_edge = "[services.client.clients.db]\nnetwork = { constant = \"10ms\" }\nretry = { max_attempts = 3, backoff = \"immediate\" }";
    let text = occ(5, "0s", SPLIT, DB, "").replace(
        "[services.client.clients.db]\nnetwork = { constant = \"10ms\" }",
        db_edge,
    );
    let m = model(&text);
    let r = run(&m, 10, 1);
    let row = &r.metrics.resources[0];
    assert_eq!((row.writes, row.conflicts), (1 + 4 * 3, 4 * 3));
    assert_eq!(r.metrics.workloads[0].totals.good, 1);
}

#[test]
fn contention_runs_are_deterministic() {
    let retry = "retry = { max_attempts = 1000, backoff = { full_jitter = { base = \"5ms\", cap = \"1s\" } } }";
    let text = occ(40, "0s", SPLIT, DB, retry).replace(
        "network = { constant = \"10ms\" }",
        "network = { normal = { mean = \"10ms\", sd = \"2ms\" } }",
    );
    let m = model(&text);
    let (a, b) = (run(&m, 10, 7), run(&m, 10, 7));
    assert_eq!(a.metrics.resources[0].writes, b.metrics.resources[0].writes);
    assert_eq!(a.metrics.last_success, b.metrics.last_success);
    assert_eq!(a.stats.trace_hash, b.stats.trace_hash);
    assert!(a.metrics.resources[0].conflicts > 0);
}
