//! What the runner keeps of each run, and how replications are aggregated.
//!
//! Aggregation must give byte-identical output whatever the number of threads and however
//! a sweep is sharded. Floating-point sums depend on the order of addition, so every
//! value is first quantized to micro-units and summed as an integer ([`Acc`]): integer
//! sums are exact, hence independent of order, and a merge of shards adds up to exactly
//! what one run would have.

use crate::sim::RunReport;

/// Fixed-point scale: values are kept to 10⁻⁶.
const SCALE: f64 = 1e6;

/// Exact running count, sum and sum of squares of quantized values (NaN is skipped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Acc {
    /// Finite values added.
    pub n: u64,
    /// Σ q, with q = round(x · 10⁶).
    pub sum: i128,
    /// Σ q².
    pub sumsq: i128,
}

impl Acc {
    /// Adds one value; NaN and infinities are not counted.
    pub fn add(&mut self, x: f64) {
        if x.is_finite() {
            let q = (x * SCALE).round() as i128;
            self.n += 1;
            self.sum += q;
            self.sumsq += q * q;
        }
    }

    /// Adds another accumulator (a shard's).
    pub fn merge(&mut self, o: &Acc) {
        self.n += o.n;
        self.sum += o.sum;
        self.sumsq += o.sumsq;
    }

    /// The mean (NaN when empty).
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.sum as f64 / self.n as f64 / SCALE
        }
    }

    /// The sample standard deviation (NaN below two values).
    pub fn std(&self) -> f64 {
        if self.n < 2 {
            return f64::NAN;
        }
        let n = self.n as i128;
        let num = n * self.sumsq - self.sum * self.sum;
        let var = num.max(0) as f64 / (n * (n - 1)) as f64;
        var.sqrt() / SCALE
    }

    /// The 95 % confidence interval of the mean (Student's t); `(mean, mean)` for one
    /// value, NaN when empty.
    pub fn ci95(&self) -> (f64, f64) {
        let m = self.mean();
        if self.n < 2 {
            return (m, m);
        }
        let half = t975(self.n - 1) * self.std() / (self.n as f64).sqrt();
        (m - half, m + half)
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom.
pub fn t975(df: u64) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df as usize - 1],
        _ => 1.96 + 2.4 / df as f64,
    }
}

/// Wilson score interval (95 %) for `k` successes out of `n`.
pub fn wilson(k: u64, n: u64) -> (f64, f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let (k, n) = (k as f64, n as f64);
    let z = 1.96f64;
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let center = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    (p, (center - half).max(0.0), (center + half).min(1.0))
}

/// The per-run metrics written to `runs.csv`, in column order.
pub const RUN_METRICS: [&str; 26] = [
    "outage_s",
    "sustained_outage_s",
    "recovery_s",
    "recovered",
    "offered",
    "good",
    "late",
    "degraded",
    "pending",
    "failed",
    "abandoned",
    "dead_lettered",
    "outbox_pending",
    "lost",
    "lost_revenue",
    "p50_ms",
    "p99_ms",
    "amplification",
    "wasted",
    "wasted_s",
    "breaker_transitions",
    "restarts",
    "ejections",
    "peak_replicas",
    "final_replicas",
    "events",
];

/// The values of [`RUN_METRICS`] for one run.
pub fn run_values(r: &RunReport) -> Vec<f64> {
    let s = &r.summary;
    vec![
        s.outage_s,
        s.sustained_outage_s,
        s.recovery_s,
        if s.recovered { 1.0 } else { 0.0 },
        s.offered as f64,
        s.good as f64,
        s.late as f64,
        s.degraded as f64,
        s.pending as f64,
        s.failed as f64,
        s.abandoned as f64,
        s.dead_lettered as f64,
        s.outbox_pending as f64,
        s.lost as f64,
        s.lost_revenue,
        s.p50_ms,
        s.p99_ms,
        s.amplification,
        s.wasted as f64,
        s.wasted_s,
        s.breaker_transitions as f64,
        s.restarts as f64,
        s.ejections as f64,
        s.peak_replicas as f64,
        s.final_replicas as f64,
        s.events as f64,
    ]
}

/// Per-bucket series of one run (the first `run_buckets` buckets): `(metric, values)`.
pub fn series(r: &RunReport) -> Vec<(String, Vec<f64>)> {
    let m = &r.metrics;
    let n = r.run_buckets;
    let width = m.bucket.as_secs_f64();
    let mut out = Vec::new();
    let per_bucket = |f: &dyn Fn(usize) -> f64| (0..n).map(f).collect::<Vec<f64>>();
    out.push((
        "offered_per_s".to_string(),
        per_bucket(&|i| {
            m.workloads
                .iter()
                .map(|w| w.buckets[i].offered)
                .sum::<u64>() as f64
                / width
        }),
    ));
    out.push((
        "ok_per_s".to_string(),
        per_bucket(&|i| m.workloads.iter().map(|w| w.ok_done[i]).sum::<u64>() as f64 / width),
    ));
    if m.workloads.len() > 1 {
        for w in &m.workloads {
            out.push((
                format!("ok_per_s:{}", w.name),
                per_bucket(&|i| w.ok_done[i] as f64 / width),
            ));
            out.push((
                format!("good_ratio:{}", w.name),
                per_bucket(&|i| {
                    let b = &w.buckets[i];
                    if b.offered == 0 {
                        f64::NAN
                    } else {
                        b.ok() as f64 / b.offered as f64
                    }
                }),
            ));
        }
    }
    out.push((
        "good_ratio".to_string(),
        per_bucket(&|i| {
            let offered: u64 = m.workloads.iter().map(|w| w.buckets[i].offered).sum();
            let ok: u64 = m.workloads.iter().map(|w| w.buckets[i].ok()).sum();
            if offered == 0 {
                f64::NAN
            } else {
                ok as f64 / offered as f64
            }
        }),
    ));
    out.push((
        "down".to_string(),
        per_bucket(&|i| if r.outage.down[i] { 1.0 } else { 0.0 }),
    ));
    out.push((
        "p99_ms".to_string(),
        per_bucket(&|i| {
            m.workloads
                .iter()
                .map(|w| w.latency[i].p99_ms)
                .filter(|x| x.is_finite())
                .fold(f64::NAN, f64::max)
        }),
    ));
    for s in &m.services {
        out.push((
            format!("busy:{}", s.name),
            per_bucket(&|i| s.buckets[i].busy_area / width),
        ));
        out.push((
            format!("queue:{}", s.name),
            per_bucket(&|i| s.buckets[i].queue_area / width),
        ));
        out.push((
            format!("arrivals_per_s:{}", s.name),
            per_bucket(&|i| s.buckets[i].arrivals as f64 / width),
        ));
        if s.fleet {
            out.push((
                format!("replicas:{}", s.name),
                per_bucket(&|i| s.buckets[i].replicas_area / width),
            ));
            out.push((
                format!("ready:{}", s.name),
                per_bucket(&|i| s.buckets[i].ready_area / width),
            ));
            out.push((
                format!("restarts:{}", s.name),
                per_bucket(&|i| s.buckets[i].restarts as f64),
            ));
            for (k, inst) in s.instances.iter().enumerate() {
                out.push((
                    format!("arrivals_per_s:{}#{k}", s.name),
                    per_bucket(&|i| inst.arrivals[i] as f64 / width),
                ));
                out.push((
                    format!("busy:{}#{k}", s.name),
                    per_bucket(&|i| inst.busy_area[i] / width),
                ));
                out.push((
                    format!("queue:{}#{k}", s.name),
                    per_bucket(&|i| inst.queue_area[i] / width),
                ));
            }
        }
    }
    for c in m
        .clients
        .iter()
        .filter(|c| c.kind != crate::sim::metrics::ClientKind::Probe)
    {
        let edge = c.kind == crate::sim::metrics::ClientKind::Edge;
        if edge {
            out.push((
                format!("attempts_per_s:{}", c.name),
                per_bucket(&|i| c.buckets[i].attempts as f64 / width),
            ));
        }
        if edge
            && (c
                .buckets
                .iter()
                .any(|b| b.open_seconds > 0.0 || b.half_open_seconds > 0.0)
                || c.transitions > 0)
        {
            // The share of the edge's breakers that were open (one per caller instance,
            // or per callee instance): open time ÷ breaker time.
            out.push((
                format!("breaker_open:{}", c.name),
                per_bucket(&|i| {
                    let b = &c.buckets[i];
                    if b.breaker_seconds > 0.0 {
                        b.open_seconds / b.breaker_seconds
                    } else {
                        0.0
                    }
                }),
            ));
        }
        if c.fleet {
            out.push((
                format!("healthy:{}", c.name),
                per_bucket(&|i| c.buckets[i].healthy_area / width),
            ));
            out.push((
                format!("ejected:{}", c.name),
                per_bucket(&|i| c.buckets[i].ejected_area / width),
            ));
        }
    }
    out
}

/// Accumulated series of one variant × point, metric by metric.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupSeries {
    /// `(metric, per-bucket accumulators)` in first-seen order.
    pub metrics: Vec<(String, Vec<Acc>)>,
}

impl GroupSeries {
    /// Adds one run's series.
    pub fn add(&mut self, series: &[(String, Vec<f64>)]) {
        for (name, values) in series {
            let slot = match self.metrics.iter().position(|(n, _)| n == name) {
                Some(i) => i,
                None => {
                    self.metrics
                        .push((name.clone(), vec![Acc::default(); values.len()]));
                    self.metrics.len() - 1
                }
            };
            let accs = &mut self.metrics[slot].1;
            if accs.len() < values.len() {
                accs.resize(values.len(), Acc::default());
            }
            for (a, x) in accs.iter_mut().zip(values) {
                a.add(*x);
            }
        }
    }

    /// Adds another group's accumulators (shard merge).
    pub fn merge(&mut self, other: &GroupSeries) {
        for (name, accs) in &other.metrics {
            match self.metrics.iter().position(|(n, _)| n == name) {
                Some(i) => {
                    let mine = &mut self.metrics[i].1;
                    if mine.len() < accs.len() {
                        mine.resize(accs.len(), Acc::default());
                    }
                    for (a, b) in mine.iter_mut().zip(accs) {
                        a.merge(b);
                    }
                }
                None => self.metrics.push((name.clone(), accs.clone())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulation_is_exact_in_any_order() {
        let xs = [0.1, 1e6 + 0.3, 2.000001, 7.25, 1e-7, 3.3];
        let mut a = Acc::default();
        let mut b = Acc::default();
        for x in xs {
            a.add(x);
        }
        for x in xs.iter().rev() {
            b.add(*x);
        }
        assert_eq!(a, b);
        let mut halves = Acc::default();
        let mut h2 = Acc::default();
        xs[..3].iter().for_each(|x| halves.add(*x));
        xs[3..].iter().for_each(|x| h2.add(*x));
        halves.merge(&h2);
        assert_eq!(halves, a);
    }

    #[test]
    fn mean_std_and_ci_match_textbook_values() {
        let mut a = Acc::default();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            a.add(x);
        }
        assert!((a.mean() - 5.0).abs() < 1e-12);
        assert!((a.std() - 2.138_089_935).abs() < 1e-6);
        let (lo, hi) = a.ci95();
        let half = 2.365 * 2.138_089_935 / 8f64.sqrt();
        assert!((lo - (5.0 - half)).abs() < 1e-6 && (hi - (5.0 + half)).abs() < 1e-6);
        a.add(f64::NAN);
        assert_eq!(a.n, 8);
    }

    #[test]
    fn wilson_interval_is_inside_zero_one_and_around_p() {
        let (p, lo, hi) = wilson(0, 10);
        assert_eq!(p, 0.0);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 1e-3);
        let (p, lo, hi) = wilson(10, 20);
        assert!(lo < p && p < hi && (p - 0.5).abs() < 1e-12);
    }
}
