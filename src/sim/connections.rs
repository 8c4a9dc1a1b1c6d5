//! Held connections: a `{ hold = "db", steps = [...] }` step takes one connection of a
//! shared pool (waiting up to the pool's `max_wait`) and keeps it through the nested
//! steps — so a request blocked on a slow call keeps its connection, and every other
//! endpoint needing the pool waits. A request gives back what it holds however it ends:
//! answered, failed, cancelled or killed with its instance.

use crate::engine::Scheduler;
use crate::model::graph::Step;
use crate::policy::bulkhead::Acquire;
use crate::policy::{Outcome, RejectReason};
use crate::sim::metrics::reason_index;
use crate::sim::slab::Handle;
use crate::sim::state::{Ev, Quality, Request, Waiter};
use crate::sim::world::World;
use crate::time::SimTime;

impl World<'_> {
    /// Request `h` is at a hold step of `pool`: it takes a connection and goes on (its
    /// handle is returned to run the next step now), or waits for one, or fails.
    pub(crate) fn take_connection(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        pool: u32,
    ) -> Option<Handle> {
        let now = sched.now();
        let acquired = self.pools[pool as usize].try_acquire(now, Waiter::Request(h));
        self.touch_pool(pool, now);
        match acquired {
            Acquire::Admitted => {
                self.requests.get_mut(h).unwrap().step += 1;
                return Some(h);
            }
            Acquire::Queued { give_up_at } => {
                self.requests.get_mut(h).unwrap().on_pool = true;
                if give_up_at < SimTime::MAX {
                    sched.schedule_timer_at(give_up_at, Ev::HoldExpired(h));
                }
            }
            Acquire::Rejected(_) => self.fail_for_connection(sched, h),
        }
        None
    }

    /// A request was handed its connection: its next step runs (if it is still there).
    pub(crate) fn on_step(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        if self.requests.get(h).is_some() {
            self.run_step(sched, h);
        }
    }

    /// A connection released by a pool goes to request `r`, waiting at its hold step.
    pub(crate) fn hand_connection(&mut self, sched: &mut Scheduler<Ev>, r: Handle) {
        if let Some(req) = self.requests.get_mut(r) {
            req.on_pool = false;
            req.step += 1;
            sched.schedule_at(sched.now(), Ev::Step(r));
        }
    }

    /// Request `h` waited its pool's `max_wait` at a hold step without a connection: it
    /// fails (a 500 to its caller; counted as `bulkhead_full` here).
    pub(crate) fn on_hold_expired(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let now = sched.now();
        let Some(req) = self.requests.get(h).copied() else {
            return;
        };
        let Some(Step::Hold { pool }) = self.model.endpoints[req.endpoint as usize]
            .steps
            .get(req.step as usize)
        else {
            return;
        };
        if !req.on_pool || !self.pools[*pool as usize].on_wait_expired(now, Waiter::Request(h)) {
            return;
        }
        self.touch_pool(*pool, now);
        self.requests.get_mut(h).unwrap().on_pool = false;
        self.fail_for_connection(sched, h);
    }

    pub(crate) fn fail_for_connection(&mut self, sched: &mut Scheduler<Ev>, h: Handle) {
        let b = self.metrics.index(sched.now());
        let svc = self.requests.get(h).unwrap().service as usize;
        self.metrics.services[svc].buckets[b].rejected[reason_index(RejectReason::BulkheadFull)] +=
            1;
        self.complete(sched, h, Outcome::ServerError, Quality::Full);
    }

    /// Gives back the connections request `req` holds (it is ending), and takes it out of
    /// a pool's queue if it waits there.
    pub(crate) fn release_held(&mut self, sched: &mut Scheduler<Ev>, h: Handle, req: &Request) {
        let endpoint = &self.model.endpoints[req.endpoint as usize];
        if req.on_pool
            && let Some(Step::Hold { pool }) = endpoint.steps.get(req.step as usize)
        {
            self.pools[*pool as usize].cancel(Waiter::Request(h));
            self.touch_pool(*pool, sched.now());
        }
        if req.started().is_none() {
            return;
        }
        for pool in endpoint.held_at(req.step as usize) {
            self.release_pool(sched, pool);
        }
    }
}
