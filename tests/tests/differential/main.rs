//! Differential tests: the same unmodified k6 scripts (`tests/k6-scripts/*.js`) run under the
//! real k6 binary and under `volley run`, against one local `volley target`, and the outcomes
//! must agree.
//!
//! Compared, for every script:
//! - the exit codes (and both must equal the code the case expects, so a script that k6 itself
//!   runs differently than intended is reported as a broken case, not as a Volley bug);
//! - whether `handleSummary()` ran (its data lands in the file `__ENV.OUT`);
//! - the top-level keys of the handleSummary data, the keys and values of `options`, the keys
//!   of `state`, and `setup_data` (exactly);
//! - the `root_group` tree in order: group names, paths and ids, check names, paths and ids, and
//!   each check's passes/fails (counts only for iteration-based executors);
//! - the set of metrics, each metric's `type`, `contains`, the keys of its `values`, and its
//!   thresholds with their `ok` flags;
//! - for iteration-based executors, every count that the script fixes: counters (`iterations`,
//!   `http_reqs`, custom counters and their submetrics), rates (`checks`, `http_req_failed`,
//!   custom rates: passes/fails/rate), custom gauges (value/min/max) and custom non-time trends
//!   (every statistic). Time-based executors compare only the shape;
//! - for a case that asks ([`differential_outcomes`]), what both logged: `wild_sixth.rs` checks
//!   that both wrote the same lines about a rejected promise.
//!
//! Both tools only ever talk to the 127.0.0.1 target: the scripts use `__ENV.BASE_URL` (and
//! `__ENV.WS_URL`, a WebSocket echo and broadcast server, `volley_e2e::ws_server`, and
//! `__ENV.GRPC_ADDR`, a gRPC server, `volley_e2e::grpc_server`, and `__ENV.GRPC_TLS_ADDR` and
//! `__ENV.GRPC_MTLS_ADDR`, the same over TLS with a test CA's certificates in
//! `__ENV.GRPC_CERTS`, and `__ENV.HTTPS_MTLS_URL`, an HTTPS server that wants a client
//! certificate from that CA, and `__ENV.HTTPS_TLS12_URL` and `__ENV.HTTPS_TLS13_URL`, HTTPS
//! servers that speak one TLS version with one cipher suite each), proxy
//! variables are removed, and k6 runs with `--no-usage-report` and `K6_NO_USAGE_REPORT=true`.
//! The `jslib_*` scripts import libraries from `https://jslib.k6.io/…` as public scripts do;
//! they run as copies whose URLs point at a local HTTPS server of the vendored libraries
//! (`volley_e2e::module_server`, `tests/fixtures/jslib/`), trusted by both tools through
//! `SSL_CERT_FILE`.
//!
//! When `k6` is not installed the tests print a warning and pass, so developer machines without
//! k6 still run the rest of the suite; under CI (env `CI` set) a missing k6 fails them.
//!
//! KNOWN_DIFFERENCES (deliberate or missing features; the comparison normalises exactly these
//! and nothing else):
//! - `result` top-level key: Volley adds `result: {outcome, exitCode, message, context}` to
//!   every handleSummary data (docs/k6-compatibility.md#summaries-and-output-formats); k6 v1.1.0 has no such key. The test requires it
//!   in Volley's data and ignores it otherwise.
//! - `vus` and `vus_max`: k6 samples these gauges from a once-a-second ticker, so runs shorter
//!   than about a second have no `vus`/`vus_max` metrics at all; Volley always reports them.
//!   When k6 has them, both must have them with the same shape; their values are not compared.
//! - `--no-color`: Volley has no such flag (it honours `NO_COLOR`/`K6_NO_COLOR` like k6), so no
//!   case passes it; `options.noColor` is compared with both variables removed.
//! - `data_sent`/`data_received` counts: the tools send different `User-Agent` headers, so
//!   byte counts differ by design; only their shape is compared.
//!
//! The `wild_*` scripts are written in the styles public k6 scripts use (docs examples,
//! workshop tests with scenarios and tagged thresholds, data files, login flows, request
//! signing). Running them found these differences, which are not compared (see
//! docs/k6-compatibility.md):
//! - `console.log(new Error('boom'))` prints `{}` in k6 (the error as JSON) and `Error: boom` in
//!   Volley, deliberately;
//! - k6's `res.json()` gives an object's keys in a random order (Go maps), so no script compares
//!   whole documents as strings;
//! - the end-of-test progress line and the banner are Volley's own.
//!
//! This file is the harness (running both tools, comparing what they did); the cases are in one
//! file per k6 module below, the `wild_*` and `jslib_*` scripts in files of their own.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_e2e::grpc_server::GrpcServer;
use volley_e2e::loopback_tls::TestCa;
use volley_e2e::module_server::{ModuleServer, JSLIB};
use volley_e2e::ws_server::WsServer;
use volley_e2e::{temp_dir, volley_bin, workspace_root, Target};

mod experimental;
mod grpc;
mod html;
mod http;
mod jslib;
mod runtime;
mod tls;
mod webcrypto;
mod websockets;
mod wild;
mod wild_fifth;
mod wild_fourth;
mod wild_second;
mod wild_sixth;
mod wild_third;

/// Top-level handleSummary keys only Volley has (see KNOWN_DIFFERENCES).
const VOLLEY_ONLY_TOP_LEVEL_KEYS: &[&str] = &["result"];

/// Gauges k6 samples once a second, so they are missing from k6's short runs.
const SAMPLED_GAUGES: &[&str] = &["vus", "vus_max"];

/// Counters whose values depend on header bytes the tools spell differently.
const BYTE_COUNTERS: &[&str] = &["data_sent", "data_received"];

/// k6's built-in metrics: their trend values are timings, never compared.
const BUILTIN_METRICS: &[&str] = &[
    "checks",
    "data_received",
    "data_sent",
    "dropped_iterations",
    "group_duration",
    "http_req_blocked",
    "http_req_connecting",
    "http_req_duration",
    "http_req_failed",
    "http_req_receiving",
    "http_req_sending",
    "http_req_tls_handshaking",
    "http_req_waiting",
    "http_reqs",
    "iteration_duration",
    "iterations",
    "vus",
    "vus_max",
    "ws_connecting",
    "ws_msgs_received",
    "ws_msgs_sent",
    "ws_ping",
    "ws_session_duration",
    "ws_sessions",
    "grpc_req_duration",
    "grpc_streams",
    "grpc_streams_msgs_received",
    "grpc_streams_msgs_sent",
];

/// No single run may take longer than this; a hang fails the test instead of blocking CI.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Whether a script's counts are fixed by the script (iteration-based executors) or depend on
/// how fast the machine is (time-based executors: only the shape is compared).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Counts {
    Exact,
    TimeBased,
}

/// Whether the order of checks and groups in `root_group` is fixed by the script.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Order {
    /// k6 lists them in first-use order, and every VU uses them in the same order.
    FirstUse,
    /// Concurrent scenarios use different checks: k6's own order changes from run to run, so
    /// checks and groups are compared sorted by name.
    Racy,
}

/// One differential case.
struct Case {
    /// File name under `tests/k6-scripts/`.
    script: &'static str,
    /// The exit code both tools must return.
    exit_code: i32,
    counts: Counts,
    order: Order,
    /// Whether `handleSummary()` runs (it does not when init or options fail).
    summary: bool,
}

/// A case whose counts the script fixes, its checks and groups used in the same order by
/// every VU, with a summary (most `wild_*` cases).
fn exact(script: &'static str, exit_code: i32) -> Case {
    Case {
        script,
        exit_code,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    }
}

/// Which tool ran a script.
#[derive(Clone, Copy, Debug)]
enum Tool {
    K6,
    Volley,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::K6 => "k6",
            Tool::Volley => "volley",
        }
    }
}

/// What one tool did with one script.
struct Outcome {
    code: i32,
    summary: Option<Value>,
    stdout: String,
    stderr: String,
}

/// True when `k6` can run here. Without it: fails under CI, warns and skips elsewhere.
fn k6_ready() -> bool {
    volley_e2e::k6_client::k6_ready_for("the differential tests")
}

fn script_path(script: &str) -> PathBuf {
    workspace_root()
        .join("tests")
        .join("k6-scripts")
        .join(script)
}

/// Runs `cmd` with stdout/stderr captured; kills it and panics after [`RUN_LIMIT`].
fn run_limited(mut cmd: Command, what: &str) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if started.elapsed() > RUN_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {RUN_LIMIT:?}");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("cannot wait for {what}: {e}"),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    // A signal death has no code; -1 never equals an expected exit code.
    (status.code().unwrap_or(-1), stdout, stderr)
}

/// The local servers a script may talk to.
struct Servers<'a> {
    base_url: &'a str,
    ws_url: &'a str,
    grpc_addr: &'a str,
    /// The CA of the module server, when the script imports jslib.k6.io modules.
    module_ca: Option<&'a Path>,
    /// gRPC over TLS: a server with a test CA's certificate, one that also wants a client
    /// certificate, and the folder of the CA's PEM files (`TestCa::write_to`).
    grpc_tls_addr: &'a str,
    grpc_mtls_addr: &'a str,
    grpc_certs: &'a Path,
    /// An HTTPS server whose certificate the same CA signed and that wants a client certificate
    /// from it (`tlsAuth`); it answers `/hello`.
    https_mtls_url: &'a str,
    /// HTTPS servers that speak only TLS 1.2 with `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`,
    /// and only TLS 1.3 with `TLS_AES_256_GCM_SHA384` (`tlsCipherSuites`); both answer `/hello`.
    https_tls12_url: &'a str,
    https_tls13_url: &'a str,
}

/// Runs `script` under `tool` against `servers`, in `dir` (so relative files land there), with
/// the case's own flags (`args`) after the harness's.
fn run_tool(
    tool: Tool,
    script: &Path,
    servers: &Servers,
    dir: &Path,
    args: &[&str],
    vars: &[(&str, &str)],
) -> Outcome {
    let out_file = dir.join(format!("{}-summary.json", tool.name()));
    let mut cmd = match tool {
        Tool::K6 => {
            let mut c = Command::new("k6");
            c.args(["run", "--no-usage-report"]);
            c
        }
        Tool::Volley => {
            let mut c = Command::new(volley_bin());
            c.arg("run");
            c
        }
    };
    cmd.arg("-e")
        .arg(format!("BASE_URL={}", servers.base_url))
        .arg("-e")
        .arg(format!("WS_URL={}", servers.ws_url))
        .arg("-e")
        .arg(format!("GRPC_ADDR={}", servers.grpc_addr))
        .arg("-e")
        .arg(format!("GRPC_TLS_ADDR={}", servers.grpc_tls_addr))
        .arg("-e")
        .arg(format!("GRPC_MTLS_ADDR={}", servers.grpc_mtls_addr))
        .arg("-e")
        .arg(format!("GRPC_CERTS={}", servers.grpc_certs.display()))
        .arg("-e")
        .arg(format!("HTTPS_MTLS_URL={}", servers.https_mtls_url))
        .arg("-e")
        .arg(format!("HTTPS_TLS12_URL={}", servers.https_tls12_url))
        .arg("-e")
        .arg(format!("HTTPS_TLS13_URL={}", servers.https_tls13_url))
        .arg("-e")
        .arg(format!("OUT={}", out_file.display()))
        .args(args)
        .arg(script)
        .current_dir(dir);
    // Nothing from the developer's environment may change options or route traffic elsewhere.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy().to_ascii_uppercase();
        if k.starts_with("K6_")
            || k.starts_with("VOLLEY_")
            || k.ends_with("_PROXY")
            || k == "NO_COLOR"
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("K6_NO_USAGE_REPORT", "true");
    // The case's own variables (`K6_VUS` …), set as a CI job sets them.
    for (k, v) in vars {
        cmd.env(k, v);
    }
    if let Some(ca) = servers.module_ca {
        // Both trust the module server's CA; Volley caches its downloads in the case's folder.
        cmd.env("SSL_CERT_FILE", ca);
        cmd.env("VOLLEY_MODULE_CACHE", dir.join("volley-module-cache"));
    }
    let what = format!("{} run {}", tool.name(), script.display());
    let (code, stdout, stderr) = run_limited(cmd, &what);
    let summary = std::fs::read_to_string(&out_file).ok().map(|text| {
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{what}: handleSummary wrote invalid JSON to {}: {e}",
                out_file.display()
            )
        })
    });
    Outcome {
        code,
        summary,
        stdout,
        stderr,
    }
}

/// The differences found between two runs, as readable lines.
#[derive(Default)]
struct Diffs(Vec<String>);

impl Diffs {
    fn push(&mut self, msg: String) {
        self.0.push(msg);
    }

    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, k6: T, volley: T) {
        if k6 != volley {
            self.push(format!("{what}: k6 {k6:?}, volley {volley:?}"));
        }
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// One line per group and per check, depth first, in the order the data lists them (sorted by
/// name within each group for [`Order::Racy`]).
fn flatten_groups(group: &Value, counts: Counts, order: Order, out: &mut Vec<String>) {
    let s = |v: &Value, k: &str| v.get(k).map(Value::to_string).unwrap_or_default();
    out.push(format!(
        "group name={} path={} id={}",
        s(group, "name"),
        s(group, "path"),
        s(group, "id")
    ));
    let listed = |key: &str| {
        let mut items: Vec<&Value> = group[key].as_array().into_iter().flatten().collect();
        if order == Order::Racy {
            items.sort_by_key(|v| s(v, "name"));
        }
        items
    };
    for check in listed("checks") {
        let mut line = format!(
            "check name={} path={} id={}",
            s(check, "name"),
            s(check, "path"),
            s(check, "id")
        );
        if counts == Counts::Exact {
            line.push_str(&format!(
                " passes={} fails={}",
                s(check, "passes"),
                s(check, "fails")
            ));
        }
        out.push(line);
    }
    for sub in listed("groups") {
        flatten_groups(sub, counts, order, out);
    }
}

/// The metric's name without a submetric's `{tags}`.
fn base_name(metric: &str) -> &str {
    metric.split('{').next().unwrap_or(metric)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Compares the values that an iteration-based script fixes (see the module docs).
fn compare_exact_values(name: &str, k6: &Value, volley: &Value, diffs: &mut Diffs) {
    let base = base_name(name);
    let builtin = BUILTIN_METRICS.contains(&base);
    let fields: &[&str] = match k6["type"].as_str().unwrap_or("") {
        "counter" if BYTE_COUNTERS.contains(&base) => &[],
        "counter" => &["count"],
        "rate" => &["passes", "fails", "rate"],
        "gauge" if !builtin => &["value", "min", "max"],
        // Custom trends (time ones too) hold script-chosen numbers in these scripts.
        "trend" if !builtin => &["avg", "min", "med", "max", "p(90)", "p(95)"],
        _ => &[],
    };
    for field in fields {
        let a = k6["values"].get(*field).and_then(Value::as_f64);
        let b = volley["values"].get(*field).and_then(Value::as_f64);
        let same = match (a, b) {
            (Some(a), Some(b)) => close(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            diffs.push(format!(
                "metrics[{name:?}].values[{field:?}]: k6 {a:?}, volley {b:?}"
            ));
        }
    }
}

/// Compares two handleSummary data objects.
fn compare_summaries(k6: &Value, volley: &Value, case: &Case, diffs: &mut Diffs) {
    let counts = case.counts;
    let k6_top = keys(k6);
    let mut volley_top = keys(volley);
    for extra in VOLLEY_ONLY_TOP_LEVEL_KEYS {
        if !volley_top.remove(*extra) {
            diffs.push(format!("volley's data lacks its top-level {extra:?} key"));
        }
    }
    diffs.eq("top-level keys", &k6_top, &volley_top);
    diffs.eq(
        "options keys",
        keys(&k6["options"]),
        keys(&volley["options"]),
    );
    for key in ["summaryTrendStats", "summaryTimeUnit", "noColor"] {
        diffs.eq(
            &format!("options.{key}"),
            &k6["options"][key],
            &volley["options"][key],
        );
    }
    diffs.eq("state keys", keys(&k6["state"]), keys(&volley["state"]));
    diffs.eq("setup_data", k6.get("setup_data"), volley.get("setup_data"));

    let mut k6_groups = Vec::new();
    let mut volley_groups = Vec::new();
    flatten_groups(&k6["root_group"], counts, case.order, &mut k6_groups);
    flatten_groups(
        &volley["root_group"],
        counts,
        case.order,
        &mut volley_groups,
    );
    if k6_groups != volley_groups {
        diffs.push(format!(
            "root_group differs\n  k6:\n    {}\n  volley:\n    {}",
            k6_groups.join("\n    "),
            volley_groups.join("\n    ")
        ));
    }

    let k6_metrics = &k6["metrics"];
    let volley_metrics = &volley["metrics"];
    let mut k6_names = keys(k6_metrics);
    let mut volley_names = keys(volley_metrics);
    for gauge in SAMPLED_GAUGES {
        if !k6_names.contains(*gauge) {
            volley_names.remove(*gauge);
        }
    }
    diffs.eq("metric names", &k6_names, &volley_names);
    k6_names.retain(|n| volley_names.contains(n));
    for name in &k6_names {
        let a = &k6_metrics[name];
        let b = &volley_metrics[name];
        diffs.eq(&format!("metrics[{name:?}] keys"), keys(a), keys(b));
        diffs.eq(&format!("metrics[{name:?}].type"), &a["type"], &b["type"]);
        diffs.eq(
            &format!("metrics[{name:?}].contains"),
            &a["contains"],
            &b["contains"],
        );
        diffs.eq(
            &format!("metrics[{name:?}].values keys"),
            keys(&a["values"]),
            keys(&b["values"]),
        );
        diffs.eq(
            &format!("metrics[{name:?}].thresholds"),
            a.get("thresholds"),
            b.get("thresholds"),
        );
        if counts == Counts::Exact {
            compare_exact_values(name, a, b, diffs);
        }
    }
}

/// Runs `case` under both tools and panics with every difference found.
fn differential(case: &Case) {
    differential_with_flags(case, &[]);
}

/// Like [`differential`], with command-line flags both tools get (`-e`, `--vus` …), as CI
/// pipelines pass them.
fn differential_with_flags(case: &Case, args: &[&str]) {
    differential_with_env(case, args, &[]);
}

/// Like [`differential_with_flags`], with environment variables both tools get (k6's `K6_*`
/// option variables, as a CI job sets them).
fn differential_with_env(case: &Case, args: &[&str], vars: &[(&str, &str)]) {
    differential_outcomes(case, args, vars);
}

/// Like [`differential_with_env`], giving back what k6 and Volley did (in that order) when they
/// agreed, for a case that also compares what they logged; `None` without k6.
fn differential_outcomes(
    case: &Case,
    args: &[&str],
    vars: &[(&str, &str)],
) -> Option<(Outcome, Outcome)> {
    if !k6_ready() {
        return None;
    }
    let target = Target::start();
    let ws = WsServer::start();
    let grpc = GrpcServer::start();
    let ca = TestCa::new();
    let (grpc_tls, grpc_mtls) = (
        GrpcServer::start_tls(&ca, false),
        GrpcServer::start_tls(&ca, true),
    );
    let mut script = script_path(case.script);
    assert!(script.exists(), "missing script {}", script.display());
    let stem = case.script.trim_end_matches(".js").trim_end_matches(".ts");
    let dir = temp_dir(&format!("diff-{stem}"));
    // A script importing jslib.k6.io modules runs as a copy that imports them from the local
    // module server (tests/fixtures/jslib/) instead.
    let text = std::fs::read_to_string(&script).expect("read script");
    let modules = text.contains(JSLIB).then(|| {
        let server = ModuleServer::jslib(&dir);
        script = dir.join(case.script);
        std::fs::write(&script, server.localize(&text)).expect("write the localized script");
        server
    });
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).expect("certs folder");
    ca.write_to(&certs);
    let https_mtls = ModuleServer::start_with(
        ca.server_config(true, &[]),
        &ca.ca_pem,
        &certs,
        [("/hello".to_string(), b"hello".to_vec())].into(),
    );
    let https_mtls_url = https_mtls.url("");
    let one_suite = |version, suite| {
        ModuleServer::start_with(
            ca.server_config_one_suite(version, suite),
            &ca.ca_pem,
            &certs,
            [("/hello".to_string(), b"hello".to_vec())].into(),
        )
    };
    use rustls::crypto::ring::cipher_suite as ring;
    let https_tls12 = one_suite(
        &rustls::version::TLS12,
        ring::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    );
    let https_tls13 = one_suite(&rustls::version::TLS13, ring::TLS13_AES_256_GCM_SHA384);
    let (https_tls12_url, https_tls13_url) = (https_tls12.url(""), https_tls13.url(""));
    let servers = Servers {
        base_url: &target.url,
        ws_url: &ws.url,
        grpc_addr: &grpc.addr,
        module_ca: modules.as_ref().map(|m| m.ca_file.as_path()),
        grpc_tls_addr: &grpc_tls.addr,
        grpc_mtls_addr: &grpc_mtls.addr,
        grpc_certs: &certs,
        https_mtls_url: &https_mtls_url,
        https_tls12_url: &https_tls12_url,
        https_tls13_url: &https_tls13_url,
    };

    let started = Instant::now();
    let k6 = run_tool(Tool::K6, &script, &servers, &dir, args, vars);
    let k6_time = started.elapsed();
    let started = Instant::now();
    let volley = run_tool(Tool::Volley, &script, &servers, &dir, args, vars);
    let volley_time = started.elapsed();
    eprintln!(
        "{}: k6 exit {} in {k6_time:.2?}, volley exit {} in {volley_time:.2?}",
        case.script, k6.code, volley.code
    );

    let mut diffs = Diffs::default();
    if k6.code != case.exit_code {
        diffs.push(format!(
            "k6 itself exited {} but the case expects {}: the script no longer tests what it \
             claims",
            k6.code, case.exit_code
        ));
    }
    diffs.eq("exit code", k6.code, volley.code);
    diffs.eq(
        "handleSummary ran",
        k6.summary.is_some(),
        volley.summary.is_some(),
    );
    if k6.summary.is_some() != case.summary {
        diffs.push(format!(
            "k6 handleSummary ran: {}, but the case expects {}",
            k6.summary.is_some(),
            case.summary
        ));
    }
    if let (Some(a), Some(b)) = (&k6.summary, &volley.summary) {
        compare_summaries(a, b, case, &mut diffs);
    }

    if diffs.0.is_empty() {
        return Some((k6, volley));
    }
    panic!(
        "{} behaves differently under k6 and volley (outputs kept in {}):\n- {}\n\
         --- k6 stdout ---\n{}\n--- k6 stderr ---\n{}\n--- volley stdout ---\n{}\n\
         --- volley stderr ---\n{}",
        case.script,
        dir.display(),
        diffs.0.join("\n- "),
        tail(&k6.stdout),
        tail(&k6.stderr),
        tail(&volley.stdout),
        tail(&volley.stderr)
    );
}

/// The last lines of a tool's output, enough to see why it exited.
fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}
