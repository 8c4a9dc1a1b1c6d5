//! The end of a call: permits released, timers cancelled, budget told, fallback applied,
//! parent notified; or, when the caller stopped, the call abandoned (and cancelled
//! downstream where the edge cancels). Outbox replays live here too.

use crate::engine::Scheduler;
use crate::policy::Outcome;
use crate::policy::fallback::{DrainOutcome, FallbackAnswer};
use crate::sim::metrics::FailReason;
use crate::sim::slab::Handle;
use crate::sim::state::{
    Call, Ev, HOLD_ACTIVE, HOLD_BREAKER, HOLD_BULKHEAD, HOLD_POOL, NONE, Parent, Phase, Quality,
    intent_id,
};
use crate::sim::world::World;
use crate::time::SimTime;

impl World<'_> {
    /// Ends a call for good: outer permits released, timers cancelled, budget told,
    /// fallback applied, parent notified.
    pub(crate) fn finish_call(
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
        if let Parent::Hedge(p) = call.parent {
            self.retire(sched, h);
            if let Some(pc) = self.calls.get_mut(p) {
                pc.cause = call.cause;
            }
            return self.on_attempt_done(sched, p, outcome, quality, call.hint());
        }
        self.abort_kids(sched, h);
        for t in [call.call_timer, call.step_timer, call.attempt_timer]
            .into_iter()
            .flatten()
        {
            sched.cancel(t);
        }
        let cause =
            FailReason::of(outcome, FailReason::from_index(call.cause as usize)).index() as u8;
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
                let intent = intent_id(call.workload, call.target, self.intent_seq as u32);
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
            Parent::Request(r) => {
                self.on_call_done(sched, r, call.critical, outcome, quality, cause)
            }
            Parent::User { workload, client } => self.on_user_done(
                sched,
                workload,
                client,
                call.started,
                outcome,
                quality,
                cause,
            ),
            Parent::Outbox { seq, attempt } => {
                let intent = intent_id(call.workload, call.target, seq);
                let ok = outcome.is_success();
                self.on_replay_done(sched, call.client, intent, attempt, ok)
            }
            Parent::Probe {
                prober,
                slot,
                session,
            } => self.on_probe_done(sched, prober, slot, session, outcome),
            Parent::Hedge(_) => unreachable!("attempts of a hedged call retire above"),
        }
    }

    /// Removes call `h`, whose permits are released: its timers go, its parent's list
    /// forgets it.
    pub(crate) fn retire(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let call = *self.calls.get(h).unwrap();
        for t in [call.call_timer, call.step_timer, call.attempt_timer]
            .into_iter()
            .flatten()
        {
            sched.cancel(t);
        }
        self.unlink(h, &call);
        self.calls.remove(h);
    }

    /// An outbox replay ended (or was cut short by a restart: a failure).
    pub(crate) fn on_replay_done(
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
    pub(crate) fn give_up_on(&mut self, sched: &mut Scheduler<Ev>, ci: usize, r: Handle) {
        if self.clients[ci].cancel {
            self.cancel_request(sched, r);
        } else if let Some(req) = self.requests.get_mut(r) {
            req.abandoned_at = req.abandoned_at.min(sched.now());
        }
    }

    /// Takes call `h` off its parent's list: a request's calls (a handful: one step's) or
    /// a hedged call's attempts (at most five).
    pub(crate) fn unlink(&mut self, h: Handle, call: &Call) {
        let sibling = self.calls.get(h).and_then(|c| c.sibling);
        let head = match call.parent {
            Parent::Request(r) => match self.requests.get_mut(r) {
                Some(req) => &mut req.children,
                None => return,
            },
            Parent::Hedge(p) => match self.calls.get_mut(p) {
                Some(c) => &mut c.kids,
                None => return,
            },
            _ => return,
        };
        if *head == Some(h) {
            *head = sibling;
            return;
        }
        let mut at = *head;
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
        self.abort_kids(sched, h);
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
        if call.holds & HOLD_BREAKER != 0 {
            // Its answer will never come: the breaker frees the permit and records nothing.
            let b = call.breaker as usize;
            self.breakers[b].breaker.on_ignored(sched.now());
            self.observe_breaker(sched, call.breaker);
        }
        self.unlink(h, &call);
        self.calls.remove(h);
        if let Parent::Outbox { seq, attempt } = call.parent {
            let intent = intent_id(call.workload, call.target, seq);
            self.on_replay_done(sched, call.client, intent, attempt, false);
        }
    }

    /// Asks the outbox of `client` when to drain next, and schedules it.
    pub(crate) fn schedule_drain(&mut self, sched: &mut Scheduler<Ev>, client: u32) {
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
        if self.diverged.is_some() {
            return;
        }
        while let Some((intent, attempt)) = self.clients[client as usize]
            .fallback
            .outbox_mut()
            .and_then(|o| o.take_due(now))
        {
            // A replay that fails at once with an immediate back-off is due again at
            // once: it would loop here in zero simulated time, where no guard step is
            // ever reached. More replays at one instant than the live-state guard allows
            // are that loop.
            if self.replay_instant != now {
                (self.replay_instant, self.replays_at_instant) = (now, 0);
            }
            self.replays_at_instant += 1;
            if self.replays_at_instant > self.cfg.max_in_flight {
                let cause =
                    crate::sim::report::DivergenceCause::ZeroTimeLoop(self.replays_at_instant);
                self.diverge(cause, now);
                if let Some(d) = &mut self.diverged {
                    let name = &self.model.clients[client as usize].name;
                    d.edge = Some(name.replace('→', "->"));
                }
                return;
            }
            let target = ((intent >> 32) & 0xff_ffff) as u32;
            let workload = (intent >> 56) as u8;
            self.start_call(
                sched,
                Parent::Outbox {
                    seq: intent as u32,
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
