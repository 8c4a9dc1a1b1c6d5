//! Contended resources (`[resources.<name>] kind = "occ"`) and the `occ_read` / `occ_write`
//! steps that use them: each step names an existing resource, and every resource is used
//! by some step (a resource nobody touches would be a key that parses and does nothing).

use super::err;
use crate::error::ConfigError;
use crate::model::graph::{Endpoint, Resource, Step};
use crate::model::spec::{ModelSpec, ResourceKind, StepSpec};

/// The resources, sorted by name (their ids are their positions).
pub(super) fn build_resources(spec: &ModelSpec) -> Result<Vec<Resource>, ConfigError> {
    let mut out = Vec::new();
    for (name, r) in &spec.resources {
        super::check_name(&format!("resources.{name}"), name)?;
        match r.kind {
            ResourceKind::Occ => out.push(Resource { name: name.clone() }),
        }
    }
    Ok(out)
}

/// The step an `occ_read` / `occ_write` spec step means (`None` for any other step).
pub(super) fn occ_step(
    path: &str,
    step: &StepSpec,
    resources: &[Resource],
) -> Result<Option<Step>, ConfigError> {
    let (key, name, write) = match (&step.occ_read, &step.occ_write) {
        (Some(r), None) => ("occ_read", r, false),
        (None, Some(w)) => ("occ_write", w, true),
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(err(
                path,
                "a step needs exactly one of `work`, `call`, `parallel`, `occ_read` or `occ_write`",
            ));
        }
    };
    let Some(id) = resources.iter().position(|r| &r.name == name) else {
        let known: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
        return Err(err(
            format!("{path}.{key}"),
            if known.is_empty() {
                format!(
                    "no resource named {name:?}: the model has no [resources] (add [resources.{name}] kind = \"occ\")"
                )
            } else {
                format!(
                    "no resource named {name:?} in [resources] (its resources: {})",
                    known.join(", ")
                )
            },
        ));
    };
    let resource = id as u32;
    Ok(Some(if write {
        Step::OccWrite { resource }
    } else {
        Step::OccRead { resource }
    }))
}

/// Every resource is read or written by some step.
pub(super) fn check_used(
    resources: &[Resource],
    endpoints: &[Endpoint],
) -> Result<(), ConfigError> {
    for (i, r) in resources.iter().enumerate() {
        let used = endpoints.iter().flat_map(|e| &e.steps).any(|s| {
            matches!(*s, Step::OccRead { resource } | Step::OccWrite { resource } if resource as usize == i)
        });
        if !used {
            return Err(err(
                format!("resources.{}", r.name),
                "no occ_read or occ_write step uses it, so it would do nothing",
            ));
        }
    }
    Ok(())
}
