//! Behaviour of [`CircuitBreaker`] as practitioners check it: scripted timestamps, one
//! module per behaviour, and proptest laws over arbitrary call/outcome/time sequences.

use super::*;
use crate::policy::{Outcome, RejectReason};
use crate::time::SimTime;
use crate::time::short::*;
use Admission::Admitted;
use BreakerState::{Closed, HalfOpen, Open};

const REJECTED: Admission = Admission::Rejected(RejectReason::CircuitOpen);

fn breaker(src: &str) -> CircuitBreaker {
    let config: CircuitBreakerConfig = toml::from_str(src).expect("valid toml");
    CircuitBreaker::new(config).expect("valid config")
}

/// Admit and fail `n` calls at `at`.
fn fail(cb: &mut CircuitBreaker, n: u32, at: SimTime) {
    for _ in 0..n {
        assert_eq!(cb.try_acquire(at), Admitted);
        cb.on_failure(at, ms(10));
    }
}

fn succeed(cb: &mut CircuitBreaker, n: u32, at: SimTime) {
    for _ in 0..n {
        assert_eq!(cb.try_acquire(at), Admitted);
        cb.on_success(at, ms(10));
    }
}

fn tos(cb: &mut CircuitBreaker) -> Vec<(SimTime, BreakerState)> {
    cb.drain_transitions().map(|t| (t.at, t.to)).collect()
}

mod tripping {
    use super::*;

    #[test]
    fn consecutive_opens_after_exactly_n_failures() {
        let mut cb = breaker("consecutive = { failures = 5 }");
        fail(&mut cb, 4, t_ms(0));
        assert_eq!(cb.state(), Closed);
        fail(&mut cb, 1, t_ms(1));
        assert_eq!(cb.state(), Open);
        assert_eq!(cb.attempts(), 1);
    }

    #[test]
    fn a_success_resets_the_consecutive_run_but_not_a_rate_window() {
        let script = |cb: &mut CircuitBreaker| {
            fail(cb, 4, t_ms(0));
            succeed(cb, 1, t_ms(0));
            fail(cb, 4, t_ms(0));
        };
        let mut consecutive = breaker("consecutive = { failures = 5 }");
        script(&mut consecutive);
        assert_eq!(consecutive.state(), Closed);

        let mut rate = breaker("count_window = { size = 10, minimum_calls = 9 }");
        fail(&mut rate, 4, t_ms(0));
        succeed(&mut rate, 1, t_ms(0));
        fail(&mut rate, 3, t_ms(0));
        assert_eq!(rate.state(), Closed, "8 calls are below the minimum of 9");
        fail(&mut rate, 1, t_ms(0));
        assert_eq!(rate.state(), Open, "8 of 9 failed");
    }

    #[test]
    fn count_window_opens_at_exactly_the_failure_rate() {
        let mut cb = breaker("count_window = { size = 10, minimum_calls = 10 }");
        succeed(&mut cb, 5, t_ms(0));
        fail(&mut cb, 4, t_ms(0));
        assert_eq!(cb.state(), Closed);
        fail(&mut cb, 1, t_ms(0)); // 5 of 10 = 50 % >= 50 %
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn count_window_forgets_calls_older_than_the_last_n() {
        let mut cb = breaker("count_window = { size = 4, minimum_calls = 4, failure_rate = 75.0 }");
        fail(&mut cb, 2, t_ms(0));
        succeed(&mut cb, 2, t_ms(0)); // F F S S: 50 %
        fail(&mut cb, 1, t_ms(0)); // F S S F: 50 %
        assert_eq!(cb.state(), Closed);
        fail(&mut cb, 1, t_ms(0)); // S S F F: 50 %
        assert_eq!(cb.state(), Closed);
        fail(&mut cb, 1, t_ms(0)); // S F F F: 75 %
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn no_trip_below_the_minimum_number_of_calls() {
        let mut cb = breaker("count_window = { size = 10, minimum_calls = 5 }");
        fail(&mut cb, 4, t_ms(0));
        assert_eq!(cb.state(), Closed);
        fail(&mut cb, 1, t_ms(0));
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn count_window_clamps_the_minimum_to_its_size() {
        let mut cb = breaker("count_window = { size = 3, minimum_calls = 100 }");
        fail(&mut cb, 3, t_ms(0));
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn time_window_does_not_clamp_the_minimum() {
        let mut cb = breaker("time_window = { size_secs = 2, minimum_calls = 3 }");
        fail(&mut cb, 2, t_ms(0));
        fail(&mut cb, 2, t_ms(2_000)); // the first two fell out at 2 s
        assert_eq!(cb.state(), Closed);
        fail(&mut cb, 1, t_ms(2_999));
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn slow_calls_count_only_when_strictly_slower() {
        let src = r#"count_window = { size = 4, minimum_calls = 4, slow_call_rate = 50.0, slow_call_duration = "1s" }"#;
        let mut cb = breaker(src);
        for _ in 0..4 {
            assert_eq!(cb.try_acquire(t_ms(0)), Admitted);
            cb.on_success(t_ms(1_000), secs(1));
        }
        assert_eq!(cb.state(), Closed, "exactly the threshold is not slow");
        assert_eq!(cb.counters().slow_calls, 0);

        let mut cb = breaker(src);
        cb.on_success(t_ms(0), secs(1));
        cb.on_success(t_ms(0), secs(1));
        cb.on_success(t_ms(0), secs(1) + ns(1));
        assert_eq!(cb.state(), Closed);
        cb.on_success(t_ms(0), secs(2)); // 2 of 4 slow: 50 %
        assert_eq!(cb.state(), Open);
        assert_eq!(cb.counters().slow_calls, 2);
    }

    #[test]
    fn default_slow_rate_needs_every_call_slow() {
        let mut cb =
            breaker(r#"count_window = { size = 3, minimum_calls = 3, slow_call_duration = "1s" }"#);
        cb.on_success(t_ms(0), secs(2));
        cb.on_success(t_ms(0), secs(2));
        cb.on_success(t_ms(0), ms(1));
        assert_eq!(cb.state(), Closed);
        cb.on_success(t_ms(0), secs(2));
        cb.on_success(t_ms(0), secs(2));
        assert_eq!(cb.state(), Closed, "2 of 3 slow");
        cb.on_success(t_ms(0), secs(2));
        assert_eq!(cb.state(), Open, "3 of 3 slow");
    }
}

mod time_window {
    use super::*;

    const SRC: &str = "time_window = { size = \"10s\", minimum_calls = 3 }";

    #[test]
    fn forgets_failures_older_than_the_window() {
        let mut cb = breaker(SRC);
        fail(&mut cb, 2, t_ms(0));
        fail(&mut cb, 1, t_ms(11_000));
        assert_eq!(cb.state(), Closed, "failures 11 s ago no longer count");

        let mut cb = breaker(SRC);
        fail(&mut cb, 2, t_ms(0));
        fail(&mut cb, 1, t_ms(9_999));
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn buckets_align_to_whole_seconds_of_virtual_time() {
        let mut cb = breaker(SRC);
        fail(&mut cb, 2, t_ms(10_999));
        fail(&mut cb, 1, t_ms(20_000));
        assert_eq!(
            cb.state(),
            Closed,
            "a call at 10.999 s falls out at exactly 20 s"
        );

        let mut cb = breaker(SRC);
        fail(&mut cb, 2, t_ms(10_999));
        fail(&mut cb, 1, t_ms(19_999));
        assert_eq!(cb.state(), Open);
    }
}

mod classification {
    use super::*;

    #[test]
    fn timeouts_server_errors_and_rejections_are_failures_by_default() {
        for outcome in [
            Outcome::Timeout,
            Outcome::ServerError,
            Outcome::Rejected(RejectReason::BulkheadFull),
        ] {
            let mut cb = breaker("consecutive = { failures = 2 }");
            cb.on_outcome(t_ms(0), outcome, ms(1));
            cb.on_outcome(t_ms(0), outcome, ms(1));
            assert_eq!(cb.state(), Open, "{outcome:?}");
        }
    }

    #[test]
    fn a_client_error_counts_as_a_success_unless_ignored() {
        let mut cb = breaker("count_window = { size = 2, minimum_calls = 2 }");
        cb.on_failure(t_ms(0), ms(1));
        cb.on_outcome(t_ms(0), Outcome::ClientError, ms(1));
        assert_eq!(cb.state(), Open, "1 failure in 2 calls is 50 %");
        assert_eq!(cb.counters().successes, 1);

        let mut cb =
            breaker("count_window = { size = 2, minimum_calls = 2 }\nignore = [\"client_error\"]");
        cb.on_failure(t_ms(0), ms(1));
        cb.on_outcome(t_ms(0), Outcome::ClientError, ms(1));
        assert_eq!(cb.state(), Closed, "an ignored call is not a call");
        assert_eq!(cb.counters().ignored, 1);
    }

    #[test]
    fn outcomes_left_out_of_record_count_as_successes() {
        let mut cb = breaker("consecutive = { failures = 2 }\nrecord = [\"server_error\"]");
        cb.on_outcome(t_ms(0), Outcome::ServerError, ms(1));
        cb.on_outcome(t_ms(0), Outcome::Timeout, ms(1));
        cb.on_outcome(t_ms(0), Outcome::ServerError, ms(1));
        assert_eq!(cb.state(), Closed, "the timeout reset the run");
        cb.on_outcome(t_ms(0), Outcome::ServerError, ms(1));
        assert_eq!(cb.state(), Open);
    }
}

mod open {
    use super::*;

    fn tripped() -> CircuitBreaker {
        let mut cb =
            breaker("consecutive = { failures = 1 }\nwait_open = \"500ms\"\nhalf_open_calls = 2");
        fail(&mut cb, 1, t_ms(0));
        cb
    }

    #[test]
    fn fails_fast_and_records_nothing() {
        let mut cb = tripped();
        let before = cb.counters();
        for at in [0, 100, 499] {
            assert_eq!(cb.try_acquire(t_ms(at)), REJECTED);
        }
        let after = cb.counters();
        assert_eq!(after.not_permitted, before.not_permitted + 3);
        assert_eq!(
            (after.successes, after.failures),
            (before.successes, before.failures)
        );
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn moves_to_half_open_only_strictly_after_the_wait() {
        let mut cb = tripped();
        assert_eq!(
            cb.try_acquire(t_ms(500)),
            REJECTED,
            "at exactly the boundary"
        );
        assert_eq!(cb.state(), Open, "lazy: still open until a call arrives");
        assert_eq!(cb.try_acquire(t_ms(500) + ns(1)), Admitted);
        assert_eq!(cb.state(), HalfOpen);
    }

    #[test]
    fn the_wait_counts_whole_milliseconds() {
        let mut cb = breaker("consecutive = { failures = 1 }\nwait_open = \"1500us\"");
        fail(&mut cb, 1, t_ms(0));
        assert_eq!(cb.try_acquire(t_ms(1) + ns(1)), Admitted);
    }

    #[test]
    fn late_outcomes_are_recorded_without_transitions() {
        let mut cb = tripped();
        tos(&mut cb);
        cb.on_success(t_ms(10), ms(10));
        cb.on_failure(t_ms(20), ms(20));
        assert_eq!(cb.state(), Open);
        assert!(tos(&mut cb).is_empty());
        assert_eq!(cb.counters().failures, 2);
    }

    #[test]
    fn exponential_wait_grows_per_reopening_and_resets_on_close() {
        let mut cb = breaker(
            "count_window = { size = 1, minimum_calls = 1 }\nwait_open = \"100ms\"\nwait_open_multiplier = 1.5\nwait_open_max = \"300ms\"\nhalf_open_calls = 1",
        );
        fail(&mut cb, 1, t_ms(0));
        let mut opened = t_ms(0);
        // 100, 150, 225, 300 (337 capped), 300
        for (attempt, wait) in [(1, 100), (2, 150), (3, 225), (4, 300), (5, 300)] {
            assert_eq!(cb.attempts(), attempt);
            assert_eq!(
                cb.try_acquire(opened + ms(wait)),
                REJECTED,
                "attempt {attempt}"
            );
            opened = opened + ms(wait) + ns(1);
            fail(&mut cb, 1, opened);
        }
        assert_eq!(cb.try_acquire(opened + ms(300) + ns(1)), Admitted);
        cb.on_success(opened + ms(301), ms(1));
        assert_eq!((cb.state(), cb.attempts()), (Closed, 0));
        fail(&mut cb, 1, t_ms(10_000));
        assert_eq!(cb.try_acquire(t_ms(10_100)), REJECTED);
        assert_eq!(
            cb.try_acquire(t_ms(10_100) + ns(1)),
            Admitted,
            "back to 100 ms"
        );
    }

    #[test]
    fn exponential_steps_truncate_to_whole_milliseconds() {
        let mut cb = breaker(
            "consecutive = { failures = 1 }\nwait_open = \"100ms\"\nwait_open_multiplier = 1.5\nhalf_open_calls = 1",
        );
        let mut opened = t_ms(0);
        fail(&mut cb, 1, opened);
        for wait in [100, 150, 225, 337, 505] {
            assert_eq!(cb.try_acquire(opened + ms(wait)), REJECTED);
            opened = opened + ms(wait) + ns(1);
            fail(&mut cb, 1, opened);
        }
    }
}

mod half_open {
    use super::*;

    /// Count window tripped at 0 with a 1 s wait; half-open probes: 3.
    fn tripped(min: u32) -> CircuitBreaker {
        let mut cb = breaker(&format!(
            "count_window = {{ size = 2, minimum_calls = {min} }}\nwait_open = \"1s\"\nhalf_open_calls = 3"
        ));
        fail(&mut cb, 2, t_ms(0));
        assert_eq!(cb.state(), Open);
        cb
    }

    #[test]
    fn admits_exactly_the_permitted_probes_then_rejects() {
        let mut cb = tripped(100);
        for _ in 0..3 {
            assert_eq!(cb.try_acquire(t_ms(1_001)), Admitted);
        }
        assert_eq!(cb.try_acquire(t_ms(1_001)), REJECTED);
        assert_eq!(cb.state(), HalfOpen);
    }

    #[test]
    fn closes_after_the_permitted_successes() {
        let mut cb = tripped(100);
        for _ in 0..3 {
            assert_eq!(cb.try_acquire(t_ms(1_001)), Admitted);
        }
        cb.on_success(t_ms(1_010), ms(9));
        cb.on_success(t_ms(1_010), ms(9));
        assert_eq!(
            cb.state(),
            HalfOpen,
            "decides after min(100, 3) = 3 outcomes"
        );
        cb.on_success(t_ms(1_010), ms(9));
        assert_eq!((cb.state(), cb.attempts()), (Closed, 0));
    }

    #[test]
    fn reopens_when_the_probes_fail_with_attempts_plus_one() {
        let mut cb = tripped(100);
        for _ in 0..3 {
            assert_eq!(cb.try_acquire(t_ms(1_001)), Admitted);
        }
        cb.on_failure(t_ms(1_010), ms(9));
        cb.on_failure(t_ms(1_010), ms(9));
        cb.on_success(t_ms(1_010), ms(9)); // 2 of 3 failed
        assert_eq!((cb.state(), cb.attempts()), (Open, 2));
        assert_eq!(cb.try_acquire(t_ms(2_010)), REJECTED);
        assert_eq!(cb.try_acquire(t_ms(2_010) + ns(1)), Admitted);
    }

    #[test]
    fn one_failure_in_three_closes_a_fifty_percent_breaker() {
        let mut cb = tripped(100);
        for _ in 0..3 {
            assert_eq!(cb.try_acquire(t_ms(1_001)), Admitted);
        }
        cb.on_failure(t_ms(1_010), ms(9));
        cb.on_success(t_ms(1_010), ms(9));
        cb.on_success(t_ms(1_010), ms(9));
        assert_eq!(cb.state(), Closed);
    }

    #[test]
    fn decides_early_when_the_minimum_is_below_the_permits() {
        let mut cb = tripped(2);
        for _ in 0..3 {
            assert_eq!(cb.try_acquire(t_ms(1_001)), Admitted);
        }
        cb.on_success(t_ms(1_010), ms(9));
        cb.on_success(t_ms(1_010), ms(9));
        assert_eq!(cb.state(), Closed, "min(2, 3) = 2 outcomes decide");
        cb.on_failure(t_ms(1_020), ms(9)); // the third probe lands in Closed
        assert_eq!(cb.state(), Closed);
    }

    #[test]
    fn completed_probes_do_not_return_their_permits() {
        let mut cb = tripped(100);
        assert_eq!(cb.try_acquire(t_ms(1_001)), Admitted);
        assert_eq!(cb.try_acquire(t_ms(1_001)), Admitted);
        cb.on_success(t_ms(1_010), ms(9));
        cb.on_success(t_ms(1_010), ms(9));
        assert_eq!(cb.try_acquire(t_ms(1_020)), Admitted);
        assert_eq!(cb.try_acquire(t_ms(1_020)), REJECTED);
    }

    #[test]
    fn an_ignored_probe_returns_its_permit() {
        let mut cb = tripped(100);
        for _ in 0..3 {
            assert_eq!(cb.try_acquire(t_ms(1_001)), Admitted);
        }
        cb.on_ignored(t_ms(1_010));
        assert_eq!(cb.try_acquire(t_ms(1_020)), Admitted);
        assert_eq!(cb.try_acquire(t_ms(1_020)), REJECTED);
        cb.on_ignored(t_ms(1_030));
        cb.on_ignored(t_ms(1_030));
        cb.on_ignored(t_ms(1_030));
        cb.on_ignored(t_ms(1_030)); // more returns than probes out: capped at 3
        for _ in 0..3 {
            assert_eq!(cb.try_acquire(t_ms(1_040)), Admitted);
        }
        assert_eq!(cb.try_acquire(t_ms(1_040)), REJECTED);
    }

    #[test]
    fn a_probe_that_never_finishes_keeps_it_half_open_forever() {
        let mut cb = tripped(100);
        for _ in 0..3 {
            assert_eq!(cb.try_acquire(t_ms(1_001)), Admitted);
        }
        assert_eq!(cb.next_wakeup(), None);
        assert_eq!(cb.try_acquire(t_ms(3_600_000)), REJECTED);
        assert_eq!(cb.state(), HalfOpen);
    }

    #[test]
    fn consecutive_half_open_reopens_on_the_first_failure() {
        let mut cb =
            breaker("consecutive = { failures = 2 }\nwait_open = \"1s\"\nhalf_open_calls = 3");
        fail(&mut cb, 2, t_ms(0));
        succeed(&mut cb, 2, t_ms(1_001));
        assert_eq!(cb.state(), HalfOpen);
        fail(&mut cb, 1, t_ms(1_002));
        assert_eq!((cb.state(), cb.attempts()), (Open, 2));
    }
}

mod timers {
    use super::*;

    #[test]
    fn automatic_transition_wakes_at_the_end_of_the_wait() {
        let mut cb = breaker(
            "consecutive = { failures = 1 }\nwait_open = \"1s\"\nautomatic_transition = true",
        );
        fail(&mut cb, 1, t_ms(250));
        assert_eq!(cb.next_wakeup(), Some(t_ms(1_250)));
        cb.on_wakeup(t_ms(1_249));
        assert_eq!(cb.state(), Open);
        cb.on_wakeup(t_ms(1_250));
        assert_eq!(cb.state(), HalfOpen);
        assert_eq!(
            tos(&mut cb),
            vec![(t_ms(250), Open), (t_ms(1_250), HalfOpen)]
        );
        assert_eq!(cb.next_wakeup(), None);
    }

    #[test]
    fn a_late_wakeup_still_times_the_transition_at_the_deadline() {
        let mut cb = breaker(
            "consecutive = { failures = 1 }\nwait_open = \"1s\"\nautomatic_transition = true",
        );
        fail(&mut cb, 1, t_ms(0));
        tos(&mut cb);
        assert_eq!(cb.try_acquire(t_ms(5_000)), Admitted);
        assert_eq!(tos(&mut cb), vec![(t_ms(1_000), HalfOpen)]);
    }

    #[test]
    fn without_automatic_transition_nothing_wakes_an_open_breaker() {
        let mut cb = breaker("consecutive = { failures = 1 }\nwait_open = \"1s\"");
        fail(&mut cb, 1, t_ms(0));
        assert_eq!(cb.next_wakeup(), None);
        cb.on_wakeup(t_ms(10_000));
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn max_wait_half_open_reopens_with_a_new_wait_from_the_deadline() {
        let mut cb = breaker(
            "consecutive = { failures = 1 }\nwait_open = \"1s\"\nhalf_open_calls = 2\nmax_wait_half_open = \"3s\"",
        );
        fail(&mut cb, 1, t_ms(0));
        assert_eq!(cb.try_acquire(t_ms(1_500)), Admitted);
        assert_eq!(cb.next_wakeup(), Some(t_ms(4_500)));
        cb.on_wakeup(t_ms(4_500));
        assert_eq!((cb.state(), cb.attempts()), (Open, 2));
        assert_eq!(cb.try_acquire(t_ms(5_500)), REJECTED);
        assert_eq!(cb.try_acquire(t_ms(5_500) + ns(1)), Admitted);
    }

    #[test]
    fn max_wait_half_open_can_close_instead() {
        let mut cb = breaker(
            "consecutive = { failures = 1 }\nwait_open = \"1s\"\nmax_wait_half_open = \"3s\"\nafter_max_wait_half_open = \"closed\"",
        );
        fail(&mut cb, 1, t_ms(0));
        assert_eq!(cb.try_acquire(t_ms(1_500)), Admitted);
        assert_eq!(cb.try_acquire(t_ms(4_600)), Admitted, "closed at 4.5 s");
        assert_eq!(tos(&mut cb).last(), Some(&(t_ms(4_500), Closed)));
    }

    #[test]
    fn sub_millisecond_max_wait_is_disabled() {
        let mut cb = breaker(
            "consecutive = { failures = 1 }\nwait_open = \"1s\"\nmax_wait_half_open = \"500us\"",
        );
        fail(&mut cb, 1, t_ms(0));
        assert_eq!(cb.try_acquire(t_ms(1_001)), Admitted);
        assert_eq!(cb.next_wakeup(), None);
    }
}

mod hystrix {
    use super::*;

    #[test]
    fn trips_only_at_a_health_snapshot() {
        let mut cb = breaker("hystrix = {}");
        fail(&mut cb, 20, t_ms(100));
        assert_eq!(cb.state(), Closed, "not evaluated per call");
        assert_eq!(cb.next_wakeup(), Some(t_ms(500)));
        assert_eq!(cb.try_acquire(t_ms(499)), Admitted);
        cb.on_wakeup(t_ms(500));
        assert_eq!(cb.state(), Open);
        assert_eq!(tos(&mut cb), vec![(t_ms(500), Open)]);
    }

    #[test]
    fn a_lazy_driver_sees_the_same_trip_time() {
        let mut cb = breaker("hystrix = {}");
        fail(&mut cb, 20, t_ms(100));
        assert_eq!(cb.try_acquire(t_ms(2_000)), REJECTED);
        assert_eq!(tos(&mut cb), vec![(t_ms(500), Open)]);
    }

    #[test]
    fn the_snapshot_excludes_the_bucket_still_filling() {
        let mut cb = breaker("hystrix = {}");
        fail(&mut cb, 19, t_ms(100));
        fail(&mut cb, 1, t_ms(500));
        cb.on_wakeup(t_ms(500));
        assert_eq!(cb.state(), Closed, "19 requests by the 500 ms snapshot");
        cb.on_wakeup(t_ms(1_000));
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn needs_the_request_volume() {
        let mut cb = breaker("hystrix = {}");
        fail(&mut cb, 19, t_ms(100));
        assert_eq!(cb.next_wakeup(), None, "19 requests can never trip");
        cb.on_wakeup(t_ms(20_000));
        assert_eq!(cb.state(), Closed);
    }

    #[test]
    fn truncates_the_error_percentage() {
        let mut cb = breaker("hystrix = {}");
        fail(&mut cb, 499, t_ms(100));
        succeed(&mut cb, 501, t_ms(100));
        cb.on_wakeup(t_ms(500));
        assert_eq!(cb.state(), Closed, "49.9 % truncates to 49");

        let mut cb = breaker("hystrix = {}");
        fail(&mut cb, 500, t_ms(100));
        succeed(&mut cb, 500, t_ms(100));
        cb.on_wakeup(t_ms(500));
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn old_buckets_leave_the_rolling_window() {
        let mut cb = breaker("hystrix = { rolling_window = \"1s\" }");
        fail(&mut cb, 10, t_ms(100));
        succeed(&mut cb, 30, t_ms(100));
        cb.on_wakeup(t_ms(500));
        fail(&mut cb, 10, t_ms(1_100)); // bucket 0 is gone by the 1.5 s snapshot
        cb.on_wakeup(t_ms(1_500));
        assert_eq!(cb.state(), Closed);
        fail(&mut cb, 10, t_ms(1_600));
        cb.on_wakeup(t_ms(2_000)); // 20 failures in buckets 2..=3
        assert_eq!(cb.state(), Open);
    }

    fn tripped() -> CircuitBreaker {
        let mut cb = breaker("hystrix = {}");
        fail(&mut cb, 20, t_ms(100));
        cb.on_wakeup(t_ms(500));
        assert_eq!(cb.state(), Open);
        cb
    }

    #[test]
    fn admits_a_single_trial_strictly_after_the_sleep_window_in_whole_ms() {
        let mut cb = tripped();
        assert_eq!(cb.try_acquire(t_ms(5_500)), REJECTED);
        assert_eq!(
            cb.try_acquire(t_ms(5_500) + us(999)),
            REJECTED,
            "same millisecond"
        );
        assert_eq!(cb.try_acquire(t_ms(5_501)), Admitted);
        assert_eq!(cb.try_acquire(t_ms(5_501)), REJECTED);
        assert_eq!(cb.try_acquire(t_ms(9_000)), REJECTED);
    }

    #[test]
    fn a_successful_trial_closes_and_restarts_the_health_stream() {
        let mut cb = tripped();
        assert_eq!(cb.try_acquire(t_ms(5_501)), Admitted);
        cb.on_success(t_ms(5_600), ms(99));
        assert_eq!(cb.state(), Closed);
        fail(&mut cb, 20, t_ms(5_700));
        assert_eq!(
            cb.next_wakeup(),
            Some(t_ms(6_100)),
            "grid restarts at the close"
        );
        cb.on_wakeup(t_ms(6_100));
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn a_failed_trial_reopens_from_now() {
        let mut cb = tripped();
        assert_eq!(cb.try_acquire(t_ms(5_501)), Admitted);
        cb.on_failure(t_ms(6_000), ms(499));
        assert_eq!(cb.state(), Open);
        assert_eq!(cb.try_acquire(t_ms(11_000)), REJECTED);
        assert_eq!(cb.try_acquire(t_ms(11_001)), Admitted);
    }

    #[test]
    fn bad_requests_are_excluded_from_health_but_fail_a_trial() {
        let mut cb = breaker("hystrix = {}");
        fail(&mut cb, 20, t_ms(100));
        for _ in 0..100 {
            cb.on_outcome(t_ms(100), Outcome::ClientError, ms(1));
        }
        cb.on_wakeup(t_ms(500));
        assert_eq!(cb.state(), Open, "100 % of counted requests failed");
        assert_eq!(cb.try_acquire(t_ms(5_501)), Admitted);
        cb.on_outcome(t_ms(5_600), Outcome::ClientError, ms(1));
        assert_eq!(cb.state(), Open, "markNonSuccess");
    }
}

mod polly {
    use super::*;

    const SRC: &str = "polly = { failure_ratio = 0.5, minimum_throughput = 4 }";

    #[test]
    fn breaks_on_a_failure_once_throughput_and_ratio_are_reached() {
        let mut cb = breaker(SRC);
        succeed(&mut cb, 2, t_ms(0));
        fail(&mut cb, 1, t_ms(0));
        assert_eq!(cb.state(), Closed, "3 calls are below the throughput");
        fail(&mut cb, 1, t_ms(0));
        assert_eq!(cb.state(), Open, "2 of 4 >= 0.5");
    }

    #[test]
    fn a_success_never_breaks_the_circuit() {
        let mut cb = breaker(SRC);
        fail(&mut cb, 3, t_ms(0));
        succeed(&mut cb, 1, t_ms(0));
        assert_eq!(
            cb.state(),
            Closed,
            "75 % but the check runs only on failures"
        );
        fail(&mut cb, 1, t_ms(0));
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn probes_once_at_or_after_the_break_duration() {
        let mut cb = breaker(SRC);
        fail(&mut cb, 4, t_ms(1_000));
        assert_eq!(cb.try_acquire(t_ms(6_000) - ns(1)), REJECTED);
        assert_eq!(
            cb.try_acquire(t_ms(6_000)),
            Admitted,
            ">=, unlike Resilience4j"
        );
        assert_eq!(cb.try_acquire(t_ms(6_000)), REJECTED);
        cb.on_failure(t_ms(6_100), ms(100));
        assert_eq!(cb.state(), Open);
        assert_eq!(cb.try_acquire(t_ms(11_100)), Admitted);
        cb.on_success(t_ms(11_200), ms(100));
        assert_eq!(cb.state(), Closed);
        fail(&mut cb, 3, t_ms(11_300));
        assert_eq!(cb.state(), Closed, "metrics were reset on closing");
    }

    #[test]
    fn the_sampling_window_forgets_old_sub_windows() {
        let mut cb = breaker(
            "polly = { failure_ratio = 0.5, minimum_throughput = 4, sampling_duration = \"10s\" }",
        );
        fail(&mut cb, 3, t_ms(0));
        fail(&mut cb, 1, t_ms(10_000));
        assert_eq!(cb.state(), Closed);
    }
}

mod manual_states {
    use super::*;

    #[test]
    fn forced_open_rejects_until_reset() {
        let mut cb = breaker("consecutive = { failures = 1 }\nwait_open = \"1ms\"");
        cb.force_open(t_ms(10));
        assert_eq!(cb.try_acquire(t_ms(1_000_000)), REJECTED);
        cb.on_failure(t_ms(1_000_001), ms(1));
        assert_eq!(cb.state(), BreakerState::ForcedOpen);
        cb.reset(t_ms(1_000_002));
        assert_eq!(cb.try_acquire(t_ms(1_000_003)), Admitted);
        assert_eq!(
            tos(&mut cb),
            vec![
                (t_ms(10), BreakerState::ForcedOpen),
                (t_ms(1_000_002), Closed)
            ]
        );
    }

    #[test]
    fn disabled_admits_everything_and_counts_nothing() {
        let mut cb = breaker("consecutive = { failures = 1 }");
        cb.disable(t_ms(0));
        fail(&mut cb, 10, t_ms(1));
        assert_eq!(cb.state(), BreakerState::Disabled);
        cb.reset(t_ms(2));
        assert_eq!(cb.state(), Closed);
        fail(&mut cb, 1, t_ms(3));
        assert_eq!(cb.state(), Open);
    }

    #[test]
    fn reset_forgets_the_closed_window() {
        let mut cb = breaker("consecutive = { failures = 2 }");
        fail(&mut cb, 1, t_ms(0));
        cb.reset(t_ms(1));
        fail(&mut cb, 1, t_ms(2));
        assert_eq!(cb.state(), Closed);
        assert!(tos(&mut cb).is_empty(), "already closed: no transition");
    }
}

mod transitions {
    use super::*;

    #[test]
    fn are_reported_with_their_times_and_counted() {
        let mut cb =
            breaker("consecutive = { failures = 1 }\nwait_open = \"1s\"\nhalf_open_calls = 1");
        fail(&mut cb, 1, t_ms(100));
        assert_eq!(cb.try_acquire(t_ms(1_200)), Admitted);
        cb.on_success(t_ms(1_300), ms(100));
        let log: Vec<Transition> = cb.drain_transitions().collect();
        assert_eq!(
            log,
            vec![
                Transition {
                    at: t_ms(100),
                    from: Closed,
                    to: Open
                },
                Transition {
                    at: t_ms(1_200),
                    from: Open,
                    to: HalfOpen
                },
                Transition {
                    at: t_ms(1_300),
                    from: HalfOpen,
                    to: Closed
                },
            ]
        );
        assert_eq!(cb.counters().transitions, 3);
        assert_eq!(cb.drain_transitions().count(), 0);
    }

    #[test]
    fn an_undrained_log_keeps_the_latest_and_counts_the_rest() {
        let mut cb =
            breaker("consecutive = { failures = 1 }\nwait_open = \"1ms\"\nhalf_open_calls = 1");
        let mut at = t_ms(0);
        fail(&mut cb, 1, at);
        for _ in 0..5 {
            at += ms(2);
            fail(&mut cb, 1, at); // Open → HalfOpen → Open
        }
        assert_eq!(cb.counters().transitions, 11);
        assert_eq!(cb.counters().transitions_dropped, 3);
        let log: Vec<Transition> = cb.drain_transitions().collect();
        assert_eq!(log.len(), 8);
        assert_eq!(log.last().map(|t| (t.at, t.to)), Some((at, Open)));
    }
}

mod laws {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Acquire(u64),
        Complete(usize, u8, u64),
        Wakeup(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u64..400).prop_map(Op::Acquire),
            3 => (any::<usize>(), 0u8..3, 0u64..3_000).prop_map(|(i, k, t)| Op::Complete(i, k, t)),
            1 => (0u64..3_000).prop_map(Op::Wakeup),
        ]
    }

    fn config() -> impl Strategy<Value = (String, u32)> {
        let r4j = (0u32..3, 1u32..5, 1u32..5, any::<bool>(), 0u64..3).prop_map(
            |(kind, n, half, auto, max_wait)| {
                let window = match kind {
                    0 => format!("consecutive = {{ failures = {n} }}"),
                    1 => format!("count_window = {{ size = {n}, minimum_calls = {n} }}"),
                    _ => format!("time_window = {{ size_secs = {n}, minimum_calls = {n} }}"),
                };
                let src = format!(
                    "{window}\nwait_open = \"1s\"\nhalf_open_calls = {half}\nautomatic_transition = {auto}\nmax_wait_half_open = \"{max_wait}s\""
                );
                (src, half)
            },
        );
        let hystrix = (1u32..5).prop_map(|v| {
            (
                format!("hystrix = {{ request_volume = {v}, rolling_window = \"2s\", sleep_window = \"1s\" }}"),
                1,
            )
        });
        let polly = (2u32..5).prop_map(|v| {
            (
                format!("polly = {{ minimum_throughput = {v}, failure_ratio = 0.5, break_duration = \"1s\" }}"),
                1,
            )
        });
        prop_oneof![3 => r4j, 1 => hystrix, 1 => polly]
    }

    /// Runs `ops`, checking after each step that the half-open episode never admitted
    /// more probes than permitted plus slots returned by ignored outcomes, and that the
    /// transition log is a consistent chain without Closed→HalfOpen.
    fn run(src: &str, permitted: u32, ops: &[Op], allow_ignore: bool) -> Result<(), TestCaseError> {
        let mut cb = breaker(src);
        let mut now = SimTime::ZERO;
        let mut in_flight: Vec<SimTime> = Vec::new();
        let (mut admitted, mut returned) = (0u32, 0u32);
        let mut last = (SimTime::ZERO, Closed);
        for op in ops {
            let before = cb.state();
            let mut admitted_now = false;
            let mut ignored_now = false;
            match *op {
                Op::Acquire(dt) => {
                    now += ms(dt);
                    if cb.try_acquire(now) == Admitted {
                        in_flight.push(now);
                        admitted_now = true;
                    }
                }
                Op::Complete(i, kind, took) if !in_flight.is_empty() => {
                    let started = in_flight.swap_remove(i % in_flight.len());
                    now = now.max(started + ms(took));
                    match kind {
                        0 => cb.on_success(now, now - started),
                        1 => cb.on_failure(now, now - started),
                        _ if allow_ignore => {
                            ignored_now = true;
                            cb.on_ignored(now);
                        }
                        _ => cb.on_success(now, now - started),
                    }
                }
                Op::Complete(..) => {}
                Op::Wakeup(dt) => {
                    now += ms(dt);
                    cb.on_wakeup(now);
                }
            }
            for t in cb.drain_transitions() {
                prop_assert_eq!(t.from, last.1, "chain broken at {:?}", t);
                prop_assert!(t.at >= last.0 && t.at <= now, "time order at {:?}", t);
                prop_assert!(
                    !(t.from == Closed && t.to == HalfOpen),
                    "Closed→HalfOpen at {:?}",
                    t
                );
                if t.to == HalfOpen {
                    admitted = 0;
                    returned = 0;
                }
                last = (t.at, t.to);
            }
            prop_assert_eq!(last.1, cb.state());
            if cb.state() == HalfOpen {
                if admitted_now {
                    admitted += 1;
                }
                if ignored_now && before == HalfOpen {
                    returned += 1;
                }
                prop_assert!(
                    admitted <= permitted + returned,
                    "{} probes admitted, {} permitted, {} returned",
                    admitted,
                    permitted,
                    returned
                );
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn never_more_probes_than_permitted((src, permitted) in config(), ops in prop::collection::vec(op(), 1..200)) {
            run(&src, permitted, &ops, false)?;
        }

        #[test]
        fn ignored_outcomes_return_at_most_one_probe_each((src, permitted) in config(), ops in prop::collection::vec(op(), 1..200)) {
            run(&src, permitted, &ops, true)?;
        }
    }
}
