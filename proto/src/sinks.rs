//! Metric series on the wire: a [`Sink`] as one of four typed messages (exact and mergeable,
//! as the sink itself), the metric's value type as an enum. Agents encode their interval
//! aggregates here; the controller decodes them with every number and repeated field checked,
//! so a damaged or forged series is refused naming its field (and dropped, logged, by the
//! caller) instead of reaching a run's totals (docs/security.md#agents).

use prost::bytes::Bytes;
use thiserror::Error;
use volley_common::metrics::store::MetricInfo;
use volley_common::metrics::{
    CounterSink, GaugeSink, Histogram, RateSink, Sign, Sink, TrendDistribution, TrendSink,
    ValueType, TREND_EXACT_LIMIT,
};

use crate::v1;
use crate::v1::series::Sink as Wire;

/// Why a series was refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{field} {detail}")]
pub struct SeriesError {
    /// The field, as in `proto/volley.proto` (`trend.values`, `contains`...).
    pub field: &'static str,
    /// What is wrong with it.
    pub detail: String,
}

pub(crate) fn refuse(field: &'static str, detail: impl Into<String>) -> SeriesError {
    SeriesError {
        field,
        detail: detail.into(),
    }
}

impl From<ValueType> for v1::ValueType {
    fn from(v: ValueType) -> v1::ValueType {
        match v {
            ValueType::Default => v1::ValueType::Default,
            ValueType::Time => v1::ValueType::Time,
            ValueType::Data => v1::ValueType::Data,
        }
    }
}

pub(crate) fn value_type(raw: i32) -> Result<ValueType, SeriesError> {
    match v1::ValueType::try_from(raw) {
        Ok(v1::ValueType::Default) => Ok(ValueType::Default),
        Ok(v1::ValueType::Time) => Ok(ValueType::Time),
        Ok(v1::ValueType::Data) => Ok(ValueType::Data),
        _ => Err(refuse(
            "contains",
            format!("{raw} is not a value type (1 default, 2 time, 3 data)"),
        )),
    }
}

impl From<Sink> for Wire {
    /// Moves the sink's data (a trend's samples or histogram counts) into the message.
    fn from(sink: Sink) -> Wire {
        match sink {
            Sink::Counter(c) => Wire::Counter(v1::CounterSink {
                sum: c.sum,
                samples: c.samples,
            }),
            Sink::Gauge(g) => Wire::Gauge(v1::GaugeSink {
                value: g.value,
                min: g.min,
                max: g.max,
                time_ns: g.time_ns,
                set: g.set,
            }),
            Sink::Rate(r) => Wire::Rate(v1::RateSink {
                trues: r.trues,
                total: r.total,
            }),
            Sink::Trend(t) => {
                let (count, sum, min, max) = (t.count(), t.sum(), t.min(), t.max());
                let (values, histogram) = match t.into_distribution() {
                    TrendDistribution::Exact(v) => (v, None),
                    TrendDistribution::Histogram(h) => (Vec::new(), Some(histogram_to_wire(&h))),
                };
                Wire::Trend(v1::TrendSink {
                    count,
                    sum,
                    min,
                    max,
                    values,
                    histogram,
                })
            }
        }
    }
}

fn histogram_to_wire(h: &Histogram) -> v1::Histogram {
    let runs = |sign| {
        h.runs(sign)
            .into_iter()
            .map(|(start, counts)| v1::BucketRun { start, counts })
            .collect()
    };
    v1::Histogram {
        zero: h.zero_count(),
        positive: runs(Sign::Positive),
        negative: runs(Sign::Negative),
    }
}

/// `field` must hold a finite number: NaN and ±∞ cannot be summed into a total.
fn finite(field: &'static str, v: f64) -> Result<f64, SeriesError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(refuse(field, format!("is {v}, not a finite number")))
    }
}

impl TryFrom<Wire> for Sink {
    type Error = SeriesError;

    /// The sink, checked: every number finite, a rate's passes at most its total, a trend's
    /// samples at most [`TREND_EXACT_LIMIT`] and as many as its count says, its histogram's
    /// runs within the finite buckets, by increasing index and adding up to its count.
    fn try_from(w: Wire) -> Result<Sink, SeriesError> {
        Ok(match w {
            Wire::Counter(c) => Sink::Counter(CounterSink {
                sum: finite("counter.sum", c.sum)?,
                samples: c.samples,
            }),
            Wire::Gauge(g) => Sink::Gauge(GaugeSink {
                value: finite("gauge.value", g.value)?,
                min: finite("gauge.min", g.min)?,
                max: finite("gauge.max", g.max)?,
                time_ns: g.time_ns,
                set: g.set,
            }),
            Wire::Rate(r) => {
                if r.trues > r.total {
                    return Err(refuse(
                        "rate.trues",
                        format!("{} is more than rate.total {}", r.trues, r.total),
                    ));
                }
                Sink::Rate(RateSink {
                    trues: r.trues,
                    total: r.total,
                })
            }
            Wire::Trend(t) => Sink::Trend(trend(t)?),
        })
    }
}

fn trend(t: v1::TrendSink) -> Result<TrendSink, SeriesError> {
    let sum = finite("trend.sum", t.sum)?;
    let min = finite("trend.min", t.min)?;
    let max = finite("trend.max", t.max)?;
    let checked = match t.histogram {
        Some(h) => {
            if !t.values.is_empty() {
                return Err(refuse(
                    "trend.values",
                    "must be empty when trend.histogram is set (a trend keeps one or the other)",
                ));
            }
            let hist = Histogram::from_runs(h.zero, runs(&h.positive), runs(&h.negative))
                .map_err(|e| refuse("trend.histogram", e.to_string()))?;
            TrendSink::from_histogram(t.count, sum, min, max, hist)
        }
        None => {
            if t.values.len() > TREND_EXACT_LIMIT {
                return Err(refuse(
                    "trend.values",
                    format!(
                        "holds {} samples, more than {TREND_EXACT_LIMIT}: a larger trend travels \
                         as trend.histogram",
                        t.values.len()
                    ),
                ));
            }
            if let Some(v) = t.values.iter().find(|v| !v.is_finite()) {
                return Err(refuse(
                    "trend.values",
                    format!("holds {v}, not a finite number"),
                ));
            }
            TrendSink::from_exact(t.count, sum, min, max, t.values)
        }
    };
    checked.map_err(|e| refuse("trend", e.to_string()))
}

/// A series without a sink.
pub(crate) fn no_sink() -> SeriesError {
    refuse(
        "sink",
        "is absent: a series holds one of counter, gauge, rate or trend (batches of agent \
         protocol 2 and older carried JSON, which this controller does not read)",
    )
}

/// `bytes` of tag field `field` as text.
pub(crate) fn text<'a>(field: &'static str, bytes: &'a [u8]) -> Result<&'a str, SeriesError> {
    std::str::from_utf8(bytes).map_err(|e| refuse(field, format!("is not UTF-8: {e}")))
}

fn runs(runs: &[v1::BucketRun]) -> impl Iterator<Item = (u32, &[u64])> {
    runs.iter().map(|r| (r.start, r.counts.as_slice()))
}

impl v1::Tag {
    /// The tag `key` = `value`.
    pub fn new(key: &str, value: &str) -> v1::Tag {
        v1::Tag {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
        }
    }
}

impl v1::Series {
    /// A series of metric `metric` with tags `tags` aggregated by `sink`.
    pub fn from_sink<K: AsRef<str>, V: AsRef<str>>(
        metric: String,
        contains: ValueType,
        tags: impl IntoIterator<Item = (K, V)>,
        sink: Sink,
    ) -> v1::Series {
        v1::Series {
            metric,
            contains: v1::ValueType::from(contains) as i32,
            tags: tags
                .into_iter()
                .map(|(k, v)| v1::Tag::new(k.as_ref(), v.as_ref()))
                .collect(),
            sink: Some(sink.into()),
        }
    }

    /// The tags as texts, in the order sent; refused, naming the field, when one is not UTF-8.
    pub fn tag_pairs(&self) -> Result<Vec<(&str, &str)>, SeriesError> {
        self.tags
            .iter()
            .map(|t| Ok((text("tags.key", &t.key)?, text("tags.value", &t.value)?)))
            .collect()
    }

    /// The series' metric type and value type, and its sink; the sink is taken out of the
    /// series (left `None`). Refused, naming the field, when the sink is absent (a batch of
    /// protocol 2, whose sinks were JSON, or a damaged message) or fails its checks.
    pub fn take_sink(&mut self) -> Result<(MetricInfo, Sink), SeriesError> {
        let contains = value_type(self.contains)?;
        let wire = self.sink.take().ok_or_else(no_sink)?;
        let sink = Sink::try_from(wire)?;
        Ok((
            MetricInfo {
                mtype: sink.metric_type(),
                contains,
            },
            sink,
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use prost::Message as _;
    use volley_common::metrics::MetricType;

    use super::*;
    use crate::test_rng::Rng;

    /// Any finite value: latencies, negatives, zeros, tiny and huge magnitudes.
    fn value(rng: &mut Rng) -> f64 {
        let unit = rng.unit();
        match rng.next_u64() % 8 {
            0 => 0.0,
            1 => -unit * 1e3,
            2 => unit * 1e-300,
            3 => unit * 1e300,
            4 => (rng.next_u64() % 1000) as f64,
            _ => (unit * 12.0).exp(),
        }
    }

    fn no_tags() -> [(&'static str, &'static str); 0] {
        []
    }

    fn round_trip(sink: &Sink, contains: ValueType) -> (MetricInfo, Sink) {
        let series = v1::Series::from_sink("m".into(), contains, no_tags(), sink.clone());
        let bytes = series.encode_to_vec();
        let mut back = v1::Series::decode(bytes.as_slice()).expect("decodes");
        back.take_sink().expect("passes its checks")
    }

    /// Sink → protobuf → Sink is the identity for every kind, size and distribution (exact
    /// trends, histogram trends with both signs and zeros, empty sinks), and the merge of the
    /// decoded sinks equals the merge of the originals.
    #[test]
    fn sinks_round_trip_exactly() {
        let mut rng = Rng::new(23);
        for case in 0..300u64 {
            let ty = MetricType::ALL[(case % 4) as usize];
            let n = match case % 5 {
                0 => 0,
                1 => 1,
                2 => rng.next_u64() % 50,
                3 => TREND_EXACT_LIMIT as u64 + rng.next_u64() % 3,
                _ => rng.next_u64() % 20_000,
            };
            let mut a = Sink::new(ty);
            let mut b = Sink::new(ty);
            for i in 0..n {
                let v = value(&mut rng);
                a.add(v, rng.next_u64() % 1000);
                if i % 3 == 0 {
                    b.add(-v, i);
                }
            }
            let contains =
                [ValueType::Default, ValueType::Time, ValueType::Data][case as usize % 3];
            let (info, back) = round_trip(&a, contains);
            assert_eq!(back, a, "case {case}: {ty} of {n} samples");
            assert_eq!((info.mtype, info.contains), (ty, contains));
            let (_, back_b) = round_trip(&b, contains);
            let (mut merged, mut merged_back) = (a.clone(), back);
            merged.merge(&b).unwrap();
            merged_back.merge(&back_b).unwrap();
            assert_eq!(merged_back, merged, "case {case}: merged");
        }
    }

    /// A series as agents before the tags became a list sent it: `map<string, string> tags = 4`.
    #[derive(Clone, PartialEq, prost::Message)]
    struct MapSeries {
        #[prost(string, tag = "1")]
        metric: String,
        #[prost(map = "string, string", tag = "4")]
        tags: std::collections::HashMap<String, String>,
    }

    /// The tag list is the map on the wire, both ways; a tag that is not UTF-8 is refused
    /// naming its field.
    #[test]
    fn tags_are_the_map_on_the_wire() {
        let pairs = [
            ("status", "200"),
            ("url", "http://x/é"),
            ("", ""),
            ("k", ""),
        ];
        let old = MapSeries {
            metric: "m".into(),
            tags: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let new = v1::Series::decode(old.encode_to_vec().as_slice()).expect("decodes");
        let mut got = new.tag_pairs().expect("UTF-8");
        got.sort();
        let mut want = pairs.to_vec();
        want.sort();
        assert_eq!(got, want);
        let series = v1::Series::from_sink(
            "m".into(),
            ValueType::Default,
            pairs,
            Sink::new(MetricType::Counter),
        );
        let back = MapSeries::decode(series.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(back, old);
        let mut bad = series.clone();
        bad.tags[1].value = (&b"\xe9"[..]).into();
        let err = bad.tag_pairs().expect_err("not UTF-8");
        assert_eq!(err.field, "tags.value");
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    /// A trend on the wire (sum 1, min 0, max 1).
    pub(crate) fn trend_wire(
        count: u64,
        values: Vec<f64>,
        histogram: Option<v1::Histogram>,
    ) -> Wire {
        Wire::Trend(v1::TrendSink {
            count,
            sum: 1.0,
            min: 0.0,
            max: 1.0,
            values,
            histogram,
        })
    }

    pub(crate) fn run(start: u32, counts: &[u64]) -> v1::BucketRun {
        v1::BucketRun {
            start,
            counts: counts.to_vec(),
        }
    }

    /// A histogram on the wire with these runs of positive buckets.
    pub(crate) fn hist(positive: Vec<v1::BucketRun>) -> Option<v1::Histogram> {
        Some(v1::Histogram {
            zero: 0,
            positive,
            negative: vec![],
        })
    }

    /// Sinks no agent sends, each with the field it is refused for and what the error says.
    pub(crate) fn impossible_sinks() -> Vec<(Wire, &'static str, &'static str)> {
        vec![
            (
                Wire::Counter(v1::CounterSink {
                    sum: f64::NAN,
                    samples: 1,
                }),
                "counter.sum",
                "NaN",
            ),
            (
                Wire::Gauge(v1::GaugeSink {
                    max: f64::INFINITY,
                    set: true,
                    ..Default::default()
                }),
                "gauge.max",
                "inf",
            ),
            (
                Wire::Rate(v1::RateSink { trues: 3, total: 2 }),
                "rate.trues",
                "more than rate.total 2",
            ),
            (
                trend_wire(1025, vec![0.5; 1025], None),
                "trend.values",
                "more than 1024",
            ),
            (
                trend_wire(2, vec![0.5, f64::NAN], None),
                "trend.values",
                "NaN",
            ),
            (trend_wire(3, vec![0.5], None), "trend", "count 3"),
            (
                trend_wire(1, vec![0.5], hist(vec![run(1, &[1])])),
                "trend.values",
                "must be empty",
            ),
            (
                trend_wire(1, vec![], hist(vec![run(u32::MAX - 1, &[1])])),
                "trend.histogram",
                "goes past the last bucket",
            ),
            (
                trend_wire(2, vec![], hist(vec![run(10, &[1, 0]), run(11, &[1])])),
                "trend.histogram",
                "overlaps",
            ),
            (
                trend_wire(3, vec![], hist(vec![run(10, &[u64::MAX]), run(20, &[2])])),
                "trend.histogram",
                "more than 2^64",
            ),
            (
                trend_wire(5, vec![], hist(vec![run(10, &[1])])),
                "trend",
                "count 5 but stores 1",
            ),
        ]
    }

    /// Each impossible series is refused naming its field.
    #[test]
    fn bad_series_are_refused_naming_the_field() {
        let cases = impossible_sinks();
        for (wire, field, says) in cases {
            let mut series = v1::Series {
                metric: "m".into(),
                contains: v1::ValueType::Default as i32,
                tags: Vec::new(),
                sink: Some(wire.clone()),
            };
            let err = series.take_sink().expect_err(field);
            assert_eq!(err.field, field, "{wire:?}: {err}");
            assert!(err.to_string().contains(says), "{err}");
        }
        let mut no_sink = v1::Series {
            contains: v1::ValueType::Time as i32,
            ..Default::default()
        };
        assert_eq!(no_sink.take_sink().unwrap_err().field, "sink");
        let mut bad_type = v1::Series::from_sink(
            "m".into(),
            ValueType::Time,
            no_tags(),
            Sink::new(MetricType::Counter),
        );
        bad_type.contains = 0;
        assert_eq!(bad_type.take_sink().unwrap_err().field, "contains");
        bad_type.contains = 9;
        assert_eq!(bad_type.take_sink().unwrap_err().field, "contains");
    }
}
