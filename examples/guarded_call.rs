//! The same policies that run in the simulator, guarding a real function call with the
//! wall clock: proof that `cascade::policy` is not simulation-only.
//!
//! A flaky "payment processor" (a local function that sleeps and fails while it is
//! "down") is called in a loop through a circuit breaker and a retry with full-jitter
//! backoff. The adapter below is the only thing that knows about real time: it turns
//! `Instant`s into `SimTime`s and sleeps until the times the policies return.
//!
//! Run it: `cargo run --release --example guarded_call`

use std::thread;
use std::time::{Duration, Instant};

use cascade::policy::Outcome;
use cascade::policy::circuit_breaker::{Admission, CircuitBreaker, CircuitBreakerConfig};
use cascade::policy::retry::{Retry, RetryConfig, RetryDecision};
use cascade::time::{SimDuration, SimTime};
use rand::SeedableRng;

/// Maps the wall clock onto the policies' time axis.
struct WallClock {
    origin: Instant,
}

impl WallClock {
    #[allow(clippy::disallowed_methods)] // the wall-clock adapter is where real time enters
    fn start() -> Self {
        WallClock {
            origin: Instant::now(),
        }
    }

    fn now(&self) -> SimTime {
        SimTime::from_nanos(self.origin.elapsed().as_nanos() as u64)
    }

    fn sleep_until(&self, t: SimTime) {
        let now = self.now();
        if t > now {
            thread::sleep(Duration::from_nanos((t - now).as_nanos()));
        }
    }
}

/// The real call: 5 ms of work; fails while the processor is "down" (0.3 s to 0.9 s).
fn charge(clock: &WallClock) -> Result<(), &'static str> {
    thread::sleep(Duration::from_millis(5));
    let t = clock.now().as_secs_f64();
    if (0.3..0.9).contains(&t) {
        Err("503 from processor")
    } else {
        Ok(())
    }
}

fn main() {
    let clock = WallClock::start();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let breaker_cfg: CircuitBreakerConfig = toml::from_str(
        "consecutive = { failures = 3 }\nwait_open = \"200ms\"\nhalf_open_calls = 1\n",
    )
    .expect("valid breaker config");
    let mut breaker = CircuitBreaker::new(breaker_cfg).expect("valid breaker");
    let retry_cfg: RetryConfig = toml::from_str(
        "max_attempts = 3\nbackoff = { full_jitter = { base = \"10ms\", cap = \"100ms\", exponent_offset = -1 } }\n",
    )
    .expect("valid retry config");
    let retry = Retry::new(retry_cfg).expect("valid retry");

    let (mut ok, mut failed, mut rejected) = (0, 0, 0);
    for request in 0..40 {
        let mut state = retry.begin(clock.now());
        let result = loop {
            let started = clock.now();
            let outcome = match breaker.try_acquire(started) {
                Admission::Rejected(reason) => Outcome::Rejected(reason),
                Admission::Admitted => {
                    let outcome = match charge(&clock) {
                        Ok(()) => Outcome::Success,
                        Err(_) => Outcome::ServerError,
                    };
                    let now = clock.now();
                    breaker.on_outcome(now, outcome, now - started);
                    outcome
                }
            };
            for t in breaker.drain_transitions() {
                println!(
                    "  breaker {} → {} at {:.3} s",
                    t.from,
                    t.to,
                    t.at.as_secs_f64()
                );
            }
            match retry.on_outcome(&mut state, clock.now(), outcome, None, None, None, &mut rng) {
                RetryDecision::RetryAt(at) => clock.sleep_until(at),
                RetryDecision::GiveUp(_) => break outcome,
            }
        };
        match result {
            Outcome::Success => ok += 1,
            Outcome::Rejected(_) => rejected += 1,
            _ => failed += 1,
        }
        println!(
            "request {request:2} at {:.3} s: {result:?} after {} attempt(s)",
            clock.now().as_secs_f64(),
            state.attempts()
        );
        clock.sleep_until(clock.now() + SimDuration::from_millis(20));
    }
    println!("{ok} succeeded, {failed} failed, {rejected} rejected fast by the open breaker");
    assert!(
        ok > 0 && rejected > 0,
        "the breaker should open during the outage and close after it"
    );
}
