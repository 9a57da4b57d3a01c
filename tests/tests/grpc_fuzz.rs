//! The agent protocol under seeded-random input: a client that holds the join token registers
//! as an agent and sends well-formed but hostile messages on its stream (heartbeats with NaN,
//! infinite, negative and huge values, metric batches with random series whose typed sinks hold
//! impossible numbers, counts and histogram runs, events and setup results for runs it is not
//! part of or that do not exist, oversized strings, unknown enums, messages of another protocol
//! version), and other connections send random bytes as frames. The controller must stay up and
//! healthy, store no invalid telemetry, log each refused message with its reason, keep its own
//! run's sums finite when the agent's values would overflow them, and a real run beside it must
//! finish with exact totals (docs/security.md).

use std::time::{Duration, Instant};

use bytes::{Buf, BufMut};
use prost::Message as _;
use tokio::sync::mpsc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;
use volley_e2e::{summary_stat, Cluster};
use volley_proto as pb;

use pb::agent_message::Body;

const TOKEN: &str = "volley_fuzz_join_token";
const SEED: u64 = 0x5eed_f00d_1234_5678;
const MESSAGES: usize = 300;
const RAW_CONNECTIONS: usize = 12;

/// xorshift64*: a fixed seed gives the same messages on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize].clone()
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn text(&mut self, max: usize) -> String {
        let n = self.below(max as u64 + 1) as usize;
        let alphabet: Vec<char> = "ab_.-{}\"\\ é€😀\u{202e}\n\t\0".chars().collect();
        (0..n).map(|_| self.pick(&alphabet)).collect()
    }
    fn u64_edge(&mut self) -> u64 {
        self.pick(&[
            0,
            1,
            7,
            1 << 31,
            1 << 53,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ])
    }
}

fn msg(body: Body) -> pb::AgentMessage {
    pb::AgentMessage {
        version: pb::PROTOCOL_VERSION,
        body: Some(body),
    }
}

fn register_msg(name: &str, secret: &str) -> pb::AgentMessage {
    msg(Body::Register(pb::Register {
        name: name.into(),
        token: TOKEN.into(),
        session_secret: secret.into(),
        cpus: 2,
        memory_total_bytes: 1 << 30,
        max_vus: 100,
        ..Default::default()
    }))
}

fn healthy_heartbeat() -> pb::Heartbeat {
    pb::Heartbeat {
        cpu_percent: 10.0,
        memory_used_bytes: 1 << 20,
        memory_total_bytes: 1 << 30,
        process_rss_bytes: 1 << 20,
        ..Default::default()
    }
}

/// A heartbeat with one field poisoned (`true`: the controller must drop it) or with random
/// values in range.
fn heartbeat(r: &mut Rng, run_ids: &[u64]) -> (pb::Heartbeat, bool) {
    let mut h = healthy_heartbeat();
    h.run_id = r.pick(run_ids);
    h.unix_ms = r.below(1 << 53);
    h.dropped_iterations = r.below(1 << 53);
    let bad_f = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        1e300,
        f64::MAX,
    ];
    match r.below(13) {
        0 => h.cpu_percent = r.pick(&[100.5, 1e6, f64::NAN, -1.0, f64::MAX]),
        1 => h.process_cpu_percent = Some(r.pick(&[f64::NAN, -0.5, 100.5, f64::INFINITY])),
        2 => h.iterations_per_second = r.pick(&bad_f),
        3 => h.requests_per_second = r.pick(&bad_f),
        4 => h.scheduler_lag_ms = r.pick(&bad_f),
        5 => h.active_vus = r.pick(&[-1, -5, i64::MIN, (1 << 32) + 1, i64::MAX]),
        6 => {
            h.memory_total_bytes = 1 << 30;
            h.memory_used_bytes = r.pick(&[(1 << 30) + 1, u64::MAX]);
        }
        7 => {
            h.memory_total_bytes = 1 << 30;
            h.process_rss_bytes = u64::MAX;
        }
        // Absurd but consistent: a host with more memory than any has, all of it in use.
        8 => {
            h.memory_total_bytes = r.pick(&[(1 << 50) + 1, u64::MAX]);
            h.memory_used_bytes = h.memory_total_bytes;
        }
        9 => h.dropped_iterations = r.pick(&[(1 << 53) + 1, u64::MAX]),
        10 => h.unix_ms = r.pick(&[(1 << 53) + 1, u64::MAX]),
        _ => {
            h.cpu_percent = (r.below(10_001) as f64) / 100.0;
            h.active_vus = r.below(1000) as i64;
            return (h, false);
        }
    }
    (h, true)
}

/// A typed sink with edge numbers: NaN, ±∞, ±1e308, huge counts, trends whose count does not
/// match their samples, histogram runs past the last bucket or overlapping, or no sink at all.
fn sink(r: &mut Rng) -> Option<pb::series::Sink> {
    use pb::series::Sink as W;
    let nums = [
        0.0,
        1.0,
        -1.0,
        1e308,
        -1e308,
        f64::INFINITY,
        f64::NAN,
        5e-324,
    ];
    let run = |r: &mut Rng| pb::BucketRun {
        start: r.pick(&[0, 1000, 2_095_100, u32::MAX]),
        counts: (0..r.below(4)).map(|_| r.u64_edge()).collect(),
    };
    Some(match r.below(6) {
        0 => W::Counter(pb::CounterSink {
            sum: r.pick(&nums),
            samples: r.u64_edge(),
        }),
        1 => W::Gauge(pb::GaugeSink {
            value: r.pick(&nums),
            min: r.pick(&nums),
            max: r.pick(&nums),
            time_ns: r.u64_edge(),
            set: r.below(2) == 0,
        }),
        2 => W::Rate(pb::RateSink {
            trues: r.u64_edge(),
            total: r.u64_edge(),
        }),
        3 => W::Trend(pb::TrendSink {
            count: r.pick(&[0, 1, 2, 1025, u64::MAX]),
            sum: r.pick(&nums),
            min: r.pick(&nums),
            max: r.pick(&nums),
            values: (0..r.pick(&[0, 1, 2, 1025]))
                .map(|_| r.pick(&nums))
                .collect(),
            histogram: None,
        }),
        4 => W::Trend(pb::TrendSink {
            count: r.u64_edge(),
            sum: r.pick(&nums),
            min: r.pick(&nums),
            max: r.pick(&nums),
            values: Vec::new(),
            histogram: Some(pb::Histogram {
                zero: r.u64_edge(),
                positive: (0..r.below(4)).map(|_| run(r)).collect(),
                negative: (0..r.below(3)).map(|_| run(r)).collect(),
            }),
        }),
        _ => return None,
    })
}

/// A counter series of one sample summing to `sum`.
fn counter(metric: &str, sum: f64) -> pb::Series {
    pb::Series {
        metric: metric.into(),
        contains: pb::ValueType::Default as i32,
        tags: Default::default(),
        sink: Some(pb::series::Sink::Counter(pb::CounterSink {
            sum,
            samples: 1,
        })),
    }
}

fn batch(r: &mut Rng, run_ids: &[u64]) -> pb::MetricBatch {
    let n = r.below(5) as usize;
    let series = (0..n)
        .map(|_| {
            let metric = match r.below(4) {
                0 => r
                    .pick(&[
                        "http_reqs",
                        "iterations",
                        "vus",
                        "vus_max",
                        "http_req_duration",
                    ])
                    .into(),
                1 => "m".repeat(r.below(1 << 20) as usize),
                _ => r.text(60),
            };
            let tags = (0..r.below(4))
                .map(|_| pb::Tag::new(&r.text(30), &r.text(3000)))
                .collect();
            pb::Series {
                metric,
                contains: r.pick(&[0, 1, 2, 3, 4, -1]),
                tags,
                sink: sink(r),
            }
        })
        .collect();
    pb::MetricBatch {
        run_id: r.pick(run_ids),
        seq: r.u64_edge(),
        start_unix_ms: r.u64_edge(),
        end_unix_ms: r.u64_edge(),
        series,
    }
}

fn abort(r: &mut Rng) -> Option<pb::AbortReason> {
    use pb::abort_reason::Reason;
    let reason = match r.below(5) {
        0 => return None,
        1 => Reason::ScriptAbort(pb::abort_reason::ScriptAbort {
            message: Some(r.text(2000)),
            exit_code: Some(r.next() as i32),
            context_json: Some(r.text(100)),
        }),
        2 => Reason::Limit(pb::abort_reason::Limit {
            limit: r.text(20),
            message: r.text(20),
        }),
        3 => Reason::SetupTimeout(pb::abort_reason::Timeout {
            seconds: r.pick(&[f64::NAN, -1.0, f64::INFINITY, 1e300]),
        }),
        _ => Reason::Threshold(pb::abort_reason::Threshold {
            metrics: (0..r.below(3)).map(|_| r.text(50)).collect(),
        }),
    };
    Some(pb::AbortReason {
        reason: Some(reason),
    })
}

/// What the controller must do with one message: drop a message of another protocol version,
/// drop a heartbeat (bad telemetry), drop a message of a run the agent is not part of, or a
/// message of a run that is not active.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Expect {
    BadVersion,
    BadTelemetry,
    NotMember,
    NoSuchRun,
    Other,
}

fn counting(line: &str, e: Expect) -> bool {
    line.contains("agent=fuzz")
        && match e {
            Expect::BadVersion => line.contains("message dropped: protocol version"),
            Expect::BadTelemetry => line.contains("heartbeat dropped: "),
            Expect::NotMember => line.contains("message dropped: the agent is not part of the run"),
            Expect::NoSuchRun => line.contains("message dropped: the run is not active"),
            Expect::Other => false,
        }
}

/// A codec that sends raw bytes as gRPC frames (whatever they are) and ignores the answers.
#[derive(Clone, Copy)]
struct RawCodec;
struct RawEnc;
struct RawDec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = ();
    type Encoder = RawEnc;
    type Decoder = RawDec;
    fn encoder(&mut self) -> RawEnc {
        RawEnc
    }
    fn decoder(&mut self) -> RawDec {
        RawDec
    }
}

impl Encoder for RawEnc {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDec {
    type Item = ();
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

/// Opens a link and sends `frames` as they are; returns once the controller ended the call
/// (or after 5 s).
async fn raw_link(url: &str, frames: Vec<Vec<u8>>) {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .expect("connect to the gRPC port");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("the channel is ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/volley.v1.AgentLink/Link");
    let req = tonic::Request::new(tokio_stream::iter(frames));
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        if let Ok(resp) = grpc.streaming(req, path, RawCodec).await {
            let mut s = resp.into_inner();
            while let Ok(Some(())) = s.message().await {}
        }
    })
    .await;
}

fn write_script(c: &Cluster, name: &str, body: &str) -> std::path::PathBuf {
    let dir = c.data_dir.join("scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// Every agent in `GET /v1/agents` has telemetry a real host could report.
fn assert_agents_valid(c: &Cluster) {
    let v = c.get("/v1/agents").expect("GET /v1/agents");
    for a in v["agents"].as_array().expect("an agents list") {
        let f = |k: &str| {
            a[k].as_f64()
                .unwrap_or_else(|| panic!("{k} is not a number in {a}"))
        };
        assert!(f("cpus") <= 8192.0, "{a}");
        assert!((0.0..=100.0).contains(&f("cpu_percent")), "{a}");
        for k in ["memory_percent", "process_memory_percent"] {
            assert!((0.0..=100.0).contains(&f(k)), "{k}: {a}");
        }
        if !a["process_cpu_percent"].is_null() {
            assert!((0.0..=100.0).contains(&f("process_cpu_percent")), "{a}");
        }
        for k in ["requests_per_second", "iterations_per_second"] {
            assert!(f(k).is_finite() && f(k) >= 0.0, "{k}: {a}");
        }
        assert!(a["active_vus"].as_i64().is_some_and(|v| v >= 0), "{a}");
        let (used, total) = (
            a["memory_used_bytes"].as_u64().unwrap(),
            a["memory_total_bytes"].as_u64().unwrap(),
        );
        assert!(total == 0 || used <= total, "{a}");
    }
}

fn healthz(c: &Cluster) {
    let (status, body) = c
        .request("GET", "/healthz", None)
        .unwrap_or_else(|e| panic!("/healthz did not answer: {e}\n{}", c.agent_logs()));
    assert_eq!(status, 200, "/healthz: {body}");
}

#[test]
fn seeded_random_agent_messages_break_nothing() {
    let t0 = Instant::now();
    let mut c = Cluster::start_with(
        "grpc-fuzz",
        &["--token", TOKEN, "--agent-lost-after", "3s"],
        0,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut r = Rng(SEED);

    // The fuzzing agent registers with the token and is placed on run A (it is the only agent).
    let (tx, rx) = mpsc::channel::<pb::AgentMessage>(64);
    let (assigned_tx, mut assigned) = mpsc::unbounded_channel::<u64>();
    let grpc_url = c.grpc_url.clone();
    rt.block_on(async {
        tx.send(register_msg("fuzz", "")).await.unwrap();
        tx.send(msg(Body::Heartbeat(healthy_heartbeat())))
            .await
            .unwrap();
        let mut client = pb::agent_link_client::AgentLinkClient::connect(grpc_url)
            .await
            .expect("connect to the gRPC port");
        let mut inbound = client
            .link(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect("the link call")
            .into_inner();
        // Drain what the controller says, noting the runs it assigns.
        tokio::spawn(async move {
            while let Ok(Some(m)) = inbound.message().await {
                if let Some(pb::controller_message::Body::Assign(a)) = m.body {
                    let _ = assigned_tx.send(a.run_id);
                }
            }
        });
    });
    c.wait_agents(1);
    let script_a = write_script(
        &c,
        "a.js",
        "export const options = { vus: 1, duration: '5s', volley: { agents: 1 } };\n\
         export default function () {}\n",
    );
    let mut submit_a = c.submit(&script_a, &[]);
    let run_a = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), assigned.recv()).await })
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "run A was not assigned to the fuzzing agent\n{}",
                c.agent_logs()
            )
        });

    // A real agent and a real run beside it.
    c.add_agent("gen-1", &["--token", TOKEN]);
    c.wait_agents(2);
    let script_b = write_script(
        &c,
        "b.js",
        "import { sleep } from 'k6';\n\
         export const options = { scenarios: { s: { executor: 'shared-iterations', vus: 2,\n\
           iterations: 80, maxDuration: '60s' } }, volley: { agents: 1 } };\n\
         export default function () { sleep(0.1); }\n",
    );
    let mut submit_b = c.submit(&script_b, &[]);
    let (run_b, _) = c.wait_new_run(run_a, &[2], Duration::from_secs(20));
    let started = Instant::now();

    eprintln!("run A {run_a} and run B {run_b} after {:?}", t0.elapsed());

    // The edge first: a batch of the agent's own run dated at the end of time.
    rt.block_on(tx.send(msg(Body::Metrics(pb::MetricBatch {
        run_id: run_a,
        seq: 1,
        start_unix_ms: u64::MAX - 1,
        end_unix_ms: u64::MAX,
        series: vec![counter("iterations", 1.0)].into(),
    }))))
    .unwrap();
    // Sums the agent's values would overflow: the second `huge` is refused (its total stays
    // 1e308, not ∞, which JSON would show as null), `exact` beside it is merged, and a `vus`
    // no agent can hold is dropped.
    for seq in [2, 3] {
        let mut series = vec![counter("huge", 1e308), counter("exact", 1.0)];
        if seq == 3 {
            series.push(pb::Series {
                metric: "vus".into(),
                contains: pb::ValueType::Default as i32,
                tags: Default::default(),
                sink: Some(pb::series::Sink::Gauge(pb::GaugeSink {
                    value: 1e300,
                    min: 1e300,
                    max: 1e300,
                    time_ns: 1,
                    set: true,
                })),
            });
        }
        rt.block_on(tx.send(msg(Body::Metrics(pb::MetricBatch {
            run_id: run_a,
            seq,
            start_unix_ms: 1,
            end_unix_ms: 2,
            series: series.into(),
        }))))
        .unwrap();
    }
    let run_ids = [0, run_a, run_b, run_b + 1000, u64::MAX];
    let mut expect = std::collections::HashMap::<Expect, usize>::new();
    for i in 0..MESSAGES {
        let (body, e) = match r.below(8) {
            0..=2 => {
                let (h, bad) = heartbeat(&mut r, &run_ids);
                let e = if bad {
                    Expect::BadTelemetry
                } else if h.run_id == run_b {
                    Expect::NotMember
                } else {
                    Expect::Other
                };
                (Body::Heartbeat(h), e)
            }
            3 | 4 => {
                let b = batch(&mut r, &run_ids);
                (Body::Metrics(b), Expect::Other)
            }
            5 | 6 => (
                Body::Event(pb::RunEvent {
                    run_id: r.pick(&run_ids),
                    phase: r.pick(&[0, 1, 2, 3, 4, 5, 6, 7, 99, -1, i32::MAX]),
                    message: r.text(3000),
                    abort: abort(&mut r),
                    vus: r.u64_edge(),
                    iterations: r.u64_edge(),
                    interrupted_iterations: r.u64_edge(),
                    last_batch_seq: r.u64_edge(),
                    marked_failed: r.below(2) == 0,
                    failed_message: r.text(100),
                }),
                Expect::Other,
            ),
            _ => {
                if r.below(3) == 0 {
                    (
                        Body::Register(pb::Register {
                            name: r.text(70_000),
                            token: r.text(10),
                            cpus: u32::MAX,
                            ..Default::default()
                        }),
                        Expect::Other,
                    )
                } else {
                    (
                        Body::SetupResult(pb::SetupResult {
                            run_id: r.pick(&run_ids),
                            ok: r.below(2) == 0,
                            data_json: r.text(5000),
                            abort: abort(&mut r),
                        }),
                        Expect::Other,
                    )
                }
            }
        };
        // Where a message names a run decides what the controller must log for it.
        let e = match (&body, e) {
            (Body::Metrics(_) | Body::Event(_) | Body::SetupResult(_), _) => {
                let id = match &body {
                    Body::Metrics(b) => b.run_id,
                    Body::Event(ev) => ev.run_id,
                    Body::SetupResult(s) => s.run_id,
                    _ => unreachable!(),
                };
                if id == run_b {
                    Expect::NotMember
                } else if id != run_a {
                    Expect::NoSuchRun
                } else {
                    Expect::Other
                }
            }
            (_, e) => e,
        };
        let mut m = msg(body);
        let e = match r.below(10) {
            0 => {
                m.version = r.pick(&[0, pb::PROTOCOL_VERSION + 1, u32::MAX]);
                Expect::BadVersion
            }
            _ => e,
        };
        *expect.entry(e).or_default() += 1;
        rt.block_on(tx.send(m)).unwrap_or_else(|_| {
            panic!(
                "the controller closed the fuzzing agent's stream at message {i}\n{}",
                c.agent_logs()
            )
        });
        if i % 50 == 49 {
            healthz(&c);
            assert_agents_valid(&c);
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    // Random bytes as frames, before and after a valid Register.
    for k in 0..RAW_CONNECTIONS {
        let mut frames = Vec::new();
        if k % 2 == 0 {
            frames.push(register_msg(&format!("raw-{k}"), "").encode_to_vec());
        }
        for _ in 0..3 {
            let n = r.below(2000) as usize;
            frames.push(r.bytes(n));
        }
        rt.block_on(raw_link(&c.grpc_url, frames));
        healthz(&c);
    }
    let fuzzing = started.elapsed();
    eprintln!("{MESSAGES} messages and {RAW_CONNECTIONS} raw links in {fuzzing:?}");

    // The real run finished, exactly.
    c.assert_submit_exit(&mut submit_b, Duration::from_secs(60), 0);
    let b = c.run(run_b).unwrap();
    assert_eq!(b["run_status"], 3, "run B FINISHED: {b}");
    let summary = c.summary(run_b);
    assert_eq!(
        summary_stat(&summary, "iterations", "count"),
        80.0,
        "{summary}"
    );
    assert!(
        summary["metrics"]["http_reqs"].is_null(),
        "a forged batch was merged into run B: {}",
        summary["metrics"]["http_reqs"]
    );
    healthz(&c);
    assert_agents_valid(&c);

    // Run A (the fuzzing agent's own) ends once its agent is gone: nothing it sent wedged it.
    drop(tx);
    let a = c
        .wait_run(
            run_a,
            |r| r["run_status"].as_i64().is_some_and(|s| s >= 3),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("run A never ended: {e}\n{}", c.agent_logs()));
    assert!(a["run_status"].as_i64().unwrap() >= 3, "{a}");
    let summary = c.summary(run_a);
    assert_eq!(summary_stat(&summary, "huge", "count"), 1e308, "{summary}");
    assert_eq!(summary_stat(&summary, "exact", "count"), 2.0, "{summary}");
    assert!(
        summary["metrics"]["vus"]["values"]["max"]
            .as_f64()
            .is_none_or(|v| v < 1e300),
        "{summary}"
    );
    let _ = submit_a.wait_exit(Duration::from_secs(10));
    eprintln!("run B and run A ended after {:?}", t0.elapsed());
    healthz(&c);

    // Each refused message is in the controller's log with its reason.
    let log = c.controller_log().expect("the controller runs");
    for e in [
        Expect::BadVersion,
        Expect::BadTelemetry,
        Expect::NotMember,
        Expect::NoSuchRun,
    ] {
        let want = expect.get(&e).copied().unwrap_or(0);
        assert!(want > 0, "the seed produced no {e:?} message");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = log.lines().iter().filter(|(_, l)| counting(l, e)).count();
            if got >= want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{e:?}: {got} log lines for {want} messages\n{}",
                c.agent_logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for dropped in [
        "dropping series: metric 'huge': the sum would overflow from 1e308 by 1e308 to inf",
        "dropping series: its value 1e+300 is not a count of VUs one agent can hold",
    ] {
        assert!(
            log.lines()
                .iter()
                .any(|(_, l)| l.contains(dropped) && l.contains("fuzz")),
            "no log line says {dropped:?}"
        );
    }
    let broken = log
        .lines()
        .iter()
        .filter(|(_, l)| l.contains("agent stream error") || l.contains("agent refused"))
        .count();
    assert!(
        broken >= RAW_CONNECTIONS / 2,
        "the random frames after a Register were not logged: {broken}\n{}",
        c.agent_logs()
    );
    assert!(
        !log.text().contains("panicked"),
        "the controller panicked:\n{}",
        log.text()
    );
    assert!(
        fuzzing < Duration::from_secs(60),
        "fuzzing took {fuzzing:?}"
    );
}
