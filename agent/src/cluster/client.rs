//! `volley agent`: dials the controller, keeps one stream open, sends heartbeats with
//! telemetry, runs the segments it is assigned and streams their metrics in interval batches.
//!
//! Safety first: the agent rides out short controller outages (it reconnects, re-attaches to its
//! run and replays what the controller has not acknowledged), but with no word from the
//! controller for `orphan_after` it stops its load by itself (the dead-man switch), because
//! nobody would be in charge of it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use volley_common::exit::AbortReason;
use volley_proto as pb;
use volley_proto::agent_link_client::AgentLinkClient;
use volley_proto::batch_clock::{BatchClock, Span};

use super::abort_report::AbortReport;
use super::status::AgentStatus;
use super::telemetry::Telemetry;
use crate::engine::hooks::{ClusterCommand, ClusterEvent, ClusterHooks};
use crate::engine::{self, RunObserver, RunRequest};
use crate::metrics::builtin;
use crate::run::RunControl;

/// How an agent is started (`volley agent` flags).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The controller's gRPC URL, e.g. `http://127.0.0.1:6566`; for a Raft group of
    /// controllers, every controller's URL, comma-separated: the agent links to the one that
    /// takes it (the leader) and moves on to the next when a link fails (docs/ha.md).
    pub controller: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Capacity: the most VUs this agent accepts (0 = no limit).
    pub max_vus: u64,
    /// The JS heap its runs' VUs may use together, in bytes (0 = no limit).
    pub max_js_heap: u64,
    /// JS worker threads (0 = one per core).
    pub workers: usize,
    pub token: Option<String>,
    /// Where archives are extracted (a private folder per run below it).
    pub work_dir: std::path::PathBuf,
    /// Dead-man switch: with no word from the controller for this long, the agent stops its
    /// load by itself (its results are kept and replayed when it reconnects).
    pub orphan_after: Duration,
    /// What an `https://` controller is trusted by and what this agent presents (`--ca`,
    /// `--cert`, `--key`).
    pub tls: volley_api::tls::ClientTls,
    /// Where to serve `/healthz`, `/readyz` and `/metrics` (`--listen`; none by default).
    pub listen: Option<std::net::SocketAddr>,
    /// After SIGTERM, how long the agent may go on with its part of a run before it stops it
    /// (`--drain-grace`; the chart sizes it under `terminationGracePeriodSeconds`).
    pub drain_grace: Duration,
}

/// What the agent sends about runs, kept across connections: run events are replayed on every
/// new connection (the controller handles them idempotently) and metric batches until the
/// controller acknowledges them (it merges each sequence number once).
struct Outbox {
    session: Mutex<Option<mpsc::Sender<pb::AgentMessage>>>,
    events: Mutex<Vec<pb::AgentMessage>>,
    /// The FAILEDs of assignments refused before anything of their run was set up, replayed
    /// like events but kept apart and bounded ([`MAX_REFUSALS`]): `events` lives until the next
    /// run, so a controller sending bad assignments in a loop grew it without end.
    refusals: Mutex<VecDeque<pb::AgentMessage>>,
    unacked: Mutex<BTreeMap<u64, pb::AgentMessage>>,
    /// Told of batches sent and acknowledged, and of the run served.
    status: Arc<AgentStatus>,
}

/// Unacknowledged batches kept at most (beyond that the oldest are dropped, with a warning).
const MAX_UNACKED: usize = 36_000;

/// Refusals of assignments kept for replay (the oldest are dropped beyond): a real controller
/// assigns one run at a time.
const MAX_REFUSALS: usize = 64;

impl Outbox {
    fn new(status: Arc<AgentStatus>) -> Self {
        Outbox {
            session: Mutex::default(),
            events: Mutex::default(),
            refusals: Mutex::default(),
            unacked: Mutex::default(),
            status,
        }
    }

    fn session_tx(&self) -> Option<mpsc::Sender<pb::AgentMessage>> {
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A new run starts: forget the previous run's events and batches.
    fn new_run(&self) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.unacked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.status.set_unacked(0);
    }

    /// Records a run message and sends it if connected.
    async fn send(&self, m: pb::AgentMessage) {
        match &m.body {
            Some(pb::agent_message::Body::Metrics(b)) => {
                let mut u = self.unacked.lock().unwrap_or_else(|e| e.into_inner());
                u.insert(b.seq, m.clone());
                while u.len() > MAX_UNACKED {
                    if let Some((seq, _)) = u.pop_first() {
                        tracing::warn!("dropping unacknowledged metric batch {seq}: too many kept");
                    }
                }
                self.status.batch_sent();
                self.status.set_unacked(u.len());
            }
            Some(pb::agent_message::Body::Event(_))
            | Some(pb::agent_message::Body::SetupResult(_)) => {
                self.events
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(m.clone());
            }
            _ => {}
        }
        if let Some(tx) = self.session_tx() {
            let _ = tx.send(m).await;
        }
    }

    /// Records the FAILED of a refused assignment (bounded) and sends it if connected.
    async fn refuse(&self, m: pb::AgentMessage) {
        {
            let mut kept = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
            kept.push_back(m.clone());
            while kept.len() > MAX_REFUSALS {
                kept.pop_front();
            }
        }
        if let Some(tx) = self.session_tx() {
            let _ = tx.send(m).await;
        }
    }

    /// The controller merged run `run_id`'s batches up to `seq`. The batches kept are all of
    /// one run (`new_run` clears them), so an acknowledgement naming another run — a late one
    /// for the run before, sent just as this one started — drops nothing: it would otherwise
    /// drop this run's batches of the same sequence numbers before they were merged.
    fn ack(&self, run_id: u64, seq: u64) {
        let mut u = self.unacked.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(kept) = u.values().next().and_then(batch_run) {
            if kept != run_id {
                tracing::debug!(
                    "ignoring an acknowledgement of run {run_id}'s batches up to {seq}: the \
                     batches kept are run {kept}'s"
                );
                return;
            }
        }
        let keep = u.split_off(&(seq + 1));
        *u = keep;
        self.status.set_unacked(u.len());
    }

    /// A new connection: replay the refusals and the run's events, then the unacknowledged
    /// batches.
    async fn attach(&self, tx: mpsc::Sender<pb::AgentMessage>) {
        let refusals: Vec<pb::AgentMessage> = self
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let events = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let batches: Vec<pb::AgentMessage> = self
            .unacked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for m in refusals.into_iter().chain(events).chain(batches) {
            if tx.send(m).await.is_err() {
                return;
            }
        }
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
    }

    fn detach(&self) {
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The run a kept metric batch belongs to.
fn batch_run(m: &pb::AgentMessage) -> Option<u64> {
    match &m.body {
        Some(pb::agent_message::Body::Metrics(b)) => Some(b.run_id),
        _ => None,
    }
}

/// The run this agent is part of right now.
struct CurrentRun {
    run_id: u64,
    control: Arc<RunControl>,
    hooks: Arc<ClusterHooks>,
    commands: mpsc::UnboundedSender<ClusterCommand>,
    /// Set when the controller stopped the run (so the agent does not report the abort back).
    stopped_by_controller: Arc<AtomicBool>,
}

type Shared = Arc<Mutex<Option<CurrentRun>>>;

/// The heartbeats' period the controller asks for in `Registered.heartbeat_interval_ms`,
/// bounded to 1–10 s: a controller with thousands of agents can slow them (each costs it what
/// any small gRPC message does: 0.15 cores for 5,000 idle agents at one a second,
/// docs/benchmarks.md), and none can make them so rare that its own liveness judgement
/// (`agent_lost_after`, 10 s by default, docs/failures.md) or so frequent that its link limits
/// would fire. 0 (not said) is the default second.
fn heartbeat_interval(ms: u32) -> Duration {
    if ms == 0 {
        return Duration::from_secs(1);
    }
    Duration::from_millis(u64::from(ms).clamp(1_000, 10_000))
}

fn msg(body: pb::agent_message::Body) -> pb::AgentMessage {
    pb::AgentMessage {
        version: pb::PROTOCOL_VERSION,
        body: Some(body),
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs the agent until the process is stopped. Reconnects with backoff when the controller
/// is unreachable.
pub fn run_agent(cfg: AgentConfig) -> Result<(), String> {
    prepare_work_dir(&cfg.work_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("volley-agent")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the agent runtime: {e}"))?;
    rt.block_on(async move {
        let status = Arc::new(AgentStatus::new(cfg.max_vus));
        if let Some(addr) = cfg.listen {
            let listener = super::probe::bind(addr).await?;
            tracing::info!("serving /healthz, /readyz and /metrics on http://{addr}");
            tokio::spawn(super::probe::serve(
                listener,
                super::probe::router(status.clone()),
            ));
        }
        let current: Shared = Arc::new(Mutex::new(None));
        let outbox = Arc::new(Outbox::new(status.clone()));
        let last_contact = Arc::new(Mutex::new(std::time::Instant::now()));
        // The dead-man switch: nobody in charge for `orphan_after` → stop the load.
        {
            let current = current.clone();
            let last_contact = last_contact.clone();
            let orphan_after = cfg.orphan_after;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    let silent = last_contact.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
                    if silent >= orphan_after {
                        stop_current(
                            &current,
                            &format!(
                                "no word from the controller for {:.0} s (orphan_after): stopping the load; results are kept for replay",
                                silent.as_secs_f64()
                            ),
                        );
                    }
                }
            });
        }
        let mut backoff = Duration::from_millis(200);
        // Issued by the controller at the first registration; proves on every reconnection
        // that this process is the agent that holds the name.
        let session_secret = Mutex::new(String::new());
        let urls = super::dial::controller_urls(&cfg.controller);
        let mut turn = 0usize;
        let drained = super::drain::on_sigterm(status.clone(), cfg.drain_grace, cfg.name.clone());
        tokio::pin!(drained);
        loop {
            let url = urls[turn % urls.len()].as_str();
            let ended = tokio::select! {
                () = &mut drained => return Ok(()),
                r = session(&cfg, url, &current, &outbox, &last_contact, &session_secret) => r,
            };
            match ended {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(SessionError::Refused(r)) => {
                    return Err(format!("the controller refused this agent: {r}"))
                }
                Err(SessionError::Other(e)) => {
                    // Said at every failed attempt (the first within a second of starting),
                    // naming the likely fix; see cluster/dial_hint.rs.
                    let probe = super::dial_hint::probe(url).await;
                    let line = super::dial_hint::message(url, &e, backoff, probe);
                    if super::dial_hint::misconfigured(url, &e, probe) {
                        tracing::error!("{line}");
                    } else {
                        tracing::warn!("{line}");
                    }
                    // The next controller of the group: the leader may have moved.
                    turn += 1;
                }
            }
            outbox.detach();
            status.set_registered(false);
            // One pause per round over the controllers, not per controller.
            if turn.is_multiple_of(urls.len()) {
                tokio::select! {
                    () = &mut drained => return Ok(()),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    })
}

enum SessionError {
    Refused(String),
    Other(String),
}

/// Stops the current run, if any (the controller link is gone).
fn stop_current(current: &Shared, why: &str) {
    if let Some(run) = current.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        run.stopped_by_controller.store(true, Ordering::SeqCst);
        run.hooks.skip_teardown.store(true, Ordering::SeqCst);
        if run.control.abort(AbortReason::System {
            message: why.to_string(),
        }) {
            crate::console::log(
                "warning",
                &format!("stopping run {}: {why}", run.run_id),
                &[],
            );
        }
    }
}

async fn session(
    cfg: &AgentConfig,
    url: &str,
    current: &Shared,
    outbox: &Arc<Outbox>,
    last_contact: &Arc<Mutex<std::time::Instant>>,
    session_secret: &Mutex<String>,
) -> Result<(), SessionError> {
    let io_errors = super::dial::IoErrors::default();
    let channel = super::dial::connect(url, &cfg.tls, &io_errors)
        .await
        .map_err(|e| match e {
            super::dial::DialError::Invalid(m) => SessionError::Refused(m),
            super::dial::DialError::Failed(m) => SessionError::Other(m),
        })?;
    let mut client = AgentLinkClient::new(channel)
        .max_decoding_message_size(pb::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(pb::MAX_MESSAGE_BYTES);
    let (tx, rx) = mpsc::channel::<pb::AgentMessage>(4096);
    let mut telemetry = Telemetry::new();
    let first = telemetry.sample();
    let resume_run_id = current
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map_or(0, |r| r.run_id);
    let proof = session_secret
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let _ = tx
        .send(msg(pb::agent_message::Body::Register(pb::Register {
            name: cfg.name.clone(),
            labels: cfg.labels.clone().into_iter().collect(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            max_vus: cfg.max_vus,
            cpus: telemetry.cpus(),
            memory_total_bytes: first.memory_total_bytes,
            resume_run_id,
            token: cfg.token.clone().unwrap_or_default(),
            session_secret: proof,
            orphan_after_ms: u32::try_from(cfg.orphan_after.as_millis()).unwrap_or(u32::MAX),
        })))
        .await;
    // A link that stays silent for orphan_after is dead even if its TCP connection is still
    // open (a partition drops packets without resetting anything, and TCP would take minutes
    // to give up): leave it and dial again, so the agent is back soon after the network is.
    let silent = || {
        SessionError::Other(format!(
            "no word from the controller for {:.0} s (orphan_after): dropping the link",
            cfg.orphan_after.as_secs_f64()
        ))
    };
    let mut inbound = tokio::time::timeout(cfg.orphan_after, client.link(ReceiverStream::new(rx)))
        .await
        .map_err(|_| silent())?
        .map_err(|e| {
            let why = io_errors.explain(super::dial::chain(&e));
            SessionError::Other(format!("link refused: {why}"))
        })?
        .into_inner();
    let first = tokio::time::timeout(cfg.orphan_after, inbound.message())
        .await
        .map_err(|_| silent())?;
    let heartbeat_every;
    match first {
        Ok(Some(m)) => match m.body {
            Some(pb::controller_message::Body::Registered(r)) => {
                heartbeat_every = heartbeat_interval(r.heartbeat_interval_ms);
                *last_contact.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
                *session_secret.lock().unwrap_or_else(|e| e.into_inner()) = r.session_secret;
                crate::console::log(
                    "info",
                    &format!(
                        "registered with the controller as {} ({})",
                        cfg.name, r.agent_id
                    ),
                    &[],
                );
                // Replay what the controller may have missed, then use this connection.
                outbox.attach(tx.clone()).await;
                outbox.status.set_registered(true);
            }
            Some(pb::controller_message::Body::Refused(r)) => {
                return Err(SessionError::Refused(r.reason))
            }
            other => {
                return Err(SessionError::Other(format!(
                    "unexpected first message {other:?}"
                )))
            }
        },
        Ok(None) => return Err(SessionError::Other("the controller closed the link".into())),
        Err(e) => {
            return Err(SessionError::Other(
                io_errors.explain(super::dial::chain(&e)),
            ))
        }
    }

    // Heartbeats as often as the controller asks (every second by default), with telemetry
    // and the current run's rates.
    let hb = {
        let tx = tx.clone();
        let current = current.clone();
        let status = outbox.status.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(heartbeat_every);
            let mut last = (0.0f64, 0.0f64, std::time::Instant::now());
            loop {
                tick.tick().await;
                let s = telemetry.sample();
                let mut h = pb::Heartbeat {
                    cpu_percent: s.cpu_percent,
                    memory_used_bytes: s.memory_used_bytes,
                    memory_total_bytes: s.memory_total_bytes,
                    process_rss_bytes: s.process_rss_bytes,
                    process_cpu_percent: s.process_cpu_percent,
                    unix_ms: unix_ms(SystemTime::now()),
                    draining: status.draining(),
                    ..Default::default()
                };
                if let Some(run) = current.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    h.run_id = run.run_id;
                    h.active_vus = run.control.active_vus.load(Ordering::Relaxed);
                    if let Some((store, _)) = run.hooks.metrics.get() {
                        let iters = store
                            .aggregate(builtin::ITERATIONS, &[])
                            .and_then(|s| s.stat("count", 1.0))
                            .unwrap_or(0.0);
                        let reqs = store
                            .aggregate(builtin::HTTP_REQS, &[])
                            .and_then(|s| s.stat("count", 1.0))
                            .unwrap_or(0.0);
                        let dropped = store
                            .aggregate(builtin::DROPPED_ITERATIONS, &[])
                            .and_then(|s| s.stat("count", 1.0))
                            .unwrap_or(0.0);
                        let dt = last.2.elapsed().as_secs_f64().max(1e-3);
                        h.iterations_per_second = ((iters - last.0) / dt).max(0.0);
                        h.requests_per_second = ((reqs - last.1) / dt).max(0.0);
                        h.dropped_iterations = dropped as u64;
                        last = (iters, reqs, std::time::Instant::now());
                    }
                }
                if tx
                    .send(msg(pb::agent_message::Body::Heartbeat(h)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    };

    let result = loop {
        let Ok(next) = tokio::time::timeout(cfg.orphan_after, inbound.message()).await else {
            break Err(silent());
        };
        let m = match next {
            Ok(Some(m)) => m,
            Ok(None) => break Err(SessionError::Other("the controller closed the link".into())),
            Err(e) => break Err(SessionError::Other(e.to_string())),
        };
        *last_contact.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
        if m.version != pb::PROTOCOL_VERSION {
            break Err(SessionError::Refused(format!(
                "the controller speaks protocol version {}, this agent {}",
                m.version,
                pb::PROTOCOL_VERSION
            )));
        }
        let Some(body) = m.body else { continue };
        use pb::controller_message::Body as B;
        match body {
            B::Assign(a) => start_run(cfg, a, outbox.clone(), current.clone()),
            B::RunSetup(r) => forward(current, r.run_id, ClusterCommand::RunSetup),
            B::SetupData(d) => forward(
                current,
                d.run_id,
                ClusterCommand::SetupData((!d.data_json.is_empty()).then_some(d.data_json)),
            ),
            B::Start(s) => forward(
                current,
                s.run_id,
                ClusterCommand::Start(UNIX_EPOCH + Duration::from_millis(s.at_unix_ms)),
            ),
            B::Teardown(t) => forward(current, t.run_id, ClusterCommand::Teardown(t.run_teardown)),
            B::Stop(s) => {
                let guard = current.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(run) = guard.as_ref().filter(|r| r.run_id == s.run_id) {
                    run.stopped_by_controller.store(true, Ordering::SeqCst);
                    if s.immediate {
                        run.hooks.skip_teardown.store(true, Ordering::SeqCst);
                    }
                    let reason = s
                        .reason
                        .and_then(|r| AbortReason::try_from(r).ok())
                        .unwrap_or(AbortReason::System {
                            message: "stopped by the controller".into(),
                        });
                    run.control.abort(reason);
                }
            }
            B::Ack(a) => {
                if a.run_id != 0 {
                    outbox.ack(a.run_id, a.batch_seq);
                }
            }
            B::Registered(_) => {}
            B::Refused(r) => break Err(SessionError::Refused(r.reason)),
        }
    };
    hb.abort();
    result
}

fn forward(current: &Shared, run_id: u64, cmd: ClusterCommand) {
    let guard = current.lock().unwrap_or_else(|e| e.into_inner());
    match guard.as_ref().filter(|r| r.run_id == run_id) {
        Some(run) => {
            let _ = run.commands.send(cmd);
        }
        None => tracing::warn!("command for run {run_id}, which this agent is not running"),
    }
}

/// Makes the agent's work folder private before any archive lands in it: created 0700 if
/// missing; if it exists it must be a real folder (not a symbolic link) owned by this user, and
/// is made 0700. A folder planted by someone else under a shared `/tmp` is refused, not used.
pub fn prepare_work_dir(dir: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create the work folder {}: {e}", dir.display())),
        Err(e) => Err(format!(
            "cannot inspect the work folder {}: {e}",
            dir.display()
        )),
        Ok(meta) if !meta.file_type().is_dir() => Err(format!(
            "the work folder {} is not a folder (a symbolic link or a file); remove it, since \
             someone else may have planted it",
            dir.display()
        )),
        Ok(meta) => {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            if meta.uid() != me {
                return Err(format!(
                    "the work folder {} belongs to user id {}, not to this agent's user ({me}); \
                     remove it, since someone else may have planted it",
                    dir.display(),
                    meta.uid()
                ));
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("cannot make the work folder {} private: {e}", dir.display()))
        }
    }
}

struct NoObserver;
impl RunObserver for NoObserver {}

fn event(run_id: u64, phase: pb::RunPhase) -> pb::RunEvent {
    pb::RunEvent {
        run_id,
        phase: phase as i32,
        ..Default::default()
    }
}

/// Starts an assigned run: extracts the archive, runs the engine on a thread of its own, and
/// relays its events and metric batches to the controller.
fn start_run(cfg: &AgentConfig, mut a: pb::Assign, tx: Arc<Outbox>, current: Shared) {
    let run_id = a.run_id;
    let fail = |why: String| {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut e = event(run_id, pb::RunPhase::Failed);
            e.message = why.clone();
            e.abort = Some(AbortReason::System { message: why }.into());
            tx.refuse(msg(pb::agent_message::Body::Event(e))).await;
        });
    };
    if tx.status.draining() {
        fail(format!(
            "agent {} is draining (SIGTERM) and takes no new run",
            cfg.name
        ));
        return;
    }
    if current.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
        fail(format!("agent {} is busy with another run", cfg.name));
        return;
    }
    // Every field is checked before anything is set up (assignment.rs says why).
    let super::assignment::Assignment {
        archive,
        options,
        env,
    } = match super::assignment::check(&mut a) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let targets = match super::targets::run_policy(&cfg.controller, a.targets.as_ref()) {
        Ok(t) => t,
        Err(e) => return fail(format!("invalid assignment: `targets`: {e}")),
    };
    let dir = cfg.work_dir.join(format!("run-{run_id}"));
    let _ = std::fs::remove_dir_all(&dir);
    let entry = match archive.extract_to(&dir) {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return fail(format!("cannot extract the archive: {e}"));
        }
    };
    // The archive is the script's whole file system on an agent (see crate::sandbox).
    let files = match std::fs::canonicalize(&dir) {
        Ok(root) => crate::sandbox::FileScope::Archive { root },
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return fail(format!("cannot resolve {}: {e}", dir.display()));
        }
    };
    tx.new_run();
    let (hooks, mut events, commands) = ClusterHooks::new();
    let control = Arc::new(RunControl::default());
    let stopped_by_controller = Arc::new(AtomicBool::new(false));
    tx.status.run_started(run_id, control.clone());
    *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(CurrentRun {
        run_id,
        control: control.clone(),
        hooks: hooks.clone(),
        commands,
        stopped_by_controller: stopped_by_controller.clone(),
    });
    let req = RunRequest {
        script: entry,
        cli_options: options,
        env,
        process_env: BTreeMap::new(),
        workers: cfg.workers,
        outputs: Vec::new(),
        no_summary: true,
        is_stdout_tty: false,
        is_stderr_tty: false,
        live: None,
        cluster: Some(hooks.clone()),
        streams: Vec::new(),
        max_vus: (cfg.max_vus > 0).then(|| (cfg.max_vus, format!("agent {} --max-vus", cfg.name))),
        max_js_heap: (cfg.max_js_heap > 0)
            .then(|| (cfg.max_js_heap, format!("agent {} --max-js-heap", cfg.name))),
        files,
        targets,
        // Only what the archive carries: an agent never downloads modules.
        remote_modules: crate::js::RemoteSource::bundled(archive.remote_sources()),
        // A script must not reach an agent's files: a cluster run has no secret sources
        // (docs/security.md#secrets).
        secrets: Default::default(),
    };
    let interval = Duration::from_millis(u64::from(a.metrics_interval_ms.max(100)));
    let segment = a.segment.clone();
    let batch_seq = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    {
        let control = control.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("volley-run-{run_id}"))
            .spawn(move || {
                let out = engine::run(req, control, Arc::new(NoObserver));
                let _ = done_tx.send(out);
            });
        if let Err(e) = spawned {
            *current.lock().unwrap_or_else(|e| e.into_inner()) = None;
            tx.status.run_ended();
            return fail(format!("cannot start the run thread: {e}"));
        }
    }
    // Phase events from the engine.
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = tx
                .send(msg(pb::agent_message::Body::Event(event(
                    run_id,
                    pb::RunPhase::Initializing,
                ))))
                .await;
            while let Some(e) = events.recv().await {
                let m = match e {
                    ClusterEvent::Ready { vus } => {
                        let mut e = event(run_id, pb::RunPhase::Ready);
                        e.vus = vus;
                        pb::agent_message::Body::Event(e)
                    }
                    ClusterEvent::SetupResult { data, abort } => {
                        pb::agent_message::Body::SetupResult(pb::SetupResult {
                            run_id,
                            ok: abort.is_none(),
                            data_json: data.unwrap_or_default(),
                            abort: abort.map(pb::AbortReason::from),
                        })
                    }
                    ClusterEvent::ExecutionDone => {
                        pb::agent_message::Body::Event(event(run_id, pb::RunPhase::ExecutionDone))
                    }
                };
                tx.send(msg(m)).await;
            }
        });
    }
    // Aborts that start here go to the controller exactly once, in FAILED or on DONE
    // (abort_report.rs says why).
    let abort_report = AbortReport::new(stopped_by_controller.clone());
    {
        let tx = tx.clone();
        let control = control.clone();
        let abort_report = abort_report.clone();
        tokio::spawn(async move {
            control.aborted().await;
            let Some(claim) = abort_report.claim().await else {
                return;
            };
            if let Some(reason) = control.abort_reason() {
                let mut e = event(run_id, pb::RunPhase::Failed);
                e.message = reason.message();
                e.abort = Some(reason.into());
                let _ = tx.send(msg(pb::agent_message::Body::Event(e))).await;
                claim.reported();
            }
        });
    }
    // Interval metric batches, and the end of the run.
    tokio::spawn(async move {
        let send_batch = |(start, end): Span| {
            let hooks = hooks.clone();
            let tx = tx.clone();
            let batch_seq = batch_seq.clone();
            async move {
                let Some((store, registry)) = hooks.metrics.get() else {
                    return;
                };
                let series = crate::metrics::batch::take_series(store, registry);
                if series.is_empty() {
                    return;
                }
                let seq = batch_seq.fetch_add(1, Ordering::SeqCst) + 1;
                let _ = tx
                    .send(msg(pb::agent_message::Body::Metrics(pb::MetricBatch {
                        run_id,
                        seq,
                        start_unix_ms: start,
                        end_unix_ms: end,
                        series: series.into(),
                    })))
                    .await;
            }
        };
        // At this agent's phase of each interval, so a run's agents spread their batches.
        let mut clock = BatchClock::start(&segment, interval);
        tokio::pin!(done_rx);
        let outcome = loop {
            let due = tokio::time::Instant::from_std(clock.due());
            tokio::select! {
                () = tokio::time::sleep_until(due) => {
                    send_batch(clock.tick(std::time::Instant::now())).await;
                }
                out = &mut done_rx => break out.ok(),
            }
        };
        // The engine flushed its workers before returning: ship the rest, then DONE.
        send_batch(clock.rest(std::time::Instant::now())).await;
        let mut e = event(run_id, pb::RunPhase::Done);
        e.iterations = control.complete_iterations.load(Ordering::Relaxed);
        e.interrupted_iterations = control.interrupted_iterations.load(Ordering::Relaxed);
        e.last_batch_seq = batch_seq.load(Ordering::SeqCst);
        if let Some(m) = control.failed() {
            e.marked_failed = true;
            e.failed_message = m;
        }
        if let Some(out) = &outcome {
            e.message = out.error.clone().unwrap_or_default();
        }
        // An abort that started here and is not reported yet rides on DONE.
        if let Some(claim) = abort_report.claim().await {
            if let Some(reason) = control.abort_reason() {
                e.abort = Some(reason.into());
                claim.reported();
            }
        }
        let _ = tx.send(msg(pb::agent_message::Body::Event(e))).await;
        *current.lock().unwrap_or_else(|e| e.into_inner()) = None;
        tx.status.run_ended();
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn heartbeats_follow_the_controllers_interval_within_bounds() {
        use super::heartbeat_interval;
        use std::time::Duration;
        let ms = Duration::from_millis;
        assert_eq!(heartbeat_interval(0), ms(1_000), "not said: every second");
        assert_eq!(heartbeat_interval(1_000), ms(1_000));
        assert_eq!(heartbeat_interval(2_500), ms(2_500));
        assert_eq!(heartbeat_interval(10_000), ms(10_000));
        assert_eq!(heartbeat_interval(1), ms(1_000), "no faster than a second");
        assert_eq!(heartbeat_interval(999), ms(1_000));
        assert_eq!(
            heartbeat_interval(10_001),
            ms(10_000),
            "no slower than 10 s"
        );
        assert_eq!(heartbeat_interval(u32::MAX), ms(10_000));
    }

    use super::*;

    fn batch(run_id: u64, seq: u64) -> pb::AgentMessage {
        msg(pb::agent_message::Body::Metrics(pb::MetricBatch {
            run_id,
            seq,
            ..Default::default()
        }))
    }

    fn kept(outbox: &Outbox) -> Vec<(u64, u64)> {
        let u = outbox.unacked.lock().unwrap();
        u.iter()
            .map(|(seq, m)| (batch_run(m).unwrap(), *seq))
            .collect()
    }

    #[tokio::test]
    async fn a_late_acknowledgement_of_the_run_before_drops_none_of_this_runs_batches() {
        let outbox = Outbox::new(Arc::new(AgentStatus::new(10)));
        outbox.send(batch(7, 1)).await;
        outbox.send(batch(7, 2)).await;
        outbox.new_run();
        outbox.send(batch(8, 1)).await;
        outbox.send(batch(8, 2)).await;
        outbox.ack(7, 2);
        assert_eq!(
            kept(&outbox),
            [(8, 1), (8, 2)],
            "run 7's ack kept run 8's batches"
        );
        outbox.ack(8, 1);
        assert_eq!(
            kept(&outbox),
            [(8, 2)],
            "run 8's own ack drops up to its sequence"
        );
        outbox.ack(8, 2);
        assert!(kept(&outbox).is_empty());
    }

    #[tokio::test]
    async fn refused_assignments_kept_for_replay_are_bounded() {
        let outbox = Outbox::new(Arc::new(AgentStatus::new(10)));
        for run_id in 1..=10_000 {
            outbox
                .refuse(msg(pb::agent_message::Body::Event(event(
                    run_id,
                    pb::RunPhase::Failed,
                ))))
                .await;
        }
        let (tx, mut rx) = mpsc::channel(1_000);
        outbox.attach(tx).await;
        let mut replayed = Vec::new();
        while let Ok(m) = rx.try_recv() {
            if let Some(pb::agent_message::Body::Event(e)) = m.body {
                replayed.push(e.run_id);
            }
        }
        let newest: Vec<u64> = (10_001 - MAX_REFUSALS as u64..=10_000).collect();
        assert_eq!(replayed, newest, "the newest refusals, in order");
    }
}
