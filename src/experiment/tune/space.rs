//! The search space of a tuning file: one [`Param`] per dotted model path, each a range
//! or a list of choices, and how a configuration is drawn from them.
//!
//! ```toml
//! [tune.space]
//! "services.payment.clients.processor.timeout" = { duration = ["100ms", "2s"] }   # log-uniform
//! "services.payment.clients.processor.retry.max_attempts" = { int = [1, 4] }
//! "services.payment.clients.processor.bulkhead.max_concurrent" = { int = [40, 200], log = true }
//! "services.payment.clients.processor.breaker.count_window.failure_rate" = { float = [20.0, 80.0] }
//! "services.payment.clients.processor.retry.backoff" = { choice = ["immediate", { full_jitter = { base = "50ms", cap = "500ms" } }] }
//! ```
//!
//! Durations are drawn log-uniformly (a timeout of 100 ms differs from 200 ms as much as
//! 1 s from 2 s) and rounded to two significant digits of a millisecond; integers and
//! floats uniformly, or log-uniformly with `log = true`; floats are rounded to three
//! significant digits. Rounding keeps the written patch readable and makes draws of
//! nearly the same configuration collide, so they are run once. A choice may be any TOML
//! value, a whole table included (a backoff kind with its parameters).
//!
//! Draws use the tuner's own ChaCha stream, never a replication's: the configurations
//! tried depend on the file and its seed only.

use rand::Rng;
use toml::Value;

use crate::time::SimDuration;

/// One searched path.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The dotted model path.
    pub path: String,
    /// What values it takes.
    pub kind: Kind,
}

/// The values of a searched path.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `{ duration = [lo, hi] }`: log-uniform between two durations.
    Duration(SimDuration, SimDuration),
    /// `{ int = [lo, hi], log = false }`.
    Int(i64, i64, bool),
    /// `{ float = [lo, hi], log = false }`.
    Float(f64, f64, bool),
    /// `{ choice = [v, ...] }`.
    Choice(Vec<Value>),
}

impl Param {
    /// Parses the value of `tune.space."<path>"`; the error is the problem only (the
    /// caller names the file and key).
    pub fn parse(path: &str, spec: &Value) -> Result<Param, String> {
        let Value::Table(t) = spec else {
            return Err(
                "must be a table: { duration = [lo, hi] }, { int = [lo, hi] }, { float = [lo, hi] } or { choice = [...] }"
                    .into(),
            );
        };
        let log = match t.get("log") {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(_) => return Err("log must be true or false".into()),
        };
        let kinds: Vec<&str> = ["duration", "int", "float", "choice"]
            .into_iter()
            .filter(|k| t.contains_key(*k))
            .collect();
        if let Some(k) = t
            .keys()
            .find(|k| !["duration", "int", "float", "choice", "log"].contains(&k.as_str()))
        {
            return Err(format!(
                "unknown key {k:?} (expected duration, int, float or choice, and log)"
            ));
        }
        let kind = match kinds.as_slice() {
            [] => return Err("needs one of duration, int, float or choice".into()),
            [_, _, ..] => {
                return Err(format!(
                    "has {} : give exactly one of duration, int, float or choice",
                    kinds.join(" and ")
                ));
            }
            ["choice"] => {
                let Some(Value::Array(items)) = t.get("choice") else {
                    return Err("choice must be a list of values".into());
                };
                if items.is_empty() {
                    return Err("choice is an empty list: give at least one value".into());
                }
                if log {
                    return Err("log applies to ranges, not to a choice".into());
                }
                Kind::Choice(items.clone())
            }
            [k] => {
                let Some(Value::Array(r)) = t.get(*k) else {
                    return Err(format!("{k} must be a range [lo, hi]"));
                };
                if r.len() != 2 {
                    return Err(format!("{k} must be a range of two values [lo, hi]"));
                }
                range(k, &r[0], &r[1], log)?
            }
        };
        Ok(Param {
            path: path.to_string(),
            kind,
        })
    }

    /// The lowest and highest value (the first and last choice), to check the model
    /// accepts the whole range before anything runs.
    pub fn extremes(&self) -> Vec<Value> {
        match &self.kind {
            Kind::Duration(lo, hi) => vec![duration_value(*lo), duration_value(*hi)],
            Kind::Int(lo, hi, _) => vec![Value::Integer(*lo), Value::Integer(*hi)],
            Kind::Float(lo, hi, _) => vec![Value::Float(*lo), Value::Float(*hi)],
            Kind::Choice(items) => items.clone(),
        }
    }

    /// Draws one value.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Value {
        let u: f64 = rng.random();
        self.at(u, rng)
    }

    /// The value at quantile `u` ∈ [0, 1) of the range (a choice draws its index).
    fn at<R: Rng>(&self, u: f64, rng: &mut R) -> Value {
        match &self.kind {
            Kind::Duration(lo, hi) => {
                let (a, b) = (lo.as_secs_f64().ln(), hi.as_secs_f64().ln());
                let s = (a + u * (b - a)).exp();
                let d = round_duration(SimDuration::from_secs_f64(s)).clamp(*lo, *hi);
                duration_value(d)
            }
            Kind::Int(lo, hi, log) => {
                let x = if *log {
                    let (a, b) = ((*lo as f64).ln(), (*hi as f64 + 1.0).ln());
                    (a + u * (b - a)).exp().floor() as i64
                } else {
                    lo + ((u * (hi - lo + 1) as f64).floor() as i64)
                };
                Value::Integer(x.clamp(*lo, *hi))
            }
            Kind::Float(lo, hi, log) => {
                let x = if *log {
                    (lo.ln() + u * (hi.ln() - lo.ln())).exp()
                } else {
                    lo + u * (hi - lo)
                };
                Value::Float(round_sig(x, 3).clamp(*lo, *hi))
            }
            Kind::Choice(items) => items[rng.random_range(0..items.len())].clone(),
        }
    }
}

fn range(kind: &str, lo: &Value, hi: &Value, log: bool) -> Result<Kind, String> {
    match kind {
        "duration" => {
            let d = |v: &Value| -> Result<SimDuration, String> {
                v.as_str()
                    .ok_or_else(|| format!("duration bounds are strings like \"100ms\", not {v}"))?
                    .parse::<SimDuration>()
                    .map_err(|e| format!("duration: {e}"))
            };
            let (a, b) = (d(lo)?, d(hi)?);
            if a.is_zero() {
                return Err("duration range must start above zero (it is log-spaced)".into());
            }
            if a > b {
                return Err(format!("duration range [{a}, {b}] is empty (lo > hi)"));
            }
            Ok(Kind::Duration(a, b))
        }
        "int" => {
            let (Some(a), Some(b)) = (lo.as_integer(), hi.as_integer()) else {
                return Err("int bounds must be integers".into());
            };
            if a > b {
                return Err(format!("int range [{a}, {b}] is empty (lo > hi)"));
            }
            if log && a <= 0 {
                return Err("a log-spaced int range must start above zero".into());
            }
            Ok(Kind::Int(a, b, log))
        }
        _ => {
            let f = |v: &Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
            let (Some(a), Some(b)) = (f(lo), f(hi)) else {
                return Err("float bounds must be numbers".into());
            };
            if !(a.is_finite() && b.is_finite()) || a > b {
                return Err(format!("float range [{a}, {b}] is empty or not finite"));
            }
            if log && a <= 0.0 {
                return Err("a log-spaced float range must start above zero".into());
            }
            Ok(Kind::Float(a, b, log))
        }
    }
}

/// Rounds to two significant digits of a millisecond (at least 1 ms): 137 ms → 140 ms,
/// 1234 ms → 1200 ms.
fn round_duration(d: SimDuration) -> SimDuration {
    let ms = d.as_millis_f64().max(1.0);
    SimDuration::from_secs_f64(round_sig(ms, 2).max(1.0) / 1000.0)
}

fn round_sig(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// A duration as a user writes it: `"2s"`, `"140ms"`, or the full form otherwise.
pub fn duration_value(d: SimDuration) -> Value {
    Value::String(d.short())
}

/// The value as a number for charts: seconds for durations, the number itself for
/// numbers, the choice's index for choices.
pub fn numeric(param: &Param, v: &Value) -> Option<f64> {
    match (&param.kind, v) {
        (Kind::Duration(..), Value::String(s)) => {
            s.parse::<SimDuration>().ok().map(SimDuration::as_secs_f64)
        }
        (Kind::Choice(items), v) => items.iter().position(|x| x == v).map(|i| i as f64),
        (_, Value::Integer(i)) => Some(*i as f64),
        (_, Value::Float(f)) => Some(*f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn param(text: &str) -> Result<Param, String> {
        let v: toml::Table = format!("p = {text}").parse().unwrap();
        Param::parse("a.b", &v["p"])
    }

    #[test]
    fn durations_are_log_uniform_rounded_and_inside_the_range() {
        let p = param(r#"{ duration = ["100ms", "10s"] }"#).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (mut below_1s, n) = (0, 2000);
        for _ in 0..n {
            let v = p.sample(&mut rng);
            let d: SimDuration = v.as_str().unwrap().parse().unwrap();
            assert!(d >= SimDuration::from_millis(100) && d <= SimDuration::from_secs(10));
            let ms = d.as_millis_f64();
            assert_eq!(ms, round_sig(ms, 2), "{v} has two significant digits");
            below_1s += (d < SimDuration::from_secs(1)) as u32;
        }
        // Log-uniform: half the draws below the geometric middle (1 s), not a tenth.
        assert!(
            (800..1200).contains(&below_1s),
            "{below_1s} of {n} below 1s"
        );
    }

    #[test]
    fn ints_cover_both_ends_and_choices_return_whole_tables() {
        let p = param("{ int = [1, 3] }").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let seen: std::collections::BTreeSet<i64> = (0..200)
            .map(|_| p.sample(&mut rng).as_integer().unwrap())
            .collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [1, 2, 3]);
        let c = param(r#"{ choice = ["immediate", { fixed = { delay = "1s" } }] }"#).unwrap();
        assert!((0..50).any(|_| c.sample(&mut rng).is_table()));
    }

    #[test]
    fn bad_ranges_say_what_is_wrong() {
        assert!(
            param(r#"{ duration = ["2s", "1s"] }"#)
                .unwrap_err()
                .contains("empty")
        );
        assert!(param("{ int = [5, 1] }").unwrap_err().contains("empty"));
        assert!(param("{ choice = [] }").unwrap_err().contains("empty"));
        assert!(param("{ float = [0.0, 1.0], log = true }").is_err());
        assert!(param("{ int = [1, 2], float = [1.0, 2.0] }").is_err());
        assert!(param("{ range = [1, 2] }").unwrap_err().contains("range"));
        assert!(param("3").is_err());
    }

    #[test]
    fn durations_are_written_as_people_write_them() {
        assert_eq!(
            duration_value(SimDuration::from_secs(2)).as_str(),
            Some("2s")
        );
        assert_eq!(
            duration_value(SimDuration::from_millis(1500)).as_str(),
            Some("1500ms")
        );
    }
}
