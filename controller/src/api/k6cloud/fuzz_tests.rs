//! Property tests ("fuzz targets", proptest) for what the network feeds the controller:
//! `k6 run --out cloud` metric pushes (snappy, protobuf, trend histograms: [`super::pushes`]),
//! the agents' protobuf messages and what the controller does with them (registration and
//! heartbeat checks, metric merging), and the Raft peers' batches. Each property: never a
//! panic; the output is bounded by the input (what a push or batch can make the controller
//! hold); an error names what it refused. Fixed seed and case count (fast in CI); see
//! `common/tests/fuzz.rs` for the parsers of scripts and archives, and docs/security.md#fuzzing.

use proptest::prelude::*;
use volley_proto::cloud_push::{
    self as cp, series::Periods, BucketRun, CounterPeriod, CounterPeriods, GaugePeriod,
    GaugePeriods, Histogram, Histograms, PeriodStart, Push, PushedMetric, RatePeriod, RatePeriods,
    Tag,
};
use volley_proto::Message as _;

use super::pushes::{decompress, to_batch, PushError};

const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: None,
        rng_seed: match std::env::var("PROPTEST_RNG_SEED") {
            Ok(_) => ProptestConfig::default().rng_seed,
            Err(_) => proptest::test_runner::RngSeed::Fixed(0x5ec_f022),
        },
        ..ProptestConfig::default()
    }
}

/// Numbers a forged push would try: huge, tiny, negative, not finite.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6..1e6f64,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MAX),
        Just(-0.0),
        Just(1e-300),
        any::<f64>(),
    ]
}

fn start() -> impl Strategy<Value = Option<PeriodStart>> {
    prop::option::of(
        (prop_oneof![0..2_000_000_000i64, any::<i64>()], any::<i32>()).prop_map(
            |(unix_seconds, nanoseconds)| PeriodStart {
                unix_seconds,
                nanoseconds,
            },
        ),
    )
}

fn histogram() -> impl Strategy<Value = Histogram> {
    (
        start(),
        prop::collection::vec(any::<u32>(), 0..8),
        prop::collection::vec(
            (
                prop_oneof![0..300u32, any::<u32>()],
                prop_oneof![0..8u32, any::<u32>()],
            )
                .prop_map(|(skip, len)| BucketRun { skip, len }),
            0..4,
        ),
        (number(), any::<u32>(), number(), number()),
        (
            any::<u32>(),
            any::<u32>(),
            prop_oneof![Just(0.001), number()],
        ),
    )
        .prop_map(
            |(
                start,
                bucket_counts,
                runs,
                (sum, samples, lowest, highest),
                (below, beyond, res),
            )| {
                Histogram {
                    start,
                    bucket_counts,
                    runs,
                    sum,
                    samples,
                    lowest,
                    highest,
                    below_zero: below,
                    beyond_range: beyond,
                    resolution: res,
                }
            },
        )
}

fn periods() -> impl Strategy<Value = Option<Periods>> {
    prop::option::of(prop_oneof![
        prop::collection::vec((start(), number()), 0..4).prop_map(|p| Periods::Counter(
            CounterPeriods {
                periods: p
                    .into_iter()
                    .map(|(start, sum)| CounterPeriod { start, sum })
                    .collect()
            }
        )),
        prop::collection::vec((start(), number(), any::<u32>(), number()), 0..4).prop_map(|p| {
            Periods::Gauge(GaugePeriods {
                periods: p
                    .into_iter()
                    .map(|(start, last, samples, x)| GaugePeriod {
                        start,
                        last,
                        samples,
                        lowest: x,
                        highest: last,
                        mean: x,
                    })
                    .collect(),
            })
        }),
        prop::collection::vec((start(), any::<u32>(), any::<u32>()), 0..4).prop_map(|p| {
            Periods::Rate(RatePeriods {
                periods: p
                    .into_iter()
                    .map(|(start, trues, total)| RatePeriod {
                        start,
                        trues,
                        total,
                    })
                    .collect(),
            })
        }),
        prop::collection::vec(histogram(), 0..3)
            .prop_map(|periods| Periods::Trend(Histograms { periods })),
    ])
}

fn push() -> impl Strategy<Value = Push> {
    (
        prop_oneof![Just("7".to_string()), "[0-9a-z]{0,4}"],
        any::<u32>(),
        prop::collection::vec(
            (
                prop_oneof!["[a-z_]{1,12}", ".{0,140}"],
                0..6i32,
                prop::collection::vec(
                    (
                        prop::collection::vec(("[a-z]{0,6}", ".{0,8}"), 0..3),
                        periods(),
                    ),
                    0..3,
                ),
            ),
            0..4,
        ),
    )
        .prop_map(|(run_ref, period_seconds, metrics)| Push {
            run_ref,
            period_seconds,
            metrics: metrics
                .into_iter()
                .map(|(name, kind, series)| PushedMetric {
                    name,
                    kind,
                    series: series
                        .into_iter()
                        .map(|(tags, periods)| cp::Series {
                            tags: tags
                                .into_iter()
                                .map(|(key, value)| Tag { key, value })
                                .collect(),
                            periods,
                        })
                        .collect(),
                })
                .collect(),
        })
}

/// Typed sinks a forged agent batch would carry: any numbers and counts, trends whose count
/// matches what they store or not, histogram runs anywhere in (or past) the bucket range.
fn wire_sink() -> impl Strategy<Value = volley_proto::series::Sink> {
    use volley_proto as pb;
    use volley_proto::series::Sink as W;
    let count = || prop_oneof![0..10u64, any::<u64>()];
    let runs = prop::collection::vec(
        (
            prop_oneof![0..4096u32, 2_090_000..2_100_000u32, any::<u32>()],
            prop::collection::vec(count(), 0..6),
        )
            .prop_map(|(start, counts)| pb::BucketRun { start, counts }),
        0..4,
    );
    let histogram =
        (count(), runs.clone(), runs).prop_map(|(zero, positive, negative)| pb::Histogram {
            zero,
            positive,
            negative,
        });
    let trend = (
        (number(), number(), number()),
        prop::collection::vec(number(), 0..8),
        prop::option::of(histogram),
        prop_oneof![Just(None), count().prop_map(Some)],
    )
        .prop_map(|((sum, min, max), values, histogram, count)| {
            // Mostly the count the trend stores, so that valid trends are tried too.
            let stored = histogram.as_ref().map_or(values.len() as u64, |h| {
                h.positive
                    .iter()
                    .chain(&h.negative)
                    .flat_map(|r| &r.counts)
                    .fold(h.zero, |a, b| a.wrapping_add(*b))
            });
            W::Trend(pb::TrendSink {
                count: count.unwrap_or(stored),
                sum,
                min,
                max,
                values,
                histogram,
            })
        });
    prop_oneof![
        (number(), count()).prop_map(|(sum, samples)| W::Counter(pb::CounterSink { sum, samples })),
        (number(), number(), number(), any::<u64>(), any::<bool>()).prop_map(
            |(value, min, max, time_ns, set)| W::Gauge(pb::GaugeSink {
                value,
                min,
                max,
                time_ns,
                set
            })
        ),
        (count(), count()).prop_map(|(trues, total)| W::Rate(pb::RateSink { trues, total })),
        trend,
    ]
}

/// What a batch makes the controller hold: its series' bytes.
fn held(batch: &volley_proto::MetricBatch) -> usize {
    batch.series.encoded().iter().map(|s| s.len()).sum()
}

proptest! {
    #![proptest_config(config())]

    /// A push of any shape: decoded or refused naming the metric, never a panic; the batch's
    /// size is bounded by the push's (a histogram's runs cannot make it allocate buckets it
    /// does not carry); every sink it makes decodes again.
    #[test]
    fn cloud_pushes(p in push()) {
        let raw = p.encode_to_vec();
        match to_batch(&raw, 7) {
            Ok(batch) => {
                prop_assert!(
                    held(&batch) <= 64 * 1024 + 256 * raw.len(),
                    "{} bytes held from a push of {}", held(&batch), raw.len()
                );
                for mut s in batch.series.decode().unwrap() {
                    let decoded = s.take_sink();
                    prop_assert!(decoded.is_ok(), "{decoded:?}");
                }
            }
            Err(PushError::Metric { metric, why }) => {
                prop_assert!(p.metrics.iter().any(|m| volley_common::text::echo(&m.name).contains(metric.as_str()) || m.name == metric), "{metric}: {why}");
            }
            Err(_) => {}
        }
    }

    /// Snappy bodies: random, or a push compressed then damaged. Never a panic, never more
    /// than the limit decompressed.
    #[test]
    fn snappy_bodies(
        p in push(),
        junk in prop::collection::vec(any::<u8>(), 0..512),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let mut packed = snap::raw::Encoder::new().compress_vec(&p.encode_to_vec()).unwrap();
        for (at, b) in flips {
            if !packed.is_empty() {
                let i = at.index(packed.len());
                packed[i] = b;
            }
        }
        for body in [&packed, &junk] {
            if let Ok(raw) = decompress(body, true, 4096) {
                prop_assert!(raw.len() <= 4096);
                let _ = to_batch(&raw, 7);
            }
        }
    }

    /// The agents' stream: any bytes, and agent messages with bytes changed, decode or fail;
    /// what decodes goes through the controller's checks (registration, telemetry) and metric
    /// merge without a panic, and a refusal names its field.
    #[test]
    fn agent_messages(
        junk in prop::collection::vec(any::<u8>(), 0..512),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cpu in number(),
        vus in any::<i64>(),
        sink in wire_sink(),
    ) {
        use volley_proto as pb;
        let heartbeat = pb::AgentMessage {
            version: pb::PROTOCOL_VERSION,
            body: Some(pb::agent_message::Body::Heartbeat(pb::Heartbeat {
                cpu_percent: cpu,
                active_vus: vus,
                ..Default::default()
            })),
        };
        let batch = pb::AgentMessage {
            version: pb::PROTOCOL_VERSION,
            body: Some(pb::agent_message::Body::Metrics(pb::MetricBatch {
                run_id: 1,
                end_unix_ms: u64::MAX,
                series: vec![
                    pb::Series {
                        metric: "vus".into(),
                        contains: pb::ValueType::Default as i32,
                        sink: Some(sink.clone()),
                        ..Default::default()
                    },
                    pb::Series {
                        metric: "http_reqs".into(),
                        contains: pb::ValueType::Default as i32,
                        sink: Some(sink.clone()),
                        ..Default::default()
                    },
                ].into(),
                ..Default::default()
            })),
        };
        let mut inputs = vec![junk];
        for m in [heartbeat, batch] {
            let mut bytes = m.encode_to_vec();
            inputs.push(bytes.clone());
            for &(at, b) in &flips {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            inputs.push(bytes);
        }
        for bytes in inputs {
            let Ok(m) = pb::AgentMessage::decode(bytes.as_slice()) else { continue };
            match m.body {
                Some(pb::agent_message::Body::Register(r)) => {
                    if let Err(why) = crate::registry::check_register(&r) {
                        prop_assert!(why.contains("cpus") || why.contains("memory") || why.contains("max_vus"), "{why}");
                    }
                }
                Some(pb::agent_message::Body::Heartbeat(h)) => {
                    if let Err(why) = crate::registry::check_telemetry(&h) {
                        prop_assert!(why.split_whitespace().next().is_some_and(|f| f.contains('_') || f == "cpus"), "{why}");
                    }
                }
                Some(pb::agent_message::Body::Metrics(b)) => {
                    let mut live = crate::run::merge::LiveData::default();
                    let mut gauges = crate::run::merge::AgentGauges::default();
                    crate::run::merge::merge_batch(&mut live, &mut gauges, "a", b, 1000);
                    prop_assert!(live.timeline.len() <= crate::run::merge::MAX_INTERVALS);
                }
                _ => {}
            }
        }
    }

    /// A typed sink of any content is taken (and then travels back unchanged: encoding the
    /// decoded sink and decoding it again gives the same sink) or refused naming a field of
    /// `proto/volley.proto`; never a panic.
    #[test]
    fn typed_sinks(sink in wire_sink()) {
        use volley_proto as pb;
        let series = |sink| pb::Series {
            metric: "m".into(),
            contains: pb::ValueType::Time as i32,
            sink: Some(sink),
            ..Default::default()
        };
        match series(sink).take_sink() {
            Ok((_, decoded)) => {
                let again = series(pb::series::Sink::from(decoded.clone())).take_sink();
                prop_assert_eq!(again.map(|(_, s)| s), Ok(decoded));
            }
            Err(e) => {
                const FIELDS: &[&str] = &[
                    "counter.sum", "gauge.value", "gauge.min", "gauge.max", "rate.trues",
                    "trend", "trend.sum", "trend.min", "trend.max", "trend.values",
                    "trend.histogram",
                ];
                prop_assert!(FIELDS.contains(&e.field), "{e}");
            }
        }
    }

    /// Raft batches from a peer: any bytes as messages, or Raft messages damaged, are
    /// delivered or refused naming the message, never a panic.
    #[test]
    fn raft_batches(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..4),
        term in any::<u64>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        use protobuf::Message as _;
        use volley_proto::raft::{RaftBatch, RAFT_PROTOCOL_VERSION};
        let mut good = raft::eraftpb::Message::default();
        good.set_msg_type(raft::eraftpb::MessageType::MsgAppend);
        good.from = 1;
        good.to = 2;
        good.term = term;
        let entry = raft::eraftpb::Entry {
            data: vec![1, 2, 3].into(),
            ..Default::default()
        };
        good.entries = vec![entry].into();
        let mut damaged = good.write_to_bytes().unwrap();
        for (at, b) in flips {
            let i = at.index(damaged.len());
            damaged[i] = b;
        }
        let mut all = messages;
        all.push(damaged);
        let batch = RaftBatch {
            version: RAFT_PROTOCOL_VERSION,
            from: 1,
            to: 2,
            messages: all,
            api: String::new(),
        };
        if let Err(status) = crate::replication::transport::decode_batch(2, &batch) {
            prop_assert!(status.message().starts_with("message "), "{}", status.message());
        }
    }
}
