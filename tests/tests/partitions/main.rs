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

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use volley_e2e::netns::{
    self, ip, kill_in_netns, leftovers, must_ip, remove_named, run_tool, tool, Lab, NOWHERE_MAC,
};
use volley_e2e::{
    assigned_agents, console_message, http_request, last_assigned_agent, newest_run_id,
    printed_url, summary_stat, temp_dir, volley_bin, workspace_root, LineLog, Proc, TempDir,
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

/// Permission to build this file's test networks (see volley_e2e::netns::lab), or `None`
/// when the test is skipped.
fn lab(test: &str) -> Option<Lab> {
    netns::lab(test, LOCK_FILE, PREFIX)
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
            netns::plug(&ns, &bridge, &link, &inner, &addr);
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
    /// Removed (unless the test failed) once `Drop` has killed the processes above.
    _dir: TempDir,
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
            _dir: dir,
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
        newest_run_id(&self.get("/loadtests/v2/runs").ok()?)
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
        let mut out = format!("--- controller stderr\n{}", self.controller.stderr.tail(15));
        for (name, p) in &self.agents {
            out.push_str(&format!("--- {name} stderr\n{}", p.stderr.tail(15)));
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
        // `_dir` and then `net` are dropped after this: the data dir and the namespaces go
        // once nothing runs in them.
    }
}

/// `volley …` inside network namespace `ns` (`ip netns exec` runs it in place, same pid).
fn in_netns(ns: &str) -> Command {
    netns::volley_in(ns)
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

mod exact_totals;
mod long_partition;
mod streamed;
