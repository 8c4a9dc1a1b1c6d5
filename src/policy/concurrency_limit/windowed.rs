//! Netflix `WindowedLimit` with its default `AverageSampleWindow` (semantics §8.1): turns
//! the stream of per-call samples into one sample per time window, so the algorithm sees
//! the *average* RTT of a window instead of every call's own.
//!
//! Why it exists: one call's RTT is mostly its own service time, not queueing. Fed every
//! sample, Vegas takes the smallest RTT it ever saw (with exponential service times, a
//! few microseconds) as the no-load latency and reads every ordinary call as a queue of
//! almost `L`, so it shrinks the limit until `L ≤ 6` and the queue estimate can no longer
//! exceed `beta`; a healthy service at half its capacity then rejects most of its traffic.
//! Averaged over a second, RTTs vary little from window to window and the estimate means
//! what it says. (The library's README: "at the end of each sampling window the limit is
//! increased … or decreased", and its gRPC server example wraps `Gradient2Limit` in a
//! `WindowedLimit`; its bare `SimpleLimiter` default, an unwrapped `VegasLimit`, does not.)
//!
//! What the source does, reproduced step by step (`WindowedLimit.onSample`):
//! - a sample whose RTT is below `min_rtt_threshold` is dropped before anything else;
//! - every other sample is added to the current window (sum of RTTs, minimum RTT, largest
//!   in-flight count, any drop), *including* the one that closes it;
//! - a window closes at the first sample that *ends* (`start + rtt`) strictly after
//!   `next_update` (0 at construction, so the very first sample closes a one-sample
//!   window); the next one then ends at `end + clamp(2 · min_rtt, min_window_time,
//!   max_window_time)`, checked as `min(max(…))` like Java, so `max` wins if they cross;
//! - a closed window is passed on only if it holds at least `window_size` samples:
//!   `(sum / count` in integer nanoseconds`, max in-flight, any drop)`; otherwise it is
//!   discarded.
//!
//! Pure arithmetic on integer nanoseconds; no clock, no RNG.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::policy::ConfigError;
use crate::time::{SimDuration, SimTime};

/// Config of a [`WindowedLimit`]; in TOML
/// `window = { min_window_time = "1s", max_window_time = "1s", window_size = 10, min_rtt_threshold = "100us" }`
/// (the library's defaults, `WindowedLimit.Builder`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// Shortest window (`minWindowTime`), default `"1s"`; at least 100 ms.
    pub min_window_time: SimDuration,
    /// Longest window (`maxWindowTime`), default `"1s"`; at least 100 ms.
    pub max_window_time: SimDuration,
    /// Samples a window needs to be passed on (`windowSize`), default 10; at least 10.
    pub window_size: u32,
    /// Samples with a shorter RTT are ignored (`minRttThreshold`), default `"100us"`.
    pub min_rtt_threshold: SimDuration,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            min_window_time: SimDuration::from_secs(1),
            max_window_time: SimDuration::from_secs(1),
            window_size: 10,
            min_rtt_threshold: SimDuration::from_micros(100),
        }
    }
}

/// Whether an algorithm samples through a [`WindowedLimit`]. In TOML, inside the
/// algorithm's table: `window = { … }` (fields default as [`WindowConfig`]), `window = true`
/// (all defaults) or `window = false` (every call is a sample, as the library's bare
/// `SimpleLimiter` default feeds its `VegasLimit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowSetting {
    /// Every completed call is one sample.
    PerSample,
    /// One averaged sample per window.
    Windowed(WindowConfig),
}

impl WindowSetting {
    /// The window's config, if windowed.
    pub fn config(self) -> Option<WindowConfig> {
        match self {
            WindowSetting::PerSample => None,
            WindowSetting::Windowed(c) => Some(c),
        }
    }
}

impl Serialize for WindowSetting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            WindowSetting::PerSample => s.serialize_bool(false),
            WindowSetting::Windowed(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for WindowSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WindowSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or a table of window settings")
            }
            fn visit_bool<E: de::Error>(self, on: bool) -> Result<WindowSetting, E> {
                Ok(if on {
                    WindowSetting::Windowed(WindowConfig::default())
                } else {
                    WindowSetting::PerSample
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<WindowSetting, A::Error> {
                WindowConfig::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(WindowSetting::Windowed)
            }
        }
        d.deserialize_any(V)
    }
}

/// What a closed, large-enough window hands the algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSample {
    /// Mean RTT of the window (`sum / count`, integer nanoseconds).
    pub rtt: SimDuration,
    /// The largest in-flight count any of its samples saw at admission.
    pub inflight: u32,
    /// Whether any of its samples was a drop.
    pub did_drop: bool,
}

/// `ImmutableAverageSampleWindow`: what the current window has seen.
#[derive(Clone, Copy, Debug)]
struct Window {
    min_rtt_ns: u64,
    sum_ns: u64,
    max_inflight: u32,
    count: u32,
    did_drop: bool,
}

const EMPTY: Window = Window {
    min_rtt_ns: u64::MAX,
    sum_ns: 0,
    max_inflight: 0,
    count: 0,
    did_drop: false,
};

/// Netflix `WindowedLimit` (see the module docs): feed it every completed call with
/// [`on_sample`](Self::on_sample); when it returns a [`WindowSample`], pass that to the
/// algorithm.
///
/// ```
/// use cascade::policy::concurrency_limit::{WindowConfig, WindowedLimit};
/// use cascade::time::short::{ms, t_ms};
///
/// let mut w = WindowedLimit::new(WindowConfig::default()).unwrap();
/// // The first sample closes a one-sample window: too small, discarded.
/// assert_eq!(w.on_sample(t_ms(0), ms(10), 1, false), None);
/// // The next window closes with the first call that ends after 1.01 s (10 ms + 1 s).
/// for i in 1..=9 {
///     assert_eq!(w.on_sample(t_ms(100 * i), ms(20), 3, false), None);
/// }
/// let s = w.on_sample(t_ms(990), ms(30), 5, false).unwrap(); // ends at 1.02 s
/// // Ten samples: mean (9 · 20 + 30) / 10 = 21 ms, the largest in-flight count, no drop.
/// assert_eq!((s.rtt, s.inflight, s.did_drop), (ms(21), 5, false));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct WindowedLimit {
    min_window_ns: u64,
    max_window_ns: u64,
    window_size: u32,
    min_rtt_threshold_ns: u64,
    next_update_ns: u64,
    current: Window,
}

impl WindowedLimit {
    /// Validates the config as the Java builder does (`minWindowTime` and `maxWindowTime`
    /// at least 100 ms in whole milliseconds, `windowSize` at least 10).
    pub fn new(c: WindowConfig) -> Result<Self, ConfigError> {
        for (field, d) in [
            ("min_window_time", c.min_window_time),
            ("max_window_time", c.max_window_time),
        ] {
            if d.as_millis() < 100 {
                return Err(ConfigError::new(
                    field,
                    format!("must be >= 100ms, got {d}"),
                ));
            }
        }
        if c.window_size < 10 {
            return Err(ConfigError::new(
                "window_size",
                format!("must be >= 10, got {}", c.window_size),
            ));
        }
        Ok(WindowedLimit {
            min_window_ns: c.min_window_time.as_nanos(),
            max_window_ns: c.max_window_time.as_nanos(),
            window_size: c.window_size,
            min_rtt_threshold_ns: c.min_rtt_threshold.as_nanos(),
            next_update_ns: 0,
            current: EMPTY,
        })
    }

    /// One completed call: admitted at `start`, taking `rtt`, with `inflight` calls in
    /// flight at admission (itself included). Returns the window's sample when this call
    /// closes a window that holds at least `window_size` samples.
    pub fn on_sample(
        &mut self,
        start: SimTime,
        rtt: SimDuration,
        inflight: u32,
        did_drop: bool,
    ) -> Option<WindowSample> {
        let rtt_ns = rtt.as_nanos();
        if rtt_ns < self.min_rtt_threshold_ns {
            return None;
        }
        let end_ns = start.as_nanos().saturating_add(rtt_ns);
        let w = &mut self.current;
        w.min_rtt_ns = w.min_rtt_ns.min(rtt_ns);
        w.sum_ns = w.sum_ns.saturating_add(rtt_ns);
        w.max_inflight = w.max_inflight.max(inflight);
        w.count += 1;
        w.did_drop |= did_drop;
        if end_ns <= self.next_update_ns {
            return None;
        }
        let closed = std::mem::replace(&mut self.current, EMPTY);
        let span = closed
            .min_rtt_ns
            .saturating_mul(2)
            .max(self.min_window_ns)
            .min(self.max_window_ns);
        self.next_update_ns = end_ns.saturating_add(span);
        (closed.count >= self.window_size).then(|| WindowSample {
            rtt: SimDuration::from_nanos(closed.sum_ns / u64::from(closed.count)),
            inflight: closed.max_inflight,
            did_drop: closed.did_drop,
        })
    }

    /// When the current window closes: the first sample ending strictly after this.
    pub fn next_update(&self) -> SimTime {
        SimTime::from_nanos(self.next_update_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::{ms, t_ms, us};

    fn window() -> WindowedLimit {
        WindowedLimit::new(WindowConfig::default()).unwrap()
    }

    #[test]
    fn the_first_sample_closes_a_one_sample_window_and_sets_the_next_update() {
        let mut w = window();
        assert_eq!(w.on_sample(t_ms(5), ms(10), 1, false), None);
        // end 15 ms + clamp(2 · 10 ms, 1 s, 1 s).
        assert_eq!(w.next_update(), t_ms(1_015));
    }

    #[test]
    fn a_window_closes_at_the_first_sample_ending_strictly_after_the_update_time() {
        let mut w = window();
        w.on_sample(t_ms(0), ms(15), 1, false); // next update at 1.015 s
        for i in 0..10 {
            assert_eq!(w.on_sample(t_ms(100 + 50 * i), ms(20), 2, false), None);
        }
        // Ends exactly at 1.015 s: not strictly after, still the same window.
        assert_eq!(w.on_sample(t_ms(995), ms(20), 7, false), None);
        // Ends at 1.016 s: closes the window of 12 samples (itself included).
        let s = w.on_sample(t_ms(986), ms(30), 4, true).unwrap();
        assert_eq!(
            s.rtt,
            SimDuration::from_nanos((10 * 20 + 20 + 30) * 1_000_000 / 12)
        );
        assert_eq!((s.inflight, s.did_drop), (7, true));
        assert_eq!(w.next_update(), t_ms(2_016));
    }

    #[test]
    fn a_window_below_window_size_is_discarded_not_carried_over() {
        let mut w = window();
        w.on_sample(t_ms(0), ms(10), 1, false);
        for i in 0..9 {
            w.on_sample(t_ms(100 * i), ms(10), 1, false);
        }
        // 9 samples + the closing one = 10: exactly window_size is enough.
        assert!(w.on_sample(t_ms(1_500), ms(10), 1, false).is_some());
        for i in 0..8 {
            w.on_sample(t_ms(1_600 + 10 * i), ms(10), 1, false);
        }
        // 8 + 1 = 9 < 10: discarded, and the next window starts empty.
        assert_eq!(w.on_sample(t_ms(2_600), ms(10), 1, false), None);
        assert_eq!(w.next_update(), t_ms(3_610));
    }

    #[test]
    fn samples_below_the_rtt_threshold_are_ignored_entirely() {
        let mut w = window();
        assert_eq!(w.on_sample(t_ms(0), us(99), 1, false), None);
        assert_eq!(
            w.next_update(),
            SimTime::ZERO,
            "did not even close a window"
        );
        w.on_sample(t_ms(0), us(100), 1, false);
        assert_eq!(w.next_update(), t_ms(1_000) + us(100));
    }

    #[test]
    fn the_window_length_is_twice_the_minimum_rtt_clamped() {
        let cfg = WindowConfig {
            min_window_time: ms(100),
            max_window_time: ms(500),
            ..Default::default()
        };
        let mut w = WindowedLimit::new(cfg).unwrap();
        w.on_sample(t_ms(0), ms(120), 1, false);
        assert_eq!(w.next_update(), t_ms(120 + 240));
        w.on_sample(t_ms(300), ms(400), 1, false);
        assert_eq!(
            w.next_update(),
            t_ms(700 + 500),
            "2 · 400 ms capped at 500 ms"
        );
        // Crossed bounds: min(max(x, min), max) lets max win, as in Java.
        let crossed = WindowConfig {
            min_window_time: ms(800),
            max_window_time: ms(200),
            ..Default::default()
        };
        let mut w = WindowedLimit::new(crossed).unwrap();
        w.on_sample(t_ms(0), ms(10), 1, false);
        assert_eq!(w.next_update(), t_ms(210));
    }

    #[test]
    fn validates_like_the_java_builder() {
        let bad = |c: WindowConfig| WindowedLimit::new(c).unwrap_err().field;
        let d = WindowConfig::default();
        assert_eq!(
            bad(WindowConfig {
                min_window_time: ms(99),
                ..d
            }),
            "min_window_time"
        );
        assert_eq!(
            bad(WindowConfig {
                max_window_time: us(99_999),
                ..d
            }),
            "max_window_time"
        );
        assert_eq!(
            bad(WindowConfig {
                window_size: 9,
                ..d
            }),
            "window_size"
        );
        assert!(
            WindowedLimit::new(WindowConfig {
                min_rtt_threshold: ms(0),
                ..d
            })
            .is_ok()
        );
    }

    #[test]
    fn parses_true_false_and_a_table() {
        #[derive(Deserialize, Serialize, PartialEq, Debug)]
        struct H {
            window: WindowSetting,
        }
        let p = |s: &str| toml::from_str::<H>(s).map(|h| h.window);
        assert_eq!(p("window = false").unwrap(), WindowSetting::PerSample);
        assert_eq!(
            p("window = true").unwrap(),
            WindowSetting::Windowed(WindowConfig::default())
        );
        let WindowSetting::Windowed(c) = p("window = { window_size = 20 }").unwrap() else {
            panic!()
        };
        assert_eq!((c.window_size, c.max_window_time), (20, ms(1_000)));
        let e = p("window = { size = 20 }").unwrap_err().to_string();
        assert!(e.contains("unknown field `size`"), "{e}");
        assert!(p("window = 3").is_err());
        for w in [WindowSetting::PerSample, WindowSetting::Windowed(c)] {
            let text = toml::to_string(&H { window: w }).unwrap();
            assert_eq!(p(&text).unwrap(), w, "{text}");
        }
    }
}
