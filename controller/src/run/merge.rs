//! Exact merging of the metric batches agents send: every series into the run's store, the key
//! metrics into a per-interval timeline, and the gauges that count something split across
//! agents (`vus`, `vus_max`) kept per agent so the cluster value is their sum.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use volley_common::metrics::store::{MetricInfo, SeriesStore};
use volley_common::metrics::{GaugeSink, MetricType, Sink, TagSet, ValueType};
use volley_proto as pb;

use crate::model::UtilizationSample;

/// Live data of a run (read by the API while the run's task writes it; kept for a while after
/// the run ends so utilization and series stay available).
#[derive(Default)]
pub struct LiveData {
    pub series: SeriesStore,
    pub utilization: BTreeMap<String, (String, Vec<UtilizationSample>)>,
    pub started: Option<Instant>,
    /// Merged key metrics per interval (by the interval's end, rounded to the interval),
    /// bounded to [`MAX_INTERVALS`].
    pub timeline: BTreeMap<u64, SeriesStore>,
    /// Each agent's `vus` per interval of the timeline (same keys and bound): the cluster's
    /// VUs of an interval are their sum (the dashboard's VU chart).
    pub vus_timeline: BTreeMap<u64, BTreeMap<String, f64>>,
    /// The metrics interval the timeline's buckets are made of (0 before the first batch).
    pub step_ms: u64,
    pub ended: Option<Instant>,
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
/// timeline's buckets) and the summed gauges.
pub fn merge_batch(
    live: &mut LiveData,
    gauges: &mut AgentGauges,
    agent: &str,
    batch: &pb::MetricBatch,
    step_ms: u64,
) {
    // Saturating: an agent's clock (or a forged batch) may say anything up to u64::MAX.
    let bucket = batch.end_unix_ms.div_ceil(step_ms).saturating_mul(step_ms);
    live.step_ms = step_ms;
    {
        let point = live.timeline.entry(bucket).or_default();
        for s in batch
            .series
            .iter()
            .filter(|s| TIMELINE_METRICS.contains(&s.metric.as_str()))
        {
            merge_series(point, s);
        }
    }
    while live.timeline.len() > MAX_INTERVALS {
        live.timeline.pop_first();
    }
    while live.vus_timeline.len() > MAX_INTERVALS {
        live.vus_timeline.pop_first();
    }
    for s in &batch.series {
        if SUMMED_GAUGES.contains(&s.metric.as_str()) {
            if let Ok(sink) = serde_json::from_slice::<Sink>(&s.sink_json) {
                if let (Sink::Gauge(g), true) = (&sink, s.metric == "vus") {
                    if g.set {
                        live.vus_timeline
                            .entry(bucket)
                            .or_default()
                            .insert(agent.to_string(), g.value);
                    }
                }
                let slot = gauges
                    .entry(s.metric.clone())
                    .or_default()
                    .entry(agent.to_string())
                    .or_insert_with(|| Sink::new(MetricType::Gauge));
                let _ = slot.merge(&sink);
            }
            continue;
        }
        merge_series(&mut live.series, s);
    }
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

/// Merges one series of a batch into a store. Malformed series are dropped (logged): a bad
/// agent cannot corrupt the run's data or crash the controller.
pub fn merge_series(store: &mut SeriesStore, s: &pb::Series) {
    let (Ok(mtype), Ok(contains)) = (
        s.metric_type.parse::<MetricType>(),
        s.contains.parse::<ValueType>(),
    ) else {
        tracing::warn!(
            "dropping series of {}: unknown type {}/{}",
            s.metric,
            s.metric_type,
            s.contains
        );
        return;
    };
    let sink: Sink = match serde_json::from_slice(&s.sink_json) {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!("dropping series of {}: {e}", s.metric);
            return;
        }
    };
    let tags = TagSet::from_pairs(s.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Err(e) = store.merge(&s.metric, MetricInfo { mtype, contains }, &tags, &sink) {
        tracing::warn!("{e}");
    }
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
