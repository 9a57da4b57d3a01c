//! A fake controller against a real agent: what an agent does with assignments and commands
//! that no Volley controller sends (docs/security.md#agents). Each bad `Assign` is refused
//! with a FAILED naming its field, before anything of the run is set up (no INITIALIZING);
//! `Start` and `Stop` of runs the agent is not running change nothing; a message past the
//! size limit drops the link and the agent links again; and through all of it the agent
//! stays linked and runs the next good assignment.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};
use volley_e2e::{temp_dir, volley_bin, Proc};
use volley_proto as pb;
use volley_proto::agent_link_server::{AgentLink, AgentLinkServer};

type Outbound = ReceiverStream<Result<pb::ControllerMessage, Status>>;
/// Where the test speaks to the agent: the newest link's sender.
type Link = Arc<Mutex<Option<mpsc::Sender<Result<pb::ControllerMessage, Status>>>>>;

/// The fake controller: registers every agent, hands the test what agents send, and lets the
/// test speak on the newest link.
#[derive(Clone)]
struct Fake {
    seen: mpsc::UnboundedSender<pb::AgentMessage>,
    link: Link,
}

fn to_agent(body: pb::controller_message::Body) -> pb::ControllerMessage {
    pb::ControllerMessage {
        version: pb::PROTOCOL_VERSION,
        body: Some(body),
    }
}

#[tonic::async_trait]
impl AgentLink for Fake {
    type LinkStream = Outbound;

    async fn link(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let me = self.clone();
        tokio::spawn(async move {
            while let Ok(Some(m)) = inbound.message().await {
                if let Some(pb::agent_message::Body::Register(_)) = &m.body {
                    let registered = pb::Registered {
                        agent_id: "fake-1".into(),
                        heartbeat_interval_ms: 1000,
                        session_secret: "s".into(),
                    };
                    let body = pb::controller_message::Body::Registered(registered);
                    if tx.send(Ok(to_agent(body))).await.is_err() {
                        return;
                    }
                    *me.link.lock().unwrap() = Some(tx.clone());
                }
                if me.seen.send(m).is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

struct Harness {
    fake: Fake,
    seen: mpsc::UnboundedReceiver<pb::AgentMessage>,
    agent: Proc,
    /// Runs whose events came already: a new link replays them.
    runs: HashSet<u64>,
}

impl Harness {
    async fn send(&self, body: pb::controller_message::Body) {
        let tx = self.fake.link.lock().unwrap().clone().expect("a link");
        tx.send(Ok(to_agent(body))).await.expect("the link is open");
    }

    /// The next message other than a heartbeat, within `within`.
    async fn next(&mut self, within: Duration) -> pb::agent_message::Body {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = tokio::time::timeout(left, self.seen.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "nothing from the agent within {within:?}\n--- agent stderr\n{}",
                        self.agent.stderr.text()
                    )
                })
                .expect("the fake controller runs");
            match m.body {
                Some(
                    pb::agent_message::Body::Heartbeat(_) | pb::agent_message::Body::Metrics(_),
                )
                | None => continue,
                Some(b) => return b,
            }
        }
    }

    /// The next run event of `run_id`; events of runs seen before may come between (a new
    /// link replays them), of other runs not.
    async fn event(&mut self, run_id: u64) -> pb::RunEvent {
        loop {
            match self.next(Duration::from_secs(20)).await {
                pb::agent_message::Body::Event(e) if e.run_id == run_id => {
                    self.runs.insert(run_id);
                    return e;
                }
                pb::agent_message::Body::Event(e) if self.runs.contains(&e.run_id) => {}
                other => panic!("expected an event of run {run_id}, got {other:?}"),
            }
        }
    }

    /// Sends `a` and expects a FAILED naming `field` as the run's first and only event.
    async fn refused(&mut self, a: pb::Assign, field: &str) {
        let run_id = a.run_id;
        self.send(pb::controller_message::Body::Assign(a)).await;
        let e = self.event(run_id).await;
        assert_eq!(
            e.phase,
            pb::RunPhase::Failed as i32,
            "run {run_id}: {e:?} (set up although its assignment is bad)"
        );
        assert!(e.message.contains(field), "run {run_id}: {}", e.message);
    }

    /// Runs a good assignment up to READY, then stops it and waits for its end.
    async fn runs(&mut self, run_id: u64) {
        self.send(pb::controller_message::Body::Assign(good(run_id)))
            .await;
        let first = self.event(run_id).await;
        assert_eq!(first.phase, pb::RunPhase::Initializing as i32, "{first:?}");
        let ready = self.event(run_id).await;
        assert_eq!(ready.phase, pb::RunPhase::Ready as i32, "{ready:?}");
        // Commands for other runs, and a second assignment, leave it be.
        for other in [run_id + 1000, 0] {
            self.send(pb::controller_message::Body::Start(pb::Start {
                run_id: other,
                at_unix_ms: 1,
            }))
            .await;
            self.send(pb::controller_message::Body::Stop(pb::Stop {
                run_id: other,
                immediate: true,
                reason: None,
            }))
            .await;
        }
        self.refused(good(run_id + 1), "busy with another run")
            .await;
        self.send(pb::controller_message::Body::Stop(pb::Stop {
            run_id,
            immediate: true,
            reason: None,
        }))
        .await;
        loop {
            let e = self.event(run_id).await;
            if e.phase == pb::RunPhase::Done as i32 {
                break;
            }
            assert_eq!(e.phase, pb::RunPhase::Failed as i32, "{e:?}");
        }
    }
}

fn archive(options: serde_json::Value) -> Vec<u8> {
    volley_common::archive::Archive {
        metadata: volley_common::archive::Metadata {
            format_version: volley_common::archive::FORMAT_VERSION,
            volley_version: "test".into(),
            entry: "test.js".into(),
            options,
            env: Default::default(),
            modules: vec!["test.js".into()],
            created: "2026-12-07T09:00:00Z".into(),
            remote_modules: Default::default(),
        },
        files: [(
            "test.js".to_string(),
            b"export default function () {}".to_vec(),
        )]
        .into_iter()
        .collect(),
    }
    .to_tar()
    .expect("a tar")
}

/// A good assignment of run `run_id`, then `change`d.
fn with(run_id: u64, change: impl FnOnce(&mut pb::Assign)) -> pb::Assign {
    let mut a = good(run_id);
    change(&mut a);
    a
}

/// A run of one VU for a minute: it waits at READY for its start.
fn good(run_id: u64) -> pb::Assign {
    pb::Assign {
        run_id,
        archive: archive(serde_json::json!({"vus": 1, "duration": "1m"})).into(),
        metrics_interval_ms: 1000,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_refuses_bad_assignments_and_commands_and_stays_usable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let fake = Fake {
        seen: seen_tx,
        link: Arc::default(),
    };
    let server = AgentLinkServer::new(fake.clone())
        .max_decoding_message_size(pb::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(2 * pb::MAX_MESSAGE_BYTES);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let tmp = temp_dir("fake-controller");
    let agent = Proc::spawn(
        std::process::Command::new(volley_bin())
            .args(["agent", "--controller", &format!("http://127.0.0.1:{port}")])
            .args(["--name", "fake-1"])
            .env("TMPDIR", tmp.path()),
    );
    let mut h = Harness {
        fake,
        seen,
        agent,
        runs: HashSet::new(),
    };
    let registered =
        |b: &pb::agent_message::Body| matches!(b, pb::agent_message::Body::Register(_));
    let first = h.next(Duration::from_secs(30)).await;
    assert!(registered(&first), "{first:?}");

    // Commands before any assignment, and of unknown runs: nothing happens.
    h.send(pb::controller_message::Body::Start(pb::Start {
        run_id: 55,
        at_unix_ms: 1,
    }))
    .await;
    h.send(pb::controller_message::Body::Stop(pb::Stop {
        run_id: 56,
        immediate: false,
        reason: None,
    }))
    .await;

    // Each bad field of an assignment: FAILED naming it, nothing set up.
    h.refused(
        with(101, |a| a.archive = b"not a tar".to_vec().into()),
        "`archive`",
    )
    .await;
    // A huge archive, just under the message limit.
    h.refused(
        with(102, |a| {
            a.archive = vec![7; pb::MAX_MESSAGE_BYTES - 4096].into()
        }),
        "`archive`",
    )
    .await;
    h.refused(
        with(103, |a| a.options_json = "{".into()),
        "`options_json` is not JSON",
    )
    .await;
    h.refused(
        with(104, |a| a.options_json = r#"{"vus": "many"}"#.into()),
        "`options_json`: ",
    )
    .await;
    h.refused(
        with(105, |a| a.segment = "abc".into()),
        "`segment`: invalid --execution-segment \"abc\"",
    )
    .await;
    h.refused(
        with(106, |a| {
            a.segment = "0:1/2".into();
            a.sequence = "0,1/3,1".into();
        }),
        "`segment` and `sequence`",
    )
    .await;
    h.refused(with(107, |a| a.segment = "1/2:1/3".into()), "`segment`")
        .await;
    h.refused(
        with(108, |a| {
            a.env = (0..100_000)
                .map(|i| (format!("VAR_{i}"), "x".repeat(100)))
                .collect();
        }),
        "`env` has 100000 entries",
    )
    .await;
    h.refused(
        with(109, |a| {
            a.env.insert("A=B".into(), "1".into());
        }),
        "`env` name",
    )
    .await;
    h.refused(with(0, |_| {}), "`run_id` is 0").await;

    // A good run after all that; commands of other runs and a second assignment leave it be.
    h.runs(200).await;

    // A message past the limit: the agent drops the link and links again.
    h.send(pb::controller_message::Body::Assign(with(300, |a| {
        a.archive = vec![0; pb::MAX_MESSAGE_BYTES + 1].into()
    })))
    .await;
    let again = h.next(Duration::from_secs(30)).await;
    assert!(registered(&again), "{again:?}");
    h.runs(400).await;
    assert!(
        h.agent.wait_exit(Duration::ZERO).is_none(),
        "the agent exited\n{}",
        h.agent.stderr.text()
    );
    // No run folder is left: none made for the refused ones, the runs' removed after DONE.
    let leftovers = || -> Vec<_> {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
            .map(|e| e.file_name())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !leftovers().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        leftovers().is_empty(),
        "run folders left: {:?}",
        leftovers()
    );
}
