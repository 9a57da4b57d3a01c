//! What one agent's link may cost the controller beyond its metric batches (which the run's
//! queue and HTTP/2 flow control bound, docs/failures.md#a-controller-that-falls-behind):
//!
//! * **heartbeats**: an agent sends one a second; a link may have at most
//!   [`HEARTBEATS_PER_SECOND`] handled on average, with a burst of [`HEARTBEAT_BURST`] (an
//!   agent's timer catching up after a stall). The rest are dropped unread: a registered agent
//!   sending heartbeats as fast as it could took the registry's lock, a point of the agents
//!   page's charts and, naming a run, a place in that run's queue for each one;
//! * **warnings** about the messages a link had dropped (impossible telemetry, another
//!   protocol version, a run the agent is not part of, heartbeats past the rate): the first
//!   [`WARNING_BURST`] each a line, then one a second saying how many were held back since the
//!   last, and one more when the link ends — before, each dropped message was a line, so a
//!   flood of them was a flood of log ([docs/security.md](../../docs/security.md)).

use std::time::Instant;

/// Heartbeats a link may have handled a second, on average: ten times what an agent sends.
pub const HEARTBEATS_PER_SECOND: f64 = 10.0;
/// Heartbeats a link may have handled at once, after a quiet spell (an agent's timer catching
/// up after a stall sends a few; `tests/tests/grpc_fuzz.rs` a hundred at 37 a second).
pub const HEARTBEAT_BURST: f64 = 200.0;
/// Warning lines about one link's dropped messages written each (a fuzzing agent's few
/// hundred are all logged)...
pub const WARNING_BURST: f64 = 1_000.0;
/// ...and then a second, each counting the ones held back since the last.
pub const WARNINGS_PER_SECOND: f64 = 1.0;

/// A token bucket of heartbeats.
#[derive(Debug)]
pub struct Heartbeats {
    tokens: f64,
    last: Instant,
}

impl Heartbeats {
    pub fn new(now: Instant) -> Heartbeats {
        Heartbeats {
            tokens: HEARTBEAT_BURST,
            last: now,
        }
    }

    /// Whether a heartbeat arriving at `now` is handled (false: it is dropped).
    pub fn admit(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * HEARTBEATS_PER_SECOND).min(HEARTBEAT_BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The warning lines a link may still write: a bucket of [`WARNING_BURST`] lines, refilled
/// at [`WARNINGS_PER_SECOND`], and how many it held back since its last line.
#[derive(Debug)]
pub struct Warnings {
    tokens: f64,
    last: Instant,
    held_back: u64,
}

/// Whether to write a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warn {
    /// Write it; `held_back` warnings before it were not written (0: none).
    Write { held_back: u64 },
    /// Do not: it is counted, and the next written warning says how many were held back.
    HoldBack,
}

impl Warnings {
    pub fn new(now: Instant) -> Warnings {
        Warnings {
            tokens: WARNING_BURST,
            last: now,
            held_back: 0,
        }
    }

    /// Whether a warning at `now` is written.
    pub fn check(&mut self, now: Instant) -> Warn {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * WARNINGS_PER_SECOND).min(WARNING_BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Warn::Write {
                held_back: std::mem::take(&mut self.held_back),
            }
        } else {
            self.held_back += 1;
            Warn::HoldBack
        }
    }

    /// The warnings held back since the last line (what the link's last line says).
    pub fn held_back(&self) -> u64 {
        self.held_back
    }
}

/// What a written warning adds about the ones held back before it.
pub fn held_back_note(held_back: u64) -> String {
    if held_back == 0 {
        String::new()
    } else {
        format!(
            " ({held_back} more dropped messages of this agent were not logged: after \
             {WARNING_BURST} lines, one a second)"
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_flood_of_heartbeats_is_cut_to_the_rate_and_a_steady_agent_never_is() {
        let t0 = Instant::now();
        let mut flood = Heartbeats::new(t0);
        // 100,000 heartbeats over 10 s: the burst and 10 a second pass, the rest are dropped.
        let handled = (0..100_000u64)
            .filter(|i| flood.admit(t0 + Duration::from_micros(i * 100)))
            .count();
        let expected = (HEARTBEAT_BURST + 10.0 * HEARTBEATS_PER_SECOND) as usize;
        assert!(
            handled.abs_diff(expected) <= 1,
            "{handled} handled, expected {expected}"
        );
        // One a second for an hour, and a catch-up burst of 20 after a 20 s stall: all pass.
        let mut steady = Heartbeats::new(t0);
        for s in 0..3_600 {
            assert!(steady.admit(t0 + Duration::from_secs(s)), "second {s}");
        }
        let after = t0 + Duration::from_secs(3_620);
        for i in 0..20 {
            assert!(steady.admit(after), "catch-up {i}");
        }
    }

    #[test]
    fn warnings_are_cut_to_one_a_second_after_a_burst_and_each_counts_the_rest() {
        let t0 = Instant::now();
        let mut w = Warnings::new(t0);
        let burst = WARNING_BURST as usize;
        let first: Vec<Warn> = (0..burst + 500).map(|_| w.check(t0)).collect();
        let written = first
            .iter()
            .filter(|x| matches!(x, Warn::Write { .. }))
            .count();
        assert_eq!(written, burst);
        assert_eq!(first[0], Warn::Write { held_back: 0 });
        assert_eq!(first[burst], Warn::HoldBack);
        assert_eq!(w.held_back(), 500);
        // A second on, the next line says how many were held back.
        let next = w.check(t0 + Duration::from_secs(1));
        assert_eq!(next, Warn::Write { held_back: 500 });
        assert_eq!(w.held_back(), 0);
        assert_eq!(w.check(t0 + Duration::from_secs(1)), Warn::HoldBack);
        assert!(held_back_note(990).contains("990 more"));
        assert_eq!(held_back_note(0), "");
    }
}
