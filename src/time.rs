//! Virtual time: [`SimTime`] (an instant) and [`SimDuration`] (a span), both integer
//! nanoseconds in a `u64`.
//!
//! Why integers: the event queue orders events by time, and floating-point time makes
//! that order depend on rounding (two events computed by different routes to "the same"
//! instant may or may not tie). Integer nanoseconds give exact ties, exact sums and
//! byte-identical output on every machine. Floats may be *sampled* (a latency drawn from
//! a lognormal), but they are rounded once, with [`SimDuration::from_secs_f64`], before
//! they touch the clock. `u64` nanoseconds reach 584 years, far past any simulation.
//!
//! Durations are written in files and on the command line as human strings: `"250us"`,
//! `"180ms"`, `"8s"`, `"6m"`, `"1h30m"`, `"1.5s"`. [`SimDuration::from_str`] parses them
//! and rejects anything else with a message that suggests the right spelling; `Display`
//! writes the same form, so values round-trip.
//!
//! This module must not read the wall clock; nothing in the core does.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::str::FromStr;

const NS_PER_US: u64 = 1_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_MIN: u64 = 60 * NS_PER_S;
const NS_PER_H: u64 = 60 * NS_PER_MIN;
const NS_PER_D: u64 = 24 * NS_PER_H;

/// An instant of virtual time: nanoseconds since the start of the run.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

/// A span of virtual time in nanoseconds. Never negative; arithmetic saturates.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The end of time: used as "never" (a hung call's completion, an unarmed timer).
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// The instant `ns` nanoseconds after the start.
    pub const fn from_nanos(ns: u64) -> Self {
        SimTime(ns)
    }
    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// The instant `d` after the start (handy in tests: `SimTime::at(ms(500))`).
    pub const fn at(d: SimDuration) -> Self {
        SimTime(d.0)
    }
    /// Seconds since the start, as a float, for reports and charts only.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NS_PER_S as f64
    }
    /// Time elapsed since `earlier`, or zero if `earlier` is later than `self`.
    pub const fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
    /// The time elapsed since the start, as a duration.
    pub const fn since_start(self) -> SimDuration {
        SimDuration(self.0)
    }
    /// `self + d`, clamped at [`SimTime::MAX`].
    pub const fn saturating_add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
    /// `self − d`, clamped at [`SimTime::ZERO`].
    pub const fn saturating_sub(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_sub(d.0))
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);
    /// The longest representable span ("forever").
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// A span of `ns` nanoseconds.
    pub const fn from_nanos(ns: u64) -> Self {
        SimDuration(ns)
    }
    /// A span of `us` microseconds (saturating).
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us.saturating_mul(NS_PER_US))
    }
    /// A span of `ms` milliseconds (saturating).
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms.saturating_mul(NS_PER_MS))
    }
    /// A span of `s` seconds (saturating).
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s.saturating_mul(NS_PER_S))
    }
    /// Rounds a float number of seconds to the nearest nanosecond, once. Negative values
    /// and NaN become zero; values past the range saturate at [`SimDuration::MAX`].
    pub fn from_secs_f64(s: f64) -> Self {
        let ns = s * NS_PER_S as f64;
        if ns.is_nan() || ns <= 0.0 {
            SimDuration::ZERO
        } else if ns >= u64::MAX as f64 {
            SimDuration::MAX
        } else {
            SimDuration(ns.round() as u64)
        }
    }
    /// Nanoseconds in this span.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Whole milliseconds in this span (truncated), as the Java libraries count them.
    pub const fn as_millis(self) -> u64 {
        self.0 / NS_PER_MS
    }
    /// Seconds, as a float, for arithmetic in policies and for reports.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NS_PER_S as f64
    }
    /// Milliseconds, as a float, for reports.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / NS_PER_MS as f64
    }
    /// `self × k`, rounded once to the nanosecond (negative `k` gives zero).
    pub fn mul_f64(self, k: f64) -> Self {
        SimDuration::from_secs_f64(self.as_secs_f64() * k)
    }
    /// `self + other`, clamped at [`SimDuration::MAX`].
    pub const fn saturating_add(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(other.0))
    }
    /// `self − other`, clamped at zero.
    pub const fn saturating_sub(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_sub(other.0))
    }
    /// True for the zero span.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// The span as people write it in a file: whole seconds or milliseconds below a minute
    /// (`"2s"`, `"1500ms"`), the full form otherwise (`"1m30s"`, `"1ms500us"`).
    pub fn short(self) -> String {
        if self.0 >= NS_PER_MIN {
            self.to_string()
        } else if self.0 > 0 && self.0.is_multiple_of(NS_PER_S) {
            format!("{}s", self.0 / NS_PER_S)
        } else if self.0 > 0 && self.0.is_multiple_of(NS_PER_MS) {
            format!("{}ms", self.0 / NS_PER_MS)
        } else {
            self.to_string()
        }
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        self.saturating_add(d)
    }
}
impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = self.saturating_add(d);
    }
}
impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    /// Saturating: an earlier minus a later instant is zero.
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.saturating_since(earlier)
    }
}
impl Sub<SimDuration> for SimTime {
    type Output = SimTime;
    fn sub(self, d: SimDuration) -> SimTime {
        self.saturating_sub(d)
    }
}
impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, o: SimDuration) -> SimDuration {
        self.saturating_add(o)
    }
}
impl AddAssign for SimDuration {
    fn add_assign(&mut self, o: SimDuration) {
        *self = self.saturating_add(o);
    }
}
impl Sub for SimDuration {
    type Output = SimDuration;
    fn sub(self, o: SimDuration) -> SimDuration {
        self.saturating_sub(o)
    }
}

/// Why a string is not a duration. The message is meant to be shown after the key path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationParseError(String);

const UNITS: [(&str, u64); 9] = [
    ("ns", 1),
    ("us", NS_PER_US),
    ("µs", NS_PER_US),
    ("ms", NS_PER_MS),
    ("s", NS_PER_S),
    ("m", NS_PER_MIN),
    ("min", NS_PER_MIN),
    ("h", NS_PER_H),
    ("d", NS_PER_D),
];

fn parse_strict(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut rest = s;
    let mut total: u64 = 0;
    let mut any = false;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
            return None;
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = UNITS.iter().find(|(u, _)| *u == unit)?.1;
        let ns = if let Some((int, frac)) = num.split_once('.') {
            let int: u64 = int.parse().ok()?;
            let frac_val: f64 = format!("0.{frac}").parse().ok()?;
            int.checked_mul(scale)?
                .checked_add((frac_val * scale as f64).round() as u64)?
        } else {
            num.parse::<u64>().ok()?.checked_mul(scale)?
        };
        total = total.checked_add(ns)?;
        any = true;
        rest = tail;
    }
    any.then_some(total)
}

/// Guess what the user meant by a near-miss like `"5 sec"`, for the error message.
fn suggestion(s: &str) -> Option<String> {
    let squeezed: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let lower = squeezed.to_ascii_lowercase();
    let replacements = [
        ("milliseconds", "ms"),
        ("millisecond", "ms"),
        ("millis", "ms"),
        ("msec", "ms"),
        ("microseconds", "us"),
        ("micros", "us"),
        ("nanoseconds", "ns"),
        ("seconds", "s"),
        ("second", "s"),
        ("secs", "s"),
        ("sec", "s"),
        ("minutes", "m"),
        ("minute", "m"),
        ("mins", "m"),
        ("hours", "h"),
        ("hour", "h"),
        ("hrs", "h"),
        ("hr", "h"),
        ("days", "d"),
        ("day", "d"),
    ];
    let mut fixed = lower.clone();
    for (long, short) in replacements {
        fixed = fixed.replace(long, short);
    }
    (fixed != s && parse_strict(&fixed).is_some()).then_some(fixed)
}

impl FromStr for SimDuration {
    type Err = DurationParseError;

    /// Parses `"250us"`, `"180ms"`, `"8s"`, `"6m"`, `"1h30m"`, `"1.5s"` or `"0"`.
    /// Units: `ns`, `us` (or `µs`), `ms`, `s`, `m` (or `min`), `h`, `d`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(ns) = parse_strict(s) {
            return Ok(SimDuration(ns));
        }
        let why = if s.is_empty() {
            "an empty string is not a duration".to_string()
        } else if s.trim_start().starts_with('-') {
            format!("{s:?} is negative; durations are zero or more")
        } else {
            format!("{s:?} is not a duration")
        };
        let hint = match suggestion(s) {
            Some(fix) => format!(" (try {fix:?})"),
            None => " (write a number and a unit, like \"250us\", \"180ms\", \"8s\", \"6m\" or \"1h30m\")".to_string(),
        };
        Err(DurationParseError(format!("{why}{hint}")))
    }
}

impl fmt::Display for SimDuration {
    /// Writes the shortest exact compound form: `1h30m`, `180ms`, `1s500ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (unit, scale) in [
            ("d", NS_PER_D),
            ("h", NS_PER_H),
            ("m", NS_PER_MIN),
            ("s", NS_PER_S),
            ("ms", NS_PER_MS),
            ("us", NS_PER_US),
            ("ns", 1),
        ] {
            if rest >= scale {
                write!(f, "{}{unit}", rest / scale)?;
                rest %= scale;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SimTime {
    /// Writes the instant as the duration since the start, prefixed with `t=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}", SimDuration(self.0))
    }
}

impl fmt::Debug for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for SimDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SimDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SimDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string like \"180ms\", \"8s\" or \"6m\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SimDuration, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Shorthands for tests and examples: `ms(180)`, `secs(8)`, `t_ms(500)`.
pub mod short {
    use super::{SimDuration, SimTime};
    /// `n` nanoseconds.
    pub const fn ns(n: u64) -> SimDuration {
        SimDuration::from_nanos(n)
    }
    /// `n` microseconds.
    pub const fn us(n: u64) -> SimDuration {
        SimDuration::from_micros(n)
    }
    /// `n` milliseconds.
    pub const fn ms(n: u64) -> SimDuration {
        SimDuration::from_millis(n)
    }
    /// `n` seconds.
    pub const fn secs(n: u64) -> SimDuration {
        SimDuration::from_secs(n)
    }
    /// The instant `n` milliseconds after the start.
    pub const fn t_ms(n: u64) -> SimTime {
        SimTime::from_nanos(n * 1_000_000)
    }
    /// The instant `n` seconds after the start.
    pub const fn t_s(n: u64) -> SimTime {
        SimTime::from_nanos(n * 1_000_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::short::*;
    use super::*;

    fn p(s: &str) -> Result<SimDuration, DurationParseError> {
        s.parse()
    }

    mod parsing {
        use super::*;

        #[test]
        fn accepts_every_unit_and_compound_forms() {
            assert_eq!(p("250us").unwrap(), us(250));
            assert_eq!(p("250µs").unwrap(), us(250));
            assert_eq!(p("180ms").unwrap(), ms(180));
            assert_eq!(p("8s").unwrap(), secs(8));
            assert_eq!(p("6m").unwrap(), secs(360));
            assert_eq!(p("6min").unwrap(), secs(360));
            assert_eq!(p("1h30m").unwrap(), secs(5400));
            assert_eq!(p("1.5s").unwrap(), ms(1500));
            assert_eq!(p("0.5ms").unwrap(), us(500));
            assert_eq!(p("7ns").unwrap(), ns(7));
            assert_eq!(p("1d").unwrap(), secs(86_400));
            assert_eq!(p("0").unwrap(), SimDuration::ZERO);
            assert_eq!(p("0s").unwrap(), SimDuration::ZERO);
        }

        #[test]
        fn rejects_spaces_negatives_empty_and_unknown_units() {
            for bad in [
                "", "5 sec", "-1s", "5", "s", "1.s", ".5s", "5x", "1h 30m", "ms5", "1e3ms", " 5s",
            ] {
                assert!(p(bad).is_err(), "{bad:?} should be rejected");
            }
        }

        #[test]
        fn errors_suggest_the_right_spelling() {
            let e = p("5 sec").unwrap_err().to_string();
            assert_eq!(e, r#""5 sec" is not a duration (try "5s")"#);
            let e = p("-1s").unwrap_err().to_string();
            assert!(e.contains("negative"), "{e}");
            let e = p("").unwrap_err().to_string();
            assert!(e.contains("empty"), "{e}");
            let e = p("abc").unwrap_err().to_string();
            assert!(e.contains("\"180ms\""), "{e}");
        }

        #[test]
        fn rejects_overflow_instead_of_wrapping() {
            assert!(p("999999999999d").is_err());
        }
    }

    mod display {
        use super::*;

        #[test]
        fn writes_compound_forms() {
            assert_eq!(secs(5400).to_string(), "1h30m");
            assert_eq!(ms(180).to_string(), "180ms");
            assert_eq!(ms(1500).to_string(), "1s500ms");
            assert_eq!(SimDuration::ZERO.to_string(), "0s");
            assert_eq!(t_ms(500).to_string(), "t=500ms");
        }

        #[test]
        fn round_trips_through_parse() {
            for n in [
                0u64,
                1,
                999,
                1_000,
                250_000,
                180_000_000,
                5_400_000_000_000,
                123_456_789_012,
            ] {
                let d = SimDuration::from_nanos(n);
                assert_eq!(p(&d.to_string()).unwrap(), d, "{d}");
            }
        }
    }

    mod arithmetic {
        use super::*;

        #[test]
        fn saturates_instead_of_wrapping() {
            assert_eq!(SimTime::MAX + secs(1), SimTime::MAX);
            assert_eq!(t_ms(1) - t_ms(5), SimDuration::ZERO);
            assert_eq!(ms(1) - ms(5), SimDuration::ZERO);
            assert_eq!(SimDuration::from_secs_f64(-1.0), SimDuration::ZERO);
            assert_eq!(SimDuration::from_secs_f64(f64::NAN), SimDuration::ZERO);
            assert_eq!(SimDuration::from_secs_f64(1e30), SimDuration::MAX);
        }

        #[test]
        fn rounds_floats_once_to_the_nanosecond() {
            assert_eq!(SimDuration::from_secs_f64(0.18), ms(180));
            assert_eq!(SimDuration::from_secs_f64(1.4e-9), ns(1));
            assert_eq!(ms(100).mul_f64(1.5), ms(150));
        }
    }

    mod serde_form {
        use super::*;

        #[derive(serde::Deserialize)]
        struct Holder {
            d: SimDuration,
        }

        #[test]
        fn deserializes_from_strings_with_the_parse_message() {
            let h: Holder = toml::from_str("d = \"180ms\"").unwrap();
            assert_eq!(h.d, ms(180));
            let e = toml::from_str::<Holder>("d = \"5 sec\"")
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("try \"5s\""), "{e}");
            assert!(toml::from_str::<Holder>("d = 5").is_err());
        }
    }
}
