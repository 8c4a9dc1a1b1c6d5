//! Liveness restart storm, shortened: search hangs from 2m to 4m. As written the deep
//! liveness probe restarts every instance, and the restarts go on after search is back:
//! cold instances are flooded, fail their probes and are restarted again. Liveness on a
//! cheap endpoint restarts nothing; a readiness probe instead of liveness takes the
//! instances out while search hangs and puts them back when it is back.

use super::run_experiment;

const SET: [&str; 2] = ["faults.0.at=2m", "faults.0.duration=2m"];

#[test]
fn a_deep_liveness_probe_starts_a_restart_storm_that_outlives_the_hang() {
    let o = run_experiment("liveness_restart_storm.toml", 1, Some("12m"), &SET);
    let restarts_after = |v: &str| -> f64 { o.series(v, "", "restarts:api")[48..].iter().sum() };
    for v in ["as-written", "cheap-liveness", "readiness-only"] {
        println!(
            "{v:16} restarts {:3.0} (after the fault {:3.0})  outage {:4.0} s  sustained {:4.0} s  lost {:8.0}",
            o.mean(v, "restarts"),
            restarts_after(v),
            o.mean(v, "outage_s"),
            o.mean(v, "sustained_outage_s"),
            o.mean(v, "lost")
        );
    }
    // As written: restarts during the hang, and more after it.
    assert!(o.mean("as-written", "restarts") >= 12.0);
    assert!(
        restarts_after("as-written") >= 12.0,
        "the storm outlives the hang"
    );
    assert!(o.mean("as-written", "sustained_outage_s") > 300.0);
    assert_eq!(o.mean("as-written", "recovered"), 0.0);
    // A cheap liveness endpoint: no restart; only the searches suffer.
    assert_eq!(o.mean("cheap-liveness", "restarts"), 0.0);
    assert_eq!(o.mean("cheap-liveness", "outage_s"), 0.0);
    // Readiness instead of liveness: out while search hangs, back when it is back.
    assert_eq!(o.mean("readiness-only", "restarts"), 0.0);
    assert!(o.mean("readiness-only", "outage_s") > 60.0);
    assert!(o.mean("readiness-only", "sustained_outage_s") <= 10.0);
    assert_eq!(o.mean("readiness-only", "recovered"), 1.0);
}
