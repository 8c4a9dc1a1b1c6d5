//! Priority load shedding at a service's front door: when the service is nearly full,
//! refuse the least important work first so the most important keeps its capacity.
//!
//! Why it exists: an overloaded service that accepts everything serves everything late —
//! past its callers' timeouts, so the work is wasted and the callers retry, adding more
//! load (goodput collapse). Refusing some requests *early and cheaply* keeps latency for
//! the rest inside their deadlines. Shedding by priority decides *which* requests lose:
//! batch and prefetch traffic before user-facing reads, reads before checkouts.
//!
//! The rule: classes are numbered 0 (most important) … n−1, and class `k` is shed when
//! the service's utilisation is at or above `thresholds[k]`. Thresholds are
//! non-increasing, so as utilisation rises the highest-numbered (least important) class is
//! shed first and class 0 last. A class number past the end shares the last threshold.
//!
//! **Utilisation** is `in_flight ÷ capacity` measured *before* admitting the request:
//! in-flight work (running plus queued) over the service's capacity (workers plus queue
//! slots) — so 1.0 means "completely full". A driver may instead use queue fill (queued ÷
//! queue capacity) for a service whose workers are always busy; pick one measure per
//! service and keep it. [`PriorityShedder::admit_in_flight`] computes the first.
//!
//! Failure modes: thresholds too close to 1.0 shed too late to help (the queue is already
//! long when shedding starts); too low and the service refuses work it could have done.
//! Shedding at the callee does not stop callers from retrying the shed requests — pair it
//! with retry budgets upstream.

use serde::{Deserialize, Serialize};

use crate::policy::ConfigError;

/// Config of a [`PriorityShedder`]; in TOML `shed = { thresholds = [1.0, 0.95, 0.85] }`.
///
/// Default: `[1.0, 0.95, 0.85]` — class 0 only when full, class 1 from 95 %, everything
/// else from 85 %.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShedConfig {
    /// Utilisation at or above which each class is shed; non-empty, each in (0, 1],
    /// non-increasing.
    #[serde(default = "default_thresholds")]
    pub thresholds: Vec<f64>,
}

fn default_thresholds() -> Vec<f64> {
    vec![1.0, 0.95, 0.85]
}

impl Default for ShedConfig {
    fn default() -> Self {
        ShedConfig {
            thresholds: default_thresholds(),
        }
    }
}

/// Sheds requests by priority class as utilisation rises (see the module docs).
///
/// ```
/// use cascade::policy::shedding::{PriorityShedder, ShedConfig};
///
/// let shed = PriorityShedder::new(ShedConfig { thresholds: vec![1.0, 0.9] }).unwrap();
/// assert!(shed.admit(0, 0.95) && shed.admit(1, 0.85));
/// assert!(!shed.admit(1, 0.9));                  // class 1 goes first
/// assert!(!shed.admit(7, 0.9));                  // classes past the end share the last threshold
/// assert!(!shed.admit_in_flight(0, 10, 10));     // class 0 only when completely full
/// ```
#[derive(Clone, Debug)]
pub struct PriorityShedder {
    thresholds: Vec<f64>,
}

impl PriorityShedder {
    /// Validates the thresholds (errors under `thresholds`).
    pub fn new(config: ShedConfig) -> Result<Self, ConfigError> {
        let t = config.thresholds;
        if t.is_empty() {
            return Err(ConfigError::new("thresholds", "needs at least one class"));
        }
        for (k, &x) in t.iter().enumerate() {
            if !(x > 0.0 && x <= 1.0) {
                return Err(ConfigError::new(
                    "thresholds",
                    format!("class {k}: {x} is not in (0, 1]"),
                ));
            }
            if k > 0 && x > t[k - 1] {
                return Err(ConfigError::new(
                    "thresholds",
                    format!(
                        "must be non-increasing (class {k} at {x} is above class {} at {}): \
                         a less important class cannot outlast a more important one",
                        k - 1,
                        t[k - 1]
                    ),
                ));
            }
        }
        Ok(PriorityShedder { thresholds: t })
    }

    /// Whether a request of `class` is admitted at `utilisation` (measured before it is
    /// admitted). `false`: reject it with `RejectReason::Shed`. (A NaN utilisation —
    /// a driver bug — sheds.)
    pub fn admit(&self, class: usize, utilisation: f64) -> bool {
        utilisation < self.threshold(class)
    }

    /// [`Self::admit`] with utilisation `in_flight ÷ capacity`; a capacity of 0 sheds
    /// everything.
    pub fn admit_in_flight(&self, class: usize, in_flight: u32, capacity: u32) -> bool {
        if capacity == 0 {
            return false;
        }
        self.admit(class, in_flight as f64 / capacity as f64)
    }

    /// The threshold that applies to `class`.
    pub fn threshold(&self, class: usize) -> f64 {
        self.thresholds[class.min(self.thresholds.len() - 1)]
    }

    /// The number of configured classes.
    pub fn classes(&self) -> usize {
        self.thresholds.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shedder(t: &[f64]) -> PriorityShedder {
        PriorityShedder::new(ShedConfig {
            thresholds: t.to_vec(),
        })
        .unwrap()
    }

    mod ordering {
        use super::*;

        #[test]
        fn the_least_important_class_is_shed_first() {
            let s = shedder(&[1.0, 0.95, 0.85]);
            let admitted = |u: f64| (0..3).filter(|&c| s.admit(c, u)).collect::<Vec<_>>();
            assert_eq!(admitted(0.80), [0, 1, 2]);
            assert_eq!(admitted(0.85), [0, 1]);
            assert_eq!(admitted(0.95), [0]);
            assert_eq!(admitted(1.00), Vec::<usize>::new());
        }

        #[test]
        fn thresholds_are_inclusive_in_whole_counts() {
            let s = shedder(&[1.0, 0.95]);
            assert!(s.admit_in_flight(1, 18, 20));
            assert!(
                !s.admit_in_flight(1, 19, 20),
                "19/20 = 0.95 is at the threshold"
            );
            assert!(s.admit_in_flight(0, 19, 20));
            assert!(!s.admit_in_flight(0, 20, 20));
            assert!(!s.admit_in_flight(0, 0, 0));
        }

        #[test]
        fn extra_classes_share_the_last_threshold() {
            let s = shedder(&[1.0, 0.5]);
            assert_eq!(s.threshold(9), 0.5);
            assert!(!s.admit(9, 0.5));
            assert_eq!(s.classes(), 2);
        }

        proptest! {
            #[test]
            fn a_more_important_class_is_admitted_whenever_a_less_important_one_is(
                mut t in proptest::collection::vec(0.01f64..=1.0, 1..6),
                u in 0.0f64..1.2,
                a in 0usize..8, b in 0usize..8,
            ) {
                t.sort_by(|x, y| y.total_cmp(x));
                let s = shedder(&t);
                let (hi, lo) = (a.min(b), a.max(b));
                prop_assert!(!s.admit(lo, u) || s.admit(hi, u));
            }
        }
    }

    mod validation {
        use super::*;

        fn err(t: &[f64]) -> ConfigError {
            PriorityShedder::new(ShedConfig {
                thresholds: t.to_vec(),
            })
            .unwrap_err()
        }

        #[test]
        fn rejects_empty_out_of_range_and_increasing() {
            assert_eq!(err(&[]).field, "thresholds");
            assert!(err(&[0.0]).problem.contains("(0, 1]"));
            assert!(err(&[1.1]).problem.contains("(0, 1]"));
            assert!(err(&[f64::NAN]).problem.contains("(0, 1]"));
            assert!(err(&[0.9, 0.95]).problem.contains("non-increasing"));
            assert!(
                PriorityShedder::new(ShedConfig {
                    thresholds: vec![0.9, 0.9]
                })
                .is_ok()
            );
        }

        #[test]
        fn parses_with_defaults() {
            let c: ShedConfig = toml::from_str("").unwrap();
            assert_eq!(c.thresholds, [1.0, 0.95, 0.85]);
            let c: ShedConfig = toml::from_str("thresholds = [0.9]").unwrap();
            assert_eq!(c.thresholds, [0.9]);
            assert!(toml::from_str::<ShedConfig>("threshold = [0.9]").is_err());
        }
    }
}
