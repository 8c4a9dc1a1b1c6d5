//! Hedging: send the same call again, without waiting for the first attempt to fail, and
//! take the first answer (gRFC A6 hedging policy; Envoy's `hedge_on_per_try_timeout`).
//!
//! Why: a heavy-tailed callee is slow for a few requests, not for all; a second copy sent
//! after the callee's p95 usually comes back long before the first. The price is load:
//! every hedge is one more request, and during an overload (when *every* request is slow)
//! each call sends `max_attempts` copies into a callee that is already drowning.
//!
//! The rules, from gRFC A6 (grpc-java's `RetriableStream` drives them the same way):
//! - the first attempt goes at once; after `delay` without a response the next goes, and
//!   so on every `delay` until `max_attempts` have been sent (`delay = 0`: all at once);
//! - `max_attempts` counts the first and must be above 1; values above 5 are treated as 5;
//! - the first **success** wins, and so does the first failure whose class is *not* in
//!   `non_fatal` (gRPC returns it at once): the driver cancels every attempt still out;
//! - a failure in `non_fatal` sends the next hedge at once, shortcutting the delay (the
//!   delay timer starts again from there); when every attempt has failed non-fatally the
//!   call fails with the last failure — there are no retries after a hedge;
//! - server pushback: a failure carrying a delay (Retry-After) sends the next hedge after
//!   that delay instead of at once;
//! - throttling: every hedge after the first must pass the retry budget (gRPC retry
//!   throttling); a refusal stops hedging for the call, and a call with nothing left in
//!   flight fails with its last failure;
//! - a per-attempt timeout is Envoy's per-try timeout with `hedge_on_per_try_timeout`: it
//!   sends the next hedge at once but leaves the timed-out attempt running (a late answer
//!   still wins) for another period. Once no hedge is left, an expiry ends its attempt as a
//!   timeout without ending the others (so every attempt ends; Envoy relies on its route
//!   timeout for that).
//!
//! ```text
//! (state, first_timer) = hedge.begin(now); send attempt 1
//! on the timer or SendAt(t) at t:   if hedge.wants_more(&state) and the budget allows:
//!                                       timer = hedge.on_sent(&mut state, now); send
//!                                   else: act on hedge.on_refused(&mut state)
//! on an attempt's end:              act on hedge.on_outcome(&mut state, now, outcome, hint)
//! on an attempt's per-try timeout:  match hedge.on_per_try_timeout(&mut state):
//!                                       HedgeNow -> restart its timer, hedge as above
//!                                       End(d)   -> end that attempt, act on d
//! ```
//!
//! This module must not read a clock or own an RNG.

use serde::{Deserialize, Serialize};

use super::retry::{GRPC_MAX_ATTEMPTS, RetryOn, RetryableSet};
use super::{ConfigError, Outcome};
use crate::time::{SimDuration, SimTime};

/// The hedging policy as written in a model file:
/// `hedge = { delay = "50ms", max_attempts = 3, non_fatal = ["server_error"] }`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HedgeConfig {
    /// Wait between two hedges (gRPC `hedgingDelay`). Default 0: every attempt at once.
    #[serde(default)]
    pub delay: SimDuration,
    /// Attempts in all, the first included; above 1 (values above 5 count as 5).
    pub max_attempts: u32,
    /// Failures after which the other attempts carry on and the next hedge goes at once
    /// (gRPC `nonFatalStatusCodes`, in `retry_on`'s vocabulary). Default none: any failure
    /// ends the call at once.
    #[serde(default)]
    pub non_fatal: Vec<RetryOn>,
}

/// A validated hedging policy (one per client edge, shared by its calls).
///
/// ```
/// use cascade::policy::hedge::{Hedge, HedgeConfig, HedgeDecision};
/// use cascade::policy::Outcome;
/// use cascade::time::short::t_ms;
///
/// let cfg: HedgeConfig = toml::from_str(r#"delay = "50ms"
///     max_attempts = 3
///     non_fatal = ["server_error"]"#).unwrap();
/// let hedge = Hedge::new(cfg).unwrap();
/// let (mut call, timer) = hedge.begin(t_ms(0));
/// assert_eq!(timer, Some(t_ms(50)));                  // the second attempt is due at 50 ms
/// assert_eq!(hedge.on_sent(&mut call, t_ms(50)), Some(t_ms(100)));
/// // The first attempt fails with a non-fatal error: the third goes at once.
/// let d = hedge.on_outcome(&mut call, t_ms(60), Outcome::ServerError, None);
/// assert_eq!(d, HedgeDecision::SendAt(t_ms(60)));
/// assert_eq!(hedge.on_sent(&mut call, t_ms(60)), None); // all three are out
/// // The second answers: the call is done, the third gets cancelled.
/// let d = hedge.on_outcome(&mut call, t_ms(70), Outcome::Success, None);
/// assert_eq!(d, HedgeDecision::Commit(Outcome::Success));
/// ```
#[derive(Clone, Debug)]
pub struct Hedge {
    delay: SimDuration,
    max_attempts: u32,
    non_fatal: RetryableSet,
}

/// Per-call hedging memory. `Copy`; create with [`Hedge::begin`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HedgeState {
    sent: u8,
    outstanding: u8,
    stopped: bool,
    last: Option<Outcome>,
}

impl HedgeState {
    /// Attempts sent so far.
    pub fn sent(&self) -> u32 {
        self.sent as u32
    }
    /// Attempts sent whose end has not been reported.
    pub fn outstanding(&self) -> u32 {
        self.outstanding as u32
    }
}

/// What the driver does after an event of a hedged call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeDecision {
    /// The call is over with this outcome: cancel every attempt still out.
    Commit(Outcome),
    /// Send the next hedge at this instant (the hedge timer moves there).
    SendAt(SimTime),
    /// Keep waiting for the attempts out (and the hedge timer, if set).
    Wait,
}

/// What a per-try timeout does to a hedged call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerTryTimeout {
    /// Send the next hedge now; the timed-out attempt stays out (its per-try timer starts
    /// again: the next expiry hedges again or ends it).
    HedgeNow,
    /// No hedge left: the attempt ends as a timeout; then act on the decision.
    End(HedgeDecision),
}

impl Hedge {
    /// Validates `config`: `max_attempts` must be above 1.
    pub fn new(config: HedgeConfig) -> Result<Hedge, ConfigError> {
        if config.max_attempts < 2 {
            return Err(ConfigError::new(
                "max_attempts",
                "must be at least 2 (it counts the first attempt; 1 would never hedge)",
            ));
        }
        Ok(Hedge {
            delay: config.delay,
            max_attempts: config.max_attempts.min(GRPC_MAX_ATTEMPTS),
            non_fatal: RetryableSet::of(&config.non_fatal),
        })
    }

    /// Attempts in all, after gRPC's clamp to 5.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay between hedges.
    pub fn delay(&self) -> SimDuration {
        self.delay
    }

    /// The non-fatal classes (for gRPC throttling, which counts their failures).
    pub fn non_fatal(&self) -> RetryableSet {
        self.non_fatal
    }

    /// Whether a failure of this class lets the other attempts carry on.
    pub fn is_non_fatal(&self, outcome: Outcome) -> bool {
        self.non_fatal.contains(outcome)
    }

    /// The first attempt is being sent at `now`. Returns the call's memory and when the
    /// next hedge is due.
    pub fn begin(&self, now: SimTime) -> (HedgeState, Option<SimTime>) {
        let state = HedgeState {
            sent: 1,
            outstanding: 1,
            stopped: false,
            last: None,
        };
        (state, Some(now + self.delay))
    }

    /// Whether another hedge may still be sent.
    pub fn wants_more(&self, state: &HedgeState) -> bool {
        !state.stopped && (state.sent as u32) < self.max_attempts
    }

    /// A hedge is being sent at `now` (call only when [`wants_more`](Self::wants_more)).
    /// Returns when the next is due, if any is left.
    pub fn on_sent(&self, state: &mut HedgeState, now: SimTime) -> Option<SimTime> {
        debug_assert!(self.wants_more(state));
        state.sent += 1;
        state.outstanding += 1;
        self.wants_more(state).then(|| now + self.delay)
    }

    /// The budget refused a hedge: no more for this call.
    pub fn on_refused(&self, state: &mut HedgeState) -> HedgeDecision {
        state.stopped = true;
        self.settle(state)
    }

    /// One attempt ended at `now` with `outcome` (and the server's pushback `hint`).
    pub fn on_outcome(
        &self,
        state: &mut HedgeState,
        now: SimTime,
        outcome: Outcome,
        hint: Option<SimDuration>,
    ) -> HedgeDecision {
        state.outstanding = state.outstanding.saturating_sub(1);
        if outcome.is_success() || !self.is_non_fatal(outcome) {
            return HedgeDecision::Commit(outcome);
        }
        state.last = Some(outcome);
        if self.wants_more(state) {
            return HedgeDecision::SendAt(now + hint.unwrap_or(SimDuration::ZERO));
        }
        self.settle(state)
    }

    /// An attempt passed its per-try timeout. While hedges are left it stays out and the
    /// next goes at once (Envoy's `hedge_on_per_try_timeout`); with none left it ends as
    /// a timeout, which never ends the others (it is the per-try limit, not an answer).
    pub fn on_per_try_timeout(&self, state: &mut HedgeState) -> PerTryTimeout {
        if self.wants_more(state) {
            return PerTryTimeout::HedgeNow;
        }
        state.outstanding = state.outstanding.saturating_sub(1);
        state.last = Some(Outcome::Timeout);
        PerTryTimeout::End(self.settle(state))
    }

    /// With nothing more to send: done when nothing is out.
    fn settle(&self, state: &HedgeState) -> HedgeDecision {
        match (state.outstanding, state.last) {
            (0, Some(last)) => HedgeDecision::Commit(last),
            _ => HedgeDecision::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RejectReason;
    use crate::time::short::{ms, t_ms};

    fn hedge(text: &str) -> Hedge {
        Hedge::new(toml::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn max_attempts_must_exceed_one_and_is_clamped_to_five_as_grpc_does() {
        let one: HedgeConfig = toml::from_str("max_attempts = 1").unwrap();
        let e = Hedge::new(one).unwrap_err();
        assert!(e.to_string().contains("max_attempts"), "{e}");
        assert_eq!(hedge("max_attempts = 9").max_attempts(), 5);
        assert_eq!(hedge("max_attempts = 4").max_attempts(), 4);
        assert!(
            toml::from_str::<HedgeConfig>("delay = \"1s\"").is_err(),
            "required"
        );
    }

    #[test]
    fn a_delay_of_zero_sends_every_attempt_at_once() {
        let h = hedge("max_attempts = 3");
        let (mut s, t) = h.begin(t_ms(5));
        assert_eq!(t, Some(t_ms(5)));
        assert_eq!(h.on_sent(&mut s, t_ms(5)), Some(t_ms(5)));
        assert_eq!(h.on_sent(&mut s, t_ms(5)), None);
        assert_eq!((s.sent(), s.outstanding()), (3, 3));
        assert!(!h.wants_more(&s));
    }

    #[test]
    fn a_fatal_failure_ends_the_call_while_others_are_out() {
        // gRPC: "If any other status code is received, all outstanding RPCs are canceled".
        let h = hedge("delay = \"10ms\"\nmax_attempts = 3\nnon_fatal = [\"timeout\"]");
        let (mut s, _) = h.begin(t_ms(0));
        h.on_sent(&mut s, t_ms(10));
        let d = h.on_outcome(&mut s, t_ms(12), Outcome::ServerError, None);
        assert_eq!(d, HedgeDecision::Commit(Outcome::ServerError));
        let d2 = h.on_outcome(&mut s, t_ms(12), Outcome::ClientError, None);
        assert_eq!(
            d2,
            HedgeDecision::Commit(Outcome::ClientError),
            "never non-fatal"
        );
    }

    #[test]
    fn non_fatal_failures_hedge_at_once_and_the_last_one_is_the_answer() {
        let h = hedge(
            "delay = \"1s\"\nmax_attempts = 2\nnon_fatal = [\"server_error\", \"bulkhead_full\"]",
        );
        let (mut s, _) = h.begin(t_ms(0));
        let d = h.on_outcome(&mut s, t_ms(3), Outcome::ServerError, None);
        assert_eq!(d, HedgeDecision::SendAt(t_ms(3)), "shortcuts the 1 s delay");
        assert_eq!(h.on_sent(&mut s, t_ms(3)), None);
        let bulkhead = Outcome::Rejected(RejectReason::BulkheadFull);
        let d = h.on_outcome(&mut s, t_ms(4), bulkhead, None);
        assert_eq!(d, HedgeDecision::Commit(bulkhead));
    }

    #[test]
    fn pushback_delays_the_next_hedge_by_the_hint() {
        let h = hedge("delay = \"1s\"\nmax_attempts = 3\nnon_fatal = [\"throttled\"]");
        let (mut s, _) = h.begin(t_ms(0));
        let d = h.on_outcome(&mut s, t_ms(10), Outcome::Throttled, Some(ms(250)));
        assert_eq!(d, HedgeDecision::SendAt(t_ms(260)));
    }

    #[test]
    fn a_refused_hedge_stops_hedging_and_ends_a_call_with_nothing_out() {
        let h = hedge("delay = \"10ms\"\nmax_attempts = 3\nnon_fatal = [\"server_error\"]");
        let (mut s, _) = h.begin(t_ms(0));
        assert_eq!(
            h.on_refused(&mut s),
            HedgeDecision::Wait,
            "the first is still out"
        );
        assert!(!h.wants_more(&s));
        let d = h.on_outcome(&mut s, t_ms(30), Outcome::ServerError, None);
        assert_eq!(d, HedgeDecision::Commit(Outcome::ServerError));

        let (mut s, _) = h.begin(t_ms(0));
        let d = h.on_outcome(&mut s, t_ms(1), Outcome::ServerError, None);
        assert_eq!(d, HedgeDecision::SendAt(t_ms(1)));
        // The budget says no to that hedge: nothing is out, the failure is the answer.
        assert_eq!(
            h.on_refused(&mut s),
            HedgeDecision::Commit(Outcome::ServerError)
        );
    }

    #[test]
    fn a_per_try_timeout_hedges_at_once_while_the_attempt_stays_out() {
        let h = hedge("delay = \"1s\"\nmax_attempts = 2");
        let (mut s, _) = h.begin(t_ms(0));
        assert_eq!(h.on_per_try_timeout(&mut s), PerTryTimeout::HedgeNow);
        h.on_sent(&mut s, t_ms(200));
        assert_eq!(s.outstanding(), 2, "the timed-out attempt still counts");
        // The first (timed-out) attempt answers late: it still wins.
        let d = h.on_outcome(&mut s, t_ms(450), Outcome::Success, None);
        assert_eq!(d, HedgeDecision::Commit(Outcome::Success));
    }

    #[test]
    fn with_no_hedge_left_a_per_try_timeout_ends_its_attempt_but_not_the_call() {
        // Timeouts are not in non_fatal, yet the per-try limit never cancels the others.
        let h = hedge("delay = \"100ms\"\nmax_attempts = 2");
        let (mut s, _) = h.begin(t_ms(0));
        h.on_sent(&mut s, t_ms(100));
        let end = h.on_per_try_timeout(&mut s);
        assert_eq!(
            end,
            PerTryTimeout::End(HedgeDecision::Wait),
            "the second is out"
        );
        let end = h.on_per_try_timeout(&mut s);
        assert_eq!(
            end,
            PerTryTimeout::End(HedgeDecision::Commit(Outcome::Timeout))
        );
    }
}
