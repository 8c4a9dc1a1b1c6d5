//! Active health checking of one host, with Envoy's thresholds
//! (`source/extensions/health_checkers/common/health_checker_base_impl.cc`).
//!
//! Why it can hurt as well as help: a health check is an ordinary request. It waits in the
//! host's queue and needs one of its workers, so an instance that is merely *busy* — every
//! thread pinned on a slow dependency — fails its checks exactly like a dead one. The
//! balancer then removes it, its traffic moves to the other instances, which saturate and
//! fail their checks in turn: the load-balancer death spiral. A cheap health endpoint
//! served off the request pool, or a panic threshold, breaks the loop.
//!
//! The state machine per host (Envoy's `ActiveHealthCheckSession`):
//! - a success resets the failure run; an unhealthy host becomes healthy after
//!   `healthy_threshold` successes in a row — or at once on the very first check of a host
//!   that was just added ("this makes startup faster");
//! - a timeout or a connection failure (a *network* failure) counts towards
//!   `unhealthy_threshold`; an answer that is an error (a 5xx, an overload rejection) marks
//!   the host unhealthy at once, whatever the threshold (Envoy ignores the threshold for
//!   non-retriable HTTP statuses);
//! - the next check is armed `interval` after the result (not on a fixed clock), so a check
//!   that times out pushes the next one back by its timeout.
//!
//! Sans-IO: the caller sends the check, arms the timeout and reports what happened.

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::time::SimDuration;

/// `health_check = { endpoint = "health", interval = "10s", timeout = "3s",
/// unhealthy_threshold = 3, healthy_threshold = 2 }` on a client edge. Envoy requires every
/// field; so does cascade.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// The endpoint of the callee that answers checks.
    pub endpoint: String,
    /// Time from one check's result to the next check.
    pub interval: SimDuration,
    /// A check not answered within this is a (network) failure.
    pub timeout: SimDuration,
    /// Network failures in a row that make a healthy host unhealthy (≥ 1).
    pub unhealthy_threshold: u32,
    /// Successes in a row that make an unhealthy host healthy (≥ 1).
    pub healthy_threshold: u32,
}

impl HealthCheckConfig {
    /// Checks the values (the endpoint is checked by the model).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.interval.is_zero() {
            return Err(ConfigError::new("interval", "must be above zero"));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new("timeout", "must be above zero"));
        }
        if self.unhealthy_threshold == 0 {
            return Err(ConfigError::new(
                "unhealthy_threshold",
                "must be at least 1",
            ));
        }
        if self.healthy_threshold == 0 {
            return Err(ConfigError::new("healthy_threshold", "must be at least 1"));
        }
        Ok(())
    }
}

/// How a check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckFailure {
    /// No answer in time, or the connection failed: counts towards the threshold.
    Network,
    /// The host answered with an error: unhealthy at once.
    Response,
}

/// What a check result did to the host's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthTransition {
    /// The host's health is what it was.
    Unchanged,
    /// The health changed (healthy ↔ unhealthy).
    Changed,
    /// Counting towards a threshold, not there yet.
    Pending,
}

/// The active-health state of one host as seen by one checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostHealth {
    healthy: bool,
    num_healthy: u32,
    num_unhealthy: u32,
    first_check: bool,
}

impl HostHealth {
    /// A host that was just added: unhealthy until its first check passes (Envoy marks new
    /// hosts `FAILED_ACTIVE_HC` when the cluster has a health checker).
    pub fn added() -> Self {
        HostHealth {
            healthy: false,
            num_healthy: 0,
            num_unhealthy: 0,
            first_check: true,
        }
    }

    /// A host that has been passing its checks since before the run started.
    pub fn passing() -> Self {
        HostHealth {
            healthy: true,
            num_healthy: 0,
            num_unhealthy: 0,
            first_check: false,
        }
    }

    /// Whether the balancer may use it.
    pub fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// A check passed.
    pub fn on_success(&mut self, cfg: &HealthCheckConfig) -> HealthTransition {
        self.num_unhealthy = 0;
        let mut t = HealthTransition::Unchanged;
        if !self.healthy {
            self.num_healthy += 1;
            if self.first_check || self.num_healthy == cfg.healthy_threshold {
                self.healthy = true;
                self.num_healthy = 0;
                t = HealthTransition::Changed;
            } else {
                t = HealthTransition::Pending;
            }
        }
        self.first_check = false;
        t
    }

    /// A check failed.
    pub fn on_failure(&mut self, cfg: &HealthCheckConfig, how: CheckFailure) -> HealthTransition {
        self.num_healthy = 0;
        let mut t = HealthTransition::Unchanged;
        if self.healthy {
            self.num_unhealthy += 1;
            if how == CheckFailure::Response || self.num_unhealthy == cfg.unhealthy_threshold {
                self.healthy = false;
                self.num_unhealthy = 0;
                t = HealthTransition::Changed;
            } else {
                t = HealthTransition::Pending;
            }
        }
        self.first_check = false;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(unhealthy: u32, healthy: u32) -> HealthCheckConfig {
        HealthCheckConfig {
            endpoint: "health".into(),
            interval: SimDuration::from_secs(10),
            timeout: SimDuration::from_secs(3),
            unhealthy_threshold: unhealthy,
            healthy_threshold: healthy,
        }
    }

    #[test]
    fn timeouts_count_to_the_unhealthy_threshold_and_a_success_resets_them() {
        let c = cfg(3, 2);
        let mut h = HostHealth::passing();
        assert_eq!(
            h.on_failure(&c, CheckFailure::Network),
            HealthTransition::Pending
        );
        assert_eq!(
            h.on_failure(&c, CheckFailure::Network),
            HealthTransition::Pending
        );
        assert_eq!(h.on_success(&c), HealthTransition::Unchanged);
        assert_eq!(
            h.on_failure(&c, CheckFailure::Network),
            HealthTransition::Pending
        );
        assert_eq!(
            h.on_failure(&c, CheckFailure::Network),
            HealthTransition::Pending
        );
        assert!(h.is_healthy());
        assert_eq!(
            h.on_failure(&c, CheckFailure::Network),
            HealthTransition::Changed
        );
        assert!(!h.is_healthy());
    }

    #[test]
    fn an_error_answer_is_unhealthy_at_once() {
        let c = cfg(3, 2);
        let mut h = HostHealth::passing();
        assert_eq!(
            h.on_failure(&c, CheckFailure::Response),
            HealthTransition::Changed
        );
        assert!(!h.is_healthy());
    }

    #[test]
    fn recovery_needs_the_healthy_threshold_in_a_row() {
        let c = cfg(1, 3);
        let mut h = HostHealth::passing();
        h.on_failure(&c, CheckFailure::Network);
        assert!(!h.is_healthy());
        assert_eq!(h.on_success(&c), HealthTransition::Pending);
        assert_eq!(h.on_success(&c), HealthTransition::Pending);
        assert_eq!(
            h.on_failure(&c, CheckFailure::Network),
            HealthTransition::Unchanged
        );
        assert_eq!(h.on_success(&c), HealthTransition::Pending);
        assert_eq!(h.on_success(&c), HealthTransition::Pending);
        assert_eq!(h.on_success(&c), HealthTransition::Changed);
        assert!(h.is_healthy());
    }

    #[test]
    fn a_new_host_is_unhealthy_until_its_first_check_and_then_healthy_at_once() {
        let c = cfg(3, 5);
        let mut h = HostHealth::added();
        assert!(!h.is_healthy());
        assert_eq!(h.on_success(&c), HealthTransition::Changed);
        assert!(h.is_healthy());
        // A new host whose first check fails needs the full threshold afterwards.
        let mut h = HostHealth::added();
        assert_eq!(
            h.on_failure(&c, CheckFailure::Network),
            HealthTransition::Unchanged
        );
        for _ in 0..4 {
            assert_eq!(h.on_success(&c), HealthTransition::Pending);
        }
        assert_eq!(h.on_success(&c), HealthTransition::Changed);
    }

    #[test]
    fn zero_thresholds_are_refused() {
        assert_eq!(
            cfg(0, 1).validate().unwrap_err().field,
            "unhealthy_threshold"
        );
        assert_eq!(cfg(1, 0).validate().unwrap_err().field, "healthy_threshold");
    }
}
