//! The queue policy: which queued runs start now, which wait and which have waited too long.
//! A pure function of the queue and the agents, so fairness is tested without a clock.
//!
//! Runs are looked at oldest first. A run that fits the idle agents starts, even when an older
//! run is still waiting (backfilling: a run asking for 1 agent does not sit behind one asking
//! for 10 while agents are idle). To keep big runs from starving, a run that has waited
//! `queue_reserve_after` for agents that are connected but busy **reserves** the idle agents:
//! no run behind it starts until it has started. A run waiting for agents that are not
//! connected at all reserves nothing (holding agents would not bring them sooner). A run queued
//! longer than its queue timeout ends TIMED_OUT with the reason it could not be placed.

use std::collections::HashSet;
use std::time::Duration;

use volley_common::duration::format_duration;

use crate::placement::{self, Candidate, PlacementError, PlacementRequest, Plan};

/// A queued run as the policy sees it.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: u64,
    pub request: PlacementRequest,
    /// Its planned maximum VUs.
    pub vus: u64,
    /// How long it has been QUEUED.
    pub waited: Duration,
    /// Its queue timeout and the option or flag that set it.
    pub timeout: (Duration, &'static str),
}

/// What happens to one queued run now.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Launch(u64, Plan),
    /// It stays QUEUED, for this reason.
    Wait(u64, String),
    /// It ends TIMED_OUT with this message.
    Expire(u64, String),
    /// It can never be placed: it ends ABORTED_BY_SYSTEM with this message.
    Refuse(u64, String),
}

/// Decides every queued run (oldest first), placing runs on `idle` agents; `connected` is every
/// connected agent, busy or idle.
pub fn decide(
    queue: &[Queued],
    idle: &[Candidate],
    connected: &[Candidate],
    reserve_after: Duration,
) -> Vec<Decision> {
    let mut idle = idle.to_vec();
    let mut reserved_by: Option<u64> = None;
    let mut out = Vec::new();
    for run in queue {
        let attempt = placement::plan(&run.request, run.vus, &idle, connected.len());
        if let Err(PlacementError::Invalid(why)) = attempt {
            out.push(Decision::Refuse(run.id, why));
            continue;
        }
        let blocked = match (reserved_by, attempt) {
            (None, Ok(plan)) => {
                // A set of the placed names: a loop over them per idle agent was quadratic
                // (5,000 agents: 25 million comparisons before a run could start).
                let placed: HashSet<&str> =
                    plan.placements.iter().map(|p| p.agent.as_str()).collect();
                idle.retain(|c| !placed.contains(c.name.as_str()));
                out.push(Decision::Launch(run.id, plan));
                continue;
            }
            (Some(head), _) => format!(
                "run {head} has waited longest for busy agents and holds the idle ones until it starts"
            ),
            (None, Err(e)) => e.to_string(),
        };
        if run.waited >= run.timeout.0 {
            out.push(Decision::Expire(
                run.id,
                format!(
                    "QUEUE_TIMEOUT: the run waited {} in the queue ({} {}) and could not be placed: {blocked}",
                    format_duration(Duration::from_secs(run.waited.as_secs())),
                    run.timeout.1,
                    format_duration(run.timeout.0),
                ),
            ));
            continue;
        }
        if reserved_by.is_none()
            && run.waited >= reserve_after
            && placement::plan(&run.request, run.vus, connected, connected.len()).is_ok()
        {
            reserved_by = Some(run.id);
        }
        out.push(Decision::Wait(run.id, blocked));
    }
    out
}

/// What a QUEUED run says it waits for: with a `scaler` (`--scaler`), a run waiting for agents
/// is waiting for it to start them (the agents wanted already count this run), so the reason
/// names it rather than leave the user wondering whether anything will come.
pub fn waiting_reason(why: &str, scaler: Option<&str>) -> String {
    match (scaler, why.strip_prefix("waiting for agents: ")) {
        (Some(scaler), Some(rest)) => {
            format!("waiting for the scaler ({scaler}) to start agents: {rest}")
        }
        _ => why.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const RESERVE: Duration = Duration::from_secs(60);

    fn agent(name: &str) -> Candidate {
        Candidate {
            name: name.into(),
            labels: Default::default(),
            max_vus: 100,
        }
    }

    fn run(id: u64, agents: Option<u64>, waited_s: u64) -> Queued {
        Queued {
            id,
            request: PlacementRequest {
                agents,
                ..Default::default()
            },
            vus: 1,
            waited: Duration::from_secs(waited_s),
            timeout: (HOUR, "--queue-timeout"),
        }
    }

    fn kinds(d: &[Decision]) -> Vec<(u64, &'static str)> {
        d.iter()
            .map(|d| match d {
                Decision::Launch(id, _) => (*id, "launch"),
                Decision::Wait(id, _) => (*id, "wait"),
                Decision::Expire(id, _) => (*id, "expire"),
                Decision::Refuse(id, _) => (*id, "refuse"),
            })
            .collect()
    }

    #[test]
    fn a_later_run_that_fits_starts_while_the_head_waits() {
        // 3 agents connected, 1 idle; the head needs 2, the next one 1.
        let connected = [agent("a"), agent("b"), agent("c")];
        let idle = [agent("c")];
        let q = [run(1, Some(2), 5), run(2, Some(1), 1), run(3, Some(1), 0)];
        let d = decide(&q, &idle, &connected, RESERVE);
        assert_eq!(kinds(&d), [(1, "wait"), (2, "launch"), (3, "wait")]);
        let Decision::Launch(_, plan) = &d[1] else {
            unreachable!()
        };
        assert_eq!(plan.placements[0].agent, "c");
        let Decision::Wait(_, why) = &d[0] else {
            unreachable!()
        };
        assert_eq!(
            why,
            "waiting for agents: the run needs 2 idle agents; 1 idle of 3 connected"
        );
    }

    #[test]
    fn a_head_that_waited_for_busy_agents_reserves_the_idle_ones() {
        let connected = [agent("a"), agent("b"), agent("c")];
        let idle = [agent("c")];
        let q = [run(1, Some(2), 60), run(2, Some(1), 30)];
        let d = decide(&q, &idle, &connected, RESERVE);
        assert_eq!(kinds(&d), [(1, "wait"), (2, "wait")]);
        assert_eq!(
            d[1],
            Decision::Wait(
                2,
                "run 1 has waited longest for busy agents and holds the idle ones until it starts"
                    .into()
            )
        );
        // Once the busy agents are idle, the head starts first; the next one waits for agents.
        let d = decide(&q, &connected, &connected, RESERVE);
        assert_eq!(kinds(&d), [(1, "launch"), (2, "launch")]);
        let idle2 = [agent("b"), agent("c")];
        let d = decide(&q, &idle2, &connected, RESERVE);
        assert_eq!(kinds(&d), [(1, "launch"), (2, "wait")]);
    }

    #[test]
    fn a_head_waiting_for_agents_that_are_not_connected_reserves_nothing() {
        let connected = [agent("a"), agent("b")];
        let q = [run(1, Some(5), 600), run(2, Some(1), 0)];
        let d = decide(&q, &connected, &connected, RESERVE);
        assert_eq!(kinds(&d), [(1, "wait"), (2, "launch")]);
    }

    #[test]
    fn a_run_queued_past_its_timeout_expires_with_the_reason() {
        let connected = [agent("a")];
        let mut head = run(1, Some(3), 90);
        head.timeout = (Duration::from_secs(90), "options.volley.queueTimeout");
        let q = [head, run(2, Some(1), 89)];
        let d = decide(&q, &[], &connected, RESERVE);
        assert_eq!(
            d[0],
            Decision::Expire(
                1,
                "QUEUE_TIMEOUT: the run waited 1m30s in the queue (options.volley.queueTimeout 1m30s) and could not be placed: waiting for agents: the run needs 3 idle agents; 0 idle of 1 connected".into()
            )
        );
        assert_eq!(kinds(&d)[1], (2, "wait"));
        // A run that fits starts even past its timeout.
        let d = decide(&q[1..], &connected, &connected, RESERVE);
        assert_eq!(kinds(&d), [(2, "launch")]);
    }

    #[test]
    fn placing_a_run_on_thousands_of_agents_takes_linear_time() {
        // 20,000 idle agents and a run on all of them: taking the placed ones out of the idle
        // list was a loop over the placement per idle agent, 400 million name comparisons
        // (seconds even in a release build); a set makes it milliseconds.
        let idle: Vec<Candidate> = (0..20_000).map(|i| agent(&format!("a{i:05}"))).collect();
        let q = [run(1, Some(20_000), 0), run(2, Some(1), 0)];
        let began = std::time::Instant::now();
        let d = decide(&q, &idle, &idle, RESERVE);
        let took = began.elapsed();
        assert_eq!(kinds(&d), [(1, "launch"), (2, "wait")]);
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn a_run_that_can_never_be_placed_is_refused() {
        let q = [run(1, Some(0), 0), run(2, None, 0)];
        let d = decide(&q, &[agent("a")], &[agent("a")], RESERVE);
        assert_eq!(kinds(&d), [(1, "refuse"), (2, "launch")]);
    }

    #[test]
    fn a_run_waiting_for_agents_names_the_scaler() {
        let why = "waiting for agents: the run needs 3 idle agents; 1 idle of 1 connected";
        assert_eq!(waiting_reason(why, None), why);
        assert_eq!(
            waiting_reason(why, Some("the KEDA ScaledObject volley-agent")),
            "waiting for the scaler (the KEDA ScaledObject volley-agent) to start agents: \
             the run needs 3 idle agents; 1 idle of 1 connected"
        );
        // Waiting behind another run is not the scaler's business.
        let behind =
            "run 1 has waited longest for busy agents and holds the idle ones until it starts";
        assert_eq!(waiting_reason(behind, Some("hpa")), behind);
    }
}
