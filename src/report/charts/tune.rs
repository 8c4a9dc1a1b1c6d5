//! Charts of a `cascade tune` directory, read from its `tune.csv`:
//!
//! | file (`.png` and `.svg`) | what it shows |
//! |---|---|
//! | `tune_params` | the goal's mean against each searched value, one panel per path |
//! | `tune_pareto` | the goal against the cost, and the frontier of configurations no other beats on both |
//!
//! Every configuration tried is a dot: grey for those dropped at an early rung (few
//! replications), coloured for those that reached the last; the recommendation is ringed,
//! a configuration that broke a constraint is a cross. Durations are on a log axis (the
//! search draws them log-uniformly), choices are categories in the order first drawn.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::ChartError;
use super::axes::{self, fmt_num};
use super::canvas::{self, Drawn, Figure, GRID, INK, Y_LABEL_AREA, colour, size, text, title_band};
use crate::time::SimDuration;

/// One configuration of `tune.csv`.
struct Config {
    values: Vec<String>,
    replications: u32,
    goal: f64,
    cost: f64,
    feasible: bool,
    best: bool,
}

/// What the charts read from `tune.csv`.
struct Tuned {
    paths: Vec<String>,
    goal: String,
    cost: String,
    configs: Vec<Config>,
}

fn read(path: &Path) -> Result<Tuned, ChartError> {
    if !path.exists() {
        return Err(ChartError::Missing {
            path: path.to_path_buf(),
        });
    }
    let bad = |line: u64, message: String| ChartError::BadRow {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut r = csv::Reader::from_path(path).map_err(|e| bad(1, e.to_string()))?;
    let h: Vec<String> = r
        .headers()
        .map_err(|e| bad(1, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |n: &str| {
        h.iter()
            .position(|x| x == n)
            .ok_or_else(|| ChartError::MissingColumn {
                path: path.to_path_buf(),
                column: n.to_string(),
            })
    };
    let (reps, feasible, rank) = (col("replications")?, col("feasible")?, col("rank")?);
    let means: Vec<usize> = (0..h.len()).filter(|&i| h[i].ends_with("_mean")).collect();
    let [g, c] = means[..] else {
        return Err(ChartError::MissingColumn {
            path: path.to_path_buf(),
            column: "<goal>_mean and <cost>_mean".into(),
        });
    };
    let paths = h[reps + 1..g].to_vec();
    let mut configs = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| bad(i as u64 + 2, e.to_string()))?;
        let num = |k: usize| {
            rec.get(k)
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        configs.push(Config {
            values: (reps + 1..g)
                .map(|k| rec.get(k).unwrap_or("").to_string())
                .collect(),
            replications: rec.get(reps).and_then(|s| s.parse().ok()).unwrap_or(0),
            goal: num(g),
            cost: num(c),
            feasible: rec.get(feasible) == Some("true"),
            best: rec.get(rank) == Some("1"),
        });
    }
    Ok(Tuned {
        paths,
        goal: h[g].trim_end_matches("_mean").to_string(),
        cost: h[c].trim_end_matches("_mean").to_string(),
        configs,
    })
}

/// Renders the tuning charts of `dir` into `dir/charts/`.
pub fn render(dir: &Path) -> Result<Vec<PathBuf>, ChartError> {
    let t = read(&dir.join("tune.csv"))?;
    canvas::ensure_font()?;
    let out = dir.join("charts");
    std::fs::create_dir_all(&out).map_err(|source| ChartError::CreateDir {
        path: out.clone(),
        source,
    })?;
    let mut written = Vec::new();
    if t.configs.iter().any(|c| c.goal.is_finite()) {
        written.extend(canvas::write_figure(&out, "tune_params", &Params { t: &t })?.0);
        written.extend(canvas::write_figure(&out, "tune_pareto", &Pareto { t: &t })?.0);
    }
    Ok(written)
}

/// How one searched path's values are placed on x.
enum Axis {
    /// Numbers (seconds for durations), log-scaled when `log`.
    Numeric { lo: f64, hi: f64, log: bool },
    /// Categories in order of appearance.
    Choice(Vec<String>),
}

fn numeric(s: &str) -> Option<(f64, bool)> {
    if let Ok(x) = s.parse::<f64>() {
        return Some((x, false));
    }
    s.parse::<SimDuration>()
        .ok()
        .map(|d| (d.as_secs_f64(), true))
}

fn axis_of(values: &[&str]) -> Axis {
    let nums: Option<Vec<(f64, bool)>> = values.iter().map(|v| numeric(v)).collect();
    match nums {
        Some(n) if !n.is_empty() => {
            let lo = n.iter().map(|x| x.0).fold(f64::INFINITY, f64::min);
            let hi = n.iter().map(|x| x.0).fold(f64::NEG_INFINITY, f64::max);
            let log = n.iter().all(|x| x.1) && lo > 0.0;
            Axis::Numeric { lo, hi, log }
        }
        _ => {
            let mut cats: Vec<String> = Vec::new();
            for v in values {
                if !cats.iter().any(|c| c == v) {
                    cats.push(v.to_string());
                }
            }
            Axis::Choice(cats)
        }
    }
}

fn dot_style(t: &Tuned, c: &Config) -> (RGBColor, u32) {
    let top = t.configs.iter().map(|c| c.replications).max().unwrap_or(0);
    if c.best {
        (canvas::DIVERGED, 9)
    } else if c.replications == top {
        (colour(0), 6)
    } else {
        (RGBColor(0xAA, 0xAA, 0xAA), 4)
    }
}

fn draw_dot<DB: DrawingBackend, CT: plotters::coord::CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<DB, CT>,
    p: (f64, f64),
    c: &Config,
    style: (RGBColor, u32),
) -> Drawn {
    let (col, r) = style;
    if !c.feasible {
        chart.draw_series(std::iter::once(Cross::new(
            p,
            r as i32,
            col.stroke_width(2),
        )))?;
    } else if c.best {
        chart.draw_series(std::iter::once(Circle::new(p, r, col.stroke_width(3))))?;
    } else {
        chart.draw_series(std::iter::once(Circle::new(p, r, col.filled())))?;
    }
    Ok(())
}

struct Params<'a> {
    t: &'a Tuned,
}

impl Figure for Params<'_> {
    fn size(&self) -> (u32, u32) {
        let rows = self.t.paths.len().div_ceil(2).max(1) as u32;
        (canvas::WIDTH, canvas::TITLE_HEIGHT + rows * 420)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        let t = self.t;
        let rest = title_band(
            root,
            &format!("{} against each searched value", t.goal),
            "every configuration tried: grey = dropped at an early rung, blue = reached the last, ringed = recommended, × = broke a constraint",
        )?;
        let rows = t.paths.len().div_ceil(2).max(1);
        let panels = rest.split_evenly((rows, 2));
        let (y0, y1) = axes::y_range(t.configs.iter().map(|c| c.goal), true, 0.08);
        for (i, path) in t.paths.iter().enumerate() {
            let area = &panels[i];
            let values: Vec<&str> = t.configs.iter().map(|c| c.values[i].as_str()).collect();
            let short = path.rsplit('.').take(2).collect::<Vec<_>>();
            let caption = format!("{}.{}", short.get(1).unwrap_or(&""), short[0]);
            let mut b = ChartBuilder::on(area);
            b.margin(16)
                .caption(caption, text(size::CAPTION))
                .x_label_area_size(56)
                .y_label_area_size(Y_LABEL_AREA);
            let y_fmt = |y: &f64| fmt_num(*y);
            match axis_of(&values) {
                Axis::Numeric { lo, hi, log: true } => {
                    let (lo, hi) = (lo / 1.15, hi * 1.15);
                    let mut chart = b.build_cartesian_2d((lo..hi).log_scale(), y0..y1)?;
                    let x_fmt = |x: &f64| SimDuration::from_secs_f64(*x).short();
                    chart
                        .configure_mesh()
                        .bold_line_style(GRID)
                        .light_line_style(TRANSPARENT)
                        .axis_style(INK.mix(0.6))
                        .x_labels(6)
                        .x_label_formatter(&x_fmt)
                        .y_label_formatter(&y_fmt)
                        .y_desc(t.goal.as_str())
                        .label_style(text(size::TICK))
                        .axis_desc_style(text(size::AXIS_DESC))
                        .draw()?;
                    for c in &t.configs {
                        if let (Some((x, _)), true) = (numeric(&c.values[i]), c.goal.is_finite()) {
                            draw_dot(&mut chart, (x, c.goal.clamp(y0, y1)), c, dot_style(t, c))?;
                        }
                    }
                }
                Axis::Numeric { lo, hi, .. } => {
                    let pad = ((hi - lo) * 0.06).max(0.5);
                    let mut chart = b.build_cartesian_2d(lo - pad..hi + pad, y0..y1)?;
                    let x_fmt = |x: &f64| fmt_num(*x);
                    chart
                        .configure_mesh()
                        .bold_line_style(GRID)
                        .light_line_style(TRANSPARENT)
                        .axis_style(INK.mix(0.6))
                        .x_label_formatter(&x_fmt)
                        .y_label_formatter(&y_fmt)
                        .y_desc(t.goal.as_str())
                        .label_style(text(size::TICK))
                        .axis_desc_style(text(size::AXIS_DESC))
                        .draw()?;
                    for c in &t.configs {
                        if let (Some((x, _)), true) = (numeric(&c.values[i]), c.goal.is_finite()) {
                            draw_dot(&mut chart, (x, c.goal.clamp(y0, y1)), c, dot_style(t, c))?;
                        }
                    }
                }
                Axis::Choice(cats) => {
                    let k = cats.len();
                    let mut chart = b.build_cartesian_2d(-0.5..k as f64 - 0.5, y0..y1)?;
                    let x_fmt = |x: &f64| {
                        let i = x.round();
                        if (x - i).abs() < 1e-6 && i >= 0.0 {
                            let s = cats.get(i as usize).cloned().unwrap_or_default();
                            if s.chars().count() > 26 {
                                format!("{}…", s.chars().take(25).collect::<String>())
                            } else {
                                s
                            }
                        } else {
                            String::new()
                        }
                    };
                    chart
                        .configure_mesh()
                        .bold_line_style(GRID)
                        .light_line_style(TRANSPARENT)
                        .axis_style(INK.mix(0.6))
                        .x_labels(k)
                        .x_label_formatter(&x_fmt)
                        .y_label_formatter(&y_fmt)
                        .y_desc(t.goal.as_str())
                        .label_style(text(size::VALUE))
                        .axis_desc_style(text(size::AXIS_DESC))
                        .draw()?;
                    for (n, c) in t.configs.iter().enumerate() {
                        let Some(x) = cats.iter().position(|v| *v == c.values[i]) else {
                            continue;
                        };
                        if c.goal.is_finite() {
                            // Spread the dots of one category a little so they stay visible.
                            let jitter = ((n * 7919) % 21) as f64 / 50.0 - 0.2;
                            let p = (x as f64 + jitter, c.goal.clamp(y0, y1));
                            draw_dot(&mut chart, p, c, dot_style(t, c))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The configurations of the last rung that no other of that rung beats on both the
/// goal and the cost (lower is better for both), sorted by cost.
fn frontier(t: &Tuned) -> Vec<(f64, f64)> {
    let top = t.configs.iter().map(|c| c.replications).max().unwrap_or(0);
    let pts: Vec<(f64, f64)> = t
        .configs
        .iter()
        .filter(|c| c.replications == top && c.feasible && c.goal.is_finite() && c.cost.is_finite())
        .map(|c| (c.cost, c.goal))
        .collect();
    let mut front: Vec<(f64, f64)> = pts
        .iter()
        .filter(|p| {
            !pts.iter()
                .any(|q| q.0 <= p.0 && q.1 <= p.1 && (q.0 < p.0 || q.1 < p.1))
        })
        .copied()
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    front.dedup();
    front
}

struct Pareto<'a> {
    t: &'a Tuned,
}

impl Figure for Pareto<'_> {
    fn size(&self) -> (u32, u32) {
        (canvas::WIDTH, 900)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        let t = self.t;
        let rest = title_band(
            root,
            &format!("{} against {}: the Pareto frontier", t.goal, t.cost),
            "line: configurations of the last rung that no other beats on both (lower is better); ringed = recommended",
        )?;
        let ok: Vec<&Config> = t
            .configs
            .iter()
            .filter(|c| c.goal.is_finite() && c.cost.is_finite())
            .collect();
        let (x0, x1) = axes::y_range(ok.iter().map(|c| c.cost), false, 0.06);
        let (y0, y1) = axes::y_range(ok.iter().map(|c| c.goal), true, 0.08);
        let mut chart = ChartBuilder::on(&rest)
            .margin(20)
            .margin_right(40)
            .x_label_area_size(70)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let f = |v: &f64| fmt_num(*v);
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(INK.mix(0.6))
            .x_label_formatter(&f)
            .y_label_formatter(&f)
            .x_desc(format!("{} (mean)", t.cost))
            .y_desc(format!("{} (mean)", t.goal))
            .label_style(text(size::TICK))
            .axis_desc_style(text(size::AXIS_DESC))
            .draw()?;
        let front = frontier(t);
        if front.len() > 1 {
            chart.draw_series(LineSeries::new(front.clone(), colour(1).stroke_width(3)))?;
        }
        for c in &ok {
            draw_dot(&mut chart, (c.cost, c.goal), c, dot_style(t, c))?;
        }
        for p in &front {
            chart.draw_series(std::iter::once(Circle::new(
                *p,
                11,
                colour(1).stroke_width(2),
            )))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(reps: u32, goal: f64, cost: f64) -> Config {
        Config {
            values: vec![],
            replications: reps,
            goal,
            cost,
            feasible: true,
            best: false,
        }
    }

    #[test]
    fn the_frontier_keeps_only_undominated_configurations_of_the_last_rung() {
        let t = Tuned {
            paths: vec![],
            goal: "lost".into(),
            cost: "p99_ok_ms".into(),
            configs: vec![
                cfg(3, 10.0, 100.0),
                cfg(3, 5.0, 200.0),
                cfg(3, 12.0, 150.0), // beaten by the first on both
                cfg(1, 0.0, 0.0),    // an early rung: not on the frontier
            ],
        };
        assert_eq!(frontier(&t), [(100.0, 10.0), (200.0, 5.0)]);
    }
}
