//! The controller under test: a real `volley controller` process with a fresh data folder,
//! pinned to one CPU when asked, its log kept in the data folder's parent, stopped (and its
//! folder removed) when dropped; or the controllers of a Raft group on loopback
//! (docs/ha.md), each one such process, for what replication costs.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use volley_api::client::Client;

use crate::probe::Proc;

/// Longest the controller may take to answer `/health` after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a Raft group may take to elect its first leader (1–3 s: docs/ha.md#timeouts).
const ELECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A controller's place in a Raft group: its node id, its Raft port, and every other node's.
pub struct Seat {
    pub id: u64,
    pub raft: u16,
    pub peers: Vec<(u64, u16)>,
}

pub struct Controller {
    child: Child,
    dir: PathBuf,
    pub rest: String,
    pub grpc: String,
    pub proc: Proc,
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

impl Controller {
    /// Starts `volley controller` for `agents` agents (their connections and one run with all
    /// of them must be allowed), on `cpu` when given.
    pub fn start(volley: &Path, cpu: Option<usize>, agents: usize) -> Result<Controller> {
        Controller::start_seat(volley, cpu, agents, None)
    }

    /// Starts `n` controllers as one Raft group (each as [`Controller::start`] does, on the
    /// same CPU when given) and waits for a leader; the controllers, the leader first.
    pub fn start_group(
        volley: &Path,
        cpu: Option<usize>,
        agents: usize,
        n: u64,
    ) -> Result<Vec<Controller>> {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect::<Result<_>>()?;
        let mut nodes = Vec::new();
        for id in 1..=n {
            let peers = (1..=n)
                .filter(|&p| p != id)
                .map(|p| (p, ports[p as usize - 1]))
                .collect();
            let seat = Seat {
                id,
                raft: ports[id as usize - 1],
                peers,
            };
            nodes.push(Controller::start_seat(volley, cpu, agents, Some(seat))?);
        }
        let began = Instant::now();
        loop {
            if let Some(i) = nodes.iter().position(|c| c.leads().unwrap_or(false)) {
                nodes.swap(0, i);
                return Ok(nodes);
            }
            if began.elapsed() > ELECTION_TIMEOUT {
                bail!(
                    "the {n} controllers elected no leader within {} s: {}",
                    ELECTION_TIMEOUT.as_secs(),
                    nodes[0].log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether this controller says it is its group's leader (`GET /v1/controllers`).
    fn leads(&self) -> Result<bool> {
        let list = Client::new(&self.rest)?
            .with_timeout(Duration::from_secs(2))?
            .controllers()?;
        Ok(list
            .controllers
            .iter()
            .any(|c| c.node == list.node && c.role == "leader"))
    }

    fn start_seat(
        volley: &Path,
        cpu: Option<usize>,
        agents: usize,
        seat: Option<Seat>,
    ) -> Result<Controller> {
        let dir = std::env::temp_dir().join(format!(
            "volley-controller-scale-{}-{agents}-node-{}",
            std::process::id(),
            seat.as_ref().map_or(0, |s| s.id)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let log = File::create(dir.join("controller.log"))?;
        let (rest_port, grpc_port) = (free_port()?, free_port()?);
        let mut cmd = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(volley);
                c
            }
            None => Command::new(volley),
        };
        cmd.arg("controller")
            .args(["--listen", &format!("127.0.0.1:{rest_port}")])
            .args(["--grpc", &format!("127.0.0.1:{grpc_port}")])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--max-agents", &agents.max(1000).to_string()])
            .args(["--grpc-max-connections", &(agents + 64).to_string()])
            // `--duration` goes up to 3600 s and the run adds its graceful stop: the
            // controller's default limit of 60 min (incl. graceful stop) refused a 3600 s run.
            .args(["--max-duration", "2h"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(seat) = &seat {
            cmd.args(["--node-id", &seat.id.to_string()])
                .args(["--raft", &format!("127.0.0.1:{}", seat.raft)]);
            for (id, port) in &seat.peers {
                cmd.args(["--peer", &format!("{id}=127.0.0.1:{port}")]);
            }
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} controller", volley.display()))?;
        let mut c = Controller {
            proc: Proc::new(child.id()),
            child,
            dir,
            rest: format!("http://127.0.0.1:{rest_port}"),
            grpc: format!("http://127.0.0.1:{grpc_port}"),
        };
        let client = Client::new(&c.rest)?.with_timeout(Duration::from_secs(2))?;
        let began = Instant::now();
        loop {
            if let Ok(r) = client.request("GET", "/health", None) {
                if r.status == 200 {
                    return Ok(c);
                }
            }
            if let Some(status) = c.child.try_wait()? {
                bail!("the controller exited ({status}): {}", c.log_tail());
            }
            if began.elapsed() > START_TIMEOUT {
                bail!(
                    "the controller did not answer /health within {} s: {}",
                    START_TIMEOUT.as_secs(),
                    c.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of the controller's log (for an error message).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("controller.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }

    /// Log lines that contain `needle` (at most `max`).
    pub fn log_lines(&self, needle: &str, max: usize) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("controller.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .take(max)
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
