//! Backoff: how long to wait before the next retry. [`Backoff`] is the validated, immutable
//! strategy (share one per client); [`BackoffState`] is the tiny per-call memory (retry
//! number, previous delay, Polly's decorrelated-jitter state). Start every logical call
//! with a fresh `BackoffState::default()` and call [`Backoff::next_delay`] once per retry.
//!
//! Why backoff exists: a failing dependency is usually failing *because it is overloaded*.
//! Retrying immediately multiplies its load exactly when it can least afford it (a retry
//! storm); waiting longer after each failure gives it room to recover.
//!
//! Why jitter exists: clients that failed together (one slow GC pause, one dropped link)
//! retry together. Without randomness a deterministic backoff keeps them synchronised, so
//! the callee sees the same spike again at `t + base`, `t + 2·base`, … ("thundering herd").
//! Full jitter spreads the herd over the whole interval; equal jitter keeps a guaranteed
//! minimum wait; decorrelated jitter makes each client's sequence depend on its own
//! history. Backoff alone does not bound the *amount* of retry traffic — that is what retry
//! budgets (`policy::budget`) are for.
//!
//! Where each formula comes from, and how closely it follows (see
//! `shared/docs/policy-semantics.md` §2.3 Resilience4j, §4.1 Polly v8, §5.1–5.2 AWS, §6.1
//! gRPC):
//! - reproduced from the named code, rounding included: `full_jitter` and `equal_jitter`
//!   (aws-sdk-java-v2's standard strategy by default, whole milliseconds; the AWS blog's
//!   simulator and botocore with `flavor = "continuous"`), `decorrelated_jitter` (the
//!   blog's simulator), `randomized_exponential` (Resilience4j
//!   `ofExponentialRandomBackoff`, whole ms, its `+1` randomizer), `polly` and
//!   `decorrelated_jitter_v2` (Polly v8, whole .NET ticks);
//! - `grpc` follows the gRFC A6 *text* (both revisions), not one language's implementation;
//! - `fixed`, `linear` and `exponential` are generic shapes in nanoseconds. `fixed` is
//!   Resilience4j's `IntervalFunction.of` for whole-millisecond delays (Java truncates to
//!   ms); `exponential` matches Resilience4j's `ofExponentialBackoff` only while every step
//!   `base · multiplier^k` is a whole number of milliseconds (Java truncates at every
//!   step); `linear` is no particular library's.
//!
//! Each delay consumes exactly one `U[0,1)` draw from the caller's RNG, except the
//! deterministic strategies (`none`, `immediate`, `fixed`, `linear`, `exponential`,
//! un-jittered `polly`), which consume none.
//!
//! This module must not read a clock or own an RNG.
//!
//! Files: `strategy` (the [`BackoffConfig`] enum, [`Backoff`], [`BackoffState`]), one file
//! per family: `basic` (fixed, linear, exponential), `aws` (full, equal and decorrelated
//! jitter),
//! `resilience4j`, `polly`, `grpc`.

mod aws;
mod basic;
mod grpc;
mod polly;
mod resilience4j;
mod strategy;

pub use aws::{DecorrelatedJitterConfig, JitterConfig, JitterFlavor};
pub use basic::{ExponentialConfig, FixedConfig, LinearConfig};
pub use grpc::{GrpcBackoffConfig, GrpcFlavor};
pub use polly::{DecorrelatedJitterV2Config, PollyBackoffConfig, PollyBackoffType};
pub use resilience4j::RandomizedExponentialConfig;
pub use strategy::{Backoff, BackoffConfig, BackoffState};

#[cfg(test)]
mod tests;
