//! Connection pool drained, shortened: payment is ten times slower from 2m to 6m. The
//! checkout holds its connection across the payment call, so the pool empties and the
//! catalog — which never calls payment — fails; releasing the connection before the call,
//! or a pool of its own for checkout, keeps the catalog up.

use super::run_experiment;

const SET: [&str; 2] = ["faults.0.at=2m", "faults.0.duration=4m"];

#[test]
fn a_connection_held_across_a_slow_call_starves_the_catalog() {
    let o = run_experiment("connection_pool_drained.toml", 1, Some("8m"), &SET);
    // Buckets of 5 s: the fault's last three minutes, once the pool has drained.
    let during = |v: &str, metric: &str| {
        let s = o.series(v, "", metric);
        s[36..72].iter().sum::<f64>() / 36.0
    };
    for v in ["as-written", "release-before-call", "separate-pools"] {
        println!(
            "{v:20} catalog ok {:6.1}/s  checkout ok {:5.1}/s  db in use {:4.1}  outage {:4.0} s",
            during(v, "ok_per_s:catalog"),
            during(v, "ok_per_s:checkout"),
            during(v, "connections:db"),
            o.mean(v, "outage_s")
        );
    }
    // As written: every connection is held by a checkout waiting on payment.
    assert!(during("as-written", "connections:db") > 9.9);
    assert!(during("as-written", "ok_per_s:catalog") < 0.3 * 150.0);
    assert!(o.mean("as-written", "outage_s") > 150.0);
    // Either fix keeps the catalog at its 150 views/s and the run out of outage.
    for v in ["release-before-call", "separate-pools"] {
        assert!(during(v, "ok_per_s:catalog") > 0.97 * 150.0, "{v}");
        assert!(during(v, "connections:db") < 4.0, "{v}");
        assert_eq!(o.mean(v, "outage_s"), 0.0, "{v}");
    }
    // With its own pool the checkout still drains that pool: about 10 connections ÷ 2 s
    // per checkout serve 5 of the 10 checkouts a second, fewer within the SLO.
    assert!(during("separate-pools", "connections:orders") > 9.9);
    assert!(during("separate-pools", "ok_per_s:checkout") < 5.0);
    assert!(during("release-before-call", "ok_per_s:checkout") > 6.0);
}
