//! The client against a one-shot loopback server that answers with canned bytes.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::*;

/// Serves one connection: reads the request head (and a body of `Content-Length`), answers
/// `response`, and returns what it read.
fn serve_once(response: Vec<u8>) -> (String, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap_or(0);
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if got.len() >= end + 4 + len {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        let _ = s.write_all(&response);
        String::from_utf8_lossy(&got).to_string()
    });
    (url, h)
}

fn answer(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn urls_are_checked() {
    assert!(Client::new("http://127.0.0.1:6565").is_ok());
    assert!(Client::new("http://127.0.0.1:6565/").is_ok());
    assert!(Client::new("https://controller.example:443").is_ok());
    for bad in [
        "127.0.0.1:6565",
        "ftp://x:1",
        "http://x:1/api",
        "http://",
        "http://x:99999",
    ] {
        let e = Client::new(bad).expect_err(bad);
        assert!(matches!(e, ClientError::InvalidUrl(_)), "{bad}: {e:?}");
        assert!(e.to_string().contains(bad), "{bad}: {e}");
    }
}

#[test]
fn typed_answer_and_request_body() {
    let (url, server) = serve_once(answer(
        "200 OK",
        r#"{"acked_seq":4,"run_status":2,"extra":"ignored"}"#,
    ));
    let c = Client::new(&url).unwrap();
    let fin = StreamFinish {
        last_batch_seq: 4,
        ..StreamFinish::default()
    };
    let st = c.finish_streamed_run(7, &fin).unwrap();
    assert_eq!(st.acked_seq, 4);
    assert_eq!(st.run_status, volley_common::status::RunStatus::Running);
    assert!(st.stop.is_none());
    let req = server.join().unwrap();
    assert!(
        req.starts_with("POST /v1/streamed-runs/7/finish HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(
        req.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{req}"
    );
    assert!(req.contains(r#""last_batch_seq":4"#), "{req}");
}

#[test]
fn error_answers_show_the_api_message() {
    let (url, _server) = serve_once(answer(
        "409 Conflict",
        r#"{"error":{"code":"run_finished","message":"run already finished: run 3","status":409}}"#,
    ));
    let e = Client::new(&url).unwrap().run(3).unwrap_err();
    assert_eq!(e.status(), Some(409));
    assert_eq!(
        e.to_string(),
        "the controller answered 409: run already finished: run 3"
    );
}

#[test]
fn non_json_answers_are_unreachable_errors() {
    let (url, _server) = serve_once(answer("200 OK", "<html>"));
    let e = Client::new(&url).unwrap().runs().unwrap_err();
    assert!(matches!(e, ClientError::Unreachable(_)), "{e:?}");
    assert!(
        e.to_string().contains("invalid JSON from the controller"),
        "{e}"
    );
}

#[test]
fn answers_over_the_limit_are_refused() {
    let (url, _server) = serve_once(answer("200 OK", &format!("\"{}\"", "x".repeat(100))));
    let mut c = Client::new(&url).unwrap();
    c.max_response = 50;
    let e = c.request("GET", "/health", None).unwrap_err();
    assert!(e.to_string().contains("larger than 50 bytes"), "{e}");
}

#[test]
fn raw_requests_return_any_status() {
    let (url, _server) = serve_once(answer("404 Not Found", r#"{"error":{"code":"x"}}"#));
    let r = Client::new(&url)
        .unwrap()
        .request("PATCH", "/v1/status", Some(&serde_json::json!({"a": 1})))
        .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "x");
}

#[test]
fn nobody_listening_is_unreachable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let e = Client::new(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .agents()
        .unwrap_err();
    assert!(matches!(e, ClientError::Unreachable(_)), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("cannot reach the controller: GET http://127.0.0.1:"),
        "{msg}"
    );
}

#[test]
fn a_silent_server_times_out_saying_what_it_waited_for() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let c = Client::new(&url)
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .unwrap();
    let t = Instant::now();
    let e = c.run(1).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let msg = e.to_string();
    assert!(
        msg.contains("GET ") && msg.contains("/loadtests/v2/runs/1"),
        "{msg}"
    );
    assert!(msg.contains("within 300ms"), "{msg}");
    drop(l);
}

/// A port nobody listens on (bound, then released).
fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}", l.local_addr().expect("addr"))
}

#[test]
fn several_controllers_the_next_is_tried_when_one_is_down() {
    let (live, server) = serve_once(answer("200 OK", r#"{"k6-runs":[],"meta":{"count":0}}"#));
    let c = Client::new(&format!("{},{live}", dead_url())).unwrap();
    c.request("GET", "/loadtests/v2/runs", None).unwrap();
    assert_eq!(c.base_url(), live, "the controller that answered is kept");
    server.join().unwrap();
    assert!(matches!(
        Client::new(" , ").unwrap_err(),
        ClientError::InvalidUrl(_)
    ));
}

#[test]
fn a_follower_redirect_is_followed_to_a_listed_leader_with_the_token() {
    let (leader, leader_server) = serve_once(answer("201 Created", r#"{"ok":true}"#));
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {leader}/v1/tokens\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
    );
    let (follower, follower_server) = serve_once(redirect.into_bytes());
    let c = Client::new(&format!("{follower},{leader}"))
        .unwrap()
        .with_token(Some("tok-123".into()));
    let r = c
        .request(
            "POST",
            "/v1/tokens",
            Some(&serde_json::json!({"name": "x"})),
        )
        .unwrap();
    assert_eq!(r.status, 201);
    follower_server.join().unwrap();
    let got = leader_server.join().unwrap();
    assert!(got.starts_with("POST /v1/tokens HTTP/1.1\r\n"), "{got}");
    assert!(
        got.to_ascii_lowercase()
            .contains("authorization: token tok-123"),
        "{got}"
    );
    assert!(
        got.contains(r#""name":"x""#),
        "the body is sent again: {got}"
    );
    assert_eq!(c.base_url(), leader);
}

#[test]
fn a_redirect_to_a_controller_not_given_is_an_error_naming_it() {
    let redirect = "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://10.9.9.9:6565/v1/tokens\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let (follower, server) = serve_once(redirect.as_bytes().to_vec());
    let c = Client::new(&follower)
        .unwrap()
        .with_token(Some("tok-123".into()));
    let e = c.request("POST", "/v1/tokens", None).unwrap_err();
    assert!(
        e.to_string().contains("http://10.9.9.9:6565/v1/tokens")
            && e.to_string().contains("not among the controllers given"),
        "{e}"
    );
    server.join().unwrap();
}

#[test]
fn the_leader_a_group_member_names_is_kept_until_another_is_named() {
    let named = |node: u64, term: u64| {
        format!(
            "HTTP/1.1 200 OK\r\nvolley-raft-leader: {node}\r\nvolley-raft-term: {term}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        )
        .into_bytes()
    };
    let (a, a_server) = serve_once(named(1, 4));
    let (b, b_server) = serve_once(answer("200 OK", "{}"));
    let c = Client::new(&format!("{a},{b}")).unwrap();
    assert_eq!(c.leader(), None, "nothing named yet");
    c.request("GET", "/v1/runs", None).unwrap();
    a_server.join().unwrap();
    assert_eq!(c.leader(), Some(Leader { node: 1, term: 4 }));
    // The first controller is gone: the second answers, naming no leader (an election), and
    // the last one named is kept; a clone shares what the client saw.
    let clone = c.clone();
    clone.request("GET", "/v1/runs", None).unwrap();
    b_server.join().unwrap();
    assert_eq!(c.base_url(), b);
    assert_eq!(c.leader(), Some(Leader { node: 1, term: 4 }));
}

/// A token create whose answer was lost (the connection closed after the request) is sent to
/// the next controller with the same `Idempotency-Key`, so the group makes one token.
#[test]
fn a_keyed_create_sent_again_to_the_next_controller_keeps_its_key() {
    let (lost, lost_server) = serve_once(Vec::new());
    let created = r#"{"token":"volley_secret","id":4,"name":"ci","role":"read","project_id":0,"created":"2026-01-01T00:00:00Z","revoked":null}"#;
    let (next, next_server) = serve_once(answer("201 Created", created));
    let c = Client::new(&format!("{lost},{next}")).unwrap();
    let body = CreateToken {
        role: crate::Role::Read,
        project_id: 0,
        name: "ci".into(),
    };
    let t = c
        .create_token_keyed(&body, "0b7c5a36-1f9e-4d2a-9c3b-5e8f7a6d4c21")
        .unwrap();
    assert_eq!(t.view.id, 4);
    let key_line = |got: &str| {
        got.lines()
            .find(|l| l.to_ascii_lowercase().starts_with("idempotency-key:"))
            .map(|l| l[l.find(':').unwrap_or(0) + 1..].trim().to_string())
    };
    let (first, second) = (lost_server.join().unwrap(), next_server.join().unwrap());
    assert!(first.starts_with("POST /v1/tokens HTTP/1.1\r\n"), "{first}");
    assert_eq!(
        key_line(&first).as_deref(),
        Some("0b7c5a36-1f9e-4d2a-9c3b-5e8f7a6d4c21"),
        "{first}"
    );
    assert_eq!(key_line(&second), key_line(&first), "{second}");
    assert_eq!(c.base_url(), next);
}
