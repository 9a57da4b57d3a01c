//! `volley run`: flags → options, signals, the engine, and what is printed at the end (the
//! summary or handleSummary's outputs, the error line, the exit code).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use volley_agent::api::LiveRun;
use volley_agent::engine::{self, MetricsStream, OutputFactory, RunRequest};
use volley_agent::output::json::JsonOutputFactory;
use volley_agent::run::{RunControl, Stage};
use volley_common::exit::{code, AbortReason};

use crate::option_flags::OptionFlags;
use crate::progress::ConsoleObserver;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The test script (an ES module using k6's APIs).
    pub script: PathBuf,
    /// The flags that set k6 options (`--vus`, `--duration`, `--linger`...), declared with
    /// the options in `volley_common::options`.
    #[command(flatten)]
    pub options: OptionFlags,
    /// Set an environment variable for the script (__ENV), KEY=VALUE (repeatable).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Pass the process environment to __ENV (on by default, as in `k6 run`;
    /// `--include-system-env-vars=false` turns it off). `-e` values win.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub include_system_env_vars: bool,
    /// Outputs (repeatable): json=FILE (raw samples, NDJSON), cloud=http://CONTROLLER:6565
    /// (stream the run to a Volley controller, where it shows as a run) or web-dashboard (as
    /// --web-dashboard).
    #[arg(short = 'o', long = "out")]
    pub out: Vec<String>,
    /// Serve the run's live web dashboard, as `K6_WEB_DASHBOARD=true` does: on
    /// http://127.0.0.1:5665 unless K6_WEB_DASHBOARD_HOST / K6_WEB_DASHBOARD_PORT say
    /// otherwise (docs/dashboard.md).
    #[arg(long)]
    pub web_dashboard: bool,
    /// Write the run's self-contained HTML report (the dashboard's run page, no network needed)
    /// to this file at the end; turns the web dashboard on. Also K6_WEB_DASHBOARD_EXPORT.
    #[arg(long, value_name = "FILE")]
    pub web_dashboard_export: Option<PathBuf>,
    /// Write the end-of-test summary as JSON (k6's legacy export format) to this file.
    #[arg(long)]
    pub summary_export: Option<PathBuf>,
    /// Do not print the end-of-test summary (and do not call handleSummary).
    #[arg(long)]
    pub no_summary: bool,
    /// Do not print the banner and progress.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// JS worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// The most VUs this run may hold at once (0 = no limit). Default: what this machine's
    /// memory (or its cgroup's limit) allows at 128 KiB per VU; a test planning more is
    /// refused before any VU is created (exit 104).
    #[arg(long)]
    pub max_vus: Option<u64>,
    /// The JavaScript heap (MiB) the VUs may use together (0 = no limit); a script whose data
    /// outgrows it ends the run ("out of JS memory", exit 97) instead of the process being
    /// killed. Default: half this machine's memory (or its cgroup's limit).
    #[arg(long)]
    pub max_js_heap: Option<u64>,
    /// Print debug output (console.debug).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// A source of secrets for `k6/secrets` (repeatable): file=PATH (`key=value` lines),
    /// mock=KEY=VALUE,...; add name=NAME to tell several apart and default to pick the one
    /// `secrets.get` reads (docs/k6-compatibility.md#k6secrets).
    #[arg(long = "secret-source", value_name = "TYPE=CONFIG")]
    pub secret_source: Vec<String>,
    /// Address of the REST API (status, stop, metrics). Default localhost:6565; when given
    /// explicitly and it cannot be bound, the run exits with 106.
    #[arg(short = 'a', long)]
    pub address: Option<String>,
}

fn log_error(msg: &str) {
    volley_agent::console::log_error(msg, &[]);
}

/// What a second signal skips, said in the one line printed before exiting.
fn skipped_by_second_signal(control: &RunControl) -> &'static str {
    use std::sync::atomic::Ordering;
    let setup_done = control.setup_completed.load(Ordering::SeqCst);
    match control.stage() {
        Stage::Init | Stage::VuInit | Stage::Paused => "the end-of-test summary was skipped",
        Stage::Setup | Stage::Running if setup_done => {
            "teardown and the end-of-test summary were skipped"
        }
        Stage::Setup | Stage::Running => "the end-of-test summary was skipped",
        Stage::Teardown => "teardown was cut short and the end-of-test summary was skipped",
        Stage::Finishing => "the end-of-test summary was skipped",
        Stage::HandleSummary => "handleSummary() was cut short and its output skipped",
        Stage::Linger | Stage::Done => "the rest of --linger was skipped",
    }
}

/// Traps SIGINT/SIGTERM from process start to exit, on a control thread that also serves the
/// REST API. The first signal stops the run gracefully (or ends `--linger`); the second exits
/// at once with 105, saying what was skipped. Returns once the handlers are installed.
fn start_control_thread(
    control: Arc<RunControl>,
    api: Option<(std::net::TcpListener, Arc<LiveRun>)>,
) -> Result<(), String> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    std::thread::Builder::new()
        .name("volley-control".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (mut int, mut term) =
                    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                        (Ok(i), Ok(t)) => (i, t),
                        _ => {
                            let _ = ready_tx.send(Err("cannot install signal handlers".into()));
                            return;
                        }
                    };
                if let Some((listener, live)) = api {
                    if let Err(e) = volley_agent::api::spawn(&tokio::runtime::Handle::current(), listener, live) {
                        let _ = ready_tx.send(Err(format!("cannot start the REST API: {e}")));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(()));
                let mut count = 0;
                loop {
                    let name = tokio::select! {
                        _ = int.recv() => "interrupt",
                        _ = term.recv() => "terminated",
                    };
                    count += 1;
                    if count == 1 && control.stage() == Stage::Linger {
                        control.end_linger();
                        continue;
                    }
                    if count == 1 {
                        control.abort(AbortReason::Signal { signal: name.into() });
                        let what = match control.stage() {
                            Stage::Teardown => "teardown() is finishing",
                            Stage::HandleSummary => "handleSummary() is finishing",
                            _ => "stopping the test run",
                        };
                        volley_agent::console::log(
                            "info",
                            &format!("Stopping: received a '{name}' signal, {what} (press Ctrl+C again to exit at once)"),
                            &[],
                        );
                    } else {
                        let skipped = skipped_by_second_signal(&control);
                        log_error(&format!(
                            "Aborting Volley in response to a second '{name}' signal: {skipped}"
                        ));
                        let _ = std::io::stdout().flush();
                        // Exiting drops nothing: the web dashboard's folder goes now.
                        volley_controller::local_dashboard::remove_folders();
                        std::process::exit(code::EXTERNAL_ABORT);
                    }
                }
            });
        })
        .map_err(|e| e.to_string())?;
    ready_rx
        .recv()
        .unwrap_or_else(|_| Err("the control thread stopped".into()))
}

/// Binds the REST API address. An explicit address that cannot be bound is fatal (106). The
/// default one is often taken by a local `volley controller` (its REST API defaults to the
/// same port, 6565): then the run goes on without a REST API and says so only at debug level,
/// so that every run next to a local cluster is not preceded by a warning nobody asked for.
fn bind_api(address: Option<&str>) -> Result<Option<std::net::TcpListener>, String> {
    let explicit = address.is_some();
    let addr = address.unwrap_or("localhost:6565");
    match std::net::TcpListener::bind(addr) {
        Ok(l) => Ok(Some(l)),
        Err(e) if explicit => Err(format!(
            "cannot start the REST API on {addr}: {e}; pass a free --address"
        )),
        Err(e) => {
            tracing::debug!(
                "the REST API could not start on {addr} (the default --address): {e}; the run goes on without it"
            );
            Ok(None)
        }
    }
}

pub fn main(args: RunArgs) -> i32 {
    volley_agent::console::set_verbose(args.verbose);
    let control = Arc::new(RunControl::default());
    let live = Arc::new(LiveRun::new(control.clone()));
    if !args.script.exists() {
        log_error(&format!(
            "the script {} does not exist; give the path of a k6 test script",
            args.script.display()
        ));
        return code::UNKNOWN;
    }
    let listener = match bind_api(args.address.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            log_error(&e);
            return code::CANNOT_START_API;
        }
    };
    if let Err(e) = start_control_thread(control.clone(), listener.map(|l| (l, live.clone()))) {
        log_error(&e);
        return code::SYSTEM;
    }
    let cli_opts = match args.options.to_options() {
        Ok(o) => o,
        Err(e) => {
            log_error(&e.to_string());
            return code::INVALID_CONFIG;
        }
    };
    let secrets = match volley_agent::secrets::SecretSources::parse(&args.secret_source) {
        Ok(s) => s,
        Err(e) => {
            // k6's words, and k6's exit code for them.
            log_error(&e.to_string());
            return code::UNKNOWN;
        }
    };
    let mut env = BTreeMap::new();
    let process_env: BTreeMap<String, String> = std::env::vars().collect();
    if args.include_system_env_vars {
        env.extend(process_env.clone());
    }
    for kv in &args.env {
        match kv.split_once('=') {
            Some((k, v)) => {
                env.insert(k.to_string(), v.to_string());
            }
            None => {
                log_error(&format!("invalid --env {kv:?}: use KEY=VALUE"));
                return code::INVALID_CONFIG;
            }
        }
    }
    let mut outputs: Vec<Arc<dyn OutputFactory>> = Vec::new();
    let mut streams: Vec<Arc<dyn MetricsStream>> = Vec::new();
    let mut out_desc = Vec::new();
    let mut web_dashboard = args.web_dashboard;
    for o in &args.out {
        if o == "web-dashboard" {
            web_dashboard = true;
            continue;
        }
        if let Some(cloud) = volley_agent::output::cloud::parse(o) {
            match cloud {
                Ok(_) if !streams.is_empty() => {
                    log_error(&format!(
                        "invalid --out {o:?}: a run streams to one controller; give --out cloud=URL once"
                    ));
                    return code::INVALID_CONFIG;
                }
                Ok(c) => {
                    out_desc.push(o.clone());
                    streams.push(Arc::new(c));
                    continue;
                }
                Err(e) => {
                    log_error(&e);
                    return code::INVALID_CONFIG;
                }
            }
        }
        match o.split_once('=') {
            Some(("json", path)) => {
                outputs.push(Arc::new(JsonOutputFactory { path: path.into() }));
                out_desc.push(format!("json ({path})"));
            }
            _ => {
                log_error(&format!(
                    "invalid --out {o:?}: Volley supports json=FILE and cloud=http://CONTROLLER:6565"
                ));
                return code::INVALID_CONFIG;
            }
        }
    }
    let dashboard = match crate::web_dashboard::Settings::read(
        web_dashboard,
        args.web_dashboard_export.clone(),
        |name| std::env::var(name).ok(),
    ) {
        Ok(settings) => settings,
        Err(e) => {
            log_error(&e);
            return code::INVALID_CONFIG;
        }
    };
    let dashboard = match dashboard.map(crate::web_dashboard::WebDashboard::start) {
        Some(Ok(d)) => {
            streams.push(d.stream());
            Some(d)
        }
        Some(Err(e)) => {
            log_error(&e);
            return code::CANNOT_START_API;
        }
        None => None,
    };
    let mut observer = ConsoleObserver::new(
        args.quiet,
        if out_desc.is_empty() {
            "-".into()
        } else {
            out_desc.join(", ")
        },
    );
    observer.dashboard = dashboard.clone();
    let observer = Arc::new(observer);
    let cli_linger = cli_opts.linger == Some(true);
    let req = RunRequest {
        script: args.script.clone(),
        cli_options: cli_opts,
        env,
        process_env,
        workers: args.workers,
        outputs,
        no_summary: args.no_summary,
        is_stdout_tty: std::io::stdout().is_terminal(),
        is_stderr_tty: std::io::stderr().is_terminal(),
        live: Some(live),
        cluster: None,
        streams,
        max_vus: args
            .max_vus
            .or_else(volley_agent::capacity::default_max_vus)
            .filter(|n| *n > 0)
            .map(|n| (n, "volley run --max-vus".to_string())),
        max_js_heap: args
            .max_js_heap
            .map(|mib| mib.saturating_mul(1 << 20))
            .or_else(volley_agent::capacity::default_js_heap)
            .filter(|b| *b > 0)
            .map(|b| (b, "volley run --max-js-heap".to_string())),
        // A local run reads what the user can read, as `k6 run` does.
        files: volley_agent::sandbox::FileScope::Host,
        // Requests go where the script sends them (its blacklistIPs / blockHostnames aside).
        targets: Default::default(),
        remote_modules: crate::remote_modules::source(),
        secrets,
    };
    let outcome = engine::run(req, control.clone(), observer.clone());
    if let Some(report) = &outcome.report {
        if let Some(path) = &args.summary_export {
            let text =
                serde_json::to_string_pretty(&report.to_summary_export()).unwrap_or_default();
            if let Err(e) = std::fs::write(path, text) {
                log_error(&format!(
                    "cannot write the summary export {}: {e}",
                    path.display()
                ));
            }
        }
        if !args.no_summary {
            let mut printed = false;
            if let Some(outputs) = &outcome.handle_summary {
                printed = true;
                write_summary_outputs(outputs);
            }
            if let Some(e) = &outcome.handle_summary_error {
                // The run's error line at the end says the same when it became the run's reason.
                if outcome.error.as_deref() != Some(e.as_str()) {
                    log_error(e);
                }
            }
            if !printed {
                let text = report.render_text();
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "\n{text}");
            }
        }
    }
    if let Some(block) = observer.take_final_block() {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\n{block}");
        let _ = out.flush();
    }
    let linger = outcome.resolved.as_ref().is_some_and(|r| r.linger) || cli_linger;
    if let Some(d) = &dashboard {
        d.finish(linger && outcome.resolved.is_some());
    }
    if linger && outcome.resolved.is_some() {
        // Keep the REST API up until Ctrl+C or an API stop; the exit code stays the run's.
        volley_agent::console::log(
            "info",
            "The test is done, but --linger was enabled, so Volley is waiting for Ctrl+C to continue...",
            &[],
        );
        let status = if control.is_aborted() {
            volley_agent::api::status::INTERRUPTED
        } else {
            volley_agent::api::status::ENDED
        };
        control.set_stage(Stage::Linger, status);
        while !control.linger_is_over() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        control.set_stage(Stage::Done, status);
    }
    if let Some(e) = &outcome.error {
        log_error(e);
    }
    outcome.exit_code
}

/// Writes what handleSummary returned: `stdout`, `stderr` or a file path → content.
pub fn write_summary_outputs(v: &serde_json::Value) {
    let Some(map) = v.as_object() else {
        log_error("handleSummary must return an object mapping outputs (stdout, stderr or a file path) to their content");
        return;
    };
    let mut failed = Vec::new();
    for (dest, content) in map {
        let text = match content {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match dest.as_str() {
            "stdout" => {
                let _ = std::io::stdout().lock().write_all(text.as_bytes());
            }
            "stderr" => {
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
            path => {
                if let Err(e) = std::fs::write(path, text) {
                    failed.push(format!(
                        "could not open '{path}': open {path}: {}",
                        go_errno(&e)
                    ));
                }
            }
        }
    }
    // k6 reports every file it could not write in one error.
    if !failed.is_empty() {
        let error = format!(
            "Could not save some summary information:\n\t- {}",
            failed.join("\n\t- ")
        );
        volley_agent::console::log(
            "error",
            "failed to handle the end-of-test summary",
            &[("error", &error)],
        );
    }
}

/// An I/O error as Go words it: the system's message in lower case, without Rust's
/// `(os error N)` (`no such file or directory`).
fn go_errno(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn io_errors_are_worded_as_go_words_them() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(super::go_errno(&e), "no such file or directory");
        let e = std::io::Error::from_raw_os_error(13);
        assert_eq!(super::go_errno(&e), "permission denied");
    }
}
