//! One simulated agent: a gRPC connection of its own and the real protocol
//! (docs/cluster-runs.md) — Register; a heartbeat with telemetry every second; READY on Assign;
//! a SetupResult on RunSetup; from the Start barrier one metric batch an interval, at the phase
//! of the interval its segment gives, as a real agent (`volley_proto::batch_clock`), the last at
//! the end of the run's duration, then EXECUTION_DONE; DONE with the last batch's number on
//! Teardown. It runs no script: its batches are the prepared variants of `crate::batches`, so
//! the harness's own CPU stays small next to the controller's.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use volley_proto as pb;

use pb::agent_message::Body as Out;
use pb::controller_message::Body as In;

use crate::batches::{Totals, Variant};
use crate::wait::wait_for;
use pb::batch_clock::{BatchClock, Span};

/// Longest the harness waits for the controller to answer a connection or a registration.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Memory every simulated agent reports (8 GiB, a quarter in use).
const MEMORY: u64 = 8 << 30;

/// What the simulated agents of one measurement share: the batches to send and what they saw.
pub struct Fleet {
    pub variants: Vec<Variant>,
    /// The run's duration in seconds: each agent sends a batch every metrics interval of it,
    /// and the last at its end.
    pub run_secs: u64,
    /// Connections made at once (a burst of thousands would overflow the listen backlog).
    pub connecting: Semaphore,
    pub registered: AtomicUsize,
    /// Agents that received the Start barrier.
    pub started: AtomicUsize,
    /// Agents that sent their last batch.
    pub finished: AtomicUsize,
    /// Agents that reported DONE.
    pub done: AtomicUsize,
    pub log: Mutex<SendLog>,
    /// Send → acknowledgement of each batch, in ms.
    pub acks: Mutex<Vec<f64>>,
    /// How late each batch left its agent (after its second was over), in ms: the harness's
    /// own delay (its CPU) plus the wait for room on the link (the controller's back-pressure).
    pub late: Mutex<Vec<f64>>,
    /// What went wrong (a Stop, a refusal, a broken link); the first few are kept.
    pub problems: Mutex<Vec<String>>,
    /// Each Start barrier: when it arrived and the instant it names (when a real agent's VUs
    /// begin), for the run-start row (`crate::run_start`).
    pub starts: Mutex<Vec<(Instant, Instant)>>,
    /// The VUs each Assign gave its agent (its segment's share of the test's `vus`), counted
    /// only when [`Fleet::counting_vus`] asked for it.
    pub assigned_vus: Mutex<Vec<u64>>,
    /// Whether agents work out their VUs from each Assign (the run-start row). The curve's
    /// agents report one VU each: striping a segment in a sequence of N agents costs O(N) per
    /// agent, so N agents doing it at once stalled the harness at 3,000 agents (13 s to start,
    /// then AGENT_LOST while its heartbeats waited).
    count_vus: bool,
}

/// Every batch sent, in order, with the iterations sent up to it (for the merge lag,
/// `crate::probe`), and everything sent.
#[derive(Default)]
pub struct SendLog {
    pub sent: Vec<(Instant, f64)>,
    pub totals: Totals,
}

impl SendLog {
    /// How long the oldest batch not merged yet had waited at `at`, when the controller showed
    /// `merged` iterations merged (batches are taken to be merged in the order they were sent).
    pub fn backlog_age(&self, merged: f64, at: Instant) -> Duration {
        let i = self.sent.partition_point(|(_, upto)| *upto <= merged);
        self.sent
            .get(i)
            .map_or(Duration::ZERO, |(t, _)| at.saturating_duration_since(*t))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Fleet {
    pub fn new(variants: Vec<Variant>, run_secs: u64) -> Self {
        Fleet {
            variants,
            run_secs,
            connecting: Semaphore::new(64),
            registered: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            log: Mutex::new(SendLog::default()),
            acks: Mutex::new(Vec::new()),
            late: Mutex::new(Vec::new()),
            problems: Mutex::new(Vec::new()),
            starts: Mutex::new(Vec::new()),
            assigned_vus: Mutex::new(Vec::new()),
            count_vus: false,
        }
    }

    /// The same fleet, its agents working out their VUs from each Assign as a real agent does.
    pub fn counting_vus(mut self) -> Self {
        self.count_vus = true;
        self
    }

    /// The Start barriers seen since the last call: (arrived, the barrier's instant).
    pub fn take_starts(&self) -> Vec<(Instant, Instant)> {
        std::mem::take(&mut lock(&self.starts))
    }

    /// The VUs of the Assigns seen since the last call.
    pub fn take_assigned_vus(&self) -> Vec<u64> {
        std::mem::take(&mut lock(&self.assigned_vus))
    }

    pub fn problem(&self, what: String) {
        let mut p = lock(&self.problems);
        if p.len() < 20 {
            p.push(what);
        }
    }

    pub fn problems(&self) -> Vec<String> {
        lock(&self.problems).clone()
    }

    pub fn acks(&self) -> Vec<f64> {
        lock(&self.acks).clone()
    }

    pub fn late(&self) -> Vec<f64> {
        lock(&self.late).clone()
    }

    pub fn sent_totals(&self) -> Totals {
        lock(&self.log).totals
    }

    pub fn backlog_age(&self, merged: f64, at: Instant) -> Duration {
        lock(&self.log).backlog_age(merged, at)
    }

    /// Starts `n` simulated agents of this fleet on `rt`, each with a connection of its own to
    /// the controller's gRPC address `url`; an agent that fails says why in [`Fleet::problems`].
    pub fn spawn(self: &Arc<Self>, rt: &Runtime, url: &str, n: usize) -> Agents {
        let (stop, stopped) = watch::channel(false);
        let tasks = (0..n)
            .map(|i| {
                let (fleet, url, stopped) = (self.clone(), url.to_string(), stopped.clone());
                rt.spawn(async move {
                    if let Err(e) = agent(i, url, fleet.clone(), stopped).await {
                        fleet.problem(format!("{e:#}"));
                    }
                })
            })
            .collect();
        Agents { stop, tasks }
    }

    /// Waits until `n` agents have registered: 60 s plus 1 s per 25 agents (they connect 64
    /// at a time); fails at once when an agent failed.
    pub fn wait_registered(&self, n: usize) -> Result<()> {
        wait_for(
            "every agent to register",
            Duration::from_secs(60 + n as u64 / 25),
            || {
                if let Some(p) = self.problems().first() {
                    bail!("an agent failed: {p}");
                }
                Ok(self.registered.load(Ordering::SeqCst) == n)
            },
        )
    }
}

/// The simulated agents [`Fleet::spawn`] started, running until [`Agents::stop`].
pub struct Agents {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Agents {
    /// Tells every agent to stop and waits up to 10 s for them to end.
    pub fn stop(self, rt: &Runtime) {
        let _ = self.stop.send(true);
        rt.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                for t in self.tasks {
                    let _ = t.await;
                }
            })
            .await;
        });
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn msg(body: Out) -> pb::AgentMessage {
    pb::AgentMessage {
        version: pb::PROTOCOL_VERSION,
        body: Some(body),
    }
}

/// The agent's part of the run it was assigned.
#[derive(Default)]
struct Part {
    run_id: u64,
    /// The Start barrier, on this process's clock.
    start: Option<Instant>,
    /// Where in each metrics interval the batches go (the segment's start) and the interval,
    /// from the Assign.
    phase: Duration,
    interval: Duration,
    /// When the batches are due, from the Start barrier on.
    clock: Option<BatchClock>,
    /// The last batch was sent.
    sent_last: bool,
    seq: u64,
    /// Batches sent and not acknowledged yet, with when they were sent.
    unacked: VecDeque<(u64, Instant)>,
    iterations: f64,
    stopped: bool,
    /// The VUs the assignment gives this agent (reported in its events, as a real agent does).
    vus: u64,
    /// DONE was sent: heartbeats name no run any more (a controller stops an agent whose
    /// heartbeats name a run that ended), and the agent may be given the next run.
    done: bool,
}

/// The next batch of a run: when it is due, and whether it is the last (at the run's end).
#[derive(Debug, Clone, Copy, PartialEq)]
struct NextBatch {
    at: Instant,
    last: bool,
}

impl Part {
    /// The part of an Assign, its batches at the phase its segment gives.
    fn assigned(a: &pb::Assign, vus: u64) -> Result<Self> {
        use volley_common::segment::ExecutionSegment;
        let interval = Duration::from_millis(u64::from(a.metrics_interval_ms.max(100)));
        let segment: ExecutionSegment = a.segment.parse().context("the Assign's segment")?;
        Ok(Part {
            run_id: a.run_id,
            vus,
            phase: segment.start_within(interval),
            interval,
            ..Part::default()
        })
    }

    /// The Start barrier: at `start` on this process's clock, `start_unix_ms` on the wall clock.
    fn start(&mut self, start: Instant, start_unix_ms: u64) {
        self.start = Some(start);
        self.clock = Some(BatchClock::starting(
            start,
            Duration::from_millis(start_unix_ms),
            self.phase,
            self.interval,
        ));
    }

    /// The next batch of a run of `run` after the barrier, if any is left.
    fn next_batch(&self, run: Duration) -> Option<NextBatch> {
        let (start, clock) = (self.start?, self.clock.as_ref()?);
        if self.sent_last || self.stopped {
            return None;
        }
        let end = start + run;
        Some(match clock.due() {
            at if at < end => NextBatch { at, last: false },
            _ => NextBatch {
                at: end,
                last: true,
            },
        })
    }

    /// The span of the batch `next`, taken at `now`.
    fn take_batch(&mut self, next: NextBatch, now: Instant) -> Option<Span> {
        let clock = self.clock.as_mut()?;
        self.sent_last = next.last;
        Some(if next.last {
            clock.rest(next.at)
        } else {
            clock.tick(now)
        })
    }

    fn event(&self, phase: pb::RunPhase) -> pb::RunEvent {
        pb::RunEvent {
            run_id: self.run_id,
            phase: phase as i32,
            vus: self.vus,
            ..Default::default()
        }
    }

    /// DONE, with the iterations and the last batch sent (on Teardown, or on a Stop).
    fn done_event(&self) -> pb::RunEvent {
        pb::RunEvent {
            iterations: self.iterations as u64,
            last_batch_seq: self.seq,
            ..self.event(pb::RunPhase::Done)
        }
    }
}

/// Agent number `index`: connects to `grpc_url`, registers and follows the protocol until
/// `stop` turns true.
pub async fn agent(
    index: usize,
    grpc_url: String,
    fleet: Arc<Fleet>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let name = format!("sim-{index:05}");
    let (tx, mut inbound) = {
        let _permit = fleet.connecting.acquire().await?;
        connect(&name, &grpc_url).await?
    };
    fleet.registered.fetch_add(1, Ordering::SeqCst);
    let send = |m: Out| {
        let tx = tx.clone();
        async move {
            tx.send(msg(m))
                .await
                .map_err(|_| anyhow!("the link to the controller is closed"))
        }
    };
    let mut part = Part::default();
    // Heartbeats spread over the second, as independent agents' are.
    let offset = Duration::from_millis((index as u64 * 7919) % 1000);
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + offset, Duration::from_secs(1));
    let run = Duration::from_secs(fleet.run_secs);
    loop {
        let next_batch = part.next_batch(run);
        let batch_at = tokio::time::Instant::from_std(
            next_batch.map_or_else(|| Instant::now() + Duration::from_secs(3600), |n| n.at),
        );
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            _ = heartbeat.tick() => {
                let running = part.start.is_some() && !part.stopped;
                send(Out::Heartbeat(pb::Heartbeat {
                    cpu_percent: 20.0,
                    memory_used_bytes: MEMORY / 4,
                    memory_total_bytes: MEMORY,
                    process_rss_bytes: 200 << 20,
                    process_cpu_percent: Some(15.0),
                    active_vus: i64::from(running),
                    iterations_per_second: if running { 20.0 } else { 0.0 },
                    requests_per_second: if running { 100.0 } else { 0.0 },
                    run_id: if part.done { 0 } else { part.run_id },
                    unix_ms: unix_ms(),
                    ..Default::default()
                })).await?;
            }
            _ = tokio::time::sleep_until(batch_at), if next_batch.is_some() => {
                let Some(next) = next_batch else { continue };
                let now = Instant::now();
                let Some((start_unix_ms, end_unix_ms)) = part.take_batch(next, now) else {
                    continue;
                };
                part.seq += 1;
                let v = &fleet.variants[(index + part.seq as usize) % fleet.variants.len()];
                let batch = pb::MetricBatch {
                    run_id: part.run_id,
                    seq: part.seq,
                    start_unix_ms,
                    end_unix_ms,
                    series: v.series.clone(),
                };
                {
                    let mut log = lock(&fleet.log);
                    let upto = log.sent.last().map_or(0.0, |s| s.1) + v.totals.iterations;
                    log.sent.push((now, upto));
                    log.totals.add(&v.totals);
                }
                part.iterations += v.totals.iterations;
                part.unacked.push_back((part.seq, now));
                send(Out::Metrics(batch)).await?;
                let late = Instant::now().saturating_duration_since(next.at);
                lock(&fleet.late).push(late.as_secs_f64() * 1e3);
                if next.last {
                    send(Out::Event(part.event(pb::RunPhase::ExecutionDone))).await?;
                    fleet.finished.fetch_add(1, Ordering::SeqCst);
                }
            }
            m = inbound.message() => {
                let m = m.with_context(|| format!("{name}: the link broke"))?
                    .ok_or_else(|| anyhow!("{name}: the controller closed the link"))?;
                let Some(body) = m.body else { continue };
                match body {
                    In::Assign(a) => {
                        let vus = if fleet.count_vus {
                            let vus = assigned_vus(&a)
                                .with_context(|| format!("{name}: run {}", a.run_id))?;
                            lock(&fleet.assigned_vus).push(vus);
                            vus
                        } else {
                            1
                        };
                        part = Part::assigned(&a, vus)
                            .with_context(|| format!("{name}: run {}", a.run_id))?;
                        send(Out::Event(part.event(pb::RunPhase::Ready))).await?;
                    }
                    In::RunSetup(s) => {
                        send(Out::SetupResult(pb::SetupResult {
                            run_id: s.run_id,
                            ok: true,
                            ..Default::default()
                        })).await?;
                    }
                    In::Start(s) => {
                        let wait = Duration::from_millis(s.at_unix_ms.saturating_sub(unix_ms()));
                        let now = Instant::now();
                        part.start(now + wait, s.at_unix_ms);
                        lock(&fleet.starts).push((now, now + wait));
                        fleet.started.fetch_add(1, Ordering::SeqCst);
                        send(Out::Event(part.event(pb::RunPhase::Running))).await?;
                    }
                    In::Ack(a) if a.run_id != 0 && a.run_id == part.run_id => {
                        let now = Instant::now();
                        let mut acks = Vec::new();
                        while part.unacked.front().is_some_and(|(seq, _)| *seq <= a.batch_seq) {
                            if let Some((_, sent)) = part.unacked.pop_front() {
                                acks.push(now.duration_since(sent).as_secs_f64() * 1e3);
                            }
                        }
                        lock(&fleet.acks).extend(acks);
                    }
                    In::Teardown(_) => {
                        send(Out::Event(part.done_event())).await?;
                        part.done = true;
                        fleet.done.fetch_add(1, Ordering::SeqCst);
                    }
                    In::Stop(s) => {
                        fleet.problem(format!("{name} was stopped: {:?}", s.reason));
                        part.stopped = true;
                        send(Out::Event(part.done_event())).await?;
                        part.done = true;
                        fleet.done.fetch_add(1, Ordering::SeqCst);
                    }
                    In::Refused(r) => bail!("{name} was refused: {}", r.reason),
                    _ => {}
                }
            }
        }
    }
}

/// The VUs an assignment gives its agent: its segment's share (k6's striping) of each
/// scenario's most VUs, as the options resolve them (a bare `{}` is k6's one VU).
pub fn assigned_vus(a: &pb::Assign) -> Result<u64> {
    use volley_common::options::Options;
    use volley_common::segment::{ExecutionSegment, ExecutionSegmentSequence, ExecutionTuple};
    let options: serde_json::Value =
        serde_json::from_str(&a.options_json).context("the Assign's options_json")?;
    let resolved = Options::from_script_json(&options)
        .context("the Assign's options")?
        .resolve()
        .context("the Assign's options")?;
    let segment: ExecutionSegment = a.segment.parse().context("the Assign's segment")?;
    let sequence: ExecutionSegmentSequence = std::str::from_utf8(&a.sequence)
        .context("the Assign's sequence is not UTF-8 text")?
        .parse()
        .context("the Assign's sequence")?;
    let tuple = ExecutionTuple::new(Some(&segment), Some(&sequence))
        .context("the Assign's segment in its sequence")?;
    Ok(resolved
        .scenarios
        .iter()
        .map(|sc| tuple.scale_u64(sc.max_vus()))
        .sum())
}

type Link = (
    mpsc::Sender<pb::AgentMessage>,
    tonic::Streaming<pb::ControllerMessage>,
);

/// Dials the controller and registers as `name`.
async fn connect(name: &str, grpc_url: &str) -> Result<Link> {
    let channel = tonic::transport::Endpoint::from_shared(grpc_url.to_string())?
        .connect_timeout(ANSWER_TIMEOUT)
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("{name}: cannot connect to {grpc_url}"))?;
    let mut client = pb::agent_link_client::AgentLinkClient::new(channel)
        .max_decoding_message_size(pb::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(pb::MAX_MESSAGE_BYTES);
    let (tx, rx) = mpsc::channel(64);
    tx.send(msg(Out::Register(pb::Register {
        name: name.to_string(),
        agent_version: "controller-scale".into(),
        cpus: 4,
        memory_total_bytes: MEMORY,
        // A real agent's default dead-man switch (`--orphan-after 30s`).
        orphan_after_ms: 30_000,
        ..Default::default()
    })))
    .await?;
    let mut inbound = tokio::time::timeout(ANSWER_TIMEOUT, client.link(ReceiverStream::new(rx)))
        .await
        .map_err(|_| anyhow!("{name}: the link was not answered within 30 s"))?
        .with_context(|| format!("{name}: link refused"))?
        .into_inner();
    let first = tokio::time::timeout(ANSWER_TIMEOUT, inbound.message())
        .await
        .map_err(|_| anyhow!("{name}: no answer to Register within 30 s"))?
        .with_context(|| format!("{name}: registering"))?;
    match first.and_then(|m| m.body) {
        Some(In::Registered(_)) => Ok((tx, inbound)),
        Some(In::Refused(r)) => bail!("{name} was refused: {}", r.reason),
        other => bail!("{name}: unexpected answer to Register: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_gives_its_segments_share_of_the_vus() {
        let assign = |segment: &str| pb::Assign {
            segment: segment.into(),
            sequence: "0,1/4,2/4,3/4,1".into(),
            options_json: r#"{"vus": 1000, "duration": "2s"}"#.into(),
            ..Default::default()
        };
        let shares: Vec<u64> = ["0:1/4", "1/4:2/4", "2/4:3/4", "3/4:1"]
            .iter()
            .map(|s| assigned_vus(&assign(s)).unwrap())
            .collect();
        assert_eq!(shares, vec![250; 4]);
        let one = pb::Assign {
            options_json: "{}".into(),
            ..Default::default()
        };
        assert_eq!(assigned_vus(&one).unwrap(), 1);
        let bad = pb::Assign {
            segment: "2:1".into(),
            options_json: "{}".into(),
            ..Default::default()
        };
        assert!(format!("{:#}", assigned_vus(&bad).unwrap_err()).contains("segment"));
    }

    /// The spans of every batch of a run of `run_secs` started at `start_unix_ms`, each taken
    /// when due, and whether the last is marked so.
    fn batches_of(segment: &str, start_unix_ms: u64, run_secs: u64) -> Vec<(Span, bool)> {
        let assign = pb::Assign {
            segment: segment.into(),
            metrics_interval_ms: 1000,
            ..Default::default()
        };
        let mut part = Part::assigned(&assign, 1).unwrap();
        let t0 = Instant::now();
        part.start(t0, start_unix_ms);
        let mut out = Vec::new();
        while let Some(next) = part.next_batch(Duration::from_secs(run_secs)) {
            assert!(next.at >= t0 && next.at <= t0 + Duration::from_secs(run_secs));
            out.push((part.take_batch(next, next.at).unwrap(), next.last));
            assert!(out.len() <= 10, "more batches than seconds: {out:?}");
        }
        out
    }

    #[test]
    fn simulated_agents_send_at_their_segments_phase_and_the_last_batch_at_the_end() {
        assert_eq!(
            batches_of("1/4:1/2", 1_000_300, 3),
            [
                ((1_000_300, 1_001_250), false),
                ((1_001_250, 1_002_250), false),
                ((1_002_250, 1_003_250), false),
                ((1_003_250, 1_003_300), true),
            ]
        );
        // One agent (0:1) started on a whole second: one batch a second, as before.
        assert_eq!(
            batches_of("0:1", 1_000_000, 3),
            [
                ((1_000_000, 1_001_000), false),
                ((1_001_000, 1_002_000), false),
                ((1_002_000, 1_003_000), true),
            ]
        );
        let bad = pb::Assign {
            segment: "1:1/2".into(),
            ..Default::default()
        };
        assert!(format!("{:#}", Part::assigned(&bad, 1).err().unwrap()).contains("segment"));
    }

    #[test]
    fn the_backlog_age_is_that_of_the_oldest_batch_not_merged() {
        let t0 = Instant::now();
        let s = |ms| t0 + Duration::from_millis(ms);
        let log = SendLog {
            sent: vec![(s(0), 20.0), (s(10), 40.0), (s(1000), 60.0)],
            totals: Totals::default(),
        };
        assert_eq!(log.backlog_age(0.0, s(100)), Duration::from_millis(100));
        assert_eq!(log.backlog_age(20.0, s(100)), Duration::from_millis(90));
        // Sent after the question: nothing waited yet.
        assert_eq!(log.backlog_age(40.0, s(100)), Duration::ZERO);
        assert_eq!(log.backlog_age(60.0, s(2000)), Duration::ZERO);
    }
}
