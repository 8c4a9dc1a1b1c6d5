//! Latency per bucket: the percentiles of one bucket and the histogram layout every
//! latency is recorded in.

use hdrhistogram::Histogram;

use crate::time::SimDuration;

/// Latency percentiles of one bucket (by completion time), milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BucketLatency {
    /// Answers completed in the bucket.
    pub count: u64,
    /// Median, ms (NaN when empty).
    pub p50_ms: f64,
    /// 99th percentile, ms (NaN when empty).
    pub p99_ms: f64,
    /// 99th percentile of the answered requests only (good, late, degraded, pending), ms
    /// (NaN when none was answered).
    pub p99_ok_ms: f64,
}

pub(super) fn histogram() -> Histogram<u64> {
    // Microseconds from 1 µs to ~11.6 days, 3 significant digits.
    Histogram::new_with_bounds(1, 1_000_000_000_000, 3).expect("valid bounds")
}

pub(super) fn micros(d: SimDuration) -> u64 {
    (d.as_nanos() / 1_000).clamp(1, 1_000_000_000_000)
}

/// Latencies a [`BucketSamples`] keeps as they come before it moves them to a histogram:
/// 256 KiB, about the size of the histogram itself.
const SAMPLES_MAX: usize = 32 * 1024;

/// The latencies of the open bucket, for its percentiles: exactly what a histogram of
/// [`histogram`]'s layout would answer, at a cost that follows the bucket's requests.
///
/// A histogram has ~32,000 counters, and closing a bucket read and cleared all of them
/// (half a megabyte per workload and bucket: a few percent of a run with one-second
/// buckets and a few hundred requests per second, and caches emptied). Up to [`SAMPLES_MAX`] the
/// values are kept as they come, and a quantile is the histogram's: the `ceil(q × n)`-th
/// smallest value (at least the first), rounded up to the highest value of its
/// histogram bin. A busier bucket moves its values to a histogram and goes on there.
#[derive(Clone, Debug, Default)]
pub(super) struct BucketSamples {
    samples: Vec<u64>,
    /// Where the values of a bucket with more than [`SAMPLES_MAX`] go (made once).
    spill: Option<Box<Histogram<u64>>>,
    /// The open bucket's values are in `spill`.
    spilled: bool,
}

impl BucketSamples {
    /// Adds a latency in microseconds (within [`histogram`]'s bounds).
    #[inline]
    pub fn record(&mut self, us: u64) {
        if self.spilled {
            let _ = self.spill.as_mut().expect("spilled").record(us);
        } else if self.samples.len() < SAMPLES_MAX {
            self.samples.push(us);
        } else {
            self.move_to_histogram();
            let _ = self.spill.as_mut().expect("spilled").record(us);
        }
    }

    #[cold]
    fn move_to_histogram(&mut self) {
        let h = self.spill.get_or_insert_with(|| Box::new(histogram()));
        for &v in &self.samples {
            let _ = h.record(v);
        }
        self.samples.clear();
        self.spilled = true;
    }

    /// Values in the open bucket.
    pub fn len(&self) -> u64 {
        match &self.spill {
            Some(h) if self.spilled => h.len(),
            _ => self.samples.len() as u64,
        }
    }

    /// No value in the open bucket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at quantile `q` in `(0, 1]`, as `Histogram::value_at_quantile` of the
    /// same values (0 when there are none); `layout` is any histogram of [`histogram`]'s
    /// layout (its bins).
    pub fn value_at_quantile(&mut self, q: f64, layout: &Histogram<u64>) -> u64 {
        debug_assert!(q > 0.0 && q <= 1.0);
        if self.spilled {
            return self.spill.as_ref().expect("spilled").value_at_quantile(q);
        }
        let n = self.samples.len();
        if n == 0 {
            return 0;
        }
        let k = ((q * n as f64).ceil() as usize).clamp(1, n);
        let (_, &mut v, _) = self.samples.select_nth_unstable(k - 1);
        layout.highest_equivalent(v)
    }

    /// Empties it for the next bucket (keeping its memory).
    pub fn clear(&mut self) {
        self.samples.clear();
        if self.spilled {
            self.spill.as_mut().expect("spilled").reset();
            self.spilled = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(values: &[u64]) {
        let mut h = histogram();
        let mut s = BucketSamples::default();
        for &v in values {
            h.record(v).unwrap();
            s.record(v);
        }
        assert_eq!(s.len(), h.len());
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                s.value_at_quantile(q, &h),
                h.value_at_quantile(q),
                "q = {q}"
            );
        }
    }

    proptest! {
        #[test]
        fn quantiles_are_the_histograms(
            values in prop::collection::vec(1u64..1_000_000_000_000, 1..400),
            small in prop::collection::vec(1u64..5_000, 0..400),
        ) {
            // Wide values and many equal or same-bin ones (small values, few bins).
            let mut all = values;
            all.extend(small);
            check(&all);
        }
    }

    #[test]
    fn a_bucket_past_the_sample_limit_goes_on_in_a_histogram_and_comes_back() {
        let mut s = BucketSamples::default();
        let values: Vec<u64> = (0..SAMPLES_MAX as u64 + 5_000)
            .map(|i| 1 + (i * 7_919) % 3_000_000)
            .collect();
        check(&values);
        let mut h = histogram();
        for &v in &values {
            h.record(v).unwrap();
            s.record(v);
        }
        assert!(s.spilled);
        assert_eq!(s.value_at_quantile(0.99, &h), h.value_at_quantile(0.99));
        s.clear();
        assert!(s.is_empty() && !s.spilled);
        assert_eq!(s.value_at_quantile(0.5, &h), 0, "empty");
        s.record(42);
        assert_eq!(
            s.value_at_quantile(0.5, &h),
            histogram().highest_equivalent(42)
        );
    }
}
