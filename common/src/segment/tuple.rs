//! Striping a sequence (which residues modulo the LCD each segment owns) and one instance's view
//! of it: [`ExecutionTuple`] scales values and [`SegmentedIndex`] walks the instance's elements.

use std::sync::Arc;

use super::rational::gcd;
use super::{
    check_bounds, ExecutionSegment, ExecutionSegmentSequence, Rational, SegmentError, MAX_LCD,
};

/// Per segment of a sequence, in order: the sorted residues modulo the LCD it owns (shared with
/// [`SegmentedIndex`] without copying).
type Residues = Vec<Arc<[u64]>>;

fn lcm(a: u64, b: u64) -> Option<u64> {
    let g = gcd(u128::from(a), u128::from(b));
    u64::try_from(u128::from(a) / g * u128::from(b)).ok()
}

/// Striping (k6's `NewExecutionSegmentSequenceWrapper`): which residues modulo the LCD each
/// segment of a filled sequence owns. Returns the LCD and, per segment in sequence order, its
/// sorted residues.
fn stripe(seq: &ExecutionSegmentSequence) -> Result<(u64, Residues), SegmentError> {
    let too_fine = |reason: String| SegmentError::TooFineGrained {
        sequence: seq.to_string(),
        reason,
        limit: MAX_LCD,
    };
    let lengths: Vec<Rational> = seq.0.iter().map(ExecutionSegment::length).collect();
    let mut lcd: u64 = 1;
    for len in &lengths {
        lcd = lcm(lcd, len.denom())
            .filter(|l| *l <= MAX_LCD)
            .ok_or_else(|| {
                too_fine(format!(
                    "a segment of length {len} pushes the common denominator of the lengths \
                     above {MAX_LCD}"
                ))
            })?;
    }
    // n_s: how many of every `lcd` consecutive indexes segment s owns (sums to lcd when the
    // sequence covers [0, 1], which filling guarantees).
    let shares: Vec<u64> = lengths
        .iter()
        .map(|l| l.numer() * (lcd / l.denom()))
        .collect();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    // Stable sort: ties keep sequence order, as k6 does.
    order.sort_by(|&a, &b| shares[b].cmp(&shares[a]));

    let mut chosen = vec![0u64; shares.len()];
    let mut residues: Vec<Vec<u64>> = shares
        .iter()
        .map(|&n| Vec::with_capacity(usize::try_from(n).unwrap_or(0)))
        .collect();
    let l = u128::from(lcd);
    for i in 0..lcd {
        let i_wide = u128::from(i);
        // Give `i` to the first (largest-share) segment whose next slot is due: its c-th element
        // is due from i = ceil(c·lcd / n_s). Since by index i at least i+1 slots are due in total
        // (Σ_s floor(i·n_s/lcd)+1 > i), some segment always qualifies, so every index is assigned.
        let winner = order.iter().copied().find(|&s| {
            let n = u128::from(shares[s]);
            if n == 0 || chosen[s] >= shares[s] {
                return false;
            }
            let num = u128::from(chosen[s]) * l;
            let (q, r) = (num / n, num % n);
            i_wide > q || (i_wide == q && r == 0)
        });
        debug_assert!(winner.is_some(), "striping left index {i} unassigned");
        if let Some(s) = winner {
            chosen[s] += 1;
            residues[s].push(i);
        }
    }
    Ok((lcd, residues.into_iter().map(Arc::from).collect()))
}

/// Count of global indexes `< v` owned by the segment with these residues (k6's `ScaleInt64`).
fn scale_with(residues: &[u64], lcd: u64, v: u64) -> u64 {
    let n = residues.len() as u64;
    (v / lcd) * n + residues.partition_point(|&r| r < v % lcd) as u64
}

/// The k-th (0-based) element of `{r + m·lcd : r ∈ residues, m ≥ 0}` (saturating at u64::MAX).
fn nth_with(residues: &[u64], lcd: u64, k: u64) -> u64 {
    let n = residues.len() as u64;
    if n == 0 {
        return u64::MAX;
    }
    let offset = residues[usize::try_from(k % n).unwrap_or(0)];
    (k / n).saturating_mul(lcd).saturating_add(offset)
}

/// One instance's view: its segment inside the filled, striped sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionTuple {
    segment: ExecutionSegment,
    sequence: ExecutionSegmentSequence,
    index: usize,
    lcd: u64,
    residues: Residues,
}

impl ExecutionTuple {
    /// Fills the sequence as k6 does (`None, None` = the single full segment `0:1`; an empty
    /// sequence counts as none) and stripes it. Errors if the segment is not in the sequence.
    pub fn new(
        segment: Option<&ExecutionSegment>,
        sequence: Option<&ExecutionSegmentSequence>,
    ) -> Result<Self, SegmentError> {
        let (filled, index) = Self::locate(segment, sequence)?;
        Self::from_filled(filled, index)
    }

    /// What [`Self::new`] checks before striping, in time linear in the sequence (striping
    /// takes the LCD times the segments): the segment is valid and in the filled sequence,
    /// which is returned with the segment's index in it.
    pub fn locate(
        segment: Option<&ExecutionSegment>,
        sequence: Option<&ExecutionSegmentSequence>,
    ) -> Result<(ExecutionSegmentSequence, usize), SegmentError> {
        let empty = ExecutionSegmentSequence::default();
        let given = sequence.unwrap_or(&empty);
        if let Some(seg) = segment {
            check_bounds(seg.from, seg.to).map_err(|reason| SegmentError::InvalidSegment {
                input: seg.to_string(),
                reason,
            })?;
        }
        given.validate()?;
        let filled = given.filled(segment);
        let ours = segment.copied().unwrap_or(ExecutionSegment::FULL);
        let index = filled.0.iter().position(|s| *s == ours).ok_or_else(|| {
            SegmentError::NotInSequence {
                segment: ours.to_string(),
                sequence: filled.to_string(),
                choices: filled
                    .0
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?;
        Ok((filled, index))
    }

    /// The single-instance tuple: owns everything.
    pub fn full() -> Self {
        ExecutionTuple {
            segment: ExecutionSegment::FULL,
            sequence: ExecutionSegmentSequence(vec![ExecutionSegment::FULL]),
            index: 0,
            lcd: 1,
            residues: vec![Arc::from(vec![0u64])],
        }
    }

    fn from_filled(sequence: ExecutionSegmentSequence, index: usize) -> Result<Self, SegmentError> {
        let (lcd, residues) = stripe(&sequence)?;
        Ok(ExecutionTuple {
            segment: sequence.0[index],
            sequence,
            index,
            lcd,
            residues,
        })
    }

    pub fn segment(&self) -> &ExecutionSegment {
        &self.segment
    }

    /// The filled sequence (covers `[0, 1]`).
    pub fn sequence(&self) -> &ExecutionSegmentSequence {
        &self.sequence
    }

    /// Position of our segment in the filled sequence.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Least common denominator of the segment lengths: the striping period.
    pub fn lcd(&self) -> u64 {
        self.lcd
    }

    /// The residues modulo [`Self::lcd`] this instance owns, ascending.
    pub fn residues(&self) -> &[u64] {
        &self.residues[self.index]
    }

    /// k6's `ScaleInt64`: this instance's share of `v` units. Across all instances of the
    /// sequence the shares sum to `v`, and each share is monotonic in `v`. Negative values are
    /// mirrored (`scale(-v) = -scale(v)`) so both properties hold for them too.
    pub fn scale(&self, v: i64) -> i64 {
        let scaled = i128::from(self.scale_u64(v.unsigned_abs()));
        let signed = if v < 0 { -scaled } else { scaled };
        // |signed| <= |v|, so it always fits.
        i64::try_from(signed).unwrap_or(v)
    }

    /// [`Self::scale`] for unsigned values: how many of the global indexes `0..v` we own.
    pub fn scale_u64(&self, v: u64) -> u64 {
        scale_with(self.residues(), self.lcd, v)
    }

    /// k6's `GetNewExecutionSegmentSequenceFromValue` followed by restriping: the sequence is
    /// rebuilt in proportion to what each segment actually gets of `v` (so work follows the VUs
    /// each instance really has). Segments that get nothing are dropped; if ours gets nothing the
    /// result is an error, since this instance could not run its share.
    pub fn resegment_by_value(&self, v: i64) -> Result<ExecutionTuple, SegmentError> {
        let not_enough = || SegmentError::NotEnoughForSegment {
            segment: self.segment.to_string(),
            sequence: self.sequence.to_string(),
            value: v,
            // For v < lcd we own |{r ∈ R : r < v}| units, so the first v giving us one is min R + 1.
            minimum: self.residues().first().map_or(1, |r| r + 1),
        };
        let Ok(value) = u64::try_from(v) else {
            return Err(not_enough());
        };
        if value == 0 {
            return Err(not_enough());
        }
        if value % self.lcd == 0 {
            // Every share is exactly len_s · v, so the rebuilt sequence would be identical.
            return Ok(self.clone());
        }
        let total = u128::from(value);
        let mut cumulative: u64 = 0;
        let mut segments = Vec::with_capacity(self.residues.len());
        let mut new_index = None;
        for (s, residues) in self.residues.iter().enumerate() {
            let count = scale_with(residues, self.lcd, value);
            if count == 0 {
                if s == self.index {
                    return Err(not_enough());
                }
                continue;
            }
            let end = cumulative + count;
            let from = Rational::from_u128(u128::from(cumulative), total);
            let to = Rational::from_u128(u128::from(end), total);
            let (Some(from), Some(to)) = (from, to) else {
                // Unreachable: both are reductions of k/v with k <= v, v a u64.
                return Err(not_enough());
            };
            if s == self.index {
                new_index = Some(segments.len());
            }
            segments.push(ExecutionSegment { from, to });
            cumulative = end;
        }
        let index = new_index.ok_or_else(not_enough)?;
        Self::from_filled(ExecutionSegmentSequence(segments), index)
    }

    /// The k-th (0-based) global index this instance owns: the k-th element of
    /// `{r + m·LCD : r ∈ R_s, m ≥ 0}`. VU `idInTest` is this + 1 for the k-th local VU;
    /// `iterationInTest` is this for the k-th local iteration.
    pub fn global_index(&self, k: u64) -> u64 {
        nth_with(self.residues(), self.lcd, k)
    }

    /// Whether this instance owns global index `g`.
    pub fn owns(&self, g: u64) -> bool {
        self.residues().binary_search(&(g % self.lcd)).is_ok()
    }

    /// Inverse of [`Self::global_index`]: the local (0-based) position of global index `g`, if
    /// this instance owns it.
    pub fn local_index(&self, g: u64) -> Option<u64> {
        let pos = self.residues().binary_search(&(g % self.lcd)).ok()? as u64;
        Some((g / self.lcd) * self.residues().len() as u64 + pos)
    }

    /// This instance's share of the whole (its segment length), e.g. to scale an arrival rate.
    pub fn fraction(&self) -> f64 {
        self.segment.length().to_f64()
    }

    /// An iterator over this instance's global numbers, starting before the first.
    pub fn segmented_index(&self) -> SegmentedIndex {
        SegmentedIndex::new(self)
    }
}

impl Default for ExecutionTuple {
    fn default() -> Self {
        Self::full()
    }
}

/// k6's `SegmentedIndex`: walks this instance's elements in order, handing out
/// `(scaled, unscaled)` pairs, both 1-based — `scaled` is the local count (e.g. `idInInstance`),
/// `unscaled` the global number (e.g. `idInTest`). Starts at `(0, 0)`, before the first element.
#[derive(Debug, Clone)]
pub struct SegmentedIndex {
    residues: Arc<[u64]>,
    lcd: u64,
    scaled: u64,
    unscaled: u64,
}

impl SegmentedIndex {
    pub fn new(tuple: &ExecutionTuple) -> Self {
        SegmentedIndex {
            residues: Arc::clone(&tuple.residues[tuple.index]),
            lcd: tuple.lcd,
            scaled: 0,
            unscaled: 0,
        }
    }

    fn unscaled_for(&self, scaled: u64) -> u64 {
        match scaled {
            0 => 0,
            k => nth_with(&self.residues, self.lcd, k - 1).saturating_add(1),
        }
    }

    /// Advances to our next element and returns its `(scaled, unscaled)` pair.
    // Not `Iterator`: it never ends and pairs with `prev`/`go_to`; the name mirrors k6's.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> (u64, u64) {
        self.scaled = self.scaled.saturating_add(1);
        self.unscaled = self.unscaled_for(self.scaled);
        (self.scaled, self.unscaled)
    }

    /// Steps back one element and returns the new current pair (`(0, 0)` once before the first;
    /// it never goes below that).
    pub fn prev(&mut self) -> (u64, u64) {
        self.scaled = self.scaled.saturating_sub(1);
        self.unscaled = self.unscaled_for(self.scaled);
        (self.scaled, self.unscaled)
    }

    /// Moves to our last element whose unscaled (1-based global) number is `<= unscaled` and
    /// returns its scaled number — i.e. how many of the first `unscaled` global units we own.
    /// Used by ramping-vus to turn a global VU count into a local one.
    pub fn go_to(&mut self, unscaled: u64) -> u64 {
        self.scaled = scale_with(&self.residues, self.lcd, unscaled);
        self.unscaled = self.unscaled_for(self.scaled);
        self.scaled
    }

    /// The current local (1-based) number; 0 before the first element.
    pub fn scaled(&self) -> u64 {
        self.scaled
    }

    /// The current global (1-based) number; 0 before the first element.
    pub fn unscaled(&self) -> u64 {
        self.unscaled
    }
}
