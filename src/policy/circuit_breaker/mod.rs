//! Circuit breakers: stop calling a dependency that is failing, give it time to recover,
//! then test it with a few probe calls before trusting it again.
//!
//! Why breakers exist: a caller that keeps sending requests to a failing or overloaded
//! callee wastes its own threads and timeouts waiting on answers that will not come, and
//! keeps the callee pinned under load it cannot shed — the start of a cascade. An open
//! breaker fails fast (no waiting, no load on the callee) and lets the callee drain.
//! Half-open probes exist because "wait and then resume full traffic" would slam a
//! barely-recovered service; a handful of trial calls decides instead.
//!
//! Failure modes the simulator should make visible:
//! - **Flapping**: a callee that is half-healthy trips, recovers on a lucky probe, gets the
//!   full load back, and trips again. Exponential open waits (`wait_open_multiplier`) damp it.
//! - **Synchronised clients**: many callers whose breakers opened together probe together
//!   at `open + wait`, a small thundering herd; per-client breakers desynchronise only if
//!   their trip times differ.
//! - **Stuck half-open**: probe slots are not handed out again until the admitted probes
//!   report; if a probe never completes, Resilience4j with `max_wait_half_open` = 0 and
//!   Polly v8 (which re-admits only from Open) reject forever, reproduced on purpose.
//!   Hystrix does not get stuck with its defaults: every command runs under its 1 s
//!   execution timeout, so a hung trial times out and `markNonSuccess` reopens the
//!   breaker; only with `execution.timeout.enabled = false` does it stay half-open. That
//!   timeout is the caller's, not the breaker's: the Hystrix preset exposes it as
//!   [`CircuitBreakerConfig::implied_timeout`] for the driver to apply.
//! - **Blind spots**: thresholds below `minimum_calls` never trip; a time window only
//!   remembers `size` whole seconds; Hystrix decides on 500 ms snapshots, so it trips late.
//!
//! Semantics follow `shared/docs/policy-semantics.md` §1 (Resilience4j, the default), §4.3
//! (Polly v8) and §9.1 (Hystrix 1.5), including their comparison quirks: Resilience4j opens
//! at `rate >= threshold` and probes only *strictly after* the wait, Polly probes at `>=`,
//! Hystrix truncates its error percentage to an integer and compares whole milliseconds.
//!
//! Driving a breaker ([`CircuitBreaker`]): call [`try_acquire`](CircuitBreaker::try_acquire)
//! before each call; report every admitted call once with `on_success` / `on_failure` /
//! `on_ignored` (or `on_outcome`, which classifies an [`Outcome`](crate::policy::Outcome)
//! per the config); after each call re-read [`next_wakeup`](CircuitBreaker::next_wakeup)
//! and call [`on_wakeup`](CircuitBreaker::on_wakeup) then; drain
//! [`drain_transitions`](CircuitBreaker::drain_transitions) for charts. `force_open`,
//! `disable` and `reset` are the libraries' manual overrides. How many breaker
//! objects exist (per client, shared per callee) is the simulator's decision.
//!
//! Files: `config` (serde shape, defaults, validation), `window` (Resilience4j count and
//! time windows), `health` (Hystrix buckets, Polly sub-windows), `breaker` (the state
//! machine). Nothing here reads a clock.

mod breaker;
mod config;
mod health;
mod window;

pub use breaker::{Admission, BreakerCounters, BreakerState, CircuitBreaker, Transition};
pub use config::{
    AfterMaxWait, CircuitBreakerConfig, ConsecutiveConfig, CountWindowConfig,
    DEFAULT_HALF_OPEN_CALLS, DEFAULT_WAIT_OPEN, HystrixConfig, OutcomeKind, PollyConfig,
    TimeWindowConfig,
};

#[cfg(test)]
mod tests;
