//! The comparison figure: the key metrics over time with every variant overlaid, so the
//! contrast an experiment is about (the storm that outlives its fault in one variant and
//! not in the other) is one picture rather than a page of per-variant figures.
//!
//! Panels: (a) the good-answer ratio (the outage definition, with its threshold), (b)
//! answers per second, (c) p99 latency of all user requests (log scale when it spans
//! more than a decade), (d) requests queued, all services together, (e) attempts on
//! every client edge together (retries amplify it). One line per
//! variant (× sweep point); a variant keeps its colour in every chart, and lines that
//! would lie on each other stay visible (later ones are dashed). With more cells than
//! colours there is one figure per sweep point.
//!
//! Bands are drawn only where the file has them (the sum of queues has none: the
//! interval of a sum is not the sum of intervals).

use plotters::style::RGBColor;

use super::Inputs;
use super::axes::{self, TimeUnit, fmt_num};
use super::canvas::{PALETTE, colour};
use super::timeseries::{
    Line, Panel, Scale, TimeSeriesFigure, dash_coincident, infer_bucket, latency_panel,
    linear_panel,
};

/// Comparison figures with their file stems: `compare`, or `compare_<point>` per point.
pub fn build(inputs: &Inputs) -> Vec<(String, TimeSeriesFigure)> {
    let Some(ts) = inputs.timeseries.as_ref() else {
        return Vec::new();
    };
    let cells: Vec<(usize, &String, usize, &String)> = inputs
        .variants
        .iter()
        .enumerate()
        .flat_map(|(v, variant)| {
            inputs
                .points
                .iter()
                .enumerate()
                .map(move |(p, point)| (v, variant, p, point))
        })
        .filter(|(_, v, _, p)| ts.cell(v, p).is_some())
        .collect();
    // A comparison of one line compares nothing.
    if cells.len() < 2 {
        return Vec::new();
    }
    if cells.len() <= PALETTE.len() {
        return figure(inputs, &cells, None)
            .map(|f| ("compare".to_string(), f))
            .into_iter()
            .collect();
    }
    let mut out = Vec::new();
    for point in &inputs.points {
        let mine: Vec<_> = cells.iter().filter(|c| c.3 == point).copied().collect();
        if mine.len() < 2 {
            continue;
        }
        if let Some(f) = figure(inputs, &mine, Some(point)) {
            out.push((format!("compare_{}", super::safe_name(point)), f));
        }
    }
    out
}

fn figure(
    inputs: &Inputs,
    cells: &[(usize, &String, usize, &String)],
    point: Option<&str>,
) -> Option<TimeSeriesFigure> {
    let ts = inputs.timeseries.as_ref()?;
    let m = &inputs.manifest;
    let first = ts.cell(cells[0].1, cells[0].3)?;
    let bucket_s = if m.bucket_s > 0.0 {
        m.bucket_s
    } else {
        infer_bucket(first)
    };
    let duration_s = if m.duration_s > 0.0 {
        m.duration_s
    } else {
        first
            .values()
            .filter_map(|s| s.last())
            .map(|s| s.t_s + bucket_s)
            .fold(0.0, f64::max)
    };
    let unit = TimeUnit::for_max(duration_s);
    let to_x = |t_s: f64| unit.scale(t_s + bucket_s / 2.0);
    let several_points = point.is_none() && inputs.points.len() > 1;
    let label = |variant: &str, pt: &str| {
        if several_points {
            format!("{variant} · {}", inputs.point_label(pt))
        } else {
            variant.to_string()
        }
    };
    // Colour by variant; with several points on one figure, by cell.
    let paint = |k: usize, v: usize| -> RGBColor { colour(if several_points { k } else { v }) };

    let series = |metric: &str, k: f64| -> Vec<Line> {
        cells
            .iter()
            .enumerate()
            .filter_map(|(i, &(v, variant, _, pt))| {
                let samples = ts.cell(variant, pt)?.get(metric)?;
                let points: Vec<(f64, f64, f64, f64)> = samples
                    .iter()
                    .map(|s| (to_x(s.t_s), s.mean * k, (s.lo * k).max(0.0), s.hi * k))
                    .collect();
                points.iter().any(|p| p.1.is_finite()).then(|| Line {
                    label: label(variant, pt),
                    colour: paint(i, v),
                    dashed: false,
                    points,
                })
            })
            .collect()
    };

    let mut panels = Vec::new();
    let ratio = series("good_ratio", 100.0);
    if !ratio.is_empty() {
        panels.push(Panel {
            caption: format!(
                "Good answers, % of requests sent (outage below {} %)",
                fmt_num(m.good_ratio_below.unwrap_or(0.5) * 100.0)
            ),
            y_desc: "good answers (%)".into(),
            scale: Scale::Linear(0.0, 105.0),
            lines: ratio,
            marks: Vec::new(),
        });
    }
    panels.extend(linear_panel(
        "Answers per second (good + degraded + pending)".into(),
        "answers per second".into(),
        series("ok_per_s", 1.0),
    ));
    let max_ms = cells
        .iter()
        .filter_map(|&(_, v, _, pt)| ts.cell(v, pt)?.get("p99_ms"))
        .flatten()
        .map(|s| s.mean)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let (lat_unit, lat_k) = axes::latency_unit(max_ms);
    let p99 = series("p99_ms", lat_k);
    if !p99.is_empty() {
        let caption = "p99 latency of all user requests (failed, abandoned included)".into();
        panels.push(latency_panel(caption, "p99", lat_unit, p99, false));
    }
    // Queues of every service, and attempts on every client edge, summed per bucket
    // (means add; bands do not).
    let summed = |prefix: &str| -> Vec<Line> {
        cells
            .iter()
            .enumerate()
            .filter_map(|(i, &(v, variant, _, pt))| {
                let cell = ts.cell(variant, pt)?;
                let mut sum: Vec<(f64, f64)> = Vec::new();
                for (key, samples) in cell {
                    let Some(name) = key.strip_prefix(prefix) else {
                        continue;
                    };
                    if name.contains('#') {
                        continue;
                    }
                    for (j, s) in samples.iter().enumerate() {
                        if sum.len() <= j {
                            sum.push((s.t_s, 0.0));
                        }
                        if s.mean.is_finite() {
                            sum[j].1 += s.mean;
                        }
                    }
                }
                (!sum.is_empty() && sum.iter().any(|s| s.1 > 0.0)).then(|| Line {
                    label: label(variant, pt),
                    colour: paint(i, v),
                    dashed: false,
                    points: sum
                        .iter()
                        .map(|&(t, y)| (to_x(t), y, f64::NAN, f64::NAN))
                        .collect(),
                })
            })
            .collect()
    };
    panels.extend(linear_panel(
        "Requests queued, all services".into(),
        "queued requests (mean)".into(),
        summed("queue:"),
    ));
    panels.extend(linear_panel(
        "Attempts per second, all client edges, retries included (amplification)".into(),
        "attempts per second".into(),
        summed("attempts_per_s:"),
    ));
    if panels.is_empty() {
        return None;
    }
    // Letters after empty panels are dropped, so they run (a), (b), (c) without gaps.
    for (i, p) in panels.iter_mut().enumerate() {
        dash_coincident(&mut p.lines);
        p.caption = format!("({}) {}", (b'a' + i as u8) as char, p.caption);
    }
    let mut title = format!("{} — the variants compared", m.name);
    if let Some(p) = point {
        title = format!("{title} at {}", inputs.point_label(p));
    }
    title.push_str(&inputs.partial_tag());
    let mean_of = inputs.mean_of("lines");
    Some(TimeSeriesFigure {
        title,
        subtitle: format!(
            "{mean_of} · bands: 95 % confidence interval · {} s buckets · red: fault window{}",
            fmt_num(bucket_s),
            inputs.diverged_note()
        ),
        x_desc: format!("time ({})", unit.name()),
        x_max: unit.scale(duration_s.max(bucket_s)),
        faults: m
            .fault_windows
            .iter()
            .filter(|(a, b)| a.is_finite() && b.is_finite() && b > a)
            .map(|&(a, b)| (unit.scale(a), unit.scale(b)))
            .collect(),
        stops: Vec::new(),
        still_down: false,
        panels,
    })
}
