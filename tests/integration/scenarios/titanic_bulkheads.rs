//! Titanic bulkheads, shortened: 11 minutes with the tax API's 6-minute slowdown at 2
//! minutes. With one shared 200-thread pool every thread ends up waiting on tax, so the
//! fraud and database calls of authorisations and status reads fall to a fraction of
//! their rate and nobody gets an answer; with per-dependency bulkheads (tax 30, fraud 50,
//! database 100) those calls keep their normal rate and their users keep being answered.

use super::{Outcome, run_experiment};

/// Mean of a per-bucket series of `variant` over buckets starting in `[from_s, to_s)`.
fn window(o: &Outcome, variant: &str, metric: &str, from_s: f64, to_s: f64) -> f64 {
    let v = o
        .experiment
        .variants
        .iter()
        .position(|x| x == variant)
        .unwrap_or_else(|| panic!("no variant {variant}"));
    let points = o.experiment.points.len();
    let width = o.experiment.spec.bucket.as_secs_f64();
    let (_, accs) = o.results.groups[v * points]
        .metrics
        .iter()
        .find(|(m, _)| m == metric)
        .unwrap_or_else(|| panic!("no series {metric}"));
    let xs: Vec<f64> = accs
        .iter()
        .enumerate()
        .filter(|(i, _)| (from_s..to_s).contains(&(*i as f64 * width)))
        .map(|(_, a)| a.mean())
        .collect();
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn fraud_and_database_calls_keep_flowing_only_with_bulkheads() {
    let o = run_experiment(
        "titanic_bulkheads.toml",
        1,
        Some("11m"),
        &["faults.0.at=2m"],
    );
    // Before the fault, and the fault from its second minute on (the pool takes a few
    // seconds to fill with tax calls).
    let (before, during) = ((0.0, 120.0), (180.0, 480.0));
    let fraud = "attempts_per_s:payment->fraud";
    let db = "attempts_per_s:payment->db";

    for (metric, what) in [(fraud, "fraud"), (db, "database")] {
        let normal = window(&o, "shared-pool", metric, before.0, before.1);
        let shared = window(&o, "shared-pool", metric, during.0, during.1);
        let bulk = window(&o, "bulkheads", metric, during.0, during.1);
        assert!(
            shared < 0.5 * normal,
            "shared pool: {what} calls {shared:.1}/s during the fault should fall well below \
             their normal {normal:.1}/s (threads all wait on tax)"
        );
        assert!(
            bulk > 0.95 * normal,
            "bulkheads: {what} calls {bulk:.1}/s during the fault should keep their normal \
             {normal:.1}/s"
        );
    }

    // Are those calls useful? The authorisation and status paths (60 + 90 per second) are
    // the only answers that can come back within the 2 s SLO: a quote that gets a tax
    // permit takes ~3 s. With the shared pool the calls that still happen serve users who
    // left long ago (the queue is minutes long): no answers, all wasted work.
    let ok_shared = window(&o, "shared-pool", "ok_per_s", during.0, during.1);
    let ok_bulk = window(&o, "bulkheads", "ok_per_s", during.0, during.1);
    assert!(
        ok_shared < 5.0,
        "shared pool: {ok_shared:.1} ok answers/s during the fault, expected ≈ 0"
    );
    assert!(
        ok_bulk > 0.9 * 150.0,
        "bulkheads: {ok_bulk:.1} ok answers/s during the fault, expected ≈ 150 \
         (authorisations and status reads)"
    );
    let busy = window(&o, "bulkheads", "busy:payment", during.0, during.1);
    assert!(
        busy < 60.0,
        "bulkheads: at most 30 threads wait on tax, {busy:.0} busy"
    );
    let (wasted_shared, wasted_bulk) = (
        o.mean("shared-pool", "wasted"),
        o.mean("bulkheads", "wasted"),
    );
    assert!(
        wasted_shared > 10_000.0 && wasted_bulk < 100.0,
        "wasted work: shared pool {wasted_shared}, bulkheads {wasted_bulk}"
    );

    // Rejected quotes answered with an estimated tax: no outage at all.
    let outage = o.mean("bulkheads-fallback", "outage_s");
    let outage_shared = o.mean("shared-pool", "outage_s");
    assert!(
        outage == 0.0 && outage_shared >= 300.0,
        "outage: bulkheads-fallback {outage} s, shared pool {outage_shared} s"
    );
}
