//! The run machine: the lifecycle of one run across its agents as a plain struct stepped by
//! inputs (an agent's event, batch, setup result or heartbeat, an agent gone or re-attached, a
//! stop request, a tick) that returns the actions to perform (messages to agents, store writes,
//! checkpoints, the end of the run). It does no I/O and never reads a clock: every step carries
//! the time, so the failure paths can be tested with a fake clock. The driver
//! (`coordinator::driver`) feeds it and performs its actions.
//!
//! The phases, each waiting for its condition (or for the run to be aborted with every agent
//! done or gone, or for every agent to be gone):
//! 1. initializing — every agent initializes its VUs (READY);
//! 2. setup — `setup()` once, on the first live agent;
//! 3. running — its data goes to every agent, a start barrier, then every agent's executors
//!    run until EXECUTION_DONE;
//! 4. draining — `teardown()` once, on one live agent (the same one after a restart), then
//!    every agent reports DONE with all its metric batches;
//! 5. finished — the summary, the exit code and the final status.
//!
//! A run aborted before its start skips to draining with an immediate stop.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use volley_common::exit::AbortReason;
use volley_common::metrics::store::MetricInfo;
use volley_common::options::Options;
use volley_common::summary::build::ThresholdSet;
use volley_common::threshold::parse_thresholds;
use volley_proto as pb;

use pb::controller_message::Body;

use super::arrivals::Arrivals;
use super::config::{CoordinatorConfig, RunTimeouts};
use super::finish::{self, FinishInput};
use super::merge::{self, AgentGauges, LiveData};
use super::messages;
use crate::checkpoint::{self, AgentProgress, Checkpoint};
use crate::model::{Assignment, RunStatus};
use crate::state::RunChanges;

/// How often the checks that look at every agent (lost agents, phase conditions, limits) run
/// while only batches and heartbeats arrive.
pub const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// The time of a step: monotonic for durations, wall clock for what agents and the store see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub unix_ms: u64,
}

/// What a run hears about.
#[derive(Debug)]
pub enum Input {
    /// Start a placed run: assign the agents (the test's archive; None when it is missing).
    Launch {
        archive: Option<Vec<u8>>,
    },
    /// Go on with a run that is already started (streamed, or restored from a checkpoint).
    Resume,
    Event(String, pb::RunEvent),
    Metrics(String, pb::MetricBatch),
    Setup(String, pb::SetupResult),
    Heartbeat(String, pb::Heartbeat),
    AgentGone(String),
    /// The agent reconnected and is still running this run.
    Reattached(String),
    Stop(AbortReason),
    /// Nothing happened; time passed.
    Tick,
}

/// What the driver does for the machine, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A message to one agent.
    Send {
        agent: String,
        body: Body,
    },
    /// An event on the run (shown by the API and by a CLI following the run).
    Event {
        level: &'static str,
        message: String,
    },
    /// A threshold's verdict changed at `at_unix_ms` (the end of the newest interval merged):
    /// an event on the run that says so.
    ThresholdCrossed {
        at_unix_ms: u64,
        crossing: volley_api::ThresholdCrossing,
    },
    /// The run goes on without a lost agent: it is marked degraded with this note.
    Degraded {
        note: String,
    },
    Transition {
        to: RunStatus,
        reason: String,
        changes: RunChanges,
    },
    /// Write the checkpoint durably, then (only if that worked) perform `then` — the
    /// acknowledgements of the batches it holds. If it fails, call
    /// [`Machine::checkpoint_failed`].
    Checkpoint {
        checkpoint: Box<Checkpoint>,
        then: Vec<Action>,
    },
    /// A streamed run's batches up to this sequence number are durable.
    StreamAcked(u64),
    /// A streamed run's client must stop its local run for this reason.
    StreamStop(AbortReason),
    /// A streamed run's final status, for its client.
    StreamStatus(RunStatus),
    /// The run's summary report.
    Summary(serde_json::Value),
    DeleteCheckpoint,
    /// The run is over (the last action).
    Finish {
        status: RunStatus,
        exit_code: i32,
    },
}

/// What a run is made of.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub run_id: u64,
    pub test_id: u64,
    /// The execution segment sequence the agents share (sent to each in its `Assign`).
    pub sequence: String,
    /// Agents in placement order with their segments of `sequence`.
    pub assignments: Vec<Assignment>,
    /// The test's consolidated options (k6 shape).
    pub config: serde_json::Value,
    pub env: BTreeMap<String, String>,
    /// Streamed from a local `volley run --out cloud`: one source, no agents to command.
    pub streamed: bool,
    /// The run is already degraded (resumed after a restart): the note.
    pub degraded_note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Built, not launched yet.
    Idle,
    Initializing,
    Setup,
    Running,
    Draining,
    Finished,
}

impl Phase {
    fn waits(self) -> bool {
        matches!(
            self,
            Phase::Initializing | Phase::Setup | Phase::Running | Phase::Draining
        )
    }
}

pub(super) struct AgentState {
    /// Its position in placement order (its assignment, its arrival stamps).
    pub(super) idx: usize,
    /// When the run's task last processed something of it (see also [`Machine::last_heard`]).
    pub(super) last_seen: Instant,
    pub(super) overloaded_since: Option<Instant>,
    pub(super) warned: bool,
    pub(super) ready: bool,
    pub(super) vus: u64,
    pub(super) execution_done: bool,
    pub(super) done: bool,
    pub(super) gone: bool,
    pub(super) last_seq: u64,
    pub(super) final_seq: Option<u64>,
    pub(super) marked_failed: Option<String>,
    pub(super) iterations: u64,
    /// Merged but not yet acknowledged (acks wait for a durable checkpoint).
    pub(super) unacked_seq: Option<u64>,
    /// Resumed after a controller restart and not heard from since.
    pub(super) awaiting_reattach: bool,
    /// Its heartbeats say it got SIGTERM and drains (docs/cluster-runs.md#sigterm-drain).
    pub(super) draining: bool,
    /// It stopped its part when its drain grace ran out and the run went on without it
    /// (`on_agent_lost: continue`).
    pub(super) left: bool,
}

impl AgentState {
    fn new(idx: usize, now: Instant) -> Self {
        AgentState {
            idx,
            last_seen: now,
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
            draining: false,
            left: false,
        }
    }

    fn batches_complete(&self) -> bool {
        self.gone || self.final_seq.is_none_or(|f| self.last_seq >= f)
    }
}

/// Why a run is restored from its checkpoint instead of started: this controller restarted,
/// or, in a Raft group, another controller became the leader and took the run over
/// (docs/ha.md#leadership).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeCause {
    Restart,
    LeaderChange { node: u64 },
}

impl ResumeCause {
    /// What happened, as a clause: "the controller restarted", "node 2 became the Raft leader".
    pub fn happened(self) -> String {
        match self {
            ResumeCause::Restart => "the controller restarted".into(),
            ResumeCause::LeaderChange { node } => format!("node {node} became the Raft leader"),
        }
    }
}

/// One run's lifecycle state.
pub struct Machine {
    pub(super) run_id: u64,
    pub(super) cfg: CoordinatorConfig,
    pub(super) spec: RunSpec,
    pub(super) agents: BTreeMap<String, AgentState>,
    /// Agent names in placement order.
    pub(super) order: Vec<String>,
    pub(super) live: Arc<Mutex<LiveData>>,
    /// When each agent's messages arrived, stamped by its stream (liveness is judged on them).
    pub(super) arrivals: Arc<Arrivals>,
    /// When the checks that look at every agent last ran (they run at most every
    /// [`SWEEP_EVERY`], not on every message).
    pub(super) last_sweep: Option<Instant>,
    /// How far the agents got through the phase's condition (checked on every message).
    progress: Progress,
    pub(super) phase: Phase,
    pub(super) reason: Option<AbortReason>,
    pub(super) setup_result: Option<Option<String>>,
    pub(super) setup_completed: bool,
    /// The agent asked to run setup().
    pub(super) setup_agent: Option<String>,
    pub(super) thresholds: ThresholdSet,
    pub(super) started: Option<Instant>,
    /// When the start barrier was released (wall clock), for checkpoints.
    pub(super) started_unix_ms: u64,
    pub(super) last_threshold_check: Instant,
    /// Each threshold's verdict so far, for its crossings.
    pub(super) crossings: super::crossings::Crossings,
    trend_stats: Vec<String>,
    time_unit: Option<String>,
    /// Metric types from the archive's thresholds (for thresholds on metrics without data).
    pub(super) types: HashMap<String, MetricInfo>,
    pub(super) agent_gauges: AgentGauges,
    /// The agent told to run teardown().
    pub(super) teardown_agent: Option<String>,
    /// Batches were merged since the last checkpoint.
    pub(super) dirty: bool,
    pub(super) last_checkpoint: Instant,
    /// How long the last checkpoint took: a run with a huge merged state is checkpointed less
    /// often, so checkpoints never take more than ~5 % of the run's task.
    pub(super) checkpoint_cost: Duration,
    /// The acknowledgements of each checkpoint being written, oldest first (the driver
    /// writes them in order; restored if one fails). While one is written, the next periodic
    /// checkpoint waits: the driver writes it off the run's task, which merges meanwhile.
    in_flight_acks: VecDeque<Vec<(String, u64)>>,
    /// When the agents' batches were last acknowledged ([`Machine::ack_due`]).
    last_acks: Option<Instant>,
    /// Merged batches wait for an acknowledgement that a checkpoint held back, or that a
    /// failed one gave back: the next checkpoint is taken for them even with nothing new.
    acks_waiting: bool,
    /// How late each batch merged since the driver last asked was (`take_merged`), in ms
    /// from the end of its interval on its agent.
    pub(super) merged_lags_ms: Vec<u64>,
    /// The abort reason came from the streamed run's own client (it stopped locally).
    pub(super) local_abort: bool,
    pub(super) degraded_note: Option<String>,
    /// Restored from a checkpoint after a controller restart or a leader change.
    resumed: bool,
    /// Why it was restored, for its event and AGENT_LOST message.
    pub(super) resume_cause: ResumeCause,
    /// Iterations the restored checkpoint counted, for the resume event.
    resumed_iterations: u64,
    /// When VU init began on the agents, and how long it may take (and what set that).
    pub(super) init_since: Option<Instant>,
    pub(super) init_timeout: (Duration, &'static str),
    /// Agents that have not confirmed a stop by then are given up (they stopped answering).
    pub(super) stop_deadline: Option<Instant>,
    pub(super) actions: Vec<Action>,
}

impl Machine {
    pub fn new(
        spec: RunSpec,
        cfg: CoordinatorConfig,
        live: Arc<Mutex<LiveData>>,
        now: Now,
    ) -> Self {
        let resolved = Options::from_script_json(&spec.config)
            .ok()
            .and_then(|o| o.resolve().ok());
        let thresholds = spec
            .config
            .get("thresholds")
            .and_then(|t| parse_thresholds(t).ok())
            .unwrap_or_default();
        live.lock()
            .unwrap_or_else(|e| e.into_inner())
            .metric_series
            .set_submetrics(thresholds.iter().map(|(key, _)| key.as_str()));
        let order: Vec<String> = spec.assignments.iter().map(|a| a.agent.clone()).collect();
        Machine {
            run_id: spec.run_id,
            agents: order
                .iter()
                .enumerate()
                .map(|(i, a)| (a.clone(), AgentState::new(i, now.mono)))
                .collect(),
            arrivals: Arc::new(Arrivals::new(order.len())),
            last_sweep: None,
            progress: Progress::default(),
            order,
            live,
            phase: Phase::Idle,
            reason: None,
            setup_result: None,
            setup_completed: false,
            setup_agent: None,
            thresholds,
            started: None,
            started_unix_ms: 0,
            last_threshold_check: now.mono,
            crossings: Default::default(),
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
            types: merge::builtin_types(),
            agent_gauges: BTreeMap::new(),
            teardown_agent: None,
            dirty: false,
            last_checkpoint: now.mono,
            checkpoint_cost: Duration::ZERO,
            in_flight_acks: VecDeque::new(),
            last_acks: None,
            acks_waiting: false,
            merged_lags_ms: Vec::new(),
            local_abort: false,
            degraded_note: spec.degraded_note.clone(),
            resumed: false,
            resume_cause: ResumeCause::Restart,
            resumed_iterations: 0,
            init_since: None,
            init_timeout: RunTimeouts::from_config(&spec.config)
                .unwrap_or_default()
                .init_timeout(&cfg),
            stop_deadline: None,
            actions: Vec::new(),
            cfg,
            spec,
        }
    }

    /// The machine judges its agents' liveness on these arrival stamps (which the agents'
    /// streams write as messages arrive) as well as on what it processed.
    pub fn set_arrivals(&mut self, arrivals: Arc<Arrivals>) {
        self.arrivals = arrivals;
    }

    /// When anything of `agent` was last heard: arrived on its stream, or processed here.
    pub(super) fn last_heard(&self, a: &AgentState) -> Instant {
        match self.arrivals.last(a.idx) {
            Some(t) if t > a.last_seen => t,
            _ => a.last_seen,
        }
    }

    /// A streamed run starts RUNNING at once: its only source is ready, there is no setup.
    pub fn start_streamed(&mut self, now: Now) {
        self.setup_completed = true;
        self.started = Some(now.mono);
        self.started_unix_ms = now.unix_ms;
        for a in self.agents.values_mut() {
            a.ready = true;
        }
        self.live_data().started = self.started;
    }

    /// Says why the run is restored (before [`Self::restore`]): its resume event and the
    /// AGENT_LOST message of an agent that does not re-attach name it.
    pub fn set_resume_cause(&mut self, cause: ResumeCause) {
        self.resume_cause = cause;
    }

    /// The threshold crossings the run recorded before it was resumed (its events): its data
    /// goes back to the checkpoint's and is replayed, and none is recorded twice.
    pub fn recall_crossings(&mut self, events: &[volley_api::RunEvent]) {
        self.crossings = super::crossings::Crossings::recall(events);
    }

    /// Restores a run from its checkpoint (after a controller restart). Its agents have not
    /// re-attached yet: they get `agent_lost_after` from now. Then
    /// [`Self::recall_crossings`].
    pub fn restore(&mut self, now: Now, cp: Checkpoint) -> Result<(), String> {
        let series = checkpoint::series_to_store(&cp.series)?;
        let ran_for = Duration::from_millis(now.unix_ms.saturating_sub(cp.started_unix_ms));
        let started = now.mono.checked_sub(ran_for).unwrap_or(now.mono);
        {
            let mut live = self.live_data();
            live.series = series;
            live.started = Some(started);
        }
        self.resumed = true;
        self.progress = Progress::default();
        self.resumed_iterations = cp.agents.values().map(|a| a.iterations).sum();
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

    /// Handles one input at `now`; returns what to do, in order.
    pub fn step(&mut self, now: Now, input: Input) -> Vec<Action> {
        if self.phase == Phase::Finished {
            return Vec::new();
        }
        // What one agent sends (or its link going or coming back) changes at most that
        // agent's part of a phase's condition: the checks that look at every agent run on the
        // controller's own inputs, on ticks and at most every SWEEP_EVERY, and at once only
        // when the agents' progress says the phase may be over ([`Progress`]) — so a message
        // costs the same with 10 agents as with 5,000, READY and DONE included.
        let routine = !matches!(
            input,
            Input::Launch { .. } | Input::Resume | Input::Stop(_) | Input::Tick
        );
        let batch = matches!(input, Input::Metrics(..));
        let sweep = !routine || self.last_sweep.is_none_or(|t| since(now, t) >= SWEEP_EVERY);
        match input {
            Input::Launch { archive } => self.launch(now, archive),
            Input::Resume => self.resume(now),
            Input::Tick => {}
            other => self.handle(now, other),
        }
        if self.phase.waits() {
            if self.started.is_some()
                && since(now, self.last_threshold_check) >= self.cfg.threshold_interval
            {
                self.last_threshold_check = now.mono;
                self.check_abort_thresholds(now);
                self.track_crossings(now, None);
            }
            let every = self.cfg.checkpoint_interval.max(self.checkpoint_cost * 20);
            let idle = self.in_flight_acks.is_empty();
            if self.started.is_some()
                && (self.dirty || self.acks_waiting)
                && idle
                && since(now, self.last_checkpoint) >= every
            {
                self.checkpoint(now);
            }
            if sweep || self.may_be_done() {
                self.last_sweep = Some(now.mono);
                self.settle(now);
            } else if batch {
                // A batch may take the run over a limit: that costs its series, not its agents.
                self.check_limits(now);
            }
        }
        std::mem::take(&mut self.actions)
    }

    /// The oldest [`Action::Checkpoint`] not yet reported was written in `took`.
    pub fn checkpoint_written(&mut self, took: Duration) {
        self.in_flight_acks.pop_front();
        self.last_checkpoint += took;
        self.checkpoint_cost = took;
    }

    /// The oldest [`Action::Checkpoint`] not yet reported could not be written: its batches
    /// stay unacknowledged (the agents keep them and replay them if needed).
    pub fn checkpoint_failed(&mut self, took: Duration) {
        // Given back, they go out with the next checkpoint (not a second one later).
        for (name, seq) in self.in_flight_acks.pop_front().unwrap_or_default() {
            if let Some(a) = self.agents.get_mut(&name) {
                a.unacked_seq = Some(a.unacked_seq.map_or(seq, |s| s.max(seq)));
                self.acks_waiting = true;
                self.last_acks = None;
            }
        }
        self.last_checkpoint += took;
        self.checkpoint_cost = took;
    }

    /// The lags (ms) of the batches merged since the last call, for the controller's meters.
    pub fn take_merged(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.merged_lags_ms)
    }

    /// The run is over: nothing more will happen.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    pub fn run_id(&self) -> u64 {
        self.run_id
    }

    /// The agents of the run, in placement order.
    pub fn agents(&self) -> &[String] {
        &self.order
    }

    pub(super) fn live_data(&self) -> MutexGuard<'_, LiveData> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn send(&mut self, agent: &str, body: Body) {
        self.actions.push(Action::Send {
            agent: agent.to_string(),
            body,
        });
    }

    pub(super) fn event(&mut self, level: &'static str, message: String) {
        self.actions.push(Action::Event { level, message });
    }

    fn launch(&mut self, now: Now, archive: Option<Vec<u8>>) {
        let Some(archive) = archive else {
            self.abort(AbortReason::System {
                message: format!("the archive of test {} is missing", self.spec.test_id),
            });
            self.finish(now);
            return;
        };
        let options_json = self.spec.config.to_string();
        let env: HashMap<String, String> = self.spec.env.clone().into_iter().collect();
        let metrics_interval_ms = self.cfg.metrics_interval.as_millis() as u32;
        let targets = pb::TargetPolicy {
            controller_ports: self
                .cfg
                .controller_ports
                .iter()
                .map(|p| u32::from(*p))
                .collect(),
            ..pb::TargetPolicy::from(&self.cfg.targets)
        };
        // One copy of the archive and of the sequence (one point per agent) for every agent's
        // message: cloning a `Bytes` shares it.
        let archive = bytes::Bytes::from(archive);
        let sequence = bytes::Bytes::from(self.spec.sequence.clone());
        for a in self.spec.assignments.clone() {
            let body = Body::Assign(pb::Assign {
                run_id: self.run_id,
                archive: archive.clone(),
                segment: a.segment,
                sequence: sequence.clone(),
                options_json: options_json.clone(),
                env: env.clone(),
                metrics_interval_ms,
                targets: Some(targets.clone()),
            });
            self.send(&a.agent, body);
        }
        self.init_since = Some(now.mono);
        self.phase = Phase::Initializing;
    }

    /// A started run goes on: executors run to their end (a streamed run's client does that
    /// itself, so it only waits for the end).
    fn resume(&mut self, now: Now) {
        if self.resumed {
            let waits_for = if self.spec.streamed {
                format!(
                    "waits up to {:.0} s (data_timeout) for the local run to send data again",
                    self.cfg.data_timeout.as_secs_f64()
                )
            } else {
                format!(
                    "waits up to {:.0} s (agent_lost_after) for its agents ({}) to re-attach",
                    self.cfg.agent_lost_after.as_secs_f64(),
                    self.order.join(", ")
                )
            };
            let message = match self.resume_cause {
                ResumeCause::Restart => format!(
                    "the controller restarted; the run resumes from its last checkpoint and {waits_for}"
                ),
                ResumeCause::LeaderChange { node } => format!(
                    "node {node} became the Raft leader and resumed the run from the last \
                     checkpoint a quorum committed ({} iterations merged); the run {waits_for}",
                    self.resumed_iterations
                ),
            };
            self.event("info", message);
        }
        self.checkpoint(now);
        self.phase = if self.spec.streamed {
            Phase::Draining
        } else {
            Phase::Running
        };
    }

    /// Runs the checks and moves through the phases whose conditions hold.
    fn settle(&mut self, now: Now) {
        while self.phase.waits() {
            self.check_init(now);
            self.check_agents(now);
            self.check_limits(now);
            if !self.phase_done() {
                return;
            }
            self.advance(now);
        }
    }

    /// Whether the phase's condition may hold now, in amortized O(1) a message: see
    /// [`Progress`]. The full check ([`Self::phase_done`]) follows when it says yes.
    fn may_be_done(&mut self) -> bool {
        let phase = self.phase;
        if self.progress.phase != phase {
            self.progress.phase = phase;
            self.progress.met = 0;
        }
        let met = match phase {
            Phase::Setup => self.setup_result.is_some(),
            Phase::Initializing | Phase::Running | Phase::Draining => {
                self.progress.met = scan(&self.order, &self.agents, self.progress.met, |a| {
                    a.gone
                        || match phase {
                            Phase::Initializing => a.ready,
                            Phase::Running => a.execution_done || a.done,
                            _ => a.done && a.batches_complete(),
                        }
                });
                self.progress.met == self.order.len()
            }
            Phase::Idle | Phase::Finished => false,
        };
        if met || !self.aborted() {
            // Agents become gone only in the checks that look at every agent, which a full
            // check of the phase follows anyway.
            return met;
        }
        self.progress.ended = scan(&self.order, &self.agents, self.progress.ended, |a| {
            a.gone || a.done
        });
        self.progress.ended == self.order.len()
    }

    fn phase_done(&self) -> bool {
        let cond = match self.phase {
            Phase::Initializing => self.all(|a| a.ready),
            Phase::Setup => self.setup_result.is_some(),
            Phase::Running => self.all(|a| a.execution_done || a.done),
            Phase::Draining => self.all(|a| a.done && a.batches_complete()),
            Phase::Idle | Phase::Finished => return false,
        };
        cond || self.agents.values().all(|a| a.gone || a.done) && self.aborted()
            || self.agents.values().all(|a| a.gone)
    }

    fn advance(&mut self, now: Now) {
        match self.phase {
            Phase::Initializing if !self.aborted() => {
                // setup() once, on the first agent; its data goes to every agent.
                let setup_agent = self.first_alive().unwrap_or_else(|| self.order[0].clone());
                self.setup_agent = Some(setup_agent.clone());
                let body = Body::RunSetup(pb::RunSetup {
                    run_id: self.run_id,
                });
                self.send(&setup_agent, body);
                self.phase = Phase::Setup;
            }
            Phase::Setup if !self.aborted() => self.release(now),
            Phase::Initializing | Phase::Setup => {
                // Setup never completed: no teardown anywhere; stop agents right away.
                for a in self.order.clone() {
                    let body = messages::stop(self.run_id, self.reason.as_ref(), true);
                    self.send(&a, body);
                }
                self.phase = Phase::Draining;
            }
            Phase::Running => {
                // Exactly one (live) agent runs teardown() — the same one after a restart.
                if self.teardown_agent.is_none() {
                    self.teardown_agent = self.first_alive();
                    self.checkpoint(now);
                }
                for a in self.order.clone() {
                    let body = Body::Teardown(pb::Teardown {
                        run_id: self.run_id,
                        run_teardown: Some(&a) == self.teardown_agent.as_ref(),
                    });
                    self.send(&a, body);
                }
                self.phase = Phase::Draining;
            }
            Phase::Draining => self.finish(now),
            Phase::Idle | Phase::Finished => {}
        }
    }

    /// setup()'s data to every agent, then the start barrier: the run is RUNNING.
    fn release(&mut self, now: Now) {
        let data = self.setup_result.clone().flatten().unwrap_or_default();
        for a in self.order.clone() {
            let body = Body::SetupData(pb::SetupData {
                run_id: self.run_id,
                data_json: data.clone(),
            });
            self.send(&a, body);
        }
        self.setup_completed = true;
        let at_unix_ms = now.unix_ms + self.cfg.start_delay.as_millis() as u64;
        for a in self.order.clone() {
            let body = Body::Start(pb::Start {
                run_id: self.run_id,
                at_unix_ms,
            });
            self.send(&a, body);
        }
        // Saturating: the VU counts are what agents reported.
        let vus = self
            .agents
            .values()
            .fold(0u64, |sum, a| sum.saturating_add(a.vus));
        self.actions.push(Action::Transition {
            to: RunStatus::Running,
            reason: "start barrier released".into(),
            changes: RunChanges {
                vus: Some(vus),
                ..Default::default()
            },
        });
        self.live_data().started = Some(now.mono);
        self.started = Some(now.mono);
        self.started_unix_ms = now.unix_ms;
        self.checkpoint(now);
        self.phase = Phase::Running;
    }

    /// The first agent (in placement order) that is still there.
    pub(super) fn first_alive(&self) -> Option<String> {
        self.order
            .iter()
            .find(|a| self.agents.get(*a).is_some_and(|s| !s.gone))
            .cloned()
    }

    pub(super) fn all(&self, f: impl Fn(&AgentState) -> bool) -> bool {
        self.agents.values().all(|a| a.gone || f(a))
    }

    pub(super) fn aborted(&self) -> bool {
        self.reason.is_some()
    }

    /// The execution segment an agent runs in this run.
    pub(super) fn segment_of(&self, agent: &str) -> String {
        self.agents
            .get(agent)
            .and_then(|a| self.spec.assignments.get(a.idx))
            .map(|a| a.segment.clone())
            .unwrap_or_default()
    }

    /// Records the first abort reason and stops every agent that is still going.
    pub(super) fn abort(&mut self, reason: AbortReason) {
        if self.reason.is_some() {
            tracing::debug!(?reason, "run already aborted; keeping the first reason");
            return;
        }
        tracing::info!(run = self.run_id, "aborting: {}", reason.message());
        if self.spec.streamed {
            // The client learns it with its next request and stops its local run.
            self.actions.push(Action::StreamStop(reason.clone()));
            self.reason = Some(reason);
            return;
        }
        self.reason = Some(reason);
        let going: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| !a.done && !a.gone)
            .map(|(n, _)| n.clone())
            .collect();
        for name in going {
            let body = messages::stop(self.run_id, self.reason.as_ref(), !self.setup_completed);
            self.send(&name, body);
        }
    }

    /// Checkpoints the run now: merged data and progress, then the acknowledgements.
    pub(super) fn checkpoint(&mut self, now: Now) {
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
            series: checkpoint::store_to_series(&self.live_data().series),
            agent_gauges: self.agent_gauges.clone(),
        };
        self.dirty = false;
        self.last_checkpoint = now.mono;
        let before = self.actions.len();
        let acks = if self.ack_due(now) {
            self.acks_waiting = false;
            let acks = self.take_acks();
            if !acks.is_empty() {
                self.last_acks = Some(now.mono);
            }
            acks
        } else {
            self.acks_waiting = self.agents.values().any(|a| a.unacked_seq.is_some());
            Vec::new()
        };
        self.in_flight_acks.push_back(acks);
        let then = self.actions.split_off(before);
        self.actions.push(Action::Checkpoint {
            checkpoint: Box::new(cp),
            then,
        });
    }

    /// Whether a checkpoint at `now` acknowledges the batches it holds: every second
    /// checkpoint at most (the first 1.5 checkpoint intervals after the last acknowledgements;
    /// the ones it holds back go out with the next, taken for them if no batch comes). Each acknowledgement is a
    /// write on the agent's link, with the HTTP/2 window updates queued behind it: at 5,000
    /// agents they were 17 % of the controller's CPU (docs/benchmarks.md, session 13), and an
    /// agent keeps two seconds of batches as easily as one (36,000 at most, `agent`'s
    /// `MAX_UNACKED`). A streamed run's one client is acknowledged at every checkpoint.
    fn ack_due(&self, now: Now) -> bool {
        let every = self.cfg.checkpoint_interval.mul_f64(1.5);
        self.spec.streamed || self.last_acks.is_none_or(|t| since(now, t) >= every)
    }

    /// Acknowledges every merged batch (cumulatively, per agent); returns what was acked.
    fn take_acks(&mut self) -> Vec<(String, u64)> {
        let mut acked = Vec::new();
        for (name, a) in self.agents.iter_mut() {
            if let Some(seq) = a.unacked_seq.take() {
                acked.push((name.clone(), seq));
            }
        }
        for (name, seq) in &acked {
            let action = if self.spec.streamed {
                Action::StreamAcked(*seq)
            } else {
                Action::Send {
                    agent: name.clone(),
                    body: messages::ack(self.run_id, *seq),
                }
            };
            self.actions.push(action);
        }
        acked
    }

    fn finish(&mut self, now: Now) {
        let series = {
            let live = self.live_data();
            merge::with_summed_gauges(&live.series, &self.agent_gauges)
        };
        if self.started.is_some() {
            self.track_crossings(now, Some(&series));
        }
        let out = finish::outcome(FinishInput {
            reason: self.reason.as_ref(),
            stopped_locally: self.spec.streamed && self.local_abort,
            series: &series,
            thresholds: &self.thresholds,
            types: &self.types,
            elapsed: self.started.map(|s| since(now, s)).unwrap_or_default(),
            marked_failed: self.agents.values().find_map(|a| a.marked_failed.clone()),
            trend_stats: self.trend_stats.clone(),
            time_unit: self.time_unit.clone(),
            setup_data: self.setup_result.clone().flatten(),
            degraded_note: self.degraded_note.clone(),
        });
        self.actions.push(Action::Summary(out.summary));
        self.actions.push(Action::Transition {
            to: out.status,
            reason: out.why,
            changes: out.changes,
        });
        self.take_acks();
        if self.spec.streamed {
            self.actions.push(Action::StreamStatus(out.status));
        }
        self.actions.push(Action::DeleteCheckpoint);
        self.actions.push(Action::Finish {
            status: out.status,
            exit_code: out.exit_code,
        });
        self.phase = Phase::Finished;
    }
}

/// How far the agents got, for [`Machine::may_be_done`]: within a phase, an agent's part of
/// its condition (READY, EXECUTION_DONE, DONE with every batch, gone) only ever becomes true,
/// so each scan goes on from the first agent (in placement order) that did not meet it last
/// time — every agent is passed once a phase, not once a message.
#[derive(Debug, Clone, Copy)]
pub(super) struct Progress {
    /// The phase `met` counts for.
    phase: Phase,
    /// The agents before this position meet the phase's condition (or are gone).
    met: usize,
    /// The agents before this position are done or gone (the run can end once it is aborted).
    ended: usize,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            phase: Phase::Idle,
            met: 0,
            ended: 0,
        }
    }
}

/// The first position from `from` on in `order` whose agent does not meet `met`.
fn scan(
    order: &[String],
    agents: &BTreeMap<String, AgentState>,
    mut from: usize,
    met: impl Fn(&AgentState) -> bool,
) -> usize {
    while let Some(name) = order.get(from) {
        if agents.get(name).is_some_and(|a| !met(a)) {
            break;
        }
        from += 1;
    }
    from
}

/// How long since `t` at `now` (zero if `t` is later).
pub(super) fn since(now: Now, t: Instant) -> Duration {
    now.mono.saturating_duration_since(t)
}
