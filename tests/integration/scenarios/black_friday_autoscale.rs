//! Black Friday surge against the HPA, shortened: the ramp to 1,000/s starts at 5m. With
//! a 45 s pod start the three pods saturate before help arrives, their readiness probes
//! fail, and the HPA — counting young unready pods as idle — stalls short of the eight
//! pods the load needs; pods that start in 10 s, a warm buffer or pre-scaling lose
//! nothing.

use super::run_experiment;

const SET: [&str; 1] = [
    "workloads.shoppers.arrivals.poisson.schedule=[[\"0s\", 100.0], [\"5m\", 100.0], [\"6m\", 1000.0]]",
];

#[test]
fn the_autoscalers_lag_costs_requests_that_headroom_or_fast_starts_save() {
    let o = run_experiment("black_friday_autoscale.toml", 1, Some("16m"), &SET);
    for v in [
        "hpa-45s-start",
        "hpa-10s-start",
        "hpa-warm-buffer",
        "pre-scaled",
    ] {
        println!(
            "{v:16} lost {:6.0}  revenue {:7.0}  outage {:4.0} s  peak replicas {:3.0}",
            o.mean(v, "lost"),
            o.mean(v, "lost_revenue"),
            o.mean(v, "outage_s"),
            o.mean(v, "peak_replicas")
        );
    }
    assert!(o.mean("hpa-45s-start", "lost") > 10_000.0, "the lag costs");
    assert!(o.mean("hpa-45s-start", "outage_s") >= 60.0);
    assert_eq!(
        o.mean("hpa-45s-start", "recovered"),
        1.0,
        "it catches up in the end"
    );
    assert!(o.mean("hpa-45s-start", "peak_replicas") >= 8.0);
    for v in ["hpa-10s-start", "hpa-warm-buffer", "pre-scaled"] {
        assert!(o.mean(v, "lost") < 100.0, "{v} loses (almost) nothing");
        assert_eq!(o.mean(v, "outage_s"), 0.0, "{v}");
    }
    // The stall: while ready pods flap, replicas stay short of the 8 the load needs.
    let replicas = o.series("hpa-45s-start", "", "replicas:storefront");
    let ready = o.series("hpa-45s-start", "", "ready:storefront");
    let window = 70..90; // 5m50s–7m30s
    assert!(
        replicas[window.clone()].iter().all(|&r| r < 8.0),
        "{:?}",
        &replicas[window.clone()]
    );
    assert!(
        ready[window].iter().any(|&r| r < 3.0),
        "readiness fails under the surge"
    );
    // The fast start scales without losing readiness.
    let fast = o.series("hpa-10s-start", "", "ready:storefront");
    assert!(fast[80..].iter().all(|&r| r >= 7.0), "{:?}", &fast[70..100]);
}
