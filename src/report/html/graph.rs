//! The service graph as an SVG diagram: workloads on the left, then services in columns
//! by call depth (a callee is always right of its callers), each box with its instances
//! × workers and queue, each client edge labelled with its policy stack, outermost
//! layer first, as the model resolves it. Services a fault hits are outlined in red.
//!
//! The labels come from two places: the layer order from the validated [`Model`] (what
//! the simulation runs), the parameters from the resolved model table (what the user
//! wrote, e.g. the backoff's name). Every string is escaped.

use std::fmt::Write;

use serde_json::Value;

use crate::model::graph::{Arrivals, Model};
use crate::model::spec::Layer;

use super::esc;

const BOX_W: i32 = 210;
const BOX_H: i32 = 64;
const COL_W: i32 = 440;
const ROW_H: i32 = 150;
const PAD: i32 = 24;
const LINE_H: i32 = 14;

/// The diagram of `model`, whose table as written (resolved) is `table`.
pub fn svg(model: &Model, table: &Value) -> String {
    let n = model.services.len();
    // Depth: workloads' entry services at 1, each callee one right of its deepest caller.
    let mut depth = vec![1usize; n];
    for _ in 0..n {
        for c in &model.clients {
            let d = depth[c.caller as usize] + 1;
            if depth[c.callee as usize] < d {
                depth[c.callee as usize] = d;
            }
        }
    }
    let cols = depth.iter().copied().max().unwrap_or(1);
    let mut rows_in = vec![0usize; cols + 1];
    let mut pos = vec![(0i32, 0i32); n];
    for (s, d) in depth.iter().enumerate() {
        pos[s] = (
            PAD + *d as i32 * COL_W - COL_W / 2,
            PAD + 20 + rows_in[*d] as i32 * ROW_H,
        );
        rows_in[*d] += 1;
    }
    let rows = rows_in
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(model.workloads.len());
    let width = PAD * 2 + COL_W / 2 + cols as i32 * COL_W - COL_W / 2 + BOX_W;
    let height = PAD * 2 + 20 + (rows as i32 - 1) * ROW_H + BOX_H + 30;

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="service graph">"#
    );
    s.push_str(
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>"##,
    );
    let faulted: Vec<bool> = (0..n)
        .map(|i| model.faults.iter().any(|f| f.service as usize == i))
        .collect();

    // Workloads, then edges (under the boxes), then boxes.
    let mut labels = String::new();
    for (i, w) in model.workloads.iter().enumerate() {
        let (x, y) = (PAD, PAD + 20 + i as i32 * ROW_H + 8);
        let target = model.endpoints[w.target as usize].service as usize;
        let rate = match &w.arrivals {
            Arrivals::Poisson(points) => {
                let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
                format!("up to {} req/s", trim(peak))
            }
            Arrivals::Clients { count, .. } => format!("{count} clients"),
            Arrivals::Bursts => String::new(),
        };
        let users: u64 = w.bursts.iter().map(|b| u64::from(b.count)).sum();
        let rate = match (rate.is_empty(), users) {
            (_, 0) => rate,
            (true, n) => format!("{n} users in bursts"),
            (false, n) => format!("{rate} + {n} in bursts"),
        };
        let _ = write!(
            s,
            r##"<rect x="{x}" y="{y}" width="150" height="48" rx="24" fill="#f4f4f4" stroke="#999"/><text x="{}" y="{}" class="g-name" text-anchor="middle">{}</text><text x="{}" y="{}" class="g-sub" text-anchor="middle">{}</text>"##,
            x + 75,
            y + 20,
            esc(&w.name),
            x + 75,
            y + 37,
            esc(&rate)
        );
        let (tx, ty) = pos[target];
        curve(&mut s, (x + 150, y + 24), (tx, ty + BOX_H / 2), "#999");
    }
    let names: Vec<&str> = model.services.iter().map(|s| s.name.as_str()).collect();
    for c in &model.clients {
        let (a, b) = (pos[c.caller as usize], pos[c.callee as usize]);
        let from = (a.0 + BOX_W, a.1 + BOX_H / 2);
        let to = (b.0, b.1 + BOX_H / 2);
        curve(&mut s, from, to, "#555");
        let spec =
            &table["services"][names[c.caller as usize]]["clients"][names[c.callee as usize]];
        let stack = stack(&c.layers, spec);
        let (mx, my) = ((from.0 + to.0) / 2, (from.1 + to.1) / 2);
        let lines: Vec<String> = if stack.is_empty() {
            vec!["no policies".to_string()]
        } else {
            stack
        };
        let w = lines.iter().map(|l| l.chars().count()).max().unwrap_or(1) as i32 * 7 + 12;
        let h = lines.len() as i32 * LINE_H + 8;
        let (lx, ly) = (mx - w / 2, my - h / 2);
        let _ = write!(
            labels,
            r##"<g class="g-edge"><title>{}</title><rect x="{lx}" y="{ly}" width="{w}" height="{h}" rx="4" fill="#fffdf4" stroke="#d8cfa8"/>"##,
            esc(&c.name)
        );
        for (k, l) in lines.iter().enumerate() {
            let _ = write!(
                labels,
                r#"<text x="{mx}" y="{}" class="g-policy" text-anchor="middle">{}</text>"#,
                ly + 4 + LINE_H * (k as i32 + 1) - 3,
                esc(l)
            );
        }
        labels.push_str("</g>");
    }
    for (i, svc) in model.services.iter().enumerate() {
        let (x, y) = pos[i];
        let (stroke, width) = if faulted[i] {
            ("#c0392b", 3)
        } else {
            ("#4e79a7", 2)
        };
        let sizing = if svc.instances > 1 || svc.autoscale.is_some() {
            format!("{} × {} workers", svc.instances, svc.workers)
        } else {
            format!("{} workers", svc.workers)
        };
        let queue = match svc.queue_capacity {
            Some(q) => format!("queue {q}"),
            None => "queue unbounded".to_string(),
        };
        let extra = match svc.autoscale {
            Some(a) => format!(" · HPA {}–{}", a.min, a.max),
            None => String::new(),
        };
        let _ = write!(
            s,
            r##"<g class="g-service"><title>service {}</title><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="#eef3f9" stroke="{stroke}" stroke-width="{width}"/><text x="{}" y="{}" class="g-name" text-anchor="middle">{}</text><text x="{}" y="{}" class="g-sub" text-anchor="middle">{}</text><text x="{}" y="{}" class="g-sub" text-anchor="middle">{}</text></g>"##,
            esc(&svc.name),
            x + BOX_W / 2,
            y + 21,
            esc(&svc.name),
            x + BOX_W / 2,
            y + 39,
            esc(&sizing),
            x + BOX_W / 2,
            y + 55,
            esc(&format!(
                "{queue}{extra}{}",
                if faulted[i] { " · fault" } else { "" }
            ))
        );
    }
    s.push_str(&labels);
    s.push_str("</svg>");
    s
}

fn curve(s: &mut String, (x0, y0): (i32, i32), (x1, y1): (i32, i32), colour: &str) {
    let dx = ((x1 - x0) / 2).max(40);
    let _ = write!(
        s,
        r#"<path d="M {x0} {y0} C {} {y0}, {} {y1}, {x1} {y1}" fill="none" stroke="{colour}" stroke-width="1.6" marker-end="url(#arrow)"/>"#,
        x0 + dx,
        x1 - dx
    );
}

fn trim(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// The policy stack of one client edge, one entry per layer (outermost first), then the
/// policies that are not layers (budget, hedge, fallback, balancing, cancellation).
pub fn stack(layers: &[Layer], spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside_retry = false;
    for layer in layers {
        let text = match layer {
            Layer::Bulkhead => spec
                .get("bulkhead")
                .map(|b| format!("bulkhead {}", brief(b))),
            Layer::Breaker => spec.get("breaker").map(|b| format!("breaker {}", brief(b))),
            Layer::Retry => {
                inside_retry = true;
                spec.get("retry").map(|r| {
                    let attempts = r
                        .get("max_attempts")
                        .and_then(Value::as_u64)
                        .or_else(|| r.get("max_retries").and_then(Value::as_u64).map(|n| n + 1))
                        .unwrap_or(3);
                    let backoff = r.get("backoff").map_or("fixed 500ms".to_string(), brief);
                    format!("retry {attempts}× {backoff}")
                })
            }
            Layer::Timeout => spec.get("timeout").map(|t| {
                let per = if inside_retry {
                    "per attempt"
                } else {
                    "per call"
                };
                format!("timeout {} {per}", brief(t))
            }),
            Layer::RateLimiter => spec
                .get("rate_limit")
                .map(|r| format!("rate limit {}", brief(r))),
        };
        out.extend(text);
    }
    if let Some(t) = spec.get("total_timeout") {
        out.push(format!("total timeout {}", brief(t)));
    }
    for (key, word) in [
        ("budget", "budget"),
        ("hedge", "hedge"),
        ("fallback", "fallback"),
        ("pool", "pool"),
        ("load_balancer", "balancer"),
        ("health_check", "health checks"),
        ("outlier_detection", "outlier ejection"),
    ] {
        if let Some(v) = spec.get(key) {
            out.push(format!("{word} {}", brief(v)).trim_end().to_string());
        }
    }
    if spec.get("cancel").and_then(Value::as_bool) == Some(true) {
        out.push("cancels on give-up".into());
    }
    out
}

/// A value in a few words: a string or number as written; `{ kind = { … } }` as its
/// kind; a table as its first scalar fields.
pub(crate) fn brief(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "on" } else { "off" }.to_string(),
        Value::Array(a) => a.iter().map(brief).collect::<Vec<_>>().join(", "),
        Value::Object(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next().expect("one entry");
            match inner {
                Value::Object(f) => {
                    let fields = scalars(f, 2);
                    if fields.is_empty() {
                        k.clone()
                    } else {
                        format!("{k} ({fields})")
                    }
                }
                _ => format!("{k} {}", brief(inner)),
            }
        }
        // `{ consecutive = { failures = 2 }, wait_open = "5s" }`: the kind, then fields.
        Value::Object(m) => {
            let kinds: Vec<String> = m
                .iter()
                .filter(|(_, v)| v.is_object())
                .map(|(k, v)| {
                    brief(&Value::Object(
                        [(k.clone(), v.clone())].into_iter().collect(),
                    ))
                })
                .collect();
            let fields = scalars(m, 3);
            [kinds.join(", "), fields]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        }
        Value::Null => String::new(),
    }
}

fn scalars(m: &serde_json::Map<String, Value>, at_most: usize) -> String {
    m.iter()
        .filter(|(_, v)| !v.is_object() && !v.is_array())
        .take(at_most)
        .map(|(k, v)| format!("{k} {}", brief(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stack_lists_layers_outermost_first_with_their_parameters() {
        let spec = json!({
            "timeout": "1s",
            "retry": { "max_attempts": 3, "backoff": { "full_jitter": { "base": "100ms", "cap": "2s" } } },
            "breaker": { "count_window": { "size": 20 } },
            "bulkhead": { "max_concurrent": 30 },
            "cancel": true,
        });
        let layers = [
            Layer::Bulkhead,
            Layer::Breaker,
            Layer::Retry,
            Layer::Timeout,
        ];
        assert_eq!(
            stack(&layers, &spec),
            [
                "bulkhead max_concurrent 30",
                "breaker count_window (size 20)",
                "retry 3× full_jitter (base 100ms, cap 2s)",
                "timeout 1s per attempt",
                "cancels on give-up",
            ]
        );
    }

    #[test]
    fn a_table_shows_its_kind_before_its_fields() {
        let spec = json!({ "breaker": { "consecutive": { "failures": 2 }, "wait_open": "5s" } });
        assert_eq!(
            stack(&[Layer::Breaker], &spec),
            ["breaker consecutive (failures 2), wait_open 5s"]
        );
    }

    #[test]
    fn a_timeout_outside_the_retry_is_per_call() {
        let spec =
            json!({ "timeout": "5s", "retry": { "max_retries": 1, "backoff": "immediate" } });
        assert_eq!(
            stack(&[Layer::Timeout, Layer::Retry], &spec),
            ["timeout 5s per call", "retry 2× immediate"]
        );
    }
}
