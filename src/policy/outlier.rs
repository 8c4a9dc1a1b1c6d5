//! Outlier detection: passive health checking from the responses themselves, with Envoy's
//! algorithm (`source/common/upstream/outlier_detection_impl.cc`; Istio's
//! `DestinationRule.trafficPolicy.outlierDetection` compiles to it).
//!
//! Why: a gray failure — one instance slow or failing while the others are fine — poisons
//! every balancer that does not look at results. Outlier detection watches each host's
//! answers and *ejects* a host that misbehaves (takes it out of balancing) for a while,
//! longer each time it is ejected again. `max_ejection_percent` caps how much of the fleet
//! can be ejected, so a problem that hits every host (an overloaded dependency) cannot
//! eject the whole cluster.
//!
//! Reproduced from the source, including where it differs from the docs:
//! - results: a success resets the host's consecutive counters; a 5xx increments
//!   `consecutive_5xx` and, for 502/503/504 (which is what timeouts and connection failures
//!   are mapped to when local and external errors are not split), also
//!   `consecutive_gateway_failure`. Reaching the threshold tries an ejection at once;
//! - an ejection is allowed when `100 × (ejected + 1) ÷ hosts ≤ max_ejection_percent`
//!   (with 4 hosts and the default 10 % nothing is ever ejected; `always_eject_one_host`
//!   lifts that for the first host), and enforced with probability `enforcing_*` %;
//! - the ejection lasts `min(base_ejection_time × k, max_ejection_time) + jitter`, where
//!   `k` is incremented at each ejection (while `k·base < max + base`) and decremented at
//!   each sweep once the host has been back for an `interval`; so repeated ejections last
//!   base, 2×base, 3×base… and a host that stays healthy earns its multiplier back;
//! - every `interval` a sweep un-ejects hosts whose time is up (so ejections end on the
//!   sweep after their time, not exactly), swaps each host's success-rate buckets, and runs
//!   the success-rate check (mean − stdev_factor/1000 × stdev over hosts with at least
//!   `success_rate_request_volume` requests, when at least `success_rate_minimum_hosts`
//!   qualify) and the failure-percentage check;
//! - an un-ejected host's consecutive counters start from zero; a host that leaves the
//!   cluster and comes back starts afresh.
//!
//! Sans-IO: the caller reports results, calls [`OutlierDetector::on_sweep`] at
//! [`OutlierDetector::next_sweep`], and reads [`OutlierDetector::is_ejected`].

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::time::{SimDuration, SimTime};

/// `outlier_detection = { consecutive_5xx = 5, interval = "10s", base_ejection_time = "30s",
/// max_ejection_percent = 10 }` on a client edge. Every field has Envoy's default.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutlierConfig {
    /// Consecutive 5xx (timeouts and connection failures included) before an ejection. 5.
    pub consecutive_5xx: u32,
    /// Period of the sweep. 10 s.
    pub interval: SimDuration,
    /// Ejection time per ejection of the host. 30 s.
    pub base_ejection_time: SimDuration,
    /// Cap on the ejection time. 300 s, or `base_ejection_time` if larger.
    pub max_ejection_time: Option<SimDuration>,
    /// Random extra ejection time, uniform in whole milliseconds up to this. 0.
    pub max_ejection_time_jitter: SimDuration,
    /// Most hosts ejected at once, percent of the cluster. 10.
    pub max_ejection_percent: u32,
    /// Eject one host even when that exceeds `max_ejection_percent`. false.
    pub always_eject_one_host: bool,
    /// Chance (%) that a consecutive-5xx outlier is ejected. 100.
    pub enforcing_consecutive_5xx: u32,
    /// Consecutive gateway failures (502/503/504) before an ejection. 5.
    pub consecutive_gateway_failure: u32,
    /// Chance (%) that a gateway-failure outlier is ejected. 0 (detected, not enforced).
    pub enforcing_consecutive_gateway_failure: u32,
    /// Chance (%) that a success-rate outlier is ejected. 100.
    pub enforcing_success_rate: u32,
    /// Hosts with enough volume needed for the success-rate check. 5.
    pub success_rate_minimum_hosts: u32,
    /// Requests per interval a host needs to count in the success-rate check. 100.
    pub success_rate_request_volume: u32,
    /// Thousandths of a standard deviation below the mean that make an outlier. 1900.
    pub success_rate_stdev_factor: u32,
    /// Failure percentage at or above which a host is ejected. 85.
    pub failure_percentage_threshold: u32,
    /// Chance (%) that a failure-percentage outlier is ejected. 0 (off).
    pub enforcing_failure_percentage: u32,
    /// Hosts with enough volume needed for the failure-percentage check. 5.
    pub failure_percentage_minimum_hosts: u32,
    /// Requests per interval a host needs for the failure-percentage check. 50.
    pub failure_percentage_request_volume: u32,
    /// A passing active health check un-ejects the host. true.
    pub successful_active_health_check_uneject_host: bool,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_5xx: 5,
            interval: SimDuration::from_secs(10),
            base_ejection_time: SimDuration::from_secs(30),
            max_ejection_time: None,
            max_ejection_time_jitter: SimDuration::ZERO,
            max_ejection_percent: 10,
            always_eject_one_host: false,
            enforcing_consecutive_5xx: 100,
            consecutive_gateway_failure: 5,
            enforcing_consecutive_gateway_failure: 0,
            enforcing_success_rate: 100,
            success_rate_minimum_hosts: 5,
            success_rate_request_volume: 100,
            success_rate_stdev_factor: 1900,
            failure_percentage_threshold: 85,
            enforcing_failure_percentage: 0,
            failure_percentage_minimum_hosts: 5,
            failure_percentage_request_volume: 50,
            successful_active_health_check_uneject_host: true,
        }
    }
}

impl OutlierConfig {
    /// The effective cap on the ejection time.
    pub fn max_ejection(&self) -> SimDuration {
        self.max_ejection_time
            .unwrap_or(SimDuration::from_secs(300).max(self.base_ejection_time))
    }

    /// Checks the values as Envoy does.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.interval.is_zero() {
            return Err(ConfigError::new("interval", "must be above zero"));
        }
        if self.base_ejection_time.is_zero() {
            return Err(ConfigError::new("base_ejection_time", "must be above zero"));
        }
        if self.max_ejection() < self.base_ejection_time {
            return Err(ConfigError::new(
                "max_ejection_time",
                "cannot be smaller than base_ejection_time",
            ));
        }
        for (field, v) in [
            ("consecutive_5xx", self.consecutive_5xx),
            (
                "consecutive_gateway_failure",
                self.consecutive_gateway_failure,
            ),
        ] {
            if v == 0 {
                return Err(ConfigError::new(field, "must be at least 1"));
            }
        }
        for (field, v) in [
            ("max_ejection_percent", self.max_ejection_percent),
            ("enforcing_consecutive_5xx", self.enforcing_consecutive_5xx),
            (
                "enforcing_consecutive_gateway_failure",
                self.enforcing_consecutive_gateway_failure,
            ),
            ("enforcing_success_rate", self.enforcing_success_rate),
            (
                "failure_percentage_threshold",
                self.failure_percentage_threshold,
            ),
            (
                "enforcing_failure_percentage",
                self.enforcing_failure_percentage,
            ),
        ] {
            if v > 100 {
                return Err(ConfigError::new(
                    field,
                    format!("{v} is above 100 (percent)"),
                ));
            }
        }
        Ok(())
    }
}

/// What a host answered, as the detector classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostResult {
    /// A non-5xx answer.
    Success,
    /// A 500-class error that is not a gateway error.
    Error5xx,
    /// 502/503/504: an overload rejection, a timeout or a connection failure.
    GatewayError,
}

/// Why a host was ejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EjectionKind {
    /// Consecutive 5xx.
    Consecutive5xx,
    /// Consecutive gateway failures.
    ConsecutiveGatewayFailure,
    /// Success rate below the cluster's mean by the stdev factor.
    SuccessRate,
    /// Failure percentage at or above the threshold.
    FailurePercentage,
}

#[derive(Clone, Copy, Debug, Default)]
struct Monitor {
    present: bool,
    ejected: bool,
    backoff: u32,
    ejected_at: SimTime,
    unejected_at: Option<SimTime>,
    jitter: SimDuration,
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    /// (success, total) of the interval being written, and of the last one.
    current: (u64, u64),
    last: (u64, u64),
}

/// Counts of what a sweep or a result changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Hosts ejected.
    pub ejected: u32,
    /// Hosts returned to service.
    pub unejected: u32,
}

impl Changes {
    /// True if any host changed.
    pub fn any(&self) -> bool {
        self.ejected + self.unejected > 0
    }
}

/// The outlier detector of one cluster (one client edge), hosts by index.
#[derive(Clone, Debug)]
pub struct OutlierDetector {
    cfg: OutlierConfig,
    hosts: Vec<Monitor>,
    present: u32,
    ejected: u32,
    next_sweep: SimTime,
    ejections: u64,
}

impl OutlierDetector {
    /// A detector with no hosts; its first sweep is one `interval` after `now`.
    pub fn new(cfg: OutlierConfig, now: SimTime) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(OutlierDetector {
            cfg,
            hosts: Vec::new(),
            present: 0,
            ejected: 0,
            next_sweep: now + cfg.interval,
            ejections: 0,
        })
    }

    /// The config.
    pub fn config(&self) -> &OutlierConfig {
        &self.cfg
    }

    /// A host joins the cluster (or rejoins it: it starts afresh).
    pub fn add_host(&mut self, h: usize) {
        if self.hosts.len() <= h {
            self.hosts.resize(h + 1, Monitor::default());
        }
        self.remove_host(h);
        self.hosts[h] = Monitor {
            present: true,
            ..Monitor::default()
        };
        self.present += 1;
    }

    /// A host leaves the cluster.
    pub fn remove_host(&mut self, h: usize) {
        if let Some(m) = self.hosts.get_mut(h)
            && m.present
        {
            if m.ejected {
                self.ejected -= 1;
            }
            *m = Monitor::default();
            self.present -= 1;
        }
    }

    /// Whether host `h` is ejected now.
    pub fn is_ejected(&self, h: usize) -> bool {
        self.hosts.get(h).is_some_and(|m| m.ejected)
    }

    /// Hosts ejected now.
    pub fn ejected_count(&self) -> u32 {
        self.ejected
    }

    /// Ejections enforced since the start.
    pub fn ejections(&self) -> u64 {
        self.ejections
    }

    /// When [`Self::on_sweep`] is due.
    pub fn next_sweep(&self) -> SimTime {
        self.next_sweep
    }

    /// The ejection multiplier of host `h` (for tests and reports).
    pub fn multiplier(&self, h: usize) -> u32 {
        self.hosts.get(h).map_or(0, |m| m.backoff)
    }

    /// Records one answer of host `h`; may eject it at once (consecutive errors).
    pub fn on_result<R: Rng + ?Sized>(
        &mut self,
        now: SimTime,
        h: usize,
        result: HostResult,
        rng: &mut R,
    ) -> Changes {
        let cfg = self.cfg;
        let Some(m) = self.hosts.get_mut(h).filter(|m| m.present) else {
            return Changes::default();
        };
        m.current.1 += 1;
        // Envoy posts the gateway-failure event before the 5xx one; each tries an ejection
        // (the second finds the host already ejected if the first succeeded).
        let mut fired = [None, None];
        if result == HostResult::Success {
            m.current.0 += 1;
            m.consecutive_5xx = 0;
            m.consecutive_gateway = 0;
        } else {
            if result == HostResult::GatewayError {
                m.consecutive_gateway += 1;
                if m.consecutive_gateway == cfg.consecutive_gateway_failure {
                    fired[0] = Some(EjectionKind::ConsecutiveGatewayFailure);
                }
            } else {
                m.consecutive_gateway = 0;
            }
            m.consecutive_5xx += 1;
            if m.consecutive_5xx == cfg.consecutive_5xx {
                fired[1] = Some(EjectionKind::Consecutive5xx);
            }
        }
        let mut changes = Changes::default();
        for kind in fired.into_iter().flatten() {
            changes.ejected += self.consecutive_error(now, h, kind, rng).ejected;
        }
        changes
    }

    /// `onConsecutiveErrorWorker`: try to eject, then reset the counter that fired.
    fn consecutive_error<R: Rng + ?Sized>(
        &mut self,
        now: SimTime,
        h: usize,
        kind: EjectionKind,
        rng: &mut R,
    ) -> Changes {
        if self.hosts[h].ejected {
            return Changes::default();
        }
        let c = self.try_eject(now, h, kind, rng);
        let m = &mut self.hosts[h];
        match kind {
            EjectionKind::Consecutive5xx => m.consecutive_5xx = 0,
            EjectionKind::ConsecutiveGatewayFailure => m.consecutive_gateway = 0,
            _ => {}
        }
        c
    }

    /// `ejectHost`: the max-ejection cap, the enforcement draw, the ejection time.
    fn try_eject<R: Rng + ?Sized>(
        &mut self,
        now: SimTime,
        h: usize,
        kind: EjectionKind,
        rng: &mut R,
    ) -> Changes {
        let cfg = self.cfg;
        let max_percent = cfg.max_ejection_percent.min(100) as f64;
        let ejected_percent = 100.0 * (self.ejected + 1) as f64 / self.present.max(1) as f64;
        let mut allowed = ejected_percent <= max_percent;
        if cfg.always_eject_one_host {
            allowed |= self.ejected == 0;
        }
        if !allowed {
            return Changes::default();
        }
        let enforcing = match kind {
            EjectionKind::Consecutive5xx => cfg.enforcing_consecutive_5xx,
            EjectionKind::ConsecutiveGatewayFailure => cfg.enforcing_consecutive_gateway_failure,
            EjectionKind::SuccessRate => cfg.enforcing_success_rate,
            EjectionKind::FailurePercentage => cfg.enforcing_failure_percentage,
        };
        // Envoy's runtime `featureEnabled(key, percent)`: random % 100 < percent.
        if rng.random::<u64>() % 100 >= enforcing as u64 {
            return Changes::default();
        }
        let jitter_ms = cfg.max_ejection_time_jitter.as_nanos() / 1_000_000;
        let jitter = SimDuration::from_millis(rng.random::<u64>() % (jitter_ms + 1));
        let base = cfg.base_ejection_time;
        let max = cfg.max_ejection();
        let m = &mut self.hosts[h];
        m.ejected = true;
        m.ejected_at = now;
        m.jitter = jitter;
        if base.as_nanos().saturating_mul(m.backoff as u64) < (max + base).as_nanos() {
            m.backoff += 1;
        }
        self.ejected += 1;
        self.ejections += 1;
        Changes {
            ejected: 1,
            unejected: 0,
        }
    }

    fn uneject(&mut self, now: SimTime, h: usize) {
        let m = &mut self.hosts[h];
        m.ejected = false;
        m.unejected_at = Some(now);
        m.consecutive_5xx = 0;
        m.consecutive_gateway = 0;
        self.ejected -= 1;
    }

    /// How long host `h`'s current ejection lasts.
    pub fn ejection_time(&self, h: usize) -> SimDuration {
        let m = &self.hosts[h];
        let base = self.cfg.base_ejection_time;
        SimDuration::from_nanos(base.as_nanos().saturating_mul(m.backoff as u64))
            .min(self.cfg.max_ejection())
            + m.jitter
    }

    /// An active health check of host `h` passed: with
    /// `successful_active_health_check_uneject_host`, an ejected host returns at once.
    pub fn on_health_check_success(&mut self, now: SimTime, h: usize) -> Changes {
        if self.cfg.successful_active_health_check_uneject_host && self.is_ejected(h) {
            self.uneject(now, h);
            return Changes {
                ejected: 0,
                unejected: 1,
            };
        }
        Changes::default()
    }

    /// The periodic sweep (`onIntervalTimer`); schedules the next one an interval later.
    pub fn on_sweep<R: Rng + ?Sized>(&mut self, now: SimTime, rng: &mut R) -> Changes {
        let mut changes = Changes::default();
        for h in 0..self.hosts.len() {
            if !self.hosts[h].present {
                continue;
            }
            if self.hosts[h].ejected && now - self.hosts[h].ejected_at >= self.ejection_time(h) {
                self.uneject(now, h);
                changes.unejected += 1;
            }
            let m = &mut self.hosts[h];
            m.last = m.current;
            m.current = (0, 0);
        }
        let c = self.success_rate_ejections(now, rng);
        changes.ejected += c.ejected;
        let interval = self.cfg.interval;
        for m in self.hosts.iter_mut().filter(|m| m.present && !m.ejected) {
            if m.unejected_at.is_some_and(|u| now - u >= interval) && m.backoff > 0 {
                m.backoff -= 1;
            }
        }
        self.next_sweep = now + interval;
        changes
    }

    /// `processSuccessRateEjections` for the (non-split) external-origin monitor. Runs
    /// once per interval over a handful of hosts, so collecting the candidates is cheap.
    fn success_rate_ejections<R: Rng + ?Sized>(&mut self, now: SimTime, rng: &mut R) -> Changes {
        let cfg = self.cfg;
        let mut changes = Changes::default();
        if self.present < cfg.success_rate_minimum_hosts
            && self.present < cfg.failure_percentage_minimum_hosts
        {
            return changes;
        }
        // Success rates of the interval that just ended, of hosts not ejected; the candidate
        // lists are fixed before any ejection of this sweep, as in Envoy.
        let volume = |i: usize| self.hosts[i].last.1;
        let candidates: Vec<(usize, f64)> = (0..self.hosts.len())
            .filter(|&i| self.hosts[i].present && !self.hosts[i].ejected && volume(i) > 0)
            .map(|i| {
                let (ok, total) = self.hosts[i].last;
                (i, ok as f64 * 100.0 / total as f64)
            })
            .collect();
        let sr: Vec<(usize, f64)> = candidates
            .iter()
            .copied()
            .filter(|&(i, _)| volume(i) >= cfg.success_rate_request_volume as u64)
            .collect();
        let fp: Vec<(usize, f64)> = candidates
            .iter()
            .copied()
            .filter(|&(i, _)| volume(i) >= cfg.failure_percentage_request_volume as u64)
            .collect();
        if !sr.is_empty() && sr.len() >= cfg.success_rate_minimum_hosts as usize {
            let n = sr.len() as f64;
            let mean = sr.iter().map(|x| x.1).sum::<f64>() / n;
            let variance = sr.iter().map(|x| (x.1 - mean).powi(2)).sum::<f64>() / n;
            let threshold =
                mean - (cfg.success_rate_stdev_factor as f64 / 1000.0) * variance.sqrt();
            for &(i, rate) in &sr {
                if rate < threshold && !self.hosts[i].ejected {
                    changes.ejected += self
                        .try_eject(now, i, EjectionKind::SuccessRate, rng)
                        .ejected;
                }
            }
        }
        if !fp.is_empty() && fp.len() >= cfg.failure_percentage_minimum_hosts as usize {
            let threshold = cfg.failure_percentage_threshold as f64;
            for &(i, rate) in &fp {
                if 100.0 - rate >= threshold && !self.hosts[i].ejected {
                    changes.ejected += self
                        .try_eject(now, i, EjectionKind::FailurePercentage, rng)
                        .ejected;
                }
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(3)
    }

    fn detector(hosts: usize, cfg: OutlierConfig) -> OutlierDetector {
        let mut d = OutlierDetector::new(cfg, SimTime::ZERO).unwrap();
        for h in 0..hosts {
            d.add_host(h);
        }
        d
    }

    fn fail(d: &mut OutlierDetector, now: SimTime, h: usize, n: u32, r: &mut ChaCha8Rng) -> u32 {
        (0..n)
            .map(|_| d.on_result(now, h, HostResult::GatewayError, r).ejected)
            .sum()
    }

    /// Sweeps at every interval up to `until` (inclusive), returning the times `h` came back.
    fn sweep_until(
        d: &mut OutlierDetector,
        until: SimTime,
        h: usize,
        r: &mut ChaCha8Rng,
    ) -> Vec<SimTime> {
        let mut back = Vec::new();
        while d.next_sweep() <= until {
            let t = d.next_sweep();
            let was = d.is_ejected(h);
            d.on_sweep(t, r);
            if was && !d.is_ejected(h) {
                back.push(t);
            }
        }
        back
    }

    mod consecutive {
        use super::*;

        #[test]
        fn the_fifth_consecutive_5xx_ejects_and_a_success_resets_the_count() {
            let mut r = rng();
            let mut d = detector(10, OutlierConfig::default());
            assert_eq!(fail(&mut d, t_ms(1), 0, 4, &mut r), 0);
            d.on_result(t_ms(2), 0, HostResult::Success, &mut r);
            assert_eq!(fail(&mut d, t_ms(3), 0, 4, &mut r), 0);
            assert!(!d.is_ejected(0));
            assert_eq!(fail(&mut d, t_ms(4), 0, 1, &mut r), 1);
            assert!(d.is_ejected(0));
            assert_eq!(d.ejections(), 1);
        }

        #[test]
        fn gateway_failures_are_detected_but_not_enforced_by_default() {
            let cfg = OutlierConfig {
                consecutive_5xx: 100,
                ..OutlierConfig::default()
            };
            let mut r = rng();
            let mut d = detector(10, cfg);
            assert_eq!(fail(&mut d, t_ms(1), 0, 20, &mut r), 0);
            let cfg = OutlierConfig {
                consecutive_5xx: 100,
                enforcing_consecutive_gateway_failure: 100,
                ..OutlierConfig::default()
            };
            let mut d = detector(10, cfg);
            assert_eq!(fail(&mut d, t_ms(1), 0, 5, &mut r), 1);
        }
    }

    mod ejection_time {
        use super::*;

        #[test]
        fn is_base_times_the_number_of_ejections_ending_at_the_next_sweep() {
            // interval 10 s, base 30 s: ejected at 1 s, back at the first sweep ≥ 31 s (40 s).
            let mut r = rng();
            let mut d = detector(10, OutlierConfig::default());
            fail(&mut d, t_s(1), 0, 5, &mut r);
            assert_eq!(d.ejection_time(0), secs(30));
            assert_eq!(sweep_until(&mut d, t_s(40), 0, &mut r), vec![t_s(40)]);
            // Fails again right away (before a sweep could decay the multiplier): 2 × base.
            fail(&mut d, t_s(41), 0, 5, &mut r);
            assert_eq!(d.multiplier(0), 2);
            assert_eq!(d.ejection_time(0), secs(60));
            assert_eq!(sweep_until(&mut d, t_s(110), 0, &mut r), vec![t_s(110)]);
            fail(&mut d, t_s(111), 0, 5, &mut r);
            assert_eq!(d.ejection_time(0), secs(90));
        }

        #[test]
        fn the_multiplier_decays_one_step_per_healthy_interval() {
            let mut r = rng();
            let mut d = detector(10, OutlierConfig::default());
            fail(&mut d, t_s(1), 0, 5, &mut r);
            sweep_until(&mut d, t_s(40), 0, &mut r);
            fail(&mut d, t_s(41), 0, 5, &mut r);
            sweep_until(&mut d, t_s(110), 0, &mut r); // back at 110 with k = 2
            assert_eq!(d.multiplier(0), 2);
            sweep_until(&mut d, t_s(120), 0, &mut r);
            assert_eq!(d.multiplier(0), 1);
            sweep_until(&mut d, t_s(130), 0, &mut r);
            assert_eq!(d.multiplier(0), 0);
            fail(&mut d, t_s(131), 0, 5, &mut r);
            assert_eq!(d.ejection_time(0), secs(30));
        }

        #[test]
        fn is_capped_at_max_ejection_time() {
            let cfg = OutlierConfig {
                base_ejection_time: secs(100),
                max_ejection_time: Some(secs(150)),
                interval: secs(1),
                ..OutlierConfig::default()
            };
            let mut r = rng();
            let mut d = detector(10, cfg);
            let mut t = 1;
            for expected in [100, 150, 150, 150] {
                fail(&mut d, t_s(t), 0, 5, &mut r);
                assert_eq!(d.ejection_time(0), secs(expected));
                let back = sweep_until(&mut d, t_s(t + expected), 0, &mut r);
                assert_eq!(back, vec![t_s(t + expected)]);
                t += expected;
            }
            // k stops growing once k·base ≥ max + base.
            assert_eq!(d.multiplier(0), 3);
        }

        #[test]
        fn jitter_is_drawn_in_whole_milliseconds_up_to_the_maximum() {
            let cfg = OutlierConfig {
                max_ejection_time_jitter: ms(500),
                ..OutlierConfig::default()
            };
            let mut r = rng();
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..50 {
                let mut d = detector(10, cfg);
                fail(&mut d, t_s(1), 0, 5, &mut r);
                let extra = d.ejection_time(0) - secs(30);
                assert!(extra <= ms(500) && extra.as_nanos().is_multiple_of(1_000_000));
                seen.insert(extra);
            }
            assert!(seen.len() > 10);
        }
    }

    mod max_ejection_percent {
        use super::*;

        #[test]
        fn ten_percent_of_ten_hosts_is_one_host() {
            let mut r = rng();
            let mut d = detector(10, OutlierConfig::default());
            assert_eq!(fail(&mut d, t_ms(1), 0, 5, &mut r), 1);
            assert_eq!(
                fail(&mut d, t_ms(2), 1, 5, &mut r),
                0,
                "a second would be 20 %"
            );
            assert_eq!(d.ejected_count(), 1);
        }

        #[test]
        fn ten_percent_of_four_hosts_ejects_nothing_unless_one_is_always_allowed() {
            let mut r = rng();
            let mut d = detector(4, OutlierConfig::default());
            assert_eq!(fail(&mut d, t_ms(1), 0, 5, &mut r), 0, "25 % > 10 %");
            let cfg = OutlierConfig {
                always_eject_one_host: true,
                ..OutlierConfig::default()
            };
            let mut d = detector(4, cfg);
            assert_eq!(fail(&mut d, t_ms(1), 0, 5, &mut r), 1);
            assert_eq!(fail(&mut d, t_ms(1), 1, 5, &mut r), 0);
        }

        #[test]
        fn fifty_percent_allows_half_and_a_hundred_allows_all() {
            let mut r = rng();
            for (pct, expected) in [(50, 5), (100, 10)] {
                let cfg = OutlierConfig {
                    max_ejection_percent: pct,
                    ..OutlierConfig::default()
                };
                let mut d = detector(10, cfg);
                let n: u32 = (0..10).map(|h| fail(&mut d, t_ms(1), h, 5, &mut r)).sum();
                assert_eq!(n, expected, "{pct} %");
            }
        }
    }

    mod sweep {
        use super::*;

        fn feed(d: &mut OutlierDetector, h: usize, ok: u32, bad: u32, r: &mut ChaCha8Rng) {
            for i in 0..ok + bad {
                // Errors interleaved with successes, so consecutive counters never fire.
                let res = if i < bad * 2 && i % 2 == 1 {
                    HostResult::Error5xx
                } else {
                    HostResult::Success
                };
                d.on_result(t_s(1), h, res, r);
            }
        }

        #[test]
        fn success_rate_ejects_the_host_far_below_the_mean() {
            let mut r = rng();
            let mut d = detector(10, OutlierConfig::default());
            for h in 1..10 {
                feed(&mut d, h, 200, 0, &mut r);
            }
            feed(&mut d, 0, 150, 50, &mut r); // 75 % vs ~100 %
            assert!(!d.is_ejected(0));
            let c = d.on_sweep(t_s(10), &mut r);
            assert_eq!(c.ejected, 1);
            assert!(d.is_ejected(0));
        }

        #[test]
        fn success_rate_needs_volume_and_enough_hosts() {
            let mut r = rng();
            let mut d = detector(4, OutlierConfig::default());
            for h in 1..4 {
                feed(&mut d, h, 200, 0, &mut r);
            }
            feed(&mut d, 0, 100, 100, &mut r);
            assert_eq!(d.on_sweep(t_s(10), &mut r).ejected, 0, "only 4 hosts");
            let mut d = detector(10, OutlierConfig::default());
            for h in 1..10 {
                feed(&mut d, h, 50, 0, &mut r);
            }
            feed(&mut d, 0, 25, 25, &mut r);
            assert_eq!(d.on_sweep(t_s(10), &mut r).ejected, 0, "50 < 100 requests");
        }

        #[test]
        fn a_passing_health_check_unejects_and_counters_restart_from_zero() {
            let mut r = rng();
            let mut d = detector(10, OutlierConfig::default());
            fail(&mut d, t_s(1), 0, 4, &mut r);
            d.on_result(t_s(1), 0, HostResult::Success, &mut r);
            fail(&mut d, t_s(1), 0, 5, &mut r);
            assert!(d.is_ejected(0));
            assert_eq!(d.on_health_check_success(t_s(2), 0).unejected, 1);
            assert!(!d.is_ejected(0));
            assert_eq!(fail(&mut d, t_s(3), 0, 4, &mut r), 0);
            assert_eq!(fail(&mut d, t_s(3), 0, 1, &mut r), 1);
        }

        #[test]
        fn a_host_that_leaves_and_returns_starts_afresh() {
            let mut r = rng();
            let mut d = detector(10, OutlierConfig::default());
            fail(&mut d, t_s(1), 0, 5, &mut r);
            d.remove_host(0);
            assert_eq!(d.ejected_count(), 0);
            d.add_host(0);
            assert!(!d.is_ejected(0));
            assert_eq!(d.multiplier(0), 0);
        }
    }

    #[test]
    fn percentages_above_100_are_refused() {
        let cfg = OutlierConfig {
            max_ejection_percent: 101,
            ..OutlierConfig::default()
        };
        assert_eq!(cfg.validate().unwrap_err().field, "max_ejection_percent");
    }
}
