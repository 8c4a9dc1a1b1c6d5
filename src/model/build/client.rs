//! Client stacks: the policy layers around the calls from one service to another, each
//! policy checked by building it once, the layer order resolved.

use super::err;
use crate::error::ConfigError;
use crate::model::graph::{BreakerDef, Client, Pool, ServiceId};
use crate::model::spec::{BreakerScope, ClientSpec, Layer, RateLimitSpec};
use crate::policy::balancer::DEFAULT_PANIC_THRESHOLD;
use crate::policy::budget::RetryBudget;
use crate::policy::circuit_breaker::CircuitBreaker;
use crate::policy::fallback::Fallback;
use crate::policy::hedge::Hedge;
use crate::policy::outlier::OutlierDetector;
use crate::policy::rate_limit::{RateLimiter, RateLimiterConfig};
use crate::policy::retry::Retry;
use crate::policy::timeout::{AdaptiveTimeout, AttemptTimeout};
use crate::time::SimTime;

/// The limiter a `rate_limit` table describes (exactly one kind).
pub(super) fn build_rate_limit(
    path: &str,
    spec: &RateLimitSpec,
) -> Result<RateLimiterConfig, ConfigError> {
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

const DEFAULT_ORDER: [Layer; 4] = [
    Layer::Bulkhead,
    Layer::Breaker,
    Layer::Retry,
    Layer::Timeout,
];

#[allow(clippy::too_many_arguments)]
pub(super) fn build_client(
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
