//! The cluster's protections seen from other hosts (docs/security.md, docs/agent-sandbox.md):
//! Linux network namespaces on a private bridge stand for the machines of a LAN (the
//! controller in the root namespace, an agent, an attacker), each with its own loopback and
//! its own `/etc/hosts` (volley_e2e::netns).
//!
//! - DNS cannot rebind an agent's requests: names that an agent's `/etc/hosts` resolves to
//!   169.254.169.254 or to the controller's gRPC address are refused naming the rule, and a
//!   name first resolved to an allowed target, then (between two requests, the file rewritten
//!   under the running agent) to 169.254.169.254, is refused from that request on;
//! - an attacker with no credentials who reaches every port (a controller with TLS, API
//!   tokens and mTLS agents; the agent's probe port) achieves nothing: REST without a token or
//!   with a forged one is 401, a forged `Host` too, a foreign `Origin` or a form body 403,
//!   plaintext to the TLS ports 400 with a clear message, registering as an agent without a
//!   client certificate (or with one of another CA) is refused, the agent's probe port serves
//!   only `/healthz`, `/readyz` and `/metrics`, a streamed run's batches and `finish` need its
//!   secret; meanwhile the real runs (one on the agent, one streamed) finish with exact
//!   counts, the attacker's runs do not exist, and the controller logged each refusal.
//!
//! Needs root and iproute2 (skipped with a message otherwise, a failure under `CI`); the two
//! tests run one at a time (a lock file) and remove every namespace and link they create
//! (named `vlys…`). About 40 s.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use volley_api::client::Client;
use volley_api::tls::ClientTls;
use volley_e2e::netns::{etc_of, in_netns, lab, leftovers, volley_in, Bridged};
use volley_e2e::{console_message, printed_url, temp_dir, volley_bin, Proc, Target};

/// Serializes these tests across test processes (they share the names below).
const LOCK_FILE: &str = "/tmp/volley-e2e-security-netns.lock";
/// Every namespace, link and /etc/netns folder of these tests starts with this.
const PREFIX: &str = "vlys";
/// The `volley target` inside the agent's namespace (its own loopback).
const TARGET_PORT: u16 = 18999;
/// The agent's probe port (`--listen`), on every address of its namespace.
const PROBE_PORT: u16 = 6567;
const START_TIMEOUT: Duration = Duration::from_secs(20);
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {url:?}"))
}

/// `volley target` on 127.0.0.1:[`TARGET_PORT`] inside `ns`.
fn target_in(ns: &str) -> Proc {
    let listen = format!("127.0.0.1:{TARGET_PORT}");
    let t = Proc::spawn(volley_in(ns).args(["target", "--listen", &listen]));
    let want = format!("http://{listen}");
    if t.stdout
        .wait_for(|l| l.ends_with(&want), START_TIMEOUT)
        .is_none()
    {
        panic!(
            "the target in {ns} did not start:\n{}{}",
            t.stdout.text(),
            t.stderr.text()
        );
    }
    t
}

/// Waits for a line of `p`'s stderr containing `needle`.
fn wait_stderr(p: &Proc, needle: &str, within: Duration, what: &str) {
    if p.stderr.wait_for(|l| l.contains(needle), within).is_none() {
        panic!(
            "{what}: no line with {needle:?} within {within:?}\n--- stdout\n{}\n--- stderr\n{}",
            p.stdout.text(),
            p.stderr.text()
        );
    }
}

/// The `console.log` messages of an agent.
fn console(agent: &Proc) -> Vec<String> {
    agent
        .stderr
        .lines()
        .iter()
        .filter_map(|(_, l)| console_message(l))
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    p
}

const REBIND_SCRIPT: &str = r#"import http from 'k6/http';
import { sleep } from 'k6';

export const options = { vus: 1, iterations: 1, noConnectionReuse: true, volley: { agents: 1 } };

function get(u) {
  const r = http.get(u, { timeout: '3s' });
  console.log(`GOT ${u} ${r.status} ${r.error_code}`);
  return r;
}

export default function () {
  get('http://metadata.test/latest/meta-data/');
  get(`http://controller.test:${__ENV.GRPC_PORT}/`);
  // Allowed while rebind.test is 127.0.0.1; the test then points it at 169.254.169.254.
  get('http://rebind.test:18999/');
  for (let i = 0; i < 150; i++) {
    sleep(0.1);
    if (get('http://rebind.test:18999/').status === 0) {
      break;
    }
  }
}
"#;

#[test]
fn dns_answers_cannot_rebind_an_agents_requests() {
    let Some(_lab) = lab("dns_answers_cannot_rebind", LOCK_FILE, PREFIX) else {
        return;
    };
    let prefix = format!("{PREFIX}d");
    let dir = temp_dir("security-netns-dns");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let net = Bridged::create(&prefix, "10.252.1", "02:00:5e:00:5e:01", &["ag"]);
    let ns = net.host("ag").ns.clone();
    let gw = net.gateway.clone();
    // The agent's /etc/hosts: `ip netns exec` mounts this file over it, so rewriting it in
    // place changes what the running agent's resolver answers.
    let etc = etc_of(&ns);
    std::fs::create_dir_all(&etc).expect("/etc/netns folder");
    let hosts = etc.join("hosts");
    let with_rebind = |ip: &str| {
        format!(
            "127.0.0.1 localhost\n169.254.169.254 metadata.test\n{gw} controller.test\n{ip} rebind.test\n"
        )
    };
    std::fs::write(&hosts, with_rebind("127.0.0.1")).expect("hosts");

    let _target = target_in(&ns);
    let join = "security-netns-join-token";
    let controller = Proc::spawn(
        Command::new(volley_bin())
            .args(["controller", "--insecure", "--listen", "127.0.0.1:0"])
            .arg("--grpc")
            .arg(format!("{gw}:0"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("VOLLEY_TOKEN", join)
            .env_remove("VOLLEY_ADMIN_TOKEN"),
    );
    let rest = printed_url(&controller, "REST API on");
    let grpc = printed_url(&controller, "gRPC for agents on");
    let agent = Proc::spawn(
        volley_in(&ns)
            .args(["agent", "--controller", &grpc, "--name", "gen-1"])
            .env("TMPDIR", &tmp)
            .env("VOLLEY_TOKEN", join),
    );
    wait_stderr(
        &agent,
        "registered with the controller",
        START_TIMEOUT,
        "agent",
    );

    let script = write(&dir, "rebind.js", REBIND_SCRIPT);
    let grpc_port = port_of(&grpc);
    let mut submit = Proc::spawn(
        Command::new(volley_bin())
            .args(["submit", "--wait", "--controller", &rest, "-e"])
            .arg(format!("GRPC_PORT={grpc_port}"))
            .arg(&script)
            .env_remove("VOLLEY_TOKEN"),
    );
    let first = "GOT http://rebind.test:18999/ 200";
    if agent
        .stderr
        .wait_for(
            |l| console_message(l).is_some_and(|m| m.starts_with(first)),
            RUN_TIMEOUT,
        )
        .is_none()
    {
        panic!(
            "no allowed request to rebind.test\n{}\n--- submit\n{}",
            agent.stderr.text(),
            submit.stderr.text()
        );
    }
    // The name now resolves to the cloud metadata address, for the same URL.
    std::fs::write(&hosts, with_rebind("169.254.169.254")).expect("rewrite hosts");
    let code = submit.exit_code(RUN_TIMEOUT);
    let msgs = console(&agent);
    assert_eq!(
        code,
        0,
        "submit\n{}\n--- agent messages\n{msgs:#?}",
        submit.stderr.text()
    );
    let find = |u: &str| {
        msgs.iter()
            .find(|m| m.starts_with(&format!("GOT {u} ")))
            .unwrap_or_else(|| panic!("no answer for {u}: {msgs:#?}"))
            .clone()
    };
    assert_eq!(
        find("http://metadata.test/latest/meta-data/"),
        "GOT http://metadata.test/latest/meta-data/ 0 1110"
    );
    let ctl = format!("http://controller.test:{grpc_port}/");
    assert_eq!(find(&ctl), format!("GOT {ctl} 0 1110"));
    let rebinds: Vec<&String> = msgs
        .iter()
        .filter(|m| m.starts_with("GOT http://rebind.test:18999/ "))
        .collect();
    assert!(rebinds[0].starts_with(first), "{rebinds:#?}");
    assert_eq!(
        rebinds.last().map(|s| s.as_str()),
        Some("GOT http://rebind.test:18999/ 0 1110"),
        "the request after the rebinding is refused: {rebinds:#?}"
    );
    let log = agent.stderr.text();
    for rule in [
        "matches \\\"169.254.0.0/16\\\" (link-local and cloud metadata addresses".to_string(),
        format!("matches \\\"{gw}:{grpc_port}\\\" (the controller's gRPC endpoint"),
    ] {
        assert!(log.contains(&rule), "{rule}: {log}");
    }
    drop((agent, controller, submit));
    drop(net);
    assert!(leftovers(&prefix).is_empty(), "{:?}", leftovers(&prefix));
    assert!(!etc.exists(), "{} is left", etc.display());
}

const ADMIN: &str = "volley_security_netns_admin_token_0123456789";

/// `curl` inside `ns` (5 s at most): the status code (0 when no HTTP answer) and the body.
fn curl(ns: &str, args: &[&str]) -> (u16, String) {
    let out = in_netns(ns, "curl")
        .args(["-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl in the attacker's namespace");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Waits until the admin sees a run that is not in `known`; returns its id.
fn new_run(admin: &Client, known: &[u64], what: &str) -> u64 {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(list) = admin.runs() {
            let ids: Vec<u64> = list
                .runs
                .iter()
                .filter_map(|r| serde_json::to_value(r).ok()?["id"].as_u64())
                .collect();
            if let Some(id) = ids.into_iter().find(|id| !known.contains(id)) {
                return id;
            }
        }
        assert!(Instant::now() < deadline, "{what} did not appear");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn summary_count(admin: &Client, id: u64, metric: &str) -> f64 {
    let v = admin
        .request("GET", &format!("/v1/runs/{id}/summary"), None)
        .expect("summary")
        .json();
    v["metrics"][metric]["values"]["count"]
        .as_f64()
        .unwrap_or_else(|| panic!("run {id} has no {metric}.count: {v}"))
}

#[test]
fn an_attacker_on_the_network_achieves_nothing() {
    let Some(_lab) = lab("an_attacker_achieves_nothing", LOCK_FILE, PREFIX) else {
        return;
    };
    let prefix = format!("{PREFIX}a");
    let dir = temp_dir("security-netns-attacker");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let net = Bridged::create(&prefix, "10.252.2", "02:00:5e:00:5e:02", &["ag", "at"]);
    let (ag, at) = (net.host("ag"), net.host("at"));
    let gw = net.gateway.clone();
    let pki = dir.join("pki");
    let certs = Command::new(volley_bin())
        .args(["certs", "init"])
        .arg(&pki)
        .args(["--host", &gw, "--host", "127.0.0.1"])
        .output()
        .expect("volley certs init");
    assert!(certs.status.success(), "{certs:?}");
    let own = dir.join("attacker-pki");
    let certs = Command::new(volley_bin())
        .args(["certs", "init"])
        .arg(&own)
        .args(["--host", "attacker.example"])
        .output()
        .expect("volley certs init");
    assert!(certs.status.success(), "{certs:?}");
    let f = |d: &Path, n: &str| d.join(n).to_string_lossy().into_owned();

    let _target = target_in(&ag.ns);
    let controller = Proc::spawn(
        Command::new(volley_bin())
            .arg("controller")
            .arg("--listen")
            .arg(format!("{gw}:0"))
            .arg("--grpc")
            .arg(format!("{gw}:0"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--tls-cert", &f(&pki, "controller.crt")])
            .args(["--tls-key", &f(&pki, "controller.key")])
            .args(["--client-ca", &f(&pki, "ca.crt")])
            .env("VOLLEY_ADMIN_TOKEN", ADMIN)
            .env_remove("VOLLEY_TOKEN"),
    );
    let rest = printed_url(&controller, "REST API on");
    let grpc = printed_url(&controller, "gRPC for agents on");
    assert!(
        rest.starts_with("https://") && grpc.starts_with("https://"),
        "{rest} {grpc}"
    );
    let agent = Proc::spawn(
        volley_in(&ag.ns)
            .args(["agent", "--controller", &grpc])
            .args(["--ca", &f(&pki, "ca.crt")])
            .args(["--cert", &f(&pki, "agent.crt")])
            .args(["--key", &f(&pki, "agent.key")])
            .arg("--listen")
            .arg(format!("0.0.0.0:{PROBE_PORT}"))
            .env("TMPDIR", &tmp)
            .env_remove("VOLLEY_TOKEN"),
    );
    wait_stderr(
        &agent,
        "registered with the controller as agent-1",
        START_TIMEOUT,
        "agent",
    );
    let ca = PathBuf::from(f(&pki, "ca.crt"));
    let admin = Client::new(&rest)
        .and_then(|c| c.with_tls(ClientTls::from_files(Some(&ca), None, None).expect("CA")))
        .expect("client")
        .with_token(Some(ADMIN.into()));

    // The real runs: one on the agent (at the target on its loopback), one streamed from
    // this host by `volley run --out cloud` (at a target here).
    let on_agent = write(
        &dir,
        "agent.js",
        "import http from 'k6/http';\nimport { sleep } from 'k6';\n\
         export const options = { vus: 1, iterations: 50, volley: { agents: 1 } };\n\
         export default function () { http.get('http://127.0.0.1:18999/'); sleep(0.1); }\n",
    );
    let mut submit = Proc::spawn(
        Command::new(volley_bin())
            .args(["submit", "--wait", "--controller", &rest])
            .arg(&on_agent)
            .env("VOLLEY_TOKEN", ADMIN)
            .env("VOLLEY_CA", &ca),
    );
    let agent_run = new_run(&admin, &[], "the submitted run");
    let local_target = Target::start();
    let streamed_script = write(
        &dir,
        "streamed.js",
        "import http from 'k6/http';\nimport { sleep } from 'k6';\n\
         export const options = { vus: 1, iterations: 50 };\n\
         export default function () { http.get(__ENV.URL); sleep(0.1); }\n",
    );
    let mut streamed = Proc::spawn(
        Command::new(volley_bin())
            .args(["run", "-q", "--out"])
            .arg(format!("cloud={rest}"))
            .args(["-e", &format!("URL={}/", local_target.url)])
            .arg(&streamed_script)
            .env("VOLLEY_TOKEN", ADMIN)
            .env("VOLLEY_CA", &ca),
    );
    let streamed_run = new_run(&admin, &[agent_run], "the streamed run");

    // The attacker, at the same time, with no credentials.
    let https = |p: &str| format!("https://{gw}:{}{p}", port_of(&rest));
    let json = ["-H", "Content-Type: application/json"];
    let mut probes: Vec<(String, u16, u16, String)> = Vec::new();
    let mut probe = |what: &str, want: u16, args: &[&str], body_has: &str| {
        let (code, body) = curl(&at.ns, args);
        assert!(
            code == want && body.contains(body_has),
            "{what}: {code} {body} (want {want} with {body_has:?})"
        );
        probes.push((what.to_string(), want, code, body));
    };
    let runs = https("/loadtests/v2/runs");
    probe(
        "list runs without a token",
        401,
        &["-k", &runs],
        "unauthorized",
    );
    let create = https("/loadtests/v2/tests");
    let evil = r#"{"name":"evil","script":"export default function () {}"}"#;
    let mut args = vec!["-k", "-X", "POST", &create, "-d", evil];
    args.extend(json);
    probe("create a test without a token", 401, &args, "unauthorized");
    let start = https("/loadtests/v2/tests/1/start-testrun");
    probe(
        "start a run without a token",
        401,
        &[
            "-k",
            "-X",
            "POST",
            &start,
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
        ],
        "unauthorized",
    );
    let stop = https(&format!("/loadtests/v2/runs/{agent_run}/stop"));
    probe(
        "stop the real run with a guessed token",
        401,
        &[
            "-k",
            "-X",
            "POST",
            &stop,
            "-H",
            "Content-Type: application/json",
            "-H",
            "Authorization: Token volley_guessed_token_0123456789abcdef",
            "-d",
            r#"{"stopped_by_id": 1}"#,
        ],
        "unauthorized",
    );
    probe(
        "a forged Host",
        401,
        &["-k", "-H", "Host: attacker.example:6565", &runs],
        "unauthorized",
    );
    probe(
        "a foreign Origin",
        403,
        &[
            "-k",
            "-X",
            "POST",
            &stop,
            "-H",
            "Origin: http://attacker.example",
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
        ],
        "cross_origin_refused",
    );
    probe(
        "a form a web page could post",
        403,
        &[
            "-k",
            "-X",
            "POST",
            &stop,
            "-H",
            "Content-Type: text/plain",
            "-d",
            "{}",
        ],
        "credentials_or_json_required",
    );
    for (what, path) in [
        ("batches of the streamed run without its secret", "metrics"),
        ("finishing the streamed run without its secret", "finish"),
    ] {
        let url = https(&format!("/v1/streamed-runs/{streamed_run}/{path}"));
        probe(
            what,
            401,
            &[
                "-k",
                "-X",
                "POST",
                &url,
                "-H",
                "Content-Type: application/json",
                "-H",
                "Volley-Stream-Secret: guessed",
                "-d",
                r#"{"last_batch_seq": 0}"#,
            ],
            "",
        );
    }
    // Plaintext to the TLS ports: refused, saying so.
    for port in [port_of(&rest), port_of(&grpc)] {
        probe(
            "plaintext to a TLS port",
            400,
            &[&format!("http://{gw}:{port}/healthz")],
            "this port speaks TLS; use https://",
        );
    }
    // The agent's probe port: three read-only answers, nothing else.
    let agent_url = |p: &str| format!("http://{}:{PROBE_PORT}{p}", ag.addr);
    for p in ["/healthz", "/readyz", "/metrics"] {
        probe("the agent's probes", 200, &[&agent_url(p)], "");
    }
    for (method, p) in [
        ("GET", "/"),
        ("GET", "/v1/status"),
        ("PATCH", "/v1/status"),
        ("POST", "/v1/stop"),
        ("GET", "/v1/runs"),
    ] {
        probe(
            "anything else on the agent's probe port",
            404,
            &["-X", method, &agent_url(p)],
            "",
        );
    }
    probe(
        "a POST to the agent's probes",
        405,
        &["-X", "POST", &agent_url("/readyz")],
        "",
    );
    // Registering as an agent: without a client certificate, with one of its own CA, and
    // over plaintext.
    let attempts: [(Vec<String>, &str); 3] = [
        (
            vec![
                "--controller".into(),
                grpc.clone(),
                "--ca".into(),
                f(&pki, "ca.crt"),
                "--name".into(),
                "agent-1".into(),
            ],
            "requires a client certificate",
        ),
        (
            vec![
                "--controller".into(),
                grpc.clone(),
                "--ca".into(),
                f(&pki, "ca.crt"),
                "--cert".into(),
                f(&own, "agent.crt"),
                "--key".into(),
                f(&own, "agent.key"),
            ],
            "refused this client's certificate",
        ),
        (
            vec![
                "--controller".into(),
                grpc.replacen("https://", "http://", 1),
                "--name".into(),
                "evil".into(),
            ],
            "speaks TLS: use https://",
        ),
    ];
    for (args, says) in attempts {
        let mut intruder = Proc::spawn(
            volley_in(&at.ns)
                .arg("agent")
                .args(&args)
                .env("TMPDIR", &tmp)
                .env_remove("VOLLEY_TOKEN"),
        );
        wait_stderr(&intruder, says, START_TIMEOUT, "the attacker's agent");
        intruder.kill();
    }
    eprintln!("{} probes refused as they must be", probes.len());

    // The real runs finish with their exact counts; the agents are only the real one.
    let code = submit.exit_code(RUN_TIMEOUT);
    assert_eq!(
        code,
        0,
        "submit\n{}\n{}",
        submit.stderr.text(),
        agent.stderr.text()
    );
    let code = streamed.exit_code(RUN_TIMEOUT);
    assert_eq!(
        code,
        0,
        "volley run --out cloud\n{}",
        streamed.stderr.text()
    );
    for id in [agent_run, streamed_run] {
        let run = serde_json::to_value(admin.run(id).expect("run")).expect("json");
        assert_eq!(run["run_status"], 3, "run {id} FINISHED: {run}");
        assert_eq!(summary_count(&admin, id, "http_reqs"), 50.0, "run {id}");
        assert_eq!(summary_count(&admin, id, "iterations"), 50.0, "run {id}");
    }
    assert_eq!(
        admin.runs().expect("runs").runs.len(),
        2,
        "only the real runs exist"
    );
    let tests = serde_json::to_string(&admin.tests().expect("tests")).expect("json");
    assert!(!tests.contains("evil"), "{tests}");
    let agents = admin.agents().expect("agents");
    let names: Vec<String> = agents
        .agents
        .iter()
        .filter_map(|a| {
            serde_json::to_value(a).ok()?["name"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(names, ["agent-1"]);
    // Each refusal is an audit line naming the attacker's address.
    let log = format!("{}{}", controller.stdout.text(), controller.stderr.text());
    let attacker = format!("peer={}", at.addr);
    for line in ["authentication failed", "request refused"] {
        assert!(
            log.lines()
                .any(|l| l.contains(line) && l.contains(&attacker)),
            "no {line:?} line with {attacker}:\n{log}"
        );
    }
    drop((agent, controller, submit, streamed));
    drop(net);
    assert!(leftovers(&prefix).is_empty(), "{:?}", leftovers(&prefix));
}
