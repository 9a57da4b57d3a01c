//! When an agent sends its metric batches (docs/cluster-runs.md#metric-batches): once a metrics
//! interval, at the phase of the interval its execution segment's start gives (`a:b` →
//! `a × interval` past each whole interval of the wall clock). The agents of a run hold segments
//! that start at evenly spread points, so their batches reach the controller spread over the
//! interval instead of in one burst, where the last batch of a burst waited for the merge of
//! all the others (5,000 agents: merge lag p99 0.6 s, docs/benchmarks.md#controller-scale).
//!
//! The phase is taken on the wall clock, not from when the agent was assigned, so agents that
//! got their Assign at different moments keep their spread. Each batch is stamped with the
//! instant it was due (its `end_unix_ms`), read on the monotonic clock from one wall-clock
//! reading at the start: an agent's batches end exactly one interval apart, so each falls in
//! the next of the controller's timeline buckets (`end_unix_ms` rounded up to the interval,
//! `controller/src/run/merge.rs`) — one batch per agent and interval, whatever the jitter of
//! the moment it is taken.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use volley_common::segment::ExecutionSegment;

/// The metric batch schedule of one run on an agent.
#[derive(Debug, Clone)]
pub struct BatchClock {
    /// The clock's start, on the monotonic clock and since the Unix epoch.
    origin: Instant,
    origin_unix: Duration,
    interval: Duration,
    /// The first batch is due this long after `origin` (at most one interval); then one every
    /// interval.
    first: Duration,
    /// The number of the next batch due (0 = the first).
    next: u64,
    /// Where the interval being filled began (ms since the Unix epoch).
    from_unix_ms: u64,
}

/// The span a batch covers: `start_unix_ms`, `end_unix_ms`.
pub type Span = (u64, u64);

impl BatchClock {
    /// A run's schedule starting now, for the agent's `segment` (as the Assign names it; one
    /// that does not parse counts as `0:1`: the engine refuses it anyway).
    pub fn start(segment: &str, interval: Duration) -> Self {
        let phase = segment
            .parse::<ExecutionSegment>()
            .unwrap_or_default()
            .start_within(interval);
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self::starting(Instant::now(), since_epoch, phase, interval)
    }

    /// A schedule whose start is `origin` on the monotonic clock and `origin_unix` since the
    /// Unix epoch: batches due when the wall clock is `phase` past a multiple of `interval`.
    pub fn starting(
        origin: Instant,
        origin_unix: Duration,
        phase: Duration,
        interval: Duration,
    ) -> Self {
        let interval = interval.max(Duration::from_millis(1));
        let period = interval.as_nanos();
        let into = origin_unix.as_nanos() % period;
        let phase = phase.as_nanos() % period;
        // The first instant at the phase after the start; one right at it would hold nothing.
        let first = match (phase + period - into) % period {
            0 => period,
            n => n,
        };
        BatchClock {
            origin,
            origin_unix,
            interval,
            first: nanos(first),
            next: 0,
            from_unix_ms: ms(origin_unix),
        }
    }

    /// When the next batch is due.
    pub fn due(&self) -> Instant {
        self.origin + self.offset(self.next)
    }

    /// The batch due at [`BatchClock::due`] is taken at `now`: the span it covers. The next
    /// batch is due at the first instant of the schedule after `now`: instants missed while the
    /// agent was held up are skipped (this batch holds their data) rather than sent in a burst.
    pub fn tick(&mut self, now: Instant) -> Span {
        let span = self.close(self.offset(self.next));
        let late = now.saturating_duration_since(self.origin + self.first);
        let passed = late.as_nanos() / self.interval.as_nanos();
        self.next = (self.next + 1).max(u64::try_from(passed + 1).unwrap_or(u64::MAX));
        span
    }

    /// The last batch, taken at `now` when the run's engine has returned: the span from the
    /// last one to `now`.
    pub fn rest(&mut self, now: Instant) -> Span {
        self.close(now.saturating_duration_since(self.origin))
    }

    /// How long after the start batch `k` is due.
    fn offset(&self, k: u64) -> Duration {
        nanos(self.first.as_nanos() + self.interval.as_nanos() * u128::from(k))
    }

    /// Ends the interval being filled at `offset` past the start.
    fn close(&mut self, offset: Duration) -> Span {
        let end = ms(self.origin_unix + offset).max(self.from_unix_ms);
        (std::mem::replace(&mut self.from_unix_ms, end), end)
    }
}

/// A Duration of `n` nanoseconds (saturating: a schedule thousands of years long).
fn nanos(n: u128) -> Duration {
    let secs = u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (n % 1_000_000_000) as u32)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// The controller's timeline bucket of a batch (`controller/src/run/merge.rs`).
    fn bucket(end_unix_ms: u64, step_ms: u64) -> u64 {
        end_unix_ms.div_ceil(step_ms) * step_ms
    }

    fn at(s: &str) -> Duration {
        let (secs, ms) = s.split_once('.').unwrap();
        Duration::from_secs(secs.parse().unwrap()) + Duration::from_millis(ms.parse().unwrap())
    }

    /// The spans of the first `n` batches of a clock taken on time.
    fn spans(clock: &mut BatchClock, n: usize) -> Vec<Span> {
        (0..n).map(|_| clock.tick(clock.due())).collect()
    }

    #[test]
    fn batches_are_due_at_the_segments_phase_of_each_wall_clock_interval() {
        let t0 = Instant::now();
        // Assigned at 1000.300 s; segment 1/4:1/2 → 250 ms past each second.
        let mut c = BatchClock::starting(t0, at("1000.300"), SECOND / 4, SECOND);
        assert_eq!(c.due(), t0 + Duration::from_millis(950));
        // The first batch covers the shorter span from the start to the first tick.
        assert_eq!(
            spans(&mut c, 3),
            [
                (1_000_300, 1_001_250),
                (1_001_250, 1_002_250),
                (1_002_250, 1_003_250)
            ]
        );
        // Phase 0 (one agent, 0:1): at each whole second.
        let mut c = BatchClock::starting(t0, at("1000.300"), Duration::ZERO, SECOND);
        assert_eq!(c.due(), t0 + Duration::from_millis(700));
        assert_eq!(
            spans(&mut c, 2),
            [(1_000_300, 1_001_000), (1_001_000, 1_002_000)]
        );
        // Started right at the phase: the first batch a whole interval later, not an empty one.
        let mut c = BatchClock::starting(t0, at("1000.250"), SECOND / 4, SECOND);
        assert_eq!(c.due(), t0 + SECOND);
        assert_eq!(spans(&mut c, 1), [(1_000_250, 1_001_250)]);
    }

    #[test]
    fn the_segment_of_the_assign_gives_the_phase() {
        // When `clock`'s next batch is due, in ms into the wall clock's second.
        let due_into_second = |clock: &BatchClock| {
            let (now, now_unix) = (Instant::now(), SystemTime::now());
            let due_unix = now_unix + clock.due().saturating_duration_since(now);
            due_unix.duration_since(UNIX_EPOCH).unwrap().as_millis() % 1000
        };
        // 750 ms past a whole second (give or take the time between two clock readings).
        let into = due_into_second(&BatchClock::start("3/4:1", SECOND));
        assert!((740..=760).contains(&into), "due {into} ms into the second");
        // A segment that does not parse counts as 0:1.
        let into = due_into_second(&BatchClock::start("2:1", SECOND));
        assert!(!(10..=990).contains(&into), "due {into} ms into the second");
    }

    #[test]
    fn agents_spread_their_batches_and_each_fills_every_timeline_interval_once() {
        let t0 = Instant::now();
        let agents = 1000u64;
        for (start, step_ms) in [
            ("1700000000.123", 1000),
            ("1700000000.999", 1000),
            ("5.000", 250),
        ] {
            let interval = Duration::from_millis(step_ms);
            let mut sends = Vec::new();
            for i in 0..agents {
                let segment = format!("{i}/{agents}:{}/{agents}", i + 1);
                let phase = segment
                    .parse::<ExecutionSegment>()
                    .unwrap()
                    .start_within(interval);
                // Each agent assigned up to 40 ms after the first.
                let skew = Duration::from_micros(i * 40);
                let mut c = BatchClock::starting(t0 + skew, at(start) + skew, phase, interval);
                let ends: Vec<u64> = spans(&mut c, 30).iter().map(|s| s.1).collect();
                let buckets: Vec<u64> = ends.iter().map(|e| bucket(*e, step_ms)).collect();
                assert!(
                    buckets.windows(2).all(|w| w[1] == w[0] + step_ms),
                    "agent {i}: buckets {buckets:?}"
                );
                sends.extend(ends[1..].iter().map(|e| e % step_ms));
            }
            // Evenly over the interval: every tenth of it holds a tenth of the sends.
            let mut tenths = [0usize; 10];
            for s in &sends {
                tenths[(s * 10 / step_ms) as usize] += 1;
            }
            let each = sends.len() / 10;
            assert!(
                tenths.iter().all(|n| n.abs_diff(each) <= each / 20),
                "{tenths:?}"
            );
        }
    }

    #[test]
    fn a_held_up_agent_skips_the_instants_it_missed_and_loses_no_time() {
        let t0 = Instant::now();
        let mut c = BatchClock::starting(t0, at("100.000"), SECOND / 2, SECOND);
        assert_eq!(c.tick(c.due()), (100_000, 100_500));
        // Taken 2.3 s late: one batch with everything up to now, stamped when it was due...
        let due = c.due();
        assert_eq!(
            c.tick(due + Duration::from_millis(2300)),
            (100_500, 101_500)
        );
        // ... and the next due at the schedule's first instant after now, not three at once.
        assert_eq!(c.due(), t0 + Duration::from_millis(4500));
        assert_eq!(c.tick(c.due()), (101_500, 104_500));
        // The last batch, when the engine returned: from the last one to then.
        assert_eq!(c.rest(t0 + Duration::from_millis(4800)), (104_500, 104_800));
        assert_eq!(c.rest(t0 + Duration::from_millis(4800)), (104_800, 104_800));
    }

    #[test]
    fn the_spans_are_contiguous_and_never_go_back() {
        let t0 = Instant::now();
        let mut c = BatchClock::starting(t0, at("7.777"), SECOND / 3, Duration::from_millis(100));
        let mut last = 7_777;
        for k in 0..50u64 {
            let now = c.due() + Duration::from_millis(k % 7 * 30);
            let (start, end) = if k % 10 == 9 {
                c.rest(now)
            } else {
                c.tick(now)
            };
            assert_eq!(start, last);
            assert!(end >= start);
            last = end;
        }
    }
}
