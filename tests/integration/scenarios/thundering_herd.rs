//! Thundering herd, shortened: 12 minutes with the 60-second search outage at 2 minutes.
//! With the app retrying exactly 60 s after a failure, the phones that failed together
//! come back together: arrivals at search arrive in waves, and the service goes down
//! again with every wave, at the wave period (60 s of back-off + the 10 s timeout).
//! Exponential backoff without jitter keeps the waves (it only spaces them out); full
//! jitter smears them and the service recovers as soon as the outage ends.

use super::{Outcome, run_experiment};

/// What the waves look like after the fault, in `[from_s, to_s)`.
struct Waves {
    /// Peak ÷ mean of the arrivals per second at search.
    peak_to_mean: f64,
    /// Start times (s) of the down intervals.
    down_starts: Vec<f64>,
}

fn waves(o: &Outcome, variant: &str, from_s: f64, to_s: f64) -> Waves {
    let width = o.experiment.spec.bucket.as_secs_f64();
    let in_window = |i: usize| (from_s..to_s).contains(&(i as f64 * width));
    let arrivals: Vec<f64> = o
        .series(variant, "", "arrivals_per_s:search")
        .into_iter()
        .enumerate()
        .filter(|(i, _)| in_window(*i))
        .map(|(_, x)| x)
        .collect();
    let mean = arrivals.iter().sum::<f64>() / arrivals.len() as f64;
    let peak = arrivals.iter().copied().fold(0.0, f64::max);
    let down = o.series(variant, "", "down");
    let mut down_starts = Vec::new();
    let mut was_down = true; // a down interval running into the window is not a new wave
    for (i, d) in down.iter().enumerate().filter(|(i, _)| in_window(*i)) {
        let is_down = *d > 0.5;
        if is_down && !was_down {
            down_starts.push(i as f64 * width);
        }
        was_down = is_down;
    }
    Waves {
        peak_to_mean: peak / mean,
        down_starts,
    }
}

#[test]
fn fixed_and_exponential_retries_come_back_in_waves_full_jitter_does_not() {
    let o = run_experiment("thundering_herd.toml", 1, Some("12m"), &["faults.0.at=2m"]);
    let (fault_end, until) = (180.0, 600.0);

    let fixed = waves(&o, "fixed", fault_end, until);
    let gaps: Vec<f64> = fixed.down_starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        fixed.down_starts.len() >= 4,
        "fixed: the service should go down again with each wave, down at {:?}",
        fixed.down_starts
    );
    // The period is the 60 s back-off plus the time a doomed attempt takes to fail (the
    // app's 10 s timeout, a few seconds more in the queue); the first wave, carrying the
    // whole outage's failures, lasts longer than the next ones.
    let mean_gap = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!(
        gaps.iter().all(|g| (60.0..=110.0).contains(g)) && (65.0..=90.0).contains(&mean_gap),
        "fixed: waves should be ≈ 70–80 s apart (60 s back-off + 10 s timeout), gaps {gaps:?}"
    );
    assert!(
        fixed.peak_to_mean > 2.0,
        "fixed: arrivals should come in spikes, peak-to-mean {:.2}",
        fixed.peak_to_mean
    );

    let exp = waves(&o, "exponential", fault_end, until);
    assert!(
        exp.down_starts.len() >= 2 && exp.peak_to_mean > 1.4,
        "exponential without jitter: still waves, down at {:?}, peak-to-mean {:.2}",
        exp.down_starts,
        exp.peak_to_mean
    );

    let jitter = waves(&o, "full-jitter", fault_end, until);
    assert!(
        jitter.down_starts.is_empty() && jitter.peak_to_mean < 1.5,
        "full jitter: no waves, down at {:?}, peak-to-mean {:.2}",
        jitter.down_starts,
        jitter.peak_to_mean
    );

    // Synchronised from the start: 10,000 phones at one instant (5:00 here, search up),
    // whose retries come back together (counted from 5:30, after the burst itself):
    // spikes far above anything the unsynchronised
    // herd makes, and the service goes down with each of them.
    let burst = waves(&o, "burst-fixed", 330.0, until);
    let width = o.experiment.spec.bucket.as_secs_f64();
    let spike = |v: &str| {
        o.series(v, "", "arrivals_per_s:search")
            .into_iter()
            .enumerate()
            .filter(|(i, x)| *i as f64 * width >= 330.0 && x.is_finite())
            .fold(0.0, |m: f64, (_, x)| m.max(x))
    };
    assert!(
        burst.down_starts.len() >= 3 && spike("burst-fixed") > 10.0 * spike("fixed"),
        "burst-fixed: down at {:?}, peak arrivals {:.0}/s vs {:.0}/s",
        burst.down_starts,
        spike("burst-fixed"),
        spike("fixed")
    );
    let spread = waves(&o, "burst-full-jitter", 330.0, until);
    assert!(
        spread.peak_to_mean < burst.peak_to_mean / 2.0,
        "full jitter smears the burst's retries: peak-to-mean {:.2} vs {:.2} synchronised",
        spread.peak_to_mean,
        burst.peak_to_mean
    );

    // Recovery: full jitter is answering again right after the outage; the synchronized
    // variants stay down for minutes.
    let rec = |v: &str| o.mean(v, "recovery_s");
    let (r_fixed, r_exp, r_jitter) = (rec("fixed"), rec("exponential"), rec("full-jitter"));
    assert!(
        r_jitter <= 30.0 && r_fixed >= 180.0 && r_exp >= 90.0,
        "recovery after the outage: fixed {r_fixed} s, exponential {r_exp} s, full jitter {r_jitter} s"
    );
    eprintln!(
        "fixed: down at {:?} (peak/mean {:.2}); exponential: down at {:?} (peak/mean {:.2}); \
         full jitter: peak/mean {:.2}; recovery {r_fixed}/{r_exp}/{r_jitter} s",
        fixed.down_starts,
        fixed.peak_to_mean,
        exp.down_starts,
        exp.peak_to_mean,
        jitter.peak_to_mean
    );
}
