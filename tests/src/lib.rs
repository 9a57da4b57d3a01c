//! Helpers for Volley's end-to-end tests: find (or build) the `volley` binary, start a
//! `volley target` on a free loopback port, run scripts and read their outputs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

pub mod grpc_server;
pub mod ha;
pub mod k6_client;
pub mod loopback_tls;
pub mod module_server;
pub mod netns;
pub mod pty;
pub mod server_thread;
pub mod summary_run;
pub mod ws_server;

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of the `volley` binary the tests run: the one cargo built for them.
///
/// These tests are the integration tests of the package that has the binary (`volley`:
/// cli/Cargo.toml lists them by path), so cargo builds it before running them, with the
/// features it ships with, and sets `CARGO_BIN_EXE_volley` in their environment as well as at
/// compile time; this library reads it at run time. (Before, each test process ran
/// `cargo build -p volley` itself, which rebuilt the binary with another feature set.)
pub fn volley_bin() -> PathBuf {
    let bin = std::env::var_os("CARGO_BIN_EXE_volley")
        .map(PathBuf::from)
        .expect(
            "CARGO_BIN_EXE_volley is not set: run the end-to-end tests through cargo, \
         e.g. `cargo test -p volley --test NAME`",
        );
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

/// What the browser tests need (`tests/browser/`): Chromium (`CHROMIUM`, else
/// `/usr/bin/chromium`), `playwright-core` installed by `npm ci` there, and node. Returns
/// Chromium and the folder of the scripts, or why they cannot run.
pub fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!(
            "no Chromium at {} (apt-get install chromium, or set CHROMIUM)",
            chromium.display()
        ));
    }
    let dir = workspace_root().join("tests/browser");
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Err(format!(
            "playwright-core is not installed (run `npm ci` in {})",
            dir.display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is not installed".into());
    }
    Ok((chromium, dir))
}

/// [`browser_tools`] for a test named `what`: None (after printing SKIP) when they are missing
/// outside CI; under `CI=true` a missing tool fails the test, since `.ci/run` installs them.
pub fn browser_tools_or_skip(what: &str) -> Option<(PathBuf, PathBuf)> {
    match browser_tools() {
        Ok(tools) => Some(tools),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{what} cannot run in CI: {why}; .ci/run installs it")
        }
        Err(why) => {
            eprintln!("SKIP {what}: {why}");
            None
        }
    }
}

/// A running `volley target` on 127.0.0.1 (random port), killed on drop.
pub struct Target {
    child: Child,
    pub url: String,
}

impl Target {
    pub fn start() -> Target {
        let mut child = Command::new(volley_bin())
            .args(["target", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start volley target");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read target banner");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("url in banner")
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "unexpected banner {line:?}"
        );
        Target { child, url }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `volley run` with args; returns the process output.
pub fn volley_run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(volley_bin());
    cmd.arg("run").args(args).current_dir(workspace_root());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run volley")
}

/// A fresh temporary directory for a test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "volley-e2e-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Starts `volley run <args>` from the workspace root with stdout and stderr piped and stdin
/// closed, so a test can signal the process and read its output while it runs.
pub fn spawn_volley_run(args: &[&str]) -> Child {
    Command::new(volley_bin())
        .arg("run")
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start volley run")
}

/// Sends the signal `sig` ("INT", "TERM", ...) to `pid` with `kill -s`. Returns false when it
/// could not be delivered (usually: the process has already exited).
pub fn send_signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// One HTTP request to `127.0.0.1:port` (a body is sent as `application/json`): returns the
/// status code and the body, whatever the status.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: std::time::Duration,
) -> std::io::Result<(u16, String)> {
    http_request_to(&format!("127.0.0.1:{port}"), method, path, body, timeout)
}

/// Like [`http_request`], to any `IP:PORT` (e.g. a controller on a test bridge). Requests go
/// through the project's REST client, one client (and its kept-alive connections) per
/// address and timeout.
pub fn http_request_to(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: std::time::Duration,
) -> std::io::Result<(u16, String)> {
    let client = rest_client(addr, timeout)?;
    let answer = match body {
        Some(b) => client.request_bytes(method, path, "application/json", b.as_bytes().to_vec()),
        None => client.request(method, path, None),
    }
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok((
        answer.status,
        String::from_utf8_lossy(&answer.body).into_owned(),
    ))
}

/// The REST client of `http://addr` with `timeout`, made once per address and timeout.
fn rest_client(
    addr: &str,
    timeout: std::time::Duration,
) -> std::io::Result<volley_api::client::Client> {
    type Clients =
        std::collections::HashMap<(String, std::time::Duration), volley_api::client::Client>;
    static CLIENTS: OnceLock<std::sync::Mutex<Clients>> = OnceLock::new();
    let mut clients = CLIENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(c) = clients.get(&(addr.to_string(), timeout)) {
        return Ok(c.clone());
    }
    let c = volley_api::client::Client::new(&format!("http://{addr}"))
        .and_then(|c| c.with_timeout(timeout))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    clients.insert((addr.to_string(), timeout), c.clone());
    Ok(c)
}

/// `PATCH path` with a JSON body on the REST API at `127.0.0.1:port` (1 s timeout).
pub fn http_patch(port: u16, path: &str, json: &str) -> std::io::Result<(u16, String)> {
    http_request(
        port,
        "PATCH",
        path,
        Some(json),
        std::time::Duration::from_secs(1),
    )
}

/// The k6 execution status number from `GET /v1/status` (`data.attributes.status`).
pub fn api_status(port: u16) -> Result<i64, String> {
    let (code, body) = http_request(
        port,
        "GET",
        "/v1/status",
        None,
        std::time::Duration::from_secs(1),
    )
    .map_err(|e| format!("GET /v1/status: {e}"))?;
    if code != 200 {
        return Err(format!("GET /v1/status answered {code}: {body}"));
    }
    let v: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| format!("GET /v1/status is not JSON ({e}): {body}"))?;
    v["data"]["attributes"]["status"]
        .as_i64()
        .ok_or_else(|| format!("GET /v1/status has no data.attributes.status: {body}"))
}

/// The lines of a child's pipe, each stamped with the time it arrived, collected by a thread so
/// a test can wait for a line while the process runs (and measure when it came).
#[derive(Clone)]
pub struct LineLog {
    inner: std::sync::Arc<(std::sync::Mutex<LineLogState>, std::sync::Condvar)>,
}

#[derive(Default)]
struct LineLogState {
    lines: Vec<(std::time::Instant, String)>,
    closed: bool,
    closed_at: Option<std::time::Instant>,
}

impl LineLog {
    /// Starts reading `pipe` line by line until it closes.
    pub fn capture<R: std::io::Read + Send + 'static>(pipe: R) -> LineLog {
        let log = LineLog {
            inner: std::sync::Arc::new((
                std::sync::Mutex::new(LineLogState::default()),
                std::sync::Condvar::new(),
            )),
        };
        let inner = log.inner.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = reader.read_until(b'\n', &mut buf).unwrap_or(0);
                let (lock, cvar) = &*inner;
                let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    st.closed = true;
                    st.closed_at = Some(std::time::Instant::now());
                    cvar.notify_all();
                    return;
                }
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                st.lines.push((std::time::Instant::now(), line));
                cvar.notify_all();
            }
        });
        log
    }

    /// Waits up to `timeout` for a line matching `pred` (lines already read count too); returns
    /// when that line arrived. `None` on timeout or when the pipe closed without a match.
    pub fn wait_for(
        &self,
        pred: impl Fn(&str) -> bool,
        timeout: std::time::Duration,
    ) -> Option<std::time::Instant> {
        let deadline = std::time::Instant::now() + timeout;
        let (lock, cvar) = &*self.inner;
        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = 0;
        loop {
            if let Some((t, _)) = st.lines[seen..].iter().find(|(_, l)| pred(l)) {
                return Some(*t);
            }
            seen = st.lines.len();
            let now = std::time::Instant::now();
            if st.closed || now >= deadline {
                return None;
            }
            st = cvar
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits up to `timeout` for the pipe to close; true when it did.
    pub fn wait_closed(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let (lock, cvar) = &*self.inner;
        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !st.closed {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            st = cvar
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// When the pipe closed (for a child's stdout or stderr: about when it exited).
    pub fn closed_at(&self) -> Option<std::time::Instant> {
        let (lock, _) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).closed_at
    }

    /// Every line read so far, with its arrival time.
    pub fn lines(&self) -> Vec<(std::time::Instant, String)> {
        let (lock, _) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).lines.clone()
    }

    /// Everything read so far, one line per line.
    pub fn text(&self) -> String {
        self.lines().into_iter().map(|(_, l)| l + "\n").collect()
    }
}

/// A child process of a test with its stdout and stderr captured line by line; killed
/// (SIGKILL) and reaped on drop, so a failing test leaves nothing running.
pub struct Proc {
    child: Child,
    pub stdout: LineLog,
    pub stderr: LineLog,
}

impl Proc {
    /// Spawns `cmd` with stdin closed and both outputs piped into [`LineLog`]s.
    pub fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = LineLog::capture(child.stdout.take().expect("piped stdout"));
        let stderr = LineLog::capture(child.stderr.take().expect("piped stderr"));
        Proc {
            child,
            stdout,
            stderr,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running. After an
    /// exit it also waits (briefly) for both outputs to be read to their end: the reader threads
    /// may still be behind, and a check of the output right after would see it cut short.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                // A grandchild that inherited the pipes may keep them open: do not wait forever.
                let drain = std::time::Duration::from_secs(2);
                self.stdout.wait_closed(drain);
                self.stderr.wait_closed(drain);
                return Some(st);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout` for the exit and returns the exit code; panics (with both
    /// outputs) when the process is still running or was killed by a signal.
    pub fn exit_code(&mut self, timeout: std::time::Duration) -> i32 {
        match self.wait_exit(timeout).map(|s| s.code()) {
            Some(Some(code)) => code,
            other => panic!(
                "process did not exit with a code within {timeout:?} ({other:?})\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout.text(),
                self.stderr.text()
            ),
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The message of a `console.*` log line as agents and `volley run` print it
/// (`time="…" level=info msg="…" source=console`); `None` for other lines.
pub fn console_message(line: &str) -> Option<String> {
    if !line.ends_with("source=console") {
        return None;
    }
    let start = line.find(" msg=")? + " msg=".len();
    // As k6's logger writes it: bare when the message is plain (`msg=ITER`), else quoted.
    let Some(quoted) = line[start..].strip_prefix('"') else {
        let bare = &line[start..];
        return Some(bare[..bare.find(' ').unwrap_or(bare.len())].to_string());
    };
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// A local Volley cluster for a test: one `volley controller` on loopback ports chosen by the
/// OS and N `volley agent` processes named `gen-1`…`gen-N`. Every process is killed on drop.
/// Each cluster has its own data dir and its own `TMPDIR` for the agents' work folders, so
/// clusters of tests running in parallel share nothing.
pub struct Cluster {
    controller: Option<Proc>,
    agents: Vec<(String, Proc)>,
    /// The REST API port on 127.0.0.1.
    pub rest_port: u16,
    /// `http://127.0.0.1:PORT` of the REST API.
    pub rest_url: String,
    /// `http://127.0.0.1:PORT` agents dial.
    pub grpc_url: String,
    pub data_dir: PathBuf,
    tmp_dir: PathBuf,
    /// Extra `volley controller` flags, kept so a restarted controller gets them too.
    controller_args: Vec<String>,
    /// The cluster's folder (data dir and agents' TMPDIR); removed on drop unless the test
    /// failed, so a failure leaves the stored runs to look at.
    dir: PathBuf,
    /// The controller's bootstrap admin API token: every request of the helpers carries it,
    /// and [`Cluster::volley`] commands get it as `VOLLEY_TOKEN`.
    pub admin_token: String,
}

/// A fresh admin token for a test cluster (unique per process and call; tests need no
/// unpredictability, only distinct secrets).
fn test_admin_token(name: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "volley_test_{}_{}_{n}_{nanos}",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id()
    )
}

/// How long a cluster process may take to come up.
const CLUSTER_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

impl Cluster {
    /// Waits for a `submit --wait` to exit and returns its code; on a timeout, panics with the
    /// submit's output and the agents' logs.
    pub fn submit_exit_code(&self, submit: &mut Proc, timeout: std::time::Duration) -> i32 {
        match submit.wait_exit(timeout).map(|s| s.code()) {
            Some(Some(code)) => code,
            other => panic!(
                "volley submit did not exit within {timeout:?} ({other:?})\n--- stdout\n{}\n--- stderr\n{}\n{}",
                submit.stdout.text(),
                submit.stderr.text(),
                self.agent_logs()
            ),
        }
    }

    /// Asserts the exit code of a `submit --wait`, showing its output when it differs.
    pub fn assert_submit_exit(&self, submit: &mut Proc, timeout: std::time::Duration, want: i32) {
        let code = self.submit_exit_code(submit, timeout);
        assert_eq!(
            code,
            want,
            "volley submit exit code\n--- stdout\n{}\n--- stderr\n{}\n{}",
            submit.stdout.text(),
            submit.stderr.text(),
            self.agent_logs()
        );
    }

    /// Starts a controller and `agents` agents, and waits until the controller lists them all.
    pub fn start(name: &str, agents: usize) -> Cluster {
        Cluster::start_with(name, &[], agents)
    }

    /// Like [`Cluster::start`], with extra `volley controller` flags (e.g. short failure
    /// timeouts or low limits: `["--agent-lost-after", "2s"]`).
    pub fn start_with(name: &str, controller_args: &[&str], agents: usize) -> Cluster {
        Cluster::start_in(name, None, controller_args, agents)
    }

    /// Like [`Cluster::start_with`], with the controller's data in `data_dir` (e.g. on a
    /// filesystem of its own) instead of the cluster's folder.
    pub fn start_in(
        name: &str,
        data_dir: Option<&Path>,
        controller_args: &[&str],
        agents: usize,
    ) -> Cluster {
        let controller_args: Vec<String> = controller_args.iter().map(|a| a.to_string()).collect();
        let dir = temp_dir(&format!("cluster-{name}"));
        let data_dir = data_dir.map_or_else(|| dir.join("data"), Path::to_path_buf);
        let tmp_dir = dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir).expect("cluster tmp dir");
        let admin_token = test_admin_token(name);
        let (controller, rest_url, grpc_url) = start_controller(
            &data_dir,
            "127.0.0.1:0",
            "127.0.0.1:0",
            &controller_args,
            &admin_token,
        );
        let rest_port = port_of(&rest_url);
        let mut c = Cluster {
            controller: Some(controller),
            agents: Vec::new(),
            rest_port,
            rest_url,
            grpc_url,
            data_dir,
            tmp_dir,
            controller_args,
            dir,
            admin_token,
        };
        for i in 1..=agents {
            c.add_agent(&format!("gen-{i}"), &[]);
        }
        c.wait_agents(agents);
        c
    }

    /// Starts one more agent (`extra`: more `volley agent` flags, e.g. `--label zone=eu`).
    /// Does not wait for it to register: see [`Cluster::wait_agents`].
    pub fn add_agent(&mut self, name: &str, extra: &[&str]) {
        let mut cmd = Command::new(volley_bin());
        cmd.args(["agent", "--controller", &self.grpc_url, "--name", name])
            .args(extra)
            .env("TMPDIR", &self.tmp_dir);
        self.agents.push((name.to_string(), Proc::spawn(&mut cmd)));
    }

    /// Starts one more agent whose `TMPDIR` (the parent of its work folder) is `tmp`.
    pub fn add_agent_with_tmp(&mut self, name: &str, tmp: &Path) {
        let mut cmd = Command::new(volley_bin());
        cmd.args(["agent", "--controller", &self.grpc_url, "--name", name])
            .env("TMPDIR", tmp);
        self.agents.push((name.to_string(), Proc::spawn(&mut cmd)));
    }

    /// Waits until `GET /v1/agents` lists at least `n` agents; returns that listing.
    pub fn wait_agents(&self, n: usize) -> serde_json::Value {
        let deadline = std::time::Instant::now() + CLUSTER_START_TIMEOUT;
        loop {
            let last = match self.get("/v1/agents") {
                Ok(v) if v["agents"].as_array().is_some_and(|a| a.len() >= n) => return v,
                Ok(v) => v.to_string(),
                Err(e) => e,
            };
            assert!(
                std::time::Instant::now() < deadline,
                "the controller did not list {n} agents within {CLUSTER_START_TIMEOUT:?}: {last}\n{}",
                self.agent_logs()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Kills agent `name` with SIGKILL (no goodbye to the controller: its stream just breaks)
    /// and reaps it. Returns when the signal was sent, for measuring detection times.
    pub fn kill_agent(&mut self, name: &str) -> std::time::Instant {
        let (_, agent) = self
            .agents
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no agent named {name} in this cluster"));
        let at = std::time::Instant::now();
        agent.kill();
        at
    }

    /// Sends a signal (e.g. "STOP", "CONT") to agent `name`'s process.
    pub fn signal_agent(&self, name: &str, signal: &str) -> bool {
        let (_, agent) = self
            .agents
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no agent named {name} in this cluster"));
        send_signal(agent.id(), signal)
    }

    /// The stderr of agent `name` (its log and its scripts' `console.*` lines), line by line
    /// with arrival times.
    pub fn agent_log(&self, name: &str) -> Option<&LineLog> {
        self.agents
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| &p.stderr)
    }

    /// Kills the controller (SIGKILL: nothing is flushed on the way out) and starts a new one
    /// on the same data dir and the same ports, so the agents reconnect to it.
    pub fn restart_controller(&mut self) {
        self.kill_controller();
        self.start_controller_again();
    }

    /// Kills the controller with SIGKILL; returns when it is gone.
    pub fn kill_controller(&mut self) -> std::time::Instant {
        let at = std::time::Instant::now();
        if let Some(mut old) = self.controller.take() {
            old.kill();
        }
        at
    }

    /// Starts a controller on the same data dir and ports as the one killed before.
    pub fn start_controller_again(&mut self) {
        let grpc = format!("127.0.0.1:{}", port_of(&self.grpc_url));
        let rest = format!("127.0.0.1:{}", self.rest_port);
        let (controller, rest_url, grpc_url) = start_controller(
            &self.data_dir,
            &rest,
            &grpc,
            &self.controller_args,
            &self.admin_token,
        );
        assert_eq!(
            rest_url, self.rest_url,
            "the restarted controller moved its REST port"
        );
        assert_eq!(
            grpc_url, self.grpc_url,
            "the restarted controller moved its gRPC port"
        );
        self.controller = Some(controller);
    }

    /// One request to the REST API (5 s timeout): the status code and the JSON body
    /// (`Value::Null` for an empty body, a string for one that is not JSON).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), String> {
        let addr = format!("127.0.0.1:{}", self.rest_port);
        let answer = rest_client(&addr, std::time::Duration::from_secs(5))
            .map(|c| c.with_token(Some(self.admin_token.clone())))
            .and_then(|c| {
                c.request(method, path, body)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            })
            .map_err(|e| format!("{method} {path}: {e}"))?;
        Ok((answer.status, answer.json()))
    }

    /// `GET path`, which must answer 200.
    pub fn get(&self, path: &str) -> Result<serde_json::Value, String> {
        match self.request("GET", path, None)? {
            (200, v) => Ok(v),
            (code, v) => Err(format!("GET {path} answered {code}: {v}")),
        }
    }

    /// `POST path` with a JSON body, which must answer 2xx.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, String> {
        match self.request("POST", path, Some(body))? {
            (code, v) if (200..300).contains(&code) => Ok(v),
            (code, v) => Err(format!("POST {path} answered {code}: {v}")),
        }
    }

    /// The `k6-run` object of run `id`.
    pub fn run(&self, id: u64) -> Result<serde_json::Value, String> {
        self.get(&format!("/loadtests/v2/runs/{id}"))
            .map(|v| v["k6-run"].clone())
    }

    /// The id of the newest run, if any.
    pub fn latest_run_id(&self) -> Option<u64> {
        self.get("/loadtests/v2/runs?page_size=1000")
            .ok()?
            .get("k6-runs")?
            .as_array()?
            .iter()
            .filter_map(|r| r["id"].as_u64())
            .max()
    }

    /// Polls run `id` every 20 ms until `pred` holds on its `k6-run` object; returns that
    /// object, or an error with the last one seen after `timeout`.
    pub fn wait_run(
        &self,
        id: u64,
        pred: impl Fn(&serde_json::Value) -> bool,
        timeout: std::time::Duration,
    ) -> Result<serde_json::Value, String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let last = match self.run(id) {
                Ok(r) if pred(&r) => return Ok(r),
                Ok(r) => r.to_string(),
                Err(e) => e,
            };
            if std::time::Instant::now() >= deadline {
                return Err(format!("run {id} after {timeout:?}: {last}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Waits for a run newer than run `newer_than` (0: any run) to appear and reach one of
    /// `statuses`; returns its id and the `k6-run` object seen then. Panics (with the agents'
    /// logs) after `timeout`.
    pub fn wait_new_run(
        &self,
        newer_than: u64,
        statuses: &[i64],
        timeout: std::time::Duration,
    ) -> (u64, serde_json::Value) {
        let deadline = std::time::Instant::now() + timeout;
        let id = loop {
            if let Some(id) = self.latest_run_id().filter(|&id| id > newer_than) {
                break id;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no run appeared within {timeout:?}\n{}",
                self.agent_logs()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let run = self
            .wait_run(
                id,
                |r| {
                    r["run_status"]
                        .as_i64()
                        .is_some_and(|s| statuses.contains(&s))
                },
                left,
            )
            .unwrap_or_else(|e| {
                panic!("run never reached {statuses:?}: {e}\n{}", self.agent_logs())
            });
        (id, run)
    }

    /// The merged handleSummary-shaped data of run `id` (`GET /v1/runs/{id}/summary`).
    pub fn summary(&self, id: u64) -> serde_json::Value {
        self.get(&format!("/v1/runs/{id}/summary"))
            .unwrap_or_else(|e| panic!("summary of run {id}: {e}"))
    }

    /// A `volley` command with this cluster's admin token as `VOLLEY_TOKEN` (for `submit`,
    /// `agents`, `run --out cloud`...).
    pub fn volley(&self) -> Command {
        let mut cmd = Command::new(volley_bin());
        cmd.env("VOLLEY_TOKEN", &self.admin_token);
        cmd
    }

    /// Starts `volley submit --wait --controller <this cluster> <args> <script>`.
    pub fn submit(&self, script: &Path, args: &[&str]) -> Proc {
        let mut cmd = self.volley();
        cmd.args(["submit", "--wait", "--controller", &self.rest_url])
            .args(args)
            .arg(script)
            .current_dir(workspace_root());
        Proc::spawn(&mut cmd)
    }

    /// Every agent's name with the messages its scripts logged with `console.*` so far.
    pub fn console_messages(&self) -> Vec<(String, Vec<String>)> {
        self.agents
            .iter()
            .map(|(name, p)| {
                let msgs = p
                    .stderr
                    .lines()
                    .iter()
                    .filter_map(|(_, l)| console_message(l))
                    .collect();
                (name.clone(), msgs)
            })
            .collect()
    }

    /// The last lines of every agent's stderr and of the controller's, for failure messages.
    pub fn agent_logs(&self) -> String {
        let tail = |log: &LineLog| {
            let lines = log.lines();
            let from = lines.len().saturating_sub(15);
            lines[from..]
                .iter()
                .map(|(_, l)| format!("    {l}\n"))
                .collect::<String>()
        };
        let mut out = String::new();
        if let Some(c) = &self.controller {
            out.push_str(&format!("--- controller stderr\n{}", tail(&c.stderr)));
        }
        for (name, p) in &self.agents {
            out.push_str(&format!("--- {name} stderr\n{}", tail(&p.stderr)));
        }
        out
    }

    /// The controller's stderr (its log), line by line with arrival times.
    pub fn controller_log(&self) -> Option<&LineLog> {
        self.controller.as_ref().map(|c| &c.stderr)
    }

    /// The controller's process id (for reading its CPU time from /proc).
    pub fn controller_pid(&self) -> Option<u32> {
        self.controller.as_ref().map(Proc::id)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, agent) in &mut self.agents {
            agent.kill();
        }
        if let Some(c) = &mut self.controller {
            c.kill();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts `volley controller` and waits for its two "ready" lines; returns the process and
/// the REST and gRPC URLs it printed.
fn start_controller(
    data_dir: &Path,
    listen: &str,
    grpc: &str,
    extra: &[String],
    admin_token: &str,
) -> (Proc, String, String) {
    let mut cmd = Command::new(volley_bin());
    cmd.env("VOLLEY_ADMIN_TOKEN", admin_token);
    cmd.args([
        "controller",
        "--listen",
        listen,
        "--grpc",
        grpc,
        "--data-dir",
    ])
    .arg(data_dir)
    .args(extra);
    let p = Proc::spawn(&mut cmd);
    let rest = printed_url(&p, "REST API on");
    let grpc = printed_url(&p, "gRPC for agents on");
    (p, rest, grpc)
}

/// The URL a controller printed after `marker` (its "ready" lines), waiting up to the cluster
/// start timeout; panics with its output when it never comes.
pub fn printed_url(p: &Proc, marker: &str) -> String {
    p.stdout
        .wait_for(|l| l.contains(marker), CLUSTER_START_TIMEOUT)
        .and_then(|_| {
            p.stdout
                .lines()
                .into_iter()
                .find(|(_, l)| l.contains(marker))
                .and_then(|(_, l)| l.rsplit(' ').next().map(str::to_string))
        })
        .unwrap_or_else(|| {
            panic!(
                "the controller did not print its {marker} address:\n{}\n{}",
                p.stdout.text(),
                p.stderr.text()
            )
        })
}

/// `metrics[name].values[stat]` of handleSummary-shaped data, as f64.
pub fn summary_stat(summary: &serde_json::Value, name: &str, stat: &str) -> f64 {
    summary["metrics"][name]["values"][stat]
        .as_f64()
        .unwrap_or_else(|| panic!("summary has no {name}.{stat}: {}", summary["metrics"]))
}

/// The port of `http://host:port`.
fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {url:?}"))
}

/// The agents a run (`k6-run` JSON) was placed on, in placement order.
pub fn assigned_agents(run: &serde_json::Value) -> Vec<String> {
    run["assignments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["agent"].as_str().map(str::to_string))
        .collect()
}

/// The agent placed last (setup() runs on the first one).
pub fn last_assigned_agent(run: &serde_json::Value) -> String {
    assigned_agents(run)
        .pop()
        .unwrap_or_else(|| panic!("the run has no assignments: {run}"))
}

/// Runs a helper command (a script of the repository) to its end; its stdout and stderr
/// together. Panics with both when it fails, adding `hint` (e.g. how to install its tools).
pub fn run_ok(cmd: &mut Command, hint: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}\n{hint}",
        out.status
    );
    text
}

/// One raw HTTP/1.1 request (`head` without the final blank line; `Connection: close` and the
/// body's length are added) to `127.0.0.1:port`: the status and the body. For requests the
/// REST client cannot make on purpose (foreign `Origin`, a `text/plain` body, no headers).
pub fn raw_http(port: u16, head: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let req = format!(
        "{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {out:?}"));
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_log_waits_for_lines_and_the_end() {
        let log = LineLog::capture(std::io::Cursor::new(b"a\nMARK:x\r\nlast".to_vec()));
        assert!(log
            .wait_for(|l| l == "MARK:x", std::time::Duration::from_secs(5))
            .is_some());
        assert!(log.wait_closed(std::time::Duration::from_secs(5)));
        assert!(log.closed_at().is_some());
        assert!(log
            .wait_for(|l| l == "nope", std::time::Duration::from_secs(5))
            .is_none());
        assert_eq!(log.text(), "a\nMARK:x\nlast\n");
    }

    #[test]
    fn console_messages_are_unescaped() {
        let line =
            r#"time="2026-01-01T00:00:00Z" level=info msg="SHARED 1 \"x\" \\ y" source=console"#;
        assert_eq!(
            console_message(line).as_deref(),
            Some(r#"SHARED 1 "x" \ y"#)
        );
        assert_eq!(
            console_message(r#"time="t" level=info msg="registered with the controller""#),
            None
        );
        assert_eq!(
            console_message(r#"time="t" level=info msg=ITER source=console"#).as_deref(),
            Some("ITER")
        );
        assert_eq!(port_of("http://127.0.0.1:6565"), 6565);
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    }
}
