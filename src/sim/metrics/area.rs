//! Time integrals per bucket: a value held over a span of time, split at bucket
//! boundaries ([`for_each_span`], [`add_area`]), and a step function integrated exactly in
//! integers ([`StepArea`]).

use crate::time::{SimDuration, SimTime};

/// Calls `f(bucket index, seconds)` for every bucket that `[from, to)` overlaps, with
/// the overlap in seconds; time past the last of `n` buckets goes to the last one.
pub fn for_each_span(
    bucket: SimDuration,
    n: usize,
    from: SimTime,
    to: SimTime,
    mut f: impl FnMut(usize, f64),
) {
    if to <= from || n == 0 {
        return;
    }
    let width = bucket.as_nanos();
    let last = n - 1;
    let mut t = from.as_nanos();
    let end = to.as_nanos();
    while t < end {
        let i = ((t / width) as usize).min(last);
        let boundary = if i == last {
            end
        } else {
            (t / width + 1) * width
        };
        let stop = boundary.min(end);
        f(i, (stop - t) as f64 / 1e9);
        t = stop;
    }
}

/// A step function's integral per bucket, kept exactly: within the open bucket,
/// value × nanoseconds adds up in integers, and the bucket's area (value-seconds) goes out
/// once, when the bucket closes. A change costs a multiply-add in the caller's own state
/// instead of a float division and writes to the metrics' bucket arrays; time past the
/// last of the run's buckets goes to the last one, as with [`for_each_span`].
#[derive(Clone, Copy, Debug)]
pub struct StepArea<const K: usize> {
    /// When the values were last brought up to date (ns).
    last: u64,
    /// End of the open bucket (ns; `u64::MAX` for the last bucket).
    end: u64,
    /// The open bucket.
    bucket: u32,
    /// value × ns within the open bucket, per value.
    acc: [u128; K],
}

impl<const K: usize> StepArea<K> {
    /// Starts integrating at `at`, with buckets of `width` and `n` of them.
    pub fn new(at: SimTime, width: SimDuration, n: usize) -> Self {
        let mut a = StepArea {
            last: at.as_nanos(),
            end: 0,
            bucket: 0,
            acc: [0; K],
        };
        a.locate(width.as_nanos(), n);
        a
    }

    /// When the values were last brought up to date.
    pub fn last(&self) -> SimTime {
        SimTime::from_nanos(self.last)
    }

    fn locate(&mut self, width: u64, n: usize) {
        let last = n.saturating_sub(1) as u64;
        let i = (self.last / width).min(last);
        self.bucket = i as u32;
        self.end = if i == last { u64::MAX } else { (i + 1) * width };
    }

    /// Adds `values`, held since the last call, up to `now`; every bucket closed on the
    /// way goes to `flush(bucket, areas in value-seconds)`.
    #[inline]
    pub fn advance(
        &mut self,
        now: SimTime,
        values: [u64; K],
        width: SimDuration,
        n: usize,
        flush: impl FnMut(usize, [f64; K]),
    ) {
        let now = now.as_nanos();
        if now <= self.last {
            return;
        }
        if now < self.end {
            self.hold(values, now);
        } else {
            self.cross(now, values, width.as_nanos(), n, flush);
        }
    }

    #[cold]
    fn cross(
        &mut self,
        now: u64,
        values: [u64; K],
        width: u64,
        n: usize,
        mut flush: impl FnMut(usize, [f64; K]),
    ) {
        while now >= self.end {
            self.hold(values, self.end);
            self.close(&mut flush);
            self.locate(width, n);
        }
        self.hold(values, now);
    }

    /// Adds `values` held from the last update to `to`, within the open bucket.
    #[inline]
    fn hold(&mut self, values: [u64; K], to: u64) {
        let dt = (to - self.last) as u128;
        for (a, v) in self.acc.iter_mut().zip(values) {
            *a += v as u128 * dt;
        }
        self.last = to;
    }

    /// Sends the open bucket's area so far to `flush` (at the end of the run) and starts
    /// it again from zero.
    pub fn close(&mut self, mut flush: impl FnMut(usize, [f64; K])) {
        if self.acc.iter().any(|&a| a > 0) {
            flush(self.bucket as usize, self.acc.map(|a| a as f64 / 1e9));
        }
        self.acc = [0; K];
    }
}

/// Adds `value × (to − from)` to `buckets`, split at bucket boundaries.
pub fn add_area(buckets: &mut [f64], bucket: SimDuration, from: SimTime, to: SimTime, value: f64) {
    let n = buckets.len();
    for_each_span(bucket, n, from, to, |i, secs| buckets[i] += value * secs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::short::*;

    #[test]
    fn areas_split_across_bucket_boundaries() {
        let mut b = vec![0.0; 4];
        add_area(&mut b, secs(1), t_ms(500), t_ms(2_250), 2.0);
        assert_eq!(b, vec![1.0, 2.0, 0.5, 0.0]);
    }

    #[test]
    fn step_areas_are_exact_and_close_buckets_on_the_way() {
        // 3 from 0.5 s, 1 from 2.25 s, 0 from 2.5 s; 4 buckets of 1 s, the run ends at 6 s:
        // the time past the last bucket goes to it.
        let mut out = vec![[0.0; 1]; 4];
        let mut a = StepArea::<1>::new(t_ms(500), secs(1), 4);
        let mut sink = |i: usize, v: [f64; 1]| out[i][0] += v[0];
        a.advance(t_ms(2_250), [3], secs(1), 4, &mut sink);
        a.advance(t_ms(2_500), [1], secs(1), 4, &mut sink);
        a.advance(t_ms(3_100), [0], secs(1), 4, &mut sink);
        a.advance(t_s(6), [7], secs(1), 4, &mut sink);
        a.close(&mut sink);
        assert_eq!(out, vec![[1.5], [3.0], [1.0], [20.3]]);
        // Ten million changes of 1 ns each still sum exactly (one rounding per bucket).
        let mut total = 0.0;
        let mut b = StepArea::<1>::new(SimTime::ZERO, secs(1), 1);
        for t in 1..=10_000_000u64 {
            b.advance(SimTime::from_nanos(t), [3], secs(1), 1, |_, v| {
                total += v[0]
            });
        }
        b.close(|_, v| total += v[0]);
        assert_eq!(total, 0.03);
    }
}
