//! The [`Cluster`] fixture: a controller and N agents on loopback, with helpers to reach its REST
//! API, submit runs and read the processes' logs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::http::rest_client;
use crate::line_log::{console_message, LineLog};
use crate::paths::{temp_dir, volley_bin, workspace_root, TempDir};
use crate::process::{send_signal, Proc};

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
    _dir: TempDir,
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
            _dir: dir,
            controller: Some(controller),
            agents: Vec::new(),
            rest_port,
            rest_url,
            grpc_url,
            data_dir,
            tmp_dir,
            controller_args,
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
        newest_run_id(&self.get("/loadtests/v2/runs?page_size=1000").ok()?)
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
        let mut out = String::new();
        if let Some(c) = &self.controller {
            out.push_str(&format!("--- controller stderr\n{}", c.stderr.tail(15)));
        }
        for (name, p) in &self.agents {
            out.push_str(&format!("--- {name} stderr\n{}", p.stderr.tail(15)));
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
        // `_dir`, a field, drops after this: removed once the processes are gone.
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

/// The port of `http://host:port`.
fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {url:?}"))
}

/// The highest run id in a `GET /loadtests/v2/runs` answer, if it lists any.
pub fn newest_run_id(list: &serde_json::Value) -> Option<u64> {
    list.get("k6-runs")?
        .as_array()?
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .max()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_of_reads_the_port_of_a_url() {
        assert_eq!(port_of("http://127.0.0.1:6565"), 6565);
    }
}
