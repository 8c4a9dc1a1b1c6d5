//! Per-bucket series of one run, and their accumulation across replications.
//!
//! A series is named by a [`SeriesKey`]: the metric (`busy`, `attempts_per_s`) and the
//! entity it measures (a service, a client edge `caller->callee`, a workload; empty for
//! the whole system), so `timeseries.csv` is tidy (one column per variable) and ASCII.
//! A diverged run's buckets from the one it stopped in onwards are NaN (unknown, not
//! zero), so means across replications use the replications that got that far.

use crate::experiment::results::acc::Acc;
use crate::model::Model;
use crate::sim::RunReport;
use crate::sim::metrics::{ClientKind, MAX_INSTANCE_SERIES};

/// What a series measures.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// The metric (see `output/README.md`).
    pub metric: String,
    /// The service, client edge or workload; empty for the whole system.
    pub entity: String,
}

impl SeriesKey {
    /// A whole-system series.
    pub fn total(metric: &str) -> Self {
        SeriesKey {
            metric: metric.to_string(),
            entity: String::new(),
        }
    }

    /// A series of one entity.
    pub fn of(metric: &str, entity: &str) -> Self {
        SeriesKey {
            metric: metric.to_string(),
            entity: entity.to_string(),
        }
    }
}

/// A key compares equal to its short text: `busy:gateway` (metric and entity), or
/// `offered_per_s` for a whole-system series.
impl PartialEq<str> for SeriesKey {
    fn eq(&self, text: &str) -> bool {
        match text.split_once(':') {
            Some((m, e)) => self.metric == m && self.entity == e,
            None => self.metric == text && self.entity.is_empty(),
        }
    }
}

impl PartialEq<&str> for SeriesKey {
    fn eq(&self, text: &&str) -> bool {
        self == *text
    }
}

/// One run's series: `(key, one value per bucket)`.
pub type Series = Vec<(SeriesKey, Vec<f64>)>;

/// A client edge's name in files: `gateway->order` (the model's `gateway→order` in ASCII).
pub fn edge_name(name: &str) -> String {
    name.replace('→', "->")
}

/// An instance's name in files: `web#3` (slot 3 of service `web`).
pub fn instance_name(service: &str, slot: usize) -> String {
    format!("{service}#{slot}")
}

/// The series a model's runs produce, at most (for the memory check before running).
pub fn series_count(model: &Model) -> u64 {
    let w = model.workloads.len();
    let per_workload = if w > 1 { 2 * w } else { 0 };
    let fleets: usize = model
        .services
        .iter()
        .filter(|s| s.is_fleet())
        .map(|s| {
            let n = s.max_instances();
            3 + if n <= MAX_INSTANCE_SERIES {
                3 * n as usize
            } else {
                0
            }
        })
        .sum();
    let fleet_edges = model.clients.len() + model.workloads.len();
    (6 + per_workload
        + 3 * model.services.len()
        + 2 * model.clients.len()
        + fleets
        + 2 * fleet_edges
        + 2 * model.pools.len()
        + 2 * model.resources.len()) as u64
}

/// Per-bucket series of one run (the first `run_buckets` buckets).
pub fn series(r: &RunReport) -> Series {
    let m = &r.metrics;
    let n = r.run_buckets;
    let width = m.bucket.as_secs_f64();
    // Buckets from the one a guard stopped the run in are unknown.
    let known = r.diverged.as_ref().map_or(n, |d| {
        ((d.at.as_nanos() / m.bucket.as_nanos()) as usize).min(n)
    });
    let per_bucket = |f: &dyn Fn(usize) -> f64| {
        (0..n)
            .map(|i| if i < known { f(i) } else { f64::NAN })
            .collect::<Vec<f64>>()
    };
    let ratio = |ok: u64, offered: u64| {
        if offered == 0 {
            f64::NAN
        } else {
            ok as f64 / offered as f64
        }
    };
    let mut out = Vec::new();
    out.push((
        SeriesKey::total("offered_per_s"),
        per_bucket(&|i| {
            m.workloads
                .iter()
                .map(|w| w.buckets[i].offered)
                .sum::<u64>() as f64
                / width
        }),
    ));
    out.push((
        SeriesKey::total("ok_per_s"),
        per_bucket(&|i| m.workloads.iter().map(|w| w.ok_done[i]).sum::<u64>() as f64 / width),
    ));
    if m.workloads.len() > 1 {
        for w in &m.workloads {
            out.push((
                SeriesKey::of("ok_per_s", &w.name),
                per_bucket(&|i| w.ok_done[i] as f64 / width),
            ));
            out.push((
                SeriesKey::of("good_ratio", &w.name),
                per_bucket(&|i| ratio(w.buckets[i].ok(), w.buckets[i].offered)),
            ));
        }
    }
    out.push((
        SeriesKey::total("good_ratio"),
        per_bucket(&|i| {
            let offered: u64 = m.workloads.iter().map(|w| w.buckets[i].offered).sum();
            let ok: u64 = m.workloads.iter().map(|w| w.buckets[i].ok()).sum();
            ratio(ok, offered)
        }),
    ));
    out.push((
        SeriesKey::total("down"),
        per_bucket(&|i| if r.outage.down[i] { 1.0 } else { 0.0 }),
    ));
    let worst = |f: &dyn Fn(&crate::sim::metrics::BucketLatency) -> f64, i: usize| {
        m.workloads
            .iter()
            .map(|w| f(&w.latency[i]))
            .filter(|x| x.is_finite())
            .fold(f64::NAN, f64::max)
    };
    out.push((
        SeriesKey::total("p99_ms"),
        per_bucket(&|i| worst(&|l| l.p99_ms, i)),
    ));
    out.push((
        SeriesKey::total("p99_ok_ms"),
        per_bucket(&|i| worst(&|l| l.p99_ok_ms, i)),
    ));
    for s in &m.services {
        out.push((
            SeriesKey::of("busy", &s.name),
            per_bucket(&|i| s.buckets[i].busy_area / width),
        ));
        out.push((
            SeriesKey::of("queue", &s.name),
            per_bucket(&|i| s.buckets[i].queue_area / width),
        ));
        out.push((
            SeriesKey::of("arrivals_per_s", &s.name),
            per_bucket(&|i| s.buckets[i].arrivals as f64 / width),
        ));
        if s.fleet {
            out.push((
                SeriesKey::of("replicas", &s.name),
                per_bucket(&|i| s.buckets[i].replicas_area / width),
            ));
            out.push((
                SeriesKey::of("ready", &s.name),
                per_bucket(&|i| s.buckets[i].ready_area / width),
            ));
            out.push((
                SeriesKey::of("restarts", &s.name),
                per_bucket(&|i| s.buckets[i].restarts as f64),
            ));
            for (k, inst) in s.instances.iter().enumerate() {
                let entity = instance_name(&s.name, k);
                out.push((
                    SeriesKey::of("arrivals_per_s", &entity),
                    per_bucket(&|i| inst.arrivals[i] as f64 / width),
                ));
                out.push((
                    SeriesKey::of("busy", &entity),
                    per_bucket(&|i| inst.busy_area[i] / width),
                ));
                out.push((
                    SeriesKey::of("queue", &entity),
                    per_bucket(&|i| inst.queue_area[i] / width),
                ));
            }
        }
    }
    for p in &m.pools {
        out.push((
            SeriesKey::of("connections", &p.name),
            per_bucket(&|i| p.in_use_area[i] / width),
        ));
        out.push((
            SeriesKey::of("connection_waiters", &p.name),
            per_bucket(&|i| p.waiting_area[i] / width),
        ));
    }
    for r in &m.resources {
        out.push((
            SeriesKey::of("occ_writes_per_s", &r.name),
            per_bucket(&|i| r.writes_per_bucket[i] as f64 / width),
        ));
        out.push((
            SeriesKey::of("occ_conflicts_per_s", &r.name),
            per_bucket(&|i| r.conflicts_per_bucket[i] as f64 / width),
        ));
    }
    for c in m.clients.iter().filter(|c| c.kind != ClientKind::Probe) {
        let edge = edge_name(&c.name);
        if c.kind == ClientKind::Edge {
            out.push((
                SeriesKey::of("attempts_per_s", &edge),
                per_bucket(&|i| c.buckets[i].attempts as f64 / width),
            ));
            if c.buckets
                .iter()
                .any(|b| b.open_seconds > 0.0 || b.half_open_seconds > 0.0)
                || c.transitions > 0
            {
                // The share of the edge's breakers that were open (one per caller
                // instance, or per callee instance): open time ÷ breaker time.
                out.push((
                    SeriesKey::of("breaker_open", &edge),
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
        }
        if c.fleet {
            out.push((
                SeriesKey::of("healthy", &edge),
                per_bucket(&|i| c.buckets[i].healthy_area / width),
            ));
            out.push((
                SeriesKey::of("ejected", &edge),
                per_bucket(&|i| c.buckets[i].ejected_area / width),
            ));
        }
    }
    out
}

/// Accumulated series of one variant × point, series by series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupSeries {
    /// `(key, per-bucket accumulators)` in first-seen order.
    pub metrics: Vec<(SeriesKey, Vec<Acc>)>,
}

impl GroupSeries {
    /// The accumulators of `key`, created empty if new.
    pub fn slot(&mut self, key: &SeriesKey) -> &mut Vec<Acc> {
        let i = match self.metrics.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                self.metrics.push((key.clone(), Vec::new()));
                self.metrics.len() - 1
            }
        };
        &mut self.metrics[i].1
    }

    /// Adds one run's series.
    pub fn add(&mut self, series: &[(SeriesKey, Vec<f64>)]) {
        for (key, values) in series {
            let accs = self.slot(key);
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
        for (key, accs) in &other.metrics {
            let mine = self.slot(key);
            if mine.len() < accs.len() {
                mine.resize(accs.len(), Acc::default());
            }
            for (a, b) in mine.iter_mut().zip(accs) {
                a.merge(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_to_their_short_text() {
        assert_eq!(SeriesKey::of("busy", "gateway"), "busy:gateway");
        assert_eq!(SeriesKey::total("down"), "down");
        assert_ne!(SeriesKey::of("busy", "gateway"), "busy");
    }

    #[test]
    fn edge_names_are_ascii() {
        assert_eq!(edge_name("gateway→order"), "gateway->order");
        assert!(edge_name("a→b→c").is_ascii());
    }

    #[test]
    fn groups_add_and_merge_to_the_same_accumulators() {
        let k = SeriesKey::of("busy", "api");
        let a = vec![(k.clone(), vec![1.0, 2.0, f64::NAN])];
        let b = vec![(k.clone(), vec![3.0, 4.0, 5.0])];
        let mut whole = GroupSeries::default();
        whole.add(&a);
        whole.add(&b);
        let (mut x, mut y) = (GroupSeries::default(), GroupSeries::default());
        x.add(&a);
        y.add(&b);
        x.merge(&y);
        assert_eq!(x, whole);
        assert_eq!(whole.metrics[0].1[2].n, 1, "NaN is not counted");
    }
}
