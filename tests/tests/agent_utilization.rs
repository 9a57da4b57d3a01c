//! Per-generator utilization: two agents on one machine, one running a CPU-bound script and one
//! idle. `volley agents` must show each agent process's own CPU (they differ) beside the host's
//! figures (which they share), under headers that say which is which.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_e2e::{assigned_agents, run_ok, temp_dir, Cluster};

/// A single VU spinning for the whole run, on one agent of two.
const BUSY: &str = "export const options = {\n\
  scenarios: { spin: { executor: 'constant-vus', vus: 1, duration: '30s' } },\n\
  volley: { agents: 1 },\n\
};\n\
export default function () {\n\
  const t = Date.now();\n\
  while (Date.now() - t < 100) {}\n\
}\n";

/// How long the figures may take to show the difference (heartbeats are 1 s apart, and the
/// process's CPU is measured between two of them).
const SETTLE: Duration = Duration::from_secs(8);

fn agent<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name))
        .unwrap_or_else(|| panic!("agent {name} in {list}"))
}

fn num(v: &Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is a number in {v}"))
}

fn agents_cmd(cluster: &Cluster, json: bool) -> Command {
    let mut cmd = cluster.volley();
    cmd.args(["agents", "--controller", &cluster.rest_url]);
    if json {
        cmd.arg("--json");
    }
    cmd
}

#[test]
fn agents_on_one_host_show_their_own_process_cpu_beside_the_shared_host_figures() {
    let cluster = Cluster::start("utilization", 2);
    let dir = temp_dir("utilization");
    let script = dir.join("busy.js");
    std::fs::write(&script, BUSY).unwrap();
    // Not --wait: the test reads the agents while the run goes, then stops it.
    run_ok(
        cluster
            .volley()
            .args(["submit", "--controller", &cluster.rest_url])
            .arg(&script),
        "volley submit",
    );
    let (id, run) = cluster.wait_new_run(0, &[2], Duration::from_secs(20));
    let busy_name = assigned_agents(&run).pop().expect("the run has an agent");
    let idle_name = if busy_name == "gen-1" {
        "gen-2"
    } else {
        "gen-1"
    };

    let deadline = Instant::now() + SETTLE;
    let (list, busy, idle) = loop {
        let out = agents_cmd(&cluster, true)
            .output()
            .expect("volley agents --json runs");
        assert!(out.status.success(), "volley agents --json: {out:?}");
        let list: Value =
            serde_json::from_slice(&out.stdout).expect("volley agents --json prints JSON");
        let busy = agent(&list, &busy_name).clone();
        let idle = agent(&list, idle_name).clone();
        // One spinning VU is one CPU of the host: 100 / cpus % of it. A loaded CI machine
        // (the whole suite on 2 shared cores) gives it much less; a sixth of a CPU tells it
        // from an idle process all the same.
        let one_cpu = 100.0 / num(&busy, "cpus").max(1.0);
        let busy_cpu = busy["process_cpu_percent"].as_f64().unwrap_or(0.0);
        let idle_cpu = idle["process_cpu_percent"].as_f64().unwrap_or(f64::MAX);
        let settled = busy["state"] == "busy"
            && busy_cpu >= one_cpu / 6.0
            && idle_cpu < (busy_cpu / 3.0).min(10.0);
        if settled || Instant::now() >= deadline {
            assert!(
                settled,
                "within {SETTLE:?}: the busy agent's process uses ≥ {:.0} % of the host and the idle one's less than a third of that:\n{list:#}",
                one_cpu / 6.0
            );
            break (list, busy, idle);
        }
        std::thread::sleep(Duration::from_millis(500));
    };

    // The host figures are the machine's, the same for both: the idle agent's host CPU
    // includes the busy agent's spinning (its own process is nearly idle), and the memory in
    // use is the same machine's.
    let busy_cpu = num(&busy, "process_cpu_percent");
    let idle_cpu = num(&idle, "process_cpu_percent");
    assert!(
        num(&idle, "cpu_percent") >= busy_cpu / 2.0,
        "the idle agent's host CPU counts the other agent's process: {list:#}"
    );
    assert!(
        num(&idle, "cpu_percent") > idle_cpu,
        "the host's CPU is not the process's: {list:#}"
    );
    assert!(
        (num(&busy, "memory_percent") - num(&idle, "memory_percent")).abs() < 5.0,
        "one machine, one memory figure: {list:#}"
    );
    assert_eq!(busy["memory_total_bytes"], idle["memory_total_bytes"]);
    for a in [&busy, &idle] {
        let rss = num(a, "process_rss_bytes");
        assert!(
            rss > 0.0 && rss < num(a, "memory_used_bytes"),
            "each process's RSS is its own, below the host's memory in use: {a}"
        );
    }

    // The table says which figure is which.
    let table = run_ok(&mut agents_cmd(&cluster, false), "volley agents");
    let header = table.lines().next().unwrap_or_default();
    for col in [
        "PROC CPU%",
        "PROC RSS",
        "HOST CPU%",
        "HOST MEM%",
        "HEARTBEAT",
    ] {
        assert!(header.contains(col), "{col} in the header: {table}");
    }
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("a row for {name}: {table}"))
            .to_string()
    };
    assert!(row(&busy_name).contains(&format!(" {id} ")), "{table}");
    assert!(row(idle_name).contains(" idle "), "{table}");
    assert!(table.contains("PROC: the agent process alone"), "{table}");
    eprintln!(
        "busy agent {busy_name}: process {busy_cpu:.1} %, host {:.1} %; idle agent {idle_name}: process {idle_cpu:.1} %, host {:.1} %",
        num(&busy, "cpu_percent"),
        num(&idle, "cpu_percent")
    );
    run_ok(
        cluster
            .volley()
            .args(["stop", "--controller", &cluster.rest_url, &id.to_string()]),
        "volley stop",
    );
    let started = Instant::now();
    cluster
        .wait_run(
            id,
            |r| r["run_status"].as_i64().is_some_and(|s| s >= 3),
            Duration::from_secs(10),
        )
        .expect("the run ends once stopped");
    eprintln!("stopped in {:.1} s", started.elapsed().as_secs_f64());
}
