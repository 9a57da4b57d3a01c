//! `volley runs` and `volley status RUN [--follow]`: the runs a controller holds, as people read
//! them (run_view) or as the API serves them (`--json`). `--follow` re-attaches to a run that is
//! going on: a line per status change and per event as they happen, and on a terminal the live
//! progress `submit --wait` shows (`follow.rs`), until the run ends; then the run's view, and
//! the run's exit code. Ctrl+C detaches and leaves the run going (`volley stop RUN` stops it);
//! a controller unreachable for longer than `submit --wait` tolerates is exit 98, as there.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use volley_api::client::{Client, ClientError};
use volley_api::RunView;
use volley_common::exit::code;

use crate::cluster::{client, log_error, DEFAULT_REST};
use crate::follow::{Follower, Lines};
use crate::run_view::{runs_table, status_text, StatusParts, Style};
use crate::submit::CONTROLLER_LOST_AFTER;

/// The exit code of a query that could not answer (unknown run, refused token): 1, as any Unix
/// command that failed; the codes of docs/exit-codes.md describe runs, not queries.
const QUERY_FAILED: i32 = 1;

/// Flags for reading runs.
#[derive(clap::Args)]
pub struct RunsArgs {
    /// The controller's REST URL (for a Raft group, every controller's, comma-separated).
    #[arg(long, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
    /// The API token (`volley tokens create`), sent as `Authorization: Token …`.
    #[arg(long, env = "VOLLEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn runs(a: RunsArgs) -> i32 {
    let c = match client(&a.controller, &a.token) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match c.runs() {
        Ok(list) if a.json => print_json(&list),
        Ok(list) => {
            print!("{}", runs_table(&list.runs, &Style::for_stdout()));
            code::OK
        }
        Err(e) => not_reached(e, None),
    }
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The run's id (`volley runs` lists them).
    pub run: u64,
    /// The controller's REST URL (for a Raft group, every controller's, comma-separated).
    #[arg(long, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
    /// The API token (`volley tokens create`), sent as `Authorization: Token …`.
    #[arg(long, env = "VOLLEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's run document (with the script) instead of the view.
    #[arg(long, conflicts_with = "follow")]
    pub json: bool,
    /// Follow the run until it ends and exit with its exit code; Ctrl+C detaches (the run goes on).
    #[arg(short = 'f', long)]
    pub follow: bool,
}

pub fn status(a: StatusArgs) -> i32 {
    let c = match client(&a.controller, &a.token) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if a.follow {
        return follow(&c, a.run);
    }
    match c.run(a.run) {
        Ok(run) if a.json => print_json(&volley_api::RunEnvelope { run }),
        Ok(run) => {
            print!(
                "{}",
                status_text(&parts(&c, &run).view(&run), &Style::for_stdout())
            );
            code::OK
        }
        Err(e) => not_reached(e, Some(a.run)),
    }
}

/// What the view shows besides the run document, fetched from the controller.
struct Extra {
    metrics: Option<serde_json::Value>,
    agents: Vec<volley_api::AgentUtilization>,
    report: Option<volley_common::summary::SummaryReport>,
}

impl Extra {
    fn view<'a>(&'a self, run: &'a RunView) -> StatusParts<'a> {
        StatusParts {
            run,
            metrics: self.metrics.as_ref(),
            agents: &self.agents,
            report: self.report.as_ref(),
        }
    }
}

/// The live metrics (once there are any), the agents' samples, and the report of an ended run.
fn parts(c: &Client, run: &RunView) -> Extra {
    Extra {
        metrics: c.run_metric_totals(run.id).ok(),
        agents: c.run_agents(run.id).map(|a| a.agents).unwrap_or_default(),
        report: run
            .run_status
            .is_terminal()
            .then(|| c.report(run.id).ok())
            .flatten(),
    }
}

fn follow(c: &Client, run_id: u64) -> i32 {
    let stops = Arc::new(AtomicU32::new(0));
    let (wake_tx, wake) = std::sync::mpsc::channel();
    crate::signals::trap(
        stops.clone(),
        crate::signals::SignalHooks {
            wake: Some(wake_tx),
            // Ctrl+C detaches; the loop says so.
            silent: true,
            ..Default::default()
        },
    );
    let style = Style::for_stdout();
    let mut follower = Follower::new(run_id, Lines::Stdout, false);
    let mut last_ok = Instant::now();
    loop {
        if stops.load(Ordering::SeqCst) > 0 {
            follower.clear();
            eprintln!(
                "detached from run {run_id}; it goes on (`volley stop {run_id}` stops it, `volley status {run_id} --follow` follows it again)"
            );
            return code::OK;
        }
        match c.run(run_id) {
            Ok(run) => {
                last_ok = Instant::now();
                follower.update(c, &run);
                if run.run_status.is_terminal() {
                    follower.clear();
                    print!("\n{}", status_text(&parts(c, &run).view(&run), &style));
                    let _ = std::io::stdout().flush();
                    return run.exit_code.unwrap_or(code::SYSTEM);
                }
            }
            // As `submit --wait`: a controller gone for longer than that is 98.
            Err(ClientError::Unreachable(m)) => {
                if last_ok.elapsed() > CONTROLLER_LOST_AFTER {
                    follower.clear();
                    log_error(&format!(
                        "lost the controller while following run {run_id}: {m}; is it running, and is --controller (or VOLLEY_CONTROLLER) its REST address (default {DEFAULT_REST})?"
                    ));
                    return code::CONTROLLER_LOST;
                }
                tracing::debug!("controller unreachable while following run {run_id}: {m}");
            }
            Err(e) => {
                follower.clear();
                return not_reached(e, Some(run_id));
            }
        }
        let _ = wake.recv_timeout(Duration::from_millis(500));
    }
}

fn print_json<T: serde::Serialize>(doc: &T) -> i32 {
    match serde_json::to_string_pretty(doc) {
        Ok(s) => {
            println!("{s}");
            code::OK
        }
        Err(e) => {
            log_error(&format!("cannot print the answer as JSON: {e}"));
            code::SYSTEM
        }
    }
}

/// A failed request: an unknown run points at `volley runs`; an unreachable controller names
/// the address and the flag; other answers are printed as the controller gave them.
fn not_reached(e: ClientError, run: Option<u64>) -> i32 {
    match (&e, run) {
        (ClientError::Status { status: 404, .. }, Some(id)) => {
            log_error(&format!(
                "there is no run {id} on this controller; `volley runs` lists the runs"
            ));
            QUERY_FAILED
        }
        (ClientError::Unreachable(m), _) => {
            log_error(&format!(
                "cannot reach the controller: {m}; is it running, and is --controller (or VOLLEY_CONTROLLER) its REST address (default {DEFAULT_REST})?"
            ));
            code::SYSTEM
        }
        (
            ClientError::Status {
                status: 401 | 403, ..
            },
            _,
        ) => {
            log_error(&format!(
                "{e}; pass a token with --token or VOLLEY_TOKEN (`volley tokens create` makes one)"
            ));
            QUERY_FAILED
        }
        _ => {
            log_error(&e.to_string());
            QUERY_FAILED
        }
    }
}
