//! A store of merged series keyed by metric *name* and tag set: what the end-of-test summary,
//! thresholds and the REST APIs read. The local engine converts its id-keyed aggregates into
//! one; the controller merges agents' metric batches into one. Merging is exact (see `Sink`).

use std::collections::HashMap;

use super::{MergeError, MetricType, Sink, TagSet, ValueType};

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
    index: HashMap<(String, TagSet), usize>,
    series: Vec<(String, TagSet, Sink)>,
}

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
        self.merge_with(name, info, tags, sink, false)
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
        self.merge_with(name, info, tags, sink, true)
    }

    fn merge_with(
        &mut self,
        name: &str,
        info: MetricInfo,
        tags: &TagSet,
        sink: &Sink,
        finite: bool,
    ) -> Result<(), StoreError> {
        let known = match self.metrics.iter().find(|(n, _)| n == name) {
            Some((_, existing)) if existing.mtype != info.mtype => {
                return Err(StoreError::TypeMismatch {
                    name: name.to_string(),
                    existing: existing.mtype,
                    got: info.mtype,
                })
            }
            Some(_) => true,
            None => false,
        };
        let key = (name.to_string(), tags.clone());
        let merged = match self.index.get(&key) {
            Some(&i) if finite => self.series[i].2.merge_finite(sink),
            Some(&i) => self.series[i].2.merge(sink),
            None => {
                // A new series: the aggregate itself (checked: merged into an empty one).
                let mut fresh = sink.clone();
                let checked = if finite {
                    fresh = Sink::new(sink.metric_type());
                    fresh.merge_finite(sink)
                } else {
                    Ok(())
                };
                checked.map(|()| {
                    self.index.insert(key, self.series.len());
                    self.series.push((name.to_string(), tags.clone(), fresh));
                })
            }
        };
        merged.map_err(|source| StoreError::Merge {
            name: name.to_string(),
            source,
        })?;
        if !known {
            self.metrics.push((name.to_string(), info));
        }
        Ok(())
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
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| *i)
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
