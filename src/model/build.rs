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

use crate::engine::Dist;
use crate::error::ConfigError;
use crate::model::graph::{
    Arrivals, BreakerDef, CallDef, Client, ClientId, Endpoint, EndpointId, Fault, HealthCheck,
    Liveness, Model, Pool, Probe, Service, ServiceId, Signal, Signals, Step, Warmup, Workload,
};
use crate::model::spec::{
    ArrivalsSpec, BreakerScope, ClientSpec, ErrorStatus, FaultSpec, Layer, LivenessSpec, ModelSpec,
    RateLimitSpec, ReadinessSpec, ServiceSpec, StatusClass, StepSpec, WarmupSpec, WorkSpec,
    WorkloadSpec,
};
use crate::policy::balancer::DEFAULT_PANIC_THRESHOLD;
use crate::policy::budget::RetryBudget;
use crate::policy::bulkhead::{BulkheadConfig, SemaphoreBulkhead};
use crate::policy::circuit_breaker::CircuitBreaker;
use crate::policy::concurrency_limit::SimpleLimiter;
use crate::policy::fallback::Fallback;
use crate::policy::hedge::Hedge;
use crate::policy::hpa::Hpa;
use crate::policy::outlier::OutlierDetector;
use crate::policy::probe::{ProbeKind, ProbeTiming};
use crate::policy::rate_limit::{RateLimiter, RateLimiterConfig};
use crate::policy::retry::Retry;
use crate::policy::shedding::PriorityShedder;
use crate::policy::timeout::{AdaptiveTimeout, AttemptTimeout};
use crate::time::{SimDuration, SimTime};
use rand::SeedableRng;

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
                        None => {
                            build_work(&format!("{step_path}.work"), step.work.as_ref().unwrap())?
                        }
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
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(err(
                path,
                "a step needs exactly one of `work`, `call` or `parallel`",
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

    fn build_workload(&self, path: &str, w: &WorkloadSpec) -> Result<Workload, ConfigError> {
        let target = self.endpoint(&format!("{path}.target"), &w.target)?;
        let arrivals = match &w.arrivals {
            ArrivalsSpec::Poisson(p) => {
                let ppath = format!("{path}.arrivals.poisson");
                let points = match (p.rate, &p.schedule) {
                    (Some(r), None) => {
                        check_rate(&format!("{ppath}.rate"), r)?;
                        if r == 0.0 {
                            return Err(err(format!("{ppath}.rate"), "must be above zero"));
                        }
                        vec![(SimTime::ZERO, r)]
                    }
                    (None, Some(s)) => {
                        if s.is_empty() {
                            return Err(err(
                                format!("{ppath}.schedule"),
                                "needs at least one [time, rate] point",
                            ));
                        }
                        let mut points = Vec::new();
                        for (i, (t, r)) in s.iter().enumerate() {
                            let f = format!("{ppath}.schedule[{i}]");
                            check_rate(&f, *r)?;
                            if i > 0 && *t <= s[i - 1].0 {
                                return Err(err(
                                    f,
                                    format!("{t} is not after the previous point ({})", s[i - 1].0),
                                ));
                            }
                            points.push((SimTime::at(*t), *r));
                        }
                        if points.iter().all(|p| p.1 == 0.0) {
                            return Err(err(format!("{ppath}.schedule"), "every rate is zero"));
                        }
                        points
                    }
                    _ => return Err(err(ppath, "give exactly one of `rate` or `schedule`")),
                };
                Arrivals::Poisson(points)
            }
            ArrivalsSpec::Clients(c) => {
                let cpath = format!("{path}.arrivals.clients");
                if c.count == 0 {
                    return Err(err(format!("{cpath}.count"), "must be at least 1"));
                }
                let think = match &c.think_dist {
                    Some(d) => d
                        .build()
                        .map_err(|e| e.within(&format!("{cpath}.think_dist")))?,
                    None => Dist::Exponential {
                        mean: c.think.as_secs_f64(),
                    },
                };
                Arrivals::Clients {
                    count: c.count,
                    think,
                }
            }
        };
        if w.patience.is_zero() {
            return Err(err(format!("{path}.patience"), "must be above zero"));
        }
        if !w.value.is_finite() || w.value < 0.0 {
            return Err(err(format!("{path}.value"), "must be a finite number ≥ 0"));
        }
        let retry = w
            .retry
            .clone()
            .map(Retry::new)
            .transpose()
            .map_err(|e| e.within(&format!("{path}.retry")))?;
        let balancer = w.load_balancer.unwrap_or_default();
        balancer
            .validate()
            .map_err(|e| e.within(&format!("{path}.load_balancer")))?;
        Ok(Workload {
            name: w.name.clone(),
            target,
            arrivals,
            patience: w.patience,
            slo: w.slo,
            value: w.value,
            retry,
            priority: w.priority,
            balancer,
            cancel_on_abandon: w.cancel_on_abandon,
        })
    }

    fn build_fault(
        &self,
        path: &str,
        f: &FaultSpec,
        specs: &BTreeMap<String, ServiceSpec>,
    ) -> Result<Fault, ConfigError> {
        let tpath = format!("{path}.target");
        let (service, endpoint) = match f.target.split_once('.') {
            Some(_) => {
                let ep = self.endpoint(&tpath, &f.target)?;
                (self.endpoint_service[ep as usize], Some(ep))
            }
            None => match self.service_ids.get(&f.target) {
                Some(&s) => (s, None),
                None => return Err(err(tpath, format!("no service named {:?}", f.target))),
            },
        };
        if f.duration.is_zero() {
            return Err(err(format!("{path}.duration"), "must be above zero"));
        }
        let latency = f
            .latency
            .as_ref()
            .map(|d| d.build().map_err(|e| e.within(&format!("{path}.latency"))))
            .transpose()?;
        if let Some(k) = f.latency_multiplier
            && !(k.is_finite() && k > 0.0)
        {
            return Err(err(
                format!("{path}.latency_multiplier"),
                "must be a finite number > 0",
            ));
        }
        if latency.is_some() && f.latency_multiplier.is_some() {
            return Err(err(
                path,
                "give `latency` or `latency_multiplier`, not both",
            ));
        }
        let error_rate = f.error_rate.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&error_rate) {
            return Err(err(format!("{path}.error_rate"), "must be between 0 and 1"));
        }
        if f.status.is_some() && f.error_rate.is_none() {
            return Err(err(
                format!("{path}.status"),
                "says what the injected errors are: it needs error_rate",
            ));
        }
        let error = match f.status.unwrap_or(ErrorStatus::ServerError) {
            ErrorStatus::ServerError => crate::policy::Outcome::ServerError,
            ErrorStatus::ClientError => crate::policy::Outcome::ClientError,
            ErrorStatus::Throttled => crate::policy::Outcome::Throttled,
        };
        if let Some(w) = f.workers {
            let name = specs.keys().nth(service as usize).unwrap();
            if endpoint.is_some() {
                return Err(err(
                    format!("{path}.workers"),
                    "capacity loss applies to a whole service; target the service",
                ));
            }
            if w > specs[name].workers {
                return Err(err(
                    format!("{path}.workers"),
                    format!("{w} is more than the service has ({})", specs[name].workers),
                ));
            }
        }
        let does_something = latency.is_some()
            || f.latency_multiplier.is_some()
            || error_rate > 0.0
            || f.refuse
            || f.hang
            || f.workers.is_some();
        if !does_something {
            return Err(err(
                path,
                "the fault changes nothing: give latency, latency_multiplier, error_rate, refuse, hang or workers",
            ));
        }
        if f.refuse && f.hang {
            return Err(err(path, "a fault cannot both refuse and hang"));
        }
        if let Some(k) = f.instances {
            let name = specs.keys().nth(service as usize).unwrap();
            let svc = &specs[name];
            let most = svc
                .autoscale
                .map_or(svc.instances, |a| a.max.max(svc.instances));
            if k == 0 {
                return Err(err(
                    format!("{path}.instances"),
                    "must be at least 1 (leave it out to hit every instance)",
                ));
            }
            if k > most {
                return Err(err(
                    format!("{path}.instances"),
                    format!("{k} is more than {name} has ({most})"),
                ));
            }
        }
        Ok(Fault {
            service,
            endpoint,
            start: SimTime::at(f.at),
            end: SimTime::at(f.at + f.duration),
            latency,
            latency_multiplier: f.latency_multiplier,
            error_rate,
            error,
            refuse: f.refuse,
            hang: f.hang,
            workers: f.workers,
            instances: f.instances.unwrap_or(u32::MAX),
        })
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

fn check_rate(path: &str, r: f64) -> Result<(), ConfigError> {
    if !r.is_finite() || r < 0.0 {
        return Err(err(path, format!("rate {r} must be a finite number ≥ 0")));
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

/// The limiter a `rate_limit` table describes (exactly one kind).
fn build_rate_limit(path: &str, spec: &RateLimitSpec) -> Result<RateLimiterConfig, ConfigError> {
    let rl = spec.config().map_err(|n| {
        err(
            path,
            if n == 0 {
                "needs a limiter: token_bucket, limit_for_period or fixed_window"
            } else {
                "give exactly one limiter: token_bucket, limit_for_period or fixed_window"
            },
        )
    })?;
    RateLimiter::new(rl, SimTime::ZERO).map_err(|e| e.within(path))?;
    Ok(rl)
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
                if s.work.is_some() || s.call.is_some() || s.parallel.is_some() {
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

const DEFAULT_ORDER: [Layer; 4] = [
    Layer::Bulkhead,
    Layer::Breaker,
    Layer::Retry,
    Layer::Timeout,
];

#[allow(clippy::too_many_arguments)]
fn build_client(
    path: &str,
    name: String,
    caller: ServiceId,
    callee: ServiceId,
    c: &ClientSpec,
    pools: &[Pool],
    breakers: &mut Vec<BreakerDef>,
) -> Result<Client, ConfigError> {
    let layers = match &c.order {
        None => DEFAULT_ORDER.to_vec(),
        Some(order) => {
            let mut seen = Vec::new();
            for l in order {
                if seen.contains(l) {
                    return Err(err(
                        format!("{path}.order"),
                        format!("{l:?} appears twice").to_lowercase(),
                    ));
                }
                seen.push(*l);
            }
            let rate = seen.contains(&Layer::RateLimiter) as usize;
            if seen.len() != 4 + rate {
                return Err(err(
                    format!("{path}.order"),
                    "list all four layers once: bulkhead, breaker, retry, timeout (and rate_limiter with a rate_limit)",
                ));
            }
            if rate == 1 && c.rate_limit.is_none() {
                return Err(err(
                    format!("{path}.order"),
                    "places a rate_limiter, but the edge has no `rate_limit`",
                ));
            }
            seen
        }
    };
    let mut layers = layers;
    if c.rate_limit.is_some() && !layers.contains(&Layer::RateLimiter) {
        let retry = layers.iter().position(|l| *l == Layer::Retry).unwrap();
        layers.insert(retry + 1, Layer::RateLimiter);
    }
    let rate_limit = match &c.rate_limit {
        None => None,
        Some(spec) => {
            let rpath = format!("{path}.rate_limit");
            if spec.status.is_some() || spec.retry_after.is_some() {
                return Err(err(
                    rpath,
                    "status and retry_after are what a server answers; a client-side limiter fails the call itself",
                ));
            }
            Some(build_rate_limit(&rpath, spec)?)
        }
    };
    let retry = c
        .retry
        .clone()
        .map(Retry::new)
        .transpose()
        .map_err(|e| e.within(&format!("{path}.retry")))?;
    let hedge = c
        .hedge
        .clone()
        .map(Hedge::new)
        .transpose()
        .map_err(|e| e.within(&format!("{path}.hedge")))?;
    if hedge.is_some() && retry.is_some() {
        return Err(err(
            format!("{path}.hedge"),
            "an edge has a retry policy or a hedging policy, not both (as in gRPC)",
        ));
    }
    if let Some(b) = &c.budget {
        RetryBudget::new(b.clone(), SimTime::ZERO)
            .map_err(|e| e.within(&format!("{path}.budget")))?;
        if retry.is_none() && hedge.is_none() {
            return Err(err(
                format!("{path}.budget"),
                "a retry budget needs a `retry` or `hedge` policy to limit",
            ));
        }
    }
    let bulkhead = c
        .bulkhead
        .map(|b| b.kind())
        .transpose()
        .map_err(|e| e.within(&format!("{path}.bulkhead")))?;
    let breaker = match (&c.breaker, &c.shared_breaker) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(err(
                format!("{path}.shared_breaker"),
                "needs a `breaker` config",
            ));
        }
        (Some(cfg), shared) => {
            CircuitBreaker::new(cfg.clone()).map_err(|e| e.within(&format!("{path}.breaker")))?;
            let key = shared.clone().unwrap_or_else(|| name.clone());
            match breakers.iter().position(|b| b.name == key) {
                Some(i) if shared.is_some() => Some(i as u32),
                _ => {
                    breakers.push(BreakerDef {
                        name: key,
                        config: cfg.clone(),
                    });
                    Some((breakers.len() - 1) as u32)
                }
            }
        }
    };
    let pool = match &c.pool {
        None => None,
        Some(p) => match pools.iter().position(|x| &x.name == p) {
            Some(i) => Some(i as u32),
            None => {
                return Err(err(
                    format!("{path}.pool"),
                    format!("no pool named {p:?} in [pools]"),
                ));
            }
        },
    };
    let (timeout, adaptive_timeout) = match c.timeout {
        // Hystrix times every command out (execution timeout, 1 s by default).
        None => (c.breaker.as_ref().and_then(|b| b.implied_timeout()), None),
        Some(AttemptTimeout::Fixed(d)) => (Some(d), None),
        Some(AttemptTimeout::Adaptive(cfg)) => {
            let a = AdaptiveTimeout::new(cfg)
                .map_err(|e| e.within(&format!("{path}.timeout.adaptive")))?;
            (Some(a.timeout()), Some(cfg))
        }
    };
    for (field, t) in [("timeout", timeout), ("total_timeout", c.total_timeout)] {
        if t.is_some_and(|t| t.is_zero()) {
            return Err(err(
                format!("{path}.{field}"),
                "must be above zero (leave it out for none)",
            ));
        }
    }
    let network = c
        .network
        .as_ref()
        .map(|d| d.build().map_err(|e| e.within(&format!("{path}.network"))))
        .transpose()?;
    let fallback = c.fallback.clone().unwrap_or_default();
    Fallback::<u64>::new(fallback.clone()).map_err(|e| e.within(&format!("{path}.fallback")))?;
    let balancer = c.load_balancer.unwrap_or_default();
    balancer
        .validate()
        .map_err(|e| e.within(&format!("{path}.load_balancer")))?;
    if let Some(o) = &c.outlier_detection {
        OutlierDetector::new(*o, SimTime::ZERO)
            .map_err(|e| e.within(&format!("{path}.outlier_detection")))?;
    }
    let panic_threshold = c.panic_threshold.unwrap_or(DEFAULT_PANIC_THRESHOLD);
    if !(0.0..=100.0).contains(&panic_threshold) {
        return Err(err(
            format!("{path}.panic_threshold"),
            "must be a percentage between 0 and 100",
        ));
    }
    let breaker_scope = c.breaker_scope.unwrap_or_default();
    if breaker_scope == BreakerScope::Instance {
        if c.breaker.is_none() {
            return Err(err(
                format!("{path}.breaker_scope"),
                "needs a `breaker` config",
            ));
        }
        if c.shared_breaker.is_some() {
            return Err(err(
                format!("{path}.breaker_scope"),
                "an instance-scoped breaker belongs to one callee instance and cannot be shared",
            ));
        }
    }
    Ok(Client {
        name,
        caller,
        callee,
        layers,
        timeout,
        adaptive_timeout,
        total_timeout: c.total_timeout,
        retry,
        hedge,
        rate_limit,
        budget: c.budget.clone(),
        breaker,
        bulkhead,
        pool,
        fallback,
        network,
        balancer,
        health_check: None,
        panic_threshold,
        outlier: c.outlier_detection,
        breaker_scope,
        cancel: c.cancel,
    })
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
