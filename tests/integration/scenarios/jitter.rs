//! Black Friday jitter, shortened: the peak reached after 2 minutes, the 6-minute
//! processor slowdown at 4 minutes, 8 minutes of aftermath, one replication.
//!
//! What the theory predicts, and what this model shows:
//! - immediate retries (and, here, no retries at all) leave the 200 payment threads
//!   firing `200 / timeout` attempts per second at the slowed processor; at a 300 ms
//!   timeout that is past the processor's tipping point, so it stays overloaded after it
//!   heals (metastable), while every back-off recovers within a minute;
//! - back-off lowers the attempt rate at the struggling processor because the payment
//!   thread sleeps through it, so the rate falls with the *mean* wait of the formula;
//! - jitter by itself changes nothing here: failures arrive as a Poisson stream (no
//!   synchronised cohort), so exponential and full jitter (same mean wait) and fixed and
//!   Polly's V2 (same mean wait) put the same load on the processor;
//! - at a loose 1 s timeout the retry policy does not matter at all.

use std::sync::OnceLock;

use super::{Outcome, run_experiment};

const VARIANTS: [&str; 8] = [
    "no-retry",
    "immediate",
    "fixed",
    "exponential",
    "full-jitter",
    "equal-jitter",
    "decorrelated",
    "decorrelated-v2",
];
const BACKOFFS: [&str; 6] = [
    "fixed",
    "exponential",
    "full-jitter",
    "equal-jitter",
    "decorrelated",
    "decorrelated-v2",
];
/// The fault window of the shortened run, in 10 s buckets: 4m..10m.
const FAULT: std::ops::Range<usize> = 24..60;
const PROCESSOR: &str = "attempts_per_s:payment->processor";

/// One shortened run shared by both tests.
fn run() -> &'static Outcome {
    static RUN: OnceLock<Outcome> = OnceLock::new();
    RUN.get_or_init(|| {
        run_experiment(
        "black_friday_jitter.toml",
        1,
        Some("18m"),
        &[
            "faults.0.at=4m",
            r#"workloads.shoppers.arrivals={ poisson = { schedule = [["0s", 150.0], ["2m", 300.0]] } }"#,
        ],
        )
    })
}

/// Mean and peak attempts per second at the processor during the slowdown.
fn fault_attempts(o: &Outcome, variant: &str, point: &str) -> (f64, f64) {
    let s = &o.series(variant, point, PROCESSOR)[FAULT];
    let mean = s.iter().sum::<f64>() / s.len() as f64;
    (mean, s.iter().copied().fold(0.0, f64::max))
}

#[test]
fn backoff_throttles_the_retry_storm_and_jitter_alone_changes_nothing() {
    let o = run();
    let tight = "timeout=300ms";
    let mut table = String::new();
    for v in VARIANTS {
        let (mean, peak) = fault_attempts(o, v, tight);
        let offered: f64 = o.series(v, tight, "offered_per_s")[FAULT].iter().sum();
        let attempts: f64 = o.series(v, tight, PROCESSOR)[FAULT].iter().sum();
        table += &format!(
            "{v:>16}: outage {:>5.0}s sustained {:>5.0}s lost {:>7.0} processor attempts/s {mean:>4.0} (peak {peak:>4.0}) per user request {:.2}\n",
            o.at(v, tight, "outage_s"),
            o.at(v, tight, "sustained_outage_s"),
            o.at(v, tight, "lost"),
            attempts / offered,
        );
    }
    eprintln!("payment→processor timeout 300 ms:\n{table}");

    // The storm: no back-off, no recovery.
    for v in ["immediate", "no-retry"] {
        assert_eq!(o.at(v, tight, "recovered"), 0.0, "{v} stays down\n{table}");
        assert!(
            o.at(v, tight, "sustained_outage_s") >= 300.0,
            "{v}: the outage outlives the slowdown\n{table}"
        );
    }
    // Any back-off: recovered within a minute of the processor healing.
    for v in BACKOFFS {
        assert!(
            o.at(v, tight, "recovery_s") <= 60.0,
            "{v} recovers within a minute\n{table}"
        );
        assert!(
            o.at(v, tight, "lost") < 0.75 * o.at("immediate", tight, "lost"),
            "{v} loses far fewer orders than immediate retries\n{table}"
        );
    }
    // The mechanism: immediate retries hit the struggling processor hardest...
    let (imm, imm_peak) = fault_attempts(o, "immediate", tight);
    for v in BACKOFFS {
        let (mean, peak) = fault_attempts(o, v, tight);
        assert!(
            mean < 0.9 * imm && peak < imm_peak,
            "{v}: back-off lowers the attempt rate at the processor\n{table}"
        );
    }
    // ... and what lowers it is the mean wait: decorrelated (550 ms over two retries) <
    // equal jitter (450 ms) < exponential (300 ms) < fixed 100 ms (200 ms).
    let rate = |v: &str| fault_attempts(o, v, tight).0;
    assert!(
        rate("decorrelated") < rate("equal-jitter")
            && rate("equal-jitter") < rate("exponential")
            && rate("exponential") < rate("fixed"),
        "attempt rate falls with the mean wait\n{table}"
    );
    // Jitter itself: same mean wait, same load (failures are not synchronised here).
    for (a, b) in [("exponential", "full-jitter"), ("fixed", "decorrelated-v2")] {
        let (ra, rb) = (rate(a), rate(b));
        assert!(
            (ra - rb).abs() < 0.03 * ra,
            "{a} and {b} have the same mean wait and put the same load on the processor: {ra:.0} vs {rb:.0}/s\n{table}"
        );
    }
}

#[test]
fn the_timeout_decides_whether_the_retry_policy_matters() {
    let o = run();
    // Loose: 200 threads at one attempt per second cannot overload the processor, so
    // every policy gives the same outage (the slowdown itself).
    let loose = "timeout=1s";
    let outages: Vec<f64> = VARIANTS
        .iter()
        .map(|v| o.at(v, loose, "outage_s"))
        .collect();
    let (lo, hi) = outages
        .iter()
        .fold((f64::MAX, 0.0f64), |(l, h), x| (l.min(*x), h.max(*x)));
    assert!(
        hi - lo <= 30.0 && hi <= 420.0,
        "at 1 s every policy has the slowdown's outage and no more: {outages:?}"
    );
    // Tight: only the longest mean wait (decorrelated) keeps the processor below its
    // tipping point.
    let tight = "timeout=250ms";
    assert!(
        o.at("decorrelated", tight, "recovery_s") <= 120.0,
        "decorrelated recovers at 250 ms: {} s",
        o.at("decorrelated", tight, "recovery_s")
    );
    for v in [
        "immediate",
        "no-retry",
        "fixed",
        "exponential",
        "full-jitter",
    ] {
        assert_eq!(
            o.at(v, tight, "recovered"),
            0.0,
            "{v} does not recover at 250 ms (outage {} s)",
            o.at(v, tight, "outage_s")
        );
    }
}
