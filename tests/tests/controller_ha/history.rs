//! The history checker, Jepsen-style: clients submit and stop runs through every controller
//! while leaders and followers are killed and cut off; afterwards the history must be linear.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use volley_e2e::ha::{get, serial, Group, FAILOVER_BOUND, RUN_BOUND};
use volley_e2e::ha_lab::HaLab;
use volley_e2e::{volley_bin, Proc};

use super::{at_time, write_script};

/// One client operation of the history test, as the client saw it.
#[derive(Debug, Clone)]
struct Op {
    client: usize,
    /// `submit` (its note, unique per attempt) or `stop` (the run).
    kind: OpKind,
    /// When the client got its answer.
    ended: SystemTime,
    /// Exit code 0: acknowledged; otherwise the attempt may or may not have taken effect.
    acked: bool,
    /// What the client printed.
    said: String,
}

#[derive(Debug, Clone, PartialEq)]
enum OpKind {
    Submit { note: String, run: Option<u64> },
    Stop { run: u64 },
}

/// A run of two short iterations (about 1 s on an agent).
const TINY: &str = "import { sleep } from 'k6';\n\
export const options = { vus: 1, iterations: 2 };\n\
export default function () { sleep(0.3); }\n";

/// How long the clients and the nemesis go on.
const CHAOS: Duration = Duration::from_secs(40);

/// Runs `volley submit` or `volley stop` through every controller and records the outcome.
fn client_loop(
    client: usize,
    urls: String,
    script: PathBuf,
    until: Instant,
    ops: std::sync::Arc<std::sync::Mutex<Vec<Op>>>,
) {
    let mut mine: Vec<u64> = Vec::new();
    let mut k = 0u64;
    while Instant::now() < until {
        k += 1;
        // Two submits for one stop, the stop of one of this client's own runs.
        let stop = k
            .is_multiple_of(3)
            .then(|| mine.get((k as usize * 7) % mine.len().max(1)).copied());
        let mut cmd = Command::new(volley_bin());
        let kind = match stop.flatten() {
            Some(run) => {
                cmd.args(["stop", &run.to_string(), "--controller", &urls]);
                OpKind::Stop { run }
            }
            None => {
                let note = format!("c{client}-op{k}");
                cmd.args(["submit", "--controller", &urls, "--note", &note])
                    .args(["--name", &note])
                    .arg(&script);
                OpKind::Submit { note, run: None }
            }
        };
        cmd.env_remove("VOLLEY_TOKEN");
        let mut p = Proc::spawn(&mut cmd);
        let code = p.wait_exit(Duration::from_secs(90)).and_then(|s| s.code());
        let said = format!("{}{}", p.stdout.text(), p.stderr.text());
        let acked = code == Some(0);
        let kind = match kind {
            OpKind::Submit { note, .. } => {
                // "run 7 submitted (test 9); …"
                let run = said
                    .lines()
                    .find_map(|l| l.strip_prefix("run ")?.split(' ').next()?.parse().ok());
                if acked {
                    mine.extend(run);
                }
                OpKind::Submit { note, run }
            }
            stop => stop,
        };
        ops.lock().unwrap_or_else(|e| e.into_inner()).push(Op {
            client,
            kind,
            ended: SystemTime::now(),
            acked,
            said,
        });
        std::thread::sleep(Duration::from_millis(700));
    }
}

/// The history checker. It found liveness bugs of failover (docs/ha.md#leadership): agents
/// left busy with runs the new leader did not drive, so the queue drained at one run per
/// `agent_lost_after`, and runs left VALIDATED by a submit cut short, never ended. About
/// 50–90 s on a loaded 2-core machine.
#[test]
fn concurrent_submits_and_stops_through_kills_and_partitions_keep_one_history() {
    let _serial = serial();
    let Some(mut lab) = HaLab::start(
        "controller_ha history",
        "controller-ha-history",
        "10.253.2",
        "02:00:5e:00:5e:12",
    ) else {
        return;
    };
    let script = write_script(&lab.dir, "tiny.js", TINY);
    let (group, links) = (&mut lab.group, &lab.links);
    let first = group.leader(FAILOVER_BOUND);
    let _agents = group.agents(&["ha-1", "ha-2", "ha-3"], first);

    // Three clients submit and stop runs through every controller while the nemesis below
    // kills and cuts off controllers.
    let t0 = Instant::now();
    let until = t0 + CHAOS;
    let ops = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (1..=3)
        .map(|c| {
            let (urls, script, ops) = (group.rest_urls(c), script.clone(), ops.clone());
            std::thread::spawn(move || client_loop(c as usize, urls, script, until, ops))
        })
        .collect();
    let at = |secs: u64| {
        let when = t0 + Duration::from_secs(secs);
        std::thread::sleep(when.saturating_duration_since(Instant::now()));
    };
    let log = |what: String| println!("{:>5.1} s  {what}", t0.elapsed().as_secs_f64());
    let others = |g: &Group, id: u64| g.ids().into_iter().filter(move |&o| o != id);
    // 1. The leader is killed, and started again 3 s later.
    at(4);
    let leader = group.leader(FAILOVER_BOUND);
    group.kill(leader);
    log(format!("killed leader {leader}"));
    at(7);
    group.start(leader);
    // 2. The leader is cut off from both followers; it steps down and stops; healed, it is
    //    started again.
    at(12);
    let leader = group.leader(FAILOVER_BOUND);
    for o in others(group, leader).collect::<Vec<_>>() {
        links.cut(leader, o);
    }
    log(format!("cut off leader {leader}"));
    let code = group.wait_exit(leader, FAILOVER_BOUND);
    log(format!("node {leader} stopped (exit {code})"));
    for o in others(group, leader).collect::<Vec<_>>() {
        links.mend(leader, o);
    }
    group.start(leader);
    // 3. A follower is killed and started again.
    at(22);
    let leader = group.leader(FAILOVER_BOUND);
    let follower = others(group, leader).next().expect("a follower");
    group.kill(follower);
    log(format!("killed follower {follower}"));
    at(25);
    group.start(follower);
    // 4. A follower is cut off from the others (a minority partition), then healed.
    at(28);
    let leader = group.leader(FAILOVER_BOUND);
    let follower = others(group, leader).next_back().expect("a follower");
    for o in others(group, follower).collect::<Vec<_>>() {
        links.cut(follower, o);
    }
    log(format!("cut off follower {follower}"));
    at(32);
    for o in others(group, follower).collect::<Vec<_>>() {
        links.mend(follower, o);
    }
    // 5. The leader is killed once more.
    at(34);
    let leader = group.leader(FAILOVER_BOUND);
    group.kill(leader);
    log(format!("killed leader {leader}"));
    at(36);
    group.start(leader);
    for c in clients {
        c.join().expect("client thread");
    }
    let ops = ops.lock().unwrap_or_else(|e| e.into_inner()).clone();
    log(format!("{} client operations", ops.len()));

    // Settle: every run ends (the queued ones run), and the nodes agree.
    let leader = group.leader(FAILOVER_BOUND);
    let settle = Instant::now();
    let runs = loop {
        let list = get(group.node(leader), "/loadtests/v2/runs?page_size=1000");
        let runs: Vec<serde_json::Value> = list["k6-runs"].as_array().cloned().unwrap_or_default();
        if runs
            .iter()
            .all(|r| r["run_status"].as_i64().is_some_and(|s| s >= 3))
        {
            break runs;
        }
        assert!(
            settle.elapsed() < Duration::from_secs(90),
            "runs still not ended 90 s after the chaos: {:?}\n{}",
            runs.iter()
                .filter(|r| r["run_status"].as_i64().is_none_or(|s| s < 3))
                .map(|r| (r["id"].clone(), r["run_status"].clone(), r["note"].clone()))
                .collect::<Vec<_>>(),
            group.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let state = group.wait_same_state(RUN_BOUND);
    log(format!(
        "{} runs, all ended; every node holds {state}",
        runs.len()
    ));

    // The checker.
    let mut problems: Vec<String> = Vec::new();
    let mut by_note: std::collections::BTreeMap<String, Vec<&serde_json::Value>> =
        Default::default();
    let mut ids = std::collections::BTreeSet::new();
    let mut tests = std::collections::BTreeSet::new();
    for r in &runs {
        if !ids.insert(r["id"].as_u64()) {
            problems.push(format!("run id {} listed twice", r["id"]));
        }
        if !tests.insert(r["test_id"].as_u64()) {
            problems.push(format!(
                "test {} has two runs (one submit each)",
                r["test_id"]
            ));
        }
        by_note
            .entry(r["note"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(r);
    }
    let attempted: std::collections::BTreeSet<String> = ops
        .iter()
        .filter_map(|o| match &o.kind {
            OpKind::Submit { note, .. } => Some(note.clone()),
            OpKind::Stop { .. } => None,
        })
        .collect();
    for (note, rs) in &by_note {
        if !attempted.contains(note) {
            problems.push(format!(
                "run(s) {rs:?} with note {note:?} that no client submitted"
            ));
        }
        if rs.len() > 1 {
            let ids: Vec<_> = rs.iter().map(|r| r["id"].clone()).collect();
            problems.push(format!(
                "one submit ({note}) made {} runs: {ids:?}",
                rs.len()
            ));
        }
    }
    let mut acked_submits = 0;
    let mut acked_stops = 0;
    for op in &ops {
        match (&op.kind, op.acked) {
            (OpKind::Submit { note, run }, true) => {
                acked_submits += 1;
                let found = by_note.get(note).map_or(0, Vec::len);
                if found != 1 {
                    problems.push(format!(
                        "acknowledged submit {note} (run {run:?}) exists {found} times"
                    ));
                } else if by_note[note][0]["id"].as_u64() != *run {
                    problems.push(format!(
                        "acknowledged submit {note} was told run {run:?}, the group holds run {} for it",
                        by_note[note][0]["id"]
                    ));
                }
            }
            (OpKind::Stop { run }, true) => {
                acked_stops += 1;
                let Some(r) = runs.iter().find(|r| r["id"].as_u64() == Some(*run)) else {
                    problems.push(format!("stopped run {run} does not exist"));
                    continue;
                };
                // Stopped: ABORTED_BY_USER, unless it had ended before the stop was answered.
                let ended = r["transitions"]
                    .as_array()
                    .and_then(|t| t.last())
                    .and_then(|t| t["at"].as_str())
                    .map(at_time);
                let before = ended.is_some_and(|e| e <= op.ended + Duration::from_secs(1));
                if r["run_status"] != 5 && !before {
                    problems.push(format!(
                        "run {run}'s stop was acknowledged ({:?}) but it ended {} later: {}",
                        op.said.trim(),
                        r["run_status"],
                        r["transitions"]
                    ));
                }
            }
            _ => {}
        }
    }
    println!(
        "history: {} operations ({acked_submits} submits and {acked_stops} stops acknowledged, \
         {} not), {} runs",
        ops.len(),
        ops.iter().filter(|o| !o.acked).count(),
        runs.len()
    );
    for o in ops.iter().filter(|o| !o.acked) {
        println!(
            "  not acknowledged (client {}): {:?}: {}",
            o.client,
            o.kind,
            o.said.trim()
        );
    }
    assert!(acked_submits >= 10, "too few submits got through: {ops:?}");
    assert!(
        problems.is_empty(),
        "the history is not linear:\n{}\n{}",
        problems.join("\n"),
        group.logs()
    );
    lab.finish();
}
