//! Metric vocabulary and mergeable aggregates ("sinks").
//!
//! k6 has four metric types; each aggregates its samples into a sink whose numbers end up in
//! the end-of-test summary (`handleSummary`'s `values`) and feed thresholds. Volley ships sinks
//! between agents and the controller, so every sink here is serde-serializable and merges
//! *exactly*: merging the sinks of two halves of a sample stream gives the same numbers as one
//! sink fed the whole stream (for trends, exactly while small, then within the histogram's
//! 0.05 % bucket error — percentiles are never averaged).

pub mod histogram;
mod sink;
pub mod store;
mod tags;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use histogram::{Histogram, HistogramBucket, HistogramDecodeError, Sign, SortedBuckets};
pub use sink::{
    is_valid_trend_stat, parse_percentile_stat, CounterSink, GaugeSink, MergeError, RateSink, Sink,
    SinkDelta, TrendDelta, TrendDistribution, TrendSink, TrendSinkError, TREND_EXACT_LIMIT,
};
pub use tags::{BuildSeriesHasher, SeriesHasher, TagSet};

/// The four k6 metric types (`new Counter(...)`, `Gauge`, `Rate`, `Trend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// Cumulative sum (`http_reqs`, `iterations`, `data_sent`).
    Counter,
    /// Last value, plus min and max (`vus`, `vus_max`).
    Gauge,
    /// Share of non-zero samples (`checks`, `http_req_failed`).
    Rate,
    /// Distribution: avg, min, med, max, percentiles (`http_req_duration`).
    Trend,
}

impl MetricType {
    /// All types, in k6's declaration order.
    pub const ALL: [MetricType; 4] = [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Rate,
        MetricType::Trend,
    ];

    /// The lowercase name k6 uses in JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Rate => "rate",
            MetricType::Trend => "trend",
        }
    }

    /// Threshold aggregation methods k6 accepts on this type, in the order its error message
    /// lists them (`p` stands for any percentile `p(N)`, as k6 v1.1.0 writes it).
    pub fn threshold_aggregations(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["count", "rate"],
            MetricType::Gauge => &["value"],
            MetricType::Rate => &["rate"],
            MetricType::Trend => &["avg", "min", "max", "med", "p"],
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown metric or value type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {given:?}; expected one of: {expected}")]
pub struct UnknownTypeName {
    kind: &'static str,
    given: String,
    expected: &'static str,
}

impl FromStr for MetricType {
    type Err = UnknownTypeName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MetricType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTypeName {
                kind: "metric type",
                given: s.to_owned(),
                expected: "counter, gauge, rate, trend",
            })
    }
}

/// What a metric's numbers mean (k6's `contains`): drives unit formatting in summaries
/// (`time` values are milliseconds, `data` values are bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Plain numbers.
    #[default]
    Default,
    /// Durations in milliseconds.
    Time,
    /// Byte counts.
    Data,
}

impl ValueType {
    /// The lowercase name k6 uses in JSON (`"contains": "time"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Default => "default",
            ValueType::Time => "time",
            ValueType::Data => "data",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ValueType {
    type Err = UnknownTypeName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [ValueType::Default, ValueType::Time, ValueType::Data]
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTypeName {
                kind: "value type",
                given: s.to_owned(),
                expected: "default, time, data",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_type_names_roundtrip() {
        for t in MetricType::ALL {
            assert_eq!(t.to_string().parse::<MetricType>(), Ok(t));
            let json = serde_json::to_string(&t).expect("serialize");
            assert_eq!(json, format!("\"{}\"", t));
            let back: MetricType = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, t);
        }
        let err = "histogram".parse::<MetricType>().expect_err("unknown");
        assert!(err.to_string().contains("counter, gauge, rate, trend"));
    }

    #[test]
    fn value_type_names_roundtrip() {
        for t in [ValueType::Default, ValueType::Time, ValueType::Data] {
            assert_eq!(t.to_string().parse::<ValueType>(), Ok(t));
            let json = serde_json::to_string(&t).expect("serialize");
            assert_eq!(json, format!("\"{}\"", t));
        }
        assert_eq!(ValueType::default(), ValueType::Default);
        assert!("bytes".parse::<ValueType>().is_err());
    }

    #[test]
    fn threshold_aggregations_match_k6() {
        assert_eq!(
            MetricType::Counter.threshold_aggregations(),
            ["count", "rate"]
        );
        assert_eq!(MetricType::Gauge.threshold_aggregations(), ["value"]);
        assert_eq!(MetricType::Rate.threshold_aggregations(), ["rate"]);
        assert_eq!(
            MetricType::Trend.threshold_aggregations(),
            ["avg", "min", "max", "med", "p"]
        );
    }
}
