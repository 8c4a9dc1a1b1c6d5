//! Exact accumulators: count, sum and sum of squares of values quantized to 10⁻⁶, kept
//! as integers, so sums do not depend on the order of addition ([`Acc`]); and the
//! intervals the summaries report (Student's t for means, Wilson for shares).

/// Fixed-point scale: values are kept to 10⁻⁶.
const SCALE: f64 = 1e6;

/// Exact running count, sum and sum of squares of quantized values (NaN is skipped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Acc {
    /// Finite values added.
    pub n: u64,
    /// Σ q, with q = round(x · 10⁶).
    pub sum: i128,
    /// Σ q².
    pub sumsq: i128,
}

impl Acc {
    /// Adds one value; NaN and infinities are not counted.
    pub fn add(&mut self, x: f64) {
        if x.is_finite() {
            let q = (x * SCALE).round() as i128;
            self.n += 1;
            self.sum += q;
            self.sumsq += q * q;
        }
    }

    /// Adds another accumulator (a shard's).
    pub fn merge(&mut self, o: &Acc) {
        self.n += o.n;
        self.sum += o.sum;
        self.sumsq += o.sumsq;
    }

    /// The mean (NaN when empty).
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.sum as f64 / self.n as f64 / SCALE
        }
    }

    /// The sample standard deviation (NaN below two values).
    pub fn std(&self) -> f64 {
        if self.n < 2 {
            return f64::NAN;
        }
        let n = self.n as i128;
        let num = n * self.sumsq - self.sum * self.sum;
        let var = num.max(0) as f64 / (n * (n - 1)) as f64;
        var.sqrt() / SCALE
    }

    /// The 95 % confidence interval of the mean (Student's t); NaN below two values
    /// (one replication says nothing about the spread).
    pub fn ci95(&self) -> (f64, f64) {
        let m = self.mean();
        if self.n < 2 {
            return (f64::NAN, f64::NAN);
        }
        let half = t975(self.n - 1) * self.std() / (self.n as f64).sqrt();
        (m - half, m + half)
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom.
pub fn t975(df: u64) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df as usize - 1],
        _ => 1.96 + 2.4 / df as f64,
    }
}

/// Wilson score interval (95 %) for `k` successes out of `n`.
pub fn wilson(k: u64, n: u64) -> (f64, f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let (k, n) = (k as f64, n as f64);
    let z = 1.96f64;
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let center = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    (p, (center - half).max(0.0), (center + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulation_is_exact_in_any_order() {
        let xs = [0.1, 1e6 + 0.3, 2.000001, 7.25, 1e-7, 3.3];
        let mut a = Acc::default();
        let mut b = Acc::default();
        for x in xs {
            a.add(x);
        }
        for x in xs.iter().rev() {
            b.add(*x);
        }
        assert_eq!(a, b);
        let mut halves = Acc::default();
        let mut h2 = Acc::default();
        xs[..3].iter().for_each(|x| halves.add(*x));
        xs[3..].iter().for_each(|x| h2.add(*x));
        halves.merge(&h2);
        assert_eq!(halves, a);
    }

    #[test]
    fn mean_std_and_ci_match_textbook_values() {
        let mut a = Acc::default();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            a.add(x);
        }
        assert!((a.mean() - 5.0).abs() < 1e-12);
        assert!((a.std() - 2.138_089_935).abs() < 1e-6);
        let (lo, hi) = a.ci95();
        let half = 2.365 * 2.138_089_935 / 8f64.sqrt();
        assert!((lo - (5.0 - half)).abs() < 1e-6 && (hi - (5.0 + half)).abs() < 1e-6);
        a.add(f64::NAN);
        assert_eq!(a.n, 8);
    }

    #[test]
    fn one_value_has_no_interval() {
        let mut a = Acc::default();
        a.add(3.0);
        let (lo, hi) = a.ci95();
        assert!(lo.is_nan() && hi.is_nan());
    }

    #[test]
    fn wilson_interval_is_inside_zero_one_and_around_p() {
        let (p, lo, hi) = wilson(0, 10);
        assert_eq!(p, 0.0);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 1e-3);
        let (p, lo, hi) = wilson(10, 20);
        assert!(lo < p && p < hi && (p - 0.5).abs() < 1e-12);
    }
}
