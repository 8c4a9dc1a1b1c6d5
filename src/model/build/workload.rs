//! Workloads and faults: the timeline of a run — who sends requests when (Poisson rates,
//! closed populations, bursts), with what patience and retry habit, and what breaks when.

use std::collections::BTreeMap;

use super::{Builder, err};
use crate::engine::Dist;
use crate::error::ConfigError;
use crate::model::graph::{Arrivals, Burst, Fault, Workload};
use crate::model::spec::{
    ArrivalsSpec, BurstSpec, ErrorStatus, FaultSpec, ServiceSpec, WorkloadSpec,
};
use crate::policy::retry::Retry;
use crate::time::SimTime;

impl Builder {
    pub(super) fn build_workload(
        &self,
        path: &str,
        w: &WorkloadSpec,
    ) -> Result<Workload, ConfigError> {
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
            ArrivalsSpec::Burst(_) => Arrivals::Bursts,
        };
        let mut bursts = Vec::new();
        if let ArrivalsSpec::Burst(b) = &w.arrivals {
            bursts.push(build_burst(&format!("{path}.arrivals.burst"), b)?);
        }
        for (k, b) in w.bursts.iter().enumerate() {
            bursts.push(build_burst(&format!("{path}.bursts[{k}]"), b)?);
        }
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
            bursts,
        })
    }

    pub(super) fn build_fault(
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

fn check_rate(path: &str, r: f64) -> Result<(), ConfigError> {
    if !r.is_finite() || r < 0.0 {
        return Err(err(path, format!("rate {r} must be a finite number ≥ 0")));
    }
    Ok(())
}

/// Most users in one burst: a burst arrives at once, so its users are all in flight
/// together; beyond this a count is a typo (an experiment's live-state guard, at most
/// 10⁸, refuses smaller bursts that it cannot hold).
pub const MAX_BURST: u32 = 100_000_000;

fn build_burst(path: &str, b: &BurstSpec) -> Result<Burst, ConfigError> {
    if b.count == 0 {
        return Err(err(
            format!("{path}.count"),
            "must be at least 1 (leave the burst out for none)",
        ));
    }
    if b.count > MAX_BURST {
        return Err(err(
            format!("{path}.count"),
            format!(
                "{} users is more than {MAX_BURST} arriving at once",
                b.count
            ),
        ));
    }
    Ok(Burst {
        count: b.count,
        at: SimTime::at(b.at),
        spread: b.spread,
    })
}
