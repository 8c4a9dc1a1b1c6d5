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

mod bad_input {
    use super::*;
    use cascade::model::load::{model_from_table, parse_table};

    fn error(text: &str) -> String {
        let path = std::path::Path::new("occ.toml");
        let table = parse_table(path, text).unwrap_or_else(|e| panic!("{e}"));
        match model_from_table(path, table) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_contention_key_is_checked_with_its_path() {
        let base = occ(10, "0s", SPLIT, DB, "");
        for (from, to, want) in [
            (
                "count = 10",
                "count = 0",
                "occ.toml: workloads[0].arrivals.burst.count: must be at least 1",
            ),
            (
                "count = 10",
                "count = 4000000000",
                "occ.toml: workloads[0].arrivals.burst.count: 4000000000 users is more than",
            ),
            (
                "{ occ_write = \"row\" }",
                "{ occ_write = \"rwo\" }",
                "occ.toml: services.db.endpoints.write.steps[0].occ_write: no resource named \"rwo\" in [resources] (its resources: row)",
            ),
            (
                "[resources.row]\nkind = \"occ\"",
                "[resources.row]\nkind = \"occ\"\n[resources.unused]\nkind = \"occ\"",
                "occ.toml: resources.unused: no occ_read or occ_write step uses it",
            ),
            (
                "kind = \"occ\"",
                "kind = \"lock\"",
                "occ.toml: resources.row.kind: unknown variant `lock`",
            ),
            (
                "{ occ_read = \"row\" }",
                "{ occ_read = \"row\", work = { constant = \"1ms\" } }",
                "occ.toml: services.db.endpoints.read.steps[0]: a step needs exactly one of",
            ),
            (
                "spread = \"0s\" } }",
                "spread = \"0s\" } }\nbursts = [{ count = 0, at = \"1s\" }]",
                "occ.toml: workloads[0].bursts[0].count: must be at least 1",
            ),
        ] {
            assert!(base.contains(from), "{from}");
            let e = error(&base.replacen(from, to, 1));
            assert!(e.starts_with(want), "{e}\nwant: {want}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        // An occ step naming a resource when the model has none.
        let e = error(&base.replace("[resources.row]\nkind = \"occ\"", ""));
        assert!(e.contains("the model has no [resources]"), "{e}");
    }

    #[test]
    fn a_burst_beyond_the_live_state_guard_is_refused_before_running() {
        let m = model(&occ(5000, "0s", SPLIT, DB, ""));
        let limits = cascade::experiment::limits::Limits {
            max_in_flight: 1000,
            max_events: 1_000_000_000,
        };
        let e = cascade::experiment::limits::check_model(
            std::path::Path::new("occ.toml"),
            "",
            &m,
            cascade::time::SimDuration::from_secs(10),
            &limits,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("occ.toml: workloads[0].arrivals.burst.count: a burst of 5000 users is more than the live-state guard"),
            "{e}"
        );
        // A burst at or after the end of the run would never arrive.
        let e = cascade::experiment::limits::check_model(
            std::path::Path::new("occ.toml"),
            "",
            &model(&occ(10, "0s", SPLIT, DB, "")),
            cascade::time::SimDuration::from_secs(1),
            &limits,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "occ.toml: workloads[0].arrivals.burst.at: 1s is not before the end of the run (1s)"
            ),
            "{e}"
        );
    }
}

mod lint {
    use super::*;
    use cascade::model::describe::lint;

    fn has(text: &str, start: &str, needle: &str) -> bool {
        let l = lint(&model(text));
        l.iter().any(|w| w.starts_with(start) && w.contains(needle))
    }

    #[test]
    fn a_write_without_a_read_on_its_path_is_flagged() {
        let unread = occ(3, "0s", r#"[{ call = "db.write" }]"#, DB, "");
        assert!(has(
            &unread,
            "services.db.endpoints.write.steps[0].occ_write:",
            "client.update → db.write"
        ));
        assert!(!has(
            &occ(3, "0s", SPLIT, DB, ""),
            "services.db",
            "occ_read"
        ));
    }

    #[test]
    fn retries_without_jitter_through_a_contended_resource_are_flagged() {
        let exp = "retry = { max_attempts = 50, backoff = { exponential = { base = \"10ms\" } } }";
        let text = occ(3, "0s", SPLIT, DB, exp);
        assert!(has(&text, "workloads[0].retry.backoff:", "without jitter"));
        let full = "retry = { max_attempts = 50, backoff = { full_jitter = { base = \"10ms\" } } }";
        assert!(!has(
            &occ(3, "0s", SPLIT, DB, full),
            "workloads[0]",
            "jitter"
        ));
    }

    #[test]
    fn a_retry_of_the_write_alone_is_flagged() {
        let text = occ(3, "0s", SPLIT, DB, "").replace(
            "network = { constant = \"10ms\" }",
            "network = { constant = \"10ms\" }\nretry = { max_attempts = 3, backoff = { full_jitter = {} } }",
        );
        assert!(has(
            &text,
            "services.client.clients.db.retry:",
            "resending the version"
        ));
    }
}

/// The bundled study, small: its resource columns come out byte-identical whatever the
/// thread count, and a sharded run merges to the same files.
#[test]
fn contention_outputs_are_byte_identical_across_threads_and_shards() {
    use crate::cli::{cascade, read, temp_dir};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = temp_dir("occ-determinism");
    let exp = root.join("experiments/occ_backoff.toml");
    let out = |name: &str| dir.join(name).display().to_string();
    let e = exp.display().to_string();
    let common = ["--replications", "3", "--no-charts", "--quiet"];
    let run = |extra: &[&str], to: &str| {
        let mut args = vec!["run", e.as_str(), "--out", to];
        args.extend(common);
        args.extend(extra);
        let o = cascade(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["--threads", "1"], &out("t1"));
    run(&["--threads", "2"], &out("t2"));
    run(&["--shard", "1/2"], &out("s1"));
    run(&["--shard", "2/2"], &out("s2"));
    let o = cascade(&[
        "merge",
        "--out",
        &out("m"),
        &out("s1"),
        &out("s2"),
        "--no-charts",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["runs.csv", "summary.csv", "timeseries.csv"] {
        let a = read(&dir.join("t1").join(f));
        assert_eq!(a, read(&dir.join("t2").join(f)), "{f}: threads");
        assert_eq!(a, read(&dir.join("m").join(f)), "{f}: merged shards");
    }
    let runs = String::from_utf8(read(&dir.join("t1/runs.csv"))).unwrap();
    let header = runs.lines().next().unwrap();
    for col in [
        "failed_conflict",
        "completion_s",
        "occ_writes:row",
        "occ_conflicts:row",
    ] {
        assert!(header.split(',').any(|c| c == col), "{col} in {header}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
