//! Test fixture: a small but realistic output directory, written the way the runner
//! writes it (same files, columns and NaN spellings), so chart tests exercise the real
//! parsing path.
//!
//! The story it tells: a 90-minute shopping day with 60 s buckets, the payment service
//! slowed from minute 43 to 49. `unprotected` (no breaker) collapses into a retry storm
//! that outlives the fault; any other variant (`protected`) dips, trips its breaker and
//! recovers within two minutes. Longer payment timeouts make both worse.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What to put in the directory; `Fixture::default()` is the full realistic case
/// without a sweep.
pub struct Fixture {
    pub variants: Vec<&'static str>,
    pub sweep: bool,
    pub fault: bool,
    /// Blank and `NaN` fields in every file.
    pub nan: bool,
    /// Every number zero.
    pub zeros: bool,
    pub timeseries: bool,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture {
            variants: vec!["unprotected", "protected"],
            sweep: false,
            fault: true,
            nan: false,
            zeros: false,
            timeseries: true,
        }
    }
}

const SWEEP_PATH: &str = "services.order.clients.payment.timeout";
const TIMEOUTS: [(&str, f64); 3] = [("500ms", 500.0), ("1s", 1000.0), ("2s", 2000.0)];
const SERVICES: [&str; 4] = ["gateway", "order", "payment", "inventory"];
const CLIENTS: [&str; 3] = ["gateway→order", "order→payment", "order→inventory"];
const REPS: usize = 3;
const FAULT: (f64, f64) = (43.0, 49.0);

/// A fresh, empty directory under the system temp dir, unique per process and call.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("cascade-charts-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One bucket of one replication.
struct Bucket {
    offered: f64,
    ok: f64,
    p99: f64,
    busy: [f64; 4],
    queue: [f64; 4],
    breaker: [f64; 3],
}

/// The simulated-looking dynamics at minute `t` (bucket start).
fn bucket(f: &Fixture, storm: bool, timeout_ms: f64, t: f64, rep: usize) -> Bucket {
    let wobble = 1.0 + 0.05 * (rep as f64 * 1.7 + t * 0.37).sin();
    let offered = (400.0 + 80.0 * (t / 90.0 * std::f64::consts::PI).sin()) * wobble;
    let sev = timeout_ms / 1000.0;
    let (in_fault, after) = (
        f.fault && t >= FAULT.0 && t < FAULT.1,
        f.fault && t >= FAULT.1,
    );
    let mut b = Bucket {
        offered,
        ok: offered * 0.99,
        p99: 120.0 * wobble,
        busy: [8.0 * wobble, 12.0 * wobble, 6.0 * wobble, 4.0],
        queue: [0.2, 0.5 * wobble, 0.1, 0.0],
        breaker: [0.0; 3],
    };
    if storm && (in_fault || after) {
        let since = t - FAULT.0;
        let share = if in_fault {
            0.3
        } else {
            0.12 + 0.004 * (t - FAULT.1)
        };
        b.ok = offered * share / sev.sqrt() * wobble;
        b.p99 = (5000.0 + 3000.0 * sev) * wobble;
        b.busy = [40.0, 64.0, if in_fault { 30.0 } else { 50.0 } * wobble, 4.0];
        b.queue = [
            (20.0 * since * sev).min(400.0),
            (50.0 * since * sev).min(1000.0) * wobble,
            (5.0 * since).min(120.0),
            0.0,
        ];
    } else if !storm && in_fault {
        b.ok = offered * (0.7 - 0.1 * sev) * wobble;
        b.p99 = (timeout_ms + 100.0) * wobble;
        b.busy[1] = 30.0 * wobble;
        b.busy[2] = 20.0 * wobble;
        b.queue[1] = 5.0 * wobble;
        b.breaker[1] = (0.8 + 0.1 * (t * 2.1 + rep as f64).sin()).min(1.0);
    } else if !storm && after && t < FAULT.1 + 3.0 {
        let k = (-(t - FAULT.1)).exp();
        b.ok = offered * (0.99 - 0.4 * k);
        b.p99 = 120.0 + 600.0 * k;
        b.breaker[1] = 0.3 * k;
    }
    b
}

/// Mean and a t-based 95 % interval of three replications.
fn stats(xs: &[f64]) -> (f64, f64, f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let half = 4.303 * var.sqrt() / n.sqrt();
    (mean, var.sqrt(), mean - half, mean + half)
}

fn num(f: &Fixture, v: f64) -> String {
    if f.zeros {
        "0".into()
    } else {
        format!("{v:.4}")
    }
}

/// Writes `manifest.json`, `runs.csv`, `summary.csv` and (if asked) `timeseries.csv`.
pub fn write(dir: &Path, f: &Fixture) {
    let points: Vec<(String, &str, f64)> = if f.sweep {
        TIMEOUTS
            .iter()
            .map(|(label, ms)| (format!("timeout={label}"), *label, *ms))
            .collect()
    } else {
        vec![(String::new(), "", 1000.0)]
    };
    let manifest = serde_json::json!({
        "name": "black-friday-jitter",
        "model": "models/shop.toml",
        "duration_s": 5400.0,
        "bucket_s": 60.0,
        "replications": REPS,
        "seed": 2026,
        "variants": f.variants,
        "sweep": if f.sweep {
            serde_json::json!([{ "path": SWEEP_PATH, "values": TIMEOUTS.map(|t| t.0) }])
        } else {
            serde_json::json!([])
        },
        "points": points.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
        "fault_windows": if f.fault { serde_json::json!([[2580.0, 2940.0]]) } else { serde_json::json!([]) },
        "good_ratio_below": 0.5,
        "services": SERVICES,
        "clients": CLIENTS,
        "workloads": ["shoppers"],
        "crate_version": "0.1.0",
        "command": "cascade run experiments/black-friday.toml",
        "a_future_field": { "ignored": true },
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();

    let sweep_head = if f.sweep {
        format!("{SWEEP_PATH},")
    } else {
        String::new()
    };
    let mut runs = format!(
        "variant,point,{sweep_head}replication,seed,outage_s,sustained_outage_s,recovery_s,recovered,offered,good,late,degraded,pending,failed,abandoned,lost,lost_revenue,p50_ms,p99_ms,amplification,wasted,events\n"
    );
    let mut summary = format!("variant,point,{sweep_head}metric,n,mean,std,lo,hi\n");
    let mut ts = "variant,point,t_s,metric,mean,lo,hi\n".to_string();

    for (pi, (point, value, timeout_ms)) in points.iter().enumerate() {
        let sweep_cell = if f.sweep {
            format!("{value},")
        } else {
            String::new()
        };
        for variant in &f.variants {
            let storm = *variant == "unprotected";
            let sev = timeout_ms / 1000.0;
            let mut per_metric: Vec<(&str, Vec<f64>)> = vec![
                ("outage_s", vec![]),
                ("sustained_outage_s", vec![]),
                ("lost", vec![]),
                ("p99_ms", vec![]),
            ];
            for rep in 0..REPS {
                let jit = 1.0 + 0.06 * ((rep + pi) as f64 * 2.3).sin();
                let (outage, sustained, lost) = match (f.fault, storm) {
                    (false, _) => (0.0, 0.0, 800.0 * jit),
                    (true, true) => (2820.0 * jit, 2700.0 * jit, 880_000.0 * sev.sqrt() * jit),
                    // One protected replication storms anyway: the bimodal case.
                    (true, false) if rep == 2 => (1500.0 * sev, 1380.0 * sev, 310_000.0 * sev),
                    (true, false) => (330.0 * sev * jit, 240.0 * sev * jit, 42_000.0 * sev * jit),
                };
                let p99 = if storm && f.fault { 7000.0 } else { 900.0 } * jit;
                let recovery = if f.nan && rep == 0 {
                    "NaN".to_string()
                } else {
                    num(f, 120.0 * jit)
                };
                let lost_text = if f.nan && rep == 1 {
                    String::new()
                } else {
                    num(f, lost)
                };
                writeln!(
                    runs,
                    "{variant},{point},{sweep_cell}{rep},{},{},{},{recovery},{},{},{},0,0,0,0,0,{lost_text},{},120,{},1.4,0,123456",
                    2026 + rep,
                    num(f, outage),
                    num(f, sustained),
                    !storm,
                    num(f, 2_100_000.0),
                    num(f, 2_100_000.0 - lost),
                    num(f, lost * 2.5),
                    num(f, p99),
                )
                .unwrap();
                for (name, v) in per_metric.iter_mut() {
                    v.push(match *name {
                        "outage_s" => outage,
                        "sustained_outage_s" => sustained,
                        "lost" => lost,
                        _ => p99,
                    });
                }
            }
            for (name, xs) in &per_metric {
                let (mean, std, lo, hi) = stats(xs);
                let (lo, hi) = if f.nan && *name == "lost" {
                    (String::new(), "NaN".to_string())
                } else {
                    (num(f, lo.max(0.0)), num(f, hi))
                };
                writeln!(
                    summary,
                    "{variant},{point},{sweep_cell}{name},{REPS},{},{},{lo},{hi}",
                    num(f, mean),
                    num(f, std)
                )
                .unwrap();
            }
            let share: f64 = if storm && f.fault { 0.0 } else { 1.0 };
            writeln!(
                summary,
                "{variant},{point},{sweep_cell}recovered_share,{REPS},{share},0,{},{}",
                share * 0.4,
                (share + 0.44).min(1.0)
            )
            .unwrap();

            if !f.timeseries {
                continue;
            }
            for minute in 0..90 {
                let t = minute as f64;
                let reps: Vec<Bucket> = (0..REPS)
                    .map(|r| bucket(f, storm, *timeout_ms, t, r))
                    .collect();
                let mut rows: Vec<(String, Vec<f64>)> = vec![
                    (
                        "offered_per_s".into(),
                        reps.iter().map(|b| b.offered).collect(),
                    ),
                    ("ok_per_s".into(), reps.iter().map(|b| b.ok).collect()),
                    (
                        "good_ratio".into(),
                        reps.iter().map(|b| b.ok / b.offered).collect(),
                    ),
                    (
                        "down".into(),
                        reps.iter()
                            .map(|b| f64::from(b.ok / b.offered < 0.5))
                            .collect(),
                    ),
                    ("p99_ms".into(), reps.iter().map(|b| b.p99).collect()),
                ];
                for (i, s) in SERVICES.iter().enumerate() {
                    rows.push((
                        format!("busy:{s}"),
                        reps.iter().map(|b| b.busy[i]).collect(),
                    ));
                    rows.push((
                        format!("queue:{s}"),
                        reps.iter().map(|b| b.queue[i]).collect(),
                    ));
                    rows.push((
                        format!("arrivals_per_s:{s}"),
                        reps.iter().map(|b| b.offered).collect(),
                    ));
                }
                for (i, c) in CLIENTS.iter().enumerate() {
                    rows.push((
                        format!("breaker_open:{c}"),
                        reps.iter().map(|b| b.breaker[i]).collect(),
                    ));
                    rows.push((
                        format!("attempts_per_s:{c}"),
                        reps.iter().map(|b| b.ok).collect(),
                    ));
                }
                for (metric, xs) in rows {
                    let (mean, _, lo, hi) = stats(&xs);
                    let (mean, lo, hi) =
                        if f.nan && metric == "p99_ms" && (20..23).contains(&minute) {
                            (String::new(), "NaN".to_string(), "nan".to_string())
                        } else {
                            (num(f, mean), num(f, lo.max(0.0)), num(f, hi))
                        };
                    writeln!(
                        ts,
                        "{variant},{point},{},{metric},{mean},{lo},{hi}",
                        t * 60.0
                    )
                    .unwrap();
                }
            }
        }
    }
    std::fs::write(dir.join("runs.csv"), runs).unwrap();
    std::fs::write(dir.join("summary.csv"), summary).unwrap();
    if f.timeseries {
        std::fs::write(dir.join("timeseries.csv"), ts).unwrap();
    }
}
