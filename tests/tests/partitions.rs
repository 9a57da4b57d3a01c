//! Network partitions end to end (docs/failures.md#agent-lost, docs/failures.md#dead-man-switch): a real `volley controller` in the root
//! network namespace and every `volley agent` in a Linux network namespace of its own, joined
//! to the controller by a veth pair on a private bridge (`10.251.C.0/24`, C = the case). Each
//! namespace also runs a `volley target` on its own loopback (`127.0.0.1:18999`), so all load
//! stays inside the test's namespaces. A partition is made in one of two ways ([`Cut`]): the
//! agent's veth set down on the controller's side, or a black hole (both ends' neighbour
//! entries point at a MAC nobody has: every packet vanishes, no interface goes down, no sender
//! sees an error — what a partition between two hosts looks like to both).
//!
//! - a 15 s black hole (well beyond both timeouts): the run aborts with AGENT_LOST within
//!   `agent_lost_after`, the cut-off agent stops its load by itself after `orphan_after`
//!   (measured from its own output, on its own clock), and once the network is back it
//!   registers again and is idle;
//! - a 5 s cut (link down, below both timeouts) during a run with known totals, and a link
//!   that flaps (4 × 0.8 s black holes): the run finishes with exactly the planned iterations,
//!   requests and checks (no metric batch lost or merged twice);
//! - a slow, lossy link (`tc netem delay 200ms loss 5%`) for the rest of a run: exact totals
//!   too. Ignored by default (with its reason in the test output): it needs the kernel's netem
//!   qdisc, which CI's kernel lacks; `-- --ignored` runs it where it exists;
//! - a local `volley run --out cloud=URL` whose controller's port is blocked: TIMED_OUT there
//!   after `data_timeout`, while the local run goes on and keeps its own exit code.
//!
//! The tests need root (CAP_NET_ADMIN) and iproute2. Without permission to create a network
//! namespace they are skipped with a message, except under `CI`, where they fail. They run
//! one at a time (a lock file, also across test processes), and every namespace and link they
//! create is named `vlyp…`: a guard deletes them on drop (also when a test panics) and each
//! test first removes any left over by an earlier run that crashed. Detection times are
//! printed (run with `--nocapture` to see them).

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use volley_e2e::{
    assigned_agents, console_message, http_request, last_assigned_agent, printed_url, send_signal,
    summary_stat, temp_dir, volley_bin, workspace_root, LineLog, Proc,
};

/// Every namespace, veth and bridge these tests create starts with this (the startup sweep
/// deletes whatever carries it).
const PREFIX: &str = "vlyp";
/// Serializes the partition tests of every test process on this machine: they share the
/// names above and the kernel's network stack.
const LOCK_FILE: &str = "/tmp/volley-e2e-partitions.lock";
/// The port of the `volley target` inside every agent namespace (namespaces do not share
/// ports, so one fixed port gives every agent the same BASE_URL).
const TARGET_PORT: u16 = 18999;
/// How long a process of the cluster may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The agents' join token of the partition labs (the controller's gRPC is on a bridge).
const JOIN_TOKEN: &str = "partition-lab-join-token";

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn script(name: &str) -> PathBuf {
    workspace_root().join("tests/partition-scripts").join(name)
}

/// An iproute2 tool (`ip`, `tc`): from the usual sbin folders, which a test's PATH may lack.
fn tool(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Runs `tool args`; its stdout, or an error with the command and its stderr.
fn run_tool(name: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(tool(name))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{name} {}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{name} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<String, String> {
    run_tool("ip", args)
}

/// `ip …` that must succeed while setting up a test network.
fn must_ip(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("setting up the test network: {e}");
    }
}

/// The names of the network namespaces (`ip netns list`).
fn netns_names() -> Vec<String> {
    ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The names of the root namespace's links (`ip -o link show`), without their `@peer`.
fn link_names() -> Vec<String> {
    ip(&["-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let name = l.split(": ").nth(1)?;
            Some(name.split('@').next().unwrap_or(name).to_string())
        })
        .collect()
}

/// Kills what still runs in namespace `ns` (SIGKILL), so that deleting it frees it at once.
fn kill_in_netns(ns: &str) {
    let pids = ip(&["netns", "pids", ns]).unwrap_or_default();
    for pid in pids.lines().filter_map(|p| p.trim().parse::<u32>().ok()) {
        send_signal(pid, "KILL");
    }
}

/// Removes every namespace and link named `prefix…`, with whatever runs inside.
fn remove_named(prefix: &str) {
    for ns in netns_names().iter().filter(|n| n.starts_with(prefix)) {
        kill_in_netns(ns);
        let _ = ip(&["netns", "del", ns]);
    }
    for link in link_names().iter().filter(|n| n.starts_with(prefix)) {
        let _ = ip(&["link", "del", link]);
    }
}

/// The names of this test's namespaces and links still present (none after its cleanup).
fn leftovers(prefix: &str) -> Vec<String> {
    netns_names()
        .into_iter()
        .chain(link_names())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Permission to build test networks: holds the machine-wide lock for the test's duration.
struct Lab {
    _lock: File,
}

/// Takes the lock, removes what crashed runs left behind, and checks that network namespaces
/// can be created. `None` (with a message saying why the test is skipped) when they cannot,
/// outside CI; under `CI` that is a failure instead.
fn lab(test: &str) -> Option<Lab> {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_FILE)
        .unwrap_or_else(|e| panic!("cannot open the lock file {LOCK_FILE}: {e}"));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {LOCK_FILE}: {e}"));
    // Holding the lock, nothing named PREFIX… belongs to a live test: it is all left over.
    remove_named(PREFIX);
    let probe = format!("{PREFIX}-probe");
    match ip(&["netns", "add", &probe]) {
        Ok(_) => {
            let _ = ip(&["netns", "del", &probe]);
            Some(Lab { _lock: lock })
        }
        Err(e) => {
            let msg = format!(
                "{test}: cannot create a network namespace ({e}); the partition tests need \
                 root (CAP_NET_ADMIN) and iproute2"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg} (failing instead of skipping because CI is set)");
            }
            eprintln!("SKIPPED {msg}");
            None
        }
    }
}

/// What the names of case `case`'s namespaces and links start with.
fn case_prefix(case: u8) -> String {
    format!("{PREFIX}{case}-")
}

/// One agent's place in the test network.
struct Seat {
    /// The agent's name, `gen-K`.
    name: String,
    /// Its network namespace.
    ns: String,
    /// The root-side end of its veth pair, a port of the bridge.
    link: String,
    /// The namespace's end of the veth pair.
    inner: String,
    /// The agent's address (10.251.C.(10+K)).
    addr: String,
}

/// The test network of case `C`: a bridge `vlypC-br` with the controller's address
/// 10.251.C.1/24 in the root namespace, and per agent K a namespace `vlypC-nsK` holding
/// 10.251.C.(10+K)/24 on a veth (`vlypC-aK` inside) whose root end `vlypC-hK` is a port of
/// the bridge. Deleted on
/// drop (the processes inside are killed first).
struct Net {
    prefix: String,
    bridge: String,
    controller_ip: String,
    seats: Vec<Seat>,
}

impl Net {
    fn create(case: u8, agents: usize) -> Net {
        let prefix = case_prefix(case);
        let subnet = format!("10.251.{case}");
        let bridge = format!("{prefix}br");
        let mut net = Net {
            prefix: prefix.clone(),
            bridge: bridge.clone(),
            controller_ip: format!("{subnet}.1"),
            seats: Vec::new(),
        };
        must_ip(&["link", "add", &bridge, "type", "bridge"]);
        // A fixed address: a bridge otherwise takes its lowest port's, which would change as
        // ports come and go (and could make a port's own frames look local).
        must_ip(&["link", "set", &bridge, "address", BRIDGE_MAC]);
        must_ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &bridge]);
        must_ip(&["link", "set", &bridge, "up"]);
        for k in 1..=agents {
            let ns = format!("{prefix}ns{k}");
            let link = format!("{prefix}h{k}");
            let inner = format!("{prefix}a{k}");
            let addr = format!("{subnet}.{}", 10 + k);
            must_ip(&["netns", "add", &ns]);
            net.seats.push(Seat {
                name: format!("gen-{k}"),
                ns: ns.clone(),
                link: link.clone(),
                inner: inner.clone(),
                addr: addr.clone(),
            });
            must_ip(&["link", "add", &link, "type", "veth", "peer", "name", &inner]);
            must_ip(&["link", "set", &inner, "netns", &ns]);
            must_ip(&["link", "set", &link, "master", &bridge]);
            must_ip(&["link", "set", &link, "up"]);
            must_ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &inner,
            ]);
            must_ip(&["-n", &ns, "link", "set", &inner, "up"]);
            must_ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        net
    }

    fn seat(&self, agent: &str) -> &Seat {
        self.seats
            .iter()
            .find(|s| s.name == agent)
            .unwrap_or_else(|| panic!("no agent named {agent} in this test network"))
    }

    /// Cuts agent `agent` off the controller the way `how` says. Returns when (monotonic and
    /// unix ms, the latter to compare with the agent's own timestamps).
    fn cut(&self, agent: &str, how: Cut) -> (Instant, u64) {
        let seat = self.seat(agent);
        let at = (Instant::now(), unix_ms_now());
        match how {
            Cut::LinkDown => must_ip(&["link", "set", &seat.link, "down"]),
            Cut::BlackHole => {
                // Both ends send to a MAC nobody has: the bridge floods those frames and every
                // port drops them. Interfaces stay up, so no sender sees an error: TCP just
                // retransmits into the void, as across a real partition.
                let (ns, cip) = (&seat.ns, &self.controller_ip);
                must_ip(&[
                    "neigh",
                    "replace",
                    &seat.addr,
                    "lladdr",
                    NOWHERE_MAC,
                    "dev",
                    &self.bridge,
                    "nud",
                    "permanent",
                ]);
                must_ip(&[
                    "-n",
                    ns,
                    "neigh",
                    "replace",
                    cip,
                    "lladdr",
                    NOWHERE_MAC,
                    "dev",
                    &seat.inner,
                    "nud",
                    "permanent",
                ]);
            }
        }
        at
    }

    /// Ends a cut made with `how`.
    fn restore(&self, agent: &str, how: Cut) -> Instant {
        let seat = self.seat(agent);
        match how {
            Cut::LinkDown => must_ip(&["link", "set", &seat.link, "up"]),
            Cut::BlackHole => {
                must_ip(&["neigh", "del", &seat.addr, "dev", &self.bridge]);
                must_ip(&[
                    "-n",
                    &seat.ns,
                    "neigh",
                    "del",
                    &self.controller_ip,
                    "dev",
                    &seat.inner,
                ]);
            }
        }
        Instant::now()
    }
}

/// How a partition is made.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The agent's veth goes down on the controller's side (the agent's end loses carrier).
    LinkDown,
    /// Every packet between the agent and the controller vanishes silently (interfaces stay
    /// up): what a partition somewhere between two hosts looks like to both of them.
    BlackHole,
}

/// The bridge's MAC (locally administered).
const BRIDGE_MAC: &str = "02:00:5e:00:00:01";
/// A locally administered MAC no interface of the test network has.
const NOWHERE_MAC: &str = "02:00:5e:00:de:ad";

impl Drop for Net {
    fn drop(&mut self) {
        for s in &self.seats {
            kill_in_netns(&s.ns);
            let _ = ip(&["link", "del", &s.link]);
            let _ = ip(&["netns", "del", &s.ns]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
        // Anything of this case that escaped the list above (a half-built network).
        remove_named(&self.prefix);
    }
}

/// A controller in the root namespace (REST on 127.0.0.1, gRPC on the bridge) and one agent
/// and one target per namespace of a [`Net`]. Processes are killed before the network goes.
struct PartitionCluster {
    controller: Proc,
    agents: Vec<(String, Proc)>,
    targets: Vec<Proc>,
    rest_port: u16,
    rest_url: String,
    dir: PathBuf,
    /// Dropped after the processes above are killed (see `Drop`).
    net: Net,
}

impl PartitionCluster {
    /// Builds the network of case `case` with `agents` namespaces, starts a target and an agent
    /// (with `agent_args`) in each and the controller (with `controller_args`), and waits until
    /// the controller lists every agent.
    fn start(case: u8, agents: usize, controller_args: &[&str], agent_args: &[&str]) -> Self {
        let net = Net::create(case, agents);
        let dir = temp_dir(&format!("partition-{case}"));
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).expect("cluster tmp dir");
        let mut targets = Vec::new();
        for s in &net.seats {
            let listen = format!("127.0.0.1:{TARGET_PORT}");
            let mut cmd = in_netns(&s.ns);
            cmd.args(["target", "--listen", &listen]);
            let t = Proc::spawn(&mut cmd);
            let want = format!("http://{listen}");
            if t.stdout
                .wait_for(|l| l.ends_with(&want), START_TIMEOUT)
                .is_none()
            {
                panic!(
                    "the target in {} did not start:\n{}{}",
                    s.ns,
                    t.stdout.text(),
                    t.stderr.text()
                );
            }
            targets.push(t);
        }
        let mut cmd = Command::new(volley_bin());
        // gRPC on the bridge (not loopback) needs a join token, which the agents present, and
        // TLS or --insecure: an isolated lab, so --insecure says so.
        cmd.args([
            "controller",
            "--insecure",
            "--listen",
            "127.0.0.1:0",
            "--grpc",
        ])
        .arg(format!("{}:0", net.controller_ip))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(controller_args)
        .env("VOLLEY_TOKEN", JOIN_TOKEN);
        let controller = Proc::spawn(&mut cmd);
        let rest_url = printed_url(&controller, "REST API on");
        let grpc_url = printed_url(&controller, "gRPC for agents on");
        let rest_port = rest_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {rest_url:?}"));
        let mut c = PartitionCluster {
            controller,
            agents: Vec::new(),
            targets,
            rest_port,
            rest_url,
            dir,
            net,
        };
        for s in &c.net.seats {
            let mut cmd = in_netns(&s.ns);
            cmd.args(["agent", "--controller", &grpc_url, "--name", &s.name])
                .args(agent_args)
                .env("TMPDIR", &tmp)
                .env("VOLLEY_TOKEN", JOIN_TOKEN);
            c.agents.push((s.name.clone(), Proc::spawn(&mut cmd)));
        }
        c.wait_agents(agents);
        c
    }

    /// One request to the REST API (5 s timeout): status code and JSON body.
    fn request(&self, method: &str, path: &str) -> Result<(u16, Value), String> {
        let (code, text) = http_request(self.rest_port, method, path, None, Duration::from_secs(5))
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((code, json))
    }

    fn get(&self, path: &str) -> Result<Value, String> {
        match self.request("GET", path)? {
            (200, v) => Ok(v),
            (code, v) => Err(format!("GET {path} answered {code}: {v}")),
        }
    }

    fn wait_agents(&self, n: usize) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let last = match self.get("/v1/agents") {
                Ok(v) if v["agents"].as_array().is_some_and(|a| a.len() >= n) => return,
                Ok(v) => v.to_string(),
                Err(e) => e,
            };
            assert!(
                Instant::now() < deadline,
                "the controller did not list {n} agents within {START_TIMEOUT:?}: {last}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The controller's view of agent `name` (`/v1/agents`), if listed.
    fn agent_view(&self, name: &str) -> Option<Value> {
        self.get("/v1/agents").ok().and_then(|v| {
            v["agents"]
                .as_array()?
                .iter()
                .find(|a| a["name"] == name)
                .cloned()
        })
    }

    fn run(&self, id: u64) -> Result<Value, String> {
        self.get(&format!("/loadtests/v2/runs/{id}"))
            .map(|v| v["k6-run"].clone())
    }

    fn latest_run_id(&self) -> Option<u64> {
        self.get("/loadtests/v2/runs")
            .ok()?
            .get("k6-runs")?
            .as_array()?
            .iter()
            .filter_map(|r| r["id"].as_u64())
            .max()
    }

    /// Polls run `id` until `pred` holds on its `k6-run` object; panics with the logs after
    /// `timeout`.
    fn wait_run(&self, id: u64, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.run(id) {
                Ok(r) if pred(&r) => return r,
                Ok(r) => r.to_string(),
                Err(e) => e,
            };
            assert!(
                Instant::now() < deadline,
                "run {id} after {timeout:?}: {last}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the first run to appear and be RUNNING (2); returns its id and object.
    fn wait_running(&self, timeout: Duration) -> (u64, Value) {
        let deadline = Instant::now() + timeout;
        let id = loop {
            if let Some(id) = self.latest_run_id() {
                break id;
            }
            assert!(
                Instant::now() < deadline,
                "no run appeared within {timeout:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let run = self.wait_run(id, |r| r["run_status"] == 2, left);
        (id, run)
    }

    /// `volley submit --wait` of `script` with `BASE_URL` set to the namespaces' target.
    fn submit(&self, script: &std::path::Path) -> Proc {
        let base_url = format!("BASE_URL=http://127.0.0.1:{TARGET_PORT}");
        let mut cmd = Command::new(volley_bin());
        cmd.args(["submit", "--wait", "--controller", &self.rest_url])
            .args(["-e", &base_url])
            .arg(script)
            .current_dir(workspace_root());
        Proc::spawn(&mut cmd)
    }

    /// Waits for a `submit --wait` to exit and returns its code (panics with logs if not).
    fn exit_code(&self, submit: &mut Proc, timeout: Duration) -> i32 {
        match submit.wait_exit(timeout).map(|s| s.code()) {
            Some(Some(code)) => code,
            other => panic!(
                "volley submit did not exit within {timeout:?} ({other:?})\n--- stdout\n{}\n--- \
                 stderr\n{}\n{}",
                submit.stdout.text(),
                submit.stderr.text(),
                self.logs()
            ),
        }
    }

    fn agent_log(&self, name: &str) -> &LineLog {
        self.agents
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| &p.stderr)
            .unwrap_or_else(|| panic!("no agent named {name}"))
    }

    /// The unix-ms stamps of agent `name`'s `ITER <ms>` messages, in order.
    fn iterations(&self, name: &str) -> Vec<u64> {
        self.agent_log(name)
            .lines()
            .iter()
            .filter_map(|(_, l)| console_message(l))
            .filter_map(|m| m.strip_prefix("ITER ")?.parse().ok())
            .collect()
    }

    /// How many `console.*` messages equal to `msg` all agents logged.
    fn count_messages(&self, msg: &str) -> usize {
        self.agents
            .iter()
            .flat_map(|(_, p)| p.stderr.lines())
            .filter(|(_, l)| console_message(l).as_deref() == Some(msg))
            .count()
    }

    /// Waits until agent `name` has run at least `n` iterations.
    fn wait_iterations(&self, name: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.iterations(name).len() < n {
            assert!(
                Instant::now() < deadline,
                "{name} did not run {n} iterations within {timeout:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the controller lists agent `name` idle, with no active VU and a heartbeat
    /// younger than 1.5 s (it hears from the agent again); returns how long that took.
    fn wait_idle_and_heard(&self, name: &str, timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let view = self.agent_view(name);
            let ok = view.as_ref().is_some_and(|a| {
                a["state"] == "idle"
                    && a["active_vus"].as_u64() == Some(0)
                    && a["heartbeat_age_s"].as_f64().is_some_and(|s| s < 1.5)
            });
            if ok {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < timeout,
                "{name} is not listed idle with 0 VUs and a fresh heartbeat within {timeout:?}: \
                 {view:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The run's merged handleSummary-shaped data.
    fn summary(&self, id: u64) -> Value {
        self.get(&format!("/v1/runs/{id}/summary"))
            .unwrap_or_else(|e| panic!("summary of run {id}: {e}"))
    }

    /// The last lines of the controller's and every agent's stderr, for failure messages.
    fn logs(&self) -> String {
        let tail = |log: &LineLog| {
            let lines = log.lines();
            let from = lines.len().saturating_sub(15);
            lines[from..]
                .iter()
                .map(|(_, l)| format!("    {l}\n"))
                .collect::<String>()
        };
        let mut out = format!("--- controller stderr\n{}", tail(&self.controller.stderr));
        for (name, p) in &self.agents {
            out.push_str(&format!("--- {name} stderr\n{}", tail(&p.stderr)));
        }
        out
    }
}

impl Drop for PartitionCluster {
    fn drop(&mut self) {
        for (_, a) in &mut self.agents {
            a.kill();
        }
        for t in &mut self.targets {
            t.kill();
        }
        self.controller.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        // `net` is dropped after this: the namespaces go once nothing runs in them.
    }
}

/// `volley …` inside network namespace `ns` (`ip netns exec` runs it in place, same pid).
fn in_netns(ns: &str) -> Command {
    let mut cmd = Command::new(tool("ip"));
    cmd.args(["netns", "exec", ns]).arg(volley_bin());
    cmd
}

/// The silence the controller reported in an AGENT_LOST message ("silent for 3.1 s").
fn reported_silence(detail: &str) -> Option<f64> {
    let rest = &detail[detail.find("silent for ")? + "silent for ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Waits until `log` has `n` "registered with the controller" lines; when the n-th came.
fn wait_registrations(log: &LineLog, n: usize, timeout: Duration) -> Option<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        let at = log
            .lines()
            .into_iter()
            .filter(|(_, l)| l.contains("registered with the controller"))
            .nth(n - 1)
            .map(|(t, _)| t);
        if at.is_some() || Instant::now() >= deadline {
            return at;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that the test removed every namespace and link it made.
fn assert_cleaned_up(prefix: &str) {
    let left = leftovers(prefix);
    assert!(left.is_empty(), "left behind: {left:?}");
}

const LOST_AFTER: Duration = Duration::from_secs(3);
const ORPHAN_AFTER: Duration = Duration::from_secs(6);
const LONG_CUT: Duration = Duration::from_secs(15);
/// How soon after a long partition ends the cut-off agent must be heard again: its last dial
/// may have just timed out (5 s connect timeout) and its backoff is at most 5 s.
const RECONNECT_LIMIT: Duration = Duration::from_secs(10);

/// One of 3 agents behind a black hole for 15 s with `--agent-lost-after 3s` and
/// `--orphan-after 6s`: the run aborts (6, AGENT_LOST naming the agent, submit exits 97)
/// within agent_lost_after of the cut; the cut-off agent, which never hears of it, keeps its
/// load going until its dead-man switch stops it about orphan_after after its last word from
/// the controller (checked on its own output and clock); the other agents are idle at once;
/// the cut-off agent gives up its silent connection, registers again soon after the network
/// is back, and is listed idle with 0 VUs.
#[test]
fn long_partition_aborts_the_run_and_the_cut_off_agent_stops_by_itself() {
    let Some(_lab) = lab("long_partition") else {
        return;
    };
    let orphan = format!("{}s", ORPHAN_AFTER.as_secs());
    let lost = format!("{}s", LOST_AFTER.as_secs());
    let cluster = PartitionCluster::start(
        1,
        3,
        &["--agent-lost-after", &lost],
        &["--orphan-after", &orphan],
    );
    let mut submit = cluster.submit(&script("steady.js"));
    let (id, run) = cluster.wait_running(Duration::from_secs(15));
    let agents = assigned_agents(&run);
    assert_eq!(agents.len(), 3, "placed on 3 agents: {run}");
    let victim = last_assigned_agent(&run);
    for a in &agents {
        cluster.wait_iterations(a, 5, Duration::from_secs(10));
    }
    std::thread::sleep(Duration::from_millis(500));

    let (cut_at, cut_ms) = cluster.net.cut(&victim, Cut::BlackHole);
    let run = cluster.wait_run(
        id,
        |r| r["run_status"].as_i64().is_some_and(|s| s >= 3),
        LOST_AFTER + Duration::from_secs(6),
    );
    let detection = cut_at.elapsed();
    assert_eq!(run["run_status"], 6, "ABORTED_BY_SYSTEM: {run}");
    assert_eq!(run["exit_code"], 97, "exit code of {run}");
    let detail = run["error_detail"].as_str().unwrap_or_default().to_string();
    let prefix = format!("AGENT_LOST: agent {victim} (segment ");
    assert!(
        detail.starts_with(&prefix),
        "error_detail should start with {prefix:?}: {run}"
    );
    let silence =
        reported_silence(&detail).unwrap_or_else(|| panic!("no \"silent for N s\" in {detail:?}"));
    assert!(
        silence >= secs(LOST_AFTER),
        "declared lost after {silence} s of silence: {detail}"
    );
    // The agent's last message came at most about a heartbeat (1 s) before the cut.
    assert!(
        detection + Duration::from_millis(1200) >= LOST_AFTER
            && detection <= LOST_AFTER + Duration::from_secs(2),
        "the partition was acted on {:.2} s after the cut (agent_lost_after {:.0} s)",
        secs(detection),
        secs(LOST_AFTER)
    );
    let code = cluster.exit_code(&mut submit, Duration::from_secs(10));
    assert_eq!(
        code,
        97,
        "volley submit exit code\n--- stderr\n{}",
        submit.stderr.text()
    );
    assert!(
        submit.stderr.text().contains("AGENT_LOST"),
        "submit --wait shows why: {}",
        submit.stderr.text()
    );
    for a in agents.iter().filter(|a| **a != victim) {
        cluster.wait_idle_and_heard(a, Duration::from_secs(5));
    }

    // The cut-off agent stops by itself: its dead-man switch says so on its output...
    let log = cluster.agent_log(&victim);
    let switch_deadline =
        (cut_at + ORPHAN_AFTER + Duration::from_secs(4)).saturating_duration_since(Instant::now());
    let switched = log
        .wait_for(
            |l| l.contains("orphan_after") && l.contains("stopping the load"),
            switch_deadline,
        )
        .unwrap_or_else(|| {
            panic!(
                "{victim} did not stop its load by itself within orphan_after + 4 s\n{}",
                cluster.logs()
            )
        });
    // ...and its iterations (stamped by the agent's own clock) end about orphan_after after
    // its last word from the controller, which came at most a second before the cut.
    std::thread::sleep(Duration::from_millis(1500));
    let iters = cluster.iterations(&victim);
    let last_ms = *iters.last().expect("the victim ran iterations");
    let stopped_after = Duration::from_millis(last_ms.saturating_sub(cut_ms));
    assert!(
        stopped_after + Duration::from_millis(1500) >= ORPHAN_AFTER,
        "{victim} stopped {:.2} s after the cut, before orphan_after {:.0} s: the switch should \
         keep short outages harmless",
        secs(stopped_after),
        secs(ORPHAN_AFTER)
    );
    assert!(
        stopped_after <= ORPHAN_AFTER + Duration::from_secs(2),
        "{victim} ran iterations until {:.2} s after the cut (orphan_after {:.0} s + 2 s \
         allowed)",
        secs(stopped_after),
        secs(ORPHAN_AFTER)
    );
    let after_abort = iters
        .iter()
        .filter(|t| **t > cut_ms + detection.as_millis() as u64)
        .count();
    assert!(
        after_abort > 0,
        "{victim} kept its load until its own switch, also after the controller's abort"
    );

    // Until the link is back, no further iteration.
    let restore_in = (cut_at + LONG_CUT).saturating_duration_since(Instant::now());
    std::thread::sleep(restore_in);
    let still = cluster.iterations(&victim).len();
    assert_eq!(
        still,
        iters.len(),
        "{victim} ran iterations after its switch"
    );
    let restored_at = cluster.net.restore(&victim, Cut::BlackHole);
    // The agent dropped its silent link at orphan_after and keeps dialing: it registers again
    // within its reconnect cadence (connect timeout 5 s, backoff at most 5 s) after the
    // network is back, whatever TCP's retransmission backoff on the old connection has grown
    // to. (Data the old connection still held may reach the controller first: that is not
    // the agent being back.)
    let registered = wait_registrations(log, 2, RECONNECT_LIMIT + Duration::from_secs(2))
        .unwrap_or_else(|| {
            panic!(
                "{victim} did not register with the controller again after the partition:\n{}",
                log.lines()
                    .iter()
                    .filter(|(_, l)| console_message(l).is_none())
                    .map(|(_, l)| format!("    {l}\n"))
                    .collect::<String>()
            )
        });
    let back_after = registered.saturating_duration_since(restored_at);
    assert!(
        back_after <= RECONNECT_LIMIT,
        "{victim} registered again {:.2} s after the link came back ({:.0} s allowed)",
        secs(back_after),
        secs(RECONNECT_LIMIT)
    );
    let idle_after = cluster.wait_idle_and_heard(&victim, Duration::from_secs(5));
    assert_eq!(
        cluster.iterations(&victim).len(),
        iters.len(),
        "{victim} ran iterations after the link came back"
    );
    assert_eq!(cluster.count_messages("SETUP-RAN"), 1, "setup() once");
    let teardowns = cluster.count_messages("TEARDOWN-RAN");
    assert!(teardowns <= 1, "teardown() ran {teardowns} times");
    let s = cluster.summary(id);
    assert!(
        summary_stat(&s, "iterations", "count") > 0.0,
        "the summary keeps what arrived: {}",
        s["metrics"]
    );
    eprintln!(
        "long partition: cut → status 6 in {:.2} s (agent_lost_after {:.0} s; controller saw \
         {silence} s of silence); {victim}'s dead-man switch fired {:.2} s after the cut and its \
         last iteration ran {:.2} s after it (orphan_after {:.0} s); {after_abort} iterations \
         after the abort; registered again {:.2} s after the link came back, listed idle with a fresh \
         heartbeat {:.2} s later; teardown ran {teardowns}×",
        secs(detection),
        secs(LOST_AFTER),
        secs(switched - cut_at),
        secs(stopped_after),
        secs(ORPHAN_AFTER),
        secs(back_after),
        secs(idle_after),
    );
    drop(cluster);
    assert_cleaned_up(&case_prefix(1));
}

/// `--agent-lost-after` and `--orphan-after` of the short-disturbance tests: well above what
/// TCP needs to resume after the disturbances below.
const SHORT_LOST_AFTER: &str = "8s";
const SHORT_ORPHAN_AFTER: &str = "10s";
/// pervu.js's plan: 6 VUs × 100 iterations, 2 VUs on each of 3 agents.
const PLANNED: f64 = 600.0;
const PER_AGENT: usize = 200;

/// Runs pervu.js on a fresh 3-agent network of case `case`, lets `disturb` act on one agent's
/// link once that agent's load is going (about 2 s into the 11 s run), and checks that the
/// run finishes (3, not degraded, submit exits 0) with exactly the planned iterations,
/// requests and passing checks, and every agent with exactly its share. `disturb` returns a
/// description of what it did and measured, for the printed report.
fn exact_totals_through(
    _lab: Lab,
    case: u8,
    test: &str,
    disturb: impl FnOnce(&PartitionCluster, &str) -> String,
) {
    let cluster = PartitionCluster::start(
        case,
        3,
        &["--agent-lost-after", SHORT_LOST_AFTER],
        &["--orphan-after", SHORT_ORPHAN_AFTER],
    );
    let mut submit = cluster.submit(&script("pervu.js"));
    let (id, run) = cluster.wait_running(Duration::from_secs(15));
    let agents = assigned_agents(&run);
    assert_eq!(agents.len(), 3, "placed on 3 agents: {run}");
    let victim = last_assigned_agent(&run);
    cluster.wait_iterations(&victim, 20, Duration::from_secs(10));
    let what = disturb(&cluster, &victim);

    let code = cluster.exit_code(&mut submit, Duration::from_secs(40));
    assert_eq!(
        code,
        0,
        "volley submit exit code\n--- stdout\n{}\n--- stderr\n{}\n{}",
        submit.stdout.text(),
        submit.stderr.text(),
        cluster.logs()
    );
    let run = cluster.run(id).expect("run");
    assert_eq!(run["run_status"], 3, "FINISHED: {run}");
    assert_ne!(run["degraded"], true, "not degraded: {run}");
    assert!(run["error_detail"].is_null(), "no error: {run}");
    for a in &agents {
        assert_eq!(
            cluster.iterations(a).len(),
            PER_AGENT,
            "{a} runs its 2 VUs × 100 iterations"
        );
    }
    let s = cluster.summary(id);
    for (metric, value) in [
        ("iterations", "count"),
        ("http_reqs", "count"),
        ("checks", "passes"),
    ] {
        assert_eq!(
            summary_stat(&s, metric, value),
            PLANNED,
            "merged {metric}.{value}: every batch of every agent counted exactly once ({what})"
        );
    }
    assert_eq!(summary_stat(&s, "checks", "fails"), 0.0, "no failed check");
    assert_eq!(cluster.count_messages("SETUP-RAN"), 1, "setup() once");
    assert_eq!(cluster.count_messages("TEARDOWN-RAN"), 1, "teardown() once");
    eprintln!(
        "{test}: run {id} finished with exactly {PLANNED} iterations, requests and checks; \
         {victim}: {what}"
    );
    drop(cluster);
    assert_cleaned_up(&case_prefix(case));
}

/// Polls the controller's view of `agent` until `until`: the largest heartbeat age seen.
fn max_heartbeat_age(cluster: &PartitionCluster, agent: &str, until: Instant) -> f64 {
    let mut max: f64 = 0.0;
    while Instant::now() < until {
        if let Some(age) = cluster
            .agent_view(agent)
            .and_then(|a| a["heartbeat_age_s"].as_f64())
        {
            max = max.max(age);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    max
}

/// Waits until the controller has heard from `agent` within the last second again; how long
/// that took.
fn wait_heard(cluster: &PartitionCluster, agent: &str, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let age = cluster
            .agent_view(agent)
            .and_then(|a| a["heartbeat_age_s"].as_f64());
        if age.is_some_and(|a| a < 1.0) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "{agent} not heard from within {timeout:?} after the link came back ({age:?})\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One of 3 agents cut off for 5 s (link down) mid-run, below agent_lost_after (8 s) and
/// orphan_after (10 s): the agent keeps its load going, the run goes on and finishes with
/// exactly the planned totals.
#[test]
fn short_partition_keeps_the_run_and_its_exact_totals() {
    let Some(lab) = lab("short_partition") else {
        return;
    };
    exact_totals_through(lab, 2, "short_partition", |cluster, victim| {
        let (cut_at, _) = cluster.net.cut(victim, Cut::LinkDown);
        let before = cluster.iterations(victim).len();
        let max_age = max_heartbeat_age(cluster, victim, cut_at + Duration::from_secs(5));
        let restored_at = cluster.net.restore(victim, Cut::LinkDown);
        let during = cluster.iterations(victim).len() - before;
        let heard = wait_heard(cluster, victim, Duration::from_secs(4));
        assert!(
            max_age >= 4.0,
            "the controller kept hearing from {victim} during the cut (heartbeat age at most \
             {max_age:.2} s): the partition did not happen"
        );
        assert!(during > 0, "{victim} kept its load going while cut off");
        format!(
            "cut off 5 s (link down): {during} iterations while cut off, heartbeat age up to \
             {max_age:.2} s during the cut, heard again {:.2} s after the link came back \
             ({:.2} s after the cut; agent_lost_after {SHORT_LOST_AFTER}, orphan_after \
             {SHORT_ORPHAN_AFTER})",
            secs(heard),
            secs(restored_at - cut_at + heard)
        )
    });
}

/// A flapping link: one of 3 agents loses every packet to and from the controller for 0.8 s
/// out of every 2 s, four times, mid-run (TCP retransmits across each gap): exact totals.
#[test]
fn flapping_link_keeps_exact_totals() {
    let Some(lab) = lab("flapping_link") else {
        return;
    };
    exact_totals_through(lab, 3, "flapping_link", |cluster, victim| {
        let mut max_age: f64 = 0.0;
        for _ in 0..4 {
            let (cut_at, _) = cluster.net.cut(victim, Cut::BlackHole);
            max_age = max_age.max(max_heartbeat_age(
                cluster,
                victim,
                cut_at + Duration::from_millis(800),
            ));
            let restored_at = cluster.net.restore(victim, Cut::BlackHole);
            max_age = max_age.max(max_heartbeat_age(
                cluster,
                victim,
                restored_at + Duration::from_millis(1200),
            ));
        }
        assert!(
            max_age >= 1.25,
            "the controller kept hearing from {victim} through the gaps (heartbeat age at most \
             {max_age:.2} s): the link did not flap"
        );
        format!(
            "4 × 0.8 s black hole every 2 s: heartbeat age up to {max_age:.2} s \
             (agent_lost_after {SHORT_LOST_AFTER})"
        )
    });
}

/// `tc netem delay 200ms loss 5%` on both ends of one agent's link from 2 s into the run to its
/// end: exact totals. Ignored by default, with the reason in the test output: the kernels this
/// suite runs on (CI's too) have no netem qdisc (sch_netem), and a test that passes without
/// running would be a lie. Where the kernel has it: `cargo test --test partitions -- --ignored`;
/// it fails (not skips) when netem is missing then.
#[test]
#[ignore = "needs the kernel's netem qdisc (sch_netem), absent on CI's kernel; run with --ignored where it exists"]
fn slow_lossy_link_keeps_exact_totals() {
    let Some(lab) = lab("slow_lossy_link") else {
        return;
    };
    if let Err(e) = netem_supported() {
        panic!("slow_lossy_link needs a netem qdisc, and this kernel cannot add one: {e}");
    }
    exact_totals_through(lab, 4, "slow_lossy_link", |cluster, victim| {
        let seat = cluster.net.seat(victim);
        let netem = ["root", "netem", "delay", "200ms", "loss", "5%"];
        let mut host = vec!["qdisc", "add", "dev", seat.link.as_str()];
        host.extend(netem);
        run_tool("tc", &host).unwrap_or_else(|e| panic!("{e}"));
        let tc = tool("tc");
        let tc = tc.to_string_lossy();
        let mut inner = vec!["netns", "exec", seat.ns.as_str(), &*tc];
        inner.extend(["qdisc", "add", "dev", seat.inner.as_str()]);
        inner.extend(netem);
        ip(&inner).unwrap_or_else(|e| panic!("{e}"));
        let max_age = max_heartbeat_age(cluster, victim, Instant::now() + Duration::from_secs(4));
        format!(
            "netem delay 200ms loss 5% both ways until the end: heartbeat age up to {max_age:.2} s"
        )
    });
}

/// Whether a netem qdisc can be added (on a throwaway veth pair).
fn netem_supported() -> Result<(), String> {
    let probe = format!("{PREFIX}-netem");
    ip(&[
        "link",
        "add",
        &probe,
        "type",
        "veth",
        "peer",
        "name",
        &format!("{probe}p"),
    ])?;
    let added = run_tool(
        "tc",
        &[
            "qdisc", "add", "dev", &probe, "root", "netem", "delay", "1ms",
        ],
    );
    let _ = ip(&["link", "del", &probe]);
    added.map(|_| ())
}

/// `volley run --out cloud=URL` in a namespace of its own, streaming to a controller on the
/// bridge; the controller's port is blocked mid-run (the run's veth goes down): the run there
/// becomes TIMED_OUT after `data_timeout`, while the local run goes on; once the port opens
/// again it hears so, and it exits with its own code (0) when its script is done.
#[test]
fn streamed_run_with_the_controller_blocked_times_out() {
    let Some(_lab) = lab("streamed_run") else {
        return;
    };
    const DATA_TIMEOUT: Duration = Duration::from_secs(3);
    let net = Net::create(5, 1);
    let seat = &net.seats[0];
    let dir = temp_dir("partition-5");
    let listen = format!("127.0.0.1:{TARGET_PORT}");
    let mut cmd = in_netns(&seat.ns);
    cmd.args(["target", "--listen", &listen]);
    let mut target = Proc::spawn(&mut cmd);
    assert!(
        target
            .stdout
            .wait_for(|l| l.ends_with(&format!("http://{listen}")), START_TIMEOUT)
            .is_some(),
        "the target did not start: {}",
        target.stderr.text()
    );
    let mut cmd = Command::new(volley_bin());
    // The REST API on the bridge without tokens: an isolated lab, so --insecure says so.
    cmd.args(["controller", "--insecure", "--listen"])
        .arg(format!("{}:0", net.controller_ip))
        .args(["--grpc", "127.0.0.1:0", "--data-timeout"])
        .arg(format!("{}s", DATA_TIMEOUT.as_secs()))
        .arg("--data-dir")
        .arg(dir.join("data"));
    let mut controller = Proc::spawn(&mut cmd);
    let rest_url = printed_url(&controller, "REST API on");
    let rest_addr = rest_url.trim_start_matches("http://").to_string();
    let get_run = |id: u64| -> Option<Value> {
        let (code, text) = volley_e2e::http_request_to(
            &rest_addr,
            "GET",
            &format!("/loadtests/v2/runs/{id}"),
            None,
            Duration::from_secs(3),
        )
        .ok()?;
        (code == 200)
            .then(|| serde_json::from_str::<Value>(&text).ok())
            .flatten()
            .map(|v| v["k6-run"].clone())
    };

    let mut cmd = in_netns(&seat.ns);
    cmd.args(["run", "--out"])
        .arg(format!("cloud={rest_url}"))
        .args([
            "-e",
            &format!("BASE_URL=http://{listen}"),
            "-e",
            "DURATION=12s",
        ])
        .arg(script("streamed.js"))
        .current_dir(workspace_root());
    let mut local = Proc::spawn(&mut cmd);
    let deadline = Instant::now() + START_TIMEOUT;
    let running = loop {
        if let Some(r) = get_run(1).filter(|r| r["run_status"] == 2) {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the streamed run was not RUNNING on the controller within {START_TIMEOUT:?}: {:?}\n{}",
            get_run(1),
            local.stderr.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        running["run_process"], "Volley run to controller",
        "{running}"
    );
    std::thread::sleep(Duration::from_secs(2));

    let (cut_at, _) = net.cut(&seat.name, Cut::LinkDown);
    let iters_at_cut = count_iter(&local);
    let deadline = cut_at + DATA_TIMEOUT + Duration::from_secs(5);
    let run = loop {
        if let Some(r) = get_run(1).filter(|r| r["run_status"].as_i64().is_some_and(|s| s >= 3)) {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the blocked streamed run did not end on the controller: {:?}",
            get_run(1)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let detection = cut_at.elapsed();
    println!(
        "streamed run TIMED_OUT {:.2} s after its controller was blocked (data_timeout {} s)",
        secs(detection),
        DATA_TIMEOUT.as_secs()
    );
    assert_eq!(run["run_status"], 4, "TIMED_OUT: {run}");
    assert_eq!(run["exit_code"], 97, "{run}");
    assert!(
        detection >= DATA_TIMEOUT - Duration::from_millis(1100),
        "timed out after {detection:?}, well before data_timeout"
    );
    // The port opens again: the local run hears that its run timed out there, goes on, and
    // ends by itself with its own code.
    net.restore(&seat.name, Cut::LinkDown);
    let code = local.exit_code(Duration::from_secs(30));
    let iters_after = count_iter(&local);
    assert!(
        iters_after > iters_at_cut + 20,
        "the local run kept going while its controller was blocked ({iters_at_cut} → {iters_after})"
    );
    assert_eq!(
        code,
        0,
        "the local run's own exit code\n{}",
        local.stderr.text()
    );
    let log = local.stderr.text();
    assert!(
        log.contains("--out cloud") && log.contains("TIMED_OUT"),
        "the local run says its controller timed the run out:\n{log}"
    );
    local.kill();
    target.kill();
    controller.kill();
}

/// How many iterations a `streamed.js` run logged so far.
fn count_iter(p: &Proc) -> usize {
    p.stderr
        .lines()
        .iter()
        .filter(|(_, l)| console_message(l).as_deref() == Some("ITER"))
        .count()
}
