//! The series of a run's metric batches, each resolved once: every agent sends the same
//! (metric, tag set) pairs interval after interval, so the first time a pair comes its tags are
//! checked (UTF-8) and made a [`TagSet`] (sorted, hashed), and the result is kept under the
//! series' bytes as they came but for its sink (the metric's name, its value type and its
//! tags: `pb::SeriesView::key`). Later batches find it with one hash of those bytes, read in
//! place: no tag strings are decoded, allocated, sorted or hashed again, and the series'
//! positions in the run's store and in its interval's store are remembered with it, so the
//! three merges of a series (the run's store, its timeline, its metric series: `merge.rs`)
//! share one lookup.
//!
//! Nothing is sent once and referred to later: every batch carries its series whole, so a
//! batch replayed after a reconnect or by another controller (docs/ha.md) resolves the same.
//! The same tag set sent in another order (or encoded otherwise) is another entry that resolves to an equal
//! [`TagSet`], so the merged data is as without this cache.
//!
//! The keys come from agents, so the map is bounded ([`MAX_KEYS`]; past it a series is
//! resolved each time, as before) and hashed with foldhash seeded per map from the standard
//! library's random keys: fast on the ~200 bytes of a key (SipHash costs several times more),
//! and an agent cannot choose keys that collide without knowing the seed.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use foldhash::fast::FixedState;
use volley_common::metrics::store::Slot;
use volley_common::metrics::TagSet;
use volley_proto as pb;

/// Distinct (metric, tag set) pairs kept per run: far more than a run's series may be
/// (`max_series`, 10,000 by default), to allow for each agent's own tag order.
pub const MAX_KEYS: usize = 100_000;

/// Bytes of one key kept at most (longer ones are resolved each time): bounds the map's memory
/// to `MAX_KEYS` × this.
const MAX_KEY_BYTES: usize = 4096;

/// One (metric, tag set) pair, resolved.
#[derive(Clone)]
pub struct Resolved {
    /// The pair's tags.
    pub tags: TagSet,
    /// Where the series is in the run's store (a hint: checked before use).
    pub slot: Slot,
    /// Whether the metric is kept per interval (one of the metrics `resolve` was given).
    pub in_timeline: bool,
    /// Where the metric was in the last interval's store it went to (a hint: the intervals'
    /// stores see their metrics in about the same order).
    pub interval_slot: Slot,
}

/// The resolved pairs of one run.
pub struct SeriesKeys {
    map: HashMap<Box<[u8]>, usize, FixedState>,
    resolved: Vec<Resolved>,
    /// Where a pair not kept is resolved.
    spare: Option<Resolved>,
}

impl Default for SeriesKeys {
    fn default() -> SeriesKeys {
        let seed = RandomState::new().hash_one(0u64);
        SeriesKeys {
            map: HashMap::with_hasher(FixedState::with_seed(seed)),
            resolved: Vec::new(),
            spare: None,
        }
    }
}

impl SeriesKeys {
    /// The tags of `series` and its slot in the run's store; refused, naming the field, when a
    /// tag is not UTF-8; `timeline_metrics` are the metrics kept per interval. The key is the series' encoding but for its sink, as sent (one range
    /// of the batch's buffer, hashed in place).
    pub fn resolve(
        &mut self,
        series: &pb::SeriesView<'_>,
        timeline_metrics: &[&str],
    ) -> Result<&mut Resolved, pb::SeriesError> {
        let key = series.key();
        if let Some(&i) = self.map.get(key) {
            return Ok(&mut self.resolved[i]);
        }
        let resolved = Resolved {
            tags: TagSet::from_pairs(series.tag_pairs()?),
            slot: Slot::default(),
            in_timeline: timeline_metrics.contains(&series.metric()),
            interval_slot: Slot::default(),
        };
        if self.map.len() >= MAX_KEYS || key.len() > MAX_KEY_BYTES {
            return Ok(self.spare.insert(resolved));
        }
        let i = self.resolved.len();
        self.map.insert(key.into(), i);
        self.resolved.push(resolved);
        Ok(&mut self.resolved[i])
    }

    /// Pairs kept.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no pair is kept.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use volley_common::metrics::{MetricType, Sink, ValueType};
    use volley_proto::Message as _;

    use super::*;

    /// `series` as the controller reads it from a batch, resolved.
    fn resolve<'k>(
        keys: &'k mut SeriesKeys,
        series: &pb::Series,
    ) -> Result<&'k mut Resolved, pb::SeriesError> {
        let bytes = series.encode_to_vec();
        let mut reader = pb::SeriesReader::default();
        let view = reader.read(&bytes).expect("a well-formed series");
        keys.resolve(&view, &[])
    }

    fn series(metric: &str, tags: &[(&str, &str)]) -> pb::Series {
        pb::Series::from_sink(
            metric.into(),
            ValueType::Default,
            tags.iter().copied(),
            Sink::new(MetricType::Counter),
        )
    }

    /// Each pair is resolved to the tag set `TagSet::from_pairs` makes of its tags (the last
    /// of a repeated key winning), kept once, whatever the order of its tags; a key's bytes
    /// cannot run into the next one's.
    #[test]
    fn pairs_resolve_to_their_tag_sets_once() {
        let mut keys = SeriesKeys::default();
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("m", &[("a", "1"), ("b", "2")]),
            ("m", &[("b", "2"), ("a", "1")]),
            ("m", &[("a", "1"), ("b", "2"), ("a", "3")]),
            ("m", &[("a", "1b"), ("", "2")]),
            ("m", &[("a", "1"), ("b", "2")]),
            ("n", &[("a", "1"), ("b", "2")]),
            ("m", &[]),
            ("ma", &[]),
        ];
        for (metric, tags) in cases {
            let r = resolve(&mut keys, &series(metric, tags)).unwrap();
            assert_eq!(r.tags, TagSet::from_pairs(tags.iter().copied()), "{tags:?}");
        }
        assert_eq!(keys.len(), 7, "the repeated pair is kept once");
        let tags = resolve(&mut keys, &series("m", &[("a", "1"), ("b", "2")]))
            .unwrap()
            .tags
            .clone();
        let again = resolve(&mut keys, &series("m", &[("a", "1"), ("b", "2")])).unwrap();
        assert!(again.tags.is_same(&tags), "found, not made again");
    }

    #[test]
    fn a_tag_that_is_not_utf8_is_refused_naming_its_field() {
        let mut keys = SeriesKeys::default();
        let mut s = series("m", &[("a", "1")]);
        s.tags[0].value = (&b"\xff"[..]).into();
        let err = resolve(&mut keys, &s).err().expect("refused");
        assert_eq!(err.field, "tags.value");
        s.tags[0].key = (&b"\xc3"[..]).into();
        assert_eq!(
            resolve(&mut keys, &s).err().expect("refused").field,
            "tags.key"
        );
        assert!(keys.is_empty(), "nothing kept");
    }

    #[test]
    fn past_the_bound_pairs_are_resolved_each_time() {
        let mut keys = SeriesKeys::default();
        for i in 0..MAX_KEYS + 10 {
            let v = i.to_string();
            let r = resolve(&mut keys, &series("m", &[("i", &v)])).unwrap();
            assert_eq!(r.tags.get("i"), Some(v.as_str()));
        }
        assert_eq!(keys.len(), MAX_KEYS);
        let mut keys = SeriesKeys::default();
        let long = "x".repeat(MAX_KEY_BYTES);
        let r = resolve(&mut keys, &series("m", &[("long", &long)])).unwrap();
        assert_eq!(r.tags.get("long"), Some(long.as_str()));
        assert!(keys.is_empty(), "a key this long is not kept");
    }
}
