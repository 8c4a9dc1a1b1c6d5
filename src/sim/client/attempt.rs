//! One attempt of a call: sending it to the instance the balancer picks, its response or
//! timeout, what it releases, and the retry decision that follows.

use crate::engine::Scheduler;
use crate::policy::retry::RetryDecision;
use crate::policy::{Outcome, RejectReason};
use crate::sim::slab::Handle;
use crate::sim::state::{
    Ev, HOLD_ACTIVE, HOLD_BREAKER, HOLD_BULKHEAD, HOLD_POOL, NONE, Parent, Phase, Quality, Request,
};
use crate::sim::world::World;
use crate::time::{SimDuration, SimTime};

impl World<'_> {
    /// Sends one attempt: a request to the target endpoint, at the instance the edge's
    /// balancer picks (or the pinned one).
    pub(crate) fn send(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let now = sched.now();
        let call = *self.calls.get(h).unwrap();
        let ci = call.client as usize;
        let edge = self.clients[ci].edge;
        let inst = if call.inst != NONE {
            call.inst
        } else {
            match self.pick(edge) {
                Some(i) => i,
                None => {
                    self.count_no_upstream(ci, now);
                    return self.attempt_end(
                        sched,
                        h,
                        Outcome::Rejected(RejectReason::NoHealthyUpstream),
                        Quality::Full,
                    );
                }
            }
        };
        let mut holds = call.holds;
        if edge != NONE {
            let active = &mut self.edges[edge as usize].active;
            if active.len() <= inst as usize {
                active.resize(inst as usize + 1, 0);
            }
            active[inst as usize] += 1;
            holds |= HOLD_ACTIVE;
        }
        let c = &mut self.clients[ci];
        let delay = match &c.network {
            Some(d) => d.sample(&mut c.net_rng),
            None => SimDuration::ZERO,
        };
        let deadline = if self.model.deadline_propagation {
            match call.parent {
                // A hedged attempt outlives its per-try timeout: the call's deadline holds.
                Parent::Hedge(_) => call.deadline,
                _ => call.deadline.min(call.attempt_deadline),
            }
        } else {
            SimTime::MAX
        };
        let service = self.model.endpoints[call.target as usize].service;
        let r = self.requests.insert(Request {
            endpoint: call.target,
            service,
            instance: inst,
            step: 0,
            pending: 0,
            failed: None,
            quality: Quality::Full,
            origin: h,
            attempt: call.attempts,
            client: call.client,
            arrived: now + delay,
            started_at: SimTime::MAX,
            deadline,
            abandoned_at: SimTime::MAX,
            permit_start: SimTime::ZERO,
            permit_inflight: 0,
            workload: call.workload,
            class: call.class,
            rate_passed: false,
            queued: false,
            on_pool: false,
            cause: 0,
            children: None,
        });
        let c = self.calls.get_mut(h).unwrap();
        c.phase = Phase::InFlight;
        c.attempt_req = Some(r);
        c.inst = inst;
        c.holds = holds;
        if delay.is_zero() {
            self.admit(sched, r);
        } else {
            sched.schedule_in(delay, Ev::Deliver(r));
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_response(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        attempt: u32,
        outcome: Outcome,
        quality: Quality,
        hint_ms: u32,
        cause: u8,
    ) {
        let Some(c) = self.calls.get_mut(h) else {
            return;
        };
        if c.phase != Phase::InFlight || c.attempts != attempt {
            return; // an attempt the caller has given up on
        }
        c.hint_ms = hint_ms;
        c.cause = cause;
        self.attempt_end(sched, h, outcome, quality);
    }

    pub(crate) fn on_attempt_timeout(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let Some(c) = self.calls.get_mut(h) else {
            return;
        };
        c.attempt_timer = None;
        match (c.phase, c.parent) {
            (Phase::InFlight | Phase::Waiting, Parent::Hedge(p)) => {
                self.on_per_try_timeout(sched, p, h)
            }
            (Phase::InFlight, _) => self.attempt_end(sched, h, Outcome::Timeout, Quality::Full),
            (Phase::Waiting, _) => {
                self.unpark(sched, h);
                self.attempt_end(sched, h, Outcome::Timeout, Quality::Full);
            }
            (Phase::RateWait | Phase::RateRefused, _) => {
                if let Some(t) = c.step_timer.take() {
                    sched.cancel(t);
                }
                c.phase = Phase::Acquiring;
                self.attempt_end(sched, h, Outcome::Timeout, Quality::Full);
            }
            (Phase::Acquiring | Phase::Backoff | Phase::Hedging, _) => {}
        }
    }

    pub(crate) fn on_call_timeout(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let Some(c) = self.calls.get_mut(h) else {
            return;
        };
        c.call_timer = None;
        match c.phase {
            Phase::InFlight => self.release_attempt(sched, h, Outcome::Timeout),
            Phase::Waiting => {
                self.unpark(sched, h);
                self.release_attempt(sched, h, Outcome::Timeout);
            }
            Phase::Backoff | Phase::RateWait | Phase::RateRefused => {
                if let Some(t) = c.step_timer.take() {
                    sched.cancel(t);
                }
            }
            Phase::Acquiring | Phase::Hedging => {}
        }
        self.finish_call(sched, h, Outcome::Timeout, Quality::Full);
    }

    /// The back-off before a retry is over, or a hedged call's next hedge is due.
    pub(crate) fn on_retry_now(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let Some(c) = self.calls.get_mut(h) else {
            return;
        };
        match c.phase {
            Phase::Backoff => {
                c.step_timer = None;
                c.phase = Phase::Acquiring;
                self.advance(sched, h);
            }
            Phase::Hedging => {
                c.step_timer = None;
                self.on_hedge_due(sched, h);
            }
            Phase::RateWait => {
                c.step_timer = None;
                c.phase = Phase::Acquiring;
                self.advance(sched, h);
            }
            Phase::RateRefused => {
                c.step_timer = None;
                c.phase = Phase::Acquiring;
                self.refuse_by_rate(sched, h);
            }
            _ => {}
        }
    }

    /// Releases what the current attempt holds (inner layers, connection, timer).
    pub(crate) fn release_attempt(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        outcome: Outcome,
    ) {
        let call = *self.calls.get(h).unwrap();
        let ci = call.client as usize;
        if let Some(t) = call.attempt_timer {
            sched.cancel(t);
        }
        {
            let c = self.calls.get_mut(h).unwrap();
            c.attempt_timer = None;
            c.attempt_req = None;
            c.phase = Phase::Acquiring;
        }
        // A request still running for this attempt now works for nobody, unless the edge
        // cancels it.
        if let Some(r) = call.attempt_req {
            self.give_up_on(sched, ci, r);
        }
        if call.holds & HOLD_ACTIVE != 0 {
            self.calls.get_mut(h).unwrap().holds &= !HOLD_ACTIVE;
            self.on_host_result(sched, self.clients[ci].edge, call.inst, outcome);
        }
        if call.pin == NONE {
            self.calls.get_mut(h).unwrap().inst = NONE;
        }
        if call.holds & HOLD_POOL != 0 {
            self.calls.get_mut(h).unwrap().holds &= !HOLD_POOL;
            self.release_pool(sched, self.clients[ci].pool.unwrap());
        }
        if call.holds & HOLD_BULKHEAD != 0 && !self.clients[ci].bulkhead_outer {
            self.calls.get_mut(h).unwrap().holds &= !HOLD_BULKHEAD;
            self.release_bulkhead(sched, ci);
        }
        if call.holds & HOLD_BREAKER != 0 && !self.clients[ci].breaker_outer {
            self.release_breaker(sched, h, outcome);
        }
        let now = sched.now();
        if let Some(b) = &mut self.clients[ci].budget
            && !call.replay
        {
            b.on_attempt_outcome(now, outcome);
        }
        // An adaptive timeout learns from answers and from its own expiries (recorded as
        // the timeout value: a censored sample, so slowness is not hidden from it).
        if let Some(a) = &mut self.clients[ci].adaptive
            && call.phase == Phase::InFlight
        {
            match outcome {
                Outcome::Timeout => a.on_timed_out(),
                Outcome::Rejected(_) => {}
                _ => a.on_latency(now - call.attempt_started),
            }
        }
    }

    /// An attempt ended: retry after a back-off, or finish the call.
    pub(crate) fn attempt_end(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        outcome: Outcome,
        quality: Quality,
    ) {
        let now = sched.now();
        self.release_attempt(sched, h, outcome);
        if outcome.is_success() {
            return self.finish_call(sched, h, outcome, quality);
        }
        let mut call = *self.calls.get(h).unwrap();
        let ci = call.client as usize;
        let hint = call.hint();
        call.hint_ms = 0;
        let client = &mut self.clients[ci];
        let (Some(retry), Some(state)) = (&client.retry, call.retry.as_mut()) else {
            return self.finish_call(sched, h, outcome, quality);
        };
        let deadline = (call.deadline < SimTime::MAX).then_some(call.deadline);
        let attempt_timeout = if client.timeout_outer {
            None
        } else {
            client.current_timeout()
        };
        let decision = retry.on_outcome(
            state,
            now,
            outcome,
            hint,
            deadline,
            attempt_timeout,
            &mut client.jitter,
        );
        match decision {
            RetryDecision::RetryAt(at) => {
                if let Some(b) = &mut client.budget
                    && !b.try_acquire_retry(now, outcome, &mut call.ticket)
                {
                    let bucket = self.metrics.index(now);
                    let m = client.metric as usize;
                    self.metrics.clients[m].buckets[bucket].budget_exhausted += 1;
                    *self.calls.get_mut(h).unwrap() = call;
                    return self.finish_call(sched, h, outcome, quality);
                }
                let retry_pos = client.retry_pos;
                let t = sched.schedule_timer_at(at, Ev::RetryNow(h));
                call.phase = Phase::Backoff;
                call.stage = retry_pos;
                call.step_timer = Some(t);
                *self.calls.get_mut(h).unwrap() = call;
            }
            RetryDecision::GiveUp(_) => {
                *self.calls.get_mut(h).unwrap() = call;
                self.finish_call(sched, h, outcome, quality);
            }
        }
    }
}
