//! Validation: [`ModelSpec`] (as written) → [`Model`] (ids resolved, distributions and
//! policies checked; the validated types live in [`super::graph`]). Every user mistake surfaces here, once, as a [`ConfigError`] whose
//! field is the key path in the file (`services.order.clients.payment.retry.max_attempts`).
//!
//! What is checked: every call names an existing `service.endpoint`; the call graph has no
//! cycle; workers ≥ 1; rates finite and ≥ 0; schedules in time order; distributions valid
//! (p99 ≥ p50 …); every policy config valid (by building it once); client stacks name
//! services the caller really calls; pools exist; faults target something and do
//! something.

use std::collections::BTreeMap;

use crate::error::ConfigError;
use crate::model::graph::{
    BreakerDef, CallDef, Client, ClientId, Endpoint, EndpointId, HealthCheck, Liveness, Model,
    Pool, Probe, Service, ServiceId, Signal, Signals, Step, Warmup,
};
use crate::model::spec::{
    LivenessSpec, ModelSpec, ReadinessSpec, ServiceSpec, StatusClass, StepSpec, WarmupSpec,
    WorkSpec,
};
use crate::policy::bulkhead::{BulkheadConfig, SemaphoreBulkhead};
use crate::policy::concurrency_limit::SimpleLimiter;
use crate::policy::hpa::Hpa;
use crate::policy::probe::{ProbeKind, ProbeTiming};
use crate::policy::shedding::PriorityShedder;
use crate::time::SimDuration;
use rand::SeedableRng;

mod client;
mod occ;
mod workload;

use client::{build_client, build_rate_limit};

fn err(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::new(field, problem)
}

impl Model {
    /// Validates a spec. The error's field is the key path in the file.
    pub fn build(spec: &ModelSpec) -> Result<Model, ConfigError> {
        Builder::new(spec)?.finish(spec)
    }
}

struct Builder {
    service_ids: BTreeMap<String, ServiceId>,
    endpoint_ids: BTreeMap<String, EndpointId>,
    endpoint_service: Vec<ServiceId>,
}

impl Builder {
    fn new(spec: &ModelSpec) -> Result<Self, ConfigError> {
        let mut service_ids = BTreeMap::new();
        let mut endpoint_ids = BTreeMap::new();
        let mut endpoint_service = Vec::new();
        for (i, (name, svc)) in spec.services.iter().enumerate() {
            check_name(&format!("services.{name}"), name)?;
            service_ids.insert(name.clone(), i as ServiceId);
            for ep in svc.endpoints.keys() {
                check_name(&format!("services.{name}.endpoints.{ep}"), ep)?;
                let id = endpoint_ids.len() as EndpointId;
                endpoint_ids.insert(format!("{name}.{ep}"), id);
                endpoint_service.push(i as ServiceId);
            }
        }
        Ok(Builder {
            service_ids,
            endpoint_ids,
            endpoint_service,
        })
    }

    fn endpoint(&self, field: &str, name: &str) -> Result<EndpointId, ConfigError> {
        if let Some(&id) = self.endpoint_ids.get(name) {
            return Ok(id);
        }
        let Some((svc, ep)) = name.split_once('.') else {
            return Err(err(
                field,
                format!("{name:?} is not `service.endpoint` (e.g. \"order.place\")"),
            ));
        };
        if self.service_ids.contains_key(svc) {
            let prefix = format!("{svc}.");
            let known: Vec<&str> = self
                .endpoint_ids
                .keys()
                .filter_map(|k| k.strip_prefix(&prefix))
                .collect();
            Err(err(
                field,
                format!(
                    "service {svc:?} has no endpoint {ep:?} (its endpoints: {})",
                    known.join(", ")
                ),
            ))
        } else {
            Err(err(
                field,
                format!("no service named {svc:?} (in {name:?})"),
            ))
        }
    }

    fn finish(self, spec: &ModelSpec) -> Result<Model, ConfigError> {
        if spec.services.is_empty() {
            return Err(err("services", "the model has no services"));
        }
        // Services and endpoints.
        let mut services = Vec::new();
        let mut endpoints = Vec::new();
        let mut clients: Vec<Client> = Vec::new();
        let mut client_index: BTreeMap<(ServiceId, ServiceId), ClientId> = BTreeMap::new();
        let mut breakers: Vec<BreakerDef> = Vec::new();
        let pools = build_pools(spec)?;
        let resources = occ::build_resources(spec)?;

        for (name, svc) in &spec.services {
            let sid = self.service_ids[name];
            let path = format!("services.{name}");
            let mut service = build_service(&path, name, svc)?;
            self.build_probes(&path, name, svc, &mut service)?;
            services.push(service);
            if svc.endpoints.is_empty() {
                return Err(err(
                    format!("{path}.endpoints"),
                    "a service needs at least one endpoint",
                ));
            }
            for (ep_name, ep) in &svc.endpoints {
                let ep_path = format!("{path}.endpoints.{ep_name}");
                let eid = self.endpoint_ids[&format!("{name}.{ep_name}")];
                services[sid as usize].endpoints.push(eid);
                if ep.steps.is_empty() {
                    return Err(err(
                        format!("{ep_path}.steps"),
                        "an endpoint needs at least one step",
                    ));
                }
                let mut flat = Vec::new();
                flatten(&format!("{ep_path}.steps"), &ep.steps, &pools, &mut flat)?;
                let mut steps = Vec::new();
                let mut keys = Vec::new();
                for item in flat {
                    let (step_path, step) = match item {
                        Flat::Step(path, step) => (path, step),
                        Flat::Hold(path, pool) => {
                            steps.push(Step::Hold { pool });
                            keys.push(path);
                            continue;
                        }
                        Flat::Release(pool, from) => {
                            steps.push(Step::Release { pool, from });
                            keys.push(keys[from as usize].clone());
                            continue;
                        }
                    };
                    keys.push(step_path.clone());
                    let targets = self.step_targets(&step_path, step)?;
                    let step = match targets {
                        None => match occ::occ_step(&step_path, step, &resources)? {
                            Some(occ) => occ,
                            None => build_work(
                                &format!("{step_path}.work"),
                                step.work.as_ref().unwrap(),
                            )?,
                        },
                        Some(targets) => {
                            let mut calls = Vec::new();
                            for (target, critical) in targets {
                                let callee = self.endpoint_service[target as usize];
                                let client = match client_index.get(&(sid, callee)) {
                                    Some(&c) => c,
                                    None => {
                                        let callee_name =
                                            spec.services.keys().nth(callee as usize).unwrap();
                                        let cspec = svc
                                            .clients
                                            .get(callee_name)
                                            .cloned()
                                            .unwrap_or_default();
                                        let cpath = format!("{path}.clients.{callee_name}");
                                        let mut c = build_client(
                                            &cpath,
                                            format!("{name}→{callee_name}"),
                                            sid,
                                            callee,
                                            &cspec,
                                            &pools,
                                            &mut breakers,
                                        )?;
                                        if let Some(hc) = &cspec.health_check {
                                            let hpath = format!("{cpath}.health_check");
                                            hc.validate().map_err(|e| e.within(&hpath))?;
                                            let endpoint = self.own_endpoint(
                                                &format!("{hpath}.endpoint"),
                                                callee_name,
                                                &hc.endpoint,
                                            )?;
                                            c.health_check = Some(HealthCheck {
                                                endpoint,
                                                config: hc.clone(),
                                            });
                                        }
                                        clients.push(c);
                                        let id = (clients.len() - 1) as ClientId;
                                        client_index.insert((sid, callee), id);
                                        id
                                    }
                                };
                                calls.push(CallDef {
                                    client,
                                    target,
                                    critical,
                                });
                            }
                            Step::Calls(calls)
                        }
                    };
                    steps.push(step);
                }
                endpoints.push(Endpoint {
                    service: sid,
                    name: format!("{name}.{ep_name}"),
                    steps,
                    keys,
                });
            }
            for callee_name in svc.clients.keys() {
                let cpath = format!("{path}.clients.{callee_name}");
                let Some(&callee) = self.service_ids.get(callee_name) else {
                    return Err(err(cpath, format!("no service named {callee_name:?}")));
                };
                if !client_index.contains_key(&(sid, callee)) {
                    return Err(err(
                        cpath,
                        format!(
                            "{name} never calls {callee_name}, so this client stack would do nothing"
                        ),
                    ));
                }
            }
        }
        check_cycles(&endpoints)?;
        occ::check_used(&resources, &endpoints)?;

        let mut workloads = Vec::new();
        for (i, w) in spec.workloads.iter().enumerate() {
            workloads.push(self.build_workload(&format!("workloads[{i}]"), w)?);
        }
        if workloads.is_empty() {
            return Err(err(
                "workloads",
                "the model has no workloads (no user traffic)",
            ));
        }
        let mut faults = Vec::new();
        for (i, f) in spec.faults.iter().enumerate() {
            faults.push(self.build_fault(&format!("faults[{i}]"), f, &spec.services)?);
        }
        Ok(Model {
            description: spec.description.clone(),
            services,
            endpoints,
            clients,
            breakers,
            pools,
            workloads,
            faults,
            deadline_propagation: spec.deadline_propagation,
            resources,
        })
    }

    /// The endpoint `ep` of service `svc` (a probe or health check names an endpoint of the
    /// service it checks).
    fn own_endpoint(&self, field: &str, svc: &str, ep: &str) -> Result<EndpointId, ConfigError> {
        self.endpoint_ids
            .get(&format!("{svc}.{ep}"))
            .copied()
            .ok_or_else(|| err(field, format!("{svc} has no endpoint named {ep:?}")))
    }

    /// Readiness and liveness probes, warm-up.
    fn build_probes(
        &self,
        path: &str,
        name: &str,
        svc: &ServiceSpec,
        out: &mut Service,
    ) -> Result<(), ConfigError> {
        if let Some(r) = &svc.readiness {
            let rpath = format!("{path}.readiness");
            out.readiness = Some(self.probe(&rpath, name, r, ProbeKind::Readiness)?);
        }
        if let Some(l) = &svc.liveness {
            let lpath = format!("{path}.liveness");
            let as_readiness = ReadinessSpec {
                endpoint: l.endpoint.clone(),
                period: l.period,
                timeout: l.timeout,
                failure_threshold: l.failure_threshold,
                success_threshold: l.success_threshold,
                initial_delay: l.initial_delay,
            };
            let probe = self.probe(&lpath, name, &as_readiness, ProbeKind::Liveness)?;
            if l.restart.is_zero() {
                return Err(err(format!("{lpath}.restart"), "must be above zero"));
            }
            out.liveness = Some(Liveness {
                probe,
                restart: l.restart,
            });
        }
        out.warmup = build_warmup(path, svc.warmup.as_ref(), svc.liveness.as_ref())?;
        Ok(())
    }

    fn probe(
        &self,
        path: &str,
        name: &str,
        r: &ReadinessSpec,
        kind: ProbeKind,
    ) -> Result<Probe, ConfigError> {
        let timing = ProbeTiming {
            period: r.period,
            timeout: r.timeout,
            failure_threshold: r.failure_threshold,
            success_threshold: r.success_threshold,
            initial_delay: r.initial_delay,
        };
        timing.validate(kind).map_err(|e| e.within(path))?;
        let endpoint = self.own_endpoint(&format!("{path}.endpoint"), name, &r.endpoint)?;
        Ok(Probe { endpoint, timing })
    }

    /// `None` for a work step, the called endpoints otherwise.
    fn step_targets(
        &self,
        path: &str,
        step: &StepSpec,
    ) -> Result<Option<Vec<(EndpointId, bool)>>, ConfigError> {
        let kinds = [
            step.work.is_some(),
            step.call.is_some(),
            step.parallel.is_some(),
            step.occ_read.is_some(),
            step.occ_write.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(err(
                path,
                "a step needs exactly one of `work`, `call`, `parallel`, `occ_read` or `occ_write`",
            ));
        }
        if step.critical.is_some() && step.call.is_none() {
            return Err(err(
                format!("{path}.critical"),
                "goes with `call` (inside `parallel`, set it on each call)",
            ));
        }
        if let Some(call) = &step.call {
            let id = self.endpoint(&format!("{path}.call"), call)?;
            return Ok(Some(vec![(id, step.critical.unwrap_or(true))]));
        }
        if let Some(calls) = &step.parallel {
            if calls.is_empty() {
                return Err(err(format!("{path}.parallel"), "needs at least one call"));
            }
            let mut out = Vec::new();
            for (i, c) in calls.iter().enumerate() {
                out.push((
                    self.endpoint(&format!("{path}.parallel[{i}].call"), &c.call)?,
                    c.critical,
                ));
            }
            return Ok(Some(out));
        }
        Ok(None)
    }
}

fn check_name(path: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.contains('.') || name.contains(char::is_whitespace) {
        return Err(err(
            path,
            format!("{name:?} is not a valid name (no dots or spaces)"),
        ));
    }
    Ok(())
}

/// Most instances of one service: beyond this a model is a typo, not a fleet.
const MAX_INSTANCES: u32 = 10_000;

fn build_warmup(
    path: &str,
    service: Option<&WarmupSpec>,
    liveness: Option<&LivenessSpec>,
) -> Result<Option<Warmup>, ConfigError> {
    let (spec, wpath) = match (service, liveness.and_then(|l| l.warmup.as_ref())) {
        (Some(_), Some(_)) => {
            return Err(err(
                format!("{path}.warmup"),
                "give the warm-up once: here or in liveness.warmup",
            ));
        }
        (Some(w), None) => (w, format!("{path}.warmup")),
        (None, Some(w)) => (w, format!("{path}.liveness.warmup")),
        (None, None) => return Ok(None),
    };
    if !(spec.latency_multiplier.is_finite() && spec.latency_multiplier >= 1.0) {
        return Err(err(
            format!("{wpath}.latency_multiplier"),
            "must be a finite number ≥ 1",
        ));
    }
    Ok(Some(Warmup {
        duration: spec.duration,
        multiplier: spec.latency_multiplier,
    }))
}

fn build_service(path: &str, name: &str, svc: &ServiceSpec) -> Result<Service, ConfigError> {
    if svc.workers == 0 {
        return Err(err(format!("{path}.workers"), "must be at least 1"));
    }
    if svc.instances == 0 {
        return Err(err(format!("{path}.instances"), "must be at least 1"));
    }
    if svc.instances > MAX_INSTANCES {
        return Err(err(
            format!("{path}.instances"),
            format!("{} is more than {MAX_INSTANCES}", svc.instances),
        ));
    }
    if let Some(a) = &svc.autoscale {
        Hpa::new(*a).map_err(|e| e.within(&format!("{path}.autoscale")))?;
        if a.max > MAX_INSTANCES {
            return Err(err(
                format!("{path}.autoscale.max"),
                format!("{} is more than {MAX_INSTANCES}", a.max),
            ));
        }
    }
    let rate_limit = svc
        .rate_limit
        .as_ref()
        .map(|spec| build_rate_limit(&format!("{path}.rate_limit"), spec))
        .transpose()?;
    let concurrency_limit = match &svc.concurrency_limit {
        None => None,
        Some(spec) => {
            let c = spec.config().map_err(|n| {
                err(
                    format!("{path}.concurrency_limit"),
                    if n == 0 {
                        "needs an algorithm: aimd, vegas or gradient2"
                    } else {
                        "give exactly one algorithm: aimd, vegas or gradient2"
                    },
                )
            })?;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
            SimpleLimiter::new(c, &mut rng)
                .map_err(|e| e.within(&format!("{path}.concurrency_limit")))?;
            Some(c)
        }
    };
    let shed = svc.shed.as_ref().map(|s| s.config());
    if let Some(s) = &shed {
        PriorityShedder::new(s.clone()).map_err(|e| e.within(&format!("{path}.shed")))?;
    }
    let signal = |status: Option<StatusClass>, default: StatusClass, retry_after| Signal {
        throttled: status.unwrap_or(default) == StatusClass::Throttled,
        retry_after,
    };
    let signals = Signals {
        queue: signal(
            svc.queue.status,
            StatusClass::Unavailable,
            svc.queue.retry_after,
        ),
        rate_limit: svc.rate_limit.as_ref().map_or_else(Signal::default, |r| {
            signal(r.status, StatusClass::Throttled, r.retry_after)
        }),
        shed: svc.shed.as_ref().map_or_else(Signal::default, |r| {
            signal(r.status, StatusClass::Unavailable, r.retry_after)
        }),
        concurrency: svc
            .concurrency_limit
            .as_ref()
            .map_or_else(Signal::default, |r| {
                signal(r.status, StatusClass::Unavailable, r.retry_after)
            }),
    };
    Ok(Service {
        name: name.to_string(),
        workers: svc.workers,
        queue_capacity: svc.queue.capacity,
        discipline: svc.queue.discipline,
        queue_timeout: svc.queue.timeout,
        rate_limit,
        shed,
        concurrency_limit,
        signals,
        endpoints: Vec::new(),
        instances: svc.instances,
        readiness: None,
        liveness: None,
        autoscale: svc.autoscale,
        warmup: None,
    })
}

/// A step of an endpoint once `hold` groups are flattened: a spec step (with its key
/// path), or the taking or giving back of a connection.
enum Flat<'a> {
    Step(String, &'a StepSpec),
    Hold(String, u32),
    Release(u32, u16),
}

/// Flattens `{ hold = "db", steps = [...] }` into hold, the nested steps, release.
fn flatten<'a>(
    path: &str,
    steps: &'a [StepSpec],
    pools: &[Pool],
    out: &mut Vec<Flat<'a>>,
) -> Result<(), ConfigError> {
    for (k, s) in steps.iter().enumerate() {
        let p = format!("{path}[{k}]");
        match (&s.hold, &s.steps) {
            (None, None) => out.push(Flat::Step(p, s)),
            (Some(name), Some(inner)) => {
                if s.work.is_some()
                    || s.call.is_some()
                    || s.parallel.is_some()
                    || s.occ_read.is_some()
                    || s.occ_write.is_some()
                {
                    return Err(err(
                        p,
                        "a `hold` step holds a connection through its nested `steps`; put the work and calls inside them",
                    ));
                }
                let Some(pool) = pools.iter().position(|x| &x.name == name) else {
                    return Err(err(
                        format!("{p}.hold"),
                        format!("no pool named {name:?} in [pools]"),
                    ));
                };
                if inner.is_empty() {
                    return Err(err(format!("{p}.steps"), "needs at least one step"));
                }
                let from = out.len();
                out.push(Flat::Hold(p.clone(), pool as u32));
                flatten(&format!("{p}.steps"), inner, pools, out)?;
                out.push(Flat::Release(pool as u32, from as u16));
            }
            (Some(_), None) => {
                return Err(err(
                    format!("{p}.steps"),
                    "`hold` needs the `steps` it holds the connection through",
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    format!("{p}.steps"),
                    "nested steps go inside a `hold = \"<pool>\"` step",
                ));
            }
        }
        if out.len() > u16::MAX as usize / 2 {
            return Err(err(
                format!("{path}[{k}]"),
                "too many steps in one endpoint",
            ));
        }
    }
    Ok(())
}

fn build_work(path: &str, w: &WorkSpec) -> Result<Step, ConfigError> {
    let dist = match w.dist() {
        Ok(d) => d.build().map_err(|e| e.within(path))?,
        Err(0) => {
            return Err(err(
                path,
                "needs a distribution: constant, uniform, exponential, normal, lognormal or empirical",
            ));
        }
        Err(_) => return Err(err(path, "give exactly one distribution")),
    };
    Ok(Step::Work {
        dist,
        per_inflight: w.per_inflight.unwrap_or(SimDuration::ZERO),
    })
}

fn build_pools(spec: &ModelSpec) -> Result<Vec<Pool>, ConfigError> {
    let mut pools = Vec::new();
    for (name, p) in &spec.pools {
        let config = BulkheadConfig {
            max_concurrent: p.size,
            max_wait: p.max_wait,
        };
        SemaphoreBulkhead::<u32>::new(config).map_err(|e| e.within(&format!("pools.{name}")))?;
        if p.size == 0 {
            return Err(err(format!("pools.{name}.size"), "must be at least 1"));
        }
        pools.push(Pool {
            name: name.clone(),
            config,
        });
    }
    Ok(pools)
}

/// Rejects call cycles (a → b → a would recurse forever), naming the cycle.
fn check_cycles(endpoints: &[Endpoint]) -> Result<(), ConfigError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        e: usize,
        eps: &[Endpoint],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
    ) -> Result<(), ConfigError> {
        marks[e] = Mark::Active;
        stack.push(e);
        for step in &eps[e].steps {
            if let Step::Calls(calls) = step {
                for c in calls {
                    let t = c.target as usize;
                    match marks[t] {
                        Mark::Active => {
                            let from = stack.iter().position(|&x| x == t).unwrap();
                            let mut names: Vec<&str> = stack[from..]
                                .iter()
                                .map(|&x| eps[x].name.as_str())
                                .collect();
                            names.push(&eps[t].name);
                            let (svc, ep) = eps[e].name.split_once('.').unwrap();
                            return Err(err(
                                format!("services.{svc}.endpoints.{ep}.steps"),
                                format!("call cycle {}", names.join(" → ")),
                            ));
                        }
                        Mark::New => visit(t, eps, marks, stack)?,
                        Mark::Done => {}
                    }
                }
            }
        }
        stack.pop();
        marks[e] = Mark::Done;
        Ok(())
    }
    let mut marks = vec![Mark::New; endpoints.len()];
    for e in 0..endpoints.len() {
        if marks[e] == Mark::New {
            visit(e, endpoints, &mut marks, &mut Vec::new())?;
        }
    }
    Ok(())
}
