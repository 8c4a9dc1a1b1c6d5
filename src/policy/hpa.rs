//! The Kubernetes Horizontal Pod Autoscaler's recommendation, as the controller computes
//! it (`pkg/controller/podautoscaler/{replica_calculator,horizontal}.go`, autoscaling/v2
//! with the default behaviour).
//!
//! Why autoscaling does not save a sudden peak: the HPA looks at utilisation once per sync
//! period (15 s), asks for `ceil(ready pods × utilisation ÷ target)`, may at most double the
//! fleet (or add 4 pods) per 15 s, and new pods serve only after they start and pass their
//! readiness probe. A ramp that doubles load in a minute outruns it; the lag is paid in
//! queueing and lost requests before the new capacity arrives. Scaling down waits for the
//! highest recommendation of the last five minutes, so a fleet does not flap.
//!
//! One reconcile ([`Hpa::reconcile`]):
//! 1. outside `[min, max]` the current count is simply clamped;
//! 2. utilisation = `trunc(100 × Σ usage ÷ Σ request)` over ready pods with metrics (an
//!    integer percent, as the metrics client computes it); ratio = utilisation ÷ target;
//! 3. with no unready pods: inside the tolerance (`|1 − ratio| ≤ 0.1`) nothing changes, else
//!    `ceil(ratio × ready pods)`. On a scale-up with unready pods, those count as using 0
//!    and the ratio is recomputed; no change if it falls inside the tolerance or flips
//!    direction;
//! 4. stabilisation: the recommendation is raised to the lowest of the scale-up window (0 s
//!    by default, so no effect) and lowered to the highest of the scale-down window (5 min);
//! 5. rate limits: up to `max(2 × start-of-period replicas, +4)` per 15 s going up, and
//!    −100 % per 15 s going down; then `[min, max]`.
//!
//! Sans-IO: the world measures utilisation per pod over the last sync period and applies
//! the returned replica count.

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::time::{SimDuration, SimTime};

/// `autoscale = { min = 3, max = 30, target_utilization = 0.6, sync = "15s", tolerance = 0.1,
/// scale_down_stabilization = "5m", startup = "45s" }` on a service. Kubernetes' defaults
/// for the controller (sync 15 s, tolerance 0.1, scale-down window 5 min); `startup` (the
/// time from scheduling a pod to its container running) defaults to 30 s.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleConfig {
    /// `minReplicas` (≥ 1).
    pub min: u32,
    /// `maxReplicas` (≥ min).
    pub max: u32,
    /// Target busy workers ÷ workers, in (0, 1] (`averageUtilization` ÷ 100).
    pub target_utilization: f64,
    /// Controller sync period (`--horizontal-pod-autoscaler-sync-period`).
    #[serde(default = "default_sync")]
    pub sync: SimDuration,
    /// No change while |1 − utilisation ÷ target| is at most this.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// `behavior.scaleDown.stabilizationWindowSeconds`.
    #[serde(default = "default_stabilization")]
    pub scale_down_stabilization: SimDuration,
    /// Time from the scale-up decision until a new pod's container runs.
    #[serde(default = "default_startup")]
    pub startup: SimDuration,
}

fn default_sync() -> SimDuration {
    SimDuration::from_secs(15)
}
fn default_tolerance() -> f64 {
    0.1
}
fn default_stabilization() -> SimDuration {
    SimDuration::from_secs(300)
}
fn default_startup() -> SimDuration {
    SimDuration::from_secs(30)
}

/// Period of the default scaling policies (`periodSeconds: 15`).
const POLICY_PERIOD: SimDuration = SimDuration::from_secs(15);
/// Default scale-up policies: +100 % or +4 pods per period, whichever is more.
const UP_PERCENT: f64 = 100.0;
const UP_PODS: i64 = 4;
/// Default scale-down policy: −100 % per period.
const DOWN_PERCENT: f64 = 100.0;

impl AutoscaleConfig {
    /// Checks the values as the API would.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.min == 0 {
            return Err(ConfigError::new("min", "must be at least 1"));
        }
        if self.min > self.max {
            return Err(ConfigError::new(
                "min",
                format!("{} is above max ({})", self.min, self.max),
            ));
        }
        if !(self.target_utilization > 0.0 && self.target_utilization <= 1.0) {
            return Err(ConfigError::new(
                "target_utilization",
                "must be in (0, 1] (busy workers ÷ workers)",
            ));
        }
        if self.sync.is_zero() {
            return Err(ConfigError::new("sync", "must be above zero"));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(ConfigError::new("tolerance", "must be a finite number ≥ 0"));
        }
        Ok(())
    }

    /// The target as the API stores it: a whole percent.
    pub fn target_percent(&self) -> i64 {
        ((self.target_utilization * 100.0).round() as i64).max(1)
    }
}

/// One ready pod's usage over the last sync period, in milli-workers (busy workers × 1000,
/// the way CPU is counted in millicores), and its request (workers × 1000).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodUsage {
    /// Average busy workers × 1000.
    pub usage: i64,
    /// Workers × 1000.
    pub request: i64,
}

/// The pods of one target as the replica calculator groups them (`groupPods`).
#[derive(Clone, Debug, Default)]
pub struct Pods {
    /// Pods whose usage counts.
    pub ready: Vec<PodUsage>,
    /// Pending, or unready in a way that makes their usage meaningless.
    pub unready: Vec<PodUsage>,
    /// Running pods without usage (a container restarting).
    pub missing: Vec<PodUsage>,
}

impl Pods {
    /// Empties the groups (the buffers are kept).
    pub fn clear(&mut self) {
        self.ready.clear();
        self.unready.clear();
        self.missing.clear();
    }
}

/// `--horizontal-pod-autoscaler-cpu-initialization-period`.
pub const CPU_INITIALIZATION_PERIOD: SimDuration = SimDuration::from_secs(300);
/// `--horizontal-pod-autoscaler-initial-readiness-delay`.
pub const INITIAL_READINESS_DELAY: SimDuration = SimDuration::from_secs(30);

/// Where a running pod's usage goes (`groupPods`, for CPU): `true` if it is unready.
/// `started` is the pod's start (`None`: long before the run), `ready`/`since` its Ready
/// condition and last transition, and `window` the span its usage sample covers. Within
/// the initialisation period a pod is unready unless it has been ready for a whole
/// window; after it, only a pod that is not ready and never became ready since its start.
pub fn pod_unready(
    now: SimTime,
    started: Option<SimTime>,
    ready: bool,
    since: SimTime,
    window: SimDuration,
) -> bool {
    match started {
        Some(start) if start + CPU_INITIALIZATION_PERIOD > now => !ready || now < since + window,
        Some(start) => !ready && start + INITIAL_READINESS_DELAY > since,
        None => false,
    }
}

/// The controller's state for one target: past recommendations and scale events.
#[derive(Clone, Debug)]
pub struct Hpa {
    cfg: AutoscaleConfig,
    recommendations: Vec<(SimTime, u32)>,
    up_events: Vec<(SimTime, u32)>,
    down_events: Vec<(SimTime, u32)>,
}

impl Hpa {
    /// A controller with no history.
    pub fn new(cfg: AutoscaleConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Hpa {
            cfg,
            recommendations: Vec::new(),
            up_events: Vec::new(),
            down_events: Vec::new(),
        })
    }

    /// The config.
    pub fn config(&self) -> &AutoscaleConfig {
        &self.cfg
    }

    /// The replica calculator (`GetResourceReplicas`): the raw recommendation from the
    /// pods as [`group_pod`] sorted them.
    pub fn calculate(&self, current: u32, pods: &Pods) -> u32 {
        if pods.ready.is_empty() {
            return current; // "did not receive metrics for any ready pods"
        }
        let target = self.cfg.target_percent() as f64;
        let ratio = |pods: &mut dyn Iterator<Item = (i64, i64)>| {
            let (usage, request) = pods.fold((0i64, 0i64), |a, p| (a.0 + p.0, a.1 + p.1));
            ((usage * 100) / request.max(1)) as f64 / target
        };
        let usage_ratio = ratio(&mut pods.ready.iter().map(|p| (p.usage, p.request)));
        let rebalance = !pods.unready.is_empty() && usage_ratio > 1.0;
        if !rebalance && pods.missing.is_empty() {
            if (1.0 - usage_ratio).abs() <= self.cfg.tolerance {
                return current;
            }
            return (usage_ratio * pods.ready.len() as f64).ceil() as u32;
        }
        // Missing pods use their whole request on a scale-down and nothing on a scale-up;
        // on a scale-up, unready pods count as using nothing too.
        let missing_usage = |p: &PodUsage| if usage_ratio < 1.0 { p.request } else { 0 };
        let mut counted = pods.ready.len();
        let with_missing = pods
            .ready
            .iter()
            .map(|p| (p.usage, p.request))
            .chain(pods.missing.iter().map(|p| (missing_usage(p), p.request)));
        let new_ratio = if rebalance {
            counted += pods.missing.len() + pods.unready.len();
            ratio(&mut with_missing.chain(pods.unready.iter().map(|p| (0, p.request))))
        } else {
            counted += pods.missing.len();
            ratio(&mut with_missing.into_iter())
        };
        if (1.0 - new_ratio).abs() <= self.cfg.tolerance
            || (usage_ratio < 1.0 && new_ratio > 1.0)
            || (usage_ratio > 1.0 && new_ratio < 1.0)
        {
            return current;
        }
        let new = (new_ratio * counted as f64).ceil() as u32;
        if (new_ratio < 1.0 && new > current) || (new_ratio > 1.0 && new < current) {
            return current;
        }
        new
    }

    /// One sync: the replica count to set now, given the current count and the pods'
    /// usage over the last sync period. Records the recommendation and the scale event.
    pub fn reconcile(&mut self, now: SimTime, current: u32, pods: &Pods) -> u32 {
        let (min, max) = (self.cfg.min, self.cfg.max);
        let desired = if current > max {
            max
        } else if current < min {
            min
        } else {
            let raw = self.calculate(current, pods);
            let stabilized = self.stabilize(now, current, raw);
            self.limit_rate(now, current, stabilized)
        };
        if desired > current {
            self.up_events.push((now, desired - current));
        } else if desired < current {
            self.down_events.push((now, current - desired));
        }
        let horizon = POLICY_PERIOD;
        self.up_events.retain(|e| now - e.0 <= horizon);
        self.down_events.retain(|e| now - e.0 <= horizon);
        desired
    }

    /// `stabilizeRecommendationWithBehaviors`: the window history starts with the current
    /// count, keeps each raw recommendation, and bounds the new one by the window's
    /// extremes (scale-up window 0 s: no bound upwards).
    fn stabilize(&mut self, now: SimTime, current: u32, desired: u32) -> u32 {
        let window = self.cfg.scale_down_stabilization;
        if self.recommendations.is_empty() && !window.is_zero() {
            self.recommendations.push((now, current));
        }
        // `rec.timestamp.After(now − window)`: younger than the window.
        let mut down = desired;
        for &(at, rec) in &self.recommendations {
            if now - at < window {
                down = down.max(rec);
            }
        }
        // The scale-up window is 0 s: nothing is after `now`, so `up == desired`.
        let up = desired;
        let mut recommendation = current;
        if recommendation < up {
            recommendation = up;
        }
        if recommendation > down {
            recommendation = down;
        }
        // Reuse a sample older than both windows, else append (as the controller does).
        match self
            .recommendations
            .iter()
            .position(|&(at, _)| now - at > window && at < now)
        {
            Some(i) => self.recommendations[i] = (now, desired),
            None => self.recommendations.push((now, desired)),
        }
        recommendation
    }

    /// `convertDesiredReplicasWithBehaviorRate` with the default policies.
    fn limit_rate(&self, now: SimTime, current: u32, desired: u32) -> u32 {
        let changed = |events: &[(SimTime, u32)]| -> i64 {
            events
                .iter()
                .filter(|e| now - e.0 < POLICY_PERIOD)
                .map(|e| e.1 as i64)
                .sum()
        };
        let start = current as i64 - changed(&self.up_events) + changed(&self.down_events);
        let (min, max) = (self.cfg.min as i64, self.cfg.max as i64);
        let desired_i = desired as i64;
        let current_i = current as i64;
        if desired_i > current_i {
            let percent = (start as f64 * (1.0 + UP_PERCENT / 100.0)).ceil() as i64;
            let limit = percent.max(start + UP_PODS).max(current_i);
            desired_i.min(limit.min(max)) as u32
        } else if desired_i < current_i {
            let limit = ((start as f64 * (1.0 - DOWN_PERCENT / 100.0)) as i64).min(current_i);
            desired_i.max(limit.max(min)) as u32
        } else {
            desired
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::*;

    fn cfg(min: u32, max: u32, target: f64) -> AutoscaleConfig {
        AutoscaleConfig {
            min,
            max,
            target_utilization: target,
            sync: secs(15),
            tolerance: 0.1,
            scale_down_stabilization: secs(300),
            startup: secs(45),
        }
    }

    fn ready(n: usize, busy: f64) -> Pods {
        Pods {
            ready: pods(n, busy),
            ..Pods::default()
        }
    }

    fn pods(n: usize, busy: f64) -> Vec<PodUsage> {
        vec![
            PodUsage {
                usage: (busy * 1000.0) as i64,
                request: 1000,
            };
            n
        ]
    }

    mod formula {
        use super::*;

        #[test]
        fn desired_is_ceil_of_ready_pods_times_utilisation_over_target() {
            let h = Hpa::new(cfg(1, 100, 0.6)).unwrap();
            // 4 pods at 90 %: ratio 1.5 → 6.
            assert_eq!(h.calculate(4, &ready(4, 0.9)), 6);
            // 3 pods at 100 %: 100/60 = 1.667 → ceil(5.0) = 5.
            assert_eq!(h.calculate(3, &ready(3, 1.0)), 5);
            // 10 pods at 30 %: ratio 0.5 → 5.
            assert_eq!(h.calculate(10, &ready(10, 0.3)), 5);
        }

        #[test]
        fn nothing_changes_inside_the_tolerance() {
            let h = Hpa::new(cfg(1, 100, 0.6)).unwrap();
            // 65 % / 60 % = 1.083: within 10 %.
            assert_eq!(h.calculate(4, &ready(4, 0.65)), 4);
            // 67 % / 60 % = 1.117: outside.
            assert_eq!(h.calculate(4, &ready(4, 0.67)), 5);
        }

        #[test]
        fn utilisation_is_a_truncated_whole_percent() {
            let h = Hpa::new(cfg(1, 100, 0.5)).unwrap();
            // 54.9 % truncates to 54: 54/50 = 1.08, inside the tolerance.
            assert_eq!(h.calculate(2, &ready(2, 0.549)), 2);
            // Exactly 10 % off is outside, as in the controller: in floating point
            // |1 − 55/50| = 0.10000000000000009 > 0.1.
            assert_eq!(h.calculate(2, &ready(2, 0.559)), 3);
        }

        #[test]
        fn unready_pods_count_as_idle_on_a_scale_up() {
            let h = Hpa::new(cfg(1, 100, 0.5)).unwrap();
            let with = |unready: usize| Pods {
                ready: pods(2, 1.0),
                unready: pods(unready, 0.0),
                missing: Vec::new(),
            };
            // 2 ready at 100 % and 2 unready: (2000 + 0) / 4000 = 50 % → ratio 1.0: no change.
            assert_eq!(h.calculate(4, &with(2)), 4);
            // 2 ready at 100 % and 1 unready: 66 % → 1.32 → ceil(3.96) = 4.
            assert_eq!(h.calculate(3, &with(1)), 4);
        }

        #[test]
        fn missing_pods_count_as_full_going_down_and_idle_going_up() {
            let h = Hpa::new(cfg(1, 100, 0.5)).unwrap();
            let with = |busy: f64| Pods {
                ready: pods(3, busy),
                unready: Vec::new(),
                missing: pods(1, 0.0),
            };
            // 3 at 20 % want 2 of 4 without the missing one; counted at 100 % it is
            // (600 + 1000) / 4000 = 40 % → 0.8 → ceil(3.2) = 4: no change.
            assert_eq!(h.calculate(4, &with(0.2)), 4);
            // 3 at 100 % with one missing at 0: 75 % → 1.5 → 6.
            assert_eq!(h.calculate(4, &with(1.0)), 6);
        }

        #[test]
        fn which_pods_are_unready() {
            let w = secs(15);
            // Pods from before the run count unless… never: they have been ready before.
            assert!(!pod_unready(t_s(100), None, false, t_s(90), w));
            // A young pod counts once it has been ready for a whole window.
            assert!(pod_unready(t_s(100), Some(t_s(50)), true, t_s(90), w));
            assert!(!pod_unready(t_s(110), Some(t_s(50)), true, t_s(90), w));
            assert!(pod_unready(t_s(110), Some(t_s(50)), false, t_s(90), w));
            // An old pod that flapped to unready still counts; one never ready does not.
            assert!(!pod_unready(t_s(1000), Some(t_s(50)), false, t_s(900), w));
            assert!(pod_unready(t_s(1000), Some(t_s(50)), false, t_s(60), w));
        }
    }

    mod reconcile {
        use super::*;

        #[test]
        fn clamps_to_min_and_max_first() {
            let mut h = Hpa::new(cfg(3, 5, 0.6)).unwrap();
            assert_eq!(h.reconcile(t_s(15), 2, &ready(2, 0.0)), 3);
            assert_eq!(h.reconcile(t_s(30), 9, &ready(9, 1.0)), 5);
        }

        #[test]
        fn scale_up_is_limited_to_double_or_four_more_per_period() {
            let mut h = Hpa::new(cfg(1, 100, 0.1)).unwrap();
            // 2 pods at 100 % want 20; the limit is max(2×2, 2+4) = 6.
            assert_eq!(h.reconcile(t_s(15), 2, &ready(2, 1.0)), 6);
            // 15 s later the previous event has left the period: max(12, 10) = 12.
            assert_eq!(h.reconcile(t_s(30), 6, &ready(6, 1.0)), 12);
            assert_eq!(h.reconcile(t_s(45), 12, &ready(12, 1.0)), 24);
        }

        #[test]
        fn scale_down_waits_for_the_stabilization_window() {
            let mut h = Hpa::new(cfg(1, 100, 0.5)).unwrap();
            assert_eq!(h.reconcile(t_s(0), 10, &ready(10, 0.5)), 10);
            // Load drops: the raw recommendation is 2, but 10 was recommended within 5 min.
            let mut t = 15;
            while t < 300 {
                assert_eq!(h.reconcile(t_s(t), 10, &ready(10, 0.1)), 10, "t = {t}");
                t += 15;
            }
            // Once every recommendation of 10 is older than the window, it goes down.
            assert_eq!(h.reconcile(t_s(315), 10, &ready(10, 0.1)), 2);
        }

        #[test]
        fn the_highest_recommendation_of_the_window_wins() {
            let mut h = Hpa::new(cfg(1, 100, 0.5)).unwrap();
            h.reconcile(t_s(0), 10, &ready(10, 0.5));
            // A brief dip to 4 then 6: the window still holds 10.
            assert_eq!(h.reconcile(t_s(15), 10, &ready(10, 0.2)), 10);
            // After the 10 ages out (t > 300), the highest left in the window is 6.
            h.reconcile(t_s(100), 10, &ready(10, 0.3));
            assert_eq!(h.reconcile(t_s(301), 10, &ready(10, 0.1)), 6);
        }
    }

    #[test]
    fn bad_configs_are_refused() {
        assert_eq!(Hpa::new(cfg(5, 3, 0.6)).unwrap_err().field, "min");
        assert_eq!(Hpa::new(cfg(0, 3, 0.6)).unwrap_err().field, "min");
        assert_eq!(
            Hpa::new(cfg(1, 3, 1.5)).unwrap_err().field,
            "target_utilization"
        );
    }
}
