//! Each connected agent's last few minutes of heartbeats, for the small charts of the
//! dashboard's Agents page (`docs/dashboard.md`, "Agents"): the agent process's CPU %, its RSS,
//! its VUs and requests/s, one point per heartbeat, at most [`RECENT_POINTS`] per agent (older
//! ones are dropped), so an agent costs the same whether it has been connected a minute or a
//! month. The registry keeps them with the agent (idle or busy); the agents stream sends them.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Heartbeats kept per agent: three minutes at one a second.
pub const RECENT_POINTS: usize = 180;

/// Now, Unix ms (when a heartbeat is received).
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One heartbeat as the small charts draw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecentPoint {
    /// When the controller received it, Unix ms.
    pub t: i64,
    /// The agent process's CPU, % of the host's CPUs (`None`: the agent does not report it).
    pub process_cpu: Option<f64>,
    /// The agent process's resident memory, bytes.
    pub rss: u64,
    pub vus: i64,
    pub rps: f64,
}

/// An agent's newest heartbeats, oldest first, at most [`RECENT_POINTS`].
#[derive(Debug, Clone, Default)]
pub struct Recent {
    points: VecDeque<RecentPoint>,
}

impl Recent {
    /// Adds a heartbeat; drops the oldest beyond [`RECENT_POINTS`].
    pub fn push(&mut self, p: RecentPoint) {
        self.points.push_back(p);
        while self.points.len() > RECENT_POINTS {
            self.points.pop_front();
        }
    }

    /// The points received after `after` (Unix ms) as columns, for `agent`.
    pub fn after(&self, agent: &str, after: i64) -> AgentRecent {
        let mut out = AgentRecent {
            agent: agent.to_string(),
            ..AgentRecent::default()
        };
        for p in self.points.iter().filter(|p| p.t > after) {
            out.t.push(p.t);
            out.process_cpu.push(p.process_cpu);
            out.rss.push(p.rss);
            out.vus.push(p.vus);
            out.rps.push(p.rps);
        }
        out
    }
}

/// Some of an agent's recent heartbeats as columns of equal length, oldest first (what the
/// agents stream's `recent` event carries per agent).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgentRecent {
    pub agent: String,
    /// When the controller received each heartbeat, Unix ms.
    pub t: Vec<i64>,
    pub process_cpu: Vec<Option<f64>>,
    pub rss: Vec<u64>,
    pub vus: Vec<i64>,
    pub rps: Vec<f64>,
}

impl AgentRecent {
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: i64) -> RecentPoint {
        RecentPoint {
            t,
            process_cpu: Some(t as f64),
            rss: 1000,
            vus: 2,
            rps: 0.5,
        }
    }

    #[test]
    fn an_agent_keeps_only_its_newest_points() {
        let mut r = Recent::default();
        for t in 0..1000 {
            r.push(point(t));
        }
        let all = r.after("gen-1", -1);
        assert_eq!(all.t.len(), RECENT_POINTS);
        assert_eq!(all.t[0], 1000 - RECENT_POINTS as i64);
        assert_eq!(all.t.last(), Some(&999));
        for column in [
            all.process_cpu.len(),
            all.rss.len(),
            all.vus.len(),
            all.rps.len(),
        ] {
            assert_eq!(column, RECENT_POINTS);
        }
        let newer = r.after("gen-1", 997);
        assert_eq!(newer.t, [998, 999]);
        assert_eq!(newer.process_cpu, [Some(998.0), Some(999.0)]);
        assert_eq!(newer.agent, "gen-1");
        assert!(r.after("gen-1", 999).is_empty());
    }
}
