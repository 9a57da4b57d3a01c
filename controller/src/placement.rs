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
        let sum: f64 = dist.values().sum();
        if (sum - 100.0).abs() > 1e-6 || dist.values().any(|p| *p <= 0.0) {
            return Err(PlacementError::Invalid(format!(
                "options.volley.distribution must give positive percentages that sum to 100 (got {sum})"
            )));
        }
        let mut weighted: Vec<(String, u64)> = Vec::new();
        for (selector, pct) in dist {
            let (k, v) = selector.split_once('=').ok_or_else(|| {
                PlacementError::Invalid(format!(
                    "options.volley.distribution key {selector:?} must be a label selector like \"zone=eu\""
                ))
            })?;
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
        Some(0) => {
            return Err(PlacementError::Invalid(
                "options.volley.agents must be at least 1".into(),
            ))
        }
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
                    "no idle agent ({total_agents} connected)"
                )));
            }
            pool
        }
    };
    let unlimited = chosen.iter().any(|c| c.max_vus == 0);
    let capacity: u64 = chosen.iter().map(|c| c.max_vus).sum();
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
}
