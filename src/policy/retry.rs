//! Retry: decide, after each attempt of a call, whether to try again and when.
//! [`Retry`] is the validated, immutable policy (one per client, shared by all its calls);
//! [`RetryState`] is the per-call memory (attempts made, first start, backoff memory).
//!
//! Why retries exist: many failures are transient (a dropped connection, a replica
//! restarting, a brief queue overflow), and trying again turns them into successes the
//! user never sees.
//!
//! Why retries are dangerous: when a dependency fails *because it is overloaded*, every
//! failure produces another request. With `max_attempts = 3` at every layer of a
//! five-deep call chain, one user request can become 3⁵ = 243 requests at the bottom — a
//! retry storm that keeps the overloaded service down long after the original trigger is
//! gone (a metastable failure). The defences, all here or next door:
//! - a small `max_attempts` (this policy), backoff with jitter ([`super::backoff`]);
//! - a total time budget (`max_duration`) and the caller's deadline: never start an
//!   attempt that cannot finish in time — its result would be thrown away anyway;
//! - never retrying client errors (the request itself is wrong; trying again cannot help);
//! - a retry *budget* ([`super::budget`]) that caps retries as a fraction of traffic, which
//!   `max_attempts` alone cannot do: at 100 % failure it still triples the load.
//!
//! # Driving it
//! ```text
//! state = retry.begin(now)                      // the first attempt starts
//! loop:
//!   outcome = run one attempt; now = its end
//!   budget.on_attempt_outcome(now, outcome)
//!   match retry.on_outcome(&mut state, now, outcome, retry_after, deadline, attempt_timeout, rng):
//!     GiveUp(reason)  -> finish the call (budget.on_call_finished)
//!     RetryAt(t)      -> ask the budget: if !budget.try_acquire_retry(now, outcome, &mut ticket)
//!                        give up with GiveUpReason::BudgetExhausted; else schedule the retry at t
//! ```
//! The retry is asked *before* the budget, so the budget only pays for retries that would
//! really happen.
//!
//! This module must not read a clock or own an RNG.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::backoff::{Backoff, BackoffConfig, BackoffState};
use super::{ConfigError, Outcome, RejectReason};
use crate::time::{SimDuration, SimTime};

/// An outcome class that may be retried, as written in `retry_on`. Client errors are left
/// out of the default on purpose (the request itself is wrong; trying again cannot help),
/// but may be listed: Resilience4j's `Retry` retries every exception unless
/// `retryExceptions`/`ignoreExceptions` narrow it, so an HTTP client that throws on a 4xx
/// retries it too — `retry_on = ["timeout", "server_error", "client_error", "rejected"]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    /// The attempt timed out.
    Timeout,
    /// The callee answered with a server error.
    ServerError,
    /// The callee throttled the call (HTTP 429, `RESOURCE_EXHAUSTED`).
    Throttled,
    /// The callee answered with a client error (a 4xx, `INVALID_ARGUMENT`). Not retried
    /// unless listed.
    ClientError,
    /// Any rejection by a protection (all the reasons below).
    Rejected,
    /// A circuit breaker was open.
    CircuitOpen,
    /// A bulkhead was full.
    BulkheadFull,
    /// The callee's queue was full.
    QueueFull,
    /// The request waited too long in the callee's queue.
    QueueTimeout,
    /// A rate limiter refused the call.
    RateLimited,
    /// Load shedding dropped the call.
    Shed,
    /// The propagated deadline had already passed.
    DeadlineExceeded,
    /// No instance of the callee could take the call.
    NoHealthyUpstream,
}

const TIMEOUT_BIT: u16 = 1 << 0;
const SERVER_ERROR_BIT: u16 = 1 << 1;
const THROTTLED_BIT: u16 = 1 << 15;
const CLIENT_ERROR_BIT: u16 = 1 << 14;

const fn reason_bit(r: RejectReason) -> u16 {
    1 << (2 + r as u16)
}

impl RetryOn {
    fn mask(self) -> u16 {
        match self {
            RetryOn::Timeout => TIMEOUT_BIT,
            RetryOn::ServerError => SERVER_ERROR_BIT,
            RetryOn::Throttled => THROTTLED_BIT,
            RetryOn::ClientError => CLIENT_ERROR_BIT,
            RetryOn::Rejected => RejectReason::ALL.iter().fold(0, |m, &r| m | reason_bit(r)),
            RetryOn::CircuitOpen => reason_bit(RejectReason::CircuitOpen),
            RetryOn::BulkheadFull => reason_bit(RejectReason::BulkheadFull),
            RetryOn::QueueFull => reason_bit(RejectReason::QueueFull),
            RetryOn::QueueTimeout => reason_bit(RejectReason::QueueTimeout),
            RetryOn::RateLimited => reason_bit(RejectReason::RateLimited),
            RetryOn::Shed => reason_bit(RejectReason::Shed),
            RetryOn::DeadlineExceeded => reason_bit(RejectReason::DeadlineExceeded),
            RetryOn::NoHealthyUpstream => reason_bit(RejectReason::NoHealthyUpstream),
        }
    }
}

/// A set of retryable outcome classes (a `retry_on` list, validated): what a retry policy
/// retries, and what gRPC's retry throttling counts as a failure. `Copy`, 2 bytes.
///
/// ```
/// use cascade::policy::retry::{RetryOn, RetryableSet};
/// use cascade::policy::{Outcome, RejectReason};
///
/// let set = RetryableSet::of(&[RetryOn::Timeout, RetryOn::CircuitOpen]);
/// assert!(set.contains(Outcome::Timeout));
/// assert!(set.contains(Outcome::Rejected(RejectReason::CircuitOpen)));
/// assert!(!set.contains(Outcome::ServerError));
/// assert!(!RetryableSet::default().contains(Outcome::ClientError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryableSet(u16);

impl RetryableSet {
    /// The classes listed.
    pub fn of(list: &[RetryOn]) -> Self {
        RetryableSet(list.iter().fold(0, |m, r| m | r.mask()))
    }

    /// Both sets' classes (a gRPC hedging policy's non-fatal codes with the retry's).
    pub fn union(self, other: Self) -> Self {
        RetryableSet(self.0 | other.0)
    }

    /// Whether `outcome` is in the set. Success never is.
    pub fn contains(self, outcome: Outcome) -> bool {
        let bit = match outcome {
            Outcome::Success => return false,
            Outcome::ClientError => CLIENT_ERROR_BIT,
            Outcome::Timeout => TIMEOUT_BIT,
            Outcome::ServerError => SERVER_ERROR_BIT,
            Outcome::Throttled => THROTTLED_BIT,
            Outcome::Rejected(r) => reason_bit(r),
        };
        self.0 & bit != 0
    }
}

impl Default for RetryableSet {
    /// The default `retry_on`: timeouts, server errors and every rejection.
    fn default() -> Self {
        RetryableSet::of(&default_retry_on())
    }
}

/// gRPC A6 "Limits on Retries and Hedges": the client-side maximum of `maxAttempts`.
pub const GRPC_MAX_ATTEMPTS: u32 = 5;

fn default_retry_on() -> Vec<RetryOn> {
    vec![
        RetryOn::Timeout,
        RetryOn::ServerError,
        RetryOn::Throttled,
        RetryOn::Rejected,
    ]
}

/// The retry policy as written in a model file:
/// `retry = { max_attempts = 3, backoff = { exponential = { base = "100ms", cap = "5s" } } }`.
///
/// **`max_attempts` counts the first call** (Resilience4j, AWS and gRPC convention):
/// `max_attempts = 3` means one original attempt plus at most **2 retries**. Polly users
/// may write `max_retries = 3` instead (Polly's `MaxRetryAttempts`: 4 attempts in total);
/// setting both is an error. Defaults: 3 attempts, a fixed 500 ms backoff (Resilience4j's
/// defaults), retry on timeouts, server errors and every rejection (Resilience4j retries
/// every exception, including `CallNotPermittedException` and `BulkheadFullException`),
/// Retry-After ignored, no total time budget.
///
/// **gRPC**: a retry whose backoff is `{ grpc = { … } }` is a gRPC A6 `retryPolicy`, and
/// gRPC clients clamp its `maxAttempts` to 5 ("higher values will be treated as equal to
/// the maximum value by the client implementation"; the channel argument that changes the
/// limit is not modelled): `max_attempts = 8` there makes 5 attempts.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Total attempts **including the first**. Default 3. At least 1 (1 = never retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Polly spelling: retries after the first attempt (total = `max_retries + 1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Wait before each retry. Default `{ fixed = { delay = "500ms" } }`.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Retryable outcomes. Default `["timeout", "server_error", "rejected"]`; `"rejected"`
    /// means every rejection reason, or list reasons one by one (`"circuit_open"`, …);
    /// `"client_error"` may be added (Resilience4j's default retries every exception).
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<RetryOn>,
    /// Honour a server's Retry-After: wait `max(backoff, retry_after)` (AWS SDKs, Polly's
    /// `DelayGenerator` reading the header). Default false.
    #[serde(default)]
    pub honor_retry_after: bool,
    /// gRPC server pushback (gRFC A6 `grpc-retry-pushback-ms`): wait exactly the hint,
    /// with no jitter, and start the backoff's exponent over. Default false; not together
    /// with `honor_retry_after`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pushback: bool,
    /// Total time budget from the first attempt's start: no retry may *start* after
    /// `first_start + max_duration`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<SimDuration>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: None,
            max_retries: None,
            backoff: BackoffConfig::default(),
            retry_on: default_retry_on(),
            honor_retry_after: false,
            pushback: false,
            max_duration: None,
        }
    }
}

/// Why a call stops retrying. `Succeeded` is included so one method can drive the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GiveUpReason {
    /// The attempt succeeded: the call is done.
    Succeeded,
    /// The outcome is not retryable (a client error, or not listed in `retry_on`).
    NotRetryable,
    /// `max_attempts` attempts have been made.
    AttemptsExhausted,
    /// The retry would start after `first_start + max_duration`.
    OutOfTime,
    /// The caller's deadline leaves no room for another attempt.
    DeadlineTooClose,
    /// The retry budget refused (set by the driver, never by [`Retry`] itself).
    BudgetExhausted,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Start the next attempt at this instant (`now + backoff`).
    RetryAt(SimTime),
    /// Stop; the last outcome is the call's outcome.
    GiveUp(GiveUpReason),
}

/// Per-call retry memory. `Copy`, 40 bytes; create with [`Retry::begin`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryState {
    attempts: u32,
    first_start: SimTime,
    backoff: BackoffState,
}

impl RetryState {
    /// Attempts whose outcome has been reported so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
    /// When the first attempt started.
    pub fn first_start(&self) -> SimTime {
        self.first_start
    }
}

/// A validated retry policy.
///
/// ```
/// use cascade::policy::retry::{GiveUpReason, Retry, RetryConfig, RetryDecision};
/// use cascade::policy::Outcome;
/// use cascade::time::short::{ms, t_ms};
/// use rand::SeedableRng;
///
/// let cfg: RetryConfig = toml::from_str(
///     r#"max_attempts = 3
///        backoff = { exponential = { base = "100ms", cap = "5s" } }"#,
/// ).unwrap();
/// let retry = Retry::new(cfg).unwrap();
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let mut call = retry.begin(t_ms(0));
/// let d = retry.on_outcome(&mut call, t_ms(20), Outcome::ServerError, None, None, None, &mut rng);
/// assert_eq!(d, RetryDecision::RetryAt(t_ms(120)));
/// let d = retry.on_outcome(&mut call, t_ms(140), Outcome::Timeout, None, None, None, &mut rng);
/// assert_eq!(d, RetryDecision::RetryAt(t_ms(340)));
/// let d = retry.on_outcome(&mut call, t_ms(360), Outcome::ServerError, None, None, None, &mut rng);
/// assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted));
/// ```
#[derive(Clone, Debug)]
pub struct Retry {
    max_attempts: u32,
    backoff: Backoff,
    retryable: RetryableSet,
    honor_retry_after: bool,
    pushback: bool,
    max_duration: Option<SimDuration>,
}

impl Retry {
    /// Validates `config`. Errors: `max_attempts` 0 or set together with `max_retries`,
    /// `max_retries` overflowing, bad `backoff.*` fields.
    pub fn new(config: RetryConfig) -> Result<Retry, ConfigError> {
        let max_attempts = match (config.max_attempts, config.max_retries) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "max_retries",
                    "set either max_attempts (counts the first call) or max_retries (does not), not both",
                ));
            }
            (Some(0), None) => {
                return Err(ConfigError::new(
                    "max_attempts",
                    "must be at least 1 (it counts the first call; 1 means never retry)",
                ));
            }
            (Some(n), None) => n,
            (None, Some(r)) => r
                .checked_add(1)
                .ok_or_else(|| ConfigError::new("max_retries", "is too large"))?,
            (None, None) => 3,
        };
        let max_attempts = if matches!(config.backoff, BackoffConfig::Grpc(_)) {
            max_attempts.min(GRPC_MAX_ATTEMPTS)
        } else {
            max_attempts
        };
        let backoff = Backoff::new(config.backoff).map_err(|e| e.within("backoff"))?;
        if config.pushback && config.honor_retry_after {
            return Err(ConfigError::new(
                "pushback",
                "is gRPC's way of honouring the server's hint; set it or honor_retry_after, not both",
            ));
        }
        Ok(Retry {
            max_attempts,
            backoff,
            retryable: RetryableSet::of(&config.retry_on),
            honor_retry_after: config.honor_retry_after,
            pushback: config.pushback,
            max_duration: config.max_duration,
        })
    }

    /// Total attempts allowed, including the first (clamped to 5 for a gRPC retry policy).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff strategy.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// Whether this policy would retry `outcome` (attempt limits aside). Successes never
    /// are; client errors only if `retry_on` lists them.
    pub fn is_retryable(&self, outcome: Outcome) -> bool {
        self.retryable.contains(outcome)
    }

    /// The outcome classes this policy retries (its `retry_on`), e.g. for gRPC throttling.
    pub fn retryable(&self) -> RetryableSet {
        self.retryable
    }

    /// Call when the first attempt of a logical call starts, at `now`.
    pub fn begin(&self, now: SimTime) -> RetryState {
        RetryState {
            attempts: 0,
            first_start: now,
            backoff: BackoffState::default(),
        }
    }

    /// Call when an attempt ends at `now` with `outcome`. `retry_after` is the server's
    /// Retry-After hint, if any; `deadline` is the caller's absolute deadline;
    /// `attempt_timeout` the per-attempt timeout the next attempt would run with.
    ///
    /// Checks, in order: success → `Succeeded`; not retryable → `NotRetryable`; attempts
    /// used up → `AttemptsExhausted`; then draws the backoff (one RNG draw for jittered
    /// strategies) and, with `honor_retry_after`, waits `max(backoff, retry_after)` — the
    /// server knows best when it will have room, but our own backoff still protects it
    /// from a too-small hint. The retry would start at `t = now + wait`:
    /// `t > first_start + max_duration` → `OutOfTime`; with a deadline,
    /// `t + attempt_timeout > deadline` (or `t ≥ deadline` without a per-attempt timeout)
    /// → `DeadlineTooClose`; otherwise `RetryAt(t)`.
    #[allow(clippy::too_many_arguments)]
    pub fn on_outcome<R: Rng + ?Sized>(
        &self,
        state: &mut RetryState,
        now: SimTime,
        outcome: Outcome,
        retry_after: Option<SimDuration>,
        deadline: Option<SimTime>,
        attempt_timeout: Option<SimDuration>,
        rng: &mut R,
    ) -> RetryDecision {
        use GiveUpReason::*;
        state.attempts = state.attempts.saturating_add(1);
        if outcome.is_success() {
            return RetryDecision::GiveUp(Succeeded);
        }
        if !self.is_retryable(outcome) {
            return RetryDecision::GiveUp(NotRetryable);
        }
        if state.attempts >= self.max_attempts {
            return RetryDecision::GiveUp(AttemptsExhausted);
        }
        let wait = match retry_after {
            // Server pushback: exactly the hint; the next backoff starts from the first.
            Some(hint) if self.pushback => {
                state.backoff = BackoffState::default();
                hint
            }
            Some(hint) if self.honor_retry_after => {
                self.backoff.next_delay(&mut state.backoff, rng).max(hint)
            }
            _ => self.backoff.next_delay(&mut state.backoff, rng),
        };
        let start = now + wait;
        if let Some(budget) = self.max_duration
            && start > state.first_start + budget
        {
            return RetryDecision::GiveUp(OutOfTime);
        }
        if let Some(deadline) = deadline {
            let too_close = match attempt_timeout {
                Some(timeout) => start + timeout > deadline,
                None => start >= deadline,
            };
            if too_close {
                return RetryDecision::GiveUp(DeadlineTooClose);
            }
        }
        RetryDecision::RetryAt(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::{ms, secs, t_ms};
    use GiveUpReason::*;
    use RetryDecision::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(11)
    }

    fn fixed(d: SimDuration) -> BackoffConfig {
        BackoffConfig::Fixed(super::super::backoff::FixedConfig { delay: d })
    }

    fn retry(cfg: RetryConfig) -> Retry {
        Retry::new(cfg).expect("valid config")
    }

    /// A policy with a fixed 100 ms backoff and otherwise default settings.
    fn with(f: impl FnOnce(&mut RetryConfig)) -> Retry {
        let mut cfg = RetryConfig {
            backoff: fixed(ms(100)),
            ..Default::default()
        };
        f(&mut cfg);
        retry(cfg)
    }

    /// Report `outcome` at `now` with no hints or deadlines.
    fn plain(r: &Retry, s: &mut RetryState, now: SimTime, outcome: Outcome) -> RetryDecision {
        r.on_outcome(s, now, outcome, None, None, None, &mut rng())
    }

    /// Attempts a call makes when every attempt fails with `outcome` and takes 10 ms.
    fn attempts_until_give_up(r: &Retry, outcome: Outcome) -> (u32, GiveUpReason) {
        let mut s = r.begin(t_ms(0));
        let mut now = t_ms(10);
        loop {
            match plain(r, &mut s, now, outcome) {
                RetryAt(t) => now = t + ms(10),
                GiveUp(why) => return (s.attempts(), why),
            }
        }
    }

    mod config {
        use super::*;

        #[test]
        fn parses_the_documented_toml_shape() {
            let cfg: RetryConfig = toml::from_str(
                r#"max_attempts = 3
                   backoff = { exponential = { base = "100ms", cap = "5s" } }
                   retry_on = ["timeout", "server_error", "circuit_open"]
                   honor_retry_after = true
                   max_duration = "2s""#,
            )
            .unwrap();
            assert_eq!(cfg.max_attempts, Some(3));
            assert_eq!(cfg.retry_on.len(), 3);
            assert_eq!(cfg.max_duration, Some(secs(2)));
            let r = retry(cfg);
            assert!(r.is_retryable(Outcome::Rejected(RejectReason::CircuitOpen)));
            assert!(!r.is_retryable(Outcome::Rejected(RejectReason::BulkheadFull)));
        }

        #[test]
        fn defaults_are_three_attempts_and_retry_failures_and_rejections() {
            let cfg: RetryConfig = toml::from_str("").unwrap();
            assert_eq!(cfg, RetryConfig::default());
            let r = retry(cfg);
            assert_eq!(r.max_attempts(), 3);
            assert_eq!(r.backoff().max_delay(), ms(500));
            assert!(r.is_retryable(Outcome::Timeout));
            assert!(r.is_retryable(Outcome::ServerError));
            for reason in RejectReason::ALL {
                assert!(r.is_retryable(Outcome::Rejected(reason)), "{reason}");
            }
            assert!(!r.is_retryable(Outcome::ClientError));
            assert!(!r.is_retryable(Outcome::Success));
        }

        #[test]
        fn max_retries_is_the_polly_spelling() {
            let r = retry(toml::from_str("max_retries = 3").unwrap());
            assert_eq!(r.max_attempts(), 4);
        }

        #[test]
        fn rejects_nonsense_with_the_field_name() {
            let err = |s: &str| Retry::new(toml::from_str(s).unwrap()).unwrap_err().field;
            assert_eq!(err("max_attempts = 0"), "max_attempts");
            assert_eq!(err("max_attempts = 3\nmax_retries = 2"), "max_retries");
            assert_eq!(
                err(r#"backoff = { exponential = { base = "1s", cap = "100ms" } }"#),
                "backoff.cap"
            );
            assert!(toml::from_str::<RetryConfig>(r#"retry_on = ["success"]"#).is_err());
            assert!(toml::from_str::<RetryConfig>("max_atempts = 3").is_err());
        }
    }

    mod attempt_counting {
        use super::*;

        #[test]
        fn max_attempts_counts_the_first_call() {
            for (n, retries) in [(1, 0), (2, 1), (3, 2), (5, 4)] {
                let r = with(|c| c.max_attempts = Some(n));
                assert_eq!(
                    attempts_until_give_up(&r, Outcome::ServerError),
                    (n, AttemptsExhausted),
                    "{retries} retries"
                );
            }
        }

        #[test]
        fn retries_are_scheduled_after_the_backoff() {
            let r = with(|_| {});
            let mut s = r.begin(t_ms(0));
            assert_eq!(
                plain(&r, &mut s, t_ms(30), Outcome::Timeout),
                RetryAt(t_ms(130))
            );
            assert_eq!(
                plain(&r, &mut s, t_ms(160), Outcome::ServerError),
                RetryAt(t_ms(260))
            );
            assert_eq!(
                plain(&r, &mut s, t_ms(270), Outcome::Timeout),
                GiveUp(AttemptsExhausted)
            );
        }

        #[test]
        fn success_ends_the_call_at_any_attempt() {
            let r = with(|_| {});
            let mut s = r.begin(t_ms(0));
            assert_eq!(
                plain(&r, &mut s, t_ms(10), Outcome::Success),
                GiveUp(Succeeded)
            );
            let mut s = r.begin(t_ms(0));
            assert!(matches!(
                plain(&r, &mut s, t_ms(10), Outcome::Timeout),
                RetryAt(_)
            ));
            assert_eq!(
                plain(&r, &mut s, t_ms(200), Outcome::Success),
                GiveUp(Succeeded)
            );
            assert_eq!(s.attempts(), 2);
        }

        #[test]
        fn polly_max_retries_gives_one_more_attempt() {
            let r = with(|c| c.max_retries = Some(3));
            assert_eq!(
                attempts_until_give_up(&r, Outcome::Timeout),
                (4, AttemptsExhausted)
            );
        }
    }

    mod classification {
        use super::*;

        #[test]
        fn client_errors_are_not_retried_by_default() {
            let r = with(|c| c.max_attempts = Some(10));
            assert_eq!(
                attempts_until_give_up(&r, Outcome::ClientError),
                (1, NotRetryable)
            );
        }

        #[test]
        fn client_errors_are_retried_when_listed_like_resilience4j_s_default() {
            // Resilience4j's Retry retries every exception by default, 4xx ones included.
            let r = with(|c| {
                c.max_attempts = Some(3);
                c.retry_on = toml::from_str::<RetryConfig>(
                    r#"retry_on = ["timeout", "server_error", "client_error", "rejected"]"#,
                )
                .unwrap()
                .retry_on;
            });
            assert_eq!(
                attempts_until_give_up(&r, Outcome::ClientError),
                (3, AttemptsExhausted)
            );
            assert!(r.retryable().contains(Outcome::ClientError));
        }

        #[test]
        fn outcomes_not_listed_are_not_retried() {
            let r = with(|c| c.retry_on = vec![RetryOn::Timeout, RetryOn::ServerError]);
            let circuit_open = Outcome::Rejected(RejectReason::CircuitOpen);
            assert_eq!(attempts_until_give_up(&r, circuit_open), (1, NotRetryable));
            assert_eq!(
                attempts_until_give_up(&r, Outcome::Timeout),
                (3, AttemptsExhausted)
            );

            let only_timeouts = with(|c| c.retry_on = vec![RetryOn::Timeout]);
            assert_eq!(
                attempts_until_give_up(&only_timeouts, Outcome::ServerError),
                (1, NotRetryable)
            );
        }

        #[test]
        fn rejections_can_be_listed_one_by_one() {
            let r = with(|c| c.retry_on = vec![RetryOn::BulkheadFull, RetryOn::QueueFull]);
            assert!(r.is_retryable(Outcome::Rejected(RejectReason::BulkheadFull)));
            assert!(r.is_retryable(Outcome::Rejected(RejectReason::QueueFull)));
            assert!(!r.is_retryable(Outcome::Rejected(RejectReason::CircuitOpen)));
            assert!(!r.is_retryable(Outcome::Timeout));
        }
    }

    mod time_limits {
        use super::*;

        #[test]
        fn max_duration_forbids_retries_starting_after_the_budget() {
            let r = with(|c| {
                c.max_attempts = Some(10);
                c.max_duration = Some(ms(500));
            });
            let mut s = r.begin(t_ms(1000));
            // Retry at 1400 + 100 = 1500 = start + budget: still allowed (not *after*).
            assert_eq!(
                plain(&r, &mut s, t_ms(1400), Outcome::Timeout),
                RetryAt(t_ms(1500))
            );
            // Retry at 1401 + 100 = 1501 > 1500: out of time.
            assert_eq!(
                plain(&r, &mut s, t_ms(1401), Outcome::Timeout),
                GiveUp(OutOfTime)
            );
        }

        #[test]
        fn total_budget_bounds_the_number_of_attempts() {
            // Each attempt takes 10 ms, each wait 100 ms: retries start at 110, 220, 330, …
            let r = with(|c| {
                c.max_attempts = Some(100);
                c.max_duration = Some(ms(350));
            });
            assert_eq!(
                attempts_until_give_up(&r, Outcome::ServerError),
                (4, OutOfTime)
            );
        }

        #[test]
        fn deadline_too_close_for_one_more_attempt() {
            let r = with(|_| {});
            let at = |now: SimTime, deadline: SimTime, timeout: Option<SimDuration>| {
                let mut s = r.begin(t_ms(0));
                r.on_outcome(
                    &mut s,
                    now,
                    Outcome::Timeout,
                    None,
                    Some(deadline),
                    timeout,
                    &mut rng(),
                )
            };
            // The retry would start at 200 and may run 300 ms: needs the deadline ≥ 500.
            assert_eq!(at(t_ms(100), t_ms(500), Some(ms(300))), RetryAt(t_ms(200)));
            assert_eq!(
                at(t_ms(100), t_ms(499), Some(ms(300))),
                GiveUp(DeadlineTooClose)
            );
            // Without a per-attempt timeout, the retry must merely start before the deadline.
            assert_eq!(at(t_ms(100), t_ms(201), None), RetryAt(t_ms(200)));
            assert_eq!(at(t_ms(100), t_ms(200), None), GiveUp(DeadlineTooClose));
        }
    }

    mod retry_after {
        use super::*;

        fn after(r: &Retry, hint: SimDuration) -> RetryDecision {
            let mut s = r.begin(t_ms(0));
            r.on_outcome(
                &mut s,
                t_ms(10),
                Outcome::ServerError,
                Some(hint),
                None,
                None,
                &mut rng(),
            )
        }

        #[test]
        fn honoured_hint_waits_the_longer_of_hint_and_backoff() {
            let r = with(|c| c.honor_retry_after = true);
            assert_eq!(after(&r, secs(2)), RetryAt(t_ms(2010)));
            assert_eq!(
                after(&r, ms(20)),
                RetryAt(t_ms(110)),
                "backoff still applies"
            );
        }

        #[test]
        fn ignored_by_default() {
            let r = with(|_| {});
            assert_eq!(after(&r, secs(2)), RetryAt(t_ms(110)));
        }

        #[test]
        fn pushback_waits_exactly_the_hint_and_restarts_the_exponent() {
            let r = with(|c| {
                c.pushback = true;
                c.max_attempts = Some(5);
                c.backoff = BackoffConfig::Exponential(crate::policy::backoff::ExponentialConfig {
                    base: ms(100),
                    multiplier: 2.0,
                    cap: secs(10),
                });
            });
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let mut s = r.begin(t_ms(0));
            let next = |s: &mut RetryState, hint, rng: &mut rand_chacha::ChaCha8Rng| {
                r.on_outcome(s, t_ms(0), Outcome::Throttled, hint, None, None, rng)
            };
            assert_eq!(
                next(&mut s, None, &mut rng),
                RetryDecision::RetryAt(t_ms(100))
            );
            assert_eq!(
                next(&mut s, None, &mut rng),
                RetryDecision::RetryAt(t_ms(200))
            );
            assert_eq!(
                next(&mut s, Some(ms(30)), &mut rng),
                RetryDecision::RetryAt(t_ms(30))
            );
            // The exponent started over: the next backoff is the first one again.
            assert_eq!(
                next(&mut s, None, &mut rng),
                RetryDecision::RetryAt(t_ms(100))
            );
        }

        #[test]
        fn pushback_and_honor_retry_after_exclude_each_other() {
            let e = Retry::new(RetryConfig {
                pushback: true,
                honor_retry_after: true,
                ..RetryConfig::default()
            })
            .unwrap_err();
            assert_eq!(e.field, "pushback");
        }

        #[test]
        fn hint_counts_against_the_deadline() {
            let r = with(|c| c.honor_retry_after = true);
            let mut s = r.begin(t_ms(0));
            let d = r.on_outcome(
                &mut s,
                t_ms(10),
                Outcome::ServerError,
                Some(secs(2)),
                Some(t_ms(1000)),
                None,
                &mut rng(),
            );
            assert_eq!(d, GiveUp(DeadlineTooClose));
        }
    }

    mod footprint {
        use super::*;

        #[test]
        fn per_call_state_is_small_and_copy() {
            fn is_copy<T: Copy>() {}
            is_copy::<RetryState>();
            is_copy::<BackoffState>();
            assert!(std::mem::size_of::<BackoffState>() <= 24);
            assert!(std::mem::size_of::<RetryState>() <= 40);
        }
    }

    mod laws {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_exceeds_max_attempts_nor_retries_before_now(
                max_attempts in 1u32..8,
                durations in proptest::collection::vec(0u64..1000, 1..20),
                seed in any::<u64>(),
            ) {
                let r = retry(RetryConfig {
                    max_attempts: Some(max_attempts),
                    backoff: BackoffConfig::FullJitter(Default::default()),
                    retry_on: default_retry_on(),
                    ..Default::default()
                });
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mut s = r.begin(SimTime::ZERO);
                let mut now = SimTime::ZERO;
                for took in durations {
                    now += ms(took);
                    match r.on_outcome(&mut s, now, Outcome::Timeout, None, None, None, &mut rng) {
                        RetryAt(t) => {
                            prop_assert!(t >= now);
                            prop_assert!(s.attempts() < max_attempts);
                            now = t;
                        }
                        GiveUp(why) => {
                            prop_assert_eq!(why, AttemptsExhausted);
                            prop_assert_eq!(s.attempts(), max_attempts);
                            break;
                        }
                    }
                }
            }
        }
    }

    mod grpc_preset {
        use super::*;
        use crate::policy::backoff::GrpcBackoffConfig;

        fn grpc(f: impl FnOnce(&mut RetryConfig)) -> Retry {
            let mut cfg = RetryConfig {
                backoff: BackoffConfig::Grpc(GrpcBackoffConfig::default()),
                ..Default::default()
            };
            f(&mut cfg);
            retry(cfg)
        }

        #[test]
        fn max_attempts_above_five_is_treated_as_five() {
            let r = grpc(|c| c.max_attempts = Some(8));
            assert_eq!(r.max_attempts(), 5);
            assert_eq!(
                attempts_until_give_up(&r, Outcome::ServerError),
                (5, AttemptsExhausted)
            );
            assert_eq!(grpc(|c| c.max_retries = Some(9)).max_attempts(), 5);
            assert_eq!(grpc(|c| c.max_attempts = Some(4)).max_attempts(), 4);
        }

        #[test]
        fn other_backoffs_are_not_clamped() {
            assert_eq!(with(|c| c.max_attempts = Some(8)).max_attempts(), 8);
        }
    }
}
