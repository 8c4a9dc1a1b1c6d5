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
