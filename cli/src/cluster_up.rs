//! `volley cluster up`: a controller and N agents on this machine, for trying the cluster out.
//! It secures itself: an admin token is generated once into the data directory (mode 0600)
//! and used as the controller's bootstrap admin token and the agents' join token.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::log_error;

/// The token's file in the data directory.
pub const TOKEN_FILE: &str = "cluster-up.token";

/// The cluster's token: read from `path`, or made (256 random bits) and written there, 0600.
fn cluster_token(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let token = volley_controller::auth::generate_secret()
        .map_err(|e| format!("cannot make a token: {e}"))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    writeln!(f, "{token}").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(token)
}

#[derive(clap::Args)]
pub struct ClusterUpArgs {
    /// How many agent processes to start.
    #[arg(long, default_value_t = 3)]
    pub agents: u32,
    /// The controller's REST address (what `submit`, `runs`, `status` talk to).
    #[arg(long, default_value = "127.0.0.1:6565")]
    pub listen: std::net::SocketAddr,
    /// The controller's gRPC address (what the agents dial).
    #[arg(long, default_value = "127.0.0.1:6566")]
    pub grpc: std::net::SocketAddr,
    /// Where the controller stores runs, tests and archives.
    #[arg(long, default_value = "./volley-data")]
    pub data_dir: PathBuf,
    /// Per-agent VU capacity (0 = no limit). Default: what this machine's memory allows,
    /// shared by the agents.
    #[arg(long)]
    pub max_vus: Option<u64>,
    /// Per-agent JavaScript heap in MiB (0 = no limit). Default: half this machine's memory,
    /// shared by the agents.
    #[arg(long)]
    pub max_js_heap: Option<u64>,
}

/// A local controller plus N agent processes, for trying the cluster out; Ctrl+C stops all.
pub fn cluster_up(a: ClusterUpArgs) -> i32 {
    if let Err(e) = std::fs::create_dir_all(&a.data_dir) {
        log_error(&format!(
            "cannot create --data-dir {}: {e}",
            a.data_dir.display()
        ));
        return 1;
    }
    let token_file = a.data_dir.join(TOKEN_FILE);
    let token = match cluster_token(&token_file) {
        Ok(t) => t,
        Err(e) => {
            log_error(&e);
            return 1;
        }
    };
    let stops = Arc::new(AtomicU32::new(0));
    crate::signals::trap(stops.clone(), crate::signals::SignalHooks::default());
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            log_error(&format!("cannot find the volley binary: {e}"));
            return 1;
        }
    };
    let mut children: Vec<Child> = Vec::new();
    let controller = Command::new(&exe)
        .args([
            "controller",
            "--listen",
            &a.listen.to_string(),
            "--grpc",
            &a.grpc.to_string(),
            "--data-dir",
        ])
        .arg(&a.data_dir)
        .arg("--admin-token-file")
        .arg(&token_file)
        // The same secret is the agents' join token.
        .env("VOLLEY_TOKEN", &token)
        .env_remove("VOLLEY_ADMIN_TOKEN")
        // One file cannot configure both the controller and the agents.
        .env_remove("VOLLEY_CONFIG")
        .stdout(Stdio::piped())
        .spawn();
    let mut controller = match controller {
        Ok(c) => c,
        Err(e) => {
            log_error(&format!("cannot start the controller: {e}"));
            return 1;
        }
    };
    let mut lines = BufReader::new(controller.stdout.take().expect("piped")).lines();
    let mut rest_url = None;
    let mut grpc_url = None;
    while rest_url.is_none() || grpc_url.is_none() {
        match lines.next() {
            Some(Ok(l)) => {
                let url = l.rsplit(' ').next().unwrap_or("").to_string();
                if l.contains("REST API") {
                    rest_url = Some(url);
                } else if l.contains("gRPC") {
                    grpc_url = Some(url);
                }
            }
            _ => {
                log_error("the controller exited before it was ready");
                return 1;
            }
        }
    }
    children.push(controller);
    let grpc_url = grpc_url.unwrap_or_default();
    // The agents share this machine: each gets its share of what the memory holds.
    let max_vus = a.max_vus.unwrap_or_else(|| {
        volley_agent::capacity::default_max_vus()
            .map_or(0, |c| (c / u64::from(a.agents.max(1))).max(1))
    });
    let max_js_heap_mib = a.max_js_heap.unwrap_or_else(|| {
        volley_agent::capacity::default_js_heap()
            .map_or(0, |b| ((b / u64::from(a.agents.max(1))) >> 20).max(1))
    });
    for i in 1..=a.agents {
        match Command::new(&exe)
            .args([
                "agent",
                "--controller",
                &grpc_url,
                "--name",
                &format!("agent-{i}"),
                // Stopping it stops its runs at once (docs/cluster-runs.md#sigterm-drain).
                "--drain-grace",
                "0s",
                "--max-vus",
                &max_vus.to_string(),
                "--max-js-heap",
                &max_js_heap_mib.to_string(),
            ])
            .env("VOLLEY_TOKEN", &token)
            .env_remove("VOLLEY_CONFIG")
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(c) => children.push(c),
            Err(e) => log_error(&format!("cannot start agent-{i}: {e}")),
        }
    }
    let rest = rest_url.unwrap_or_default();
    println!(
        "volley cluster up: controller {rest} with {} agents (Ctrl+C stops them all)",
        a.agents
    );
    println!(
        "  submit a test:  VOLLEY_CONTROLLER={rest} VOLLEY_TOKEN=$(cat {}) volley submit --wait test.js",
        token_file.display()
    );
    let _ = std::io::stdout().flush();
    while stops.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(100));
        if children
            .iter_mut()
            .any(|c| matches!(c.try_wait(), Ok(Some(_))))
        {
            log_error("a cluster process exited; stopping the others");
            break;
        }
    }
    for c in children.iter_mut() {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
    }
    for c in children.iter_mut() {
        let _ = c.wait();
    }
    0
}
