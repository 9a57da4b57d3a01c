//! The run machine, stepped with a fake clock through every path a run can take: the exact
//! actions each input produces are checked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use volley_common::exit::AbortReason;
use volley_common::metrics::{MetricType, Sink};
use volley_proto as pb;

use pb::controller_message::Body;

use super::arrivals::Arrivals;
use super::config::{CoordinatorConfig, Limits, OnAgentLost};
use super::machine::{Action, Input, Machine, Now, RunSpec};
use super::merge::LiveData;
use crate::checkpoint::{AgentProgress, Checkpoint, VERSION};
use crate::model::{Assignment, ResultStatus, RunStatus};

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
        assignments: agents
            .iter()
            .enumerate()
            .map(|(i, a)| Assignment {
                agent: a.to_string(),
                segment: format!("{i}/{n}:{}/{n}", i + 1),
                sequence: String::new(),
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
            series,
            ..Default::default()
        },
    )
}

fn series(metric: &str, mtype: MetricType, value: f64, tags: &[(&str, &str)]) -> pb::Series {
    let mut sink = Sink::new(mtype);
    sink.add(value, 0);
    pb::Series {
        metric: metric.into(),
        metric_type: mtype.as_str().into(),
        contains: "default".into(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        sink_json: serde_json::to_vec(&sink).unwrap(),
    }
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

#[test]
fn a_run_goes_through_its_phases_and_passes() {
    let mut h = Harness::new(&["a", "b"], config());
    let launched = h.step(Input::Launch {
        archive: Some(b"zip".to_vec()),
    });
    assert_eq!(sends(&launched), ["Assign a", "Assign b"]);
    let Action::Send {
        body: Body::Assign(assign),
        ..
    } = &launched[1]
    else {
        panic!("{launched:?}")
    };
    assert_eq!(
        (assign.segment.as_str(), assign.archive.as_slice()),
        ("1/2:2/2", b"zip".as_slice())
    );
    assert!(h.step(ready("a", 3)).is_empty());
    assert_eq!(sends(&h.step(ready("b", 4))), ["RunSetup a"]);
    let started = h.step(setup_ok("a", "{\"x\":1}"));
    assert_eq!(
        sends(&started),
        ["SetupData a", "SetupData b", "Start a", "Start b"]
    );
    assert!(started.contains(&Action::Send {
        agent: "b".into(),
        body: Body::Start(pb::Start {
            run_id: RUN,
            at_unix_ms: T0_UNIX_MS + 300,
        }),
    }));
    assert_eq!(
        transitions(&started),
        [(RunStatus::Running, "start barrier released".to_string())]
    );
    assert!(matches!(&started[4], Action::Transition { changes, .. } if changes.vus == Some(7)));
    assert!(matches!(started.last(), Some(Action::Checkpoint { .. })));

    h.after(1, batch("a", 1, iterations(5.0)));
    h.step(batch("b", 1, iterations(2.0)));
    assert!(h.step(event("a", pb::RunPhase::ExecutionDone)).is_empty());
    let teardown = h.step(event("b", pb::RunPhase::ExecutionDone));
    assert_eq!(sends(&teardown), ["Teardown+run a", "Teardown b"]);
    assert!(h.step(done("a", 1)).is_empty());
    // b's last batch is 2: the run waits for it.
    assert!(h.step(done("b", 2)).is_empty());
    let end = h.step(batch("b", 2, iterations(1.0)));
    assert_eq!(finish(&end), Some((RunStatus::Finished, 0)));
    assert_eq!(
        transitions(&end),
        [(RunStatus::Finished, "ran its course".to_string())]
    );
    assert!(matches!(&end[1], Action::Transition { changes, .. }
        if changes.result_status == Some(ResultStatus::Passed) && changes.exit_code == Some(0)));
    let Some(Action::Summary(summary)) = end.first() else {
        panic!("{end:?}")
    };
    assert_eq!(
        summary["metrics"][0]["values"],
        json!([["count", 8.0], ["rate", 8.0]]),
        "{summary}"
    );
    assert_eq!(summary["setup_data"], json!({"x": 1}));
    assert!(end.contains(&Action::DeleteCheckpoint));
    assert!(h.step(Input::Tick).is_empty(), "a finished run stays quiet");
}

#[test]
fn a_missing_archive_ends_the_run_at_once() {
    let mut h = Harness::new(&["a"], config());
    let end = h.step(Input::Launch { archive: None });
    assert_eq!(
        stops(&end),
        [("a".into(), system("the archive of test 7 is missing"), true)]
    );
    assert_eq!(
        finish(&end),
        Some((
            RunStatus::AbortedBySystem,
            volley_common::exit::code::SYSTEM
        ))
    );
}

#[test]
fn batches_merge_once_and_are_acked_only_once_checkpointed() {
    let mut h = Harness::new(&["a"], config());
    h.running(1);
    // Before 1 s since the last checkpoint: merged, not acknowledged.
    let first = h.step(batch("a", 1, iterations(5.0)));
    assert!(first.is_empty(), "{first:?}");
    // A replay of batch 1 is not merged again.
    h.step(batch("a", 1, iterations(5.0)));
    let cp = h.after(1, Input::Tick);
    let [Action::Checkpoint { checkpoint, then }] = cp.as_slice() else {
        panic!("{cp:?}")
    };
    assert_eq!(checkpoint.agents["a"].last_seq, 1);
    assert_eq!(
        then.as_slice(),
        [Action::Send {
            agent: "a".into(),
            body: super::messages::ack(RUN, 1),
        }]
    );
    let live = h.live.lock().unwrap();
    let count = serde_json::to_value(live.series.aggregate("iterations", &[]).unwrap()).unwrap();
    assert_eq!(count["counter"]["sum"], 5.0, "{count}");
}

#[test]
fn each_merged_batch_is_counted_once_with_its_lag() {
    let mut h = Harness::new(&["a"], config());
    h.running(1);
    assert!(h.m.take_merged().is_empty());
    // Batch 1's interval ended at T0 + 1 s; it arrives at T0 + 1.25 s.
    h.advance(Duration::from_millis(1250));
    h.step(batch("a", 1, iterations(5.0)));
    h.step(batch("a", 1, iterations(5.0)));
    assert_eq!(h.m.take_merged(), [250], "the replay is not counted");
    assert!(h.m.take_merged().is_empty(), "taken once");
    // An agent's clock ahead of the controller's: no negative lag.
    h.step(batch("a", 5, iterations(1.0)));
    assert_eq!(h.m.take_merged(), [0]);
}

#[test]
fn a_failed_checkpoint_keeps_the_batches_unacknowledged() {
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    h.fail_checkpoints = true;
    h.step(batch("a", 3, iterations(1.0)));
    let failed = h.after(1, Input::Tick);
    assert!(matches!(failed.as_slice(), [Action::Checkpoint { then, .. }] if then.len() == 1));
    h.fail_checkpoints = false;
    // Only b sends more, but the next checkpoint still acknowledges a's batch 3.
    h.step(batch("b", 1, iterations(1.0)));
    let again = h.after(1, Input::Tick);
    let [Action::Checkpoint { then, .. }] = again.as_slice() else {
        panic!("{again:?}")
    };
    let ack = |agent: &str, seq| Action::Send {
        agent: agent.into(),
        body: super::messages::ack(RUN, seq),
    };
    assert_eq!(then.as_slice(), [ack("a", 3), ack("b", 1)]);
}

#[test]
fn a_lost_agent_aborts_the_run() {
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    h.after(5, heartbeat("a", 10.0, 10));
    assert!(stops(&h.after(4, heartbeat("a", 10.0, 10))).is_empty());
    let lost = h.after(1, heartbeat("a", 10.0, 10));
    let why = system(
        "AGENT_LOST: agent b (segment 1/2:2/2) was silent for 10.0 s (agent_lost_after 10 s)",
    );
    assert_eq!(stops(&lost), [("a".into(), why, false)]);
    h.step(event("a", pb::RunPhase::ExecutionDone));
    let end = h.step(done("a", 0));
    assert_eq!(finish(&end), Some((RunStatus::AbortedBySystem, 97)));
}

#[test]
fn liveness_is_judged_on_arrival_not_on_processing() {
    let mut h = Harness::new(&["a", "b"], config());
    let arrivals = Arc::new(Arrivals::new(2));
    h.m.set_arrivals(arrivals.clone());
    h.running(1);
    // For 15 s b's messages arrive (its stream stamps them) but wait in the run's queue behind
    // a's, so the run's task never gets to them: b is not lost.
    for _ in 0..15 {
        h.advance(Duration::from_secs(1));
        arrivals.stamp_at(1, h.now().mono);
        assert!(stops(&h.step(heartbeat("a", 10.0, 10))).is_empty());
    }
    // Then nothing of b arrives any more: it is lost 10 s after its last arrival.
    assert!(stops(&h.after(9, heartbeat("a", 10.0, 10))).is_empty());
    let lost = h.after(1, heartbeat("a", 10.0, 10));
    let why = system(
        "AGENT_LOST: agent b (segment 1/2:2/2) was silent for 10.0 s (agent_lost_after 10 s)",
    );
    assert_eq!(stops(&lost), [("a".into(), why, false)]);
}

#[test]
fn with_continue_a_lost_agent_degrades_the_run() {
    let mut cfg = config();
    cfg.on_agent_lost = OnAgentLost::Continue;
    let mut h = Harness::new(&["a", "b"], cfg);
    h.running(1);
    let lost = h.after(10, heartbeat("a", 10.0, 10));
    assert!(stops(&lost).is_empty());
    let what =
        "AGENT_LOST: agent b (segment 1/2:2/2) was silent for 10.0 s (agent_lost_after 10 s)";
    assert_eq!(
        events(&lost),
        [(
            "warning",
            format!("{what}; the run continues without it (on_agent_lost: continue)")
        )]
    );
    let note = format!("degraded: {what}; its segment's load and data are missing from this run");
    assert!(lost.contains(&Action::Degraded { note: note.clone() }));
    // The teardown goes to the agent that is left.
    let teardown = h.step(event("a", pb::RunPhase::ExecutionDone));
    assert_eq!(sends(&teardown), ["Teardown+run a", "Teardown b"]);
    let end = h.step(done("a", 0));
    assert_eq!(finish(&end), Some((RunStatus::Finished, 0)));
    assert_eq!(summary_message(&end), Some(note));
}

/// A heartbeat saying the agent got SIGTERM and drains.
fn draining(agent: &str) -> Input {
    let Input::Heartbeat(a, mut h) = heartbeat(agent, 10.0, 10) else {
        unreachable!()
    };
    h.draining = true;
    Input::Heartbeat(a, h)
}

#[test]
fn a_drained_agent_past_its_grace_follows_the_agent_lost_policy() {
    let why = system("agent b terminated (SIGTERM): its part of run 1 did not finish within the drain grace of 1 s");
    // abort (the default): the run ends with the agent's reason, as before.
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    h.step(draining("b"));
    let stop = h.step(aborted_by("b", &why));
    assert_eq!(
        stops(&stop),
        [
            ("a".into(), why.clone(), false),
            ("b".into(), why.clone(), false)
        ]
    );
    // continue: only b's part stopped; the run goes on degraded and finishes on a.
    let mut cfg = config();
    cfg.on_agent_lost = OnAgentLost::Continue;
    let mut h = Harness::new(&["a", "b"], cfg.clone());
    h.running(1);
    h.step(draining("b"));
    let left = h.step(aborted_by("b", &why));
    assert!(stops(&left).is_empty(), "{left:?}");
    let AbortReason::System { message } = &why else {
        unreachable!()
    };
    assert_eq!(
        events(&left),
        [(
            "warning",
            format!("{message}; the run continues without it (on_agent_lost: continue)")
        )]
    );
    let note = format!(
        "degraded: {message}; its segment's load stopped early: the rest is missing from this run"
    );
    assert!(
        left.contains(&Action::Degraded { note: note.clone() }),
        "{left:?}"
    );
    h.step(done("b", 0));
    h.step(event("a", pb::RunPhase::ExecutionDone));
    let end = h.step(done("a", 0));
    assert_eq!(finish(&end), Some((RunStatus::Finished, 0)));
    assert_eq!(summary_message(&end), Some(note));
    // An agent that does not drain still aborts the run with its reason.
    let mut h = Harness::new(&["a", "b"], cfg.clone());
    h.running(1);
    assert!(!stops(&h.step(aborted_by("b", &why))).is_empty());
    // The only agent left: the run ends, no agent is left.
    let mut h = Harness::new(&["a"], cfg);
    h.running(1);
    h.step(draining("a"));
    let end = h.step(aborted_by("a", &why));
    assert!(!stops(&end).is_empty(), "{end:?}");
}

#[test]
fn with_continue_losing_every_agent_or_the_setup_agent_aborts() {
    let mut cfg = config();
    cfg.on_agent_lost = OnAgentLost::Continue;
    let mut h = Harness::new(&["a"], cfg.clone());
    h.running(1);
    let lost = h.after(10, Input::Tick);
    let what =
        "AGENT_LOST: agent a (segment 0/1:1/1) was silent for 10.0 s (agent_lost_after 10 s)";
    // The agent is gone: nobody is told to stop, and the run ends with what arrived.
    assert!(stops(&lost).is_empty());
    assert_eq!(finish(&lost), Some((RunStatus::AbortedBySystem, 97)));
    let Some(Action::Transition { changes, .. }) =
        lost.iter().find(|a| matches!(a, Action::Transition { .. }))
    else {
        panic!("{lost:?}")
    };
    assert_eq!(
        changes.error_detail.as_deref(),
        Some(format!("{what}; no agent is left").as_str())
    );

    let mut h = Harness::new(&["a", "b"], cfg);
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("a", 1));
    h.after(5, ready("b", 1));
    let lost = h.after(5, heartbeat("b", 10.0, 10));
    let what =
        "AGENT_LOST: agent a (segment 0/2:1/2) was silent for 10.0 s (agent_lost_after 10 s)";
    let why = system(&format!("{what} while it ran setup()"));
    // Stopped at once (setup never completed)...
    assert_eq!(stops(&lost), [("b".into(), why.clone(), true)]);
    // ...and every agent again once setup is abandoned.
    let end = h.step(done("b", 0));
    assert_eq!(
        stops(&end),
        [("a".into(), why.clone(), true), ("b".into(), why, true)]
    );
    assert_eq!(finish(&end), Some((RunStatus::AbortedBySystem, 97)));
}

#[test]
fn overload_aborts_only_when_sustained() {
    // An agent that reports no process CPU (older than that field) is judged on its host.
    for (cpu, mem) in [(95.0, 10), (10.0, 95)] {
        let mut h = Harness::new(&["a"], config());
        h.running(1);
        let first = h.after(1, heartbeat("a", cpu, mem));
        let levels: Vec<_> = events(&first).into_iter().map(|(l, _)| l).collect();
        assert_eq!(levels, ["warning", "warning"], "busy, then overloaded");
        assert!(events(&first)[1]
            .1
            .starts_with("the host of agent a is overloaded"));
        // Transient: it drops below the level, so the 30 s start over.
        h.after(20, heartbeat("a", 50.0, 50));
        h.after(1, heartbeat("a", cpu, mem));
        assert!(stops(&h.after(29, heartbeat("a", cpu, mem))).is_empty());
        let over = stops(&h.after(1, heartbeat("a", cpu, mem)));
        let [(agent, AbortReason::System { message }, false)] = over.as_slice() else {
            panic!("{over:?}")
        };
        assert_eq!(agent, "a");
        assert!(
            message.starts_with(&format!(
                "AGENT_OVERLOADED: the host of agent a at {cpu:.0} % CPU, {mem} % memory (the agent process ? % CPU, 0 % memory) for 30 s"
            )),
            "{message}"
        );
    }
}

/// The agent process and its host are judged separately, and the words say which: a host
/// saturated by other processes while the agent idles names the host (with the process's
/// figures); an agent process that saturates its host names the process.
#[test]
fn overload_names_the_agent_process_or_its_host() {
    let cases = [
        (
            12.0,
            97.0,
            "the host of agent a is busy: 97 % CPU, 40 % memory (the agent process 12 % CPU, 5 % memory)",
            "AGENT_OVERLOADED: the host of agent a at 97 % CPU, 40 % memory (the agent process 12 % CPU, 5 % memory) for 30 s; results would measure the load generator, not the system under test. Other processes load that machine",
        ),
        (
            96.0,
            98.0,
            "agent a's process is busy: 96 % CPU, 5 % memory",
            "AGENT_OVERLOADED: agent a's process at 96 % CPU, 5 % memory for 30 s; results would measure the load generator, not the system under test. Add agents",
        ),
    ];
    for (process_cpu, host_cpu, warning, abort) in cases {
        let mut h = Harness::new(&["a"], config());
        h.running(1);
        let beat = || process_heartbeat("a", process_cpu, host_cpu);
        let first = h.after(1, beat());
        let msgs: Vec<_> = events(&first).into_iter().map(|(_, m)| m).collect();
        assert!(msgs[0].starts_with(warning), "{msgs:?}");
        assert!(msgs[1].contains("is overloaded"), "{msgs:?}");
        let over = stops(&h.after(30, beat()));
        let [(_, AbortReason::System { message }, false)] = over.as_slice() else {
            panic!("{over:?}")
        };
        assert!(message.starts_with(abort), "{message}");
    }
    // Both below the levels: nothing said, nothing stopped.
    let mut h = Harness::new(&["a"], config());
    h.running(1);
    assert!(events(&h.after(1, process_heartbeat("a", 50.0, 70.0))).is_empty());
    assert!(stops(&h.after(40, process_heartbeat("a", 50.0, 70.0))).is_empty());
}

#[test]
fn a_failed_setup_stops_every_agent_without_teardown() {
    let mut h = Harness::new(&["a", "b"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("a", 1));
    h.step(ready("b", 1));
    let why = AbortReason::ScriptException {
        phase: "setup".into(),
        message: "boom".into(),
    };
    let failed = h.step(Input::Setup(
        "a".into(),
        pb::SetupResult {
            run_id: RUN,
            ok: false,
            data_json: String::new(),
            abort: Some((&why).into()),
        },
    ));
    assert_eq!(sends(&failed), ["Stop! a", "Stop! b"]);
    assert!(stops(&failed).iter().all(|(_, r, _)| *r == why));
    h.step(done("a", 0));
    let end = h.step(done("b", 0));
    // Setup is abandoned: every agent is stopped at once again, no SetupData, no teardown.
    assert_eq!(sends(&end), ["Stop! a", "Stop! b"]);
    assert_eq!(finish(&end), Some((RunStatus::AbortedByScriptError, 107)));
}

#[test]
fn a_script_abort_stops_the_run_with_its_exit_code() {
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    let why = AbortReason::ScriptAbort {
        message: Some("enough".into()),
        exit_code: None,
        context: None,
    };
    let aborted = h.after(1, aborted_by("b", &why));
    assert_eq!(
        stops(&aborted),
        [("a".into(), why.clone(), false), ("b".into(), why, false)]
    );
    let end = h.all_done(0);
    assert_eq!(finish(&end), Some((RunStatus::AbortedByScriptError, 108)));
    assert_eq!(summary_message(&end).as_deref(), Some("enough"));
}

#[test]
fn an_abort_on_fail_threshold_aborts_on_the_merged_data() {
    let options = json!({"thresholds": {"http_req_failed": [
        {"threshold": "rate<0.5", "abortOnFail": true}
    ]}});
    let mut h = Harness::with(spec(&["a", "b"], options, false), config());
    h.running(1);
    let failed = |v| vec![series("http_req_failed", MetricType::Rate, v, &[])];
    // Merged: 1 failure out of 3 requests is under the threshold.
    h.after(1, batch("a", 1, failed(1.0)));
    h.step(batch("b", 1, failed(0.0)));
    assert!(stops(&h.after(1, batch("b", 2, failed(0.0)))).is_empty());
    // Now 3 out of 5: the next evaluation (every 2 s) aborts.
    h.step(batch("a", 2, failed(1.0)));
    assert!(stops(&h.step(batch("a", 3, failed(1.0)))).is_empty());
    let aborted = h.after(2, Input::Tick);
    let why = AbortReason::Threshold {
        metrics: vec!["http_req_failed".into()],
    };
    assert_eq!(
        stops(&aborted),
        [("a".into(), why.clone(), false), ("b".into(), why, false)]
    );
    // Aborted: the run ends once every agent is done, without waiting for missing batches.
    let end = h.all_done(3);
    assert_eq!(finish(&end), Some((RunStatus::AbortedByThreshold, 99)));
}

#[test]
fn silence_from_every_agent_times_the_run_out() {
    let mut cfg = config();
    cfg.agent_lost_after = Duration::from_secs(600);
    let mut h = Harness::new(&["a", "b"], cfg);
    h.running(1);
    h.after(60, heartbeat("a", 1.0, 1));
    assert!(
        stops(&h.after(60, Input::Tick)).is_empty(),
        "a spoke 60 s ago"
    );
    let end = h.after(60, Input::Tick);
    let why = AbortReason::TimedOut {
        message: "TIMED_OUT: no data or heartbeat from the run's agents for 120 s (data_timeout)"
            .into(),
    };
    assert_eq!(
        stops(&end),
        [("a".into(), why.clone(), false), ("b".into(), why, false)]
    );
    // Nobody answers: the run ends with what arrived, without waiting for them.
    assert_eq!(finish(&end), Some((RunStatus::TimedOut, 97)));
}

#[test]
fn limits_abort_the_run() {
    let limit = |r: &AbortReason| match r {
        AbortReason::Limit { limit, .. } => limit.clone(),
        other => panic!("{other:?}"),
    };
    // Groups.
    let mut cfg = config();
    cfg.limits.max_groups = 1;
    let mut h = Harness::new(&["a"], cfg);
    h.running(1);
    let grouped = |g| series("checks", MetricType::Rate, 1.0, &[("group", g)]);
    assert!(stops(&h.step(batch("a", 1, vec![grouped("::x")]))).is_empty());
    let over = h.step(batch("a", 2, vec![grouped("::y")]));
    assert_eq!(limit(&stops(&over)[0].1), "max_groups");

    // Series.
    let mut cfg = config();
    cfg.limits.max_series = 2;
    let mut h = Harness::new(&["a"], cfg);
    h.running(1);
    let tagged = |n| series("iterations", MetricType::Counter, 1.0, &[("n", n)]);
    assert!(stops(&h.step(batch("a", 1, vec![tagged("1"), tagged("2")]))).is_empty());
    let over = stops(&h.step(batch("a", 2, vec![tagged("3")])));
    let [(_, AbortReason::Limit { limit, message }, _)] = over.as_slice() else {
        panic!("{over:?}")
    };
    assert_eq!(limit, "max_series");
    assert!(
        message.starts_with("the run has 3 metric series"),
        "{message}"
    );

    // Duration.
    let mut cfg = config();
    cfg.limits.max_duration = Duration::from_secs(60);
    let mut h = Harness::new(&["a"], cfg);
    h.running(1);
    assert!(stops(&h.after(60, heartbeat("a", 1.0, 1))).is_empty());
    let over = h.after(1, heartbeat("a", 1.0, 1));
    assert_eq!(
        stops(&over),
        [(
            "a".into(),
            AbortReason::Limit {
                limit: "max_duration".into(),
                message: "the run went on longer than 60 s".into()
            },
            false
        )]
    );
    let end = h.all_done(0);
    assert_eq!(finish(&end), Some((RunStatus::AbortedByLimit, 97)));
}

#[test]
fn a_stop_ends_the_run_from_every_phase() {
    let api = AbortReason::ApiStop;
    // Initializing: stopped at once; no setup, no teardown.
    let mut h = Harness::new(&["a", "b"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("a", 1));
    assert_eq!(
        sends(&h.step(Input::Stop(api.clone()))),
        ["Stop! a", "Stop! b"]
    );
    h.step(done("a", 0));
    let end = h.step(done("b", 0));
    assert_eq!(sends(&end), ["Stop! a", "Stop! b"], "no setup, no teardown");
    assert_eq!(finish(&end), Some((RunStatus::AbortedByUser, 103)));

    // Setup: stopped at once; setup's result no longer matters.
    let mut h = Harness::new(&["a", "b"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("a", 1));
    h.step(ready("b", 1));
    assert_eq!(
        sends(&h.step(Input::Stop(api.clone()))),
        ["Stop! a", "Stop! b"]
    );
    let late = h.step(setup_ok("a", ""));
    assert_eq!(
        sends(&late),
        ["Stop! a", "Stop! b"],
        "no SetupData, no Start"
    );
    h.step(done("a", 0));
    let end = h.step(done("b", 0));
    assert_eq!(finish(&end), Some((RunStatus::AbortedByUser, 103)));

    // Running: a graceful stop; teardown still runs once.
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    let stop = h.after(1, Input::Stop(api.clone()));
    assert_eq!(sends(&stop), ["Stop a", "Stop b"]);
    assert!(sends(&h.step(event("a", pb::RunPhase::ExecutionDone))).is_empty());
    let teardown = h.step(event("b", pb::RunPhase::ExecutionDone));
    assert_eq!(sends(&teardown), ["Teardown+run a", "Teardown b"]);
    h.step(done("a", 0));
    assert_eq!(
        finish(&h.step(done("b", 0))),
        Some((RunStatus::AbortedByUser, 103))
    );

    // Teardown: agents still going are stopped; the first reason wins.
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    h.step(event("a", pb::RunPhase::ExecutionDone));
    h.step(event("b", pb::RunPhase::ExecutionDone));
    h.step(done("a", 0));
    assert_eq!(sends(&h.step(Input::Stop(api.clone()))), ["Stop b"]);
    assert!(h.step(Input::Stop(system("later"))).is_empty());
    assert_eq!(
        finish(&h.step(done("b", 0))),
        Some((RunStatus::AbortedByUser, 103))
    );
}

/// A checkpoint of a two-agent run that was running when the controller stopped.
fn checkpoint(teardown_agent: Option<&str>, reason: Option<AbortReason>) -> Checkpoint {
    let progress = |last_seq| AgentProgress {
        last_seq,
        vus: 1,
        execution_done: true,
        ..Default::default()
    };
    Checkpoint {
        version: VERSION,
        started_unix_ms: T0_UNIX_MS - 30_000,
        setup_completed: true,
        setup_data: None,
        teardown_agent: teardown_agent.map(String::from),
        reason,
        agents: [
            ("a".to_string(), progress(4)),
            ("b".to_string(), progress(6)),
        ]
        .into_iter()
        .collect(),
        series: Vec::new(),
        agent_gauges: BTreeMap::new(),
    }
}

#[test]
fn after_a_restart_teardown_runs_on_the_agent_chosen_before() {
    let mut h = Harness::new(&["a", "b"], config());
    h.m.restore(h.now(), checkpoint(Some("b"), None)).unwrap();
    let resumed = h.step(Input::Resume);
    assert_eq!(
        events(&resumed)[0].1,
        "the controller restarted; the run resumes from its last checkpoint and waits up to 10 s (agent_lost_after) for its agents (a, b) to re-attach"
    );
    // Both had finished executing: teardown goes out at once, to b as before.
    assert_eq!(sends(&resumed), ["Teardown a", "Teardown+run b"]);

    // Without a choice recorded and a lost, the first live agent runs it.
    let mut h = Harness::new(&["a", "b"], config());
    let mut cp = checkpoint(None, None);
    cp.agents.get_mut("a").unwrap().gone = true;
    h.m.restore(h.now(), cp).unwrap();
    let resumed = h.step(Input::Resume);
    assert_eq!(sends(&resumed), ["Teardown a", "Teardown+run b"]);
    let Some(Action::Checkpoint { checkpoint, .. }) = resumed
        .iter()
        .filter(|a| matches!(a, Action::Checkpoint { .. }))
        .nth(1)
    else {
        panic!("the choice is checkpointed: {resumed:?}")
    };
    assert_eq!(checkpoint.teardown_agent.as_deref(), Some("b"));
}

#[test]
fn agents_that_do_not_reattach_after_a_restart_are_lost() {
    let mut h = Harness::new(&["a", "b"], config());
    let mut cp = checkpoint(None, None);
    for a in cp.agents.values_mut() {
        a.execution_done = false;
    }
    h.m.restore(h.now(), cp).unwrap();
    h.step(Input::Resume);
    let back = h.after(3, Input::Reattached("a".into()));
    assert_eq!(
        events(&back),
        [("info", "agent a re-attached to the run".to_string())]
    );
    // Batches merged before the restart are acknowledged again with the next checkpoint.
    let Some(Action::Checkpoint { then, .. }) = back.last() else {
        panic!("{back:?}")
    };
    assert_eq!(
        then.as_slice(),
        [Action::Send {
            agent: "a".into(),
            body: super::messages::ack(RUN, 4),
        }]
    );
    assert!(stops(&h.after(6, heartbeat("a", 1.0, 1))).is_empty());
    let lost = h.after(1, heartbeat("a", 1.0, 1));
    let why = system("AGENT_LOST: agent b (segment 1/2:2/2) did not re-attach within 10 s (agent_lost_after) after the controller restarted");
    assert_eq!(stops(&lost), [("a".into(), why, false)]);
}

/// A run a new Raft leader took over says so, not that the controller restarted: in its
/// resume event (with what the checkpoint held) and in the AGENT_LOST of an agent that does
/// not come back.
#[test]
fn a_run_taken_over_by_a_new_leader_says_which_node_resumed_it() {
    let mut h = Harness::new(&["a", "b"], config());
    let mut cp = checkpoint(None, None);
    for (a, n) in cp.agents.values_mut().zip([4, 6]) {
        a.execution_done = false;
        a.iterations = n;
    }
    h.m.set_resume_cause(super::machine::ResumeCause::LeaderChange { node: 2 });
    h.m.restore(h.now(), cp).unwrap();
    let resumed = h.step(Input::Resume);
    assert_eq!(
        events(&resumed)[0].1,
        "node 2 became the Raft leader and resumed the run from the last checkpoint a quorum \
         committed (10 iterations merged); the run waits up to 10 s (agent_lost_after) for its \
         agents (a, b) to re-attach"
    );
    h.after(3, Input::Reattached("a".into()));
    h.after(6, heartbeat("a", 1.0, 1));
    let lost = h.after(1, heartbeat("a", 1.0, 1));
    let why = system("AGENT_LOST: agent b (segment 1/2:2/2) did not re-attach within 10 s (agent_lost_after) after node 2 became the Raft leader");
    assert_eq!(stops(&lost), [("a".into(), why, false)]);
}

#[test]
fn a_reattached_agent_of_a_stopping_run_is_told_again() {
    let mut h = Harness::new(&["a"], config());
    let mut cp = checkpoint(None, Some(AbortReason::ApiStop));
    cp.agents.remove("b");
    cp.agents.get_mut("a").unwrap().execution_done = false;
    h.m.restore(h.now(), cp).unwrap();
    assert!(stops(&h.step(Input::Resume)).is_empty());
    let back = h.after(1, Input::Reattached("a".into()));
    assert_eq!(stops(&back), [("a".into(), AbortReason::ApiStop, false)]);
    h.step(event("a", pb::RunPhase::ExecutionDone));
    let end = h.step(done("a", 4));
    assert_eq!(finish(&end), Some((RunStatus::AbortedByUser, 103)));
}

#[test]
fn a_streamed_run_tells_its_client_instead_of_agents() {
    let mut h = Harness::with(spec(&["laptop"], json!({}), true), config());
    h.m.start_streamed(h.now());
    assert!(matches!(
        h.step(Input::Resume).as_slice(),
        [Action::Checkpoint { .. }]
    ));
    let cp = h.after(1, batch("laptop", 1, iterations(1.0)));
    assert!(matches!(cp.as_slice(), [Action::Checkpoint { then, .. }]
        if then.as_slice() == [Action::StreamAcked(1)]));
    let stop = h.step(Input::Stop(AbortReason::ApiStop));
    assert_eq!(stop, [Action::StreamStop(AbortReason::ApiStop)]);
    let end = h.step(done("laptop", 1));
    assert!(end.contains(&Action::StreamStatus(RunStatus::AbortedByUser)));
    assert_eq!(finish(&end), Some((RunStatus::AbortedByUser, 103)));

    // Stopped where it runs (Ctrl+C): FINISHED here, exit code 105.
    let mut h = Harness::with(spec(&["laptop"], json!({}), true), config());
    h.m.start_streamed(h.now());
    h.step(Input::Resume);
    let signal = AbortReason::Signal {
        signal: "interrupt".into(),
    };
    let Input::Event(a, mut e) = done("laptop", 0) else {
        unreachable!()
    };
    e.abort = Some((&signal).into());
    let end = h.after(1, Input::Event(a, e));
    assert_eq!(end[0], Action::StreamStop(signal));
    assert_eq!(finish(&end), Some((RunStatus::Finished, 105)));
}

#[test]
fn an_agent_that_ends_during_vu_init_aborts_the_run() {
    let mut h = Harness::new(&["a", "b"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("a", 1));
    let ended = h.step(done("b", 0));
    let why = system(
        "agent b ended its part of the run during VU init: its engine ended before the run started",
    );
    // Only a is still going: it is stopped at once, and the run does not wait for b.
    assert_eq!(stops(&ended), [("a".into(), why, true)]);
    let end = h.step(done("a", 0));
    assert_eq!(sends(&end), ["Stop! a", "Stop! b"]);
    assert_eq!(finish(&end), Some((RunStatus::AbortedBySystem, 97)));
}

#[test]
fn the_end_reports_failed_thresholds_and_a_run_marked_failed() {
    // A threshold without abortOnFail fails at the end: FINISHED, FAILED, 99.
    let options = json!({"thresholds": {"iterations": ["count<2"]}});
    let mut h = Harness::with(spec(&["a"], options, false), config());
    h.running(1);
    h.after(1, batch("a", 1, iterations(5.0)));
    let end = h.all_done(1);
    assert_eq!(finish(&end), Some((RunStatus::Finished, 99)));
    assert!(matches!(
        end.iter().find(|a| matches!(a, Action::Transition { .. })),
        Some(Action::Transition { reason, changes, .. })
            if reason == "thresholds on metrics 'iterations' have been crossed"
                && changes.result_status == Some(ResultStatus::Failed)
    ));

    // exec.test.fail() on one agent: FINISHED, FAILED, 110.
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    for a in ["a", "b"] {
        h.step(event(a, pb::RunPhase::ExecutionDone));
    }
    h.step(done("a", 0));
    let Input::Event(b, mut e) = done("b", 0) else {
        unreachable!()
    };
    e.marked_failed = true;
    e.failed_message = "bad data".into();
    let end = h.step(Input::Event(b, e));
    assert_eq!(finish(&end), Some((RunStatus::Finished, 110)));
    assert_eq!(
        summary_message(&end).as_deref(),
        Some("test run was marked as failed")
    );
}

#[test]
fn vus_gauges_are_summed_across_agents() {
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    let vus = |n| vec![series("vus", MetricType::Gauge, n, &[])];
    h.after(1, batch("a", 1, vus(3.0)));
    h.step(batch("b", 1, vus(4.0)));
    let end = h.all_done(0);
    let Some(Action::Summary(summary)) = end.iter().find(|a| matches!(a, Action::Summary(_)))
    else {
        panic!("{end:?}")
    };
    let vus = summary["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "vus")
        .unwrap_or_else(|| panic!("{summary}"));
    // Each agent runs part of the VUs: the cluster's value is the sum, not the latest.
    let values = vus["values"].as_array().unwrap();
    assert!(values.contains(&json!(["value", 7.0])), "{vus}");
}

#[test]
fn an_agent_that_never_reports_ready_times_the_init_out() {
    let mut h = Harness::new(&["a", "b"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.after(1, ready("a", 1));
    // b keeps sending heartbeats (it is not lost), but never READY.
    for _ in 0..58 {
        h.after(1, heartbeat("a", 10.0, 10));
        assert!(stops(&h.step(heartbeat("b", 10.0, 10))).is_empty());
    }
    let late = h.after(1, heartbeat("a", 10.0, 10));
    let why = system(
        "INIT_TIMEOUT: agent b (segment 1/2:2/2) did not finish VU init within 1m0s (--init-timeout); look for slow or endless code at the top level of the script, or raise --init-timeout",
    );
    assert_eq!(
        stops(&late),
        [("a".into(), why.clone(), true), ("b".into(), why, true)]
    );
    // a confirms the stop; b does not answer: it is given up after the stop grace.
    assert!(finish(&h.after(1, done("a", 0))).is_none());
    assert!(finish(&h.after(3, heartbeat("b", 10.0, 10))).is_none());
    let end = h.after(1, Input::Tick);
    assert_eq!(
        events(&end)[0],
        (
            "warning",
            "agent b did not confirm the stop within 5 s; the run ends without it".into()
        )
    );
    assert_eq!(finish(&end), Some((RunStatus::AbortedBySystem, 97)));
}

#[test]
fn a_run_can_set_its_own_init_timeout_and_ready_agents_are_not_named() {
    let options = json!({"volley": {"initTimeout": "2s"}});
    let mut h = Harness::with(spec(&["a", "b", "c"], options, false), config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("b", 1));
    assert!(stops(&h.after(1, Input::Tick)).is_empty());
    let late = h.after(1, Input::Tick);
    let (_, why, immediate) = &stops(&late)[0];
    assert!(immediate);
    assert_eq!(why.message(), "INIT_TIMEOUT: agents a (segment 0/3:1/3), c (segment 2/3:3/3) did not finish VU init within 2s (options.volley.initTimeout); look for slow or endless code at the top level of the script, or raise options.volley.initTimeout");
    // Agents whose looping init code was interrupted confirm the stop: the run ends at once.
    for a in ["a", "b"] {
        h.step(done(a, 0));
    }
    let end = h.step(done("c", 0));
    assert_eq!(finish(&end), Some((RunStatus::AbortedBySystem, 97)));
}

#[test]
fn an_init_within_the_timeout_starts_the_run() {
    let mut h = Harness::new(&["a"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    for _ in 0..58 {
        h.after(1, heartbeat("a", 10.0, 10));
    }
    let ready_late = h.after(1, ready("a", 1));
    assert_eq!(sends(&ready_late), ["RunSetup a"]);
    // Setup may take longer than the init timeout (setupTimeout governs it).
    for _ in 0..90 {
        assert!(stops(&h.after(1, heartbeat("a", 10.0, 10))).is_empty());
    }
}
