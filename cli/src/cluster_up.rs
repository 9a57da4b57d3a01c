//! `volley cluster up`: a controller (or a Raft group of 3 or 5) and N agents on this machine,
//! for trying the cluster out. It secures itself: an admin token is generated once into the
//! data directory (mode 0600) and used as the controllers' bootstrap admin token, the agents'
//! join token and the Raft group's peer token. It runs in the foreground and lists its
//! processes in `cluster-up.pid`, so that Ctrl+C or `volley cluster down` stops them all; in a
//! group it restarts a controller that exits (a deposed leader stops its process by design:
//! docs/ha.md#leadership), a bounded number of times with back-off.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::cluster::log_error;
use crate::cluster_down::{self, Entry, PID_FILE};
use crate::cluster_group::{self, Plan};

/// The token's file in the data directory.
pub const TOKEN_FILE: &str = "cluster-up.token";

/// The cluster's token: read from `path`, or made (256 random bits) and written there, 0600.
fn cluster_token(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let token = volley_controller::auth::generate_secret()
        .map_err(|e| format!("cannot make a token: {e}"))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    writeln!(f, "{token}").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(token)
}

#[derive(clap::Args)]
pub struct ClusterUpArgs {
    /// How many agent processes to start.
    #[arg(long, default_value_t = 3)]
    pub agents: u32,
    /// How many controllers: 1, or 3 or 5 as one Raft group (docs/ha.md); controller N of a
    /// group listens on the --listen, --grpc and --raft ports plus 10×(N−1).
    #[arg(long, default_value_t = 1)]
    pub controllers: u32,
    /// The controller's REST address (what `submit`, `runs`, `status` talk to).
    #[arg(long, default_value = "127.0.0.1:6565")]
    pub listen: std::net::SocketAddr,
    /// The controller's gRPC address (what the agents dial).
    #[arg(long, default_value = "127.0.0.1:6566")]
    pub grpc: std::net::SocketAddr,
    /// The first controller's Raft port, with --controllers 3 or 5.
    #[arg(long, default_value = "127.0.0.1:6567")]
    pub raft: std::net::SocketAddr,
    /// Where the controller stores runs, tests and archives (a group: node-N under it).
    #[arg(long, default_value = "./volley-data")]
    pub data_dir: PathBuf,
    /// Per-agent VU capacity (0 = no limit). Default: what this machine's memory allows,
    /// shared by the agents.
    #[arg(long)]
    pub max_vus: Option<u64>,
    /// Per-agent JavaScript heap in MiB (0 = no limit). Default: half this machine's memory,
    /// shared by the agents.
    #[arg(long)]
    pub max_js_heap: Option<u64>,
}

/// How long a controller may take to print that it serves.
const READY_BOUND: Duration = Duration::from_secs(60);
/// How long a process gets after SIGTERM when the cluster stops, before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(15);
/// Restarts of one controller of a group in a row (each within [`STABLE_AFTER`] of its
/// start) before `cluster up` gives up and stops the cluster.
const MAX_RESTARTS: u32 = 5;
/// A controller that ran this long before it exited starts a new series of restarts.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// The back-off before the first restart; it doubles with each restart in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// A process of the cluster and what it is.
struct Member {
    role: String,
    child: Child,
    started: Instant,
    restarts: Restarts,
}

/// The cluster's processes, mirrored into the pid file whenever one starts.
struct Members {
    list: Vec<Member>,
    pid_file: PathBuf,
    supervisor: Entry,
}

impl Members {
    fn push(&mut self, role: String, child: Child) {
        self.list.push(Member {
            role,
            child,
            started: Instant::now(),
            restarts: Restarts::default(),
        });
        self.save();
    }

    fn save(&self) {
        let mut entries = vec![self.supervisor.clone()];
        entries.extend(self.list.iter().map(|m| Entry::of(&m.role, m.child.id())));
        if let Err(e) = cluster_down::write(&self.pid_file, &entries) {
            log_error(&format!(
                "{e}: `volley cluster down` will not find the processes"
            ));
        }
    }

    /// SIGTERM to every process still running, agents first (so they leave controllers that
    /// still answer), SIGKILL to any still running [`STOP_GRACE`] later; then the pid file goes.
    fn stop_all(&mut self) {
        self.stop_where(|role| role.starts_with("agent"));
        self.stop_where(|_| true);
        let _ = std::fs::remove_file(&self.pid_file);
    }

    fn stop_where(&mut self, which: impl Fn(&str) -> bool) {
        // Only a child not reaped yet still owns its pid.
        let mut running: Vec<&mut Member> = self
            .list
            .iter_mut()
            .filter_map(|m| (which(&m.role) && matches!(m.child.try_wait(), Ok(None))).then_some(m))
            .collect();
        for m in &running {
            cluster_down::signal(m.child.id(), "TERM");
        }
        let started = Instant::now();
        for m in running.iter_mut() {
            loop {
                match m.child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if started.elapsed() >= STOP_GRACE => {
                        log_error(&format!(
                            "{} (pid {}) did not stop within {STOP_GRACE:?} of SIGTERM; killing it",
                            m.role,
                            m.child.id()
                        ));
                        let _ = m.child.kill();
                        let _ = m.child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }
}

/// The command of a controller: `volley controller` with `args`, the cluster's token as its
/// admin token, the agents' join token and (in a group) the peer token.
fn controller_command(exe: &Path, args: &[String], token_file: &Path, token: &str) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("controller")
        .args(args)
        .arg("--admin-token-file")
        .arg(token_file)
        // The same secret is the agents' join token.
        .env("VOLLEY_TOKEN", token)
        .env_remove("VOLLEY_ADMIN_TOKEN")
        // One file cannot configure both the controller and the agents.
        .env_remove("VOLLEY_CONFIG")
        .stdout(Stdio::piped());
    cmd
}

/// Starts `cmd` and reads its stdout on a thread; returns once it printed its REST and gRPC
/// URLs (within [`READY_BOUND`]), with them. The thread drains the rest of its output.
fn start_ready(mut cmd: Command, what: &str) -> Result<(Child, String, String), String> {
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let lines = drain_stdout(&mut child);
    let (mut rest, mut grpc) = (None, None);
    let deadline = Instant::now() + READY_BOUND;
    while rest.is_none() || grpc.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) => {
                let url = l.rsplit(' ').next().unwrap_or("").to_string();
                if l.contains("REST API") {
                    rest = Some(url);
                } else if l.contains("gRPC") {
                    grpc = Some(url);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what} did not say it serves within {READY_BOUND:?}"
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                return Err(format!("{what} exited before it was ready"));
            }
        }
    }
    Ok((child, rest.unwrap_or_default(), grpc.unwrap_or_default()))
}

/// Reads `child`'s piped stdout on a thread to its end, so the pipe never fills; its lines
/// go to the receiver while anyone listens.
fn drain_stdout(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        let _ = std::thread::Builder::new()
            .name("volley-cluster-out".into())
            .spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    let _ = tx.send(line);
                }
            });
    }
    rx
}

/// A local controller (or a group of them) plus N agent processes, for trying the cluster
/// out; Ctrl+C or `volley cluster down` stops all.
pub fn cluster_up(a: ClusterUpArgs) -> i32 {
    let plan = match a.controllers {
        1 => None,
        n => match cluster_group::plan(n, a.listen, a.grpc, a.raft, &a.data_dir) {
            Ok(p) => Some(p),
            Err(e) => {
                log_error(&e);
                return volley_common::exit::code::INVALID_CONFIG;
            }
        },
    };
    if let Err(e) = std::fs::create_dir_all(&a.data_dir) {
        log_error(&format!(
            "cannot create --data-dir {}: {e}",
            a.data_dir.display()
        ));
        return 1;
    }
    let pid_file = a.data_dir.join(PID_FILE);
    if let Some(up) = cluster_down::running_supervisor(&pid_file) {
        log_error(&format!(
            "a cluster is already up on --data-dir {} (volley cluster up, pid {}): stop it \
             with `volley cluster down --data-dir {}`, or give another --data-dir",
            a.data_dir.display(),
            up.pid,
            a.data_dir.display()
        ));
        return 1;
    }
    if let Some(p) = &plan {
        if let Err(e) = p.check_ports() {
            log_error(&e);
            return 1;
        }
    }
    let token_file = a.data_dir.join(TOKEN_FILE);
    let token = match cluster_token(&token_file) {
        Ok(t) => t,
        Err(e) => {
            log_error(&e);
            return 1;
        }
    };
    let stops = Arc::new(AtomicU32::new(0));
    crate::signals::trap(stops.clone(), crate::signals::SignalHooks::default());
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            log_error(&format!("cannot find the volley binary: {e}"));
            return 1;
        }
    };
    let mut members = Members {
        list: Vec::new(),
        pid_file,
        supervisor: Entry::of("supervisor", std::process::id()),
    };
    members.save();
    let started = match &plan {
        None => start_single(&a, &exe, &token_file, &token, &mut members),
        Some(p) => start_group(p, &exe, &token_file, &token, &mut members),
    };
    let (rest, grpc) = match started {
        Ok(urls) => urls,
        Err(e) => {
            log_error(&e);
            members.stop_all();
            return 1;
        }
    };
    start_agents(&a, &exe, &grpc, &token, &mut members);
    match &plan {
        None => println!(
            "volley cluster up: controller {rest} with {} agents (Ctrl+C or `volley cluster \
             down` stops them all)",
            a.agents
        ),
        Some(p) => {
            let leader = p.wait_leader(&token);
            println!(
                "volley cluster up: {} controllers in a Raft group with {} agents (Ctrl+C or \
                 `volley cluster down` stops them all)",
                p.controllers.len(),
                a.agents
            );
            for s in &p.controllers {
                let role = if leader == Some(s.id) {
                    " (leader)"
                } else {
                    ""
                };
                println!("  controller {}: {}{role}", s.id, s.rest_url());
            }
            if leader.is_none() {
                log_error("no controller leads yet: `volley controllers` shows the group");
            }
        }
    }
    println!(
        "  submit a test:  VOLLEY_CONTROLLER={rest} VOLLEY_TOKEN=$(cat {}) volley submit --wait test.js",
        token_file.display()
    );
    let _ = std::io::stdout().flush();
    let code = supervise(
        &stops,
        plan.as_ref(),
        &exe,
        &token_file,
        &token,
        &mut members,
    );
    members.stop_all();
    code
}

/// Starts the one controller; its REST and gRPC URLs.
fn start_single(
    a: &ClusterUpArgs,
    exe: &Path,
    token_file: &Path,
    token: &str,
    members: &mut Members,
) -> Result<(String, String), String> {
    let args = [
        "--listen".to_string(),
        a.listen.to_string(),
        "--grpc".into(),
        a.grpc.to_string(),
        "--data-dir".into(),
        a.data_dir.display().to_string(),
    ];
    let cmd = controller_command(exe, &args, token_file, token);
    let (child, rest, grpc) = start_ready(cmd, "the controller")?;
    members.push("controller".into(), child);
    Ok((rest, grpc))
}

/// Starts every controller of the group; every REST URL and every gRPC URL, comma-separated.
fn start_group(
    plan: &Plan,
    exe: &Path,
    token_file: &Path,
    token: &str,
    members: &mut Members,
) -> Result<(String, String), String> {
    for s in &plan.controllers {
        let cmd = group_controller(plan, s.id, exe, token_file, token);
        let what = format!("controller {}", s.id);
        let (child, _, _) = start_ready(cmd, &what)?;
        members.push(format!("controller-{}", s.id), child);
    }
    Ok((plan.rest_urls(), plan.grpc_urls()))
}

/// The command of controller `id` of the group.
fn group_controller(plan: &Plan, id: u64, exe: &Path, token_file: &Path, token: &str) -> Command {
    let mut cmd = controller_command(exe, &plan.controller_args(id), token_file, token);
    cluster_group::clear_group_env(&mut cmd);
    // The Raft ports take the cluster's secret too: only this cluster's controllers join.
    cmd.env("VOLLEY_PEER_TOKEN", token);
    cmd
}

fn start_agents(a: &ClusterUpArgs, exe: &Path, grpc: &str, token: &str, members: &mut Members) {
    // The agents share this machine: each gets its share of what the memory holds.
    let max_vus = a.max_vus.unwrap_or_else(|| {
        volley_agent::capacity::default_max_vus()
            .map_or(0, |c| (c / u64::from(a.agents.max(1))).max(1))
    });
    let max_js_heap_mib = a.max_js_heap.unwrap_or_else(|| {
        volley_agent::capacity::default_js_heap()
            .map_or(0, |b| ((b / u64::from(a.agents.max(1))) >> 20).max(1))
    });
    for i in 1..=a.agents {
        match Command::new(exe)
            .args([
                "agent",
                "--controller",
                grpc,
                "--name",
                &format!("agent-{i}"),
                // Stopping it stops its runs at once (docs/cluster-runs.md#sigterm-drain).
                "--drain-grace",
                "0s",
                "--max-vus",
                &max_vus.to_string(),
                "--max-js-heap",
                &max_js_heap_mib.to_string(),
            ])
            .env("VOLLEY_TOKEN", token)
            .env_remove("VOLLEY_CONFIG")
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(c) => members.push(format!("agent-{i}"), c),
            Err(e) => log_error(&format!("cannot start agent-{i}: {e}")),
        }
    }
}

/// Restarts of one controller of a group.
#[derive(Default)]
struct Restarts {
    /// Restarts in a row, each after a run shorter than [`STABLE_AFTER`].
    in_a_row: u32,
    /// When the controller that exited is started again.
    due: Option<Instant>,
}

/// Watches the processes until a signal: a single controller or an agent that exits stops
/// the cluster (as it always did); a controller of a group that exits is started again after
/// a back-off, at most [`MAX_RESTARTS`] times in a row. The exit code of `cluster up`.
fn supervise(
    stops: &AtomicU32,
    plan: Option<&Plan>,
    exe: &Path,
    token_file: &Path,
    token: &str,
    members: &mut Members,
) -> i32 {
    while stops.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(100));
        let mut restarted = false;
        for m in members.list.iter_mut() {
            let id = m
                .role
                .strip_prefix("controller-")
                .and_then(|n| n.parse::<u64>().ok());
            let (Some(plan), Some(id)) = (plan, id) else {
                if let Ok(Some(status)) = m.child.try_wait() {
                    log_error(&format!(
                        "{} exited ({status}); stopping the others",
                        m.role
                    ));
                    return 1;
                }
                continue;
            };
            if let Some(due) = m.restarts.due {
                if Instant::now() < due {
                    continue;
                }
                m.restarts.due = None;
                let mut cmd = group_controller(plan, id, exe, token_file, token);
                match cmd.spawn() {
                    Ok(mut child) => {
                        let _ = drain_stdout(&mut child);
                        tracing::info!(
                            controller = id,
                            pid = child.id(),
                            "controller {id} started again"
                        );
                        m.child = child;
                        m.started = Instant::now();
                        restarted = true;
                    }
                    Err(e) => {
                        log_error(&format!("cannot start controller {id} again: {e}"));
                        return 1;
                    }
                }
                continue;
            }
            let Ok(Some(status)) = m.child.try_wait() else {
                continue;
            };
            let r = &mut m.restarts;
            if m.started.elapsed() >= STABLE_AFTER {
                r.in_a_row = 0;
            }
            if r.in_a_row >= MAX_RESTARTS {
                log_error(&format!(
                    "controller {id} exited ({status}) {} times in a row, each within \
                     {STABLE_AFTER:?} of its start: stopping the cluster (its log above says \
                     why)",
                    r.in_a_row + 1
                ));
                return 1;
            }
            let backoff = FIRST_BACKOFF * 2u32.pow(r.in_a_row);
            r.in_a_row += 1;
            r.due = Some(Instant::now() + backoff);
            tracing::warn!(
                controller = id,
                "controller {id} exited ({status}); starting it again in {backoff:?} (restart \
                 {} of at most {MAX_RESTARTS} in a row)",
                r.in_a_row
            );
        }
        if restarted {
            members.save();
        }
    }
    0
}
