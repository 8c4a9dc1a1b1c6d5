//! Numbers on axes: value ranges that never come out empty or inverted, the log-scale
//! decision, time units, and compact number formatting for ticks and value labels.
//!
//! Why so defensive: charts are drawn from whatever a run produced, including all-zero
//! metrics, a single replication (no interval) and NaN buckets. plotters panics or draws
//! nothing on an empty range, so every range here is made usable first.

/// `v` scaled to G, M or k (k only from `k_from` up), with its suffix.
fn scale_suffix(v: f64, k_from: f64) -> (f64, &'static str) {
    let a = v.abs();
    if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= k_from {
        (v / 1e3, "k")
    } else {
        (v, "")
    }
}

/// A compact tick label: `0`, `0.25`, `12.5`, `850`, `1k`, `2.5k`, `12k`, `1.5M`: one
/// suffix style from a thousand up, so `1000` never stands beside `10k`.
pub fn fmt_num(v: f64) -> String {
    let (scaled, suffix) = scale_suffix(v, 1e3);
    let sa = scaled.abs();
    let decimals = if sa >= 100.0 || sa == 0.0 {
        0
    } else if sa >= 10.0 {
        1
    } else if sa >= 1.0 {
        2
    } else {
        3
    };
    let mut s = format!("{scaled:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if s == "-0" {
        s = "0".to_string();
    }
    format!("{s}{suffix}")
}

/// A value label with three significant digits (`6.04`, `12.0`, `886k`), so labels on
/// neighbouring bars read alike.
pub fn fmt_value(v: f64) -> String {
    let (scaled, suffix) = scale_suffix(v, 1e3);
    let sa = scaled.abs();
    let decimals = if sa >= 100.0 || sa == 0.0 {
        0
    } else if sa >= 10.0 {
        1
    } else {
        2
    };
    format!("{scaled:.decimals$}{suffix}")
}

/// A y range covering every finite value, with `pad` headroom above, starting at zero
/// if `from_zero` (and the data are not negative). Never empty or inverted.
pub fn y_range(values: impl IntoIterator<Item = f64>, from_zero: bool, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    let span = hi - lo;
    if span <= f64::EPSILON * hi.abs().max(1.0) {
        let half = (hi.abs() * 0.1).max(if from_zero { 1.0 } else { 0.5 });
        return if from_zero && lo >= 0.0 {
            (0.0, hi + 2.0 * half)
        } else {
            (lo - half, hi + half)
        };
    }
    let lo = if from_zero && lo >= 0.0 {
        0.0
    } else {
        lo - span * pad
    };
    (lo, hi + span * pad)
}

/// A log-scale range if the positive values span more than `ratio`, else `None`.
pub fn log_range(values: impl IntoIterator<Item = f64>, ratio: f64) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo <= hi && hi / lo > ratio).then(|| (lo / 1.3, hi * 1.5))
}

/// A latency axis unit for values up to `max_ms`: ms, s from 10 s up, min from 10 min
/// up; returns the unit's name and the factor from milliseconds.
pub fn latency_unit(max_ms: f64) -> (&'static str, f64) {
    if max_ms >= 600_000.0 {
        ("min", 1.0 / 60_000.0)
    } else if max_ms >= 10_000.0 {
        ("s", 1e-3)
    } else {
        ("ms", 1.0)
    }
}

/// A log axis from `lo` to `hi` (both positive) whose ticks sit at 1, 2 and 5 times the
/// powers of ten (only the powers when that is too many; 1–2–3–5–7 when too few), so a
/// range below a thousand still reads (plotters' own log axis ticks decades only).
pub struct LogTicked {
    pub lo: f64,
    pub hi: f64,
}

impl LogTicked {
    /// The tick values inside the range.
    pub fn ticks(&self) -> Vec<f64> {
        let at = |mults: &[f64]| -> Vec<f64> {
            let (a, b) = (
                self.lo.log10().floor() as i32,
                self.hi.log10().ceil() as i32,
            );
            (a..=b)
                .flat_map(|e| mults.iter().map(move |m| m * 10f64.powi(e)))
                .filter(|v| *v >= self.lo * 0.999 && *v <= self.hi * 1.001)
                .collect()
        };
        let ticks = at(&[1.0, 2.0, 5.0]);
        if ticks.len() > 12 {
            at(&[1.0])
        } else if ticks.len() < 3 {
            at(&[1.0, 1.5, 2.0, 3.0, 5.0, 7.0])
        } else {
            ticks
        }
    }
}

impl plotters::coord::ranged1d::Ranged for LogTicked {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (self.lo.max(f64::MIN_POSITIVE).log10(), self.hi.log10());
        if b <= a {
            return (limit.0 + limit.1) / 2;
        }
        let frac = (v.max(f64::MIN_POSITIVE).log10() - a) / (b - a);
        limit.0 + ((limit.1 - limit.0) as f64 * frac).round() as i32
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Seconds shown in a unit that reads well for `max_s`: minutes from two minutes up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeUnit {
    Seconds,
    Minutes,
}

impl TimeUnit {
    pub fn for_max(max_s: f64) -> Self {
        if max_s >= 120.0 {
            TimeUnit::Minutes
        } else {
            TimeUnit::Seconds
        }
    }
    pub fn scale(self, s: f64) -> f64 {
        match self {
            TimeUnit::Seconds => s,
            TimeUnit::Minutes => s / 60.0,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "seconds",
            TimeUnit::Minutes => "minutes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod formatting {
        use super::*;

        #[test]
        fn numbers_are_compact_without_trailing_zeros() {
            assert_eq!(fmt_num(0.0), "0");
            assert_eq!(fmt_num(0.25), "0.25");
            assert_eq!(fmt_num(2.0), "2");
            assert_eq!(fmt_num(12.5), "12.5");
            assert_eq!(fmt_num(850.0), "850");
            assert_eq!(fmt_num(12_000.0), "12k");
            assert_eq!(fmt_num(1_000.0), "1k", "the same suffix style as 10k");
            assert_eq!(fmt_num(2_500.0), "2.5k");
            assert_eq!(fmt_num(1_500_000.0), "1.5M");
            assert_eq!(fmt_num(-0.0001), "0");
        }

        #[test]
        fn value_labels_keep_three_significant_digits() {
            assert_eq!(fmt_value(6.04), "6.04");
            assert_eq!(fmt_value(12.0), "12.0");
            assert_eq!(fmt_value(886_000.0), "886k");
            assert_eq!(fmt_value(1_240_000.0), "1.24M");
            assert_eq!(fmt_value(0.0), "0");
        }
    }

    mod ranges {
        use super::*;

        #[test]
        fn all_zeros_and_nan_still_give_a_usable_range() {
            assert_eq!(y_range([0.0, 0.0], true, 0.1), (0.0, 2.0));
            assert_eq!(y_range([f64::NAN], true, 0.1), (0.0, 1.0));
            assert_eq!(y_range(std::iter::empty(), false, 0.1), (0.0, 1.0));
        }

        #[test]
        fn padding_goes_above_a_zero_based_range() {
            let (lo, hi) = y_range([2.0, 10.0], true, 0.1);
            assert_eq!(lo, 0.0);
            assert!((hi - 11.0).abs() < 1e-9);
        }

        #[test]
        fn log_ticks_read_below_a_thousand() {
            let t = LogTicked {
                lo: 30.0,
                hi: 900.0,
            }
            .ticks();
            assert_eq!(t, [50.0, 100.0, 200.0, 500.0]);
            let wide = LogTicked { lo: 1.0, hi: 1e9 }.ticks();
            assert_eq!(wide.len(), 10, "decades only: {wide:?}");
            let narrow = LogTicked {
                lo: 110.0,
                hi: 180.0,
            }
            .ticks();
            assert_eq!(narrow, [150.0]);
        }

        #[test]
        fn latency_switches_to_seconds_and_minutes_when_large() {
            assert_eq!(latency_unit(900.0), ("ms", 1.0));
            assert_eq!(latency_unit(34_000.0).0, "s");
            assert_eq!(latency_unit(1_200_000.0).0, "min");
        }

        #[test]
        fn log_scale_only_for_a_wide_positive_range() {
            assert!(log_range([10.0, 20.0], 30.0).is_none());
            assert!(log_range([0.0, 5.0, 5000.0], 30.0).is_some());
            assert!(log_range([0.0, f64::NAN], 30.0).is_none());
        }
    }
}
