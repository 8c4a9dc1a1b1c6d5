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
use crate::model::graph::{Signal, Step};
use crate::policy::rate_limit::RateDecision;
use crate::policy::{Outcome, RejectReason};
use crate::sim::metrics::{FailReason, reason_index};
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
        let signals = self.model.services[svc as usize].signals;
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
                        // A limiter that computes its Retry-After (a fixed window) sends it
                        // unless the model sets one.
                        let mut signal = signals.rate_limit;
                        signal.retry_after = signal.retry_after.or(rl.retry_after(now));
                        self.reject(sched, h, RejectReason::RateLimited, signal);
                        return;
                    }
                    RateDecision::RefusedAt(t) => {
                        // Resilience4j parks the caller for its whole timeout, then refuses.
                        let why = RejectReason::RateLimited;
                        self.reject_after(sched, h, why, signals.rate_limit, t - now);
                        return;
                    }
                }
            }
        }
        let cap = self.capacity(svc, slot, now);
        let inst = &self.services[svc as usize].instances[slot as usize];
        if let Some(shed) = &inst.shed
            && !shed.admit_in_flight(req.class as usize, inst.busy + inst.queued() as u32, cap)
        {
            self.reject(sched, h, RejectReason::Shed, signals.shed);
            return;
        }
        let inst = &mut self.services[svc as usize].instances[slot as usize];
        if let Some(limiter) = &mut inst.limiter {
            match limiter.try_acquire(now) {
                Some(p) => {
                    debug_assert!(p.inflight > 0, "a permit counts its own call");
                    let r = self.requests.get_mut(h).unwrap();
                    (r.permit_start, r.permit_inflight) = (p.start, p.inflight);
                }
                None => {
                    self.reject(sched, h, RejectReason::Shed, signals.concurrency);
                    return;
                }
            }
        }
        let capacity = self.model.services[svc as usize].queue_capacity;
        let inst = &self.services[svc as usize].instances[slot as usize];
        if inst.busy < cap && inst.queued() == 0 {
            self.start_request(sched, h);
        } else if capacity.is_some_and(|c| inst.queued() >= c as usize) {
            self.reject(sched, h, RejectReason::QueueFull, signals.queue);
        } else {
            self.touch_instance(svc, slot, now);
            self.requests.get_mut(h).unwrap().queued = true;
            self.services[svc as usize].instances[slot as usize]
                .queue
                .push_back(h);
        }
    }

    /// The front door refuses request `h` for `why`, answering as `signal` says: 503
    /// (the reason travels with it) or 429 (throttled), with its Retry-After hint.
    fn reject(&mut self, sched: &mut Scheduler<Ev>, h: Handle, why: RejectReason, signal: Signal) {
        self.reject_after(sched, h, why, signal, SimDuration::ZERO);
    }

    /// [`Self::reject`] `wait` from now (counted then): a caller parked at the front door.
    fn reject_after(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        why: RejectReason,
        signal: Signal,
        wait: SimDuration,
    ) {
        let svc = self.requests.get(h).unwrap().service;
        let b = self.metrics.index(sched.now() + wait);
        self.metrics.services[svc as usize].buckets[b].rejected[reason_index(why)] += 1;
        let outcome = if signal.throttled {
            Outcome::Throttled
        } else {
            Outcome::Rejected(why)
        };
        self.respond_hinted(sched, h, outcome, Quality::Full, signal.retry_after, wait);
    }

    /// Starts queued requests of one instance while its workers are free.
    pub(crate) fn start_queued(&mut self, sched: &mut Scheduler<Ev>, svc: u32, slot: u32) {
        let now = sched.now();
        let lifo =
            self.model.services[svc as usize].discipline == crate::model::spec::Discipline::Lifo;
        let timeout = self.model.services[svc as usize].queue_timeout;
        let signals = self.model.services[svc as usize].signals;
        loop {
            let cap = self.capacity(svc, slot, now);
            let inst = &self.services[svc as usize].instances[slot as usize];
            if inst.busy >= cap || inst.queued() == 0 {
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
            let Some(req) = self.requests.get_mut(h) else {
                inst.dead -= 1; // cancelled while it waited
                continue;
            };
            req.queued = false;
            let req = *req;
            if timeout.is_some_and(|t| now - req.arrived > t) {
                self.reject(sched, h, RejectReason::QueueTimeout, signals.queue);
                continue;
            }
            if now >= req.deadline {
                self.reject(sched, h, RejectReason::DeadlineExceeded, Signal::default());
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
        req.started_at = now;
        self.touch_instance(svc, slot, now);
        self.services[svc as usize].instances[slot as usize].busy += 1;
        // Injected errors fail at once (a fast 5xx, 4xx or 429: the strongest fault's).
        let (mut error_rate, mut error) = (0.0f64, Outcome::ServerError);
        for &f in &self.services[svc as usize].faults {
            let f = &self.model.faults[f as usize];
            if f.error_rate > error_rate
                && f.hits(slot, now)
                && f.endpoint.is_none_or(|e| e == endpoint)
            {
                (error_rate, error) = (f.error_rate, f.error);
            }
        }
        if error_rate > 0.0 && self.fault_rng.random::<f64>() < error_rate {
            let b = self.metrics.index(now);
            self.metrics.services[svc as usize].buckets[b].fault_errors += 1;
            self.complete(sched, h, error, Quality::Full);
            return;
        }
        self.run_step(sched, h);
    }

    /// Runs the current step of a request (or answers when none is left).
    pub(crate) fn run_step(&mut self, sched: &mut Scheduler<Ev>, mut h: Handle) {
        // Connection steps that pass at once run in this loop.
        loop {
            match self.run_one_step(sched, h) {
                Some(next) => h = next,
                None => return,
            }
        }
    }

    /// Runs the current step of request `h`; returns it again when the step passed at
    /// once and the next should run now.
    fn run_one_step(&mut self, sched: &mut Scheduler<Ev>, h: Handle) -> Option<Handle> {
        let now = sched.now();
        let model = self.model;
        let req = *self.requests.get(h).unwrap();
        let steps = &model.endpoints[req.endpoint as usize].steps;
        let Some(step) = steps.get(req.step as usize) else {
            self.complete(sched, h, Outcome::Success, req.quality);
            return None;
        };
        match step {
            &Step::Hold { pool } => return self.take_connection(sched, h, pool),
            &Step::OccRead { resource } => return self.occ_read(h, resource),
            &Step::OccWrite { resource } => return self.occ_write(sched, h, resource),
            &Step::Release { pool, .. } => {
                self.requests.get_mut(h).unwrap().step += 1;
                self.release_pool(sched, pool);
                return Some(h);
            }
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
        None
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
        cause: u8,
    ) {
        let Some(req) = self.requests.get_mut(h) else {
            return;
        };
        req.pending -= 1;
        if outcome.is_success() {
            req.quality = req.quality.max(quality);
        } else if critical {
            if req.failed.is_none() {
                req.failed = Some(outcome);
                req.cause = cause;
            }
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
    pub(crate) fn complete(
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
                (now - req.abandoned_at.max(req.started().unwrap_or(now))).as_secs_f64();
        }
        self.respond(sched, h, outcome, quality);
        self.start_queued(sched, svc, slot);
        let inst = &self.services[svc as usize].instances[slot as usize];
        if inst.life == Life::Terminating && inst.busy == 0 && inst.queued() == 0 {
            self.instance_gone(sched, svc, slot);
        }
    }

    /// The caller stopped waiting and cancels request `h` (gRPC deadline, Go context):
    /// waiting, it leaves its queue; running, it stops at once and frees its worker, and
    /// the calls it was waiting on are ended too (cancelled downstream where their edges
    /// cancel). It answers nobody.
    pub(crate) fn cancel_request(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let now = sched.now();
        let Some(req) = self.requests.get(h).copied() else {
            return;
        };
        let (svc, slot) = (req.service, req.instance);
        let b = self.metrics.index(now);
        self.metrics.services[svc as usize].buckets[b].cancelled += 1;
        if req.queued {
            self.touch_instance(svc, slot, now);
            self.services[svc as usize].instances[slot as usize].dead += 1;
        }
        if let Some(p) = req.permit() {
            let inst = &mut self.services[svc as usize].instances[slot as usize];
            if let Some(limiter) = inst.limiter.as_mut() {
                // The caller cancelled: the gRPC interceptor's `onCancel` → `onIgnore`.
                limiter.on_ignore(p);
            }
        }
        self.release_held(sched, h, &req);
        let Some(started) = req.started() else {
            self.requests.remove(h);
            return;
        };
        if req.abandoned_at < now {
            self.metrics.services[svc as usize].wasted_seconds +=
                (now - req.abandoned_at.max(started)).as_secs_f64();
        }
        while let Some(c) = self.requests.get(h).and_then(|r| r.children) {
            self.abort_call(sched, c);
        }
        self.touch_instance(svc, slot, now);
        self.services[svc as usize].instances[slot as usize].busy -= 1;
        self.requests.remove(h);
        self.start_queued(sched, svc, slot);
        let inst = &self.services[svc as usize].instances[slot as usize];
        if inst.life == Life::Terminating && inst.busy == 0 && inst.queued() == 0 {
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
        self.respond_hinted(sched, h, outcome, quality, None, SimDuration::ZERO);
    }

    /// [`Self::respond`] with a Retry-After hint, the answer leaving `wait` from now (a
    /// request that holds no worker and no limiter permit, parked at the front door).
    pub(crate) fn respond_hinted(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        outcome: Outcome,
        quality: Quality,
        hint: Option<SimDuration>,
        wait: SimDuration,
    ) {
        let req = *self.requests.get(h).unwrap();
        debug_assert!(wait.is_zero() || (req.permit().is_none() && req.started().is_none()));
        self.release_held(sched, h, &req);
        self.requests.remove(h);
        if let Some(p) = req.permit() {
            // The concurrency limit learns as Netflix's gRPC server interceptor tells it: a
            // request closed with DEADLINE_EXCEEDED (its deadline, or the queue's timeout)
            // is dropped; every other close, errors included, is an RTT sample.
            let inst = &mut self.services[req.service as usize].instances[req.instance as usize];
            let now = sched.now();
            if let Some(limiter) = inst.limiter.as_mut() {
                match outcome {
                    Outcome::Rejected(
                        RejectReason::DeadlineExceeded | RejectReason::QueueTimeout,
                    ) => limiter.on_dropped(now, p, &mut inst.limiter_rng),
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
                hint_ms: hint.map_or(0, |d| {
                    (d.as_nanos() / 1_000_000).clamp(1, u32::MAX as u64) as u32
                }),
                cause: FailReason::of(outcome, FailReason::from_index(req.cause as usize)).index()
                    as u8,
            },
        );
    }
}
