//! Kubernetes readiness and liveness probes, as the kubelet's prober worker runs them
//! (`pkg/kubelet/prober/worker.go`).
//!
//! Why liveness probes start outages: a liveness probe is meant to catch a wedged process,
//! but it cannot tell "wedged" from "busy". Under overload the probe waits in the same
//! queue as user requests, times out `failure_threshold` times, and the kubelet restarts a
//! container that was working as hard as it could. Its queued and running requests fail,
//! it is gone while it starts, and it comes back cold; its traffic lands on the others,
//! which now fail their probes too — a restart storm that can outlive whatever triggered
//! it. A readiness probe only takes the instance out of the load balancers, which sheds
//! load instead of destroying capacity; a liveness probe on an endpoint that calls a
//! dependency restarts the whole fleet whenever that dependency is slow.
//!
//! The worker's rules, reproduced:
//! - one worker per container, with a ticker of `period` started with the pod; each tick
//!   runs one probe, synchronously, with `timeout`. A probe slower than the period makes
//!   the ticker drop ticks, except one that stays buffered and starts the next probe as
//!   soon as the slow one ends ([`ProbeTicker`]);
//! - no probe until `initial_delay` (whole seconds) after the container started;
//! - the result only changes after `failure_threshold` failures or `success_threshold`
//!   successes in a row (the run counter survives a restart); readiness starts as failure,
//!   liveness as success, in every new container;
//! - a liveness failure restarts the container, and the worker holds (probes nothing)
//!   until the new container runs.
//!
//! Sans-IO: the world sends the probe request and reports its result.

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::time::{SimDuration, SimTime};

/// `readiness = { endpoint = "health", period = "10s", timeout = "1s", failure_threshold = 3,
/// success_threshold = 1, initial_delay = "0s" }` (also `liveness`, which adds `restart`
/// and `warmup`). Kubernetes' defaults when omitted: period 10 s, timeout 1 s, failure
/// threshold 3, success threshold 1, no initial delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeTiming {
    /// `periodSeconds`: time between probes (≥ 1 s).
    pub period: SimDuration,
    /// `timeoutSeconds`: a probe not answered within this fails (≥ 1 s).
    pub timeout: SimDuration,
    /// `failureThreshold`: failures in a row that fail the probe (≥ 1).
    pub failure_threshold: u32,
    /// `successThreshold`: successes in a row that pass it (≥ 1; 1 for liveness).
    pub success_threshold: u32,
    /// `initialDelaySeconds`: no probe before the container has run this long.
    pub initial_delay: SimDuration,
}

impl Default for ProbeTiming {
    fn default() -> Self {
        ProbeTiming {
            period: SimDuration::from_secs(10),
            timeout: SimDuration::from_secs(1),
            failure_threshold: 3,
            success_threshold: 1,
            initial_delay: SimDuration::ZERO,
        }
    }
}

/// Readiness or liveness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// Failing takes the instance out of every load balancer.
    Readiness,
    /// Failing restarts the container.
    Liveness,
}

impl ProbeTiming {
    /// Checks the values as the Kubernetes API does.
    pub fn validate(&self, kind: ProbeKind) -> Result<(), ConfigError> {
        let one = SimDuration::from_secs(1);
        if self.period < one {
            return Err(ConfigError::new(
                "period",
                "must be at least 1s (periodSeconds ≥ 1)",
            ));
        }
        if self.timeout < one {
            return Err(ConfigError::new(
                "timeout",
                "must be at least 1s (timeoutSeconds ≥ 1)",
            ));
        }
        if self.failure_threshold == 0 {
            return Err(ConfigError::new("failure_threshold", "must be at least 1"));
        }
        if self.success_threshold == 0 {
            return Err(ConfigError::new("success_threshold", "must be at least 1"));
        }
        if kind == ProbeKind::Liveness && self.success_threshold != 1 {
            return Err(ConfigError::new(
                "success_threshold",
                "must be 1 for a liveness probe (Kubernetes refuses other values)",
            ));
        }
        Ok(())
    }

    /// Whether a container started at `started` may be probed at `now`: the kubelet
    /// compares whole seconds of running time with the initial delay.
    pub fn past_initial_delay(&self, started: SimTime, now: SimTime) -> bool {
        let ran = (now - started).as_nanos() / 1_000_000_000;
        ran as f64 >= self.initial_delay.as_secs_f64()
    }
}

/// The probe result the kubelet holds for one container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeState {
    kind: ProbeKind,
    passing: bool,
    last: Option<bool>,
    run: u32,
    on_hold: bool,
}

impl ProbeState {
    /// The state of a container that has been passing since before the run began (the
    /// steady state a simulation starts in).
    pub fn passing(kind: ProbeKind) -> Self {
        ProbeState {
            kind,
            passing: true,
            last: Some(true),
            run: 1,
            on_hold: false,
        }
    }

    /// The worker of a pod that was just created: no result yet; the container, once it
    /// runs, starts at the kind's initial value.
    pub fn fresh(kind: ProbeKind) -> Self {
        ProbeState {
            kind,
            passing: kind == ProbeKind::Liveness,
            last: None,
            run: 0,
            on_hold: false,
        }
    }

    /// A new container started: the result starts at the kind's initial value (readiness
    /// failing, liveness passing) and probing resumes. The run counter carries over.
    pub fn on_container_start(&mut self) {
        self.passing = self.kind == ProbeKind::Liveness;
        self.on_hold = false;
    }

    /// The current result: ready, or alive.
    pub fn is_passing(&self) -> bool {
        self.passing
    }

    /// A liveness worker holds after failing, until the next container.
    pub fn on_hold(&self) -> bool {
        self.on_hold
    }

    /// One probe finished. Returns the new result when the threshold was reached (even if
    /// it equals the old one), `None` when the result stands.
    pub fn on_result(&mut self, timing: &ProbeTiming, ok: bool) -> Option<bool> {
        if self.last == Some(ok) {
            self.run += 1;
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let threshold = if ok {
            timing.success_threshold
        } else {
            timing.failure_threshold
        };
        if self.run < threshold {
            return None;
        }
        self.passing = ok;
        if self.kind == ProbeKind::Liveness && !ok {
            self.on_hold = true;
            self.run = 0;
        }
        Some(ok)
    }
}

/// The prober worker's ticker: a tick every `period` from the pod's start, at most one
/// buffered while a probe runs (Go's `time.Ticker` drops the rest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeTicker {
    next: SimTime,
    busy: bool,
    buffered: bool,
}

impl ProbeTicker {
    /// A ticker whose first tick is at `start` (the worker probes once at once).
    pub fn new(start: SimTime) -> Self {
        ProbeTicker {
            next: start,
            busy: false,
            buffered: false,
        }
    }

    /// When the next tick is due.
    pub fn next_tick(&self) -> SimTime {
        self.next
    }

    /// A tick fired at the due time: returns whether to start a probe now; the next tick
    /// is one period later.
    pub fn on_tick(&mut self, period: SimDuration) -> bool {
        self.next += period;
        if self.busy {
            self.buffered = true;
            false
        } else {
            true
        }
    }

    /// A probe was started.
    pub fn on_probe_start(&mut self) {
        self.busy = true;
    }

    /// The running probe ended: returns whether a buffered tick starts the next one now.
    pub fn on_probe_end(&mut self) -> bool {
        self.busy = false;
        std::mem::take(&mut self.buffered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::*;

    fn timing(fail: u32, succeed: u32) -> ProbeTiming {
        ProbeTiming {
            failure_threshold: fail,
            success_threshold: succeed,
            ..ProbeTiming::default()
        }
    }

    #[test]
    fn defaults_are_kubernetes_defaults() {
        let t = ProbeTiming::default();
        assert_eq!((t.period, t.timeout), (secs(10), secs(1)));
        assert_eq!((t.failure_threshold, t.success_threshold), (3, 1));
        assert_eq!(t.initial_delay, SimDuration::ZERO);
    }

    #[test]
    fn readiness_fails_after_the_threshold_and_recovers_after_the_success_threshold() {
        let t = timing(3, 2);
        let mut p = ProbeState::passing(ProbeKind::Readiness);
        assert_eq!(p.on_result(&t, false), None);
        assert_eq!(p.on_result(&t, false), None);
        assert!(p.is_passing());
        assert_eq!(p.on_result(&t, false), Some(false));
        assert!(!p.is_passing());
        assert_eq!(
            p.on_result(&t, false),
            Some(false),
            "stays set past the threshold"
        );
        assert_eq!(p.on_result(&t, true), None);
        assert_eq!(p.on_result(&t, true), Some(true));
        assert!(p.is_passing());
    }

    #[test]
    fn a_success_in_between_restarts_the_failure_run() {
        let t = timing(3, 1);
        let mut p = ProbeState::passing(ProbeKind::Liveness);
        p.on_result(&t, false);
        p.on_result(&t, false);
        p.on_result(&t, true);
        p.on_result(&t, false);
        p.on_result(&t, false);
        assert!(p.is_passing());
        assert_eq!(p.on_result(&t, false), Some(false));
    }

    #[test]
    fn a_failed_liveness_probe_holds_until_the_next_container_which_starts_alive() {
        let t = timing(1, 1);
        let mut p = ProbeState::passing(ProbeKind::Liveness);
        assert_eq!(p.on_result(&t, false), Some(false));
        assert!(p.on_hold());
        p.on_container_start();
        assert!(!p.on_hold());
        assert!(p.is_passing(), "liveness starts as success");
        let mut r = ProbeState::passing(ProbeKind::Readiness);
        r.on_container_start();
        assert!(!r.is_passing(), "readiness starts as failure");
        assert_eq!(r.on_result(&t, true), Some(true));
    }

    #[test]
    fn the_initial_delay_counts_whole_seconds_of_running() {
        let t = ProbeTiming {
            initial_delay: secs(5),
            ..ProbeTiming::default()
        };
        assert!(!t.past_initial_delay(t_ms(1_000), t_ms(5_999)));
        assert!(t.past_initial_delay(t_ms(1_000), t_ms(6_000)));
    }

    #[test]
    fn kubernetes_validation() {
        assert_eq!(
            timing(1, 2)
                .validate(ProbeKind::Liveness)
                .unwrap_err()
                .field,
            "success_threshold"
        );
        assert!(timing(1, 2).validate(ProbeKind::Readiness).is_ok());
        assert_eq!(
            timing(0, 1)
                .validate(ProbeKind::Readiness)
                .unwrap_err()
                .field,
            "failure_threshold"
        );
        let short = ProbeTiming {
            timeout: ms(500),
            ..ProbeTiming::default()
        };
        assert_eq!(
            short.validate(ProbeKind::Readiness).unwrap_err().field,
            "timeout"
        );
    }

    #[test]
    fn a_slow_probe_keeps_one_tick_and_drops_the_others() {
        let mut k = ProbeTicker::new(t_ms(0));
        assert!(k.on_tick(secs(10)));
        k.on_probe_start();
        assert_eq!(k.next_tick(), t_ms(10_000));
        assert!(!k.on_tick(secs(10)), "busy at 10 s");
        assert!(!k.on_tick(secs(10)), "busy at 20 s: dropped");
        assert!(k.on_probe_end(), "the buffered tick starts a probe at once");
        k.on_probe_start();
        assert!(!k.on_probe_end(), "nothing more was buffered");
        assert_eq!(k.next_tick(), t_ms(30_000), "the ticker keeps its phase");
    }
}
