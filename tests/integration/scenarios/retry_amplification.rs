//! Retry amplification, shortened to 3 minutes of a bank that fails every call: three
//! layers of 3 attempts must put 27 attempts per user request on the bank (3 at order, 9
//! at payment), retrying at one layer only must put 3, and retry budgets must cut the
//! storm far below 27 (Finagle's 20 % + 10/s per layer: ≈ 2.1; gRPC throttling, which
//! stops retrying once most attempts fail: ≈ 1).

use super::{Outcome, run_experiment};

/// Mean over the run of a per-bucket series of `variant`.
fn series_mean(o: &Outcome, variant: &str, metric: &str) -> f64 {
    let v = o
        .experiment
        .variants
        .iter()
        .position(|x| x == variant)
        .unwrap_or_else(|| panic!("no variant {variant}"));
    let points = o.experiment.points.len();
    let (_, accs) = o.results.groups[v * points]
        .metrics
        .iter()
        .find(|(m, _)| m == metric)
        .unwrap_or_else(|| panic!("no series {metric}"));
    let xs: Vec<f64> = accs.iter().map(|a| a.mean()).collect();
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Arrivals at `service` per user request, from the time series.
fn per_request(o: &Outcome, variant: &str, service: &str) -> f64 {
    series_mean(o, variant, &format!("arrivals_per_s:{service}"))
        / series_mean(o, variant, "offered_per_s")
}

#[test]
fn three_layers_of_three_attempts_make_27_and_budgets_stop_the_multiplication() {
    let o = run_experiment(
        "retry_amplification.toml",
        1,
        Some("3m"),
        &["faults.0.duration=3m"],
    );

    // Every layer retries: 3 → 9 → 27, layer by layer (the mechanism), and the summary's
    // peak amplification is the bank's 27.
    let amp = o.mean("every-layer", "amplification");
    assert!(
        (26.5..=27.01).contains(&amp),
        "every-layer: amplification {amp:.2} should be ≈ 27 (3 × 3 × 3)"
    );
    for (service, expected) in [("order", 3.0), ("payment", 9.0), ("bank", 27.0)] {
        let x = per_request(&o, "every-layer", service);
        assert!(
            (x - expected).abs() < 0.03 * expected,
            "every-layer: {x:.2} arrivals at {service} per user request, expected ≈ {expected}"
        );
    }

    // One layer retries: the bank sees 3 per request, the layers above 1.
    let one = o.mean("one-layer", "amplification");
    assert!(
        (2.9..=3.01).contains(&one),
        "one-layer: amplification {one:.2} should be ≈ 3"
    );
    let pay = per_request(&o, "one-layer", "payment");
    assert!(
        (pay - 1.0).abs() < 0.02,
        "one-layer: payment sees {pay:.2} per request, expected 1"
    );

    // Finagle's budget: each layer adds at most 20 % of its calls plus 10 retries/s, so at
    // 100 requests/s the bank sees ≈ 100 → 130 → 166 → 209 attempts/s (≈ 2.1 per request),
    // whatever max_attempts says.
    let finagle = o.mean("finagle-budget", "amplification");
    assert!(
        (1.8..=2.4).contains(&finagle),
        "finagle-budget: amplification {finagle:.2} should be ≈ 2.1 (1.2 + 10/s per layer)"
    );
    assert!(
        finagle < one,
        "a budget at every layer ({finagle:.2}) retries less than one unbudgeted layer ({one:.2})"
    );

    // gRPC throttling: every failed attempt takes a token and nothing succeeds to put one
    // back, so after ~5 retries per client retrying stops altogether.
    let grpc = o.mean("grpc-throttle", "amplification");
    assert!(
        grpc < 1.05,
        "grpc-throttle: amplification {grpc:.3} should be ≈ 1 under total failure"
    );
}
