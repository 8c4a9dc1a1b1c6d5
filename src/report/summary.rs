//! The summary table of an output directory — one row per variant × point, the headline
//! metrics with their 95 % intervals — read back from `summary.csv`. The terminal table
//! (`cascade run`, `merge`) and `report.html` both take their rows from here, so they
//! list the same cells in the same order: the experiment file's (variants as listed,
//! then sweep points in order), which is also the order and colour order of every chart.

use std::path::Path;

use super::charts::ChartError;
use super::charts::data::{CsvTable, number, ordered};

/// The columns: (metric in `summary.csv`, header).
pub const COLUMNS: [(&str, &str); 8] = [
    ("outage_s", "outage"),
    ("sustained_outage_s", "sustained"),
    ("recovered_share", "recovered"),
    ("lost", "lost"),
    ("late", "late"),
    ("p99_ms", "p99 all"),
    ("p99_ok_ms", "p99 ok"),
    ("diverged", "diverged"),
];

/// Index of the `diverged` column.
pub const DIVERGED: usize = 7;

/// Mean and interval of one cell of the table (NaN where the file has none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Value {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Default for Value {
    fn default() -> Self {
        Value {
            mean: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
        }
    }
}

/// One row: a variant at a sweep point.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub variant: String,
    /// The point label, empty without a sweep.
    pub point: String,
    /// One value per [`COLUMNS`] entry.
    pub values: [Value; 8],
    /// Replications behind the row.
    pub n: u64,
}

impl Row {
    /// `variant` or `variant point`, as the terminal shows it.
    pub fn label(&self) -> String {
        if self.point.is_empty() {
            self.variant.clone()
        } else {
            format!("{} {}", self.variant, self.point)
        }
    }
}

/// The rows of `dir/summary.csv`, in `variants` then `points` order (the manifest's;
/// cells they do not name follow in file order).
pub fn read(dir: &Path, variants: &[String], points: &[String]) -> Result<Vec<Row>, ChartError> {
    let path = dir.join("summary.csv");
    let mut t = CsvTable::open(&path)?;
    let (v, p, m) = (
        t.column("variant")?,
        t.column("point")?,
        t.column("metric")?,
    );
    let (mean, lo, hi, n) = (
        t.column("mean")?,
        t.column("lo")?,
        t.column("hi")?,
        t.column("n")?,
    );
    let mut rows: Vec<Row> = Vec::new();
    while let Some((line, rec)) = t.next_row()? {
        let i = match rows
            .iter()
            .position(|r| r.variant == rec[v] && r.point == rec[p])
        {
            Some(i) => i,
            None => {
                rows.push(Row {
                    variant: rec[v].to_string(),
                    point: rec[p].to_string(),
                    values: [Value::default(); 8],
                    n: 0,
                });
                rows.len() - 1
            }
        };
        if let Some(slot) = COLUMNS.iter().position(|c| c.0 == &rec[m]) {
            rows[i].values[slot] = Value {
                mean: number(&path, line, "mean", &rec[mean])?,
                lo: number(&path, line, "lo", &rec[lo])?,
                hi: number(&path, line, "hi", &rec[hi])?,
            };
            let k = number(&path, line, "n", &rec[n])?;
            if k.is_finite() && k > 0.0 {
                rows[i].n = rows[i].n.max(k as u64);
            }
        }
    }
    let seen_v: Vec<String> = rows.iter().map(|r| r.variant.clone()).collect();
    let seen_p: Vec<String> = rows.iter().map(|r| r.point.clone()).collect();
    let variants = ordered(variants, &dedup(seen_v));
    let points = ordered(points, &dedup(seen_p));
    let rank = |r: &Row| {
        (
            variants.iter().position(|x| *x == r.variant),
            points.iter().position(|x| *x == r.point),
        )
    };
    rows.sort_by_key(rank);
    Ok(rows)
}

fn dedup(mut names: Vec<String>) -> Vec<String> {
    let mut seen = Vec::new();
    names.retain(|n| {
        if seen.contains(n) {
            false
        } else {
            seen.push(n.clone());
            true
        }
    });
    names
}

/// A value as the terminal shows it in column `i` (`"-"` for none).
pub fn cell(i: usize, x: f64, n: u64) -> String {
    if !x.is_finite() {
        return "-".to_string();
    }
    match i {
        0 | 1 => format!("{:.1}m", x / 60.0),
        2 => format!("{:.0}%", x * 100.0),
        5 | 6 => format!("{x:.0}ms"),
        DIVERGED => format!("{}/{n}", (x * n as f64).round()),
        _ => format!("{x:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_manifest_order_not_the_file_order() {
        let dir = std::env::temp_dir().join(format!("cascade-summary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("summary.csv"),
            "variant,point,metric,n,mean,std,lo,hi\n\
             b,,outage_s,3,10,1,8,12\n\
             a,,outage_s,3,600,1,500,700\n\
             a,,lost,3,5,0,,\n\
             extra,,outage_s,2,1,0,,\n",
        )
        .unwrap();
        let rows = read(&dir, &["a".into(), "b".into()], &["".into()]).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.variant.as_str()).collect();
        assert_eq!(names, ["a", "b", "extra"]);
        assert_eq!(rows[0].values[0].lo, 500.0);
        assert_eq!(rows[0].values[3].mean, 5.0);
        assert!(rows[0].values[3].lo.is_nan());
        assert_eq!(rows[0].n, 3);
        assert_eq!(cell(0, 600.0, 3), "10.0m");
        assert_eq!(cell(DIVERGED, 1.0 / 3.0, 3), "1/3");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
