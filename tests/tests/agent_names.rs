//! Agent names and labels reach operators' terminals (`volley agents`, run events), so the
//! controller refuses any that could carry terminal escapes or fake lines, whoever sends them:
//! a raw gRPC client registering with such a name is refused with a bounded, escaped reason and
//! never listed; `volley agent` itself refuses them before dialing (exit 104).

use std::time::Duration;

use volley_e2e::{volley_bin, Cluster};
use volley_proto as pb;

/// Registers over a raw gRPC stream; the controller's first answer.
fn register(grpc_url: &str, name: &str, labels: &[(&str, &str)]) -> pb::controller_message::Body {
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
            version: pb::PROTOCOL_VERSION,
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
