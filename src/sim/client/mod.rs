//! Client stacks: one logical call through the configured layers, executing the real
//! policies from `crate::policy`.
//!
//! The layer order (outermost first, default bulkhead → breaker → retry → timeout) decides
//! what each policy sees: layers before `retry` act once per call and see its final
//! outcome; layers after it act on every attempt. So "retry outside the breaker" (the
//! Resilience4j Spring order) makes the breaker count every attempt, and a bulkhead inside
//! the retry is re-entered by each attempt. A connection pool is always innermost (one
//! connection per attempt).
//!
//! A call's life: `start_call` → `advance` through the layers (a bulkhead or pool may park
//! it; a breaker may refuse it) → `send` an attempt → `attempt_end` (response, timeout or
//! refusal) → the retry policy and the budget decide → another attempt after a back-off,
//! or `finish_call`: permits released, timers cancelled, fallback applied, parent told.

mod attempt;
mod finish;
mod hedge;
mod permits;

use crate::engine::Scheduler;
use crate::model::spec::Layer;
use crate::policy::bulkhead::Acquire;
use crate::policy::circuit_breaker::Admission;
use crate::policy::rate_limit::RateDecision;
use crate::policy::{Outcome, RejectReason};
use crate::sim::metrics::reason_index;
use crate::sim::slab::Handle;
use crate::sim::state::{
    Call, Ev, HOLD_BREAKER, HOLD_BULKHEAD, HOLD_POOL, NONE, Parent, Phase, Quality, Waiter,
};
use crate::sim::world::World;
use crate::time::SimTime;

impl World<'_> {
    /// Starts a logical call from `parent` through `client` to endpoint `target`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_call(
        &mut self,
        sched: &mut Scheduler<Ev>,
        parent: Parent,
        client: u32,
        target: u32,
        critical: bool,
        inherited: SimTime,
        workload: u8,
        class: u8,
        pin: u32,
    ) {
        let now = sched.now();
        let replay = matches!(parent, Parent::Outbox { .. });
        let c = &mut self.clients[client as usize];
        let mut deadline = if self.model.deadline_propagation {
            inherited
        } else {
            SimTime::MAX
        };
        if let Some(t) = c.total_timeout {
            deadline = deadline.min(now + t);
        }
        if c.timeout_outer
            && let Some(t) = c.current_timeout()
        {
            deadline = deadline.min(now + t);
        }
        let retry = if replay {
            None
        } else {
            c.retry.as_ref().map(|r| r.begin(now))
        };
        if !replay && let Some(b) = &mut c.budget {
            b.on_request(now);
        }
        let bucket = self.metrics.index(now);
        let metric = c.metric as usize;
        self.metrics.clients[metric].buckets[bucket].calls += 1;
        let h = self.calls.insert(Call {
            client,
            target,
            parent,
            critical,
            replay,
            workload,
            class,
            started: now,
            deadline,
            retry,
            hedge: None,
            kids: None,
            ticket: Default::default(),
            attempts: 0,
            attempt_started: now,
            attempt_deadline: SimTime::MAX,
            breaker_at: now,
            stage: 0,
            phase: Phase::Acquiring,
            holds: 0,
            pin,
            sibling: None,
            inst: pin,
            breaker: NONE,
            hint_ms: 0,
            cause: 0,
            attempt_req: None,
            attempt_timer: None,
            call_timer: None,
            step_timer: None,
        });
        if let Parent::Request(r) = parent
            && let Some(req) = self.requests.get_mut(r)
        {
            let first = req.children.replace(h);
            self.calls.get_mut(h).unwrap().sibling = first;
        }
        if deadline <= now {
            self.finish_call(
                sched,
                h,
                Outcome::Rejected(RejectReason::DeadlineExceeded),
                Quality::Full,
            );
            return;
        }
        if deadline < SimTime::MAX {
            let t = sched.schedule_timer_at(deadline, Ev::CallTimeout(h));
            self.calls.get_mut(h).unwrap().call_timer = Some(t);
        }
        self.advance(sched, h);
    }

    /// Takes the call through its remaining layers, then sends an attempt.
    pub(crate) fn advance(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let now = sched.now();
        loop {
            // The few fields read here, not a copy of the whole call at every layer.
            let Some(&Call {
                client,
                stage,
                holds,
                deadline,
                call_timer,
                ..
            }) = self.calls.get(h)
            else {
                return;
            };
            let (ci, stage) = (client as usize, stage as usize);
            let retry_pos = self.clients[ci].retry_pos as usize;
            let outer = stage < retry_pos;
            if stage >= self.clients[ci].layers.len() {
                if let Some(p) = self.clients[ci].pool
                    && holds & HOLD_POOL == 0
                {
                    let acquired = self.pools[p as usize].try_acquire(now, Waiter::Call(h));
                    self.touch_pool(p, now);
                    match acquired {
                        Acquire::Admitted => self.calls.get_mut(h).unwrap().holds |= HOLD_POOL,
                        Acquire::Queued { give_up_at } => return self.park(sched, h, give_up_at),
                        Acquire::Rejected(r) => {
                            self.count_bulkhead_rejection(ci, now);
                            return self.fail_at(sched, h, false, Outcome::Rejected(r));
                        }
                    }
                }
                return self.send(sched, h);
            }
            match self.clients[ci].layers[stage] {
                Layer::Bulkhead => {
                    if let Some(bh) = &mut self.clients[ci].bulkhead {
                        match bh.try_acquire(now, h) {
                            Acquire::Admitted => {
                                self.calls.get_mut(h).unwrap().holds |= HOLD_BULKHEAD
                            }
                            Acquire::Queued { give_up_at } => {
                                return self.park(sched, h, give_up_at);
                            }
                            Acquire::Rejected(r) => {
                                self.count_bulkhead_rejection(ci, now);
                                return self.fail_at(sched, h, outer, Outcome::Rejected(r));
                            }
                        }
                    }
                }
                Layer::Breaker => {
                    let breaker = match self.breaker_for(h, outer, now) {
                        Ok(b) => b,
                        Err(r) => {
                            self.count_no_upstream(ci, now);
                            return self.fail_at(sched, h, outer, Outcome::Rejected(r));
                        }
                    };
                    if let Some(b) = breaker {
                        let admission = self.breakers[b as usize].breaker.try_acquire(now);
                        self.observe_breaker(sched, b);
                        match admission {
                            Admission::Admitted => {
                                let c = self.calls.get_mut(h).unwrap();
                                c.holds |= HOLD_BREAKER;
                                c.breaker = b;
                                c.breaker_at = now;
                            }
                            Admission::Rejected(r) => {
                                let bucket = self.metrics.index(now);
                                let m = self.clients[ci].metric as usize;
                                self.metrics.clients[m].buckets[bucket].breaker_rejections += 1;
                                return self.fail_at(sched, h, outer, Outcome::Rejected(r));
                            }
                        }
                    }
                }
                Layer::Retry if self.clients[ci].hedge.is_some() => {
                    // The attempts of a hedged call start past this layer.
                    return self.begin_hedging(sched, h);
                }
                Layer::Retry => {
                    let c = self.calls.get_mut(h).unwrap();
                    c.attempts += 1;
                    c.attempt_started = now;
                    c.attempt_deadline = SimTime::MAX;
                    let retried = c.attempts > 1;
                    let bucket = self.metrics.index(now);
                    let m = self.clients[ci].metric as usize;
                    let cb = &mut self.metrics.clients[m].buckets[bucket];
                    cb.attempts += 1;
                    if retried {
                        cb.retries += 1;
                    }
                }
                Layer::RateLimiter => {
                    if let Some(rl) = &mut self.clients[ci].rate_limit {
                        let (phase, at) = match rl.try_acquire(now, 1) {
                            RateDecision::Now => (None, now),
                            RateDecision::At(t) => (Some(Phase::RateWait), t),
                            RateDecision::RefusedAt(t) if t > now => (Some(Phase::RateRefused), t),
                            RateDecision::Rejected | RateDecision::RefusedAt(_) => {
                                return self.refuse_by_rate(sched, h);
                            }
                        };
                        if let Some(phase) = phase {
                            let t = sched.schedule_timer_at(at, Ev::RetryNow(h));
                            let c = self.calls.get_mut(h).unwrap();
                            c.phase = phase;
                            c.step_timer = Some(t);
                            if phase == Phase::RateWait {
                                c.stage += 1;
                            }
                            return;
                        }
                    }
                }
                Layer::Timeout => {
                    if !outer {
                        let mut at = deadline;
                        if let Some(t) = self.clients[ci].current_timeout() {
                            at = at.min(now + t);
                        }
                        if at <= now {
                            return self.fail_at(
                                sched,
                                h,
                                false,
                                Outcome::Rejected(RejectReason::DeadlineExceeded),
                            );
                        }
                        if at < deadline || (at < SimTime::MAX && call_timer.is_none()) {
                            let t = sched.schedule_timer_at(at, Ev::AttemptTimeout(h));
                            let c = self.calls.get_mut(h).unwrap();
                            c.attempt_timer = Some(t);
                        }
                        self.calls.get_mut(h).unwrap().attempt_deadline = at;
                    }
                }
            }
            self.calls.get_mut(h).unwrap().stage += 1;
        }
    }

    pub(crate) fn count_bulkhead_rejection(&mut self, client: usize, now: SimTime) {
        let bucket = self.metrics.index(now);
        let c = &self.clients[client];
        self.metrics.clients[c.metric as usize].buckets[bucket].bulkhead_rejections += 1;
        if c.caller != NONE {
            self.metrics.services[c.caller as usize].buckets[bucket].rejected
                [reason_index(RejectReason::BulkheadFull)] += 1;
        }
    }

    /// The client-side rate limiter refuses call `h` (now, or after parking it): the call
    /// or attempt fails as `rate_limited`, counted at the calling service.
    pub(crate) fn refuse_by_rate(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let call = *self.calls.get(h).unwrap();
        let ci = call.client as usize;
        let c = &self.clients[ci];
        if c.caller != NONE {
            let bucket = self.metrics.index(sched.now());
            self.metrics.services[c.caller as usize].buckets[bucket].rejected
                [reason_index(RejectReason::RateLimited)] += 1;
        }
        let outer = (call.stage as usize) < c.retry_pos as usize;
        self.fail_at(
            sched,
            h,
            outer,
            Outcome::Rejected(RejectReason::RateLimited),
        );
    }

    pub(crate) fn count_no_upstream(&mut self, client: usize, now: SimTime) {
        let c = &self.clients[client];
        if c.caller != NONE {
            let bucket = self.metrics.index(now);
            self.metrics.services[c.caller as usize].buckets[bucket].rejected
                [reason_index(RejectReason::NoHealthyUpstream)] += 1;
        }
    }

    /// The breaker the call must pass: the edge's, or — with one breaker per callee
    /// instance — the chosen instance's (the instance is picked here: outside the retry
    /// the whole call goes to it, inside each attempt picks again). `Err` when no
    /// instance can be picked.
    pub(crate) fn breaker_for(
        &mut self,
        h: Handle,
        outer: bool,
        now: SimTime,
    ) -> Result<Option<u32>, RejectReason> {
        let call = *self.calls.get(h).unwrap();
        let ci = call.client as usize;
        if let Some(b) = self.clients[ci].breaker {
            return Ok(Some(b));
        }
        if self.clients[ci].instance_breakers.is_none() {
            return Ok(None);
        }
        let inst = if call.inst != NONE {
            call.inst
        } else {
            self.pick(self.clients[ci].edge)
                .ok_or(RejectReason::NoHealthyUpstream)?
        };
        let c = self.calls.get_mut(h).unwrap();
        c.inst = inst;
        if outer {
            c.pin = inst;
        }
        let existing = self.clients[ci]
            .instance_breakers
            .as_ref()
            .and_then(|v| v.get(inst as usize).copied())
            .filter(|&b| b != NONE);
        let b = match existing {
            Some(b) => b,
            None => {
                let model = self.clients[ci].model;
                let def = self.model.clients[model as usize]
                    .breaker
                    .expect("scoped breaker");
                let metric = self.clients[ci].metric;
                let b = self.new_breaker(def, metric, now);
                let v = self.clients[ci].instance_breakers.as_mut().unwrap();
                if v.len() <= inst as usize {
                    v.resize(inst as usize + 1, NONE);
                }
                v[inst as usize] = b;
                b
            }
        };
        Ok(Some(b))
    }

    /// A layer refused: before the retry layer the whole call fails, after it the attempt.
    pub(crate) fn fail_at(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        outer: bool,
        outcome: Outcome,
    ) {
        if outer {
            self.finish_call(sched, h, outcome, Quality::Full);
        } else {
            self.attempt_end(sched, h, outcome, Quality::Full);
        }
    }
}
