//! Every metric of a run over time, for the run page's "any metric" chart
//! (`docs/dashboard.md`): per metric, and per submetric the run's thresholds name, merged over
//! the agents and their tags, one point per interval. Bounded whatever the run's length: at
//! most [`MAX_POINTS`] points per series (when a series would have more, every series'
//! neighbouring points are merged in pairs and a point covers twice as many intervals), at most
//! [`MAX_SERIES`] series. The newest ten points keep their sinks, so a late batch is merged
//! exactly; older points keep only their numbers ([`fields`]): about 70 bytes a point, so an
//! hour-long run holds at most ~45 KB per trend.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use volley_common::metrics::store::MetricInfo;
use volley_common::metrics::{MetricType, Sink, SinkDelta, TagSet};

/// Points kept per series: an hour at one a second is merged down to points of 6 s (8 s once
/// the width has doubled thrice).
pub const MAX_POINTS: usize = 600;
/// Series kept per run (metrics and submetrics); a run with more charts the first ones.
pub const MAX_SERIES: usize = 200;
/// Newest points that keep their sinks (a slower agent's batch for them is merged exactly).
const OPEN: usize = 10;

/// The numbers a point keeps, by metric type: what the chart draws and what merges exactly
/// over points (counts, sums, extremes) or conservatively (a merged point's percentiles are
/// the highest of its parts', so a spike is never averaged away).
pub fn fields(t: MetricType) -> &'static [&'static str] {
    match t {
        MetricType::Counter => &["count", "rate"],
        MetricType::Gauge => &["value", "min", "max"],
        MetricType::Rate => &["rate", "passes", "total"],
        MetricType::Trend => &[
            "count", "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)",
        ],
    }
}

/// One metric's (or submetric's) points, as columns: `v[k][i]` is field `fields[k]` at
/// `t[i]` (the end of the point's time, Unix ms).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSeries {
    /// `my_trend`, or a submetric's key as the thresholds name it (`http_req_duration{status:200}`).
    pub name: String,
    #[serde(rename = "type")]
    pub mtype: &'static str,
    pub contains: &'static str,
    pub fields: &'static [&'static str],
    pub t: Vec<u64>,
    pub v: Vec<Vec<f64>>,
}

impl MetricSeries {
    fn new(name: &str, info: MetricInfo) -> MetricSeries {
        let fields = fields(info.mtype);
        MetricSeries {
            name: name.to_string(),
            mtype: info.mtype.as_str(),
            contains: info.contains.as_str(),
            fields,
            t: Vec::new(),
            v: vec![Vec::new(); fields.len()],
        }
    }

    /// A series with this one's name and type and no points.
    pub fn empty_like(&self) -> MetricSeries {
        MetricSeries {
            name: self.name.clone(),
            mtype: self.mtype,
            contains: self.contains,
            fields: self.fields,
            t: Vec::new(),
            v: vec![Vec::new(); self.fields.len()],
        }
    }

    /// The numbers of point `i`.
    pub fn point(&self, i: usize) -> Vec<f64> {
        self.v.iter().map(|c| c[i]).collect()
    }

    /// Appends a point (its numbers in [`fields`] order).
    pub fn push(&mut self, t: u64, point: &[f64]) {
        self.t.push(t);
        for (c, x) in self.v.iter_mut().zip(point) {
            c.push(*x);
        }
    }
}

/// An aggregate merged into a point: a sink, or one borrowed from an agent's batch (the
/// controller's merge: `merge.rs`).
pub trait Aggregate {
    fn metric_type(&self) -> MetricType;
    /// Merges into `into`, a sink of the same type.
    fn merge_into(&self, into: &mut Sink);
    fn to_sink(&self) -> Sink;
}

impl Aggregate for Sink {
    fn metric_type(&self) -> MetricType {
        Sink::metric_type(self)
    }

    fn merge_into(&self, into: &mut Sink) {
        let _ = into.merge(self);
    }

    fn to_sink(&self) -> Sink {
        self.clone()
    }
}

impl Aggregate for SinkDelta<'_> {
    fn metric_type(&self) -> MetricType {
        SinkDelta::metric_type(self)
    }

    fn merge_into(&self, into: &mut Sink) {
        let _ = into.merge_delta(self);
    }

    fn to_sink(&self) -> Sink {
        SinkDelta::to_sink(self)
    }
}

/// The keys of the submetrics a series feeds (often none): shared, so a batch's series takes
/// them without a copy.
type SubmetricKeys = Arc<[Arc<str>]>;

/// The tags a submetric's samples must have.
type TagFilter = Vec<(String, String)>;

/// Tag sets whose submetrics are kept, over all metrics: they come from agents, so past this
/// a further tag set's submetrics are found again at each of its batches.
const MAX_RESOLVED_TAG_SETS: usize = 100_000;

/// The submetrics the thresholds name on one metric, and which of them each of the metric's
/// tag sets feeds: found the first time the tag set comes, then kept, so that a batch's series
/// neither compares tags nor allocates (a series resolved by the controller's merge comes with
/// the same `TagSet` each time: the lookup is a hash read from it and a pointer comparison).
struct MetricSubmetrics {
    metric: String,
    /// Each submetric's key (`http_req_duration{status:200}`) and tag filter, in threshold order.
    submetrics: Vec<(Arc<str>, TagFilter)>,
    by_tags: HashMap<TagSet, SubmetricKeys, foldhash::fast::RandomState>,
}

impl MetricSubmetrics {
    /// The keys of the submetrics a series of this metric with `tags` feeds, and whether they
    /// were found now (not kept from an earlier batch).
    fn keys(&mut self, tags: &TagSet, keep: bool) -> (SubmetricKeys, bool) {
        if let Some(keys) = self.by_tags.get(tags) {
            return (keys.clone(), false);
        }
        let keys: SubmetricKeys = self
            .submetrics
            .iter()
            .filter(|(_, filter)| tags.contains_all(filter))
            .map(|(key, _)| key.clone())
            .collect();
        if keep {
            self.by_tags.insert(tags.clone(), keys.clone());
        }
        (keys, true)
    }
}

/// A point still open to late batches: its sink, and its numbers once read (until the next
/// batch for it), so a point is read once however often the dashboard asks.
struct Open {
    info: MetricInfo,
    sink: Sink,
    numbers: Option<Option<Vec<f64>>>,
}

/// An open point's series by name: found by a hash of the name, as every series of every
/// batch is (a B-tree of names cost ~300 instructions a series in string comparisons,
/// docs/benchmarks.md). Seeded per map: names come from agents, at most [`MAX_SERIES`] a point.
type Point = HashMap<String, Open, foldhash::fast::RandomState>;

/// The per-interval data of a run's metrics.
#[derive(Default)]
pub struct MetricTimeline {
    /// The metrics interval (ms).
    step_ms: u64,
    /// Intervals a point covers: 1, doubled each time a series would pass [`MAX_POINTS`].
    width: u64,
    /// How many times the points were merged in pairs: a page that saw another generation
    /// starts its series over.
    pub generation: u64,
    /// The submetrics to keep, by metric (a run's thresholds name a few).
    submetrics: Vec<MetricSubmetrics>,
    /// Tag sets whose submetrics are kept (bounded by [`MAX_RESOLVED_TAG_SETS`]).
    resolved_tag_sets: usize,
    /// The newest points, still sinks: point end → series → sink.
    open: BTreeMap<u64, Point>,
    /// Older points, numbers only.
    closed: BTreeMap<String, MetricSeries>,
    /// A closed series may have reached [`MAX_POINTS`] (checked after the next batch).
    full: bool,
}

impl MetricTimeline {
    /// Keeps the submetrics these threshold keys name (`http_req_duration{status:200}`), as
    /// well as every metric.
    pub fn set_submetrics<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        self.submetrics.clear();
        self.resolved_tag_sets = 0;
        let parsed = keys
            .into_iter()
            .filter(|k| k.contains('{'))
            .filter_map(|k| Some((k, volley_common::threshold::parse_metric_key(k).ok()?)));
        for (key, (metric, filter)) in parsed {
            let at = match self.submetrics.iter().position(|m| m.metric == metric) {
                Some(at) => at,
                None => {
                    self.submetrics.push(MetricSubmetrics {
                        metric,
                        submetrics: Vec::new(),
                        by_tags: HashMap::default(),
                    });
                    self.submetrics.len() - 1
                }
            };
            self.submetrics[at].submetrics.push((key.into(), filter));
        }
    }

    /// The keys of the submetrics a series of `name` with `tags` feeds; `None` when the
    /// thresholds name no submetric of `name`.
    fn submetric_keys(&mut self, name: &str, tags: &TagSet) -> Option<SubmetricKeys> {
        let keep = self.resolved_tag_sets < MAX_RESOLVED_TAG_SETS;
        let metric = self.submetrics.iter_mut().find(|m| m.metric == name)?;
        let (keys, found_now) = metric.keys(tags, keep);
        if found_now && keep {
            self.resolved_tag_sets += 1;
        }
        Some(keys)
    }

    /// How long a point is, ms.
    pub fn point_ms(&self) -> u64 {
        self.step_ms.max(1) * self.width.max(1)
    }

    fn point_end(&self, interval_end: u64) -> u64 {
        let ms = self.point_ms();
        interval_end.div_ceil(ms).saturating_mul(ms)
    }

    fn series_count(&self) -> usize {
        let mut names: Vec<&String> = self.closed.keys().collect();
        for point in self.open.values() {
            names.extend(point.keys());
        }
        names.sort_unstable();
        names.dedup();
        names.len()
    }

    /// Merges one series of an agent's batch for the interval ending at `interval_end` (Unix
    /// ms; `step_ms` the metrics interval) into its metric's point and its submetrics'.
    pub fn add(
        &mut self,
        name: &str,
        info: MetricInfo,
        tags: &TagSet,
        sink: &impl Aggregate,
        interval_end: u64,
        step_ms: u64,
    ) {
        if self.step_ms != step_ms {
            // The first batch (a run's interval never changes).
            self.step_ms = step_ms.max(1);
            self.width = self.width.max(1);
        }
        let end = self.point_end(interval_end);
        self.add_one(name, info, sink, end);
        if let Some(keys) = self.submetric_keys(name, tags) {
            for key in keys.iter() {
                self.add_one(key, info, sink, end);
            }
        }
        while self.open.len() > OPEN {
            if let Some((end, point)) = self.open.pop_first() {
                for (key, open) in point {
                    let p = match open.numbers {
                        Some(p) => p,
                        None => numbers(&open.sink, self.point_ms()),
                    };
                    if let Some(p) = p {
                        self.close(&key, open.info, end, p);
                    }
                }
            }
        }
        // Only closing a point lengthens a series.
        if std::mem::take(&mut self.full) && self.any_full() {
            self.halve();
            self.full = self.any_full();
        }
    }

    fn any_full(&self) -> bool {
        self.closed.values().any(|s| s.t.len() + OPEN > MAX_POINTS)
    }

    fn add_one(&mut self, key: &str, info: MetricInfo, sink: &impl Aggregate, end: u64) {
        // Most batches: the point and its series are open already.
        if let Some(slot) = self.open.get_mut(&end).and_then(|p| p.get_mut(key)) {
            if slot.sink.metric_type() == sink.metric_type() {
                sink.merge_into(&mut slot.sink);
                slot.numbers = None;
            }
            return;
        }
        let known =
            self.closed.contains_key(key) || self.open.values().any(|p| p.contains_key(key));
        if !known && self.series_count() >= MAX_SERIES {
            return;
        }
        let oldest_open = self.open.keys().next().copied();
        if oldest_open.is_some_and(|o| end < o) && self.open.len() >= OPEN {
            // Later than the open points: merged into its closed point's numbers.
            if let Some(p) = numbers(&sink.to_sink(), self.point_ms()) {
                self.close(key, info, end, p);
            }
            return;
        }
        let slot = self
            .open
            .entry(end)
            .or_default()
            .entry(key.to_string())
            .or_insert_with(|| Open {
                info,
                sink: Sink::new(info.mtype),
                numbers: None,
            });
        if slot.sink.metric_type() == sink.metric_type() {
            sink.merge_into(&mut slot.sink);
            slot.numbers = None;
        }
    }

    /// Adds a point's numbers to a series (merged with a point it already has at `end`).
    fn close(&mut self, key: &str, info: MetricInfo, end: u64, point: Vec<f64>) {
        let ms = self.point_ms();
        let s = self
            .closed
            .entry(key.to_string())
            .or_insert_with(|| MetricSeries::new(key, info));
        if s.fields != fields(info.mtype) {
            return;
        }
        self.full |= s.t.len() + 1 + OPEN > MAX_POINTS;
        match s.t.binary_search(&end) {
            Ok(i) => {
                let merged = combine(info.mtype, &s.point(i), &point, ms, ms, false);
                for (c, x) in s.v.iter_mut().zip(merged) {
                    c[i] = x;
                }
            }
            Err(i) => {
                s.t.insert(i, end);
                for (c, x) in s.v.iter_mut().zip(point) {
                    c.insert(i, x);
                }
            }
        }
    }

    /// Every point covers twice as many intervals: neighbours are merged (the open ones
    /// exactly, their sinks merged; the closed ones by their numbers).
    fn halve(&mut self) {
        let old_ms = self.point_ms();
        self.width = self.width.max(1) * 2;
        self.generation += 1;
        let ms = self.point_ms();
        for s in self.closed.values_mut() {
            let mut out = s.empty_like();
            let mtype = s.mtype.parse::<MetricType>().unwrap_or(MetricType::Counter);
            let mut covered = 0;
            for i in 0..s.t.len() {
                let end = s.t[i].div_ceil(ms) * ms;
                let p = s.point(i);
                if out.t.last() == Some(&end) {
                    let last = out.t.len() - 1;
                    let merged = combine(mtype, &out.point(last), &p, covered, old_ms, true);
                    for (c, x) in out.v.iter_mut().zip(merged) {
                        c[last] = x;
                    }
                    covered += old_ms;
                } else {
                    out.push(end, &p);
                    covered = old_ms;
                }
            }
            *s = out;
        }
        let open = std::mem::take(&mut self.open);
        for (end, point) in open {
            let end = end.div_ceil(ms) * ms;
            let into = self.open.entry(end).or_default();
            for (key, open) in point {
                match into.get_mut(&key) {
                    Some(o) => {
                        let _ = o.sink.merge(&open.sink);
                        o.numbers = None;
                    }
                    None => {
                        into.insert(
                            key,
                            Open {
                                numbers: None,
                                ..open
                            },
                        );
                    }
                }
            }
        }
    }

    /// Each series' points ending at or after `since` (Unix ms), oldest first; series without
    /// such points are left out.
    pub fn since(&mut self, since: u64) -> Vec<MetricSeries> {
        let ms = self.point_ms();
        let mut out: BTreeMap<String, MetricSeries> = BTreeMap::new();
        for (name, s) in &self.closed {
            let from = s.t.partition_point(|t| *t < since);
            if from < s.t.len() {
                let mut part = s.empty_like();
                part.t = s.t[from..].to_vec();
                part.v = s.v.iter().map(|c| c[from..].to_vec()).collect();
                out.insert(name.clone(), part);
            }
        }
        for (end, point) in self.open.range_mut(since..) {
            for (key, open) in point.iter_mut() {
                let p = open.numbers.get_or_insert_with(|| numbers(&open.sink, ms));
                let Some(p) = p else {
                    continue;
                };
                let s = out
                    .entry(key.clone())
                    .or_insert_with(|| MetricSeries::new(key, open.info));
                if s.fields == fields(open.info.mtype) {
                    s.push(*end, p);
                }
            }
        }
        out.into_values().collect()
    }
}

/// A sink's numbers over a point of `ms` milliseconds ([`fields`] order); `None` if empty.
fn numbers(sink: &Sink, ms: u64) -> Option<Vec<f64>> {
    if sink.is_empty() {
        return None;
    }
    let secs = ms as f64 / 1000.0;
    let stat = |name: &str| sink.stat(name, secs).unwrap_or(f64::NAN);
    Some(match sink {
        Sink::Rate(r) => vec![stat("rate"), r.trues as f64, r.total as f64],
        // A trend's values are read from one ranking of its samples.
        Sink::Trend(t) => {
            let names = fields(MetricType::Trend);
            let values = t.values(names);
            names
                .iter()
                .map(|f| {
                    values
                        .iter()
                        .find(|(n, _)| n == f)
                        .map_or(f64::NAN, |(_, v)| *v)
                })
                .collect()
        }
        _ => fields(sink.metric_type()).iter().map(|f| stat(f)).collect(),
    })
}

/// Two points' numbers as one: `a` (covering `a_ms`) then `b` (covering `b_ms`); `adjacent`
/// when they are neighbours in time (a gauge keeps the later value), else the same point (a
/// late batch: counts add up).
fn combine(t: MetricType, a: &[f64], b: &[f64], a_ms: u64, b_ms: u64, adjacent: bool) -> Vec<f64> {
    let secs = (if adjacent {
        a_ms + b_ms
    } else {
        a_ms.max(b_ms)
    }) as f64
        / 1000.0;
    match t {
        MetricType::Counter => {
            let count = a[0] + b[0];
            vec![count, count / secs]
        }
        MetricType::Gauge => vec![b[0], a[1].min(b[1]), a[2].max(b[2])],
        MetricType::Rate => {
            let (passes, total) = (a[1] + b[1], a[2] + b[2]);
            let rate = if total > 0.0 { passes / total } else { 0.0 };
            vec![rate, passes, total]
        }
        MetricType::Trend => {
            let count = a[0] + b[0];
            let avg = if count > 0.0 {
                (a[1] * a[0] + b[1] * b[0]) / count
            } else {
                0.0
            };
            let mut out = vec![count, avg, a[2].min(b[2])];
            out.extend(a[3..].iter().zip(&b[3..]).map(|(x, y)| x.max(*y)));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_common::metrics::ValueType;

    fn info(t: MetricType) -> MetricInfo {
        MetricInfo {
            mtype: t,
            contains: ValueType::Default,
        }
    }

    fn sink(t: MetricType, values: &[f64]) -> Sink {
        let mut s = Sink::new(t);
        for v in values {
            s.add(*v, 0);
        }
        s
    }

    fn tags(pairs: &[(&str, &str)]) -> TagSet {
        TagSet::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn every_metric_and_named_submetric_gets_a_point_per_interval_merged_over_agents_and_tags() {
        let mut m = MetricTimeline::default();
        m.set_submetrics(["my_trend{kind:a}", "my_trend"]);
        let trend = info(MetricType::Trend);
        for sec in 1..=3u64 {
            // Two agents, two tag values each second.
            m.add(
                "my_trend",
                trend,
                &tags(&[("kind", "a")]),
                &sink(MetricType::Trend, &[sec as f64]),
                sec * 1000,
                1000,
            );
            m.add(
                "my_trend",
                trend,
                &tags(&[("kind", "b")]),
                &sink(MetricType::Trend, &[10.0 * sec as f64]),
                sec * 1000,
                1000,
            );
            m.add(
                "my_counter",
                info(MetricType::Counter),
                &TagSet::new(),
                &sink(MetricType::Counter, &[2.0]),
                sec * 1000,
                1000,
            );
        }
        let all = m.since(0);
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["my_counter", "my_trend", "my_trend{kind:a}"]);
        let t = &all[1];
        assert_eq!(t.t, [1000, 2000, 3000]);
        assert_eq!(t.v[0], [2.0, 2.0, 2.0], "count: both tags");
        assert_eq!(t.v[4], [10.0, 20.0, 30.0], "max");
        assert_eq!(all[2].v[4], [1.0, 2.0, 3.0], "the submetric: kind a only");
        assert_eq!(
            all[0].v,
            [vec![2.0; 3], vec![2.0; 3]],
            "count and per-second rate"
        );
        assert_eq!(m.since(2500)[0].t, [3000], "from a time on");
    }

    #[test]
    fn an_hour_is_at_most_the_points_allowed_and_its_totals_stay_exact() {
        let mut m = MetricTimeline::default();
        let mut total = 0.0;
        for sec in 1..=3600u64 {
            let v = (sec % 7) as f64;
            total += v;
            m.add(
                "c",
                info(MetricType::Counter),
                &TagSet::new(),
                &sink(MetricType::Counter, &[v]),
                sec * 1000,
                1000,
            );
            m.add(
                "t",
                info(MetricType::Trend),
                &TagSet::new(),
                &sink(MetricType::Trend, &[if sec == 1800 { 999.0 } else { 1.0 }]),
                sec * 1000,
                1000,
            );
        }
        for s in m.since(0) {
            assert!(s.t.len() <= MAX_POINTS, "{}: {} points", s.name, s.t.len());
            assert!(
                s.t.len() > MAX_POINTS / 2,
                "{}: {} points",
                s.name,
                s.t.len()
            );
            assert!(s.t.windows(2).all(|w| w[0] < w[1]), "in time order");
        }
        let all = m.since(0);
        let counts: f64 = all[0].v[0].iter().sum();
        assert_eq!(counts, total, "the counter's points add up to its total");
        assert_eq!(
            all[1].v[0].iter().sum::<f64>(),
            3600.0,
            "the trend's counts too"
        );
        assert_eq!(
            all[1].v[4].iter().copied().fold(0.0, f64::max),
            999.0,
            "the spike is kept"
        );
        assert!(m.generation > 0);
        assert_eq!(
            *all[0].t.last().unwrap(),
            3_600_000,
            "up to the last interval"
        );
    }

    #[test]
    fn a_late_batch_is_merged_into_its_point() {
        let mut m = MetricTimeline::default();
        let c = info(MetricType::Counter);
        for sec in 1..=20u64 {
            m.add(
                "c",
                c,
                &TagSet::new(),
                &sink(MetricType::Counter, &[1.0]),
                sec * 1000,
                1000,
            );
        }
        // One agent's batches for second 3 (closed) and 18 (open) come late.
        m.add(
            "c",
            c,
            &TagSet::new(),
            &sink(MetricType::Counter, &[5.0]),
            3000,
            1000,
        );
        m.add(
            "c",
            c,
            &TagSet::new(),
            &sink(MetricType::Counter, &[5.0]),
            18_000,
            1000,
        );
        let s = &m.since(0)[0];
        assert_eq!(s.t.len(), 20);
        assert_eq!(s.v[0][2], 6.0);
        assert_eq!(s.v[0][17], 6.0);
        assert_eq!(s.v[0].iter().sum::<f64>(), 30.0);
    }

    /// A submetric's points are those of the series whose tags match its filter, merged: as
    /// if each matching series had also been sent under the submetric's key. The submetrics a
    /// tag set feeds are found once, whichever `TagSet` instance brings it later.
    #[test]
    fn submetrics_get_the_points_of_their_matching_series_resolved_once_per_tag_set() {
        let keys = [
            "http_req_duration{status:200}",
            "http_req_duration{status:200,method:GET}",
            "http_req_duration{method:POST}",
            "checks{check:ok}",
            "http_reqs",
        ];
        let filters: Vec<(&str, String, TagFilter)> = keys
            .iter()
            .filter(|k| k.contains('{'))
            .map(|k| {
                let (metric, filter) = volley_common::threshold::parse_metric_key(k).unwrap();
                (*k, metric, filter)
            })
            .collect();
        let tag_sets = [
            vec![("status", "200"), ("method", "GET")],
            vec![("status", "200"), ("method", "POST")],
            vec![("status", "500"), ("method", "GET")],
            vec![("check", "ok")],
            vec![("check", "ko")],
            vec![],
        ];
        let metrics = [
            ("http_req_duration", MetricType::Trend),
            ("http_reqs", MetricType::Counter),
            ("checks", MetricType::Rate),
        ];
        let mut m = MetricTimeline::default();
        m.set_submetrics(keys);
        // The same series sent under each matching submetric's key, to a timeline without
        // submetrics.
        let mut want = MetricTimeline::default();
        let mut n = 0u64;
        for sec in (1..=30u64).chain([4, 25]) {
            for (metric, mtype) in metrics {
                for pairs in &tag_sets {
                    n += 1;
                    let values = [(n % 17) as f64, (n % 5) as f64];
                    let s = sink(mtype, &values);
                    // A new instance each time: equal tag sets, not the same one.
                    let t = tags(pairs);
                    m.add(metric, info(mtype), &t, &s, sec * 1000, 1000);
                    want.add(metric, info(mtype), &t, &s, sec * 1000, 1000);
                    for (key, sub_metric, filter) in &filters {
                        if sub_metric == metric && t.contains_all(filter) {
                            want.add(key, info(mtype), &TagSet::new(), &s, sec * 1000, 1000);
                        }
                    }
                }
            }
        }
        let got = m.since(0);
        assert_eq!(got, want.since(0));
        let names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
        for key in &keys[..4] {
            assert!(names.contains(key), "{key} has points: {names:?}");
        }
        // Two metrics have submetrics, each seen with six tag sets.
        assert_eq!(m.resolved_tag_sets, 12);
        assert_eq!(
            m.submetric_keys("http_req_duration", &tags(&tag_sets[0]))
                .as_deref()
                .map(|k| k.iter().map(|k| &**k).collect::<Vec<_>>()),
            Some(vec![
                "http_req_duration{status:200}",
                "http_req_duration{status:200,method:GET}"
            ])
        );
        assert!(m.submetric_keys("http_reqs", &TagSet::new()).is_none());
        assert_eq!(m.resolved_tag_sets, 12, "found, not resolved again");
        m.set_submetrics(["checks{check:ko}"]);
        assert_eq!(m.resolved_tag_sets, 0, "new thresholds, resolved anew");
        assert_eq!(
            m.submetric_keys("checks", &tags(&tag_sets[4]))
                .as_deref()
                .map(<[_]>::len),
            Some(1)
        );
    }
}
