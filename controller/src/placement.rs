//! Placement: which idle agents a queued run gets and which execution segment each runs.
//! Pure functions, so the rules are easy to test: FIFO is the scheduler's job, this decides
//! whether the head of the queue fits and how to split it.
//!
//! A run may ask (in `options.volley`) for a number of agents (`agents: N`) or for a split over
//! agent labels (`distribution: {"zone=eu": 60, "zone=us": 40}`); otherwise it takes every idle
//! agent. Segments are weighted by the agents' VU capacity (`--max-vus`; agents without a limit
//! count equally), over ONE shared sequence so every agent computes the same global striping.

use std::collections::BTreeMap;

use serde::Deserialize;
use volley_common::options::Options;

/// The planned maximum VUs of a run's options (0 when they do not resolve): what placement and
/// admission check against the agents' capacity.
pub(crate) fn planned_vus(config: &serde_json::Value) -> u64 {
    Options::from_script_json(config)
        .ok()
        .and_then(|o| o.resolve().ok())
        .map(|r| r.scenarios.iter().map(|s| s.max_vus()).sum())
        .unwrap_or(0)
}

/// An idle agent as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// 0 = no limit.
    pub max_vus: u64,
}

/// What a run asks of placement (`options.volley`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct PlacementRequest {
    /// Exactly this many agents.
    #[serde(default)]
    pub agents: Option<u64>,
    /// Percent of the load per label selector `key=value` (must sum to 100).
    #[serde(default)]
    pub distribution: Option<BTreeMap<String, f64>>,
    /// Only agents with all these labels.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// One agent's share.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub agent: String,
    pub segment: String,
}

/// The decision for a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub placements: Vec<Placement>,
    /// The shared sequence, e.g. `0,1/3,2/3,1`.
    pub sequence: String,
}

/// Why a run cannot be placed now (it stays QUEUED) or ever (it is refused).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlacementError {
    #[error("waiting for agents: {0}")]
    NotYet(String),
    #[error("{0}")]
    Invalid(String),
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn frac(num: u64, den: u64) -> String {
    if num == 0 {
        return "0".into();
    }
    if num == den {
        return "1".into();
    }
    let g = gcd(num, den);
    format!("{}/{}", num / g, den / g)
}

/// Splits [0,1] by integer weights into a sequence and per-agent segments.
fn split(agents: &[(String, u64)]) -> Plan {
    let total: u64 = agents.iter().map(|(_, w)| *w).sum();
    let mut points = vec!["0".to_string()];
    let mut acc = 0;
    let mut placements = Vec::new();
    for (name, w) in agents {
        let from = frac(acc, total);
        acc += w;
        let to = frac(acc, total);
        points.push(to.clone());
        placements.push(Placement {
            agent: name.clone(),
            segment: format!("{from}:{to}"),
        });
    }
    Plan {
        placements,
        sequence: points.join(","),
    }
}

fn matches(labels: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| labels.get(k) == Some(v))
}

const AGENTS_ZERO: &str =
    "options.volley.agents must be at least 1 (got 0); leave it out to use every idle agent";

impl PlacementRequest {
    /// What is wrong with the request whatever agents exist (checked when a test is created).
    pub fn validate(&self) -> Result<(), String> {
        if self.agents == Some(0) {
            return Err(AGENTS_ZERO.into());
        }
        if let Some(dist) = &self.distribution {
            let sum: f64 = dist.values().sum();
            if (sum - 100.0).abs() > 1e-6 || dist.values().any(|p| *p <= 0.0) {
                return Err(format!(
                    "options.volley.distribution must give positive percentages that sum to 100 (got {sum})"
                ));
            }
            for selector in dist.keys() {
                selector_parts(selector)?;
            }
        }
        Ok(())
    }

    /// Every label `key=value` the request needs some agent to have.
    fn wanted_labels(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for selector in self.distribution.iter().flat_map(|d| d.keys()) {
            if let Ok((k, v)) = selector_parts(selector) {
                out.push((k.to_string(), v.to_string()));
            }
        }
        out
    }
}

fn selector_parts(selector: &str) -> Result<(&str, &str), String> {
    selector.split_once('=').ok_or_else(|| {
        format!(
            "options.volley.distribution key {selector:?} must be a label selector like \"zone=eu\""
        )
    })
}

/// What a controller allows a run to ask for, whatever agents are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Most agents one run may ask for (`--max-agents`).
    pub max_agents: u64,
    /// Queue runs asking for labels no connected agent has (`--allow-unknown-labels`), for
    /// clusters whose agents come and go.
    pub allow_unknown_labels: bool,
    /// A scaler starts agents on the agents wanted (`--scaler`): a run needing more VUs than
    /// the connected agents hold waits for it in the queue instead of being refused.
    pub scaled: bool,
}

/// Whether a run needing `vus` VUs could ever be placed, judged at submit against every
/// connected agent (busy or idle): a run that asks for more agents than the controller allows,
/// for labels no agent has, or for more VUs than the connected agents can hold is refused with
/// the reason. With no agent connected, or with a scaler (`--scaler`), only the controller's own
/// limits (and, unless allowed, the labels) are checked: agents may still join.
pub fn admit(
    req: &PlacementRequest,
    vus: u64,
    connected: &[Candidate],
    rules: Admission,
) -> Result<(), String> {
    req.validate()?;
    if let Some(n) = req.agents {
        if n > rules.max_agents {
            return Err(format!(
                "options.volley.agents asks for {n} agents but this controller allows at most {} per run (--max-agents); lower options.volley.agents",
                rules.max_agents
            ));
        }
    }
    if connected.is_empty() {
        return Ok(());
    }
    if !rules.allow_unknown_labels {
        for (k, v) in req.wanted_labels() {
            if !connected.iter().any(|c| c.labels.get(&k) == Some(&v)) {
                let mut known: Vec<String> = connected
                    .iter()
                    .flat_map(|c| c.labels.iter().map(|(k, v)| format!("{k}={v}")))
                    .collect();
                known.sort();
                known.dedup();
                let known = if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                };
                return Err(format!(
                    "options.volley asks for label {k}={v} but no connected agent has it (their labels: {known}); start an agent with --label {k}={v}, or start the controller with --allow-unknown-labels to queue such runs until one joins"
                ));
            }
        }
    }
    let mut pool: Vec<&Candidate> = connected
        .iter()
        .filter(|c| req.labels.as_ref().is_none_or(|l| matches(&c.labels, l)))
        .collect();
    if rules.scaled
        || pool.is_empty()
        || req.distribution.is_some()
        || pool.iter().any(|c| c.max_vus == 0)
    {
        return Ok(()); // agents may join (the scaler starts them); unlimited agents hold any run
    }
    if let Some(n) = req.agents {
        if (pool.len() as u64) < n {
            return Ok(()); // more agents must join anyway; their capacity is unknown
        }
        pool.sort_by_key(|c| std::cmp::Reverse(c.max_vus));
        pool.truncate(n as usize);
    }
    // Saturating: many agents of a huge --max-vus must not wrap the sum round to a small one.
    let capacity = pool
        .iter()
        .fold(0u64, |sum, c| sum.saturating_add(c.max_vus));
    if vus > capacity {
        let each: Vec<String> = pool
            .iter()
            .map(|c| format!("{} {}", c.name, c.max_vus))
            .collect();
        return Err(format!(
            "the test plans up to {vus} VUs but the connected agents it can use hold at most {capacity} (--max-vus: {}); lower vus, stages' target, preAllocatedVUs or maxVUs, or add agents",
            each.join(", ")
        ));
    }
    Ok(())
}

/// Chooses agents for a run needing `vus` VUs (its planned maximum), or says why not now.
pub fn plan(
    req: &PlacementRequest,
    vus: u64,
    idle: &[Candidate],
    total_agents: usize,
) -> Result<Plan, PlacementError> {
    let mut pool: Vec<&Candidate> = idle
        .iter()
        .filter(|c| req.labels.as_ref().is_none_or(|l| matches(&c.labels, l)))
        .collect();
    pool.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(dist) = &req.distribution {
        req.validate().map_err(PlacementError::Invalid)?;
        let mut weighted: Vec<(String, u64)> = Vec::new();
        for (selector, pct) in dist {
            let (k, v) = selector_parts(selector).map_err(PlacementError::Invalid)?;
            let group: Vec<&&Candidate> = pool
                .iter()
                .filter(|c| c.labels.get(k).map(String::as_str) == Some(v))
                .collect();
            if group.is_empty() {
                return Err(PlacementError::NotYet(format!(
                    "no idle agent with label {selector}"
                )));
            }
            // The group's share is split equally among its agents (in permille of the whole).
            let per = ((pct * 1000.0).round() as u64).max(1);
            let n = group.len() as u64;
            for (i, c) in group.iter().enumerate() {
                let share = per / n + u64::from((i as u64) < per % n);
                if share > 0 {
                    weighted.push((c.name.clone(), share));
                }
            }
        }
        return Ok(split(&weighted));
    }
    let chosen: Vec<&Candidate> = match req.agents {
        Some(0) => return Err(PlacementError::Invalid(AGENTS_ZERO.into())),
        Some(n) => {
            if (pool.len() as u64) < n {
                return Err(PlacementError::NotYet(format!(
                    "the run needs {n} idle agents; {} idle of {total_agents} connected",
                    pool.len()
                )));
            }
            pool.into_iter().take(n as usize).collect()
        }
        None => {
            if pool.is_empty() {
                return Err(PlacementError::NotYet(format!(
                    "the run needs an idle agent; 0 idle of {total_agents} connected"
                )));
            }
            pool
        }
    };
    let unlimited = chosen.iter().any(|c| c.max_vus == 0);
    let capacity = chosen
        .iter()
        .fold(0u64, |sum, c| sum.saturating_add(c.max_vus));
    if !unlimited && capacity < vus {
        return Err(PlacementError::NotYet(format!(
            "the run needs {vus} VUs; the idle agents have capacity for {capacity}"
        )));
    }
    let weights: Vec<(String, u64)> = chosen
        .iter()
        .map(|c| (c.name.clone(), if unlimited { 1 } else { c.max_vus.max(1) }))
        .collect();
    Ok(split(&weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str, max: u64, labels: &[(&str, &str)]) -> Candidate {
        Candidate {
            name: name.into(),
            max_vus: max,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn equal_split_over_all_idle_agents() {
        let idle = [agent("a", 0, &[]), agent("b", 0, &[]), agent("c", 0, &[])];
        let p = plan(&PlacementRequest::default(), 10, &idle, 3).unwrap();
        assert_eq!(p.sequence, "0,1/3,2/3,1");
        assert_eq!(p.placements[1].segment, "1/3:2/3");
    }

    #[test]
    fn count_and_waiting() {
        let idle = [agent("a", 0, &[]), agent("b", 0, &[]), agent("c", 0, &[])];
        let req = PlacementRequest {
            agents: Some(4),
            ..Default::default()
        };
        assert!(matches!(
            plan(&req, 1, &idle, 3),
            Err(PlacementError::NotYet(_))
        ));
        let req = PlacementRequest {
            agents: Some(2),
            ..Default::default()
        };
        let p = plan(&req, 1, &idle, 3).unwrap();
        assert_eq!(p.placements.len(), 2);
        assert_eq!(p.sequence, "0,1/2,1");
    }

    #[test]
    fn capacity_weights_and_limits() {
        let idle = [agent("a", 100, &[]), agent("b", 300, &[])];
        let p = plan(&PlacementRequest::default(), 400, &idle, 2).unwrap();
        assert_eq!(p.sequence, "0,1/4,1");
        assert!(matches!(
            plan(&PlacementRequest::default(), 401, &idle, 2),
            Err(PlacementError::NotYet(_))
        ));
    }

    #[test]
    fn label_distribution() {
        let idle = [
            agent("eu1", 0, &[("zone", "eu")]),
            agent("eu2", 0, &[("zone", "eu")]),
            agent("us1", 0, &[("zone", "us")]),
        ];
        let mut d = BTreeMap::new();
        d.insert("zone=eu".to_string(), 60.0);
        d.insert("zone=us".to_string(), 40.0);
        let req = PlacementRequest {
            distribution: Some(d.clone()),
            ..Default::default()
        };
        let p = plan(&req, 10, &idle, 3).unwrap();
        assert_eq!(p.sequence, "0,3/10,3/5,1");
        d.insert("zone=ap".to_string(), 0.0);
        let req = PlacementRequest {
            distribution: Some(d),
            ..Default::default()
        };
        assert!(matches!(
            plan(&req, 10, &idle, 3),
            Err(PlacementError::Invalid(_))
        ));
    }

    #[test]
    fn admission_refuses_what_can_never_be_placed() {
        let rules = Admission {
            max_agents: 10,
            allow_unknown_labels: false,
            scaled: false,
        };
        let connected = [
            agent("a", 100, &[("zone", "eu")]),
            agent("b", 300, &[("zone", "us")]),
        ];
        let req = |agents: Option<u64>, zone: Option<&str>| PlacementRequest {
            agents,
            labels: zone.map(|z| [("zone".to_string(), z.to_string())].into()),
            ..Default::default()
        };
        assert_eq!(
            admit(&req(Some(0), None), 1, &connected, rules).unwrap_err(),
            AGENTS_ZERO
        );
        assert_eq!(
            admit(&req(Some(11), None), 1, &[], rules).unwrap_err(),
            "options.volley.agents asks for 11 agents but this controller allows at most 10 per run (--max-agents); lower options.volley.agents"
        );
        assert_eq!(
            admit(&req(None, Some("mars")), 1, &connected, rules).unwrap_err(),
            "options.volley asks for label zone=mars but no connected agent has it (their labels: zone=eu, zone=us); start an agent with --label zone=mars, or start the controller with --allow-unknown-labels to queue such runs until one joins"
        );
        let lenient = Admission {
            allow_unknown_labels: true,
            ..rules
        };
        assert!(admit(&req(None, Some("mars")), 1, &connected, lenient).is_ok());
        // Capacity: every connected agent together, or the biggest N when N are asked for.
        assert!(admit(&req(None, None), 400, &connected, rules).is_ok());
        assert_eq!(
            admit(&req(None, None), 1_000_000_000_000, &connected, rules).unwrap_err(),
            "the test plans up to 1000000000000 VUs but the connected agents it can use hold at most 400 (--max-vus: a 100, b 300); lower vus, stages' target, preAllocatedVUs or maxVUs, or add agents"
        );
        // With a scaler, agents will join: the run waits for them.
        let scaled = Admission {
            scaled: true,
            ..rules
        };
        assert!(admit(&req(None, None), 1_000_000_000_000, &connected, scaled).is_ok());
        assert!(
            admit(&req(Some(11), None), 1, &[], scaled).is_err(),
            "--max-agents holds"
        );
        assert!(admit(&req(Some(1), None), 300, &connected, rules).is_ok());
        assert!(admit(&req(Some(1), None), 301, &connected, rules).is_err());
        assert!(admit(&req(None, Some("eu")), 101, &connected, rules).is_err());
        // More agents than are connected: others may join, whose capacity is unknown.
        assert!(admit(&req(Some(3), None), 10_000, &connected, rules).is_ok());
        // No agent connected: only the controller's own limits apply.
        assert!(admit(&req(None, Some("mars")), u64::MAX, &[], rules).is_ok());
    }
}
