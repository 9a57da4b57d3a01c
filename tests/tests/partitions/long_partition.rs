//! A long partition: the run aborts with AGENT_LOST and the cut-off agent stops its load by
//! itself, then registers again.

use super::*;

const LOST_AFTER: Duration = Duration::from_secs(3);
const ORPHAN_AFTER: Duration = Duration::from_secs(6);
const LONG_CUT: Duration = Duration::from_secs(15);
/// How soon after a long partition ends the cut-off agent must be heard again: its last dial
/// may have just timed out (5 s connect timeout) and its backoff is at most 5 s.
const RECONNECT_LIMIT: Duration = Duration::from_secs(10);

/// One of 3 agents behind a black hole for 15 s with `--agent-lost-after 3s` and
/// `--orphan-after 6s`: the run aborts (6, AGENT_LOST naming the agent, submit exits 97)
/// within agent_lost_after of the cut; the cut-off agent, which never hears of it, keeps its
/// load going until its dead-man switch stops it about orphan_after after its last word from
/// the controller (checked on its own output and clock); the other agents are idle at once;
/// the cut-off agent gives up its silent connection, registers again soon after the network
/// is back, and is listed idle with 0 VUs.
#[test]
fn long_partition_aborts_the_run_and_the_cut_off_agent_stops_by_itself() {
    let Some(_lab) = lab("long_partition") else {
        return;
    };
    let orphan = format!("{}s", ORPHAN_AFTER.as_secs());
    let lost = format!("{}s", LOST_AFTER.as_secs());
    let cluster = PartitionCluster::start(
        1,
        3,
        &["--agent-lost-after", &lost],
        &["--orphan-after", &orphan],
    );
    let mut submit = cluster.submit(&script("steady.js"));
    let (id, run) = cluster.wait_running(Duration::from_secs(15));
    let agents = assigned_agents(&run);
    assert_eq!(agents.len(), 3, "placed on 3 agents: {run}");
    let victim = last_assigned_agent(&run);
    for a in &agents {
        cluster.wait_iterations(a, 5, Duration::from_secs(10));
    }
    std::thread::sleep(Duration::from_millis(500));

    let (cut_at, cut_ms) = cluster.net.cut(&victim, Cut::BlackHole);
    let run = cluster.wait_run(
        id,
        |r| r["run_status"].as_i64().is_some_and(|s| s >= 3),
        LOST_AFTER + Duration::from_secs(6),
    );
    let detection = cut_at.elapsed();
    assert_eq!(run["run_status"], 6, "ABORTED_BY_SYSTEM: {run}");
    assert_eq!(run["exit_code"], 97, "exit code of {run}");
    let detail = run["error_detail"].as_str().unwrap_or_default().to_string();
    let prefix = format!("AGENT_LOST: agent {victim} (segment ");
    assert!(
        detail.starts_with(&prefix),
        "error_detail should start with {prefix:?}: {run}"
    );
    let silence =
        reported_silence(&detail).unwrap_or_else(|| panic!("no \"silent for N s\" in {detail:?}"));
    assert!(
        silence >= secs(LOST_AFTER),
        "declared lost after {silence} s of silence: {detail}"
    );
    // The agent's last message came at most about a heartbeat (1 s) before the cut.
    assert!(
        detection + Duration::from_millis(1200) >= LOST_AFTER
            && detection <= LOST_AFTER + Duration::from_secs(2),
        "the partition was acted on {:.2} s after the cut (agent_lost_after {:.0} s)",
        secs(detection),
        secs(LOST_AFTER)
    );
    let code = cluster.exit_code(&mut submit, Duration::from_secs(10));
    assert_eq!(
        code,
        97,
        "volley submit exit code\n--- stderr\n{}",
        submit.stderr.text()
    );
    assert!(
        submit.stderr.text().contains("AGENT_LOST"),
        "submit --wait shows why: {}",
        submit.stderr.text()
    );
    for a in agents.iter().filter(|a| **a != victim) {
        cluster.wait_idle_and_heard(a, Duration::from_secs(5));
    }

    // The cut-off agent stops by itself: its dead-man switch says so on its output...
    let log = cluster.agent_log(&victim);
    let switch_deadline =
        (cut_at + ORPHAN_AFTER + Duration::from_secs(4)).saturating_duration_since(Instant::now());
    let switched = log
        .wait_for(
            |l| l.contains("orphan_after") && l.contains("stopping the load"),
            switch_deadline,
        )
        .unwrap_or_else(|| {
            panic!(
                "{victim} did not stop its load by itself within orphan_after + 4 s\n{}",
                cluster.logs()
            )
        });
    // ...and its iterations (stamped by the agent's own clock) end about orphan_after after
    // its last word from the controller, which came at most a second before the cut.
    std::thread::sleep(Duration::from_millis(1500));
    let iters = cluster.iterations(&victim);
    let last_ms = *iters.last().expect("the victim ran iterations");
    let stopped_after = Duration::from_millis(last_ms.saturating_sub(cut_ms));
    assert!(
        stopped_after + Duration::from_millis(1500) >= ORPHAN_AFTER,
        "{victim} stopped {:.2} s after the cut, before orphan_after {:.0} s: the switch should \
         keep short outages harmless",
        secs(stopped_after),
        secs(ORPHAN_AFTER)
    );
    assert!(
        stopped_after <= ORPHAN_AFTER + Duration::from_secs(2),
        "{victim} ran iterations until {:.2} s after the cut (orphan_after {:.0} s + 2 s \
         allowed)",
        secs(stopped_after),
        secs(ORPHAN_AFTER)
    );
    let after_abort = iters
        .iter()
        .filter(|t| **t > cut_ms + detection.as_millis() as u64)
        .count();
    assert!(
        after_abort > 0,
        "{victim} kept its load until its own switch, also after the controller's abort"
    );

    // Until the link is back, no further iteration.
    let restore_in = (cut_at + LONG_CUT).saturating_duration_since(Instant::now());
    std::thread::sleep(restore_in);
    let still = cluster.iterations(&victim).len();
    assert_eq!(
        still,
        iters.len(),
        "{victim} ran iterations after its switch"
    );
    let restored_at = cluster.net.restore(&victim, Cut::BlackHole);
    // The agent dropped its silent link at orphan_after and keeps dialing: it registers again
    // within its reconnect cadence (connect timeout 5 s, backoff at most 5 s) after the
    // network is back, whatever TCP's retransmission backoff on the old connection has grown
    // to. (Data the old connection still held may reach the controller first: that is not
    // the agent being back.)
    let registered = wait_registrations(log, 2, RECONNECT_LIMIT + Duration::from_secs(2))
        .unwrap_or_else(|| {
            panic!(
                "{victim} did not register with the controller again after the partition:\n{}",
                log.lines()
                    .iter()
                    .filter(|(_, l)| console_message(l).is_none())
                    .map(|(_, l)| format!("    {l}\n"))
                    .collect::<String>()
            )
        });
    let back_after = registered.saturating_duration_since(restored_at);
    assert!(
        back_after <= RECONNECT_LIMIT,
        "{victim} registered again {:.2} s after the link came back ({:.0} s allowed)",
        secs(back_after),
        secs(RECONNECT_LIMIT)
    );
    let idle_after = cluster.wait_idle_and_heard(&victim, Duration::from_secs(5));
    assert_eq!(
        cluster.iterations(&victim).len(),
        iters.len(),
        "{victim} ran iterations after the link came back"
    );
    assert_eq!(cluster.count_messages("SETUP-RAN"), 1, "setup() once");
    let teardowns = cluster.count_messages("TEARDOWN-RAN");
    assert!(teardowns <= 1, "teardown() ran {teardowns} times");
    let s = cluster.summary(id);
    assert!(
        summary_stat(&s, "iterations", "count") > 0.0,
        "the summary keeps what arrived: {}",
        s["metrics"]
    );
    eprintln!(
        "long partition: cut → status 6 in {:.2} s (agent_lost_after {:.0} s; controller saw \
         {silence} s of silence); {victim}'s dead-man switch fired {:.2} s after the cut and its \
         last iteration ran {:.2} s after it (orphan_after {:.0} s); {after_abort} iterations \
         after the abort; registered again {:.2} s after the link came back, listed idle with a fresh \
         heartbeat {:.2} s later; teardown ran {teardowns}×",
        secs(detection),
        secs(LOST_AFTER),
        secs(switched - cut_at),
        secs(stopped_after),
        secs(ORPHAN_AFTER),
        secs(back_after),
        secs(idle_after),
    );
    drop(cluster);
    assert_cleaned_up(&case_prefix(1));
}
