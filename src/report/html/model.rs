//! The models behind a report, rebuilt from `manifest.json` (which keeps every variant's
//! resolved model table): the service graph of the first variant, how the other variants
//! change its policy stacks, and the resilience lint of each.
//!
//! A manifest whose models cannot be rebuilt (written by another version) still gives a
//! page: the section says why the graph is missing instead of failing the report.

use std::fmt::Write;
use std::path::Path;

use serde_json::Value;

use crate::model::describe::lint;
use crate::model::graph::Model;
use crate::model::load::model_from_table;

use super::super::charts::data::Manifest;
use super::{esc, graph, swatch};

/// A variant's resolved model table and the model built from it, or why not.
pub(crate) type Built = Result<(Value, Model), String>;

/// The resolved model of `variant` at the first point: its table and the built model.
pub(crate) fn model_of(m: &Manifest, variant: &str) -> Built {
    let point = m.points.first().map(String::as_str).unwrap_or("");
    let key = if point.is_empty() {
        variant.to_string()
    } else {
        format!("{variant}|{point}")
    };
    let table = m
        .models
        .get(&key)
        .ok_or_else(|| format!("manifest.json has no model for {key:?}"))?;
    let toml: toml::Table = serde_json::from_value(table.clone())
        .map_err(|e| format!("manifest.json: models.{key}: {e}"))?;
    let (_, model) = model_from_table(Path::new(&m.model), toml).map_err(|e| e.to_string())?;
    Ok((table.clone(), model))
}

/// Writes the service-graph and lint sections.
pub fn graph_and_lint(s: &mut String, m: &Manifest) {
    s.push_str("<h2 id=\"graph\">Service graph</h2>\n");
    let Some(first) = m.variants.first() else {
        s.push_str("<p class=\"note\">The manifest names no variant.</p>\n");
        lint_none(s);
        return;
    };
    let (table, base) = match model_of(m, first) {
        Ok(x) => x,
        Err(why) => {
            let _ = writeln!(
                s,
                "<p class=\"note\">The service graph cannot be drawn: {}</p>",
                esc(&why)
            );
            lint_none(s);
            return;
        }
    };
    let _ = write!(
        s,
        "<p class=\"note\">As variant {}<b>{}</b> runs it: each service with instances × workers and its queue, each client edge with its policy stack, outermost layer first. Red outline: a service a fault hits.</p>\n<div class=\"graph-wrap\">{}</div>\n",
        swatch(0),
        esc(first),
        graph::svg(&base, &table)
    );
    let others: Vec<(usize, &String, Built)> = m
        .variants
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, v)| (i, v, model_of(m, v)))
        .collect();
    let stacks = |model: &Model, table: &Value| -> Vec<(String, Vec<String>)> {
        model
            .clients
            .iter()
            .map(|c| {
                let spec = &table["services"][&model.services[c.caller as usize].name]["clients"]
                    [&model.services[c.callee as usize].name];
                (c.name.clone(), graph::stack(&c.layers, spec))
            })
            .collect()
    };
    let base_stacks = stacks(&base, &table);
    let mut diff = String::new();
    for (i, name, built) in &others {
        let Ok((t, model)) = built else { continue };
        for (edge, stack) in stacks(model, t) {
            let before = base_stacks.iter().find(|(e, _)| *e == edge).map(|x| &x.1);
            if before != Some(&stack) {
                let text = if stack.is_empty() {
                    "no policies".to_string()
                } else {
                    stack.join(" → ")
                };
                let _ = write!(
                    diff,
                    "<li>{}<b>{}</b>: {} — {}</li>",
                    swatch(*i),
                    esc(name),
                    esc(&edge),
                    esc(&text)
                );
            }
        }
        let sizes = |m: &Model| -> Vec<(String, u32, u32)> {
            m.services
                .iter()
                .map(|s| (s.name.clone(), s.instances, s.workers))
                .collect()
        };
        for (svc, inst, workers) in sizes(model) {
            if !sizes(&base).contains(&(svc.clone(), inst, workers)) {
                let _ = write!(
                    diff,
                    "<li>{}<b>{}</b>: service {} — {inst} × {workers} workers</li>",
                    swatch(*i),
                    esc(name),
                    esc(&svc)
                );
            }
        }
    }
    if !diff.is_empty() {
        let _ = writeln!(
            s,
            "<h3>What the other variants change in the graph</h3><ul class=\"diff\">{diff}</ul>"
        );
    }

    s.push_str("<h2 id=\"lint\">Resilience lint</h2>\n<p class=\"note\">The known pattern traps, found statically in each variant's model (<code>cascade check</code>).</p>\n");
    let base_lint = lint(&base);
    let mut any = false;
    let _ = write!(s, "<h3>{}{}</h3><ul class=\"lint\">", swatch(0), esc(first));
    if base_lint.is_empty() {
        s.push_str("<li>no findings</li>");
    }
    for w in &base_lint {
        any = true;
        let _ = write!(s, "<li>{}</li>", esc(w));
    }
    s.push_str("</ul>\n");
    for (i, name, built) in &others {
        let Ok((_, model)) = built else {
            let _ = write!(
                s,
                "<h3>{}{}</h3><p class=\"note\">model not available</p>",
                swatch(*i),
                esc(name)
            );
            continue;
        };
        let mine = lint(model);
        let fixed = base_lint.iter().filter(|w| !mine.contains(w)).count();
        let new: Vec<&String> = mine.iter().filter(|w| !base_lint.contains(w)).collect();
        let _ = write!(
            s,
            "<h3>{}{}</h3><p class=\"note\">{} of {}'s findings fixed, {} left{}</p>",
            swatch(*i),
            esc(name),
            fixed,
            esc(first),
            mine.len() - new.len(),
            if new.is_empty() { "" } else { "; new:" }
        );
        if !new.is_empty() {
            any = true;
            s.push_str("<ul class=\"lint\">");
            for w in new {
                let _ = write!(s, "<li>{}</li>", esc(w));
            }
            s.push_str("</ul>\n");
        }
    }
    if !any && others.is_empty() && base_lint.is_empty() {
        s.push_str("<p class=\"note\">No trap found.</p>\n");
    }
}

fn lint_none(s: &mut String) {
    s.push_str("<h2 id=\"lint\">Resilience lint</h2>\n<p class=\"note\">Not available without the model.</p>\n");
}
