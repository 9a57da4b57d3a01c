//! A Raft group of `volley controller` processes for the high-availability tests
//! (docs/ha.md): each node on fixed ports, so that it can be killed and started again on its
//! data dir, either on loopback or each in a network namespace of its own on a private bridge
//! ([`crate::netns::Bridged`]), where the network between controllers can be cut. Agents and
//! clients are given every controller's URL, as users give them. A group dropped while its
//! test panics prints the tail of every node's log and keeps the nodes' data dirs, naming
//! where, so that a failure in CI can be read from its output. What the tests do with runs on
//! a group is in [`crate::ha_runs`].

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::netns::volley_in;
use crate::{free_port, group_port, http_request_to, send_signal, volley_bin, Proc};

/// How long the survivors may take to elect a new leader in a test that does not measure it:
/// an election takes one election timeout (1–2 s) and a vote round (docs/ha.md#timeouts); the
/// bound leaves room for a machine busy with other builds.
pub const FAILOVER_BOUND: Duration = Duration::from_secs(15);
/// How long a short run, or a node catching up with the leader, may take.
pub const RUN_BOUND: Duration = Duration::from_secs(60);
/// How many of each node's last log lines a failing test prints.
const LOG_TAIL: usize = 60;
/// How long a node may take to start and print its addresses (on a loaded machine).
pub const START_BOUND: Duration = Duration::from_secs(30);
/// How many times [`Group::loopback`] picks its ports again when one was taken.
pub const START_TRIES: usize = 5;

/// The HA tests of one test process run one at a time: each runs three controllers and
/// several agents, and measures failover times that a second group on the same cores would
/// distort.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// One controller of the group.
pub struct Node {
    pub id: u64,
    /// The running process (`None` while it is down).
    pub proc: Option<Proc>,
    /// Its previous process, once killed, stopped or exited (its output stays readable).
    pub last: Option<Proc>,
    /// The address its three ports listen on.
    pub host: String,
    pub rest_port: u16,
    pub grpc_port: u16,
    pub raft_port: u16,
    /// Its network namespace, when it runs in one.
    pub ns: Option<String>,
    /// How many times it was started.
    pub starts: u32,
}

impl Node {
    /// `HOST:PORT` of its REST API.
    pub fn rest_addr(&self) -> String {
        format!("{}:{}", self.host, self.rest_port)
    }

    pub fn rest_url(&self) -> String {
        format!("http://{}", self.rest_addr())
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}:{}", self.host, self.grpc_port)
    }

    /// Its previous and current processes' stdout and stderr.
    pub fn log(&self) -> String {
        [&self.last, &self.proc]
            .into_iter()
            .flatten()
            .map(|p| format!("{}{}", p.stdout.text(), p.stderr.text()))
            .collect()
    }

    /// The last `lines` lines of [`Node::log`].
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Three (or more) controllers in one Raft group, their data dirs under `dir`.
pub struct Group {
    pub nodes: Vec<Node>,
    dir: PathBuf,
    /// Extra flags every node is started with.
    extra: Vec<String>,
}

impl Group {
    /// `n` controllers on 127.0.0.1, each on three ports of its own ([`group_port`]); started,
    /// not yet led. When a port was taken between its pick and a node's bind (a node refused
    /// to start, saying so), the whole group starts again on fresh ports and fresh data dirs,
    /// at most [`START_TRIES`] times.
    pub fn loopback(dir: &Path, n: u64) -> Group {
        let mut refused = String::new();
        for _ in 0..START_TRIES {
            let nodes = (1..=n)
                .map(|id| Node {
                    id,
                    proc: None,
                    last: None,
                    host: "127.0.0.1".into(),
                    rest_port: group_port(),
                    grpc_port: group_port(),
                    raft_port: group_port(),
                    ns: None,
                    starts: 0,
                })
                .collect();
            let mut g = Group {
                nodes,
                dir: dir.to_path_buf(),
                extra: Vec::new(),
            };
            match g.ids().into_iter().try_for_each(|id| g.try_start(id)) {
                Ok(()) => return g,
                Err(log) if log.contains("in use") => refused = log,
                Err(log) => panic!("{log}"),
            }
            let ids = g.ids();
            drop(g);
            for id in ids {
                let _ = std::fs::remove_dir_all(dir.join(format!("node-{id}")));
            }
        }
        panic!(
            "the group found no free ports in {START_TRIES} tries; the last refusal:\n{refused}"
        );
    }

    /// One controller per `(namespace, address)`, listening on that address (ports 6565 REST,
    /// 6566 gRPC, 6567 Raft: namespaces do not share ports). Not on loopback, so with
    /// `--insecure`: the test's private bridge is the network.
    pub fn in_namespaces(dir: &Path, hosts: &[(String, String)]) -> Group {
        let nodes = hosts
            .iter()
            .enumerate()
            .map(|(i, (ns, addr))| Node {
                id: i as u64 + 1,
                proc: None,
                last: None,
                host: addr.clone(),
                rest_port: 6565,
                grpc_port: 6566,
                raft_port: 6567,
                ns: Some(ns.clone()),
                starts: 0,
            })
            .collect();
        Group::started(dir, nodes, vec!["--insecure".into()])
    }

    fn started(dir: &Path, nodes: Vec<Node>, extra: Vec<String>) -> Group {
        let mut g = Group {
            nodes,
            dir: dir.to_path_buf(),
            extra,
        };
        for id in g.ids() {
            g.start(id);
        }
        g
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    pub fn node(&self, id: u64) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id} in the group"))
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id} in the group"))
    }

    /// The nodes whose process runs.
    pub fn live(&self) -> Vec<&Node> {
        self.nodes.iter().filter(|n| n.proc.is_some()).collect()
    }

    /// The data dir of node `id`.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.join(format!("node-{id}"))
    }

    /// Starts node `id` on its data dir and ports (again, after a kill or a stop); returns
    /// once its REST API and gRPC are up. Panics with its output when it does not start.
    pub fn start(&mut self, id: u64) {
        if let Err(log) = self.try_start(id) {
            panic!("{log}");
        }
    }

    /// [`Group::start`], or what went wrong with the node's output when it exited before it
    /// printed its REST and gRPC addresses, or printed nothing within [`START_BOUND`] (the
    /// process, killed, stays readable in [`Node::last`]).
    fn try_start(&mut self, id: u64) -> Result<(), String> {
        let peers: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.id != id)
            .map(|n| format!("{}={}:{}", n.id, n.host, n.raft_port))
            .collect();
        let data = self.data_dir(id);
        let extra = self.extra.clone();
        let node = self.node_mut(id);
        let mut cmd = match &node.ns {
            Some(ns) => volley_in(ns),
            None => Command::new(volley_bin()),
        };
        cmd.arg("controller")
            .args(["--listen", &format!("{}:{}", node.host, node.rest_port)])
            .args(["--grpc", &format!("{}:{}", node.host, node.grpc_port)])
            .args(["--raft", &format!("{}:{}", node.host, node.raft_port)])
            .args(["--node-id", &id.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .args(&extra)
            .env("RUST_LOG", "info")
            .env_remove("VOLLEY_ADMIN_TOKEN")
            .env_remove("VOLLEY_TOKEN");
        for p in &peers {
            cmd.args(["--peer", p]);
        }
        let mut proc = Proc::spawn(&mut cmd);
        node.starts += 1;
        let up = |marker: &str| {
            proc.stdout
                .wait_for(|l| l.contains(marker), START_BOUND)
                .is_some()
        };
        if up("REST API on") && up("gRPC for agents on") {
            node.proc = Some(proc);
            return Ok(());
        }
        proc.kill();
        let log = format!(
            "node {id} did not start (start {}): it exited, or printed no REST and gRPC \
             addresses within {START_BOUND:?}\n{}{}",
            node.starts,
            proc.stdout.text(),
            proc.stderr.text()
        );
        node.last = Some(proc);
        Err(log)
    }

    /// SIGKILL to node `id`; returns when it was sent. Its process is kept in
    /// [`Node::last`], so that its output can be read.
    pub fn kill(&mut self, id: u64) -> Instant {
        let at = Instant::now();
        let node = self.node_mut(id);
        if let Some(mut p) = node.proc.take() {
            p.kill();
            node.last = Some(p);
        }
        at
    }

    /// SIGTERM to node `id`, then waits for its exit (`within`); its exit code.
    pub fn stop(&mut self, id: u64, within: Duration) -> i32 {
        let p = self.node(id).proc.as_ref();
        send_signal(p.map_or(0, Proc::id), "TERM");
        self.exited(id, within, "after its SIGTERM")
    }

    /// Waits (`within`) for node `id`'s process to exit by itself; its exit code. The process
    /// moves to [`Node::last`].
    pub fn wait_exit(&mut self, id: u64, within: Duration) -> i32 {
        self.exited(id, within, "by itself")
    }

    /// Waits (`within`) for node `id`'s process to exit (`how`, for the failure message);
    /// its exit code. The process moves to [`Node::last`], also when it does not exit in
    /// time, so that the group's drop kills it and prints its log.
    fn exited(&mut self, id: u64, within: Duration, how: &str) -> i32 {
        let node = self.node_mut(id);
        let mut p = node
            .proc
            .take()
            .unwrap_or_else(|| panic!("node {id} is not running"));
        let status = p.wait_exit(within);
        node.last = Some(p);
        match status.map(|s| (s, s.code())) {
            Some((_, Some(code))) => code,
            Some((s, None)) => panic!("node {id} was killed ({s}) instead of exiting {how}"),
            None => panic!("node {id} did not exit {how} within {within:?}"),
        }
    }

    /// Waits until exactly one of the live nodes takes writes and every other live node that
    /// answers redirects to it; returns its id. Panics with every log after `within`.
    pub fn leader(&self, within: Duration) -> u64 {
        let started = Instant::now();
        loop {
            if let Some(id) = self.leader_now() {
                return id;
            }
            assert!(
                started.elapsed() < within,
                "no single leader within {within:?}: {:?}\n{}",
                self.live()
                    .iter()
                    .map(|n| (n.id, write_probe(n)))
                    .collect::<Vec<_>>(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The one live node that takes writes while every other live one redirects to it, if
    /// that is the case right now.
    pub fn leader_now(&self) -> Option<u64> {
        let answers: Vec<(u64, Option<u16>)> =
            self.live().iter().map(|n| (n.id, write_probe(n))).collect();
        let leaders: Vec<u64> = answers
            .iter()
            .filter(|(_, s)| *s == Some(404))
            .map(|(id, _)| *id)
            .collect();
        let others_redirect = answers
            .iter()
            .all(|(_, s)| matches!(s, Some(404) | Some(307)));
        (leaders.len() == 1 && others_redirect).then(|| leaders[0])
    }

    /// Waits until node `id` applied every entry the leader had committed when asked (and a
    /// leader exists), so that it can take over if the leader goes next.
    pub fn wait_caught_up(&self, id: u64, within: Duration) {
        let started = Instant::now();
        let own = |n: &Node, field: &str| -> Option<u64> {
            let view = get_json(n, "/v1/controllers")?;
            view["controllers"]
                .as_array()?
                .iter()
                .find(|c| c["node"] == view["node"])?[field]
                .as_u64()
        };
        loop {
            let leader = self.leader_now();
            let commit = leader.and_then(|l| own(self.node(l), "commit"));
            let applied = own(self.node(id), "applied");
            if let (Some(c), Some(a)) = (commit, applied) {
                if a >= c {
                    return;
                }
            }
            assert!(
                started.elapsed() < within,
                "node {id} did not catch up within {within:?} (leader {leader:?} committed \
                 {commit:?}, node {id} applied {applied:?})\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every node answers `GET /v1/controllers/state` with the same digest (the
    /// same commands applied, the same state byte for byte); returns it. Panics with every
    /// node's last answer after `within`.
    pub fn wait_same_state(&self, within: Duration) -> Value {
        let started = Instant::now();
        loop {
            let digests: Vec<Option<Value>> = self
                .nodes
                .iter()
                .map(|n| get_json(n, "/v1/controllers/state"))
                .collect();
            let key = |d: &Option<Value>| {
                d.as_ref()
                    .map(|d| (d["applied"].clone(), d["sha256"].clone()))
            };
            if digests[0].is_some() && digests.iter().all(|d| key(d) == key(&digests[0])) {
                return digests[0].clone().unwrap_or_default();
            }
            assert!(
                started.elapsed() < within,
                "the nodes' states differ after {within:?}: {digests:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every live node's output, for a failure message.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- node {}\n{}", n.id, n.log()))
            .collect()
    }

    /// Stops every node and agent the test holds no more, and removes the group's dir (the
    /// test's temporary dir): the end of a test that passed.
    pub fn clean_up(self) {
        let dir = self.dir.clone();
        drop(self);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Every controller's REST URL, `first` first (as `--controller` takes them).
    pub fn rest_urls(&self, first: u64) -> String {
        let mut ids = self.ids();
        ids.sort_by_key(|&id| id != first);
        ids.iter()
            .map(|&id| self.node(id).rest_url())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every controller's gRPC URL (as an agent's `--controller` takes them).
    pub fn grpc_urls(&self) -> String {
        self.nodes
            .iter()
            .map(Node::grpc_url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// An agent named `name` given every controller (its temp dir under the group's dir).
    pub fn agent(&self, name: &str) -> Proc {
        let tmp = self.dir.join(format!("tmp-{name}"));
        std::fs::create_dir_all(&tmp).expect("agent tmp");
        let mut cmd = Command::new(volley_bin());
        cmd.args(["agent", "--controller", &self.grpc_urls(), "--name", name])
            .env("TMPDIR", tmp)
            .env_remove("VOLLEY_TOKEN");
        Proc::spawn(&mut cmd)
    }

    /// `volley submit` (with `--wait` when `wait`) of `script` through every controller,
    /// `first` first.
    pub fn submit(&self, first: u64, script: &Path, wait: bool, args: &[&str]) -> Proc {
        let mut cmd = Command::new(volley_bin());
        cmd.args(["submit", "--controller", &self.rest_urls(first)]);
        if wait {
            cmd.arg("--wait");
        }
        cmd.env_remove("VOLLEY_TOKEN");
        Proc::spawn(cmd.args(args).arg(script))
    }
}

impl Drop for Group {
    /// While a test panics: the tail of every node's log, and where their data dirs are kept
    /// (the test removes them only when it passes). The processes are killed on their own
    /// drop, after this.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for n in &self.nodes {
            let state = if n.proc.is_some() { "running" } else { "down" };
            eprintln!(
                "--- node {} ({state}, started {} times), the last {LOG_TAIL} lines of its log\n{}",
                n.id,
                n.starts,
                n.log_tail(LOG_TAIL)
            );
        }
        eprintln!(
            "--- the nodes' data dirs are kept in {} (node-ID/raft.redb, controller.redb)",
            self.dir.display()
        );
    }
}

/// What `node` says to a write: 404 from the leader (no such run), 307 from a follower that
/// knows the leader (it redirects, or it forwarded the write: see [`probe_status`]), 503
/// while none is known; `None` when it does not answer within 2 s.
pub fn write_probe(node: &Node) -> Option<u16> {
    let addr: SocketAddr = node.rest_addr().parse().ok()?;
    let timeout = Duration::from_secs(2);
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    let req = format!(
        "POST /loadtests/v2/runs/999999/stop HTTP/1.1\r\nHost: {}\r\nContent-Type: \
         application/json\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{{}}",
        node.rest_addr()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    let _ = s.take(64 * 1024).read_to_string(&mut out);
    probe_status(&out)
}

/// `GET path` on `node`, which must answer 200 with JSON.
pub fn get(node: &Node, path: &str) -> Value {
    let (status, body) =
        http_request_to(&node.rest_addr(), "GET", path, None, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("GET {path} on node {}: {e}", node.id));
    assert_eq!(status, 200, "GET {path} on node {}: {body}", node.id);
    serde_json::from_str(&body).expect("JSON")
}

/// `GET path` on `node` as JSON, or `None` when it does not answer 200 with JSON.
pub fn get_json(node: &Node, path: &str) -> Option<Value> {
    let (status, body) =
        http_request_to(&node.rest_addr(), "GET", path, None, Duration::from_secs(5)).ok()?;
    (status == 200).then_some(())?;
    serde_json::from_str(&body).ok()
}

/// A value of `node`'s `GET /metrics` (the first sample of `name` without labels).
pub fn metric(node: &Node, name: &str) -> Option<f64> {
    let (status, text) = http_request_to(
        &node.rest_addr(),
        "GET",
        "/metrics",
        None,
        Duration::from_secs(5),
    )
    .ok()?;
    (status == 200).then_some(())?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A controller of a group built by hand, for the tests that grow it with `--join` or secure
/// its Raft port (tests/tests/controller_membership.rs, tests/tests/raft_tls.rs): REST and
/// gRPC on loopback ports the system picks, its Raft port given. [`Group`] instead keeps every
/// node on fixed ports, so that it can be started again.
pub struct Member {
    pub id: u64,
    pub proc: Proc,
    pub rest_port: u16,
    pub grpc_url: String,
    pub raft_port: u16,
}

impl Member {
    /// Starts controller `id` with its Raft port on 127.0.0.1:`raft_port`, its data in
    /// `data_dir`, each of `peers` (node id, Raft port on 127.0.0.1) as a `--peer`, and `extra`
    /// flags; returns once it printed its REST and gRPC URLs. `Err` holds its output when it
    /// exited before (or printed nothing within [`RUN_BOUND`]).
    pub fn try_start(
        id: u64,
        raft_port: u16,
        peers: &[(u64, u16)],
        data_dir: &Path,
        extra: &[&std::ffi::OsStr],
    ) -> Result<Member, String> {
        let mut cmd = Command::new(volley_bin());
        cmd.args([
            "controller",
            "--listen",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--node-id", &id.to_string()])
        .args(["--raft", &format!("127.0.0.1:{raft_port}")])
        .args(extra)
        .env("RUST_LOG", "info");
        for (peer, port) in peers.iter().filter(|(peer, _)| *peer != id) {
            cmd.args(["--peer", &format!("{peer}=127.0.0.1:{port}")]);
        }
        let proc = Proc::spawn(&mut cmd);
        let url = |marker: &str| {
            proc.stdout.wait_for(|l| l.contains(marker), RUN_BOUND)?;
            proc.stdout
                .lines()
                .into_iter()
                .find(|(_, l)| l.contains(marker))
                .and_then(|(_, l)| l.rsplit(' ').next().map(str::to_string))
        };
        let (Some(rest), Some(grpc_url)) = (url("REST API on"), url("gRPC for agents on")) else {
            return Err(format!("{}{}", proc.stdout.text(), proc.stderr.text()));
        };
        let rest_port = rest
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {rest:?}"));
        Ok(Member {
            id,
            proc,
            rest_port,
            grpc_url,
            raft_port,
        })
    }

    /// [`Member::try_start`], panicking with the controller's output when it does not start.
    pub fn start(
        id: u64,
        raft_port: u16,
        peers: &[(u64, u16)],
        data_dir: &Path,
        extra: &[&std::ffi::OsStr],
    ) -> Member {
        Member::try_start(id, raft_port, peers, data_dir, extra)
            .unwrap_or_else(|log| panic!("controller {id} did not start\n{log}"))
    }

    /// [`Member::try_start`] on a free Raft port, picked again (with a fresh data dir
    /// `node-ID-ATTEMPT` under `dir`) when another process took it first; at most 5 tries.
    pub fn start_on_a_free_port(
        id: u64,
        peers: &[(u64, u16)],
        dir: &Path,
        extra: &[&std::ffi::OsStr],
    ) -> Member {
        let mut last = String::new();
        for attempt in 0..5 {
            let data = dir.join(format!("node-{id}-{attempt}"));
            match Member::try_start(id, free_port(), peers, &data, extra) {
                Ok(m) => return m,
                Err(log) => last = log,
            }
            assert!(
                last.contains("in use"),
                "controller {id} did not start\n{last}"
            );
        }
        panic!("controller {id} found no free Raft port in 5 tries\n{last}");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rest_port)
    }

    /// What it answers to a write: 404 from the leader (no such run), 307 from a follower that
    /// knows the leader (redirecting or forwarding), 503 while none is known.
    pub fn write_probe(&self) -> u16 {
        write_probe_port(self.rest_port)
    }

    /// `GET path`, which must answer 200 with JSON.
    pub fn get(&self, path: &str) -> Value {
        let (status, body) =
            crate::http_request(self.rest_port, "GET", path, None, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("GET {path} on node {}: {e}", self.id));
        assert_eq!(status, 200, "GET {path} on node {}: {body}", self.id);
        serde_json::from_str(&body).expect("JSON")
    }
}

/// The output of each of `nodes`, for a failure message.
pub fn member_logs(nodes: &[&Member]) -> String {
    nodes
        .iter()
        .map(|n| {
            format!(
                "--- node {}\n{}{}",
                n.id,
                n.proc.stdout.text(),
                n.proc.stderr.text()
            )
        })
        .collect()
}

/// The status of a write probe's raw answer, a follower's forwarded answer counted as the
/// follower's 307: a follower that forwards (`--follower-writes forward`, the default) passes
/// the leader's 404 back with `Volley-Forwarded-By`, and the probes tell the leader from its
/// followers.
pub fn probe_status(answer: &str) -> Option<u16> {
    let status: u16 = answer.split_whitespace().nth(1)?.parse().ok()?;
    let head = answer.split("\r\n\r\n").next().unwrap_or_default();
    let forwarded = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("volley-forwarded-by:"));
    Some(if forwarded { 307 } else { status })
}

/// [`write_probe`] on the REST port `port` of 127.0.0.1 (10 s to answer): 404 from the
/// leader, 307 from a follower that knows it, 503 while none is known.
pub fn write_probe_port(port: u16) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req = "POST /loadtests/v2/runs/999999/stop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \
               application/json\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}";
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = s.take(64 * 1024).read_to_string(&mut out);
    probe_status(&out).unwrap_or_else(|| panic!("no HTTP answer: {out:?}"))
}
