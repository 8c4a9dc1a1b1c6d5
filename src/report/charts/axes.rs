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

/// A compact tick label: `0`, `0.25`, `12.5`, `850`, `12k`, `1.5M`.
pub fn fmt_num(v: f64) -> String {
    let (scaled, suffix) = scale_suffix(v, 1e4);
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
        fn log_scale_only_for_a_wide_positive_range() {
            assert!(log_range([10.0, 20.0], 30.0).is_none());
            assert!(log_range([0.0, 5.0, 5000.0], 30.0).is_some());
            assert!(log_range([0.0, f64::NAN], 30.0).is_none());
        }
    }
}
