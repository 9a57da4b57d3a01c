//! Linux network namespaces for end-to-end tests that need more than loopback: hosts on a
//! private bridge (an agent, an attacker), each a namespace with its own loopback and, if the
//! test writes one, its own `/etc/hosts` (`ip netns exec` mounts `/etc/netns/NS/hosts` over
//! it). Needs root (CAP_NET_ADMIN) and iproute2; without them a test is skipped with a message,
//! except under `CI`, where that is a failure. Everything a test creates carries its prefix
//! and is removed on drop, also after a panic, and at the next start after a crash.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{send_signal, volley_bin};

/// An iproute2 tool (`ip`, `tc`): from the usual sbin folders, which a test's PATH may lack.
pub fn tool(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Runs `tool args` (`ip`, `tc`); its stdout, or an error with the command and its stderr.
pub fn run_tool(name: &str, args: &[&str]) -> Result<String, String> {
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

/// `ip args`, as [`run_tool`].
pub fn ip(args: &[&str]) -> Result<String, String> {
    run_tool("ip", args)
}

/// `ip …` that must succeed while setting up a test network.
pub fn must_ip(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("setting up the test network: {e}");
    }
}

/// The names of the network namespaces (`ip netns list`).
pub fn netns_names() -> Vec<String> {
    ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The names of the root namespace's links (`ip -o link show`), without their `@peer`.
pub fn link_names() -> Vec<String> {
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
pub fn kill_in_netns(ns: &str) {
    let pids = ip(&["netns", "pids", ns]).unwrap_or_default();
    for pid in pids.lines().filter_map(|p| p.trim().parse::<u32>().ok()) {
        send_signal(pid, "KILL");
    }
}

/// The folder whose files `ip netns exec NS` mounts over `/etc` (`hosts`, `resolv.conf`).
pub fn etc_of(ns: &str) -> PathBuf {
    PathBuf::from("/etc/netns").join(ns)
}

/// Removes every namespace (with whatever runs inside and its `/etc/netns` folder) and link
/// named `prefix…`.
pub fn remove_named(prefix: &str) {
    for ns in netns_names().iter().filter(|n| n.starts_with(prefix)) {
        kill_in_netns(ns);
        let _ = ip(&["netns", "del", ns]);
    }
    for link in link_names().iter().filter(|n| n.starts_with(prefix)) {
        let _ = ip(&["link", "del", link]);
    }
    if let Ok(dirs) = std::fs::read_dir("/etc/netns") {
        for d in dirs.flatten() {
            if d.file_name().to_string_lossy().starts_with(prefix) {
                let _ = std::fs::remove_dir_all(d.path());
            }
        }
    }
}

/// The names of namespaces and links named `prefix…` still present.
pub fn leftovers(prefix: &str) -> Vec<String> {
    netns_names()
        .into_iter()
        .chain(link_names())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Permission to build test networks named `prefix…`: holds `lock_file` (machine-wide, across
/// test processes) for the test's duration.
pub struct Lab {
    _lock: File,
}

/// Takes the lock, removes what crashed runs left behind, and checks that network namespaces
/// can be created. `None` (with a message saying why the test is skipped) when they cannot,
/// outside CI; under `CI` that is a failure instead.
pub fn lab(test: &str, lock_file: &str, prefix: &str) -> Option<Lab> {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_file)
        .unwrap_or_else(|e| panic!("cannot open the lock file {lock_file}: {e}"));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {lock_file}: {e}"));
    // Holding the lock, nothing named prefix… belongs to a live test: it is all left over.
    remove_named(prefix);
    let probe = format!("{prefix}-probe");
    match ip(&["netns", "add", &probe]) {
        Ok(_) => {
            let _ = ip(&["netns", "del", &probe]);
            Some(Lab { _lock: lock })
        }
        Err(e) => {
            let msg = format!(
                "{test}: cannot create a network namespace ({e}); this test needs root \
                 (CAP_NET_ADMIN) and iproute2"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg} (failing instead of skipping because CI is set)");
            }
            eprintln!("SKIPPED {msg}");
            None
        }
    }
}

/// Plugs the existing namespace `ns` into `bridge`: a veth pair whose end `link` is on the
/// bridge and whose end `inner` is in `ns` with `addr`/24; `inner` and `ns`'s loopback are up.
pub fn plug(ns: &str, bridge: &str, link: &str, inner: &str, addr: &str) {
    must_ip(&["link", "add", link, "type", "veth", "peer", "name", inner]);
    must_ip(&["link", "set", inner, "netns", ns]);
    must_ip(&["link", "set", link, "master", bridge]);
    must_ip(&["link", "set", link, "up"]);
    must_ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", inner]);
    must_ip(&["-n", ns, "link", "set", inner, "up"]);
    must_ip(&["-n", ns, "link", "set", "lo", "up"]);
}

/// `volley …` inside network namespace `ns` (`ip netns exec` runs it in place, same pid).
pub fn volley_in(ns: &str) -> Command {
    let mut cmd = Command::new(tool("ip"));
    cmd.args(["netns", "exec", ns]).arg(volley_bin());
    cmd
}

/// Any program inside network namespace `ns`.
pub fn in_netns(ns: &str, program: &str) -> Command {
    let mut cmd = Command::new(tool("ip"));
    cmd.args(["netns", "exec", ns, program]);
    cmd
}

/// A MAC address no interface has: frames sent to it are flooded by a bridge and dropped by
/// every port, so a neighbour entry pointing at it is a black hole.
pub const NOWHERE_MAC: &str = "02:00:5e:00:de:ad";

/// One host of a [`Bridged`] network: a namespace with one address on the bridge.
pub struct Host {
    /// Its network namespace (`PREFIXns-NAME`).
    pub ns: String,
    /// Its address on the bridge.
    pub addr: String,
    link: String,
    /// Its end of the veth pair, inside `ns`.
    inner: String,
}

/// A private bridge `PREFIXbr` holding `SUBNET.1/24` in the root namespace (where the
/// controller listens) and one namespace per host, at `SUBNET.2`, `SUBNET.3`, … on a veth
/// whose root end is a port of the bridge; every namespace's loopback is up. So hosts reach
/// the root namespace and each other, as machines on one LAN do. Removed on drop (the
/// processes inside are killed first).
pub struct Bridged {
    prefix: String,
    bridge: String,
    /// The root namespace's address on the bridge.
    pub gateway: String,
    pub hosts: Vec<Host>,
}

impl Bridged {
    /// Builds it: `subnet` as `10.252.1`, `hosts` short names (a namespace's name is
    /// `PREFIXns-NAME`, so keep them to a few letters: link names have 15).
    pub fn create(prefix: &str, subnet: &str, mac: &str, hosts: &[&str]) -> Bridged {
        let bridge = format!("{prefix}br");
        let mut net = Bridged {
            prefix: prefix.to_string(),
            bridge: bridge.clone(),
            gateway: format!("{subnet}.1"),
            hosts: Vec::new(),
        };
        must_ip(&["link", "add", &bridge, "type", "bridge"]);
        // A fixed address: a bridge otherwise takes its lowest port's, which changes as ports
        // come and go.
        must_ip(&["link", "set", &bridge, "address", mac]);
        must_ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &bridge]);
        must_ip(&["link", "set", &bridge, "up"]);
        for (k, name) in hosts.iter().enumerate() {
            let ns = format!("{prefix}ns-{name}");
            let link = format!("{prefix}h{k}");
            let inner = format!("{prefix}i{k}");
            let addr = format!("{subnet}.{}", k + 2);
            must_ip(&["netns", "add", &ns]);
            net.hosts.push(Host {
                ns: ns.clone(),
                addr: addr.clone(),
                link: link.clone(),
                inner: inner.clone(),
            });
            plug(&ns, &bridge, &link, &inner, &addr);
        }
        net
    }

    /// The host named `name` at creation.
    pub fn host(&self, name: &str) -> &Host {
        let ns = format!("{}ns-{name}", self.prefix);
        self.hosts
            .iter()
            .find(|h| h.ns == ns)
            .unwrap_or_else(|| panic!("no host {name} in this test network"))
    }

    /// Cuts hosts `a` and `b` (names given at creation) off each other, and nothing else:
    /// each one's neighbour entry for the other points at [`NOWHERE_MAC`], so every packet
    /// between them vanishes while both interfaces stay up and both still reach every other
    /// host and the root namespace (a partition, as two machines see one).
    pub fn black_hole(&self, a: &str, b: &str) {
        let (ha, hb) = (self.host(a), self.host(b));
        for (from, to) in [(ha, hb), (hb, ha)] {
            must_ip(&[
                "-n",
                &from.ns,
                "neigh",
                "replace",
                &to.addr,
                "lladdr",
                NOWHERE_MAC,
                "dev",
                &from.inner,
                "nud",
                "permanent",
            ]);
        }
    }

    /// Ends a [`Bridged::black_hole`] between `a` and `b`: their neighbour entries are
    /// learnt again.
    pub fn mend(&self, a: &str, b: &str) {
        let (ha, hb) = (self.host(a), self.host(b));
        for (from, to) in [(ha, hb), (hb, ha)] {
            must_ip(&["-n", &from.ns, "neigh", "del", &to.addr, "dev", &from.inner]);
        }
    }
}

impl Drop for Bridged {
    fn drop(&mut self) {
        for h in &self.hosts {
            kill_in_netns(&h.ns);
            let _ = ip(&["link", "del", &h.link]);
            let _ = ip(&["netns", "del", &h.ns]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
        // Anything that escaped the list above (a half-built network), and /etc/netns folders.
        remove_named(&self.prefix);
    }
}
