//! Building the runtime state of one run from the validated model: instances, client
//! stacks (one per caller instance, so each process has its own bulkheads, breakers and
//! budgets, as with in-process libraries), edges with their balancers, probers, breakers
//! and workloads. Policies were validated with the model, so building them cannot fail.
//!
//! Runtime ids are laid out so that a model without fleets gets exactly the ids (and so
//! the random streams) it always had: client stacks of the first instance take the model
//! clients' ids, then come the workloads' users, the probers', and the stacks of further
//! instances.

use std::collections::VecDeque;

use crate::engine::{SimRng, StreamKind};
use crate::model::graph::Arrivals;
use crate::model::spec::{BreakerScope, Layer};
use crate::policy::balancer::Balancer;
use crate::policy::budget::RetryBudget;
use crate::policy::bulkhead::Bulkhead;
use crate::policy::circuit_breaker::{BreakerState, CircuitBreaker};
use crate::policy::concurrency_limit::SimpleLimiter;
use crate::policy::fallback::Fallback;
use crate::policy::health_check::HostHealth;
use crate::policy::hpa::Hpa;
use crate::policy::outlier::OutlierDetector;
use crate::policy::probe::{ProbeKind, ProbeState, ProbeTicker};
use crate::policy::rate_limit::RateLimiter;
use crate::policy::shedding::PriorityShedder;
use crate::policy::timeout::AdaptiveTimeout;
use crate::sim::metrics::StepArea;
use crate::sim::state::{
    BreakerRt, ClientRt, EdgeRt, InstanceRt, Life, NONE, ProbeSlot, ProberKind, ProberRt,
    ServiceRt, WorkloadRt,
};
use crate::sim::world::World;
use crate::time::{SimDuration, SimTime};
use rand::Rng;

/// A uniformly random instant within the first `period`, whole nanoseconds.
fn random_phase(period: SimDuration, rng: &mut SimRng) -> SimTime {
    SimTime::from_nanos(rng.random_range(0..period.as_nanos().max(1)))
}

fn layer_pos(layers: &[Layer], l: Layer) -> usize {
    layers.iter().position(|x| *x == l).unwrap_or(0)
}

/// A stack with only a timeout (probers, users).
fn bare_client(
    timeout: SimDuration,
    retry: Option<crate::policy::retry::Retry>,
    jitter: SimRng,
    net_rng: SimRng,
    metric: u32,
) -> ClientRt {
    ClientRt {
        layers: vec![
            Layer::Bulkhead,
            Layer::Breaker,
            Layer::Retry,
            Layer::Timeout,
        ],
        retry_pos: 2,
        timeout: Some(timeout),
        adaptive: None,
        timeout_outer: false,
        total_timeout: None,
        retry,
        hedge: None,
        rate_limit: None,
        budget: None,
        breaker: None,
        instance_breakers: None,
        breaker_outer: false,
        bulkhead: None,
        bulkhead_outer: false,
        pool: None,
        fallback: Fallback::Error,
        drain_at: None,
        network: None,
        jitter,
        net_rng,
        edge: NONE,
        metric,
        model: NONE,
        caller: NONE,
        cancel: false,
    }
}

impl<'m> World<'m> {
    /// A fresh instance of `svc` in slot `slot` (its container not started yet unless
    /// `running`).
    pub(crate) fn new_instance(
        &self,
        svc: u32,
        slot: u32,
        running: bool,
        now: SimTime,
    ) -> InstanceRt {
        let s = &self.model.services[svc as usize];
        let i = svc;
        // The first instance keeps the streams a single-instance service always had.
        let (init, run) = if slot == 0 {
            (
                self.streams.stream(StreamKind::Service, 1_000_000 + i),
                self.streams.stream(StreamKind::Service, 2_000_000 + i),
            )
        } else {
            let key = (i << 16) | slot;
            (
                self.streams.stream(StreamKind::Instance, key),
                self.streams.stream(StreamKind::Instance, key | 1 << 31),
            )
        };
        let mut init = init;
        InstanceRt {
            life: if running {
                Life::Running
            } else {
                Life::Starting
            },
            incarnation: 0,
            workers: s.workers,
            busy: 0,
            queue: VecDeque::new(),
            dead: 0,
            rate_limit: s
                .rate_limit
                .map(|c| RateLimiter::new(c, now).expect("validated")),
            shed: s
                .shed
                .clone()
                .map(|c| PriorityShedder::new(c).expect("validated")),
            limiter: s
                .concurrency_limit
                .map(|c| SimpleLimiter::new(c, &mut init).expect("validated")),
            limiter_rng: run,
            area: StepArea::new(now, self.metrics.bucket, self.metrics.n_buckets),
            ready: running,
            ready_since: now,
            started_at: now,
            warm_until: SimTime::ZERO,
            busy_ns: 0,
            busy_mark: 0,
            restarts: 0,
            created_at: None,
            pending: false,
            clients: Vec::new(),
        }
    }

    /// The client stack of model client `c` in caller instance `slot`, with fresh
    /// policies (its breakers are made by [`Self::attach_breakers`]).
    pub(crate) fn new_client(&self, c: u32, slot: u32, now: SimTime) -> ClientRt {
        let m = &self.model.clients[c as usize];
        let (jitter, net_rng) = if slot == 0 {
            (
                self.streams.stream(StreamKind::Jitter, c),
                self.streams.stream(StreamKind::Network, c),
            )
        } else {
            let key = (c << 16) | slot;
            (
                self.streams.stream(StreamKind::InstanceClient, key),
                self.streams
                    .stream(StreamKind::InstanceClient, key | 1 << 31),
            )
        };
        let retry_pos = layer_pos(&m.layers, Layer::Retry);
        ClientRt {
            retry_pos: retry_pos as u8,
            timeout: m.timeout,
            adaptive: m
                .adaptive_timeout
                .map(|a| AdaptiveTimeout::new(a).expect("validated")),
            timeout_outer: layer_pos(&m.layers, Layer::Timeout) < retry_pos,
            total_timeout: m.total_timeout,
            retry: m.retry.clone(),
            hedge: m.hedge.clone(),
            rate_limit: m
                .rate_limit
                .map(|c| RateLimiter::new(c, now).expect("validated")),
            // gRPC throttling counts the failures the edge would retry (or hedge past).
            budget: m.budget.clone().map(|b| {
                let b = RetryBudget::new(b, now).expect("validated");
                match (&m.retry, &m.hedge) {
                    (Some(r), _) => b.for_retry(r),
                    (None, Some(h)) => b.counting_failures_as(h.non_fatal()),
                    (None, None) => b,
                }
            }),
            breaker: None,
            instance_breakers: None,
            breaker_outer: layer_pos(&m.layers, Layer::Breaker) < retry_pos,
            bulkhead: m.bulkhead.map(|b| Bulkhead::new(b).expect("validated")),
            bulkhead_outer: layer_pos(&m.layers, Layer::Bulkhead) < retry_pos,
            pool: m.pool,
            fallback: Fallback::new(m.fallback.clone()).expect("validated"),
            drain_at: None,
            network: m.network.clone(),
            jitter,
            net_rng,
            layers: m.layers.clone(),
            edge: c,
            metric: c,
            model: c,
            caller: m.caller,
            cancel: m.cancel,
        }
    }

    /// A new runtime breaker of definition `def`, feeding the series of `metric`.
    pub(crate) fn new_breaker(&mut self, def: u32, metric: u32, now: SimTime) -> u32 {
        self.breakers.push(BreakerRt {
            def,
            breaker: CircuitBreaker::new(self.model.breakers[def as usize].config.clone())
                .expect("validated"),
            wake_at: None,
            state: BreakerState::Closed,
            since: now,
            metrics: vec![metric],
        });
        self.metrics.on_breaker_created(metric as usize, now);
        (self.breakers.len() - 1) as u32
    }

    /// Gives the client stack `rt` (model client `c`, caller instance `slot`) its
    /// breaker: one per key and caller instance for the edge scope (a shared key is
    /// shared within the instance), one per callee instance, made on first use, for the
    /// instance scope.
    pub(crate) fn attach_breakers(&mut self, rt: u32, c: u32, slot: u32, now: SimTime) {
        let m = &self.model.clients[c as usize];
        let Some(def) = m.breaker else {
            return;
        };
        if m.breaker_scope == BreakerScope::Instance {
            self.clients[rt as usize].instance_breakers = Some(Vec::new());
            return;
        }
        let slots = &mut self.breaker_slots[def as usize];
        if slots.len() <= slot as usize {
            slots.resize(slot as usize + 1, NONE);
        }
        let id = match slots[slot as usize] {
            NONE => {
                let id = self.new_breaker(def, c, now);
                self.breaker_slots[def as usize][slot as usize] = id;
                id
            }
            id => {
                let b = &mut self.breakers[id as usize];
                if !b.metrics.contains(&c) {
                    b.metrics.push(c);
                    self.metrics.on_breaker_created(c as usize, now);
                }
                id
            }
        };
        self.clients[rt as usize].breaker = Some(id);
    }

    /// The client stacks of instance `slot` of `svc`: made on first use of the slot,
    /// refitted with fresh policies when a new process runs in it.
    pub(crate) fn equip_instance(&mut self, svc: u32, slot: u32, now: SimTime) {
        let model_clients = self.services[svc as usize].model_clients.clone();
        let existing =
            std::mem::take(&mut self.services[svc as usize].instances[slot as usize].clients);
        let mut ids = Vec::with_capacity(model_clients.len());
        for (k, &c) in model_clients.iter().enumerate() {
            let fresh = self.new_client(c, slot, now);
            let rt = match existing.get(k) {
                Some(&rt) => {
                    self.refit_client(rt, fresh, now);
                    rt
                }
                None if slot == 0 => {
                    self.clients[c as usize] = fresh;
                    self.attach_breakers(c, c, 0, now);
                    c
                }
                None => {
                    self.clients.push(fresh);
                    let rt = (self.clients.len() - 1) as u32;
                    self.attach_breakers(rt, c, slot, now);
                    rt
                }
            };
            ids.push(rt);
        }
        self.services[svc as usize].instances[slot as usize].clients = ids;
    }

    /// A new process in an old slot: fresh policies, its breakers reset to closed, the
    /// random streams continued, and the outbox kept (it is durable).
    fn refit_client(&mut self, rt: u32, mut fresh: ClientRt, now: SimTime) {
        let old = &mut self.clients[rt as usize];
        std::mem::swap(&mut fresh.fallback, &mut old.fallback);
        fresh.drain_at = old.drain_at;
        fresh.jitter = old.jitter.clone();
        fresh.net_rng = old.net_rng.clone();
        fresh.breaker = old.breaker;
        fresh.instance_breakers = old.instance_breakers.take();
        *old = fresh;
        let c = &self.clients[rt as usize];
        let ids: Vec<u32> = c
            .breaker
            .into_iter()
            .chain(c.instance_breakers.iter().flatten().copied())
            .filter(|&b| b != NONE)
            .collect();
        for b in ids {
            self.reset_breaker(b, now);
        }
    }

    /// Resets runtime breaker `b` to a fresh closed breaker (its series keep their past).
    pub(crate) fn reset_breaker(&mut self, b: u32, now: SimTime) {
        self.close_breaker_span(b, now);
        let rt = &mut self.breakers[b as usize];
        rt.breaker = CircuitBreaker::new(self.model.breakers[rt.def as usize].config.clone())
            .expect("validated");
        rt.state = BreakerState::Closed;
        rt.since = now;
        rt.wake_at = None;
    }

    /// Builds the runtime state of one run.
    pub(crate) fn build(&mut self) {
        let model = self.model;
        let streams = self.streams;
        // Services and their first instances' front doors.
        for (i, s) in model.services.iter().enumerate() {
            let i = i as u32;
            self.services.push(ServiceRt {
                instances: Vec::new(),
                faults: Vec::new(),
                rng: streams.stream(StreamKind::Service, i),
                replicas: s.instances,
                hpa: s.autoscale.map(|a| Hpa::new(a).expect("validated")),
                last_sync: SimTime::ZERO,
                pods: Default::default(),
                ready: s.instances,
                fleet_last: SimTime::ZERO,
                edges_in: Vec::new(),
                probers: Vec::new(),
                model_clients: model
                    .clients
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.caller == i)
                    .map(|(c, _)| c as u32)
                    .collect(),
            });
            for slot in 0..s.instances {
                let inst = self.new_instance(i, slot, true, SimTime::ZERO);
                self.services[i as usize].instances.push(inst);
            }
        }
        for (i, f) in model.faults.iter().enumerate() {
            self.services[f.service as usize].faults.push(i as u32);
        }
        self.breaker_slots = vec![Vec::new(); model.breakers.len()];
        // Client stacks of the first instances take the model clients' ids; placeholders
        // first so that the ids line up, then each service equips its instances.
        for c in 0..model.clients.len() as u32 {
            let placeholder = self.new_client(c, 0, SimTime::ZERO);
            self.clients.push(placeholder);
        }
        // The users of each workload.
        for (w, wl) in model.workloads.iter().enumerate() {
            let id = self.clients.len() as u32;
            let mut users = bare_client(
                wl.patience,
                wl.retry.clone(),
                streams.stream(StreamKind::Users, 1_000_000 + w as u32),
                streams.stream(StreamKind::Users, 2_000_000 + w as u32),
                id,
            );
            users.edge = (model.clients.len() + w) as u32;
            users.cancel = wl.cancel_on_abandon;
            self.clients.push(users);
            let rate_max = match &wl.arrivals {
                Arrivals::Poisson(points) => points.iter().map(|p| p.1).fold(0.0, f64::max),
                Arrivals::Clients { .. } | Arrivals::Bursts => 0.0,
            };
            self.workloads.push(WorkloadRt {
                client: id,
                arrivals: streams.stream(StreamKind::Arrivals, w as u32),
                users: streams.stream(StreamKind::Users, w as u32),
                rate_max,
                bursts: wl.bursts.iter().map(|b| (b.count, 0.0)).collect(),
                burst_rng: streams.stream(StreamKind::Arrivals, 1_000_000 + w as u32),
            });
        }
        // Edges: one per model client, then one per workload.
        let mut edge_defs: Vec<(u32, crate::policy::balancer::BalancerConfig, f64, u32)> = model
            .clients
            .iter()
            .enumerate()
            .map(|(c, m)| (m.callee, m.balancer, m.panic_threshold, c as u32))
            .collect();
        for (w, wl) in model.workloads.iter().enumerate() {
            let callee = model.endpoints[wl.target as usize].service;
            let metric = self.workloads[w].client;
            edge_defs.push((
                callee,
                wl.balancer,
                crate::policy::balancer::DEFAULT_PANIC_THRESHOLD,
                metric,
            ));
        }
        for (e, (callee, balancer, panic_threshold, metric)) in edge_defs.into_iter().enumerate() {
            let mut rng = streams.stream(StreamKind::Balancer, e as u32);
            let n = model.services[callee as usize].instances;
            let outlier = model.clients.get(e).and_then(|c| c.outlier).map(|cfg| {
                let mut d = OutlierDetector::new(cfg, SimTime::ZERO).expect("validated");
                for h in 0..n {
                    d.add_host(h as usize);
                }
                d
            });
            self.edges.push(EdgeRt {
                callee,
                balancer: Balancer::new(balancer, &mut rng).expect("validated"),
                rng,
                single_host: model.services[callee as usize].max_instances() <= 1,
                panic_threshold,
                all: (0..n).collect(),
                healthy: (0..n).collect(),
                panic: false,
                active: vec![0; n as usize],
                checker: None,
                outlier,
                outlier_rng: streams.stream(StreamKind::Outlier, e as u32),
                metric,
                last_change: SimTime::ZERO,
            });
            self.services[callee as usize].edges_in.push(e as u32);
        }
        for s in 0..model.services.len() as u32 {
            for slot in 0..model.services[s as usize].instances {
                self.equip_instance(s, slot, SimTime::ZERO);
            }
        }
        self.build_probers();
    }

    fn probe_client(
        &mut self,
        timeout: SimDuration,
        network: Option<crate::engine::Dist>,
        name: String,
    ) -> u32 {
        let p = self.probers.len() as u32;
        let metric = self.metrics.add_probe_client(name);
        let mut c = bare_client(
            timeout,
            None,
            self.streams.stream(StreamKind::Prober, p),
            self.streams.stream(StreamKind::Prober, p | 1 << 31),
            metric,
        );
        c.network = network;
        self.clients.push(c);
        (self.clients.len() - 1) as u32
    }

    /// The stream that places the probes of the instances running at the start: they were
    /// started at unrelated times before the run, so their probe clocks are not in step.
    fn phase_rng(&self) -> SimRng {
        self.streams
            .stream(StreamKind::Prober, self.probers.len() as u32 | 1 << 30)
    }

    fn build_probers(&mut self) {
        let model = self.model;
        for (s, svc) in model.services.iter().enumerate() {
            let probes = [
                (ProbeKind::Readiness, svc.readiness),
                (ProbeKind::Liveness, svc.liveness.map(|l| l.probe)),
            ];
            for (kind, probe) in probes {
                let Some(probe) = probe else { continue };
                let name = format!("probe:{}:{kind:?}", svc.name).to_lowercase();
                let mut phase = self.phase_rng();
                let client = self.probe_client(probe.timing.timeout, None, name);
                let slots = (0..svc.instances)
                    .map(|_| ProbeSlot {
                        session: 0,
                        active: true,
                        health: HostHealth::passing(),
                        state: ProbeState::passing(kind),
                        ticker: ProbeTicker::new(random_phase(probe.timing.period, &mut phase)),
                        sent_to: 0,
                    })
                    .collect();
                let id = self.probers.len() as u32;
                self.probers.push(ProberRt {
                    kind: ProberKind::Kubelet {
                        kind,
                        timing: probe.timing,
                    },
                    service: s as u32,
                    endpoint: probe.endpoint,
                    client,
                    slots,
                });
                self.services[s].probers.push(id);
            }
        }
        for (c, m) in model.clients.iter().enumerate() {
            let Some(hc) = &m.health_check else { continue };
            let n = model.services[m.callee as usize].instances;
            let mut phase = self.phase_rng();
            let client = self.probe_client(
                hc.config.timeout,
                m.network.clone(),
                format!("probe:{}:health_check", m.name),
            );
            let id = self.probers.len() as u32;
            self.probers.push(ProberRt {
                kind: ProberKind::Check {
                    edge: c as u32,
                    config: hc.config.clone(),
                },
                service: m.callee,
                endpoint: hc.endpoint,
                client,
                slots: (0..n)
                    .map(|_| ProbeSlot {
                        session: 0,
                        active: true,
                        health: HostHealth::passing(),
                        state: ProbeState::passing(ProbeKind::Readiness),
                        ticker: ProbeTicker::new(random_phase(hc.config.interval, &mut phase)),
                        sent_to: 0,
                    })
                    .collect(),
            });
            self.edges[c].checker = Some(id);
        }
    }

    /// Runtime id of the stack through which a request at `svc`'s instance `slot` calls
    /// with model client `c`.
    #[inline]
    pub(crate) fn client_of(&self, svc: u32, slot: u32, c: u32) -> u32 {
        if slot == 0 {
            return c;
        }
        let s = &self.services[svc as usize];
        let k = s
            .model_clients
            .iter()
            .position(|&x| x == c)
            .expect("the service calls through its own clients");
        s.instances[slot as usize].clients[k]
    }
}
