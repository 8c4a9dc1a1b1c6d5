//! Starting points from theory, per client edge: the concurrency an edge needs by Little's
//! law — peak calls per second × the callee's p99 response time — and a timeout of twice
//! the callee's p99, the rule of thumb the resilience literature gives. A bulkhead below
//! the first refuses calls at the peak even when nothing is wrong; a timeout below the
//! second times out healthy calls.
//!
//! The callee's p99 is estimated without queueing, by drawing its response time (its
//! work steps, its own synchronous calls; parallel calls: the slowest) 20,000 times from a
//! fixed-seed stream, so `cascade check` prints the same numbers every time. A
//! load-dependent step (`per_inflight`) adds its cost at the service's mean load in
//! progress at the peak (Little's law again: N = rate · h0 ÷ (1 − rate · k)).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::model::graph::{Model, Step};
use crate::time::SimDuration;

use super::{endpoint_rates, hold_secs, loads};

/// Draws of a callee's response time.
const DRAWS: usize = 20_000;

/// Most steps drawn for one edge: a callee fanning out to a deep call tree gets fewer
/// draws (at least 200), and one whose single draw is past it gets no suggestion.
const MAX_STEPS: u64 = 20_000_000;

/// Steps visited by one draw of endpoint `e` (saturating), memoised: the call graph is
/// acyclic, but a fan-out of fan-outs grows exponentially.
fn steps(model: &Model, e: usize, memo: &mut Vec<Option<u64>>) -> u64 {
    if let Some(n) = memo[e] {
        return n;
    }
    let mut n = 0u64;
    for s in &model.endpoints[e].steps {
        n = n.saturating_add(1);
        if let Step::Calls(calls) = s {
            for c in calls {
                n = n.saturating_add(steps(model, c.target as usize, memo));
            }
        }
    }
    memo[e] = Some(n);
    n
}

/// The suggestion for one client edge.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    /// `caller→callee`.
    pub edge: String,
    /// Its model path, `services.<caller>.clients.<callee>`.
    pub path: String,
    /// Peak calls per second on the edge (first attempts only).
    pub rate: f64,
    /// The callee's p99 response time, no queueing, rounded up to a millisecond.
    pub p99: SimDuration,
    /// Calls in flight at the peak at p99: rate × p99, rounded up.
    pub concurrency: u64,
    /// 2 × p99.
    pub timeout: SimDuration,
}

/// One draw of endpoint `e`'s response time, seconds.
fn draw(model: &Model, e: usize, extra: &[f64], rng: &mut ChaCha8Rng) -> f64 {
    let ep = &model.endpoints[e];
    let mut t = 0.0;
    for s in &ep.steps {
        t += match s {
            Step::Work { dist, per_inflight } => {
                dist.sample_secs(rng) + per_inflight.as_secs_f64() * extra[ep.service as usize]
            }
            Step::Calls(calls) => calls
                .iter()
                .map(|c| draw(model, c.target as usize, extra, rng))
                .fold(0.0, f64::max),
            // Bookkeeping steps take no time.
            Step::Hold { .. }
            | Step::Release { .. }
            | Step::OccRead { .. }
            | Step::OccWrite { .. } => 0.0,
        };
    }
    t
}

/// The suggestion for every client edge that carries calls at the peak, in model order.
pub fn suggestions(model: &Model) -> Vec<Suggestion> {
    let rates = endpoint_rates(model);
    // Mean requests in progress at each service at the peak (for per_inflight).
    let in_progress: Vec<f64> = model
        .services
        .iter()
        .zip(loads(model))
        .map(|(svc, l)| {
            if l.rate <= 0.0 {
                return 0.0;
            }
            let h0: f64 = svc
                .endpoints
                .iter()
                .map(|&e| rates[e as usize] * hold_secs(model, e as usize))
                .sum::<f64>()
                / l.rate;
            let per_instance = l.rate / svc.instances.max(1) as f64;
            let denom = 1.0 - per_instance * l.per_inflight;
            if denom > 0.0 {
                (per_instance * h0 / denom).min(svc.workers as f64)
            } else {
                svc.workers as f64
            }
        })
        .collect();
    let mut memo = vec![None; model.endpoints.len()];
    let mut out = Vec::new();
    for (ci, client) in model.clients.iter().enumerate() {
        let mut rate = 0.0;
        let mut targets: Vec<(usize, f64)> = Vec::new();
        for (e, ep) in model.endpoints.iter().enumerate() {
            for s in &ep.steps {
                if let Step::Calls(calls) = s {
                    for c in calls.iter().filter(|c| c.client as usize == ci) {
                        rate += rates[e];
                        targets.push((c.target as usize, rates[e]));
                    }
                }
            }
        }
        if rate <= 0.0 {
            continue;
        }
        let per_draw = targets
            .iter()
            .map(|t| steps(model, t.0, &mut memo))
            .max()
            .unwrap_or(1)
            .max(1);
        if per_draw > MAX_STEPS / 200 {
            continue;
        }
        let draws = (MAX_STEPS / per_draw).clamp(200, DRAWS as u64) as f64;
        // The callee's response time mixes its endpoints by the calls each gets.
        let mut rng = ChaCha8Rng::seed_from_u64(0x6c69_7474_6c65 ^ ci as u64);
        let mut samples: Vec<f64> = Vec::with_capacity(DRAWS);
        let total: f64 = targets.iter().map(|t| t.1).sum();
        for (target, r) in &targets {
            let n = (draws * r / total).round().max(1.0) as usize;
            for _ in 0..n {
                samples.push(draw(model, *target, &in_progress, &mut rng));
            }
        }
        samples.sort_by(f64::total_cmp);
        let p99 =
            samples[((samples.len() as f64 * 0.99).ceil() as usize).clamp(1, samples.len()) - 1];
        // Whole milliseconds: what a user writes.
        let p99 = SimDuration::from_millis((p99 * 1e3).ceil().max(1.0) as u64);
        let caller = &model.services[client.caller as usize].name;
        let callee = &model.services[client.callee as usize].name;
        out.push(Suggestion {
            edge: client.name.clone(),
            path: format!("services.{caller}.clients.{callee}"),
            rate,
            p99,
            concurrency: (rate * p99.as_secs_f64()).ceil() as u64,
            timeout: SimDuration::from_millis((2.0 * p99.as_millis_f64()).ceil() as u64),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(text: &str) -> Model {
        let t: toml::Table = text.parse().unwrap();
        crate::model::load::model_from_table(std::path::Path::new("m.toml"), t)
            .unwrap()
            .1
    }

    #[test]
    fn a_constant_callee_needs_rate_times_its_latency_and_twice_it_as_timeout() {
        let m = model(
            r#"
[[workloads]]
name = "u"
target = "a.x"
arrivals = { poisson = { rate = 200.0 } }
patience = "10s"
slo = "1s"
[services.a]
workers = 100
[services.a.endpoints.x]
steps = [{ call = "b.y" }]
[services.b]
workers = 100
[services.b.endpoints.y]
steps = [{ work = { constant = "50ms" } }, { call = "c.z" }]
[services.c]
workers = 100
[services.c.endpoints.z]
steps = [{ work = { constant = "30ms" } }]
"#,
        );
        let s = suggestions(&m);
        assert_eq!(s.len(), 2);
        // a → b: b answers in 50 ms + c's 30 ms.
        assert_eq!(s[0].path, "services.a.clients.b");
        assert_eq!(s[0].p99, SimDuration::from_millis(80));
        assert_eq!(s[0].concurrency, 16);
        assert_eq!(s[0].timeout, SimDuration::from_millis(160));
        assert_eq!(s[1].concurrency, 6);
    }
}
