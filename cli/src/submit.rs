//! `volley archive` and `volley submit`: a script's first init on this machine (as `volley run`
//! does it) bundled with its imports, opened files and options into an archive, sent to the
//! controller; with `--wait`, the run followed to its end and the exit code the same run gives
//! locally (the contract of docs/exit-codes.md, and where the CLI's own phases decide it).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use volley_agent::engine::InspectError;
use volley_agent::run::RunControl;
use volley_api::client::{Client, ClientError};
use volley_api::{CreateTestJson, RunView, StartTestRun, StopReason, StopRun};
use volley_common::archive::Archive;
use volley_common::exit::{code, AbortReason};
use volley_common::options::{parse_stages, Options};
use volley_common::status::RunStatus;

use crate::cluster::{client, log_error, parse_kv, rest_failed, DEFAULT_REST};
use crate::follow::{Follower, Lines};
use crate::signals::SignalHooks;

/// Flags shared by `archive` and `submit` that shape the test.
#[derive(clap::Args, Clone)]
pub struct TestFlags {
    /// The test script.
    pub script: PathBuf,
    /// Number of VUs (overrides the script's `vus`).
    #[arg(short = 'u', long)]
    pub vus: Option<i64>,
    /// Test duration with a unit, e.g. 30s or 1m30s (overrides the script's `duration`).
    #[arg(short = 'd', long)]
    pub duration: Option<String>,
    /// Total iterations shared by the VUs (overrides the script's `iterations`).
    #[arg(short = 'i', long)]
    pub iterations: Option<i64>,
    /// A ramping stage DURATION:TARGET, e.g. 30s:10 (repeatable; overrides the script's `stages`).
    #[arg(short = 's', long = "stage")]
    pub stages: Vec<String>,
    /// __ENV values (repeatable), stored in the archive.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
}

struct Built {
    script: PathBuf,
    tar: Vec<u8>,
    env: BTreeMap<String, String>,
    has_handle_summary: bool,
    summary_timeout: Duration,
}

/// Bundles script + local imports + opened files + consolidated options. The script's first
/// init runs here, under `control`: a signal aborts it (105), a `test.abort()` in it is 108.
fn build_archive(t: &TestFlags, control: &Arc<RunControl>) -> Result<Built, InspectError> {
    if !t.script.exists() {
        return Err(InspectError::new(
            code::UNKNOWN,
            format!("the script {} does not exist", t.script.display()),
        ));
    }
    let mut o = Options {
        vus: t.vus,
        iterations: t.iterations,
        ..Options::default()
    };
    if let Some(d) = &t.duration {
        o.duration = Some(volley_common::duration::parse_duration(d).map_err(|e| {
            InspectError::new(code::INVALID_CONFIG, format!("invalid --duration: {e}"))
        })?);
    }
    if !t.stages.is_empty() {
        o.stages = Some(
            parse_stages(&t.stages.join(","), "--stage")
                .map_err(|e| InspectError::new(code::INVALID_CONFIG, e.to_string()))?,
        );
    }
    let env = parse_kv(&t.env, "--env").map_err(|e| InspectError::new(code::INVALID_CONFIG, e))?;
    let process_env: BTreeMap<String, String> = std::env::vars().collect();
    let inspected = volley_agent::engine::inspect_script(
        &t.script,
        &env,
        &o,
        &process_env,
        control.clone(),
        crate::remote_modules::source(),
    )?;
    let program = &inspected.program;
    // Local modules by path; remote ones (named by URL) travel in the archive's remote folder.
    let (remote, local): (BTreeMap<String, String>, BTreeMap<String, String>) = program
        .sources
        .iter()
        .map(|(p, s)| (p.clone(), s.clone()))
        .partition(|(p, _)| volley_agent::js::loader::resolve::is_remote(p));
    let modules: Vec<(PathBuf, String)> = local
        .into_iter()
        .map(|(p, s)| (PathBuf::from(p), s))
        .collect();
    let files: Vec<(PathBuf, Vec<u8>)> = program
        .opened_files()
        .into_iter()
        .filter_map(|p| program.open_file(&p).ok().map(|d| (p, d.as_ref().clone())))
        .collect();
    let mut archive = Archive::from_paths(
        &program.script_path,
        &modules,
        &files,
        inspected.options_json.clone(),
        env.clone(),
    )
    .map_err(|e| InspectError::new(code::INVALID_CONFIG, e.to_string()))?;
    archive
        .add_remote_modules(&remote)
        .map_err(|e| InspectError::new(code::INVALID_CONFIG, e.to_string()))?;
    let tar = archive
        .to_tar()
        .map_err(|e| InspectError::new(code::INVALID_CONFIG, e.to_string()))?;
    Ok(Built {
        script: t.script.clone(),
        tar,
        env,
        has_handle_summary: inspected.exports.iter().any(|e| e == "handleSummary"),
        summary_timeout: inspected.options.summary_timeout,
    })
}

/// A random UUID (version 4), the `Idempotency-Key` of one submit (or one `tokens create`).
pub(crate) fn idempotency_key() -> String {
    let r: u128 = rand::random();
    // The version (4) and variant (10) bits of RFC 9562.
    let u = (r & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        u >> 96,
        (u >> 80) & 0xffff,
        (u >> 64) & 0xffff,
        (u >> 48) & 0xffff,
        u & 0xffff_ffff_ffff
    )
}

#[derive(clap::Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub test: TestFlags,
    /// Where to write the archive.
    #[arg(short = 'O', long = "output", default_value = "archive.tar")]
    pub output: PathBuf,
}

pub fn archive(a: ArchiveArgs) -> i32 {
    match build_archive(&a.test, &Arc::new(RunControl::default())) {
        Ok(b) => match std::fs::write(&a.output, &b.tar) {
            Ok(()) => {
                println!("wrote {} ({} bytes)", a.output.display(), b.tar.len());
                0
            }
            Err(e) => {
                log_error(&format!("cannot write {}: {e}", a.output.display()));
                1
            }
        },
        Err(e) => {
            log_error(&e.message);
            e.code
        }
    }
}

#[derive(clap::Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub test: TestFlags,
    /// Follow the run until it ends; exit with the code the same run would give locally.
    #[arg(long)]
    pub wait: bool,
    /// The controller's REST URL (for a Raft group, every controller's, comma-separated).
    #[arg(long, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
    /// The API token (`volley tokens create`), sent as `Authorization: Token …`.
    #[arg(long, env = "VOLLEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The test's name (default: the script's file name).
    #[arg(long)]
    pub name: Option<String>,
    /// A note stored with the run.
    #[arg(long, default_value = "")]
    pub note: String,
    /// With --wait: no status lines while the run goes on.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// With --wait: no end-of-test summary and no handleSummary().
    #[arg(long)]
    pub no_summary: bool,
    /// Refused: secret sources are for `volley run` only (docs/security.md#secrets).
    #[arg(long = "secret-source", value_name = "TYPE=CONFIG")]
    pub secret_source: Vec<String>,
}

/// Why `submit` takes no `--secret-source`: the values would have to travel to the agents
/// with the run, and a `file=` source would name a file on them.
pub const NO_SECRET_SOURCES: &str = "--secret-source is for local runs (volley run): a \
    cluster run sends its agents no secrets and lets no script name an agent's files \
    (docs/security.md#secrets); drop the flag, or run the test with volley run";

pub fn submit(a: SubmitArgs) -> i32 {
    if !a.secret_source.is_empty() {
        log_error(NO_SECRET_SOURCES);
        return code::INVALID_CONFIG;
    }
    // Signals are trapped before anything else: the first one aborts `control` (which stops
    // the script's first init at once), the second exits with 105.
    let control = Arc::new(RunControl::default());
    let stop_count = Arc::new(AtomicU32::new(0));
    let followed = FollowedRun::default();
    let (wake_tx, wake) = std::sync::mpsc::channel();
    let (last_words, last_control) = (followed.clone(), control.clone());
    crate::signals::trap(
        stop_count.clone(),
        SignalHooks {
            control: Some(control.clone()),
            wake: Some(wake_tx),
            before_exit: Some(Box::new(move || {
                last_words.stop(signal_name(&last_control))
            })),
            silent: false,
        },
    );
    let built = match build_archive(&a.test, &control) {
        Ok(b) => b,
        Err(e) => {
            log_error(&e.message);
            return e.code;
        }
    };
    if let Some(code) = stopped_before_the_run(&control) {
        return code;
    }
    let c = match client(&a.controller, &a.token) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let name = a.name.clone().unwrap_or_else(|| {
        a.test
            .script
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "test".into())
    });
    let body = CreateTestJson {
        name,
        project_id: None,
        k6_archive: base64::engine::general_purpose::STANDARD.encode(&built.tar),
    };
    // One key for this submit's creates, the same when the client sends one again to the next
    // controller: a create the controller got twice makes one test and one run
    // (docs/ha.md#submits-sent-twice).
    let key = idempotency_key();
    let test_id = match c.create_test_keyed(&body, &key) {
        Ok(t) => t.test.id,
        Err(e) => return rest_failed(e, false),
    };
    // A stop while the archive was uploaded: the test is stored, but no run is started.
    if let Some(code) = stopped_before_the_run(&control) {
        return code;
    }
    let start = StartTestRun {
        env: built.env.clone(),
        note: a.note.clone(),
    };
    let run_id = match c.start_testrun_keyed(test_id, &start, &key) {
        Ok(r) => r.run.id,
        Err(e) => return rest_failed(e, false),
    };
    if !a.wait {
        println!(
            "run {run_id} submitted (test {test_id}); watch it with: volley status {run_id} --follow"
        );
        return 0;
    }
    followed.set(&a.controller, run_id);
    let stops = Stops {
        count: stop_count,
        wake,
    };
    follow(&c, run_id, &a, &built, &stops, &control)
}

/// A signal before a run was created: as a local run stopped in its first init, no summary
/// and 105, and nothing is left running on the controller.
fn stopped_before_the_run(control: &RunControl) -> Option<i32> {
    let reason = control.abort_reason()?;
    log_error(&reason.message());
    Some(reason.exit_code())
}

/// The run a `submit --wait` follows, once it exists: what a second signal stops on its way out.
#[derive(Clone, Default)]
struct FollowedRun(Arc<Mutex<Option<(String, u64)>>>);

impl FollowedRun {
    fn set(&self, controller: &str, run_id: u64) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((controller.to_string(), run_id));
    }

    /// Asks the controller to stop the run (a second signal's last words; the first signal's
    /// stop may not have been sent yet). Errors are ignored: the process is exiting.
    fn stop(&self, signal: Option<String>) {
        let Some((url, run_id)) = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        if let Ok(c) = Client::new(&url) {
            let _ = c.stop_run(run_id, &signal_stop(signal));
        }
    }
}

/// The signal that stopped the CLI, if one did first.
fn signal_name(control: &RunControl) -> Option<String> {
    match control.abort_reason() {
        Some(AbortReason::Signal { signal }) => Some(signal),
        _ => None,
    }
}

/// The stop request of a CLI stopped by a signal (`interrupt` when not known).
fn signal_stop(signal: Option<String>) -> StopRun {
    StopRun {
        reason: Some(StopReason::Signal),
        signal,
        ..StopRun::default()
    }
}

/// How long `--wait` rides out an unreachable controller before it exits 98.
pub(crate) const CONTROLLER_LOST_AFTER: Duration = Duration::from_secs(15);

/// The signals `follow` reacts to: how many arrived, and a wake-up at the first.
struct Stops {
    count: Arc<AtomicU32>,
    wake: std::sync::mpsc::Receiver<()>,
}

/// Follows a run to its end, printing status changes and progress; then the summary.
fn follow(
    c: &Client,
    run_id: u64,
    a: &SubmitArgs,
    built: &Built,
    stops: &Stops,
    control: &RunControl,
) -> i32 {
    let mut last_ok = Instant::now();
    let mut stop_sent = false;
    let mut follower = Follower::new(run_id, Lines::Stderr, a.quiet);
    let run = loop {
        if stops.count.load(Ordering::SeqCst) > 0 && !stop_sent {
            stop_sent = true;
            let _ = c.stop_run(run_id, &signal_stop(signal_name(control)));
        }
        match c.run(run_id) {
            Ok(run) => {
                last_ok = Instant::now();
                // Events (an agent busy, overloaded, disconnected...) and status changes as
                // they happen; the live block under them on a terminal.
                follower.update(c, &run);
                if run.run_status.is_terminal() {
                    break run;
                }
            }
            Err(ClientError::Unreachable(m)) => {
                if last_ok.elapsed() > CONTROLLER_LOST_AFTER {
                    follower.clear();
                    log_error(&format!(
                        "lost the controller while following run {run_id}: {m}"
                    ));
                    return code::CONTROLLER_LOST;
                }
            }
            // In a Raft group the controller answering after a leader change may be a follower
            // that has not applied the run's creation yet (reads are served from each node's
            // own state: docs/ha.md#reads). The run exists — it was created and committed — so
            // its 404 is waited out like an unreachable controller.
            Err(e)
                if not_known_yet(&e, c.leader().is_some())
                    && last_ok.elapsed() <= CONTROLLER_LOST_AFTER => {}
            Err(e) => return rest_failed(e, true),
        }
        // Polls every 250 ms, and at once after a first signal (to send the stop).
        let _ = stops.wake.recv_timeout(Duration::from_millis(250));
    };
    let final_block = follower.finish(c, &run);
    let code = finish_follow(c, &run, a, built, control);
    if let Some(block) = final_block {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\n{block}");
        let _ = out.flush();
    }
    code
}

/// Whether `e`, the answer to a poll of a run that exists, can be a controller of a Raft group
/// (`in_group`) that has not applied the run yet: a 404. A controller alone answers for itself.
fn not_known_yet(e: &ClientError, in_group: bool) -> bool {
    in_group && e.status() == Some(404)
}

/// The end of a followed run: the summary, warnings, and the exit code.
///
/// The run's stored code is the first reason the cluster saw. The CLI's own phase comes after
/// it: handleSummary runs here, and a signal may arrive after the run ended. As in a local run
/// the first reason wins, so when the run FINISHED (no reason of its own), a reason recorded
/// here (a signal 105, handleSummary's exception 107, `test.abort()` 108 or timeout 102) is
/// the exit code; the run's stored status stays FINISHED (docs/exit-codes.md#cluster-runs).
fn finish_follow(
    c: &Client,
    run: &RunView,
    a: &SubmitArgs,
    built: &Built,
    control: &RunControl,
) -> i32 {
    let run_id = run.id;
    if !a.no_summary {
        if let Some(reason) = print_summary(c, run_id, built) {
            control.abort(reason);
        }
    }
    if run.degraded {
        volley_agent::console::log(
            "warning",
            &format!(
                "run {run_id} is DEGRADED (an agent was lost and the run went on without it): {}",
                volley_common::text::printable(&run.note)
            ),
            &[],
        );
    }
    let own = control
        .abort_reason()
        .filter(|_| run.run_status == RunStatus::Finished);
    if let Some(reason) = own {
        log_error(&reason.message());
        return reason.exit_code();
    }
    match run.error_detail.as_deref().filter(|d| !d.is_empty()) {
        Some(detail) => log_error(detail),
        // A FINISHED run that failed (thresholds crossed at the end, test.fail()) has no
        // error, but its last line says why, as a local run's does.
        None if run.exit_code.is_some_and(|c| c != code::OK) => {
            if let Some(m) = c.report(run_id).ok().and_then(|r| r.result.message) {
                log_error(&m);
            }
        }
        None => {}
    }
    run.exit_code.unwrap_or(code::SYSTEM)
}

/// Prints the run's summary: handleSummary's outputs, or the default summary. Returns the
/// reason handleSummary failed with, if it did.
fn print_summary(c: &Client, run_id: u64, built: &Built) -> Option<AbortReason> {
    let Ok(mut report) = c.report(run_id) else {
        log_error(&format!("the summary of run {run_id} is not available"));
        return None;
    };
    // Coloured exactly as `volley run` colours its summary: on a terminal, unless NO_COLOR or
    // K6_NO_COLOR says not to (the controller built the report without a terminal).
    report.state.is_stdout_tty = std::io::stdout().is_terminal();
    report.state.is_stderr_tty = std::io::stderr().is_terminal();
    report.options.no_color |= crate::run_view::no_color_env();
    let mut failed = None;
    if built.has_handle_summary {
        // handleSummary runs once, here, so the files it writes land on this machine.
        let data = report.to_handle_summary_data();
        match volley_agent::engine::run_handle_summary(
            &built.script,
            &built.env,
            data,
            built.summary_timeout,
            crate::remote_modules::source(),
        ) {
            Ok(Some(outputs)) => {
                crate::run::write_summary_outputs(&outputs);
                return None;
            }
            Ok(None) => {}
            Err(e) => {
                log_error(&e.message);
                failed = e.reason.map(|r| *r);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\n{}", report.render_text());
    failed
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_submit_has_a_key_of_its_own_shaped_as_a_uuid_v4() {
        let (a, b) = (super::idempotency_key(), super::idempotency_key());
        assert_ne!(a, b);
        for k in [a, b] {
            let groups: Vec<usize> = k.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{k}");
            assert!(k.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()), "{k}");
            assert_eq!(&k[14..15], "4", "version 4: {k}");
            assert!("89ab".contains(&k[19..20]), "variant 10: {k}");
        }
    }

    #[test]
    fn a_404_is_waited_out_only_from_a_raft_group() {
        use volley_api::client::ClientError;
        let status = |status| ClientError::Status {
            status,
            body: String::new(),
        };
        assert!(super::not_known_yet(&status(404), true));
        assert!(!super::not_known_yet(&status(404), false));
        assert!(!super::not_known_yet(&status(403), true));
        assert!(!super::not_known_yet(&status(500), true));
    }
}
