//! Services: the front door of each instance (faults, rate limit, shedding, queue), its
//! workers, and the execution of an endpoint's steps.
//!
//! A request takes a worker of its instance when it starts and gives it back only when
//! it answers, so the time it spends waiting on downstream calls, timeouts and back-off
//! sleeps is time the worker cannot serve anybody else: slowness downstream becomes
//! thread exhaustion here, which is how failures cascade upwards.
//!
//! Overload hurts: a long queue means late service, a full queue rejects at once, and a
//! work step may grow with the number of requests in progress at the instance
//! (`per_inflight`). A container that is not running refuses connections.

use crate::engine::Scheduler;
use crate::model::graph::Step;
use crate::policy::rate_limit::RateDecision;
use crate::policy::{Outcome, RejectReason};
use crate::sim::metrics::reason_index;
use crate::sim::slab::Handle;
use crate::sim::state::{Ev, Life, NONE, Parent, Quality};
use crate::sim::world::World;
use crate::time::{SimDuration, SimTime};

use rand::Rng;

impl World<'_> {
    /// Workers of one instance usable now (fewer during a capacity-loss fault).
    fn capacity(&self, svc: u32, slot: u32, now: SimTime) -> u32 {
        let s = &self.services[svc as usize];
        let mut cap = s.instances[slot as usize].workers;
        for &f in &s.faults {
            let f = &self.model.faults[f as usize];
            if let Some(w) = f.workers
                && f.hits(slot, now)
            {
                cap = cap.min(w);
            }
        }
        cap
    }

    /// A request reaches its instance.
    pub(crate) fn admit(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let now = sched.now();
        let Some(req) = self.requests.get(h).copied() else {
            return;
        };
        let (svc, slot) = (req.service, req.instance);
        let b = self.metrics.index(now);
        if !req.rate_passed {
            let sm = &mut self.metrics.services[svc as usize];
            sm.buckets[b].arrivals += 1;
            if let Some(series) = sm.instances.get_mut(slot as usize) {
                series.arrivals[b] += 1;
            }
            let life = self.services[svc as usize].instances[slot as usize].life;
            if matches!(life, Life::Starting | Life::Gone) {
                // Its container is not running: connection refused.
                self.respond(sched, h, Outcome::ServerError, Quality::Full);
                return;
            }
            // Faults at the front door.
            let mut refuse = false;
            let mut hang = false;
            for &f in &self.services[svc as usize].faults {
                let f = &self.model.faults[f as usize];
                if f.hits(slot, now) && f.endpoint.is_none_or(|e| e == req.endpoint) {
                    refuse |= f.refuse;
                    hang |= f.hang;
                }
            }
            if hang {
                self.metrics.services[svc as usize].buckets[b].hung += 1;
                self.requests.remove(h);
                return;
            }
            if refuse {
                self.metrics.services[svc as usize].buckets[b].fault_errors += 1;
                self.respond(sched, h, Outcome::ServerError, Quality::Full);
                return;
            }
            let inst = &mut self.services[svc as usize].instances[slot as usize];
            if let Some(rl) = &mut inst.rate_limit {
                match rl.try_acquire(now, 1) {
                    RateDecision::Now => {}
                    RateDecision::At(t) => {
                        self.requests.get_mut(h).unwrap().rate_passed = true;
                        sched.schedule_at(t, Ev::Deliver(h));
                        return;
                    }
                    RateDecision::Rejected => {
                        self.reject(sched, h, RejectReason::RateLimited);
                        return;
                    }
                    RateDecision::RefusedAt(t) => {
                        // Resilience4j parks the caller for its whole timeout, then refuses.
                        self.reject_after(sched, h, RejectReason::RateLimited, t - now);
                        return;
                    }
                }
            }
        }
        let cap = self.capacity(svc, slot, now);
        let inst = &self.services[svc as usize].instances[slot as usize];
        if let Some(shed) = &inst.shed
            && !shed.admit_in_flight(req.class as usize, inst.busy + inst.queue.len() as u32, cap)
        {
            self.reject(sched, h, RejectReason::Shed);
            return;
        }
        let inst = &mut self.services[svc as usize].instances[slot as usize];
        if let Some(limiter) = &mut inst.limiter {
            match limiter.try_acquire(now) {
                Some(p) => self.requests.get_mut(h).unwrap().permit = Some(p),
                None => {
                    self.reject(sched, h, RejectReason::Shed);
                    return;
                }
            }
        }
        let capacity = self.model.services[svc as usize].queue_capacity;
        let inst = &self.services[svc as usize].instances[slot as usize];
        if inst.busy < cap && inst.queue.is_empty() {
            self.start_request(sched, h);
        } else if capacity.is_some_and(|c| inst.queue.len() >= c as usize) {
            self.reject(sched, h, RejectReason::QueueFull);
        } else {
            self.touch_instance(svc, slot, now);
            self.services[svc as usize].instances[slot as usize]
                .queue
                .push_back(h);
        }
    }

    fn reject(&mut self, sched: &mut Scheduler<Ev>, h: Handle, why: RejectReason) {
        self.reject_after(sched, h, why, SimDuration::ZERO);
    }

    /// Rejects a request `wait` from now (counted then): a caller parked at the front door.
    fn reject_after(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        why: RejectReason,
        wait: SimDuration,
    ) {
        let svc = self.requests.get(h).unwrap().service;
        let b = self.metrics.index(sched.now() + wait);
        self.metrics.services[svc as usize].buckets[b].rejected[reason_index(why)] += 1;
        self.respond_after(sched, h, Outcome::Rejected(why), Quality::Full, wait);
    }

    /// Starts queued requests of one instance while its workers are free.
    pub(crate) fn start_queued(&mut self, sched: &mut Scheduler<Ev>, svc: u32, slot: u32) {
        let now = sched.now();
        let lifo =
            self.model.services[svc as usize].discipline == crate::model::spec::Discipline::Lifo;
        let timeout = self.model.services[svc as usize].queue_timeout;
        loop {
            let cap = self.capacity(svc, slot, now);
            let inst = &self.services[svc as usize].instances[slot as usize];
            if inst.busy >= cap || inst.queue.is_empty() {
                return;
            }
            self.touch_instance(svc, slot, now);
            let inst = &mut self.services[svc as usize].instances[slot as usize];
            let h = if lifo {
                inst.queue.pop_back()
            } else {
                inst.queue.pop_front()
            }
            .unwrap();
            let req = *self.requests.get(h).unwrap();
            if timeout.is_some_and(|t| now - req.arrived > t) {
                self.reject(sched, h, RejectReason::QueueTimeout);
                continue;
            }
            if now >= req.deadline {
                self.reject(sched, h, RejectReason::DeadlineExceeded);
                continue;
            }
            self.start_request(sched, h);
        }
    }

    fn start_request(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let now = sched.now();
        let req = self.requests.get_mut(h).unwrap();
        let (svc, slot) = (req.service, req.instance);
        let endpoint = req.endpoint;
        req.started = Some(now);
        self.touch_instance(svc, slot, now);
        self.services[svc as usize].instances[slot as usize].busy += 1;
        // Injected errors fail at once (a fast 5xx).
        let mut error_rate: f64 = 0.0;
        for &f in &self.services[svc as usize].faults {
            let f = &self.model.faults[f as usize];
            if f.error_rate > 0.0 && f.hits(slot, now) && f.endpoint.is_none_or(|e| e == endpoint) {
                error_rate = error_rate.max(f.error_rate);
            }
        }
        if error_rate > 0.0 && self.fault_rng.random::<f64>() < error_rate {
            let b = self.metrics.index(now);
            self.metrics.services[svc as usize].buckets[b].fault_errors += 1;
            self.complete(sched, h, Outcome::ServerError, Quality::Full);
            return;
        }
        self.run_step(sched, h);
    }

    /// Runs the current step of a request (or answers when none is left).
    fn run_step(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let now = sched.now();
        let model = self.model;
        let req = *self.requests.get(h).unwrap();
        let steps = &model.endpoints[req.endpoint as usize].steps;
        let Some(step) = steps.get(req.step as usize) else {
            self.complete(sched, h, Outcome::Success, req.quality);
            return;
        };
        match step {
            Step::Work { dist, per_inflight } => {
                let svc = req.service as usize;
                let mut replaced = None;
                let mut multiplier = 1.0;
                for &f in &self.services[svc].faults {
                    let f = &model.faults[f as usize];
                    if f.hits(req.instance, now) && f.endpoint.is_none_or(|e| e == req.endpoint) {
                        if let Some(d) = &f.latency {
                            replaced = Some(d);
                        }
                        if let Some(k) = f.latency_multiplier {
                            multiplier *= k;
                        }
                    }
                }
                let s = &mut self.services[svc];
                let inst = &s.instances[req.instance as usize];
                if now < inst.warm_until
                    && let Some(w) = model.services[svc].warmup
                {
                    multiplier *= w.multiplier;
                }
                let busy = inst.busy as u64;
                let base = replaced.unwrap_or(dist).sample(&mut s.rng);
                let base = if multiplier == 1.0 {
                    base
                } else {
                    base.mul_f64(multiplier)
                };
                let load = SimDuration::from_nanos(per_inflight.as_nanos().saturating_mul(busy));
                sched.schedule_in(base + load, Ev::WorkDone(h));
            }
            Step::Calls(calls) => {
                self.requests.get_mut(h).unwrap().pending = calls.len() as u16;
                for &c in calls {
                    let client = self.client_of(req.service, req.instance, c.client);
                    self.start_call(
                        sched,
                        Parent::Request(h),
                        client,
                        c.target,
                        c.critical,
                        req.deadline,
                        req.workload,
                        req.class,
                        NONE,
                    );
                }
            }
        }
    }

    pub(crate) fn on_work_done(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        if let Some(req) = self.requests.get_mut(h) {
            req.step += 1;
            self.run_step(sched, h);
        }
    }

    /// A call made by request `h` has ended.
    pub(crate) fn on_call_done(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        critical: bool,
        outcome: Outcome,
        quality: Quality,
    ) {
        let Some(req) = self.requests.get_mut(h) else {
            return;
        };
        req.pending -= 1;
        if outcome.is_success() {
            req.quality = req.quality.max(quality);
        } else if critical {
            req.failed.get_or_insert(outcome);
        } else {
            req.quality = req.quality.max(Quality::Degraded);
        }
        if req.pending > 0 {
            return;
        }
        if let Some(cause) = req.failed {
            let svc = req.service as usize;
            let b = self.metrics.index(sched.now());
            let sb = &mut self.metrics.services[svc].buckets[b];
            match cause {
                Outcome::Timeout => sb.failed_timeout += 1,
                Outcome::Rejected(
                    r @ (RejectReason::CircuitOpen
                    | RejectReason::BulkheadFull
                    | RejectReason::NoHealthyUpstream),
                ) => sb.rejected[reason_index(r)] += 1,
                _ => sb.failed_downstream += 1,
            }
            self.complete(sched, h, Outcome::ServerError, Quality::Full);
        } else {
            req.step += 1;
            self.run_step(sched, h);
        }
    }

    /// The request answers and frees its worker.
    fn complete(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        outcome: Outcome,
        quality: Quality,
    ) {
        let now = sched.now();
        let req = *self.requests.get(h).unwrap();
        let (svc, slot) = (req.service, req.instance);
        self.touch_instance(svc, slot, now);
        self.services[svc as usize].instances[slot as usize].busy -= 1;
        let b = self.metrics.index(now);
        self.metrics.services[svc as usize].buckets[b].completions += 1;
        if req.abandoned_at < now {
            // Wasted: the worker time spent after the caller gave up (all of it if the
            // request only started afterwards).
            let sm = &mut self.metrics.services[svc as usize];
            sm.buckets[b].wasted += 1;
            sm.wasted_seconds +=
                (now - req.abandoned_at.max(req.started.unwrap_or(now))).as_secs_f64();
        }
        self.respond(sched, h, outcome, quality);
        self.start_queued(sched, svc, slot);
        let inst = &self.services[svc as usize].instances[slot as usize];
        if inst.life == Life::Terminating && inst.busy == 0 && inst.queue.is_empty() {
            self.instance_gone(sched, svc, slot);
        }
    }

    /// Sends the answer back over the network and forgets the request.
    pub(crate) fn respond(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        outcome: Outcome,
        quality: Quality,
    ) {
        self.respond_after(sched, h, outcome, quality, SimDuration::ZERO);
    }

    /// [`Self::respond`], the answer leaving `wait` from now (a request that holds no
    /// worker and no limiter permit, parked at the front door).
    fn respond_after(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        outcome: Outcome,
        quality: Quality,
        wait: SimDuration,
    ) {
        let req = self.requests.remove(h).unwrap();
        debug_assert!(wait.is_zero() || (req.permit.is_none() && req.started.is_none()));
        if let Some(p) = req.permit {
            // The concurrency limit learns from every request it admitted: an answer is an
            // RTT sample, a drop by the queue or the deadline is a load signal, an injected
            // instant error says nothing about load.
            let inst = &mut self.services[req.service as usize].instances[req.instance as usize];
            let now = sched.now();
            if let Some(limiter) = inst.limiter.as_mut() {
                match outcome {
                    Outcome::Rejected(_) => limiter.on_dropped(now, p, &mut inst.limiter_rng),
                    Outcome::ServerError if req.started == Some(now) => limiter.on_ignore(p),
                    _ => limiter.on_success(now, p, &mut inst.limiter_rng),
                }
            }
        }
        let client = &mut self.clients[req.client as usize];
        let delay = match &client.network {
            Some(d) => d.sample(&mut client.net_rng),
            None => SimDuration::ZERO,
        };
        sched.schedule_in(
            delay + wait,
            Ev::Respond {
                call: req.origin,
                attempt: req.attempt,
                outcome,
                quality,
            },
        );
    }
}
