//! A store of merged series keyed by metric *name* and tag set: what the end-of-test summary,
//! thresholds and the REST APIs read. The local engine converts its id-keyed aggregates into
//! one; the controller merges agents' metric batches into one. Merging is exact (see `Sink`).
//!
//! A series is found by its metric's name, then by its tag set (whose hash is computed once,
//! [`TagSet`]), so a lookup allocates nothing. A caller that merges the same series often
//! (the controller, once per agent and interval) keeps the series' [`Slot`] and merges there
//! directly ([`SeriesStore::merge_finite_at`]).

use std::collections::HashMap;

use super::{BuildSeriesHasher, MergeError, MetricType, Sink, SinkDelta, TagSet, ValueType};

/// A metric's type and what its values contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricInfo {
    pub mtype: MetricType,
    pub contains: ValueType,
}

/// Merged series in first-seen order (so checks and groups keep the order the script used).
#[derive(Debug, Clone, Default)]
pub struct SeriesStore {
    metrics: Vec<(String, MetricInfo)>,
    /// Metric name → (its position in `metrics`, tag set → position in `series`). The tag
    /// sets hash with [`BuildSeriesHasher`]: a set's hash is computed (FNV-1a) when it is made.
    index: HashMap<String, (usize, HashMap<TagSet, usize, BuildSeriesHasher>)>,
    series: Vec<(String, TagSet, Sink)>,
}

/// Where a series was found last ([`SeriesStore::merge_finite_at`]): a hint, checked before
/// use, so a slot of another store or of a store rebuilt since is only slower, never wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slot(Option<usize>);

/// Why a series could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("metric '{name}' is a {existing}; data for it as a {got} cannot be merged")]
    TypeMismatch {
        name: String,
        existing: MetricType,
        got: MetricType,
    },
    #[error("metric '{name}': {source}")]
    Merge { name: String, source: MergeError },
}

/// An aggregate being merged into a store: a sink merged as it is or only when finite
/// ([`Sink::merge_finite`]), or a borrowed one (always only when finite).
#[derive(Clone, Copy)]
enum Incoming<'s, 'a> {
    Whole(&'s Sink),
    Finite(&'s Sink),
    Delta(&'s SinkDelta<'a>),
}

impl Incoming<'_, '_> {
    fn merge_into(self, into: &mut Sink) -> Result<(), MergeError> {
        match self {
            Incoming::Whole(s) => into.merge(s),
            Incoming::Finite(s) => into.merge_finite(s),
            Incoming::Delta(d) => into.merge_finite_delta(d),
        }
    }

    /// A new series' sink: the aggregate itself (checked: merged into an empty one).
    fn fresh(self) -> Result<Sink, MergeError> {
        match self {
            Incoming::Whole(s) => Ok(s.clone()),
            Incoming::Finite(s) => {
                let mut fresh = Sink::new(s.metric_type());
                fresh.merge_finite(s)?;
                Ok(fresh)
            }
            Incoming::Delta(d) => {
                let mut fresh = Sink::new(d.metric_type());
                fresh.merge_finite_delta(d)?;
                Ok(fresh)
            }
        }
    }
}

impl SeriesStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Merges one series' aggregate into the store.
    pub fn merge(
        &mut self,
        name: &str,
        info: MetricInfo,
        tags: &TagSet,
        sink: &Sink,
    ) -> Result<(), StoreError> {
        self.merge_with(name, info, tags, Incoming::Whole(sink))
            .map(drop)
    }

    /// Merges as [`SeriesStore::merge`] does, but refuses an aggregate with a non-finite
    /// number or one that would overflow a sum to ±∞ ([`Sink::merge_finite`]), leaving the
    /// store as it was: for aggregates other processes send.
    pub fn merge_finite(
        &mut self,
        name: &str,
        info: MetricInfo,
        tags: &TagSet,
        sink: &Sink,
    ) -> Result<(), StoreError> {
        self.merge_with(name, info, tags, Incoming::Finite(sink))
            .map(drop)
    }

    /// Merges as [`SeriesStore::merge_finite`] does, starting at `slot`: when it holds the
    /// position of series (`name`, `tags`) the series is merged there without a lookup;
    /// otherwise it is looked up (or added) and `slot` is set to its position.
    pub fn merge_finite_at(
        &mut self,
        slot: &mut Slot,
        name: &str,
        info: MetricInfo,
        tags: &TagSet,
        sink: &Sink,
    ) -> Result<(), StoreError> {
        self.merge_at(slot, name, info, tags, Incoming::Finite(sink))
    }

    /// Merges as [`SeriesStore::merge_finite_at`] does an aggregate borrowed from another
    /// process's message ([`Sink::merge_finite_delta`]).
    pub fn merge_delta_at(
        &mut self,
        slot: &mut Slot,
        name: &str,
        info: MetricInfo,
        tags: &TagSet,
        delta: &SinkDelta<'_>,
    ) -> Result<(), StoreError> {
        self.merge_at(slot, name, info, tags, Incoming::Delta(delta))
    }

    fn merge_at(
        &mut self,
        slot: &mut Slot,
        name: &str,
        info: MetricInfo,
        tags: &TagSet,
        incoming: Incoming<'_, '_>,
    ) -> Result<(), StoreError> {
        if let Some(i) = slot.0 {
            if let Some((n, t, into)) = self.series.get_mut(i) {
                if n == name && t == tags {
                    if into.metric_type() != info.mtype {
                        return Err(StoreError::TypeMismatch {
                            name: name.to_string(),
                            existing: into.metric_type(),
                            got: info.mtype,
                        });
                    }
                    return incoming
                        .merge_into(into)
                        .map_err(|source| StoreError::Merge {
                            name: name.to_string(),
                            source,
                        });
                }
            }
        }
        let at = self.merge_with(name, info, tags, incoming)?;
        *slot = Slot(Some(at));
        Ok(())
    }

    /// Merges the series and returns its position in `series`.
    fn merge_with(
        &mut self,
        name: &str,
        info: MetricInfo,
        tags: &TagSet,
        incoming: Incoming<'_, '_>,
    ) -> Result<usize, StoreError> {
        let merge_error = |source| StoreError::Merge {
            name: name.to_string(),
            source,
        };
        let Some((metric, by_tags)) = self.index.get_mut(name) else {
            // A new metric: its first series, if the aggregate merges into an empty one.
            let fresh = incoming.fresh().map_err(merge_error)?;
            let at = self.series.len();
            let mut by_tags = HashMap::default();
            by_tags.insert(tags.clone(), at);
            self.index
                .insert(name.to_string(), (self.metrics.len(), by_tags));
            self.metrics.push((name.to_string(), info));
            self.series.push((name.to_string(), tags.clone(), fresh));
            return Ok(at);
        };
        let existing = self.metrics[*metric].1.mtype;
        if existing != info.mtype {
            return Err(StoreError::TypeMismatch {
                name: name.to_string(),
                existing,
                got: info.mtype,
            });
        }
        match by_tags.get(tags) {
            Some(&i) => {
                incoming
                    .merge_into(&mut self.series[i].2)
                    .map_err(merge_error)?;
                Ok(i)
            }
            None => {
                let fresh = incoming.fresh().map_err(merge_error)?;
                let at = self.series.len();
                by_tags.insert(tags.clone(), at);
                self.series.push((name.to_string(), tags.clone(), fresh));
                Ok(at)
            }
        }
    }

    /// Merges another store into this one.
    pub fn merge_store(&mut self, other: &SeriesStore) -> Result<(), StoreError> {
        for (name, tags, sink) in &other.series {
            let info = other.info(name).expect("every series has its metric");
            self.merge(name, info, tags, sink)?;
        }
        Ok(())
    }

    pub fn info(&self, name: &str) -> Option<MetricInfo> {
        let (metric, _) = self.index.get(name)?;
        Some(self.metrics[*metric].1)
    }

    /// Metrics with data, in first-seen order.
    pub fn metrics(&self) -> &[(String, MetricInfo)] {
        &self.metrics
    }

    /// Every series, in first-seen order.
    pub fn series(&self) -> impl Iterator<Item = (&str, &TagSet, &Sink)> {
        self.series.iter().map(|(n, t, s)| (n.as_str(), t, s))
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Whether the store has the series of `name` and `tags`.
    pub fn contains(&self, name: &str, tags: &TagSet) -> bool {
        self.index
            .get(name)
            .is_some_and(|(_, by_tags)| by_tags.contains_key(tags))
    }

    /// The metric merged over every tag set that contains `filter`; None without data.
    pub fn aggregate(&self, name: &str, filter: &[(String, String)]) -> Option<Sink> {
        let mut out: Option<Sink> = None;
        for (n, tags, sink) in &self.series {
            if n != name || !tags.contains_all(filter) {
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

    /// Distinct group paths seen (for the group limit).
    pub fn group_count(&self) -> usize {
        let mut paths: Vec<&str> = self
            .series
            .iter()
            .filter_map(|(_, t, _)| t.get("group"))
            .filter(|g| !g.is_empty())
            .collect();
        paths.sort_unstable();
        paths.dedup();
        paths.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(passes: u64, fails: u64) -> Sink {
        let mut s = Sink::new(MetricType::Rate);
        for _ in 0..passes {
            s.add(1.0, 0);
        }
        for _ in 0..fails {
            s.add(0.0, 0);
        }
        s
    }

    const RATE: MetricInfo = MetricInfo {
        mtype: MetricType::Rate,
        contains: ValueType::Default,
    };

    #[test]
    fn merges_exactly_and_filters() {
        let mut a = SeriesStore::new();
        let mut b = SeriesStore::new();
        let ok = TagSet::from_pairs([("status", "200")]);
        let nf = TagSet::from_pairs([("status", "404")]);
        a.merge("checks", RATE, &ok, &rate(3, 1)).unwrap();
        b.merge("checks", RATE, &ok, &rate(2, 0)).unwrap();
        b.merge("checks", RATE, &nf, &rate(0, 5)).unwrap();
        a.merge_store(&b).unwrap();
        let all = a.aggregate("checks", &[]).unwrap();
        assert_eq!(all.stat("passes", 1.0), Some(5.0));
        assert_eq!(all.stat("fails", 1.0), Some(6.0));
        let only = a
            .aggregate("checks", &[("status".into(), "404".into())])
            .unwrap();
        assert_eq!(only.stat("fails", 1.0), Some(5.0));
        assert!(a.aggregate("nope", &[]).is_none());
        let e = a
            .merge(
                "checks",
                MetricInfo {
                    mtype: MetricType::Counter,
                    contains: ValueType::Default,
                },
                &ok,
                &Sink::new(MetricType::Counter),
            )
            .unwrap_err();
        assert!(e.to_string().contains("is a rate"), "{e}");
    }

    #[test]
    fn merge_finite_keeps_the_total_when_a_sum_would_overflow() {
        const COUNTER: MetricInfo = MetricInfo {
            mtype: MetricType::Counter,
            contains: ValueType::Default,
        };
        let counter = |v: f64| {
            let mut s = Sink::new(MetricType::Counter);
            s.add(v, 0);
            s
        };
        let none = TagSet::new();
        let mut s = SeriesStore::new();
        s.merge_finite("reqs", COUNTER, &none, &counter(1e308))
            .unwrap();
        let e = s
            .merge_finite("reqs", COUNTER, &none, &counter(1e308))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("metric 'reqs': the sum would overflow"),
            "{e}"
        );
        s.merge_finite("reqs", COUNTER, &none, &counter(-1e308))
            .unwrap();
        let total = s.aggregate("reqs", &[]).unwrap();
        assert_eq!(total.stat("count", 1.0), Some(0.0));
        // A first aggregate that is not finite leaves no trace, not even its metric.
        let inf = Sink::Counter(crate::metrics::CounterSink {
            sum: f64::INFINITY,
            samples: 1,
        });
        assert!(s.merge_finite("other", COUNTER, &none, &inf).is_err());
        assert!(s.info("other").is_none() && s.aggregate("other", &[]).is_none());
    }

    /// Merging through slots (kept per series, reused, stale or from another store) gives the
    /// store `merge_finite` gives, series for series and in the same order, errors included.
    #[test]
    fn merging_at_slots_equals_merging_by_name_and_tags() {
        let mut rng = crate::test_rng::Rng::new(9);
        let names = ["a", "b", "c"];
        let tag_sets: Vec<TagSet> = (0..6)
            .map(|i| TagSet::from_pairs([("k", i.to_string())]))
            .collect();
        let (mut by_name, mut at) = (SeriesStore::new(), SeriesStore::new());
        let mut other = SeriesStore::new();
        let mut slots = vec![Slot::default(); names.len() * tag_sets.len()];
        for step in 0..3000 {
            let (n, t) = (
                rng.next_u64() as usize % names.len(),
                rng.next_u64() as usize % tag_sets.len(),
            );
            // "c" is sent as a counter and now and then as a rate: refused alike.
            let mtype = match (n, rng.next_u64() % 8) {
                (0, _) => MetricType::Trend,
                (1, _) => MetricType::Rate,
                (_, 0) => MetricType::Rate,
                _ => MetricType::Counter,
            };
            let mut sink = Sink::new(mtype);
            for _ in 0..rng.next_u64() % 30 {
                let v = if rng.next_u64().is_multiple_of(500) {
                    1e308
                } else {
                    rng.open_unit() * 100.0
                };
                sink.add(v, step);
            }
            let info = MetricInfo {
                mtype,
                contains: ValueType::Default,
            };
            // A copy of the tag set, not the same instance: found by equality.
            let tags = TagSet::from_pairs(tag_sets[t].iter());
            let slot = &mut slots[n * tag_sets.len() + t];
            if step.is_multiple_of(97) {
                // A slot of another store is only a hint.
                other
                    .merge_finite_at(slot, names[n], info, &tags, &sink)
                    .ok();
            }
            let want = by_name.merge_finite(names[n], info, &tags, &sink);
            let got = at.merge_finite_at(slot, names[n], info, &tags, &sink);
            assert_eq!(
                want.map_err(|e| e.to_string()),
                got.map_err(|e| e.to_string()),
                "step {step}"
            );
        }
        let list = |s: &SeriesStore| {
            s.series()
                .map(|(n, t, k)| (n.to_string(), t.clone(), k.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(list(&at), list(&by_name));
        assert_eq!(at.metrics(), by_name.metrics());
        assert_eq!(at.series_count(), 18);
    }

    #[test]
    fn counts_distinct_groups() {
        let mut s = SeriesStore::new();
        let t = |g: &str| TagSet::from_pairs([("group", g), ("check", "c")]);
        for g in ["::api", "::api::nested", "", "::api"] {
            s.merge("checks", RATE, &t(g), &rate(1, 0)).unwrap();
        }
        assert_eq!(s.group_count(), 2);
    }
}
