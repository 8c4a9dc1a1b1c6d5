//! Load-balancer death spiral, shortened: payment slows down from 2m to 6m. As written,
//! health checks queue behind pinned checkout threads, the proxy ejects the web
//! instances below the panic threshold, and the catalog — which never calls payment —
//! fails with them. A timeout on the payment call keeps the catalog up; with a deep
//! health check only the panic threshold does.

use super::run_experiment;
use cascade::sim::RunReport;

const SET: [&str; 2] = ["faults.0.at=2m", "faults.0.duration=4m"];

fn lost(r: &RunReport, workload: &str) -> u64 {
    let w = r
        .metrics
        .workloads
        .iter()
        .find(|w| w.name == workload)
        .unwrap();
    w.lost()
}

#[test]
fn health_checks_behind_a_saturated_pool_take_the_catalog_down_timeouts_keep_it_up() {
    let o = run_experiment("lb_death_spiral.toml", 1, Some("9m"), &SET);
    let fault = 30..72; // 5 s buckets from 2m30s (the spiral has started) to 6m
    let healthy = |v: &str| o.series(v, "", "healthy:lb->web");
    let browse_ok = |v: &str| o.series(v, "", "ok_per_s:browse");
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    for v in [
        "as-written",
        "panic-threshold",
        "timeouts",
        "timeouts+deep-check",
        "timeouts+deep-check+panic",
    ] {
        println!(
            "{v:28} healthy min {:4.1} mean {:4.1}  browse ok/s during {:5.0}  lost {:7.0}",
            healthy(v)[fault.clone()]
                .iter()
                .cloned()
                .fold(f64::INFINITY, f64::min),
            mean(&healthy(v)[fault.clone()]),
            mean(&browse_ok(v)[fault.clone()]),
            o.mean(v, "lost")
        );
    }
    // As written: instances are ejected below half of the fleet and the catalog fails.
    let h = healthy("as-written");
    assert!(
        h[..24].iter().all(|&x| x == 8.0),
        "all healthy before the fault"
    );
    assert!(
        mean(&h[fault.clone()]) < 4.0,
        "healthy instances below the 50 % panic threshold"
    );
    assert!(
        mean(&browse_ok("as-written")[fault.clone()]) < 0.5 * 300.0,
        "the catalog fails with the checkouts"
    );
    let r = o.report("as-written");
    assert!(
        lost(&r, "browse") > 20_000,
        "catalog views lost: {}",
        lost(&r, "browse")
    );
    // The panic threshold alone does not help: the instances are saturated anyway.
    assert!(mean(&browse_ok("panic-threshold")[fault.clone()]) < 0.5 * 300.0);
    // A timeout frees the threads: every instance stays healthy, the catalog answers.
    assert!(healthy("timeouts")[fault.clone()].iter().all(|&x| x == 8.0));
    assert!(mean(&browse_ok("timeouts")[fault.clone()]) > 0.95 * 300.0);
    assert_eq!(lost(&o.report("timeouts"), "browse"), 0);
    // A deep health check undoes the timeout; the panic threshold rescues it.
    assert!(mean(&healthy("timeouts+deep-check")[fault.clone()]) < 0.5);
    assert!(mean(&browse_ok("timeouts+deep-check")[fault.clone()]) < 10.0);
    assert!(mean(&browse_ok("timeouts+deep-check+panic")[fault.clone()]) > 0.95 * 300.0);
    // All recover once payment does.
    for v in ["as-written", "panic-threshold", "timeouts+deep-check"] {
        assert!(
            healthy(v)[84..].iter().all(|&x| x == 8.0),
            "{v} heals after the fault"
        );
    }
}
