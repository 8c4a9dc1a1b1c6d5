//! `cascade import` as a user runs it: TOML on stdout that a model accepts, unmapped keys
//! listed, one-line errors with exit 2 for files of another format.

use crate::cli::bad_input::fails_with;
use crate::cli::{cascade, temp_dir};

#[test]
fn an_imported_destination_rule_pastes_into_a_model_that_runs() {
    let dir = temp_dir("import-istio");
    let dr = dir.join("dr.yaml");
    std::fs::write(
        &dr,
        "kind: DestinationRule\nspec:\n  host: payment\n  trafficPolicy:\n    connectionPool:\n      tcp: { maxConnections: 20 }\n      http: { http1MaxPendingRequests: 5, maxRequestsPerConnection: 10 }\n    outlierDetection: { consecutive5xxErrors: 3, interval: 5s }\n",
    )
    .unwrap();
    let o = cascade(&["import", "istio", dr.to_str().unwrap(), "--caller", "shop"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stack = String::from_utf8(o.stdout).unwrap();
    assert!(
        stack.contains("maxRequestsPerConnection"),
        "the unmapped key is listed: {stack}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("no equivalent"));
    let model = format!(
        "[[workloads]]\nname = \"u\"\ntarget = \"shop.buy\"\narrivals = {{ poisson = {{ rate = 50.0 }} }}\npatience = \"5s\"\nslo = \"1s\"\n[services.shop]\nworkers = 50\n[services.shop.endpoints.buy]\nsteps = [{{ call = \"payment.pay\" }}]\n[services.payment]\nworkers = 50\n[services.payment.endpoints.pay]\nsteps = [{{ work = {{ constant = \"10ms\" }} }}]\n{stack}"
    );
    let m = dir.join("m.toml");
    std::fs::write(&m, model).unwrap();
    let o = cascade(&[
        "run",
        m.to_str().unwrap(),
        "--duration",
        "30s",
        "--replications",
        "1",
        "--out",
        dir.join("o").to_str().unwrap(),
        "--quiet",
        "--no-charts",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_file_of_another_format_is_refused_in_one_line() {
    let dir = temp_dir("import-bad");
    let f = dir.join("app.yml");
    std::fs::write(&f, "spring:\n  application:\n    name: shop\n").unwrap();
    fails_with(
        &["import", "resilience4j", f.to_str().unwrap()],
        "not a Resilience4j",
    );
    fails_with(&["import", "envoy", f.to_str().unwrap()], "app.yml");
    fails_with(
        &[
            "import",
            "istio",
            dir.join("missing.yaml").to_str().unwrap(),
        ],
        "cannot read",
    );
}
