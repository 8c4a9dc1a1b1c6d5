//! Permits of a client stack: waiting in a bulkhead or connection-pool queue, being handed
//! a permit, and giving permits back (bulkhead, pool, breaker).

use crate::engine::Scheduler;
use crate::policy::{Outcome, RejectReason};
use crate::sim::slab::Handle;
use crate::sim::state::{Call, Ev, HOLD_BREAKER, HOLD_BULKHEAD, HOLD_POOL, NONE, Phase, Waiter};
use crate::sim::world::World;
use crate::time::SimTime;

impl World<'_> {
    /// Parks the call in a bulkhead or pool queue until a permit or `give_up_at`.
    pub(crate) fn park(&mut self, sched: &mut Scheduler<Ev>, h: Handle, give_up_at: SimTime) {
        let t = (give_up_at < SimTime::MAX)
            .then(|| sched.schedule_timer_at(give_up_at, Ev::WaitExpired(h)));
        let c = self.calls.get_mut(h).unwrap();
        c.phase = Phase::Waiting;
        c.step_timer = t;
    }

    /// Whether a parked call waits on its pool (else on its bulkhead).
    pub(crate) fn waits_on_pool(&self, call: &Call) -> bool {
        call.stage as usize >= self.clients[call.client as usize].layers.len()
    }

    /// Removes a parked call from its queue (it stopped waiting for another reason).
    pub(crate) fn unpark(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
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
            self.pools[p as usize].cancel(Waiter::Call(h));
            self.touch_pool(p, sched.now());
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
            let expired = self.pools[p as usize].on_wait_expired(now, Waiter::Call(h));
            self.touch_pool(p, now);
            expired
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
    pub(crate) fn grant(&mut self, sched: &mut Scheduler<Ev>, w: Handle, pool: bool) {
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

    pub(crate) fn release_bulkhead(&mut self, sched: &mut Scheduler<Ev>, client: usize) {
        let now = sched.now();
        if let Some(w) = self.clients[client]
            .bulkhead
            .as_mut()
            .and_then(|bh| bh.release(now))
        {
            self.grant(sched, w, false);
        }
    }

    pub(crate) fn release_pool(&mut self, sched: &mut Scheduler<Ev>, pool: u32) {
        let now = sched.now();
        let next = self.pools[pool as usize].release(now);
        self.touch_pool(pool, now);
        match next {
            Some(Waiter::Call(w)) => self.grant(sched, w, true),
            Some(Waiter::Request(r)) => self.hand_connection(sched, r),
            None => {}
        }
    }

    pub(crate) fn release_breaker(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        outcome: Outcome,
    ) {
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
}
