//! Hedging vs the tail: in normal traffic a hedge after the leaf's p95 cuts the p99 for
//! about 5 % more attempts; in a surge to ρ ≈ 0.9 the same hedges, never cancelled, double
//! the load and the outage outlasts the surge; cancelling the losers, or a budget, does
//! not.

use super::run_experiment;

#[test]
fn hedging_cuts_the_tail_and_without_cancellation_deepens_a_surge() {
    let o = run_experiment("hedging_tail.toml", 1, None, &[]);
    let m = |v: &str, k: &str| o.mean(v, k);
    // Buckets of 5 s: the first 4 minutes are normal traffic.
    let normal = |v: &str, metric: &str| {
        let s = o.series(v, "", metric);
        s[6..48].iter().sum::<f64>() / 42.0
    };
    for v in ["plain", "hedged", "hedged-cancel", "hedged-budget"] {
        println!(
            "{v:14} normal p99 {:5.0} ms  attempts/query {:.3}  outage {:5.0} s  lost {:7.0}",
            normal(v, "p99_ms"),
            normal(v, "attempts_per_s:gateway->leaf") / normal(v, "offered_per_s"),
            m(v, "outage_s"),
            m(v, "lost")
        );
    }
    assert!(normal("hedged", "p99_ms") < 0.6 * normal("plain", "p99_ms"));
    // A hedge goes for every query still out at 170 ms: P(X > 170 ms) of the lognormal
    // (median 20 ms, p99 400 ms) is 1 − Φ(ln 8.5 / σ), σ = ln 20 / 2.326: 4.8 %.
    let extra =
        normal("hedged", "attempts_per_s:gateway->leaf") / normal("hedged", "offered_per_s");
    assert!(
        (extra - 1.048).abs() < 0.01,
        "attempts per query {extra:.3}"
    );
    // The surge: plain and cancelled hedges ride it out; uncancelled hedges do not, and
    // the outage lasts well past the surge's 5 minutes.
    assert_eq!(m("plain", "outage_s"), 0.0);
    assert_eq!(m("hedged-cancel", "outage_s"), 0.0);
    assert!(
        m("hedged", "outage_s") > 400.0,
        "{}",
        m("hedged", "outage_s")
    );
    assert!(m("hedged-budget", "outage_s") < 0.3 * m("hedged", "outage_s"));
    // Cancelled losers even save work: a slow original stops when its hedge wins.
    let busy = |v: &str| normal(v, "busy:leaf");
    assert!(
        busy("hedged-cancel") < busy("plain"),
        "{} vs {}",
        busy("hedged-cancel"),
        busy("plain")
    );
}
