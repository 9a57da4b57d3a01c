//! A mergeable log-linear ("HDR-style") histogram over any finite `f64`.
//!
//! Trend values can be anything a script passes to `Trend.add()`: negative, fractional, zero,
//! huge. So instead of HdrHistogram's integer range we bucket straight from the IEEE-754 bits:
//! the 11 exponent bits plus the top [`SUB_BUCKET_BITS`] mantissa bits of `|v|` form the bucket
//! index. Every binade `[2^e, 2^(e+1))` is thus split into 1,024 equal buckets, a relative
//! bucket width of 2^-10, and reporting the bucket midpoint is off by at most 2^-11 ≈ 0.049 %
//! of the value (the design asks for ≤ 0.1 %). Zero has its own counter and negative values a
//! mirrored set of buckets keyed by `|v|`. Subnormal values (below ~2.2e-308) share linear
//! buckets and lose the relative-error guarantee, which no real measurement notices.
//!
//! Storage is sparse but allocation-free on the hot path once warm: buckets live in dense
//! chunks of 64 counters, allocated on first use and kept sorted by position, with a "last
//! chunk" hint so that consecutive samples of similar size skip the binary search. Merging is
//! exact (counts add), and the serialized form lists only runs of non-empty buckets.
//!
//! Non-finite values (NaN, ±∞) cannot be bucketed: [`Histogram::record`] refuses them and
//! returns `false`; callers are expected to have rejected them already.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Mantissa bits kept in a bucket index: 2^10 buckets per power of two.
pub const SUB_BUCKET_BITS: u32 = 10;
/// Largest relative distance between a recorded value and the value reported for its bucket.
pub const RELATIVE_ERROR: f64 = 1.0 / (1u64 << (SUB_BUCKET_BITS + 1)) as f64;

/// Bits dropped from an `f64`'s bit pattern to get its bucket index.
const SHIFT: u32 = 52 - SUB_BUCKET_BITS;
/// Buckets per storage chunk (a power of two).
const CHUNK_BITS: u32 = 6;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;
/// One past the largest bucket index of a finite value (exponent 0x7FF is ∞/NaN).
const INDEX_LIMIT: u32 = 0x7FF << SUB_BUCKET_BITS;
/// Zero buckets a serialized run may bridge before a new run is cheaper.
const MAX_RUN_GAP: u32 = 3;

fn bucket_index(abs: f64) -> u32 {
    // `abs` is finite and positive, so the sign bit is clear and the result is < INDEX_LIMIT.
    (abs.to_bits() >> SHIFT) as u32
}

fn bucket_lower(index: u32) -> f64 {
    f64::from_bits(u64::from(index) << SHIFT)
}

fn bucket_upper(index: u32) -> f64 {
    // For the topmost bucket this is +∞, which is still a correct exclusive bound.
    f64::from_bits((u64::from(index) + 1) << SHIFT)
}

fn bucket_mid(index: u32) -> f64 {
    // Setting the first dropped mantissa bit gives the exact midpoint: buckets are linear
    // within a binade, and the result never carries into the exponent.
    f64::from_bits((u64::from(index) << SHIFT) | (1u64 << (SHIFT - 1)))
}

#[derive(Clone, Debug, PartialEq)]
struct Chunk {
    /// `bucket index >> CHUNK_BITS`.
    key: u32,
    /// Sum of `counts`, so rank searches can skip whole chunks.
    total: u64,
    counts: [u64; CHUNK_LEN],
}

/// The buckets of one sign. Invariant: chunks are sorted by key and none is empty.
#[derive(Clone, Debug, Default)]
struct Side {
    chunks: Vec<Chunk>,
    /// Position of the last chunk written; a cache, not part of the value.
    hint: usize,
}

impl PartialEq for Side {
    fn eq(&self, other: &Self) -> bool {
        self.chunks == other.chunks
    }
}

impl Side {
    fn add(&mut self, index: u32, n: u64) {
        let key = index >> CHUNK_BITS;
        let pos = match self.chunks.get(self.hint) {
            Some(c) if c.key == key => self.hint,
            _ => match self.chunks.binary_search_by_key(&key, |c| c.key) {
                Ok(i) => i,
                Err(i) => {
                    self.chunks.insert(
                        i,
                        Chunk {
                            key,
                            total: 0,
                            counts: [0; CHUNK_LEN],
                        },
                    );
                    i
                }
            },
        };
        self.hint = pos;
        let chunk = &mut self.chunks[pos];
        let slot = index as usize & (CHUNK_LEN - 1);
        // Saturating: a u64 of samples cannot overflow in practice, but never panic on merge.
        chunk.counts[slot] = chunk.counts[slot].saturating_add(n);
        chunk.total = chunk.total.saturating_add(n);
    }

    fn merge(&mut self, other: &Side) {
        for oc in &other.chunks {
            match self.chunks.binary_search_by_key(&oc.key, |c| c.key) {
                Ok(i) => {
                    let c = &mut self.chunks[i];
                    for (a, b) in c.counts.iter_mut().zip(oc.counts.iter()) {
                        *a = a.saturating_add(*b);
                    }
                    c.total = c.total.saturating_add(oc.total);
                }
                Err(i) => self.chunks.insert(i, oc.clone()),
            }
        }
    }

    /// Adds `(index, count)` buckets given by increasing index in one ordered pass over the
    /// chunks: a chunk search per chunk touched, not per bucket ([`SortedBuckets`]), and that
    /// search bounded: keys go up by at least one a chunk, so the chunk of `key` lies within
    /// `key - (previous key + 1)` places of the next one, and where a histogram's chunks are
    /// consecutive (a latency's busy range) the first place looked at is the one.
    fn add_sorted(&mut self, buckets: &[(u32, u64)]) {
        let mut pos = 0usize;
        let mut i = 0;
        while i < buckets.len() {
            let key = buckets[i].0 >> CHUNK_BITS;
            // The lowest key a chunk at `pos` or after can have.
            let low = match pos.checked_sub(1) {
                Some(p) => self.chunks[p].key + 1,
                None => self.chunks.first().map_or(key, |c| c.key),
            };
            let span = key.saturating_sub(low) as usize + 1;
            let end = self.chunks.len().min(pos + span);
            if end > pos && self.chunks[end - 1].key == key {
                pos = end - 1;
            } else {
                pos += self.chunks[pos..end].partition_point(|c| c.key < key);
                if self.chunks.get(pos).is_none_or(|c| c.key != key) {
                    self.chunks.insert(
                        pos,
                        Chunk {
                            key,
                            total: 0,
                            counts: [0; CHUNK_LEN],
                        },
                    );
                }
            }
            let chunk = &mut self.chunks[pos];
            let mut added = 0u64;
            while let Some(&(index, n)) = buckets.get(i) {
                if index >> CHUNK_BITS != key {
                    break;
                }
                let slot = index as usize & (CHUNK_LEN - 1);
                chunk.counts[slot] = chunk.counts[slot].saturating_add(n);
                added = added.saturating_add(n);
                i += 1;
            }
            chunk.total = chunk.total.saturating_add(added);
            self.hint = pos;
            pos += 1;
        }
    }

    /// Non-empty buckets as `(index, count)`, by increasing index.
    fn iter_asc(&self) -> impl DoubleEndedIterator<Item = (u32, u64)> + '_ {
        self.chunks.iter().flat_map(|c| {
            c.counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(move |(slot, n)| ((c.key << CHUNK_BITS) | slot as u32, *n))
        })
    }

    /// The bucket index holding the `rank`-th sample (0-based) counting by increasing index,
    /// or by decreasing index when `descending`. `rank` must be below the side's total.
    fn index_at_rank(&self, mut rank: u64, descending: bool) -> Option<u32> {
        let mut find = |c: &Chunk| -> Option<Option<u32>> {
            if rank >= c.total {
                rank -= c.total;
                return None;
            }
            let mut pick = |slot: usize| -> Option<u32> {
                let n = c.counts[slot];
                if rank < n {
                    Some((c.key << CHUNK_BITS) | slot as u32)
                } else {
                    rank -= n;
                    None
                }
            };
            let found = if descending {
                (0..CHUNK_LEN).rev().find_map(&mut pick)
            } else {
                (0..CHUNK_LEN).find_map(&mut pick)
            };
            Some(found)
        };
        if descending {
            self.chunks.iter().rev().find_map(&mut find).flatten()
        } else {
            self.chunks.iter().find_map(&mut find).flatten()
        }
    }

    fn to_runs(&self) -> Vec<(u32, Vec<u64>)> {
        let mut runs: Vec<(u32, Vec<u64>)> = Vec::new();
        for (index, n) in self.iter_asc() {
            match runs.last_mut() {
                Some((start, counts)) if index - (*start + counts.len() as u32) <= MAX_RUN_GAP => {
                    let gap = index - (*start + counts.len() as u32);
                    counts.extend(std::iter::repeat_n(0, gap as usize));
                    counts.push(n);
                }
                _ => runs.push((index, vec![n])),
            }
        }
        runs
    }
}

/// One non-empty bucket, as reported by [`Histogram::iter_buckets`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistogramBucket {
    /// Smallest value of the bucket (inclusive for positive buckets; for negative buckets the
    /// bounds are mirrored: `lower` is the exclusive one). Zero has `lower == upper == 0`.
    pub lower: f64,
    /// Largest value of the bucket (see `lower`).
    pub upper: f64,
    /// The value reported for samples in this bucket (the midpoint).
    pub value: f64,
    /// Samples recorded in the bucket.
    pub count: u64,
}

/// Error decoding a serialized histogram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistogramDecodeError {
    /// A run of buckets reaches past the largest finite bucket.
    #[error(
        "histogram run starting at bucket {start} with {len} counts goes past the last bucket \
         ({limit}); the data is corrupt or from an incompatible Volley version"
    )]
    IndexOutOfRange { start: u32, len: usize, limit: u32 },
    /// A run starts before the previous one ends (runs go by increasing bucket index).
    #[error(
        "histogram run starting at bucket {start} overlaps the previous run, which ends at \
         {previous_end}; runs must go by increasing bucket index"
    )]
    RunsOverlap { start: u32, previous_end: u64 },
    /// The counts add up to more than `u64::MAX`.
    #[error("histogram counts add up to more than 2^64; the data is corrupt")]
    CountOverflow,
}

/// The buckets of positive or of negative values (zeros have a count of their own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// Values above zero.
    Positive,
    /// Values below zero, bucketed by their magnitude.
    Negative,
}

/// Mergeable log-linear histogram of finite `f64` values; see the module docs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    count: u64,
    zero: u64,
    pos: Side,
    neg: Side,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram::default()
    }

    /// Records one value. Returns `false` (and records nothing) for NaN and ±∞.
    pub fn record(&mut self, value: f64) -> bool {
        self.record_n(value, 1)
    }

    /// Records `n` occurrences of `value`. Returns `false` (and records nothing) for NaN and ±∞.
    pub fn record_n(&mut self, value: f64, n: u64) -> bool {
        if !value.is_finite() {
            return false;
        }
        if n == 0 {
            return true;
        }
        if value == 0.0 {
            // Also catches -0.0.
            self.zero = self.zero.saturating_add(n);
        } else if value > 0.0 {
            self.pos.add(bucket_index(value), n);
        } else {
            self.neg.add(bucket_index(-value), n);
        }
        self.count = self.count.saturating_add(n);
        true
    }

    /// Adds every count of `other` into `self`; exact, order-independent.
    pub fn merge(&mut self, other: &Histogram) {
        self.count = self.count.saturating_add(other.count);
        self.zero = self.zero.saturating_add(other.zero);
        self.pos.merge(&other.pos);
        self.neg.merge(&other.neg);
    }

    /// Adds every bucket of `buckets`: what recording their values one by one gives, in one
    /// ordered pass.
    pub fn merge_sorted(&mut self, buckets: &SortedBuckets) {
        self.count = self.count.saturating_add(buckets.count);
        self.zero = self.zero.saturating_add(buckets.zero);
        self.pos.add_sorted(&buckets.pos);
        self.neg.add_sorted(&buckets.neg);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of non-empty buckets (a measure of memory and wire size).
    pub fn bucket_count(&self) -> usize {
        self.iter_buckets().count()
    }

    /// The reported value (bucket midpoint) of the `rank`-th smallest recorded value,
    /// 0-based; `None` when `rank >= count()`.
    pub fn value_at_rank(&self, rank: u64) -> Option<f64> {
        if rank >= self.count {
            return None;
        }
        let neg_total = self.count - self.zero - self.pos_total();
        if rank < neg_total {
            // Most negative first: largest |v| first.
            return self.neg.index_at_rank(rank, true).map(|i| -bucket_mid(i));
        }
        let rank = rank - neg_total;
        if rank < self.zero {
            return Some(0.0);
        }
        self.pos
            .index_at_rank(rank - self.zero, false)
            .map(bucket_mid)
    }

    /// The `p`-th percentile, `p` in `[0, 100]` (as in `p(95)`), with k6's rank rule:
    /// `i = p/100 · (n − 1)`, interpolating linearly between the values at ranks `⌊i⌋` and
    /// `⌈i⌉`. `None` when empty or when `p` is outside `[0, 100]` or NaN.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        percentile_by_rank(self.count, p, |r| self.value_at_rank(r))
    }

    /// Non-empty buckets in increasing value order (negative, zero, positive).
    pub fn iter_buckets(&self) -> impl Iterator<Item = HistogramBucket> + '_ {
        let neg = self.neg.iter_asc().rev().map(|(i, n)| HistogramBucket {
            lower: -bucket_upper(i),
            upper: -bucket_lower(i),
            value: -bucket_mid(i),
            count: n,
        });
        let zero = (self.zero > 0).then_some(HistogramBucket {
            lower: 0.0,
            upper: 0.0,
            value: 0.0,
            count: self.zero,
        });
        let pos = self.pos.iter_asc().map(|(i, n)| HistogramBucket {
            lower: bucket_lower(i),
            upper: bucket_upper(i),
            value: bucket_mid(i),
            count: n,
        });
        neg.chain(zero).chain(pos)
    }

    fn pos_total(&self) -> u64 {
        self.pos.chunks.iter().map(|c| c.total).sum()
    }

    /// How many zeros were recorded.
    pub fn zero_count(&self) -> u64 {
        self.zero
    }

    /// The non-empty buckets of one sign in their compact wire form: runs of
    /// `(first bucket index, counts)` by increasing index, short gaps bridged with zero counts.
    /// [`Histogram::from_runs`] rebuilds the histogram exactly.
    pub fn runs(&self, sign: Sign) -> Vec<(u32, Vec<u64>)> {
        match sign {
            Sign::Positive => self.pos.to_runs(),
            Sign::Negative => self.neg.to_runs(),
        }
    }

    /// A histogram from its zero count and the runs of each sign (as [`Histogram::runs`] gives
    /// them), checked: every run within the finite buckets, runs by increasing index without
    /// overlap, and a total that fits in a `u64`. For histograms from another process.
    pub fn from_runs<'a>(
        zero: u64,
        positive: impl IntoIterator<Item = (u32, &'a [u64])>,
        negative: impl IntoIterator<Item = (u32, &'a [u64])>,
    ) -> Result<Histogram, HistogramDecodeError> {
        // Checked once, where another process's runs are read in place too.
        let mut buckets = SortedBuckets::default();
        buckets.add_zeros(zero)?;
        for (start, counts) in positive {
            buckets.push_run(Sign::Positive, start, counts)?;
        }
        for (start, counts) in negative {
            buckets.push_run(Sign::Negative, start, counts)?;
        }
        let mut h = Histogram::new();
        h.merge_sorted(&buckets);
        Ok(h)
    }
}

/// A distribution's non-empty buckets by increasing index, made once from another process's
/// samples ([`SortedBuckets::set_values`]) or histogram runs ([`SortedBuckets::push_run`]) and
/// added to any number of histograms in one ordered pass each ([`Histogram::merge_sorted`]):
/// the controller adds each trend of an agent's batch to three histograms (the run's series,
/// its interval, its metric's point), and a chunk search per sample and histogram was most
/// of its merge (docs/benchmarks.md). Reused from one distribution to the next.
#[derive(Clone, Debug, Default)]
pub struct SortedBuckets {
    count: u64,
    zero: u64,
    pos: Vec<(u32, u64)>,
    neg: Vec<(u32, u64)>,
    /// Where the last run of each sign ended (runs go by increasing index).
    pos_end: u64,
    neg_end: u64,
    /// Bucket indexes being sorted, the sign in the top bit.
    scratch: Vec<u32>,
}

impl SortedBuckets {
    /// Empty, keeping the buffers.
    pub fn clear(&mut self) {
        self.count = 0;
        self.zero = 0;
        self.pos.clear();
        self.neg.clear();
        self.pos_end = 0;
        self.neg_end = 0;
    }

    /// How many values the buckets hold.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// How many non-empty buckets it holds (a measure of its memory).
    pub fn bucket_count(&self) -> usize {
        self.pos.len() + self.neg.len()
    }

    /// The buckets of `values` (non-finite ones are left out, as [`Histogram::record`] does).
    pub fn set_values(&mut self, values: &[f64]) {
        self.clear();
        self.scratch.clear();
        self.scratch.reserve(values.len());
        for &v in values {
            if !v.is_finite() {
                continue;
            }
            if v == 0.0 {
                self.zero += 1;
            } else {
                // The sign in the top bit: positive buckets sort first.
                let sign = u32::from(v < 0.0) << 31;
                self.scratch.push(bucket_index(v.abs()) | sign);
            }
        }
        self.count = self.zero + self.scratch.len() as u64;
        self.scratch.sort_unstable();
        let negative = self.scratch.partition_point(|x| x >> 31 == 0);
        counted(&self.scratch[..negative], &mut self.pos);
        counted(&self.scratch[negative..], &mut self.neg);
    }

    /// Adds `n` zeros, checked: the total must fit in a `u64`.
    pub fn add_zeros(&mut self, n: u64) -> Result<(), HistogramDecodeError> {
        self.count = self
            .count
            .checked_add(n)
            .ok_or(HistogramDecodeError::CountOverflow)?;
        self.zero += n;
        Ok(())
    }

    /// Adds a run of consecutive buckets of one sign from `start` (as [`Histogram::runs`]
    /// gives them), checked: within the finite buckets, after the previous run of the sign, a
    /// total that fits in a `u64`. The one check of another process's runs
    /// ([`Histogram::from_runs`] reads them through it).
    pub fn push_run(
        &mut self,
        sign: Sign,
        start: u32,
        counts: &[u64],
    ) -> Result<(), HistogramDecodeError> {
        let end = u64::from(start) + counts.len() as u64;
        if end > u64::from(INDEX_LIMIT) {
            return Err(HistogramDecodeError::IndexOutOfRange {
                start,
                len: counts.len(),
                limit: INDEX_LIMIT,
            });
        }
        let (side, next) = match sign {
            Sign::Positive => (&mut self.pos, &mut self.pos_end),
            Sign::Negative => (&mut self.neg, &mut self.neg_end),
        };
        if u64::from(start) < *next {
            return Err(HistogramDecodeError::RunsOverlap {
                start,
                previous_end: *next,
            });
        }
        *next = end;
        for (i, &n) in counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            self.count = self
                .count
                .checked_add(n)
                .ok_or(HistogramDecodeError::CountOverflow)?;
            side.push((start + i as u32, n));
        }
        Ok(())
    }
}

/// Sorted bucket indexes (of one sign, in the top bit) as `(index, count)`, one per index.
fn counted(sorted: &[u32], out: &mut Vec<(u32, u64)>) {
    let Some((&first, rest)) = sorted.split_first() else {
        return;
    };
    out.reserve(sorted.len());
    let (mut index, mut n) = (first, 1u64);
    for &x in rest {
        if x == index {
            n += 1;
        } else {
            out.push((index & !(1 << 31), n));
            (index, n) = (x, 1);
        }
    }
    out.push((index & !(1 << 31), n));
}

/// k6's percentile rule over any rank → value lookup: `i = p/100 · (n − 1)`, then linear
/// interpolation between ranks `⌊i⌋` and `⌈i⌉`. Shared with the exact trend store so both
/// modes give the same answer on the same data.
pub(crate) fn percentile_by_rank(
    n: u64,
    p: f64,
    mut at_rank: impl FnMut(u64) -> Option<f64>,
) -> Option<f64> {
    if n == 0 || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let i = p / 100.0 * (n - 1) as f64;
    let lo = i.floor();
    let hi = i.ceil();
    let v_lo = at_rank(lo as u64)?;
    if hi == lo {
        return Some(v_lo);
    }
    let v_hi = at_rank(hi as u64)?;
    Some(v_lo + (v_hi - v_lo) * (i - lo))
}

/// Wire form: `zero` count plus runs `[start_index, [counts...]]` of each sign.
#[derive(Serialize, Deserialize)]
struct HistogramWire {
    #[serde(default)]
    zero: u64,
    #[serde(default)]
    pos: Vec<(u32, Vec<u64>)>,
    #[serde(default)]
    neg: Vec<(u32, Vec<u64>)>,
}

impl Serialize for Histogram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        HistogramWire {
            zero: self.zero,
            pos: self.pos.to_runs(),
            neg: self.neg.to_runs(),
        }
        .serialize(serializer)
    }
}

impl TryFrom<HistogramWire> for Histogram {
    type Error = HistogramDecodeError;

    fn try_from(w: HistogramWire) -> Result<Self, Self::Error> {
        Histogram::from_runs(
            w.zero,
            w.pos.iter().map(|(s, c)| (*s, c.as_slice())),
            w.neg.iter().map(|(s, c)| (*s, c.as_slice())),
        )
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = HistogramWire::deserialize(deserializer)?;
        Histogram::try_from(wire).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use crate::test_rng::Rng;

    /// k6's exact percentile over sorted values.
    pub(crate) fn exact_percentile(sorted: &[f64], p: f64) -> f64 {
        percentile_by_rank(sorted.len() as u64, p, |r| sorted.get(r as usize).copied())
            .expect("non-empty")
    }

    fn check_distribution(name: &str, values: &[f64]) {
        let mut h = Histogram::new();
        for &v in values {
            assert!(h.record(v));
        }
        assert_eq!(h.count(), values.len() as u64);
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        for p in [0.0, 1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0] {
            let exact = exact_percentile(&sorted, p);
            let approx = h.percentile(p).expect("percentile");
            let rel = ((approx - exact) / exact).abs();
            assert!(
                rel <= 0.001,
                "{name} p({p}): exact {exact} approx {approx} rel {rel}"
            );
            // The bucket midpoint bound is tighter than the design's 0.1 %.
            assert!(rel <= RELATIVE_ERROR * 1.000_001, "{name} p({p}) rel {rel}");
        }
    }

    #[test]
    fn bucket_geometry() {
        let mut rng = Rng::new(7);
        for _ in 0..100_000 {
            let v = (rng.open_unit() * 80.0 - 40.0).exp2() * rng.open_unit();
            let i = bucket_index(v);
            assert!(i < INDEX_LIMIT);
            assert!(bucket_lower(i) <= v && v < bucket_upper(i), "{v}");
            assert!(((bucket_mid(i) - v) / v).abs() <= RELATIVE_ERROR);
        }
        assert_eq!(bucket_index(f64::MAX), INDEX_LIMIT - 1);
        assert!(bucket_mid(INDEX_LIMIT - 1).is_finite());
        assert_eq!(bucket_lower(bucket_index(1.0)), 1.0);
        assert!((RELATIVE_ERROR - 0.000_488_281_25).abs() < 1e-15);
    }

    #[test]
    fn million_samples_percentiles_within_tenth_of_percent() {
        let n = 1_000_000;
        let mut rng = Rng::new(42);
        let lognormal: Vec<f64> = (0..n).map(|_| (3.0 + 1.2 * rng.normal()).exp()).collect();
        check_distribution("lognormal", &lognormal);
        let uniform: Vec<f64> = (0..n).map(|_| rng.open_unit() * 1000.0).collect();
        check_distribution("uniform", &uniform);
        let exponential: Vec<f64> = (0..n).map(|_| -50.0 * rng.open_unit().ln()).collect();
        check_distribution("exponential", &exponential);
        // Bimodal latencies: fast cache hits and slow misses, plus a far tail.
        let bimodal: Vec<f64> = (0..n)
            .map(|i| match i % 10 {
                0..=6 => 0.3 + 0.05 * rng.normal().abs(),
                7 | 8 => 120.0 + 10.0 * rng.normal().abs(),
                _ => 5_000.0 * rng.open_unit() + 1.0,
            })
            .collect();
        check_distribution("bimodal", &bimodal);
        // All-negative values (e.g. a custom trend of clock skew).
        let negative: Vec<f64> = lognormal.iter().take(200_000).map(|v| -v).collect();
        check_distribution("negative", &negative);
    }

    #[test]
    fn merging_halves_equals_recording_all() {
        let mut rng = Rng::new(3);
        let values: Vec<f64> = (0..200_000)
            .map(|i| {
                let v = (2.0 + rng.normal()).exp();
                match i % 7 {
                    0 => -v,
                    1 => 0.0,
                    _ => v,
                }
            })
            .collect();
        let mut all = Histogram::new();
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        for (i, &v) in values.iter().enumerate() {
            all.record(v);
            if i % 3 == 0 {
                a.record(v);
            } else {
                b.record(v);
            }
        }
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, all);
        assert_eq!(ba, all);
        for p in [0.0, 50.0, 99.9, 100.0] {
            assert_eq!(ab.percentile(p), all.percentile(p));
        }
        let mut empty = Histogram::new();
        empty.merge(&all);
        assert_eq!(empty, all);
    }

    #[test]
    fn negative_zero_and_positive_ordering() {
        let mut h = Histogram::new();
        for v in [5.0, -3.0, 0.0, -0.0, -100.0, 2.0, 0.0] {
            h.record(v);
        }
        let ranked: Vec<f64> = (0..h.count())
            .map(|r| h.value_at_rank(r).expect("rank"))
            .collect();
        let expected = [-100.0, -3.0, 0.0, 0.0, 0.0, 2.0, 5.0];
        for (got, want) in ranked.iter().zip(expected) {
            if want == 0.0 {
                assert_eq!(*got, 0.0);
            } else {
                assert!(
                    ((got - want) / want).abs() <= RELATIVE_ERROR,
                    "{got} vs {want}"
                );
            }
        }
        assert_eq!(h.value_at_rank(7), None);
        let buckets: Vec<HistogramBucket> = h.iter_buckets().collect();
        assert_eq!(buckets.len(), 5);
        assert!(buckets.windows(2).all(|w| w[0].value < w[1].value));
        assert!(buckets
            .iter()
            .all(|b| b.lower <= b.value && b.value <= b.upper));
        assert_eq!(buckets[2].count, 3);
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), h.count());
        assert_eq!(h.bucket_count(), 5);
        // Median of 7 values is the 4th: zero.
        assert_eq!(h.percentile(50.0), Some(0.0));
    }

    #[test]
    fn mixed_sign_percentiles_close_in_absolute_terms() {
        let mut rng = Rng::new(11);
        let values: Vec<f64> = (0..100_000)
            .map(|_| rng.open_unit() * 1000.0 - 500.0)
            .collect();
        let mut h = Histogram::new();
        values.iter().for_each(|&v| {
            h.record(v);
        });
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for p in [1.0, 25.0, 50.0, 75.0, 99.0] {
            let exact = exact_percentile(&sorted, p);
            let approx = h.percentile(p).expect("p");
            // Relative to the neighbouring sample magnitudes (interpolation near 0 is fine).
            assert!((approx - exact).abs() <= 500.0 * RELATIVE_ERROR, "p({p})");
        }
    }

    #[test]
    fn rejects_non_finite_and_handles_edges() {
        let mut h = Histogram::new();
        assert!(!h.record(f64::NAN));
        assert!(!h.record(f64::INFINITY));
        assert!(!h.record(f64::NEG_INFINITY));
        assert!(h.is_empty());
        assert_eq!(h.percentile(50.0), None);
        assert_eq!(h.value_at_rank(0), None);
        assert!(h.record(f64::MAX));
        assert!(h.record(f64::MIN_POSITIVE));
        assert!(h.record(-f64::MAX));
        assert!(h.record_n(1.0, 0));
        assert_eq!(h.count(), 3);
        assert_eq!(h.percentile(101.0), None);
        assert_eq!(h.percentile(-1.0), None);
        assert_eq!(h.percentile(f64::NAN), None);
        let max = h.percentile(100.0).expect("max");
        assert!(max.is_finite() && max > 1e308);
        let back: Histogram =
            serde_json::from_str(&serde_json::to_string(&h).expect("ser")).expect("de");
        assert_eq!(back, h);
    }

    /// Buckets added in one ordered pass give the histogram recording their values gives,
    /// chunk for chunk, into empty and filled histograms alike; runs give what their
    /// histogram's `from_runs` gives, and are checked as it checks them.
    #[test]
    fn sorted_buckets_merge_as_records_do() {
        let mut rng = Rng::new(17);
        let mut buckets = SortedBuckets::default();
        for case in 0..300 {
            let value = |rng: &mut Rng| match rng.next_u64() % 6 {
                0 => 0.0,
                1 => -(rng.open_unit() * 30.0).exp2(),
                2 => rng.open_unit() * 1e-310,
                _ => (rng.open_unit() * 20.0).exp(),
            };
            let mut into = Histogram::new();
            for _ in 0..rng.next_u64() % 3000 {
                into.record(value(&mut rng));
            }
            let values: Vec<f64> = (0..case * 7).map(|_| value(&mut rng)).collect();
            let mut want = into.clone();
            values.iter().for_each(|&v| {
                want.record(v);
            });
            buckets.set_values(&values);
            assert_eq!(buckets.count(), values.len() as u64);
            let mut got = into.clone();
            got.merge_sorted(&buckets);
            assert_eq!(got, want, "case {case}: from values");
            let mut from_values = Histogram::new();
            values.iter().for_each(|&v| {
                from_values.record(v);
            });
            buckets.clear();
            buckets.add_zeros(from_values.zero_count()).unwrap();
            for sign in [Sign::Positive, Sign::Negative] {
                for (start, counts) in from_values.runs(sign) {
                    buckets.push_run(sign, start, &counts).unwrap();
                }
            }
            let mut got = into.clone();
            got.merge_sorted(&buckets);
            assert_eq!(got, want, "case {case}: from runs");
        }
        // Into consecutive chunks with a gap: before the first, on each, in the gap, after.
        let mut into = Histogram::new();
        for index in (640..1280).chain(1600..1664) {
            into.record(bucket_lower(index));
        }
        for added in [
            vec![0, 700, 1000, 1300, 1500, 1601, 1700],
            vec![641, 705, 769, 833, 897, 961, 1025, 1089, 1153, 1217, 1630],
            vec![1279, 1280, 1599, 1663, 1664],
        ] {
            let values: Vec<f64> = added.iter().map(|&i| bucket_lower(i)).collect();
            let mut want = into.clone();
            values.iter().for_each(|&v| {
                want.record(v);
            });
            buckets.set_values(&values);
            let mut got = into.clone();
            got.merge_sorted(&buckets);
            assert_eq!(got, want, "{added:?}");
        }
        buckets.clear();
        buckets.push_run(Sign::Positive, 10, &[1, 0, 2]).unwrap();
        let e = buckets.push_run(Sign::Positive, 11, &[1]).unwrap_err();
        assert!(matches!(e, HistogramDecodeError::RunsOverlap { .. }), "{e}");
        buckets.push_run(Sign::Negative, 0, &[1]).unwrap();
        let e = buckets
            .push_run(Sign::Positive, INDEX_LIMIT - 1, &[1, 1])
            .unwrap_err();
        assert!(
            matches!(e, HistogramDecodeError::IndexOutOfRange { .. }),
            "{e}"
        );
        let e = buckets.add_zeros(u64::MAX).unwrap_err();
        assert_eq!(e, HistogramDecodeError::CountOverflow);
    }

    #[test]
    fn record_n_matches_repeated_record() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record_n(12.5, 4);
        a.record_n(-1.0, 2);
        for _ in 0..4 {
            b.record(12.5);
        }
        b.record(-1.0);
        b.record(-1.0);
        assert_eq!(a, b);
    }

    #[test]
    fn serialization_roundtrip_is_compact() {
        let mut rng = Rng::new(5);
        let mut h = Histogram::new();
        for i in 0..1_000_000u32 {
            let v = (3.0 + rng.normal()).exp();
            h.record(if i % 1000 == 0 { -v } else { v });
        }
        h.record(0.0);
        let json = serde_json::to_string(&h).expect("serialize");
        let back: Histogram = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, h);
        assert_eq!(back.count(), h.count());
        assert_eq!(back.percentile(99.0), h.percentile(99.0));
        // ~13 binades in use; a dense u64 array over them would be ~100 KiB of JSON zeros
        // and counts. Runs keep it to a few bytes per occupied bucket.
        let buckets = h.bucket_count();
        assert!(
            json.len() < buckets * 12 + 1024,
            "{} bytes for {buckets} buckets",
            json.len()
        );
        assert!(json.len() < 150_000, "{} bytes", json.len());
    }

    #[test]
    fn wire_format_shape_and_validation() {
        let mut h = Histogram::new();
        h.record(1.0);
        h.record(1.0 + 2.0 * 2f64.powi(-10)); // two buckets above: one zero bucket bridged
        h.record(0.0);
        let json = serde_json::to_value(&h).expect("ser");
        let start = bucket_index(1.0);
        assert_eq!(
            json,
            serde_json::json!({"zero": 1, "pos": [[start, [1, 0, 1]]], "neg": []})
        );
        let h2: Histogram =
            serde_json::from_value(serde_json::json!({"pos": [[start, [0, 0, 3]]]})).expect("de");
        assert_eq!(h2.count(), 3);
        assert_eq!(h2.bucket_count(), 1);
        let bad = serde_json::json!({"pos": [[INDEX_LIMIT - 1, [1, 1]]]});
        let err = serde_json::from_value::<Histogram>(bad).expect_err("out of range");
        assert!(err.to_string().contains("past the last bucket"), "{err}");
        let overflow = serde_json::json!({"zero": u64::MAX, "pos": [[0, [1]]]});
        let err = serde_json::from_value::<Histogram>(overflow).expect_err("overflow");
        assert!(err.to_string().contains("2^64"), "{err}");
    }

    #[test]
    fn percentile_rule_on_small_sets() {
        let mut h = Histogram::new();
        for v in 1..=10 {
            h.record(f64::from(v));
        }
        // 1..=10 are exactly representable bucket lower bounds; the midpoint is within 0.05 %.
        let p90 = h.percentile(90.0).expect("p90");
        assert!((p90 - 9.1).abs() / 9.1 <= RELATIVE_ERROR);
        let med = h.percentile(50.0).expect("med");
        assert!((med - 5.5).abs() / 5.5 <= RELATIVE_ERROR);
    }
}
