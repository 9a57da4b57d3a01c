//! How many agents the controller's runs need now: the figure an autoscaler follows
//! (`GET /v1/agents/wanted`, the `volley_agents_wanted` gauge; docs/rest-api.md#agents-wanted).
//! Running runs keep the agents they hold; each queued run wants enough agents for its VUs at
//! the agents' capacity, at least the `options.volley.agents` it asks for and one per label
//! selector of its `distribution`. Pure, so the rule is tested without a cluster.

use crate::placement::PlacementRequest;

/// A queued run as demand sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueuedRun {
    pub request: PlacementRequest,
    /// Its planned VUs (the most it runs at once).
    pub vus: u64,
}

/// The agents one queued run wants, at `capacity` VUs per agent (0: unknown, then its VUs
/// count as one agent).
pub fn wanted_by(run: &QueuedRun, capacity: u64) -> u64 {
    let for_vus = if capacity == 0 {
        1
    } else {
        run.vus.div_ceil(capacity).max(1)
    };
    let asked = run.request.agents.unwrap_or(0);
    let selectors = run
        .request
        .distribution
        .as_ref()
        .map_or(0, |d| d.len() as u64);
    for_vus.max(asked).max(selectors)
}

/// The agents wanted now: those busy with runs plus what every queued run wants.
pub fn agents_wanted(busy: u64, queued: &[QueuedRun], capacity: u64) -> u64 {
    queued
        .iter()
        .map(|r| wanted_by(r, capacity))
        .fold(busy, u64::saturating_add)
}

/// The VUs one agent takes, for demand: the operator's `--agent-max-vus`, else the smallest
/// limit among the connected agents (so a run is never planned on fewer agents than it needs),
/// else 0 (unknown).
pub fn capacity(configured: u64, connected_max_vus: impl IntoIterator<Item = u64>) -> u64 {
    if configured > 0 {
        return configured;
    }
    connected_max_vus
        .into_iter()
        .filter(|&v| v > 0)
        .min()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run(vus: u64) -> QueuedRun {
        QueuedRun {
            request: PlacementRequest::default(),
            vus,
        }
    }

    #[test]
    fn a_queued_run_wants_agents_for_its_vus() {
        assert_eq!(wanted_by(&run(250), 100), 3);
        assert_eq!(wanted_by(&run(200), 100), 2);
        assert_eq!(wanted_by(&run(0), 100), 1, "every run needs one agent");
        assert_eq!(wanted_by(&run(5000), 0), 1, "capacity unknown");
    }

    #[test]
    fn asked_agents_and_selectors_raise_the_want() {
        let mut r = run(10);
        r.request.agents = Some(4);
        assert_eq!(wanted_by(&r, 100), 4);
        let mut r = run(10);
        r.request.distribution = Some(BTreeMap::from([
            ("zone=a".to_string(), 50.0),
            ("zone=b".to_string(), 50.0),
        ]));
        assert_eq!(wanted_by(&r, 100), 2);
        r.vus = 1000;
        assert_eq!(wanted_by(&r, 100), 10);
    }

    #[test]
    fn busy_agents_and_queued_runs_add_up() {
        assert_eq!(agents_wanted(0, &[], 100), 0, "idle: none wanted");
        assert_eq!(agents_wanted(3, &[], 100), 3);
        assert_eq!(agents_wanted(3, &[run(150), run(20)], 100), 6);
    }

    #[test]
    fn capacity_comes_from_the_operator_else_the_smallest_agent() {
        assert_eq!(capacity(500, [100, 200]), 500);
        assert_eq!(capacity(0, [300, 0, 200]), 200);
        assert_eq!(capacity(0, []), 0);
        assert_eq!(capacity(0, [0]), 0);
    }
}
