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

use crate::engine::Scheduler;
use crate::model::spec::Layer;
use crate::policy::bulkhead::Acquire;
use crate::policy::circuit_breaker::Admission;
use crate::policy::fallback::{DrainOutcome, FallbackAnswer};
use crate::policy::retry::RetryDecision;
use crate::policy::{Outcome, RejectReason};
use crate::sim::metrics::reason_index;
use crate::sim::slab::Handle;
use crate::sim::state::{
    Call, Ev, HOLD_ACTIVE, HOLD_BREAKER, HOLD_BULKHEAD, HOLD_POOL, NONE, Parent, Phase, Quality,
    Request,
};
use crate::sim::world::World;
use crate::time::{SimDuration, SimTime};

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
            hint: None,
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
    fn advance(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let now = sched.now();
        loop {
            let Some(call) = self.calls.get(h).copied() else {
                return;
            };
            let ci = call.client as usize;
            let stage = call.stage as usize;
            let retry_pos = self.clients[ci].retry_pos as usize;
            let outer = stage < retry_pos;
            if stage >= self.clients[ci].layers.len() {
                if let Some(p) = self.clients[ci].pool
                    && call.holds & HOLD_POOL == 0
                {
                    match self.pools[p as usize].try_acquire(now, h) {
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
                Layer::Timeout => {
                    if !outer {
                        let mut at = call.deadline;
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
                        if at < call.deadline || (at < SimTime::MAX && call.call_timer.is_none()) {
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

    fn count_bulkhead_rejection(&mut self, client: usize, now: SimTime) {
        let bucket = self.metrics.index(now);
        let c = &self.clients[client];
        self.metrics.clients[c.metric as usize].buckets[bucket].bulkhead_rejections += 1;
        if c.caller != NONE {
            self.metrics.services[c.caller as usize].buckets[bucket].rejected
                [reason_index(RejectReason::BulkheadFull)] += 1;
        }
    }

    fn count_no_upstream(&mut self, client: usize, now: SimTime) {
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
    fn breaker_for(
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
    fn fail_at(&mut self, sched: &mut Scheduler<Ev>, h: Handle, outer: bool, outcome: Outcome) {
        if outer {
            self.finish_call(sched, h, outcome, Quality::Full);
        } else {
            self.attempt_end(sched, h, outcome, Quality::Full);
        }
    }

    /// Parks the call in a bulkhead or pool queue until a permit or `give_up_at`.
    fn park(&mut self, sched: &mut Scheduler<Ev>, h: Handle, give_up_at: SimTime) {
        let t = sched.schedule_timer_at(give_up_at, Ev::WaitExpired(h));
        let c = self.calls.get_mut(h).unwrap();
        c.phase = Phase::Waiting;
        c.step_timer = Some(t);
    }

    /// Whether a parked call waits on its pool (else on its bulkhead).
    fn waits_on_pool(&self, call: &Call) -> bool {
        call.stage as usize >= self.clients[call.client as usize].layers.len()
    }

    /// Removes a parked call from its queue (it stopped waiting for another reason).
    fn unpark(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let call = *self.calls.get(h).unwrap();
        if call.phase != Phase::Waiting {
            return;
        }
        if let Some(t) = call.step_timer {
            sched.cancel(t);
        }
        let ci = call.client as usize;
        if self.waits_on_pool(&call) {
            let p = self.clients[ci].pool.unwrap();
            self.pools[p as usize].cancel(h);
        } else if let Some(bh) = &mut self.clients[ci].bulkhead {
            bh.cancel(h);
        }
        let c = self.calls.get_mut(h).unwrap();
        c.step_timer = None;
        c.phase = Phase::Acquiring;
    }

    pub(crate) fn on_wait_expired(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let now = sched.now();
        let Some(call) = self.calls.get(h).copied() else {
            return;
        };
        if call.phase != Phase::Waiting {
            return;
        }
        let ci = call.client as usize;
        let on_pool = self.waits_on_pool(&call);
        let expired = if on_pool {
            let p = self.clients[ci].pool.unwrap();
            self.pools[p as usize].on_wait_expired(now, h)
        } else {
            self.clients[ci]
                .bulkhead
                .as_mut()
                .is_some_and(|bh| bh.on_wait_expired(now, h))
        };
        if !expired {
            return;
        }
        let c = self.calls.get_mut(h).unwrap();
        c.step_timer = None;
        c.phase = Phase::Acquiring;
        self.count_bulkhead_rejection(ci, now);
        let outer = !on_pool && (call.stage as usize) < self.clients[ci].retry_pos as usize;
        self.fail_at(
            sched,
            h,
            outer,
            Outcome::Rejected(RejectReason::BulkheadFull),
        );
    }

    /// A released permit went to waiter `w`: it holds it now and resumes at `now`.
    fn grant(&mut self, sched: &mut Scheduler<Ev>, w: Handle, pool: bool) {
        let Some(c) = self.calls.get_mut(w) else {
            return;
        };
        if let Some(t) = c.step_timer.take() {
            sched.cancel(t);
        }
        c.phase = Phase::Acquiring;
        if pool {
            c.holds |= HOLD_POOL;
        } else {
            c.holds |= HOLD_BULKHEAD;
            c.stage += 1;
        }
        sched.schedule_at(sched.now(), Ev::Resume(w));
    }

    pub(crate) fn on_resume(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        if self
            .calls
            .get(h)
            .is_some_and(|c| c.phase == Phase::Acquiring)
        {
            self.advance(sched, h);
        }
    }

    fn release_bulkhead(&mut self, sched: &mut Scheduler<Ev>, client: usize) {
        let now = sched.now();
        if let Some(w) = self.clients[client]
            .bulkhead
            .as_mut()
            .and_then(|bh| bh.release(now))
        {
            self.grant(sched, w, false);
        }
    }

    fn release_pool(&mut self, sched: &mut Scheduler<Ev>, pool: u32) {
        let now = sched.now();
        if let Some(w) = self.pools[pool as usize].release(now) {
            self.grant(sched, w, true);
        }
    }

    fn release_breaker(&mut self, sched: &mut Scheduler<Ev>, h: Handle, outcome: Outcome) {
        let now = sched.now();
        let call = *self.calls.get(h).unwrap();
        let b = call.breaker;
        let c = self.calls.get_mut(h).unwrap();
        c.holds &= !HOLD_BREAKER;
        c.breaker = NONE;
        self.breakers[b as usize]
            .breaker
            .on_outcome(now, outcome, now - call.breaker_at);
        self.observe_breaker(sched, b);
    }

    /// Sends one attempt: a request to the target endpoint, at the instance the edge's
    /// balancer picks (or the pinned one).
    fn send(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
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
            call.deadline.min(call.attempt_deadline)
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
            started: None,
            deadline,
            abandoned_at: SimTime::MAX,
            permit: None,
            workload: call.workload,
            class: call.class,
            rate_passed: false,
            queued: false,
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

    pub(crate) fn on_response(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        attempt: u32,
        outcome: Outcome,
        quality: Quality,
        hint: Option<SimDuration>,
    ) {
        let Some(c) = self.calls.get_mut(h) else {
            return;
        };
        if c.phase != Phase::InFlight || c.attempts != attempt {
            return; // an attempt the caller has given up on
        }
        c.hint = hint;
        self.attempt_end(sched, h, outcome, quality);
    }

    pub(crate) fn on_attempt_timeout(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let Some(c) = self.calls.get_mut(h) else {
            return;
        };
        c.attempt_timer = None;
        match c.phase {
            Phase::InFlight => self.attempt_end(sched, h, Outcome::Timeout, Quality::Full),
            Phase::Waiting => {
                self.unpark(sched, h);
                self.attempt_end(sched, h, Outcome::Timeout, Quality::Full);
            }
            Phase::Acquiring | Phase::Backoff => {}
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
            Phase::Backoff => {
                if let Some(t) = c.step_timer.take() {
                    sched.cancel(t);
                }
            }
            Phase::Acquiring => {}
        }
        self.finish_call(sched, h, Outcome::Timeout, Quality::Full);
    }

    pub(crate) fn on_retry_now(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        if let Some(c) = self.calls.get_mut(h)
            && c.phase == Phase::Backoff
        {
            c.step_timer = None;
            c.phase = Phase::Acquiring;
            self.advance(sched, h);
        }
    }

    /// Releases what the current attempt holds (inner layers, connection, timer).
    fn release_attempt(&mut self, sched: &mut Scheduler<Ev>, h: Handle, outcome: Outcome) {
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
    fn attempt_end(
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
        let hint = call.hint.take();
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

    /// Ends a call for good: outer permits released, timers cancelled, budget told,
    /// fallback applied, parent notified.
    fn finish_call(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        outcome: Outcome,
        quality: Quality,
    ) {
        let now = sched.now();
        let call = *self.calls.get(h).unwrap();
        let ci = call.client as usize;
        if call.holds & HOLD_BREAKER != 0 {
            self.release_breaker(sched, h, outcome);
        }
        if call.holds & HOLD_BULKHEAD != 0 {
            self.calls.get_mut(h).unwrap().holds &= !HOLD_BULKHEAD;
            self.release_bulkhead(sched, ci);
        }
        if call.holds & HOLD_POOL != 0 {
            self.calls.get_mut(h).unwrap().holds &= !HOLD_POOL;
            self.release_pool(sched, self.clients[ci].pool.unwrap());
        }
        for t in [call.call_timer, call.step_timer, call.attempt_timer]
            .into_iter()
            .flatten()
        {
            sched.cancel(t);
        }
        let client = &mut self.clients[ci];
        if !call.replay
            && let Some(b) = &mut client.budget
        {
            b.on_call_finished(now, outcome, &call.ticket);
        }
        let bucket = self.metrics.index(now);
        let m = client.metric as usize;
        let (outcome, quality) = if outcome.is_success() {
            client.fallback.on_success(now);
            (outcome, quality)
        } else {
            self.metrics.clients[m].buckets[bucket].failures += 1;
            if call.replay {
                (outcome, quality)
            } else {
                self.intent_seq += 1;
                let intent = ((call.workload as u64) << 56)
                    | ((call.target as u64 & 0xff_ffff) << 32)
                    | (self.intent_seq & 0xffff_ffff);
                match client.fallback.on_failure(now, intent) {
                    FallbackAnswer::Fail => (outcome, quality),
                    FallbackAnswer::Default | FallbackAnswer::Stale => {
                        self.metrics.clients[m].fallbacks += 1;
                        (Outcome::Success, Quality::Degraded)
                    }
                    FallbackAnswer::Pending => {
                        self.metrics.clients[m].captured += 1;
                        self.schedule_drain(sched, ci as u32);
                        (Outcome::Success, Quality::Pending)
                    }
                }
            }
        };
        self.unlink(h, &call);
        self.calls.remove(h);
        match call.parent {
            Parent::Request(r) => self.on_call_done(sched, r, call.critical, outcome, quality),
            Parent::User { workload, client } => {
                self.on_user_done(sched, workload, client, call.started, outcome, quality)
            }
            Parent::Outbox {
                client,
                intent,
                attempt,
            } => self.on_replay_done(sched, client, intent, attempt, outcome.is_success()),
            Parent::Probe {
                prober,
                slot,
                session,
            } => self.on_probe_done(sched, prober, slot, session, outcome),
        }
    }

    /// An outbox replay ended (or was cut short by a restart: a failure).
    fn on_replay_done(
        &mut self,
        sched: &mut Scheduler<Ev>,
        client: u32,
        intent: u64,
        attempt: u32,
        success: bool,
    ) {
        let now = sched.now();
        let c = &mut self.clients[client as usize];
        let m = c.metric as usize;
        if let Some(ob) = c.fallback.outbox_mut() {
            match ob.on_drain_result(now, intent, attempt, success, &mut c.jitter) {
                DrainOutcome::Delivered => self.metrics.clients[m].delivered += 1,
                DrainOutcome::DeadLettered => {
                    self.metrics.clients[m].dead_lettered += 1;
                    self.metrics.workloads[(intent >> 56) as usize].dead_lettered += 1;
                }
                DrainOutcome::RetryAt(_) | DrainOutcome::Unknown => {}
            }
        }
        self.schedule_drain(sched, client);
    }

    /// The caller stopped waiting for request `r` (an attempt of a call through client
    /// `ci`): an edge that cancels cancels it; otherwise it works on for nobody.
    fn give_up_on(&mut self, sched: &mut Scheduler<Ev>, ci: usize, r: Handle) {
        if self.clients[ci].cancel {
            self.cancel_request(sched, r);
        } else if let Some(req) = self.requests.get_mut(r) {
            req.abandoned_at = req.abandoned_at.min(sched.now());
        }
    }

    /// Takes call `h` off its parent request's list of calls (a handful: one step's).
    fn unlink(&mut self, h: Handle, call: &Call) {
        let Parent::Request(r) = call.parent else {
            return;
        };
        let sibling = self.calls.get(h).and_then(|c| c.sibling);
        let Some(req) = self.requests.get_mut(r) else {
            return;
        };
        if req.children == Some(h) {
            req.children = sibling;
            return;
        }
        let mut at = req.children;
        while let Some(c) = at {
            let next = self.calls.get(c).and_then(|x| x.sibling);
            if next == Some(h) {
                self.calls.get_mut(c).unwrap().sibling = sibling;
                return;
            }
            at = next;
        }
    }

    /// Ends a call whose caller stopped (its process died, or its request was cancelled):
    /// every permit and timer goes, nobody is told; a running attempt's request is
    /// cancelled if the edge cancels, else works on for nobody. An outbox replay counts
    /// as failed (the outbox is durable and replays it later).
    pub(crate) fn abort_call(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let call = *self.calls.get(h).unwrap();
        let ci = call.client as usize;
        for t in [call.call_timer, call.step_timer, call.attempt_timer]
            .into_iter()
            .flatten()
        {
            sched.cancel(t);
        }
        if call.phase == Phase::Waiting {
            self.unpark(sched, h);
        }
        if let Some(r) = call.attempt_req {
            self.give_up_on(sched, ci, r);
        }
        if call.holds & HOLD_ACTIVE != 0 {
            let edge = self.clients[ci].edge;
            if let Some(a) = self.edges[edge as usize].active.get_mut(call.inst as usize) {
                *a -= 1;
            }
        }
        if call.holds & HOLD_POOL != 0 {
            self.release_pool(sched, self.clients[ci].pool.unwrap());
        }
        if call.holds & HOLD_BULKHEAD != 0 {
            self.release_bulkhead(sched, ci);
        }
        self.unlink(h, &call);
        self.calls.remove(h);
        if let Parent::Outbox {
            client,
            intent,
            attempt,
        } = call.parent
        {
            self.on_replay_done(sched, client, intent, attempt, false);
        }
    }

    /// Asks the outbox of `client` when to drain next, and schedules it.
    fn schedule_drain(&mut self, sched: &mut Scheduler<Ev>, client: u32) {
        let c = &mut self.clients[client as usize];
        let Some(t) = c.fallback.outbox_mut().and_then(|o| o.next_drain_at()) else {
            return;
        };
        let t = t.max(sched.now());
        if c.drain_at.is_none_or(|d| t < d) {
            c.drain_at = Some(t);
            sched.schedule_at(t, Ev::Drain(client));
        }
    }

    /// Replays the due intents of an outbox through the same client stack.
    pub(crate) fn on_drain(&mut self, sched: &mut Scheduler<Ev>, client: u32) {
        let now = sched.now();
        if self.clients[client as usize].drain_at != Some(now) {
            return;
        }
        self.clients[client as usize].drain_at = None;
        while let Some((intent, attempt)) = self.clients[client as usize]
            .fallback
            .outbox_mut()
            .and_then(|o| o.take_due(now))
        {
            let target = ((intent >> 32) & 0xff_ffff) as u32;
            let workload = (intent >> 56) as u8;
            self.start_call(
                sched,
                Parent::Outbox {
                    client,
                    intent,
                    attempt,
                },
                client,
                target,
                true,
                SimTime::MAX,
                workload,
                0,
                NONE,
            );
        }
        self.schedule_drain(sched, client);
    }
}
