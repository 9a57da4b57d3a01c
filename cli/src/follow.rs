//! What `submit --wait` and `status RUN --follow` print while they follow a cluster run: each
//! new run event and each status change as a line, as it happens, and on a terminal the live
//! block under them (`run_view/live.rs`, drawn by `progress.rs` as `volley run` draws its own).
//! Without a terminal only the lines are printed, one per event and status change, so scripts
//! and logs read a stable, line-based output (docs/cluster-runs.md#following-a-run).
//!
//! Following a Raft group of controllers, a change of leader is a line too: the client goes on
//! through another controller when the one it used dies, and every answer names the leader
//! (docs/ha.md#clients-a-list-of-controllers), so the line says who took over.

use volley_api::client::{Client, Leader};
use volley_api::RunView;
use volley_common::status::RunStatus;

use crate::progress::LiveBlock;
use crate::run_view::{live, Style};

/// How the lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// `submit --wait`: events as k6-style log lines and status changes as plain lines, on
    /// stderr (standard output is the summary's).
    Stderr,
    /// `status --follow`: plain lines on standard output.
    Stdout,
}

pub struct Follower {
    run_id: u64,
    lines: Lines,
    /// No status lines (`submit --quiet`); events are still printed.
    quiet: bool,
    block: LiveBlock,
    style: Style,
    last_status: Option<RunStatus>,
    events_seen: usize,
    /// The Raft leader the controllers named last (`None`: none named yet, or no group).
    leader: Option<Leader>,
}

impl Follower {
    pub fn new(run_id: u64, lines: Lines, quiet: bool) -> Self {
        Follower {
            run_id,
            lines,
            quiet,
            block: if quiet {
                LiveBlock::hidden()
            } else {
                LiveBlock::for_stdout()
            },
            style: Style::for_stdout(),
            last_status: None,
            events_seen: 0,
            leader: None,
        }
    }

    /// Prints what is new in `run` (events, then a status change) above the live block, then
    /// redraws the block from the run and its live metrics and agents.
    pub fn update(&mut self, c: &Client, run: &RunView) {
        let run_id = self.run_id;
        let new_events = run.events.get(self.events_seen..).unwrap_or_default();
        let changed = self.last_status != Some(run.run_status);
        let (lines, quiet) = (self.lines, self.quiet);
        let leader = c.leader();
        let took_over = leader_change(self.leader.as_ref(), leader.as_ref(), c.base_url());
        if leader.is_some() {
            self.leader = leader;
        }
        if !new_events.is_empty() || (changed && !quiet) || took_over.is_some() {
            self.block.above(|| {
                if let Some(line) = &took_over {
                    match lines {
                        Lines::Stderr => {
                            volley_agent::console::plain(&format!("run {run_id}: {line}"))
                        }
                        Lines::Stdout => println!("run {run_id}: {line}"),
                    }
                }
                for e in new_events {
                    match lines {
                        Lines::Stderr => volley_agent::console::log(
                            &e.level,
                            &format!("run {run_id}: {}", e.message),
                            &[],
                        ),
                        Lines::Stdout => println!("run {run_id}: {} {}", e.level, e.message),
                    }
                }
                if changed && !quiet {
                    let reason = run.transitions.last().map_or("", |t| t.reason.as_str());
                    let line = format!(
                        "run {run_id}: {} ({}) {reason}",
                        run.run_status.name(),
                        run.run_status.number()
                    );
                    match lines {
                        Lines::Stderr => volley_agent::console::plain(&line),
                        Lines::Stdout => println!("{line}"),
                    }
                }
            });
        }
        self.events_seen = self.events_seen.max(run.events.len());
        self.last_status = Some(run.run_status);
        if self.block.is_live() && !run.run_status.is_terminal() {
            let (metrics, agents) = if run.run_status == RunStatus::Running {
                (
                    c.run_metric_totals(run_id).ok(),
                    c.run_agents(run_id).map(|a| a.agents).unwrap_or_default(),
                )
            } else {
                (None, Vec::new())
            };
            self.block.draw(&live::live_lines(
                run,
                metrics.as_ref(),
                &agents,
                &self.style,
            ));
        }
    }

    /// Clears the live block (before an error line).
    pub fn clear(&mut self) {
        self.block.finish();
    }

    /// Clears the live block; on a terminal, returns the run's final progress lines to print
    /// after the summary (as `volley run` prints its own).
    pub fn finish(&mut self, c: &Client, run: &RunView) -> Option<String> {
        let live = self.block.is_live();
        self.block.finish();
        if !live {
            return None;
        }
        let metrics = c.run_metric_totals(run.id).ok();
        let p = live::cluster_progress(run, metrics.as_ref(), &[])?;
        let mut text = crate::progress::progress_lines(&p, true).join("\n");
        text.push('\n');
        Some(text)
    }
}

/// The line saying the controllers' leader changed from `before` to `now` (`None` when it did
/// not, or when no leader was named before: the first one named is no change).
fn leader_change(before: Option<&Leader>, now: Option<&Leader>, through: &str) -> Option<String> {
    let (before, now) = (before?, now?);
    (before.node != now.node).then(|| {
        format!(
            "the controllers' Raft leader changed: node {} leads now (term {}; node {} led \
             before); following the run through {through}",
            now.node, now.term, before.node
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_leader_is_a_line_the_first_one_is_not() {
        let l = |node, term| Leader { node, term };
        let at = "http://c2:6565";
        assert_eq!(leader_change(None, Some(&l(1, 2)), at), None);
        assert_eq!(leader_change(Some(&l(1, 2)), Some(&l(1, 2)), at), None);
        assert_eq!(leader_change(Some(&l(1, 2)), None, at), None);
        assert_eq!(
            leader_change(Some(&l(1, 2)), Some(&l(3, 4)), at).as_deref(),
            Some(
                "the controllers' Raft leader changed: node 3 leads now (term 4; node 1 led \
                 before); following the run through http://c2:6565"
            )
        );
    }
}
