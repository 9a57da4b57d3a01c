//! Exact merging of the metric batches agents send: every series into the run's store, the key
//! metrics into a per-interval timeline, every metric into its points over time
//! (`metric_series.rs`; each series of a batch is read once, in place, for all three), and the gauges
//! that count something split across agents (`vus`, `vus_max`) kept per agent so the cluster
//! value is their sum.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use volley_common::metrics::store::{MetricInfo, SeriesStore};
use volley_common::metrics::{GaugeSink, MetricType, Sink, TagSet, ValueType};
use volley_proto as pb;

use super::metric_series::MetricTimeline;
use super::series_keys::SeriesKeys;

/// Live data of a run (read by the API while the run's task writes it; kept for a while after
/// the run ends so utilization and series stay available).
#[derive(Default)]
pub struct LiveData {
    pub series: SeriesStore,
    pub utilization: BTreeMap<String, super::utilization_log::AgentLog>,
    pub started: Option<Instant>,
    /// Merged key metrics per interval (by the interval's end, rounded to the interval),
    /// bounded to [`MAX_INTERVALS`]: one untagged series per metric (each merged over all the
    /// tag sets it was sent with), as every reader asks for.
    pub timeline: BTreeMap<u64, SeriesStore>,
    /// Each agent's `vus` per interval of the timeline (same keys and bound): the cluster's
    /// VUs of an interval are their sum (the dashboard's VU chart).
    pub vus_timeline: BTreeMap<u64, BTreeMap<String, f64>>,
    /// The metrics interval the timeline's buckets are made of (0 before the first batch).
    pub step_ms: u64,
    pub ended: Option<Instant>,
    /// Every metric's (and each threshold's submetric's) points over the run, downsampled
    /// (the dashboard's "any metric" chart).
    pub metric_series: MetricTimeline,
    /// The batches' (metric, tag set) pairs, each resolved once.
    pub keys: SeriesKeys,
    /// The empty tag set (the timeline's series), made once.
    untagged: TagSet,
    /// Reads the batches' series in place.
    reader: pb::SeriesReader,
}

/// Intervals kept per run (an hour at 1 s).
pub const MAX_INTERVALS: usize = 3600;

/// The metrics kept per interval in the timeline.
const TIMELINE_METRICS: &[&str] = &[
    "http_reqs",
    "http_req_duration",
    "http_req_failed",
    "iterations",
    "checks",
    "data_sent",
    "data_received",
    "dropped_iterations",
];

/// Gauges that count something split across agents, so the cluster value is the sum.
const SUMMED_GAUGES: &[&str] = &["vus", "vus_max"];

/// `vus` and `vus_max` per metric and agent.
pub type AgentGauges = BTreeMap<String, BTreeMap<String, Sink>>;

/// Merges one new batch of `agent` into the live data (`step_ms`: the metrics interval, for the
/// timeline's buckets) and the summed gauges. Each series is read in place from the batch's
/// encoding (`pb::SeriesReader`) and merged into the run's series, its interval and its
/// metric's point from there: a trend's samples are bucketed once for all three.
pub fn merge_batch(
    live: &mut LiveData,
    gauges: &mut AgentGauges,
    agent: &str,
    batch: pb::MetricBatch,
    step_ms: u64,
) {
    merge_batch_within(live, gauges, agent, batch, step_ms, usize::MAX);
}

/// [`merge_batch`] for a run of at most `max_series` series: once the run has more (one more
/// is enough for the limit to stop it, docs/failures.md), a batch's new series are dropped
/// and only the run's own are merged. A run stopped by the limit goes on until its agents (or
/// its `--out cloud` client) end it, and every batch of new series used to be merged: 1.8
/// million series, 1.3 GB of controller memory and growing, for a run allowed 10,000
/// (docs/security.md#attacked-on-2026-12-07).
pub fn merge_batch_within(
    live: &mut LiveData,
    gauges: &mut AgentGauges,
    agent: &str,
    batch: pb::MetricBatch,
    step_ms: u64,
    max_series: usize,
) {
    // Saturating: an agent's clock (or a forged batch) may say anything up to u64::MAX.
    let bucket = batch.end_unix_ms.div_ceil(step_ms).saturating_mul(step_ms);
    live.step_ms = step_ms;
    live.timeline.entry(bucket).or_default();
    while live.timeline.len() > MAX_INTERVALS {
        live.timeline.pop_first();
    }
    while live.vus_timeline.len() > MAX_INTERVALS {
        live.vus_timeline.pop_first();
    }
    let LiveData {
        series,
        timeline,
        vus_timeline,
        metric_series,
        keys,
        reader,
        untagged,
        ..
    } = live;
    let mut point = timeline.get_mut(&bucket);
    let mut drops = Drops { agent, count: 0 };
    for encoded in batch.series.encoded() {
        // A malformed series, one with an impossible number, or one whose merge would overflow
        // a sum to ±∞ is dropped alone, logged with the field at fault: a bad agent cannot
        // corrupt the run's data or crash the controller, and a total stays the last finite
        // one rather than ∞, which JSON shows as `null` (docs/security.md#agents).
        let view = match reader.read(encoded) {
            Ok(v) => v,
            Err(e) => {
                drops.note(None, &e);
                continue;
            }
        };
        let metric = view.metric();
        let (info, sink) = match view.sink() {
            Ok(x) => x,
            Err(e) => {
                drops.note(Some(metric), &e);
                continue;
            }
        };
        if SUMMED_GAUGES.contains(&metric) {
            let sink = sink.to_sink();
            if let Err(why) = check_vus_gauge(&sink) {
                drops.note(None, &why);
                continue;
            }
            if let (Sink::Gauge(g), true) = (&sink, metric == "vus") {
                if g.set {
                    vus_timeline
                        .entry(bucket)
                        .or_default()
                        .insert(agent.to_string(), g.value);
                }
            }
            let per_agent = match gauges.get_mut(metric) {
                Some(p) => p,
                None => gauges.entry(metric.to_string()).or_default(),
            };
            let slot = match per_agent.get_mut(agent) {
                Some(s) => s,
                None => per_agent
                    .entry(agent.to_string())
                    .or_insert_with(|| Sink::new(MetricType::Gauge)),
            };
            let _ = slot.merge(&sink);
            continue;
        }
        let resolved = match keys.resolve(&view, TIMELINE_METRICS) {
            Ok(r) => r,
            Err(e) => {
                drops.note(Some(metric), &e);
                continue;
            }
        };
        let tags = &resolved.tags;
        if series.series_count() > max_series && !series.contains(metric, tags) {
            drops.note(
                Some(metric),
                &format_args!("the run has more than {max_series} series (max_series)"),
            );
            continue;
        }
        let merged = series.merge_delta_at(&mut resolved.slot, metric, info, tags, sink);
        if let Err(e) = merged {
            drops.note(None, &e);
            continue;
        }
        if resolved.in_timeline {
            if let Some(point) = point.as_deref_mut() {
                // Every reader of the timeline merges a metric over all its tags, so an
                // interval keeps one series per metric: per tag set, an hour of 1 s intervals of
                // 50 agents held ~360 MiB (one exact trend per URL, status and method each).
                let _ =
                    point.merge_delta_at(&mut resolved.interval_slot, metric, info, untagged, sink);
            }
        }
        metric_series.add(metric, info, tags, sink, bucket, step_ms);
    }
}

/// How many dropped series of one batch are logged each with its reason; the rest are counted
/// in one line. A batch can hold a million series: one line each made 145 MB of log from a
/// 32 MB batch (docs/security.md#attacked-on-2026-12-07).
const LOGGED_DROPS: usize = 3;

/// The series of one batch that were dropped.
struct Drops<'a> {
    agent: &'a str,
    count: usize,
}

impl Drops<'_> {
    /// One more series dropped (of `metric`, when the reason does not name it) for `why`.
    fn note(&mut self, metric: Option<&str>, why: &dyn std::fmt::Display) {
        self.count += 1;
        if self.count > LOGGED_DROPS {
            return;
        }
        let agent = self.agent;
        match metric {
            Some(m) => tracing::warn!(agent = %agent, "dropping series of {}: {why}", shown(m)),
            None => tracing::warn!(agent = %agent, "dropping series: {why}"),
        }
    }
}

impl Drop for Drops<'_> {
    fn drop(&mut self) {
        if self.count > LOGGED_DROPS {
            let agent = self.agent;
            tracing::warn!(
                agent = %agent,
                "dropping series: {} more of the same batch (the first {LOGGED_DROPS} are logged)",
                self.count - LOGGED_DROPS
            );
        }
    }
}

/// A metric name as a log line shows it: as it is when short and plain, else quoted with
/// escapes and cut (an agent's names are not checked before the series is).
fn shown(metric: &str) -> std::borrow::Cow<'_, str> {
    if metric.len() <= volley_common::text::ECHO_BYTES && !metric.chars().any(char::is_control) {
        std::borrow::Cow::Borrowed(metric)
    } else {
        std::borrow::Cow::Owned(volley_common::text::quoted(metric))
    }
}

/// The most VUs one agent can hold: 2^32, what 1 PiB (the most memory an agent may report,
/// `crate::registry`) holds at 256 KiB per VU (twice the agent's default budget). Bounding each agent's
/// `vus`/`vus_max` keeps their sum over any number of agents finite and exact.
const MAX_AGENT_VUS: f64 = 4_294_967_296.0;

/// An agent's `vus` or `vus_max`: a gauge whose every value is a count of VUs one agent can
/// hold (its sum over agents is the cluster's figure).
fn check_vus_gauge(sink: &Sink) -> Result<(), String> {
    let Sink::Gauge(g) = sink else {
        return Err(format!(
            "a {} where a gauge is expected",
            sink.metric_type()
        ));
    };
    for (field, v) in [("value", g.value), ("min", g.min), ("max", g.max)] {
        if !(0.0..=MAX_AGENT_VUS).contains(&v) {
            let n = volley_common::summary::format_number;
            return Err(format!(
                "its {field} {} is not a count of VUs one agent can hold (0..={})",
                n(v),
                n(MAX_AGENT_VUS)
            ));
        }
    }
    Ok(())
}

/// The merged series plus the summed `vus`/`vus_max` gauges.
pub fn with_summed_gauges(series: &SeriesStore, gauges: &AgentGauges) -> SeriesStore {
    let mut series = series.clone();
    for (metric, per_agent) in gauges {
        let mut sum = GaugeSink::default();
        for sink in per_agent.values() {
            if let Sink::Gauge(g) = sink {
                if !g.set {
                    continue;
                }
                sum.value += g.value;
                sum.min += g.min;
                sum.max += g.max;
                sum.time_ns = sum.time_ns.max(g.time_ns);
                sum.set = true;
            }
        }
        if sum.set {
            let info = MetricInfo {
                mtype: MetricType::Gauge,
                contains: ValueType::Default,
            };
            let _ = series.merge(metric, info, &TagSet::new(), &Sink::Gauge(sum));
        }
    }
    series
}

/// The types of k6's built-in metrics, for thresholds on metrics that got no data.
pub fn builtin_types() -> HashMap<String, MetricInfo> {
    use MetricType::*;
    let t = |m: MetricType, c: ValueType| MetricInfo {
        mtype: m,
        contains: c,
    };
    [
        ("http_reqs", t(Counter, ValueType::Default)),
        ("http_req_failed", t(Rate, ValueType::Default)),
        ("iterations", t(Counter, ValueType::Default)),
        ("checks", t(Rate, ValueType::Default)),
        ("data_sent", t(Counter, ValueType::Data)),
        ("data_received", t(Counter, ValueType::Data)),
        ("dropped_iterations", t(Counter, ValueType::Default)),
        ("vus", t(Gauge, ValueType::Default)),
        ("vus_max", t(Gauge, ValueType::Default)),
        ("http_req_duration", t(Trend, ValueType::Time)),
        ("iteration_duration", t(Trend, ValueType::Time)),
        ("group_duration", t(Trend, ValueType::Time)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use volley_common::metrics::{CounterSink, ValueType};

    use super::*;

    fn series(metric: &str, sink: Sink) -> pb::Series {
        pb::Series::from_sink(
            metric.into(),
            ValueType::Default,
            std::iter::empty::<(&str, &str)>(),
            sink,
        )
    }

    fn counter(sum: f64, samples: u64) -> Sink {
        Sink::Counter(CounterSink { sum, samples })
    }

    #[test]
    fn overflowing_sums_and_impossible_vus_are_not_merged() {
        let (mut live, mut gauges) = (LiveData::default(), AgentGauges::default());
        for (seq, vus) in [(1, 3.0), (2, 1e300)] {
            let gauge = GaugeSink {
                value: vus,
                min: vus,
                max: vus,
                time_ns: seq,
                set: true,
            };
            let batch = pb::MetricBatch {
                run_id: 1,
                seq,
                start_unix_ms: seq * 1000,
                end_unix_ms: seq * 1000 + 1000,
                series: vec![
                    series("http_reqs", counter(1e308, 1)),
                    series("iterations", counter(2.0, 2)),
                    series("vus", Sink::Gauge(gauge)),
                ]
                .into(),
            };
            merge_batch(&mut live, &mut gauges, "a", batch, 1000);
        }
        let merged = with_summed_gauges(&live.series, &gauges);
        let stat = |m: &str, s: &str| merged.aggregate(m, &[]).unwrap().stat(s, 1.0).unwrap();
        assert_eq!(stat("http_reqs", "count"), 1e308, "the total stays finite");
        assert_eq!(stat("iterations", "count"), 4.0, "the rest stays exact");
        assert_eq!(stat("vus", "max"), 3.0, "an impossible vus is dropped");
        let json = serde_json::to_string(&stat("http_reqs", "count")).unwrap();
        assert_eq!(json, "1e+308", "not null");
    }

    /// A series that fails its checks is dropped alone: the batch's other series merge.
    #[test]
    fn a_bad_series_is_dropped_alone() {
        let (mut live, mut gauges) = (LiveData::default(), AgentGauges::default());
        let mut nan = series("http_reqs", counter(f64::NAN, 1));
        let mut untyped = series("http_reqs", counter(5.0, 1));
        untyped.contains = 0;
        nan.tags.push(pb::Tag::new("k", "v"));
        let batch = pb::MetricBatch {
            run_id: 1,
            seq: 1,
            start_unix_ms: 0,
            end_unix_ms: 1000,
            series: vec![
                nan,
                untyped,
                pb::Series {
                    metric: "http_reqs".into(),
                    contains: pb::ValueType::Default as i32,
                    ..Default::default()
                },
                series("http_reqs", counter(7.0, 7)),
            ]
            .into(),
        };
        merge_batch(&mut live, &mut gauges, "a", batch, 1000);
        let count = live.series.aggregate("http_reqs", &[]).unwrap();
        assert_eq!(count.stat("count", 1.0), Some(7.0));
    }

    /// Batches read in place and merged through the resolved (metric, tag set) pairs and their
    /// slots give the run's store, its timeline and its metric series what plain merges of
    /// every series' own sink give (`merge_finite` with `TagSet::from_pairs` of its tags),
    /// series for series and histogram bucket for bucket: whatever order an agent sends tags
    /// in, with repeated keys, type clashes and overflowing sums among them.
    #[test]
    fn resolved_series_merge_as_plain_merges_do() {
        let mut state = 0x5eed_u64;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let pool = [
            ("url", "/x"),
            ("url", "/y"),
            ("status", "200"),
            ("method", "GET"),
            ("name", ""),
        ];
        let metrics = [
            ("http_reqs", MetricType::Counter),
            ("http_req_duration", MetricType::Trend),
            ("checks", MetricType::Rate),
            ("custom", MetricType::Trend),
            ("custom", MetricType::Counter),
        ];
        let (mut live, mut gauges) = (LiveData::default(), AgentGauges::default());
        let mut want = SeriesStore::new();
        // The timeline and the metric series as merging each series' own sink made them.
        let mut want_timeline: BTreeMap<u64, SeriesStore> = BTreeMap::new();
        let mut want_points = MetricTimeline::default();
        for seq in 1..=150u64 {
            for agent in ["a", "b", "c"] {
                let mut series = Vec::new();
                for _ in 0..next() % 12 {
                    let (metric, mtype) = metrics[next() as usize % metrics.len()];
                    let tags: Vec<(&str, &str)> = (0..next() % 4)
                        .map(|_| pool[next() as usize % pool.len()])
                        .collect();
                    let mut sink = Sink::new(mtype);
                    for _ in 0..next() % 40 {
                        let v = match next() % 300 {
                            0 => 1e308,
                            x => x as f64 / 7.0,
                        };
                        sink.add(v, seq);
                    }
                    let info = MetricInfo {
                        mtype,
                        contains: ValueType::Default,
                    };
                    let set = TagSet::from_pairs(tags.iter().copied());
                    let bucket = seq * 1000 + 1000;
                    if want.merge_finite(metric, info, &set, &sink).is_ok() {
                        let point = want_timeline.entry(bucket).or_default();
                        if TIMELINE_METRICS.contains(&metric) {
                            let _ = point.merge_finite(metric, info, &TagSet::new(), &sink);
                        }
                        want_points.add(metric, info, &set, &sink, bucket, 1000);
                    }
                    series.push(pb::Series::from_sink(
                        metric.into(),
                        info.contains,
                        tags,
                        sink,
                    ));
                }
                let batch = pb::MetricBatch {
                    run_id: 1,
                    seq,
                    start_unix_ms: seq * 1000,
                    end_unix_ms: seq * 1000 + 1000,
                    series: series.into(),
                };
                merge_batch(&mut live, &mut gauges, agent, batch, 1000);
            }
        }
        let list = |s: &SeriesStore| {
            s.series()
                .map(|(n, t, k)| (n.to_string(), t.clone(), k.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(list(&live.series), list(&want));
        assert_eq!(live.series.metrics(), want.metrics());
        assert_eq!(live.timeline.len(), want_timeline.len());
        for ((t, got), (want_t, want)) in live.timeline.iter().zip(&want_timeline) {
            assert_eq!(t, want_t);
            assert_eq!(list(got), list(want), "interval {t}");
            assert_eq!(got.metrics(), want.metrics(), "interval {t}");
        }
        assert_eq!(live.metric_series.since(0), want_points.since(0));
        let histograms = list(&live.series)
            .iter()
            .filter(|(_, _, s)| matches!(s, Sink::Trend(t) if t.histogram().is_some()))
            .count();
        assert!(histograms > 0, "trends past the exact limit are covered");
        assert!(
            live.series.series_count() > 20,
            "the test covers many series"
        );
        assert!(
            live.keys.len() > live.series.series_count(),
            "tags in several orders are several keys for one series"
        );
    }

    /// An interval of the timeline holds one series per metric, merged over every tag set the
    /// agents sent it with, and reads the same figures as the run's tagged series.
    #[test]
    fn an_interval_keeps_one_series_per_metric_over_all_tags() {
        let (mut live, mut gauges) = (LiveData::default(), AgentGauges::default());
        let tagged = |metric: &str, url: &str, sink: Sink| {
            let mut s = series(metric, sink);
            s.tags.push(pb::Tag::new("url", url));
            s
        };
        let trend = |values: &[f64]| {
            let mut t = Sink::new(MetricType::Trend);
            for v in values {
                t.add(*v, 0);
            }
            t
        };
        for agent in ["a", "b"] {
            let batch = pb::MetricBatch {
                run_id: 1,
                seq: 1,
                start_unix_ms: 0,
                end_unix_ms: 1000,
                series: vec![
                    tagged("http_reqs", "/x", counter(3.0, 3)),
                    tagged("http_reqs", "/y", counter(4.0, 4)),
                    tagged("http_req_duration", "/x", trend(&[1.0, 2.0, 3.0])),
                    tagged("http_req_duration", "/y", trend(&[10.0, 20.0, 30.0, 40.0])),
                ]
                .into(),
            };
            merge_batch(&mut live, &mut gauges, agent, batch, 1000);
        }
        let point = &live.timeline[&1000];
        assert_eq!(
            point.series_count(),
            2,
            "one series per metric, not per tag set"
        );
        for (metric, stat) in [("http_reqs", "count"), ("http_req_duration", "p(95)")] {
            let interval = point.aggregate(metric, &[]).unwrap().stat(stat, 1.0);
            let run = live.series.aggregate(metric, &[]).unwrap().stat(stat, 1.0);
            assert_eq!(interval, run, "{metric} {stat}");
        }
        assert_eq!(
            point
                .aggregate("http_reqs", &[])
                .unwrap()
                .stat("count", 1.0),
            Some(14.0)
        );
        assert_eq!(
            live.series.series_count(),
            4,
            "the run's own series keep their tags"
        );
    }

    #[test]
    fn past_max_series_new_series_are_dropped_and_known_ones_merged() {
        let (mut live, mut gauges) = (LiveData::default(), AgentGauges::default());
        let tagged = |n: u32| {
            pb::Series::from_sink(
                "iterations".into(),
                ValueType::Default,
                [("n", n.to_string())],
                counter(1.0, 1),
            )
        };
        for (seq, ids) in [(1, 0..5), (2, 3..8)] {
            let batch = pb::MetricBatch {
                run_id: 1,
                seq,
                start_unix_ms: seq * 1000,
                end_unix_ms: seq * 1000 + 1000,
                series: ids.map(tagged).collect(),
            };
            merge_batch_within(&mut live, &mut gauges, "a", batch, 1000, 2);
        }
        // One series more than allowed (what stops the run), never more.
        assert_eq!(live.series.series_count(), 3);
        let Some(Sink::Counter(c)) = live.series.aggregate("iterations", &[]) else {
            panic!("no iterations")
        };
        // Series 0, 1 and 2 of the first batch; none of the second is one of them.
        assert_eq!(c.sum, 3.0);
        let batch = pb::MetricBatch {
            run_id: 1,
            seq: 3,
            start_unix_ms: 3000,
            end_unix_ms: 4000,
            series: (1..6).map(tagged).collect(),
        };
        merge_batch_within(&mut live, &mut gauges, "a", batch, 1000, 2);
        assert_eq!(live.series.series_count(), 3);
        let Some(Sink::Counter(c)) = live.series.aggregate("iterations", &[]) else {
            panic!("no iterations")
        };
        // Series 1 and 2 are the run's own: merged.
        assert_eq!(c.sum, 5.0);
    }
}
