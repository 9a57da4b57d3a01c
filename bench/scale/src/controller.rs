//! The controller under test: a real `volley controller` process with a fresh data folder,
//! pinned to one CPU when asked, its log kept in the data folder's parent, stopped (and its
//! folder removed) when dropped.

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
        let dir = std::env::temp_dir().join(format!(
            "volley-controller-scale-{}-{agents}",
            std::process::id()
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
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
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
