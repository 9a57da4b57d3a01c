//! Agent names and labels reach operators' terminals (`volley agents`, run events), so the
//! controller refuses any that could carry terminal escapes or fake lines, whoever sends them:
//! a raw gRPC client registering with such a name is refused with a bounded, escaped reason and
//! never listed, and its name reaches the controller's log escaped and cut to 200 bytes (also
//! when refused for its protocol version, before the name is checked); `volley agent` itself
//! refuses them before dialing (exit 104).

use std::time::Duration;

use volley_e2e::{volley_bin, Cluster};
use volley_proto as pb;

/// Registers over a raw gRPC stream; the controller's first answer.
fn register(grpc_url: &str, name: &str, labels: &[(&str, &str)]) -> pb::controller_message::Body {
    register_with(grpc_url, pb::PROTOCOL_VERSION, name, labels)
}

/// [`register`] speaking protocol `version`.
fn register_with(
    grpc_url: &str,
    version: u32,
    name: &str,
    labels: &[(&str, &str)],
) -> pb::controller_message::Body {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = pb::agent_link_client::AgentLinkClient::connect(grpc_url.to_string())
            .await
            .expect("connect to the controller's gRPC endpoint");
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(pb::AgentMessage {
            version,
            body: Some(pb::agent_message::Body::Register(pb::Register {
                name: name.to_string(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            })),
        })
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
        drop(tx);
        first.body.expect("a body")
    })
}

#[test]
fn names_and_labels_with_escapes_are_refused() {
    let cluster = Cluster::start("agent-names", 0);
    let cases: [(&str, &[(&str, &str)]); 4] = [
        ("gen\n2026-12-04 level=info msg=\"fake\"", &[]),
        ("\u{1b}[2J\u{1b}]0;owned\u{7}", &[]),
        ("gen-ok", &[("zone", "eu\u{1b}[31m")]),
        ("gen-ok2", &[("zo\nne", "eu")]),
    ];
    for (name, labels) in cases {
        match register(&cluster.grpc_url, name, labels) {
            pb::controller_message::Body::Refused(r) => {
                assert!(
                    !r.reason.contains('\u{1b}') && !r.reason.contains('\n'),
                    "the refusal echoes the raw text: {:?}",
                    r.reason
                );
                assert!(r.reason.starts_with("invalid "), "{:?}", r.reason);
            }
            other => panic!("{name:?} {labels:?} was accepted: {other:?}"),
        }
    }
    // A plain name is accepted, so the refusals above are about the names.
    assert!(matches!(
        register(&cluster.grpc_url, "gen-plain", &[("zone", "eu-west-1")]),
        pb::controller_message::Body::Registered(_)
    ));
    let agents = cluster.get("/v1/agents").expect("GET /v1/agents");
    let names: Vec<&str> = agents["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(
        names.iter().all(|n| *n == "gen-plain"),
        "only the plain agent is listed: {names:?}"
    );
}

#[test]
fn refused_names_reach_the_controllers_log_escaped_and_bounded() {
    let cluster = Cluster::start("agent-names-log", 0);
    let escapes = "gen\n\u{1b}[31mtime=\"2026\" level=error msg=\"forged\"";
    let huge = "N".repeat(4 << 20);
    // Refused before the name is checked (another protocol version), and for the name itself.
    for version in [pb::PROTOCOL_VERSION + 1, pb::PROTOCOL_VERSION] {
        for name in [escapes, huge.as_str()] {
            let answer = register_with(&cluster.grpc_url, version, name, &[]);
            assert!(
                matches!(answer, pb::controller_message::Body::Refused(_)),
                "{answer:?}"
            );
        }
    }
    let log = cluster.controller_log().expect("the controller's log");
    let refusals = || {
        log.text()
            .lines()
            .filter(|l| l.contains("agent refused"))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while refusals() < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(refusals(), 4, "{}", log.tail(10));
    let text = log.text();
    assert!(
        !text.contains('\u{1b}'),
        "an escape reached the log:\n{text}"
    );
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest < 2048,
        "a log line of {longest} bytes: the name is not bounded"
    );
    assert!(text.contains("(4194304 bytes)"), "{}", log.tail(10));
}

#[test]
fn volley_agent_refuses_such_a_name_before_dialing() {
    let out = std::process::Command::new(volley_bin())
        .args([
            "agent",
            "--controller",
            "http://127.0.0.1:9",
            "--name",
            "evil\u{1b}[2J",
        ])
        .output()
        .expect("run volley agent");
    assert_eq!(out.status.code(), Some(104), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid agent name"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "the raw escape is echoed: {stderr:?}"
    );
}
