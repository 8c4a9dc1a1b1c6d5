//! Workloads: user requests arriving (open Poisson with a piecewise-linear rate, or a
//! closed population that thinks between requests) and what each user experienced.
//!
//! A user is modelled as one more client stack in front of the entry endpoint: a
//! per-attempt timeout equal to their patience (they abandon) and, optionally, their own
//! retry policy (the refresh button, the mobile app's retry loop). The outcome of the
//! whole intent is classified against the SLO, measured from the first attempt.

use rand::Rng;
use rand_distr::Exp1;

use crate::engine::Scheduler;
use crate::model::graph::Arrivals;
use crate::policy::Outcome;
use crate::sim::metrics::{FailReason, UserOutcome};
use crate::sim::state::{Ev, NONE, Parent, Quality};
use crate::sim::world::World;
use crate::time::{SimDuration, SimTime};

/// Closed-population index of open-loop users.
const OPEN: u32 = u32::MAX;

impl World<'_> {
    pub(crate) fn start_workload(&mut self, sched: &mut Scheduler<Ev>, w: u32) {
        let model = self.model;
        match &model.workloads[w as usize].arrivals {
            Arrivals::Poisson(_) => self.schedule_candidate(sched, w),
            Arrivals::Clients { count, think } => {
                for c in 0..*count {
                    let d = think.sample(&mut self.workloads[w as usize].users);
                    sched.schedule_in(d, Ev::Think(w, c));
                }
            }
            Arrivals::Bursts => {}
        }
        for b in 0..model.workloads[w as usize].bursts.len() {
            self.schedule_burst(sched, w, b as u32);
        }
    }

    /// Schedules the next user of burst `b`: the users' arrival times are the sorted
    /// draws of `count` uniforms over the spread, generated in ascending order one at a
    /// time (the next order statistic given the last: `x + (1 − x)(1 − V^(1/m))` with `m`
    /// users left), so a burst of any size holds one pending event.
    fn schedule_burst(&mut self, sched: &mut Scheduler<Ev>, w: u32, b: u32) {
        let burst = self.model.workloads[w as usize].bursts[b as usize];
        let wl = &mut self.workloads[w as usize];
        let (left, x) = wl.bursts[b as usize];
        if left == 0 {
            return;
        }
        let at = if burst.spread.is_zero() {
            burst.at
        } else {
            let v: f64 = wl.burst_rng.random();
            let next = x + (1.0 - x) * (1.0 - v.powf(1.0 / left as f64));
            wl.bursts[b as usize].1 = next;
            burst.at + burst.spread.mul_f64(next)
        };
        let ev = Ev::Burst {
            workload: w,
            burst: b,
        };
        sched.schedule_at(at.max(sched.now()), ev);
    }

    /// Users of burst `b` arrive: all of them at once without a spread, else the next one.
    pub(crate) fn on_burst(&mut self, sched: &mut Scheduler<Ev>, w: u32, b: u32) {
        let spread = self.model.workloads[w as usize].bursts[b as usize].spread;
        let (left, _) = self.workloads[w as usize].bursts[b as usize];
        let n = if spread.is_zero() { left } else { 1 };
        self.workloads[w as usize].bursts[b as usize].0 = left - n;
        if sched.now() < self.horizon {
            for _ in 0..n {
                self.start_intent(sched, w, OPEN);
            }
        }
        self.schedule_burst(sched, w, b);
    }

    /// Next candidate arrival at the peak rate; thinning accepts it with rate(t) ÷ peak.
    fn schedule_candidate(&mut self, sched: &mut Scheduler<Ev>, w: u32) {
        let wl = &mut self.workloads[w as usize];
        let gap = wl.arrivals.sample::<f64, _>(Exp1) / wl.rate_max;
        sched.schedule_in(SimDuration::from_secs_f64(gap), Ev::Arrival(w));
    }

    pub(crate) fn on_arrival(&mut self, sched: &mut Scheduler<Ev>, w: u32) {
        let now = sched.now();
        if now >= self.horizon {
            return;
        }
        let model = self.model;
        let Arrivals::Poisson(points) = &model.workloads[w as usize].arrivals else {
            return;
        };
        let rate = Arrivals::rate_at(points, now);
        let wl = &mut self.workloads[w as usize];
        if wl.arrivals.random::<f64>() * wl.rate_max < rate {
            self.start_intent(sched, w, OPEN);
        }
        self.schedule_candidate(sched, w);
    }

    pub(crate) fn on_think(&mut self, sched: &mut Scheduler<Ev>, w: u32, c: u32) {
        if sched.now() < self.horizon {
            self.start_intent(sched, w, c);
        }
    }

    fn start_intent(&mut self, sched: &mut Scheduler<Ev>, w: u32, c: u32) {
        let now = sched.now();
        self.metrics.on_offered(w as usize, now);
        let wl = &self.model.workloads[w as usize];
        let client = self.workloads[w as usize].client;
        self.start_call(
            sched,
            Parent::User {
                workload: w,
                client: c,
            },
            client,
            wl.target,
            true,
            SimTime::MAX,
            w as u8,
            wl.priority,
            NONE,
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_user_done(
        &mut self,
        sched: &mut Scheduler<Ev>,
        w: u32,
        c: u32,
        sent: SimTime,
        outcome: Outcome,
        quality: Quality,
        cause: u8,
    ) {
        let now = sched.now();
        let slo = self.model.workloads[w as usize].slo;
        let o = match outcome {
            Outcome::Success if now - sent > slo => UserOutcome::Late,
            Outcome::Success => match quality {
                Quality::Full => UserOutcome::Good,
                Quality::Degraded => UserOutcome::Degraded,
                Quality::Pending => UserOutcome::Pending,
            },
            Outcome::Timeout => UserOutcome::Abandoned,
            _ => UserOutcome::Failed(FailReason::from_index(cause as usize)),
        };
        self.metrics.on_user_outcome(w as usize, sent, now, o);
        if c != OPEN && now < self.horizon {
            let model = self.model;
            if let Arrivals::Clients { think, .. } = &model.workloads[w as usize].arrivals {
                let d = think.sample(&mut self.workloads[w as usize].users);
                sched.schedule_in(d, Ev::Think(w, c));
            }
        }
    }
}
