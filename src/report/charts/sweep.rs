//! Sweep charts: one metric against the values of one swept path, a line per variant
//! with its 95 % confidence band shaded.
//!
//! Swept durations and numbers sit on a numeric axis in value order (log scale when the
//! largest is ten times the smallest or more), ticked at the swept values; anything else
//! is categorical, in the order the experiment lists it. The axis is named in words
//! (`payment → processor timeout`, not the dotted path). With several swept paths, every
//! combination of the other paths' values is its own line, labelled
//! `variant · path=value`, so no point is averaged away.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Inputs;
use super::axes::{self, TimeUnit, fmt_num};
use super::canvas::{
    self, Drawn, Figure, GRID, INK, LegendEntry, Swatch, Ticked, Y_LABEL_AREA, colour, draw_legend,
    error_bar, legend_width, size, text, title_band,
};
use super::data::Stat;

/// One line: `(x index, statistic in display units)` sorted by x.
struct Series {
    label: String,
    colour: RGBColor,
    points: Vec<(usize, Stat)>,
}

type RawSeries = (usize, String, Vec<(usize, Stat)>);

/// A single-panel sweep chart.
pub struct SweepFigure {
    title: String,
    subtitle: String,
    x_desc: String,
    y_desc: String,
    x_labels: Vec<String>,
    /// Where each label sits on the x axis (its index, its value, or the log of it).
    x_pos: Vec<f64>,
    series: Vec<Series>,
}

/// A dotted model path in words: `services.payment.clients.processor.timeout` →
/// `payment → processor timeout`, `services.order.workers` → `order workers`.
pub fn path_in_words(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let words = match parts.as_slice() {
        ["services", svc, "clients", callee, rest @ ..] => {
            format!("{svc} → {callee} {}", rest.join(" "))
        }
        ["services", svc, rest @ ..] => format!("{svc} {}", rest.join(" ")),
        _ => parts.join(" "),
    };
    words.replace('_', " ").trim().to_string()
}

/// The value of a swept label on a numeric axis: a duration in seconds, or a number.
fn numeric(label: &str) -> Option<f64> {
    if let Ok(d) = label.trim_matches('"').parse::<crate::time::SimDuration>() {
        return Some(d.as_secs_f64());
    }
    label.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The chart of `metric` (`outage_s` or `lost`) against sweep axis `axis`, or `None` if
/// no cell has a finite mean.
pub fn build(inputs: &Inputs, axis: usize, metric: &str) -> Option<SweepFigure> {
    let spec = inputs.manifest.sweep.get(axis)?;
    let mut x_labels = spec.values.clone();
    // (variant index, label, points) until colours are assigned.
    let mut series: Vec<RawSeries> = Vec::new();
    for (vi, variant) in inputs.variants.iter().enumerate() {
        for point in &inputs.points {
            let Some(values) = inputs.summary.point_values.get(point) else {
                continue;
            };
            let Some(Some(value)) = values.get(axis) else {
                continue;
            };
            let Some(stat) = inputs.summary.get(variant, point, metric) else {
                continue;
            };
            let x = match x_labels.iter().position(|l| l == value) {
                Some(x) => x,
                None => {
                    x_labels.push(value.clone());
                    x_labels.len() - 1
                }
            };
            let others: Vec<String> = inputs
                .manifest
                .sweep
                .iter()
                .zip(values)
                .enumerate()
                .filter(|(i, _)| *i != axis)
                .map(|(_, (s, v))| format!("{}={}", s.short_name(), v.as_deref().unwrap_or("?")))
                .collect();
            let label = if others.is_empty() {
                variant.clone()
            } else {
                format!("{variant} · {}", others.join(", "))
            };
            match series.iter_mut().find(|s| s.1 == label) {
                Some(s) => s.2.push((x, stat)),
                None => series.push((vi, label, vec![(x, stat)])),
            }
        }
    }
    series.retain(|s| s.2.iter().any(|(_, st)| st.mean.is_finite()));
    if series.is_empty() {
        return None;
    }
    // Numbers and durations: value order, numeric (or log) positions.
    let values: Option<Vec<f64>> = x_labels.iter().map(|l| numeric(l)).collect();
    let mut log = false;
    let x_pos: Vec<f64> = match values {
        Some(values) if values.len() >= 2 => {
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
            let rank: Vec<usize> = {
                let mut r = vec![0; order.len()];
                for (new, old) in order.iter().enumerate() {
                    r[*old] = new;
                }
                r
            };
            x_labels = order.iter().map(|i| x_labels[*i].clone()).collect();
            for s in &mut series {
                for p in &mut s.2 {
                    p.0 = rank[p.0];
                }
            }
            let sorted: Vec<f64> = order.iter().map(|i| values[*i]).collect();
            let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
            log = lo > 0.0 && hi / lo >= 10.0;
            if log {
                sorted.iter().map(|v| v.log10()).collect()
            } else {
                sorted
            }
        }
        _ => (0..x_labels.len()).map(|i| i as f64).collect(),
    };

    let (what, y_desc, scale): (&str, String, Box<dyn Fn(f64) -> f64>) = if metric == "outage_s" {
        let max = series
            .iter()
            .flat_map(|s| s.2.iter().map(|(_, st)| st.hi.max(st.mean)))
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let unit = TimeUnit::for_max(max);
        (
            "Outage",
            format!("outage ({} per run)", unit.name()),
            Box::new(move |v| unit.scale(v)),
        )
    } else if metric == "lost" {
        (
            "Lost requests",
            "lost requests (per run)".to_string(),
            Box::new(|v| v),
        )
    } else if metric == "completion_s" {
        let max = series
            .iter()
            .flat_map(|s| s.2.iter().map(|(_, st)| st.hi.max(st.mean)))
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let unit = TimeUnit::for_max(max);
        (
            "Completion time",
            format!("time until the last user succeeded ({})", unit.name()),
            Box::new(move |v| unit.scale(v)),
        )
    } else if let Some(r) = metric.strip_prefix("occ_writes:") {
        (
            "Calls",
            format!("writes to {r} (per run, conflicts included)"),
            Box::new(|v| v),
        )
    } else {
        (metric, metric.to_string(), Box::new(|v| v))
    };
    let one_colour_per_variant = inputs.manifest.sweep.len() == 1;
    let series = series
        .into_iter()
        .enumerate()
        .map(|(i, (vi, label, mut points))| {
            points.sort_by_key(|p| p.0);
            Series {
                label,
                colour: colour(if one_colour_per_variant { vi } else { i }),
                points: points
                    .into_iter()
                    .map(|(x, s)| {
                        let stat = Stat {
                            mean: scale(s.mean),
                            lo: scale(s.lo),
                            hi: scale(s.hi),
                        };
                        (x, stat)
                    })
                    .collect(),
            }
        })
        .collect();
    let mean_of = inputs.mean_of("line");
    Some(SweepFigure {
        title: format!(
            "{} — {what} vs {}{}",
            inputs.manifest.name,
            path_in_words(&spec.path),
            inputs.partial_tag()
        ),
        subtitle: format!(
            "{mean_of} · band: 95 % confidence interval of the mean{}",
            inputs.diverged_note()
        ),
        x_desc: format!(
            "{}{}",
            path_in_words(&spec.path),
            if log { " (log scale)" } else { "" }
        ),
        y_desc,
        x_labels,
        x_pos,
        series,
    })
}

impl Figure for SweepFigure {
    fn size(&self) -> (u32, u32) {
        (canvas::WIDTH, 900)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        let rest = title_band(root, &self.title, &self.subtitle)?;
        let has_band = |s: &Series| {
            s.points
                .iter()
                .any(|(_, st)| st.lo.is_finite() && st.hi.is_finite())
        };
        // Each line's swatch shows its own band's colour: the legend matches the plot.
        let entries: Vec<LegendEntry> = self
            .series
            .iter()
            .map(|s| {
                let swatch = if has_band(s) {
                    Swatch::LineBand(s.colour)
                } else {
                    Swatch::Line(s.colour)
                };
                LegendEntry::new(&s.label, swatch)
            })
            .collect();
        let (w, _) = rest.dim_in_pixel();
        let lw = legend_width(&rest, &entries, 200);
        let (plot, legend) = rest.split_horizontally(w - lw);
        draw_legend(&legend, &entries, 22)?;

        let k = self.x_labels.len().max(1);
        let pos = |i: usize| self.x_pos.get(i).copied().unwrap_or(i as f64);
        let (first, last) = (pos(0), pos(k - 1));
        let pad = if last > first {
            (last - first) * 0.06
        } else {
            0.35
        };
        let (y0, y1) = axes::y_range(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().flat_map(|(_, st)| [st.mean, st.lo, st.hi])),
            true,
            0.08,
        );
        let mut chart = ChartBuilder::on(&plot)
            .margin(14)
            .margin_right(36)
            .x_label_area_size(80)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(
                Ticked {
                    range: first - pad..last + pad,
                    ticks: (0..k).map(pos).collect(),
                },
                y0..y1,
            )?;
        let x_fmt = |x: &f64| {
            (0..k)
                .find(|i| (pos(*i) - x).abs() < 1e-9)
                .and_then(|i| self.x_labels.get(i).cloned())
                .unwrap_or_default()
        };
        let y_fmt = |y: &f64| fmt_num(*y);
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(INK.mix(0.6))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(self.x_desc.as_str())
            .y_desc(self.y_desc.as_str())
            .label_style(text(size::TICK))
            .axis_desc_style(text(size::AXIS_DESC))
            .draw()?;

        let clamp = |v: f64| v.clamp(y0, y1);
        // Bands first so that no band hides another series' line.
        for s in &self.series {
            for run in runs(&s.points, |st| st.lo.is_finite() && st.hi.is_finite()) {
                if run.len() < 2 {
                    continue;
                }
                let mut poly: Vec<(f64, f64)> =
                    run.iter().map(|(x, st)| (pos(*x), clamp(st.hi))).collect();
                poly.extend(run.iter().rev().map(|(x, st)| (pos(*x), clamp(st.lo))));
                chart.draw_series(std::iter::once(Polygon::new(
                    poly,
                    s.colour.mix(canvas::BAND_ALPHA).filled(),
                )))?;
            }
        }
        for s in &self.series {
            for run in runs(&s.points, |st| st.mean.is_finite()) {
                let pts: Vec<(f64, f64)> = run
                    .iter()
                    .map(|(x, st)| (pos(*x), clamp(st.mean)))
                    .collect();
                chart.draw_series(LineSeries::new(pts.clone(), s.colour.stroke_width(3)))?;
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 6, s.colour.filled())))?;
                // A single point has no band to show its interval: draw an error bar.
                if k == 1 {
                    for (x, st) in run
                        .iter()
                        .filter(|(_, st)| st.lo.is_finite() && st.hi.is_finite())
                    {
                        let style = s.colour.stroke_width(2);
                        let x = pos(*x);
                        chart.draw_series(error_bar(
                            x,
                            clamp(st.lo),
                            clamp(st.hi),
                            pad / 7.0,
                            style,
                        ))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Maximal runs of consecutive x positions whose statistic passes `keep`: a NaN or a
/// missing sweep value breaks a line instead of being bridged.
fn runs(points: &[(usize, Stat)], keep: impl Fn(&Stat) -> bool) -> Vec<&[(usize, Stat)]> {
    let mut out = Vec::new();
    let mut start = None;
    for i in 0..=points.len() {
        let ok = i < points.len()
            && keep(&points[i].1)
            && (start.is_none() || points[i].0 == points[i - 1].0 + 1);
        match (start, ok) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                out.push(&points[s..i]);
                start = (i < points.len() && keep(&points[i].1)).then_some(i);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swept_paths_read_as_words() {
        assert_eq!(
            path_in_words("services.payment.clients.processor.timeout"),
            "payment → processor timeout"
        );
        assert_eq!(
            path_in_words("services.order.clients.payment.retry.max_attempts"),
            "order → payment retry max attempts"
        );
        assert_eq!(path_in_words("services.order.workers"), "order workers");
    }

    #[test]
    fn durations_and_numbers_are_numeric_and_other_values_are_not() {
        assert_eq!(numeric("500ms"), Some(0.5));
        assert_eq!(numeric("2m"), Some(120.0));
        assert_eq!(numeric("3"), Some(3.0));
        assert_eq!(numeric("fifo"), None);
    }

    fn st(mean: f64) -> Stat {
        Stat {
            mean,
            lo: mean,
            hi: mean,
        }
    }

    #[test]
    fn runs_break_at_nan_and_at_gaps_in_x() {
        let pts = [
            (0, st(1.0)),
            (1, st(f64::NAN)),
            (2, st(2.0)),
            (3, st(3.0)),
            (5, st(4.0)),
        ];
        let lens: Vec<usize> = runs(&pts, |s| s.mean.is_finite())
            .iter()
            .map(|r| r.len())
            .collect();
        assert_eq!(lens, [1, 2, 1]);
    }

    #[test]
    fn runs_of_nothing_are_empty() {
        assert!(runs(&[], |_| true).is_empty());
    }
}
