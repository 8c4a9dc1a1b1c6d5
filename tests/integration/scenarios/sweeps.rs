//! Black Friday sweeps, shortened (peak after 2 minutes, the 6-minute slowdown at 4
//! minutes, 8 minutes of aftermath, one replication).
//!
//! Timeout sweep (order→payment, the timeout whose expiry answers "payment pending"):
//! a timeout above the users' 2 s SLO protects nothing (the fallback answer comes too
//! late, the backlog nobody waits for keeps growing: metastable); lower timeouts recover
//! faster, up to a point: below the healthy tail they give up on calls that would have
//! succeeded. With the full stack, the timeout choice does not matter (defence in depth).
//!
//! Breaker sweep: with a 4 s processor timeout the slowdown fails only part of the calls,
//! so a breaker whose failure-rate threshold is above that share never opens and
//! protects nothing; at or below it, the breaker opens and users are answered.

use super::{Outcome, run_experiment};

fn run(file: &str) -> Outcome {
    run_experiment(
        file,
        1,
        Some("18m"),
        &[
            "faults.0.at=4m",
            r#"workloads.shoppers.arrivals={ poisson = { schedule = [["0s", 150.0], ["2m", 300.0]] } }"#,
        ],
    )
}

fn table(o: &Outcome, variant: &str, points: &[&str], metrics: &[&str]) -> String {
    let mut t = String::new();
    for p in points {
        t += &format!("{variant:>16} {p:<24}");
        for m in metrics {
            t += &format!(" {m} {:>8.0}", o.at(variant, p, m));
        }
        t += "\n";
    }
    t
}

#[test]
fn timeouts_above_the_slo_protect_nothing_and_lower_ones_recover_faster_up_to_a_point() {
    let o = run("black_friday_timeout_sweep.toml");
    let points = [
        "timeout=250ms",
        "timeout=500ms",
        "timeout=1s",
        "timeout=2s",
        "timeout=4s",
    ];
    let metrics = ["outage_s", "sustained_outage_s", "lost", "good", "pending"];
    let t = table(&o, "timeout-fallback", &points, &metrics)
        + &table(&o, "protected", &points, &metrics);
    eprintln!("{t}");
    let v = "timeout-fallback";
    for p in ["timeout=2s", "timeout=4s"] {
        assert_eq!(
            o.at(v, p, "recovered"),
            0.0,
            "{p} ≥ SLO never recovers\n{t}"
        );
        assert!(
            o.at(v, p, "sustained_outage_s") >= 300.0,
            "{p}: the outage outlives the slowdown\n{t}"
        );
    }
    for p in ["timeout=250ms", "timeout=500ms"] {
        assert_eq!(
            o.at(v, p, "outage_s"),
            0.0,
            "{p}: users answered in time\n{t}"
        );
        assert_eq!(o.at(v, p, "lost"), 0.0, "{p}: every order kept\n{t}");
    }
    let outage = |p: &str| o.at(v, p, "outage_s");
    assert!(
        outage("timeout=500ms") < outage("timeout=1s")
            && outage("timeout=1s") < outage("timeout=2s"),
        "lower timeouts recover faster\n{t}"
    );
    // Up to a point: 250 ms gives up on calls that 500 ms lets finish.
    assert!(
        o.at(v, "timeout=250ms", "good") < o.at(v, "timeout=500ms", "good"),
        "a timeout near the healthy tail charges fewer orders at once\n{t}"
    );
    // Defence in depth: with breaker, bulkhead, bounded queues and the fallback, the
    // order→payment timeout is not what protects the users.
    for p in points {
        assert_eq!(
            o.at("protected", p, "outage_s"),
            0.0,
            "protected at {p}\n{t}"
        );
    }
}

/// Seconds the payment→processor breaker was open (0 when it never opened).
fn open_seconds(o: &Outcome, point: &str) -> f64 {
    let points = &o.experiment.points;
    let p = points.iter().position(|x| x.label.contains(point)).unwrap();
    o.results.groups[p]
        .metrics
        .iter()
        .find(|(n, _)| n == "breaker_open:payment->processor")
        .map_or(0.0, |(_, accs)| {
            accs.iter().map(|a| a.mean()).sum::<f64>() * 10.0
        })
}

#[test]
fn a_breaker_threshold_above_the_incidents_failure_rate_is_no_breaker() {
    let o = run("black_friday_breaker_sweep.toml");
    let points = [
        "failure_rate=10.0",
        "failure_rate=25.0",
        "failure_rate=50.0",
        "failure_rate=75.0",
        "failure_rate=90.0",
    ];
    let mut t = table(
        &o,
        "breaker",
        &points,
        &["outage_s", "sustained_outage_s", "lost", "wasted"],
    );
    for p in points {
        t += &format!("{p}: breaker open {:.0} s\n", open_seconds(&o, p));
    }
    eprintln!("{t}");
    for p in &points[..3] {
        assert_eq!(o.at("breaker", p, "outage_s"), 0.0, "{p} protects\n{t}");
        assert!(open_seconds(&o, p) > 60.0, "{p}: the breaker opens\n{t}");
    }
    for p in &points[3..] {
        assert_eq!(
            o.at("breaker", p, "recovered"),
            0.0,
            "{p} never recovers\n{t}"
        );
        assert!(
            o.at("breaker", p, "lost") > 100_000.0,
            "{p} loses the orders\n{t}"
        );
        assert!(
            open_seconds(&o, p) < 10.0,
            "{p}: the breaker (almost) never opens\n{t}"
        );
    }
}
