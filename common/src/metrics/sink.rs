//! Sinks: the mergeable per-series aggregates behind summaries and thresholds.
//!
//! Each sink reproduces the numbers k6 shows for its metric type (the `values` object of
//! `handleSummary` data) and merges exactly, so agents can aggregate locally and the controller
//! can combine their aggregates without re-reading samples.
//!
//! All sinks ignore non-finite samples (NaN, ±∞) and stay untouched: they cannot be aggregated
//! meaningfully, JSON cannot carry them, and k6 is moving to the same "invalid values do not
//! modify state" rule (k6#1435). Callers that want to warn about them check
//! `value.is_finite()` first.

use serde::{Deserialize, Serialize};

use super::histogram::{percentile_by_rank, Histogram, SortedBuckets};
use super::MetricType;

/// A trend keeps its exact samples up to this many, then switches to a [`Histogram`]: small
/// tests then show exactly k6's numbers while long ones stay bounded in memory.
pub const TREND_EXACT_LIMIT: usize = 1024;

/// Error merging two sinks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// The sinks aggregate different metric types.
    #[error(
        "cannot merge a {found} sink into a {expected} sink: a metric keeps one type for the \
         whole test, so the two aggregates belong to different metrics"
    )]
    TypeMismatch {
        /// Type of the sink merged into.
        expected: MetricType,
        /// Type of the sink being merged.
        found: MetricType,
    },
    /// The incoming sink holds a number that is not finite, or the merged sum would overflow
    /// to ±∞ (see [`Sink::merge_finite`]).
    #[error(
        "the {field} {detail}: JSON cannot carry it and a total cannot recover from it, so this \
         aggregate is not merged"
    )]
    NotFinite {
        /// The field of the aggregate: `sum`, `value`, `min`, `max` or `values`.
        field: &'static str,
        /// What is wrong with it (`is inf`, `would overflow from 1e308 to inf`).
        detail: String,
    },
}

/// Parses a percentile stat name such as `p(95)` or `p(99.9)` into its percent, accepting
/// `0 ≤ N ≤ 100` and whitespace inside the parentheses. `None` for anything else.
pub fn parse_percentile_stat(name: &str) -> Option<f64> {
    let inner = name.trim().strip_prefix("p(")?.strip_suffix(')')?.trim();
    // Rust's float parser accepts "inf"/"nan", which the range check below rejects.
    let p: f64 = inner.parse().ok()?;
    (0.0..=100.0).contains(&p).then_some(p)
}

/// True for the trend stat names k6 accepts in `summaryTrendStats`:
/// `avg`, `min`, `med`, `max`, `count` and `p(N)` with `0 ≤ N ≤ 100`.
pub fn is_valid_trend_stat(name: &str) -> bool {
    matches!(name, "avg" | "min" | "med" | "max" | "count") || parse_percentile_stat(name).is_some()
}

/// `Counter`: a running sum. Values: `count` (the sum) and `rate` (sum per second of test).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CounterSink {
    /// Sum of all samples (k6 calls it `count`).
    pub sum: f64,
    /// Number of samples added; tells "never observed" from "observed zeros".
    pub samples: u64,
}

impl CounterSink {
    /// An empty counter.
    pub fn new() -> Self {
        CounterSink::default()
    }

    /// Adds a sample; non-finite values are ignored.
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.sum += value;
        self.samples += 1;
    }

    /// Adds another counter's totals.
    pub fn merge(&mut self, other: &CounterSink) {
        self.sum += other.sum;
        self.samples = self.samples.saturating_add(other.samples);
    }

    /// The sum, shown by k6 as `count`.
    pub fn count(&self) -> f64 {
        self.sum
    }

    /// `count / duration`. A zero, negative or non-finite duration gives 0 rather than k6's
    /// ±∞/NaN, which JSON cannot carry.
    pub fn rate(&self, duration_secs: f64) -> f64 {
        if duration_secs > 0.0 && duration_secs.is_finite() {
            self.sum / duration_secs
        } else {
            0.0
        }
    }

    /// True when no sample was added.
    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }
}

/// `Gauge`: the last value plus min and max. Values: `value`, `min`, `max`.
///
/// "Last" is by sample time, not arrival order, so merging the gauges of several agents keeps
/// the most recent value whatever the merge order. On equal times, `add` lets the later call
/// win (a VU setting a gauge twice in the same nanosecond) while `merge` keeps the larger
/// value, so that merging stays order-independent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GaugeSink {
    /// The value of the latest sample (0 when empty).
    pub value: f64,
    /// Smallest sample (0 when empty).
    pub min: f64,
    /// Largest sample (0 when empty).
    pub max: f64,
    /// Time of the latest sample, in nanoseconds (any fixed epoch).
    pub time_ns: u64,
    /// False until the first sample.
    pub set: bool,
}

impl GaugeSink {
    /// An empty gauge.
    pub fn new() -> Self {
        GaugeSink::default()
    }

    /// Adds a sample taken at `time_ns`; non-finite values are ignored.
    pub fn add(&mut self, value: f64, time_ns: u64) {
        if !value.is_finite() {
            return;
        }
        if !self.set {
            *self = GaugeSink {
                value,
                min: value,
                max: value,
                time_ns,
                set: true,
            };
            return;
        }
        if time_ns >= self.time_ns {
            self.value = value;
            self.time_ns = time_ns;
        }
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Combines two gauges: min of mins, max of maxes, latest value by time.
    pub fn merge(&mut self, other: &GaugeSink) {
        if !other.set {
            return;
        }
        if !self.set {
            *self = other.clone();
            return;
        }
        if other.time_ns > self.time_ns
            || (other.time_ns == self.time_ns && other.value > self.value)
        {
            self.value = other.value;
            self.time_ns = other.time_ns;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// True when no sample was added.
    pub fn is_empty(&self) -> bool {
        !self.set
    }
}

/// `Rate`: the share of non-zero samples. Values: `rate`, `passes`, `fails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateSink {
    /// Non-zero samples.
    pub trues: u64,
    /// All samples.
    pub total: u64,
}

impl RateSink {
    /// An empty rate.
    pub fn new() -> Self {
        RateSink::default()
    }

    /// Adds a sample: non-zero counts as a pass. Non-finite values are ignored.
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.total += 1;
        if value != 0.0 {
            self.trues += 1;
        }
    }

    /// Adds another rate's counts.
    pub fn merge(&mut self, other: &RateSink) {
        self.trues = self.trues.saturating_add(other.trues);
        self.total = self.total.saturating_add(other.total);
    }

    /// `passes / total`, 0 when empty (as k6).
    pub fn rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.trues as f64 / self.total as f64
        }
    }

    /// Non-zero samples.
    pub fn passes(&self) -> u64 {
        self.trues
    }

    /// Zero samples.
    pub fn fails(&self) -> u64 {
        self.total.saturating_sub(self.trues)
    }

    /// True when no sample was added.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// Where a trend keeps its distribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TrendStore {
    /// Every sample, unsorted, while there are at most [`TREND_EXACT_LIMIT`].
    Exact(Vec<f64>),
    /// Beyond that, a histogram.
    Histogram(Histogram),
}

/// A trend's distribution, taken out of it by [`TrendSink::into_distribution`].
#[derive(Clone, Debug, PartialEq)]
pub enum TrendDistribution {
    /// Every sample, unsorted (at most [`TREND_EXACT_LIMIT`]).
    Exact(Vec<f64>),
    /// The histogram of a trend that outgrew exact storage.
    Histogram(Histogram),
}

/// `Trend`: count, sum, min and max exactly, plus the distribution for `med` and `p(N)`.
///
/// Percentiles follow k6 (`i = p·(n−1)`, linear interpolation). While the trend holds at most
/// [`TREND_EXACT_LIMIT`] samples they are exact; beyond, they come from the histogram's bucket
/// midpoints (≤ 0.05 % off), clamped to the exact `[min, max]`, with rank 0 and rank n−1 being
/// the exact min and max. Empty trends report 0 for every stat, as k6 does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TrendSinkWire")]
pub struct TrendSink {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    store: TrendStore,
}

/// Unvalidated serialized form; [`TrendSink`] checks it on the way in.
#[derive(Deserialize)]
struct TrendSinkWire {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    store: TrendStore,
}

/// Why a serialized trend sink was refused (it came from another process: an agent's batch, a
/// checkpoint).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrendSinkError {
    #[error("trend sink holds {held} exact values, more than the limit of {limit}")]
    TooManyValues { held: usize, limit: usize },
    #[error("trend sink says count {count} but stores {stored} values; the data is corrupt")]
    CountMismatch { count: u64, stored: u64 },
    #[error("trend sink has min {min} above max {max}; the data is corrupt")]
    MinAboveMax { min: f64, max: f64 },
}

impl TryFrom<TrendSinkWire> for TrendSink {
    type Error = TrendSinkError;

    fn try_from(w: TrendSinkWire) -> Result<Self, Self::Error> {
        let stored = match &w.store {
            TrendStore::Exact(v) => {
                if v.len() > TREND_EXACT_LIMIT {
                    return Err(TrendSinkError::TooManyValues {
                        held: v.len(),
                        limit: TREND_EXACT_LIMIT,
                    });
                }
                v.len() as u64
            }
            TrendStore::Histogram(h) => h.count(),
        };
        if stored != w.count {
            return Err(TrendSinkError::CountMismatch {
                count: w.count,
                stored,
            });
        }
        if w.count > 0 && w.min > w.max {
            return Err(TrendSinkError::MinAboveMax {
                min: w.min,
                max: w.max,
            });
        }
        Ok(TrendSink {
            count: w.count,
            sum: w.sum,
            min: w.min,
            max: w.max,
            store: w.store,
        })
    }
}

impl Default for TrendSink {
    fn default() -> Self {
        TrendSink::new()
    }
}

/// A rank → value view of a trend, built once per batch of stat lookups.
enum Ranked<'a> {
    Sorted(Vec<f64>),
    Hist {
        hist: &'a Histogram,
        min: f64,
        max: f64,
    },
}

impl Ranked<'_> {
    fn at_rank(&self, rank: u64, n: u64) -> Option<f64> {
        match self {
            Ranked::Sorted(v) => v.get(usize::try_from(rank).ok()?).copied(),
            Ranked::Hist { hist, min, max } => {
                if rank == 0 {
                    Some(*min)
                } else if rank + 1 == n {
                    Some(*max)
                } else {
                    hist.value_at_rank(rank).map(|v| v.clamp(*min, *max))
                }
            }
        }
    }
}

impl TrendSink {
    /// An empty trend.
    pub fn new() -> Self {
        TrendSink {
            count: 0,
            sum: 0.0,
            min: 0.0,
            max: 0.0,
            store: TrendStore::Exact(Vec::new()),
        }
    }

    /// Adds a sample; non-finite values are ignored.
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        self.sum += value;
        match &mut self.store {
            TrendStore::Exact(v) if v.len() < TREND_EXACT_LIMIT => v.push(value),
            TrendStore::Exact(v) => {
                let mut h = histogram_of(v);
                h.record(value);
                self.store = TrendStore::Histogram(h);
            }
            TrendStore::Histogram(h) => {
                h.record(value);
            }
        }
    }

    /// A trend known only as a distribution (a histogram from another tool, such as k6's cloud
    /// output) with its exact count, sum, min and max. Checked as a deserialized sink is:
    /// the histogram must hold `count` values and `min ≤ max`.
    pub fn from_histogram(
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
        hist: Histogram,
    ) -> Result<TrendSink, TrendSinkError> {
        TrendSink::try_from(TrendSinkWire {
            count,
            sum,
            min,
            max,
            store: TrendStore::Histogram(hist),
        })
    }

    /// A trend known by every sample (`values`, at most [`TREND_EXACT_LIMIT`], unsorted) with
    /// its exact count, sum, min and max: the form [`TrendSink::exact_values`] shows. Checked
    /// as a deserialized sink is: `count` values and `min ≤ max`.
    pub fn from_exact(
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
        values: Vec<f64>,
    ) -> Result<TrendSink, TrendSinkError> {
        TrendSink::try_from(TrendSinkWire {
            count,
            sum,
            min,
            max,
            store: TrendStore::Exact(values),
        })
    }

    /// Every sample, unsorted, while the trend keeps them ([`TrendSink::is_exact`]).
    pub fn exact_values(&self) -> Option<&[f64]> {
        match &self.store {
            TrendStore::Exact(v) => Some(v),
            TrendStore::Histogram(_) => None,
        }
    }

    /// The exact samples or the histogram, taken out of the trend (to send it without a copy).
    pub fn into_distribution(self) -> TrendDistribution {
        match self.store {
            TrendStore::Exact(v) => TrendDistribution::Exact(v),
            TrendStore::Histogram(h) => TrendDistribution::Histogram(h),
        }
    }

    /// Adds every sample of `other`. Stays exact while the combined count fits in
    /// [`TREND_EXACT_LIMIT`]; otherwise both sides' distributions go into one histogram.
    pub fn merge(&mut self, other: &TrendSink) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        let merged = match (&mut self.store, &other.store) {
            (TrendStore::Exact(a), TrendStore::Exact(b))
                if a.len() + b.len() <= TREND_EXACT_LIMIT =>
            {
                a.extend_from_slice(b);
                return;
            }
            (TrendStore::Histogram(a), TrendStore::Histogram(b)) => {
                a.merge(b);
                return;
            }
            (TrendStore::Histogram(a), TrendStore::Exact(b)) => {
                b.iter().for_each(|&v| {
                    a.record(v);
                });
                return;
            }
            (TrendStore::Exact(a), TrendStore::Exact(b)) => {
                let mut h = histogram_of(a);
                b.iter().for_each(|&v| {
                    h.record(v);
                });
                h
            }
            (TrendStore::Exact(a), TrendStore::Histogram(b)) => {
                let mut h = b.clone();
                a.iter().for_each(|&v| {
                    h.record(v);
                });
                h
            }
        };
        self.store = TrendStore::Histogram(merged);
    }

    /// Adds every sample of `other`: what [`TrendSink::merge`] of the trend it borrows gives,
    /// its buckets added to a histogram in one ordered pass.
    pub fn merge_delta(&mut self, other: &TrendDelta<'_>) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.to_sink();
            return;
        }
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        let merged = match (&mut self.store, other.exact) {
            (TrendStore::Exact(a), Some(b)) if a.len() + b.len() <= TREND_EXACT_LIMIT => {
                a.extend_from_slice(b);
                return;
            }
            (TrendStore::Histogram(a), _) => {
                a.merge_sorted(other.buckets);
                return;
            }
            (TrendStore::Exact(a), _) => {
                let mut h = histogram_of(a);
                h.merge_sorted(other.buckets);
                h
            }
        };
        self.store = TrendStore::Histogram(merged);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of the samples.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Smallest sample (0 when empty).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// Largest sample (0 when empty).
    pub fn max(&self) -> f64 {
        self.max
    }

    /// Mean (0 when empty).
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// The `p`-th percentile, `p` in `[0, 100]` (as in `p(95)`); 0 when empty, like k6.
    /// `p` outside the range is clamped to it.
    pub fn percentile(&self, p: f64) -> f64 {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) };
        self.percentile_in(&self.ranked(), p)
    }

    /// The median, `p(50)`.
    pub fn med(&self) -> f64 {
        self.percentile(50.0)
    }

    /// True while percentiles are computed from the exact samples.
    pub fn is_exact(&self) -> bool {
        matches!(self.store, TrendStore::Exact(_))
    }

    /// The histogram, once the trend has outgrown exact storage.
    pub fn histogram(&self) -> Option<&Histogram> {
        match &self.store {
            TrendStore::Histogram(h) => Some(h),
            TrendStore::Exact(_) => None,
        }
    }

    /// True when no sample was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// One trend stat by name: `avg`, `min`, `med`, `max`, `count` or `p(N)`.
    pub fn stat(&self, name: &str) -> Option<f64> {
        self.stat_in(&self.ranked(), name)
    }

    /// The requested stats, in the requested order, with the names as given; unknown names
    /// are skipped (options validation reports them).
    pub fn values<S: AsRef<str>>(&self, stats: &[S]) -> Vec<(String, f64)> {
        let ranked = self.ranked();
        stats
            .iter()
            .filter_map(|s| {
                let name = s.as_ref();
                self.stat_in(&ranked, name).map(|v| (name.to_owned(), v))
            })
            .collect()
    }

    fn ranked(&self) -> Ranked<'_> {
        match &self.store {
            TrendStore::Exact(v) => {
                let mut sorted = v.clone();
                sorted.sort_unstable_by(f64::total_cmp);
                Ranked::Sorted(sorted)
            }
            TrendStore::Histogram(hist) => Ranked::Hist {
                hist,
                min: self.min,
                max: self.max,
            },
        }
    }

    fn percentile_in(&self, ranked: &Ranked<'_>, p: f64) -> f64 {
        percentile_by_rank(self.count, p, |r| ranked.at_rank(r, self.count)).unwrap_or(0.0)
    }

    fn stat_in(&self, ranked: &Ranked<'_>, name: &str) -> Option<f64> {
        match name {
            "avg" => Some(self.avg()),
            "min" => Some(self.min),
            "max" => Some(self.max),
            "med" => Some(self.percentile_in(ranked, 50.0)),
            "count" => Some(self.count as f64),
            _ => parse_percentile_stat(name).map(|p| self.percentile_in(ranked, p)),
        }
    }
}

/// A trend aggregate another process sent, borrowed where it was decoded: its exact count,
/// sum, min and max, its samples when it sent them, and its distribution as sorted buckets
/// (made once, however many trends it is merged into: [`TrendSink::merge_delta`]).
#[derive(Clone, Copy, Debug)]
pub struct TrendDelta<'a> {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    exact: Option<&'a [f64]>,
    buckets: &'a SortedBuckets,
}

impl<'a> TrendDelta<'a> {
    /// A trend of `count` samples: every one in `exact` (at most [`TREND_EXACT_LIMIT`], with
    /// `buckets` made of them by [`SortedBuckets::set_values`]) or, without `exact`, the
    /// histogram `buckets`. Checked as [`TrendSink::from_exact`] and
    /// [`TrendSink::from_histogram`] check theirs: `count` values and `min ≤ max`.
    pub fn new(
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
        exact: Option<&'a [f64]>,
        buckets: &'a SortedBuckets,
    ) -> Result<TrendDelta<'a>, TrendSinkError> {
        let stored = match exact {
            Some(v) => {
                if v.len() > TREND_EXACT_LIMIT {
                    return Err(TrendSinkError::TooManyValues {
                        held: v.len(),
                        limit: TREND_EXACT_LIMIT,
                    });
                }
                // Buckets made of other values (or leaving non-finite ones out) cannot stand
                // for these.
                if buckets.count() != v.len() as u64 {
                    return Err(TrendSinkError::CountMismatch {
                        count: v.len() as u64,
                        stored: buckets.count(),
                    });
                }
                v.len() as u64
            }
            None => buckets.count(),
        };
        if stored != count {
            return Err(TrendSinkError::CountMismatch { count, stored });
        }
        if count > 0 && min > max {
            return Err(TrendSinkError::MinAboveMax { min, max });
        }
        Ok(TrendDelta {
            count,
            sum,
            min,
            max,
            exact,
            buckets,
        })
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The trend as a sink of its own.
    pub fn to_sink(&self) -> TrendSink {
        let store = match self.exact {
            Some(v) => TrendStore::Exact(v.to_vec()),
            None => {
                let mut h = Histogram::new();
                h.merge_sorted(self.buckets);
                TrendStore::Histogram(h)
            }
        };
        TrendSink {
            count: self.count,
            sum: self.sum,
            min: self.min,
            max: self.max,
            store,
        }
    }
}

/// An aggregate of one series as another process sent it: counters, gauges and rates whole, a
/// trend borrowed ([`TrendDelta`]), so one decoded series merges into several sinks without
/// being copied or re-bucketed for each ([`Sink::merge_finite_delta`]).
#[derive(Clone, Debug)]
pub enum SinkDelta<'a> {
    /// See [`CounterSink`].
    Counter(CounterSink),
    /// See [`GaugeSink`].
    Gauge(GaugeSink),
    /// See [`RateSink`].
    Rate(RateSink),
    /// See [`TrendDelta`].
    Trend(TrendDelta<'a>),
}

impl SinkDelta<'_> {
    /// The metric type it aggregates.
    pub fn metric_type(&self) -> MetricType {
        match self {
            SinkDelta::Counter(_) => MetricType::Counter,
            SinkDelta::Gauge(_) => MetricType::Gauge,
            SinkDelta::Rate(_) => MetricType::Rate,
            SinkDelta::Trend(_) => MetricType::Trend,
        }
    }

    /// The aggregate as a sink of its own.
    pub fn to_sink(&self) -> Sink {
        match self {
            SinkDelta::Counter(c) => Sink::Counter(c.clone()),
            SinkDelta::Gauge(g) => Sink::Gauge(g.clone()),
            SinkDelta::Rate(r) => Sink::Rate(r.clone()),
            SinkDelta::Trend(t) => Sink::Trend(t.to_sink()),
        }
    }

    /// The first field that holds a non-finite number, with the number (a trend's exact
    /// samples are finite: [`TrendDelta::new`] refuses others).
    fn non_finite(&self) -> Option<(&'static str, f64)> {
        let first =
            |fields: &[(&'static str, f64)]| fields.iter().copied().find(|(_, v)| !v.is_finite());
        match self {
            SinkDelta::Counter(c) => first(&[("sum", c.sum)]),
            SinkDelta::Gauge(g) => first(&[("value", g.value), ("min", g.min), ("max", g.max)]),
            SinkDelta::Rate(_) => None,
            SinkDelta::Trend(t) => first(&[("sum", t.sum), ("min", t.min), ("max", t.max)]),
        }
    }
}

/// The histogram of an exact trend's samples (at most [`TREND_EXACT_LIMIT`]), bucketed at once
/// and its chunks made in one ordered pass rather than by a chunk search per sample.
fn histogram_of(values: &[f64]) -> Histogram {
    let mut buckets = SortedBuckets::default();
    buckets.set_values(values);
    let mut h = Histogram::new();
    h.merge_sorted(&buckets);
    h
}

/// The aggregate of one metric series, whatever its type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sink {
    /// See [`CounterSink`].
    Counter(CounterSink),
    /// See [`GaugeSink`].
    Gauge(GaugeSink),
    /// See [`RateSink`].
    Rate(RateSink),
    /// See [`TrendSink`].
    Trend(TrendSink),
}

impl Sink {
    /// An empty sink for a metric of type `t`.
    pub fn new(t: MetricType) -> Sink {
        match t {
            MetricType::Counter => Sink::Counter(CounterSink::new()),
            MetricType::Gauge => Sink::Gauge(GaugeSink::new()),
            MetricType::Rate => Sink::Rate(RateSink::new()),
            MetricType::Trend => Sink::Trend(TrendSink::new()),
        }
    }

    /// The metric type this sink aggregates.
    pub fn metric_type(&self) -> MetricType {
        match self {
            Sink::Counter(_) => MetricType::Counter,
            Sink::Gauge(_) => MetricType::Gauge,
            Sink::Rate(_) => MetricType::Rate,
            Sink::Trend(_) => MetricType::Trend,
        }
    }

    /// Adds a sample taken at `time_ns` (only gauges use the time); non-finite values are
    /// ignored.
    pub fn add(&mut self, value: f64, time_ns: u64) {
        match self {
            Sink::Counter(s) => s.add(value),
            Sink::Gauge(s) => s.add(value, time_ns),
            Sink::Rate(s) => s.add(value),
            Sink::Trend(s) => s.add(value),
        }
    }

    /// Merges `other` into `self`; both must aggregate the same metric type.
    pub fn merge(&mut self, other: &Sink) -> Result<(), MergeError> {
        match (self, other) {
            (Sink::Counter(a), Sink::Counter(b)) => a.merge(b),
            (Sink::Gauge(a), Sink::Gauge(b)) => a.merge(b),
            (Sink::Rate(a), Sink::Rate(b)) => a.merge(b),
            (Sink::Trend(a), Sink::Trend(b)) => a.merge(b),
            (a, b) => {
                return Err(MergeError::TypeMismatch {
                    expected: a.metric_type(),
                    found: b.metric_type(),
                })
            }
        }
        Ok(())
    }

    /// The first field of this sink that holds a non-finite number, with the number.
    fn non_finite(&self) -> Option<(&'static str, f64)> {
        let first =
            |fields: &[(&'static str, f64)]| fields.iter().copied().find(|(_, v)| !v.is_finite());
        match self {
            Sink::Counter(c) => first(&[("sum", c.sum)]),
            Sink::Gauge(g) => first(&[("value", g.value), ("min", g.min), ("max", g.max)]),
            Sink::Rate(_) => None,
            Sink::Trend(t) => {
                first(&[("sum", t.sum), ("min", t.min), ("max", t.max)]).or_else(|| {
                    match &t.store {
                        TrendStore::Exact(v) => {
                            v.iter().find(|v| !v.is_finite()).map(|&v| ("values", v))
                        }
                        TrendStore::Histogram(_) => None,
                    }
                })
            }
        }
    }

    /// Merges as [`Sink::merge`] does, unless `other` holds a non-finite number or a merged
    /// sum would overflow to ±∞: then `self` stays as it was and the error names the field.
    /// For aggregates from another process (an agent's metric batch), so that one absurd
    /// batch cannot turn a run's total into ∞, which its JSON summary would show as `null`.
    /// Local aggregation keeps [`Sink::merge`]: k6 itself shows such a sum as ∞.
    pub fn merge_finite(&mut self, other: &Sink) -> Result<(), MergeError> {
        let sums = match (&*self, other) {
            (Sink::Counter(a), Sink::Counter(b)) => Some((a.sum, b.sum)),
            (Sink::Trend(a), Sink::Trend(b)) => Some((a.sum, b.sum)),
            _ => None,
        };
        refuse_non_finite(other.non_finite(), sums)?;
        self.merge(other)
    }

    /// Merges `other` as [`Sink::merge`] merges the sink it stands for.
    pub fn merge_delta(&mut self, other: &SinkDelta<'_>) -> Result<(), MergeError> {
        match (self, other) {
            (Sink::Counter(a), SinkDelta::Counter(b)) => a.merge(b),
            (Sink::Gauge(a), SinkDelta::Gauge(b)) => a.merge(b),
            (Sink::Rate(a), SinkDelta::Rate(b)) => a.merge(b),
            (Sink::Trend(a), SinkDelta::Trend(b)) => a.merge_delta(b),
            (a, b) => {
                return Err(MergeError::TypeMismatch {
                    expected: a.metric_type(),
                    found: b.metric_type(),
                })
            }
        }
        Ok(())
    }

    /// Merges `other` as [`Sink::merge_finite`] merges the sink it stands for: refused, `self`
    /// unchanged, when it holds a non-finite number or a merged sum would overflow to ±∞.
    pub fn merge_finite_delta(&mut self, other: &SinkDelta<'_>) -> Result<(), MergeError> {
        let sums = match (&*self, other) {
            (Sink::Counter(a), SinkDelta::Counter(b)) => Some((a.sum, b.sum)),
            (Sink::Trend(a), SinkDelta::Trend(b)) => Some((a.sum, b.sum)),
            _ => None,
        };
        refuse_non_finite(other.non_finite(), sums)?;
        self.merge_delta(other)
    }

    /// k6's `handleSummary` `values` for this sink, in k6's order: counter `count, rate`;
    /// gauge `value, min, max`; rate `rate, passes, fails`; trend exactly `trend_stats`
    /// (k6's `summaryTrendStats`) in the given order, unknown names skipped.
    /// `duration_secs` is the test run duration, used for the counter's rate.
    pub fn values<S: AsRef<str>>(
        &self,
        trend_stats: &[S],
        duration_secs: f64,
    ) -> Vec<(String, f64)> {
        let pairs = |p: &[(&str, f64)]| p.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        match self {
            Sink::Counter(s) => pairs(&[("count", s.count()), ("rate", s.rate(duration_secs))]),
            Sink::Gauge(s) => pairs(&[("value", s.value), ("min", s.min), ("max", s.max)]),
            Sink::Rate(s) => pairs(&[
                ("rate", s.rate()),
                ("passes", s.passes() as f64),
                ("fails", s.fails() as f64),
            ]),
            Sink::Trend(s) => s.values(trend_stats),
        }
    }

    /// One named stat, as thresholds and the summary use them: counter `count`, `rate`;
    /// gauge `value`, `min`, `max`; rate `rate`, `passes`, `fails`; trend `avg`, `min`, `med`,
    /// `max`, `count`, `p(N)`. `None` for a name this type does not have.
    pub fn stat(&self, name: &str, duration_secs: f64) -> Option<f64> {
        match self {
            Sink::Counter(s) => match name {
                "count" => Some(s.count()),
                "rate" => Some(s.rate(duration_secs)),
                _ => None,
            },
            Sink::Gauge(s) => match name {
                "value" => Some(s.value),
                "min" => Some(s.min),
                "max" => Some(s.max),
                _ => None,
            },
            Sink::Rate(s) => match name {
                "rate" => Some(s.rate()),
                "passes" => Some(s.passes() as f64),
                "fails" => Some(s.fails() as f64),
                _ => None,
            },
            Sink::Trend(s) => s.stat(name),
        }
    }

    /// True when no sample was added (k6 skips thresholds on empty sinks during the run).
    pub fn is_empty(&self) -> bool {
        match self {
            Sink::Counter(s) => s.is_empty(),
            Sink::Gauge(s) => s.is_empty(),
            Sink::Rate(s) => s.is_empty(),
            Sink::Trend(s) => s.is_empty(),
        }
    }
}

/// What [`Sink::merge_finite`] and [`Sink::merge_finite_delta`] refuse: an incoming field that
/// is not finite (`non_finite`: its name and value), or merged sums (`sums`: this sink's and the
/// incoming one's) that would overflow to ±∞.
fn refuse_non_finite(
    non_finite: Option<(&'static str, f64)>,
    sums: Option<(f64, f64)>,
) -> Result<(), MergeError> {
    if let Some((field, v)) = non_finite {
        return Err(MergeError::NotFinite {
            field,
            detail: format!("is {v}"),
        });
    }
    if let Some((a, b)) = sums {
        if !(a + b).is_finite() {
            return Err(MergeError::NotFinite {
                field: "sum",
                detail: format!("would overflow from {a:e} by {b:e} to {:e}", a + b),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::histogram::tests::exact_percentile;
    use super::super::histogram::RELATIVE_ERROR;
    use super::super::Sign;
    use super::*;
    use crate::test_rng::Rng;

    /// A trend of `n` samples: latencies, negatives, zeros, now and then a huge one.
    fn random_trend(rng: &mut Rng, n: u64) -> TrendSink {
        let mut t = TrendSink::new();
        for _ in 0..n {
            let v = match rng.next_u64() % 10 {
                0 => 0.0,
                1 => -rng.open_unit() * 50.0,
                2 => rng.open_unit() * 1e300,
                _ => (rng.open_unit() * 8.0).exp(),
            };
            t.add(v);
        }
        t
    }

    /// `t` as a borrowed delta, its buckets made as the controller makes them from a
    /// message: from its samples, or from its histogram's runs.
    fn with_delta<R>(t: &TrendSink, f: impl FnOnce(&TrendDelta<'_>) -> R) -> R {
        let mut buckets = SortedBuckets::default();
        let exact = t.exact_values();
        match (exact, t.histogram()) {
            (Some(v), _) => buckets.set_values(v),
            (None, Some(h)) => {
                buckets.add_zeros(h.zero_count()).unwrap();
                for sign in [Sign::Positive, Sign::Negative] {
                    for (start, counts) in h.runs(sign) {
                        buckets.push_run(sign, start, &counts).unwrap();
                    }
                }
            }
            (None, None) => unreachable!("a trend keeps one or the other"),
        }
        let d = TrendDelta::new(t.count(), t.sum(), t.min(), t.max(), exact, &buckets).unwrap();
        f(&d)
    }

    /// Merging a borrowed delta gives what merging the trend itself gives, bucket for bucket,
    /// for every pair of exact and histogram trends (either side empty, crossing the exact
    /// limit or not), and the delta as a sink of its own is the trend.
    #[test]
    fn merging_deltas_equals_merging_trends() {
        let mut rng = Rng::new(77);
        let sizes = [0, 1, 20, 500, 1000, 1024, 1025, 3000];
        for case in 0..400 {
            let a = random_trend(&mut rng, sizes[case % sizes.len()]);
            let b = random_trend(&mut rng, sizes[(case / sizes.len()) % sizes.len()]);
            let mut want = a.clone();
            want.merge(&b);
            let mut got = a.clone();
            with_delta(&b, |d| {
                assert_eq!(d.to_sink(), b, "case {case}: the delta is the trend");
                got.merge_delta(d);
                let mut sink = Sink::Trend(a.clone());
                sink.merge_finite_delta(&SinkDelta::Trend(*d)).unwrap();
                assert_eq!(sink, Sink::Trend(want.clone()), "case {case}: as a sink");
            });
            assert_eq!(got, want, "case {case}: {} into {}", b.count(), a.count());
            assert_eq!(got.histogram(), want.histogram(), "case {case}");
        }
    }

    /// A delta is checked as a trend from another process is: its count, its buckets,
    /// `min ≤ max`, at most the exact limit of samples.
    #[test]
    fn bad_deltas_are_refused() {
        let mut buckets = SortedBuckets::default();
        buckets.set_values(&[1.0, 2.0]);
        let two = [1.0, 2.0];
        assert!(TrendDelta::new(2, 3.0, 1.0, 2.0, Some(&two), &buckets).is_ok());
        let e = TrendDelta::new(3, 3.0, 1.0, 2.0, Some(&two), &buckets).unwrap_err();
        assert_eq!(
            e,
            TrendSinkError::CountMismatch {
                count: 3,
                stored: 2
            }
        );
        let e = TrendDelta::new(2, 3.0, 2.0, 1.0, Some(&two), &buckets).unwrap_err();
        assert!(matches!(e, TrendSinkError::MinAboveMax { .. }), "{e}");
        assert!(TrendDelta::new(1, 3.0, 1.0, 2.0, Some(&two[..1]), &buckets).is_err());
        let many = vec![1.0; TREND_EXACT_LIMIT + 1];
        buckets.set_values(&many);
        let e = TrendDelta::new(many.len() as u64, 0.0, 1.0, 1.0, Some(&many), &buckets);
        assert!(matches!(e, Err(TrendSinkError::TooManyValues { .. })));
        // Non-finite samples are not bucketed, so they cannot stand for their trend.
        let nan = [1.0, f64::NAN];
        buckets.set_values(&nan);
        assert!(TrendDelta::new(2, 1.0, 1.0, 1.0, Some(&nan), &buckets).is_err());
    }

    const DEFAULT_STATS: [&str; 6] = ["avg", "min", "med", "max", "p(90)", "p(95)"];

    fn trend_of(values: impl IntoIterator<Item = f64>) -> TrendSink {
        let mut t = TrendSink::new();
        for v in values {
            t.add(v);
        }
        t
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn percentile_names() {
        assert_eq!(parse_percentile_stat("p(95)"), Some(95.0));
        assert_eq!(parse_percentile_stat("p(99.9)"), Some(99.9));
        assert_eq!(parse_percentile_stat("p( 50 )"), Some(50.0));
        assert_eq!(parse_percentile_stat("p(0)"), Some(0.0));
        assert_eq!(parse_percentile_stat("p(100)"), Some(100.0));
        for bad in [
            "p(101)", "p(-1)", "p()", "p(x)", "p95", "p(nan)", "p(inf)", "q(5)", "p(5",
        ] {
            assert_eq!(parse_percentile_stat(bad), None, "{bad}");
        }
        for ok in ["avg", "min", "med", "max", "count", "p(90)", "p(99.99)"] {
            assert!(is_valid_trend_stat(ok), "{ok}");
        }
        for bad in ["mean", "sum", "p(200)", "rate", ""] {
            assert!(!is_valid_trend_stat(bad), "{bad}");
        }
    }

    #[test]
    fn trend_matches_k6_interpolation_on_small_sets() {
        let t = trend_of((1..=10).map(f64::from));
        assert!(t.is_exact());
        assert!(close(t.percentile(90.0), 9.1));
        assert!(close(t.percentile(95.0), 9.55));
        assert!(close(t.med(), 5.5));
        assert_eq!(t.percentile(0.0), 1.0);
        assert_eq!(t.percentile(100.0), 10.0);
        assert_eq!(t.avg(), 5.5);
        assert_eq!(t.min(), 1.0);
        assert_eq!(t.max(), 10.0);
        assert_eq!(t.count(), 10);
        assert_eq!(t.sum(), 55.0);
        // Odd count: the median is the middle value.
        let odd = trend_of([3.0, 1.0, 2.0]);
        assert_eq!(odd.med(), 2.0);
        // A single value is every percentile.
        let one = trend_of([42.0]);
        assert_eq!(one.percentile(99.0), 42.0);
        assert_eq!(one.med(), 42.0);
        // Order of insertion does not matter.
        let shuffled = trend_of([7.0, 2.0, 10.0, 1.0, 5.0, 3.0, 9.0, 4.0, 8.0, 6.0]);
        assert!(close(shuffled.percentile(90.0), 9.1));
    }

    #[test]
    fn trend_values_in_requested_order() {
        let t = trend_of((1..=10).map(f64::from));
        let v = t.values(&DEFAULT_STATS);
        let names: Vec<&str> = v.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, DEFAULT_STATS);
        let custom = t.values(&["p(99.9)", "count", "max", "bogus", "p(50)"]);
        assert_eq!(custom.len(), 4);
        assert_eq!(custom[0].0, "p(99.9)");
        assert!(close(custom[0].1, 9.991));
        assert_eq!(custom[1], ("count".to_owned(), 10.0));
        assert_eq!(custom[2], ("max".to_owned(), 10.0));
        assert!(close(custom[3].1, 5.5));
        let sink = Sink::Trend(t);
        let owned: Vec<String> = DEFAULT_STATS.iter().map(|s| s.to_string()).collect();
        assert_eq!(sink.values(&owned, 1.0).len(), 6);
    }

    #[test]
    fn empty_trend_reports_zeros() {
        let t = TrendSink::new();
        assert!(t.is_empty());
        for (name, v) in t.values(&["avg", "min", "med", "max", "p(95)", "count"]) {
            assert_eq!(v, 0.0, "{name}");
        }
    }

    #[test]
    fn trend_negative_and_fractional_values() {
        let t = trend_of([-5.5, 0.0, 2.25, -1.0, 0.125]);
        assert_eq!(t.min(), -5.5);
        assert_eq!(t.max(), 2.25);
        assert_eq!(t.med(), 0.0);
        assert!(close(t.avg(), (-5.5 + 2.25 - 1.0 + 0.125) / 5.0));
        assert!(close(t.percentile(25.0), -1.0));
    }

    #[test]
    fn trend_switches_to_histogram_past_limit() {
        let mut rng = Rng::new(9);
        let values: Vec<f64> = (0..50_000)
            .map(|_| (4.0 + 0.8 * rng.normal()).exp())
            .collect();
        let mut t = TrendSink::new();
        for (i, &v) in values.iter().enumerate() {
            t.add(v);
            assert_eq!(
                t.is_exact(),
                i < TREND_EXACT_LIMIT,
                "after {} samples",
                i + 1
            );
        }
        let mut recorded = Histogram::new();
        values.iter().for_each(|&v| {
            recorded.record(v);
        });
        assert_eq!(
            t.histogram(),
            Some(&recorded),
            "the switch buckets the exact samples as recording them one by one does"
        );
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(t.min(), sorted[0]);
        assert_eq!(t.max(), sorted[sorted.len() - 1]);
        assert_eq!(t.percentile(0.0), sorted[0], "rank 0 is the exact min");
        assert_eq!(
            t.percentile(100.0),
            sorted[sorted.len() - 1],
            "last rank is the exact max"
        );
        assert_eq!(t.count(), values.len() as u64);
        let exact_sum: f64 = values.iter().sum();
        assert_eq!(t.sum(), exact_sum);
        for p in [50.0, 90.0, 95.0, 99.0, 99.9] {
            let exact = exact_percentile(&sorted, p);
            let got = t.percentile(p);
            assert!(
                ((got - exact) / exact).abs() <= RELATIVE_ERROR * 1.000_001,
                "p({p})"
            );
        }
    }

    #[test]
    fn histogram_percentiles_clamped_to_exact_range() {
        // Values just below a bucket's midpoint: an unclamped midpoint would exceed max.
        let mut t = TrendSink::new();
        for _ in 0..2000 {
            t.add(1.0);
        }
        assert!(!t.is_exact());
        for p in [0.0, 10.0, 50.0, 99.0, 100.0] {
            assert_eq!(t.percentile(p), 1.0, "p({p})");
        }
    }

    #[test]
    fn trend_merge_stays_exact_while_small() {
        let a = trend_of([1.0, 2.0, 3.0, 4.0, 5.0]);
        let b = trend_of([6.0, 7.0, 8.0, 9.0, 10.0]);
        let mut m = a.clone();
        m.merge(&b);
        assert!(m.is_exact());
        let all = trend_of((1..=10).map(f64::from));
        assert_eq!(m.values(&DEFAULT_STATS), all.values(&DEFAULT_STATS));
        let mut e = TrendSink::new();
        e.merge(&a);
        assert_eq!(e, a);
        let mut a2 = a.clone();
        a2.merge(&TrendSink::new());
        assert_eq!(a2, a);
    }

    #[test]
    fn trend_merge_across_modes_matches_recording_all() {
        let mut rng = Rng::new(21);
        let values: Vec<f64> = (0..6000).map(|_| rng.open_unit() * 300.0 + 1.0).collect();
        let all = trend_of(values.iter().copied());
        // Every combination of exact/histogram halves.
        for split in [600, 1000, 3000, 5500] {
            let a = trend_of(values[..split].iter().copied());
            let b = trend_of(values[split..].iter().copied());
            for (x, y) in [(&a, &b), (&b, &a)] {
                let mut m = x.clone();
                m.merge(y);
                assert_eq!(m.count(), all.count());
                assert_eq!(m.min(), all.min());
                assert_eq!(m.max(), all.max());
                assert!(close(m.sum(), all.sum()));
                assert_eq!(m.histogram(), all.histogram(), "split {split}");
                for p in [50.0, 90.0, 99.0] {
                    assert_eq!(m.percentile(p), all.percentile(p));
                }
            }
        }
        // Two exact halves that together exceed the limit become a histogram.
        let a = trend_of(values[..800].iter().copied());
        let b = trend_of(values[800..1600].iter().copied());
        let mut m = a.clone();
        m.merge(&b);
        assert!(!m.is_exact());
        assert_eq!(
            m.histogram(),
            trend_of(values[..1600].iter().copied()).histogram()
        );
    }

    #[test]
    fn counter_count_and_rate() {
        let mut s = Sink::new(MetricType::Counter);
        assert!(s.is_empty());
        for v in [1.0, 2.0, 3.5] {
            s.add(v, 0);
        }
        s.add(f64::NAN, 0);
        s.add(f64::INFINITY, 0);
        s.add(f64::NEG_INFINITY, 0);
        assert_eq!(
            s.values(&DEFAULT_STATS, 2.0),
            vec![("count".to_owned(), 6.5), ("rate".to_owned(), 3.25)]
        );
        assert_eq!(s.stat("count", 2.0), Some(6.5));
        assert_eq!(s.stat("rate", 0.5), Some(13.0));
        assert_eq!(s.stat("rate", 0.0), Some(0.0));
        assert_eq!(s.stat("value", 1.0), None);
        let mut zero = Sink::new(MetricType::Counter);
        zero.add(0.0, 0);
        assert!(!zero.is_empty(), "an observed zero is not empty");
    }

    #[test]
    fn counter_merge() {
        let mut a = CounterSink::new();
        a.add(2.0);
        let mut b = CounterSink::new();
        b.add(3.0);
        b.add(4.0);
        a.merge(&b);
        assert_eq!(a.count(), 9.0);
        assert_eq!(a.samples, 3);
    }

    #[test]
    fn gauge_last_min_max() {
        let mut s = Sink::new(MetricType::Gauge);
        s.add(11.0, 100);
        s.add(21.0, 200);
        s.add(15.0, 150); // older sample arriving late does not become "last"
        assert_eq!(
            s.values(&DEFAULT_STATS, 1.0),
            vec![
                ("value".to_owned(), 21.0),
                ("min".to_owned(), 11.0),
                ("max".to_owned(), 21.0)
            ]
        );
        assert_eq!(s.stat("value", 1.0), Some(21.0));
        let mut neg = GaugeSink::new();
        neg.add(-3.0, 1);
        assert_eq!((neg.min, neg.max, neg.value), (-3.0, -3.0, -3.0));
        neg.add(-7.0, 1);
        assert_eq!(neg.value, -7.0, "equal time: later add wins");
        let empty = Sink::new(MetricType::Gauge);
        assert!(empty.is_empty());
        assert_eq!(empty.stat("value", 1.0), Some(0.0));
    }

    #[test]
    fn gauge_merge_keeps_latest_by_time() {
        let mut early = GaugeSink::new();
        early.add(5.0, 10);
        early.add(1.0, 20);
        let mut late = GaugeSink::new();
        late.add(9.0, 30);
        late.add(3.0, 40);
        let mut ab = early.clone();
        ab.merge(&late);
        let mut ba = late.clone();
        ba.merge(&early);
        assert_eq!(ab, ba);
        assert_eq!((ab.value, ab.min, ab.max, ab.time_ns), (3.0, 1.0, 9.0, 40));
        let mut tie_a = GaugeSink::new();
        tie_a.add(1.0, 5);
        let mut tie_b = GaugeSink::new();
        tie_b.add(2.0, 5);
        let mut x = tie_a.clone();
        x.merge(&tie_b);
        let mut y = tie_b.clone();
        y.merge(&tie_a);
        assert_eq!(x, y, "ties resolve the same way in both orders");
        let mut e = GaugeSink::new();
        e.merge(&late);
        assert_eq!(e, late);
        let mut l2 = late.clone();
        l2.merge(&GaugeSink::new());
        assert_eq!(l2, late);
    }

    #[test]
    fn rate_passes_fails() {
        let mut s = Sink::new(MetricType::Rate);
        for v in [1.0, 0.0, 1.0, 5.0, -1.0, 0.0] {
            s.add(v, 0);
        }
        assert_eq!(
            s.values(&DEFAULT_STATS, 1.0),
            vec![
                ("rate".to_owned(), 4.0 / 6.0),
                ("passes".to_owned(), 4.0),
                ("fails".to_owned(), 2.0)
            ]
        );
        assert_eq!(s.stat("passes", 1.0), Some(4.0));
        assert_eq!(s.stat("fails", 1.0), Some(2.0));
        assert_eq!(s.stat("count", 1.0), None);
        let empty = RateSink::new();
        assert_eq!(empty.rate(), 0.0);
        let mut a = RateSink::new();
        a.add(1.0);
        let mut b = RateSink::new();
        b.add(0.0);
        b.add(1.0);
        a.merge(&b);
        assert_eq!((a.passes(), a.fails(), a.total), (2, 1, 3));
    }

    #[test]
    fn sink_merge_type_mismatch() {
        let mut c = Sink::new(MetricType::Counter);
        let t = Sink::new(MetricType::Trend);
        let err = c.merge(&t).expect_err("mismatch");
        assert_eq!(
            err,
            MergeError::TypeMismatch {
                expected: MetricType::Counter,
                found: MetricType::Trend
            }
        );
        assert!(err
            .to_string()
            .contains("cannot merge a trend sink into a counter sink"));
        for ty in MetricType::ALL {
            let mut a = Sink::new(ty);
            a.add(1.0, 1);
            let mut b = Sink::new(ty);
            b.add(2.0, 2);
            assert!(a.merge(&b).is_ok());
            assert_eq!(a.metric_type(), ty);
        }
    }

    #[test]
    fn merge_finite_refuses_infinity_and_overflowing_sums() {
        let big = |ty| {
            let mut s = Sink::new(ty);
            s.add(1e308, 1);
            s
        };
        for ty in [MetricType::Counter, MetricType::Trend] {
            let mut total = big(ty);
            let before = total.clone();
            let err = total.merge_finite(&big(ty)).expect_err("1e308 + 1e308");
            assert!(
                err.to_string()
                    .contains("sum would overflow from 1e308 by 1e308 to inf"),
                "{err}"
            );
            assert_eq!(total, before, "a refused merge leaves the total as it was");
            let mut one = Sink::new(ty);
            one.add(1.0, 2);
            assert!(total.merge_finite(&one).is_ok());
            // Plain merge keeps k6's local behaviour: the sum becomes ∞.
            total.merge(&big(ty)).unwrap();
            let stat = if ty == MetricType::Counter {
                "count"
            } else {
                "avg"
            };
            assert_eq!(total.stat(stat, 1.0), Some(f64::INFINITY));
        }
        let mut gauge = Sink::new(MetricType::Gauge);
        let bad = Sink::Gauge(GaugeSink {
            value: 1.0,
            min: f64::NEG_INFINITY,
            max: 1.0,
            time_ns: 1,
            set: true,
        });
        let err = gauge.merge_finite(&bad).expect_err("a non-finite min");
        assert!(err.to_string().starts_with("the min is -inf"), "{err}");
        assert!(gauge.is_empty());
        let mut counter = Sink::new(MetricType::Counter);
        let nan = Sink::Counter(CounterSink {
            sum: f64::NAN,
            samples: 1,
        });
        assert!(counter.merge_finite(&nan).is_err());
        assert!(counter.is_empty());
        // A type mismatch is still reported as one.
        assert!(matches!(
            counter.merge_finite(&Sink::new(MetricType::Rate)),
            Err(MergeError::TypeMismatch { .. })
        ));
    }

    #[test]
    fn sink_trend_stats_and_unknown_names() {
        let mut s = Sink::new(MetricType::Trend);
        for v in 1..=10 {
            s.add(f64::from(v), 0);
        }
        assert_eq!(s.stat("avg", 1.0), Some(5.5));
        assert_eq!(s.stat("count", 1.0), Some(10.0));
        assert!(close(s.stat("p(90)", 1.0).expect("p90"), 9.1));
        assert!(close(s.stat("med", 1.0).expect("med"), 5.5));
        assert_eq!(s.stat("rate", 1.0), None);
        assert_eq!(s.stat("p(101)", 1.0), None);
    }

    #[test]
    fn sinks_serde_roundtrip() {
        let mut rng = Rng::new(1);
        let mut sinks: Vec<Sink> = MetricType::ALL.into_iter().map(Sink::new).collect();
        let mut big = Sink::new(MetricType::Trend);
        for i in 0..5000u64 {
            // Quarters parse back exactly even without serde_json's `float_roundtrip`
            // feature, whose default parser may be off by one ulp on long decimals.
            let v = (rng.next_u64() % 400_000) as f64 / 4.0;
            for s in sinks.iter_mut() {
                if i < 500 {
                    s.add(v, i);
                }
            }
            big.add(v, i);
        }
        sinks.push(big);
        sinks.push(Sink::new(MetricType::Trend));
        for s in &sinks {
            let json = serde_json::to_string(s).expect("serialize");
            let back: Sink = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(&back, s, "{json:.200}");
        }
        let json = serde_json::to_value(&sinks[0]).expect("ser");
        assert_eq!(
            json,
            serde_json::json!({"counter": {"sum": json["counter"]["sum"], "samples": 500}})
        );
    }

    #[test]
    fn trend_deserialization_is_validated() {
        let bad_count = serde_json::json!({"trend": {"count": 3, "sum": 1.0, "min": 0.0, "max": 1.0, "store": {"exact": [1.0]}}});
        let err = serde_json::from_value::<Sink>(bad_count).expect_err("count mismatch");
        assert!(err.to_string().contains("count 3 but stores 1"), "{err}");
        let too_many: Vec<f64> = vec![1.0; TREND_EXACT_LIMIT + 1];
        let bad_len = serde_json::json!({"trend": {"count": too_many.len(), "sum": 0.0, "min": 1.0, "max": 1.0, "store": {"exact": too_many}}});
        assert!(serde_json::from_value::<Sink>(bad_len).is_err());
        let bad_range = serde_json::json!({"trend": {"count": 1, "sum": 1.0, "min": 2.0, "max": 1.0, "store": {"exact": [1.0]}}});
        assert!(serde_json::from_value::<Sink>(bad_range).is_err());
    }
}
