//! Fleets: the instances of each service and their lifecycle (starting, ready, restarting,
//! terminating, gone), the balancers that spread each edge's attempts over the ready ones,
//! outlier ejection, liveness restarts and the autoscaler.
//!
//! One balancer per client edge (the view of a shared proxy, as an Envoy sidecar cluster
//! would have): every instance of the caller routes through it, and its host set follows
//! the callee's endpoints — an instance is in it while it is ready. Health checks and
//! outlier ejection remove hosts from the *healthy* set only; below the panic threshold
//! the balancer uses all of them again.
//!
//! A restart (a failed liveness probe) is brutal, as a killed container is: the instance
//! leaves the endpoints, its queued and running requests fail at once (connection reset),
//! the calls they had made are abandoned, its client stacks start afresh, and it is gone
//! for the restart time before it comes back cold.

use crate::engine::Scheduler;
use crate::policy::balancer::{HostSource, in_panic};
use crate::policy::hpa::{PodUsage, pod_unready};
use crate::policy::outlier::{Changes, HostResult};
use crate::policy::{Outcome, RejectReason};
use crate::sim::metrics::for_each_span;
use crate::sim::slab::Handle;
use crate::sim::state::{Ev, Life, Parent, Quality};
use crate::sim::world::World;
use crate::time::{SimDuration, SimTime};

/// Kubernetes' default `terminationGracePeriodSeconds`.
const TERMINATION_GRACE: SimDuration = SimDuration::from_secs(30);

/// How the outlier detector classifies an attempt's end (Envoy, external and local
/// origin errors not split): timeouts and overload rejections are gateway errors (504,
/// 503), other server errors 5xx, anything else — answers, client errors, 429 — success.
fn host_result(outcome: Outcome) -> HostResult {
    match outcome {
        Outcome::Timeout => HostResult::GatewayError,
        Outcome::ServerError => HostResult::Error5xx,
        Outcome::Rejected(RejectReason::RateLimited) | Outcome::Throttled => HostResult::Success,
        Outcome::Rejected(_) => HostResult::GatewayError,
        Outcome::Success | Outcome::ClientError => HostResult::Success,
    }
}

impl World<'_> {
    /// Schedules what fleets need from the start: probes, outlier sweeps, autoscaler syncs.
    pub(crate) fn start_fleets(&mut self, sched: &mut Scheduler<Ev>) {
        self.start_probers(sched);
        for (e, edge) in self.edges.iter().enumerate() {
            if let Some(o) = &edge.outlier {
                sched.schedule_at(o.next_sweep(), Ev::OutlierSweep(e as u32));
            }
        }
        for (s, svc) in self.services.iter().enumerate() {
            if let Some(h) = &svc.hpa {
                sched.schedule_at(SimTime::at(h.config().sync), Ev::HpaSync(s as u32));
            }
        }
    }

    /// The instance the edge's balancer picks now, `None` when it has no host.
    #[inline]
    pub(crate) fn pick(&mut self, e: u32) -> Option<u32> {
        let edge = &mut self.edges[e as usize];
        let (hosts, source) = if edge.panic {
            (&edge.all, HostSource::All)
        } else {
            (&edge.healthy, HostSource::Healthy)
        };
        if edge.single_host {
            return hosts.first().copied();
        }
        edge.balancer
            .pick(hosts, source, &edge.active, &mut edge.rng)
    }

    /// Whether the edge's health checks and outlier detector let it use `slot`.
    fn host_healthy(&self, e: u32, slot: u32) -> bool {
        let edge = &self.edges[e as usize];
        let checked = edge.checker.is_none_or(|p| {
            self.probers[p as usize]
                .slots
                .get(slot as usize)
                .is_some_and(|s| s.health.is_healthy())
        });
        checked
            && !edge
                .outlier
                .as_ref()
                .is_some_and(|o| o.is_ejected(slot as usize))
    }

    /// Rebuilds an edge's host sets after a change of readiness, health or ejection.
    pub(crate) fn refresh_edge(&mut self, e: u32, now: SimTime) {
        self.touch_edge(e, now);
        let callee = self.edges[e as usize].callee as usize;
        let mut all = std::mem::take(&mut self.edges[e as usize].all);
        let mut healthy = std::mem::take(&mut self.edges[e as usize].healthy);
        all.clear();
        healthy.clear();
        for (slot, inst) in self.services[callee].instances.iter().enumerate() {
            if inst.ready {
                all.push(slot as u32);
                if self.host_healthy(e, slot as u32) {
                    healthy.push(slot as u32);
                }
            }
        }
        let edge = &mut self.edges[e as usize];
        edge.panic = in_panic(healthy.len(), all.len(), edge.panic_threshold);
        edge.all = all;
        edge.healthy = healthy;
    }

    /// Integrates an edge's healthy and ejected host counts up to now.
    pub(crate) fn touch_edge(&mut self, e: u32, now: SimTime) {
        let edge = &mut self.edges[e as usize];
        let from = edge.last_change;
        if now <= from {
            return;
        }
        edge.last_change = now;
        let cm = &mut self.metrics.clients[edge.metric as usize];
        if !cm.fleet {
            return;
        }
        let healthy = edge.healthy.len() as f64;
        let ejected = edge.outlier.as_ref().map_or(0, |o| o.ejected_count()) as f64;
        let n = cm.buckets.len();
        let buckets = &mut cm.buckets;
        for_each_span(self.metrics.bucket, n, from, now, |i, secs| {
            buckets[i].healthy_area += healthy * secs;
            buckets[i].ejected_area += ejected * secs;
        });
    }

    /// Integrates a service's ready instances and replica count up to now.
    pub(crate) fn touch_fleet(&mut self, svc: u32, now: SimTime) {
        let s = &mut self.services[svc as usize];
        let from = s.fleet_last;
        if now <= from {
            return;
        }
        s.fleet_last = now;
        let sm = &mut self.metrics.services[svc as usize];
        if !sm.fleet {
            return;
        }
        let (ready, replicas) = (s.ready as f64, s.replicas as f64);
        let n = sm.buckets.len();
        let buckets = &mut sm.buckets;
        for_each_span(self.metrics.bucket, n, from, now, |i, secs| {
            buckets[i].ready_area += ready * secs;
            buckets[i].replicas_area += replicas * secs;
        });
    }

    /// An instance joins or leaves the endpoints: every edge into the service sees it.
    pub(crate) fn set_ready(
        &mut self,
        sched: &mut Scheduler<Ev>,
        svc: u32,
        slot: u32,
        ready: bool,
    ) {
        let now = sched.now();
        if self.services[svc as usize].instances[slot as usize].ready == ready {
            return;
        }
        self.touch_fleet(svc, now);
        let s = &mut self.services[svc as usize];
        let inst = &mut s.instances[slot as usize];
        inst.ready = ready;
        inst.ready_since = now;
        if ready {
            s.ready += 1;
        } else {
            s.ready -= 1;
        }
        let edges = s.edges_in.clone();
        for e in edges {
            self.touch_edge(e, now);
            let edge = &mut self.edges[e as usize];
            if edge.active.len() <= slot as usize {
                edge.active.resize(slot as usize + 1, 0);
            }
            if let Some(o) = &mut edge.outlier {
                if ready {
                    o.add_host(slot as usize);
                } else {
                    o.remove_host(slot as usize);
                }
            }
            if let Some(p) = edge.checker {
                if ready {
                    self.start_check_session(sched, p, slot);
                } else {
                    self.end_session(p, slot);
                }
            }
            self.refresh_edge(e, now);
        }
    }

    /// An attempt sent to `slot` through edge `e` ended: it no longer counts as active,
    /// and its outcome feeds the edge's outlier detector.
    pub(crate) fn on_host_result(
        &mut self,
        sched: &mut Scheduler<Ev>,
        e: u32,
        slot: u32,
        outcome: Outcome,
    ) {
        let now = sched.now();
        let edge = &mut self.edges[e as usize];
        if let Some(a) = edge.active.get_mut(slot as usize) {
            *a = a.saturating_sub(1);
        }
        if edge.outlier.is_none() {
            return;
        }
        self.touch_edge(e, now);
        let edge = &mut self.edges[e as usize];
        let o = edge.outlier.as_mut().unwrap();
        let changes = o.on_result(
            now,
            slot as usize,
            host_result(outcome),
            &mut edge.outlier_rng,
        );
        self.apply_ejections(e, changes, now);
    }

    /// Counts and applies what the outlier detector changed.
    pub(crate) fn apply_ejections(&mut self, e: u32, changes: Changes, now: SimTime) {
        if !changes.any() {
            return;
        }
        let b = self.metrics.index(now);
        let m = self.edges[e as usize].metric as usize;
        self.metrics.clients[m].buckets[b].ejections += changes.ejected as u64;
        self.refresh_edge(e, now);
    }

    pub(crate) fn on_outlier_sweep(&mut self, sched: &mut Scheduler<Ev>, e: u32) {
        let now = sched.now();
        self.touch_edge(e, now);
        let edge = &mut self.edges[e as usize];
        let o = edge
            .outlier
            .as_mut()
            .expect("sweeps only edges with a detector");
        let changes = o.on_sweep(now, &mut edge.outlier_rng);
        let next = o.next_sweep();
        self.apply_ejections(e, changes, now);
        sched.schedule_at(next, Ev::OutlierSweep(e));
    }

    /// Fails everything the instance holds, as a killed container does: queued and running
    /// requests answer "connection reset" at once; the calls they made are abandoned (their
    /// callees work on for nobody). With `new_process`, the instance's client stacks are
    /// refitted too, so their in-flight outbox replays are abandoned as well.
    fn kill_work(&mut self, sched: &mut Scheduler<Ev>, svc: u32, slot: u32, new_process: bool) {
        let now = sched.now();
        self.touch_instance(svc, slot, now);
        let inst = &mut self.services[svc as usize].instances[slot as usize];
        let mut victims: Vec<Handle> = inst.queue.drain(..).collect();
        inst.dead = 0;
        inst.busy = 0;
        victims.extend(
            self.requests
                .iter()
                .filter(|(_, r)| r.service == svc && r.instance == slot && r.started().is_some())
                .map(|(h, _)| h),
        );
        for h in victims {
            // Cancelled entries of the queue are already gone.
            if self.requests.get(h).is_some() {
                self.respond(sched, h, Outcome::ServerError, Quality::Full);
            }
        }
        let own = &self.services[svc as usize].instances[slot as usize].clients;
        let orphans: Vec<Handle> = self
            .calls
            .iter()
            .filter(|(_, c)| match c.parent {
                Parent::Request(r) => own.contains(&c.client) && self.requests.get(r).is_none(),
                Parent::Outbox { .. } => new_process && own.contains(&c.client),
                _ => false,
            })
            .map(|(h, _)| h)
            .collect();
        for h in orphans {
            if self.calls.get(h).is_some() {
                self.abort_call(sched, h);
            }
        }
    }

    /// A fresh process in the slot: front door and client stacks start afresh.
    fn refit_instance(&mut self, svc: u32, slot: u32, now: SimTime) {
        let fresh = self.new_instance(svc, slot, false, now);
        let inst = &mut self.services[svc as usize].instances[slot as usize];
        inst.rate_limit = fresh.rate_limit;
        inst.shed = fresh.shed;
        inst.limiter = fresh.limiter;
        inst.queue.clear();
        inst.busy = 0;
        self.equip_instance(svc, slot, now);
    }

    /// The liveness probe failed: the container is killed and restarted.
    pub(crate) fn restart_instance(&mut self, sched: &mut Scheduler<Ev>, svc: u32, slot: u32) {
        let now = sched.now();
        let restart = self.model.services[svc as usize]
            .liveness
            .expect("only liveness restarts")
            .restart;
        let b = self.metrics.index(now);
        self.metrics.services[svc as usize].buckets[b].restarts += 1;
        self.set_ready(sched, svc, slot, false);
        self.kill_work(sched, svc, slot, true);
        self.refit_instance(svc, slot, now);
        let inst = &mut self.services[svc as usize].instances[slot as usize];
        inst.life = Life::Starting;
        inst.incarnation += 1;
        inst.restarts += 1;
        sched.schedule_at(
            now + restart,
            Ev::InstanceUp {
                service: svc,
                slot,
                incarnation: inst.incarnation,
            },
        );
    }

    /// A container finished starting: it runs (cold), and is ready at once unless a
    /// readiness probe must pass first.
    pub(crate) fn on_instance_up(
        &mut self,
        sched: &mut Scheduler<Ev>,
        svc: u32,
        slot: u32,
        incarnation: u32,
    ) {
        let now = sched.now();
        let model = &self.model.services[svc as usize];
        let inst = &mut self.services[svc as usize].instances[slot as usize];
        if inst.incarnation != incarnation || inst.life != Life::Starting {
            return;
        }
        self.touch_instance(svc, slot, now);
        let inst = &mut self.services[svc as usize].instances[slot as usize];
        inst.life = Life::Running;
        inst.pending = false;
        inst.started_at = now;
        inst.warm_until = model.warmup.map_or(SimTime::ZERO, |w| now + w.duration);
        for p in self.services[svc as usize].probers.clone() {
            if let Some(s) = self.probers[p as usize].slots.get_mut(slot as usize) {
                s.state.on_container_start();
            }
        }
        if model.readiness.is_none() {
            self.set_ready(sched, svc, slot, true);
        }
    }

    /// The autoscaler asks for one more instance: a free slot or a new one; it starts now
    /// and serves after its start time (and readiness).
    fn add_instance(&mut self, sched: &mut Scheduler<Ev>, svc: u32) {
        let now = sched.now();
        let startup = self.model.services[svc as usize]
            .autoscale
            .expect("only the autoscaler adds instances")
            .startup;
        let slot = match self.services[svc as usize]
            .instances
            .iter()
            .position(|i| i.life == Life::Gone)
        {
            Some(s) => {
                self.refit_instance(svc, s as u32, now);
                s as u32
            }
            None => {
                let slot = self.services[svc as usize].instances.len() as u32;
                let inst = self.new_instance(svc, slot, false, now);
                self.services[svc as usize].instances.push(inst);
                self.equip_instance(svc, slot, now);
                slot
            }
        };
        // Its time as a gone slot counts as nothing.
        self.integrate_instance(svc, slot, now, [0, 0]);
        let inst = &mut self.services[svc as usize].instances[slot as usize];
        inst.life = Life::Starting;
        inst.incarnation += 1;
        inst.busy_mark = inst.busy_ns;
        inst.created_at = Some(now);
        inst.pending = true;
        inst.restarts = 0;
        let incarnation = inst.incarnation;
        self.start_workers(sched, svc, slot);
        sched.schedule_at(
            now + startup,
            Ev::InstanceUp {
                service: svc,
                slot,
                incarnation,
            },
        );
    }

    /// The autoscaler removes an instance: out of the endpoints at once, then it finishes
    /// what it holds (at most the grace period) and is gone. A starting one just goes.
    fn remove_instance(&mut self, sched: &mut Scheduler<Ev>, svc: u32, slot: u32) {
        let now = sched.now();
        if self.services[svc as usize].instances[slot as usize].life == Life::Starting {
            return self.instance_gone(sched, svc, slot);
        }
        self.set_ready(sched, svc, slot, false);
        let inst = &mut self.services[svc as usize].instances[slot as usize];
        inst.life = Life::Terminating;
        let incarnation = inst.incarnation;
        if inst.busy == 0 && inst.queued() == 0 {
            return self.instance_gone(sched, svc, slot);
        }
        sched.schedule_at(
            now + TERMINATION_GRACE,
            Ev::GraceEnd {
                service: svc,
                slot,
                incarnation,
            },
        );
    }

    pub(crate) fn on_grace_end(
        &mut self,
        sched: &mut Scheduler<Ev>,
        svc: u32,
        slot: u32,
        incarnation: u32,
    ) {
        let inst = &self.services[svc as usize].instances[slot as usize];
        if inst.incarnation == incarnation && inst.life == Life::Terminating {
            self.kill_work(sched, svc, slot, false);
            self.instance_gone(sched, svc, slot);
        }
    }

    /// The instance is gone: its probers stop; the slot may be reused.
    pub(crate) fn instance_gone(&mut self, sched: &mut Scheduler<Ev>, svc: u32, slot: u32) {
        let now = sched.now();
        self.touch_instance(svc, slot, now);
        self.set_ready(sched, svc, slot, false);
        let inst = &mut self.services[svc as usize].instances[slot as usize];
        inst.life = Life::Gone;
        inst.incarnation += 1;
        for p in self.services[svc as usize].probers.clone() {
            self.end_session(p, slot);
        }
    }

    /// Sets the replica count the fleet should run, tracking the total and its peak.
    fn set_replicas(&mut self, svc: u32, n: u32, now: SimTime) {
        self.touch_fleet(svc, now);
        let s = &mut self.services[svc as usize];
        self.replicas_total = self.replicas_total - s.replicas + n;
        self.peak_replicas = self.peak_replicas.max(self.replicas_total);
        s.replicas = n;
    }

    /// One autoscaler sync: utilisation of each ready instance over the last period, the
    /// controller's recommendation, and the instances added or removed to follow it.
    pub(crate) fn on_hpa_sync(&mut self, sched: &mut Scheduler<Ev>, svc: u32) {
        let now = sched.now();
        let n = self.services[svc as usize].instances.len();
        for slot in 0..n {
            self.touch_instance(svc, slot as u32, now);
        }
        let s = &mut self.services[svc as usize];
        let last = s.last_sync;
        let window = now - last;
        let mut pods = std::mem::take(&mut s.pods);
        pods.clear();
        for inst in &mut s.instances {
            let request = inst.workers as i64 * 1000;
            let busy = inst.busy_ns - inst.busy_mark;
            inst.busy_mark = inst.busy_ns;
            let idle = PodUsage { usage: 0, request };
            match inst.life {
                Life::Terminating | Life::Gone => {}
                // A pod being scheduled is Pending; a restarting container has no usage.
                Life::Starting if inst.pending => pods.unready.push(idle),
                Life::Starting => pods.missing.push(idle),
                Life::Running => {
                    if pod_unready(now, inst.created_at, inst.ready, inst.ready_since, window)
                        || window.is_zero()
                    {
                        pods.unready.push(idle);
                    } else {
                        pods.ready.push(PodUsage {
                            usage: (busy * 1000 / window.as_nanos() as u128) as i64,
                            request,
                        });
                    }
                }
            }
        }
        s.last_sync = now;
        let current = s.replicas;
        let sync = s
            .hpa
            .as_ref()
            .expect("syncs only autoscaled services")
            .config()
            .sync;
        let desired = s.hpa.as_mut().unwrap().reconcile(now, current, &pods);
        s.pods = pods;
        if desired > current {
            for _ in current..desired {
                self.add_instance(sched, svc);
            }
        } else if desired < current {
            for _ in desired..current {
                if let Some(slot) = self.scale_down_victim(svc) {
                    self.remove_instance(sched, svc, slot);
                }
            }
        }
        if desired != current {
            self.set_replicas(svc, desired, now);
        }
        sched.schedule_at(now + sync, Ev::HpaSync(svc));
    }

    /// Which instance a scale-down removes, by the ReplicaSet's ranking: not yet running
    /// first, then not ready, then the most recently ready, then the most restarted, then
    /// the newest slot.
    fn scale_down_victim(&self, svc: u32) -> Option<u32> {
        self.services[svc as usize]
            .instances
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i.life, Life::Starting | Life::Running))
            .max_by_key(|(slot, i)| {
                (
                    i.life == Life::Starting,
                    !i.ready,
                    i.ready_since,
                    i.restarts,
                    *slot,
                )
            })
            .map(|(slot, _)| slot as u32)
    }

    /// Stops the session (health check) or worker (kubelet) of `prober` for `slot`.
    pub(crate) fn end_session(&mut self, prober: u32, slot: u32) {
        if let Some(s) = self.probers[prober as usize].slots.get_mut(slot as usize) {
            s.session += 1;
            s.active = false;
        }
    }
}
