//! When each agent of a run was last heard from, stamped by the agent's stream the moment a
//! message arrives — not when the run's task gets to it. The run machine judges liveness
//! (`agent_lost_after`, `data_timeout`) on the later of this and what it processed, so a run
//! whose task lags behind its queue never takes a busy agent for a silent one
//! (docs/failures.md#agent-lost).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The last arrival of each agent of a run, by its position in placement order.
pub struct Arrivals {
    base: Instant,
    /// Milliseconds since `base` plus one; 0: nothing arrived yet.
    last_ms: Vec<AtomicU64>,
}

impl Arrivals {
    pub fn new(agents: usize) -> Self {
        Arrivals {
            base: Instant::now(),
            last_ms: (0..agents).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Something of agent `agent` arrived now.
    pub fn stamp(&self, agent: usize) {
        self.stamp_at(agent, Instant::now());
    }

    /// Something of agent `agent` arrived at `at` (an earlier stamp is kept if it is later).
    pub fn stamp_at(&self, agent: usize, at: Instant) {
        if let Some(slot) = self.last_ms.get(agent) {
            let ms = at.saturating_duration_since(self.base).as_millis() as u64 + 1;
            slot.fetch_max(ms, Ordering::Relaxed);
        }
    }

    /// When something of agent `agent` last arrived (None: nothing yet, or no such agent).
    pub fn last(&self, agent: usize) -> Option<Instant> {
        let ms = self.last_ms.get(agent)?.load(Ordering::Relaxed);
        (ms > 0).then(|| self.base + Duration::from_millis(ms - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_stamp_of_each_agent_is_kept() {
        let a = Arrivals::new(2);
        assert_eq!(a.last(0), None);
        let t = Instant::now() + Duration::from_secs(5);
        a.stamp_at(0, t);
        a.stamp_at(0, t - Duration::from_secs(3));
        let last = a.last(0).unwrap();
        assert!(
            last <= t && t - last < Duration::from_millis(2),
            "{:?}",
            t - last
        );
        assert_eq!(a.last(1), None);
        a.stamp(7);
        assert_eq!(a.last(7), None);
    }
}
