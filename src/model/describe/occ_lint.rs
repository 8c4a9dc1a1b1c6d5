//! The contention traps, found statically: where `occ` resources are read and written.
//!
//! - an **`occ_write` with no `occ_read` of its resource before it on the path** from the
//!   users: the write cannot know the version it expects, so it always conflicts;
//! - **retries without jitter on a path through a contended resource**: clients that
//!   conflicted together sleep the same time and collide again (the AWS "Exponential
//!   Backoff and Jitter" study: exponential back-off without jitter saves little work
//!   and takes by far the longest); jitter is what spreads them;
//! - a **retry of the write call alone**: it resends the version already read, so a
//!   conflict conflicts again; only a retry above the read repeats read-then-write.

use crate::model::graph::{Model, Step};
use crate::policy::backoff::BackoffConfig;
use crate::policy::retry::Retry;

/// Whether a backoff draws random delays (the deterministic ones keep herds together).
fn jittered(b: &BackoffConfig) -> bool {
    match b {
        BackoffConfig::None
        | BackoffConfig::Immediate
        | BackoffConfig::Fixed(_)
        | BackoffConfig::Linear(_)
        | BackoffConfig::Exponential(_) => false,
        BackoffConfig::Polly(p) => p.use_jitter,
        _ => true,
    }
}

/// Retries more than once, waiting without jitter. (Retries with no wait at all are flagged by the main lint already.)
fn unjittered(r: &Retry) -> bool {
    r.max_attempts() > 1 && !jittered(r.backoff().config()) && !r.backoff().max_delay().is_zero()
}

/// Whether endpoint `e` (or anything it calls) writes an `occ` resource: the names.
fn writes(model: &Model, e: usize, out: &mut Vec<u32>) {
    for s in &model.endpoints[e].steps {
        match s {
            Step::OccWrite { resource } if !out.contains(resource) => out.push(*resource),
            Step::Calls(calls) => {
                for c in calls {
                    writes(model, c.target as usize, out);
                }
            }
            _ => {}
        }
    }
}

/// Walks endpoint `e` in step order with the resources read so far on the path, and
/// reports each write of a resource not read before it.
fn walk(
    model: &Model,
    e: usize,
    read: &mut Vec<u32>,
    path: &mut Vec<usize>,
    out: &mut Vec<String>,
) {
    path.push(e);
    for (k, s) in model.endpoints[e].steps.iter().enumerate() {
        match s {
            Step::OccRead { resource } => read.push(*resource),
            Step::OccWrite { resource } if !read.contains(resource) => {
                let at = format!("{}.occ_write", model.endpoints[e].keys[k]);
                if !out.iter().any(|l| l.starts_with(&at)) {
                    let names: Vec<&str> = path
                        .iter()
                        .map(|&p| model.endpoints[p].name.as_str())
                        .collect();
                    out.push(format!(
                        "{at}: writes {} with no occ_read of it before on the path {}: the write cannot know the version it expects, so it always conflicts; read it first (an occ_read step, or a call to an endpoint that reads it)",
                        model.resources[*resource as usize].name,
                        names.join(" → ")
                    ));
                }
            }
            Step::Calls(calls) => {
                for c in calls {
                    walk(model, c.target as usize, read, path, out);
                }
            }
            _ => {}
        }
    }
    path.pop();
}

/// The contention warnings, each `key path: problem; fix`.
pub fn lint(model: &Model) -> Vec<String> {
    let mut out = Vec::new();
    if model.resources.is_empty() {
        return out;
    }
    for w in &model.workloads {
        walk(
            model,
            w.target as usize,
            &mut Vec::new(),
            &mut Vec::new(),
            &mut out,
        );
    }
    let name = |r: &[u32]| -> String {
        r.iter()
            .map(|&i| model.resources[i as usize].name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, w) in model.workloads.iter().enumerate() {
        let mut res = Vec::new();
        writes(model, w.target as usize, &mut res);
        if let Some(r) = &w.retry
            && !res.is_empty()
            && unjittered(r)
        {
            out.push(format!(
                "workloads[{i}].retry.backoff: {:?} users retry without jitter on a path through the contended {}: users that conflicted together retry together and conflict again (in the AWS backoff study exponential back-off without jitter saves little work and takes by far the longest); use {{ full_jitter = {{ … }} }} or decorrelated_jitter",
                w.name,
                name(&res)
            ));
        }
    }
    for (ci, c) in model.clients.iter().enumerate() {
        let Some(r) = &c.retry else { continue };
        if r.max_attempts() < 2 {
            continue;
        }
        let key = format!(
            "services.{}.clients.{}",
            model.services[c.caller as usize].name, model.services[c.callee as usize].name
        );
        let targets: Vec<usize> = model
            .endpoints
            .iter()
            .flat_map(|e| &e.steps)
            .filter_map(|s| match s {
                Step::Calls(calls) => Some(calls),
                _ => None,
            })
            .flatten()
            .filter(|call| call.client as usize == ci)
            .map(|call| call.target as usize)
            .collect();
        let mut res = Vec::new();
        for &t in &targets {
            writes(model, t, &mut res);
        }
        if res.is_empty() {
            continue;
        }
        let alone = targets.iter().any(|&t| {
            let steps = &model.endpoints[t].steps;
            steps.iter().any(|s| matches!(s, Step::OccWrite { .. }))
                && !steps.iter().any(|s| matches!(s, Step::OccRead { .. }))
        });
        if alone && r.retryable().contains(crate::policy::Outcome::ServerError) {
            out.push(format!(
                "{key}.retry: retries the write to {} alone, resending the version already read: after a conflict the record has moved on, so every retry conflicts again; retry above the read (the users, or the caller of the read-then-write), so each retry reads afresh",
                name(&res)
            ));
        } else if unjittered(r) {
            out.push(format!(
                "{key}.retry.backoff: retries without jitter on a path through the contended {}: calls that conflicted together retry together and conflict again; use {{ full_jitter = {{ … }} }} or decorrelated_jitter",
                name(&res)
            ));
        }
    }
    out
}
