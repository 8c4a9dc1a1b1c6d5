//! Retry-After vs the storm: a burst fills the partner's fixed window; clients that retry
//! on their own back-off spend their attempts on a closed window and lose the orders,
//! clients that wait for the Retry-After come back when it resets and lose none.

use super::run_experiment;

#[test]
fn honouring_retry_after_loses_no_order_where_an_own_backoff_loses_thousands() {
    let o = run_experiment("retry_after_storm.toml", 1, Some("10m"), &[]);
    let m = |v: &str, k: &str| o.mean(v, k);
    for v in ["own-backoff", "exponential-backoff", "retry-after"] {
        println!(
            "{v:20} lost {:6.0}  throttled {:6.0}  attempts/order {:.2}  outage {:3.0} s  late {:5.0}",
            m(v, "lost"),
            m(v, "failed_throttled"),
            m(v, "amplification"),
            m(v, "outage_s"),
            m(v, "late")
        );
    }
    // The burst brings about 14 400 orders in the minute the window allows 6000: the
    // rest is refused until the reset. Retrying every second for 30 s, they are lost.
    assert!(m("own-backoff", "lost") > 3000.0);
    assert_eq!(
        m("own-backoff", "failed_throttled"),
        m("own-backoff", "failed")
    );
    assert!(m("own-backoff", "amplification") > 3.0);
    // A longer, jittered back-off saves some by luck, not all.
    assert!(m("exponential-backoff", "lost") > 1000.0);
    assert!(m("exponential-backoff", "lost") < m("own-backoff", "lost"));
    // Waiting for the reset: nothing lost, few wasted attempts, the backlog served in
    // whole windows (6000 at each reset, 1200 more than the new orders need).
    assert_eq!(m("retry-after", "lost"), 0.0);
    assert!(m("retry-after", "amplification") < 1.6);
    assert!(o.peak("retry-after", "ok_per_s") > 1000.0);
}
