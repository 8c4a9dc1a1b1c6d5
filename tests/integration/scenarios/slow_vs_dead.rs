//! Slow vs dead, shortened: 8 minutes with recommendations failing from 2m to 5m. Dead
//! (connections refused), product pages render without the optional strip and nobody is
//! lost. Slow (a black hole behind a 15 s timeout), the frontend's 200 threads wait on it
//! and every page fails, including the cart page that never calls recommendations. A
//! 250 ms timeout on the optional call turns slow back into dead.

use super::run_experiment;
use cascade::sim::RunReport;

const SET: [&str; 2] = ["faults.0.at=2m", "faults.0.duration=3m"];

/// Requests of `workload` that got no good answer.
fn lost(r: &RunReport, workload: &str) -> u64 {
    r.metrics
        .workloads
        .iter()
        .find(|w| w.name == workload)
        .unwrap()
        .lost()
}

#[test]
fn a_hanging_optional_dependency_takes_the_site_down_a_dead_one_does_not() {
    let o = run_experiment("slow_vs_dead.toml", 1, Some("8m"), &SET);
    let fault_s = 180.0;
    let m = |v: &str, k: &str| o.mean(v, k);
    for v in ["dead", "slow", "slow-250ms-timeout"] {
        println!(
            "{v:20} outage {:5.0} s  lost {:6}  degraded {:6}  p99 {:7.0} ms  peak busy frontend {:5.1}  peak queue {:7.0}",
            m(v, "outage_s"),
            m(v, "lost"),
            m(v, "degraded"),
            m(v, "p99_ms"),
            o.peak(v, "busy:frontend"),
            o.peak(v, "queue:frontend")
        );
    }

    // Dead: the pages render without the strip.
    assert_eq!(m("dead", "lost"), 0.0, "dead: nobody is lost");
    assert_eq!(m("dead", "outage_s"), 0.0, "dead: no outage");
    assert!(
        m("dead", "degraded") > 0.9 * 150.0 * fault_s,
        "dead: product pages during the fault are degraded, not failed ({})",
        m("dead", "degraded")
    );

    // Slow: the whole site is down for the whole fault.
    let offered_fault = 200.0 * fault_s;
    assert!(
        m("slow", "outage_s") >= fault_s,
        "slow: outage {} s should cover the {fault_s} s fault",
        m("slow", "outage_s")
    );
    assert!(
        m("slow", "lost") > 0.9 * offered_fault,
        "slow: nearly every request of the fault is lost: {} of {offered_fault}",
        m("slow", "lost")
    );
    // The mechanism: the frontend's threads are all held by the hanging calls, so the
    // cart page, which never calls recommendations, waits behind them.
    assert!(
        o.peak("slow", "busy:frontend") >= 199.0 && o.peak("slow", "queue:frontend") > 1000.0,
        "slow: the frontend's 200 threads are exhausted (busy {:.0}, queue {:.0})",
        o.peak("slow", "busy:frontend"),
        o.peak("slow", "queue:frontend")
    );
    let (cart_slow, cart_dead) = (
        lost(&o.report("slow"), "cart_views"),
        lost(&o.report("dead"), "cart_views"),
    );
    assert!(
        cart_slow as f64 > 0.9 * 50.0 * fault_s && cart_dead == 0,
        "cart views, which never call recommendations: lost {cart_slow} when it is slow, {cart_dead} when it is dead"
    );
    assert!(
        o.peak("dead", "busy:frontend") < 50.0,
        "dead: the frontend's threads stay free ({:.0})",
        o.peak("dead", "busy:frontend")
    );

    // The fix: a short timeout on the optional call makes slow look dead.
    assert_eq!(
        m("slow-250ms-timeout", "lost"),
        0.0,
        "250 ms timeout: nobody is lost"
    );
    assert_eq!(m("slow-250ms-timeout", "outage_s"), 0.0);
    assert!(
        m("slow-250ms-timeout", "p99_ms") < 1000.0,
        "250 ms timeout: pages stay inside the SLO (p99 {} ms)",
        m("slow-250ms-timeout", "p99_ms")
    );
}
