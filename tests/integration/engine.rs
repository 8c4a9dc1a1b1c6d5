//! The engine against queueing theory and its determinism guarantees.

use cascade::engine::mmc::{MmcConfig, simulate};
use cascade::time::short::ms;

/// Runs `cfg` and checks it against Erlang C: time in system within 2 %, P(wait) within
/// 0.02, mean queue wait within 4 batch-means standard errors, Little's law within 1 %.
fn check_against_erlang_c(cfg: MmcConfig, seed: u64) {
    let sim = simulate(cfg, seed, 0).expect("runs");
    let exact = cfg.theory();
    let ctx = format!(
        "c={} rho={:.2} seed={seed}: sim {sim:?} theory {exact:?}",
        cfg.servers, exact.rho
    );

    let rel = (sim.mean_system - exact.mean_system).abs() / exact.mean_system;
    assert!(
        rel < 0.02,
        "time in system off by {:.2} %: {ctx}",
        rel * 100.0
    );

    assert!((sim.p_wait - exact.p_wait).abs() < 0.02, "P(wait): {ctx}");

    let z = (sim.mean_wait - exact.mean_wait).abs() / sim.mean_wait_se;
    assert!(
        z < 4.0,
        "mean wait {z:.2} standard errors from Erlang C: {ctx}"
    );

    let little = sim.observed_rate * sim.mean_system;
    let rel = (sim.mean_in_system - little).abs() / little;
    assert!(
        rel < 0.01,
        "Little's law L = λW off by {:.2} %: {ctx}",
        rel * 100.0
    );
}

#[test]
fn mm1_at_rho_0_8_matches_erlang_c() {
    check_against_erlang_c(MmcConfig::at_utilisation(1, 0.8, ms(100), 2_000_000), 11);
}

#[test]
fn mm10_at_rho_0_9_matches_erlang_c() {
    check_against_erlang_c(MmcConfig::at_utilisation(10, 0.9, ms(100), 2_000_000), 12);
}

#[test]
fn mm50_at_rho_0_85_matches_erlang_c() {
    check_against_erlang_c(MmcConfig::at_utilisation(50, 0.85, ms(180), 2_000_000), 13);
}

#[test]
fn mm200_at_rho_0_95_matches_erlang_c() {
    check_against_erlang_c(MmcConfig::at_utilisation(200, 0.95, ms(180), 2_000_000), 14);
}

#[test]
fn same_seed_same_trace_other_replication_other_trace() {
    let cfg = MmcConfig::at_utilisation(5, 0.8, ms(50), 50_000);
    let a = simulate(cfg, 2026, 0).unwrap();
    let b = simulate(cfg, 2026, 0).unwrap();
    let c = simulate(cfg, 2026, 1).unwrap();
    assert_eq!(a.run.trace_hash, b.run.trace_hash);
    assert_eq!(a, b);
    assert_ne!(a.run.trace_hash, c.run.trace_hash);
}
