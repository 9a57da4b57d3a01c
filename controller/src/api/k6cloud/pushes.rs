//! One metric push of `k6 run --out cloud` (`POST /v2/metrics/{id}`) turned into a Volley
//! [`MetricBatch`]: the snappy block is decompressed within a bound, the protobuf
//! (`proto/cloud_push.proto`) decoded, and each time series' aggregation periods merged into one
//! sink per (metric, tag set) — the same batches `volley run --out cloud` streams, so the run
//! machine merges them as it merges any ([ARCHITECTURE.md](../../../../ARCHITECTURE.md)).
//! Trends arrive as k6's histograms ([`super::trend`]).

use volley_common::metrics::{CounterSink, GaugeSink, MetricType, RateSink, Sink, ValueType};
use volley_proto::cloud_push::{self as pb, series::Periods};
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
    let set = pb::Push::decode(raw).map_err(|e| PushError::Protobuf(e.to_string()))?;
    if !set.run_ref.is_empty() && set.run_ref != run_id.to_string() {
        return Err(PushError::WrongRun {
            sent: volley_common::text::echo(&set.run_ref).into_owned(),
            run: run_id,
        });
    }
    let period_ms = u64::from(set.period_seconds.max(1)) * 1000;
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
        let mtype = metric_type(m.kind).ok_or_else(|| bad(format!("unknown type {}", m.kind)))?;
        for ts in &m.series {
            let (sink, times) = series_sink(mtype, ts.periods.as_ref()).map_err(&bad)?;
            for t in times {
                first_ms = first_ms.min(t);
                last_ms = last_ms.max(t);
            }
            let tags = ts.tags.iter().map(|l| (&l.key, &l.value));
            series.push(Series::from_sink(
                m.name.clone(),
                value_type(&m.name, mtype),
                tags,
                sink,
            ));
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
        series: series.into(),
    })
}

fn metric_type(t: i32) -> Option<MetricType> {
    match pb::Kind::try_from(t).ok()? {
        pb::Kind::Counter => Some(MetricType::Counter),
        pb::Kind::Gauge => Some(MetricType::Gauge),
        pb::Kind::Rate => Some(MetricType::Rate),
        pb::Kind::Trend => Some(MetricType::Trend),
        pb::Kind::Unknown => None,
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
fn unix_ms(t: Option<&pb::PeriodStart>) -> u64 {
    t.map(|t| {
        let s = u64::try_from(t.unix_seconds).unwrap_or(0);
        let ns = u64::try_from(t.nanoseconds).unwrap_or(0);
        s.saturating_mul(1000).saturating_add(ns / 1_000_000)
    })
    .unwrap_or(0)
}

fn unix_ns(t: Option<&pb::PeriodStart>) -> u64 {
    t.map(|t| {
        let s = u64::try_from(t.unix_seconds).unwrap_or(0);
        let ns = u64::try_from(t.nanoseconds).unwrap_or(0);
        s.saturating_mul(1_000_000_000).saturating_add(ns)
    })
    .unwrap_or(0)
}

/// One time series' periods merged into one sink, with the periods' start times.
fn series_sink(mtype: MetricType, periods: Option<&Periods>) -> Result<(Sink, Vec<u64>), String> {
    let mut times = Vec::new();
    let sink = match (mtype, periods) {
        (MetricType::Counter, Some(Periods::Counter(c))) => {
            let mut sink = CounterSink::new();
            for v in &c.periods {
                times.push(unix_ms(v.start.as_ref()));
                sink.add(v.sum);
            }
            Sink::Counter(sink)
        }
        (MetricType::Gauge, Some(Periods::Gauge(g))) => {
            let mut sink = GaugeSink::new();
            for v in &g.periods {
                times.push(unix_ms(v.start.as_ref()));
                if !(v.last.is_finite() && v.lowest.is_finite() && v.highest.is_finite()) {
                    continue;
                }
                sink.merge(&GaugeSink {
                    value: v.last,
                    min: v.lowest,
                    max: v.highest,
                    time_ns: unix_ns(v.start.as_ref()),
                    set: true,
                });
            }
            Sink::Gauge(sink)
        }
        (MetricType::Rate, Some(Periods::Rate(r))) => {
            let mut sink = RateSink::new();
            for v in &r.periods {
                times.push(unix_ms(v.start.as_ref()));
                if v.trues > v.total {
                    return Err(format!(
                        "a rate period counts {} true samples out of only {}",
                        v.trues, v.total
                    ));
                }
                sink.merge(&RateSink {
                    trues: u64::from(v.trues),
                    total: u64::from(v.total),
                });
            }
            Sink::Rate(sink)
        }
        (MetricType::Trend, Some(Periods::Trend(t))) => {
            let mut sink = volley_common::metrics::TrendSink::new();
            for v in &t.periods {
                times.push(unix_ms(v.start.as_ref()));
                sink.merge(&trend_sink(v).map_err(|e| format!("a trend period: {e}"))?);
            }
            Sink::Trend(sink)
        }
        (t, None) => return Err(format!("a {t} series without periods")),
        (t, Some(_)) => return Err(format!("a {t} series with another kind's periods")),
    };
    Ok((sink, times))
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_proto::cloud_push::{
        CounterPeriod, CounterPeriods, PeriodStart, Push, PushedMetric, RatePeriod, RatePeriods,
        Series as PbSeries, Tag,
    };
    use volley_proto::Message as _;

    fn at(unix_seconds: i64) -> Option<PeriodStart> {
        Some(PeriodStart {
            unix_seconds,
            nanoseconds: 0,
        })
    }

    fn set() -> Push {
        Push {
            run_ref: "7".into(),
            period_seconds: 1,
            metrics: vec![
                PushedMetric {
                    name: "http_reqs".into(),
                    kind: pb::Kind::Counter as i32,
                    series: vec![PbSeries {
                        tags: vec![
                            Tag {
                                key: "method".into(),
                                value: "GET".into(),
                            },
                            Tag {
                                key: "group".into(),
                                value: String::new(),
                            },
                        ],
                        periods: Some(Periods::Counter(CounterPeriods {
                            periods: vec![
                                CounterPeriod {
                                    start: at(100),
                                    sum: 3.0,
                                },
                                CounterPeriod {
                                    start: at(101),
                                    sum: 4.0,
                                },
                            ],
                        })),
                    }],
                },
                PushedMetric {
                    name: "checks".into(),
                    kind: pb::Kind::Rate as i32,
                    series: vec![PbSeries {
                        tags: vec![],
                        periods: Some(Periods::Rate(RatePeriods {
                            periods: vec![RatePeriod {
                                start: at(101),
                                trues: 2,
                                total: 5,
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
        let mut series = batch.series.decode().unwrap();
        let reqs = &mut series[0];
        assert_eq!(reqs.metric, "http_reqs");
        let tags = reqs.tag_pairs().unwrap();
        assert!(tags.contains(&("method", "GET")), "{tags:?}");
        assert!(tags.contains(&("group", "")), "{tags:?}");
        match reqs.take_sink().unwrap() {
            (_, Sink::Counter(c)) => assert_eq!(c.count(), 7.0),
            other => panic!("not a counter: {other:?}"),
        }
        match series[1].take_sink().unwrap() {
            (_, Sink::Rate(r)) => assert_eq!((r.trues, r.total), (2, 5)),
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
        s.metrics[1].kind = pb::Kind::Counter as i32;
        let e = to_batch(&s.encode_to_vec(), 7).unwrap_err();
        assert!(e.to_string().contains("metric `checks`"), "{e}");
        let mut s = set();
        if let Some(Periods::Rate(r)) = &mut s.metrics[1].series[0].periods {
            r.periods[0].trues = 9;
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
