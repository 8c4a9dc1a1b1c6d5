//! `cascade backoff` and the backoff section of a report: which backoff strategies a
//! model uses (every client edge and workload that retries), or the eight standard ones
//! with their defaults, drawn by [`super::charts::backoff`] through the real policy code.
//!
//! Strategies that are the same (same configuration, same number of retries) are drawn
//! once, labelled with the first place that uses them and how many others do.

use std::path::{Path, PathBuf};

use crate::model::graph::Model;
use crate::policy::backoff::{Backoff, BackoffConfig};

use super::charts::backoff::{self as figures, Strategy};
use super::charts::{ChartError, ChartKind, ChartSvg, canvas};

/// The eight standard strategies, as a model file writes them with their defaults.
pub const STANDARD: [(&str, &str); 8] = [
    ("immediate", r#""immediate""#),
    ("fixed", "{ fixed = {} }"),
    ("linear", "{ linear = {} }"),
    ("exponential", "{ exponential = {} }"),
    ("full_jitter", "{ full_jitter = {} }"),
    ("equal_jitter", "{ equal_jitter = {} }"),
    ("decorrelated_jitter", "{ decorrelated_jitter = {} }"),
    ("decorrelated_jitter_v2", "{ decorrelated_jitter_v2 = {} }"),
];

/// The standard strategies with their defaults, each making `retries` retries.
pub fn standard(retries: u32) -> Vec<Strategy> {
    STANDARD
        .iter()
        .map(|(name, text)| {
            let t: toml::Table = toml::from_str(&format!("b = {text}")).expect("a valid literal");
            let config: BackoffConfig = t["b"].clone().try_into().expect("defaults parse");
            Strategy {
                label: (*name).to_string(),
                backoff: Backoff::new(config).expect("defaults are valid"),
                retries,
            }
        })
        .collect()
}

/// A strategy in a few words, as a file writes it (`full_jitter (base 100ms, cap 2s)`).
fn kind(config: &BackoffConfig) -> String {
    match serde_json::to_value(config) {
        Ok(v) => super::html::brief(&v),
        Err(_) => "backoff".to_string(),
    }
}

/// Every retrying edge and workload of `models` (labelled `variant` or empty), each
/// distinct strategy once; `retries` overrides the policies' own counts.
pub fn of_models(models: &[(String, &Model)], retries: Option<u32>) -> Vec<Strategy> {
    // (config, retries, where first seen, variants using it, places using it)
    let mut found: Vec<(BackoffConfig, u32, String, Vec<String>, usize)> = Vec::new();
    for (variant, model) in models {
        let edges = model
            .clients
            .iter()
            .filter_map(|c| c.retry.as_ref().map(|r| (c.name.clone(), r)));
        let users = model.workloads.iter().filter_map(|w| {
            w.retry
                .as_ref()
                .map(|r| (format!("users of {}", w.name), r))
        });
        for (place, retry) in edges.chain(users) {
            let n = retries.unwrap_or(retry.max_attempts().saturating_sub(1));
            if n == 0 {
                continue; // never retries: no wait to draw
            }
            let config = retry.backoff().config().clone();
            match found.iter_mut().find(|f| f.0 == config && f.1 == n) {
                Some(f) => {
                    if !f.3.contains(variant) {
                        f.3.push(variant.clone());
                    }
                    f.4 += 1;
                }
                None => found.push((config, n, place, vec![variant.clone()], 1)),
            }
        }
    }
    let all = models.len();
    found
        .into_iter()
        .filter_map(|(config, retries, place, variants, uses)| {
            let (who, every) = match variants.as_slice() {
                [v] if v.is_empty() => (String::new(), ""),
                _ if all > 1 && variants.len() == all => (String::new(), " (every variant)"),
                [v] => (format!("{v} — "), ""),
                [v, rest @ ..] => (format!("{v} and {} more — ", rest.len()), ""),
                [] => (String::new(), ""),
            };
            let also = if uses > variants.len() {
                format!(" and {} more edges", uses - variants.len())
            } else {
                String::new()
            };
            let first = if retries > figures::MAX_DRAWN_RETRIES {
                format!(
                    ", the first {} of {retries} retries",
                    figures::MAX_DRAWN_RETRIES
                )
            } else {
                String::new()
            };
            let label = format!("{who}{place}{also}: {}{every}{first}", kind(&config));
            Some(Strategy {
                label,
                backoff: Backoff::new(config).ok()?,
                retries,
            })
        })
        .collect()
}

/// Writes `backoff_delays` and `backoff_arrivals` (PNG and SVG) into `dir`; returns the
/// paths and the charts.
pub fn write(
    dir: &Path,
    name: &str,
    strategies: &[Strategy],
    clients: usize,
) -> Result<(Vec<PathBuf>, Vec<ChartSvg>), ChartError> {
    canvas::ensure_font()?;
    std::fs::create_dir_all(dir).map_err(|source| ChartError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths = Vec::new();
    let mut charts = Vec::new();
    if let Some(f) = figures::delays(name, strategies) {
        let (p, svg) = canvas::write_figure(dir, "backoff_delays", &f)?;
        paths.extend(p);
        charts.push(ChartSvg {
            stem: "backoff_delays".into(),
            kind: ChartKind::Backoff,
            svg,
        });
    }
    if let Some(f) = figures::arrivals(name, strategies, clients) {
        let (p, svg) = canvas::write_figure(dir, "backoff_arrivals", &f)?;
        paths.extend(p);
        charts.push(ChartSvg {
            stem: "backoff_arrivals".into(),
            kind: ChartKind::Backoff,
            svg,
        });
    }
    Ok((paths, charts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eight_standard_strategies_parse_with_their_defaults() {
        let s = standard(3);
        assert_eq!(s.len(), 8);
        assert!(s.iter().all(|s| s.retries == 3));
        assert!(kind(s[4].backoff.config()).starts_with("full_jitter (base 100ms"));
        assert_eq!(kind(s[0].backoff.config()), "immediate");
    }
}
