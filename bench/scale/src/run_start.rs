//! `--run-start AGENTSxVUS`: issue 23's run-start row (bench/README.md, "Run start"). One
//! controller and AGENTS simulated agents; each trial submits a test whose plan gives every
//! agent VUS VUs (the Assign's segment of the test's `vus`, which each agent reports back in
//! READY, as a real agent does) and times submit → the Start barrier on every agent, the
//! moment a real agent's VUs begin. The simulated agents answer Assign at once: the VUs' own
//! init is the startup row's figure, printed beside it.

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use tokio::runtime::Runtime;
use volley_api::client::Client;

use crate::agent::Fleet;
use crate::batches;
use crate::controller::Controller;
use crate::probe::quantile;
use crate::rest::{create_test_vus, final_status};
use crate::wait::wait_for;

/// Submit → every agent RUNNING may take this long, plus the VUs' init (issue 23).
pub const GOAL_S: f64 = 2.0;
/// The startup row's last figure: 10,000 VUs initialised in 1.81 s on one core
/// (docs/benchmarks.md#start-up-10000-vus-process-start-to-setup-one-core).
pub const STARTUP_S_PER_10K_VUS: f64 = 1.81;
/// Each trial's run: long enough for a batch or two, short enough for many trials.
const RUN_SECONDS: u64 = 2;
/// Longest a trial may take to reach the barrier or to end.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(120);

/// AGENTSxVUS: the agents and the VUs the plan gives each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    pub agents: usize,
    pub vus_per_agent: u64,
}

impl FromStr for Spec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Spec> {
        let bad = || anyhow!("--run-start {s:?}: give AGENTSxVUS, such as 100x1000");
        let (a, v) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let agents: usize = a.trim().replace('_', "").parse().map_err(|_| bad())?;
        let vus_per_agent: u64 = v.trim().replace('_', "").parse().map_err(|_| bad())?;
        if agents == 0 || vus_per_agent == 0 {
            bail!("--run-start {s:?}: the agents and the VUs per agent must be at least 1");
        }
        if vus_per_agent > 1_000_000 || agents > 100_000 {
            bail!("--run-start {s:?}: at most 100000 agents and 1000000 VUs per agent");
        }
        Ok(Spec {
            agents,
            vus_per_agent,
        })
    }
}

/// One trial's figures.
pub struct Trial {
    /// Submit → the last agent's Start message arrived, s.
    pub last_start_s: f64,
    /// Submit → the latest Start barrier (every agent RUNNING, its VUs begin), s.
    pub all_running_s: f64,
    /// The fewest and the most VUs an Assign gave an agent, and their sum.
    pub vus: (u64, u64, u64),
    pub status: String,
}

pub struct Outcome {
    pub spec: Spec,
    pub trials: Vec<Trial>,
    pub notes: Vec<String>,
}

impl Outcome {
    fn running(&self) -> Vec<f64> {
        self.trials.iter().map(|t| t.all_running_s).collect()
    }

    /// p50 and max of submit → all RUNNING over the trials, s.
    pub fn p50_max(&self) -> (f64, f64) {
        let v = self.running();
        (quantile(&v, 0.5), quantile(&v, 1.0))
    }

    /// Every trial reached the barrier within the goal, planned as asked and finished.
    pub fn met(&self) -> bool {
        let (_, max) = self.p50_max();
        let planned = self.spec.vus_per_agent;
        max <= GOAL_S
            && self.trials.iter().all(|t| {
                t.status == "FINISHED"
                    && t.vus == (planned, planned, planned * self.spec.agents as u64)
            })
    }

    /// The VUs' own init per agent, estimated from the startup row, s.
    pub fn init_s(&self) -> f64 {
        STARTUP_S_PER_10K_VUS * self.spec.vus_per_agent as f64 / 10_000.0
    }

    pub fn print(&self) {
        println!();
        println!("| trial | submit → every Start arrived, s | submit → Start barrier (all RUNNING), s | VUs per agent (min / max) | VUs | status |");
        println!("|---:|---:|---:|---:|---:|---|");
        for (i, t) in self.trials.iter().enumerate() {
            println!(
                "| {} | {:.2} | {:.2} | {} / {} | {} | {} |",
                i + 1,
                t.last_start_s,
                t.all_running_s,
                t.vus.0,
                t.vus.1,
                t.vus.2,
                t.status
            );
        }
        println!();
        for line in self.lines() {
            println!("- {line}");
        }
    }

    /// The verdict lines.
    pub fn lines(&self) -> Vec<String> {
        let s = self.spec;
        let (p50, max) = self.p50_max();
        vec![
            format!(
                "run start, {} agents × {} VUs: submit → all agents RUNNING p50 {p50:.2} s, max {max:.2} s over {} trials (goal ≤ {GOAL_S} s plus the VUs' init) — {}",
                s.agents,
                s.vus_per_agent,
                self.trials.len(),
                if self.met() { "target met" } else { "target missed" }
            ),
            format!(
                "the VUs' init is not simulated (the agents answer Assign at once): the startup row's {} VUs per agent ≈ {:.2} s on one core (10,000 VUs in {STARTUP_S_PER_10K_VUS} s, docs/benchmarks.md), so a real run starts in about {:.2} s",
                s.vus_per_agent,
                self.init_s(),
                max + self.init_s()
            ),
        ]
    }

    pub fn json(&self) -> serde_json::Value {
        let (p50, max) = self.p50_max();
        serde_json::json!({
            "agents": self.spec.agents,
            "vus_per_agent": self.spec.vus_per_agent,
            "trials": self.trials.iter().map(|t| serde_json::json!({
                "last_start_s": t.last_start_s,
                "all_running_s": t.all_running_s,
                "vus_min": t.vus.0,
                "vus_max": t.vus.1,
                "vus_sum": t.vus.2,
                "status": t.status,
            })).collect::<Vec<_>>(),
            "p50_s": p50,
            "max_s": max,
            "goal_s": GOAL_S,
            "init_s_estimate": self.init_s(),
            "met": self.met(),
            "notes": self.notes,
        })
    }
}

/// Measures the run-start row and prints its section: the trials' table and the verdict
/// lines (`None`: the harness failed, and the section says so).
pub fn measure_and_print(
    rt: &Runtime,
    volley: &Path,
    cpu: Option<usize>,
    spec: Spec,
    trials: usize,
) -> Option<Outcome> {
    eprintln!(
        "controller-scale: run start, {} agents × {} VUs, {trials} trials",
        spec.agents, spec.vus_per_agent
    );
    println!(
        "Run start: submit → every agent RUNNING, {} simulated agents, a plan of {} VUs each ({} VUs), {trials} trials, controller on CPU {}",
        spec.agents,
        spec.vus_per_agent,
        spec.vus_per_agent.saturating_mul(spec.agents as u64),
        cpu.map_or("any".into(), |c| c.to_string())
    );
    match run(rt, volley, cpu, spec, trials) {
        Ok(out) => {
            out.print();
            for note in &out.notes {
                eprintln!("  note: {note}");
            }
            Some(out)
        }
        Err(e) => {
            println!("- run start: harness error (see stderr) — target missed");
            eprintln!("  error: {e:#}");
            None
        }
    }
}

/// Runs `trials` trials of `spec` on one fresh controller (pinned to `cpu`).
fn run(
    rt: &Runtime,
    volley: &Path,
    cpu: Option<usize>,
    spec: Spec,
    trials: usize,
) -> Result<Outcome> {
    let n = spec.agents;
    let ctrl = Controller::start(volley, cpu, n)?;
    let client = Client::new(&ctrl.rest)?.with_timeout(Duration::from_secs(20))?;
    let fleet = Arc::new(Fleet::new(batches::variants(8, 100), RUN_SECONDS).counting_vus());
    let agents = fleet.spawn(rt, &ctrl.grpc, n);
    let outcome = trials_on(&ctrl, &client, &fleet, spec, trials);
    agents.stop(rt);
    outcome.map_err(|e| e.context(format!("the controller's last lines:\n{}", ctrl.log_tail())))
}

fn trials_on(
    ctrl: &Controller,
    client: &Client,
    fleet: &Fleet,
    spec: Spec,
    trials: usize,
) -> Result<Outcome> {
    let n = spec.agents;
    let no_problem = || match fleet.problems().first() {
        Some(p) => bail!("an agent failed: {p}"),
        None => Ok(()),
    };
    fleet.wait_registered(n)?;
    // The scheduler offers an agent only after its first heartbeat.
    std::thread::sleep(Duration::from_millis(1500));
    let mut out = Outcome {
        spec,
        trials: Vec::new(),
        notes: Vec::new(),
    };
    let total_vus = spec.vus_per_agent.saturating_mul(n as u64);
    for trial in 1..=trials {
        fleet.take_starts();
        fleet.take_assigned_vus();
        let started = fleet.started.load(Ordering::SeqCst);
        let done = fleet.done.load(Ordering::SeqCst);
        let script = format!("// run start, trial {trial}\nexport default function () {{}}\n");
        let test = create_test_vus(client, n, total_vus, RUN_SECONDS, &script)?;
        let submitted = Instant::now();
        let run_id = client.start_testrun(test, &Default::default())?.run.id;
        let mut ended = None;
        wait_for("the Start barrier on every agent", TRIAL_TIMEOUT, || {
            no_problem()?;
            ended = final_status(client, run_id, false)?;
            Ok(fleet.started.load(Ordering::SeqCst) >= started + n || ended.is_some())
        })?;
        let starts = fleet.take_starts();
        let since = |t: Instant| t.saturating_duration_since(submitted).as_secs_f64();
        let last_start_s = starts.iter().map(|s| since(s.0)).fold(f64::NAN, f64::max);
        let all_running_s = starts.iter().map(|s| since(s.1)).fold(f64::NAN, f64::max);
        wait_for("every agent's DONE", TRIAL_TIMEOUT, || {
            no_problem()?;
            Ok(fleet.done.load(Ordering::SeqCst) >= done + n)
        })?;
        let mut status = ended;
        wait_for("the run to end", TRIAL_TIMEOUT, || {
            status = final_status(client, run_id, false)?;
            Ok(status.is_some())
        })?;
        let vus = fleet.take_assigned_vus();
        if vus.len() != n {
            out.notes.push(format!(
                "trial {trial}: {} of {n} agents were assigned",
                vus.len()
            ));
        }
        let t = Trial {
            last_start_s,
            all_running_s: if starts.len() == n {
                all_running_s
            } else {
                f64::NAN
            },
            vus: (
                vus.iter().copied().min().unwrap_or(0),
                vus.iter().copied().max().unwrap_or(0),
                vus.iter().sum(),
            ),
            status: status.unwrap_or_default(),
        };
        eprintln!(
            "  trial {trial}: run {run_id} RUNNING on all {n} agents {:.2} s after submit (last Start arrived at {:.2} s), {}",
            t.all_running_s, t.last_start_s, t.status
        );
        out.trials.push(t);
        // Agents are offered again once they are idle.
        std::thread::sleep(Duration::from_millis(1000));
    }
    out.notes.extend(fleet.problems());
    out.notes.extend(ctrl.log_lines("AGENT_LOST", 3));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(s: f64, vus: u64) -> Trial {
        Trial {
            last_start_s: s - 0.3,
            all_running_s: s,
            vus: (vus, vus, vus * 100),
            status: "FINISHED".into(),
        }
    }

    #[test]
    fn specs_are_agents_x_vus() {
        assert_eq!(
            "100x1000".parse::<Spec>().unwrap(),
            Spec {
                agents: 100,
                vus_per_agent: 1000
            }
        );
        assert_eq!("3X1_000".parse::<Spec>().unwrap().vus_per_agent, 1000);
        for bad in ["100", "x1000", "0x10", "10x0", "ax1"] {
            let e = bad.parse::<Spec>().unwrap_err().to_string();
            assert!(e.contains("--run-start"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_goal_is_every_trial_at_the_barrier_within_2_s_with_the_planned_vus() {
        let spec = Spec {
            agents: 100,
            vus_per_agent: 1000,
        };
        let out = |trials| Outcome {
            spec,
            trials,
            notes: vec![],
        };
        let ok = out(vec![trial(0.5, 1000), trial(0.7, 1000), trial(0.6, 1000)]);
        assert_eq!(ok.p50_max(), (0.6, 0.7));
        assert!(ok.met());
        assert!(ok.lines()[0].ends_with("target met"), "{:?}", ok.lines());
        assert!((ok.init_s() - 0.181).abs() < 1e-9);
        assert!(!out(vec![trial(0.5, 1000), trial(2.1, 1000)]).met());
        // A plan that did not give each agent its 1,000 VUs is no pass.
        assert!(!out(vec![trial(0.5, 1)]).met());
        let mut aborted = trial(0.5, 1000);
        aborted.status = "ABORTED_BY_SYSTEM".into();
        assert!(!out(vec![aborted]).met());
        // A trial whose barrier was not seen on every agent is no pass either.
        assert!(!out(vec![trial(f64::NAN, 1000)]).met());
        assert!(!out(vec![]).met());
    }
}
