//! A fixed-memory log-linear histogram of durations in nanoseconds: 32 linear sub-buckets per
//! power of two (HdrHistogram's layout), so any recorded value is reported within 1/32 of itself,
//! from 1 ns to ~4.9 hours, in 10 KiB, with O(1) recording and no allocation after creation.

/// log2 of the sub-buckets per power of two.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Values at or above 2^MAX_BITS ns (~4.9 h) land in the last bucket.
const MAX_BITS: u32 = 44;
const BUCKETS: usize = (MAX_BITS - SUB_BITS + 1) as usize * SUB;

/// Summary of a histogram in milliseconds; all `None` when it is empty.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub count: f64,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
}

pub struct Histogram {
    /// Counts of buckets `first..first + counts.len()`: every bucket while it records, only
    /// the range holding values once shrunk (see `shrink`).
    counts: Box<[u64]>,
    first: usize,
    count: u64,
    /// Exact sum, so that mean × count is the true total (e.g. summed wait time).
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Bucket of a value: values below SUB map one-to-one, above that each power of two is split
/// into SUB equal parts.
fn index_of(v: u64) -> usize {
    let v = v.min((1u64 << MAX_BITS) - 1);
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = msb - SUB_BITS;
    let sub = ((v >> shift) as usize) & (SUB - 1);
    ((shift as usize + 1) << SUB_BITS) + sub
}

/// [low, high) range of values of a bucket.
fn bounds_of(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, i as u64 + 1);
    }
    let shift = (i >> SUB_BITS) as u32 - 1;
    let sub = (i & (SUB - 1)) as u64;
    let low = (SUB as u64 + sub) << shift;
    (low, low + (1u64 << shift))
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0u64; BUCKETS].into_boxed_slice(),
            first: 0,
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, ns: u64) {
        let i = index_of(ns);
        match i
            .checked_sub(self.first)
            .and_then(|k| self.counts.get_mut(k))
        {
            Some(c) => *c += 1,
            None => {
                self.grow();
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum_ns += ns as u128;
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Keeps only the buckets from the first to the last holding a value (a histogram that
    /// will not record again: a closed monitor's); recording grows it back to every bucket.
    /// The bytes it then holds are `heap_bytes()`.
    pub fn shrink(&mut self) {
        let lo = self.counts.iter().position(|&c| c > 0);
        let hi = self.counts.iter().rposition(|&c| c > 0);
        let kept: Box<[u64]> = match (lo, hi) {
            (Some(lo), Some(hi)) => {
                let kept = self.counts[lo..=hi].into();
                self.first += lo;
                kept
            }
            _ => {
                self.first = 0;
                Box::new([])
            }
        };
        self.counts = kept;
    }

    /// Back to every bucket.
    fn grow(&mut self) {
        let mut all = vec![0u64; BUCKETS].into_boxed_slice();
        all[self.first..self.first + self.counts.len()].copy_from_slice(&self.counts);
        self.counts = all;
        self.first = 0;
    }

    /// Bytes of the bucket counts on the heap.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.counts)
    }

    pub fn reset(&mut self) {
        self.counts.fill(0);
        self.count = 0;
        self.sum_ns = 0;
        self.min_ns = u64::MAX;
        self.max_ns = 0;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum_ns(&self) -> u128 {
        self.sum_ns
    }

    /// The value at quantile q (0..=1): the top of the bucket holding the ceil(q × count)-th
    /// smallest value (never under-reports, over-reports by < 1/32), clamped to the exact min
    /// and max.
    pub fn quantile_ns(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (k, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (_, high) = bounds_of(self.first + k);
                let top = (high - 1) as f64;
                return Some(top.clamp(self.min_ns as f64, self.max_ns as f64));
            }
        }
        Some(self.max_ns as f64)
    }

    /// Prometheus-style cumulative counts: for each upper bound (ns, ascending), how many
    /// recorded values are certainly <= it — the values of every bucket whose whole range lies
    /// at or below the bound. The bucket straddling a bound is counted at the next bound, so a
    /// value within 1/32 below a bound may appear one bound late; never early.
    pub fn cumulative_le(&self, bounds_ns: &[f64], out: &mut Vec<f64>) {
        let mut seen = 0u64;
        let mut k = 0usize;
        for &b in bounds_ns {
            while let Some(&c) = self.counts.get(k) {
                let (_, high) = bounds_of(self.first + k);
                if ((high - 1) as f64) > b {
                    break;
                }
                seen += c;
                k += 1;
            }
            out.push(seen as f64);
        }
    }

    pub fn summary(&self) -> Summary {
        let ms = |ns: f64| ns / 1e6;
        if self.count == 0 {
            return Summary::default();
        }
        let q = |p: f64| self.quantile_ns(p).map(ms);
        Summary {
            count: self.count as f64,
            min_ms: Some(ms(self.min_ns as f64)),
            max_ms: Some(ms(self.max_ns as f64)),
            mean_ms: Some(ms(self.sum_ns as f64 / self.count as f64)),
            p50_ms: q(0.5),
            p90_ms: q(0.9),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_without_gaps() {
        let mut prev_high = 0;
        for i in 0..BUCKETS {
            let (low, high) = bounds_of(i);
            assert_eq!(low, prev_high, "bucket {i}");
            assert!(high > low);
            assert_eq!(index_of(low), i);
            assert_eq!(index_of(high - 1), i);
            prev_high = high;
        }
        assert_eq!(prev_high, 1u64 << MAX_BITS);
        assert_eq!(index_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn bucket_width_is_within_one_32nd_of_value() {
        for i in SUB..BUCKETS {
            let (low, high) = bounds_of(i);
            assert!((high - low) as f64 <= low as f64 / 32.0 + 1.0);
        }
    }

    #[test]
    fn empty_histogram_has_no_values() {
        let h = Histogram::new();
        let s = h.summary();
        assert_eq!(s.count, 0.0);
        assert_eq!(s.min_ms, None);
        assert_eq!(s.p99_ms, None);
        assert_eq!(h.quantile_ns(0.5), None);
    }

    #[test]
    fn percentiles_of_1_to_1000_ms() {
        let mut h = Histogram::new();
        for ms in 1..=1000u64 {
            h.record(ms * 1_000_000);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000.0);
        assert_eq!(s.min_ms, Some(1.0));
        assert_eq!(s.max_ms, Some(1000.0));
        assert!((s.mean_ms.unwrap() - 500.5).abs() < 1e-9);
        let near = |got: Option<f64>, want: f64| {
            let g = got.unwrap();
            assert!((g - want).abs() <= want / 32.0, "got {g}, want {want}");
        };
        near(s.p50_ms, 500.0);
        near(s.p90_ms, 900.0);
        near(s.p99_ms, 990.0);
        near(s.p999_ms, 999.0);
    }

    #[test]
    fn single_value_is_exact_and_sum_is_exact() {
        let mut h = Histogram::new();
        h.record(150_123_456);
        let s = h.summary();
        assert_eq!(s.p50_ms, Some(150.123456));
        assert_eq!(s.p999_ms, Some(150.123456));
        h.record(0);
        h.record(7);
        assert_eq!(h.sum_ns(), 150_123_463);
        assert_eq!(h.summary().min_ms, Some(0.0));
        h.reset();
        assert_eq!(h.count(), 0);
        assert_eq!(h.summary().max_ms, None);
    }

    #[test]
    fn cumulative_counts_never_count_a_value_early() {
        let mut h = Histogram::new();
        for ns in [5u64, 1_000, 999_000, 1_000_000, 1_000_001, 2_000_000_000] {
            h.record(ns);
        }
        let mut out = Vec::new();
        h.cumulative_le(&[10.0, 1e6, 1.1e6, 1e9, 1e12], &mut out);
        // 999_000's bucket [983_040, 999_424) lies under 1e6; 1_000_000's [999_424, 1_015_808)
        // reaches past it, so it is counted at 1.1e6, with 1_000_001
        assert_eq!(bounds_of(index_of(1_000_000)), (999_424, 1_015_808));
        assert_eq!(out, vec![1.0, 3.0, 5.0, 5.0, 6.0]);
        let mut all = Vec::new();
        h.cumulative_le(&[f64::INFINITY], &mut all);
        assert_eq!(all, vec![6.0]);
    }

    #[test]
    fn huge_values_are_clamped_into_the_last_bucket() {
        let mut h = Histogram::new();
        h.record(u64::MAX / 2);
        assert_eq!(h.count(), 1);
        assert_eq!(h.summary().max_ms, Some((u64::MAX / 2) as f64 / 1e6));
    }

    #[test]
    fn a_shrunk_histogram_answers_the_same_in_a_fraction_of_the_memory_and_grows_back() {
        let mut h = Histogram::new();
        for ns in [5u64, 1_000, 999_000, 1_000_000, 1_000_001, 2_000_000_000] {
            h.record(ns);
        }
        let bounds = [1.0, 10.0, 1e6, 1.1e6, 1e9, 1e12];
        let (mut before, mut after) = (Vec::new(), Vec::new());
        h.cumulative_le(&bounds, &mut before);
        let summary = h.summary();
        let full = h.heap_bytes();
        h.shrink();
        h.cumulative_le(&bounds, &mut after);
        assert_eq!(after, before);
        assert_eq!(h.summary(), summary);
        assert!(h.heap_bytes() < full, "{} of {full}", h.heap_bytes());
        let mut narrow = Histogram::new();
        (1..100u64).for_each(|ms| narrow.record(ms * 1_000_000));
        narrow.shrink();
        assert!(
            narrow.heap_bytes() < full / 4,
            "{} of {full}",
            narrow.heap_bytes()
        );
        h.record(3);
        h.record(u64::MAX);
        assert_eq!(h.count(), 8);
        assert_eq!(h.heap_bytes(), full);
        assert_eq!(h.quantile_ns(0.0), Some(3.0));
        let mut empty = Histogram::new();
        empty.shrink();
        assert_eq!(empty.heap_bytes(), 0);
        assert_eq!(empty.summary(), Summary::default());
        let mut none = Vec::new();
        empty.cumulative_le(&bounds, &mut none);
        assert_eq!(none, vec![0.0; 6]);
        empty.reset();
        empty.record(42);
        assert_eq!(empty.quantile_ns(1.0), Some(42.0));
    }
}
