//! Black Friday, shortened: 40 minutes of peak with the 6-minute processor slowdown at
//! 10 minutes. Unprotected, the outage must outlive its trigger by at least three times
//! its length (metastable failure); protected, users must be answered again within two
//! minutes of the processor healing, with most orders kept.

use super::run_experiment;

#[test]
fn unprotected_outage_outlives_its_trigger_and_protection_recovers() {
    let o = run_experiment(
        "black_friday.toml",
        1,
        Some("40m"),
        &[
            "faults.0.at=10m",
            r#"workloads.shoppers.arrivals={ poisson = { schedule = [["0s", 150.0], ["2m", 300.0]] } }"#,
        ],
    );
    let trigger = 360.0;
    let sustained = o.mean("unprotected", "sustained_outage_s");
    assert!(
        sustained >= 3.0 * trigger,
        "unprotected: sustained outage {sustained} s should be ≥ {} s",
        3.0 * trigger
    );
    assert_eq!(
        o.mean("unprotected", "recovered"),
        0.0,
        "unprotected never recovers at peak load"
    );
    let recovery = o.mean("protected", "recovery_s");
    assert!(
        recovery <= 120.0,
        "protected: recovery {recovery} s should be ≤ 120 s"
    );
    let (lost, offered) = (o.mean("protected", "lost"), o.mean("protected", "offered"));
    assert!(
        lost / offered < 0.01,
        "protected keeps most orders: lost {lost} of {offered}"
    );
    assert!(
        o.mean("protected", "dead_lettered") < 0.01 * offered,
        "the outbox delivers what it captured"
    );
    // The mechanism: work done for users who had left.
    assert!(o.mean("unprotected", "wasted") > 10.0 * o.mean("protected", "wasted").max(1.0));
}
