//! `TagSet`: the tags of a metric series.
//!
//! Aggregates are kept per (metric, tag set), so a tag set is a map key on the hot path: it is
//! sorted (equal sets compare and hash equal whatever the insertion order), immutable and
//! shared behind one `Arc` (cloning is a reference-count bump, not a copy of strings). Its hash
//! is computed once, when it is made: a sample's lookup hashes a `u64`, not every tag string,
//! and a set compares equal to itself by pointer.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A hasher for keys made of [`TagSet`]s and integers (a series key is `(metric id, tags)`):
/// their parts are already well-mixed or small, so it folds each written word in with one
/// multiply instead of running SipHash (profiled: SipHash was ~2 % of a load generator's time,
/// at ~14 samples per `http.get` iteration). Not for keys an attacker chooses.
#[derive(Default, Clone, Copy)]
pub struct SeriesHasher(u64);

impl std::hash::Hasher for SeriesHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
}

/// `HashMap`/`HashSet` hashing with [`SeriesHasher`].
pub type BuildSeriesHasher = std::hash::BuildHasherDefault<SeriesHasher>;

/// An immutable, sorted set of `(key, value)` string pairs with unique keys.
#[derive(Clone)]
pub struct TagSet(Arc<Inner>);

struct Inner {
    /// FNV-1a over the pairs, computed once.
    hash: u64,
    pairs: Box<[(Arc<str>, Arc<str>)]>,
}

impl TagSet {
    /// Wraps sorted pairs with unique keys, computing their hash.
    fn from_sorted(pairs: Vec<(Arc<str>, Arc<str>)>) -> TagSet {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            // A separator, so ("ab","c") and ("a","bc") differ.
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        };
        for (k, v) in &pairs {
            eat(k.as_bytes());
            eat(v.as_bytes());
        }
        TagSet(Arc::new(Inner {
            hash: h,
            pairs: pairs.into_boxed_slice(),
        }))
    }
}

impl PartialEq for TagSet {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.hash == other.0.hash && self.0.pairs == other.0.pairs)
    }
}

impl Eq for TagSet {}

impl std::hash::Hash for TagSet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl PartialOrd for TagSet {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TagSet {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.pairs.cmp(&other.0.pairs)
    }
}

impl TagSet {
    /// The empty tag set.
    pub fn new() -> Self {
        TagSet::from_sorted(Vec::new())
    }

    /// Builds a set from pairs in any order. When a key repeats, the last value wins, as in
    /// k6 where setting a tag twice overwrites it.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut v: Vec<(Arc<str>, Arc<str>)> = pairs
            .into_iter()
            .map(|(k, v)| (Arc::from(k.as_ref()), Arc::from(v.as_ref())))
            .collect();
        // A stable sort keeps equal keys in input order, so "last wins" is the last of a run.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Arc<str>, Arc<str>)> = Vec::with_capacity(v.len());
        for pair in v {
            match out.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => out.push(pair),
            }
        }
        TagSet::from_sorted(out)
    }

    /// True when both are the same shared instance (not merely equal).
    pub fn is_same(&self, other: &TagSet) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The value of tag `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .pairs
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.0.pairs[i].1.as_ref())
    }

    /// True when every `(key, value)` pair is in this set: the test a sample's tags must pass
    /// to feed a submetric such as `http_req_duration{status:200}`.
    pub fn contains_all<K: AsRef<str>, V: AsRef<str>>(&self, pairs: &[(K, V)]) -> bool {
        pairs
            .iter()
            .all(|(k, v)| self.get(k.as_ref()) == Some(v.as_ref()))
    }

    /// True when every pair of `other` is in this set (`other` ⊆ `self`).
    pub fn is_superset_of(&self, other: &TagSet) -> bool {
        other.iter().all(|(k, v)| self.get(k) == Some(v))
    }

    /// A copy with `key` set to `value` (replacing an existing value).
    pub fn with(&self, key: &str, value: &str) -> TagSet {
        let mut v: Vec<(Arc<str>, Arc<str>)> = self.0.pairs.to_vec();
        match v.binary_search_by(|(k, _)| k.as_ref().cmp(key)) {
            Ok(i) => v[i].1 = Arc::from(value),
            Err(i) => v.insert(i, (Arc::from(key), Arc::from(value))),
        }
        TagSet::from_sorted(v)
    }

    /// A copy without `key`.
    pub fn without(&self, key: &str) -> TagSet {
        if self.get(key).is_none() {
            return self.clone();
        }
        TagSet::from_sorted(
            self.0
                .pairs
                .iter()
                .filter(|(k, _)| k.as_ref() != key)
                .cloned()
                .collect(),
        )
    }

    /// Pairs in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.0.pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.0.pairs.len()
    }

    /// True when no tag is set.
    pub fn is_empty(&self) -> bool {
        self.0.pairs.is_empty()
    }
}

impl Default for TagSet {
    fn default() -> Self {
        TagSet::new()
    }
}

impl fmt::Debug for TagSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for TagSet {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        TagSet::from_pairs(iter)
    }
}

impl From<Vec<(String, String)>> for TagSet {
    fn from(pairs: Vec<(String, String)>) -> Self {
        TagSet::from_pairs(pairs)
    }
}

impl From<BTreeMap<String, String>> for TagSet {
    fn from(map: BTreeMap<String, String>) -> Self {
        TagSet::from_pairs(map)
    }
}

/// Serialized as a JSON object `{"key": "value", ...}` in key order, like k6's sample tags.
impl Serialize for TagSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for TagSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagSetVisitor;

        impl<'de> Visitor<'de> for TagSetVisitor {
            type Value = TagSet;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of tag names to string values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<TagSet, A::Error> {
                let mut pairs: Vec<(String, String)> =
                    Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = access.next_entry::<String, String>()? {
                    pairs.push((k, v));
                }
                Ok(TagSet::from_pairs(pairs))
            }
        }

        deserializer.deserialize_map(TagSetVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    fn hash_of(t: &TagSet) -> u64 {
        let mut h = DefaultHasher::new();
        t.hash(&mut h);
        h.finish()
    }

    #[test]
    fn order_independent_equality_and_hash() {
        let a = TagSet::from_pairs([("status", "200"), ("method", "GET")]);
        let b = TagSet::from_pairs([("method", "GET"), ("status", "200")]);
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec![("method", "GET"), ("status", "200")]
        );
    }

    #[test]
    fn hash_is_computed_once_and_separates_pairs() {
        let a = TagSet::from_pairs([("ab", "c")]);
        let b = TagSet::from_pairs([("a", "bc")]);
        assert_ne!(a, b);
        assert_ne!(hash_of(&a), hash_of(&b));
        // Sets made differently but equal hash and compare equal; a clone is the same set.
        let c = TagSet::new().with("ab", "c");
        assert_eq!(a, c);
        assert_eq!(hash_of(&a), hash_of(&c));
        assert_eq!(a.clone(), a);
        assert_eq!(a.without("ab"), TagSet::new());
        assert_eq!(hash_of(&a.without("ab")), hash_of(&TagSet::new()));
    }

    #[test]
    fn last_duplicate_wins() {
        let t = TagSet::from_pairs([("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get("a"), Some("3"));
    }

    #[test]
    fn get_and_contains_all() {
        let t = TagSet::from_pairs([("status", "200"), ("method", "GET"), ("group", "::api")]);
        assert_eq!(t.get("group"), Some("::api"));
        assert_eq!(t.get("name"), None);
        assert!(t.contains_all(&[("status", "200")]));
        assert!(t.contains_all(&[("status", "200"), ("method", "GET")]));
        assert!(!t.contains_all(&[("status", "404")]));
        assert!(!t.contains_all(&[("status", "200"), ("name", "x")]));
        assert!(t.contains_all::<&str, &str>(&[]));
        let owned = vec![("method".to_string(), "GET".to_string())];
        assert!(t.contains_all(&owned));
        assert!(t.is_superset_of(&TagSet::from_pairs([("method", "GET")])));
        assert!(!t.is_superset_of(&TagSet::from_pairs([("method", "POST")])));
        assert!(t.is_superset_of(&TagSet::new()));
    }

    #[test]
    fn with_and_without() {
        let t = TagSet::from_pairs([("b", "2")]);
        let t2 = t.with("a", "1").with("c", "3").with("b", "20");
        assert_eq!(
            t2.iter().collect::<Vec<_>>(),
            vec![("a", "1"), ("b", "20"), ("c", "3")]
        );
        assert_eq!(t.len(), 1, "original untouched");
        let t3 = t2.without("b");
        assert_eq!(t3.iter().collect::<Vec<_>>(), vec![("a", "1"), ("c", "3")]);
        assert_eq!(t3.without("zzz"), t3);
    }

    #[test]
    fn clone_shares_storage() {
        let t = TagSet::from_pairs([("k", "v")]);
        let c = t.clone();
        assert!(Arc::ptr_eq(&t.0, &c.0));
    }

    #[test]
    fn serde_as_json_object() {
        let t = TagSet::from_pairs([("status", "200"), ("method", "GET")]);
        let json = serde_json::to_string(&t).expect("serialize");
        assert_eq!(json, r#"{"method":"GET","status":"200"}"#);
        let back: TagSet =
            serde_json::from_str(r#"{"status":"200","method":"GET"}"#).expect("deserialize");
        assert_eq!(back, t);
        assert!(serde_json::from_str::<TagSet>(r#"{"status":200}"#).is_err());
        assert!(serde_json::from_str::<TagSet>(r#"["a"]"#).is_err());
        let empty: TagSet = serde_json::from_str("{}").expect("empty");
        assert!(empty.is_empty());
        assert_eq!(format!("{:?}", t), r#"{"method": "GET", "status": "200"}"#);
    }
}
