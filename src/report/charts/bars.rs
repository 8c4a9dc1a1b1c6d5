//! Bar charts of per-run outcomes: `outage` (outage and sustained outage side by side)
//! and `lost`. One bar per variant, grouped by sweep point; the bar is the mean over
//! replications, the error bar its 95 % confidence interval from `summary.csv`, and the
//! dots are the individual replications from `runs.csv`.
//!
//! Why dots as well as a CI: a resilience strategy that prevents the storm on 18 seeds
//! and loses on 2 has a modest mean and a wide interval; the dots show it is bimodal,
//! which is the actual finding (DESIGN.md: "users need that probability, not one lucky
//! run").

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Inputs;
use super::axes::{self, TimeUnit, fmt_num, fmt_value};
use super::canvas::{
    self, DrawError, Drawn, Figure, GRID, INK, LegendEntry, Swatch, Ticked, Y_LABEL_AREA, colour,
    draw_legend, error_bar, legend_width, size, text, title_band,
};

/// One bar: cell position, summary statistic (already in display units) and dots.
struct Bar {
    group: usize,
    variant: usize,
    mean: f64,
    lo: f64,
    hi: f64,
    /// One per replication, and whether that run diverged (drawn as a cross).
    dots: Vec<(f64, bool)>,
    /// Share of replications still down when the run ended (an outage bar is then a
    /// lower bound, drawn open at the top).
    still_down: f64,
}

/// One plot of bars with its own y axis.
struct Panel {
    caption: String,
    y_desc: String,
    bars: Vec<Bar>,
    /// Whether an outage that outlives the run is marked on these bars.
    marks_still_down: bool,
}

/// A figure of one or two bar panels sharing the variant legend.
pub struct BarFigure {
    title: String,
    subtitle: String,
    variants: Vec<String>,
    groups: Vec<String>,
    group_desc: String,
    panels: Vec<Panel>,
}

/// `outage`: `outage_s` and, if present, `sustained_outage_s`, in minutes or seconds.
pub fn outage(inputs: &Inputs) -> Option<BarFigure> {
    let metrics = ["outage_s", "sustained_outage_s"];
    let max_s = metrics
        .iter()
        .flat_map(|m| all_values(inputs, m))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let unit = TimeUnit::for_max(max_s);
    let threshold = inputs
        .manifest
        .good_ratio_below
        .map(|r| format!(" (good ratio below {})", fmt_pct(r)))
        .unwrap_or_default();
    let captions = [
        format!("Outage{threshold}"),
        "Sustained outage (after the last fault ended)".to_string(),
    ];
    let panels: Vec<Panel> = metrics
        .iter()
        .zip(captions)
        .filter_map(|(m, caption)| {
            panel(
                inputs,
                m,
                caption,
                format!("outage ({} per run)", unit.name()),
                |v| unit.scale(v),
            )
        })
        .collect();
    figure(inputs, "Outage duration", panels)
}

/// `lost`: requests lost per run.
pub fn lost(inputs: &Inputs) -> Option<BarFigure> {
    let panels: Vec<Panel> = panel(
        inputs,
        "lost",
        "Lost requests".to_string(),
        "lost requests (per run)".to_string(),
        |v| v,
    )
    .into_iter()
    .collect();
    figure(inputs, "Lost requests", panels)
}

fn all_values<'a>(inputs: &'a Inputs, metric: &'a str) -> impl Iterator<Item = f64> + 'a {
    inputs.variants.iter().flat_map(move |v| {
        inputs.points.iter().flat_map(move |p| {
            let stat = inputs.summary.get(v, p, metric);
            let s = stat.map_or([f64::NAN; 3], |s| [s.mean, s.lo, s.hi]);
            s.into_iter().chain(inputs.runs.values(v, p, metric))
        })
    })
}

fn fmt_pct(ratio: f64) -> String {
    format!("{} %", fmt_num(ratio * 100.0))
}

/// The bars of `metric` for every cell with a finite mean; `None` if there are none.
fn panel(
    inputs: &Inputs,
    metric: &str,
    caption: String,
    y_desc: String,
    scale: impl Fn(f64) -> f64,
) -> Option<Panel> {
    let mut bars = Vec::new();
    for (g, p) in inputs.points.iter().enumerate() {
        for (vi, v) in inputs.variants.iter().enumerate() {
            let Some(stat) = inputs.summary.get(v, p, metric) else {
                continue;
            };
            if !stat.mean.is_finite() {
                continue;
            }
            let recovered = inputs
                .summary
                .get(v, p, "recovered_share")
                .map_or(f64::NAN, |s| s.mean);
            bars.push(Bar {
                still_down: if recovered.is_finite() {
                    1.0 - recovered
                } else {
                    0.0
                },
                group: g,
                variant: vi,
                mean: scale(stat.mean),
                lo: scale(stat.lo),
                hi: scale(stat.hi),
                dots: inputs
                    .runs
                    .marked(v, p, metric)
                    .into_iter()
                    .map(|(x, d)| (scale(x), d))
                    .collect(),
            });
        }
    }
    (!bars.is_empty()).then_some(Panel {
        caption,
        y_desc,
        bars,
        marks_still_down: metric.ends_with("outage_s"),
    })
}

fn figure(inputs: &Inputs, what: &str, panels: Vec<Panel>) -> Option<BarFigure> {
    if panels.is_empty() {
        return None;
    }
    let per_bar = inputs.mean_of("bar");
    let groups: Vec<String> = inputs
        .points
        .iter()
        .map(|p| inputs.point_label(p))
        .collect();
    let group_desc = match inputs.manifest.sweep.as_slice() {
        [] => String::new(),
        [one] => super::sweep::path_in_words(&one.path),
        _ => "sweep point".to_string(),
    };
    Some(BarFigure {
        title: format!(
            "{} — {what} by variant{}",
            inputs.manifest.name,
            inputs.partial_tag()
        ),
        subtitle: format!(
            "{per_bar} · error bar: 95 % confidence interval of the mean · dot: one replication{}",
            inputs.diverged_note()
        ),
        variants: inputs.variants.clone(),
        groups,
        group_desc,
        panels,
    })
}

impl BarFigure {
    /// Bars per group, gap included: groups are separated by one empty slot.
    fn slots_per_group(&self) -> usize {
        self.variants.len() + usize::from(self.groups.len() > 1)
    }

    fn x(&self, group: usize, variant: usize) -> f64 {
        (group * self.slots_per_group() + variant) as f64
    }

    /// Tick positions and their labels: variant names without a sweep, point labels with.
    fn ticks(&self) -> Vec<(f64, String)> {
        if self.groups.len() <= 1 {
            (0..self.variants.len())
                .map(|v| (self.x(0, v), self.variants[v].clone()))
                .collect()
        } else {
            let mid = (self.variants.len() as f64 - 1.0) / 2.0;
            (0..self.groups.len())
                .map(|g| (self.x(g, 0) + mid, self.groups[g].clone()))
                .collect()
        }
    }

    fn legend(&self) -> Vec<LegendEntry> {
        // Without a sweep the x labels already name the variants; with one, a variant
        // whose every bar is zero has nothing to point at.
        let mut entries: Vec<LegendEntry> = if self.groups.len() > 1 {
            self.variants
                .iter()
                .enumerate()
                .filter(|(i, _)| {
                    self.panels
                        .iter()
                        .flat_map(|p| &p.bars)
                        .any(|b| b.variant == *i && b.mean > 0.0)
                })
                .map(|(i, v)| LegendEntry::new(v, Swatch::Fill(colour(i).to_rgba())))
                .collect()
        } else {
            Vec::new()
        };
        entries.push(LegendEntry::new("95 % CI of mean", Swatch::ErrorBar));
        if self
            .panels
            .iter()
            .any(|p| p.bars.iter().any(|b| !b.dots.is_empty()))
        {
            entries.push(LegendEntry::new("one replication", Swatch::Dot));
        }
        if self
            .panels
            .iter()
            .any(|p| p.bars.iter().any(|b| b.dots.iter().any(|d| d.1)))
        {
            entries.push(LegendEntry::new("diverged run", Swatch::Cross));
        }
        if self.any_still_down() {
            entries.push(LegendEntry::new(
                "still down at end of run",
                Swatch::Dashed(canvas::DIVERGED),
            ));
        }
        entries
    }

    fn any_still_down(&self) -> bool {
        self.panels
            .iter()
            .filter(|p| p.marks_still_down)
            .flat_map(|p| &p.bars)
            .any(|b| b.still_down > 0.0 && b.mean > 0.0)
    }

    /// One y range for all panels, so side-by-side bars compare at a glance.
    fn y_range(&self) -> (f64, f64) {
        axes::y_range(
            self.panels.iter().flat_map(|p| &p.bars).flat_map(|b| {
                [b.mean, b.lo, b.hi]
                    .into_iter()
                    .chain(b.dots.iter().map(|d| d.0))
            }),
            true,
            0.14,
        )
    }

    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &Panel,
        (y0, y1): (f64, f64),
    ) -> Drawn {
        let n_slots = self.groups.len().max(1) * self.slots_per_group();
        let x_max = n_slots as f64 - usize::from(self.groups.len() > 1) as f64 - 1.0;
        // A lone bar would otherwise fill the panel; keep it bar-shaped.
        let pad = if x_max < 1.0 { 1.2 } else { 0.7 };
        let ticks = self.ticks();
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.caption, text(size::CAPTION))
            .margin(14)
            .margin_right(28)
            .x_label_area_size(if self.group_desc.is_empty() { 44 } else { 66 })
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(
                Ticked {
                    range: -pad..x_max + pad,
                    ticks: ticks.iter().map(|t| t.0).collect(),
                },
                y0..y1,
            )?;
        let x_fmt = |x: &f64| {
            ticks
                .iter()
                .find(|t| (t.0 - x).abs() < 1e-6)
                .map(|t| t.1.clone())
                .unwrap_or_default()
        };
        let y_fmt = |y: &f64| fmt_num(*y);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(INK.mix(0.6))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(self.group_desc.as_str())
            .y_desc(panel.y_desc.as_str())
            .label_style(text(size::TICK))
            .axis_desc_style(text(size::AXIS_DESC))
            .draw()?;

        let clamp = |v: f64| v.clamp(y0, y1);
        for b in &panel.bars {
            let x = self.x(b.group, b.variant);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.4, clamp(0.0)), (x + 0.4, clamp(b.mean))],
                colour(b.variant).filled(),
            )))?;
        }
        // An outage still running when the run ended is longer than its bar: a dashed
        // red top and the words say so.
        if panel.marks_still_down {
            for b in panel
                .bars
                .iter()
                .filter(|b| b.still_down > 0.0 && b.mean > 0.0)
            {
                let x = self.x(b.group, b.variant);
                chart.draw_series(DashedLineSeries::new(
                    [(x - 0.4, clamp(b.mean)), (x + 0.4, clamp(b.mean))],
                    9,
                    6,
                    canvas::DIVERGED.stroke_width(4),
                ))?;
                if panel.bars.len() <= 8 {
                    let style = text(size::VALUE)
                        .color(&canvas::DIVERGED)
                        .pos(Pos::new(HPos::Center, VPos::Bottom));
                    // Room for the long form only while the bars are few and wide.
                    let words = if panel.bars.len() <= 3 {
                        "still down at end of run"
                    } else {
                        "still down"
                    };
                    let share = if b.still_down >= 1.0 {
                        words.to_string()
                    } else {
                        format!("{} %: {words}", fmt_num(b.still_down * 100.0))
                    };
                    chart.draw_series(std::iter::once(
                        EmptyElement::at((x, clamp(b.hi.max(b.mean))))
                            + Text::new(share, (0, -30), style),
                    ))?;
                }
            }
        }
        let n_bars = panel.bars.len();
        for b in &panel.bars {
            let x = self.x(b.group, b.variant);
            let n = b.dots.len();
            let jitter = |i: usize| {
                if n > 1 {
                    (i as f64 / (n - 1) as f64 - 0.5) * 0.5
                } else {
                    0.0
                }
            };
            chart.draw_series(b.dots.iter().enumerate().filter(|(_, d)| !d.1).map(
                |(i, &(v, _))| Circle::new((x + jitter(i), clamp(v)), 4, INK.mix(0.5).filled()),
            ))?;
            chart.draw_series(b.dots.iter().enumerate().filter(|(_, d)| d.1).map(
                |(i, &(v, _))| {
                    Cross::new(
                        (x + jitter(i), clamp(v)),
                        7,
                        canvas::DIVERGED.stroke_width(3),
                    )
                },
            ))?;
            if b.lo.is_finite() && b.hi.is_finite() {
                let style = INK.stroke_width(2);
                chart.draw_series(error_bar(x, clamp(b.lo), clamp(b.hi), 0.08, style))?;
            }
            // Value labels only while they have room to sit above their own bar.
            if n_bars <= 16 {
                let top = [b.mean, b.hi]
                    .into_iter()
                    .chain(b.dots.iter().map(|d| d.0))
                    .filter(|v| v.is_finite())
                    .fold(b.mean, f64::max);
                let style = text(size::VALUE).pos(Pos::new(HPos::Center, VPos::Bottom));
                chart.draw_series(std::iter::once(
                    EmptyElement::at((x, clamp(top)))
                        + Text::new(fmt_value(b.mean), (0, -8), style),
                ))?;
            }
        }
        Ok(())
    }
}

impl Figure for BarFigure {
    fn size(&self) -> (u32, u32) {
        if self.stacked() {
            (
                canvas::WIDTH,
                520 * self.panels.len() as u32 + canvas::TITLE_HEIGHT,
            )
        } else {
            (canvas::WIDTH, 900)
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        let rest = title_band(root, &self.title, &self.subtitle)?;
        let entries = self.legend();
        let (w, _) = rest.dim_in_pixel();
        let lw = legend_width(&rest, &entries, 200);
        let (plots, legend) = rest.split_horizontally(w - lw);
        draw_legend(&legend, &entries, 54)?;
        let areas = if self.stacked() {
            plots.split_evenly((self.panels.len(), 1))
        } else {
            plots.split_evenly((1, self.panels.len()))
        };
        let y = self.y_range();
        for (area, panel) in areas.iter().zip(&self.panels) {
            self.draw_panel(area, panel, y)?;
        }
        Ok::<(), DrawError>(())
    }
}

impl BarFigure {
    /// Two panels side by side while each holds few bars; stacked when they are crowded.
    fn stacked(&self) -> bool {
        self.panels.len() > 1 && self.groups.len().max(1) * self.variants.len() > 8
    }
}
