//! What `submit --wait` and `status RUN --follow` print while they follow a cluster run: each
//! new run event and each status change as a line, as it happens, and on a terminal the live
//! block under them (`run_view/live.rs`, drawn by `progress.rs` as `volley run` draws its own).
//! Without a terminal only the lines are printed, one per event and status change, so scripts
//! and logs read a stable, line-based output (docs/cluster-runs.md#following-a-run).

use volley_api::client::Client;
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
        }
    }

    /// Prints what is new in `run` (events, then a status change) above the live block, then
    /// redraws the block from the run and its live metrics and agents.
    pub fn update(&mut self, c: &Client, run: &RunView) {
        let run_id = self.run_id;
        let new_events = run.events.get(self.events_seen..).unwrap_or_default();
        let changed = self.last_status != Some(run.run_status);
        let (lines, quiet) = (self.lines, self.quiet);
        if !new_events.is_empty() || (changed && !quiet) {
            self.block.above(|| {
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
                        Lines::Stderr => eprintln!("{line}"),
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
                    c.run_metrics(run_id).ok(),
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
        let metrics = c.run_metrics(run.id).ok();
        let p = live::cluster_progress(run, metrics.as_ref(), &[])?;
        let mut text = crate::progress::progress_lines(&p, true).join("\n");
        text.push('\n');
        Some(text)
    }
}
