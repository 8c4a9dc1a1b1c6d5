//! Timeout hierarchy, shortened: 8 minutes with the issuer slow (p50 6 s) from 2m to 5m.
//! Inverted (gateway 3 s over 5 s below): the gateway reports the timeouts while order,
//! payment and processor keep working for nobody, and order's pool runs out. Cascading
//! (5 / 4 / 3 / 2 s): the processor, next to the slow issuer, reports the timeout, the
//! error travels up fast and no layer above the issuer does wasted work. Deadline
//! propagation (the inverted timeouts): nobody waits past the gateway's 3 s.

use super::run_experiment;
use cascade::sim::RunReport;
use cascade::sim::metrics::ServiceMetrics;

const SET: [&str; 2] = ["faults.0.at=2m", "faults.0.duration=3m"];

/// Per-service totals: (wasted requests, wasted seconds, failed by a timeout, failed by
/// a downstream error).
struct Svc {
    wasted: u64,
    wasted_s: f64,
    timeouts: u64,
    downstream: u64,
}

fn svc(r: &RunReport, name: &str) -> Svc {
    let s: &ServiceMetrics = r.metrics.services.iter().find(|s| s.name == name).unwrap();
    let sum = |f: fn(&cascade::sim::metrics::ServiceBucket) -> u64| s.buckets.iter().map(f).sum();
    Svc {
        wasted: sum(|b| b.wasted),
        wasted_s: s.wasted_seconds,
        timeouts: sum(|b| b.failed_timeout),
        downstream: sum(|b| b.failed_downstream),
    }
}

const INNER: [&str; 3] = ["order", "payment", "processor"];

#[test]
fn inverted_timeouts_waste_work_cascading_report_at_the_fault_deadlines_bound_it() {
    let o = run_experiment("timeout_hierarchy.toml", 1, Some("8m"), &SET);
    let (inv, cas, dl) = (
        o.report("inverted"),
        o.report("cascading"),
        o.report("deadline"),
    );
    for (name, r) in [("inverted", &inv), ("cascading", &cas), ("deadline", &dl)] {
        for s in ["gateway", "order", "payment", "processor", "issuer"] {
            let x = svc(r, s);
            println!(
                "{name:10} {s:10} wasted {:6} ({:8.0} s)  timeouts {:6}  downstream errors {:6}",
                x.wasted, x.wasted_s, x.timeouts, x.downstream
            );
        }
    }

    // Inverted: the gateway reports the error (it gives up first) ...
    let lost = o.mean("inverted", "lost");
    let gw = svc(&inv, "gateway");
    assert!(
        gw.timeouts as f64 >= 0.95 * lost && gw.downstream == 0,
        "inverted: the gateway reports the timeouts: {} of {lost} lost",
        gw.timeouts
    );
    // ... while order keeps waiting for an answer nobody reads, and runs out of threads.
    let order = svc(&inv, "order");
    assert!(
        order.wasted as f64 >= 0.95 * gw.timeouts as f64,
        "inverted: order works for nobody on every gateway timeout: {} wasted of {}",
        order.wasted,
        gw.timeouts
    );
    assert!(
        o.peak("inverted", "busy:order") >= 395.0 && o.peak("inverted", "queue:order") > 500.0,
        "inverted: order's 400 threads are exhausted and requests queue (busy {:.0}, queue {:.0})",
        o.peak("inverted", "busy:order"),
        o.peak("inverted", "queue:order")
    );

    // Cascading: the layer next to the fault reports it, everybody above gets a fast
    // downstream error, and only the issuer's own work is wasted.
    let lost_c = o.mean("cascading", "lost");
    let proc_c = svc(&cas, "processor");
    assert!(
        proc_c.timeouts as f64 >= 0.95 * lost_c,
        "cascading: the processor reports the timeouts: {} of {lost_c} lost",
        proc_c.timeouts
    );
    for s in ["gateway", "order", "payment"] {
        let x = svc(&cas, s);
        assert_eq!(x.timeouts, 0, "cascading: {s} sees no timeout of its own");
        assert!(
            x.downstream as f64 >= 0.95 * lost_c,
            "cascading: {s} passes the error up: {} of {lost_c}",
            x.downstream
        );
    }
    for s in INNER {
        assert_eq!(svc(&cas, s).wasted, 0, "cascading: {s} wastes nothing");
    }
    let (w_inv, w_cas) = (o.mean("inverted", "wasted"), o.mean("cascading", "wasted"));
    assert!(
        w_inv > 2.0 * w_cas,
        "inverted wastes far more requests than cascading: {w_inv} vs {w_cas}"
    );

    // Deadline propagation: inner layers stop at the gateway's deadline, so none of our
    // services works past it; inverted, order keeps working ~2 s (and more, queued) after
    // the gateway gave up on every request.
    let per = |x: &Svc| x.wasted_s / x.wasted.max(1) as f64;
    assert!(
        per(&order) > 1.5,
        "inverted: order works {:.2} s per wasted request after the gateway gave up",
        per(&order)
    );
    for s in INNER {
        let d = svc(&dl, s);
        assert_eq!(
            d.wasted, 0,
            "deadline: {s} never works past the deadline ({:.0} s)",
            d.wasted_s
        );
    }
    let busy = |v| {
        INNER
            .iter()
            .map(|s| o.peak(v, &format!("busy:{s}")))
            .sum::<f64>()
    };
    assert!(
        busy("deadline") < 0.85 * busy("inverted") && busy("cascading") < busy("deadline"),
        "threads held below the gateway at the peak: inverted {:.0}, deadline {:.0}, cascading {:.0}",
        busy("inverted"),
        busy("deadline"),
        busy("cascading")
    );
    assert!(
        o.peak("deadline", "queue:order") < 10.0,
        "deadline: order never queues ({:.0})",
        o.peak("deadline", "queue:order")
    );
    // And it spends the user's budget best: fewer lost than inverted (no queue at order)
    // and than cascading (whose 2 s at the processor gives up on answers that arrive
    // between 2 s and 3 s, inside the gateway's budget).
    let lost_d = o.mean("deadline", "lost");
    assert!(
        lost_d < lost && lost_d < 0.97 * lost_c,
        "deadline loses the fewest checkouts: {lost_d} vs inverted {lost}, cascading {lost_c}"
    );
}
