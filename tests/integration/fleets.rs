//! Fleets through the world: balancers against their definitions and queueing theory,
//! outlier ejection and its cap, probes that restart or unready, the autoscaler, the
//! panic threshold, and the one-line errors of bad fleet keys.

use crate::world::{model, run};
use cascade::model::load::{model_from_table, parse_table};
use cascade::sim::RunReport;
use cascade::sim::metrics::ServiceMetrics;

fn svc<'a>(r: &'a RunReport, name: &str) -> &'a ServiceMetrics {
    r.metrics.services.iter().find(|s| s.name == name).unwrap()
}

/// Requests that reached each instance of `name` over the run.
fn arrivals_per_instance(r: &RunReport, name: &str) -> Vec<u64> {
    svc(r, name)
        .instances
        .iter()
        .map(|i| i.arrivals.iter().sum())
        .collect()
}

/// A front with plenty of threads calling `api` (`instances` × `workers`, exponential
/// work of `mean_ms`), with `client` as the front → api stack and `faults` appended.
fn fleet(
    rate: f64,
    instances: u32,
    workers: u32,
    mean_ms: u64,
    client: &str,
    faults: &str,
) -> String {
    format!(
        r#"
[[workloads]]
name = "users"
target = "front.get"
arrivals = {{ poisson = {{ rate = {rate} }} }}
patience = "5s"
slo = "1s"

[services.front]
workers = 100000
[services.front.endpoints.get]
steps = [{{ call = "api.get" }}]
[services.front.clients.api]
{client}

[services.api]
workers = {workers}
instances = {instances}
[services.api.endpoints.get]
steps = [{{ work = {{ exponential = {{ mean = "{mean_ms}ms" }} }} }}]
[services.api.endpoints.health]
steps = [{{ work = {{ constant = "1ms" }} }}]
{faults}
"#
    )
}

mod balancing {
    use super::*;

    #[test]
    fn round_robin_gives_every_instance_its_turn_exactly() {
        let m = model(&fleet(
            200.0,
            4,
            100,
            1,
            "load_balancer = \"round_robin\"",
            "",
        ));
        let r = run(&m, 600, 1);
        let a = arrivals_per_instance(&r, "api");
        let (lo, hi) = (*a.iter().min().unwrap(), *a.iter().max().unwrap());
        assert!(hi - lo <= 1, "round robin's cycle: {a:?}");
        assert!(lo > 25_000, "{a:?}");
    }

    #[test]
    fn random_spreads_uniformly() {
        let m = model(&fleet(200.0, 4, 100, 1, "load_balancer = \"random\"", ""));
        let r = run(&m, 600, 2);
        let a = arrivals_per_instance(&r, "api");
        let total: u64 = a.iter().sum();
        for (i, n) in a.iter().enumerate() {
            let share = *n as f64 / total as f64;
            // s.d. of a share ≈ 0.0013 with 120 000 requests.
            assert!(
                (share - 0.25).abs() < 0.006,
                "instance {i}: {share:.4} of {a:?}"
            );
        }
        assert!(
            a.iter().max().unwrap() - a.iter().min().unwrap() > 1,
            "not a cycle: {a:?}"
        );
    }

    #[test]
    fn random_routing_to_single_worker_instances_is_independent_mm1_queues() {
        // Five M/M/1 queues at ρ = 0.8 with mean service 100 ms: the time in system is
        // exponential with mean 1/(μ − λ) = 0.5 s: p50 = 0.5 ln 2, p99 = 0.5 ln 100.
        let text = fleet(40.0, 5, 1, 100, "load_balancer = \"random\"", "")
            .replace("patience = \"5s\"", "patience = \"1h\"")
            .replace("slo = \"1s\"", "slo = \"1h\"");
        let r = run(&model(&text), 40_000, 3);
        let w = &r.metrics.workloads[0];
        for (got, exact, tol, what) in [
            (w.mean_latency_ms() / 1e3, 0.5, 0.03, "mean"),
            (w.latency_ms(0.5) / 1e3, 0.5 * 2f64.ln(), 0.04, "p50"),
            (w.latency_ms(0.99) / 1e3, 0.5 * 100f64.ln(), 0.06, "p99"),
        ] {
            let rel = (got - exact).abs() / exact;
            assert!(
                rel < tol,
                "{what}: {got:.4} s vs {exact:.4} s ({:.1} %)",
                rel * 100.0
            );
        }
    }

    const SLOW_ONE: &str = r#"
[[faults]]
target = "api"
instances = 1
at = "0s"
duration = "1h"
latency_multiplier = 40.0
"#;

    #[test]
    fn least_request_and_a_full_scan_route_around_one_slow_instance() {
        let run_with = |lb: &str| {
            let text = fleet(
                400.0,
                10,
                4,
                50,
                &format!("timeout = \"1s\"\nload_balancer = {lb}"),
                SLOW_ONE,
            );
            run(&model(&text), 600, 4)
        };
        let lost = |r: &RunReport| r.summary.lost as f64;
        let slow_share = |r: &RunReport| {
            let a = arrivals_per_instance(r, "api");
            a[0] as f64 / a.iter().sum::<u64>() as f64
        };
        let rr = run_with("\"round_robin\"");
        let p2c = run_with("{ least_request = { choice_count = 2 } }");
        let full = run_with("\"least_outstanding\"");
        println!(
            "lost rr {} p2c {} full {}; slow share {:.4} {:.4} {:.4}",
            lost(&rr),
            lost(&p2c),
            lost(&full),
            slow_share(&rr),
            slow_share(&p2c),
            slow_share(&full)
        );
        assert!(
            (slow_share(&rr) - 0.1).abs() < 0.001,
            "round robin keeps 1/10"
        );
        assert!(slow_share(&p2c) < 0.02, "two choices: {}", slow_share(&p2c));
        assert!(slow_share(&full) < slow_share(&p2c));
        assert!(lost(&rr) > 10_000.0);
        assert!(lost(&p2c) < 0.3 * lost(&rr));
        assert!(lost(&full) <= lost(&p2c));
    }
}

mod ejection {
    use super::*;

    fn failing(instances: u32, failing: u32, max_percent: u32) -> RunReport {
        let client = format!(
            "outlier_detection = {{ consecutive_5xx = 5, interval = \"10s\", base_ejection_time = \"30s\", max_ejection_percent = {max_percent} }}"
        );
        let faults = format!(
            "[[faults]]\ntarget = \"api\"\ninstances = {failing}\nat = \"0s\"\nduration = \"1h\"\nerror_rate = 1.0\n"
        );
        run(
            &model(&fleet(200.0, instances, 10, 5, &client, &faults)),
            300,
            5,
        )
    }

    fn peak_ejected(r: &RunReport) -> f64 {
        let c = r
            .metrics
            .clients
            .iter()
            .find(|c| c.name == "front→api")
            .unwrap();
        c.buckets[..r.run_buckets]
            .iter()
            .map(|b| b.ejected_area)
            .fold(0.0, f64::max)
    }

    #[test]
    fn a_failing_instance_is_ejected_again_and_again() {
        let r = failing(10, 1, 10);
        assert!(
            r.summary.ejections >= 3,
            "ejections {}",
            r.summary.ejections
        );
        // Ejected most of the time: 30 s, 60 s, 90 s… with a sweep between.
        let ejected_s: f64 = r
            .metrics
            .clients
            .iter()
            .find(|c| c.name == "front→api")
            .unwrap()
            .buckets
            .iter()
            .map(|b| b.ejected_area)
            .sum();
        assert!(ejected_s > 200.0, "ejected {ejected_s:.0} s of 300");
        let ok = r.summary.good as f64 / r.summary.offered as f64;
        assert!(ok > 0.95, "ejection keeps errors low: {ok:.3}");
    }

    #[test]
    fn the_max_ejection_percent_caps_how_many_are_out() {
        assert!(
            peak_ejected(&failing(10, 2, 10)) <= 1.0 + 1e-9,
            "10 % of 10 is one host"
        );
        assert!(peak_ejected(&failing(10, 2, 50)) > 1.5, "50 % lets both go");
        assert_eq!(
            failing(4, 1, 10).summary.ejections,
            0,
            "10 % of 4 is less than a host"
        );
    }
}

mod probes {
    use super::*;

    /// Web (4 × 50 threads) calls db; db slows down 50× for two minutes from 2m.
    fn web(probes: &str) -> String {
        format!(
            r#"
[[workloads]]
name = "users"
target = "web.page"
arrivals = {{ poisson = {{ rate = 300.0 }} }}
patience = "10s"
slo = "2s"

[services.web]
workers = 50
instances = 4
{probes}
[services.web.endpoints.page]
steps = [{{ work = {{ constant = "5ms" }} }}, {{ call = "db.query" }}]
[services.web.endpoints.health]
steps = [{{ work = {{ constant = "1ms" }} }}]

[services.db]
workers = 1000
[services.db.endpoints.query]
steps = [{{ work = {{ exponential = {{ mean = "20ms" }} }} }}]

[[faults]]
target = "db"
at = "2m"
duration = "2m"
latency_multiplier = 50.0
"#
        )
    }

    #[test]
    fn liveness_behind_a_saturated_pool_restarts_instances_and_readiness_does_not() {
        let live = run(
            &model(&web(
                "liveness = { endpoint = \"health\", period = \"5s\", timeout = \"1s\", failure_threshold = 3, restart = \"20s\" }",
            )),
            600,
            6,
        );
        let ready = run(
            &model(&web(
                "readiness = { endpoint = \"health\", period = \"5s\", timeout = \"1s\", failure_threshold = 3 }",
            )),
            600,
            6,
        );
        println!(
            "restarts {} / {}",
            live.summary.restarts, ready.summary.restarts
        );
        assert!(
            live.summary.restarts >= 4,
            "every instance restarts at least once"
        );
        assert_eq!(ready.summary.restarts, 0);
        let min_ready = svc(&ready, "web").buckets[150..230]
            .iter()
            .map(|b| b.ready_area)
            .fold(f64::INFINITY, f64::min);
        assert!(
            min_ready < 1.0,
            "readiness takes saturated instances out: {min_ready}"
        );
        let late_ready: f64 = svc(&ready, "web").buckets[400..590]
            .iter()
            .map(|b| b.ready_area)
            .sum::<f64>()
            / 190.0;
        assert!(late_ready > 3.99, "and they come back: {late_ready}");
    }

    #[test]
    fn a_restart_fails_what_the_instance_held_and_it_is_gone_for_the_restart_time() {
        // One instance, 2 threads of 1 s work, 5 requests/s: the queue grows until the
        // first liveness probe (which waits behind it) times out.
        let text = r#"
[[workloads]]
name = "users"
target = "web.page"
arrivals = { poisson = { rate = 5.0 } }
patience = "1h"
slo = "1h"

[services.web]
workers = 2
liveness = { endpoint = "health", period = "20s", timeout = "1s", failure_threshold = 1, restart = "10s" }
[services.web.endpoints.page]
steps = [{ work = { constant = "1s" } }]
[services.web.endpoints.health]
steps = [{ work = { constant = "1ms" } }]
"#;
        let r = run(&model(text), 120, 7);
        let s = svc(&r, "web");
        let first = s
            .buckets
            .iter()
            .position(|b| b.restarts > 0)
            .expect("a restart");
        // The probe clock has a random phase; the first probe that waits behind the
        // queue (within the first two periods) times out.
        assert!(first < 41, "restarted at {first} s");
        assert!(s.buckets[first - 1].queue_area > 10.0);
        for b in &s.buckets[first + 1..first + 10] {
            assert_eq!(b.queue_area, 0.0, "nothing queues at a restarting instance");
            assert_eq!(b.busy_area, 0.0);
        }
        assert!(s.buckets[first + 12].busy_area > 1.0, "back after 10 s");
        let failed = r.metrics.workloads[0].totals.failed;
        assert!(failed > 60, "queued and refused requests failed: {failed}");
    }
}

mod autoscaling {
    use super::*;

    #[test]
    fn the_hpa_scales_out_with_load_and_back_after_its_stabilization_window() {
        let text = r#"
[[workloads]]
name = "users"
target = "api.get"
arrivals = { poisson = { schedule = [["0s", 80.0], ["2m", 80.0], ["3m", 400.0], ["9m", 400.0], ["10m", 80.0]] } }
patience = "10s"
slo = "2s"

[services.api]
workers = 20
autoscale = { min = 1, max = 10, target_utilization = 0.6, sync = "15s", startup = "30s" }
[services.api.endpoints.get]
steps = [{ work = { exponential = { mean = "100ms" } } }]
"#;
        let r = run(&model(text), 1500, 8);
        let s = svc(&r, "api");
        let replicas: Vec<f64> = s.buckets.iter().map(|b| b.replicas_area).collect();
        let ready: Vec<f64> = s.buckets.iter().map(|b| b.ready_area).collect();
        println!(
            "replicas at 1m {:.1}, 8m {:.1}, 12m {:.1}, 24m {:.1}; peak {}",
            replicas[60], replicas[480], replicas[720], replicas[1440], r.summary.peak_replicas
        );
        // 80/s × 0.1 s = 8 busy workers: 40 % of one instance, below the 60 % target.
        assert!((replicas[60] - 1.0).abs() < 1e-9, "one replica at 80/s");
        // 400/s keeps 40 workers busy: ceil(40 ÷ (20 × 0.6)) = 4 instances in steady
        // state; the ramp may overshoot while new instances start.
        assert!(
            (4..=6).contains(&r.summary.peak_replicas),
            "peak {}",
            r.summary.peak_replicas
        );
        assert!(
            replicas[480] >= 4.0 - 1e-9,
            "at least four at 400/s: {}",
            replicas[480]
        );
        // New instances serve 30 s after the decision: ready lags replicas.
        let first_up = replicas.iter().position(|&x| x > 1.5).unwrap();
        let first_ready = ready.iter().position(|&x| x > 1.5).unwrap();
        assert!(
            (30..=31).contains(&(first_ready - first_up)),
            "replicas up at {first_up} s, ready at {first_ready} s"
        );
        // Load drops at 10m; the scale-down waits for the 5-minute window.
        assert!(
            replicas[720] >= 4.0 - 1e-9,
            "still scaled out at 12m: {}",
            replicas[720]
        );
        assert!((replicas[1440] - 1.0).abs() < 1e-9, "back to one by 24m");
        assert_eq!(r.summary.final_replicas, 1);
    }
}

mod panic_threshold {
    use super::*;

    fn checked(panic: f64) -> RunReport {
        // Health checks fail on 6 of 10 instances (their health endpoint errors), though
        // those instances serve real requests fine.
        let client = format!(
            "health_check = {{ endpoint = \"health\", interval = \"5s\", timeout = \"1s\", unhealthy_threshold = 2, healthy_threshold = 2 }}\npanic_threshold = {panic}"
        );
        let faults = "[[faults]]\ntarget = \"api.health\"\ninstances = 6\nat = \"0s\"\nduration = \"1h\"\nerror_rate = 1.0\n";
        run(&model(&fleet(200.0, 10, 20, 5, &client, faults)), 120, 9)
    }

    #[test]
    fn below_it_the_balancer_uses_every_instance_above_it_only_the_healthy() {
        let healthy_at_60 = |r: &RunReport| {
            r.metrics
                .clients
                .iter()
                .find(|c| c.name == "front→api")
                .unwrap()
                .buckets[60]
                .healthy_area
        };
        let panic = checked(50.0);
        let strict = checked(0.0);
        assert!((healthy_at_60(&panic) - 4.0).abs() < 1e-9);
        assert!((healthy_at_60(&strict) - 4.0).abs() < 1e-9);
        // 4 of 10 healthy is below 50 %: Envoy balances over all ten.
        let a = arrivals_per_instance(&panic, "api");
        assert!(
            a[0] > 1_500,
            "an unhealthy instance still gets traffic in panic: {a:?}"
        );
        // With the panic threshold at 0 the unhealthy ones get only health checks.
        let a = arrivals_per_instance(&strict, "api");
        assert!(a[0] < 100, "no traffic to an unhealthy instance: {a:?}");
        assert!(a[9] > 4_000, "{a:?}");
    }
}

mod bad_input {
    use super::*;

    fn error(text: &str) -> String {
        let path = std::path::Path::new("fleet.toml");
        let table = parse_table(path, text).unwrap_or_else(|e| panic!("{e}"));
        match model_from_table(path, table) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_fleet_key_is_checked_with_its_path() {
        let base = fleet(10.0, 4, 10, 5, "", "");
        for (edit, path) in [
            (("instances = 4", "instances = 0"), "services.api.instances"),
            (
                (
                    "[services.front.clients.api]",
                    "[services.front.clients.api]\noutlier_detection = { max_ejection_percent = 101 }",
                ),
                "services.front.clients.api.outlier_detection.max_ejection_percent",
            ),
            (
                (
                    "instances = 4",
                    "instances = 4\nautoscale = { min = 5, max = 3, target_utilization = 0.6 }",
                ),
                "services.api.autoscale.min",
            ),
            (
                (
                    "[services.front.clients.api]",
                    "[services.front.clients.api]\nhealth_check = { endpoint = \"ping\", interval = \"5s\", timeout = \"1s\", unhealthy_threshold = 2, healthy_threshold = 2 }",
                ),
                "services.front.clients.api.health_check.endpoint",
            ),
            (
                (
                    "[services.front.clients.api]",
                    "[services.front.clients.api]\nhealth_check = { endpoint = \"health\", interval = \"5s\", timeout = \"1s\", unhealthy_threshold = 0, healthy_threshold = 2 }",
                ),
                "services.front.clients.api.health_check.unhealthy_threshold",
            ),
            (
                (
                    "instances = 4",
                    "instances = 4\nliveness = { endpoint = \"health\", failure_threshold = 0 }",
                ),
                "services.api.liveness.failure_threshold",
            ),
            (
                (
                    "instances = 4",
                    "instances = 4\nreadiness = { endpoint = \"nope\" }",
                ),
                "services.api.readiness.endpoint",
            ),
            (
                (
                    "[services.front.clients.api]",
                    "[services.front.clients.api]\nload_balancer = { least_request = { choice_count = 1 } }",
                ),
                "services.front.clients.api.load_balancer.least_request.choice_count",
            ),
            (
                (
                    "[services.front.clients.api]",
                    "[services.front.clients.api]\npanic_threshold = 120.0",
                ),
                "services.front.clients.api.panic_threshold",
            ),
            (
                (
                    "[services.front.clients.api]",
                    "[services.front.clients.api]\nbreaker_scope = \"instance\"",
                ),
                "services.front.clients.api.breaker_scope",
            ),
        ] {
            let e = error(&base.replacen(edit.0, edit.1, 1));
            assert!(
                e.starts_with("fleet.toml: ") && e.contains(path),
                "{path}: {e}"
            );
            assert!(!e.contains('\n'), "one line: {e}");
        }
        let faults = "[[faults]]\ntarget = \"api\"\ninstances = 5\nat = \"0s\"\nduration = \"1m\"\nerror_rate = 1.0\n";
        let e = error(&fleet(10.0, 4, 10, 5, "", faults));
        assert!(
            e.contains("faults[0].instances") && e.contains("more than api has (4)"),
            "{e}"
        );
        let e = error(&base.replacen("load_balancer", "x", 1).replacen(
            "[services.front.clients.api]",
            "[services.front.clients.api]\nload_balancer = \"roundrobin\"",
            1,
        ));
        assert!(
            e.contains("services.front.clients.api.load_balancer")
                && e.contains("unknown load balancer"),
            "{e}"
        );
    }
}

#[test]
fn a_fleet_run_is_deterministic() {
    let text = fleet(
        300.0,
        6,
        10,
        20,
        "timeout = \"500ms\"\nload_balancer = { least_request = { choice_count = 2 } }\noutlier_detection = {}\nhealth_check = { endpoint = \"health\", interval = \"2s\", timeout = \"1s\", unhealthy_threshold = 2, healthy_threshold = 1 }",
        "[[faults]]\ntarget = \"api\"\ninstances = 2\nat = \"30s\"\nduration = \"60s\"\nlatency_multiplier = 30.0\n",
    );
    let m = model(&text);
    let a = run(&m, 180, 10);
    let b = run(&m, 180, 10);
    assert_eq!(a.stats.trace_hash, b.stats.trace_hash);
    // Debug text: the summary holds NaNs (diverged_at_s), which never compare equal.
    assert_eq!(format!("{:?}", a.summary), format!("{:?}", b.summary));
    let c = run(&m, 180, 11);
    assert_ne!(a.stats.trace_hash, c.stats.trace_hash);
}

mod breaker_scope {
    use super::*;

    /// One instance of four fails every request; the breaker (50 % of 20 calls) sits
    /// inside a retry of 3 attempts, so each attempt picks an instance again.
    fn with_scope(scope: &str) -> RunReport {
        let client = format!(
            "retry = {{ max_attempts = 3, backoff = \"none\" }}\nbreaker = {{ count_window = {{ size = 20, failure_rate = 50.0, minimum_calls = 20 }}, wait_open = \"30s\", half_open_calls = 3 }}\norder = [\"retry\", \"breaker\", \"bulkhead\", \"timeout\"]\nbreaker_scope = \"{scope}\""
        );
        let faults = "[[faults]]\ntarget = \"api\"\ninstances = 1\nat = \"0s\"\nduration = \"1h\"\nerror_rate = 1.0\n";
        run(&model(&fleet(100.0, 4, 10, 5, &client, faults)), 300, 12)
    }

    #[test]
    fn an_instance_breaker_opens_for_the_failing_instance_only() {
        let edge = with_scope("edge");
        let inst = with_scope("instance");
        // A quarter of the attempts fail: the edge's breaker never reaches 50 %.
        assert_eq!(edge.summary.breaker_transitions, 0);
        // The failing instance's own breaker opens, and reopens after each probe.
        assert!(
            inst.summary.breaker_transitions >= 3,
            "{}",
            inst.summary.breaker_transitions
        );
        let c = |r: &RunReport| {
            r.metrics
                .clients
                .iter()
                .find(|c| c.name == "front→api")
                .unwrap()
                .totals()
        };
        // Its attempts are refused at once instead of failing at the instance, and the
        // retries go elsewhere: fewer attempts reach instance 0.
        assert!(c(&inst).breaker_rejections > 5_000);
        let a_edge = arrivals_per_instance(&edge, "api");
        let a_inst = arrivals_per_instance(&inst, "api");
        assert!(a_inst[0] * 10 < a_edge[0], "{a_inst:?} vs {a_edge:?}");
        // Both answer (nearly) everyone: the retry finds a healthy instance.
        for r in [&edge, &inst] {
            let ok = r.summary.good as f64 / r.summary.offered as f64;
            assert!(ok > 0.98, "{ok}");
        }
        // The share open is per breaker: one of four open most of the time.
        let open: f64 = c(&inst).open_seconds / c(&inst).breaker_seconds;
        assert!((0.15..0.26).contains(&open), "open share {open:.3}");
    }
}
