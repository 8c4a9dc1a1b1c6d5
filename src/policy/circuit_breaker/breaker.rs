//! The [`CircuitBreaker`] state machine: Closed → Open → HalfOpen → Closed/Open, driven by
//! the outcomes the caller reports and by `now`, never by a clock of its own.
//!
//! Invariants: Closed never goes to HalfOpen directly (only Open does); in one half-open
//! episode at most `half_open_calls` probes are admitted, plus one per probe slot returned
//! by an ignored outcome; every state change is logged as a [`Transition`] with the
//! instant it happened (a timer's deadline, not the time the driver got round to it).

use super::CircuitBreakerConfig;
use super::config::{AfterMaxWait, Class, HystrixRules, Kind, PollyRules, RateRules, Settings};
use super::health::{HealthBuckets, RollingHealth};
use super::window::{CountWindow, Tally, TimeWindow, Verdict};
use crate::policy::{ConfigError, Outcome, RejectReason};
use crate::time::{SimDuration, SimTime};

/// The answer to [`CircuitBreaker::try_acquire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Send the call; report its outcome with one of the `on_*` methods.
    Admitted,
    /// Do not send the call; nothing needs reporting (always `CircuitOpen` here).
    Rejected(RejectReason),
}

/// The three states of a breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BreakerState {
    /// Calls flow; outcomes are counted.
    Closed,
    /// Calls are rejected until the open wait has passed.
    Open,
    /// A few probe calls test whether the callee has recovered.
    HalfOpen,
    /// Manually disabled: every call admitted, nothing counted (Resilience4j `DISABLED`,
    /// Hystrix `forceClosed`). Left only by [`CircuitBreaker::reset`].
    Disabled,
    /// Manually forced open: every call rejected (Resilience4j `FORCED_OPEN`, Hystrix
    /// `forceOpen`, Polly `Isolate`). Left only by [`CircuitBreaker::reset`].
    ForcedOpen,
}

impl BreakerState {
    /// The snake_case name used in CSV columns and charts.
    pub const fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Disabled => "disabled",
            BreakerState::ForcedOpen => "forced_open",
        }
    }
}

impl std::fmt::Display for BreakerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One state change, at the virtual instant it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// When: the call's `now`, or a timer's deadline (a health snapshot, the end of the open
    /// wait with `automatic_transition`, the end of `max_wait_half_open`).
    pub at: SimTime,
    /// The state left.
    pub from: BreakerState,
    /// The state entered.
    pub to: BreakerState,
}

/// Running totals for metrics. Never reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BreakerCounters {
    /// Calls refused (`numberOfNotPermittedCalls`).
    pub not_permitted: u64,
    /// State changes so far.
    pub transitions: u64,
    /// Outcomes that counted as successes (any state).
    pub successes: u64,
    /// Outcomes that counted as failures (any state).
    pub failures: u64,
    /// Successes and failures that were slow (Resilience4j rate windows only).
    pub slow_calls: u64,
    /// Outcomes that were ignored.
    pub ignored: u64,
    /// Transitions overwritten because the driver did not drain the log in time.
    pub transitions_dropped: u64,
}

/// Transitions kept until drained; a breaker makes at most two per call in practice.
const LOG_CAPACITY: usize = 8;

#[derive(Clone, Debug)]
struct TransitionLog {
    buf: [Transition; LOG_CAPACITY],
    start: usize,
    len: usize,
}

impl TransitionLog {
    fn new() -> Self {
        let blank = Transition {
            at: SimTime::ZERO,
            from: BreakerState::Closed,
            to: BreakerState::Closed,
        };
        TransitionLog {
            buf: [blank; LOG_CAPACITY],
            start: 0,
            len: 0,
        }
    }
    /// Appends; returns true if the oldest entry had to be overwritten.
    fn push(&mut self, t: Transition) -> bool {
        let full = self.len == LOG_CAPACITY;
        if full {
            self.start = (self.start + 1) % LOG_CAPACITY;
            self.len -= 1;
        }
        self.buf[(self.start + self.len) % LOG_CAPACITY] = t;
        self.len += 1;
        full
    }
    fn pop(&mut self) -> Option<Transition> {
        (self.len > 0).then(|| {
            let t = self.buf[self.start];
            self.start = (self.start + 1) % LOG_CAPACITY;
            self.len -= 1;
            t
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Closed,
    /// `until`: end of the wait (what a timer targets); `gate`: first instant a call is
    /// admitted (`until + 1ns` for Resilience4j's strict `isAfter`, `until` for Polly's
    /// `>=`, the next whole millisecond for Hystrix's `currentTimeMillis() >`).
    Open {
        until: SimTime,
        gate: SimTime,
    },
    HalfOpen {
        since: SimTime,
        permits: u32,
    },
    Disabled,
    ForcedOpen,
}

#[derive(Clone, Debug)]
enum ClosedMetrics {
    Consecutive {
        threshold: u32,
        run: u32,
    },
    Count {
        window: CountWindow,
        rules: RateRules,
        minimum: u32,
    },
    Time {
        window: TimeWindow,
        rules: RateRules,
    },
    Hystrix {
        health: HealthBuckets,
        rules: HystrixRules,
    },
    Polly {
        health: RollingHealth,
        rules: PollyRules,
    },
}

#[derive(Clone, Debug)]
enum Probes {
    /// Resilience4j rate windows: a fresh COUNT_BASED window of `half_open_calls`.
    Rate {
        window: CountWindow,
        rules: RateRules,
        minimum: u32,
    },
    /// Consecutive, Hystrix, Polly: one failure reopens, `needed` successes close.
    Successes { needed: u32, seen: u32 },
}

/// A circuit breaker: Resilience4j semantics (consecutive, count or time window), or the
/// Hystrix and Polly presets. Sans-IO: the driver asks before each call, reports each
/// admitted call's outcome, and wakes the breaker at [`next_wakeup`](Self::next_wakeup).
///
/// ```
/// use cascade::policy::circuit_breaker::{Admission, BreakerState, CircuitBreaker, CircuitBreakerConfig};
/// use cascade::policy::RejectReason;
/// use cascade::time::short::{ms, t_ms};
///
/// let config: CircuitBreakerConfig =
///     toml::from_str("consecutive = { failures = 3 }\nwait_open = \"500ms\"\nhalf_open_calls = 1").unwrap();
/// let mut cb = CircuitBreaker::new(config).unwrap();
/// for _ in 0..3 {
///     assert_eq!(cb.try_acquire(t_ms(0)), Admission::Admitted);
///     cb.on_failure(t_ms(0), ms(10));
/// }
/// assert_eq!(cb.state(), BreakerState::Open);
/// assert_eq!(cb.try_acquire(t_ms(500)), Admission::Rejected(RejectReason::CircuitOpen));
/// assert_eq!(cb.try_acquire(t_ms(501)), Admission::Admitted); // the one probe
/// cb.on_success(t_ms(520), ms(19));
/// assert_eq!(cb.state(), BreakerState::Closed);
/// let changes: Vec<_> = cb.drain_transitions().map(|t| (t.at, t.to)).collect();
/// assert_eq!(changes.len(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    settings: Settings,
    phase: Phase,
    /// Resilience4j's `attempts`: 0 when closed, +1 on every opening by the thresholds.
    attempts: u32,
    closed: ClosedMetrics,
    probes: Probes,
    counters: BreakerCounters,
    log: TransitionLog,
}

fn millis(ms: u64) -> SimDuration {
    SimDuration::from_millis(ms)
}

impl CircuitBreaker {
    /// Validates `config` and builds a closed breaker (all windows allocated here).
    pub fn new(config: CircuitBreakerConfig) -> Result<Self, ConfigError> {
        let settings = config.validate()?;
        let half = settings.half_open_calls;
        let (closed, probes) = match settings.kind {
            Kind::Consecutive { failures } => (
                ClosedMetrics::Consecutive {
                    threshold: failures,
                    run: 0,
                },
                Probes::Successes {
                    needed: half,
                    seen: 0,
                },
            ),
            Kind::Count { size, rules } => (
                ClosedMetrics::Count {
                    window: CountWindow::new(size),
                    rules,
                    minimum: rules.minimum_calls.min(size),
                },
                rate_probes(rules, half),
            ),
            Kind::Time { secs, rules } => (
                ClosedMetrics::Time {
                    window: TimeWindow::new(secs),
                    rules,
                },
                rate_probes(rules, half),
            ),
            Kind::Hystrix(rules) => (
                ClosedMetrics::Hystrix {
                    health: HealthBuckets::new(&rules),
                    rules,
                },
                Probes::Successes { needed: 1, seen: 0 },
            ),
            Kind::Polly(rules) => (
                ClosedMetrics::Polly {
                    health: RollingHealth::new(&rules),
                    rules,
                },
                Probes::Successes { needed: 1, seen: 0 },
            ),
        };
        Ok(CircuitBreaker {
            settings,
            phase: Phase::Closed,
            attempts: 0,
            closed,
            probes,
            counters: BreakerCounters::default(),
            log: TransitionLog::new(),
        })
    }

    /// Ask to send one call at `now`. Open→HalfOpen happens lazily here once the wait has
    /// passed, and this call becomes a probe. A rejection is counted in
    /// [`BreakerCounters::not_permitted`] and needs no outcome report.
    pub fn try_acquire(&mut self, now: SimTime) -> Admission {
        self.advance(now);
        match self.phase {
            Phase::Closed => Admission::Admitted,
            Phase::Open { gate, .. } if now >= gate => {
                self.enter_half_open(now);
                self.take_permit()
            }
            Phase::Open { .. } => self.reject(),
            Phase::HalfOpen { .. } => self.take_permit(),
            Phase::Disabled => Admission::Admitted,
            Phase::ForcedOpen => self.reject(),
        }
    }

    /// An admitted call succeeded, having taken `took` (counts toward the slow-call rate).
    pub fn on_success(&mut self, now: SimTime, took: SimDuration) {
        self.record(now, Class::Success, took);
    }

    /// An admitted call failed (a recorded failure), having taken `took`.
    pub fn on_failure(&mut self, now: SimTime, took: SimDuration) {
        self.record(now, Class::Failure, took);
    }

    /// An admitted call ended in an ignored outcome: nothing is recorded, and a half-open
    /// probe slot is given back (Resilience4j `releasePermission`). In the Hystrix preset
    /// an ignored outcome is a BAD_REQUEST: not counted, but a trial ending so reopens.
    pub fn on_ignored(&mut self, now: SimTime) {
        self.record(now, Class::Ignored, SimDuration::ZERO);
    }

    /// Classifies `outcome` per `record_on`/`ignore` and reports it. An outcome in neither
    /// list — a client error, by default — counts as a success (Resilience4j: an exception
    /// neither recorded nor ignored is a success; the callee answered correctly).
    /// `Rejected(_)` of any reason follows the `rejected` entry; never report this
    /// breaker's own rejections.
    pub fn on_outcome(&mut self, now: SimTime, outcome: Outcome, took: SimDuration) {
        let class = match outcome {
            Outcome::Success => Class::Success,
            Outcome::Timeout => self.settings.classes[0],
            Outcome::ServerError => self.settings.classes[1],
            Outcome::ClientError => self.settings.classes[2],
            Outcome::Rejected(_) => self.settings.classes[3],
            Outcome::Throttled => self.settings.classes[4],
        };
        self.record(now, class, took);
    }

    /// The current state. Lazy like Resilience4j: an open breaker whose wait has passed
    /// still reads Open until a call (or, with `automatic_transition`, a wakeup) moves it.
    pub fn state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
            Phase::Disabled => BreakerState::Disabled,
            Phase::ForcedOpen => BreakerState::ForcedOpen,
        }
    }

    /// When the breaker next wants [`on_wakeup`](Self::on_wakeup): the end of the open wait
    /// (with `automatic_transition`), the `max_wait_half_open` deadline, or the next Hystrix
    /// health snapshot that could trip. Re-read it after every call; `None` = not needed.
    pub fn next_wakeup(&self) -> Option<SimTime> {
        match self.phase {
            Phase::Closed => match &self.closed {
                ClosedMetrics::Hystrix { health, rules } => (health.pending()
                    >= rules.request_volume.max(1))
                .then(|| health.next_snapshot()),
                _ => None,
            },
            Phase::Open { until, .. } => self.settings.automatic_transition.then_some(until),
            Phase::HalfOpen { since, .. } => self.half_open_deadline(since),
            Phase::Disabled | Phase::ForcedOpen => None,
        }
    }

    /// Runs the timers due at or before `now`. Every other method does this first, so a
    /// driver that wakes the breaker late (or never) still gets the same transitions, timed
    /// at their deadlines.
    pub fn on_wakeup(&mut self, now: SimTime) {
        self.advance(now);
    }

    /// Takes the logged transitions, oldest first. The log holds the last 8; drain it after
    /// each call (older entries are overwritten and counted in `transitions_dropped`).
    pub fn drain_transitions(&mut self) -> impl Iterator<Item = Transition> + '_ {
        std::iter::from_fn(move || self.log.pop())
    }

    /// Running totals (rejections, transitions, outcomes).
    pub fn counters(&self) -> BreakerCounters {
        self.counters
    }

    /// Resilience4j's `attempts`: consecutive openings since the last close (0 when closed).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Manual override: admit everything and count nothing until [`reset`](Self::reset)
    /// (Resilience4j `transitionToDisabledState`, Hystrix `forceClosed`).
    pub fn disable(&mut self, now: SimTime) {
        if self.phase != Phase::Disabled {
            self.set_phase(now, Phase::Disabled);
        }
    }

    /// Manual override: reject everything until [`reset`](Self::reset) (Resilience4j
    /// `transitionToForcedOpenState`, Hystrix `forceOpen`, Polly `Isolate`).
    pub fn force_open(&mut self, now: SimTime) {
        if self.phase != Phase::ForcedOpen {
            self.set_phase(now, Phase::ForcedOpen);
        }
    }

    /// Back to a fresh Closed breaker: metrics cleared, `attempts` 0 (Resilience4j
    /// `reset()`, Polly `Close`). Counters and the transition log are kept; a transition
    /// is logged unless it was already Closed.
    pub fn reset(&mut self, now: SimTime) {
        if self.phase == Phase::Closed {
            self.attempts = 0;
            self.clear_closed_metrics(now);
        } else {
            self.enter_closed(now);
        }
    }

    // --- internals -------------------------------------------------------------------

    fn reject(&mut self) -> Admission {
        self.counters.not_permitted += 1;
        Admission::Rejected(RejectReason::CircuitOpen)
    }

    fn take_permit(&mut self) -> Admission {
        match &mut self.phase {
            Phase::HalfOpen { permits, .. } if *permits > 0 => {
                *permits -= 1;
                Admission::Admitted
            }
            _ => self.reject(),
        }
    }

    fn half_open_deadline(&self, since: SimTime) -> Option<SimTime> {
        let ms = self.settings.max_wait_half_open_ms;
        (ms > 0).then(|| since + millis(ms))
    }

    fn advance(&mut self, now: SimTime) {
        loop {
            match self.phase {
                Phase::Closed => {
                    self.take_due_snapshots(now);
                    if self.phase == Phase::Closed {
                        return;
                    }
                }
                Phase::Open { until, .. } if self.settings.automatic_transition && until <= now => {
                    self.enter_half_open(until);
                }
                Phase::HalfOpen { since, .. } => match self.half_open_deadline(since) {
                    Some(deadline) if deadline <= now => match self.settings.after_max_wait {
                        AfterMaxWait::Open => {
                            self.enter_open(deadline, self.attempts.saturating_add(1))
                        }
                        AfterMaxWait::Closed => self.enter_closed(deadline),
                    },
                    _ => return,
                },
                Phase::Open { .. } | Phase::Disabled | Phase::ForcedOpen => return,
            }
        }
    }

    /// Hystrix only: evaluate every health snapshot due by `now`, in order.
    fn take_due_snapshots(&mut self, now: SimTime) {
        let ClosedMetrics::Hystrix { health, rules } = &mut self.closed else {
            return;
        };
        let mut trip_at = None;
        while health.next_snapshot() <= now {
            if health.pending() < rules.request_volume.max(1) {
                health.skip_past(now);
                break;
            }
            let at = health.next_snapshot();
            let (total, percentage) = health.take_snapshot();
            if total >= rules.request_volume && percentage >= rules.error_percentage {
                trip_at = Some(at);
                break;
            }
        }
        if let Some(at) = trip_at {
            self.enter_open(at, 1);
        }
    }

    fn record(&mut self, now: SimTime, class: Class, took: SimDuration) {
        self.advance(now);
        match class {
            Class::Success => self.counters.successes += 1,
            Class::Failure => self.counters.failures += 1,
            Class::Ignored => self.counters.ignored += 1,
        }
        if class != Class::Ignored
            && let Some(slow_after) = self.slow_after()
            && took > slow_after
        {
            self.counters.slow_calls += 1;
        }
        match self.phase {
            Phase::Closed => self.record_closed(now, class, took),
            // Late outcome of a call admitted before opening: Resilience4j records it into
            // metrics that are discarded before they can matter, Hystrix's CAS fails, Polly
            // counts it into metrics reset on closing. No transition either way.
            // Manual states count nothing.
            Phase::Open { .. } | Phase::Disabled | Phase::ForcedOpen => {}
            Phase::HalfOpen { .. } => self.record_half_open(now, class, took),
        }
    }

    fn slow_after(&self) -> Option<SimDuration> {
        match self.settings.kind {
            Kind::Count { rules, .. } | Kind::Time { rules, .. } => Some(rules.slow_call_duration),
            _ => None,
        }
    }

    fn record_closed(&mut self, now: SimTime, class: Class, took: SimDuration) {
        let failed = class == Class::Failure;
        let trip = match &mut self.closed {
            _ if class == Class::Ignored => false,
            ClosedMetrics::Consecutive { threshold, run } => {
                *run = if failed { run.saturating_add(1) } else { 0 };
                *run >= *threshold
            }
            ClosedMetrics::Count {
                window,
                rules,
                minimum,
            } => {
                let totals = window.record(Tally::one(failed, took, rules.slow_call_duration));
                rules.check(totals, *minimum) == Verdict::Exceeded
            }
            ClosedMetrics::Time { window, rules } => {
                let totals = window.record(now, Tally::one(failed, took, rules.slow_call_duration));
                rules.check(totals, rules.minimum_calls) == Verdict::Exceeded
            }
            ClosedMetrics::Hystrix { health, .. } => {
                health.record(now, failed);
                false
            }
            ClosedMetrics::Polly { health, rules } => {
                if failed {
                    health.failure(now);
                    let (throughput, ratio) = health.health(now);
                    throughput >= rules.minimum_throughput && ratio >= rules.failure_ratio
                } else {
                    health.success(now);
                    false
                }
            }
        };
        if trip {
            self.enter_open(now, self.attempts.saturating_add(1));
        }
    }

    fn record_half_open(&mut self, now: SimTime, class: Class, took: SimDuration) {
        if class == Class::Ignored {
            if matches!(self.settings.kind, Kind::Hystrix(_)) {
                self.enter_open(now, self.attempts.saturating_add(1)); // markNonSuccess
            } else if let Phase::HalfOpen { permits, .. } = &mut self.phase {
                // Give the slot back, but never above the configured number (Resilience4j
                // would also count a late ignored call admitted before opening).
                *permits = (*permits + 1).min(self.settings.half_open_calls);
            }
            return;
        }
        let failed = class == Class::Failure;
        let verdict = match &mut self.probes {
            Probes::Rate {
                window,
                rules,
                minimum,
            } => {
                let totals = window.record(Tally::one(failed, took, rules.slow_call_duration));
                rules.check(totals, *minimum)
            }
            Probes::Successes { needed, seen } => {
                if failed {
                    Verdict::Exceeded
                } else {
                    *seen += 1;
                    if *seen >= *needed {
                        Verdict::BelowThresholds
                    } else {
                        Verdict::BelowMinimumCalls
                    }
                }
            }
        };
        match verdict {
            Verdict::Exceeded => self.enter_open(now, self.attempts.saturating_add(1)),
            Verdict::BelowThresholds => self.enter_closed(now),
            Verdict::BelowMinimumCalls => {}
        }
    }

    /// The n-th opening's wait in ms (`IntervalFunction`, truncated at every step).
    fn open_wait_ms(&self, attempts: u32) -> u64 {
        let base = self.settings.wait_open_ms;
        let Some(m) = self.settings.wait_open_multiplier else {
            return base;
        };
        let cap = self.settings.wait_open_max_ms.unwrap_or(u64::MAX);
        let mut c = base;
        for _ in 1..attempts {
            let next = (c as f64 * m) as u64;
            if next == c || c >= cap {
                break;
            }
            c = next;
        }
        c.min(cap)
    }

    fn enter_open(&mut self, at: SimTime, attempts: u32) {
        self.attempts = attempts;
        let (until, gate) = match self.settings.kind {
            Kind::Hystrix(rules) => {
                let opened_ms = at.as_nanos() / 1_000_000;
                let until = SimTime::at(millis(opened_ms.saturating_add(rules.sleep_window_ms)));
                (until, until + millis(1))
            }
            Kind::Polly(rules) => {
                let until = at + rules.break_duration;
                (until, until)
            }
            _ => {
                let until = at + millis(self.open_wait_ms(attempts));
                (until, until + SimDuration::from_nanos(1))
            }
        };
        self.set_phase(at, Phase::Open { until, gate });
    }

    fn enter_half_open(&mut self, at: SimTime) {
        match &mut self.probes {
            Probes::Rate { window, .. } => window.reset(),
            Probes::Successes { seen, .. } => *seen = 0,
        }
        let permits = self.settings.half_open_calls;
        self.set_phase(at, Phase::HalfOpen { since: at, permits });
    }

    fn enter_closed(&mut self, at: SimTime) {
        self.attempts = 0;
        self.clear_closed_metrics(at);
        self.set_phase(at, Phase::Closed);
    }

    fn clear_closed_metrics(&mut self, at: SimTime) {
        match &mut self.closed {
            ClosedMetrics::Consecutive { run, .. } => *run = 0,
            ClosedMetrics::Count { window, .. } => window.reset(),
            ClosedMetrics::Time { window, .. } => window.reset(at),
            ClosedMetrics::Hystrix { health, .. } => health.reset(at),
            ClosedMetrics::Polly { health, .. } => health.reset(),
        }
    }

    fn set_phase(&mut self, at: SimTime, phase: Phase) {
        let from = self.state();
        self.phase = phase;
        let to = self.state();
        self.counters.transitions += 1;
        if self.log.push(Transition { at, from, to }) {
            self.counters.transitions_dropped += 1;
        }
    }
}

fn rate_probes(rules: RateRules, half_open_calls: u32) -> Probes {
    Probes::Rate {
        window: CountWindow::new(half_open_calls),
        rules,
        minimum: rules.minimum_calls.min(half_open_calls),
    }
}
