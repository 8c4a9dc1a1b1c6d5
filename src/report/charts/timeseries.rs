//! The time-series figure of one variant at one sweep point: stacked panels sharing the
//! time axis, each with the fault windows shaded.
//!
//! The panels follow a cascade's causal chain, top to bottom: (a) offered load against
//! answers (the goodput collapse users feel), (b) p99 latency (timeouts firing), (c)
//! busy workers (threads held by slow calls), (d) queue length (work that will be
//! answered too late), (e) breakers open (the protection acting). Seeing a queue keep
//! growing after the fault window ends is how a metastable failure looks.
//!
//! Samples are plotted at bucket midpoints (a bucket's mean describes its whole width).
//! Panels with more than nine series keep the nine with the highest peak, and say so.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::Inputs;
use super::axes::{self, TimeUnit, fmt_num};
use super::canvas::{
    self, DrawError, Drawn, FAULT_FILL, Figure, GRID, INK, LegendEntry, PALETTE, Swatch,
    Y_LABEL_AREA, colour, draw_legend, legend_width, size, text, title_band,
};
use super::data::Sample;

/// Series per panel at most (one palette's worth of distinct colours).
const MAX_SERIES: usize = PALETTE.len();
/// Height of one panel in pixels.
const PANEL_HEIGHT: u32 = 360;

/// One line with its band; `x` already in display time units.
pub(super) struct Line {
    pub(super) label: String,
    pub(super) colour: RGBColor,
    pub(super) dashed: bool,
    /// `(x, mean, lo, hi)`.
    pub(super) points: Vec<(f64, f64, f64, f64)>,
}

/// The y axis of one panel.
#[derive(Clone, Copy)]
pub(super) enum Scale {
    Linear(f64, f64),
    Log(f64, f64),
}

pub(super) struct Panel {
    pub(super) caption: String,
    pub(super) y_desc: String,
    pub(super) scale: Scale,
    pub(super) lines: Vec<Line>,
    /// Events to mark (restarts): `(x, label, colour)`, drawn as triangles at the top.
    pub(super) marks: Vec<(f64, String, RGBColor)>,
}

/// The multi-panel figure of one cell.
pub struct TimeSeriesFigure {
    pub(super) title: String,
    pub(super) subtitle: String,
    pub(super) x_desc: String,
    pub(super) x_max: f64,
    /// Fault windows in display units.
    pub(super) faults: Vec<(f64, f64)>,
    /// When diverged runs were stopped, in display units.
    pub(super) stops: Vec<f64>,
    /// Users are still in an outage when the run ends: a line marks the end.
    pub(super) still_down: bool,
    pub(super) panels: Vec<Panel>,
}

/// The figure for `variant` at `point`, or `None` if the cell has no drawable series.
pub fn build(inputs: &Inputs, variant: &str, point: &str) -> Option<TimeSeriesFigure> {
    let cell = inputs.timeseries.as_ref()?.cell(variant, point)?;
    let m = &inputs.manifest;
    let bucket_s = if m.bucket_s > 0.0 {
        m.bucket_s
    } else {
        infer_bucket(cell)
    };
    let last_t = cell
        .values()
        .filter_map(|s| s.last())
        .map(|s| s.t_s + bucket_s)
        .fold(0.0, f64::max);
    let duration_s = if m.duration_s > 0.0 {
        m.duration_s
    } else {
        last_t
    };
    let unit = TimeUnit::for_max(duration_s);
    let to_x = |t_s: f64| unit.scale(t_s + bucket_s / 2.0);
    let line = |metric: &str, label: &str, colour: RGBColor, dashed: bool, k: f64| {
        let samples = cell.get(metric)?;
        let points: Vec<(f64, f64, f64, f64)> = samples
            .iter()
            // Every plotted metric is a count, rate or share: a confidence band below zero
            // is an artefact of the normal approximation, so it is clipped.
            .map(|s| (to_x(s.t_s), s.mean * k, (s.lo * k).max(0.0), s.hi * k))
            .collect();
        points.iter().any(|p| p.1.is_finite()).then(|| Line {
            label: label.to_string(),
            colour,
            dashed,
            points,
        })
    };

    let mut panels = Vec::new();
    let traffic: Vec<Line> = [
        line(
            "offered_per_s",
            "offered",
            RGBColor(0x55, 0x55, 0x55),
            true,
            1.0,
        ),
        line(
            "ok_per_s",
            "answered (good + degraded + pending)",
            PALETTE[0],
            false,
            1.0,
        ),
    ]
    .into_iter()
    .flatten()
    .chain(
        // With several workloads, each one's answers too (a shared pool shows here).
        names_with_prefix(cell, &[], "ok_per_s:", "ok_per_s:")
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                line(
                    &format!("ok_per_s:{w}"),
                    &format!("answered: {w}"),
                    colour(i + 1),
                    false,
                    1.0,
                )
            }),
    )
    .collect();
    panels.extend(linear_panel(
        "(a) Load: offered vs answered".into(),
        "requests per second".into(),
        traffic,
    ));
    let max_ms = ["p99_ms", "p99_ok_ms"]
        .iter()
        .filter_map(|m| cell.get(*m))
        .flatten()
        .map(|s| s.mean)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let (lat_unit, lat_k) = axes::latency_unit(max_ms);
    let latency: Vec<Line> = [
        line(
            "p99_ms",
            "p99, all requests (failed, abandoned included)",
            PALETTE[3],
            false,
            lat_k,
        ),
        line(
            "p99_ok_ms",
            "p99, answered requests",
            PALETTE[5],
            false,
            lat_k,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !latency.is_empty() {
        let panel = latency_panel(
            "(b) p99 latency".into(),
            "p99 latency",
            lat_unit,
            latency,
            true,
        );
        panels.push(panel);
    }

    // Service totals here; a fleet's instances (`web#3`) get their own panel below.
    let services: Vec<String> = names_with_prefix(cell, &m.services, "busy:", "queue:")
        .into_iter()
        .filter(|s| !s.contains('#'))
        .collect();
    let per_service = |prefix: &str| -> Vec<Line> {
        services
            .iter()
            .enumerate()
            .filter_map(|(i, s)| line(&format!("{prefix}{s}"), s, colour(i), false, 1.0))
            .collect()
    };
    let (busy, note) = top(per_service("busy:"));
    panels.extend(by_scale(
        format!("(c) Busy workers per service{note}"),
        "busy workers (mean)",
        busy,
    ));
    let (queue, note) = top(per_service("queue:"));
    panels.extend(by_scale(
        format!("(d) Queue length per service{note}"),
        "queued requests (mean)",
        queue,
    ));

    let edges = names_with_prefix(cell, &m.clients, "attempts_per_s:", "attempts_per_s:");
    let attempts: Vec<Line> = edges
        .iter()
        .enumerate()
        .filter_map(|(i, c)| line(&format!("attempts_per_s:{c}"), c, colour(i), false, 1.0))
        .collect();
    let (attempts, note) = top(attempts);
    panels.extend(linear_panel(
        format!("(e) Attempts per second per client edge, retries included{note}"),
        "attempts per second".into(),
        attempts,
    ));

    let clients = names_with_prefix(cell, &m.clients, "breaker_open:", "breaker_open:");
    let breakers: Vec<Line> = clients
        .iter()
        .enumerate()
        .filter_map(|(i, c)| line(&format!("breaker_open:{c}"), c, colour(i), false, 100.0))
        .filter(|l| l.points.iter().any(|p| p.1 > 0.0 || p.3 > 0.0))
        .collect();
    let (breakers, note) = top(breakers);
    if !breakers.is_empty() {
        panels.push(Panel {
            caption: format!("(f) Circuit breakers open, per client edge{note}"),
            y_desc: "open (% of time)".into(),
            scale: Scale::Linear(0.0, 105.0),
            lines: breakers,
            marks: Vec::new(),
        });
    }

    // Fleets: instances ready and asked for per service, healthy and ejected per edge
    // (the balancer's view), restarts marked; then each small fleet's instances.
    let fleets = names_with_prefix(cell, &m.services, "ready:", "ready:");
    let mut fleet_lines = Vec::new();
    let mut marks = Vec::new();
    for (i, svc) in fleets.iter().enumerate() {
        let ready = line(
            &format!("ready:{svc}"),
            &format!("{svc}: ready"),
            colour(i),
            false,
            1.0,
        );
        let replicas = line(
            &format!("replicas:{svc}"),
            &format!("{svc}: replicas asked for"),
            colour(i),
            true,
            1.0,
        );
        let differs = match (&ready, &replicas) {
            (Some(a), Some(b)) => a.points.iter().zip(&b.points).any(|(x, y)| x.1 != y.1),
            _ => false,
        };
        fleet_lines.extend(ready);
        if differs {
            fleet_lines.extend(replicas);
        }
        if let Some(restarts) = cell.get(&format!("restarts:{svc}")) {
            for s in restarts.iter().filter(|s| s.mean > 0.0) {
                marks.push((to_x(s.t_s), format!("{svc}: restart"), colour(i)));
            }
        }
    }
    let checked = names_with_prefix(cell, &m.clients, "healthy:", "healthy:");
    for (j, edge) in checked.iter().enumerate() {
        let k = fleets.len() + 2 * j;
        fleet_lines.extend(line(
            &format!("healthy:{edge}"),
            &format!("{edge}: healthy"),
            colour(k),
            false,
            1.0,
        ));
        fleet_lines.extend(
            line(
                &format!("ejected:{edge}"),
                &format!("{edge}: ejected"),
                colour(k + 1),
                false,
                1.0,
            )
            .filter(|l| l.points.iter().any(|p| p.1 > 0.0)),
        );
    }
    let (fleet_lines, note) = top(fleet_lines);
    if let Some(mut p) = linear_panel(
        format!("(g) Instances: ready per service, healthy per balancer{note}"),
        "instances (mean)".into(),
        fleet_lines,
    ) {
        p.marks = marks;
        panels.push(p);
    }
    for svc in &fleets {
        let prefix = format!("busy:{svc}#");
        let mut instances: Vec<(usize, String)> = cell
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix).and_then(|n| n.parse().ok()))
            .map(|n: usize| (n, format!("{svc}#{n}")))
            .collect();
        instances.sort();
        let lines: Vec<Line> = instances
            .iter()
            .enumerate()
            .filter_map(|(i, (_, name))| line(&format!("busy:{name}"), name, colour(i), false, 1.0))
            .collect();
        let (lines, note) = top(lines);
        panels.extend(linear_panel(
            format!("(h) Busy workers per instance of {svc}{note}"),
            "busy workers (mean)".into(),
            lines,
        ));
    }
    // Shared connection pools: connections in use, and who waits for one.
    let pools: Vec<String> = cell
        .keys()
        .filter_map(|k| k.strip_prefix("connections:"))
        .map(str::to_string)
        .collect();
    for (metric, caption, y_desc) in [
        (
            "connections",
            "(i) Connections in use per pool",
            "connections in use (mean)",
        ),
        (
            "connection_waiters",
            "(j) Callers waiting for a connection, per pool",
            "waiting (mean)",
        ),
    ] {
        let lines: Vec<Line> = pools
            .iter()
            .enumerate()
            .filter_map(|(i, pool)| line(&format!("{metric}:{pool}"), pool, colour(i), false, 1.0))
            .collect();
        let (lines, note) = top(lines);
        panels.extend(linear_panel(
            format!("{caption}{note}"),
            y_desc.into(),
            lines,
        ));
    }
    // Contended resources: writes tried, and the conflicts among them.
    let resources: Vec<String> = cell
        .keys()
        .filter_map(|k| k.strip_prefix("occ_writes_per_s:"))
        .map(str::to_string)
        .collect();
    let mut occ = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        for (metric, what, dashed) in [
            ("occ_writes_per_s", "writes", false),
            ("occ_conflicts_per_s", "conflicts", true),
        ] {
            let label = format!("{r}: {what}");
            occ.extend(line(
                &format!("{metric}:{r}"),
                &label,
                colour(i),
                dashed,
                1.0,
            ));
        }
    }
    let (occ, note) = top(occ);
    panels.extend(linear_panel(
        format!("(k) Writes to each optimistic-concurrency resource, conflicts dashed{note}"),
        "writes per second".into(),
        occ,
    ));
    if panels.is_empty() {
        return None;
    }
    for p in &mut panels {
        dash_coincident(&mut p.lines);
    }
    // Down in the last bucket (in most replications): the outage outlives the run.
    let still_down = cell
        .get("down")
        .and_then(|d| d.last())
        .is_some_and(|s| s.mean >= 0.5);

    let mut title = format!("{} — {variant}", m.name);
    if !point.is_empty() {
        title = format!("{title} at {point}");
    }
    title.push_str(&inputs.partial_tag());
    let stops = inputs.runs.diverged_at(variant, point);
    let diverged = match stops.as_slice() {
        [] => String::new(),
        [t, ..] => format!(
            " · {} diverged (first at {} {}): later buckets average the others",
            if stops.len() == 1 {
                "1 run".to_string()
            } else {
                format!("{} runs", stops.len())
            },
            fmt_num(unit.scale(*t)),
            unit.name()
        ),
    };
    let mean_of = inputs.mean_of("lines");
    Some(TimeSeriesFigure {
        title,
        subtitle: format!(
            "{mean_of} · bands: 95 % confidence interval · {} s buckets · red: fault window{diverged}",
            fmt_num(bucket_s)
        ),
        stops: stops.iter().map(|t| unit.scale(*t)).collect(),
        still_down,
        x_desc: format!("time ({})", unit.name()),
        x_max: unit.scale(duration_s.max(bucket_s)),
        faults: m
            .fault_windows
            .iter()
            .filter(|(a, b)| a.is_finite() && b.is_finite() && b > a)
            .map(|&(a, b)| (unit.scale(a), unit.scale(b)))
            .collect(),
        panels,
    })
}

/// Lines whose peaks differ by more than this factor go to separate panels.
const SCALE_SPLIT: f64 = 20.0;

/// Linear panels of `lines`, one per order of magnitude: a line that would be flat at
/// the bottom of another's scale (a leaf's 100 workers beside a proxy's 100 000) gets a
/// panel of its own, captioned "continued".
fn by_scale(caption: String, y_desc: &str, lines: Vec<Line>) -> Vec<Panel> {
    let peak = |l: &Line| {
        l.points
            .iter()
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
    };
    let mut order: Vec<(f64, usize, Line)> = lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| (peak(&l), i, l))
        .collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut groups: Vec<(f64, Vec<(usize, Line)>)> = Vec::new();
    for (p, i, l) in order {
        match groups.last_mut() {
            Some((top, g)) if p * SCALE_SPLIT >= *top => g.push((i, l)),
            // A line that stays at zero needs no scale of its own: it joins the first.
            Some(_) if p <= 0.0 => groups[0].1.push((i, l)),
            _ => groups.push((p, vec![(i, l)])),
        }
    }
    groups
        .into_iter()
        .enumerate()
        .filter_map(|(i, (_, mut lines))| {
            // Each panel keeps the services' own order (and so their legend order).
            lines.sort_by_key(|(k, _)| *k);
            let lines = lines.into_iter().map(|(_, l)| l).collect();
            let caption = if i == 0 {
                caption.clone()
            } else {
                format!("{caption} (continued: a smaller scale)")
            };
            linear_panel(caption, y_desc.into(), lines)
        })
        .collect()
}

/// Marks as dashed every solid line that lies on an earlier solid one (within 1 % of
/// the panel's peak in at least half the buckets where both are defined): three
/// edges carrying the same attempts, or two variants that behave alike, stay visible
/// as a solid line seen through dashes. Reference lines (already dashed) are left out.
pub(super) fn dash_coincident(lines: &mut [Line]) {
    let peak = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1.abs()))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let tol = (peak * 0.01).max(1e-12);
    let close = |a: &Line, b: &Line| {
        let (mut both, mut near) = (0usize, 0usize);
        for (p, q) in a.points.iter().zip(&b.points) {
            if p.1.is_finite() && q.1.is_finite() {
                both += 1;
                near += usize::from((p.1 - q.1).abs() <= tol);
            }
        }
        both > 0 && near * 2 >= both
    };
    let solid: Vec<bool> = lines.iter().map(|l| !l.dashed).collect();
    for i in 1..lines.len() {
        if solid[i] && (0..i).any(|j| solid[j] && !lines[j].dashed && close(&lines[j], &lines[i])) {
            lines[i].dashed = true;
        }
    }
}

/// Whether every value of every line is zero or missing (a panel with nothing to show).
fn all_zero(lines: &[Line]) -> bool {
    lines
        .iter()
        .flat_map(|l| l.points.iter().flat_map(|p| [p.1, p.3]))
        .all(|v| !v.is_finite() || v <= 0.0)
}

/// A latency panel: log scale when the values span a factor of 30 or more, else linear
/// from zero; `y_desc` reads "`what` (`unit`[, log scale])". The range covers the means,
/// and the confidence bands too when `bands`.
pub(super) fn latency_panel(
    caption: String,
    what: &str,
    unit: &str,
    lines: Vec<Line>,
    bands: bool,
) -> Panel {
    let values = || {
        lines.iter().flat_map(move |l| {
            l.points.iter().flat_map(move |p| {
                let band = if bands { [p.2, p.3] } else { [p.1, p.1] };
                [p.1, band[0], band[1]]
            })
        })
    };
    let (y_desc, scale) = match axes::log_range(values(), 30.0) {
        Some((lo, hi)) => (format!("{what} ({unit}, log scale)"), Scale::Log(lo, hi)),
        None => {
            let (lo, hi) = axes::y_range(values(), true, 0.08);
            (format!("{what} ({unit})"), Scale::Linear(lo, hi))
        }
    };
    Panel {
        caption,
        y_desc,
        scale,
        lines,
        marks: Vec::new(),
    }
}

/// A zero-based linear panel, or `None` without lines or with nothing but zeros (a
/// service without a queue, an edge never called).
pub(super) fn linear_panel(caption: String, y_desc: String, lines: Vec<Line>) -> Option<Panel> {
    if lines.is_empty() || all_zero(&lines) {
        return None;
    }
    let (lo, hi) = axes::y_range(
        lines
            .iter()
            .flat_map(|l| l.points.iter().flat_map(|p| [p.1, p.2, p.3])),
        true,
        0.08,
    );
    Some(Panel {
        caption,
        y_desc,
        scale: Scale::Linear(lo, hi),
        lines,
        marks: Vec::new(),
    })
}

/// Keeps the [`MAX_SERIES`] lines with the highest peak mean, in their original order,
/// and a caption note saying how many were dropped.
fn top(mut lines: Vec<Line>) -> (Vec<Line>, String) {
    let total = lines.len();
    if total <= MAX_SERIES {
        return (lines, String::new());
    }
    let peak = |l: &Line| {
        l.points
            .iter()
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
    };
    let mut order: Vec<(usize, f64)> = lines.iter().map(peak).enumerate().collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keep: Vec<usize> = order.iter().take(MAX_SERIES).map(|o| o.0).collect();
    keep.sort_unstable();
    let mut i = 0;
    lines.retain(|_| {
        i += 1;
        keep.contains(&(i - 1))
    });
    (lines, format!(" — the {MAX_SERIES} highest of {total}"))
}

/// Names in `preferred` order (services or clients from the manifest), then any other
/// names found after `prefix_a` or `prefix_b` in the cell's metrics.
fn names_with_prefix(
    cell: &BTreeMap<String, Vec<Sample>>,
    preferred: &[String],
    prefix_a: &str,
    prefix_b: &str,
) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for key in cell.keys() {
        let name = key
            .strip_prefix(prefix_a)
            .or_else(|| key.strip_prefix(prefix_b));
        if let Some(name) = name
            && !found.iter().any(|f| f == name)
        {
            found.push(name.to_string());
        }
    }
    super::data::ordered(preferred, &found)
}

/// The smallest positive step between sample times (1 s if there is none).
pub(super) fn infer_bucket(cell: &BTreeMap<String, Vec<Sample>>) -> f64 {
    let step = cell
        .values()
        .flat_map(|s| s.windows(2).map(|w| w[1].t_s - w[0].t_s))
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    if step.is_finite() { step } else { 1.0 }
}

impl TimeSeriesFigure {
    fn legend(&self, panel: &Panel) -> Vec<LegendEntry> {
        let mut entries: Vec<LegendEntry> = panel
            .lines
            .iter()
            .map(|l| {
                let banded = l
                    .points
                    .iter()
                    .any(|p| p.2.is_finite() && p.3.is_finite() && p.3 > p.2);
                let swatch = if l.dashed {
                    Swatch::Dashed(l.colour)
                } else if banded {
                    Swatch::LineBand(l.colour)
                } else {
                    Swatch::Line(l.colour)
                };
                LegendEntry::new(&l.label, swatch)
            })
            .collect();
        let mut marked: Vec<(&str, RGBColor)> = Vec::new();
        for (_, label, c) in &panel.marks {
            if !marked.iter().any(|(l, _)| l == label) {
                marked.push((label, *c));
            }
        }
        for (label, c) in marked {
            entries.push(LegendEntry::new(label, Swatch::Triangle(c)));
        }
        if !self.faults.is_empty() {
            entries.push(LegendEntry::new("fault", Swatch::Fill(FAULT_FILL)));
        }
        if !self.stops.is_empty() {
            entries.push(LegendEntry::new(
                "run diverged (guard)",
                Swatch::Dashed(canvas::DIVERGED),
            ));
        }
        if self.still_down {
            entries.push(LegendEntry::new(
                "still down at end of run",
                Swatch::Line(canvas::DIVERGED),
            ));
        }
        entries
    }

    fn draw_panel<DB, Y>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &Panel,
        last: bool,
        y_spec: Y,
        (y0, y1): (f64, f64),
    ) -> Drawn
    where
        DB: DrawingBackend,
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.caption, text(size::CAPTION))
            .margin(10)
            .margin_right(28)
            .x_label_area_size(if last { 68 } else { 36 })
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(0.0..self.x_max, y_spec)?;
        let fmt = |v: &f64| fmt_num(*v);
        let x_desc = if last { self.x_desc.as_str() } else { "" };
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(INK.mix(0.6))
            .x_labels(16)
            .y_labels(6)
            .x_label_formatter(&fmt)
            .y_label_formatter(&fmt)
            .x_desc(x_desc)
            .y_desc(panel.y_desc.as_str())
            .label_style(text(size::TICK))
            .axis_desc_style(text(size::AXIS_DESC))
            .draw()?;

        let clamp_x = |x: f64| x.clamp(0.0, self.x_max);
        let clamp_y = |y: f64| y.clamp(y0, y1);
        // Event marks sit in a strip along the top, above the lines.
        let mark_y = y0 + 0.95 * (y1 - y0);
        chart.draw_series(
            panel
                .marks
                .iter()
                .map(|(x, _, c)| TriangleMarker::new((clamp_x(*x), mark_y), 7, c.filled())),
        )?;
        chart.draw_series(self.faults.iter().map(|&(a, b)| {
            Rectangle::new([(clamp_x(a), y0), (clamp_x(b), y1)], FAULT_FILL.filled())
        }))?;
        if self.still_down {
            let x = self.x_max;
            chart.draw_series(std::iter::once(PathElement::new(
                [(x, y0), (x, y1)],
                canvas::DIVERGED.stroke_width(5),
            )))?;
        }
        for &t in &self.stops {
            chart.draw_series(DashedLineSeries::new(
                [(clamp_x(t), y0), (clamp_x(t), y1)],
                8,
                5,
                canvas::DIVERGED.stroke_width(3),
            ))?;
        }
        for l in &panel.lines {
            for run in finite_runs(&l.points, |p| p.2.is_finite() && p.3.is_finite()) {
                let mut poly: Vec<(f64, f64)> =
                    run.iter().map(|p| (clamp_x(p.0), clamp_y(p.3))).collect();
                poly.extend(run.iter().rev().map(|p| (clamp_x(p.0), clamp_y(p.2))));
                // The reference line (offered load) gets a fainter band than the answers.
                let alpha = if l.dashed {
                    canvas::BAND_ALPHA / 2.0
                } else {
                    canvas::BAND_ALPHA
                };
                chart.draw_series(std::iter::once(Polygon::new(
                    poly,
                    l.colour.mix(alpha).filled(),
                )))?;
            }
        }
        for l in &panel.lines {
            for run in finite_runs(&l.points, |p| p.1.is_finite()) {
                let pts: Vec<(f64, f64)> =
                    run.iter().map(|p| (clamp_x(p.0), clamp_y(p.1))).collect();
                let style = l.colour.stroke_width(if l.dashed { 2 } else { 3 });
                if l.dashed {
                    chart.draw_series(DashedLineSeries::new(pts, 10, 6, style))?;
                } else if pts.len() == 1 {
                    chart.draw_series(std::iter::once(Circle::new(pts[0], 4, style.filled())))?;
                } else {
                    chart.draw_series(LineSeries::new(pts, style))?;
                }
            }
        }
        Ok(())
    }
}

/// Maximal runs of consecutive samples passing `keep` (NaN breaks a line).
fn finite_runs<T>(points: &[T], keep: impl Fn(&T) -> bool) -> Vec<&[T]> {
    points
        .split(|p| !keep(p))
        .filter(|r| !r.is_empty())
        .collect()
}

impl Figure for TimeSeriesFigure {
    fn size(&self) -> (u32, u32) {
        (
            canvas::WIDTH,
            canvas::TITLE_HEIGHT + PANEL_HEIGHT * self.panels.len() as u32 + 32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        let rest = title_band(root, &self.title, &self.subtitle)?;
        let legends: Vec<Vec<LegendEntry>> = self.panels.iter().map(|p| self.legend(p)).collect();
        // One legend width for all panels keeps the plots' time axes aligned.
        let lw = legends
            .iter()
            .map(|e| legend_width(&rest, e, 220))
            .max()
            .unwrap_or(220);
        let (w, h) = rest.dim_in_pixel();
        let n = self.panels.len() as u32;
        let mut breaks: Vec<u32> = (1..n).map(|i| i * PANEL_HEIGHT).collect();
        breaks.retain(|b| *b < h);
        let areas = rest.split_by_breakpoints(Vec::<u32>::new(), breaks);
        for (i, (area, panel)) in areas.iter().zip(&self.panels).enumerate() {
            let (plot, legend) = area.split_horizontally(w - lw);
            draw_legend(&legend, &legends[i], 44)?;
            let last = i + 1 == self.panels.len();
            match panel.scale {
                Scale::Linear(lo, hi) => self.draw_panel(&plot, panel, last, lo..hi, (lo, hi))?,
                Scale::Log(lo, hi) => {
                    let axis = axes::LogTicked { lo, hi };
                    self.draw_panel(&plot, panel, last, axis, (lo, hi))?
                }
            }
        }
        Ok::<(), DrawError>(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(label: &str, v: f64) -> Line {
        Line {
            label: label.into(),
            colour: RGBColor(0, 0, 0),
            dashed: false,
            points: vec![(0.0, 0.0, 0.0, 0.0), (1.0, v, v, v)],
        }
    }

    #[test]
    fn a_line_on_an_earlier_one_is_dashed_and_a_distinct_one_is_not() {
        let level = |label: &str, v: f64| Line {
            points: (0..4).map(|i| (i as f64, v, v, v)).collect(),
            ..flat(label, v)
        };
        let mut lines = vec![
            level("gateway→order", 300.0),
            level("order→payment", 300.0),
            level("payment→processor", 300.5),
            level("db", 120.0),
        ];
        dash_coincident(&mut lines);
        let dashed: Vec<bool> = lines.iter().map(|l| l.dashed).collect();
        assert_eq!(dashed, [false, true, true, false]);
    }

    #[test]
    fn a_panel_of_zeros_is_dropped() {
        assert!(linear_panel("(d)".into(), "q".into(), vec![flat("a", 0.0)]).is_none());
        assert!(linear_panel("(d)".into(), "q".into(), vec![flat("a", 1.0)]).is_some());
    }

    #[test]
    fn lines_an_order_of_magnitude_apart_get_panels_of_their_own() {
        let panels = by_scale(
            "(c) Busy".into(),
            "busy",
            vec![
                flat("proxy", 100_000.0),
                flat("leaf", 100.0),
                flat("idle", 0.0),
                flat("db", 50.0),
            ],
        );
        let labels: Vec<Vec<&str>> = panels
            .iter()
            .map(|p| p.lines.iter().map(|l| l.label.as_str()).collect())
            .collect();
        assert_eq!(labels, vec![vec!["proxy", "idle"], vec!["leaf", "db"]]);
        assert!(panels[1].caption.contains("continued"));
        let one = by_scale("(c)".into(), "busy", vec![flat("a", 10.0), flat("b", 0.0)]);
        assert_eq!(one.len(), 1, "zero lines never make a panel of their own");
    }
}
