//! `report.html`: one self-contained page to send a colleague after a run — what was
//! compared and how to reproduce it, the summary table, every chart inline (SVG), the
//! service graph as a diagram and the resilience lint.
//!
//! Self-contained means: no network, no CDN, no external file needed to read it. Charts
//! are the SVG documents written to `charts/`, inlined; styles are one `<style>` block;
//! there is no script. Links to the directory's own CSV and PNG files are relative.
//!
//! Everything taken from the experiment (names, descriptions, command line) is escaped;
//! chart SVG comes from plotters, which escapes its text. Like the charts, the page is
//! built from the output directory's files alone (the manifest holds the resolved model
//! of every variant), so `cascade plot` rebuilds it from an old directory.
//!
//! Layout: this file builds the page; [`graph`] draws the service graph; [`model`] gets
//! the models and the lint out of the manifest.

mod graph;
mod model;

pub(crate) use graph::brief;
pub(crate) use model::model_of;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::charts::data::{Manifest, read_manifest};
use super::charts::{ChartError, ChartKind, ChartSvg};
use super::summary::{self, COLUMNS, DIVERGED};

/// HTML-escapes `s` for text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes `dir/report.html` (via a temporary file) from the directory's files and the
/// charts just drawn; `charts` is `None` when charts were not drawn (`--no-charts`).
pub fn write(dir: &Path, charts: Option<&[ChartSvg]>) -> Result<PathBuf, ChartError> {
    let manifest = read_manifest(&dir.join("manifest.json"))?;
    let rows = summary::read(dir, &manifest.variants, &manifest.points)?;
    let page = page(&manifest, &rows, charts);
    let path = dir.join("report.html");
    let tmp = dir.join(".report.partial.html");
    std::fs::write(&tmp, page.as_bytes())
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ChartError::Write {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
    Ok(path)
}

const STYLE: &str = r#"
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 0 auto; max-width: 1500px; padding: 16px 28px 60px; color: #222; background: #fff; line-height: 1.45; }
h1 { font-size: 28px; margin: 8px 0 4px; }
h2 { font-size: 21px; margin: 34px 0 10px; padding-top: 10px; border-top: 1px solid #ddd; }
h3 { font-size: 17px; margin: 22px 0 6px; }
p.lead { font-size: 16px; color: #333; margin: 4px 0 14px; }
nav { font-size: 14px; margin: 10px 0 4px; }
nav a { margin-right: 14px; }
a { color: #2a5d8f; }
dl.manifest { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 14px; margin: 8px 0; }
dl.manifest dt { color: #666; }
dl.manifest dd { margin: 0; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 13px; background: #f5f5f5; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
table.summary { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
table.summary th, table.summary td { padding: 5px 10px; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
table.summary th:first-child, table.summary td:first-child { text-align: left; }
table.summary th { background: #f3f5f8; }
table.summary td .ci { display: block; color: #888; font-size: 11px; }
span.swatch { display: inline-block; width: 11px; height: 11px; margin-right: 7px; border-radius: 2px; vertical-align: -1px; }
table.summary tr:hover td { background: #fafbe8; }
figure.chart { margin: 14px 0 22px; }
figure.chart svg { width: 100%; height: auto; display: block; border: 1px solid #eee; }
figure.chart figcaption { font-size: 13px; color: #666; margin-top: 3px; }
.graph-wrap { overflow-x: auto; border: 1px solid #eee; padding: 6px; }
svg.graph { max-width: 100%; height: auto; }
svg.graph .g-name { font: bold 14px "DejaVu Sans", sans-serif; fill: #222; }
svg.graph .g-sub { font: 12px "DejaVu Sans", sans-serif; fill: #444; }
svg.graph .g-policy { font: 11px "DejaVu Sans Mono", monospace; fill: #333; }
ul.lint li, ul.diff li { font-size: 14px; margin: 3px 0; }
.note { color: #666; font-size: 14px; }
.variants li { margin: 3px 0; font-size: 14px; }
"#;

fn page(m: &Manifest, rows: &[summary::Row], charts: Option<&[ChartSvg]>) -> String {
    let mut s = String::new();
    let title = if m.name.is_empty() {
        "cascade report".to_string()
    } else {
        format!("{} — cascade report", m.name)
    };
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(s, "<h1>{}</h1>", esc(&m.name));
    if let Some(d) = m.config.get("description").and_then(|d| d.as_str()) {
        let _ = writeln!(s, "<p class=\"lead\">{}</p>", esc(d));
    }
    let has = |k: ChartKind| charts.is_some_and(|c| c.iter().any(|c| c.kind == k));
    let mut nav = vec![("summary", "Summary")];
    if has(ChartKind::Bars) {
        nav.push(("outage", "Outage and lost"));
    }
    if has(ChartKind::Sweep) {
        nav.push(("sweeps", "Sweeps"));
    }
    if has(ChartKind::Compare) {
        nav.push(("compare", "Variants compared"));
    }
    nav.push(("graph", "Service graph"));
    nav.push(("lint", "Lint"));
    if has(ChartKind::Backoff) {
        nav.push(("backoff", "Backoff"));
    }
    if has(ChartKind::Series) {
        nav.push(("series", "Time series"));
    }
    nav.push(("files", "Files"));
    s.push_str("<nav>");
    for (id, text) in &nav {
        let _ = write!(s, "<a href=\"#{id}\">{text}</a>");
    }
    s.push_str("</nav>\n");
    manifest_section(&mut s, m);
    variants_section(&mut s, m);
    summary_section(&mut s, m, rows);

    match charts {
        None => s.push_str(
            "<p class=\"note\">Charts were not drawn (<code>--no-charts</code>); <code>cascade plot DIR</code> draws them and this page again.</p>\n",
        ),
        Some(charts) => {
            charts_section(&mut s, charts, ChartKind::Bars, "outage", "Outage and lost requests", "Bars: mean with its 95 % confidence interval; dots: one per replication.");
            charts_section(&mut s, charts, ChartKind::Sweep, "sweeps", "Sweeps", "Each line a variant against the swept value, with its 95 % band.");
            charts_section(&mut s, charts, ChartKind::Compare, "compare", "The variants compared", "Key metrics over time, every variant overlaid (same colours as the table).");
        }
    }
    model::graph_and_lint(&mut s, m);
    if let Some(charts) = charts {
        charts_section(
            &mut s,
            charts,
            ChartKind::Backoff,
            "backoff",
            "Backoff: the wait before each retry",
            "The backoff strategies of this experiment drawn through the policy code: the wait before retry 1, 2, 3, … over 10 000 calls, and when the retries of 1000 clients that failed at the same instant arrive (cascade backoff FILE draws them for any file).",
        );
    }
    if let Some(charts) = charts {
        charts_section(
            &mut s,
            charts,
            ChartKind::Series,
            "series",
            "Each variant's time series",
            "Panels follow the cascade's causal chain: load, latency, busy workers, queues, attempts, breakers; the fault window is shaded red.",
        );
    }
    files_section(&mut s, charts);
    s.push_str("</body></html>\n");
    s
}

fn manifest_section(s: &mut String, m: &Manifest) {
    s.push_str("<dl class=\"manifest\">");
    let mut item = |k: &str, v: String| {
        let _ = write!(s, "<dt>{k}</dt><dd>{v}</dd>");
    };
    item("command", format!("<code>{}</code>", esc(&m.command)));
    item("seed", m.seed.to_string());
    item("version", format!("cascade {}", esc(&m.crate_version)));
    item("experiment", format!("<code>{}</code>", esc(&m.experiment)));
    item("model", format!("<code>{}</code>", esc(&m.model)));
    let reps = if m.replications == 1 {
        "1 replication".to_string()
    } else {
        format!("{} replications", m.replications)
    };
    item(
        "plan",
        format!(
            "{} variants × {} points × {reps} = {} jobs, {} simulated each",
            m.variants.len(),
            m.points.len().max(1),
            m.jobs,
            human_secs(m.duration_s)
        ),
    );
    if let Some(shard) = &m.shard {
        item(
            "partial",
            format!(
                "shard {} ({} of {} jobs): merge the shards for the whole result",
                esc(shard),
                m.shard_jobs.unwrap_or(0),
                m.jobs
            ),
        );
    }
    for n in &m.notes {
        item("note", esc(n));
    }
    s.push_str("</dl>\n");
}

fn human_secs(s: f64) -> String {
    if s >= 3600.0 && (s / 3600.0).fract() == 0.0 {
        format!("{} h", s / 3600.0)
    } else if s >= 120.0 {
        format!("{} min", (s / 60.0 * 10.0).round() / 10.0)
    } else {
        format!("{s} s")
    }
}

fn variants_section(s: &mut String, m: &Manifest) {
    let Some(variants) = m.config.get("variants").and_then(|v| v.as_array()) else {
        return;
    };
    s.push_str("<ul class=\"variants\">");
    for v in variants {
        let name = v.get("name").and_then(|n| n.as_str()).unwrap_or("");
        let i = m.variants.iter().position(|x| x == name).unwrap_or(0);
        let desc = v.get("description").and_then(|d| d.as_str()).unwrap_or("");
        let sets: Vec<String> = v
            .get("set")
            .and_then(|s| s.as_object())
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("<code>{} = {}</code>", esc(k), esc(&v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let _ = write!(
            s,
            "<li>{}<b>{}</b>{}{}</li>",
            swatch(i),
            esc(name),
            if desc.is_empty() {
                String::new()
            } else {
                format!(": {}", esc(desc))
            },
            if sets.is_empty() {
                String::new()
            } else {
                format!(" — {}", sets.join(" "))
            }
        );
    }
    s.push_str("</ul>\n");
}

/// The colour square of the `i`-th variant, as in the charts.
fn swatch(i: usize) -> String {
    let c = super::charts::palette_hex(i);
    format!("<span class=\"swatch\" style=\"background:{c}\"></span>")
}

fn summary_section(s: &mut String, m: &Manifest, rows: &[summary::Row]) {
    s.push_str("<h2 id=\"summary\">Summary</h2>\n");
    let any_diverged = rows.iter().any(|r| r.values[DIVERGED].mean > 0.0);
    let shown = if any_diverged { 8 } else { 7 };
    let reps = rows.iter().map(|r| r.n).max().unwrap_or(0);
    let _ = writeln!(
        s,
        "<p class=\"note\">Means over {} per row; grey: 95 % confidence interval. In the experiment file's order, as in the terminal and the charts. Every column is defined in <code>output/README.md</code> (<code>cascade explain NAME</code>).</p>",
        if reps == 1 {
            "1 replication".to_string()
        } else {
            format!("{reps} replications")
        }
    );
    s.push_str("<table class=\"summary\"><thead><tr><th>variant</th>");
    for (_, head) in COLUMNS.iter().take(shown) {
        let _ = write!(s, "<th>{head}</th>");
    }
    s.push_str("</tr></thead><tbody>\n");
    for r in rows {
        let i = m.variants.iter().position(|v| *v == r.variant).unwrap_or(0);
        let _ = write!(s, "<tr><td>{}{}</td>", swatch(i), esc(&r.label()));
        for (c, v) in r.values.iter().enumerate().take(shown) {
            let ci = if v.lo.is_finite() && v.hi.is_finite() && c != DIVERGED {
                format!(
                    "<span class=\"ci\">{} – {}</span>",
                    esc(&summary::cell(c, v.lo, r.n)),
                    esc(&summary::cell(c, v.hi, r.n))
                )
            } else {
                String::new()
            };
            let _ = write!(s, "<td>{}{ci}</td>", esc(&summary::cell(c, v.mean, r.n)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
}

fn charts_section(
    s: &mut String,
    charts: &[ChartSvg],
    kind: ChartKind,
    id: &str,
    heading: &str,
    text: &str,
) {
    let mine: Vec<&ChartSvg> = charts.iter().filter(|c| c.kind == kind).collect();
    if mine.is_empty() {
        return;
    }
    let _ = write!(
        s,
        "<h2 id=\"{id}\">{heading}</h2>\n<p class=\"note\">{text}</p>\n"
    );
    for c in mine {
        let _ = writeln!(
            s,
            "<figure class=\"chart\" id=\"chart-{0}\">{1}<figcaption><a href=\"charts/{0}.png\">charts/{0}.png</a> · <a href=\"charts/{0}.svg\">svg</a></figcaption></figure>",
            esc(&c.stem),
            inline(&c.svg)
        );
    }
}

/// An SVG document ready to inline: without its XML declaration, and with a viewBox so
/// CSS can scale it to the page width.
fn inline(svg: &str) -> String {
    let body = match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    };
    if body.contains("viewBox") {
        return body.to_string();
    }
    let open_end = body.find('>').unwrap_or(0);
    let head = &body[..open_end];
    let attr = |name: &str| -> Option<&str> {
        let k = head.find(&format!("{name}=\""))? + name.len() + 2;
        let len = head[k..].find('"')?;
        Some(&head[k..k + len])
    };
    match (attr("width"), attr("height")) {
        (Some(w), Some(h)) => format!("<svg viewBox=\"0 0 {w} {h}\"{}", &body[4..]),
        _ => body.to_string(),
    }
}

fn files_section(s: &mut String, charts: Option<&[ChartSvg]>) {
    s.push_str("<h2 id=\"files\">Files</h2>\n<p class=\"note\">");
    for f in ["runs.csv", "summary.csv", "timeseries.csv", "manifest.json"] {
        let _ = write!(s, "<a href=\"{f}\">{f}</a> · ");
    }
    let n = charts.map_or(0, <[ChartSvg]>::len);
    let _ = writeln!(
        s,
        "{n} charts in <a href=\"charts/\">charts/</a> as PNG and SVG. The manifest lists every file with its SHA-256; <code>cascade plot DIR</code> redraws the charts and this page.</p>"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<img src=x onerror=\"alert(1)\">&'"),
            "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn inlined_svg_loses_its_xml_declaration_and_gains_a_view_box() {
        let svg = "<?xml version=\"1.0\"?>\n<svg width=\"100\" height=\"50\" xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>";
        let out = inline(svg);
        assert!(
            out.starts_with("<svg viewBox=\"0 0 100 50\" width=\"100\""),
            "{out}"
        );
        assert!(out.ends_with("</svg>"));
    }
}
