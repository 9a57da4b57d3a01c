//! An agent is more than a name: a second registration of a live agent's name is refused
//! unless it proves it is the same agent (the session secret issued at its first registration),
//! and then the old stream is closed; an agent's messages about a run it is not part of (an
//! abort, heartbeats, metric batches) change nothing; forged telemetry is dropped; a flood of
//! heartbeats is cut to a rate and a few log lines. Each is probed with a raw gRPC client, as
//! an attacker holding the join token would.

use std::time::Duration;

use tokio::sync::mpsc;
use tonic::Streaming;
use volley_e2e::Cluster;
use volley_proto as pb;

/// A raw agent: the sender of its messages and the controller's answers.
struct FakeAgent {
    tx: mpsc::Sender<pb::AgentMessage>,
    inbound: Streaming<pb::ControllerMessage>,
}

fn msg(body: pb::agent_message::Body) -> pb::AgentMessage {
    pb::AgentMessage {
        version: pb::PROTOCOL_VERSION,
        body: Some(body),
    }
}

/// Registers `name` (with `secret`, empty on a first registration); the agent and the
/// controller's first answer.
async fn register(
    grpc_url: &str,
    name: &str,
    secret: &str,
) -> (FakeAgent, pb::controller_message::Body) {
    let mut client = pb::agent_link_client::AgentLinkClient::connect(grpc_url.to_string())
        .await
        .expect("connect to the controller's gRPC endpoint");
    let (tx, rx) = mpsc::channel(16);
    tx.send(msg(pb::agent_message::Body::Register(pb::Register {
        name: name.to_string(),
        session_secret: secret.to_string(),
        cpus: 2,
        memory_total_bytes: 1 << 30,
        ..Default::default()
    })))
    .await
    .unwrap();
    let mut inbound = client
        .link(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("the link call")
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), inbound.message())
        .await
        .expect("an answer within 5 s")
        .expect("a message")
        .expect("not the end of the stream");
    (FakeAgent { tx, inbound }, first.body.expect("a body"))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn secret_of(body: &pb::controller_message::Body) -> String {
    match body {
        pb::controller_message::Body::Registered(r) => r.session_secret.clone(),
        other => panic!("not registered: {other:?}"),
    }
}

#[test]
fn a_live_agents_name_cannot_be_taken_over() {
    let c = Cluster::start("sec-hijack", 1);
    let rt = rt();
    let (_a, answer) = rt.block_on(register(&c.grpc_url, "gen-1", ""));
    match answer {
        pb::controller_message::Body::Refused(r) => {
            assert!(r.reason.contains("connected already"), "{}", r.reason)
        }
        other => panic!("a second gen-1 was accepted: {other:?}"),
    }
    let agents = c.wait_agents(1);
    assert_eq!(agents["agents"].as_array().unwrap().len(), 1, "{agents}");

    // The same agent process proves itself with its secret: the old stream is closed.
    let (mut first, answer) = rt.block_on(register(&c.grpc_url, "solo", ""));
    let secret = secret_of(&answer);
    assert!(secret.len() >= 32, "a real secret: {secret:?}");
    let (_wrong, answer) = rt.block_on(register(&c.grpc_url, "solo", "volley_not_it"));
    assert!(
        matches!(answer, pb::controller_message::Body::Refused(_)),
        "{answer:?}"
    );
    let (_second, answer) = rt.block_on(register(&c.grpc_url, "solo", &secret));
    assert_eq!(secret_of(&answer), secret);
    let ended = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match first.inbound.message().await {
                    Ok(Some(_)) => continue,
                    _ => return true,
                }
            }
        })
        .await
    });
    assert_eq!(ended, Ok(true), "the replaced stream was not closed");
    let solo: Vec<_> = c.get("/v1/agents").unwrap()["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == "solo")
        .cloned()
        .collect();
    assert_eq!(solo.len(), 1, "{solo:?}");
}

#[test]
fn forged_telemetry_is_dropped() {
    let c = Cluster::start("sec-telemetry", 0);
    let rt = rt();
    let (liar, _) = rt.block_on(register(&c.grpc_url, "liar", ""));
    rt.block_on(
        liar.tx
            .send(msg(pb::agent_message::Body::Heartbeat(pb::Heartbeat {
                cpu_percent: 1e9,
                active_vus: -5,
                memory_total_bytes: 1 << 30,
                ..Default::default()
            }))),
    )
    .unwrap();
    // Give the controller time to (wrongly) store it, then look.
    std::thread::sleep(Duration::from_millis(1000));
    let v = c.get("/v1/agents/liar").unwrap();
    assert_eq!(
        v["agent"]["cpu_percent"], 0.0,
        "forged telemetry was stored: {v}"
    );
    assert_eq!(
        v["agent"]["active_vus"], 0,
        "forged telemetry was stored: {v}"
    );
    rt.block_on(
        liar.tx
            .send(msg(pb::agent_message::Body::Heartbeat(pb::Heartbeat {
                cpu_percent: 12.5,
                active_vus: 3,
                memory_total_bytes: 1 << 30,
                ..Default::default()
            }))),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let view = loop {
        let v = c.get("/v1/agents/liar").unwrap();
        if v["agent"]["active_vus"] == 3 {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the valid heartbeat never arrived: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(view["agent"]["cpu_percent"], 12.5, "{view}");
    drop(liar);
}

#[test]
fn messages_about_a_run_the_agent_is_not_part_of_change_nothing() {
    let c = Cluster::start("sec-members", 1);
    let dir = c.data_dir.join("scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("members.js");
    std::fs::write(
        &script,
        "import { sleep } from 'k6';\n\
         export const options = { vus: 1, duration: '4s', volley: { agents: 1 } };\n\
         export default function () { sleep(0.1); }\n",
    )
    .unwrap();
    let mut submit = c.submit(&script, &[]);
    let run = {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(id) = c.latest_run_id() {
                if c.run(id).is_ok_and(|r| r["run_status"] == 2) {
                    break id;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the run did not start\n{}",
                c.agent_logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let rt = rt();
    let (mut intruder, _) = rt.block_on(register(&c.grpc_url, "intruder", ""));
    let abort = pb::AbortReason {
        reason: Some(pb::abort_reason::Reason::ScriptAbort(
            pb::abort_reason::ScriptAbort {
                message: Some("forged".into()),
                exit_code: None,
                context_json: None,
            },
        )),
    };
    let forged = [
        pb::agent_message::Body::Heartbeat(pb::Heartbeat {
            run_id: run,
            active_vus: 4242,
            memory_total_bytes: 1 << 30,
            ..Default::default()
        }),
        pb::agent_message::Body::Metrics(pb::MetricBatch {
            run_id: run,
            seq: 1,
            series: vec![pb::Series {
                metric: "http_reqs".into(),
                contains: pb::ValueType::Default as i32,
                tags: Default::default(),
                sink: Some(pb::series::Sink::Counter(pb::CounterSink {
                    sum: 1e12,
                    samples: 1,
                })),
            }]
            .into(),
            ..Default::default()
        }),
        pb::agent_message::Body::Event(pb::RunEvent {
            run_id: run,
            phase: pb::RunPhase::Failed as i32,
            message: "forged abort".into(),
            abort: Some(abort),
            ..Default::default()
        }),
    ];
    for body in forged {
        rt.block_on(intruder.tx.send(msg(body))).unwrap();
    }
    // The batch is not acknowledged (nothing of it was taken).
    let acked = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(Some(m)) = intruder.inbound.message().await {
                if let Some(pb::controller_message::Body::Ack(a)) = m.body {
                    if a.run_id == run {
                        return true;
                    }
                }
            }
            false
        })
        .await
        .unwrap_or(false)
    });
    assert!(!acked, "the controller acknowledged a non-member's batch");
    c.assert_submit_exit(&mut submit, Duration::from_secs(30), 0);
    let r = c.run(run).unwrap();
    assert_eq!(
        r["run_status"], 3,
        "FINISHED, not aborted by the intruder: {r}"
    );
    let agents = c.get(&format!("/v1/runs/{run}/agents")).unwrap();
    assert!(!agents.to_string().contains("intruder"), "{agents}");
    let summary = c.summary(run);
    assert!(
        summary["metrics"]["http_reqs"].is_null(),
        "the forged batch was merged: {}",
        summary["metrics"]["http_reqs"]
    );
    drop(intruder);
}

/// Opens a connection to the agents' port and a link on it that never registers (what a peer
/// without the join token can do), again as soon as the controller closes it; how many
/// connections it opened.
async fn squat(grpc_url: String, until: tokio::time::Instant) -> usize {
    let mut opened = 0;
    while tokio::time::Instant::now() < until {
        let Ok(mut client) =
            pb::agent_link_client::AgentLinkClient::connect(grpc_url.clone()).await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        opened += 1;
        // A stream that stays open and sends nothing: the controller waits for a Register.
        let (_tx, rx) = mpsc::channel::<pb::AgentMessage>(1);
        let link = client.link(tokio_stream::wrappers::ReceiverStream::new(rx));
        let _ = tokio::time::timeout_at(until, link).await;
    }
    opened
}

#[test]
fn connections_that_never_register_cannot_keep_agents_out() {
    let mut c = Cluster::start_with(
        "sec-squat",
        &[
            "--grpc-max-connections",
            "4",
            "--grpc-handshake-timeout",
            "2s",
        ],
        0,
    );
    let rt = rt();
    // Four squatters hold every slot, and take one back each time theirs is closed.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    let squatters: Vec<_> = (0..4)
        .map(|_| rt.spawn(squat(c.grpc_url.clone(), until)))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // A real agent still registers: at the cap, a connection without an agent makes room.
    c.add_agent("gen-1", &[]);
    let agents = c.wait_agents(1);
    assert_eq!(agents["agents"][0]["name"], "gen-1", "{agents}");
    let log = c.controller_log().expect("the controller's log");
    assert!(
        log.wait_for(
            |l| l.contains("no agent registered on it"),
            Duration::from_secs(10)
        )
        .is_some(),
        "no squatter's connection was closed:\n{}",
        log.tail(20)
    );
    let opened: usize = squatters
        .into_iter()
        .map(|s| rt.block_on(s).expect("a squatter"))
        .sum();
    // Each squatter's connection was closed (at the timeout, or to make room) and reopened.
    assert!(opened > 4, "{opened} connections opened");
    // The agent kept its slot throughout.
    let agents = c.get("/v1/agents").expect("agents");
    assert_eq!(
        agents["agents"].as_array().map(Vec::len),
        Some(1),
        "{agents}"
    );
    let logs = c.agent_log("gen-1").expect("gen-1's log").text();
    assert_eq!(
        logs.matches("registered with the controller as gen-1")
            .count(),
        1,
        "the agent had to register again:\n{logs}"
    );
}

/// An HTTP/2 frame: `kind`, `flags`, on `stream`.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The request of an agent's link, `name`'s Register in it, as HTTP/2 frames after the
/// preface: HEADERS (HPACK literals, RFC 7541 §6.2.2) and one DATA frame of a gRPC message.
fn link_request(authority: &str, name: &str) -> Vec<u8> {
    let mut headers = Vec::new();
    for (k, v) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/volley.v1.AgentLink/Link"),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ] {
        headers.push(0);
        headers.push(k.len() as u8);
        headers.extend_from_slice(k.as_bytes());
        headers.push(v.len() as u8);
        headers.extend_from_slice(v.as_bytes());
    }
    let register = msg(pb::agent_message::Body::Register(pb::Register {
        name: name.to_string(),
        cpus: 2,
        memory_total_bytes: 1 << 30,
        ..Default::default()
    }));
    let body = pb::Message::encode_to_vec(&register);
    let mut grpc = vec![0];
    grpc.extend_from_slice(&(body.len() as u32).to_be_bytes());
    grpc.extend_from_slice(&body);
    // HEADERS with END_HEADERS, then DATA (the stream stays open, as an agent's does).
    let mut out = h2_frame(1, 0x4, 1, &headers);
    out.extend(h2_frame(0, 0, 1, &grpc));
    out
}

/// Opens `n` connections to `addr` at once, each silent or sending one byte or the first half
/// of the HTTP/2 preface — less than a real agent does, and no credentials.
fn connection_burst(addr: std::net::SocketAddr, n: usize) -> Vec<std::net::TcpStream> {
    use std::io::Write;
    (0..n)
        .filter_map(|i| {
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
            let sent: &[u8] = match i % 3 {
                0 => b"",
                1 => b"P",
                _ => b"PRI * HTTP/2.0\r\n",
            };
            s.write_all(sent).ok()?;
            Some(s)
        })
        .collect()
}

/// Opens connections as [`connection_burst`] does, as fast as it can until `until`, keeping
/// its newest 64 open; how many it opened.
fn connection_flood(addr: std::net::SocketAddr, until: std::time::Instant) -> usize {
    let mut open = std::collections::VecDeque::new();
    let mut opened = 0;
    while std::time::Instant::now() < until {
        open.extend(connection_burst(addr, 3));
        opened += 3;
        while open.len() > 64 {
            open.pop_front();
        }
    }
    opened
}

/// Connections opened in the time between a real agent's accept and its registration —
/// milliseconds on loopback, round trips on a WAN — cannot push it out: at the cap the least
/// advanced connection goes (before, the oldest without an agent, which was the agent's).
/// An agent that spoke HTTP/2 and sends its Register 500 ms later (a slow link) while 100
/// connections that do less arrive at a port of 8 slots registers; so does a real agent
/// process on its first try under a flood of such connections, and it keeps its slot.
#[test]
fn connections_opened_while_an_agent_links_do_not_push_it_out() {
    use std::io::{Read, Write};
    let mut c = Cluster::start_with(
        "sec-conn-flood",
        &[
            "--grpc-max-connections",
            "8",
            "--grpc-handshake-timeout",
            "5s",
        ],
        0,
    );
    let authority = c.grpc_url.trim_start_matches("http://").to_string();
    let addr: std::net::SocketAddr = authority.parse().expect("the gRPC address");
    // The slow agent: its preface and SETTINGS now, its link half a second later.
    let mut slow = std::net::TcpStream::connect(addr).expect("connect");
    slow.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    slow.write_all(&h2_frame(4, 0, 0, &[])).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let burst = connection_burst(addr, 100);
    assert!(burst.len() >= 90, "{} connections opened", burst.len());
    std::thread::sleep(Duration::from_millis(400));
    // (Pushed out, its connection is closed and this write may fail: it never registers.)
    let _ = slow.write_all(&link_request(&authority, "slow"));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let agents = c.get("/v1/agents").expect("agents");
        if agents["agents"][0]["name"] == "slow" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slow agent did not register: {agents}\n{}",
            c.controller_log().map(|l| l.tail(10)).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its connection is open: the controller's frames still come.
    slow.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert!(slow.read(&mut [0u8; 256]).expect("a frame") > 0);
    drop(burst);
    drop(slow);

    // A real agent process, under a flood of such connections from its own address.
    let until = std::time::Instant::now() + Duration::from_secs(6);
    let flooders: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || connection_flood(addr, until)))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    c.add_agent("gen-1", &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !c.get("/v1/agents").expect("agents")["agents"]
        .as_array()
        .is_some_and(|a| a.iter().any(|a| a["name"] == "gen-1"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "gen-1 did not register"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let opened: usize = flooders
        .into_iter()
        .map(|f| f.join().expect("a flooder"))
        .sum();
    let log = c.controller_log().expect("the controller's log");
    let evictions = log
        .text()
        .lines()
        .filter(|l| l.contains("closed to make room"))
        .count();
    eprintln!("{opened} connections opened by the flood, {evictions} evicted at the cap");
    assert!(evictions >= 100, "{evictions} evictions:\n{}", log.tail(10));
    let logs = c.agent_log("gen-1").expect("gen-1's log").text();
    assert_eq!(
        logs.matches("registered with the controller as gen-1")
            .count(),
        1,
        "the agent had to register again:\n{logs}"
    );
    assert!(
        !logs.contains("retrying"),
        "the agent's link failed during the flood:\n{logs}"
    );
}

/// A registered agent that sends heartbeats as fast as it can, naming a run that is not
/// active, and reads none of the answers: the controller handles at most ten a second of them
/// (after a burst of 200), logs its drops in a bounded number of lines (before, two lines a
/// heartbeat: 40,000 lines for 20,000 heartbeats), and stays responsive for everyone else —
/// another agent registers and its valid heartbeat is taken at once.
#[test]
fn a_heartbeat_flood_is_cut_to_the_rate_and_a_few_log_lines() {
    const FLOOD: usize = 20_000;
    let c = Cluster::start("sec-flood", 0);
    let rt = rt();
    let (flood, _) = rt.block_on(register(&c.grpc_url, "flood", ""));
    let tx = flood.tx.clone();
    let started = std::time::Instant::now();
    let sender = rt.spawn(async move {
        for _ in 0..FLOOD {
            let hb = pb::Heartbeat {
                run_id: 987_654,
                cpu_percent: 10.0,
                memory_total_bytes: 1 << 30,
                ..Default::default()
            };
            if tx
                .send(msg(pb::agent_message::Body::Heartbeat(hb)))
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    });
    // While it floods, the controller answers and another agent gets in.
    let t = std::time::Instant::now();
    assert!(c.get("/v1/agents").is_ok());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let (other, _) = rt.block_on(register(&c.grpc_url, "other", ""));
    rt.block_on(
        other
            .tx
            .send(msg(pb::agent_message::Body::Heartbeat(pb::Heartbeat {
                active_vus: 7,
                memory_total_bytes: 1 << 30,
                ..Default::default()
            }))),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while c.get("/v1/agents/other").unwrap()["agent"]["active_vus"] != 7 {
        assert!(std::time::Instant::now() < deadline, "other's heartbeat");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        rt.block_on(sender).unwrap(),
        "the controller closed the flooding stream"
    );
    let flooded = started.elapsed();
    // Let the controller take what was sent, then count its lines about the agent.
    std::thread::sleep(Duration::from_millis(1500));
    let log = c.controller_log().expect("the controller's log");
    let text = log.text();
    let about = |what: &str| {
        text.lines()
            .filter(|l| l.contains("flood") && l.contains(what))
            .count()
    };
    let not_active = about("message dropped: the run is not active");
    let past_rate = about("message dropped: heartbeat past the rate");
    // The burst of 200 and ten a second were handled: each names the run not active.
    let handled_at_most = 200 + 10 * (flooded.as_secs() as usize + 3);
    assert!(
        (200..=handled_at_most).contains(&not_active),
        "{not_active} heartbeats handled in {flooded:?}\n{}",
        log.tail(5)
    );
    assert!(past_rate >= 1, "{}", log.tail(5));
    let lines = text.lines().filter(|l| l.contains("flood")).count();
    eprintln!(
        "{FLOOD} heartbeats in {flooded:?}: {not_active} handled, {past_rate} lines of drops \
         past the rate, {lines} log lines about the agent"
    );
    assert!(
        lines <= 1_000 + flooded.as_secs() as usize + 10,
        "{lines} log lines for {FLOOD} heartbeats"
    );
    drop((flood, other));
}
