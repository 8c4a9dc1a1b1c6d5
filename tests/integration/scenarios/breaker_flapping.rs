//! Breaker flapping, shortened: 12 minutes with inventory failing 1 request in 8 from 2m
//! to 10m. A breaker that opens on 2 consecutive failures trips within a second of every
//! closing, spends most of the fault open and turns away the healthy 7 in 8 with the
//! bad; a 50 % count window with a minimum volume never opens, and users see exactly
//! the dependency's 12.5 % errors. The count window still opens on a real outage.

use std::sync::Mutex;

use super::{Outcome, run_experiment};
use cascade::sim::RunReport;
use cascade::sim::metrics::ClientBucket;

/// `run_experiment` writes into a directory named after the process and the file, so two
/// tests of the same file must not run it at the same time.
static SERIAL: Mutex<()> = Mutex::new(());

const SET: [&str; 2] = ["faults.0.at=2m", "faults.0.duration=8m"];
const FAULT: (f64, f64) = (120.0, 600.0);
const EDGE: &str = "storefront->inventory";

/// Mean of a time series over `[from, to)` seconds.
fn window_mean(o: &Outcome, variant: &str, metric: &str, (from, to): (f64, f64)) -> f64 {
    let v = o
        .experiment
        .variants
        .iter()
        .position(|n| n == variant)
        .unwrap();
    let width = o.experiment.spec.bucket.as_secs_f64();
    let (_, accs) = o.results.groups[v * o.experiment.points.len()]
        .metrics
        .iter()
        .find(|(n, _)| n == metric)
        .unwrap_or_else(|| panic!("no series {metric} for {variant}"));
    let xs: Vec<f64> = accs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as f64 * width >= from && (*i + 1) as f64 * width <= to)
        .map(|(_, a)| a.mean())
        .filter(|x| x.is_finite())
        .collect();
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Breaker transitions and the edge's totals.
fn edge(r: &RunReport) -> (u64, ClientBucket) {
    let c = r
        .metrics
        .clients
        .iter()
        .find(|c| c.name.replace('→', "->") == EDGE)
        .unwrap();
    (c.transitions, c.totals())
}

#[test]
fn consecutive_breaker_flaps_and_rejects_healthy_calls_count_window_does_not() {
    let o = {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        run_experiment("breaker_flapping.toml", 1, Some("12m"), &SET)
    };
    let fault_s = FAULT.1 - FAULT.0;

    // No breaker: users see the dependency's own error rate.
    let ok_none = window_mean(&o, "no-breaker", "good_ratio", FAULT);
    assert!(
        (0.84..0.91).contains(&ok_none),
        "no breaker: ok ratio during the fault {ok_none:.3} should be ≈ 0.875"
    );

    // Consecutive-2: flaps.
    let (trans, tot) = edge(&o.report("consecutive-2"));
    let open_s = tot.open_seconds;
    println!(
        "consecutive-2: {trans} transitions, open {open_s:.0} s of {fault_s} s, {} rejected of {} calls",
        tot.breaker_rejections, tot.calls
    );
    assert!(
        trans >= 100,
        "consecutive-2 should flap: {trans} transitions in an 8-minute fault"
    );
    assert!(
        open_s > 0.6 * fault_s && open_s < fault_s,
        "consecutive-2 should be open most of the fault: {open_s:.0} s of {fault_s} s"
    );
    let open_after = window_mean(
        &o,
        "consecutive-2",
        &format!("breaker_open:{EDGE}"),
        (630.0, 720.0),
    );
    assert_eq!(
        open_after, 0.0,
        "closed again once the dependency is healthy"
    );
    let ok_cons = window_mean(&o, "consecutive-2", "good_ratio", FAULT);
    assert!(
        ok_cons < 0.4,
        "consecutive-2: ok ratio during the fault {ok_cons:.3} should collapse far below 0.875"
    );
    // The mechanism: the rejected calls were mostly healthy ones. Only 12.5 % of the calls
    // fail at inventory, so the failed checkouts beyond the baseline are healthy calls
    // the breaker turned away.
    let (lost_none, lost_cons) = (
        o.mean("no-breaker", "lost"),
        o.mean("consecutive-2", "lost"),
    );
    let offered_fault = 100.0 * fault_s;
    let healthy_rejected = lost_cons - lost_none;
    println!("lost: no breaker {lost_none}, consecutive-2 {lost_cons}");
    assert!(
        healthy_rejected > 0.6 * offered_fault,
        "consecutive-2 should turn away most healthy calls: {healthy_rejected} extra lost of {offered_fault}"
    );
    assert!(
        tot.breaker_rejections as f64 > 0.6 * offered_fault,
        "rejections {} of {offered_fault} fault-window calls",
        tot.breaker_rejections
    );

    // Count window: never opens at 12.5 %, users see only the dependency's errors.
    let (trans_w, tot_w) = edge(&o.report("count-window"));
    assert_eq!(
        (trans_w, tot_w.breaker_rejections),
        (0, 0),
        "the 50 % count window never opens at 12.5 % failures"
    );
    let lost_w = o.mean("count-window", "lost");
    assert!(
        (lost_w - lost_none).abs() <= 0.05 * lost_none,
        "count window loses what no breaker loses: {lost_w} vs {lost_none}"
    );
    assert!(
        lost_cons > 5.0 * lost_w,
        "the flapping breaker loses far more than the count window: {lost_cons} vs {lost_w}"
    );
}

#[test]
fn count_window_still_opens_on_a_real_outage() {
    let mut set = SET.to_vec();
    set.push("faults.0.error_rate=1.0");
    let o = {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        run_experiment("breaker_flapping.toml", 1, Some("12m"), &set)
    };
    let (trans, tot) = edge(&o.report("count-window"));
    let fault_s = FAULT.1 - FAULT.0;
    println!(
        "count-window on a dead inventory: {trans} transitions, open {:.0} s",
        tot.open_seconds
    );
    assert!(
        tot.open_seconds > 0.8 * fault_s,
        "count window should stay open through a total outage: {:.0} s of {fault_s} s",
        tot.open_seconds
    );
    let series = format!("attempts_per_s:{EDGE}");
    let (with, without) = (
        window_mean(&o, "count-window", &series, FAULT),
        window_mean(&o, "no-breaker", &series, FAULT),
    );
    assert!(
        with < 0.1 * without,
        "open, it spares the dead dependency: {with:.1} attempts/s vs {without:.1} without a breaker"
    );
}
