//! k6-compatible execution segments: how one instance (an agent, or a lone `volley run`) knows which
//! part of a test's VUs, iterations and arrival-rate events it owns, without talking to the others.
//!
//! A segment `(from, to]` is a slice of `[0, 1]`; a sequence is the chain of segments all instances
//! share. Every instance "stripes" the same sequence the same way, so each global index (VU id,
//! iteration number) is owned by exactly one instance. All arithmetic is exact (rationals, integers):
//! a float rounding difference between two agents would make them disagree on ownership.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

mod rational;
mod tuple;

use rational::parse_rational;
pub use rational::Rational;
pub use tuple::{ExecutionTuple, SegmentedIndex};

/// Upper bound on the least common denominator of a sequence's segment lengths. Striping costs
/// O(LCD) time and memory, so absurdly fine segments (e.g. `0.0000001`) are rejected instead of
/// hanging the process; real splits (thirds, percentages with a few decimals) are far below it.
pub const MAX_LCD: u64 = 10_000_000;

/// Everything that can go wrong parsing segments or applying them to a value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SegmentError {
    /// A number that is not a fraction, decimal or percentage (or is negative / too precise).
    #[error(
        "invalid number {input:?}: {reason}; use a fraction (1/3), a decimal (0.5) or a percentage (50%)"
    )]
    InvalidNumber { input: String, reason: String },

    /// `--execution-segment` / `executionSegment` could not be parsed or is out of range.
    #[error(
        "invalid --execution-segment {input:?}: {reason}; expected `from:to` or a lone `to` \
         (meaning 0:to) with 0 <= from < to <= 1, each a fraction, decimal or percentage, \
         e.g. 1/3:2/3, 0.5 or 25%:50%"
    )]
    InvalidSegment { input: String, reason: String },

    /// `--execution-segment-sequence` / `executionSegmentSequence` could not be parsed.
    #[error(
        "invalid --execution-segment-sequence {input:?}: {reason}; expected strictly increasing \
         comma-separated points between 0 and 1, e.g. 0,1/3,2/3,1 (or touching segments, \
         e.g. 0:1/3,1/3:1)"
    )]
    InvalidSequence { input: String, reason: String },

    /// The segment is not one of the (filled) sequence's segments.
    #[error(
        "--execution-segment {segment} is not part of --execution-segment-sequence {sequence}; \
         set --execution-segment to one of {choices}"
    )]
    NotInSequence {
        segment: String,
        sequence: String,
        choices: String,
    },

    /// Splitting `value` over the sequence leaves this instance's segment nothing.
    #[error(
        "not enough VUs for --execution-segment {segment}: splitting {value} over \
         --execution-segment-sequence {sequence} gives this segment none; raise the scenario's \
         VUs (`vus` for shared-iterations, `maxVUs` for arrival-rate executors) to at least \
         {minimum}, or use fewer, larger segments"
    )]
    NotEnoughForSegment {
        segment: String,
        sequence: String,
        value: i64,
        minimum: u64,
    },

    /// The sequence's segment lengths need a denominator too large to stripe.
    #[error(
        "--execution-segment-sequence {sequence} is too fine-grained: {reason}; use simpler \
         fractions (the common denominator of the segment lengths must be at most {limit})"
    )]
    TooFineGrained {
        sequence: String,
        reason: String,
        limit: u64,
    },
}

/// Serialises a `Display + FromStr` type as its string form, so the wire format matches the CLI.
macro_rules! serde_as_string {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_string!(Rational);
serde_as_string!(ExecutionSegment);
serde_as_string!(ExecutionSegmentSequence);

/// A half-open slice `(from, to]` of the whole test, `0 <= from < to <= 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExecutionSegment {
    pub from: Rational,
    pub to: Rational,
}

impl ExecutionSegment {
    /// The whole test, `0:1` (what a single instance runs).
    pub const FULL: ExecutionSegment = ExecutionSegment {
        from: Rational::ZERO,
        to: Rational::ONE,
    };

    /// Validated constructor; the error reason says which bound is wrong.
    pub fn new(from: Rational, to: Rational) -> Result<Self, SegmentError> {
        check_bounds(from, to).map_err(|reason| SegmentError::InvalidSegment {
            input: format!("{from}:{to}"),
            reason,
        })?;
        Ok(ExecutionSegment { from, to })
    }

    pub fn is_full(&self) -> bool {
        *self == Self::FULL
    }

    /// `to - from`: the nominal share of the test.
    pub fn length(&self) -> Rational {
        // Cannot fail for a segment that passed `check_bounds` (which rejects lengths that do
        // not fit in 64 bits); the fallback only guards a hand-built invalid one.
        self.to.checked_sub(&self.from).unwrap_or(Rational::ZERO)
    }

    /// Where this segment starts within `period`: `from × period`, exact to the nanosecond
    /// (rounded down), so always shorter than `period`. An agent sends its metric batches at
    /// this phase of each metrics interval: the N agents of a run, whose segments start at
    /// evenly spread points, spread their batches over the interval instead of sending them in
    /// one burst (docs/cluster-runs.md#metric-batches).
    pub fn start_within(&self, period: Duration) -> Duration {
        let (num, den) = (
            u128::from(self.from.numer()),
            u128::from(self.from.denom().max(1)),
        );
        let p = period.as_nanos();
        // `from < 1`, so the second form (for periods of centuries) cannot overflow either.
        let nanos = p.checked_mul(num).map_or(p / den * num, |x| x / den);
        // Below `period`, so its seconds fit as `period`'s do.
        let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        Duration::new(secs, (nanos % 1_000_000_000) as u32)
    }
}

fn check_bounds(from: Rational, to: Rational) -> Result<(), String> {
    if to > Rational::ONE {
        return Err(format!("the end ({to}) must be at most 1"));
    }
    if from >= to {
        return Err(format!(
            "the start ({from}) must be smaller than the end ({to})"
        ));
    }
    if to.checked_sub(&from).is_none() {
        return Err(format!(
            "the length of {from}:{to} needs a denominator too large for exact arithmetic"
        ));
    }
    Ok(())
}

impl Default for ExecutionSegment {
    fn default() -> Self {
        Self::FULL
    }
}

impl fmt::Display for ExecutionSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.from, self.to)
    }
}

impl FromStr for ExecutionSegment {
    type Err = SegmentError;

    /// `a:b`, a lone `b` (= `0:b`), or empty (= `0:1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| SegmentError::InvalidSegment {
            input: s.to_string(),
            reason,
        };
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Ok(Self::FULL);
        }
        let parts: Vec<&str> = trimmed.split(':').collect();
        let (from, to) = match parts.as_slice() {
            [to] => (Rational::ZERO, parse_rational(to).map_err(&invalid)?),
            [from, to] => (
                parse_rational(from).map_err(&invalid)?,
                parse_rational(to).map_err(&invalid)?,
            ),
            _ => return Err(invalid("it has more than one ':'".into())),
        };
        check_bounds(from, to).map_err(invalid)?;
        Ok(ExecutionSegment { from, to })
    }
}

/// The chain of segments every instance of a distributed test shares. Empty means "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ExecutionSegmentSequence(pub Vec<ExecutionSegment>);

impl ExecutionSegmentSequence {
    /// Validated constructor: neighbours must touch (`a.to == b.from`).
    pub fn new(segments: Vec<ExecutionSegment>) -> Result<Self, SegmentError> {
        let seq = ExecutionSegmentSequence(segments);
        seq.validate()?;
        Ok(seq)
    }

    /// Checks every segment's bounds and that neighbours touch; needed because the field is public.
    pub fn validate(&self) -> Result<(), SegmentError> {
        let invalid = |reason: String| SegmentError::InvalidSequence {
            input: self.to_string(),
            reason,
        };
        for seg in &self.0 {
            check_bounds(seg.from, seg.to).map_err(|r| invalid(format!("segment {seg}: {r}")))?;
        }
        for pair in self.0.windows(2) {
            if pair[0].to != pair[1].from {
                return Err(invalid(format!(
                    "segments {} and {} do not touch ({} != {}); each segment must start \
                     where the previous one ends",
                    pair[0], pair[1], pair[0].to, pair[1].from
                )));
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn segments(&self) -> &[ExecutionSegment] {
        &self.0
    }

    fn touches(&self) -> bool {
        self.0.windows(2).all(|p| p[0].to == p[1].from)
    }

    /// k6's `GetFilledExecutionSegmentSequence`: without a sequence the segment alone is used
    /// (the full `0:1` if there is none), then the gaps before the first and after the last
    /// segment are filled so the chain covers `[0, 1]`.
    pub fn filled(&self, segment: Option<&ExecutionSegment>) -> ExecutionSegmentSequence {
        let mut segs = if self.0.is_empty() {
            vec![segment.copied().unwrap_or(ExecutionSegment::FULL)]
        } else {
            self.0.clone()
        };
        if let Some(first) = segs.first().copied() {
            if !first.from.is_zero() {
                segs.insert(
                    0,
                    ExecutionSegment {
                        from: Rational::ZERO,
                        to: first.from,
                    },
                );
            }
        }
        if let Some(last) = segs.last().copied() {
            if last.to != Rational::ONE {
                segs.push(ExecutionSegment {
                    from: last.to,
                    to: Rational::ONE,
                });
            }
        }
        ExecutionSegmentSequence(segs)
    }
}

impl fmt::Display for ExecutionSegmentSequence {
    /// The point form `0,1/3,2/3,1` (what k6 prints); the segment form only for a hand-built,
    /// non-touching sequence, which the point form cannot express.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(first) = self.0.first() else {
            return Ok(());
        };
        if self.touches() {
            write!(f, "{}", first.from)?;
            for seg in &self.0 {
                write!(f, ",{}", seg.to)?;
            }
        } else {
            for (i, seg) in self.0.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{seg}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for ExecutionSegmentSequence {
    type Err = SegmentError;

    /// `r0,r1,…,rn` (strictly increasing points), or touching segments `a:b,b:c`; `""` = empty.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| SegmentError::InvalidSequence {
            input: s.to_string(),
            reason,
        };
        if s.trim().is_empty() {
            return Ok(ExecutionSegmentSequence::default());
        }
        let items: Vec<&str> = s.split(',').map(str::trim).collect();
        if items.iter().any(|i| i.is_empty()) {
            return Err(invalid("it has an empty element".into()));
        }
        let colons = items.iter().filter(|i| i.contains(':')).count();
        if colons == items.len() {
            let mut segs = Vec::with_capacity(items.len());
            for item in items {
                let seg: ExecutionSegment = item.parse().map_err(|e| match e {
                    SegmentError::InvalidSegment { reason, .. } => {
                        invalid(format!("segment {item:?}: {reason}"))
                    }
                    other => other,
                })?;
                segs.push(seg);
            }
            let seq = ExecutionSegmentSequence(segs);
            return match seq.validate() {
                Ok(()) => Ok(seq),
                Err(SegmentError::InvalidSequence { reason, .. }) => Err(invalid(reason)),
                Err(other) => Err(other),
            };
        }
        if colons > 0 {
            return Err(invalid(
                "it mixes points and from:to segments; use one form".into(),
            ));
        }
        let mut points = Vec::with_capacity(items.len());
        for item in &items {
            let p = parse_rational(item).map_err(|r| invalid(format!("point {item:?}: {r}")))?;
            if p > Rational::ONE {
                return Err(invalid(format!("point {p} is greater than 1")));
            }
            if let Some(prev) = points.last() {
                if p <= *prev {
                    return Err(invalid(format!(
                        "points must strictly increase, but {p} follows {prev}"
                    )));
                }
            }
            points.push(p);
        }
        if points.len() < 2 {
            return Err(invalid(
                "it needs at least two points to form a segment".into(),
            ));
        }
        Ok(ExecutionSegmentSequence(
            points
                .windows(2)
                .map(|w| ExecutionSegment {
                    from: w[0],
                    to: w[1],
                })
                .collect(),
        ))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Rational {
        s.parse().expect("valid rational")
    }

    fn seg(s: &str) -> ExecutionSegment {
        s.parse().expect("valid segment")
    }

    fn seq(s: &str) -> ExecutionSegmentSequence {
        s.parse().expect("valid sequence")
    }

    /// One tuple per segment of the filled sequence: the instances of a distributed run.
    fn instances(sequence: &str) -> Vec<ExecutionTuple> {
        let sq = seq(sequence);
        sq.filled(None)
            .0
            .iter()
            .map(|s| ExecutionTuple::new(Some(s), Some(&sq)).expect("segment in sequence"))
            .collect()
    }

    fn owned(t: &ExecutionTuple, count: u64) -> Vec<u64> {
        (0..count).map(|k| t.global_index(k)).collect()
    }

    fn vu_ids(t: &ExecutionTuple, vus: i64) -> Vec<u64> {
        let n = u64::try_from(t.scale(vus)).expect("non-negative");
        (0..n).map(|k| t.global_index(k) + 1).collect()
    }

    // ---- Rational ----

    #[test]
    fn rational_parse_and_display() {
        assert_eq!(r("1/3").to_string(), "1/3");
        assert_eq!(r("2/6").to_string(), "1/3");
        assert_eq!(r("0.5").to_string(), "1/2");
        assert_eq!(r(".25").to_string(), "1/4");
        assert_eq!(r("50%").to_string(), "1/2");
        assert_eq!(r("33.3%").to_string(), "333/1000");
        assert_eq!(r("100/3%").to_string(), "1/3");
        assert_eq!(r(" 1 ").to_string(), "1");
        assert_eq!(r("0").to_string(), "0");
        assert_eq!(r("0/7").to_string(), "0");
        assert_eq!(r("100%").to_string(), "1");
        assert_eq!(r("3/2").to_string(), "3/2");
        assert_eq!(r("1.0"), Rational::ONE);
        assert_eq!(Rational::new(4, 8), Rational::new(1, 2));
        assert_eq!(Rational::new(1, 0), None);
    }

    #[test]
    fn rational_parse_errors() {
        for bad in [
            "",
            "abc",
            "1/0",
            "-1",
            "-1/3",
            "1.2.3",
            ".",
            "%",
            "1/",
            "/3",
            "1e3",
            "+1",
            "99999999999999999999999999999999999999999",
            "0.0000000000000000000000000000000000000001",
        ] {
            let err = bad.parse::<Rational>().expect_err(bad).to_string();
            assert!(err.contains("invalid number"), "{bad}: {err}");
            assert!(err.contains("fraction (1/3)"), "{bad}: {err}");
        }
        let err = "1/0".parse::<Rational>().expect_err("zero").to_string();
        assert!(err.contains("denominator must not be 0"), "{err}");
        let err = "-1".parse::<Rational>().expect_err("neg").to_string();
        assert!(err.contains("negative"), "{err}");
    }

    #[test]
    fn rational_arithmetic_and_order() {
        assert!(r("1/3") < r("0.34"));
        assert!(r("2/3") > r("0.666"));
        assert_eq!(r("1/3").checked_add(&r("1/6")), Some(r("1/2")));
        assert_eq!(r("1/2").checked_sub(&r("1/3")), Some(r("1/6")));
        assert_eq!(r("1/3").checked_sub(&r("1/2")), None);
        assert_eq!(r("2/5").checked_mul(&r("100")), Some(r("40")));
        assert_eq!(r("3/4").numer(), 3);
        assert_eq!(r("3/4").denom(), 4);
        assert!((r("1/4").to_f64() - 0.25).abs() < f64::EPSILON);
        assert!(Rational::ZERO.is_zero());
    }

    // ---- Segment / sequence parsing ----

    #[test]
    fn segment_parse_forms() {
        assert_eq!(seg("1/3:2/3").to_string(), "1/3:2/3");
        assert_eq!(seg("0.5").to_string(), "0:1/2");
        assert_eq!(seg("25%:50%").to_string(), "1/4:1/2");
        assert_eq!(seg(" 0 : 1 "), ExecutionSegment::FULL);
        assert_eq!(seg(""), ExecutionSegment::FULL);
        assert_eq!(seg("1"), ExecutionSegment::FULL);
        assert!(seg("0:1").is_full());
        assert_eq!(seg("1/4:3/4").length(), r("1/2"));
        assert_eq!(ExecutionSegment::default(), ExecutionSegment::FULL);
        assert!(ExecutionSegment::new(r("1/2"), r("1/3")).is_err());
        assert_eq!(
            ExecutionSegment::new(r("1/3"), r("1/2")).expect("valid"),
            seg("1/3:1/2")
        );
    }

    #[test]
    fn a_segment_starts_at_its_share_of_a_period() {
        let second = Duration::from_secs(1);
        assert_eq!(ExecutionSegment::FULL.start_within(second), Duration::ZERO);
        assert_eq!(seg("0:1/4").start_within(second), Duration::ZERO);
        assert_eq!(
            seg("1/4:1/2").start_within(second),
            Duration::from_millis(250)
        );
        assert_eq!(
            seg("2/3:1").start_within(second),
            Duration::from_nanos(666_666_666)
        );
        assert_eq!(
            seg("3/4:1").start_within(Duration::from_millis(1500)),
            Duration::from_millis(1125)
        );
        // 5,000 agents of equal weight: one every 200 µs, the last 200 µs before the period ends.
        let starts: Vec<Duration> = (0..5000u64)
            .map(|i| {
                let s = ExecutionSegment::new(
                    Rational::new(i, 5000).unwrap(),
                    Rational::new(i + 1, 5000).unwrap(),
                )
                .unwrap();
                s.start_within(second)
            })
            .collect();
        assert!(starts
            .windows(2)
            .all(|w| w[1] - w[0] == Duration::from_micros(200)));
        assert_eq!(starts[4999], Duration::from_micros(999_800));
        // A period too long to multiply in 128 bits still gives a phase below it.
        let long = Duration::from_secs(u64::MAX);
        let huge = seg("18446744073709551614/18446744073709551615:1").start_within(long);
        assert!(huge < long && huge > long / 2);
    }

    #[test]
    fn segment_parse_errors_are_clear() {
        let cases = [
            (
                "2/3:1/3",
                "the start (2/3) must be smaller than the end (1/3)",
            ),
            ("0:1.5", "the end (3/2) must be at most 1"),
            ("abc", "\"abc\" is not a fraction, decimal or percentage"),
            ("0:1:2", "more than one ':'"),
            ("0", "the start (0) must be smaller than the end (0)"),
            ("1/2:1/2", "must be smaller"),
            ("-1/3:1", "negative"),
            ("0:", "empty"),
        ];
        for (input, expected) in cases {
            let err = input.parse::<ExecutionSegment>().expect_err(input);
            assert!(
                matches!(err, SegmentError::InvalidSegment { .. }),
                "{input}"
            );
            let msg = err.to_string();
            assert!(msg.contains("--execution-segment"), "{msg}");
            assert!(msg.contains(expected), "{input}: {msg}");
            assert!(msg.contains("expected `from:to`"), "{msg}");
        }
    }

    #[test]
    fn sequence_parse_forms() {
        let s = seq("0,1/3,2/3,1");
        assert_eq!(s.len(), 3);
        assert_eq!(s.segments()[1], seg("1/3:2/3"));
        assert_eq!(s.to_string(), "0,1/3,2/3,1");
        assert_eq!(seq("0, 50%, 0.75, 1").to_string(), "0,1/2,3/4,1");
        assert_eq!(seq("0:1/3,1/3:1"), seq("0,1/3,1"));
        assert_eq!(seq("1/3,2/3").to_string(), "1/3,2/3");
        assert!(seq("").is_empty());
        assert!(seq("  ").is_empty());
        assert_eq!(seq("").to_string(), "");
        let non_touching = ExecutionSegmentSequence(vec![seg("0:1/3"), seg("1/2:1")]);
        assert_eq!(non_touching.to_string(), "0:1/3,1/2:1");
        assert!(ExecutionSegmentSequence::new(vec![seg("0:1/3"), seg("1/3:1")]).is_ok());
        let err = ExecutionSegmentSequence::new(non_touching.0).expect_err("gap");
        assert!(err.to_string().contains("do not touch"), "{err}");
    }

    #[test]
    fn sequence_parse_errors_are_clear() {
        let cases = [
            (
                "0:1/3,1/2:1",
                "segments 0:1/3 and 1/2:1 do not touch (1/3 != 1/2)",
            ),
            ("0:1/2,1/3:1", "do not touch"),
            (
                "0,2/3,1/3,1",
                "points must strictly increase, but 1/3 follows 2/3",
            ),
            ("0,1/3,1/3,1", "strictly increase"),
            ("0,1/2,3/2", "point 3/2 is greater than 1"),
            ("0,abc,1", "point \"abc\": \"abc\" is not a fraction"),
            ("0,,1", "empty element"),
            ("1/2", "at least two points"),
            ("0,1/3:1", "mixes points and from:to segments"),
            (
                "0:1/3,2/3:1/3",
                "segment \"2/3:1/3\": the start (2/3) must be smaller",
            ),
        ];
        for (input, expected) in cases {
            let err = input.parse::<ExecutionSegmentSequence>().expect_err(input);
            assert!(
                matches!(err, SegmentError::InvalidSequence { .. }),
                "{input}"
            );
            let msg = err.to_string();
            assert!(msg.contains("--execution-segment-sequence"), "{msg}");
            assert!(msg.contains(expected), "{input}: {msg}");
            assert!(msg.contains("e.g. 0,1/3,2/3,1"), "{msg}");
        }
    }

    #[test]
    fn serde_uses_string_forms() {
        let s = seg("1/3:2/3");
        let json = serde_json::to_string(&s).expect("serialize");
        assert_eq!(json, "\"1/3:2/3\"");
        assert_eq!(
            serde_json::from_str::<ExecutionSegment>(&json).expect("de"),
            s
        );
        let sq = seq("0,1/3,2/3,1");
        let json = serde_json::to_string(&sq).expect("serialize");
        assert_eq!(json, "\"0,1/3,2/3,1\"");
        assert_eq!(
            serde_json::from_str::<ExecutionSegmentSequence>(&json).expect("de"),
            sq
        );
        assert_eq!(serde_json::to_string(&r("0.5")).expect("ser"), "\"1/2\"");
        assert_eq!(
            serde_json::from_str::<Rational>("\"50%\"").expect("de"),
            r("1/2")
        );
        let err = serde_json::from_str::<ExecutionSegment>("\"2/3:1/3\"").expect_err("bad");
        assert!(err.to_string().contains("must be smaller"), "{err}");
        assert!(serde_json::from_str::<ExecutionSegmentSequence>("\"0,2/3,1/3\"").is_err());
        assert!(serde_json::from_str::<ExecutionSegment>("5").is_err());
    }

    // ---- Filling and tuple construction ----

    #[test]
    fn filling_matches_k6() {
        let t = ExecutionTuple::new(Some(&seg("1/3:2/3")), None).expect("tuple");
        assert_eq!(t.sequence().to_string(), "0,1/3,2/3,1");
        assert_eq!(t.index(), 1);
        let t = ExecutionTuple::new(Some(&seg("0:1/3")), None).expect("tuple");
        assert_eq!(t.sequence().to_string(), "0,1/3,1");
        assert_eq!(t.index(), 0);
        let t = ExecutionTuple::new(Some(&seg("2/3:1")), None).expect("tuple");
        assert_eq!(t.sequence().to_string(), "0,2/3,1");
        assert_eq!(t.index(), 1);
        // A sequence that does not reach 0 or 1 is filled at both ends.
        let t = ExecutionTuple::new(Some(&seg("1/3:1/2")), Some(&seq("1/3,1/2,2/3"))).expect("t");
        assert_eq!(t.sequence().to_string(), "0,1/3,1/2,2/3,1");
        assert_eq!(t.index(), 1);
        // An empty sequence counts as none.
        let t = ExecutionTuple::new(Some(&seg("0:1/3")), Some(&seq(""))).expect("tuple");
        assert_eq!(t.sequence().to_string(), "0,1/3,1");
    }

    #[test]
    fn full_tuple_is_identity() {
        let t = ExecutionTuple::new(None, None).expect("tuple");
        assert_eq!(t, ExecutionTuple::full());
        assert_eq!(t, ExecutionTuple::default());
        assert_eq!(t.sequence().to_string(), "0,1");
        assert_eq!(t.lcd(), 1);
        assert!((t.fraction() - 1.0).abs() < f64::EPSILON);
        for v in [0, 1, 7, 1000, i64::MAX, -5, i64::MIN] {
            assert_eq!(t.scale(v), v);
        }
        assert_eq!(owned(&t, 5), vec![0, 1, 2, 3, 4]);
        assert!(t.owns(12345));
        assert_eq!(t.local_index(12345), Some(12345));
        let same = t.resegment_by_value(7).expect("resegment");
        assert_eq!(same, t);
        let full = ExecutionTuple::new(Some(&seg("0:1")), Some(&seq("0,1"))).expect("tuple");
        assert_eq!(full, t);
    }

    #[test]
    fn segment_not_in_sequence() {
        let sq = seq("0,1/3,2/3,1");
        let err = ExecutionTuple::new(Some(&seg("0:1/2")), Some(&sq)).expect_err("not in seq");
        let msg = err.to_string();
        assert!(matches!(err, SegmentError::NotInSequence { .. }));
        assert!(
            msg.contains("--execution-segment 0:1/2 is not part of"),
            "{msg}"
        );
        assert!(
            msg.contains("--execution-segment-sequence 0,1/3,2/3,1"),
            "{msg}"
        );
        assert!(msg.contains("one of 0:1/3, 1/3:2/3, 2/3:1"), "{msg}");
        // No segment means the full one, which is not part of a split sequence.
        assert!(ExecutionTuple::new(None, Some(&sq)).is_err());
        // Hand-built invalid inputs are rejected, not striped.
        let bad = ExecutionSegment {
            from: r("2/3"),
            to: r("1/3"),
        };
        let err = ExecutionTuple::new(Some(&bad), None).expect_err("invalid");
        assert!(matches!(err, SegmentError::InvalidSegment { .. }), "{err}");
        let gap = ExecutionSegmentSequence(vec![seg("0:1/3"), seg("1/2:1")]);
        let err = ExecutionTuple::new(Some(&seg("0:1/3")), Some(&gap)).expect_err("gap");
        assert!(err.to_string().contains("do not touch"), "{err}");
    }

    #[test]
    fn too_fine_sequence_is_rejected() {
        let sq = seq("0,1/10000019,1");
        let err = ExecutionTuple::new(Some(&seg("0:1/10000019")), Some(&sq)).expect_err("fine");
        assert!(matches!(err, SegmentError::TooFineGrained { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("too fine-grained"), "{msg}");
        assert!(msg.contains("use simpler fractions"), "{msg}");
    }

    // ---- Worked examples (research note §4.3, verified against k6) ----

    #[test]
    fn thirds_vus_and_ids() {
        let ts = instances("0,1/3,2/3,1");
        assert!(ts.iter().all(|t| t.lcd() == 3));
        let vus: Vec<i64> = ts.iter().map(|t| t.scale(10)).collect();
        assert_eq!(vus, vec![4, 3, 3]);
        assert_eq!(vu_ids(&ts[0], 10), vec![1, 4, 7, 10]);
        assert_eq!(vu_ids(&ts[1], 10), vec![2, 5, 8]);
        assert_eq!(vu_ids(&ts[2], 10), vec![3, 6, 9]);
        assert_eq!(ts[0].residues(), &[0]);
        assert_eq!(ts[1].residues(), &[1]);
        assert_eq!(ts[2].residues(), &[2]);
    }

    #[test]
    fn thirds_constant_arrival_rate() {
        let ts = instances("0,1/3,2/3,1");
        let re: Vec<ExecutionTuple> = ts
            .iter()
            .map(|t| t.resegment_by_value(10).expect("enough maxVUs"))
            .collect();
        let segs: Vec<String> = re.iter().map(|t| t.segment().to_string()).collect();
        assert_eq!(segs, vec!["0:2/5", "2/5:7/10", "7/10:1"]);
        assert!(re
            .iter()
            .all(|t| t.sequence().to_string() == "0,2/5,7/10,1"));
        assert!(re.iter().all(|t| t.lcd() == 10));
        let rates: Vec<Rational> = re
            .iter()
            .map(|t| t.segment().length().checked_mul(&r("100")).expect("small"))
            .collect();
        assert_eq!(rates, vec![r("40"), r("30"), r("30")]);
        let float_rates: Vec<f64> = re.iter().map(|t| 100.0 * t.fraction()).collect();
        for (got, want) in float_rates.iter().zip([40.0, 30.0, 30.0]) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        assert_eq!(re[0].residues(), &[0, 3, 5, 8]);
        assert_eq!(re[1].residues(), &[1, 4, 7]);
        assert_eq!(re[2].residues(), &[2, 6, 9]);
        assert_eq!(owned(&re[0], 8), vec![0, 3, 5, 8, 10, 13, 15, 18]);
        assert_eq!(owned(&re[1], 6), vec![1, 4, 7, 11, 14, 17]);
        assert_eq!(owned(&re[2], 6), vec![2, 6, 9, 12, 16, 19]);
        // Arrival-rate executors ask the inverse question per global event.
        let mine: Vec<u64> = (0..20).filter(|&g| re[0].owns(g)).collect();
        assert_eq!(mine, vec![0, 3, 5, 8, 10, 13, 15, 18]);
        assert_eq!(re[1].local_index(11), Some(3));
        assert_eq!(re[1].local_index(12), None);
        // maxVUs is scaled with the original tuple: 4/3/3, as k6 prints.
        let max_vus: Vec<i64> = ts.iter().map(|t| t.scale(10)).collect();
        assert_eq!(max_vus, vec![4, 3, 3]);
    }

    #[test]
    fn thirds_shared_iterations() {
        let ts = instances("0,1/3,2/3,1");
        let iters: Vec<i64> = ts
            .iter()
            .map(|t| t.resegment_by_value(10).expect("enough VUs").scale(30))
            .collect();
        assert_eq!(iters, vec![12, 9, 9]);
        let re = ts[0].resegment_by_value(10).expect("enough VUs");
        assert_eq!(
            owned(&re, 12),
            vec![0, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25, 28]
        );
    }

    #[test]
    fn uneven_sequence() {
        let ts = instances("0,1/2,3/4,1");
        assert!(ts.iter().all(|t| t.lcd() == 4));
        let vus: Vec<i64> = ts.iter().map(|t| t.scale(10)).collect();
        assert_eq!(vus, vec![5, 3, 2]);
        assert_eq!(vu_ids(&ts[0], 10), vec![1, 3, 5, 7, 9]);
        assert_eq!(vu_ids(&ts[1], 10), vec![2, 6, 10]);
        assert_eq!(vu_ids(&ts[2], 10), vec![4, 8]);
        let rates: Vec<Rational> = ts
            .iter()
            .map(|t| {
                let re = t.resegment_by_value(10).expect("enough maxVUs");
                re.segment().length().checked_mul(&r("100")).expect("small")
            })
            .collect();
        assert_eq!(rates, vec![r("50"), r("30"), r("20")]);
    }

    #[test]
    fn without_sequence_instances_disagree_as_in_k6() {
        // Measured k6 surprise: without a shared sequence each instance fills its own, so all
        // three get 3 VUs (9, not 10) and all use the same ids {2,5,8}.
        for s in ["0:1/3", "1/3:2/3", "2/3:1"] {
            let t = ExecutionTuple::new(Some(&seg(s)), None).expect("tuple");
            assert_eq!(t.scale(10), 3, "{s}");
            assert_eq!(vu_ids(&t, 10), vec![2, 5, 8], "{s}");
        }
    }

    #[test]
    fn resegment_not_enough() {
        let ts = instances("0,1/3,2/3,1");
        assert!(ts[0].resegment_by_value(2).is_ok());
        assert!(ts[1].resegment_by_value(2).is_ok());
        let err = ts[2].resegment_by_value(2).expect_err("none left");
        assert!(matches!(
            err,
            SegmentError::NotEnoughForSegment { minimum: 3, .. }
        ));
        let msg = err.to_string();
        assert!(
            msg.contains("not enough VUs for --execution-segment 2/3:1"),
            "{msg}"
        );
        assert!(
            msg.contains("splitting 2 over --execution-segment-sequence 0,1/3,2/3,1"),
            "{msg}"
        );
        assert!(msg.contains("at least 3"), "{msg}");
        assert!(ts[2].resegment_by_value(3).is_ok());
        // Dropped segments vanish from the rebuilt sequence.
        let re = ts[0].resegment_by_value(2).expect("enough");
        assert_eq!(re.sequence().to_string(), "0,1/2,1");
        assert_eq!(re.segment().to_string(), "0:1/2");
        let re = ts[1].resegment_by_value(2).expect("enough");
        assert_eq!(re.segment().to_string(), "1/2:1");
        assert_eq!(re.index(), 1);
        for v in [0, -1, i64::MIN] {
            let err = ts[0].resegment_by_value(v).expect_err("non-positive");
            assert!(err.to_string().contains("at least 1"), "{err}");
        }
    }

    // ---- SegmentedIndex ----

    #[test]
    fn segmented_index_walks_both_ways() {
        let ts = instances("0,1/3,2/3,1");
        let mut idx = ts[0].segmented_index();
        assert_eq!((idx.scaled(), idx.unscaled()), (0, 0));
        let pairs: Vec<(u64, u64)> = (0..4).map(|_| idx.next()).collect();
        assert_eq!(pairs, vec![(1, 1), (2, 4), (3, 7), (4, 10)]);
        assert_eq!(idx.prev(), (3, 7));
        assert_eq!(idx.prev(), (2, 4));
        assert_eq!(idx.next(), (3, 7));
        assert_eq!(idx.go_to(10), 4);
        assert_eq!(idx.unscaled(), 10);
        assert_eq!(idx.go_to(9), 3);
        assert_eq!(idx.unscaled(), 7);
        assert_eq!(idx.go_to(0), 0);
        assert_eq!(idx.prev(), (0, 0));
        assert_eq!(idx.next(), (1, 1));

        // Ramping-vus 0→10: each instance adds its VUs exactly when the global count crosses
        // one of its ids.
        let mut per_instance = vec![Vec::new(); 3];
        for (i, t) in ts.iter().enumerate() {
            let mut idx = SegmentedIndex::new(t);
            let mut local = 0;
            for global in 1..=10 {
                let now = idx.go_to(global);
                if now > local {
                    per_instance[i].push(global);
                    local = now;
                }
            }
        }
        assert_eq!(
            per_instance,
            vec![vec![1, 4, 7, 10], vec![2, 5, 8], vec![3, 6, 9]]
        );
    }

    #[test]
    fn segmented_index_matches_global_index() {
        for t in instances("0,1/7,3/10,1/2,9/10,1") {
            let mut idx = t.segmented_index();
            for k in 0..200 {
                let (scaled, unscaled) = idx.next();
                assert_eq!(scaled, k + 1);
                assert_eq!(unscaled, t.global_index(k) + 1);
            }
            for k in (1..200).rev() {
                assert_eq!(idx.prev(), (k, t.global_index(k - 1) + 1));
            }
            for u in 0..300 {
                let scaled = idx.go_to(u);
                assert_eq!(scaled, t.scale_u64(u));
                if scaled > 0 {
                    assert!(idx.unscaled() <= u);
                    assert_eq!(idx.unscaled(), t.global_index(scaled - 1) + 1);
                }
            }
        }
    }

    // ---- Properties ----

    /// Deterministic pseudo-random sequences (no extra crates): points with small denominators.
    fn generated_sequences() -> Vec<String> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        let mut out = Vec::new();
        for _ in 0..40 {
            let den = 2 + next() % 29;
            let count = 1 + next() % 6;
            let mut nums: Vec<u64> = (0..count).map(|_| next() % (den + 1)).collect();
            nums.sort_unstable();
            nums.dedup();
            let mut points: Vec<Rational> =
                nums.iter().filter_map(|&n| Rational::new(n, den)).collect();
            if points.len() < 2 {
                points = vec![Rational::ZERO, Rational::ONE];
            }
            out.push(
                points
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        out
    }

    fn all_sequences() -> Vec<String> {
        let mut v: Vec<String> = [
            "0,1",
            "0,1/3,2/3,1",
            "0,1/2,3/4,1",
            "0,1/7,3/10,1/2,9/10,1",
            "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1",
            "0,1/12,5/6,1",
            "1/3,2/3",
            "0,99/100,1",
            "0,1/2,1",
            "0,2/5,7/10,1",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        v.extend(generated_sequences());
        v
    }

    /// The instances' owned global indexes below `n` partition `0..n` exactly.
    fn assert_partition(ts: &[ExecutionTuple], n: u64, label: &str) {
        let mut seen = vec![false; usize::try_from(n).expect("small")];
        for t in ts {
            let count = t.scale_u64(n);
            for k in 0..count {
                let g = t.global_index(k);
                assert!(g < n, "{label}: {} k={k} g={g} >= {n}", t.segment());
                let slot = &mut seen[usize::try_from(g).expect("small")];
                assert!(!*slot, "{label}: {g} owned twice");
                *slot = true;
                assert!(t.owns(g), "{label}");
                assert_eq!(t.local_index(g), Some(k), "{label}");
            }
            assert!(
                t.global_index(count) >= n,
                "{label}: count {count} too small"
            );
        }
        assert!(
            seen.iter().all(|&s| s),
            "{label}: some index in 0..{n} unowned"
        );
        for g in 0..n {
            let owners = ts.iter().filter(|t| t.owns(g)).count();
            assert_eq!(owners, 1, "{label}: {g} has {owners} owners");
        }
    }

    #[test]
    fn property_scales_sum_and_are_monotonic() {
        for sequence in all_sequences() {
            let ts = instances(&sequence);
            let lcd = ts[0].lcd();
            assert!(ts.iter().all(|t| t.lcd() == lcd));
            let total: usize = ts.iter().map(|t| t.residues().len()).sum();
            assert_eq!(total as u64, lcd, "{sequence}: residues must cover the LCD");
            for t in &ts {
                let want = t.segment().length().numer() * (lcd / t.segment().length().denom());
                assert_eq!(t.residues().len() as u64, want, "{sequence}");
            }
            let mut prev: Vec<i64> = vec![0; ts.len()];
            let top = i64::try_from(3 * lcd + 50).expect("small").min(500);
            for v in 0..=top {
                let scaled: Vec<i64> = ts.iter().map(|t| t.scale(v)).collect();
                assert_eq!(scaled.iter().sum::<i64>(), v, "{sequence} v={v}");
                for (s, p) in scaled.iter().zip(&prev) {
                    assert!(s >= p, "{sequence} v={v}: not monotonic");
                }
                let neg: i64 = ts.iter().map(|t| t.scale(-v)).sum();
                assert_eq!(neg, -v, "{sequence} v=-{v}");
                prev = scaled;
            }
            let big = i64::MAX - 12345;
            assert_eq!(
                ts.iter().map(|t| i128::from(t.scale(big))).sum::<i128>(),
                i128::from(big)
            );
        }
    }

    #[test]
    fn property_global_indexes_partition() {
        for sequence in all_sequences() {
            let ts = instances(&sequence);
            let n = 2 * ts[0].lcd() + 17;
            assert_partition(&ts, n, &sequence);
        }
    }

    #[test]
    fn property_resegmentation() {
        for sequence in all_sequences() {
            let ts = instances(&sequence);
            for v in 1..=40i64 {
                let results: Vec<Result<ExecutionTuple, SegmentError>> =
                    ts.iter().map(|t| t.resegment_by_value(v)).collect();
                let mut kept = Vec::new();
                for (t, res) in ts.iter().zip(results) {
                    match res {
                        Ok(re) => {
                            // Work follows what each segment got of v.
                            assert_eq!(re.scale(v), t.scale(v), "{sequence} v={v}");
                            let len = re.segment().length();
                            assert_eq!(
                                Rational::new(u64::try_from(t.scale(v)).expect("pos"), v as u64),
                                Some(len),
                                "{sequence} v={v}"
                            );
                            kept.push(re);
                        }
                        Err(e) => {
                            assert_eq!(t.scale(v), 0, "{sequence} v={v}: {e}");
                            assert!(matches!(e, SegmentError::NotEnoughForSegment { .. }));
                        }
                    }
                }
                let first = kept[0].sequence().clone();
                assert!(
                    kept.iter().all(|t| *t.sequence() == first),
                    "{sequence} v={v}"
                );
                assert_eq!(kept.len(), first.len(), "{sequence} v={v}");
                for (i, t) in kept.iter().enumerate() {
                    assert_eq!(t.index(), i);
                }
                let n = 2 * kept[0].lcd() + 5;
                assert_partition(&kept, n, &format!("{sequence} resegmented by {v}"));
            }
        }
    }
}
