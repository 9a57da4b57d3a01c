//! Metrics inside one load generator: the metric registry, per-worker aggregation (no lock per
//! sample) and the run's merged store that thresholds, the summary and the REST API read.
//!
//! A VU records a sample into its JS worker's [`WorkerMetrics`] (a plain `RefCell`, the worker is
//! single-threaded). Every flush interval, and at the end, the worker merges its aggregates into
//! the run's [`MetricsStore`] under one lock. Aggregates are kept per (metric, tag set), which is
//! what submetric thresholds and the cluster's exact merge need. [`batch`] turns the store's
//! interval deltas into the protobuf series agents and `--out cloud` ship.

pub mod batch;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use volley_common::metrics::{BuildSeriesHasher, MetricType, Sink, TagSet, ValueType};

/// Index of a metric in the [`Registry`].
pub type MetricId = usize;

/// A registered metric.
#[derive(Debug, Clone)]
pub struct MetricDef {
    pub name: String,
    pub mtype: MetricType,
    pub contains: ValueType,
}

/// k6's built-in metrics, registered first, in this order, so their ids are constants.
pub mod builtin {
    use super::MetricId;
    pub const HTTP_REQS: MetricId = 0;
    pub const HTTP_REQ_DURATION: MetricId = 1;
    pub const HTTP_REQ_BLOCKED: MetricId = 2;
    pub const HTTP_REQ_CONNECTING: MetricId = 3;
    pub const HTTP_REQ_TLS_HANDSHAKING: MetricId = 4;
    pub const HTTP_REQ_SENDING: MetricId = 5;
    pub const HTTP_REQ_WAITING: MetricId = 6;
    pub const HTTP_REQ_RECEIVING: MetricId = 7;
    pub const HTTP_REQ_FAILED: MetricId = 8;
    pub const ITERATIONS: MetricId = 9;
    pub const ITERATION_DURATION: MetricId = 10;
    pub const VUS: MetricId = 11;
    pub const VUS_MAX: MetricId = 12;
    pub const DATA_SENT: MetricId = 13;
    pub const DATA_RECEIVED: MetricId = 14;
    pub const CHECKS: MetricId = 15;
    pub const GROUP_DURATION: MetricId = 16;
    pub const DROPPED_ITERATIONS: MetricId = 17;
    pub const WS_SESSIONS: MetricId = 18;
    pub const WS_SESSION_DURATION: MetricId = 19;
    pub const WS_CONNECTING: MetricId = 20;
    pub const WS_MSGS_SENT: MetricId = 21;
    pub const WS_MSGS_RECEIVED: MetricId = 22;
    pub const WS_PING: MetricId = 23;
    pub const GRPC_REQ_DURATION: MetricId = 24;
    pub const GRPC_STREAMS: MetricId = 25;
    pub const GRPC_STREAMS_MSGS_SENT: MetricId = 26;
    pub const GRPC_STREAMS_MSGS_RECEIVED: MetricId = 27;
}

const BUILTINS: &[(&str, MetricType, ValueType)] = &[
    ("http_reqs", MetricType::Counter, ValueType::Default),
    ("http_req_duration", MetricType::Trend, ValueType::Time),
    ("http_req_blocked", MetricType::Trend, ValueType::Time),
    ("http_req_connecting", MetricType::Trend, ValueType::Time),
    (
        "http_req_tls_handshaking",
        MetricType::Trend,
        ValueType::Time,
    ),
    ("http_req_sending", MetricType::Trend, ValueType::Time),
    ("http_req_waiting", MetricType::Trend, ValueType::Time),
    ("http_req_receiving", MetricType::Trend, ValueType::Time),
    ("http_req_failed", MetricType::Rate, ValueType::Default),
    ("iterations", MetricType::Counter, ValueType::Default),
    ("iteration_duration", MetricType::Trend, ValueType::Time),
    ("vus", MetricType::Gauge, ValueType::Default),
    ("vus_max", MetricType::Gauge, ValueType::Default),
    ("data_sent", MetricType::Counter, ValueType::Data),
    ("data_received", MetricType::Counter, ValueType::Data),
    ("checks", MetricType::Rate, ValueType::Default),
    ("group_duration", MetricType::Trend, ValueType::Time),
    (
        "dropped_iterations",
        MetricType::Counter,
        ValueType::Default,
    ),
    ("ws_sessions", MetricType::Counter, ValueType::Default),
    ("ws_session_duration", MetricType::Trend, ValueType::Time),
    ("ws_connecting", MetricType::Trend, ValueType::Time),
    ("ws_msgs_sent", MetricType::Counter, ValueType::Default),
    ("ws_msgs_received", MetricType::Counter, ValueType::Default),
    ("ws_ping", MetricType::Trend, ValueType::Time),
    ("grpc_req_duration", MetricType::Trend, ValueType::Time),
    ("grpc_streams", MetricType::Counter, ValueType::Default),
    (
        "grpc_streams_msgs_sent",
        MetricType::Counter,
        ValueType::Default,
    ),
    (
        "grpc_streams_msgs_received",
        MetricType::Counter,
        ValueType::Default,
    ),
];

/// Errors registering a custom metric.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("Invalid metric name: '{0}'. Metric names must only include up to 128 ASCII letters, numbers, or underscores and start with a letter or an underscore.")]
    InvalidName(String),
    #[error("metric '{name}' already exists as a {existing}; it cannot be registered again as a {requested}")]
    TypeMismatch {
        name: String,
        existing: String,
        requested: String,
    },
}

/// All metrics of a run, built-in and custom. Written only when a script creates a metric
/// (init context), read when emitting summaries.
pub struct Registry {
    inner: RwLock<(Vec<MetricDef>, HashMap<String, MetricId>)>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        let defs: Vec<MetricDef> = BUILTINS
            .iter()
            .map(|(n, t, c)| MetricDef {
                name: n.to_string(),
                mtype: *t,
                contains: *c,
            })
            .collect();
        let by_name = defs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), i))
            .collect();
        Registry {
            inner: RwLock::new((defs, by_name)),
        }
    }

    /// Registers a custom metric, or returns the existing one of the same type (every VU's init
    /// context creates the same metrics).
    pub fn register(
        &self,
        name: &str,
        mtype: MetricType,
        contains: ValueType,
    ) -> Result<MetricId, RegistryError> {
        if !valid_metric_name(name) {
            return Err(RegistryError::InvalidName(name.to_string()));
        }
        {
            let r = self.inner.read().unwrap_or_else(|e| e.into_inner());
            if let Some(&id) = r.1.get(name) {
                return check_same(&r.0[id], name, mtype, id);
            }
        }
        let mut w = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = w.1.get(name) {
            return check_same(&w.0[id], name, mtype, id);
        }
        let id = w.0.len();
        w.0.push(MetricDef {
            name: name.to_string(),
            mtype,
            contains,
        });
        w.1.insert(name.to_string(), id);
        Ok(id)
    }

    pub fn get(&self, id: MetricId) -> Option<MetricDef> {
        let r = self.inner.read().unwrap_or_else(|e| e.into_inner());
        r.0.get(id).cloned()
    }

    pub fn by_name(&self, name: &str) -> Option<(MetricId, MetricDef)> {
        let r = self.inner.read().unwrap_or_else(|e| e.into_inner());
        r.1.get(name).map(|&id| (id, r.0[id].clone()))
    }

    pub fn all(&self) -> Vec<MetricDef> {
        let r = self.inner.read().unwrap_or_else(|e| e.into_inner());
        r.0.clone()
    }
}

fn check_same(
    def: &MetricDef,
    name: &str,
    mtype: MetricType,
    id: MetricId,
) -> Result<MetricId, RegistryError> {
    if def.mtype == mtype {
        Ok(id)
    } else {
        Err(RegistryError::TypeMismatch {
            name: name.to_string(),
            existing: def.mtype.to_string(),
            requested: mtype.to_string(),
        })
    }
}

/// k6 v1.1.0's rule for metric names: an ASCII letter or `_`, then 1 to 128 ASCII letters,
/// digits or `_` (so one character alone is refused, as k6 refuses it).
fn valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    (2..=129).contains(&b.len())
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// One raw sample, kept only when an output (`--out json`) needs every sample.
#[derive(Debug, Clone)]
pub struct SampleRecord {
    pub metric: MetricId,
    pub time: SystemTime,
    pub value: f64,
    pub tags: TagSet,
}

/// One series handed from a worker to the store: its key, its aggregate since the last flush
/// and its first-seen stamp.
pub type SeriesDelta = ((MetricId, TagSet), Sink, u64);

/// Aggregates of one JS worker thread between two flushes.
pub struct WorkerMetrics {
    registry: Arc<Registry>,
    /// Position of each series in `series`.
    index: HashMap<(MetricId, TagSet), usize, BuildSeriesHasher>,
    /// Series in first-seen order, each with its [`first_seen_stamp`], so the store (and the
    /// summary's checks and groups) keeps the order in which the script first used them.
    series: Vec<SeriesDelta>,
    /// Raw samples for outputs, when enabled.
    raw: Option<Vec<SampleRecord>>,
    /// One shared instance of each tag set the worker's VUs built (see [`Self::intern`]).
    interned: HashSet<TagSet, BuildSeriesHasher>,
}

/// Most tag sets [`WorkerMetrics::intern`] keeps; past that (URLs with ids in them, say) the
/// table starts over, which only costs the comparisons it saves.
const MAX_INTERNED: usize = 4096;

/// A process-wide sequence number for a series seen for the first time. Workers flush at
/// different moments (setup may run on one worker and teardown on another), so the store orders
/// series by this stamp rather than by when a worker happened to merge them.
fn first_seen_stamp() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl WorkerMetrics {
    pub fn new(registry: Arc<Registry>, keep_raw: bool) -> Self {
        WorkerMetrics {
            registry,
            index: HashMap::default(),
            series: Vec::new(),
            raw: keep_raw.then(Vec::new),
            interned: HashSet::default(),
        }
    }

    /// The worker's shared instance of `tags`. Each VU builds its own tag sets; equal sets of
    /// different VUs then meet in [`Self::add`] as different pointers and are compared string by
    /// string (profiled: ~5 % of a JS worker's time with 64 VUs). Interned, they compare by
    /// pointer.
    pub fn intern(&mut self, tags: TagSet) -> TagSet {
        if let Some(t) = self.interned.get(&tags) {
            return t.clone();
        }
        if self.interned.len() >= MAX_INTERNED {
            self.interned.clear();
        }
        self.interned.insert(tags.clone());
        tags
    }

    /// Records one sample. Non-finite values are dropped (k6 would produce NaN summaries).
    pub fn add(&mut self, metric: MetricId, tags: &TagSet, value: f64, time: SystemTime) {
        self.add_all(tags, time, &[(metric, value)]);
    }

    /// Records samples of one moment with one tag set (a request's nine, an iteration's four):
    /// the time is converted and the key copied once for all of them, not per sample.
    pub fn add_all(&mut self, tags: &TagSet, time: SystemTime, samples: &[(MetricId, f64)]) {
        let at = nanos(time);
        let mut key = (0, tags.clone());
        for &(metric, value) in samples {
            if !value.is_finite() {
                continue;
            }
            key.0 = metric;
            match self.index.get(&key) {
                Some(&i) => self.series[i].1.add(value, at),
                None => {
                    let Some(def) = self.registry.get(metric) else {
                        continue;
                    };
                    let mut sink = Sink::new(def.mtype);
                    sink.add(value, at);
                    self.index.insert(key.clone(), self.series.len());
                    self.series.push((key.clone(), sink, first_seen_stamp()));
                }
            }
            if let Some(raw) = self.raw.as_mut() {
                raw.push(SampleRecord {
                    metric,
                    time,
                    value,
                    tags: tags.clone(),
                });
            }
        }
    }

    /// Takes what was aggregated since the last flush, series in first-seen order.
    pub fn take(&mut self) -> (Vec<SeriesDelta>, Vec<SampleRecord>) {
        self.index.clear();
        let series = std::mem::take(&mut self.series);
        let raw = self.raw.as_mut().map(std::mem::take).unwrap_or_default();
        (series, raw)
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty() && self.raw.as_ref().is_none_or(|r| r.is_empty())
    }
}

/// Receives raw samples for outputs such as `--out json`.
pub trait SampleSink: Send + Sync {
    fn write(&self, samples: Vec<SampleRecord>);
}

/// The run's merged metrics. Series are listed in first-seen order (by the stamp of the first
/// worker that saw them), so checks and groups appear in the order the script first used them.
#[derive(Default)]
pub struct MetricsStore {
    inner: Mutex<StoreInner>,
}

#[derive(Default)]
struct StoreInner {
    index: HashMap<(MetricId, TagSet), usize, BuildSeriesHasher>,
    series: Vec<(MetricId, TagSet, Sink)>,
    /// The earliest [`first_seen_stamp`] of each series (same positions as `series`).
    first_seen: Vec<u64>,
    /// What was merged since the last [`MetricsStore::take_delta`], when a cluster agent ships
    /// interval batches (None otherwise, so local runs pay nothing).
    delta: Option<HashMap<(MetricId, TagSet), Sink>>,
}

impl StoreInner {
    /// Positions of `series` in first-seen order.
    fn ordered(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.series.len()).collect();
        order.sort_by_key(|&i| self.first_seen[i]);
        order
    }
}

impl MetricsStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts keeping interval deltas for [`MetricsStore::take_delta`].
    pub fn keep_deltas(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.delta.get_or_insert_with(HashMap::new);
    }

    /// What was merged since the last call (cluster agents ship it as a metric batch).
    pub fn take_delta(&self) -> Vec<(MetricId, TagSet, Sink)> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(d) = inner.delta.as_mut() else {
            return Vec::new();
        };
        let taken = std::mem::take(d);
        // In first-seen order, so the receiver lists checks and groups as the script used them.
        let mut out: Vec<(u64, MetricId, TagSet, Sink)> = taken
            .into_iter()
            .map(|((m, t), s)| {
                let stamp = inner
                    .index
                    .get(&(m, t.clone()))
                    .map(|&i| inner.first_seen[i])
                    .unwrap_or(u64::MAX);
                (stamp, m, t, s)
            })
            .collect();
        out.sort_by_key(|e| e.0);
        out.into_iter().map(|(_, m, t, s)| (m, t, s)).collect()
    }

    /// Merges a worker's aggregates: `(series key, sink, first-seen stamp)`.
    pub fn merge(&self, delta: impl IntoIterator<Item = SeriesDelta>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (key, sink, stamp) in delta {
            if let Some(d) = inner.delta.as_mut() {
                match d.get_mut(&key) {
                    Some(existing) => {
                        let _ = existing.merge(&sink);
                    }
                    None => {
                        d.insert(key.clone(), sink.clone());
                    }
                }
            }
            match inner.index.get(&key) {
                Some(&i) => {
                    if let Err(e) = inner.series[i].2.merge(&sink) {
                        tracing::warn!("dropping metric data that does not merge: {e}");
                    }
                    inner.first_seen[i] = inner.first_seen[i].min(stamp);
                }
                None => {
                    let i = inner.series.len();
                    inner.index.insert(key.clone(), i);
                    inner.series.push((key.0, key.1, sink));
                    inner.first_seen.push(stamp);
                }
            }
        }
    }

    /// Adds one sample directly (engine-side metrics such as `vus`).
    pub fn add(&self, registry: &Registry, metric: MetricId, tags: &TagSet, value: f64) {
        let Some(def) = registry.get(metric) else {
            return;
        };
        let mut sink = Sink::new(def.mtype);
        sink.add(value, nanos(SystemTime::now()));
        self.merge([((metric, tags.clone()), sink, first_seen_stamp())]);
    }

    /// The metric merged over all tag sets that contain `filter` (all of them for an empty
    /// filter). `None` when no series matched.
    pub fn aggregate(&self, metric: MetricId, filter: &[(String, String)]) -> Option<Sink> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Option<Sink> = None;
        for (m, tags, sink) in &inner.series {
            if *m != metric || !tags.contains_all(filter) {
                continue;
            }
            match out.as_mut() {
                None => out = Some(sink.clone()),
                Some(o) => {
                    let _ = o.merge(sink);
                }
            }
        }
        out
    }

    /// Every series, in first-seen order (a snapshot).
    /// The merged series keyed by metric name (what summaries, thresholds and APIs read).
    pub fn to_series_store(
        &self,
        registry: &Registry,
    ) -> volley_common::metrics::store::SeriesStore {
        let mut out = volley_common::metrics::store::SeriesStore::new();
        for (id, tags, sink) in self.series() {
            let Some(def) = registry.get(id) else {
                continue;
            };
            let info = volley_common::metrics::store::MetricInfo {
                mtype: def.mtype,
                contains: def.contains,
            };
            if let Err(e) = out.merge(&def.name, info, &tags, &sink) {
                tracing::warn!("{e}");
            }
        }
        out
    }

    pub fn series(&self) -> Vec<(MetricId, TagSet, Sink)> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .ordered()
            .into_iter()
            .map(|i| inner.series[i].clone())
            .collect()
    }

    /// Ids of the metrics that have at least one sample, in first-seen order.
    pub fn observed_metrics(&self) -> Vec<MetricId> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = Vec::new();
        for i in inner.ordered() {
            let m = inner.series[i].0;
            if !seen.contains(&m) {
                seen.push(m);
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tag_sets_of_different_vus_are_interned_to_one() {
        let mut w = WorkerMetrics::new(Arc::new(Registry::new()), false);
        let a = TagSet::from_pairs([("scenario", "default"), ("status", "200")]);
        let b = TagSet::from_pairs([("status", "200"), ("scenario", "default")]);
        assert!(!a.is_same(&b));
        let a = w.intern(a);
        let b = w.intern(b);
        assert!(a.is_same(&b));
        let other = w.intern(TagSet::from_pairs([("status", "404")]));
        assert!(!other.is_same(&a));
        // Past the bound the table starts over rather than growing.
        for i in 0..MAX_INTERNED + 10 {
            w.intern(TagSet::from_pairs([("url", i.to_string())]));
        }
        assert!(w.interned.len() <= MAX_INTERNED);
        // Samples of interned sets land in one series.
        w.add(builtin::HTTP_REQS, &a, 1.0, SystemTime::now());
        w.add(builtin::HTTP_REQS, &b, 1.0, SystemTime::now());
        assert_eq!(w.take().0.len(), 1);
    }

    #[test]
    fn samples_added_together_land_as_added_one_by_one() {
        let reg = Arc::new(Registry::new());
        let tags = TagSet::from_pairs([("status", "200")]);
        let t = SystemTime::now();
        let samples = [
            (builtin::HTTP_REQS, 1.0),
            (builtin::HTTP_REQ_DURATION, 2.5),
            (builtin::HTTP_REQ_BLOCKED, f64::NAN),
            (builtin::HTTP_REQ_FAILED, 0.0),
            (builtin::HTTP_REQ_DURATION, 4.5),
        ];
        let mut together = WorkerMetrics::new(reg.clone(), true);
        together.add_all(&tags, t, &samples);
        let mut apart = WorkerMetrics::new(reg, true);
        for (m, v) in samples {
            apart.add(m, &tags, v, t);
        }
        let ((a, raw_a), (b, raw_b)) = (together.take(), apart.take());
        let view = |d: &[SeriesDelta]| {
            d.iter()
                .map(|((m, t), s, _)| (*m, t.clone(), s.stat("count", 1.0), s.stat("max", 1.0)))
                .collect::<Vec<_>>()
        };
        assert_eq!(view(&a), view(&b));
        // The NaN is dropped; the second duration joins the first one's series.
        assert_eq!(a.len(), 3);
        assert_eq!(view(&a)[1].2, Some(2.0));
        let raw = |r: &[SampleRecord]| r.iter().map(|s| (s.metric, s.value)).collect::<Vec<_>>();
        assert_eq!(raw(&raw_a), raw(&raw_b));
        assert_eq!(raw_a.len(), 4);
    }

    #[test]
    fn registry_builtins_and_custom() {
        let r = Registry::new();
        assert_eq!(r.by_name("http_reqs").unwrap().0, builtin::HTTP_REQS);
        assert_eq!(
            r.by_name("dropped_iterations").unwrap().0,
            builtin::DROPPED_ITERATIONS
        );
        let a = r
            .register("my_trend", MetricType::Trend, ValueType::Time)
            .unwrap();
        let b = r
            .register("my_trend", MetricType::Trend, ValueType::Time)
            .unwrap();
        assert_eq!(a, b);
        let e = r
            .register("my_trend", MetricType::Counter, ValueType::Default)
            .unwrap_err();
        assert!(e.to_string().contains("already exists as a trend"), "{e}");
        assert!(r
            .register("bad{name}", MetricType::Counter, ValueType::Default)
            .is_err());
        assert!(r
            .register("", MetricType::Counter, ValueType::Default)
            .is_err());
    }

    /// The names k6 v1.1.0 accepts and refuses (measured), and its message.
    #[test]
    fn metric_names_follow_k6s_rule() {
        let long = "a".repeat(129);
        for ok in ["_x", "ab", "http_reqs", "A9_z", long.as_str()] {
            assert!(valid_metric_name(ok), "{ok}");
        }
        let too_long = "a".repeat(130);
        for bad in [
            "Requests Counter",
            "a",
            "1abc",
            "abc-def",
            "héllo",
            "a.b",
            "",
            too_long.as_str(),
        ] {
            assert!(!valid_metric_name(bad), "{bad}");
        }
        let e = Registry::new()
            .register("Requests Counter", MetricType::Counter, ValueType::Default)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid metric name: 'Requests Counter'. Metric names must only include up to 128 \
             ASCII letters, numbers, or underscores and start with a letter or an underscore."
        );
    }

    #[test]
    fn series_keep_first_seen_order() {
        let reg = Arc::new(Registry::new());
        let store = MetricsStore::new();
        let mut w = WorkerMetrics::new(reg.clone(), false);
        let names = ["zeta", "alpha", "mid", "beta", "omega", "gamma"];
        for n in names {
            let tags = TagSet::from_pairs([("check", n)]);
            w.add(builtin::CHECKS, &tags, 1.0, SystemTime::now());
        }
        w.add(
            builtin::CHECKS,
            &TagSet::from_pairs([("check", "alpha")]),
            0.0,
            SystemTime::now(),
        );
        let (delta, _) = w.take();
        store.merge(delta);
        let seen: Vec<String> = store
            .series()
            .iter()
            .filter_map(|(_, t, _)| t.get("check").map(str::to_string))
            .collect();
        assert_eq!(seen, names);
        assert!(w.is_empty());
    }

    #[test]
    fn first_seen_order_survives_the_worker_flush_order() {
        // setup() runs on worker 1, teardown() later on worker 0, and worker 0 flushes first:
        // the store must still list the setup group before the teardown group.
        let reg = Arc::new(Registry::new());
        let store = MetricsStore::new();
        let mut w0 = WorkerMetrics::new(reg.clone(), false);
        let mut w1 = WorkerMetrics::new(reg.clone(), false);
        let group = |g: &str| TagSet::from_pairs([("group", g), ("check", "c")]);
        w1.add(builtin::CHECKS, &group("::setup"), 1.0, SystemTime::now());
        w0.add(
            builtin::CHECKS,
            &group("::teardown"),
            1.0,
            SystemTime::now(),
        );
        w1.add(
            builtin::CHECKS,
            &group("::teardown"),
            1.0,
            SystemTime::now(),
        );
        store.merge(w0.take().0);
        store.merge(w1.take().0);
        let seen: Vec<String> = store
            .series()
            .iter()
            .filter_map(|(_, t, _)| t.get("group").map(str::to_string))
            .collect();
        assert_eq!(seen, ["::setup", "::teardown"]);
        assert_eq!(store.observed_metrics(), vec![builtin::CHECKS]);
        let all = store.aggregate(builtin::CHECKS, &[]).expect("checks");
        assert_eq!(all.stat("passes", 1.0), Some(3.0));
    }

    #[test]
    fn worker_to_store_merge_and_filters() {
        let reg = Arc::new(Registry::new());
        let store = MetricsStore::new();
        let mut w1 = WorkerMetrics::new(reg.clone(), false);
        let mut w2 = WorkerMetrics::new(reg.clone(), true);
        let ok = TagSet::from_pairs([("status", "200")]);
        let nf = TagSet::from_pairs([("status", "404")]);
        for i in 0..10 {
            w1.add(builtin::HTTP_REQ_DURATION, &ok, i as f64, SystemTime::now());
            w2.add(
                builtin::HTTP_REQ_DURATION,
                &nf,
                100.0 + i as f64,
                SystemTime::now(),
            );
        }
        w1.add(builtin::HTTP_REQ_DURATION, &ok, f64::NAN, SystemTime::now());
        let (d1, raw1) = w1.take();
        let (d2, raw2) = w2.take();
        assert!(raw1.is_empty());
        assert_eq!(raw2.len(), 10);
        store.merge(d1);
        store.merge(d2);
        let all = store.aggregate(builtin::HTTP_REQ_DURATION, &[]).unwrap();
        assert_eq!(all.stat("count", 1.0), Some(20.0));
        let f = store
            .aggregate(
                builtin::HTTP_REQ_DURATION,
                &[("status".to_string(), "404".to_string())],
            )
            .unwrap();
        assert_eq!(f.stat("min", 1.0), Some(100.0));
        assert!(store.aggregate(builtin::HTTP_REQS, &[]).is_none());
        assert_eq!(store.observed_metrics(), vec![builtin::HTTP_REQ_DURATION]);
    }
}
