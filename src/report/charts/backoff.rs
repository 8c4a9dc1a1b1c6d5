//! What a backoff does to retry times, drawn from the real policy code
//! ([`crate::policy::backoff::Backoff::next_delay`]), not from its formula:
//!
//! - `backoff_delays`: per strategy, the distribution of the wait before retry 1, 2, 3, …
//!   ([`DRAWS`] calls each, every call a fresh [`BackoffState`] asked once per retry, so
//!   decorrelated strategies see their own history);
//! - `backoff_arrivals`: per strategy, when the retries of `clients` callers that all
//!   failed at the same instant arrive (retries per second), every attempt failing at
//!   once. This is the thundering herd: a fixed wait brings the whole herd back together,
//!   exponential waits without jitter keep it together, jitter spreads it.
//!
//! Draws come from a ChaCha stream with a fixed seed per strategy, so the pictures are
//! the same on every machine and every run.

use plotters::coord::Shift;
use plotters::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::axes::{self, fmt_num};
use super::canvas::{
    self, Drawn, Figure, GRID, INK, LegendEntry, Swatch, Y_LABEL_AREA, colour, draw_legend,
    legend_width, size, text, title_band,
};
use crate::policy::backoff::{Backoff, BackoffState};

/// Calls drawn per strategy for the delay distributions.
pub const DRAWS: usize = 10_000;
/// Bins of every histogram.
const BINS: usize = 60;
/// Height of one panel.
const PANEL_H: u32 = 300;
/// The window of the "busiest" count in the arrival chart, s: one figure that compares
/// across panels whatever their time scales.
const WINDOW_S: f64 = 0.1;
/// Characters of a panel caption at most.
const CAPTION_CHARS: usize = 78;

/// Most of `times` (s) inside any window of `w` seconds.
fn busiest(times: &[f64], w: f64) -> usize {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..t.len() {
        while t[hi] - t[lo] >= w {
            lo += 1;
        }
        best = best.max(hi + 1 - lo);
    }
    best
}

/// `label`, cut with an ellipsis to fit a panel caption.
fn short(label: &str) -> String {
    if label.chars().count() <= CAPTION_CHARS {
        return label.to_string();
    }
    let cut: String = label.chars().take(CAPTION_CHARS - 1).collect();
    format!("{cut}…")
}

/// One strategy to draw: a label and the retries a call may make.
pub struct Strategy {
    pub label: String,
    pub backoff: Backoff,
    /// Retries per call (max_attempts − 1), at least 1.
    pub retries: u32,
}

/// The most retries per call drawn: a policy that retries "forever" (`max_attempts =
/// 1000000`) is pictured by its first ones, in bounded memory.
pub const MAX_DRAWN_RETRIES: u32 = 16;

/// Delays in seconds, `[retry][draw]`, through the policy's own code: the first
/// [`MAX_DRAWN_RETRIES`] retries at most.
pub fn sample(s: &Strategy, calls: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let r = s.retries.clamp(1, MAX_DRAWN_RETRIES) as usize;
    let mut out = vec![Vec::with_capacity(calls); r];
    for _ in 0..calls {
        let mut state = BackoffState::default();
        for slot in out.iter_mut() {
            slot.push(s.backoff.next_delay(&mut state, &mut rng).as_secs_f64());
        }
    }
    out
}

/// A time axis unit for values up to `max_s`: ms, s or min, and the factor from seconds.
fn unit(max_s: f64) -> (&'static str, f64) {
    if max_s < 2.0 {
        ("ms", 1e3)
    } else if max_s < 180.0 {
        ("s", 1.0)
    } else {
        ("min", 1.0 / 60.0)
    }
}

/// A histogram of `values` (seconds) over `[0, max]`: `(bin centre in display units,
/// count)`, with a last bin for values at the maximum.
fn histogram(values: &[f64], max: f64, k: f64) -> Vec<(f64, f64)> {
    let w = max / BINS as f64;
    let mut counts = vec![0.0; BINS];
    for v in values {
        let i = ((v / w) as usize).min(BINS - 1);
        counts[i] += 1.0;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| ((i as f64 + 0.5) * w * k, c))
        .collect()
}

/// `(label, colour, points)`.
type Series = (String, RGBColor, Vec<(f64, f64)>);

struct Panel {
    caption: String,
    /// The x axis unit.
    unit: &'static str,
    /// Lines drawn dashed because they lie on an earlier one (a fixed wait's retries).
    dashed: Vec<bool>,
    /// A line of figures drawn at the plot's top right.
    note: String,
    lines: Vec<Series>,
    x_max: f64,
    y_max: f64,
}

/// Small multiples, one panel per strategy, two columns, a shared legend.
pub struct BackoffFigure {
    title: String,
    subtitle: String,
    x_desc: String,
    y_desc: String,
    legend: Vec<LegendEntry>,
    panels: Vec<Panel>,
}

/// Retries shown per strategy in the delay chart at most (one colour each).
const SHOWN_RETRIES: usize = 6;

/// The delay distributions of `strategies`.
pub fn delays(name: &str, strategies: &[Strategy]) -> Option<BackoffFigure> {
    if strategies.is_empty() {
        return None;
    }
    let most = strategies
        .iter()
        .map(|s| (s.retries as usize).min(SHOWN_RETRIES))
        .max()
        .unwrap_or(1);
    let panels = strategies
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let draws = sample(s, DRAWS, 0x5eed + i as u64);
            let shown = &draws[..draws.len().min(SHOWN_RETRIES)];
            let max = shown
                .iter()
                .flatten()
                .copied()
                .fold(0.0, f64::max)
                .max(1e-3);
            let (u, k) = unit(max * 1.02);
            let x_max = max * 1.02 * k;
            let lines: Vec<_> = shown
                .iter()
                .enumerate()
                .map(|(r, d)| {
                    let pts: Vec<(f64, f64)> = histogram(d, max * 1.02, k)
                        .into_iter()
                        .map(|(x, c)| (x, 100.0 * c / DRAWS as f64))
                        .collect();
                    (format!("retry {}", r + 1), colour(r), pts)
                })
                .collect();
            let y_max = lines
                .iter()
                .flat_map(|l| l.2.iter().map(|p| p.1))
                .fold(0.0, f64::max);
            let dashed = (0..lines.len())
                .map(|r| (0..r).any(|q| lines[q].2 == lines[r].2))
                .collect();
            let median = |d: &Vec<f64>| {
                let mut v = d.clone();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let medians: Vec<String> = shown.iter().map(|d| fmt_num(median(d) * k)).collect();
            Panel {
                caption: short(&s.label),
                note: format!("medians {} {u}", medians.join(", ")),
                unit: u,
                dashed,
                lines,
                x_max,
                y_max: (y_max * 1.1).max(1.0),
            }
        })
        .collect();
    Some(BackoffFigure {
        title: format!("{name} — the wait before each retry"),
        subtitle: format!(
            "{DRAWS} calls per strategy through the policy code · share of calls per bin of {BINS} · each panel on its own time scale"
        ),
        x_desc: "wait before the retry".into(),
        y_desc: "calls (%)".into(),
        legend: (0..most)
            .map(|r| LegendEntry::new(format!("retry {}", r + 1), Swatch::Line(colour(r))))
            .collect(),
        panels,
    })
}

/// When the retries of `clients` callers that failed together at t = 0 arrive.
pub fn arrivals(name: &str, strategies: &[Strategy], clients: usize) -> Option<BackoffFigure> {
    if strategies.is_empty() || clients == 0 {
        return None;
    }
    // Retry k of a client arrives after the sum of its first k waits.
    let times: Vec<Vec<f64>> = strategies
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let draws = sample(s, clients, 0xa11 + i as u64);
            let mut times = Vec::with_capacity(clients * draws.len());
            let mut t = vec![0.0; clients];
            for d in &draws {
                for (c, w) in d.iter().enumerate() {
                    t[c] += w;
                    times.push(t[c]);
                }
            }
            times
        })
        .collect();
    let panels = times
        .iter()
        .zip(strategies)
        .enumerate()
        .map(|(i, (times, s))| {
            let max = times.iter().copied().fold(0.0, f64::max).max(1e-3) * 1.02;
            let (u, k) = unit(max);
            let bin_s = max / BINS as f64;
            let pts: Vec<(f64, f64)> = histogram(times, max, k)
                .into_iter()
                .map(|(x, c)| (x, c / bin_s))
                .collect();
            let peak = pts.iter().map(|p| p.1).fold(0.0, f64::max);
            let busiest = busiest(times, WINDOW_S);
            Panel {
                caption: short(&s.label),
                unit: u,
                dashed: Vec::new(),
                note: format!(
                    "busiest {} ms: {} retries ({} %)",
                    fmt_num(WINDOW_S * 1e3),
                    busiest,
                    fmt_num(100.0 * busiest as f64 / times.len().max(1) as f64)
                ),
                lines: vec![("retries".into(), colour(i), pts)],
                x_max: max * k,
                y_max: (peak * 1.1).max(1.0),
            }
        })
        .collect();
    Some(BackoffFigure {
        title: format!(
            "{name} — {clients} clients fail at the same instant: when their retries arrive"
        ),
        subtitle: format!(
            "every attempt fails at once, so retry k comes after the sum of the first k waits · retries per second in {BINS} bins · each panel its own scale; the busiest {} ms compare across panels",
            fmt_num(WINDOW_S * 1e3)
        ),
        x_desc: "time since the common failure".into(),
        y_desc: "retries per second".into(),
        legend: Vec::new(),
        panels,
    })
}

impl Figure for BackoffFigure {
    fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().div_ceil(2) as u32;
        (canvas::WIDTH, canvas::TITLE_HEIGHT + rows * PANEL_H + 24)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        let rest = title_band(root, &self.title, &self.subtitle)?;
        let (w, _) = rest.dim_in_pixel();
        let lw = if self.legend.is_empty() {
            0
        } else {
            legend_width(&rest, &self.legend, 150)
        };
        let (grid, legend) = rest.split_horizontally(w - lw);
        if lw > 0 {
            draw_legend(&legend, &self.legend, 44)?;
        }
        let rows = self.panels.len().div_ceil(2);
        let areas = grid.split_evenly((rows, 2));
        for (area, p) in areas.iter().zip(&self.panels) {
            self.panel(area, p)?;
        }
        Ok(())
    }
}

impl BackoffFigure {
    fn panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, p: &Panel) -> Drawn {
        let unit = p.unit;
        let (_, y1) = axes::y_range([p.y_max * 1.12], true, 0.0);
        let mut chart = ChartBuilder::on(area)
            .caption(&p.caption, text(size::LEGEND))
            .margin(8)
            .margin_right(20)
            .x_label_area_size(52)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(0.0..p.x_max.max(1e-9), 0.0..y1)?;
        let fmt = |v: &f64| fmt_num(*v);
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(INK.mix(0.6))
            .x_labels(8)
            .y_labels(5)
            .x_label_formatter(&fmt)
            .y_label_formatter(&fmt)
            .x_desc(format!("{} ({unit})", self.x_desc))
            .y_desc(self.y_desc.as_str())
            .label_style(text(size::TICK))
            .axis_desc_style(text(size::TICK))
            .draw()?;
        let (w, _) = chart.plotting_area().dim_in_pixel();
        let style = text(size::TICK).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Right,
            plotters::style::text_anchor::VPos::Top,
        ));
        chart
            .plotting_area()
            .strip_coord_spec()
            .draw_text(&p.note, &style, (w as i32 - 6, 4))?;
        for (j, (_, c, pts)) in p.lines.iter().enumerate() {
            // A step outline per bin, so a spike (a fixed wait) stays a spike.
            let half = if pts.len() > 1 {
                (pts[1].0 - pts[0].0) / 2.0
            } else {
                0.0
            };
            let mut step = vec![(0.0, 0.0)];
            for &(x, y) in pts {
                step.push((x - half, y));
                step.push((x + half, y));
            }
            step.push((p.x_max, 0.0));
            if p.dashed.get(j).copied().unwrap_or(false) {
                // On an earlier retry's line: dashes let that one show through.
                chart.draw_series(DashedLineSeries::new(step, 9, 9, c.stroke_width(3)))?;
            } else {
                chart.draw_series(std::iter::once(Polygon::new(
                    step.clone(),
                    c.mix(0.12).filled(),
                )))?;
                chart.draw_series(LineSeries::new(step, c.stroke_width(2)))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::backoff::BackoffConfig;

    fn strategy(toml_value: &str, retries: u32) -> Strategy {
        let t: toml::Table = toml::from_str(&format!("b = {toml_value}")).unwrap();
        let config: BackoffConfig = t["b"].clone().try_into().unwrap();
        Strategy {
            label: toml_value.into(),
            backoff: Backoff::new(config).unwrap(),
            retries,
        }
    }

    #[test]
    fn a_policy_that_retries_forever_is_drawn_by_its_first_retries() {
        // occ_backoff's users retry up to 999,999 times: drawing them all for 10,000
        // calls took every byte of memory.
        let s = strategy("{ full_jitter = {} }", 999_999);
        let draws = sample(&s, 10_000, 1);
        assert_eq!(draws.len(), MAX_DRAWN_RETRIES as usize);
        assert!(arrivals("x", &[s], 10_000).is_some());
    }

    #[test]
    fn a_fixed_wait_is_the_same_for_every_call_and_retry() {
        let d = sample(&strategy(r#"{ fixed = { delay = "1s" } }"#, 3), 100, 1);
        assert_eq!(d.len(), 3);
        assert!(d.iter().flatten().all(|x| *x == 1.0));
    }

    #[test]
    fn full_jitter_spreads_each_retry_below_its_exponential_ceiling() {
        let s = strategy(r#"{ full_jitter = { base = "100ms", cap = "10s" } }"#, 3);
        let d = sample(&s, DRAWS, 7);
        for (r, draws) in d.iter().enumerate() {
            let ceiling = 0.1 * 2f64.powi(r as i32);
            let max = draws.iter().copied().fold(0.0, f64::max);
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            assert!(
                max <= ceiling + 1e-9,
                "retry {}: {max} above {ceiling}",
                r + 1
            );
            assert!(
                (mean - ceiling / 2.0).abs() < ceiling * 0.05,
                "retry {}: mean {mean}",
                r + 1
            );
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_delays() {
        let s = strategy(
            r#"{ decorrelated_jitter = { base = "100ms", cap = "5s" } }"#,
            4,
        );
        assert_eq!(sample(&s, 50, 3), sample(&s, 50, 3));
    }

    #[test]
    fn a_fixed_herd_arrives_in_one_bin_per_retry_and_jitter_lowers_the_peak() {
        let fixed = arrivals("x", &[strategy(r#"{ fixed = { delay = "1s" } }"#, 2)], 1000).unwrap();
        let peak = |f: &BackoffFigure| {
            f.panels[0].lines[0]
                .2
                .iter()
                .map(|p| p.1)
                .fold(0.0, f64::max)
        };
        let bins_hit = fixed.panels[0].lines[0]
            .2
            .iter()
            .filter(|p| p.1 > 0.0)
            .count();
        assert_eq!(bins_hit, 2, "retries at 1 s and 2 s");
        let jitter = arrivals(
            "x",
            &[strategy(
                r#"{ full_jitter = { base = "1s", cap = "2s" } }"#,
                2,
            )],
            1000,
        )
        .unwrap();
        assert!(
            peak(&jitter) * 5.0 < peak(&fixed),
            "{} vs {}",
            peak(&jitter),
            peak(&fixed)
        );
        assert!(
            fixed.panels[0].note.contains("1000 retries (50 %)"),
            "{}",
            fixed.panels[0].note
        );
    }

    #[test]
    fn the_busiest_window_counts_the_densest_stretch() {
        assert_eq!(busiest(&[0.0, 0.05, 0.09, 0.5, 0.55], 0.1), 3);
        assert_eq!(busiest(&[], 0.1), 0);
    }
}
