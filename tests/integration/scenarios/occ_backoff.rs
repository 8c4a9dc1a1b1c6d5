//! The AWS "Exponential Backoff and Jitter" study (experiments/occ_backoff.toml), with
//! fewer replications: N clients start at once and race to update one OCC row. The
//! blog's orderings must come out of the mechanism: jitter (full, equal, decorrelated)
//! makes far fewer write calls than no back-off or exponential without jitter; exponential
//! without jitter takes by far the longest; full jitter's work grows close to linearly
//! in N while no back-off's grows close to N².

use super::run_experiment;

#[test]
fn jitter_cuts_the_work_and_exponential_without_jitter_takes_longest() {
    let o = run_experiment("occ_backoff.toml", 20, None, &[]);
    let at = |v: &str, n: u32, m: &str| o.at(v, &format!("count={n}"), m);
    let calls = |v: &str, n: u32| at(v, n, "occ_writes:row");
    let time = |v: &str, n: u32| at(v, n, "completion_s");
    let jitter = ["full", "equal", "decorrelated"];
    let all = ["none", "exponential", "full", "equal", "decorrelated"];
    for n in [50, 100] {
        // Everybody gets through exactly once: writes − conflicts = N, none lost.
        for v in all {
            let ok = calls(v, n) - at(v, n, "occ_conflicts:row");
            assert!(
                (ok - n as f64).abs() < 1e-9,
                "{v} N={n}: {ok} successful writes"
            );
            assert_eq!(at(v, n, "good"), n as f64, "{v} N={n}");
        }
        let synchronised = calls("none", n).min(calls("exponential", n));
        for j in jitter {
            assert!(
                calls(j, n) < 0.7 * synchronised,
                "N={n}: {j} makes {} calls, none {} and exponential {}",
                calls(j, n),
                calls("none", n),
                calls("exponential", n)
            );
        }
        let others = ["none", "full", "equal", "decorrelated"]
            .map(|v| time(v, n))
            .into_iter()
            .fold(0.0, f64::max);
        assert!(
            time("exponential", n) > 4.0 * others,
            "N={n}: exponential completes at {} s, the others by {others} s",
            time("exponential", n)
        );
    }
    // Growth from N = 50 to 100 as a power of N: ≈ 1 is linear, ≈ 2 quadratic.
    let growth = |v: &str| (calls(v, 100) / calls(v, 50)).log2();
    assert!(
        growth("full") < 1.4 && growth("none") > 1.6,
        "calls grow as N^{:.2} with full jitter, N^{:.2} without back-off",
        growth("full"),
        growth("none")
    );
    eprintln!(
        "N=100 calls: none {:.0}, exponential {:.0}, full {:.0}, equal {:.0}, decorrelated {:.0}; completion s: {:.2} {:.2} {:.2} {:.2} {:.2}",
        calls("none", 100),
        calls("exponential", 100),
        calls("full", 100),
        calls("equal", 100),
        calls("decorrelated", 100),
        time("none", 100),
        time("exponential", 100),
        time("full", 100),
        time("equal", 100),
        time("decorrelated", 100)
    );
}
