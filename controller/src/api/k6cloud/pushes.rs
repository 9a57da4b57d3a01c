//! One metric push of `k6 run --out cloud` (`POST /v2/metrics/{id}`) turned into a Volley
//! [`MetricBatch`]: the snappy block is decompressed within a bound, the protobuf
//! (`proto/k6_metrics.proto`) decoded, and each time series' aggregation periods merged into one
//! sink per (metric, tag set) — the same batches `volley run --out cloud` streams, so the run
//! machine merges them as it merges any ([ARCHITECTURE.md](../../../../ARCHITECTURE.md)).
//! Trends arrive as k6's histograms ([`super::trend`]).

use volley_common::metrics::{CounterSink, GaugeSink, MetricType, RateSink, Sink, ValueType};
use volley_proto::k6::{self, time_series::Samples};
use volley_proto::{MetricBatch, Series};

use super::trend::trend_sink;

/// Longest metric name accepted (k6's own limit).
const MAX_NAME_LEN: usize = 128;

/// Why a push was refused; each names what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PushError {
    #[error("the body is not snappy-compressed (block format) data: {0}")]
    Snappy(String),
    #[error("the body decompresses to {claimed} bytes, more than the limit of {limit} bytes")]
    TooLarge { claimed: usize, limit: usize },
    #[error("the body is not a protobuf k6 metric set (metrics protocol 2.0): {0}")]
    Protobuf(String),
    #[error("the push is for test run `{sent}` but was sent to run {run}")]
    WrongRun { sent: String, run: u64 },
    #[error("metric `{metric}`: {why}")]
    Metric { metric: String, why: String },
}

/// Decompresses a push body (`Content-Encoding: snappy`) of at most `limit` bytes once
/// decompressed; `snappy: false` for an uncompressed body.
pub fn decompress(body: &[u8], snappy: bool, limit: usize) -> Result<Vec<u8>, PushError> {
    if !snappy {
        return Ok(body.to_vec());
    }
    let claimed = snap::raw::decompress_len(body).map_err(|e| PushError::Snappy(e.to_string()))?;
    if claimed > limit {
        return Err(PushError::TooLarge { claimed, limit });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| PushError::Snappy(e.to_string()))
}

/// Decodes a decompressed push for run `run_id` into a batch (its `seq` is set by the
/// controller when it takes it in).
pub fn to_batch(raw: &[u8], run_id: u64) -> Result<MetricBatch, PushError> {
    use volley_proto::Message as _;
    let set = k6::MetricSet::decode(raw).map_err(|e| PushError::Protobuf(e.to_string()))?;
    if !set.reference_id.is_empty() && set.reference_id != run_id.to_string() {
        return Err(PushError::WrongRun {
            sent: volley_common::text::echo(&set.reference_id).into_owned(),
            run: run_id,
        });
    }
    let period_ms = u64::from(set.aggregation_period.max(1)) * 1000;
    let (mut first_ms, mut last_ms) = (u64::MAX, 0u64);
    let mut series = Vec::new();
    for m in &set.metrics {
        let bad = |why: String| PushError::Metric {
            metric: volley_common::text::echo(&m.name).into_owned(),
            why,
        };
        if m.name.is_empty() || m.name.len() > MAX_NAME_LEN {
            return Err(bad(format!(
                "a metric name must have 1 to {MAX_NAME_LEN} bytes"
            )));
        }
        let mtype =
            metric_type(m.r#type).ok_or_else(|| bad(format!("unknown type {}", m.r#type)))?;
        for ts in &m.time_series {
            let (sink, times) = series_sink(mtype, ts.samples.as_ref()).map_err(&bad)?;
            for t in times {
                first_ms = first_ms.min(t);
                last_ms = last_ms.max(t);
            }
            let sink_json = serde_json::to_vec(&sink).map_err(|e| bad(e.to_string()))?;
            series.push(Series {
                metric: m.name.clone(),
                metric_type: mtype.to_string(),
                contains: value_type(&m.name, mtype).to_string(),
                tags: ts
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect(),
                sink_json,
            });
        }
    }
    if first_ms == u64::MAX {
        first_ms = 0;
    }
    Ok(MetricBatch {
        run_id,
        seq: 0,
        start_unix_ms: first_ms,
        end_unix_ms: last_ms.saturating_add(period_ms),
        series,
    })
}

fn metric_type(t: i32) -> Option<MetricType> {
    match k6::MetricType::try_from(t).ok()? {
        k6::MetricType::Counter => Some(MetricType::Counter),
        k6::MetricType::Gauge => Some(MetricType::Gauge),
        k6::MetricType::Rate => Some(MetricType::Rate),
        k6::MetricType::Trend => Some(MetricType::Trend),
        k6::MetricType::Unspecified => None,
    }
}

/// What a k6 metric's values are: k6 does not send it, so it comes from the built-in metric's
/// name (durations in ms, byte counts); custom metrics are plain numbers.
fn value_type(name: &str, mtype: MetricType) -> ValueType {
    const TIME: &[&str] = &[
        "iteration_duration",
        "group_duration",
        "ws_connecting",
        "ws_session_duration",
        "ws_ping",
        "grpc_req_duration",
    ];
    match (name, mtype) {
        ("data_sent" | "data_received" | "ws_msgs_sent_bytes", MetricType::Counter) => {
            ValueType::Data
        }
        (n, MetricType::Trend) if n.starts_with("http_req_") || TIME.contains(&n) => {
            ValueType::Time
        }
        _ => ValueType::Default,
    }
}

/// Milliseconds since the Unix epoch of a period's start (0 when absent or negative).
fn unix_ms(t: Option<&k6::Timestamp>) -> u64 {
    t.map(|t| {
        let s = u64::try_from(t.seconds).unwrap_or(0);
        let ns = u64::try_from(t.nanos).unwrap_or(0);
        s.saturating_mul(1000).saturating_add(ns / 1_000_000)
    })
    .unwrap_or(0)
}

fn unix_ns(t: Option<&k6::Timestamp>) -> u64 {
    t.map(|t| {
        let s = u64::try_from(t.seconds).unwrap_or(0);
        let ns = u64::try_from(t.nanos).unwrap_or(0);
        s.saturating_mul(1_000_000_000).saturating_add(ns)
    })
    .unwrap_or(0)
}

/// One time series' periods merged into one sink, with the periods' start times.
fn series_sink(mtype: MetricType, samples: Option<&Samples>) -> Result<(Sink, Vec<u64>), String> {
    let mut times = Vec::new();
    let sink = match (mtype, samples) {
        (MetricType::Counter, Some(Samples::CounterSamples(c))) => {
            let mut sink = CounterSink::new();
            for v in &c.values {
                times.push(unix_ms(v.time.as_ref()));
                sink.add(v.value);
            }
            Sink::Counter(sink)
        }
        (MetricType::Gauge, Some(Samples::GaugeSamples(g))) => {
            let mut sink = GaugeSink::new();
            for v in &g.values {
                times.push(unix_ms(v.time.as_ref()));
                if !(v.last.is_finite() && v.min.is_finite() && v.max.is_finite()) {
                    continue;
                }
                sink.merge(&GaugeSink {
                    value: v.last,
                    min: v.min,
                    max: v.max,
                    time_ns: unix_ns(v.time.as_ref()),
                    set: true,
                });
            }
            Sink::Gauge(sink)
        }
        (MetricType::Rate, Some(Samples::RateSamples(r))) => {
            let mut sink = RateSink::new();
            for v in &r.values {
                times.push(unix_ms(v.time.as_ref()));
                if v.nonzero_count > v.total_count {
                    return Err(format!(
                        "a rate period has nonzero_count {} above total_count {}",
                        v.nonzero_count, v.total_count
                    ));
                }
                sink.merge(&RateSink {
                    trues: u64::from(v.nonzero_count),
                    total: u64::from(v.total_count),
                });
            }
            Sink::Rate(sink)
        }
        (MetricType::Trend, Some(Samples::TrendHdrSamples(t))) => {
            let mut sink = volley_common::metrics::TrendSink::new();
            for v in &t.values {
                times.push(unix_ms(v.time.as_ref()));
                sink.merge(&trend_sink(v).map_err(|e| format!("a trend period: {e}"))?);
            }
            Sink::Trend(sink)
        }
        (t, None) => return Err(format!("a {t} time series without samples")),
        (t, Some(_)) => return Err(format!("a {t} time series with another type's samples")),
    };
    Ok((sink, times))
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_proto::k6::{
        CounterSamples, CounterValue, Label, Metric, MetricSet, RateSamples, RateValue, TimeSeries,
        Timestamp,
    };
    use volley_proto::Message as _;

    fn at(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos: 0 })
    }

    fn set() -> MetricSet {
        MetricSet {
            reference_id: "7".into(),
            aggregation_period: 1,
            metrics: vec![
                Metric {
                    name: "http_reqs".into(),
                    r#type: k6::MetricType::Counter as i32,
                    time_series: vec![TimeSeries {
                        labels: vec![
                            Label {
                                name: "method".into(),
                                value: "GET".into(),
                            },
                            Label {
                                name: "group".into(),
                                value: String::new(),
                            },
                        ],
                        samples: Some(Samples::CounterSamples(CounterSamples {
                            values: vec![
                                CounterValue {
                                    time: at(100),
                                    value: 3.0,
                                },
                                CounterValue {
                                    time: at(101),
                                    value: 4.0,
                                },
                            ],
                        })),
                    }],
                },
                Metric {
                    name: "checks".into(),
                    r#type: k6::MetricType::Rate as i32,
                    time_series: vec![TimeSeries {
                        labels: vec![],
                        samples: Some(Samples::RateSamples(RateSamples {
                            values: vec![RateValue {
                                time: at(101),
                                nonzero_count: 2,
                                total_count: 5,
                            }],
                        })),
                    }],
                },
            ],
        }
    }

    #[test]
    fn a_push_becomes_one_series_per_tag_set_with_its_periods_merged() {
        let raw = set().encode_to_vec();
        let packed = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        let batch = to_batch(&decompress(&packed, true, 1 << 20).unwrap(), 7).unwrap();
        assert_eq!((batch.start_unix_ms, batch.end_unix_ms), (100_000, 102_000));
        assert_eq!(batch.series.len(), 2);
        let reqs = &batch.series[0];
        assert_eq!(
            (reqs.metric.as_str(), reqs.metric_type.as_str()),
            ("http_reqs", "counter")
        );
        assert_eq!(reqs.tags.get("method").map(String::as_str), Some("GET"));
        assert_eq!(reqs.tags.get("group").map(String::as_str), Some(""));
        match serde_json::from_slice::<Sink>(&reqs.sink_json).unwrap() {
            Sink::Counter(c) => assert_eq!(c.count(), 7.0),
            other => panic!("not a counter: {other:?}"),
        }
        match serde_json::from_slice::<Sink>(&batch.series[1].sink_json).unwrap() {
            Sink::Rate(r) => assert_eq!((r.trues, r.total), (2, 5)),
            other => panic!("not a rate: {other:?}"),
        }
    }

    #[test]
    fn bad_pushes_are_refused_with_what_is_wrong() {
        let raw = set().encode_to_vec();
        assert!(matches!(to_batch(&raw, 8), Err(PushError::WrongRun { .. })));
        assert!(matches!(
            decompress(b"not snappy at all", true, 1 << 20),
            Err(PushError::Snappy(_))
        ));
        let big = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 4096])
            .unwrap();
        assert!(matches!(
            decompress(&big, true, 1024),
            Err(PushError::TooLarge {
                claimed: 4096,
                limit: 1024
            })
        ));
        assert!(matches!(
            to_batch(b"\xff\xff\xff", 7),
            Err(PushError::Protobuf(_))
        ));
        let mut s = set();
        s.metrics[1].r#type = k6::MetricType::Counter as i32;
        let e = to_batch(&s.encode_to_vec(), 7).unwrap_err();
        assert!(e.to_string().contains("metric `checks`"), "{e}");
        let mut s = set();
        if let Some(Samples::RateSamples(r)) = &mut s.metrics[1].time_series[0].samples {
            r.values[0].nonzero_count = 9;
        }
        assert!(to_batch(&s.encode_to_vec(), 7).is_err());
    }

    #[test]
    fn built_in_durations_and_byte_counts_keep_their_units() {
        assert_eq!(
            value_type("http_req_waiting", MetricType::Trend),
            ValueType::Time
        );
        assert_eq!(
            value_type("iteration_duration", MetricType::Trend),
            ValueType::Time
        );
        assert_eq!(
            value_type("data_sent", MetricType::Counter),
            ValueType::Data
        );
        assert_eq!(
            value_type("my_trend", MetricType::Trend),
            ValueType::Default
        );
    }
}
