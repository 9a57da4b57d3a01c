//! Runs across agents: the queue (first in, first out), placement on idle agents, and one task
//! per run that drives its lifecycle — assign segments, VU init everywhere, `setup()` once on
//! one agent with its data fanned out, a start barrier, exact merging of metric batches, live
//! `abortOnFail` thresholds on merged data, `teardown()` once, then the summary, the final status
//! and the exit code that the same run would give locally (DESIGN §3–§5).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use volley_common::exit::{code, AbortReason};
use volley_common::metrics::store::{MetricInfo, SeriesStore};
use volley_common::metrics::{MetricType, Sink, TagSet, ValueType};
use volley_common::options::Options;
use volley_common::summary::build::{self, ThresholdSet};
use volley_common::summary::{RunResult, SummaryOptions, SummaryState};
use volley_common::threshold::{parse_metric_key, parse_thresholds};
use volley_proto as pb;

use crate::checkpoint::{self, AgentProgress, Checkpoint};
use crate::model::{Assignment, ResultStatus, Run, RunEvent, RunStatus, UtilizationSample};
use crate::placement::{self, PlacementError, PlacementRequest};
use crate::registry::Registry;
use crate::state::{Command, RunChanges, STREAMED_RUN_PROCESS};
use crate::store::Db;

/// What happens to a run when one of its agents is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAgentLost {
    /// ABORTED_BY_SYSTEM with AGENT_LOST (the default).
    Abort,
    /// The run goes on with the other agents; it is marked degraded and the lost segment noted.
    Continue,
}

impl std::str::FromStr for OnAgentLost {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "abort" => Ok(OnAgentLost::Abort),
            "continue" => Ok(OnAgentLost::Continue),
            other => Err(format!(
                "on_agent_lost must be 'abort' or 'continue', not {other:?}"
            )),
        }
    }
}

/// Limits a run must respect (seed 000's defaults). What can be checked before the start is
/// refused at submit; the rest aborts the run with ABORTED_BY_LIMIT.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_groups: usize,
    pub max_series: usize,
    pub max_duration: Duration,
    /// Most VUs in one run (None = no limit).
    pub max_vus: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_groups: 40,
            max_series: 10_000,
            max_duration: Duration::from_secs(60 * 60),
            max_vus: None,
        }
    }
}

/// Tunables of run coordination and failure handling (DESIGN §6).
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Metric batch interval agents use.
    pub metrics_interval: Duration,
    /// How far in the future the start barrier is set (all agents must get the Start first).
    pub start_delay: Duration,
    /// How often abortOnFail thresholds are evaluated on merged data (k6: every 2 s).
    pub threshold_interval: Duration,
    /// An agent of a running run silent this long is lost.
    pub agent_lost_after: Duration,
    pub on_agent_lost: OnAgentLost,
    /// CPU or memory at or above these, sustained for `overload_after`, aborts the run.
    pub overload_cpu_percent: f64,
    pub overload_memory_percent: f64,
    pub overload_after: Duration,
    /// At or above this, agents show a warning (views, run events, logs).
    pub warn_percent: f64,
    pub limits: Limits,
    /// No data or heartbeat from any of a run's agents for this long → TIMED_OUT.
    pub data_timeout: Duration,
    /// How often a running run's merged data is checkpointed (batches are acknowledged to
    /// agents only once checkpointed, so a restarted controller can resume the run).
    pub checkpoint_interval: Duration,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            metrics_interval: Duration::from_secs(1),
            start_delay: Duration::from_millis(300),
            threshold_interval: Duration::from_secs(2),
            agent_lost_after: Duration::from_secs(10),
            on_agent_lost: OnAgentLost::Abort,
            overload_cpu_percent: 90.0,
            overload_memory_percent: 90.0,
            overload_after: Duration::from_secs(30),
            warn_percent: 80.0,
            limits: Limits::default(),
            data_timeout: Duration::from_secs(120),
            checkpoint_interval: Duration::from_secs(1),
        }
    }
}

/// What a run task hears about.
#[derive(Debug)]
pub enum RunInput {
    Event(String, pb::RunEvent),
    Metrics(String, pb::MetricBatch),
    Setup(String, pb::SetupResult),
    Heartbeat(String, pb::Heartbeat),
    AgentGone(String),
    /// The agent reconnected and is still running this run.
    Reattached(String),
    Stop(AbortReason),
}

/// Live data of a run (read by the API while the task writes it; kept for a while after the
/// run ends so utilization and series stay available).
#[derive(Default)]
pub struct LiveData {
    pub series: SeriesStore,
    pub utilization: BTreeMap<String, (String, Vec<UtilizationSample>)>,
    pub started: Option<Instant>,
    /// Merged key metrics per interval (by the interval's end, rounded to the interval),
    /// bounded to [`MAX_INTERVALS`].
    pub timeline: BTreeMap<u64, SeriesStore>,
    pub ended: Option<Instant>,
}

/// Intervals kept per run (an hour at 1 s).
pub const MAX_INTERVALS: usize = 3600;
/// The metrics kept per interval in the timeline.
const TIMELINE_METRICS: &[&str] = &[
    "http_reqs",
    "http_req_duration",
    "http_req_failed",
    "iterations",
    "checks",
    "data_sent",
    "data_received",
    "dropped_iterations",
];
/// Finished runs whose live data is kept in memory.
const KEEP_FINISHED: usize = 50;

struct RunHandle {
    tx: mpsc::UnboundedSender<RunInput>,
    live: Arc<Mutex<LiveData>>,
    agents: Vec<String>,
    /// Set for a run streamed from a local `volley run --out cloud`.
    stream: Option<Arc<Mutex<StreamStatus>>>,
}

/// What the client of a streamed run (a local `volley run --out cloud=URL`) hears back with
/// every request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StreamStatus {
    /// Batches up to this sequence number are durable here: the client may forget them.
    pub acked_seq: u64,
    /// The run was stopped on the controller (API stop, a limit, data_timeout): the local run
    /// should stop for this reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<AbortReason>,
    /// The run's status.
    pub run_status: RunStatus,
}

/// How a streamed run's client ends its run (after its last batch).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamFinish {
    /// The sequence number of the last batch sent.
    pub last_batch_seq: u64,
    /// Why the local run stopped early, if it did.
    #[serde(default)]
    pub abort_reason: Option<AbortReason>,
    /// `exec.test.fail()` was called.
    #[serde(default)]
    pub marked_failed: Option<String>,
    #[serde(default)]
    pub iterations: u64,
}

pub struct Coordinator {
    pub db: Arc<Db>,
    pub registry: Arc<Registry>,
    pub config: CoordinatorConfig,
    runs: Mutex<HashMap<u64, RunHandle>>,
    /// Live data of recently finished runs (oldest first), for the API.
    finished: Mutex<std::collections::VecDeque<(u64, Arc<Mutex<LiveData>>)>>,
    queue_changed: tokio::sync::Notify,
}

pub fn now_rfc3339() -> String {
    crate::state::timestamp::now_rfc3339()
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn controller_msg(body: pb::controller_message::Body) -> pb::ControllerMessage {
    pb::ControllerMessage {
        version: pb::PROTOCOL_VERSION,
        body: Some(body),
    }
}

impl Coordinator {
    pub fn new(db: Arc<Db>, registry: Arc<Registry>, config: CoordinatorConfig) -> Arc<Self> {
        Arc::new(Coordinator {
            db,
            registry,
            config,
            runs: Mutex::new(HashMap::new()),
            finished: Mutex::new(std::collections::VecDeque::new()),
            queue_changed: tokio::sync::Notify::new(),
        })
    }

    /// Starts the scheduler loop. Runs that were in flight when a previous controller stopped
    /// are resumed from their checkpoint when they were RUNNING (their agents have
    /// `agent_lost_after` to re-attach); runs caught earlier in their lifecycle are marked
    /// ABORTED_BY_SYSTEM with the reason.
    pub fn start(self: &Arc<Self>) {
        let in_flight: Vec<Run> = self.db.read(|s| {
            s.non_terminal_runs()
                .filter(|r| matches!(r.run_status, RunStatus::Initializing | RunStatus::Running))
                .cloned()
                .collect()
        });
        for run in in_flight {
            match self.checkpoint_of(&run) {
                Ok(cp) => self.resume(run, cp),
                Err(why) => {
                    let reason = AbortReason::System {
                        message: format!(
                            "the controller restarted while the run was {} and could not resume it: {why}",
                            run.run_status.name()
                        ),
                    };
                    self.finish_without_agents(run.id, &reason);
                }
            }
        }
        let me = self.clone();
        tokio::spawn(async move { me.scheduler().await });
    }

    /// Notifies the scheduler (a run was queued, an agent became idle...).
    pub fn kick(&self) {
        self.queue_changed.notify_one();
    }

    async fn scheduler(self: Arc<Self>) {
        loop {
            self.schedule_once();
            tokio::select! {
                _ = self.queue_changed.notified() => {}
                _ = self.registry.changed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    /// Places the head of the queue if it fits (FIFO: a run that does not fit blocks the ones
    /// behind it, so big runs are not starved).
    fn schedule_once(self: &Arc<Self>) {
        let queued: Vec<Run> = self.db.read(|s| {
            let mut v: Vec<Run> = s.runs_in_status(RunStatus::Queued).cloned().collect();
            v.sort_by_key(|r| r.id);
            v
        });
        for run in queued {
            let req: PlacementRequest = run
                .config
                .get("volley")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            let vus = planned_vus(&run.config);
            match placement::plan(
                &req,
                vus,
                &self.registry.idle(self.config.agent_lost_after),
                self.registry.count(),
            ) {
                Ok(plan) => {
                    self.launch(run, plan);
                }
                Err(PlacementError::NotYet(why)) => {
                    tracing::debug!(run = run.id, "{why}");
                    return;
                }
                Err(PlacementError::Invalid(why)) => {
                    let reason = AbortReason::System { message: why };
                    self.finish_without_agents(run.id, &reason);
                }
            }
        }
    }

    fn exec(&self, cmd: Command) {
        if let Err(e) = self.db.execute(cmd) {
            tracing::error!("controller state: {e}");
        }
    }

    fn transition(&self, run_id: u64, to: RunStatus, reason: &str, changes: RunChanges) {
        self.exec(Command::Transition {
            run_id,
            to,
            reason: reason.to_string(),
            at: now_rfc3339(),
            changes,
        });
    }

    /// Ends a run that has no agents (queued, or orphaned by a controller restart).
    pub fn finish_without_agents(&self, run_id: u64, reason: &AbortReason) {
        let changes = RunChanges {
            exit_code: Some(reason.exit_code()),
            abort_reason: Some(reason.clone()),
            error_code: Some(reason.exit_code()),
            error_detail: Some(reason.message()),
            ..Default::default()
        };
        self.transition(run_id, reason.run_status(), &reason.message(), changes);
    }

    fn launch(self: &Arc<Self>, run: Run, plan: placement::Plan) {
        let agents: Vec<String> = plan.placements.iter().map(|p| p.agent.clone()).collect();
        self.registry.set_run(&agents, Some(run.id));
        let assignments: Vec<Assignment> = plan
            .placements
            .iter()
            .map(|p| Assignment {
                agent: p.agent.clone(),
                segment: p.segment.clone(),
                sequence: plan.sequence.clone(),
            })
            .collect();
        self.exec(Command::Assign {
            run_id: run.id,
            assignments: assignments.clone(),
        });
        self.transition(
            run.id,
            RunStatus::Initializing,
            &format!("placed on {}", agents.join(", ")),
            RunChanges::default(),
        );
        let (rx, live) = self.track(run.id, &agents);
        let me = self.clone();
        tokio::spawn(async move {
            let id = run.id;
            me.drive(run, assignments, rx, live.clone()).await;
            me.retire(id, live, &agents);
        });
    }

    /// Registers a run's task: its input channel and live data.
    fn track(
        &self,
        run_id: u64,
        agents: &[String],
    ) -> (mpsc::UnboundedReceiver<RunInput>, Arc<Mutex<LiveData>>) {
        self.track_with(run_id, agents, None)
    }

    fn track_with(
        &self,
        run_id: u64,
        agents: &[String],
        stream: Option<Arc<Mutex<StreamStatus>>>,
    ) -> (mpsc::UnboundedReceiver<RunInput>, Arc<Mutex<LiveData>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let live = Arc::new(Mutex::new(LiveData::default()));
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).insert(
            run_id,
            RunHandle {
                tx,
                live: live.clone(),
                agents: agents.to_vec(),
                stream,
            },
        );
        (rx, live)
    }

    /// A run's task ended: keep its live data for a while and free its agents.
    fn retire(&self, id: u64, live: Arc<Mutex<LiveData>>, agents: &[String]) {
        {
            live.lock().unwrap_or_else(|e| e.into_inner()).ended = Some(Instant::now());
            self.runs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            let mut f = self.finished.lock().unwrap_or_else(|e| e.into_inner());
            f.push_back((id, live));
            while f.len() > KEEP_FINISHED {
                f.pop_front();
            }
        }
        self.registry.set_run(agents, None);
        self.kick();
    }

    /// The checkpoint a RUNNING run can be resumed from, or why it cannot be.
    fn checkpoint_of(&self, run: &Run) -> Result<Checkpoint, String> {
        if run.run_status != RunStatus::Running {
            return Err("only running runs are resumed".into());
        }
        let bytes = self
            .db
            .get_checkpoint(run.id)
            .map_err(|e| e.to_string())?
            .ok_or("no checkpoint was written before the restart")?;
        let cp: Checkpoint =
            serde_json::from_slice(&bytes).map_err(|e| format!("unreadable checkpoint: {e}"))?;
        if cp.version != checkpoint::VERSION {
            return Err(format!(
                "checkpoint format {} is not {}",
                cp.version,
                checkpoint::VERSION
            ));
        }
        Ok(cp)
    }

    /// Resumes a RUNNING run after a controller restart: its agents re-attach (with the run
    /// id) and replay what was not acknowledged; agents that do not come back within
    /// `agent_lost_after` are lost as usual.
    fn resume(self: &Arc<Self>, run: Run, cp: Checkpoint) {
        let agents: Vec<String> = run.assignments.iter().map(|a| a.agent.clone()).collect();
        let stream = (run.run_process == STREAMED_RUN_PROCESS).then(|| {
            Arc::new(Mutex::new(StreamStatus {
                acked_seq: 0,
                stop: None,
                run_status: run.run_status,
            }))
        });
        let (rx, live) = self.track_with(run.id, &agents, stream.clone());
        let mut d = Drive::new(
            self.clone(),
            run.id,
            agents.clone(),
            live.clone(),
            &run.config,
        );
        d.stream = stream;
        if let Err(why) = d.restore(cp) {
            self.runs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&run.id);
            let reason = AbortReason::System {
                message: format!("the controller restarted and could not resume the run: {why}"),
            };
            self.finish_without_agents(run.id, &reason);
            return;
        }
        let waits_for = if d.stream.is_some() {
            format!(
                "waits up to {:.0} s (data_timeout) for the local run to send data again",
                self.config.data_timeout.as_secs_f64()
            )
        } else {
            format!(
                "waits up to {:.0} s (agent_lost_after) for its agents ({}) to re-attach",
                self.config.agent_lost_after.as_secs_f64(),
                agents.join(", ")
            )
        };
        d.event(
            "info",
            format!("the controller restarted; the run resumes from its last checkpoint and {waits_for}"),
        );
        let me = self.clone();
        tokio::spawn(async move {
            let id = run.id;
            if d.stream.is_some() {
                me.stream_to_end(&run, &mut d, rx).await;
            } else {
                me.run_to_end(&run, &mut d, rx).await;
            }
            me.retire(id, live, &agents);
        });
    }

    /// Starts a run streamed from a local `volley run --out cloud=URL` (already created, in
    /// CREATED): it is RUNNING at once; its data comes from `source` through
    /// [`Coordinator::stream_batch`] and it ends with [`Coordinator::stream_finish`], or
    /// TIMED_OUT when nothing arrives for `data_timeout`.
    pub fn start_streamed(self: &Arc<Self>, run: Run, source: String) {
        let agents = vec![source.clone()];
        self.exec(Command::Assign {
            run_id: run.id,
            assignments: vec![Assignment {
                agent: source.clone(),
                segment: "0:1".into(),
                sequence: String::new(),
            }],
        });
        let vus = planned_vus(&run.config);
        self.transition(
            run.id,
            RunStatus::Running,
            &format!("streamed from a local volley run on {source}"),
            RunChanges {
                vus: Some(vus),
                ..Default::default()
            },
        );
        let stream = Arc::new(Mutex::new(StreamStatus {
            acked_seq: 0,
            stop: None,
            run_status: RunStatus::Running,
        }));
        let (rx, live) = self.track_with(run.id, &agents, Some(stream.clone()));
        let mut d = Drive::new(
            self.clone(),
            run.id,
            agents.clone(),
            live.clone(),
            &run.config,
        );
        d.stream = Some(stream);
        d.setup_completed = true;
        d.started = Some(Instant::now());
        d.started_unix_ms = unix_ms(SystemTime::now());
        if let Some(a) = d.agents.get_mut(&source) {
            a.ready = true;
        }
        live.lock().unwrap_or_else(|e| e.into_inner()).started = d.started;
        let me = self.clone();
        tokio::spawn(async move {
            let id = run.id;
            me.stream_to_end(&run, &mut d, rx).await;
            me.retire(id, live, &agents);
        });
    }

    /// A streamed run until its client finishes it (or it times out).
    async fn stream_to_end(
        self: &Arc<Self>,
        run: &Run,
        d: &mut Drive,
        mut rx: mpsc::UnboundedReceiver<RunInput>,
    ) {
        d.checkpoint();
        d.finish_when_reported(run, &mut rx).await;
    }

    /// The stream status of a streamed run in progress (None: not in progress here).
    fn stream_of(
        &self,
        run_id: u64,
    ) -> Option<(
        mpsc::UnboundedSender<RunInput>,
        String,
        Arc<Mutex<StreamStatus>>,
    )> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let h = runs.get(&run_id)?;
        let stream = h.stream.clone()?;
        Some((
            h.tx.clone(),
            h.agents.first().cloned().unwrap_or_default(),
            stream,
        ))
    }

    /// What a streamed run's client is told about a run that is not in progress here.
    fn stream_ended(&self, run_id: u64) -> Option<StreamStatus> {
        let run = self
            .db
            .read(|s| s.run(run_id).cloned())
            .filter(|r| r.run_process == STREAMED_RUN_PROCESS)?;
        let stop = run.abort_reason.clone().or_else(|| {
            Some(AbortReason::System {
                message: format!(
                    "run {run_id} is {} on the controller",
                    run.run_status.name()
                ),
            })
        });
        Some(StreamStatus {
            acked_seq: 0,
            stop: run.run_status.is_terminal().then_some(stop).flatten(),
            run_status: run.run_status,
        })
    }

    /// One metric batch of a streamed run. Batches are merged once each (by sequence
    /// number); the answer says what is durable and whether the run was stopped here.
    pub fn stream_batch(&self, run_id: u64, batch: pb::MetricBatch) -> Option<StreamStatus> {
        let Some((tx, source, stream)) = self.stream_of(run_id) else {
            return self.stream_ended(run_id);
        };
        let _ = tx.send(RunInput::Metrics(source, batch));
        let status = stream.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(status)
    }

    /// The end of a streamed run: its last batch number and why it stopped.
    pub fn stream_finish(&self, run_id: u64, fin: StreamFinish) -> Option<StreamStatus> {
        let Some((tx, source, stream)) = self.stream_of(run_id) else {
            return self.stream_ended(run_id);
        };
        let event = pb::RunEvent {
            run_id,
            phase: pb::RunPhase::Done as i32,
            message: String::new(),
            abort: fin.abort_reason.as_ref().map(pb::AbortReason::from),
            vus: 0,
            iterations: fin.iterations,
            interrupted_iterations: 0,
            last_batch_seq: fin.last_batch_seq,
            marked_failed: fin.marked_failed.is_some(),
            failed_message: fin.marked_failed.unwrap_or_default(),
        };
        let _ = tx.send(RunInput::Event(source, event));
        let status = stream.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(status)
    }

    /// Routes an agent's message to the run it belongs to.
    pub fn on_agent_message(&self, agent: &str, body: pb::agent_message::Body) {
        use pb::agent_message::Body as B;
        let (run_id, input) = match body {
            B::Event(e) => (e.run_id, RunInput::Event(agent.into(), e)),
            B::Metrics(m) => (m.run_id, RunInput::Metrics(agent.into(), m)),
            B::SetupResult(s) => (s.run_id, RunInput::Setup(agent.into(), s)),
            B::Heartbeat(h) => {
                if h.run_id == 0 {
                    return;
                }
                (h.run_id, RunInput::Heartbeat(agent.into(), h))
            }
            B::Register(_) => return,
        };
        if let Some(h) = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&run_id)
        {
            let _ = h.tx.send(input);
        }
    }

    /// An agent reconnected while still running `run_id`: it stays assigned to that run.
    pub fn reattach(&self, agent: &str, id: u64) {
        let part_of = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .is_some_and(|h| h.agents.iter().any(|a| a == agent));
        if part_of {
            tracing::info!(run = id, "agent {agent} re-attached");
            self.registry.set_run(&[agent.to_string()], Some(id));
            if let Some(h) = self.runs.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
                let _ = h.tx.send(RunInput::Reattached(agent.to_string()));
            }
        } else {
            // Nobody is in charge of that run any more: the agent must not go on loading.
            tracing::warn!(
                run = id,
                "agent {agent} is still running a run that is not active here; stopping it"
            );
            let reason = AbortReason::System {
                message: format!("run {id} is no longer active on the controller"),
            };
            self.send(
                agent,
                pb::controller_message::Body::Stop(pb::Stop {
                    run_id: id,
                    reason: Some(reason.into()),
                    immediate: true,
                }),
            );
        }
    }

    /// An agent's stream ended.
    pub fn on_agent_gone(&self, agent: &str, run: Option<u64>) {
        if let Some(id) = run {
            if let Some(h) = self.runs.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
                let _ = h.tx.send(RunInput::AgentGone(agent.into()));
            }
        }
        self.kick();
    }

    /// Stops a run: queued runs end at once; running ones stop gracefully on every agent.
    pub fn stop(&self, run_id: u64, reason: AbortReason) -> bool {
        if let Some(h) = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&run_id)
        {
            return h.tx.send(RunInput::Stop(reason)).is_ok();
        }
        let status = self.db.read(|s| s.run(run_id).map(|r| r.run_status));
        match status {
            Some(s) if !s.is_terminal() => {
                self.finish_without_agents(run_id, &reason);
                true
            }
            _ => false,
        }
    }

    /// The live merged metrics of a run in progress or recently finished.
    pub fn live(&self, run_id: u64) -> Option<Arc<Mutex<LiveData>>> {
        if let Some(h) = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&run_id)
        {
            return Some(h.live.clone());
        }
        self.finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(id, _)| *id == run_id)
            .map(|(_, l)| l.clone())
    }

    pub fn run_agents(&self, run_id: u64) -> Option<Vec<String>> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&run_id)
            .map(|h| h.agents.clone())
    }

    fn send(&self, agent: &str, body: pb::controller_message::Body) {
        if !self.registry.send(agent, controller_msg(body)) {
            tracing::warn!("cannot reach agent {agent}");
        }
    }

    /// The lifecycle of one run across its agents.
    async fn drive(
        self: &Arc<Self>,
        run: Run,
        assignments: Vec<Assignment>,
        mut rx: mpsc::UnboundedReceiver<RunInput>,
        live: Arc<Mutex<LiveData>>,
    ) {
        let run_id = run.id;
        let agents: Vec<String> = assignments.iter().map(|a| a.agent.clone()).collect();
        let mut d = Drive::new(
            self.clone(),
            run_id,
            agents.clone(),
            live.clone(),
            &run.config,
        );
        let archive = self.db.get_archive(run.test_id).ok().flatten();
        let Some(archive) = archive else {
            d.abort(AbortReason::System {
                message: format!("the archive of test {} is missing", run.test_id),
            });
            d.finish(&run).await;
            return;
        };
        let options_json = run.config.to_string();
        let env: HashMap<String, String> = run.env.clone().into_iter().collect();
        for a in &assignments {
            self.send(
                &a.agent,
                pb::controller_message::Body::Assign(pb::Assign {
                    run_id,
                    archive: archive.clone(),
                    segment: a.segment.clone(),
                    sequence: a.sequence.clone(),
                    options_json: options_json.clone(),
                    env: env.clone(),
                    metrics_interval_ms: self.config.metrics_interval.as_millis() as u32,
                }),
            );
        }
        // 1. Every agent initializes its VUs.
        d.wait_until(&mut rx, |d| d.all(|a| a.ready)).await;
        // 2. setup() once, on the first agent; its data goes to every agent.
        if !d.aborted() {
            let setup_agent = d.first_alive().unwrap_or_else(|| agents[0].clone());
            d.setup_agent = Some(setup_agent.clone());
            self.send(
                &setup_agent,
                pb::controller_message::Body::RunSetup(pb::RunSetup { run_id }),
            );
            d.wait_until(&mut rx, |d| d.setup_result.is_some()).await;
        }
        if !d.aborted() {
            let data = d.setup_result.clone().flatten().unwrap_or_default();
            for a in &agents {
                self.send(
                    a,
                    pb::controller_message::Body::SetupData(pb::SetupData {
                        run_id,
                        data_json: data.clone(),
                    }),
                );
            }
            d.setup_completed = true;
            // 3. The start barrier.
            let at = SystemTime::now() + self.config.start_delay;
            for a in &agents {
                self.send(
                    a,
                    pb::controller_message::Body::Start(pb::Start {
                        run_id,
                        at_unix_ms: unix_ms(at),
                    }),
                );
            }
            let vus: u64 = d.agents.values().map(|a| a.vus).sum();
            self.transition(
                run_id,
                RunStatus::Running,
                "start barrier released",
                RunChanges {
                    vus: Some(vus),
                    ..Default::default()
                },
            );
            live.lock().unwrap_or_else(|e| e.into_inner()).started = Some(Instant::now());
            d.started = Some(Instant::now());
            d.started_unix_ms = unix_ms(SystemTime::now());
            self.run_to_end(&run, &mut d, rx).await;
            return;
        } else {
            // Setup never completed: no teardown anywhere; stop agents right away.
            for a in &agents {
                self.send(
                    a,
                    pb::controller_message::Body::Stop(pb::Stop {
                        run_id,
                        reason: d.reason.as_ref().map(pb::AbortReason::from),
                        immediate: true,
                    }),
                );
            }
        }
        // 5. Every agent reports DONE with all its metric batches.
        d.finish_when_reported(&run, &mut rx).await;
    }

    /// A started run (or one resumed after a restart), from running to its end: executors
    /// run; then teardown once, on one agent; then every agent reports DONE with all its metric
    /// batches, and the run is finished.
    async fn run_to_end(
        self: &Arc<Self>,
        run: &Run,
        d: &mut Drive,
        mut rx: mpsc::UnboundedReceiver<RunInput>,
    ) {
        d.checkpoint();
        d.wait_until(&mut rx, |d| d.all(|a| a.execution_done || a.done))
            .await;
        // Exactly one (live) agent runs teardown() — the same one after a restart.
        if d.teardown_agent.is_none() {
            d.teardown_agent = d.first_alive();
            d.checkpoint();
        }
        for a in &d.order {
            self.send(
                a,
                pb::controller_message::Body::Teardown(pb::Teardown {
                    run_id: run.id,
                    run_teardown: Some(a) == d.teardown_agent.as_ref(),
                }),
            );
        }
        d.finish_when_reported(run, &mut rx).await;
    }
}

/// The planned maximum VUs of a run, for capacity checks.
fn planned_vus(config: &serde_json::Value) -> u64 {
    Options::from_script_json(config)
        .ok()
        .and_then(|o| o.resolve().ok())
        .map(|r| r.scenarios.iter().map(|s| s.max_vus()).sum())
        .unwrap_or(0)
}

struct AgentState {
    last_seen: Instant,
    overloaded_since: Option<Instant>,
    warned: bool,
    ready: bool,
    vus: u64,
    execution_done: bool,
    done: bool,
    gone: bool,
    last_seq: u64,
    final_seq: Option<u64>,
    marked_failed: Option<String>,
    iterations: u64,
    /// Merged but not yet acknowledged (acks wait for a durable checkpoint).
    unacked_seq: Option<u64>,
    /// Resumed after a controller restart and not heard from since.
    awaiting_reattach: bool,
}

impl Default for AgentState {
    fn default() -> Self {
        AgentState {
            last_seen: Instant::now(),
            overloaded_since: None,
            warned: false,
            ready: false,
            vus: 0,
            execution_done: false,
            done: false,
            gone: false,
            last_seq: 0,
            final_seq: None,
            marked_failed: None,
            iterations: 0,
            unacked_seq: None,
            awaiting_reattach: false,
        }
    }
}

impl AgentState {
    fn batches_complete(&self) -> bool {
        self.gone || self.final_seq.is_none_or(|f| self.last_seq >= f)
    }
}

/// The state of one run while it is driven.
struct Drive {
    co: Arc<Coordinator>,
    run_id: u64,
    agents: BTreeMap<String, AgentState>,
    order: Vec<String>,
    live: Arc<Mutex<LiveData>>,
    reason: Option<AbortReason>,
    setup_result: Option<Option<String>>,
    setup_completed: bool,
    /// The agent asked to run setup().
    setup_agent: Option<String>,
    thresholds: ThresholdSet,
    started: Option<Instant>,
    last_threshold_check: Instant,
    trend_stats: Vec<String>,
    time_unit: Option<String>,
    /// Metric types from the archive's thresholds (for thresholds on metrics without data).
    types: HashMap<String, MetricInfo>,
    /// `vus` and `vus_max` per agent: these gauges are summed across agents (each agent runs
    /// part of the VUs), not merged as "latest value wins".
    agent_gauges: BTreeMap<String, BTreeMap<String, Sink>>,
    /// When the start barrier was released (wall clock), for checkpoints.
    started_unix_ms: u64,
    /// The agent told to run teardown().
    teardown_agent: Option<String>,
    /// Batches were merged since the last checkpoint.
    dirty: bool,
    last_checkpoint: Instant,
    /// How long the last checkpoint took: a run with a huge merged state is checkpointed less
    /// often, so checkpoints never take more than ~5 % of the coordinator's time.
    checkpoint_cost: Duration,
    /// A run streamed from a local `volley run --out cloud`: one source, no agents to command.
    stream: Option<Arc<Mutex<StreamStatus>>>,
    /// The abort reason came from the streamed run's own client (it stopped locally).
    local_abort: bool,
}

/// Gauges that count something split across agents, so the cluster value is the sum.
const SUMMED_GAUGES: &[&str] = &["vus", "vus_max"];

impl Drive {
    fn new(
        co: Arc<Coordinator>,
        run_id: u64,
        order: Vec<String>,
        live: Arc<Mutex<LiveData>>,
        config: &serde_json::Value,
    ) -> Self {
        let resolved = Options::from_script_json(config)
            .ok()
            .and_then(|o| o.resolve().ok());
        let thresholds = config
            .get("thresholds")
            .and_then(|t| parse_thresholds(t).ok())
            .unwrap_or_default();
        Drive {
            co,
            run_id,
            agents: order
                .iter()
                .map(|a| (a.clone(), AgentState::default()))
                .collect(),
            order,
            live,
            reason: None,
            setup_result: None,
            setup_completed: false,
            setup_agent: None,
            thresholds,
            started: None,
            last_threshold_check: Instant::now(),
            trend_stats: resolved
                .as_ref()
                .map(|r| r.summary_trend_stats.clone())
                .unwrap_or_else(|| {
                    volley_common::summary::DEFAULT_TREND_STATS
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                }),
            time_unit: resolved.and_then(|r| r.summary_time_unit),
            types: builtin_types(),
            agent_gauges: BTreeMap::new(),
            started_unix_ms: 0,
            teardown_agent: None,
            dirty: false,
            last_checkpoint: Instant::now(),
            checkpoint_cost: Duration::ZERO,
            stream: None,
            local_abort: false,
        }
    }

    /// Restores a run from its checkpoint (after a controller restart). Its agents have not
    /// re-attached yet: they get `agent_lost_after` from now.
    fn restore(&mut self, cp: Checkpoint) -> Result<(), String> {
        let series = checkpoint::series_to_store(&cp.series)?;
        let now_ms = unix_ms(SystemTime::now());
        let ran_for = Duration::from_millis(now_ms.saturating_sub(cp.started_unix_ms));
        let started = Instant::now()
            .checked_sub(ran_for)
            .unwrap_or_else(Instant::now);
        {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.series = series;
            live.started = Some(started);
        }
        self.started = Some(started);
        self.started_unix_ms = cp.started_unix_ms;
        self.setup_completed = cp.setup_completed;
        self.setup_result = Some(cp.setup_data);
        self.teardown_agent = cp.teardown_agent;
        self.reason = cp.reason;
        self.agent_gauges = cp.agent_gauges;
        for (name, a) in self.agents.iter_mut() {
            let p = cp.agents.get(name).cloned().unwrap_or_default();
            a.ready = true;
            a.last_seq = p.last_seq;
            a.vus = p.vus;
            a.execution_done = p.execution_done;
            a.done = p.done;
            a.gone = p.gone;
            a.final_seq = p.final_seq;
            a.marked_failed = p.marked_failed;
            a.iterations = p.iterations;
            a.awaiting_reattach = !p.done && !p.gone;
        }
        Ok(())
    }

    /// Records an event on the run (shown by the API and by a CLI following the run).
    fn event(&self, level: &str, message: String) {
        tracing::info!(run = self.run_id, level, "{message}");
        self.co.exec(Command::UpdateRun {
            run_id: self.run_id,
            changes: RunChanges {
                event: Some(RunEvent {
                    at: now_rfc3339(),
                    level: level.into(),
                    message,
                }),
                ..Default::default()
            },
        });
    }

    /// Writes the run's checkpoint, then acknowledges the batches it holds.
    fn checkpoint(&mut self) {
        let began = Instant::now();
        let cp = Checkpoint {
            version: checkpoint::VERSION,
            started_unix_ms: self.started_unix_ms,
            setup_completed: self.setup_completed,
            setup_data: self.setup_result.clone().flatten(),
            teardown_agent: self.teardown_agent.clone(),
            reason: self.reason.clone(),
            agents: self
                .agents
                .iter()
                .map(|(name, a)| {
                    (
                        name.clone(),
                        AgentProgress {
                            last_seq: a.last_seq,
                            vus: a.vus,
                            execution_done: a.execution_done,
                            done: a.done,
                            gone: a.gone,
                            final_seq: a.final_seq,
                            marked_failed: a.marked_failed.clone(),
                            iterations: a.iterations,
                        },
                    )
                })
                .collect(),
            series: checkpoint::store_to_series(
                &self.live.lock().unwrap_or_else(|e| e.into_inner()).series,
            ),
            agent_gauges: self.agent_gauges.clone(),
        };
        self.dirty = false;
        let written = serde_json::to_vec(&cp)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                self.co
                    .db
                    .put_checkpoint(self.run_id, &b)
                    .map_err(|e| e.to_string())
            });
        self.last_checkpoint = Instant::now();
        self.checkpoint_cost = began.elapsed();
        if let Err(e) = written {
            // Not acknowledged: the agents keep the batches and replay them if needed.
            tracing::error!(run = self.run_id, "cannot write the run's checkpoint: {e}");
            return;
        }
        self.send_acks();
    }

    /// Acknowledges every merged batch (cumulatively, per agent).
    fn send_acks(&mut self) {
        if let Some(stream) = &self.stream {
            let mut st = stream.lock().unwrap_or_else(|e| e.into_inner());
            for a in self.agents.values_mut() {
                if let Some(seq) = a.unacked_seq.take() {
                    st.acked_seq = st.acked_seq.max(seq);
                }
            }
            return;
        }
        for (name, a) in self.agents.iter_mut() {
            if let Some(seq) = a.unacked_seq.take() {
                self.co.send(
                    name,
                    pb::controller_message::Body::Ack(pb::Ack {
                        run_id: self.run_id,
                        batch_seq: seq,
                    }),
                );
            }
        }
    }

    /// The merged series plus the summed `vus`/`vus_max` gauges.
    fn merged_series(&self) -> SeriesStore {
        let mut series = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .series
            .clone();
        for (metric, per_agent) in &self.agent_gauges {
            let mut sum = volley_common::metrics::GaugeSink::default();
            for sink in per_agent.values() {
                if let Sink::Gauge(g) = sink {
                    if !g.set {
                        continue;
                    }
                    sum.value += g.value;
                    sum.min += g.min;
                    sum.max += g.max;
                    sum.time_ns = sum.time_ns.max(g.time_ns);
                    sum.set = true;
                }
            }
            if sum.set {
                let info = MetricInfo {
                    mtype: MetricType::Gauge,
                    contains: ValueType::Default,
                };
                let _ = series.merge(metric, info, &TagSet::new(), &Sink::Gauge(sum));
            }
        }
        series
    }

    /// The first agent (in placement order) that is still there.
    fn first_alive(&self) -> Option<String> {
        self.order
            .iter()
            .find(|a| self.agents.get(*a).is_some_and(|s| !s.gone))
            .cloned()
    }

    fn all(&self, f: impl Fn(&AgentState) -> bool) -> bool {
        self.agents.values().all(|a| a.gone || f(a))
    }

    fn aborted(&self) -> bool {
        self.reason.is_some()
    }

    /// Records the first abort reason and stops every agent that is still going.
    fn abort(&mut self, reason: AbortReason) {
        if self.reason.is_some() {
            tracing::debug!(?reason, "run already aborted; keeping the first reason");
            return;
        }
        tracing::info!(run = self.run_id, "aborting: {}", reason.message());
        if let Some(stream) = &self.stream {
            // The client learns it with its next request and stops its local run.
            stream.lock().unwrap_or_else(|e| e.into_inner()).stop = Some(reason.clone());
            self.reason = Some(reason);
            return;
        }
        let wire = pb::AbortReason::from(&reason);
        self.reason = Some(reason);
        for (name, a) in &self.agents {
            if !a.done && !a.gone {
                self.co.send(
                    name,
                    pb::controller_message::Body::Stop(pb::Stop {
                        run_id: self.run_id,
                        reason: Some(wire.clone()),
                        immediate: !self.setup_completed,
                    }),
                );
            }
        }
    }

    /// Handles inputs until `cond` holds (or every agent is gone).
    async fn wait_until(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<RunInput>,
        cond: impl Fn(&Drive) -> bool,
    ) {
        let interval = self.co.config.threshold_interval;
        let tick = Duration::from_millis(250);
        loop {
            self.check_agents();
            self.check_limits();
            if cond(self) || self.agents.values().all(|a| a.gone || a.done) && self.aborted() {
                return;
            }
            if self.agents.values().all(|a| a.gone) {
                return;
            }
            let input = tokio::select! {
                i = rx.recv() => i,
                _ = tokio::time::sleep(tick) => None,
            };
            if let Some(i) = input {
                self.handle(i);
            }
            if self.started.is_some() && self.last_threshold_check.elapsed() >= interval {
                self.last_threshold_check = Instant::now();
                self.check_abort_thresholds();
            }
            let every = self
                .co
                .config
                .checkpoint_interval
                .max(self.checkpoint_cost * 20);
            if self.started.is_some() && self.dirty && self.last_checkpoint.elapsed() >= every {
                self.checkpoint();
            }
        }
    }

    fn handle(&mut self, input: RunInput) {
        let from = match &input {
            RunInput::Event(a, _)
            | RunInput::Metrics(a, _)
            | RunInput::Setup(a, _)
            | RunInput::Heartbeat(a, _) => Some(a.clone()),
            _ => None,
        };
        if let Some(a) = from.and_then(|a| self.agents.get_mut(&a)) {
            a.last_seen = Instant::now();
            a.awaiting_reattach = false;
        }
        match input {
            RunInput::Event(agent, e) => {
                let phase = pb::RunPhase::try_from(e.phase).unwrap_or(pb::RunPhase::Unspecified);
                if let Some(wire) = e.abort.clone() {
                    let reason = AbortReason::try_from(wire).unwrap_or(AbortReason::System {
                        message: format!("agent {agent}: {}", e.message),
                    });
                    if self.stream.is_some() && self.reason.is_none() {
                        self.local_abort = true;
                    }
                    self.abort(reason);
                }
                let Some(a) = self.agents.get_mut(&agent) else {
                    return;
                };
                match phase {
                    pb::RunPhase::Ready => {
                        a.ready = true;
                        a.vus = e.vus;
                    }
                    pb::RunPhase::ExecutionDone => a.execution_done = true,
                    pb::RunPhase::Done => {
                        a.done = true;
                        a.final_seq = Some(e.last_batch_seq);
                        a.iterations = e.iterations;
                        if e.marked_failed {
                            a.marked_failed = Some(e.failed_message.clone());
                        }
                        // An agent whose engine ended before the start barrier, with no abort
                        // of its own, can never become ready: end the run instead of waiting.
                        if self.started.is_none() && self.reason.is_none() {
                            let why = if e.message.is_empty() {
                                "its engine ended before the run started".to_string()
                            } else {
                                e.message.clone()
                            };
                            self.abort(AbortReason::System {
                                message: format!(
                                    "agent {agent} ended its part of the run during VU init: {why}"
                                ),
                            });
                        }
                    }
                    pb::RunPhase::Failed => {}
                    _ => {}
                }
            }
            RunInput::Metrics(agent, batch) => {
                let seq = batch.seq;
                let Some(a) = self.agents.get_mut(&agent) else {
                    return;
                };
                // Exactly once: a replayed or duplicated batch is acknowledged, not merged.
                if seq > a.last_seq {
                    a.last_seq = seq;
                    let step = self.co.config.metrics_interval.as_millis().max(1) as u64;
                    let bucket = batch.end_unix_ms.div_ceil(step) * step;
                    let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
                    {
                        let point = live.timeline.entry(bucket).or_default();
                        for s in batch
                            .series
                            .iter()
                            .filter(|s| TIMELINE_METRICS.contains(&s.metric.as_str()))
                        {
                            merge_series(point, s);
                        }
                    }
                    while live.timeline.len() > MAX_INTERVALS {
                        live.timeline.pop_first();
                    }
                    for s in &batch.series {
                        if SUMMED_GAUGES.contains(&s.metric.as_str()) {
                            if let Ok(sink) = serde_json::from_slice::<Sink>(&s.sink_json) {
                                let slot = self
                                    .agent_gauges
                                    .entry(s.metric.clone())
                                    .or_default()
                                    .entry(agent.clone())
                                    .or_insert_with(|| Sink::new(MetricType::Gauge));
                                let _ = slot.merge(&sink);
                            }
                            continue;
                        }
                        merge_series(&mut live.series, s);
                    }
                }
                // Acknowledged once a checkpoint holds it (replays of merged batches at once).
                if let Some(a) = self.agents.get_mut(&agent) {
                    if self.started.is_some() {
                        a.unacked_seq = Some(a.last_seq);
                        self.dirty = true;
                    } else {
                        self.co.send(
                            &agent,
                            pb::controller_message::Body::Ack(pb::Ack {
                                run_id: batch.run_id,
                                batch_seq: a.last_seq,
                            }),
                        );
                    }
                }
            }
            RunInput::Setup(agent, s) => {
                if s.ok {
                    self.setup_result = Some((!s.data_json.is_empty()).then_some(s.data_json));
                } else {
                    let reason = s
                        .abort
                        .and_then(|w| AbortReason::try_from(w).ok())
                        .unwrap_or(AbortReason::System {
                            message: format!("setup() failed on agent {agent}"),
                        });
                    self.abort(reason);
                }
            }
            RunInput::Heartbeat(agent, h) => {
                self.check_overload(&agent, &h);
                let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
                let mem = crate::registry::memory_percent(&h);
                let segment = self.segment_of(&agent);
                let entry = live
                    .utilization
                    .entry(agent)
                    .or_insert_with(|| (segment, Vec::new()));
                if entry.1.len() < 100_000 {
                    entry.1.push(UtilizationSample {
                        at: now_rfc3339(),
                        cpu_percent: h.cpu_percent,
                        memory_percent: mem,
                        process_rss_bytes: h.process_rss_bytes,
                        active_vus: h.active_vus,
                        requests_per_second: h.requests_per_second,
                        iterations_per_second: h.iterations_per_second,
                    });
                }
            }
            RunInput::Reattached(agent) => {
                self.event("info", format!("agent {agent} re-attached to the run"));
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.awaiting_reattach = false;
                    a.last_seen = Instant::now();
                    // Batches already merged are acknowledged again, so the agent drops them.
                    if a.last_seq > 0 {
                        a.unacked_seq = Some(a.last_seq);
                        self.dirty = true;
                    }
                }
                // The run was stopping when the controller went away: tell the agent again.
                if let Some(reason) = &self.reason {
                    let a = &self.agents[&agent];
                    if !a.done && !a.gone {
                        self.co.send(
                            &agent,
                            pb::controller_message::Body::Stop(pb::Stop {
                                run_id: self.run_id,
                                reason: Some(reason.into()),
                                immediate: !self.setup_completed,
                            }),
                        );
                    }
                }
            }
            RunInput::AgentGone(agent) => {
                // The agent may come back within agent_lost_after; check_agents decides.
                if self.agents.get(&agent).is_some_and(|a| !a.done && !a.gone) {
                    let msg = format!(
                        "agent {agent} disconnected; the run waits up to {:.0} s (agent_lost_after) for it to come back",
                        self.co.config.agent_lost_after.as_secs_f64()
                    );
                    self.event("warning", msg);
                }
            }
            RunInput::Stop(reason) => self.abort(reason),
        }
    }

    /// The execution segment an agent runs in this run.
    fn segment_of(&self, agent: &str) -> String {
        self.co
            .db
            .read(|s| {
                s.run(self.run_id).and_then(|r| {
                    r.assignments
                        .iter()
                        .find(|a| a.agent == agent)
                        .map(|a| a.segment.clone())
                })
            })
            .unwrap_or_default()
    }

    /// Agents silent for `agent_lost_after` are lost: the run aborts (AGENT_LOST) or, with
    /// `on_agent_lost: continue`, goes on without them, marked degraded.
    fn check_agents(&mut self) {
        let cfg = self.co.config.clone();
        // Every generator of the run silent (connections may still be open): the run times out.
        let waiting: Vec<&AgentState> = self
            .agents
            .values()
            .filter(|a| !a.done && !a.gone)
            .collect();
        if !self.aborted()
            && !waiting.is_empty()
            && waiting
                .iter()
                .all(|a| a.last_seen.elapsed() >= cfg.data_timeout)
        {
            self.abort(AbortReason::TimedOut {
                message: format!(
                    "TIMED_OUT: no data or heartbeat from the run's agents for {} s (data_timeout)",
                    cfg.data_timeout.as_secs_f64()
                ),
            });
            // Nobody is answering: do not wait for them to finish; end the run with what arrived.
            for a in self.agents.values_mut() {
                if !a.done {
                    a.gone = true;
                }
            }
            return;
        }
        if self.stream.is_some() {
            // A streamed run has no agents to lose: only data_timeout applies.
            return;
        }
        let mut lost = Vec::new();
        for (name, a) in &self.agents {
            if !a.done && !a.gone && a.last_seen.elapsed() >= cfg.agent_lost_after {
                lost.push(name.clone());
            }
        }
        for name in lost {
            let silent = self.agents[&name].last_seen.elapsed().as_secs_f64();
            if let Some(a) = self.agents.get_mut(&name) {
                a.gone = true;
            }
            let segment = self.segment_of(&name);
            let what = if self.agents[&name].awaiting_reattach {
                format!("AGENT_LOST: agent {name} (segment {segment}) did not re-attach within {} s (agent_lost_after) after the controller restarted", cfg.agent_lost_after.as_secs_f64())
            } else {
                format!("AGENT_LOST: agent {name} (segment {segment}) was silent for {silent:.1} s (agent_lost_after {} s)", cfg.agent_lost_after.as_secs_f64())
            };
            match cfg.on_agent_lost {
                OnAgentLost::Abort => self.abort(AbortReason::System { message: what }),
                OnAgentLost::Continue => {
                    self.event(
                        "warning",
                        format!("{what}; the run continues without it (on_agent_lost: continue)"),
                    );
                    self.co.exec(Command::UpdateRun {
                        run_id: self.run_id,
                        changes: RunChanges {
                            degraded: Some(true),
                            note: Some(format!("degraded: {what}; its segment's load and data are missing from this run")),
                            ..Default::default()
                        },
                    });
                    if self.agents.values().all(|a| a.gone) {
                        self.abort(AbortReason::System {
                            message: format!("{what}; no agent is left"),
                        });
                    } else if self.setup_result.is_none()
                        && self.setup_agent.as_deref() == Some(name.as_str())
                    {
                        // setup() was running there: its data will never come.
                        self.abort(AbortReason::System {
                            message: format!("{what} while it ran setup()"),
                        });
                    }
                }
            }
        }
    }

    /// CPU or memory at or above the overload level on one agent, sustained for
    /// `overload_after`, aborts the run (judged per agent, never averaged).
    fn check_overload(&mut self, agent: &str, h: &pb::Heartbeat) {
        let cfg = self.co.config.clone();
        let mem = crate::registry::memory_percent(h);
        let over = h.cpu_percent >= cfg.overload_cpu_percent || mem >= cfg.overload_memory_percent;
        let warn = h.cpu_percent >= cfg.warn_percent || mem >= cfg.warn_percent;
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if warn && !a.warned {
            a.warned = true;
            let msg = format!(
                "agent {agent} is busy: CPU {:.0} %, memory {:.0} % (warning at {:.0} %; the run aborts at {:.0} % CPU or {:.0} % memory sustained for {:.0} s)",
                h.cpu_percent,
                mem,
                cfg.warn_percent,
                cfg.overload_cpu_percent,
                cfg.overload_memory_percent,
                cfg.overload_after.as_secs_f64()
            );
            self.event("warning", msg);
        }
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if !over {
            a.overloaded_since = None;
            return;
        }
        let first = a.overloaded_since.is_none();
        let since = *a.overloaded_since.get_or_insert_with(Instant::now);
        let done = a.done;
        if first && !done {
            let msg = format!(
                "agent {agent} is overloaded: CPU {:.0} %, memory {:.0} %; the run aborts if this lasts {:.0} s",
                h.cpu_percent,
                mem,
                cfg.overload_after.as_secs_f64()
            );
            self.event("warning", msg);
        }
        if since.elapsed() >= cfg.overload_after && !done {
            let msg = format!(
                "AGENT_OVERLOADED: agent {agent} at CPU {:.0} %, memory {:.0} % for {:.0} s; results would measure the load generator, not the system under test. Add agents, add sleep() to the script, or set discardResponseBodies: true",
                h.cpu_percent,
                mem,
                since.elapsed().as_secs_f64()
            );
            self.abort(AbortReason::System { message: msg });
        }
    }

    /// Limits checked on the merged data: groups, metric series and the run's duration.
    fn check_limits(&mut self) {
        if self.aborted() {
            return;
        }
        let limits = self.co.config.limits.clone();
        let (groups, series) = {
            let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            (live.series.group_count(), live.series.series_count())
        };
        if groups > limits.max_groups {
            self.abort(AbortReason::Limit {
                limit: "max_groups".into(),
                message: format!(
                    "the run has {groups} groups; at most {} are allowed",
                    limits.max_groups
                ),
            });
        } else if series > limits.max_series {
            self.abort(AbortReason::Limit {
                limit: "max_series".into(),
                message: format!(
                    "the run has {series} metric series (metric × tag set); at most {} are allowed — avoid per-request unique tag values such as full URLs with ids (use the `name` tag)",
                    limits.max_series
                ),
            });
        } else if self
            .started
            .is_some_and(|s| s.elapsed() > limits.max_duration)
        {
            self.abort(AbortReason::Limit {
                limit: "max_duration".into(),
                message: format!(
                    "the run went on longer than {} s",
                    limits.max_duration.as_secs()
                ),
            });
        }
    }

    fn check_abort_thresholds(&mut self) {
        // A streamed run's own engine evaluates its thresholds (on the same data).
        if self.aborted()
            || self.stream.is_some()
            || !self
                .thresholds
                .iter()
                .any(|(_, l)| l.iter().any(|t| t.abort_on_fail))
        {
            return;
        }
        let elapsed = self.started.map(|s| s.elapsed()).unwrap_or_default();
        let failed = {
            let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            build::failed_abort_thresholds(&self.thresholds, &live.series, elapsed)
        };
        if !failed.is_empty() {
            self.abort(AbortReason::Threshold { metrics: failed });
        }
    }

    /// Waits until every agent has reported DONE with all its metric batches, then finishes.
    async fn finish_when_reported(
        &mut self,
        run: &Run,
        rx: &mut mpsc::UnboundedReceiver<RunInput>,
    ) {
        self.wait_until(rx, |d| d.all(|a| a.done && a.batches_complete()))
            .await;
        self.finish(run).await;
    }

    /// Final thresholds, the merged summary, the exit code and the final status.
    async fn finish(&mut self, run: &Run) {
        let co = self.co.clone();
        let elapsed = self.started.map(|s| s.elapsed()).unwrap_or_default();
        let series = self.merged_series();
        let types = self.types.clone();
        let type_of = move |name: &str| types.get(name).copied();
        let results =
            build::evaluate_thresholds(&self.thresholds, &series, elapsed.as_secs_f64(), &type_of);
        let failed = build::failed_keys(&results);
        let marked_failed = self.agents.values().find_map(|a| a.marked_failed.clone());
        let (exit_code, status, outcome, message, context) = match &self.reason {
            Some(r) => {
                let (m, c) = match r {
                    AbortReason::ScriptAbort {
                        message, context, ..
                    } => (message.clone(), context.clone()),
                    other => (Some(other.message()), None),
                };
                // A streamed run stopped on purpose where it runs (Ctrl+C) ran as far as the
                // user wanted: FINISHED here (k6 cloud's rule), the local exit code stays 105.
                let status = match r {
                    AbortReason::Signal { .. } | AbortReason::ApiStop
                        if self.stream.is_some() && self.local_abort =>
                    {
                        RunStatus::Finished
                    }
                    _ => r.run_status(),
                };
                (r.exit_code(), status, "aborted", m, c)
            }
            None if marked_failed.is_some() => (
                code::MARKED_AS_FAILED,
                RunStatus::Finished,
                "failed",
                Some("test run was marked as failed".to_string()),
                None,
            ),
            None if !failed.is_empty() => (
                code::THRESHOLDS_FAILED,
                RunStatus::Finished,
                "failed",
                Some(format!(
                    "thresholds on metrics '{}' have been crossed",
                    failed.join(", ")
                )),
                None,
            ),
            None => (code::OK, RunStatus::Finished, "passed", None, None),
        };
        let setup_data = self
            .setup_result
            .clone()
            .flatten()
            .and_then(|s| serde_json::from_str(&s).ok());
        let report = build::build_report(build::ReportInput {
            store: &series,
            results: &results,
            options: SummaryOptions {
                trend_stats: self.trend_stats.clone(),
                time_unit: self.time_unit.clone(),
                ..SummaryOptions::default()
            },
            state: SummaryState {
                is_stdout_tty: false,
                is_stderr_tty: false,
                test_run_duration_ms: elapsed.as_secs_f64() * 1000.0,
            },
            result: RunResult {
                outcome: outcome.to_string(),
                exit_code,
                message: message.clone(),
                context,
            },
            setup_data,
            types: &type_of,
        });
        // A degraded run says so in its summary data.
        let mut report = report;
        if let Some(note) = co
            .db
            .read(|s| s.run(run.id).filter(|r| r.degraded).map(|r| r.note.clone()))
        {
            report.result.message = Some(match report.result.message.take() {
                Some(m) => format!("{m}; {note}"),
                None => note,
            });
        }
        co.exec(Command::SetSummary {
            run_id: run.id,
            summary: serde_json::to_value(&report).unwrap_or_default(),
        });
        let result = if failed.is_empty() && marked_failed.is_none() {
            ResultStatus::Passed
        } else {
            ResultStatus::Failed
        };
        let changes = RunChanges {
            result_status: Some(result),
            exit_code: Some(exit_code),
            abort_reason: self.reason.clone(),
            error_code: self.reason.as_ref().map(|r| r.exit_code()),
            error_detail: self.reason.as_ref().map(|r| r.message()),
            stopped_by_id: None,
            ..Default::default()
        };
        let why = message.unwrap_or_else(|| "ran its course".into());
        co.transition(run.id, status, &why, changes);
        self.send_acks();
        if let Some(stream) = &self.stream {
            stream.lock().unwrap_or_else(|e| e.into_inner()).run_status = status;
        }
        if let Err(e) = co.db.delete_checkpoint(run.id) {
            tracing::warn!(run = run.id, "cannot delete the run's checkpoint: {e}");
        }
    }
}

/// The types of k6's built-in metrics, for thresholds on metrics that got no data.
fn builtin_types() -> HashMap<String, MetricInfo> {
    use MetricType::*;
    let t = |m: MetricType, c: ValueType| MetricInfo {
        mtype: m,
        contains: c,
    };
    [
        ("http_reqs", t(Counter, ValueType::Default)),
        ("http_req_failed", t(Rate, ValueType::Default)),
        ("iterations", t(Counter, ValueType::Default)),
        ("checks", t(Rate, ValueType::Default)),
        ("data_sent", t(Counter, ValueType::Data)),
        ("data_received", t(Counter, ValueType::Data)),
        ("dropped_iterations", t(Counter, ValueType::Default)),
        ("vus", t(Gauge, ValueType::Default)),
        ("vus_max", t(Gauge, ValueType::Default)),
        ("http_req_duration", t(Trend, ValueType::Time)),
        ("iteration_duration", t(Trend, ValueType::Time)),
        ("group_duration", t(Trend, ValueType::Time)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Merges one series of a batch into the run's store. Malformed series are dropped (logged):
/// a bad agent cannot corrupt the run's data or crash the controller.
fn merge_series(store: &mut SeriesStore, s: &pb::Series) {
    let (Ok(mtype), Ok(contains)) = (
        s.metric_type.parse::<MetricType>(),
        s.contains.parse::<ValueType>(),
    ) else {
        tracing::warn!(
            "dropping series of {}: unknown type {}/{}",
            s.metric,
            s.metric_type,
            s.contains
        );
        return;
    };
    let sink: Sink = match serde_json::from_slice(&s.sink_json) {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!("dropping series of {}: {e}", s.metric);
            return;
        }
    };
    let tags = TagSet::from_pairs(s.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Err(e) = store.merge(&s.metric, MetricInfo { mtype, contains }, &tags, &sink) {
        tracing::warn!("{e}");
    }
}

/// Validates a test's consolidated options before a run is created (invalid → 400, no run).
pub fn validate_options(config: &serde_json::Value) -> Result<(), String> {
    let opts = Options::from_script_json(config).map_err(|e| e.to_string())?;
    opts.resolve().map_err(|e| e.to_string())?;
    if let Some(t) = config.get("thresholds") {
        let parsed = parse_thresholds(t).map_err(|e| e.to_string())?;
        for (key, _) in parsed {
            parse_metric_key(&key).map_err(|e| e.to_string())?;
        }
    }
    if let Some(v) = config.get("volley") {
        serde_json::from_value::<PlacementRequest>(v.clone())
            .map_err(|e| format!("options.volley: {e}"))?;
    }
    Ok(())
}
