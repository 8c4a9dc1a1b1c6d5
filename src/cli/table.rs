//! The terminal summary of an output directory: one row per variant × point, sorted by
//! mean outage, read back from the files (so `run` and `merge` print the same thing).
//! A shard says it is partial; diverged runs are counted and explained.

use std::path::Path;

use anyhow::{Context, anyhow};

use cascade::experiment::output::read_manifest;

use crate::cli::{Fail, other};

/// The columns, from `summary.csv` means: (metric, header).
const COLUMNS: [(&str, &str); 8] = [
    ("outage_s", "outage"),
    ("sustained_outage_s", "sustained"),
    ("recovered_share", "recovered"),
    ("lost", "lost"),
    ("late", "late"),
    ("p99_ms", "p99 all"),
    ("p99_ok_ms", "p99 ok"),
    ("diverged", "diverged"),
];

struct Line {
    variant: String,
    point: String,
    mean: [f64; 8],
    n: u64,
}

fn cell(i: usize, x: f64, n: u64) -> String {
    if !x.is_finite() {
        return "-".to_string();
    }
    match i {
        0 | 1 => format!("{:.1}m", x / 60.0),
        2 => format!("{:.0}%", x * 100.0),
        5 | 6 => format!("{x:.0}ms"),
        7 => format!("{}/{n}", (x * n as f64).round()),
        _ => format!("{x:.0}"),
    }
}

/// Prints the table of `dir`.
pub fn print(dir: &Path) -> Result<(), Fail> {
    let manifest = read_manifest(dir).map_err(other)?;
    let path = dir.join("summary.csv");
    let mut r = csv::Reader::from_path(&path)
        .with_context(|| format!("{}", path.display()))
        .map_err(other)?;
    let headers = r.headers().map_err(other)?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(v), Some(p), Some(m), Some(mean), Some(n)) = (
        col("variant"),
        col("point"),
        col("metric"),
        col("mean"),
        col("n"),
    ) else {
        return Err(other(anyhow!("{}: unexpected columns", path.display())));
    };
    let mut lines: Vec<Line> = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(other)?;
        let idx = match lines
            .iter()
            .position(|l| l.variant == rec[v] && l.point == rec[p])
        {
            Some(i) => i,
            None => {
                lines.push(Line {
                    variant: rec[v].to_string(),
                    point: rec[p].to_string(),
                    mean: [f64::NAN; 8],
                    n: 0,
                });
                lines.len() - 1
            }
        };
        if let Some(slot) = COLUMNS.iter().position(|c| c.0 == &rec[m]) {
            lines[idx].mean[slot] = rec[mean].parse().unwrap_or(f64::NAN);
            lines[idx].n = lines[idx].n.max(rec[n].parse().unwrap_or(0));
        }
    }
    if let Some(partial) = manifest.partial() {
        outln!("{partial} (a partial result: `cascade merge` the shards for the whole one)");
    }
    lines.sort_by(|a, b| a.mean[0].total_cmp(&b.mean[0]));
    let any_diverged = lines.iter().any(|l| l.mean[7] > 0.0);
    let shown = if any_diverged { 8 } else { 7 };
    let name = |l: &Line| {
        if l.point.is_empty() {
            l.variant.clone()
        } else {
            format!("{} {}", l.variant, l.point)
        }
    };
    let rows: Vec<(String, Vec<String>)> = lines
        .iter()
        .map(|l| {
            let cells = (0..shown).map(|i| cell(i, l.mean[i], l.n)).collect();
            (name(l), cells)
        })
        .collect();
    let first = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    let widths: Vec<usize> = (0..shown)
        .map(|i| {
            rows.iter()
                .map(|r| r.1[i].len())
                .chain([COLUMNS[i].1.len(), 6])
                .max()
                .unwrap_or(6)
        })
        .collect();
    let mut head = format!("{:<first$}", "variant");
    for (i, w) in widths.iter().enumerate() {
        head.push_str(&format!("  {:>w$}", COLUMNS[i].1));
    }
    outln!("{}", head.trim_end());
    for (label, cells) in &rows {
        let pad = first - label.chars().count() + label.len();
        let mut line = format!("{label:<pad$}");
        for (c, w) in cells.iter().zip(&widths) {
            line.push_str(&format!("  {c:>w$}"));
        }
        outln!("{line}");
    }
    if any_diverged {
        print_divergences(dir)?;
    }
    Ok(())
}

/// One line per diverged run (at most five, then a count), from `runs.csv`.
fn print_divergences(dir: &Path) -> Result<(), Fail> {
    let path = dir.join("runs.csv");
    let mut r = csv::Reader::from_path(&path)
        .with_context(|| format!("{}", path.display()))
        .map_err(other)?;
    let headers = r.headers().map_err(other)?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(v), Some(p), Some(rep), Some(why)) = (
        col("variant"),
        col("point"),
        col("replication"),
        col("diverged_why"),
    ) else {
        return Ok(());
    };
    let mut shown = 0;
    let mut more = 0;
    for rec in r.records() {
        let rec = rec.map_err(other)?;
        if rec[why].is_empty() {
            continue;
        }
        if shown == 5 {
            more += 1;
            continue;
        }
        shown += 1;
        let point = if rec[p].is_empty() {
            String::new()
        } else {
            format!(" {}", &rec[p])
        };
        outln!(
            "{}{point}, replication {}: {} (figures up to then; not recovered)",
            &rec[v],
            &rec[rep],
            &rec[why]
        );
    }
    if more > 0 {
        outln!("and {more} more diverged runs (runs.csv, column diverged_why)");
    }
    Ok(())
}
