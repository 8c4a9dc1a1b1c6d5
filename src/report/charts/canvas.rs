//! What every chart shares in drawing: the embedded font, the palette, text sizes, the
//! title band and legend column, a categorical axis, and writing a figure as PNG and SVG.
//!
//! Why an embedded font: plotters' default text path asks the system (fontconfig,
//! FreeType) for fonts, which CI machines and containers often lack, and then text
//! silently disappears or the build fails. With the `ab_glyph` feature plotters
//! rasterises from bytes we register ourselves, so a chart looks the same everywhere.
//! DejaVu Sans (Bitstream Vera licence, see `assets/fonts/LICENSE-DejaVu.txt`) also has
//! the `→` that client edge names contain.
//!
//! Why legends live in their own column: a legend placed inside the plot always covers
//! some data on some experiment. Every figure reserves a right-hand column for it.
//!
//! Invariant: files are written to a hidden temporary name in the target directory and
//! renamed, so an interrupted render never leaves a truncated chart under its real name.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, RGBAColor};

use super::ChartError;

/// The family name the embedded font is registered under; use it for every text style.
pub const FONT: &str = "sans-serif";

static FONT_BYTES: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/DejaVuSans.ttf"
));

/// Registers the embedded font with plotters, once per process.
pub fn ensure_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok { Ok(()) } else { Err(ChartError::Font) }
}

/// Text sizes in pixels, chosen for 1600 px wide figures viewed at half size.
pub mod size {
    pub const TITLE: u32 = 30;
    pub const SUBTITLE: u32 = 19;
    pub const CAPTION: u32 = 23;
    pub const AXIS_DESC: u32 = 20;
    pub const TICK: u32 = 17;
    pub const LEGEND: u32 = 18;
    pub const VALUE: u32 = 16;
}

/// Width of every figure.
pub const WIDTH: u32 = 1600;
/// Height reserved at the top of a figure for its title and subtitle.
pub const TITLE_HEIGHT: u32 = 84;
/// Width of the y tick label area, fixed so stacked panels share the x pixel mapping.
pub const Y_LABEL_AREA: u32 = 92;

/// Tableau 10 without its red (red means "fault" here): distinct, colour-blind-safe
/// enough, and readable on white. Series past ten reuse colours.
pub const PALETTE: [RGBColor; 9] = [
    RGBColor(0x4E, 0x79, 0xA7), // blue
    RGBColor(0xF2, 0x8E, 0x2B), // orange
    RGBColor(0x59, 0xA1, 0x4F), // green
    RGBColor(0xB0, 0x7A, 0xA1), // purple
    RGBColor(0x9C, 0x75, 0x5F), // brown
    RGBColor(0x76, 0xB7, 0xB2), // teal
    RGBColor(0xFF, 0x9D, 0xA7), // pink
    RGBColor(0xED, 0xC9, 0x48), // yellow
    RGBColor(0x79, 0x70, 0x6E), // grey
];

/// The `i`-th palette colour, cycling.
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A diverged run: crosses in bar charts, the stop line in time series.
pub const DIVERGED: RGBColor = RGBColor(0xB0, 0x10, 0x30);
/// Fill of a fault window.
pub const FAULT_FILL: RGBAColor = RGBAColor(0xE1, 0x57, 0x59, 0.16);
/// Opacity of a 95 % confidence band.
pub const BAND_ALPHA: f64 = 0.2;
/// Near-black used for text, axes, error bars and replication dots.
pub const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Grid lines.
pub const GRID: RGBAColor = RGBAColor(0, 0, 0, 0.09);

/// A text style in the embedded font.
pub fn text(px: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, px).into_font()).color(&INK)
}

/// Rendering failed inside plotters; carries the backend's message.
#[derive(Debug)]
pub struct DrawError(pub String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawError(e.to_string())
    }
}

/// Result of drawing onto a backend.
pub type Drawn = Result<(), DrawError>;

/// A chart that can draw itself on any plotters backend.
pub trait Figure {
    /// Pixel size of the whole figure.
    fn size(&self) -> (u32, u32);
    /// Draws onto `root`, which is already filled white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn;
}

/// Writes `fig` as `<dir>/<stem>.png` and `<dir>/<stem>.svg`, each via a temporary file;
/// returns both paths and the SVG text.
pub fn write_figure(
    dir: &Path,
    stem: &str,
    fig: &impl Figure,
) -> Result<(Vec<PathBuf>, String), ChartError> {
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    // The bitmap encoder picks the format from the extension, so the temp name ends in .png.
    let png_tmp = dir.join(format!(".{stem}.partial.png"));
    let svg_tmp = dir.join(format!(".{stem}.partial.svg"));

    let drawn = (|| {
        let root = BitMapBackend::new(&png_tmp, fig.size()).into_drawing_area();
        root.fill(&WHITE)?;
        fig.draw(&root)?;
        root.present()?;
        Ok::<(), DrawError>(())
    })();
    finish(drawn, &png_tmp, &png)?;

    let mut svg_text = String::new();
    let drawn = (|| {
        let root = SVGBackend::with_string(&mut svg_text, fig.size()).into_drawing_area();
        root.fill(&WHITE)?;
        fig.draw(&root)?;
        root.present()?;
        Ok::<(), DrawError>(())
    })();
    let drawn = drawn.and_then(|()| {
        std::fs::write(&svg_tmp, svg_text.as_bytes()).map_err(|e| DrawError(e.to_string()))
    });
    finish(drawn, &svg_tmp, &svg)?;
    Ok((vec![png, svg], svg_text))
}

/// Renames `tmp` to `path` if drawing succeeded; otherwise removes `tmp`.
fn finish(drawn: Drawn, tmp: &Path, path: &Path) -> Result<(), ChartError> {
    let result =
        drawn.and_then(|()| std::fs::rename(tmp, path).map_err(|e| DrawError(e.to_string())));
    result.map_err(|DrawError(message)| {
        let _ = std::fs::remove_file(tmp);
        ChartError::Write {
            path: path.to_path_buf(),
            message,
        }
    })
}

/// Draws the figure title (and an optional grey subtitle) into the top band of `root`
/// and returns the area below it.
pub fn title_band<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> Result<DrawingArea<DB, Shift>, DrawError> {
    let (top, rest) = root.split_vertically(TITLE_HEIGHT);
    top.draw_text(title, &text(size::TITLE), (24, 14))?;
    let grey = text(size::SUBTITLE).color(&RGBColor(0x55, 0x55, 0x55));
    top.draw_text(subtitle, &grey, (24, 54))?;
    Ok(rest)
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug)]
pub enum Swatch {
    /// A line in a series colour.
    Line(RGBColor),
    /// A line over its confidence band, in the band's own colour and opacity.
    LineBand(RGBColor),
    /// A dashed line.
    Dashed(RGBColor),
    /// A filled box (bars, fault windows).
    Fill(RGBAColor),
    /// A vertical error bar.
    ErrorBar,
    /// A replication dot.
    Dot,
    /// A diverged replication's cross.
    Cross,
    /// An event marker (a restart): a filled triangle.
    Triangle(RGBColor),
}

/// One legend line.
#[derive(Clone, Debug)]
pub struct LegendEntry {
    pub label: String,
    pub swatch: Swatch,
}

impl LegendEntry {
    pub fn new(label: impl Into<String>, swatch: Swatch) -> Self {
        LegendEntry {
            label: label.into(),
            swatch,
        }
    }
}

const SWATCH_W: i32 = 30;
const ROW_H: i32 = 27;
const PAD: i32 = 12;

/// Pixel width a legend column needs for `entries` (at least `min`).
pub fn legend_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    min: u32,
) -> u32 {
    let style = text(size::LEGEND);
    let widest = entries
        .iter()
        .filter_map(|e| area.estimate_text_size(&e.label, &style).ok())
        .map(|(w, _)| w)
        .max()
        .unwrap_or(0);
    (widest + (SWATCH_W + 3 * PAD + 16) as u32).clamp(min, 520)
}

/// Draws a boxed legend at the top-left of `area` (a column beside the plot), starting
/// `top` pixels down so it lines up with the plot's top edge.
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    top: i32,
) -> Drawn {
    if entries.is_empty() {
        return Ok(());
    }
    let (w, _) = area.dim_in_pixel();
    let w = w as i32 - 8;
    let h = ROW_H * entries.len() as i32 + PAD;
    area.draw(&Rectangle::new([(0, top), (w, top + h)], WHITE.filled()))?;
    area.draw(&Rectangle::new(
        [(0, top), (w, top + h)],
        RGBColor(0xBB, 0xBB, 0xBB).stroke_width(1),
    ))?;
    let style = text(size::LEGEND).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Center,
    ));
    for (i, e) in entries.iter().enumerate() {
        let cy = top + PAD / 2 + ROW_H * i as i32 + ROW_H / 2;
        let (x0, x1) = (PAD, PAD + SWATCH_W);
        match e.swatch {
            Swatch::Line(c) => {
                area.draw(&PathElement::new([(x0, cy), (x1, cy)], c.stroke_width(3)))?;
            }
            Swatch::LineBand(c) => {
                area.draw(&Rectangle::new(
                    [(x0, cy - 9), (x1, cy + 9)],
                    c.mix(BAND_ALPHA).filled(),
                ))?;
                area.draw(&PathElement::new([(x0, cy), (x1, cy)], c.stroke_width(3)))?;
            }
            Swatch::Dashed(c) => {
                area.draw(&PathElement::new(
                    [(x0, cy), (x0 + 11, cy)],
                    c.stroke_width(3),
                ))?;
                area.draw(&PathElement::new(
                    [(x1 - 11, cy), (x1, cy)],
                    c.stroke_width(3),
                ))?;
            }
            Swatch::Fill(c) => {
                area.draw(&Rectangle::new([(x0, cy - 8), (x1, cy + 8)], c.filled()))?;
            }
            Swatch::ErrorBar => {
                let xm = (x0 + x1) / 2;
                let s = INK.stroke_width(2);
                area.draw(&PathElement::new([(xm, cy - 9), (xm, cy + 9)], s))?;
                area.draw(&PathElement::new([(xm - 6, cy - 9), (xm + 6, cy - 9)], s))?;
                area.draw(&PathElement::new([(xm - 6, cy + 9), (xm + 6, cy + 9)], s))?;
            }
            Swatch::Dot => {
                area.draw(&Circle::new(((x0 + x1) / 2, cy), 4, INK.mix(0.6).filled()))?;
            }
            Swatch::Cross => {
                let c = ((x0 + x1) / 2, cy);
                area.draw(&Cross::new(c, 7, DIVERGED.stroke_width(3)))?;
            }
            Swatch::Triangle(c) => {
                let m = ((x0 + x1) / 2, cy);
                area.draw(&TriangleMarker::new(m, 8, c.filled()))?;
            }
        }
        area.draw_text(&e.label, &style, (x1 + PAD, cy))?;
    }
    Ok(())
}

/// An error bar from `lo` to `hi` at `x`, with caps `half` data units wide. plotters'
/// own `ErrorBar` also circles the mean, which clutters a bar chart.
pub fn error_bar(
    x: f64,
    lo: f64,
    hi: f64,
    half: f64,
    style: ShapeStyle,
) -> [PathElement<(f64, f64)>; 3] {
    [
        PathElement::new(vec![(x, lo), (x, hi)], style),
        PathElement::new(vec![(x - half, lo), (x + half, lo)], style),
        PathElement::new(vec![(x - half, hi), (x + half, hi)], style),
    ]
}

/// A linear f64 axis whose ticks sit exactly at `ticks`: categorical positions (one per
/// variant or sweep value) on a numeric axis, so bars and lines can sit between them.
/// (plotters' own `with_key_points` wrapper loses the f64 tick formatter.)
pub struct Ticked {
    pub range: std::ops::Range<f64>,
    pub ticks: Vec<f64>,
}

impl plotters::coord::ranged1d::Ranged for Ticked {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        if span == 0.0 {
            return (limit.0 + limit.1) / 2;
        }
        let frac = (v - self.range.start) / span;
        limit.0 + ((limit.1 - limit.0) as f64 * frac).round() as i32
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // Light grid lines between categories would only add noise.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}
