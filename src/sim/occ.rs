//! Optimistic concurrency control: `occ` resources (one versioned record each) and the
//! `occ_read` / `occ_write` steps that race on them — the contended resource of the AWS
//! "Exponential Backoff and Jitter" study, where work fails *because others succeeded
//! first*.
//!
//! Mechanism (as the blog's `OccServer`): a read answers the record's current version; a
//! write carries the version its request read and succeeds only if the record still has
//! it, bumping the version, else it is a `conflict`: the request fails as a server error
//! (so `retry_on = ["server_error"]`, the default, retries it) whose root cause is
//! `conflict`. Both steps take no time: the server is infinitely fast, all delay is the
//! network's and the back-off's.
//!
//! Where the version lives: with the user request, across calls. A read is remembered by
//! its own request and by every request up the chain that is still waiting on it (the
//! version travels back with the answers), so `client.update = [call db.read, call
//! db.write]` writes with the version its read returned. A write looks for the version
//! in its own request first, then up the chain, and takes the nearest. An abandoned
//! attempt's read stays with that attempt (its caller moved on). A retry of the caller
//! repeats the whole read-then-write sequence in a fresh request, so it reads again; a
//! retry of the write call alone resends the version already held (and conflicts again
//! if the record moved on: the lint warns). A write with no read before it in its request
//! chain cannot prove the record unchanged: it conflicts.
//!
//! Memory: per resource, one slot per request slab index (a handle, so a reused slot
//! never leaks an earlier request's version); nothing is allocated per event once the
//! table has grown to the peak of live requests.

use crate::engine::Scheduler;
use crate::policy::Outcome;
use crate::sim::metrics::FailReason;
use crate::sim::slab::Handle;
use crate::sim::state::{Ev, Parent, Quality};
use crate::sim::world::World;

/// Runtime state of one `occ` resource.
#[derive(Debug, Default)]
pub(crate) struct OccRt {
    /// The record's version (bumped by every successful write).
    version: u64,
    /// Per request slot: the request that read and the version it read.
    reads: Vec<Option<(Handle, u64)>>,
}

impl OccRt {
    fn remember(&mut self, r: Handle, version: u64) {
        let i = r.index() as usize;
        if self.reads.len() <= i {
            self.reads.resize(i + 1, None);
        }
        self.reads[i] = Some((r, version));
    }

    fn recalled(&self, r: Handle) -> Option<u64> {
        match self.reads.get(r.index() as usize) {
            Some(&Some((h, v))) if h == r => Some(v),
            _ => None,
        }
    }
}

impl World<'_> {
    /// The request that made the call request `r` answers, if any (through a hedged
    /// call's attempt to the hedged call's parent). With `waiting`, only while the call
    /// still waits on `r` (an abandoned attempt's answer reaches nobody).
    fn caller_request(&self, r: Handle, waiting: bool) -> Option<Handle> {
        let req = self.requests.get(r)?;
        let mut call = self.calls.get(req.origin)?;
        if waiting && call.attempt_req != Some(r) {
            return None;
        }
        loop {
            match call.parent {
                Parent::Request(p) => return Some(p),
                Parent::Hedge(c) => call = self.calls.get(c)?,
                _ => return None,
            }
        }
    }

    /// Runs an `occ_read` step of request `h`: the version is remembered up the chain.
    pub(crate) fn occ_read(&mut self, h: Handle, resource: u32) -> Option<Handle> {
        let version = self.occ[resource as usize].version;
        let mut at = Some(h);
        while let Some(r) = at {
            self.occ[resource as usize].remember(r, version);
            at = self.caller_request(r, true);
        }
        self.requests.get_mut(h)?.step += 1;
        Some(h)
    }

    /// Runs an `occ_write` step of request `h`: succeeds (the next step runs now) or
    /// fails the request as a conflict.
    pub(crate) fn occ_write(
        &mut self,
        sched: &mut Scheduler<Ev>,
        h: Handle,
        resource: u32,
    ) -> Option<Handle> {
        let now = sched.now();
        let mut read = None;
        let mut at = Some(h);
        while let (Some(r), None) = (at, read) {
            read = self.occ[resource as usize].recalled(r);
            at = self.caller_request(r, false);
        }
        let b = self.metrics.index(now);
        let rt = &mut self.occ[resource as usize];
        let m = &mut self.metrics.resources[resource as usize];
        m.writes += 1;
        m.writes_per_bucket[b] += 1;
        if read == Some(rt.version) {
            rt.version += 1;
            self.requests.get_mut(h)?.step += 1;
            return Some(h);
        }
        m.conflicts += 1;
        m.conflicts_per_bucket[b] += 1;
        self.requests.get_mut(h)?.cause = FailReason::Conflict.index() as u8;
        self.complete(sched, h, Outcome::ServerError, Quality::Full);
        None
    }
}
