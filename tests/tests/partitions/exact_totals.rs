//! Short disturbances below both timeouts (a cut, a flapping link, a slow lossy link): the run
//! finishes with exactly the planned totals.

use super::*;

/// `--agent-lost-after` and `--orphan-after` of the short-disturbance tests: well above what
/// TCP needs to resume after the disturbances below.
const SHORT_LOST_AFTER: &str = "8s";
const SHORT_ORPHAN_AFTER: &str = "10s";
/// pervu.js's plan: 6 VUs × 100 iterations, 2 VUs on each of 3 agents.
const PLANNED: f64 = 600.0;
const PER_AGENT: usize = 200;

/// Runs pervu.js on a fresh 3-agent network of case `case`, lets `disturb` act on one agent's
/// link once that agent's load is going (about 2 s into the 11 s run), and checks that the
/// run finishes (3, not degraded, submit exits 0) with exactly the planned iterations,
/// requests and passing checks, and every agent with exactly its share. `disturb` returns a
/// description of what it did and measured, for the printed report.
fn exact_totals_through(
    _lab: Lab,
    case: u8,
    test: &str,
    disturb: impl FnOnce(&PartitionCluster, &str) -> String,
) {
    let cluster = PartitionCluster::start(
        case,
        3,
        &["--agent-lost-after", SHORT_LOST_AFTER],
        &["--orphan-after", SHORT_ORPHAN_AFTER],
    );
    let mut submit = cluster.submit(&script("pervu.js"));
    let (id, run) = cluster.wait_running(Duration::from_secs(15));
    let agents = assigned_agents(&run);
    assert_eq!(agents.len(), 3, "placed on 3 agents: {run}");
    let victim = last_assigned_agent(&run);
    cluster.wait_iterations(&victim, 20, Duration::from_secs(10));
    let what = disturb(&cluster, &victim);

    let code = cluster.exit_code(&mut submit, Duration::from_secs(40));
    assert_eq!(
        code,
        0,
        "volley submit exit code\n--- stdout\n{}\n--- stderr\n{}\n{}",
        submit.stdout.text(),
        submit.stderr.text(),
        cluster.logs()
    );
    let run = cluster.run(id).expect("run");
    assert_eq!(run["run_status"], 3, "FINISHED: {run}");
    assert_ne!(run["degraded"], true, "not degraded: {run}");
    assert!(run["error_detail"].is_null(), "no error: {run}");
    for a in &agents {
        assert_eq!(
            cluster.iterations(a).len(),
            PER_AGENT,
            "{a} runs its 2 VUs × 100 iterations"
        );
    }
    let s = cluster.summary(id);
    for (metric, value) in [
        ("iterations", "count"),
        ("http_reqs", "count"),
        ("checks", "passes"),
    ] {
        assert_eq!(
            summary_stat(&s, metric, value),
            PLANNED,
            "merged {metric}.{value}: every batch of every agent counted exactly once ({what})"
        );
    }
    assert_eq!(summary_stat(&s, "checks", "fails"), 0.0, "no failed check");
    assert_eq!(cluster.count_messages("SETUP-RAN"), 1, "setup() once");
    assert_eq!(cluster.count_messages("TEARDOWN-RAN"), 1, "teardown() once");
    eprintln!(
        "{test}: run {id} finished with exactly {PLANNED} iterations, requests and checks; \
         {victim}: {what}"
    );
    drop(cluster);
    assert_cleaned_up(&case_prefix(case));
}

/// Polls the controller's view of `agent` until `until`: the largest heartbeat age seen.
fn max_heartbeat_age(cluster: &PartitionCluster, agent: &str, until: Instant) -> f64 {
    let mut max: f64 = 0.0;
    while Instant::now() < until {
        if let Some(age) = cluster
            .agent_view(agent)
            .and_then(|a| a["heartbeat_age_s"].as_f64())
        {
            max = max.max(age);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    max
}

/// Waits until the controller has heard from `agent` within the last second again; how long
/// that took.
fn wait_heard(cluster: &PartitionCluster, agent: &str, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let age = cluster
            .agent_view(agent)
            .and_then(|a| a["heartbeat_age_s"].as_f64());
        if age.is_some_and(|a| a < 1.0) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "{agent} not heard from within {timeout:?} after the link came back ({age:?})\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One of 3 agents cut off for 5 s (link down) mid-run, below agent_lost_after (8 s) and
/// orphan_after (10 s): the agent keeps its load going, the run goes on and finishes with
/// exactly the planned totals.
#[test]
fn short_partition_keeps_the_run_and_its_exact_totals() {
    let Some(lab) = lab("short_partition") else {
        return;
    };
    exact_totals_through(lab, 2, "short_partition", |cluster, victim| {
        let (cut_at, _) = cluster.net.cut(victim, Cut::LinkDown);
        let before = cluster.iterations(victim).len();
        let max_age = max_heartbeat_age(cluster, victim, cut_at + Duration::from_secs(5));
        let restored_at = cluster.net.restore(victim, Cut::LinkDown);
        let during = cluster.iterations(victim).len() - before;
        let heard = wait_heard(cluster, victim, Duration::from_secs(4));
        assert!(
            max_age >= 4.0,
            "the controller kept hearing from {victim} during the cut (heartbeat age at most \
             {max_age:.2} s): the partition did not happen"
        );
        assert!(during > 0, "{victim} kept its load going while cut off");
        format!(
            "cut off 5 s (link down): {during} iterations while cut off, heartbeat age up to \
             {max_age:.2} s during the cut, heard again {:.2} s after the link came back \
             ({:.2} s after the cut; agent_lost_after {SHORT_LOST_AFTER}, orphan_after \
             {SHORT_ORPHAN_AFTER})",
            secs(heard),
            secs(restored_at - cut_at + heard)
        )
    });
}

/// A flapping link: one of 3 agents loses every packet to and from the controller for 0.8 s
/// out of every 2 s, four times, mid-run (TCP retransmits across each gap): exact totals.
#[test]
fn flapping_link_keeps_exact_totals() {
    let Some(lab) = lab("flapping_link") else {
        return;
    };
    exact_totals_through(lab, 3, "flapping_link", |cluster, victim| {
        let mut max_age: f64 = 0.0;
        for _ in 0..4 {
            let (cut_at, _) = cluster.net.cut(victim, Cut::BlackHole);
            max_age = max_age.max(max_heartbeat_age(
                cluster,
                victim,
                cut_at + Duration::from_millis(800),
            ));
            let restored_at = cluster.net.restore(victim, Cut::BlackHole);
            max_age = max_age.max(max_heartbeat_age(
                cluster,
                victim,
                restored_at + Duration::from_millis(1200),
            ));
        }
        assert!(
            max_age >= 1.25,
            "the controller kept hearing from {victim} through the gaps (heartbeat age at most \
             {max_age:.2} s): the link did not flap"
        );
        format!(
            "4 × 0.8 s black hole every 2 s: heartbeat age up to {max_age:.2} s \
             (agent_lost_after {SHORT_LOST_AFTER})"
        )
    });
}

/// `tc netem delay 200ms loss 5%` on both ends of one agent's link from 2 s into the run to its
/// end: exact totals. Ignored by default, with the reason in the test output: the kernels this
/// suite runs on (CI's too) have no netem qdisc (sch_netem), and a test that passes without
/// running would be a lie. Where the kernel has it: `cargo test --test partitions -- --ignored`;
/// it fails (not skips) when netem is missing then.
#[test]
#[ignore = "needs the kernel's netem qdisc (sch_netem), absent on CI's kernel; run with --ignored where it exists"]
fn slow_lossy_link_keeps_exact_totals() {
    let Some(lab) = lab("slow_lossy_link") else {
        return;
    };
    if let Err(e) = netem_supported() {
        panic!("slow_lossy_link needs a netem qdisc, and this kernel cannot add one: {e}");
    }
    exact_totals_through(lab, 4, "slow_lossy_link", |cluster, victim| {
        let seat = cluster.net.seat(victim);
        let netem = ["root", "netem", "delay", "200ms", "loss", "5%"];
        let mut host = vec!["qdisc", "add", "dev", seat.link.as_str()];
        host.extend(netem);
        run_tool("tc", &host).unwrap_or_else(|e| panic!("{e}"));
        let tc = tool("tc");
        let tc = tc.to_string_lossy();
        let mut inner = vec!["netns", "exec", seat.ns.as_str(), &*tc];
        inner.extend(["qdisc", "add", "dev", seat.inner.as_str()]);
        inner.extend(netem);
        ip(&inner).unwrap_or_else(|e| panic!("{e}"));
        let max_age = max_heartbeat_age(cluster, victim, Instant::now() + Duration::from_secs(4));
        format!(
            "netem delay 200ms loss 5% both ways until the end: heartbeat age up to {max_age:.2} s"
        )
    });
}

/// Whether a netem qdisc can be added (on a throwaway veth pair).
fn netem_supported() -> Result<(), String> {
    let probe = format!("{PREFIX}-netem");
    ip(&[
        "link",
        "add",
        &probe,
        "type",
        "veth",
        "peer",
        "name",
        &format!("{probe}p"),
    ])?;
    let added = run_tool(
        "tc",
        &[
            "qdisc", "add", "dev", &probe, "root", "netem", "delay", "1ms",
        ],
    );
    let _ = ip(&["link", "del", &probe]);
    added.map(|_| ())
}
