//! The run machine, stepped with a fake clock through every path a run can take: the exact
//! actions each input produces are checked. The harness and helpers live here, one file per
//! concept below.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use volley_common::exit::AbortReason;
use volley_common::metrics::{MetricType, Sink, ValueType};
use volley_proto as pb;

use pb::controller_message::Body;

use super::arrivals::Arrivals;
use super::config::{CoordinatorConfig, Limits, OnAgentLost};
use super::machine::{Action, Input, Machine, Now, RunSpec};
use super::merge::LiveData;
use crate::checkpoint::{AgentProgress, Checkpoint, VERSION};
use crate::model::{Assignment, ResultStatus, RunStatus};

mod agent_loss;
mod batches;
mod lifecycle;
mod limits;
mod resume;
mod start;
mod stop;
mod thresholds;

const RUN: u64 = 42;
const T0_UNIX_MS: u64 = 1_700_000_000_000;

/// A run machine with a fake clock; checkpoints are written at once unless told otherwise.
struct Harness {
    m: Machine,
    base: Instant,
    at: Duration,
    live: Arc<Mutex<LiveData>>,
    /// Whether the next checkpoints fail to be written.
    fail_checkpoints: bool,
}

fn config() -> CoordinatorConfig {
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
        queue_timeout: Duration::from_secs(3600),
        queue_reserve_after: Duration::from_secs(60),
        init_timeout: Duration::from_secs(60),
        targets: Default::default(),
        controller_ports: vec![6565, 6566],
        agent_max_vus: 0,
        scaler: None,
    }
}

fn spec(agents: &[&str], options: serde_json::Value, streamed: bool) -> RunSpec {
    let n = agents.len();
    RunSpec {
        run_id: RUN,
        test_id: 7,
        sequence: String::new(),
        assignments: agents
            .iter()
            .enumerate()
            .map(|(i, a)| Assignment {
                agent: a.to_string(),
                segment: format!("{i}/{n}:{}/{n}", i + 1),
            })
            .collect(),
        config: options,
        env: BTreeMap::new(),
        streamed,
        degraded_note: None,
    }
}

impl Harness {
    fn new(agents: &[&str], cfg: CoordinatorConfig) -> Self {
        Self::with(spec(agents, json!({}), false), cfg)
    }

    fn with(spec: RunSpec, cfg: CoordinatorConfig) -> Self {
        let base = Instant::now();
        let live = Arc::new(Mutex::new(LiveData::default()));
        let now = Now {
            mono: base,
            unix_ms: T0_UNIX_MS,
        };
        Harness {
            m: Machine::new(spec, cfg, live.clone(), now),
            base,
            at: Duration::ZERO,
            live,
            fail_checkpoints: false,
        }
    }

    fn now(&self) -> Now {
        Now {
            mono: self.base + self.at,
            unix_ms: T0_UNIX_MS + self.at.as_millis() as u64,
        }
    }

    fn advance(&mut self, d: Duration) {
        self.at += d;
    }

    /// One input; checkpoints are reported written (or failed), as the driver does.
    fn step(&mut self, input: Input) -> Vec<Action> {
        let actions = self.m.step(self.now(), input);
        for a in &actions {
            if let Action::Checkpoint { .. } = a {
                if self.fail_checkpoints {
                    self.m.checkpoint_failed(Duration::ZERO);
                } else {
                    self.m.checkpoint_written(Duration::ZERO);
                }
            }
        }
        actions
    }

    fn after(&mut self, secs: u64, input: Input) -> Vec<Action> {
        self.advance(Duration::from_secs(secs));
        self.step(input)
    }

    /// Launched, every agent READY with `vus` each, setup() returned `{"x":1}`: RUNNING.
    fn running(&mut self, vus: u64) -> Vec<Action> {
        self.step(Input::Launch {
            archive: Some(b"archive".to_vec()),
        });
        for a in self.m.agents().to_vec() {
            self.step(ready(&a, vus));
        }
        let first = self.m.agents()[0].clone();
        self.step(setup_ok(&first, "{\"x\":1}"))
    }

    /// Every agent reports EXECUTION_DONE then DONE with `last_seq` as its last batch.
    fn all_done(&mut self, last_seq: u64) -> Vec<Action> {
        let mut out = Vec::new();
        for a in self.m.agents().to_vec() {
            out.extend(self.step(event(&a, pb::RunPhase::ExecutionDone)));
        }
        for a in self.m.agents().to_vec() {
            out.extend(self.step(done(&a, last_seq)));
        }
        out
    }
}

fn event(agent: &str, phase: pb::RunPhase) -> Input {
    Input::Event(
        agent.into(),
        pb::RunEvent {
            run_id: RUN,
            phase: phase as i32,
            ..Default::default()
        },
    )
}

fn ready(agent: &str, vus: u64) -> Input {
    let Input::Event(a, mut e) = event(agent, pb::RunPhase::Ready) else {
        unreachable!()
    };
    e.vus = vus;
    Input::Event(a, e)
}

fn done(agent: &str, last_batch_seq: u64) -> Input {
    let Input::Event(a, mut e) = event(agent, pb::RunPhase::Done) else {
        unreachable!()
    };
    e.last_batch_seq = last_batch_seq;
    Input::Event(a, e)
}

fn aborted_by(agent: &str, reason: &AbortReason) -> Input {
    let Input::Event(a, mut e) = event(agent, pb::RunPhase::Failed) else {
        unreachable!()
    };
    e.abort = Some(reason.into());
    Input::Event(a, e)
}

fn setup_ok(agent: &str, data: &str) -> Input {
    Input::Setup(
        agent.into(),
        pb::SetupResult {
            run_id: RUN,
            ok: true,
            data_json: data.into(),
            abort: None,
        },
    )
}

fn heartbeat(agent: &str, cpu: f64, memory_percent: u64) -> Input {
    Input::Heartbeat(
        agent.into(),
        pb::Heartbeat {
            cpu_percent: cpu,
            memory_used_bytes: memory_percent,
            memory_total_bytes: 100,
            run_id: RUN,
            ..Default::default()
        },
    )
}

/// A heartbeat of an agent whose process uses `process_cpu` % of its host (RSS 5 % of its
/// memory) while the host is at `host_cpu` % CPU and 40 % memory.
fn process_heartbeat(agent: &str, process_cpu: f64, host_cpu: f64) -> Input {
    Input::Heartbeat(
        agent.into(),
        pb::Heartbeat {
            cpu_percent: host_cpu,
            memory_used_bytes: 40,
            memory_total_bytes: 100,
            process_rss_bytes: 5,
            process_cpu_percent: Some(process_cpu),
            run_id: RUN,
            ..Default::default()
        },
    )
}

/// A batch of one counter (`iterations`, tagged) per entry of `tags`.
fn batch(agent: &str, seq: u64, series: Vec<pb::Series>) -> Input {
    Input::Metrics(
        agent.into(),
        pb::MetricBatch {
            run_id: RUN,
            seq,
            end_unix_ms: T0_UNIX_MS + seq * 1000,
            series: series.into(),
            ..Default::default()
        },
    )
}

fn series(metric: &str, mtype: MetricType, value: f64, tags: &[(&str, &str)]) -> pb::Series {
    let mut sink = Sink::new(mtype);
    sink.add(value, 0);
    pb::Series::from_sink(
        metric.into(),
        ValueType::Default,
        tags.iter().copied(),
        sink,
    )
}

fn iterations(n: f64) -> Vec<pb::Series> {
    vec![series("iterations", MetricType::Counter, n, &[])]
}

/// The Stop messages among the actions: (agent, reason, immediate).
fn stops(actions: &[Action]) -> Vec<(String, AbortReason, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                agent,
                body: Body::Stop(s),
            } => Some((
                agent.clone(),
                AbortReason::try_from(s.reason.clone().unwrap()).unwrap(),
                s.immediate,
            )),
            _ => None,
        })
        .collect()
}

/// Which message kinds went to which agent, in order (`Kind agent`).
fn sends(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { agent, body } => Some(format!("{} {agent}", kind(body))),
            _ => None,
        })
        .collect()
}

fn kind(body: &Body) -> &'static str {
    match body {
        Body::Assign(_) => "Assign",
        Body::RunSetup(_) => "RunSetup",
        Body::SetupData(_) => "SetupData",
        Body::Start(_) => "Start",
        Body::Teardown(t) if t.run_teardown => "Teardown+run",
        Body::Teardown(_) => "Teardown",
        Body::Stop(s) if s.immediate => "Stop!",
        Body::Stop(_) => "Stop",
        Body::Ack(_) => "Ack",
        _ => "other",
    }
}

/// The run's end: (status, exit code).
fn finish(actions: &[Action]) -> Option<(RunStatus, i32)> {
    actions.iter().find_map(|a| match a {
        Action::Finish { status, exit_code } => Some((*status, *exit_code)),
        _ => None,
    })
}

fn transitions(actions: &[Action]) -> Vec<(RunStatus, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Transition { to, reason, .. } => Some((*to, reason.clone())),
            _ => None,
        })
        .collect()
}

fn events(actions: &[Action]) -> Vec<(&'static str, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event { level, message } => Some((*level, message.clone())),
            _ => None,
        })
        .collect()
}

fn summary_message(actions: &[Action]) -> Option<String> {
    actions.iter().find_map(|a| match a {
        Action::Summary(s) => s["result"]["message"].as_str().map(String::from),
        _ => None,
    })
}

fn system(message: &str) -> AbortReason {
    AbortReason::System {
        message: message.into(),
    }
}

/// The crossings among the actions: (at, metric, threshold, ok).
fn crossings(actions: &[Action]) -> Vec<(u64, String, String, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ThresholdCrossed {
                at_unix_ms,
                crossing,
            } => Some((
                *at_unix_ms,
                crossing.metric.clone(),
                crossing.threshold.clone(),
                crossing.ok,
            )),
            _ => None,
        })
        .collect()
}
