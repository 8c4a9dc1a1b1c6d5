//! Fallbacks: what a caller answers when a call fails for good — propagate the error,
//! answer a canned default, serve a stale cached answer ([`StaleCache`]), or accept the
//! request now and deliver it later ([`Outbox`], "queue for later").
//!
//! Why they exist: a failure that propagates unchanged turns one sick dependency into a
//! sick caller, and then a sick caller's caller. A fallback *stops* the cascade at the
//! first service that can still give a useful answer: last known prices, an empty
//! recommendation list, or "order received, confirmation by e-mail".
//!
//! Failure modes worth knowing:
//! - a default or stale answer hides the outage from callers and dashboards: the system
//!   looks healthy while serving wrong (old) data — `max_age` bounds how wrong;
//! - a stale cache only helps callers that succeeded recently; after a long outage it
//!   has aged out and errors return;
//! - queue-for-later preserves *intent parity* (every accepted intent is eventually
//!   delivered or explicitly dead-lettered, never silently lost), but the backlog it
//!   builds during an outage is replayed at the dependency the moment it recovers: a
//!   recovery spike that can knock it over again. `drain_concurrency` and the backoff
//!   bound that replay; the simulator shows what happens when they are too generous.
//!
//! All state machines here are sans-IO: they take `now` and an RNG (last argument) and
//! return times; the driver runs the replays.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::policy::ConfigError;
use crate::policy::backoff::{Backoff, BackoffConfig, BackoffState};
use crate::time::{SimDuration, SimTime};

/// A fallback as written in a file (externally tagged): `fallback = "error"`,
/// `fallback = "default"`, `fallback = { stale_cache = { max_age = "5m" } }` or
/// `fallback = { queue_for_later = { max_attempts = 5, backoff = { fixed = { delay = "1s" } }, drain_concurrency = 1 } }`.
///
/// Default: `"error"` (no fallback, the failure propagates).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackConfig {
    /// No fallback: the failure propagates to the caller.
    #[default]
    Error,
    /// Answer a canned default response (a degraded success).
    Default,
    /// Answer the last successful response if it is recent enough, else fail.
    StaleCache(StaleCacheConfig),
    /// Accept the request ("pending") and deliver it later from an outbox.
    QueueForLater(QueueForLaterConfig),
}

/// `{ stale_cache = { max_age = "5m" } }`. Default `max_age`: 5 minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaleCacheConfig {
    /// The oldest success that may still be served; more than zero.
    #[serde(default = "default_max_age")]
    pub max_age: SimDuration,
}

fn default_max_age() -> SimDuration {
    SimDuration::from_secs(300)
}

impl Default for StaleCacheConfig {
    fn default() -> Self {
        StaleCacheConfig {
            max_age: default_max_age(),
        }
    }
}

/// `{ queue_for_later = { max_attempts = 5, backoff = …, drain_concurrency = 1 } }`.
///
/// Defaults: `max_attempts = 5` delivery attempts, `backoff` = the backoff module's
/// default (a fixed 500 ms wait), `drain_concurrency = 1`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueForLaterConfig {
    /// Delivery attempts per intent before it is dead-lettered; at least 1. The original
    /// failed call does not count: the outbox makes up to this many *replays*.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Wait between failed replays of one intent (see `policy::backoff`).
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Replays in flight at once; at least 1. This bounds the recovery spike.
    #[serde(default = "default_drain_concurrency")]
    pub drain_concurrency: u32,
}

fn default_max_attempts() -> u32 {
    5
}
fn default_drain_concurrency() -> u32 {
    1
}

impl Default for QueueForLaterConfig {
    fn default() -> Self {
        QueueForLaterConfig {
            max_attempts: default_max_attempts(),
            backoff: BackoffConfig::default(),
            drain_concurrency: default_drain_concurrency(),
        }
    }
}

/// Remembers the last success so a recent answer can be served when a call fails.
///
/// ```
/// use cascade::policy::fallback::{StaleCache, StaleCacheConfig};
/// use cascade::time::short::{secs, t_ms};
///
/// let mut cache = StaleCache::new(StaleCacheConfig { max_age: secs(60) }).unwrap();
/// assert!(!cache.try_serve(t_ms(0)));           // nothing cached yet
/// cache.on_success(t_ms(1_000));
/// assert!(cache.try_serve(t_ms(61_000)));       // exactly 60 s old: still served
/// assert!(!cache.try_serve(t_ms(61_001)));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct StaleCache {
    max_age: SimDuration,
    last_success: Option<SimTime>,
}

impl StaleCache {
    /// Validates `max_age` (more than zero).
    pub fn new(config: StaleCacheConfig) -> Result<Self, ConfigError> {
        if config.max_age.is_zero() {
            return Err(ConfigError::new("max_age", "must be more than 0s"));
        }
        Ok(StaleCache {
            max_age: config.max_age,
            last_success: None,
        })
    }

    /// A call succeeded at `now`: its answer becomes the cached one.
    pub fn on_success(&mut self, now: SimTime) {
        self.last_success = Some(self.last_success.map_or(now, |t| t.max(now)));
    }

    /// A call failed at `now`: true if a success at most `max_age` old can be served.
    pub fn try_serve(&self, now: SimTime) -> bool {
        self.last_success.is_some_and(|t| now - t <= self.max_age)
    }

    /// Age of the cached answer at `now`, if any.
    pub fn age(&self, now: SimTime) -> Option<SimDuration> {
        self.last_success.map(|t| now - t)
    }
}

/// What became of a replay, from [`Outbox::on_drain_result`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainOutcome {
    /// The intent was delivered and leaves the outbox.
    Delivered,
    /// The replay failed; the intent is due again at this time.
    RetryAt(SimTime),
    /// The last allowed attempt failed; the intent is dropped and counted dead-lettered.
    DeadLettered,
    /// No such replay was in flight (a driver bug); nothing changed.
    Unknown,
}

/// One pending intent, ordered by (due time, capture order).
#[derive(Clone, Copy, Debug)]
struct Entry<I> {
    due: SimTime,
    seq: u64,
    intent: I,
    attempts: u32,
    backoff: BackoffState,
}

impl<I> PartialEq for Entry<I> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl<I> Eq for Entry<I> {}
impl<I> PartialOrd for Entry<I> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<I> Ord for Entry<I> {
    /// Reversed, so the max-heap pops the earliest due (then earliest captured) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// Queue-for-later: an outbox of accepted intents that are replayed until delivered or
/// dead-lettered after `max_attempts` failed replays.
///
/// Intents are the driver's ids (`I: Copy + Eq`, e.g. a request id). A captured intent is
/// due at once; replays start in (due time, capture order), at most `drain_concurrency` at
/// a time; a failed replay is due again after the configured backoff. Memory is
/// proportional to the pending intents only (a heap plus a small in-flight list; no
/// history of delivered ones).
///
/// Driver loop: after `capture` and after every `on_drain_result`, ask
/// [`next_drain_at`](Self::next_drain_at) and wake then; at the wake-up call
/// [`take_due`](Self::take_due) until `None`, sending each replay.
///
/// ```
/// use cascade::policy::fallback::{DrainOutcome, Outbox, QueueForLaterConfig};
/// use cascade::time::short::{ms, t_ms};
/// use rand::SeedableRng;
///
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let mut outbox = Outbox::<u32>::new(QueueForLaterConfig::default()).unwrap();
/// outbox.capture(t_ms(0), 42);                       // the caller is answered "pending"
/// assert_eq!(outbox.next_drain_at(), Some(t_ms(0)));
/// let (intent, attempt) = outbox.take_due(t_ms(0)).unwrap();
/// // The dependency is still down: retry after the default 500 ms backoff.
/// let r = outbox.on_drain_result(t_ms(10), intent, attempt, false, &mut rng);
/// assert_eq!(r, DrainOutcome::RetryAt(t_ms(510)));
/// let (intent, attempt) = outbox.take_due(t_ms(510)).unwrap();
/// assert_eq!(attempt, 2);
/// assert_eq!(outbox.on_drain_result(t_ms(520), intent, attempt, true, &mut rng), DrainOutcome::Delivered);
/// assert_eq!((outbox.delivered(), outbox.pending()), (1, 0));
/// ```
#[derive(Clone, Debug)]
pub struct Outbox<I> {
    max_attempts: u32,
    backoff: Backoff,
    drain_concurrency: usize,
    waiting: BinaryHeap<Entry<I>>,
    in_flight: Vec<Entry<I>>,
    next_seq: u64,
    captured: u64,
    delivered: u64,
    dead_lettered: u64,
}

impl<I: Copy + Eq> Outbox<I> {
    /// Validates the config (`max_attempts ≥ 1`, `drain_concurrency ≥ 1`, and the backoff,
    /// whose errors come under `backoff.`).
    pub fn new(config: QueueForLaterConfig) -> Result<Self, ConfigError> {
        if config.max_attempts == 0 {
            return Err(ConfigError::new("max_attempts", "must be at least 1"));
        }
        if config.drain_concurrency == 0 {
            return Err(ConfigError::new("drain_concurrency", "must be at least 1"));
        }
        let backoff = Backoff::new(config.backoff).map_err(|e| e.within("backoff"))?;
        let conc = config.drain_concurrency as usize;
        Ok(Outbox {
            max_attempts: config.max_attempts,
            backoff,
            drain_concurrency: conc,
            waiting: BinaryHeap::new(),
            in_flight: Vec::with_capacity(conc.min(1024)),
            next_seq: 0,
            captured: 0,
            delivered: 0,
            dead_lettered: 0,
        })
    }

    /// The call for `intent` failed at `now`: keep it for replay (the caller is answered
    /// "pending"). It is due at once.
    pub fn capture(&mut self, now: SimTime, intent: I) {
        self.waiting.push(Entry {
            due: now,
            seq: self.next_seq,
            intent,
            attempts: 0,
            backoff: BackoffState::default(),
        });
        self.next_seq += 1;
        self.captured += 1;
    }

    /// When the next replay may start: the earliest due intent, or `None` if nothing is
    /// pending or all `drain_concurrency` slots are busy (ask again after a result).
    pub fn next_drain_at(&self) -> Option<SimTime> {
        if self.in_flight.len() >= self.drain_concurrency {
            return None;
        }
        self.waiting.peek().map(|e| e.due)
    }

    /// Starts the next replay due at `now`, if a drain slot is free: returns the intent and
    /// its 1-based attempt number, to pass back to [`Self::on_drain_result`].
    pub fn take_due(&mut self, now: SimTime) -> Option<(I, u32)> {
        if self.in_flight.len() >= self.drain_concurrency {
            return None;
        }
        if self.waiting.peek()?.due > now {
            return None;
        }
        let mut e = self.waiting.pop()?;
        e.attempts += 1;
        self.in_flight.push(e);
        Some((e.intent, e.attempts))
    }

    /// The replay `(intent, attempt)` from [`Self::take_due`] ended at `now`. On failure
    /// the intent is retried after the backoff (one RNG draw for jittered backoffs), or
    /// dead-lettered if that was attempt `max_attempts`.
    pub fn on_drain_result<R: Rng + ?Sized>(
        &mut self,
        now: SimTime,
        intent: I,
        attempt: u32,
        success: bool,
        rng: &mut R,
    ) -> DrainOutcome {
        let Some(i) = self
            .in_flight
            .iter()
            .position(|e| e.intent == intent && e.attempts == attempt)
        else {
            return DrainOutcome::Unknown;
        };
        let mut e = self.in_flight.swap_remove(i);
        if success {
            self.delivered += 1;
            DrainOutcome::Delivered
        } else if e.attempts >= self.max_attempts {
            self.dead_lettered += 1;
            DrainOutcome::DeadLettered
        } else {
            e.due = now + self.backoff.next_delay(&mut e.backoff, rng);
            self.waiting.push(e);
            DrainOutcome::RetryAt(e.due)
        }
    }

    /// Intents ever captured.
    pub fn captured(&self) -> u64 {
        self.captured
    }

    /// Intents delivered by a replay.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Intents given up after `max_attempts` failed replays.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered
    }

    /// Intents still pending (waiting or being replayed). Always
    /// `captured = delivered + dead_lettered + pending`.
    pub fn pending(&self) -> usize {
        self.waiting.len() + self.in_flight.len()
    }

    /// Replays in flight.
    pub fn draining(&self) -> usize {
        self.in_flight.len()
    }
}

/// What the caller gets when its call failed for good, from [`Fallback::on_failure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackAnswer {
    /// The failure propagates.
    Fail,
    /// A canned default response (a degraded success).
    Default,
    /// The last successful answer, at most `max_age` old (a degraded success).
    Stale,
    /// Accepted for later delivery; the intent is in the outbox.
    Pending,
}

/// The validated fallback of one client: one entry point for the driver.
///
/// ```
/// use cascade::policy::fallback::{Fallback, FallbackAnswer, FallbackConfig};
/// use cascade::time::short::t_ms;
///
/// let cfg: FallbackConfig = toml::from_str::<toml::Table>("f = { stale_cache = { max_age = \"1s\" } }")
///     .unwrap()["f"].clone().try_into().unwrap();
/// let mut fb = Fallback::<u64>::new(cfg).unwrap();
/// assert_eq!(fb.on_failure(t_ms(0), 1), FallbackAnswer::Fail);
/// fb.on_success(t_ms(100));
/// assert_eq!(fb.on_failure(t_ms(900), 2), FallbackAnswer::Stale);
/// ```
#[derive(Clone, Debug)]
pub enum Fallback<I> {
    /// `"error"`.
    Error,
    /// `"default"`.
    Default,
    /// `{ stale_cache = … }`.
    StaleCache(StaleCache),
    /// `{ queue_for_later = … }`; the driver drains the outbox.
    QueueForLater(Outbox<I>),
}

impl<I: Copy + Eq> Fallback<I> {
    /// Builds the configured fallback; errors come under the variant's tag
    /// (`stale_cache.max_age`, `queue_for_later.backoff.cap`).
    pub fn new(config: FallbackConfig) -> Result<Self, ConfigError> {
        Ok(match config {
            FallbackConfig::Error => Fallback::Error,
            FallbackConfig::Default => Fallback::Default,
            FallbackConfig::StaleCache(c) => {
                Fallback::StaleCache(StaleCache::new(c).map_err(|e| e.within("stale_cache"))?)
            }
            FallbackConfig::QueueForLater(c) => {
                Fallback::QueueForLater(Outbox::new(c).map_err(|e| e.within("queue_for_later"))?)
            }
        })
    }

    /// The protected call succeeded at `now` (feeds the stale cache).
    pub fn on_success(&mut self, now: SimTime) {
        if let Fallback::StaleCache(c) = self {
            c.on_success(now);
        }
    }

    /// The protected call for `intent` failed for good at `now` (after retries): what the
    /// caller is answered. With queue-for-later the intent is captured.
    pub fn on_failure(&mut self, now: SimTime, intent: I) -> FallbackAnswer {
        match self {
            Fallback::Error => FallbackAnswer::Fail,
            Fallback::Default => FallbackAnswer::Default,
            Fallback::StaleCache(c) if c.try_serve(now) => FallbackAnswer::Stale,
            Fallback::StaleCache(_) => FallbackAnswer::Fail,
            Fallback::QueueForLater(o) => {
                o.capture(now, intent);
                FallbackAnswer::Pending
            }
        }
    }

    /// The outbox, if this is queue-for-later (for the driver's drain loop).
    pub fn outbox_mut(&mut self) -> Option<&mut Outbox<I>> {
        match self {
            Fallback::QueueForLater(o) => Some(o),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::{ms, secs, t_ms};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(11)
    }

    fn outbox(max_attempts: u32, delay: SimDuration, conc: u32) -> Outbox<u32> {
        let backoff: BackoffConfig =
            toml::from_str::<toml::Table>(&format!("b = {{ fixed = {{ delay = \"{delay}\" }} }}"))
                .unwrap()["b"]
                .clone()
                .try_into()
                .unwrap();
        Outbox::new(QueueForLaterConfig {
            max_attempts,
            backoff,
            drain_concurrency: conc,
        })
        .unwrap()
    }

    fn parse(text: &str) -> FallbackConfig {
        toml::from_str::<toml::Table>(text).unwrap()["fallback"]
            .clone()
            .try_into()
            .unwrap()
    }

    mod config {
        use super::*;

        #[test]
        fn parses_every_form() {
            assert_eq!(parse("fallback = \"error\""), FallbackConfig::Error);
            assert_eq!(parse("fallback = \"default\""), FallbackConfig::Default);
            assert_eq!(
                parse("fallback = { stale_cache = { max_age = \"5m\" } }"),
                FallbackConfig::StaleCache(StaleCacheConfig { max_age: secs(300) })
            );
            let FallbackConfig::QueueForLater(q) = parse(
                "fallback = { queue_for_later = { max_attempts = 3, backoff = { fixed = { delay = \"2s\" } }, drain_concurrency = 4 } }",
            ) else {
                panic!()
            };
            assert_eq!((q.max_attempts, q.drain_concurrency), (3, 4));
            let FallbackConfig::QueueForLater(q) = parse("fallback = { queue_for_later = {} }")
            else {
                panic!()
            };
            assert_eq!(q, QueueForLaterConfig::default());
        }

        #[test]
        fn rejects_unknown_keys_and_nonsense_with_the_field_path() {
            assert!(
                toml::from_str::<toml::Table>("fallback = { stale_cache = { maxage = \"1s\" } }")
                    .unwrap()["fallback"]
                    .clone()
                    .try_into::<FallbackConfig>()
                    .is_err()
            );
            let err = |t: &str| Fallback::<u32>::new(parse(t)).unwrap_err().field;
            assert_eq!(
                err("fallback = { stale_cache = { max_age = \"0s\" } }"),
                "stale_cache.max_age"
            );
            assert_eq!(
                err("fallback = { queue_for_later = { max_attempts = 0 } }"),
                "queue_for_later.max_attempts"
            );
            assert_eq!(
                err("fallback = { queue_for_later = { drain_concurrency = 0 } }"),
                "queue_for_later.drain_concurrency"
            );
            let e = err(
                "fallback = { queue_for_later = { backoff = { exponential = { base = \"2s\", cap = \"1s\" } } } }",
            );
            assert!(e.starts_with("queue_for_later.backoff."), "{e}");
        }
    }

    mod stale_cache {
        use super::*;

        #[test]
        fn serves_only_a_success_within_max_age() {
            let mut c = StaleCache::new(StaleCacheConfig { max_age: ms(500) }).unwrap();
            assert!(!c.try_serve(t_ms(0)));
            c.on_success(t_ms(100));
            assert!(c.try_serve(t_ms(600)));
            assert!(!c.try_serve(t_ms(601)));
            c.on_success(t_ms(700));
            assert!(c.try_serve(t_ms(1_000)));
            assert_eq!(c.age(t_ms(1_000)), Some(ms(300)));
        }

        #[test]
        fn an_out_of_order_success_never_makes_the_cache_older() {
            let mut c = StaleCache::new(StaleCacheConfig { max_age: ms(100) }).unwrap();
            c.on_success(t_ms(500));
            c.on_success(t_ms(300));
            assert!(c.try_serve(t_ms(550)));
        }
    }

    mod outbox_drain {
        use super::*;

        #[test]
        fn delivers_after_a_blip() {
            let mut r = rng();
            let mut o = outbox(5, secs(1), 1);
            o.capture(t_ms(0), 7);
            let (i, a) = o.take_due(t_ms(0)).unwrap();
            assert_eq!((i, a), (7, 1));
            assert_eq!(
                o.on_drain_result(t_ms(5), i, a, false, &mut r),
                DrainOutcome::RetryAt(t_ms(1_005))
            );
            assert_eq!(o.take_due(t_ms(1_004)), None, "not due yet");
            let (i, a) = o.take_due(t_ms(1_005)).unwrap();
            assert_eq!(
                o.on_drain_result(t_ms(1_010), i, a, true, &mut r),
                DrainOutcome::Delivered
            );
            assert_eq!(
                (o.captured(), o.delivered(), o.dead_lettered(), o.pending()),
                (1, 1, 0, 0)
            );
        }

        #[test]
        fn dead_letters_after_exactly_max_attempts_failures() {
            let mut r = rng();
            let mut o = outbox(3, ms(100), 1);
            o.capture(t_ms(0), 1);
            let mut now = t_ms(0);
            let mut outcomes = Vec::new();
            while let Some(at) = o.next_drain_at() {
                now = now.max(at);
                let (i, a) = o.take_due(now).unwrap();
                outcomes.push((a, o.on_drain_result(now, i, a, false, &mut r)));
            }
            assert_eq!(
                outcomes,
                [
                    (1, DrainOutcome::RetryAt(t_ms(100))),
                    (2, DrainOutcome::RetryAt(t_ms(200))),
                    (3, DrainOutcome::DeadLettered)
                ]
            );
            assert_eq!((o.dead_lettered(), o.pending()), (1, 0));
        }

        #[test]
        fn replays_in_capture_order_within_the_concurrency() {
            let mut r = rng();
            let mut o = outbox(5, secs(1), 2);
            for (k, intent) in [30, 10, 20].into_iter().enumerate() {
                o.capture(t_ms(k as u64), intent);
            }
            assert_eq!(o.take_due(t_ms(5)), Some((30, 1)));
            assert_eq!(o.take_due(t_ms(5)), Some((10, 1)));
            assert_eq!(o.take_due(t_ms(5)), None, "two drain slots");
            assert_eq!(o.next_drain_at(), None);
            o.on_drain_result(t_ms(6), 30, 1, true, &mut r);
            assert_eq!(o.next_drain_at(), Some(t_ms(2)));
            assert_eq!(o.take_due(t_ms(6)), Some((20, 1)));
        }

        #[test]
        fn a_failed_intent_lets_later_ones_pass_while_it_backs_off() {
            let mut r = rng();
            let mut o = outbox(5, secs(1), 1);
            o.capture(t_ms(0), 1);
            o.capture(t_ms(0), 2);
            let (i, a) = o.take_due(t_ms(0)).unwrap();
            o.on_drain_result(t_ms(1), i, a, false, &mut r);
            assert_eq!(o.take_due(t_ms(1)), Some((2, 1)));
        }

        #[test]
        fn unknown_results_change_nothing() {
            let mut r = rng();
            let mut o = outbox(5, secs(1), 1);
            o.capture(t_ms(0), 1);
            assert_eq!(
                o.on_drain_result(t_ms(0), 1, 1, true, &mut r),
                DrainOutcome::Unknown
            );
            o.take_due(t_ms(0));
            assert_eq!(
                o.on_drain_result(t_ms(0), 1, 2, true, &mut r),
                DrainOutcome::Unknown
            );
            assert_eq!(o.pending(), 1);
        }

        proptest! {
            #[test]
            fn intents_are_conserved_and_concurrency_bounded(
                conc in 1u32..4,
                max_attempts in 1u32..4,
                ops in proptest::collection::vec((0u8..3, any::<bool>(), 0u64..50), 0..200),
            ) {
                let mut r = rng();
                let mut o = outbox(max_attempts, ms(20), conc);
                let mut now = t_ms(0);
                let mut running: Vec<(u32, u32)> = Vec::new();
                let mut id = 0;
                for (op, ok, dt) in ops {
                    now += ms(dt);
                    match op {
                        0 => { id += 1; o.capture(now, id); }
                        1 => { if let Some(x) = o.take_due(now) { running.push(x); } }
                        _ => if let Some((i, a)) = running.pop() {
                            prop_assert_ne!(o.on_drain_result(now, i, a, ok, &mut r), DrainOutcome::Unknown);
                        }
                    }
                    prop_assert!(o.draining() <= conc as usize);
                    prop_assert_eq!(o.captured(), o.delivered() + o.dead_lettered() + o.pending() as u64);
                }
            }
        }
    }

    mod fallback_answers {
        use super::*;

        #[test]
        fn each_kind_answers_its_way() {
            let mut f = Fallback::<u32>::new(FallbackConfig::Error).unwrap();
            assert_eq!(f.on_failure(t_ms(0), 1), FallbackAnswer::Fail);
            let mut f = Fallback::<u32>::new(FallbackConfig::Default).unwrap();
            assert_eq!(f.on_failure(t_ms(0), 1), FallbackAnswer::Default);
            let mut f =
                Fallback::<u32>::new(FallbackConfig::QueueForLater(Default::default())).unwrap();
            assert_eq!(f.on_failure(t_ms(0), 9), FallbackAnswer::Pending);
            assert_eq!(f.outbox_mut().unwrap().take_due(t_ms(0)), Some((9, 1)));
        }

        #[test]
        fn stale_cache_falls_back_to_failing_once_too_old() {
            let mut f = Fallback::<u32>::new(FallbackConfig::StaleCache(StaleCacheConfig {
                max_age: secs(1),
            }))
            .unwrap();
            f.on_success(t_ms(0));
            assert_eq!(f.on_failure(t_ms(1_000), 1), FallbackAnswer::Stale);
            assert_eq!(f.on_failure(t_ms(1_001), 1), FallbackAnswer::Fail);
            assert!(f.outbox_mut().is_none());
        }
    }
}
