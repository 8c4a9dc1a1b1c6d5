//! The vocabulary every policy shares: how an attempt ended ([`Outcome`]), why a
//! protection refused a call ([`RejectReason`]), and the error a bad configuration gets
//! ([`ConfigError`], shared with the rest of the crate).
//!
//! Policies classify outcomes the way the libraries do: a server error, a timeout and a
//! rejection by a protection are *failures* (retryable by default, counted by breakers
//! unless configured otherwise); a client error (the caller's own mistake, a 4xx) is never
//! retried and never counts against the callee's health, because the callee is fine.

use std::fmt;

pub use crate::error::ConfigError;

/// Why a protection refused a call before it ran. Rejections are outcomes, not Rust errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The callee's request queue was full.
    QueueFull,
    /// The request waited in the callee's queue longer than the queue timeout.
    QueueTimeout,
    /// A bulkhead (semaphore or thread pool) had no room.
    BulkheadFull,
    /// A circuit breaker is open (or half-open with no probe permits left).
    CircuitOpen,
    /// A rate limiter had no permit within its wait limit.
    RateLimited,
    /// Load shedding dropped the request (priority or adaptive concurrency limit).
    Shed,
    /// The propagated deadline had already passed.
    DeadlineExceeded,
    /// No instance of the callee could take the request (none ready or healthy, and the
    /// balancer not in panic): Envoy's "no healthy upstream" 503.
    NoHealthyUpstream,
}

impl RejectReason {
    /// Every reason, in declaration order (the order of the CSV columns).
    pub const ALL: [RejectReason; 8] = [
        RejectReason::QueueFull,
        RejectReason::QueueTimeout,
        RejectReason::BulkheadFull,
        RejectReason::CircuitOpen,
        RejectReason::RateLimited,
        RejectReason::Shed,
        RejectReason::DeadlineExceeded,
        RejectReason::NoHealthyUpstream,
    ];

    /// The snake_case name used in CSV columns and charts.
    pub const fn name(self) -> &'static str {
        match self {
            RejectReason::QueueFull => "queue_full",
            RejectReason::QueueTimeout => "queue_timeout",
            RejectReason::BulkheadFull => "bulkhead_full",
            RejectReason::CircuitOpen => "circuit_open",
            RejectReason::RateLimited => "rate_limited",
            RejectReason::Shed => "shed",
            RejectReason::DeadlineExceeded => "deadline_exceeded",
            RejectReason::NoHealthyUpstream => "no_healthy_upstream",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one attempt of a protected call ended, as a policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The callee answered successfully.
    Success,
    /// The callee answered with a server-side error (a 5xx, `UNAVAILABLE`).
    ServerError,
    /// The caller's request was wrong (a 4xx, `INVALID_ARGUMENT`): never retried, never a
    /// breaker failure.
    ClientError,
    /// The caller stopped waiting (per-attempt or total timeout).
    Timeout,
    /// The callee asked the caller to slow down (HTTP 429, gRPC `RESOURCE_EXHAUSTED`): its
    /// rate limiter, or an overload protection configured to answer "throttled". Retryable
    /// by default (after the server's Retry-After, where honoured).
    Throttled,
    /// A protection refused the call before it ran.
    Rejected(RejectReason),
}

impl Outcome {
    /// True only for [`Outcome::Success`].
    pub const fn is_success(self) -> bool {
        matches!(self, Outcome::Success)
    }
}
