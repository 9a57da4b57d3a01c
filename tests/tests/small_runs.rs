//! Small runs over several agents end to end: every executor, with 1 and 3 VUs, split over 1 to
//! 4 agents, starts and ends — including the agents whose execution segment gets no VU or no
//! iteration at all (1 VU over 4 agents leaves three of them with nothing: they take part in
//! the run, skip the scenario as k6 does, and end at once). Iteration totals are exact where the
//! executor fixes them (iteration-based executors; for arrival-rate ones, iterations plus
//! dropped_iterations).
//!
//! Two clusters of 4 agents (one per test, in parallel), each running its cases one after the
//! other; a case is a run of about a second.

use std::path::PathBuf;
use std::time::Duration;

use volley_e2e::{temp_dir, Cluster};

/// Longest one small run may take from `submit` to its exit.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// One executor with `vus` VUs: its scenario options (JS object literal) and the exact
/// iteration total, when the executor fixes one.
fn scenario(executor: &str, vus: u64) -> (String, Option<u64>) {
    match executor {
        "shared-iterations" => (
            format!("{{ executor: 'shared-iterations', vus: {vus}, iterations: {} }}", vus + 2),
            Some(vus + 2),
        ),
        "per-vu-iterations" => (
            format!("{{ executor: 'per-vu-iterations', vus: {vus}, iterations: 2 }}"),
            Some(vus * 2),
        ),
        "constant-vus" => (
            format!("{{ executor: 'constant-vus', vus: {vus}, duration: '1s' }}"),
            None,
        ),
        "ramping-vus" => (
            format!(
                "{{ executor: 'ramping-vus', startVUs: {vus}, stages: [{{ target: {vus}, duration: '1s' }}], gracefulRampDown: '0s' }}"
            ),
            None,
        ),
        "externally-controlled" => (
            format!(
                "{{ executor: 'externally-controlled', vus: {vus}, maxVUs: {vus}, duration: '1s' }}"
            ),
            None,
        ),
        // 5 iterations/s for 1 s: exactly 5 iterations (each takes 50 ms; maxVUs leaves room).
        "constant-arrival-rate" => (
            format!(
                "{{ executor: 'constant-arrival-rate', rate: 5, duration: '1s', preAllocatedVUs: {vus}, maxVUs: {vus} }}"
            ),
            Some(5),
        ),
        "ramping-arrival-rate" => (
            format!(
                "{{ executor: 'ramping-arrival-rate', startRate: 5, stages: [{{ target: 5, duration: '1s' }}], preAllocatedVUs: {vus}, maxVUs: {vus} }}"
            ),
            Some(5),
        ),
        other => panic!("unknown executor {other}"),
    }
}

const EXECUTORS: [&str; 7] = [
    "shared-iterations",
    "per-vu-iterations",
    "constant-vus",
    "ramping-vus",
    "externally-controlled",
    "constant-arrival-rate",
    "ramping-arrival-rate",
];

/// Writes the script of one case and returns its path.
fn write_script(dir: &std::path::Path, executor: &str, vus: u64, agents: u64) -> PathBuf {
    let (sc, _) = scenario(executor, vus);
    let path = dir.join(format!("{executor}-{vus}vu-{agents}agents.js"));
    let js = format!(
        "import {{ sleep }} from 'k6';\n\
         export const options = {{\n  scenarios: {{ only: {sc} }},\n  volley: {{ agents: {agents} }},\n}};\n\
         export default function () {{ sleep(0.05); }}\n"
    );
    std::fs::write(&path, js).expect("write the case's script");
    path
}

/// Runs every executor with `vus` VUs over each agent count in `agent_counts`, one after the
/// other on one cluster of 4 agents; each must exit 0, end FINISHED and, where the executor
/// fixes it, count exactly its planned iterations.
fn run_cases(name: &str, vus: u64, agent_counts: &[u64]) {
    let cluster = Cluster::start(name, 4);
    let dir = temp_dir(&format!("small-runs-{name}"));
    let mut previous = 0;
    for &agents in agent_counts {
        for executor in EXECUTORS {
            let case = format!("{executor}, {vus} VU(s) over {agents} agent(s)");
            let script = write_script(&dir, executor, vus, agents);
            let mut submit = cluster.submit(&script, &[]);
            let code = cluster.submit_exit_code(&mut submit, RUN_TIMEOUT);
            assert_eq!(
                code,
                0,
                "{case}: volley submit exit code\n--- stdout\n{}\n--- stderr\n{}\n{}",
                submit.stdout.text(),
                submit.stderr.text(),
                cluster.agent_logs()
            );
            let id = cluster.latest_run_id().expect("the run is listed");
            assert!(id > previous, "{case}: no new run was created");
            previous = id;
            let run = cluster.run(id).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(run["run_status"], 3, "{case}: run_status of {run}");
            assert_eq!(
                run["assignments"].as_array().map(Vec::len),
                Some(agents as usize),
                "{case}: the run is placed on {agents} agent(s): {run}"
            );
            let summary = cluster.summary(id);
            let iterations = summary["metrics"]["iterations"]["values"]["count"]
                .as_f64()
                .unwrap_or(0.0);
            // Arrival-rate executors start every planned iteration or count it in
            // dropped_iterations (k6's contract: the VU was busy when it was due, which happens
            // on a loaded machine); iteration-based executors run each one.
            let dropped = if executor.ends_with("arrival-rate") {
                summary["metrics"]["dropped_iterations"]["values"]["count"]
                    .as_f64()
                    .unwrap_or(0.0)
            } else {
                0.0
            };
            match scenario(executor, vus).1 {
                Some(want) => {
                    assert_eq!(
                        iterations + dropped,
                        want as f64,
                        "{case}: merged iterations {iterations} + dropped {dropped} (want exactly {want})"
                    );
                    assert!(iterations > 0.0, "{case}: no iteration ran");
                }
                None => assert!(
                    iterations > 0.0,
                    "{case}: no iteration ran: {}\n{}",
                    summary["metrics"],
                    cluster.agent_logs()
                ),
            }
        }
    }
}

#[test]
fn one_vu_runs_over_one_to_four_agents() {
    run_cases("small-1vu", 1, &[1, 2, 3, 4]);
}

#[test]
fn three_vus_run_over_two_and_four_agents() {
    run_cases("small-3vu", 3, &[2, 4]);
}
