//! The reference M/M/c queue on the engine, and the exact Erlang-C results it must match.
//!
//! Poisson arrivals (rate λ), `c` identical servers with exponential service (rate μ),
//! an unbounded FIFO queue. It is the yardstick of the engine: if the engine's clock,
//! ordering or random streams were wrong, this model would drift from theory. It is also
//! the workload of `cascade bench`.
//!
//! Statistics skip a warm-up (the first customers see an empty system, which biases
//! waits low) and use batch means over the rest, so tests can compare the mean wait to
//! Erlang C with a tolerance derived from its own standard error.

use std::collections::VecDeque;

use rand::Rng;
use rand_distr::Exp1;

use crate::engine::rng::{SimRng, StreamKind, Streams};
use crate::engine::run::{Model, RunError, RunLimits, RunStats, run};
use crate::engine::scheduler::Scheduler;
use crate::time::{SimDuration, SimTime};

/// Parameters of one M/M/c run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MmcConfig {
    /// Number of servers `c`.
    pub servers: u32,
    /// Arrival rate λ, per second.
    pub arrival_rate: f64,
    /// Mean service time 1/μ.
    pub mean_service: SimDuration,
    /// Customers to generate; the run ends when the last one leaves.
    pub customers: u64,
    /// Customers at the start excluded from the statistics.
    pub warmup: u64,
    /// Number of batches for the batch-means standard error.
    pub batches: u32,
}

impl MmcConfig {
    /// `servers` servers at utilisation `rho` with the given mean service time;
    /// 10 % of `customers` as warm-up, 50 batches.
    pub fn at_utilisation(
        servers: u32,
        rho: f64,
        mean_service: SimDuration,
        customers: u64,
    ) -> Self {
        MmcConfig {
            servers,
            arrival_rate: rho * servers as f64 / mean_service.as_secs_f64(),
            mean_service,
            customers,
            warmup: customers / 10,
            batches: 50,
        }
    }

    /// The exact steady-state results for these parameters.
    pub fn theory(&self) -> MmcTheory {
        erlang_c(
            self.servers,
            self.arrival_rate,
            1.0 / self.mean_service.as_secs_f64(),
        )
    }
}

/// Exact steady-state results of an M/M/c queue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MmcTheory {
    /// Utilisation ρ = λ / (cμ).
    pub rho: f64,
    /// Probability that an arrival waits (Erlang C).
    pub p_wait: f64,
    /// Mean wait in queue Wq, seconds.
    pub mean_wait: f64,
    /// Mean time in system W = Wq + 1/μ, seconds.
    pub mean_system: f64,
    /// Mean number in system L = λW.
    pub mean_in_system: f64,
}

/// Erlang C for `c` servers, arrival rate `lambda` and service rate `mu` (per second).
/// Uses the Erlang-B recursion, stable for thousands of servers. Requires ρ < 1.
pub fn erlang_c(c: u32, lambda: f64, mu: f64) -> MmcTheory {
    let a = lambda / mu;
    let rho = a / c as f64;
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    let p_wait = c as f64 * b / (c as f64 - a * (1.0 - b));
    let mean_wait = p_wait / (c as f64 * mu - lambda);
    let mean_system = mean_wait + 1.0 / mu;
    MmcTheory {
        rho,
        p_wait,
        mean_wait,
        mean_system,
        mean_in_system: lambda * mean_system,
    }
}

/// What a simulated M/M/c run measured (after warm-up).
#[derive(Clone, Debug, PartialEq)]
pub struct MmcResult {
    /// Customers counted (after warm-up).
    pub customers: u64,
    /// Mean wait in queue, seconds.
    pub mean_wait: f64,
    /// Standard error of `mean_wait` by batch means.
    pub mean_wait_se: f64,
    /// Mean time in system, seconds.
    pub mean_system: f64,
    /// Fraction of customers that waited.
    pub p_wait: f64,
    /// Time-average number in system over the observation window.
    pub mean_in_system: f64,
    /// Arrivals per second over the observation window.
    pub observed_rate: f64,
    /// Engine statistics of the whole run.
    pub run: RunStats,
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Arrival,
    Departure { started: u64, arrived: SimTime },
}

struct Mmc {
    cfg: MmcConfig,
    arrivals: SimRng,
    service: SimRng,
    mean_interarrival: f64,
    mean_service: f64,
    generated: u64,
    started: u64,
    busy: u32,
    queue: VecDeque<SimTime>,
    // observation
    window_start: Option<SimTime>,
    window_end: Option<SimTime>,
    in_system: u64,
    area: f64,
    last_change: SimTime,
    counted: u64,
    waited: u64,
    wait_sum: f64,
    system_sum: f64,
    batch_sums: Vec<f64>,
    batch_len: u64,
}

impl Mmc {
    fn observe_population(&mut self, now: SimTime) {
        if let Some(start) = self.window_start {
            let from = self.last_change.max(start);
            let to = self.window_end.map_or(now, |end| now.min(end));
            if to > from {
                self.area += self.in_system as f64 * (to - from).as_secs_f64();
            }
        }
        self.last_change = now;
    }

    fn start_service(&mut self, sched: &mut Scheduler<Ev>, arrived: SimTime) {
        let now = sched.now();
        let index = self.started;
        self.started += 1;
        self.busy += 1;
        if index >= self.cfg.warmup {
            let wait = (now - arrived).as_secs_f64();
            self.wait_sum += wait;
            if wait > 0.0 {
                self.waited += 1;
            }
            let batch = ((index - self.cfg.warmup) / self.batch_len) as usize;
            if let Some(sum) = self.batch_sums.get_mut(batch) {
                *sum += wait;
            }
        }
        let service = self.mean_service * self.service.sample::<f64, _>(Exp1);
        sched.schedule_in(
            SimDuration::from_secs_f64(service),
            Ev::Departure {
                started: index,
                arrived,
            },
        );
    }
}

impl Model for Mmc {
    type Event = Ev;

    #[inline]
    fn handle(&mut self, sched: &mut Scheduler<Ev>, ev: Ev) {
        let now = sched.now();
        match ev {
            Ev::Arrival => {
                self.observe_population(now);
                if self.generated == self.cfg.warmup {
                    self.window_start = Some(now);
                }
                self.generated += 1;
                self.in_system += 1;
                if self.generated == self.cfg.customers {
                    self.window_end = Some(now);
                } else {
                    let gap = self.mean_interarrival * self.arrivals.sample::<f64, _>(Exp1);
                    sched.schedule_in(SimDuration::from_secs_f64(gap), Ev::Arrival);
                }
                if self.busy < self.cfg.servers {
                    self.start_service(sched, now);
                } else {
                    self.queue.push_back(now);
                }
            }
            Ev::Departure { started, arrived } => {
                self.observe_population(now);
                self.in_system -= 1;
                self.busy -= 1;
                if started >= self.cfg.warmup {
                    self.counted += 1;
                    self.system_sum += (now - arrived).as_secs_f64();
                }
                if let Some(next) = self.queue.pop_front() {
                    self.start_service(sched, next);
                }
            }
        }
    }

    fn trace_key(ev: &Ev) -> u64 {
        match ev {
            Ev::Arrival => 1,
            Ev::Departure { started, .. } => 2 | (started << 2),
        }
    }
}

/// Runs one M/M/c replication with streams derived from `(seed, replication)`.
pub fn simulate(cfg: MmcConfig, seed: u64, replication: u64) -> Result<MmcResult, RunError> {
    assert!(cfg.customers > cfg.warmup && cfg.batches > 0 && cfg.servers > 0);
    let streams = Streams::new(seed, replication);
    let measured = cfg.customers - cfg.warmup;
    let mut model = Mmc {
        cfg,
        arrivals: streams.stream(StreamKind::Arrivals, 0),
        service: streams.stream(StreamKind::Service, 0),
        mean_interarrival: 1.0 / cfg.arrival_rate,
        mean_service: cfg.mean_service.as_secs_f64(),
        generated: 0,
        started: 0,
        busy: 0,
        queue: VecDeque::with_capacity(1024),
        window_start: None,
        window_end: None,
        in_system: 0,
        area: 0.0,
        last_change: SimTime::ZERO,
        counted: 0,
        waited: 0,
        wait_sum: 0.0,
        system_sum: 0.0,
        batch_sums: vec![0.0; cfg.batches as usize],
        batch_len: (measured / cfg.batches as u64).max(1),
    };
    let mut sched = Scheduler::with_capacity(cfg.servers as usize + 16);
    sched.schedule_at(SimTime::ZERO, Ev::Arrival);
    let stats = run(&mut model, &mut sched, RunLimits::default())?;

    let m = &model;
    let n = m.counted as f64;
    let full_batches = (measured / m.batch_len).min(cfg.batches as u64) as usize;
    let means: Vec<f64> = m.batch_sums[..full_batches]
        .iter()
        .map(|s| s / m.batch_len as f64)
        .collect();
    let grand = means.iter().sum::<f64>() / means.len() as f64;
    let var = means.iter().map(|x| (x - grand).powi(2)).sum::<f64>() / (means.len() as f64 - 1.0);
    let window = match (m.window_start, m.window_end) {
        (Some(s), Some(e)) if e > s => (e - s).as_secs_f64(),
        _ => f64::NAN,
    };
    Ok(MmcResult {
        customers: m.counted,
        mean_wait: m.wait_sum / n,
        mean_wait_se: (var / means.len() as f64).sqrt(),
        mean_system: m.system_sum / n,
        p_wait: m.waited as f64 / n,
        mean_in_system: m.area / window,
        observed_rate: (cfg.customers - cfg.warmup - 1) as f64 / window,
        run: stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::*;

    #[test]
    fn erlang_c_matches_textbook_values() {
        // M/M/1: P(wait) = ρ, Wq = ρ/(μ−λ).
        let t = erlang_c(1, 0.8, 1.0);
        assert!((t.p_wait - 0.8).abs() < 1e-12);
        assert!((t.mean_wait - 4.0).abs() < 1e-9);
        // M/M/2 with a = 1: C = 1/3, Wq = C/(2μ−λ) = 1/3.
        let t = erlang_c(2, 1.0, 1.0);
        assert!((t.p_wait - 1.0 / 3.0).abs() < 1e-12);
        assert!((t.mean_wait - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn small_run_is_deterministic_per_seed_and_replication() {
        let cfg = MmcConfig::at_utilisation(3, 0.7, ms(100), 20_000);
        let a = simulate(cfg, 9, 0).unwrap();
        let b = simulate(cfg, 9, 0).unwrap();
        let c = simulate(cfg, 9, 1).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.run.trace_hash, c.run.trace_hash);
        assert_eq!(a.run.events, 2 * 20_000);
    }
}
