//! Issue 23's verdicts on the agent-count curve (bench/README.md, "Controller scale"): the
//! largest agent count one pinned controller held within the goal, and the count where it
//! saturates, with the figures that say why. Pure, so the rules are tested without a cluster.

/// The agents one controller core must hold (issue 23; docs/benchmarks.md#summary).
pub const GOAL_AGENTS: usize = 5000;
/// The merge lag p99 a held count may show, in ms.
pub const MAX_LAG_P99_MS: f64 = 100.0;
/// Run CPU, in cores, from which the one controller core counts as used up.
pub const SATURATED_CORES: f64 = 0.9;

/// What the verdicts read of one measurement of the curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub agents: usize,
    /// The run's final status (`FINISHED`, `ABORTED_BY_SYSTEM`, …) or `harness error`.
    pub status: String,
    pub totals_exact: bool,
    pub lag_p99_ms: f64,
    pub run_cores: f64,
    /// The controller logged an AGENT_LOST: every simulated agent sends all along, so it is
    /// false.
    pub agent_lost: bool,
}

impl Point {
    /// Why this count is beyond the goal's conditions (empty: it was held).
    pub fn failures(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.status != "FINISHED" {
            why.push(format!("the run ended {}", self.status));
        } else if !self.totals_exact {
            why.push("the merged totals differ from what was sent".into());
        }
        // NaN (no sample) is not a pass: the lag was not measured.
        if self.lag_p99_ms.is_nan() || self.lag_p99_ms > MAX_LAG_P99_MS {
            why.push(format!(
                "merge lag p99 {} ms > {MAX_LAG_P99_MS:.0} ms",
                fmt_ms(self.lag_p99_ms)
            ));
        }
        if self.agent_lost {
            why.push("the controller logged AGENT_LOST".into());
        }
        why
    }

    /// Why this count saturates the controller (empty: it does not): the goal's conditions,
    /// or its run CPU at [`SATURATED_CORES`] or above.
    pub fn saturation(&self) -> Vec<String> {
        let mut why = self.failures();
        if self.run_cores >= SATURATED_CORES {
            why.push(format!(
                "run CPU {:.2} cores ≥ {SATURATED_CORES}",
                self.run_cores
            ));
        }
        why
    }
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.0}")
    }
}

/// The largest count held within the goal's conditions (`None`: none was). Only a pinned
/// controller (`one_core`) counts: unpinned, it may have used both cores.
pub fn largest_held(points: &[Point], one_core: bool) -> Option<usize> {
    if !one_core {
        return None;
    }
    points
        .iter()
        .filter(|p| p.failures().is_empty())
        .map(|p| p.agents)
        .max()
}

/// The first count, by agents, that saturates the controller, with why.
pub fn saturates_at(points: &[Point]) -> Option<(&Point, Vec<String>)> {
    let mut sorted: Vec<&Point> = points.iter().collect();
    sorted.sort_by_key(|p| p.agents);
    sorted.into_iter().find_map(|p| {
        let why = p.saturation();
        (!why.is_empty()).then_some((p, why))
    })
}

/// The verdict lines printed under the curve's table.
pub fn lines(points: &[Point], one_core: bool) -> Vec<String> {
    let mut out = Vec::new();
    let held = largest_held(points, one_core);
    let goal = format!(
        "≥ {GOAL_AGENTS} agents FINISHED with exact totals, merge lag p99 ≤ {MAX_LAG_P99_MS:.0} ms, no AGENT_LOST, controller on one core"
    );
    let verdict = |met: bool| if met { "target met" } else { "target missed" };
    match (one_core, held) {
        (false, _) => out.push(format!(
            "agents on one controller: not judged, the controller was not pinned to one core (goal {goal}) — {}",
            verdict(false)
        )),
        (true, None) => out.push(format!(
            "agents on one controller: no count held (goal {goal}) — {}",
            verdict(false)
        )),
        (true, Some(n)) => out.push(format!(
            "agents on one controller: {n} (goal {goal}) — {}",
            verdict(n >= GOAL_AGENTS)
        )),
    }
    match saturates_at(points) {
        Some((p, why)) => out.push(format!(
            "saturates at {} agents: {} (run {:.2} cores, merge lag p99 {} ms, status {})",
            p.agents,
            why.join("; "),
            p.run_cores,
            fmt_ms(p.lag_p99_ms),
            p.status
        )),
        None => out.push(format!(
            "did not saturate up to {} agents (the largest count measured)",
            points.iter().map(|p| p.agents).max().unwrap_or(0)
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(agents: usize, lag: f64, cores: f64) -> Point {
        Point {
            agents,
            status: "FINISHED".into(),
            totals_exact: true,
            lag_p99_ms: lag,
            run_cores: cores,
            agent_lost: false,
        }
    }

    #[test]
    fn the_largest_count_held_meets_every_condition() {
        let mut lost = point(3000, 20.0, 0.5);
        lost.agent_lost = true;
        let points = vec![
            point(10, 0.0, 0.01),
            point(1000, 80.0, 0.6),
            lost,
            point(5000, 400.0, 0.95),
        ];
        assert_eq!(largest_held(&points, true), Some(1000));
        // Not pinned: not judged.
        assert_eq!(largest_held(&points, false), None);
        let mut aborted = point(2000, 10.0, 0.3);
        aborted.status = "ABORTED_BY_SYSTEM".into();
        assert_eq!(largest_held(&[aborted], true), None);
        let mut differ = point(2000, 10.0, 0.3);
        differ.totals_exact = false;
        assert_eq!(largest_held(&[differ], true), None);
        // No lag sample is no pass.
        assert_eq!(largest_held(&[point(10, f64::NAN, 0.0)], true), None);
    }

    #[test]
    fn it_saturates_at_the_first_count_over_the_lag_or_the_core() {
        let points = vec![
            point(3000, 50.0, 0.92),
            point(10, 0.0, 0.01),
            point(5000, 900.0, 0.99),
            point(1000, 80.0, 0.6),
        ];
        let (p, why) = saturates_at(&points).unwrap();
        assert_eq!(p.agents, 3000);
        assert_eq!(why, vec!["run CPU 0.92 cores ≥ 0.9".to_string()]);
        let lag = vec![point(100, 10.0, 0.1), point(1000, 150.0, 0.5)];
        let (p, why) = saturates_at(&lag).unwrap();
        assert_eq!(p.agents, 1000);
        assert_eq!(why, vec!["merge lag p99 150 ms > 100 ms".to_string()]);
        assert!(saturates_at(&[point(10, 0.0, 0.0)]).is_none());
    }

    #[test]
    fn the_lines_say_met_or_missed_and_where_it_saturates() {
        let points = vec![point(1000, 50.0, 0.5), point(5000, 90.0, 0.8)];
        let l = lines(&points, true);
        assert!(l[0].starts_with("agents on one controller: 5000 "), "{l:?}");
        assert!(l[0].ends_with("target met"), "{l:?}");
        assert_eq!(
            l[1],
            "did not saturate up to 5000 agents (the largest count measured)"
        );
        let l = lines(&[point(1000, 150.0, 0.5)], true);
        assert!(l[0].ends_with("target missed"), "{l:?}");
        assert!(l[1].starts_with("saturates at 1000 agents: merge lag p99 150 ms"));
        assert!(lines(&points, false)[0].contains("not pinned"));
    }
}
