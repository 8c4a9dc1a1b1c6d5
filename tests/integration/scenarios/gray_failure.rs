//! Gray failure, shortened: one of ten instances is 25× slower from 2m to 10m. Round
//! robin keeps sending it a tenth of the queries, all of which time out; least request
//! and outlier ejection route around it and remove most of the lost queries and of the
//! p99.

use super::run_experiment;

const SET: [&str; 2] = ["faults.0.at=2m", "faults.0.duration=8m"];

#[test]
fn least_request_and_ejection_route_around_one_slow_instance() {
    let o = run_experiment("gray_failure.toml", 1, Some("12m"), &SET);
    let m = |v: &str, k: &str| o.mean(v, k);
    for v in [
        "round-robin",
        "least-request",
        "outlier-ejection",
        "retry-elsewhere",
    ] {
        println!(
            "{v:18} lost {:6.0}  p99 {:6.0} ms  ejections {:3.0}",
            m(v, "lost"),
            m(v, "p99_ms"),
            m(v, "ejections")
        );
    }
    let rr = m("round-robin", "lost");
    // A tenth of 600/s for 8 minutes, minus the few the slow instance finishes in time.
    assert!(
        rr > 0.8 * 60.0 * 480.0,
        "round robin loses the slow instance's share: {rr}"
    );
    assert!(m("least-request", "lost") < 0.2 * rr);
    assert!(m("outlier-ejection", "lost") < 0.02 * rr);
    assert!(
        m("round-robin", "p99_ms") >= 999.0,
        "p99 is the 1 s timeout"
    );
    assert!(m("least-request", "p99_ms") < 400.0);
    assert!(m("outlier-ejection", "p99_ms") < 200.0);
    assert!(
        m("outlier-ejection", "ejections") >= 3.0,
        "ejected again and again"
    );
    // A retry on the next instance saves the query but not the latency.
    assert!(m("retry-elsewhere", "lost") < 0.2 * rr);
    assert!(m("retry-elsewhere", "p99_ms") > 1000.0);
    // Who gets what: round robin keeps its tenth, ejection sends nothing.
    let share = |v: &str| {
        let slow: f64 = o.series(v, "", "arrivals_per_s:search#0")[30..110]
            .iter()
            .sum();
        let all: f64 = o.series(v, "", "arrivals_per_s:search")[30..110]
            .iter()
            .sum();
        slow / all
    };
    assert!((share("round-robin") - 0.1).abs() < 0.005);
    assert!(share("least-request") < 0.02);
    assert!(share("outlier-ejection") < 0.002);
}
