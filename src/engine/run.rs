//! The run loop: next-event time advance over a [`Model`].
//!
//! The loop pops the earliest event, advances the clock to it and hands it to the model,
//! which may schedule more. It stops when nothing is pending, when the next event lies
//! past the horizon, or when the event count passes a guard (a model that reschedules
//! itself forever is a bug or a mis-configuration; the guard turns it into a clear error
//! instead of a hung process).
//!
//! Every handled event is folded into a rolling trace hash of `(time, seq, event key)`
//! (madsim's trick): two runs with the same seed must produce the same hash, so a test
//! can compare whole runs in one `u64`.

use crate::engine::scheduler::Scheduler;
use crate::time::SimTime;

/// A simulated system: owns its state, reacts to its events.
pub trait Model {
    /// The event type: small and `Copy` (ids and numbers, no heap data).
    type Event: Copy;

    /// Handles one event at `sched.now()`, scheduling any follow-ups.
    fn handle(&mut self, sched: &mut Scheduler<Self::Event>, event: Self::Event);

    /// A number identifying the event's kind and target, folded into the trace hash.
    /// The default (0) still hashes times and sequence numbers.
    fn trace_key(_event: &Self::Event) -> u64 {
        0
    }
}

/// When a run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunLimits {
    /// Stop before the first event later than this; the clock is then moved to it.
    /// `None`: run until nothing is pending.
    pub until: Option<SimTime>,
    /// Fail with [`RunError::RunawayEvents`] after handling this many events.
    pub max_events: u64,
}

impl Default for RunLimits {
    /// No horizon; at most ten billion events.
    fn default() -> Self {
        RunLimits {
            until: None,
            max_events: 10_000_000_000,
        }
    }
}

/// What a finished run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunStats {
    /// Events handled (cancelled timers are not events).
    pub events: u64,
    /// The clock when the run stopped.
    pub end: SimTime,
    /// Rolling hash of `(time, seq, trace_key)` of every handled event.
    pub trace_hash: u64,
}

/// Why a run could not finish. The model's state is left as it was at the stop.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// More events than the guard allows: likely a model that schedules itself forever
    /// (zero think time, zero back-off with unlimited retries).
    #[error(
        "stopped after {events} events at {at}: the event guard ({limit}) was reached; \
         look for zero delays with unlimited retries, or raise the limit"
    )]
    RunawayEvents {
        /// Events handled when it stopped.
        events: u64,
        /// The guard.
        limit: u64,
        /// Virtual time when it stopped.
        at: SimTime,
    },
}

#[inline]
fn fold(hash: u64, x: u64) -> u64 {
    (hash.rotate_left(5) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Runs `model` from the scheduler's current state within `limits`.
pub fn run<M: Model>(
    model: &mut M,
    sched: &mut Scheduler<M::Event>,
    limits: RunLimits,
) -> Result<RunStats, RunError> {
    let mut events = 0u64;
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let horizon = limits.until.unwrap_or(SimTime::MAX);
    loop {
        let Some(popped) = sched.pop_until(horizon) else {
            if let Some(until) = limits.until {
                sched.advance_to(until);
            }
            break;
        };
        if events >= limits.max_events {
            return Err(RunError::RunawayEvents {
                events,
                limit: limits.max_events,
                at: popped.time,
            });
        }
        events += 1;
        hash = fold(
            fold(fold(hash, popped.time.as_nanos()), popped.seq),
            M::trace_key(&popped.event),
        );
        model.handle(sched, popped.event);
    }
    Ok(RunStats {
        events,
        end: sched.now(),
        trace_hash: hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::*;

    /// Reschedules itself `left` more times with a fixed gap.
    struct Echo {
        left: u32,
        seen: Vec<SimTime>,
    }
    impl Model for Echo {
        type Event = u32;
        fn handle(&mut self, sched: &mut Scheduler<u32>, ev: u32) {
            self.seen.push(sched.now());
            if self.left > 0 {
                self.left -= 1;
                sched.schedule_in(ms(10), ev + 1);
            }
        }
        fn trace_key(ev: &u32) -> u64 {
            *ev as u64
        }
    }

    fn echo(left: u32) -> (Echo, Scheduler<u32>) {
        let mut s = Scheduler::new();
        s.schedule_at(SimTime::ZERO, 0);
        (
            Echo {
                left,
                seen: Vec::new(),
            },
            s,
        )
    }

    #[test]
    fn runs_until_nothing_is_pending() {
        let (mut m, mut s) = echo(4);
        let stats = run(&mut m, &mut s, RunLimits::default()).unwrap();
        assert_eq!(stats.events, 5);
        assert_eq!(stats.end, t_ms(40));
    }

    #[test]
    fn stops_at_the_horizon_and_moves_the_clock_there() {
        let (mut m, mut s) = echo(100);
        let limits = RunLimits {
            until: Some(t_ms(25)),
            ..RunLimits::default()
        };
        let stats = run(&mut m, &mut s, limits).unwrap();
        assert_eq!(m.seen, vec![t_ms(0), t_ms(10), t_ms(20)]);
        assert_eq!(stats.end, t_ms(25));
        assert_eq!(s.pending(), 1, "the rest stays pending");
        assert_eq!(s.pop().map(|p| p.time), Some(t_ms(30)));
    }

    #[test]
    fn an_event_exactly_at_the_horizon_fires() {
        let (mut m, mut s) = echo(100);
        let limits = RunLimits {
            until: Some(t_ms(20)),
            ..RunLimits::default()
        };
        run(&mut m, &mut s, limits).unwrap();
        assert_eq!(m.seen.last(), Some(&t_ms(20)));
    }

    #[test]
    fn the_guard_stops_a_runaway_model_with_a_clear_error() {
        let (mut m, mut s) = echo(u32::MAX);
        let limits = RunLimits {
            until: None,
            max_events: 1000,
        };
        let err = run(&mut m, &mut s, limits).unwrap_err();
        assert_eq!(
            err,
            RunError::RunawayEvents {
                events: 1000,
                limit: 1000,
                at: t_ms(10_000)
            }
        );
        assert!(err.to_string().contains("event guard (1000)"));
    }

    #[test]
    fn the_trace_hash_sees_event_keys() {
        let (mut a, mut sa) = echo(10);
        let (mut b, mut sb) = echo(10);
        sb.schedule_at(t_ms(5), 1000);
        let ha = run(&mut a, &mut sa, RunLimits::default()).unwrap();
        let hb = run(&mut b, &mut sb, RunLimits::default()).unwrap();
        assert_ne!(ha.trace_hash, hb.trace_hash);
        let (mut c, mut sc) = echo(10);
        assert_eq!(
            run(&mut c, &mut sc, RunLimits::default()).unwrap(),
            ha,
            "same inputs, same trace"
        );
    }
}
