//! Tests of both flavours, and their laws.

use super::*;
use crate::time::short::{ms, t_ms, us};
use proptest::prelude::*;

fn sem(max_concurrent: u32, max_wait: SimDuration) -> SemaphoreBulkhead<u32> {
    SemaphoreBulkhead::new(BulkheadConfig {
        max_concurrent,
        max_wait,
    })
    .unwrap()
}

fn pool(core: u32, max: u32, queue: u32, keep_alive: SimDuration) -> ThreadPoolBulkhead<u32> {
    ThreadPoolBulkhead::new(ThreadPoolBulkheadConfig {
        core_threads: Some(core),
        max_threads: Some(max),
        queue_capacity: queue,
        keep_alive,
        ..Default::default()
    })
    .unwrap()
}

const FULL: Acquire = Acquire::Rejected(RejectReason::BulkheadFull);

mod config {
    use super::*;

    #[test]
    fn defaults_are_resilience4j_ones() {
        let c: BulkheadConfig = toml::from_str("").unwrap();
        assert_eq!(c, BulkheadConfig::default());
        assert_eq!((c.max_concurrent, c.max_wait), (25, SimDuration::ZERO));
        let c: BulkheadConfig =
            toml::from_str("max_concurrent = 50\nmax_wait = \"250ms\"").unwrap();
        assert_eq!((c.max_concurrent, c.max_wait), (50, ms(250)));
        assert!(toml::from_str::<BulkheadConfig>("max_concurent = 5").is_err());
    }

    #[test]
    fn thread_pool_defaults_follow_the_documented_cpu_count() {
        let c: ThreadPoolBulkheadConfig = toml::from_str("").unwrap();
        let p = ThreadPoolBulkhead::<u32>::new(c).unwrap();
        assert_eq!((p.core_threads(), p.max_threads()), (3, 4));
        let c: ThreadPoolBulkheadConfig = toml::from_str("cpus = 1").unwrap();
        let p = ThreadPoolBulkhead::<u32>::new(c).unwrap();
        assert_eq!((p.core_threads(), p.max_threads()), (1, 1));
        assert_eq!(c.keep_alive, ms(20));
        assert_eq!(c.queue_capacity, 100);
    }

    #[test]
    fn thread_pool_rejects_nonsense_with_the_field_name() {
        let bad =
            |c: ThreadPoolBulkheadConfig| ThreadPoolBulkhead::<u32>::new(c).unwrap_err().field;
        let d = ThreadPoolBulkheadConfig::default();
        assert_eq!(bad(ThreadPoolBulkheadConfig { cpus: 0, ..d }), "cpus");
        assert_eq!(
            bad(ThreadPoolBulkheadConfig {
                core_threads: Some(0),
                ..d
            }),
            "core_threads"
        );
        assert_eq!(
            bad(ThreadPoolBulkheadConfig {
                max_threads: Some(0),
                core_threads: Some(1),
                ..d
            }),
            "max_threads"
        );
        assert_eq!(
            bad(ThreadPoolBulkheadConfig {
                core_threads: Some(5),
                max_threads: Some(4),
                ..d
            }),
            "max_threads"
        );
    }

    #[test]
    fn max_wait_is_truncated_to_milliseconds() {
        let mut b = sem(0, us(999));
        assert_eq!(b.try_acquire(t_ms(0), 1), FULL);
        let mut b = sem(0, us(1_500));
        assert_eq!(
            b.try_acquire(t_ms(0), 1),
            Acquire::Queued {
                give_up_at: t_ms(1)
            }
        );
    }
}

mod semaphore {
    use super::*;

    #[test]
    fn rejects_when_full_without_waiting() {
        let mut b = sem(2, SimDuration::ZERO);
        assert_eq!(b.try_acquire(t_ms(0), 1), Acquire::Admitted);
        assert_eq!(b.try_acquire(t_ms(0), 2), Acquire::Admitted);
        assert_eq!(b.try_acquire(t_ms(0), 3), FULL);
        assert_eq!(b.in_flight(), 2);
        assert_eq!(b.release(t_ms(1)), None);
        assert_eq!(b.try_acquire(t_ms(1), 4), Acquire::Admitted);
    }

    #[test]
    fn zero_permits_rejects_everything() {
        let mut b = sem(0, SimDuration::ZERO);
        for i in 0..5 {
            assert_eq!(b.try_acquire(t_ms(i), i as u32), FULL);
        }
        assert_eq!(b.release(t_ms(9)), None);
        assert_eq!(b.in_flight(), 0);
    }

    #[test]
    fn admits_waiters_in_fifo_order() {
        let mut b = sem(1, ms(100));
        assert_eq!(b.try_acquire(t_ms(0), 1), Acquire::Admitted);
        for (i, w) in [2, 3, 4].into_iter().enumerate() {
            let at = t_ms(i as u64 + 1);
            assert_eq!(
                b.try_acquire(at, w),
                Acquire::Queued {
                    give_up_at: at + ms(100)
                }
            );
        }
        assert_eq!(b.release(t_ms(10)), Some(2));
        assert_eq!(b.release(t_ms(11)), Some(3));
        assert_eq!(b.release(t_ms(12)), Some(4));
        assert_eq!(b.release(t_ms(13)), None);
        assert_eq!((b.in_flight(), b.waiting()), (0, 0));
    }

    #[test]
    fn a_newcomer_never_barges_past_a_waiter() {
        let mut b = sem(1, ms(100));
        b.try_acquire(t_ms(0), 1);
        b.try_acquire(t_ms(1), 2);
        // The permit passes to waiter 2, so a newcomer at the same instant queues.
        assert_eq!(b.release(t_ms(5)), Some(2));
        assert_eq!(
            b.try_acquire(t_ms(5), 3),
            Acquire::Queued {
                give_up_at: t_ms(105)
            }
        );
    }

    #[test]
    fn waiters_expire_and_the_driver_learns_which() {
        let mut b = sem(1, ms(50));
        b.try_acquire(t_ms(0), 1);
        b.try_acquire(t_ms(10), 2);
        b.try_acquire(t_ms(20), 3);
        assert_eq!(b.next_wakeup(), Some(t_ms(60)));
        assert!(b.on_wait_expired(t_ms(60), 2));
        assert_eq!(b.waiting(), 1);
        // Waiter 3 gets the permit before its give-up time; its timer is then stale.
        assert_eq!(b.release(t_ms(65)), Some(3));
        assert!(!b.on_wait_expired(t_ms(70), 3));
        assert_eq!(b.in_flight(), 1);
    }

    #[test]
    fn expiry_at_one_instant_works_in_any_order() {
        let mut b = sem(1, ms(50));
        b.try_acquire(t_ms(0), 1);
        b.try_acquire(t_ms(10), 2);
        b.try_acquire(t_ms(10), 3);
        assert!(b.on_wait_expired(t_ms(60), 3));
        assert!(b.on_wait_expired(t_ms(60), 2));
        assert!(!b.on_wait_expired(t_ms(60), 2));
    }

    #[test]
    fn pop_expired_drains_only_due_waiters() {
        let mut b = sem(1, ms(50));
        b.try_acquire(t_ms(0), 1);
        b.try_acquire(t_ms(10), 2);
        b.try_acquire(t_ms(30), 3);
        assert_eq!(b.pop_expired(t_ms(59)), None);
        assert_eq!(b.pop_expired(t_ms(60)), Some(2));
        assert_eq!(b.pop_expired(t_ms(60)), None);
        assert!(b.cancel(3));
        assert!(!b.cancel(3));
        assert_eq!(b.next_wakeup(), None);
    }

    #[test]
    fn releases_on_failure_like_on_success() {
        // The bulkhead does not know outcomes: a failed call releases the same way, and
        // forgetting to release would shrink it for ever.
        let mut b = sem(1, SimDuration::ZERO);
        for i in 0..10 {
            assert_eq!(b.try_acquire(t_ms(i), i as u32), Acquire::Admitted);
            assert_eq!(b.release(t_ms(i)), None);
        }
    }

    #[test]
    fn zero_permits_with_a_wait_queues_then_gives_up() {
        let mut b = sem(0, ms(10));
        assert_eq!(
            b.try_acquire(t_ms(0), 1),
            Acquire::Queued {
                give_up_at: t_ms(10)
            }
        );
        assert!(b.on_wait_expired(t_ms(10), 1));
        assert_eq!(b.in_flight(), 0);
    }
}

mod thread_pool {
    use super::*;

    #[test]
    fn fills_core_then_queue_then_extra_threads_then_rejects() {
        let mut p = pool(2, 3, 2, ms(20));
        let got: Vec<Submit> = (1..=6).map(|i| p.try_submit(t_ms(0), i)).collect();
        use Submit::*;
        let full = Rejected(RejectReason::BulkheadFull);
        assert_eq!(got, [Started, Started, Queued, Queued, Started, full]);
        assert_eq!((p.threads(), p.running(), p.queued()), (3, 3, 2));
    }

    #[test]
    fn the_extra_thread_task_runs_before_queued_ones_which_stay_fifo() {
        let mut p = pool(1, 2, 2, ms(20));
        p.try_submit(t_ms(0), 1);
        p.try_submit(t_ms(0), 2);
        p.try_submit(t_ms(0), 3);
        assert_eq!(p.try_submit(t_ms(0), 4), Submit::Started);
        assert_eq!(p.on_task_finished(t_ms(1)), Some(2));
        assert_eq!(p.on_task_finished(t_ms(2)), Some(3));
        assert_eq!(p.on_task_finished(t_ms(3)), None);
    }

    #[test]
    fn creates_core_threads_even_when_one_is_idle() {
        let mut p = pool(2, 2, 0, ms(20));
        p.try_submit(t_ms(0), 1);
        p.on_task_finished(t_ms(1));
        assert_eq!(p.try_submit(t_ms(2), 2), Submit::Started);
        assert_eq!(p.threads(), 2);
        // Now at core: the idle thread takes the next task, no new thread.
        assert_eq!(p.try_submit(t_ms(3), 3), Submit::Started);
        assert_eq!((p.threads(), p.running()), (2, 2));
    }

    #[test]
    fn zero_capacity_is_direct_hand_off() {
        let mut p = pool(1, 2, 0, ms(20));
        assert_eq!(p.try_submit(t_ms(0), 1), Submit::Started);
        assert_eq!(p.try_submit(t_ms(0), 2), Submit::Started);
        assert_eq!(
            p.try_submit(t_ms(0), 3),
            Submit::Rejected(RejectReason::BulkheadFull)
        );
    }

    #[test]
    fn non_core_threads_exit_after_keep_alive() {
        let mut p = pool(1, 3, 0, ms(20));
        for i in 0..3 {
            p.try_submit(t_ms(0), i);
        }
        p.on_task_finished(t_ms(10));
        p.on_task_finished(t_ms(15));
        assert_eq!(p.next_wakeup(), Some(t_ms(30)));
        p.on_wakeup(t_ms(29));
        assert_eq!(p.threads(), 3);
        p.on_wakeup(t_ms(30));
        assert_eq!(p.threads(), 2);
        assert_eq!(p.next_wakeup(), Some(t_ms(35)));
        // The last task finishing leaves one idle thread, but only one more may exit.
        p.on_task_finished(t_ms(16));
        p.on_wakeup(t_ms(100));
        assert_eq!((p.threads(), p.running()), (1, 0));
        assert_eq!(p.next_wakeup(), None);
    }

    #[test]
    fn zero_keep_alive_retires_at_once() {
        let mut p = pool(1, 2, 0, SimDuration::ZERO);
        p.try_submit(t_ms(0), 1);
        p.try_submit(t_ms(0), 2);
        p.on_task_finished(t_ms(5));
        assert_eq!(p.threads(), 1);
    }

    #[test]
    fn releases_on_failure_too() {
        let mut p = pool(1, 1, 0, ms(20));
        for i in 0..5 {
            assert_eq!(p.try_submit(t_ms(i), i as u32), Submit::Started);
            assert_eq!(p.on_task_finished(t_ms(i)), None);
        }
    }
}

mod laws {
    use super::*;

    proptest! {
        #[test]
        fn semaphore_in_flight_never_exceeds_the_limit(
            max in 0u32..5,
            wait_ms in 0u64..20,
            ops in proptest::collection::vec((0u8..3, 0u64..10), 0..200),
        ) {
            let mut b = sem(max, ms(wait_ms));
            let mut now = t_ms(0);
            let mut next_id = 0u32;
            let mut queued: Vec<u32> = Vec::new();
            for (op, dt) in ops {
                now += ms(dt);
                match op {
                    0 => {
                        next_id += 1;
                        if let Acquire::Queued { .. } = b.try_acquire(now, next_id) {
                            queued.push(next_id);
                        }
                    }
                    1 => {
                        if let Some(w) = b.release(now) {
                            queued.retain(|&q| q != w);
                        }
                    }
                    _ => {
                        while let Some(w) = b.pop_expired(now) {
                            queued.retain(|&q| q != w);
                        }
                    }
                }
                prop_assert!(b.in_flight() <= max);
                prop_assert_eq!(b.waiting(), queued.len());
                // Nobody waits while a permit is idle.
                prop_assert!(b.waiting() == 0 || b.in_flight() == max);
            }
        }

        #[test]
        fn thread_pool_stays_within_its_bounds(
            core in 1u32..4,
            extra in 0u32..3,
            cap in 0u32..4,
            ops in proptest::collection::vec((any::<bool>(), 0u64..30), 0..200),
        ) {
            let max = core + extra;
            let mut p = pool(core, max, cap, ms(20));
            let mut now = t_ms(0);
            for (i, (submit, dt)) in ops.into_iter().enumerate() {
                now += ms(dt);
                if submit {
                    p.try_submit(now, i as u32);
                } else {
                    p.on_task_finished(now);
                }
                p.on_wakeup(now);
                prop_assert!(p.running() <= p.threads());
                prop_assert!(p.threads() <= max);
                prop_assert!(p.queued() <= cap as usize);
                // Work never waits while a thread is idle.
                prop_assert!(p.queued() == 0 || p.running() == p.threads());
            }
        }
    }
}
