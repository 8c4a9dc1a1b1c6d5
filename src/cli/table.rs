//! The terminal summary of an output directory: one row per variant × point, in the
//! experiment file's order, read back from the files (so `run` and `merge` print the
//! same thing, and `report.html` the same rows).
//! A shard says it is partial; diverged runs are counted and explained.

use std::path::Path;

use anyhow::Context;

use cascade::experiment::output::read_manifest;
use cascade::report::summary::{self, COLUMNS, DIVERGED};

use crate::cli::{Fail, other};

/// A CSV file of an output directory and its header.
struct Table {
    reader: csv::Reader<std::fs::File>,
    headers: csv::StringRecord,
}

impl Table {
    fn open(dir: &Path, name: &str) -> Result<Table, Fail> {
        let path = dir.join(name);
        let mut reader = csv::Reader::from_path(&path)
            .with_context(|| format!("{}", path.display()))
            .map_err(other)?;
        let headers = reader.headers().map_err(other)?.clone();
        Ok(Table { reader, headers })
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }
}

/// Prints the table of `dir`: the rows of [`summary::read`], in the experiment file's
/// order (the order and colours of the charts and of `report.html`).
pub fn print(dir: &Path) -> Result<(), Fail> {
    let manifest = read_manifest(dir).map_err(other)?;
    let lines = summary::read(dir, &manifest.variants, &manifest.points).map_err(other)?;
    if let Some(partial) = manifest.partial() {
        outln!("{partial} (a partial result: `cascade merge` the shards for the whole one)");
    }
    let any_diverged = lines.iter().any(|l| l.values[DIVERGED].mean > 0.0);
    let shown = if any_diverged { 8 } else { 7 };
    let rows: Vec<(String, Vec<String>)> = lines
        .iter()
        .map(|l| {
            let cells = (0..shown)
                .map(|i| summary::cell(i, l.values[i].mean, l.n))
                .collect();
            (l.label(), cells)
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
    let mut t = Table::open(dir, "runs.csv")?;
    let (Some(v), Some(p), Some(rep), Some(why)) = (
        t.col("variant"),
        t.col("point"),
        t.col("replication"),
        t.col("diverged_why"),
    ) else {
        return Ok(());
    };
    let mut shown = 0;
    let mut more = 0;
    for rec in t.reader.records() {
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
