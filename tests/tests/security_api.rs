//! The REST API's protections, probed as an attacker on the network (or a web page in an
//! operator's browser) would: no token → 401; a read token cannot submit (403); another
//! project's runs do not exist (404); `stopped_by_id` comes from the token, never the body;
//! revoked tokens stop working at once and stay revoked across a restart; browser-sendable
//! requests (text/plain, a foreign Origin) are refused; guessing is slowed down; a streamed
//! run's batches need its secret; and without tokens the controller will not listen beyond
//! loopback unless told `--insecure`, and there refuses a `Host` a rebound DNS name brings;
//! `volley tokens create` whose answer was lost, sent again to the next controller, makes one
//! token and says which; a batch of 100,000 bad series is four bounded log lines; request
//! bodies held at once are bounded by `--max-body-memory`.

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use volley_e2e::{raw_http, temp_dir, volley_bin, Cluster, Proc};

/// A script that never runs (these clusters have no agents: runs stay QUEUED).
fn script(dir: &Path, name: &str, options: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        &p,
        format!("export const options = {options};\nexport default function () {{}}\n"),
    )
    .unwrap();
    p
}

/// `(status, body)` of a request with `token` (none: no Authorization header).
fn call(
    c: &Cluster,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = volley_api::client::Client::new(&c.rest_url)
        .unwrap()
        .with_token(token.map(str::to_string));
    let r = client
        .request(method, path, body.as_ref())
        .expect("request");
    (r.status, r.json())
}

/// Creates a token as the admin; returns (id, secret).
fn token(c: &Cluster, role: &str, project: u64) -> (u64, String) {
    let (status, v) = call(
        c,
        Some(&c.admin_token),
        "POST",
        "/v1/tokens",
        Some(json!({"role": role, "project_id": project, "name": format!("{role}-{project}")})),
    );
    assert_eq!(status, 201, "{v}");
    (
        v["id"].as_u64().unwrap(),
        v["token"].as_str().unwrap().to_string(),
    )
}

/// `volley submit` (no --wait) with `token`; the run id it printed, or its stderr.
fn submit(c: &Cluster, token: &str, script: &Path) -> Result<u64, String> {
    let out = c
        .volley()
        .env("VOLLEY_TOKEN", token)
        .args(["submit", "--controller", &c.rest_url])
        .arg(script)
        .output()
        .expect("volley submit");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    stdout
        .split_whitespace()
        .nth(1)
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| format!("no run id in {stdout:?}"))
}

#[test]
fn no_token_is_401_and_a_read_token_cannot_submit() {
    let c = Cluster::start("sec-401", 0);
    let (status, v) = call(&c, None, "GET", "/loadtests/v2/runs", None);
    assert_eq!(status, 401, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Token"),
        "{v}"
    );
    let (status, _) = call(&c, Some("volley_wrong"), "GET", "/loadtests/v2/runs", None);
    assert_eq!(status, 401);
    // Bearer works as well as Token; /health needs nothing.
    let (status, _) = raw_http(
        c.rest_port,
        &format!(
            "GET /loadtests/v2/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}",
            c.admin_token
        ),
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(call(&c, None, "GET", "/health", None).0, 200);
    // Orchestrators' probes carry no token.
    for probe in ["/healthz", "/readyz"] {
        let (status, body) = call(&c, None, "GET", probe, None);
        assert_eq!(
            (status, body.to_string()),
            (200, r#"{"status":"ok"}"#.to_string())
        );
    }

    let (_, read) = token(&c, "read", 0);
    assert_eq!(
        call(&c, Some(&read), "GET", "/loadtests/v2/runs", None).0,
        200
    );
    let s = script(&c.data_dir.join("scripts"), "t.js", "{}");
    let err = submit(&c, &read, &s).expect_err("a read token submitted a test");
    assert!(err.contains("403") && err.contains("read"), "{err}");
    let (status, v) = call(
        &c,
        Some(&read),
        "POST",
        "/v1/tokens",
        Some(json!({"role": "admin"})),
    );
    assert_eq!(status, 403, "{v}");
    assert_eq!(call(&c, Some(&read), "GET", "/v1/agents", None).0, 403);
}

#[test]
fn other_projects_runs_are_404_and_stopped_by_id_comes_from_the_token() {
    let c = Cluster::start("sec-projects", 0);
    let (a_id, a) = token(&c, "submit", 1);
    let (_, b) = token(&c, "submit", 2);
    let dir = c.data_dir.join("scripts");
    let run = submit(&c, &a, &script(&dir, "a.js", "{}")).expect("submit in project 1");
    let (status, v) = call(
        &c,
        Some(&a),
        "GET",
        &format!("/loadtests/v2/runs/{run}"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["k6-run"]["project_id"], 1, "the token's project: {v}");
    assert_eq!(v["k6-run"]["user_id"], a_id, "{v}");
    for path in [
        format!("/loadtests/v2/runs/{run}"),
        format!("/v1/runs/{run}/summary"),
        format!("/v1/runs/{run}/agents"),
        format!("/v1/runs/{run}/metrics"),
        format!("/v1/runs/{run}/report"),
        format!("/loadtests/v2/tests/{}", v["k6-run"]["test_id"]),
    ] {
        let (status, v) = call(&c, Some(&b), "GET", &path, None);
        assert_eq!(status, 404, "{path}: {v}");
    }
    let (_, list) = call(&c, Some(&b), "GET", "/loadtests/v2/runs", None);
    assert_eq!(list["meta"]["count"], 0, "{list}");
    let (status, _) = call(
        &c,
        Some(&b),
        "POST",
        &format!("/loadtests/v2/runs/{run}/stop"),
        Some(json!({})),
    );
    assert_eq!(status, 404);
    // A script asking for another project is refused for a project-bound token.
    let other = script(&dir, "b.js", "{ cloud: { projectID: 2 } }");
    let err = submit(&c, &a, &other).expect_err("submitted into another project");
    assert!(err.contains("project"), "{err}");
    // The admin sees every project; the script's projectID is honoured.
    let run2 = submit(&c, &c.admin_token, &other).expect("admin submit");
    let (_, v) = call(
        &c,
        Some(&b),
        "GET",
        &format!("/loadtests/v2/runs/{run2}"),
        None,
    );
    assert_eq!(v["k6-run"]["project_id"], 2, "{v}");

    // Stop with a forged stopped_by_id: the token's id is recorded.
    let (status, v) = call(
        &c,
        Some(&a),
        "POST",
        &format!("/loadtests/v2/runs/{run}/stop"),
        Some(json!({"stopped_by_id": 999})),
    );
    assert_eq!(status, 200, "{v}");
    let run_now = c
        .wait_run(
            run,
            |r| r["run_status"].as_i64().is_some_and(|s| s >= 3),
            Duration::from_secs(10),
        )
        .expect("the stopped run ends");
    assert_eq!(run_now["stopped_by_id"], a_id, "{run_now}");
}

#[test]
fn revoked_tokens_stop_working_and_stay_revoked_after_a_restart() {
    let mut c = Cluster::start("sec-rotate", 0);
    // Through the CLI, as an operator rotates.
    let create = |role: &str| {
        let out = c
            .volley()
            .args([
                "tokens",
                "create",
                "--role",
                role,
                "--project",
                "3",
                "--controller",
                &c.rest_url,
            ])
            .output()
            .expect("volley tokens create");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let old = create("submit");
    let new = create("submit");
    assert_ne!(old, new);
    assert_eq!(
        call(&c, Some(&old), "GET", "/loadtests/v2/runs", None).0,
        200
    );
    let (_, list) = call(&c, Some(&c.admin_token), "GET", "/v1/tokens", None);
    let old_id = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "submit")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    assert!(
        !list.to_string().contains(&old),
        "secrets are never listed: {list}"
    );
    let out = c
        .volley()
        .args([
            "tokens",
            "revoke",
            &old_id.to_string(),
            "--controller",
            &c.rest_url,
        ])
        .output()
        .expect("volley tokens revoke");
    assert!(out.status.success(), "{out:?}");
    let (status, v) = call(&c, Some(&old), "GET", "/loadtests/v2/runs", None);
    assert_eq!(status, 401, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("revoked"),
        "{v}"
    );
    assert_eq!(
        call(&c, Some(&new), "GET", "/loadtests/v2/runs", None).0,
        200
    );
    c.restart_controller();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while call(&c, None, "GET", "/health", None).0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the controller did not come back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        call(&c, Some(&old), "GET", "/loadtests/v2/runs", None).0,
        401
    );
    assert_eq!(
        call(&c, Some(&new), "GET", "/loadtests/v2/runs", None).0,
        200
    );
    assert_eq!(
        call(&c, Some(&c.admin_token), "GET", "/v1/tokens", None).0,
        200
    );
}

#[test]
fn requests_a_web_page_can_send_are_refused() {
    let c = Cluster::start("sec-csrf", 0);
    let port = c.rest_port;
    // A form post with a text body and no credentials (a browser sends it without pre-flight).
    let (status, body) = raw_http(
        port,
        "POST /loadtests/v2/tests HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain",
        "{\"name\":\"x\"}",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("credentials_or_json_required"), "{body}");
    // A foreign Origin is refused even with a valid token and JSON.
    let head = format!(
        "POST /loadtests/v2/runs/1/stop HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://evil.example\r\nContent-Type: application/json\r\nAuthorization: Token {}",
        c.admin_token
    );
    let (status, body) = raw_http(port, &head, "{}");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("cross_origin_refused"), "{body}");
    // The same origin is fine (404: there is no run 1).
    let head = head.replace("http://evil.example", &format!("http://127.0.0.1:{port}"));
    assert_eq!(raw_http(port, &head, "{}").0, 404);
}

#[test]
fn guessing_tokens_is_slowed_down() {
    let c = Cluster::start("sec-backoff", 0);
    let mut codes = Vec::new();
    for i in 0..8 {
        codes.push(
            call(
                &c,
                Some(&format!("volley_guess_{i}")),
                "GET",
                "/loadtests/v2/runs",
                None,
            )
            .0,
        );
    }
    assert_eq!(&codes[..6], &[401; 6], "{codes:?}");
    assert_eq!(
        codes[7], 429,
        "locked out after the free failures: {codes:?}"
    );
    // While locked out, even the right token waits (the lock is per address).
    assert_eq!(
        call(&c, Some(&c.admin_token), "GET", "/loadtests/v2/runs", None).0,
        429
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while call(&c, Some(&c.admin_token), "GET", "/loadtests/v2/runs", None).0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the lock-out did not end"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Creates a streamed run with the admin token: its id and its batches' secret.
fn streamed_run(c: &Cluster) -> (u64, String) {
    let (status, created) = call(
        c,
        Some(&c.admin_token),
        "POST",
        "/v1/streamed-runs",
        Some(json!({"entry": "t.js", "script": "", "options": {}, "source": "h"})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_u64().unwrap();
    let secret = created["secret"].as_str().expect("a secret").to_string();
    (id, secret)
}

#[test]
fn a_streamed_runs_batches_need_its_secret() {
    let c = Cluster::start("sec-stream", 0);
    let (id, secret) = streamed_run(&c);
    let fin = format!("/v1/streamed-runs/{id}/finish");
    // Not with the admin token, not with a wrong secret: only with the run's own.
    let (status, v) = call(
        &c,
        Some(&c.admin_token),
        "POST",
        &fin,
        Some(json!({"last_batch_seq": 0})),
    );
    assert_eq!(status, 401, "{v}");
    let client = volley_api::client::Client::new(&c.rest_url).unwrap();
    let wrong = client.clone().with_stream_secret(format!("{secret}x"));
    assert_eq!(
        wrong
            .request("POST", &fin, Some(&json!({"last_batch_seq": 0})))
            .unwrap()
            .status,
        401
    );
    let right = client.with_stream_secret(secret);
    let r = right
        .request("POST", &fin, Some(&json!({"last_batch_seq": 0})))
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
}

/// A batch of a hundred thousand series that cannot be merged (protocol-valid, but of no value
/// type, under metric names of escapes and 1 KiB) is a few bounded log lines, not one each.
#[test]
fn a_batch_of_bad_series_is_a_few_log_lines() {
    use prost::Message as _;
    use volley_proto as pb;
    let c = Cluster::start("sec-drops", 0);
    let (id, secret) = streamed_run(&c);
    let mut batch = pb::MetricBatch {
        run_id: id,
        seq: 1,
        start_unix_ms: 1_000,
        end_unix_ms: 2_000,
        ..Default::default()
    };
    const SERIES: usize = 100_000;
    let long = "m".repeat(1024);
    for i in 0..SERIES {
        let metric = match i % 3 {
            0 => "evil\u{1b}[31m\nlevel=error".to_string(),
            1 => long.clone(),
            _ => format!("m{i}"),
        };
        batch.series.push(&pb::Series {
            metric,
            contains: 0,
            tags: vec![pb::Tag::new("k", &format!("v{i}"))],
            sink: Some(pb::series::Sink::Counter(pb::CounterSink {
                sum: 1.0,
                samples: 1,
            })),
        });
    }
    let client = volley_api::client::Client::new(&c.rest_url)
        .unwrap()
        .with_stream_secret(secret);
    client
        .stream_batch(id, batch.encode_to_vec())
        .expect("the batch is taken");
    let log = c.controller_log().expect("the controller's log");
    let summary = format!("{} more of the same batch", SERIES - 3);
    assert!(
        log.wait_for(|l| l.contains(&summary), Duration::from_secs(20))
            .is_some(),
        "no line counts the rest:\n{}",
        log.tail(5)
    );
    let text = log.text();
    let dropped = text
        .lines()
        .filter(|l| l.contains("dropping series"))
        .count();
    assert_eq!(dropped, 4, "{}", log.tail(10));
    assert!(!text.contains('\u{1b}'), "an escape reached the log");
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2048, "a log line of {longest} bytes");
}

/// Opens a request on 127.0.0.1:`port` whose body of `len` bytes is sent but for its last
/// byte: the controller holds what it read while it waits for the rest.
fn held_body(port: u16, head: &str, len: usize) -> TcpStream {
    use std::io::Write;
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let req = format!("{head}\r\nContent-Length: {len}\r\n\r\n");
    s.write_all(req.as_bytes()).expect("head");
    s.write_all(&vec![b' '; len - 1]).expect("body");
    s
}

/// One whole request on a connection of its own: the status line and headers, and the body.
fn whole_request(port: u16, head: &str, body: &[u8]) -> (String, String) {
    use std::io::Write;
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let req = format!(
        "{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("head");
    s.write_all(body).expect("body");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.to_string(), body.to_string())
}

/// Eighty clients with a valid token each holding a 1 MiB body open (the JSON routes' cap)
/// fill an 80 MiB `--max-body-memory`: then a body on any route, a token's or a streamed run's
/// metric batch, waits for room and is answered 503 `busy_receiving` with `Retry-After`, not
/// taken beyond the budget; requests without a body are answered at once; and once the held
/// bodies are gone the same request is taken. Before the budget, every one of them was read.
#[test]
fn request_bodies_held_at_once_are_bounded_by_max_body_memory() {
    let c = Cluster::start_with("sec-bodies", &["--max-body-memory", "80MiB"], 0);
    let (id, secret) = streamed_run(&c);
    let auth = format!(
        "Host: 127.0.0.1\r\nAuthorization: Token {}\r\nContent-Type: application/json",
        c.admin_token
    );
    let held: Vec<TcpStream> = (0..80)
        .map(|_| {
            held_body(
                c.rest_port,
                &format!("POST /v1/tokens HTTP/1.1\r\n{auth}"),
                1024 * 1024,
            )
        })
        .collect();
    let mut token_body = br#"{"role": "read", "name": "probe"}"#.to_vec();
    token_body.extend_from_slice(&[b' '; 4096]);
    // What was sent may still sit in the sockets' buffers, unread, on a loaded machine: until
    // the controller has read it, a probe finds room (and makes a token).
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let (head, body, waited) = loop {
        let started = std::time::Instant::now();
        let (head, body) = whole_request(
            c.rest_port,
            &format!("POST /v1/tokens HTTP/1.1\r\n{auth}"),
            &token_body,
        );
        let waited = started.elapsed();
        if !head.starts_with("HTTP/1.1 201") || std::time::Instant::now() > until {
            break (head, body, waited);
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(head.starts_with("HTTP/1.1 503"), "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    assert!(
        body.contains("busy_receiving") && body.contains("--max-body-memory"),
        "{body}"
    );
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(20),
        "{waited:?}"
    );
    // The metric-push route is under the same budget.
    let (head, body) = whole_request(
        c.rest_port,
        &format!(
            "POST /v1/streamed-runs/{id}/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Volley-Stream-Secret: {secret}\r\nContent-Type: application/x-protobuf"
        ),
        &[0u8; 4096],
    );
    assert!(head.starts_with("HTTP/1.1 503"), "{head}\n{body}");
    // A request without a body is not held up.
    let started = std::time::Instant::now();
    assert_eq!(call(&c, None, "GET", "/healthz", None).0, 200);
    assert_eq!(
        call(&c, Some(&c.admin_token), "GET", "/v1/tokens", None).0,
        200
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // Once the held bodies are gone, the same request is taken.
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (head, body) = whole_request(
            c.rest_port,
            &format!("POST /v1/tokens HTTP/1.1\r\n{auth}"),
            &token_body,
        );
        if head.starts_with("HTTP/1.1 201") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{head}\n{body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn without_tokens_the_controller_listens_on_loopback_only() {
    let dir = temp_dir("sec-bind");
    let start = |args: &[&str], envs: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(volley_bin());
        cmd.args(["controller", "--data-dir"])
            .arg(dir.join(format!("data-{}", args.len() + envs.len())))
            .args(args)
            .env_remove("VOLLEY_TOKEN")
            .env_remove("VOLLEY_ADMIN_TOKEN");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Proc::spawn(&mut cmd)
    };
    let mut p = start(&["--listen", "0.0.0.0:0", "--grpc", "127.0.0.1:0"], &[]);
    assert_eq!(p.exit_code(Duration::from_secs(10)), 1);
    let err = p.stderr.text();
    assert!(
        err.contains("--insecure") && err.contains("VOLLEY_ADMIN_TOKEN"),
        "{err}"
    );
    let mut p = start(&["--listen", "127.0.0.1:0", "--grpc", "0.0.0.0:0"], &[]);
    assert_eq!(p.exit_code(Duration::from_secs(10)), 1);
    assert!(
        p.stderr.text().contains("join token"),
        "{}",
        p.stderr.text()
    );
    // Tokens alone are not enough: they would cross the network in clear text (with TLS any
    // address will do: tests/tests/tls.rs).
    let mut p = start(
        &["--listen", "0.0.0.0:0", "--grpc", "127.0.0.1:0"],
        &[
            ("VOLLEY_ADMIN_TOKEN", "volley_a_long_enough_admin_token"),
            ("VOLLEY_TOKEN", "join"),
        ],
    );
    assert_eq!(p.exit_code(Duration::from_secs(10)), 1);
    let err = p.stderr.text();
    assert!(
        err.contains("without TLS") && err.contains("--tls-cert") && err.contains("--insecure"),
        "{err}"
    );
    let p2 = start(
        &["--insecure", "--listen", "0.0.0.0:0", "--grpc", "0.0.0.0:0"],
        &[],
    );
    volley_e2e::printed_url(&p2, "REST API on");
    // On loopback without tokens the API is open, so a name a foreign page rebinds to
    // 127.0.0.1 (DNS rebinding: the browser sends that name as Host) is refused; loopback
    // names and addresses are served.
    let p3 = start(&["--listen", "127.0.0.1:0", "--grpc", "127.0.0.1:0"], &[]);
    let rest = volley_e2e::printed_url(&p3, "REST API on");
    let port: u16 = rest
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap();
    let get = |host: &str| {
        raw_http(
            port,
            &format!("GET /loadtests/v2/runs HTTP/1.1\r\nHost: {host}"),
            "",
        )
    };
    let (status, body) = get("attacker.example:6565");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("host_refused"), "{body}");
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        assert_eq!(get(&host).0, 200, "{host}");
    }
    drop((p, p2, p3));
}

/// A controller whose answer is lost: for one connection, it passes the request on to the
/// controller on `to` and, once that controller starts answering, closes the client's
/// connection without passing a byte of the answer. Its URL, and the thread to join.
fn answer_losing_proxy(to: u16) -> (String, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let h = std::thread::spawn(move || {
        let (client, _) = l.accept().expect("accept");
        let upstream = TcpStream::connect(("127.0.0.1", to)).expect("connect to the controller");
        let (mut from_client, mut to_upstream) = (
            client.try_clone().expect("clone"),
            upstream.try_clone().expect("clone"),
        );
        // The request goes through; the copy ends when the client's side is shut down.
        let pass = std::thread::spawn(move || {
            let _ = std::io::copy(&mut from_client, &mut to_upstream);
        });
        let mut upstream = upstream;
        upstream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut first = [0u8; 1];
        let n = upstream.read(&mut first).unwrap_or(0);
        assert_eq!(n, 1, "the controller answered the request");
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        let _ = pass.join();
    });
    (url, h)
}

#[test]
fn a_token_create_whose_answer_was_lost_makes_one_token_and_names_it() {
    let c = Cluster::start("sec-token-key", 0);
    let (lost, proxy) = answer_losing_proxy(c.rest_port);
    let out = c
        .volley()
        .args([
            "tokens",
            "create",
            "--role",
            "read",
            "--name",
            "answer-lost",
        ])
        .args(["--controller", &format!("{lost},{}", c.rest_url)])
        .output()
        .expect("volley tokens create");
    proxy.join().expect("the proxy");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let (_, list) = call(&c, Some(&c.admin_token), "GET", "/v1/tokens", None);
    let made: Vec<&Value> = list["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .filter(|t| t["name"] == "answer-lost")
        .collect();
    assert_eq!(
        made.len(),
        1,
        "the create sent again made no second token: {list}\n{stderr}"
    );
    let id = made[0]["id"].as_u64().expect("id");
    assert_eq!(out.status.code(), Some(97), "{stdout}\n{stderr}");
    assert!(stdout.trim().is_empty(), "no secret printed: {stdout}");
    assert!(
        stderr.contains(&format!("token {id} was created by the first attempt"))
            && stderr.contains(&format!("volley tokens revoke {id}")),
        "{stderr}"
    );
}
