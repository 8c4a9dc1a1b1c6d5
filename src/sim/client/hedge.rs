//! Hedged calls (gRFC A6; see `crate::policy::hedge`). A hedged call stops at the retry's
//! place in the layer order: layers before it act once for the call, and each attempt is
//! a call of its own (a *kid*, parent `Parent::Hedge`) that enters the layers after it —
//! its own bulkhead permit, breaker permit, timeout and connection — and sends one
//! request. The first answer that commits (a success, or a fatal failure) ends the call;
//! the other kids are aborted: their requests cancelled on an edge that cancels, else left
//! to run for nobody.

use crate::engine::Scheduler;
use crate::policy::Outcome;
use crate::policy::hedge::{HedgeDecision, PerTryTimeout};
use crate::sim::slab::Handle;
use crate::sim::state::{Call, Ev, Parent, Phase, Quality};
use crate::sim::world::World;
use crate::time::{SimDuration, SimTime};

impl World<'_> {
    /// The call reached the hedge layer: it sends its first attempt and sets the timer of
    /// the next.
    pub(crate) fn begin_hedging(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let now = sched.now();
        let ci = self.calls.get(h).unwrap().client as usize;
        let hedge = self.clients[ci].hedge.as_ref().expect("a hedging client");
        let (state, next) = hedge.begin(now);
        let c = self.calls.get_mut(h).unwrap();
        c.hedge = Some(state);
        c.phase = Phase::Hedging;
        self.set_hedge_timer(sched, h, next);
        self.spawn_attempt(sched, h);
    }

    /// Moves the hedge timer of call `h` to `at` (or clears it).
    fn set_hedge_timer(&mut self, sched: &mut Scheduler<Ev>, h: Handle, at: Option<SimTime>) {
        let c = self.calls.get_mut(h).unwrap();
        if let Some(t) = c.step_timer.take() {
            sched.cancel(t);
        }
        if let Some(at) = at {
            c.step_timer = Some(sched.schedule_timer_at(at, Ev::RetryNow(h)));
        }
    }

    /// One attempt of hedged call `p`: a kid call entering the layers after the hedge.
    fn spawn_attempt(&mut self, sched: &mut Scheduler<Ev>, p: Handle) {
        let now = sched.now();
        let parent = *self.calls.get(p).unwrap();
        let ci = parent.client as usize;
        let stage = self.clients[ci].retry_pos + 1;
        let kid = self.calls.insert(Call {
            parent: Parent::Hedge(p),
            started: now,
            retry: None,
            hedge: None,
            kids: None,
            ticket: Default::default(),
            attempts: 1,
            attempt_started: now,
            attempt_deadline: SimTime::MAX,
            breaker_at: now,
            stage,
            phase: Phase::Acquiring,
            holds: 0,
            sibling: parent.kids,
            inst: parent.pin,
            breaker: crate::sim::state::NONE,
            hint_ms: 0,
            cause: 0,
            attempt_req: None,
            attempt_timer: None,
            call_timer: None,
            step_timer: None,
            ..parent
        });
        self.calls.get_mut(p).unwrap().kids = Some(kid);
        let bucket = self.metrics.index(now);
        let cb = &mut self.metrics.clients[self.clients[ci].metric as usize].buckets[bucket];
        cb.attempts += 1;
        if parent.hedge.is_some_and(|s| s.sent() > 1) {
            cb.retries += 1;
        }
        self.advance(sched, kid);
    }

    /// The hedge timer of call `h` fired, or a decision asked for a hedge now.
    pub(crate) fn on_hedge_due(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let now = sched.now();
        let call = *self.calls.get(h).unwrap();
        let ci = call.client as usize;
        let client = &mut self.clients[ci];
        let hedge = client.hedge.as_ref().unwrap();
        let mut state = call.hedge.unwrap();
        if !hedge.wants_more(&state) || now >= call.deadline {
            return;
        }
        let mut ticket = call.ticket;
        if let Some(b) = &mut client.budget
            && !call.replay
            && !b.try_acquire_retry(now, Outcome::Timeout, &mut ticket)
        {
            let m = client.metric as usize;
            let decision = hedge.on_refused(&mut state);
            let bucket = self.metrics.index(now);
            self.metrics.clients[m].buckets[bucket].budget_exhausted += 1;
            self.calls.get_mut(h).unwrap().hedge = Some(state);
            return self.act_on(sched, h, decision, Quality::Full);
        }
        let next = hedge.on_sent(&mut state, now);
        let c = self.calls.get_mut(h).unwrap();
        c.hedge = Some(state);
        c.ticket = ticket;
        self.set_hedge_timer(sched, h, next);
        self.spawn_attempt(sched, h);
    }

    /// Kid `kid` of hedged call `p` ended with `outcome` (it is gone already).
    pub(crate) fn on_attempt_done(
        &mut self,
        sched: &mut Scheduler<Ev>,
        p: Handle,
        outcome: Outcome,
        quality: Quality,
        hint: Option<SimDuration>,
    ) {
        let now = sched.now();
        let Some(call) = self.calls.get(p).copied() else {
            return;
        };
        let hedge = self.clients[call.client as usize].hedge.as_ref().unwrap();
        let mut state = call.hedge.unwrap();
        let decision = hedge.on_outcome(&mut state, now, outcome, hint);
        self.calls.get_mut(p).unwrap().hedge = Some(state);
        self.act_on(sched, p, decision, quality);
    }

    /// Kid `kid` of hedged call `p` passed its per-try timeout: while hedges are left it
    /// stays out (its timer restarts) and the next goes now; else it ends as a timeout.
    pub(crate) fn on_per_try_timeout(&mut self, sched: &mut Scheduler<Ev>, p: Handle, kid: Handle) {
        let now = sched.now();
        let call = *self.calls.get(p).unwrap();
        let ci = call.client as usize;
        let hedge = self.clients[ci].hedge.as_ref().unwrap();
        let mut state = call.hedge.unwrap();
        match hedge.on_per_try_timeout(&mut state) {
            PerTryTimeout::HedgeNow => {
                if let Some(t) = self.clients[ci].current_timeout() {
                    let at = (now + t).min(call.deadline);
                    let timer = sched.schedule_timer_at(at, Ev::AttemptTimeout(kid));
                    self.calls.get_mut(kid).unwrap().attempt_timer = Some(timer);
                }
                self.on_hedge_due(sched, p);
            }
            PerTryTimeout::End(decision) => {
                self.calls.get_mut(p).unwrap().hedge = Some(state);
                self.unpark(sched, kid);
                self.release_attempt(sched, kid, Outcome::Timeout);
                self.retire(sched, kid);
                self.act_on(sched, p, decision, Quality::Full);
            }
        }
    }

    fn act_on(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        decision: HedgeDecision,
        quality: Quality,
    ) {
        match decision {
            HedgeDecision::Commit(outcome) => {
                self.abort_kids(sched, h);
                self.finish_call(sched, h, outcome, quality);
            }
            HedgeDecision::SendAt(at) if at <= sched.now() => self.on_hedge_due(sched, h),
            HedgeDecision::SendAt(at) => self.set_hedge_timer(sched, h, Some(at)),
            HedgeDecision::Wait => {}
        }
    }

    /// Aborts every attempt of hedged call `h` still out (the call is over).
    pub(crate) fn abort_kids(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        while let Some(kid) = self.calls.get(h).and_then(|c| c.kids) {
            self.abort_call(sched, kid);
        }
    }
}
