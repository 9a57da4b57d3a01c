//! The Helm chart without a Kubernetes cluster (none can run on these machines):
//! `helm/check.sh` lints and renders it for every values file, validates each object against
//! the Kubernetes JSON schemas, scans it with checkov and checks that bad values are refused;
//! `helm/exercise.py` starts the rendered controller and agent containers' exact args, env and
//! configuration files as local processes, checks the agents' probes, runs a test through
//! them, scales them down 3 -> 1 during a run (SIGTERM; the run finishes exact) and up 1 -> 3
//! on demand as the rendered HPA would (the queued run says it waits for the scaler), and
//! (`--check`) has `volley … --check` accept the rendered configuration of every values file
//! and refuse a misspelt key; `--ha` runs the three controllers of `values-ha.yaml` (a Raft
//! group with TLS, their pods' names mapped to loopback addresses in a private `/etc/hosts`,
//! so as root) and kills the leader mid-run. Tools: `bash helm/install-tools.sh` (`.ci/run`
//! does it).

use std::process::Command;

use volley_e2e::{run_ok, volley_bin, workspace_root};

fn run(cmd: &mut Command) -> String {
    run_ok(cmd, "(the tools come from: bash helm/install-tools.sh)")
}

#[test]
fn the_chart_lints_validates_and_passes_the_policy_scan() {
    let out = run(Command::new("bash").arg(workspace_root().join("helm/check.sh")));
    assert!(out.contains("helm/check.sh: all checks passed"), "{out}");
    assert!(out.contains("0 failed"), "{out}");
}

#[test]
fn the_rendered_containers_run_a_test() {
    let python = workspace_root().join("target/tools/venv/bin/python");
    let out = run(Command::new(&python)
        .arg(workspace_root().join("helm/exercise.py"))
        .arg(volley_bin()));
    assert!(out.contains("3 agents registered"), "{out}");
    assert!(
        out.contains("3 agents live and ready on the chart's probes"),
        "{out}"
    );
    assert!(out.contains("exit 0, 30 iterations"), "{out}");
    // The scale-down 3 -> 1 during a run: nothing of it is lost.
    assert!(
        out.contains("agents wanted while the 1-agent run runs: 1 of 3"),
        "{out}"
    );
    assert!(out.contains("the 2 idle agents exited within"), "{out}");
    assert!(
        out.contains("the busy agent drained: the run FINISHED with 60 of 60 iterations"),
        "{out}"
    );
    // The scale-up 1 -> 3 on demand, as the rendered HPA does it.
    let scaler =
        "waiting for the scaler (the HorizontalPodAutoscaler volley-agent) to start agents";
    assert!(
        out.contains(&format!("the queued run's event: queued: {scaler}")),
        "{out}"
    );
    assert!(
        out.contains("volley runs: 3 3 QUEUED ... waiting for the scaler"),
        "{out}"
    );
    assert!(
        out.contains("the dashboard's runs page: waiting: waiting for the scaler"),
        "{out}"
    );
    assert!(
        out.contains("agents wanted 3 (/metrics and /v1/agents/wanted): the HPA wants 3 replicas"),
        "{out}"
    );
    assert!(
        out.contains("scaled 1 -> 3 on demand: the run started on 3 agents"),
        "{out}"
    );
    assert!(out.contains("FINISHED with 300 of 300 iterations"), "{out}");
}

#[test]
fn the_rendered_configuration_passes_check() {
    let python = workspace_root().join("target/tools/venv/bin/python");
    let out = run(Command::new(&python)
        .arg(workspace_root().join("helm/exercise.py"))
        .arg("--check")
        .arg(volley_bin()));
    assert!(
        out.contains("default values: volley controller --check: valid")
            && out.contains("default values: volley agent --check: valid"),
        "{out}"
    );
    assert!(
        out.contains("a misspelt controller.config key: --check exit 104"),
        "{out}"
    );
    assert!(
        out.contains("--check passed for the controller and the agent with"),
        "{out}"
    );
}

#[test]
fn the_rendered_raft_group_survives_a_leader_kill() {
    let python = workspace_root().join("target/tools/venv/bin/python");
    let out = run(Command::new(&python)
        .arg(workspace_root().join("helm/exercise.py"))
        .arg("--ha")
        .arg(volley_bin()));
    assert!(
        out.contains("3 controllers ready (a leader known)"),
        "{out}"
    );
    assert!(
        out.contains("2 agents linked to the leader over TLS, given every controller (3 URLs)"),
        "{out}"
    );
    // Submitted through one follower's URL alone: the follower forwards it to the leader.
    assert!(
        out.contains("a run through the follower")
            && out.contains("'s URL alone: exit 0, 20 iterations"),
        "{out}"
    );
    assert!(out.contains("killed (SIGKILL) mid-run"), "{out}");
    assert!(
        out.contains("the run across the failover: exit 0, FINISHED with 200 of 200 iterations"),
        "{out}"
    );
    assert!(
        out.contains("restarted: ready again, a follower of"),
        "{out}"
    );
    // Without promtool the exercise fails under CI=true and says SKIP otherwise.
    assert!(
        out.contains("promtool check metrics: clean on the leader's and a follower's /metrics")
            || out.contains("SKIP promtool"),
        "{out}"
    );
}
