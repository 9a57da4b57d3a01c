//! `volley cluster up --controllers 3`: the controllers of a Raft group on one machine
//! (docs/ha.md#trying-it-on-one-machine). Controller N listens on the `--listen`, `--grpc`
//! and `--raft` ports plus 10×(N−1) and keeps its data in `node-N` under the data directory;
//! each is given every other one as a `--peer`.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How far apart the controllers' ports are: controller N takes each base port + 10×(N−1).
pub const PORT_STEP: u16 = 10;
/// How long `cluster up` waits for the group to elect its first leader before it prints the
/// controllers without one (an election takes 1–3 s: docs/ha.md#timeouts).
const FIRST_LEADER_BOUND: Duration = Duration::from_secs(30);

/// The group's layout: every controller's ports and data dir.
#[derive(Debug)]
pub struct Plan {
    pub controllers: Vec<Seat>,
}

/// One controller of the group.
#[derive(Debug, Clone)]
pub struct Seat {
    pub id: u64,
    pub listen: SocketAddr,
    pub grpc: SocketAddr,
    pub raft: SocketAddr,
    pub data_dir: PathBuf,
}

impl Seat {
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.listen)
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }
}

/// Why a group needs an odd number of controllers, for the error of an even one.
fn odd_only(n: u32) -> String {
    format!(
        "invalid --controllers {n}: a Raft group commits with a majority, so {n} controllers \
         survive no more failures than {} do; use 3 (survives 1 down) or 5 (survives 2), or 1 \
         for a single controller without Raft",
        n - 1
    )
}

/// The layout of `n` controllers from the first one's addresses, or what is wrong with them.
pub fn plan(
    n: u32,
    listen: SocketAddr,
    grpc: SocketAddr,
    raft: SocketAddr,
    data_dir: &Path,
) -> Result<Plan, String> {
    match n {
        0 => return Err("invalid --controllers 0: give 1, 3 or 5".into()),
        n if n % 2 == 0 => return Err(odd_only(n)),
        n if n > 7 => {
            return Err(format!(
                "invalid --controllers {n}: at most 7 on one machine (every controller takes \
                 every write to disk; 3 or 5 is what a group needs)"
            ))
        }
        _ => {}
    }
    for (flag, addr) in [("--listen", listen), ("--grpc", grpc), ("--raft", raft)] {
        if addr.port() == 0 {
            return Err(format!(
                "invalid {flag} {addr}: with --controllers {n} give a fixed port (a controller \
                 restarted after it exits must come back where the agents and its peers look \
                 for it); controller N takes it plus {PORT_STEP}×(N−1)"
            ));
        }
        let last = u32::from(addr.port()) + u32::from(PORT_STEP) * (n - 1);
        if last > u32::from(u16::MAX) {
            return Err(format!(
                "invalid {flag} {addr}: controller {n} would need port {last}; give a lower port"
            ));
        }
    }
    let at = |addr: SocketAddr, k: u32| {
        let mut a = addr;
        a.set_port(addr.port() + PORT_STEP * k as u16);
        a
    };
    let controllers: Vec<Seat> = (0..n)
        .map(|k| Seat {
            id: u64::from(k) + 1,
            listen: at(listen, k),
            grpc: at(grpc, k),
            raft: at(raft, k),
            data_dir: data_dir.join(format!("node-{}", k + 1)),
        })
        .collect();
    let mut seen = BTreeSet::new();
    for s in &controllers {
        for (what, addr) in [("REST API", s.listen), ("gRPC", s.grpc), ("Raft", s.raft)] {
            if !seen.insert(addr) {
                return Err(format!(
                    "controller {}'s {what} port {addr} is another controller's port too: give \
                     --listen, --grpc and --raft base ports at least {PORT_STEP}×{n} apart, or \
                     a step apart (e.g. 6565, 6566, 6567, the defaults)",
                    s.id
                ));
            }
        }
    }
    same_group_as_before(data_dir, n)?;
    Ok(Plan { controllers })
}

/// A data directory keeps the group it was made with: its stored membership wins over flags
/// (docs/ha.md#raft-settings), so starting it with another number of controllers would give
/// the new ones a group the old ones do not know.
fn same_group_as_before(data_dir: &Path, n: u32) -> Result<(), String> {
    let Ok(dir) = std::fs::read_dir(data_dir) else {
        return Ok(());
    };
    let found: BTreeSet<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("node-")?.parse().ok())
        .collect();
    let want: BTreeSet<u32> = (1..=n).collect();
    if found.is_empty() || found == want {
        return Ok(());
    }
    Err(format!(
        "--data-dir {} holds a group of {} controllers (node-{}); give --controllers {} to \
         start it again, or another --data-dir for a group of {n}",
        data_dir.display(),
        found.len(),
        found
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", node-"),
        found.len()
    ))
}

impl Plan {
    /// Every port of the group is free now; else the first one taken, named.
    pub fn check_ports(&self) -> Result<(), String> {
        for s in &self.controllers {
            for (flag, what, addr) in [
                ("--listen", "REST API", s.listen),
                ("--grpc", "gRPC", s.grpc),
                ("--raft", "Raft", s.raft),
            ] {
                if let Err(e) = TcpListener::bind(addr) {
                    return Err(format!(
                        "controller {}'s {what} port {addr} is not free ({e}): stop what \
                         listens there, or give {flag} another base port (controller N takes \
                         it plus {PORT_STEP}×(N−1))",
                        s.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every controller's REST URL, comma-separated (as `VOLLEY_CONTROLLER` takes them).
    pub fn rest_urls(&self) -> String {
        let urls: Vec<String> = self.controllers.iter().map(Seat::rest_url).collect();
        urls.join(",")
    }

    /// Every controller's gRPC URL, comma-separated (as an agent's `--controller` takes them).
    pub fn grpc_urls(&self) -> String {
        let urls: Vec<String> = self.controllers.iter().map(Seat::grpc_url).collect();
        urls.join(",")
    }

    /// The flags of controller `id` (its `volley controller` arguments after the subcommand).
    pub fn controller_args(&self, id: u64) -> Vec<String> {
        let Some(me) = self.controllers.iter().find(|s| s.id == id) else {
            return Vec::new();
        };
        let mut args = vec![
            "--listen".to_string(),
            me.listen.to_string(),
            "--grpc".into(),
            me.grpc.to_string(),
            "--node-id".into(),
            id.to_string(),
            "--raft".into(),
            me.raft.to_string(),
            "--data-dir".into(),
            me.data_dir.display().to_string(),
        ];
        for peer in self.controllers.iter().filter(|s| s.id != id) {
            args.push("--peer".into());
            args.push(format!("{}={}", peer.id, peer.raft));
        }
        args
    }

    /// Waits (bounded) until one controller says it leads; its id, or `None` when none did.
    pub fn wait_leader(&self, token: &str) -> Option<u64> {
        let started = Instant::now();
        while started.elapsed() < FIRST_LEADER_BOUND {
            if let Some(id) = self.leader_now(token) {
                return Some(id);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }

    /// The controller that says it leads, asked one by one (`GET /v1/controllers`).
    pub fn leader_now(&self, token: &str) -> Option<u64> {
        self.controllers.iter().find_map(|s| {
            let client = volley_api::client::Client::new(&s.rest_url())
                .ok()?
                .with_token(Some(token.to_string()))
                .with_timeout(Duration::from_secs(2))
                .ok()?;
            let list = client.controllers().ok()?;
            list.controllers
                .iter()
                .any(|c| c.node == list.node && c.role == "leader")
                .then_some(list.node)
        })
    }
}

/// Removes from `cmd` the variables that would make a controller of the group another node
/// than its flags say (a user's own group settings).
pub fn clear_group_env(cmd: &mut Command) {
    for var in [
        "VOLLEY_NODE_ID",
        "VOLLEY_RAFT",
        "VOLLEY_PEERS",
        "VOLLEY_JOIN",
        "VOLLEY_ADVERTISE_API",
        "VOLLEY_RAFT_CA",
        "VOLLEY_RAFT_TLS_CERT",
        "VOLLEY_RAFT_TLS_KEY",
    ] {
        cmd.env_remove(var);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn plan_of(n: u32, dir: &Path) -> Result<Plan, String> {
        plan(
            n,
            addr("127.0.0.1:6565"),
            addr("127.0.0.1:6566"),
            addr("127.0.0.1:6567"),
            dir,
        )
    }

    #[test]
    fn three_controllers_take_ports_ten_apart_and_name_each_other() {
        let dir = Path::new("/nonexistent/volley-data");
        let p = plan_of(3, dir).unwrap();
        let ports: Vec<(u16, u16, u16)> = p
            .controllers
            .iter()
            .map(|s| (s.listen.port(), s.grpc.port(), s.raft.port()))
            .collect();
        assert_eq!(
            ports,
            [(6565, 6566, 6567), (6575, 6576, 6577), (6585, 6586, 6587)]
        );
        assert_eq!(
            p.rest_urls(),
            "http://127.0.0.1:6565,http://127.0.0.1:6575,http://127.0.0.1:6585"
        );
        let args = p.controller_args(2).join(" ");
        assert!(
            args.contains("--node-id 2 --raft 127.0.0.1:6577")
                && args.contains("--peer 1=127.0.0.1:6567 --peer 3=127.0.0.1:6587")
                && args.contains("/nonexistent/volley-data/node-2"),
            "{args}"
        );
    }

    #[test]
    fn even_counts_fixed_ports_and_another_group_are_refused_with_the_fix() {
        let dir = Path::new("/nonexistent/volley-data");
        let e = plan_of(2, dir).unwrap_err();
        assert!(e.contains("use 3 (survives 1 down) or 5"), "{e}");
        let e = plan_of(4, dir).unwrap_err();
        assert!(
            e.contains("4 controllers survive no more failures than 3"),
            "{e}"
        );
        let e = plan(
            3,
            addr("127.0.0.1:0"),
            addr("127.0.0.1:6566"),
            addr("127.0.0.1:6567"),
            dir,
        )
        .unwrap_err();
        assert!(
            e.contains("invalid --listen") && e.contains("fixed port"),
            "{e}"
        );
        let e = plan(
            3,
            addr("127.0.0.1:6565"),
            addr("127.0.0.1:6575"),
            addr("127.0.0.1:6567"),
            dir,
        )
        .unwrap_err();
        assert!(e.contains("is another controller's port too"), "{e}");
        let e = plan(
            3,
            addr("127.0.0.1:65530"),
            addr("127.0.0.1:6566"),
            addr("127.0.0.1:6567"),
            dir,
        )
        .unwrap_err();
        assert!(e.contains("would need port 65550"), "{e}");

        let tmp = std::env::temp_dir().join(format!("volley-group-plan-{}", std::process::id()));
        for k in 1..=3 {
            std::fs::create_dir_all(tmp.join(format!("node-{k}"))).unwrap();
        }
        assert!(plan_of(3, &tmp).is_ok());
        let e = plan_of(5, &tmp).unwrap_err();
        assert!(
            e.contains("holds a group of 3 controllers (node-1, node-2, node-3)")
                && e.contains("give --controllers 3"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
