//! Runs across agents: the front the API and the agents' streams talk to. Every run in
//! progress has a task of its own ([`driver`]) stepping a pure state machine
//! ([`crate::run::machine`]); this routes agents' messages, stop requests and streamed batches
//! to it, keeps each run's live data for the API (and for a while after the run ends), and
//! resumes runs a previous controller left RUNNING from their checkpoints. The queue and
//! placement are in [`scheduler`], streamed runs in [`streamed`]. The pure parts of a run (the
//! machine, merge, queue policy, finish) are in [`crate::run`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use volley_common::exit::AbortReason;
use volley_common::options::Options;
use volley_common::threshold::{parse_metric_key, parse_thresholds};
use volley_proto as pb;

use crate::checkpoint;
use crate::model::{Run, RunStatus};
use crate::placement::PlacementRequest;
use crate::registry::Registry;
use crate::run::arrivals::Arrivals;
use crate::run::machine::{Machine, ResumeCause, RunSpec};
use crate::run::messages;
use crate::state::{Command, RunChanges, STREAMED_RUN_PROCESS};
use crate::store::{Db, StoreError};
use driver::{Clock, Inbox, SystemClock};

pub use crate::run::config::{CoordinatorConfig, Limits, OnAgentLost};
pub use crate::run::machine::Input as RunInput;
pub use crate::run::merge::{LiveData, MAX_INTERVALS};
pub use streamed::{StreamFinish, StreamStatus};

pub mod driver;
pub mod scheduler;
pub mod streamed;
#[cfg(test)]
mod tests;

/// Finished runs whose live data is kept in memory.
const KEEP_FINISHED: usize = 50;

/// Longest an agent's stream waits for room in its run's queue before the link is closed (the
/// agent reconnects and replays what was not acknowledged); below the agents' `orphan_after`.
pub const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(20);

/// How often a stream that waits for room in its run's queue stamps its agent as heard and
/// tells it the controller is there.
const WAIT_SLICE: Duration = Duration::from_secs(1);

pub(crate) struct RunHandle {
    /// The controller's own inputs (launch, stops, re-attachments, a streamed run's batches).
    pub(crate) tx: mpsc::UnboundedSender<RunInput>,
    /// What the run's agents send: bounded ([`driver::AGENT_QUEUE`]), their streams wait.
    from_agents: mpsc::Sender<RunInput>,
    live: Arc<Mutex<LiveData>>,
    pub(crate) agents: Vec<String>,
    /// Each agent's position in `agents`: membership and arrival stamps in O(1).
    members: HashMap<String, usize>,
    arrivals: Arc<Arrivals>,
    /// Set for a run streamed from a local `volley run --out cloud`.
    pub(crate) stream: Option<Arc<Mutex<StreamStatus>>>,
    /// The last sequence number given to a batch numbered here (k6's cloud output does not
    /// number its pushes): see [`streamed`].
    pub(crate) pushed: u64,
}

/// A run's task's side of [`Coordinator::track`].
pub(crate) struct Tracked {
    pub(crate) inbox: Inbox,
    pub(crate) live: Arc<Mutex<LiveData>>,
    pub(crate) arrivals: Arc<Arrivals>,
}

/// A message of an agent that was dropped before its run saw it: every one is audited (a
/// forged one must leave a trace), a heartbeat too, by the agent's link
/// (`crate::grpc`, within `crate::link_limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// The run it named.
    pub run: u64,
    /// Why: `the run is not active`, `the agent is not part of the run`.
    pub why: &'static str,
}

pub struct Coordinator {
    pub db: Arc<Db>,
    pub registry: Arc<Registry>,
    pub config: CoordinatorConfig,
    pub(crate) runs: Mutex<HashMap<u64, RunHandle>>,
    /// Live data of recently finished runs (oldest first), for the API.
    finished: Mutex<VecDeque<(u64, Arc<Mutex<LiveData>>)>>,
    pub(crate) queue_changed: tokio::sync::Notify,
    /// Batches merged and checkpoints written, for `GET /metrics`.
    pub meters: crate::meters::RunMeters,
    /// Set once [`Self::start`] registered every resumed run: before that, an agent that
    /// re-attaches would find its run unknown and be told to stop (a new Raft leader takes
    /// agents only from then on).
    driving: std::sync::atomic::AtomicBool,
    /// Why runs in flight are resumed when it starts: a restart, or a Raft leader change.
    resume_cause: Mutex<ResumeCause>,
}

pub fn now_rfc3339() -> String {
    crate::state::timestamp::now_rfc3339()
}

impl Coordinator {
    pub fn new(db: Arc<Db>, registry: Arc<Registry>, config: CoordinatorConfig) -> Arc<Self> {
        Arc::new(Coordinator {
            db,
            registry,
            config,
            runs: Mutex::new(HashMap::new()),
            finished: Mutex::new(VecDeque::new()),
            queue_changed: tokio::sync::Notify::new(),
            meters: crate::meters::RunMeters::default(),
            driving: std::sync::atomic::AtomicBool::new(false),
            resume_cause: Mutex::new(ResumeCause::Restart),
        })
    }

    /// Whether this controller drives runs yet ([`Self::start`] was called).
    pub fn is_driving(&self) -> bool {
        self.driving.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Says why runs in flight will be resumed ([`Self::start`]): a new Raft leader taking
    /// them over rather than a restart (the default).
    pub fn set_resume_cause(&self, cause: ResumeCause) {
        *self.resume_cause.lock().unwrap_or_else(|e| e.into_inner()) = cause;
    }

    fn resume_cause(&self) -> ResumeCause {
        *self.resume_cause.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the scheduler loop. Runs that were in flight when a previous controller stopped
    /// are resumed from their checkpoint when they were RUNNING (their agents have
    /// `agent_lost_after` to re-attach); runs caught earlier in their lifecycle are marked
    /// ABORTED_BY_SYSTEM with the reason, and runs left before the queue are queued
    /// (`queue_cut_short`).
    pub fn start(self: &Arc<Self>) {
        self.queue_cut_short();
        let in_flight: Vec<Run> = self.db.read(|s| {
            s.non_terminal_runs()
                .filter(|r| matches!(r.run_status, RunStatus::Initializing | RunStatus::Running))
                .cloned()
                .collect()
        });
        for run in in_flight {
            match checkpoint::load(&self.db, &run) {
                Ok(cp) => self.resume(run, cp),
                // A stop committed before the controller went away ends the run as the user
                // asked, not as a system abort (docs/ha.md#stops).
                Err(_) if run.stop_request.is_some() => {
                    if let Some(stop) = &run.stop_request {
                        self.finish_without_agents(run.id, &stop.reason);
                    }
                }
                Err(why) => {
                    let reason = AbortReason::System {
                        message: format!(
                            "{} while the run was {} and could not resume it: {why}",
                            self.resume_cause().happened(),
                            run.run_status.name()
                        ),
                    };
                    self.finish_without_agents(run.id, &reason);
                }
            }
        }
        self.driving
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.drop_checkpoints_of_ended_runs());
        let me = self.clone();
        tokio::spawn(async move { me.scheduler().await });
    }

    /// Drops the checkpoints of runs that ended. A run drops its own at its end, but a drop
    /// lost with a leader, or a controller stopped between a run's end and its drop, leaves
    /// one behind. Only RUNNING runs are ever resumed ([`checkpoint::load`]), so it is never
    /// resumed from; dropped, it stops taking room on every node and in every Raft snapshot
    /// (docs/ha.md#writes-sent-again).
    fn drop_checkpoints_of_ended_runs(&self) {
        let held = match self.db.checkpoint_runs() {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!("cannot list the runs' checkpoints: {e}");
                return;
            }
        };
        for run_id in held {
            let ended = self
                .db
                .read(|s| s.run(run_id).map(|r| r.run_status.is_terminal()));
            if ended != Some(true) {
                continue;
            }
            match self.db.delete_checkpoint(run_id) {
                Ok(()) => tracing::info!(
                    run = run_id,
                    "dropped the checkpoint an ended run left behind"
                ),
                Err(e) => tracing::warn!(
                    run = run_id,
                    "cannot drop the checkpoint an ended run left behind: {e}"
                ),
            }
        }
    }

    /// Runs a previous controller left CREATED or VALIDATED: a submit creates the run, then
    /// queues it, each a command of its own, and that controller stopped (or lost the Raft
    /// leadership) in between. Nobody else would ever move them, so they are queued now as
    /// the submit would have (its client may have been told the run was accepted); a run
    /// whose options no longer validate, or a streamed run (its local client created it and
    /// has gone on without it), is ended instead with the reason (docs/ha.md#leadership).
    fn queue_cut_short(&self) {
        let cut_short: Vec<Run> = self.db.read(|s| {
            s.non_terminal_runs()
                .filter(|r| matches!(r.run_status, RunStatus::Created | RunStatus::Validated))
                .cloned()
                .collect()
        });
        for run in cut_short {
            let happened = self.resume_cause().happened();
            let invalid = validate_options(&run.config).err();
            if run.run_process == STREAMED_RUN_PROCESS || invalid.is_some() {
                let why = invalid.map_or_else(
                    || "and its local client went on without it".to_string(),
                    |e| {
                        format!(
                            "and its options are invalid: {}",
                            volley_common::text::echo(&e)
                        )
                    },
                );
                let reason = AbortReason::System {
                    message: format!(
                        "{happened} while the run was being submitted ({}), {why}",
                        run.run_status.name()
                    ),
                };
                self.finish_without_agents(run.id, &reason);
                continue;
            }
            tracing::info!(
                run = run.id,
                "queueing a run whose submit was cut short ({})",
                run.run_status.name()
            );
            self.transition(
                run.id,
                RunStatus::Queued,
                &format!("waiting for agents ({happened} while the run was being submitted)"),
                RunChanges::default(),
            );
        }
    }

    /// Notifies the scheduler (a run was queued, an agent became idle...).
    pub fn kick(&self) {
        self.queue_changed.notify_one();
    }

    /// Applies one of the coordinator's own writes; in a Raft group it is sent again until
    /// committed while this node leads (docs/ha.md#writes-sent-again).
    pub(crate) fn exec(&self, cmd: Command) {
        if let Err(e) = self.db.execute_until_committed(cmd) {
            tracing::error!("controller state: {e}");
        }
    }

    pub(crate) fn transition(&self, run_id: u64, to: RunStatus, reason: &str, changes: RunChanges) {
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

    /// Registers a run's task: its inbox, live data and its agents' arrival stamps.
    pub(crate) fn track(
        &self,
        run_id: u64,
        agents: &[String],
        stream: Option<Arc<Mutex<StreamStatus>>>,
    ) -> Tracked {
        let (tx, from_agents, inbox) = driver::inbox();
        let live = Arc::new(Mutex::new(LiveData::default()));
        let arrivals = Arc::new(Arrivals::new(agents.len()));
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).insert(
            run_id,
            RunHandle {
                tx,
                from_agents,
                live: live.clone(),
                agents: agents.to_vec(),
                members: agents
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (a.clone(), i))
                    .collect(),
                arrivals: arrivals.clone(),
                stream,
                pushed: 0,
            },
        );
        Tracked {
            inbox,
            live,
            arrivals,
        }
    }

    /// A run's task ended: keep its live data for a while and free its agents.
    pub(crate) fn retire(&self, id: u64, live: Arc<Mutex<LiveData>>, agents: &[String]) {
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
        self.registry.release(agents, id);
        self.kick();
    }

    /// Resumes a RUNNING run after a controller restart: its agents re-attach (with the run
    /// id) and replay what was not acknowledged; agents that do not come back within
    /// `agent_lost_after` are lost as usual.
    fn resume(self: &Arc<Self>, run: Run, cp: checkpoint::Checkpoint) {
        let agents: Vec<String> = run.assignments.iter().map(|a| a.agent.clone()).collect();
        let streamed = run.run_process == STREAMED_RUN_PROCESS;
        let stream = streamed.then(|| {
            Arc::new(Mutex::new(StreamStatus {
                acked_seq: 0,
                stop: None,
                run_status: run.run_status,
            }))
        });
        let Tracked {
            inbox,
            live,
            arrivals,
        } = self.track(run.id, &agents, stream.clone());
        // Batches numbered here go on after the last one the checkpoint holds.
        if let Some(h) = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&run.id)
        {
            h.pushed = cp.agents.values().map(|a| a.last_seq).max().unwrap_or(0);
        }
        let clock = SystemClock;
        let spec = RunSpec {
            run_id: run.id,
            test_id: run.test_id,
            sequence: run.sequence.clone(),
            assignments: run.assignments.clone(),
            config: run.config.clone(),
            env: run.env.clone(),
            streamed,
            degraded_note: run.degraded.then(|| run.note.clone()),
        };
        let mut machine = Machine::new(spec, self.config.clone(), live.clone(), clock.now());
        machine.set_arrivals(arrivals);
        machine.set_resume_cause(self.resume_cause());
        if let Err(why) = machine.restore(clock.now(), cp) {
            self.runs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&run.id);
            let reason = AbortReason::System {
                message: format!(
                    "{} and could not resume the run: {why}",
                    self.resume_cause().happened()
                ),
            };
            self.finish_without_agents(run.id, &reason);
            return;
        }
        machine.recall_crossings(&run.events);
        // A stop committed before the run was taken over stops it now; its agents hear it
        // as they re-attach (docs/ha.md#stops).
        if let Some(stop) = &run.stop_request {
            if let Some(h) = self
                .runs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&run.id)
            {
                let _ = h.tx.send(RunInput::Stop(stop.reason.clone()));
            }
        }
        let me = self.clone();
        tokio::spawn(async move {
            let first = RunInput::Resume;
            driver::drive(me.clone(), machine, first, inbox, stream, clock).await;
            me.retire(run.id, live, &agents);
        });
    }

    /// Routes an agent's message to the run it belongs to. Its arrival is stamped first (the
    /// run judges liveness on arrivals); while the run's queue is full, the stream waits —
    /// stamping the agent and calling `while_waiting` (which tells the agent the controller is
    /// there) every second. `Ok(Some(..))`: the message was dropped, and why (the caller logs
    /// it, within its link's bound: `crate::link_limits`). Err when the run took nothing for
    /// [`ENQUEUE_TIMEOUT`]: the caller closes the link, and the agent reconnects and replays
    /// what was not acknowledged.
    pub async fn on_agent_message(
        &self,
        agent: &str,
        body: pb::agent_message::Body,
        while_waiting: impl Fn(),
    ) -> Result<Option<Dropped>, String> {
        use pb::agent_message::Body as B;
        let heartbeat = matches!(body, B::Heartbeat(_));
        let (run_id, input) = match body {
            B::Event(e) => (e.run_id, RunInput::Event(agent.into(), e)),
            B::Metrics(m) => (m.run_id, RunInput::Metrics(agent.into(), m)),
            B::SetupResult(s) => (s.run_id, RunInput::Setup(agent.into(), s)),
            B::Heartbeat(h) => {
                if h.run_id == 0 {
                    return Ok(None);
                }
                (h.run_id, RunInput::Heartbeat(agent.into(), h))
            }
            B::Register(_) => return Ok(None),
        };
        let (tx, arrivals, idx) = match self.route(run_id, agent, heartbeat) {
            Ok(to) => to,
            Err(why) => return Ok(Some(Dropped { run: run_id, why })),
        };
        self.enqueue(&tx, input, || {
            arrivals.stamp(idx);
            while_waiting();
        })
        .await
        .map(|()| None)
        .map_err(|waited| {
            format!(
                "run {run_id} took no message from agent {agent} for {} s (its queue of {} is full): closing the link so that the agent reconnects and replays",
                waited.as_secs(),
                driver::AGENT_QUEUE
            )
        })
    }

    /// Where a message of `agent` about run `run_id` goes: the run's queue, its arrival stamps
    /// and the agent's position (stamped now). Err (why) when the run is not in progress here,
    /// or the agent is not part of it: the message is dropped before the run sees it, and a
    /// heartbeat, which says what the agent runs now, makes the agent stop that run
    /// ([`Self::disown`]); other messages of such a run are only dropped (an agent replays
    /// those of a run it finished).
    fn route(
        &self,
        run_id: u64,
        agent: &str,
        heartbeat: bool,
    ) -> Result<(mpsc::Sender<RunInput>, Arc<Arrivals>, usize), &'static str> {
        let why = {
            let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
            match runs.get(&run_id) {
                None => "the run is not active",
                Some(h) => match h.members.get(agent) {
                    None => "the agent is not part of the run",
                    Some(&idx) => {
                        h.arrivals.stamp(idx);
                        return Ok((h.from_agents.clone(), h.arrivals.clone(), idx));
                    }
                },
            }
        };
        if heartbeat {
            self.disown(agent, run_id);
        }
        Err(why)
    }

    /// Agent `agent` still runs `run`, which this controller does not drive with it: the run
    /// ended here without it (it was lost), or a previous Raft leader placed it and this one
    /// does not know it as running. Nobody would ever end it (an agent waits for teardown
    /// with no timeout of its own), so it is told to stop it at once, and it is offered no
    /// run until its heartbeats stop naming it (docs/ha.md#leadership).
    fn disown(&self, agent: &str, run: u64) {
        if self.registry.mark_stale(agent, run) {
            tracing::warn!(
                run,
                "agent {agent} is still running a run that is not active here; stopping it"
            );
        }
        let reason = AbortReason::System {
            message: format!("run {run} is no longer active on the controller"),
        };
        self.send(agent, messages::stop(run, Some(&reason), true));
    }

    /// Puts `input` into a run's agents' queue, waiting while it is full and calling `waiting`
    /// every [`WAIT_SLICE`]. Err with the time waited when [`ENQUEUE_TIMEOUT`] passed (or the
    /// run's task is gone, at once).
    async fn enqueue(
        &self,
        tx: &mpsc::Sender<RunInput>,
        input: RunInput,
        waiting: impl Fn(),
    ) -> Result<(), Duration> {
        let began = Instant::now();
        loop {
            match tokio::time::timeout(WAIT_SLICE, tx.reserve()).await {
                Ok(Ok(permit)) => {
                    permit.send(input);
                    return Ok(());
                }
                // The run ended meanwhile: nobody needs the message any more.
                Ok(Err(_)) => return Ok(()),
                Err(_) => {
                    waiting();
                    if began.elapsed() >= ENQUEUE_TIMEOUT {
                        return Err(began.elapsed());
                    }
                }
            }
        }
    }

    /// An agent reconnected while still running `run_id`: it stays assigned to that run.
    pub fn reattach(&self, agent: &str, id: u64) {
        let part_of = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .is_some_and(|h| h.members.contains_key(agent));
        if part_of {
            tracing::info!(run = id, "agent {agent} re-attached");
            self.registry.set_run(&[agent.to_string()], Some(id));
            if let Some(h) = self.runs.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
                let _ = h.tx.send(RunInput::Reattached(agent.to_string()));
            }
        } else {
            // Nobody is in charge of that run any more: the agent must not go on loading.
            self.disown(agent, id);
        }
    }

    /// An agent's stream ended. The run hears it after the agent's messages still queued.
    pub async fn on_agent_gone(&self, agent: &str, run: Option<u64>) {
        if let Some(id) = run {
            let tx = self
                .runs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
                .map(|h| h.from_agents.clone());
            if let Some(tx) = tx {
                if self
                    .enqueue(&tx, RunInput::AgentGone(agent.into()), || {})
                    .await
                    .is_err()
                {
                    tracing::warn!(run = id, "run {id} did not take the news that agent {agent} disconnected: its queue stayed full");
                }
            }
        }
        self.kick();
    }

    /// Stops a run: queued runs end at once; running ones stop gracefully on every agent.
    /// `Ok(false)`: the run had ended. An error when a queued run's end could not be written
    /// (in a Raft group: not committed by a quorum, docs/ha.md#leadership): the stop must
    /// not be acknowledged then, since the run goes on.
    pub fn stop(&self, run_id: u64, reason: AbortReason) -> Result<bool, StoreError> {
        if let Some(h) = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&run_id)
        {
            return Ok(h.tx.send(RunInput::Stop(reason)).is_ok());
        }
        let status = self.db.read(|s| s.run(run_id).map(|r| r.run_status));
        match status {
            Some(s) if !s.is_terminal() => {
                let changes = RunChanges {
                    exit_code: Some(reason.exit_code()),
                    abort_reason: Some(reason.clone()),
                    error_code: Some(reason.exit_code()),
                    error_detail: Some(reason.message()),
                    ..Default::default()
                };
                self.db.execute(Command::Transition {
                    run_id,
                    to: reason.run_status(),
                    reason: reason.message(),
                    at: now_rfc3339(),
                    changes,
                })?;
                Ok(true)
            }
            _ => Ok(false),
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

    pub(crate) fn send(&self, agent: &str, body: pb::controller_message::Body) {
        if !self.registry.send(agent, messages::envelope(body)) {
            tracing::warn!("cannot reach agent {agent}");
        }
    }
}

/// Validates a test's consolidated options before a run is created (invalid → 400, no run).
pub fn validate_options(config: &serde_json::Value) -> Result<(), String> {
    crate::run::declared::check_options(config)?;
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
            .map_err(|e| format!("options.volley: {e}"))?
            .validate()?;
        crate::run::config::RunTimeouts::from_config(config)?;
    }
    Ok(())
}
