//! Retry budgets: caps on retry traffic *as a whole*, shared by every call of a client.
//! [`RetryBudget`] is one enum over three libraries' budgets — Finagle's `RetryBudget`
//! ([`FinagleBudget`]), gRPC's `retryThrottling` ([`GrpcThrottle`]) and the AWS SDKs'
//! retry quota ([`AwsRetryQuota`]) — behind one driver API.
//!
//! Why budgets beat `max_attempts` alone: `max_attempts = 3` limits retries *per call*, so
//! when a dependency fails completely every call still makes three attempts and the
//! dependency sees three times its normal load at the worst possible moment. Stacked over
//! a call chain, per-call limits multiply (3 per layer, 3⁵ at depth five). A budget caps
//! retries as a *fraction of traffic* (Finagle: 20 % of requests plus a small reserve) or
//! as a token bucket drained by failures (gRPC, AWS), so under total failure the extra
//! load stays bounded — about +20 % instead of +200 % — while isolated transient failures
//! are still retried. The failure mode of a budget is the reverse: once drained it refuses
//! retries that would have succeeded, and (AWS) it refills slowly, so recovery lags.
//!
//! # Driver protocol (the same for all three kinds)
//! - build with [`RetryBudget::new`], then [`RetryBudget::for_retry`] with the client's
//!   retry policy (gRPC counts only *retryable* failures);
//! - [`RetryBudget::on_request`] when an *original* request starts (Finagle deposits);
//! - [`RetryBudget::on_attempt_outcome`] when *any* attempt ends (gRPC counts here);
//! - [`RetryBudget::try_acquire_retry`] after the retry policy said `RetryAt` — a refusal
//!   means "give up with `BudgetExhausted`"; it never blocks;
//! - [`RetryBudget::on_call_finished`] once per call with its final outcome (AWS refunds).
//!
//! Each call keeps a [`BudgetTicket`] (`Copy`, 8 bytes) holding what it acquired.
//! Nothing here reads a clock or allocates after construction.

use serde::{Deserialize, Serialize};

use super::retry::{Retry, RetryableSet};
use super::{ConfigError, Outcome};
use crate::time::{SimDuration, SimTime};

/// A retry budget as written in a model file (externally tagged):
/// `budget = { finagle = { ttl = "10s", min_retries_per_sec = 10, percent_can_retry = 0.2 } }`,
/// `budget = { grpc = { max_tokens = 10, token_ratio = 0.1 } }`,
/// `budget = { aws = { initial = 500, retry_cost = 5, timeout_cost = 10, no_retry_increment = 1 } }`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryBudgetConfig {
    /// Finagle `RetryBudget` (§7.1).
    Finagle(FinagleBudgetConfig),
    /// gRPC `retryThrottling` (§6.2).
    Grpc(GrpcThrottleConfig),
    /// AWS SDK standard-mode retry quota (§5.2).
    Aws(AwsQuotaConfig),
}

/// Finagle's budget. Defaults are `RetryBudget()`'s: ttl 10 s, 10 retries/s reserve, 20 %.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinagleBudgetConfig {
    /// Lifetime of a deposit or withdrawal. Default 10 s; whole seconds must be 1–60.
    pub ttl: SimDuration,
    /// Retries per second allowed regardless of traffic. Default 10.
    pub min_retries_per_sec: u32,
    /// Retries allowed per original request, as a fraction (0.2 = 20 %). Default 0.2;
    /// 0–1000.
    pub percent_can_retry: f64,
}

impl Default for FinagleBudgetConfig {
    fn default() -> Self {
        FinagleBudgetConfig {
            ttl: SimDuration::from_secs(10),
            min_retries_per_sec: 10,
            percent_can_retry: 0.2,
        }
    }
}

/// When gRPC's throttle counts outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrpcCounting {
    /// Every attempt's outcome moves the tokens (what implementations commonly do).
    #[default]
    PerAttempt,
    /// Only each call's final outcome does (one reading of the A6 text).
    PerCall,
}

/// gRPC `retryThrottling`. gRPC has no defaults (both fields are required); the defaults
/// here are the A6 example: 10 tokens, ratio 0.1, counted per attempt.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcThrottleConfig {
    /// Bucket size and initial tokens. 1–1000.
    pub max_tokens: u32,
    /// Tokens returned per success; only 3 decimals are kept (0.5466 → 0.546). > 0.
    pub token_ratio: f64,
    /// Per attempt (default) or per call.
    pub counting: GrpcCounting,
}

impl Default for GrpcThrottleConfig {
    fn default() -> Self {
        GrpcThrottleConfig {
            max_tokens: 10,
            token_ratio: 0.1,
            counting: GrpcCounting::PerAttempt,
        }
    }
}

/// AWS standard-mode retry quota (botocore `RetryQuota`). Defaults: 500 tokens (also the
/// maximum), 5 per retry, 10 per retry after a timeout, +1 for a first-attempt success.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsQuotaConfig {
    /// Initial and maximum tokens. Default 500; ≥ 1.
    pub initial: u32,
    /// Tokens per retry. Default 5; ≥ 1.
    pub retry_cost: u32,
    /// Tokens per retry after a timeout. Default 10; ≥ 1.
    pub timeout_cost: u32,
    /// Tokens returned when a call succeeds without retrying. Default 1.
    pub no_retry_increment: u32,
}

impl Default for AwsQuotaConfig {
    fn default() -> Self {
        AwsQuotaConfig {
            initial: 500,
            retry_cost: 5,
            timeout_cost: 10,
            no_retry_increment: 1,
        }
    }
}

/// Per-call budget memory: the cost of the last retry this call acquired (AWS refunds
/// only that) and how many retries it acquired. Start each call with `default()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BudgetTicket {
    last_cost: u32,
    retries: u32,
}

impl BudgetTicket {
    /// Retries this call has been granted.
    pub fn retries(&self) -> u32 {
        self.retries
    }
    /// Tokens taken by the call's last granted retry (0 if none; AWS only).
    pub fn last_cost(&self) -> u32 {
        self.last_cost
    }
}

const SLICES: usize = 10;
const SCALE: f64 = 1000.0;

/// Finagle's `RetryBudget`: integer tokens ×1000. Each original request deposits 1000
/// (0 when `percent_can_retry` is 0), each retry withdraws `trunc(1000 / percent)` (1 when
/// 0), and a constant reserve of `min_retries_per_sec · ttl_secs · withdrawal` is always
/// available. Deposits and withdrawals live in a windowed sum of 10 slices of `ttl/10`
/// on a fixed grid **aligned to the budget's creation**, so an entry made in slice `k`
/// expires when slice `k + 10` begins — after between 0.9·ttl and ttl. With zero reserve
/// and zero percent the budget never allows a retry (Finagle's `Empty`).
///
/// **Where this differs from Finagle.** Finagle's leaky bucket is a util `WindowedAdder`
/// (`TokenBucket.newLeakyBucket`: `WindowedAdder(ttl_ms, 10, nowMs)`, a current slice plus
/// 9 stored ones) that has no grid: it rotates only when accessed, at the first `add` or
/// `sum` at least one slice (`ttl/10`) after the last rotation, skips
/// `floor(elapsed / slice) − 1` stored slices, and restarts the current slice *at that
/// access* (`old = now()`), dropping the remainder. So its slices drift with the traffic
/// and stretch when accesses are sparse: with accesses every few milliseconds an entry
/// lives from 0.9·ttl to about ttl (plus up to ten gaps between accesses); with an access
/// every 1.9 slices each rotation advances one slice while 1.9 elapse, and an entry can
/// live almost 2·ttl; an idle gap of 9.9 slices clears only 8 of the 9 stored slices. This
/// budget keeps the fixed grid (0.9·ttl to ttl always); the two agree when the budget is
/// touched far more often than every `ttl/10`.
#[derive(Clone, Debug)]
pub struct FinagleBudget {
    deposit: i64,
    withdrawal: i64,
    reserve: i64,
    created: SimTime,
    slice_ns: u64,
    head: u64,
    ring: [i64; SLICES],
    sum: i64,
    exhausted: u64,
}

impl FinagleBudget {
    /// Validates `config`; `now` is the creation time the slices align to.
    pub fn new(config: &FinagleBudgetConfig, now: SimTime) -> Result<Self, ConfigError> {
        let ttl_secs = config.ttl.as_nanos() / 1_000_000_000;
        if !(1..=60).contains(&ttl_secs) {
            return Err(ConfigError::new(
                "ttl",
                format!(
                    "must be between 1s and 60s (whole seconds), got {}",
                    config.ttl
                ),
            ));
        }
        let p = config.percent_can_retry;
        if !(0.0..=1000.0).contains(&p) {
            return Err(ConfigError::new(
                "percent_can_retry",
                "must be between 0 and 1000 (a fraction: 0.2 means 20%)",
            ));
        }
        let (deposit, withdrawal) = if p == 0.0 {
            (0, 1)
        } else {
            (SCALE as i64, (SCALE / p) as i64)
        };
        let reserve = i64::from(config.min_retries_per_sec)
            .saturating_mul(ttl_secs as i64)
            .saturating_mul(withdrawal);
        Ok(FinagleBudget {
            deposit,
            withdrawal,
            reserve,
            created: now,
            slice_ns: config.ttl.as_nanos() / SLICES as u64,
            head: 0,
            ring: [0; SLICES],
            sum: 0,
            exhausted: 0,
        })
    }

    /// Drops the slices that have aged out by `now`.
    fn advance(&mut self, now: SimTime) {
        let idx = now.saturating_since(self.created).as_nanos() / self.slice_ns;
        if idx <= self.head {
            return;
        }
        let stale = (idx - self.head).min(SLICES as u64);
        for j in 1..=stale {
            let slot = ((self.head + j) % SLICES as u64) as usize;
            self.sum -= self.ring[slot];
            self.ring[slot] = 0;
        }
        self.head = idx;
    }

    fn add(&mut self, now: SimTime, x: i64) {
        self.advance(now);
        self.ring[(self.head % SLICES as u64) as usize] += x;
        self.sum += x;
    }

    /// An original request starts: deposit.
    pub fn deposit(&mut self, now: SimTime) {
        self.add(now, self.deposit);
    }

    /// Before a retry: withdraw if `sum + reserve ≥ withdrawal`.
    pub fn try_withdraw(&mut self, now: SimTime) -> bool {
        self.advance(now);
        if self.sum.saturating_add(self.reserve) >= self.withdrawal {
            self.add(now, -self.withdrawal);
            true
        } else {
            self.exhausted += 1;
            false
        }
    }

    /// Retries currently available: `(sum + reserve) / withdrawal` (integer division).
    pub fn balance(&mut self, now: SimTime) -> i64 {
        self.advance(now);
        self.sum.saturating_add(self.reserve) / self.withdrawal
    }
}

/// gRPC `retryThrottling`, in exact integer milli-tokens: starts full; −1 token per failed
/// attempt, +`token_ratio` per success (capped); a retry may be sent only while
/// `tokens > max_tokens / 2`. Never blocks. With 10 tokens and ratio 0.1, five straight
/// failures (10 → 5) stop retries and a single success (5.1 > 5) re-enables them. In
/// steady state the tokens drain, and retries end up throttled, whenever there are fewer
/// than `1/token_ratio` successes per failure.
///
/// A6: "The only RPCs that are counted as failures for the throttling policy are RPCs
/// that fail with a status code that qualifies as a retryable or non-fatal status code,
/// or that receive a pushback response indicating not to retry" — so only outcomes in the
/// retry policy's `retry_on` take a token ([`RetryBudget::counting_failures_as`]; by
/// default the default `retry_on`: timeouts, server errors, rejections), a pushback "do
/// not retry" takes one whatever its status ([`RetryBudget::on_pushback_stop`]), and any
/// other status (a client error, by default) leaves the tokens alone.
#[derive(Clone, Debug)]
pub struct GrpcThrottle {
    max_milli: u32,
    ratio_milli: u32,
    tokens_milli: u32,
    counting: GrpcCounting,
    failures: RetryableSet,
    exhausted: u64,
}

impl GrpcThrottle {
    /// Validates `config`.
    pub fn new(config: &GrpcThrottleConfig) -> Result<Self, ConfigError> {
        if !(1..=1000).contains(&config.max_tokens) {
            return Err(ConfigError::new("max_tokens", "must be between 1 and 1000"));
        }
        let r = config.token_ratio;
        // Round to micro-tokens first so 0.57 (0.56999…) keeps its 570 milli-tokens,
        // then truncate to 3 decimals as gRPC does.
        let ratio_milli = if r.is_finite() && r > 0.0 && r < 1e6 {
            ((r * 1e6).round() as u64 / 1000) as u32
        } else {
            0
        };
        if ratio_milli == 0 {
            return Err(ConfigError::new(
                "token_ratio",
                "must be > 0 with at least 0.001 kept after truncating to 3 decimals",
            ));
        }
        Ok(GrpcThrottle {
            max_milli: config.max_tokens * 1000,
            ratio_milli,
            tokens_milli: config.max_tokens * 1000,
            counting: config.counting,
            failures: RetryableSet::default(),
            exhausted: 0,
        })
    }

    fn record(&mut self, outcome: Outcome) {
        if outcome.is_success() {
            self.tokens_milli = (self.tokens_milli + self.ratio_milli).min(self.max_milli);
        } else if self.failures.contains(outcome) {
            self.take_one();
        }
    }

    fn take_one(&mut self) {
        self.tokens_milli = self.tokens_milli.saturating_sub(1000);
    }

    /// Whether a retry may be sent now: `tokens > max_tokens / 2` (strictly).
    pub fn try_acquire(&mut self) -> bool {
        if self.tokens_milli * 2 > self.max_milli {
            true
        } else {
            self.exhausted += 1;
            false
        }
    }

    /// Current tokens (exact to 3 decimals).
    pub fn tokens(&self) -> f64 {
        f64::from(self.tokens_milli) / 1000.0
    }
}

/// The AWS SDKs' retry quota: a retry costs `retry_cost` (`timeout_cost` after a
/// timeout) and is refused when the cost exceeds what is left; a successful call refunds
/// its *last* acquired cost only (or `no_retry_increment` if it never retried); a failed
/// call refunds nothing. So under sustained failure retries stop after `initial /
/// retry_cost` of them and recover one token per first-try success.
#[derive(Clone, Debug)]
pub struct AwsRetryQuota {
    max: u32,
    available: u32,
    retry_cost: u32,
    timeout_cost: u32,
    no_retry_increment: u32,
    exhausted: u64,
}

impl AwsRetryQuota {
    /// Validates `config`.
    pub fn new(config: &AwsQuotaConfig) -> Result<Self, ConfigError> {
        for (field, v) in [
            ("initial", config.initial),
            ("retry_cost", config.retry_cost),
            ("timeout_cost", config.timeout_cost),
        ] {
            if v == 0 {
                return Err(ConfigError::new(field, "must be at least 1"));
            }
        }
        Ok(AwsRetryQuota {
            max: config.initial,
            available: config.initial,
            retry_cost: config.retry_cost,
            timeout_cost: config.timeout_cost,
            no_retry_increment: config.no_retry_increment,
            exhausted: 0,
        })
    }

    /// Takes the cost of retrying after `outcome`, or refuses if it exceeds what is left.
    pub fn try_acquire(&mut self, outcome: Outcome, ticket: &mut BudgetTicket) -> bool {
        let cost = match outcome {
            Outcome::Timeout => self.timeout_cost,
            _ => self.retry_cost,
        };
        if cost > self.available {
            self.exhausted += 1;
            return false;
        }
        self.available -= cost;
        ticket.last_cost = cost;
        true
    }

    /// A call ended: refund on success only.
    pub fn on_call_finished(&mut self, success: bool, ticket: &BudgetTicket) {
        if success {
            let refund = if ticket.last_cost == 0 {
                self.no_retry_increment
            } else {
                ticket.last_cost
            };
            self.available = self.available.saturating_add(refund).min(self.max);
        }
    }

    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.available
    }
}

/// One of the three budgets behind one driver API (see the module docs).
///
/// ```
/// use cascade::policy::budget::{BudgetTicket, RetryBudget, RetryBudgetConfig};
/// use cascade::policy::Outcome;
/// use cascade::time::short::t_ms;
///
/// #[derive(serde::Deserialize)]
/// struct Client { budget: RetryBudgetConfig }
/// let c: Client = toml::from_str(r#"budget = { aws = { initial = 10 } }"#).unwrap();
/// let mut budget = RetryBudget::new(c.budget, t_ms(0)).unwrap();
///
/// // A call whose attempts keep failing: retries cost 5 of the 10 tokens each.
/// let mut ticket = BudgetTicket::default();
/// budget.on_request(t_ms(0));
/// for _ in 0..3 {
///     budget.on_attempt_outcome(t_ms(1), Outcome::ServerError);
///     budget.try_acquire_retry(t_ms(1), Outcome::ServerError, &mut ticket);
/// }
/// assert_eq!(ticket.retries(), 2);
/// assert_eq!(budget.exhausted_count(), 1);
/// budget.on_call_finished(t_ms(2), Outcome::ServerError, &ticket); // no refund on failure
/// ```
#[derive(Clone, Debug)]
pub enum RetryBudget {
    /// Finagle `RetryBudget`.
    Finagle(FinagleBudget),
    /// gRPC `retryThrottling`.
    Grpc(GrpcThrottle),
    /// AWS retry quota.
    Aws(AwsRetryQuota),
}

impl RetryBudget {
    /// Validates `config`; `now` is the creation time (Finagle's slices align to it).
    pub fn new(config: RetryBudgetConfig, now: SimTime) -> Result<Self, ConfigError> {
        Ok(match &config {
            RetryBudgetConfig::Finagle(c) => RetryBudget::Finagle(FinagleBudget::new(c, now)?),
            RetryBudgetConfig::Grpc(c) => RetryBudget::Grpc(GrpcThrottle::new(c)?),
            RetryBudgetConfig::Aws(c) => RetryBudget::Aws(AwsRetryQuota::new(c)?),
        })
    }

    /// Which attempt outcomes gRPC's throttle counts as failures: those `retry` retries
    /// (its `retry_on`). Call once after [`new`](Self::new) on a client that has a retry
    /// policy (a hedging policy adds its non-fatal codes with [`RetryableSet::union`]);
    /// without it the default `retry_on` is assumed. No effect on Finagle and AWS budgets.
    pub fn counting_failures_as(mut self, retryable: RetryableSet) -> Self {
        if let RetryBudget::Grpc(g) = &mut self {
            g.failures = retryable;
        }
        self
    }

    /// [`counting_failures_as`](Self::counting_failures_as) the retry policy's `retry_on`.
    pub fn for_retry(self, retry: &Retry) -> Self {
        self.counting_failures_as(retry.retryable())
    }

    /// Call when a response carries a server pushback saying "do not retry" (gRPC
    /// `grpc-retry-pushback-ms` negative or unparsable), *instead of*
    /// [`on_attempt_outcome`](Self::on_attempt_outcome) for that attempt: gRPC's throttle
    /// counts the RPC as one failure whatever its status, at once. No effect on Finagle
    /// and AWS budgets.
    pub fn on_pushback_stop(&mut self, _now: SimTime) {
        if let RetryBudget::Grpc(g) = self {
            g.take_one();
        }
    }

    /// Call when an original request (not a retry) starts. Finagle deposits.
    pub fn on_request(&mut self, now: SimTime) {
        if let RetryBudget::Finagle(b) = self {
            b.deposit(now);
        }
    }

    /// Call when any attempt ends. gRPC (per-attempt counting) moves its tokens.
    pub fn on_attempt_outcome(&mut self, _now: SimTime, outcome: Outcome) {
        if let RetryBudget::Grpc(g) = self
            && g.counting == GrpcCounting::PerAttempt
        {
            g.record(outcome);
        }
    }

    /// Call after the retry policy decided to retry the attempt that ended with
    /// `outcome`. `false` means: do not retry, give up with `BudgetExhausted`. Never blocks.
    pub fn try_acquire_retry(
        &mut self,
        now: SimTime,
        outcome: Outcome,
        ticket: &mut BudgetTicket,
    ) -> bool {
        let granted = match self {
            RetryBudget::Finagle(b) => b.try_withdraw(now),
            RetryBudget::Grpc(g) => g.try_acquire(),
            RetryBudget::Aws(a) => a.try_acquire(outcome, ticket),
        };
        if granted {
            ticket.retries += 1;
        }
        granted
    }

    /// Call once when a call ends, with its final outcome. AWS refunds on success;
    /// gRPC (per-call counting) moves its tokens.
    pub fn on_call_finished(&mut self, _now: SimTime, outcome: Outcome, ticket: &BudgetTicket) {
        match self {
            RetryBudget::Aws(a) => a.on_call_finished(outcome.is_success(), ticket),
            RetryBudget::Grpc(g) if g.counting == GrpcCounting::PerCall => g.record(outcome),
            _ => {}
        }
    }

    /// How many retries this budget has refused so far (for metrics).
    pub fn exhausted_count(&self) -> u64 {
        match self {
            RetryBudget::Finagle(b) => b.exhausted,
            RetryBudget::Grpc(g) => g.exhausted,
            RetryBudget::Aws(a) => a.exhausted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RejectReason;
    use crate::time::short::{secs, t_ms};

    fn budget(toml_text: &str) -> RetryBudget {
        #[derive(Deserialize)]
        struct Holder {
            budget: RetryBudgetConfig,
        }
        let h: Holder = toml::from_str(toml_text).unwrap();
        RetryBudget::new(h.budget, SimTime::ZERO).unwrap()
    }

    /// Runs `calls` calls, each allowed `max_retries` retries, whose attempts all end with
    /// `outcome`, driving the budget as the module docs say. Returns the retries granted.
    fn failing_calls(b: &mut RetryBudget, calls: u32, max_retries: u32, outcome: Outcome) -> u32 {
        let mut granted = 0;
        for _ in 0..calls {
            let mut ticket = BudgetTicket::default();
            b.on_request(t_ms(0));
            loop {
                b.on_attempt_outcome(t_ms(0), outcome);
                if ticket.retries() == max_retries
                    || !b.try_acquire_retry(t_ms(0), outcome, &mut ticket)
                {
                    break;
                }
            }
            b.on_call_finished(t_ms(0), outcome, &ticket);
            granted += ticket.retries();
        }
        granted
    }

    mod config {
        use super::*;

        fn error(toml_text: &str) -> String {
            #[derive(Deserialize)]
            struct Holder {
                budget: RetryBudgetConfig,
            }
            let h: Holder = toml::from_str(toml_text).unwrap();
            RetryBudget::new(h.budget, SimTime::ZERO).unwrap_err().field
        }

        #[test]
        fn parses_the_documented_shapes_with_defaults() {
            assert!(matches!(
                budget(r#"budget = { finagle = {} }"#),
                RetryBudget::Finagle(_)
            ));
            assert!(matches!(
                budget(
                    r#"budget = { finagle = { ttl = "10s", min_retries_per_sec = 10, percent_can_retry = 0.2 } }"#
                ),
                RetryBudget::Finagle(_)
            ));
            assert!(matches!(
                budget(r#"budget = { grpc = { max_tokens = 10, token_ratio = 0.1 } }"#),
                RetryBudget::Grpc(_)
            ));
            assert!(matches!(
                budget(
                    r#"budget = { aws = { initial = 500, retry_cost = 5, timeout_cost = 10, no_retry_increment = 1 } }"#
                ),
                RetryBudget::Aws(_)
            ));
        }

        #[test]
        fn rejects_nonsense_with_the_field_name() {
            assert_eq!(error(r#"budget = { finagle = { ttl = "500ms" } }"#), "ttl");
            assert_eq!(error(r#"budget = { finagle = { ttl = "61s" } }"#), "ttl");
            assert_eq!(
                error(r#"budget = { finagle = { percent_can_retry = -0.1 } }"#),
                "percent_can_retry"
            );
            assert_eq!(
                error(r#"budget = { finagle = { percent_can_retry = 1001 } }"#),
                "percent_can_retry"
            );
            assert_eq!(
                error(r#"budget = { grpc = { max_tokens = 0 } }"#),
                "max_tokens"
            );
            assert_eq!(
                error(r#"budget = { grpc = { max_tokens = 1001 } }"#),
                "max_tokens"
            );
            assert_eq!(
                error(r#"budget = { grpc = { token_ratio = 0.0 } }"#),
                "token_ratio"
            );
            assert_eq!(
                error(r#"budget = { grpc = { token_ratio = 0.0004 } }"#),
                "token_ratio"
            );
            assert_eq!(
                error(r#"budget = { aws = { retry_cost = 0 } }"#),
                "retry_cost"
            );
            assert_eq!(error(r#"budget = { aws = { initial = 0 } }"#), "initial");
        }

        #[test]
        fn accepts_ttl_edges_in_whole_seconds() {
            budget(r#"budget = { finagle = { ttl = "1s" } }"#);
            budget(r#"budget = { finagle = { ttl = "60s" } }"#);
            budget(r#"budget = { finagle = { ttl = "60s999ms" } }"#);
        }

        #[test]
        fn rejects_unknown_fields() {
            #[derive(Debug, Deserialize)]
            #[allow(dead_code)]
            struct Holder {
                budget: RetryBudgetConfig,
            }
            assert!(toml::from_str::<Holder>(r#"budget = { aws = { cost = 5 } }"#).is_err());
            assert!(toml::from_str::<Holder>(r#"budget = { envoy = {} }"#).is_err());
        }
    }

    mod aws {
        use super::*;

        fn quota() -> RetryBudget {
            budget("budget = { aws = {} }")
        }

        fn available(b: &RetryBudget) -> u32 {
            match b {
                RetryBudget::Aws(a) => a.available(),
                _ => unreachable!(),
            }
        }

        #[test]
        fn total_failure_allows_exactly_100_retries() {
            let mut b = quota();
            assert_eq!(failing_calls(&mut b, 1000, 2, Outcome::ServerError), 100);
            assert_eq!(available(&b), 0);
            assert_eq!(b.exhausted_count(), 1000 - 50);
        }

        #[test]
        fn timeouts_cost_double_so_only_50() {
            let mut b = quota();
            assert_eq!(failing_calls(&mut b, 1000, 2, Outcome::Timeout), 50);
        }

        #[test]
        fn rejections_cost_the_normal_price() {
            let mut b = quota();
            let rejected = Outcome::Rejected(RejectReason::CircuitOpen);
            assert_eq!(failing_calls(&mut b, 1000, 2, rejected), 100);
        }

        #[test]
        fn success_refunds_only_the_last_acquired_cost() {
            let mut b = quota();
            let mut t = BudgetTicket::default();
            assert!(b.try_acquire_retry(t_ms(0), Outcome::Timeout, &mut t));
            assert!(b.try_acquire_retry(t_ms(0), Outcome::ServerError, &mut t));
            assert_eq!(available(&b), 485);
            b.on_call_finished(t_ms(0), Outcome::Success, &t);
            assert_eq!(available(&b), 490, "+5 (the last cost), not +15");
        }

        #[test]
        fn first_try_success_adds_one_up_to_the_initial_amount() {
            let mut b = quota();
            let mut t = BudgetTicket::default();
            assert!(b.try_acquire_retry(t_ms(0), Outcome::ServerError, &mut t));
            b.on_call_finished(t_ms(0), Outcome::ServerError, &t);
            assert_eq!(available(&b), 495, "no refund after a final failure");
            for expected in [496, 497, 498, 499, 500, 500] {
                b.on_call_finished(t_ms(0), Outcome::Success, &BudgetTicket::default());
                assert_eq!(available(&b), expected);
            }
        }

        #[test]
        fn refuses_when_cost_exceeds_what_is_left() {
            let mut b = budget("budget = { aws = { initial = 9 } }");
            let mut t = BudgetTicket::default();
            assert!(!b.try_acquire_retry(t_ms(0), Outcome::Timeout, &mut t));
            assert!(b.try_acquire_retry(t_ms(0), Outcome::ServerError, &mut t));
            assert!(!b.try_acquire_retry(t_ms(0), Outcome::ServerError, &mut t));
            assert_eq!((available(&b), t.retries(), t.last_cost()), (4, 1, 5));
        }
    }

    mod grpc {
        use super::*;

        fn tokens(b: &RetryBudget) -> f64 {
            match b {
                RetryBudget::Grpc(g) => g.tokens(),
                _ => unreachable!(),
            }
        }

        fn can_retry(b: &mut RetryBudget) -> bool {
            b.try_acquire_retry(t_ms(0), Outcome::ServerError, &mut BudgetTicket::default())
        }

        #[test]
        fn five_failures_stop_retries_and_one_success_restarts_them() {
            let mut b = budget("budget = { grpc = { max_tokens = 10, token_ratio = 0.1 } }");
            for failures in 1..=5 {
                b.on_attempt_outcome(t_ms(0), Outcome::ServerError);
                assert_eq!(can_retry(&mut b), failures < 5, "after {failures} failures");
            }
            assert_eq!(tokens(&b), 5.0, "5 is not > 10/2: retries stop");
            // A6: "if token_count is less than or equal to maxTokens / 2, RPCs will not be
            // retried" — so 5.1 tokens already allow a retry (grpc-java/grpc-go agree).
            b.on_attempt_outcome(t_ms(0), Outcome::Success);
            assert_eq!(tokens(&b), 5.1);
            assert!(can_retry(&mut b));
            b.on_attempt_outcome(t_ms(0), Outcome::ServerError);
            assert!(!can_retry(&mut b), "4.1 tokens");
            for _ in 0..19 {
                b.on_attempt_outcome(t_ms(0), Outcome::Success);
            }
            assert_eq!(
                tokens(&b),
                6.0,
                "exact after 19 × 0.1: integer milli-tokens"
            );
            assert_eq!(b.exhausted_count(), 2);
        }

        #[test]
        fn tokens_stay_within_zero_and_max_and_ignore_client_errors() {
            let mut b = budget("budget = { grpc = { max_tokens = 3, token_ratio = 0.5 } }");
            b.on_attempt_outcome(t_ms(0), Outcome::Success);
            assert_eq!(tokens(&b), 3.0);
            b.on_attempt_outcome(t_ms(0), Outcome::ClientError);
            assert_eq!(tokens(&b), 3.0);
            for _ in 0..10 {
                b.on_attempt_outcome(t_ms(0), Outcome::Timeout);
            }
            assert_eq!(tokens(&b), 0.0);
        }

        #[test]
        fn only_retryable_outcomes_take_a_token() {
            // A6: only statuses that qualify as retryable count as throttling failures.
            let retry: crate::policy::retry::RetryConfig =
                toml::from_str(r#"retry_on = ["timeout"]"#).unwrap();
            let retry = Retry::new(retry).unwrap();
            let mut b = budget("budget = { grpc = { max_tokens = 10, token_ratio = 0.1 } }")
                .for_retry(&retry);
            for outcome in [
                Outcome::ServerError,
                Outcome::ClientError,
                Outcome::Rejected(RejectReason::CircuitOpen),
            ] {
                b.on_attempt_outcome(t_ms(0), outcome);
                assert_eq!(tokens(&b), 10.0, "{outcome:?} is not retryable here");
            }
            b.on_attempt_outcome(t_ms(0), Outcome::Timeout);
            assert_eq!(tokens(&b), 9.0);
            // A client error listed in retry_on is retryable, so it counts.
            let listed = RetryableSet::of(&[crate::policy::retry::RetryOn::ClientError]);
            let mut b =
                budget("budget = { grpc = { max_tokens = 10 } }").counting_failures_as(listed);
            b.on_attempt_outcome(t_ms(0), Outcome::ClientError);
            assert_eq!(tokens(&b), 9.0);
            b.on_attempt_outcome(t_ms(0), Outcome::ServerError);
            assert_eq!(tokens(&b), 9.0);
        }

        #[test]
        fn a_pushback_stop_takes_a_token_whatever_the_status() {
            let mut b = budget("budget = { grpc = { max_tokens = 10 } }");
            b.on_pushback_stop(t_ms(0));
            assert_eq!(tokens(&b), 9.0);
            let mut f = budget("budget = { finagle = {} }");
            f.on_pushback_stop(t_ms(0)); // no effect, no panic
        }

        #[test]
        fn ratio_keeps_three_decimals() {
            let mut b = budget("budget = { grpc = { max_tokens = 10, token_ratio = 0.5466 } }");
            for _ in 0..5 {
                b.on_attempt_outcome(t_ms(0), Outcome::ServerError);
            }
            b.on_attempt_outcome(t_ms(0), Outcome::Success);
            assert_eq!(tokens(&b), 5.546);
            let mut b = budget("budget = { grpc = { max_tokens = 10, token_ratio = 0.57 } }");
            b.on_attempt_outcome(t_ms(0), Outcome::ServerError);
            b.on_attempt_outcome(t_ms(0), Outcome::Success);
            assert_eq!(tokens(&b), 9.57);
        }

        #[test]
        fn per_call_counting_ignores_attempts() {
            let mut b = budget(r#"budget = { grpc = { max_tokens = 10, counting = "per_call" } }"#);
            b.on_attempt_outcome(t_ms(0), Outcome::ServerError);
            assert_eq!(tokens(&b), 10.0);
            b.on_call_finished(t_ms(0), Outcome::ServerError, &BudgetTicket::default());
            assert_eq!(tokens(&b), 9.0);
        }
    }

    mod finagle {
        use super::*;

        fn withdraw(b: &mut RetryBudget, now: SimTime) -> bool {
            b.try_acquire_retry(now, Outcome::ServerError, &mut BudgetTicket::default())
        }

        fn withdraw_all(b: &mut RetryBudget, now: SimTime) -> u32 {
            let mut n = 0;
            while withdraw(b, now) {
                n += 1;
            }
            n
        }

        #[test]
        fn reserve_alone_allows_exactly_100_retries_per_ttl() {
            let mut b = budget("budget = { finagle = {} }");
            assert_eq!(withdraw_all(&mut b, t_ms(0)), 100);
            assert_eq!(b.exhausted_count(), 1);
        }

        #[test]
        fn twenty_percent_of_deposits_after_the_reserve() {
            let mut b = budget("budget = { finagle = {} }");
            assert_eq!(withdraw_all(&mut b, t_ms(0)), 100);
            for _ in 0..10 {
                b.on_request(t_ms(100));
            }
            assert_eq!(withdraw_all(&mut b, t_ms(100)), 2);
            for _ in 0..1000 {
                b.on_request(t_ms(200));
            }
            assert_eq!(withdraw_all(&mut b, t_ms(200)), 200);
        }

        #[test]
        fn withdrawals_expire_after_ttl_in_slices_aligned_to_creation() {
            let mut b = budget("budget = { finagle = {} }");
            assert_eq!(withdraw_all(&mut b, t_ms(500)), 100);
            assert!(!withdraw(&mut b, t_ms(9_999)));
            // Slice 0 ([0, 1s)) ages out when slice 10 begins, at exactly 10 s.
            assert_eq!(withdraw_all(&mut b, t_ms(10_000)), 100);
        }

        #[test]
        fn deposits_expire_after_ttl() {
            let mut b = budget("budget = { finagle = { min_retries_per_sec = 0 } }");
            assert!(!withdraw(&mut b, t_ms(0)), "no reserve, no deposits");
            for _ in 0..10 {
                b.on_request(t_ms(2_300));
            }
            let RetryBudget::Finagle(f) = &mut b else {
                unreachable!()
            };
            assert_eq!(f.balance(t_ms(11_999)), 2);
            assert_eq!(f.balance(t_ms(12_000)), 0);
            assert_eq!(withdraw_all(&mut b, t_ms(12_000)), 0);
        }

        #[test]
        fn a_long_idle_gap_clears_every_slice() {
            let mut b = budget("budget = { finagle = {} }");
            assert_eq!(withdraw_all(&mut b, t_ms(0)), 100);
            for s in 1..10 {
                assert!(!withdraw(&mut b, SimTime::at(secs(s))));
            }
            assert_eq!(withdraw_all(&mut b, SimTime::at(secs(3_600))), 100);
        }

        #[test]
        fn withdrawal_amount_truncates() {
            let b = budget("budget = { finagle = { percent_can_retry = 0.3 } }");
            let RetryBudget::Finagle(f) = b else {
                unreachable!()
            };
            assert_eq!(f.withdrawal, 3333);
            assert_eq!(f.reserve, 10 * 10 * 3333);
        }

        #[test]
        fn zero_reserve_and_zero_percent_never_retries() {
            let mut b = budget(
                "budget = { finagle = { min_retries_per_sec = 0, percent_can_retry = 0.0 } }",
            );
            for _ in 0..100 {
                b.on_request(t_ms(0));
            }
            assert!(!withdraw(&mut b, t_ms(1)));
        }

        #[test]
        fn ttl_uses_whole_seconds_for_the_reserve() {
            let mut b = budget(r#"budget = { finagle = { ttl = "1500ms" } }"#);
            assert_eq!(withdraw_all(&mut b, t_ms(0)), 10);
            // Slices are 150 ms wide: the withdrawals age out at 1.5 s.
            assert!(!withdraw(&mut b, t_ms(1_499)));
            assert!(withdraw(&mut b, t_ms(1_500)));
        }
    }

    #[test]
    fn ticket_is_small_and_copy() {
        fn is_copy<T: Copy>() {}
        is_copy::<BudgetTicket>();
        assert_eq!(std::mem::size_of::<BudgetTicket>(), 8);
    }

    mod laws {
        use super::*;
        use proptest::prelude::*;

        fn outcome() -> impl Strategy<Value = Outcome> {
            prop_oneof![
                Just(Outcome::Success),
                Just(Outcome::ServerError),
                Just(Outcome::Timeout),
                Just(Outcome::ClientError),
            ]
        }

        proptest! {
            #[test]
            fn aws_and_grpc_tokens_stay_within_bounds(
                calls in proptest::collection::vec(proptest::collection::vec(outcome(), 1..4), 1..200),
            ) {
                let mut aws = budget("budget = { aws = { initial = 50 } }");
                let mut grpc = budget("budget = { grpc = { max_tokens = 7, token_ratio = 0.3 } }");
                for attempts in calls {
                    for b in [&mut aws, &mut grpc] {
                        let mut ticket = BudgetTicket::default();
                        b.on_request(t_ms(0));
                        for &o in &attempts {
                            b.on_attempt_outcome(t_ms(0), o);
                            if o.is_success() || !b.try_acquire_retry(t_ms(0), o, &mut ticket) {
                                break;
                            }
                        }
                        b.on_call_finished(t_ms(0), *attempts.last().unwrap(), &ticket);
                    }
                    let RetryBudget::Aws(a) = &aws else { unreachable!() };
                    prop_assert!(a.available() <= 50);
                    let RetryBudget::Grpc(g) = &grpc else { unreachable!() };
                    prop_assert!((0.0..=7.0).contains(&g.tokens()));
                }
            }

            #[test]
            fn finagle_never_grants_more_than_reserve_plus_percent_of_deposits(
                events in proptest::collection::vec((0u64..30_000, any::<bool>()), 1..400),
            ) {
                // min 2/s over a 10 s ttl = 20 reserve retries; 50 % of deposits.
                let mut b = budget(
                    "budget = { finagle = { min_retries_per_sec = 2, percent_can_retry = 0.5 } }",
                );
                let mut events = events;
                events.sort();
                let (mut deposits, mut granted) = (0u64, 0u64);
                for (at, is_retry) in events {
                    let now = t_ms(at);
                    if is_retry {
                        granted += u64::from(withdraw(&mut b, now));
                    } else {
                        b.on_request(now);
                        deposits += 1;
                    }
                }
                let windows = 30_000 / 9_000 + 1; // a withdrawal lives ≥ 0.9·ttl
                prop_assert!(granted <= 20 * windows + deposits / 2);
            }
        }

        fn withdraw(b: &mut RetryBudget, now: SimTime) -> bool {
            b.try_acquire_retry(now, Outcome::ServerError, &mut BudgetTicket::default())
        }
    }
}
