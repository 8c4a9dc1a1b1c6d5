//! Probers: Envoy active health checks from an edge, and the kubelet's readiness and
//! liveness probes of a service. Each check is a real request pinned to one instance: it
//! waits in that instance's queue and needs one of its workers, so a saturated instance
//! fails its checks like a dead one (the mechanism of the load-balancer death spiral and of
//! the liveness restart storm).
//!
//! Timing follows the libraries ([`crate::policy::health_check`],
//! [`crate::policy::probe`]): a health check is armed `interval` after the previous
//! result; a kubelet probe runs on the pod's ticker, one at a time, with one tick buffered
//! while a slow probe runs. A session (health check) lives while its host is in the edge's
//! endpoints; a worker (kubelet) while its pod exists. Results of an earlier session,
//! worker or container are ignored.

use crate::engine::Scheduler;
use crate::policy::Outcome;
use crate::policy::health_check::{CheckFailure, HealthTransition, HostHealth};
use crate::policy::probe::{ProbeKind, ProbeState, ProbeTicker};
use crate::sim::state::{Ev, Life, Parent, ProbeSlot, ProberKind};
use crate::sim::world::World;
use crate::time::SimTime;

impl World<'_> {
    /// The prober's slot for `slot`, made if the fleet grew.
    fn probe_slot(&mut self, p: u32, slot: u32) -> &mut ProbeSlot {
        let slots = &mut self.probers[p as usize].slots;
        if slots.len() <= slot as usize {
            slots.resize(
                slot as usize + 1,
                ProbeSlot {
                    session: 0,
                    active: false,
                    health: HostHealth::added(),
                    state: ProbeState::fresh(ProbeKind::Readiness),
                    ticker: ProbeTicker::new(SimTime::ZERO),
                    sent_to: 0,
                },
            );
        }
        &mut slots[slot as usize]
    }

    /// The first checks and ticks of the instances that exist at the start, at the random
    /// phases they were given.
    pub(crate) fn start_probers(&mut self, sched: &mut Scheduler<Ev>) {
        for (p, prober) in self.probers.iter().enumerate() {
            for (slot, s) in prober.slots.iter().enumerate() {
                if s.active {
                    sched.schedule_at(
                        s.ticker.next_tick(),
                        Ev::ProbeTick {
                            prober: p as u32,
                            slot: slot as u32,
                            session: s.session,
                        },
                    );
                }
            }
        }
    }

    /// A host joined the edge's endpoints: Envoy counts it unhealthy until its first
    /// check, which starts now.
    pub(crate) fn start_check_session(&mut self, sched: &mut Scheduler<Ev>, p: u32, slot: u32) {
        let now = sched.now();
        let s = self.probe_slot(p, slot);
        s.session += 1;
        s.active = true;
        s.health = HostHealth::added();
        let session = s.session;
        sched.schedule_at(
            now,
            Ev::ProbeTick {
                prober: p,
                slot,
                session,
            },
        );
    }

    /// A pod was created in `slot`: its kubelet probe workers start ticking now.
    pub(crate) fn start_workers(&mut self, sched: &mut Scheduler<Ev>, svc: u32, slot: u32) {
        let now = sched.now();
        for p in self.services[svc as usize].probers.clone() {
            let ProberKind::Kubelet { kind, .. } = self.probers[p as usize].kind else {
                continue;
            };
            let s = self.probe_slot(p, slot);
            s.session += 1;
            s.active = true;
            s.state = ProbeState::fresh(kind);
            s.ticker = ProbeTicker::new(now);
            let session = s.session;
            sched.schedule_at(
                now,
                Ev::ProbeTick {
                    prober: p,
                    slot,
                    session,
                },
            );
        }
    }

    pub(crate) fn on_probe_tick(
        &mut self,
        sched: &mut Scheduler<Ev>,
        p: u32,
        slot: u32,
        session: u32,
    ) {
        let s = &self.probers[p as usize].slots[slot as usize];
        if s.session != session || !s.active {
            return;
        }
        match self.probers[p as usize].kind {
            ProberKind::Check { .. } => self.send_probe(sched, p, slot),
            ProberKind::Kubelet { timing, .. } => {
                let s = &mut self.probers[p as usize].slots[slot as usize];
                let go = s.ticker.on_tick(timing.period);
                sched.schedule_at(
                    s.ticker.next_tick(),
                    Ev::ProbeTick {
                        prober: p,
                        slot,
                        session,
                    },
                );
                if go {
                    self.kubelet_probe(sched, p, slot);
                }
            }
        }
    }

    /// One `doProbe`: nothing for a container that is not running, a worker on hold or
    /// before the initial delay; else the probe request.
    fn kubelet_probe(&mut self, sched: &mut Scheduler<Ev>, p: u32, slot: u32) {
        let now = sched.now();
        let prober = &self.probers[p as usize];
        let ProberKind::Kubelet { timing, .. } = prober.kind else {
            return;
        };
        let inst = &self.services[prober.service as usize].instances[slot as usize];
        let s = &prober.slots[slot as usize];
        if inst.life != Life::Running
            || s.state.on_hold()
            || !timing.past_initial_delay(inst.started_at, now)
        {
            return;
        }
        let incarnation = inst.incarnation;
        let s = &mut self.probers[p as usize].slots[slot as usize];
        s.ticker.on_probe_start();
        s.sent_to = incarnation;
        self.send_probe(sched, p, slot);
    }

    fn send_probe(&mut self, sched: &mut Scheduler<Ev>, p: u32, slot: u32) {
        let prober = &self.probers[p as usize];
        let (client, endpoint) = (prober.client, prober.endpoint);
        let session = prober.slots[slot as usize].session;
        self.start_call(
            sched,
            Parent::Probe {
                prober: p,
                slot,
                session,
            },
            client,
            endpoint,
            true,
            SimTime::MAX,
            0,
            0,
            slot,
        );
    }

    /// A check or probe ended.
    pub(crate) fn on_probe_done(
        &mut self,
        sched: &mut Scheduler<Ev>,
        p: u32,
        slot: u32,
        session: u32,
        outcome: Outcome,
    ) {
        let now = sched.now();
        let s = &self.probers[p as usize].slots[slot as usize];
        if s.session != session || !s.active {
            return;
        }
        let ok = outcome.is_success();
        match self.probers[p as usize].kind.clone() {
            ProberKind::Check { edge, config } => {
                let s = &mut self.probers[p as usize].slots[slot as usize];
                let t = if ok {
                    s.health.on_success(&config)
                } else if outcome == Outcome::Timeout {
                    s.health.on_failure(&config, CheckFailure::Network)
                } else {
                    s.health.on_failure(&config, CheckFailure::Response)
                };
                if ok {
                    self.touch_edge(edge, now);
                    if let Some(o) = &mut self.edges[edge as usize].outlier {
                        let changes = o.on_health_check_success(now, slot as usize);
                        self.apply_ejections(edge, changes, now);
                    }
                }
                if t == HealthTransition::Changed {
                    self.refresh_edge(edge, now);
                }
                sched.schedule_at(
                    now + config.interval,
                    Ev::ProbeTick {
                        prober: p,
                        slot,
                        session,
                    },
                );
            }
            ProberKind::Kubelet { kind, timing } => {
                let svc = self.probers[p as usize].service;
                let inst = &self.services[svc as usize].instances[slot as usize];
                let current = inst.life == Life::Running
                    && inst.incarnation == self.probers[p as usize].slots[slot as usize].sent_to;
                if current {
                    let s = &mut self.probers[p as usize].slots[slot as usize];
                    match (kind, s.state.on_result(&timing, ok)) {
                        (ProbeKind::Readiness, Some(ready)) => {
                            self.set_ready(sched, svc, slot, ready)
                        }
                        (ProbeKind::Liveness, Some(false)) => {
                            self.restart_instance(sched, svc, slot)
                        }
                        _ => {}
                    }
                }
                let s = &mut self.probers[p as usize].slots[slot as usize];
                if s.session == session && s.ticker.on_probe_end() {
                    self.kubelet_probe(sched, p, slot);
                }
            }
        }
    }
}
