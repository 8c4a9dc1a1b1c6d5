//! Latency distributions: [`DistSpec`] as written in model files, [`Dist`] validated and
//! ready to sample from a seeded stream.
//!
//! People describe latency by percentiles ("p99 went from 180 ms to 8 s"), so the
//! lognormal can be given by `p50` and `p99`; it can also be given by `median` and `sigma`
//! (the log-space standard deviation). The others: `constant`, `uniform`, `exponential`,
//! `normal` (truncated at zero by rejection, so no negative latencies and no pile-up at
//! zero), and `empirical` (a quantile table, interpolated linearly — paste your own
//! p0/p50/p90/p99/p100 from a dashboard).
//!
//! ```toml
//! work = { lognormal = { p50 = "80ms", p99 = "180ms" } }
//! work = { empirical = { quantiles = [[0.0, "5ms"], [0.5, "20ms"], [0.99, "300ms"], [1.0, "2s"]] } }
//! ```
//!
//! Samples are drawn as float seconds and rounded once to integer nanoseconds.
//! Bad parameters (p99 below p50, max below min, quantiles out of order) are
//! [`ConfigError`]s naming the field, never panics.

use rand::Rng;
use rand_distr::{Exp1, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::time::SimDuration;

/// The 0.99 quantile of the standard normal distribution.
const Z99: f64 = 2.326_347_874_040_840_8;

/// A lognormal given by two percentiles or by median and sigma.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LognormalSpec {
    /// The median (same as `median`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<SimDuration>,
    /// The 99th percentile; needs `p50` (or `median`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<SimDuration>,
    /// The median (same as `p50`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median: Option<SimDuration>,
    /// Standard deviation of the logarithm; needs `median` (or `p50`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
}

/// A distribution as written in a file (an externally tagged enum: `{ kind = params }`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DistSpec {
    /// Always the same value: `{ constant = "1s" }`.
    Constant(SimDuration),
    /// Uniform between `min` and `max`.
    Uniform {
        /// Lower bound.
        min: SimDuration,
        /// Upper bound (≥ min).
        max: SimDuration,
    },
    /// Exponential with the given mean (memoryless: the M in M/M/c).
    Exponential {
        /// The mean.
        mean: SimDuration,
    },
    /// Normal with `mean` and standard deviation `sd`, truncated at zero.
    Normal {
        /// The mean of the untruncated normal.
        mean: SimDuration,
        /// Its standard deviation.
        sd: SimDuration,
    },
    /// Lognormal from `p50` + `p99`, or `median` + `sigma`.
    Lognormal(LognormalSpec),
    /// Linear interpolation of a quantile table from quantile 0 to quantile 1.
    Empirical {
        /// `[quantile, value]` pairs, quantiles strictly increasing from 0.0 to 1.0,
        /// values non-decreasing.
        quantiles: Vec<(f64, SimDuration)>,
    },
}

/// A validated distribution, sampled in float seconds.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    /// A fixed value.
    Constant(SimDuration),
    /// `min + U·span` seconds.
    Uniform {
        /// Lower bound, seconds.
        min: f64,
        /// Width, seconds.
        span: f64,
    },
    /// Exponential, mean in seconds.
    Exponential {
        /// Mean, seconds.
        mean: f64,
    },
    /// Normal truncated at zero, seconds.
    Normal {
        /// Mean, seconds.
        mean: f64,
        /// Standard deviation, seconds.
        sd: f64,
    },
    /// `exp(mu + sigma·Z)` seconds.
    Lognormal {
        /// Log of the median in seconds.
        mu: f64,
        /// Log-space standard deviation.
        sigma: f64,
    },
    /// Quantile table: `qs` strictly increasing from 0 to 1, `values` in seconds.
    Empirical {
        /// Quantiles.
        qs: Box<[f64]>,
        /// Values, seconds.
        values: Box<[f64]>,
    },
}

fn positive_finite(field: &str, x: f64) -> Result<f64, ConfigError> {
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(ConfigError::new(
            field,
            format!("{x} must be a finite number ≥ 0"),
        ))
    }
}

impl DistSpec {
    /// Validates the parameters. Errors name the field inside the spec
    /// (`lognormal.p99`), for the caller to prefix with its key path.
    pub fn build(&self) -> Result<Dist, ConfigError> {
        Ok(match self {
            DistSpec::Constant(d) => Dist::Constant(*d),
            DistSpec::Uniform { min, max } => {
                if max < min {
                    return Err(ConfigError::new(
                        "uniform.max",
                        format!("{max} is below min ({min})"),
                    ));
                }
                Dist::Uniform {
                    min: min.as_secs_f64(),
                    span: (*max - *min).as_secs_f64(),
                }
            }
            DistSpec::Exponential { mean } => Dist::Exponential {
                mean: mean.as_secs_f64(),
            },
            DistSpec::Normal { mean, sd } => Dist::Normal {
                mean: mean.as_secs_f64(),
                sd: sd.as_secs_f64(),
            },
            DistSpec::Lognormal(spec) => spec.build()?,
            DistSpec::Empirical { quantiles } => build_empirical(quantiles)?,
        })
    }
}

impl LognormalSpec {
    fn build(&self) -> Result<Dist, ConfigError> {
        let err = |f: &str, p: String| ConfigError::new(format!("lognormal.{f}"), p);
        let median = match (self.p50, self.median) {
            (Some(_), Some(_)) => {
                return Err(err("median", "give either p50 or median, not both".into()));
            }
            (Some(m), None) | (None, Some(m)) => m,
            (None, None) => return Err(err("p50", "is missing (give p50 and p99)".into())),
        };
        if median.is_zero() {
            return Err(err("p50", "must be above zero".into()));
        }
        let mu = median.as_secs_f64().ln();
        let sigma = match (self.p99, self.sigma) {
            (Some(_), Some(_)) => {
                return Err(err("sigma", "give either p99 or sigma, not both".into()));
            }
            (Some(p99), None) => {
                if p99 < median {
                    return Err(err("p99", format!("{p99} is below p50 ({median})")));
                }
                (p99.as_secs_f64() / median.as_secs_f64()).ln() / Z99
            }
            (None, Some(s)) => positive_finite("lognormal.sigma", s)?,
            (None, None) => return Err(err("p99", "is missing (give p50 and p99)".into())),
        };
        Ok(Dist::Lognormal { mu, sigma })
    }
}

fn build_empirical(points: &[(f64, SimDuration)]) -> Result<Dist, ConfigError> {
    let field = "empirical.quantiles";
    if points.len() < 2 {
        return Err(ConfigError::new(field, "needs at least two points"));
    }
    if points[0].0 != 0.0 || points[points.len() - 1].0 != 1.0 {
        return Err(ConfigError::new(
            field,
            "must start at quantile 0.0 and end at quantile 1.0",
        ));
    }
    for (i, w) in points.windows(2).enumerate() {
        if w[1].0.partial_cmp(&w[0].0) != Some(std::cmp::Ordering::Greater) {
            return Err(ConfigError::new(
                format!("{field}[{}]", i + 1),
                format!("quantile {} does not increase", w[1].0),
            ));
        }
        if w[1].1 < w[0].1 {
            return Err(ConfigError::new(
                format!("{field}[{}]", i + 1),
                format!("value {} is below the previous one ({})", w[1].1, w[0].1),
            ));
        }
    }
    Ok(Dist::Empirical {
        qs: points.iter().map(|p| p.0).collect(),
        values: points.iter().map(|p| p.1.as_secs_f64()).collect(),
    })
}

impl Dist {
    /// Draws one value.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> SimDuration {
        match *self {
            Dist::Constant(d) => d,
            _ => SimDuration::from_secs_f64(self.sample_secs(rng)),
        }
    }

    /// Draws one value in float seconds (before rounding).
    #[inline]
    pub fn sample_secs<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Dist::Constant(d) => d.as_secs_f64(),
            Dist::Uniform { min, span } => min + span * rng.random::<f64>(),
            Dist::Exponential { mean } => mean * rng.sample::<f64, _>(Exp1),
            Dist::Normal { mean, sd } => loop {
                let x = mean + sd * rng.sample::<f64, _>(StandardNormal);
                if x >= 0.0 {
                    break x;
                }
            },
            Dist::Lognormal { mu, sigma } => {
                (mu + sigma * rng.sample::<f64, _>(StandardNormal)).exp()
            }
            Dist::Empirical { qs, values } => {
                let u: f64 = rng.random();
                let i = qs.partition_point(|&q| q <= u).clamp(1, qs.len() - 1);
                let (q0, q1) = (qs[i - 1], qs[i]);
                let (v0, v1) = (values[i - 1], values[i]);
                v0 + (v1 - v0) * (u - q0) / (q1 - q0)
            }
        }
    }

    /// The mean, in seconds (of the truncated normal, exactly).
    pub fn mean_secs(&self) -> f64 {
        match self {
            Dist::Constant(d) => d.as_secs_f64(),
            Dist::Uniform { min, span } => min + span / 2.0,
            Dist::Exponential { mean } => *mean,
            Dist::Normal { mean, sd } => {
                if *sd == 0.0 {
                    return *mean;
                }
                let a = -mean / sd;
                let phi = (-a * a / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
                let tail = 1.0 - std_normal_cdf(a);
                mean + sd * phi / tail
            }
            Dist::Lognormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            Dist::Empirical { qs, values } => qs
                .windows(2)
                .zip(values.windows(2))
                .map(|(q, v)| (q[1] - q[0]) * (v[0] + v[1]) / 2.0)
                .sum(),
        }
    }

    /// The same shape scaled by `k` (a fault's latency multiplier): every value × `k`.
    pub fn scaled(&self, k: f64) -> Dist {
        match self {
            Dist::Constant(d) => Dist::Constant(d.mul_f64(k)),
            Dist::Uniform { min, span } => Dist::Uniform {
                min: min * k,
                span: span * k,
            },
            Dist::Exponential { mean } => Dist::Exponential { mean: mean * k },
            Dist::Normal { mean, sd } => Dist::Normal {
                mean: mean * k,
                sd: sd * k,
            },
            Dist::Lognormal { mu, sigma } => Dist::Lognormal {
                mu: mu + k.ln(),
                sigma: *sigma,
            },
            Dist::Empirical { qs, values } => Dist::Empirical {
                qs: qs.clone(),
                values: values.iter().map(|v| v * k).collect(),
            },
        }
    }
}

/// Φ(x), via the complementary error function (Abramowitz–Stegun 7.1.26, |ε| < 1.5e-7).
fn std_normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-z * z).exp();
    if x >= 0.0 {
        1.0 - erfc / 2.0
    } else {
        erfc / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::{StreamKind, Streams};
    use crate::time::short::*;

    fn spec(toml_value: &str) -> Result<DistSpec, toml::de::Error> {
        #[derive(Deserialize)]
        struct H {
            d: DistSpec,
        }
        toml::from_str::<H>(&format!("d = {toml_value}")).map(|h| h.d)
    }

    fn dist(toml_value: &str) -> Dist {
        spec(toml_value).unwrap().build().unwrap()
    }

    /// Sorted sample of `n` draws in seconds.
    fn sorted_sample(d: &Dist, n: usize) -> Vec<f64> {
        let mut rng = Streams::new(42, 0).stream(StreamKind::Reference, 0);
        let mut xs: Vec<f64> = (0..n).map(|_| d.sample(&mut rng).as_secs_f64()).collect();
        xs.sort_by(f64::total_cmp);
        xs
    }

    fn quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
    }

    fn close(got: f64, want: f64, rel: f64) -> bool {
        (got - want).abs() <= rel * want.abs()
    }

    mod sampling {
        use super::*;

        #[test]
        fn lognormal_p50_p99_match_within_2_percent_over_a_million_draws() {
            for (p50, p99) in [(0.08, 0.18), (3.0, 8.0), (0.002, 0.010)] {
                let d = dist(&format!(
                    "{{ lognormal = {{ p50 = \"{}us\", p99 = \"{}us\" }} }}",
                    p50 * 1e6,
                    p99 * 1e6
                ));
                let xs = sorted_sample(&d, 1_000_000);
                assert!(
                    close(quantile(&xs, 0.5), p50, 0.02),
                    "p50 {}",
                    quantile(&xs, 0.5)
                );
                assert!(
                    close(quantile(&xs, 0.99), p99, 0.02),
                    "p99 {}",
                    quantile(&xs, 0.99)
                );
            }
        }

        #[test]
        fn lognormal_from_median_and_sigma() {
            let d = dist("{ lognormal = { median = \"100ms\", sigma = 0.5 } }");
            let xs = sorted_sample(&d, 200_000);
            assert!(close(quantile(&xs, 0.5), 0.1, 0.02));
            // p84.13 = median · e^sigma
            assert!(close(quantile(&xs, 0.8413), 0.1 * 0.5f64.exp(), 0.02));
        }

        #[test]
        fn exponential_quantiles_and_mean() {
            let d = dist("{ exponential = { mean = \"180ms\" } }");
            let xs = sorted_sample(&d, 400_000);
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            assert!(close(mean, 0.18, 0.01), "{mean}");
            assert!(close(quantile(&xs, 0.5), 0.18 * 2f64.ln(), 0.02));
            assert!(close(quantile(&xs, 0.99), 0.18 * 100f64.ln(), 0.03));
        }

        #[test]
        fn uniform_stays_in_bounds_and_is_flat() {
            let d = dist("{ uniform = { min = \"10ms\", max = \"30ms\" } }");
            let xs = sorted_sample(&d, 100_000);
            assert!(xs[0] >= 0.010 && xs[xs.len() - 1] <= 0.030);
            assert!(close(quantile(&xs, 0.25), 0.015, 0.02));
            assert!(close(quantile(&xs, 0.75), 0.025, 0.02));
        }

        #[test]
        fn normal_is_truncated_at_zero_with_the_right_mean() {
            let d = dist("{ normal = { mean = \"10ms\", sd = \"10ms\" } }");
            let xs = sorted_sample(&d, 400_000);
            assert!(xs[0] >= 0.0);
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            assert!(
                close(mean, d.mean_secs(), 0.01),
                "{mean} vs {}",
                d.mean_secs()
            );
            // Truncating N(10, 10) at 0 lifts the mean to ≈ 12.88 ms.
            assert!(close(d.mean_secs(), 0.012_876, 0.002));
        }

        #[test]
        fn empirical_interpolates_the_table() {
            let d = dist(
                "{ empirical = { quantiles = [[0.0, \"0ms\"], [0.5, \"10ms\"], [0.9, \"100ms\"], [1.0, \"1s\"]] } }",
            );
            let xs = sorted_sample(&d, 200_000);
            assert!(close(quantile(&xs, 0.25), 0.005, 0.03));
            assert!(close(quantile(&xs, 0.5), 0.010, 0.03));
            assert!(close(quantile(&xs, 0.7), 0.055, 0.03));
            assert!(close(quantile(&xs, 0.95), 0.55, 0.03));
            assert!(xs[xs.len() - 1] <= 1.0);
        }

        #[test]
        fn constant_is_exact() {
            let d = dist("{ constant = \"180ms\" }");
            let mut rng = Streams::new(1, 1).stream(StreamKind::Reference, 0);
            assert_eq!(d.sample(&mut rng), ms(180));
        }

        #[test]
        fn scaling_multiplies_every_quantile() {
            let d = dist("{ lognormal = { p50 = \"80ms\", p99 = \"180ms\" } }").scaled(10.0);
            let xs = sorted_sample(&d, 200_000);
            assert!(close(quantile(&xs, 0.5), 0.8, 0.02));
            assert!(close(quantile(&xs, 0.99), 1.8, 0.03));
        }
    }

    mod validation {
        use super::*;

        fn error(toml_value: &str) -> String {
            spec(toml_value).unwrap().build().unwrap_err().to_string()
        }

        #[test]
        fn p99_below_p50_is_an_error() {
            let e = error("{ lognormal = { p50 = \"200ms\", p99 = \"100ms\" } }");
            assert_eq!(e, "lognormal.p99: 100ms is below p50 (200ms)");
        }

        #[test]
        fn incomplete_or_doubled_lognormal_parameters_are_errors() {
            assert!(error("{ lognormal = { p50 = \"2ms\" } }").contains("p99"));
            assert!(error("{ lognormal = { p99 = \"2ms\" } }").contains("p50"));
            assert!(error("{ lognormal = { median = \"2ms\", sigma = -1.0 } }").contains("sigma"));
            assert!(
                error("{ lognormal = { p50 = \"2ms\", p99 = \"3ms\", sigma = 1.0 } }")
                    .contains("not both")
            );
        }

        #[test]
        fn uniform_max_below_min_is_an_error() {
            assert!(
                error("{ uniform = { min = \"2s\", max = \"1s\" } }").starts_with("uniform.max")
            );
        }

        #[test]
        fn negative_values_are_rejected_by_the_parser() {
            assert!(spec("{ exponential = { mean = \"-1s\" } }").is_err());
        }

        #[test]
        fn empirical_tables_must_be_ordered_and_complete() {
            assert!(error("{ empirical = { quantiles = [[0.0, \"1ms\"]] } }").contains("two"));
            assert!(
                error("{ empirical = { quantiles = [[0.1, \"1ms\"], [1.0, \"2ms\"]] } }")
                    .contains("0.0")
            );
            assert!(
                error("{ empirical = { quantiles = [[0.0, \"5ms\"], [0.5, \"1ms\"], [1.0, \"9ms\"]] } }")
                    .contains("below")
            );
            assert!(
                error("{ empirical = { quantiles = [[0.0, \"1ms\"], [0.0, \"1ms\"], [1.0, \"9ms\"]] } }")
                    .contains("does not increase")
            );
        }

        #[test]
        fn unknown_kinds_and_keys_are_parse_errors() {
            assert!(spec("{ gamma = { k = 1.0 } }").is_err());
            assert!(spec("{ lognormal = { p50 = \"1ms\", p95 = \"2ms\" } }").is_err());
        }
    }
}
