//! The command line (`controller-scale --help`): what to measure and how, each option checked
//! with an error that names it and says what to give.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};

use crate::dashboards::MAX_DASHBOARDS;
use crate::run_start;

pub const USAGE: &str = "usage: controller-scale [--volley PATH] [--agents 10,100,1000] [--dashboards 0,10] [--duration SECONDS] [--rps N] [--idle SECONDS] [--controller-cpu N|none] [--controllers 1,3] [--submits N] [--run-start AGENTSxVUS [--trials N]] [--follow SECONDS] [--json PATH]
       controller-scale --merge-cost BATCHES [--rps N]

  --volley PATH        the volley binary whose controller is measured (default: target/release/volley)
  --agents LIST        agent counts, one measurement each (default: 10,100,1000)
  --dashboards LIST    dashboards open on the run during it (its live stream each, at most 64):
                       one measurement per agent count and dashboard count (default: 0)
  --duration SECONDS   the run's length: one metric batch per agent per second (default: 20, at most 3600)
  --rps N              requests per second each simulated agent reports (default: 100, ~19 KiB batches)
  --idle SECONDS       how long the controller is measured with heartbeats only (default: 3)
  --controller-cpu N   the CPU the controller is pinned to with taskset (default: 1 when there are
                       two or more, else none); a group's controllers share it
  --controllers LIST   1 (one controller) or an odd group size; more than one value prints the
                       replication table: each agent count on each, and each group over one
                       controller (default: 1)
  --submits N          while the run goes, submit N one-agent tests one after another (each
                       queued, then stopped) and time each submit (default: 0; 20 with a
                       --controllers list)
  --run-start AxV      the run-start row: on one controller with A simulated agents, --trials
                       runs whose plan gives each agent V VUs, each timed from submit to the
                       Start barrier on every agent (e.g. 100x1000); alone, it skips the
                       agent-count measurements (give --agents too for both)
  --trials N           run-start trials (default: 5)
  --follow SECONDS     while the run goes, read its record (GET /loadtests/v2/runs/{id}) every
                       SECONDS, as `volley submit --wait` does each second (default: 0, not
                       read; it is always read once after the run, its size printed)
  --json PATH          also write the rows, the verdicts and the run-start trials as JSON
                       (bench/run.sh passes it for bench/summary.py)
  --merge-cost BATCHES no controller: decode and merge BATCHES prepared batches with the
                       controller's code in this process and print the time per batch
                       (bench/merge_cost.sh counts its instructions per batch with callgrind)";

/// What to measure, from the command line.
#[derive(Debug)]
pub struct Args {
    pub volley: PathBuf,
    /// The agent counts of the curve, one measurement each (empty: no curve).
    pub agents: Vec<usize>,
    pub dashboards: Vec<usize>,
    /// The run's length in seconds: each agent sends one batch a second.
    pub duration: u64,
    pub rps: u32,
    /// Seconds of heartbeats only, measured before the run.
    pub idle: u64,
    /// The CPU the controllers are pinned to (`None`: not pinned, and nothing is judged).
    pub cpu: Option<usize>,
    pub controllers: Vec<u64>,
    /// Timed submits while the run goes (`None`: 20 for the replication table, else 0).
    pub submits: Option<usize>,
    /// `--merge-cost`: no controller, only the merge's cost over this many batches.
    pub merge_cost: Option<u64>,
    pub run_start: Option<run_start::Spec>,
    pub trials: usize,
    /// `--follow`: seconds between reads of the run's record while it goes (0: none).
    pub follow: u64,
    pub json: Option<PathBuf>,
    /// Whether `--agents` was given (with `--run-start` alone, the curve is not measured).
    agents_given: bool,
}

impl Args {
    /// This process's command line; `--help` prints the usage and exits.
    pub fn from_env() -> Result<Args> {
        // The machine's CPUs, not this process's share (run.sh pins the harness to CPU 0).
        // SAFETY: sysconf only reads a configuration value.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
        let Some(a) = parse(std::env::args().skip(1), cpus)? else {
            println!("{USAGE}");
            std::process::exit(0);
        };
        if a.merge_cost.is_none() && !a.volley.exists() {
            bail!(
                "{} does not exist: build it with `cargo build --release -p volley` or give --volley PATH",
                a.volley.display()
            );
        }
        Ok(a)
    }

    /// Whether this is a comparison of controller counts (the replication table).
    pub fn replication(&self) -> bool {
        self.controllers != [1]
    }
}

/// The options (without the program's name) on a machine with `cpus` CPUs; `None` for `--help`.
pub fn parse(args: impl IntoIterator<Item = String>, cpus: usize) -> Result<Option<Args>> {
    let mut a = Args {
        volley: PathBuf::from("target/release/volley"),
        agents: vec![10, 100, 1000],
        dashboards: vec![0],
        duration: 20,
        rps: 100,
        idle: 3,
        cpu: (cpus >= 2).then_some(1),
        controllers: vec![1],
        submits: None,
        merge_cost: None,
        run_start: None,
        trials: 5,
        follow: 0,
        json: None,
        agents_given: false,
    };
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = it
            .next()
            .ok_or_else(|| anyhow!("{flag} needs a value\n{USAGE}"))?;
        let number = |what: &str| -> Result<u64> {
            value
                .parse::<u64>()
                .map_err(|_| anyhow!("{flag} {value:?}: give {what}"))
        };
        match flag.as_str() {
            "--volley" => a.volley = PathBuf::from(&value),
            "--agents" => {
                a.agents_given = true;
                a.agents = value
                    .split(',')
                    .map(|n| n.trim().replace('_', "").parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| anyhow!("--agents {value:?}: give counts such as 10,100,1000"))?;
                if a.agents.contains(&0) {
                    bail!("--agents {value:?}: every count must be at least 1");
                }
            }
            "--dashboards" => {
                a.dashboards = value
                    .split(',')
                    .map(|n| n.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| anyhow!("--dashboards {value:?}: give counts such as 0,10"))?;
                if a.dashboards.iter().any(|d| *d > MAX_DASHBOARDS) {
                    bail!("--dashboards {value:?}: a controller holds at most {MAX_DASHBOARDS} live streams");
                }
            }
            "--duration" => a.duration = number("whole seconds, e.g. 20")?.clamp(2, 3600),
            "--rps" => a.rps = number("requests per second, e.g. 100")?.clamp(5, 100_000) as u32,
            "--idle" => a.idle = number("whole seconds, e.g. 3")?.min(60),
            "--controllers" => {
                a.controllers = value
                    .split(',')
                    .map(|n| n.trim().parse::<u64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| anyhow!("--controllers {value:?}: give counts such as 1,3"))?;
                if a.controllers.iter().any(|&n| n == 0 || n % 2 == 0 || n > 7) {
                    bail!(
                        "--controllers {value:?}: give 1 or an odd group size up to 7, such as 1,3"
                    );
                }
            }
            "--submits" => a.submits = Some(number("a count, e.g. 20")?.min(1000) as usize),
            "--merge-cost" => a.merge_cost = Some(number("a number of batches, e.g. 2000")?),
            "--run-start" => a.run_start = Some(value.parse()?),
            "--trials" => a.trials = number("a count, e.g. 5")?.clamp(1, 100) as usize,
            "--follow" => a.follow = number("whole seconds, e.g. 1")?.min(60),
            "--json" => a.json = Some(PathBuf::from(&value)),
            "--controller-cpu" if value == "none" => a.cpu = None,
            "--controller-cpu" => a.cpu = Some(number("a CPU number or none")? as usize),
            _ => bail!("unknown option {flag}\n{USAGE}"),
        }
    }
    if a.run_start.is_some() && !a.agents_given {
        a.agents.clear();
    }
    Ok(Some(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Option<Args>> {
        parse(line.split_whitespace().map(String::from), 2)
    }

    fn error(line: &str) -> String {
        format!("{:#}", args(line).unwrap_err())
    }

    #[test]
    fn the_defaults_measure_three_counts_on_cpu_1() {
        let a = args("").unwrap().unwrap();
        assert_eq!(a.agents, [10, 100, 1000]);
        assert_eq!((a.duration, a.rps, a.idle, a.trials), (20, 100, 3, 5));
        assert_eq!(a.cpu, Some(1));
        assert!(!a.replication());
        let one_cpu = parse(Vec::new(), 1).unwrap().unwrap();
        assert_eq!(one_cpu.cpu, None);
        assert!(args("--help").unwrap().is_none());
    }

    #[test]
    fn options_are_read_and_bounded() {
        let a = args("--agents 10,1_000 --duration 1 --controllers 1,3 --controller-cpu none")
            .unwrap()
            .unwrap();
        assert_eq!(a.agents, [10, 1000]);
        assert_eq!(a.duration, 2);
        assert!(a.replication());
        assert_eq!(a.cpu, None);
        // --run-start alone measures no curve; with --agents, both.
        assert!(args("--run-start 100x1000")
            .unwrap()
            .unwrap()
            .agents
            .is_empty());
        let both = args("--run-start 100x1000 --agents 10").unwrap().unwrap();
        assert_eq!(both.agents, [10]);
        assert_eq!(args("--follow 1").unwrap().unwrap().follow, 1);
        assert_eq!(args("").unwrap().unwrap().follow, 0);
    }

    #[test]
    fn each_bad_option_is_named_with_what_to_give() {
        for (line, says) in [
            (
                "--agents 0",
                "--agents \"0\": every count must be at least 1",
            ),
            (
                "--agents ten",
                "--agents \"ten\": give counts such as 10,100,1000",
            ),
            ("--dashboards 65", "at most 64 live streams"),
            (
                "--controllers 2",
                "--controllers \"2\": give 1 or an odd group size",
            ),
            ("--duration soon", "--duration \"soon\": give whole seconds"),
            ("--follow often", "--follow \"often\": give whole seconds"),
            ("--run-start 100", "--run-start \"100\": give AGENTSxVUS"),
            ("--agents", "--agents needs a value"),
            ("--fast yes", "unknown option --fast"),
        ] {
            let e = error(line);
            assert!(e.contains(says), "{line}: {e}");
        }
    }
}
