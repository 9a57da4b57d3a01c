//! The agents curve: one [`measure`](crate::measure) per agent count (× dashboard count ×
//! controller count), printed as a markdown table while it goes, then issue 23's verdicts on
//! the single-controller rows (`verdict`), or with `--controllers 1,3` the replication table.

use tokio::runtime::Runtime;

use crate::args::Args;
use crate::measure::measure;
use crate::probe::load_average;
use crate::replication;
use crate::row::Row;
use crate::verdict;

/// What the curve measured.
#[derive(Default)]
pub struct Curve {
    pub rows: Vec<Row>,
    /// Single-controller rows without dashboards, by agent count, for the verdicts; a harness
    /// error is a point that did not finish.
    pub points: Vec<verdict::Point>,
    /// A measurement could not be made, or a FINISHED run's totals differ.
    pub failed: bool,
}

/// Measures each of `agents` and prints the table; the counts in `skipped` (with why) get a
/// row that says so. Prints nothing when both are empty.
pub fn run(rt: &Runtime, args: &Args, agents: &[usize], skipped: &[(usize, String)]) -> Curve {
    let mut curve = Curve::default();
    if agents.is_empty() && skipped.is_empty() {
        return curve;
    }
    println!(
        "Controller scale: one run over N simulated agents, {} s, one batch per agent per second ({} requests/s per agent), controller on CPU {}",
        args.duration,
        args.rps,
        args.cpu.map_or("any".into(), |c| c.to_string())
    );
    if args.replication() {
        println!(
            "Controllers compared: {:?}; load average {:.1} at the start",
            args.controllers,
            load_average()
        );
    }
    println!();
    println!(
        "{}",
        if args.replication() {
            replication::header()
        } else {
            Row::header()
        }
    );
    let runs: Vec<(usize, usize, u64)> = agents
        .iter()
        .flat_map(|&n| args.dashboards.iter().map(move |&d| (n, d)))
        .flat_map(|(n, d)| args.controllers.iter().map(move |&c| (n, d, c)))
        .collect();
    for (n, d, c) in runs {
        eprintln!("controller-scale: {c} controller(s), {n} agents, {d} dashboards");
        match measure(rt, args, c, n, d) {
            Ok(row) => {
                if args.replication() {
                    println!("{}", replication::line(&row));
                } else {
                    println!("{}", row.line());
                }
                for note in &row.notes {
                    eprintln!("  note: {note}");
                }
                curve.failed |= !row.totals_exact && row.status == "FINISHED";
                if c == 1 && d == 0 {
                    curve.points.push(row.point());
                }
                curve.rows.push(row);
            }
            Err(e) => {
                if args.replication() {
                    println!("{}", replication::error_line(c, n));
                } else {
                    println!("{}", Row::error_line(n, d));
                }
                eprintln!("  error: {e:#}");
                if c == 1 && d == 0 {
                    curve.points.push(verdict::Point {
                        agents: n,
                        status: "harness error".into(),
                        totals_exact: false,
                        lag_p99_ms: f64::NAN,
                        run_cores: f64::NAN,
                        agent_lost: false,
                    });
                }
                curve.failed = true;
            }
        }
    }
    for (n, why) in skipped {
        println!("| {n} | – | skipped: {why} |");
    }
    // Each group over one controller with the same agents and dashboards.
    for g in curve.rows.iter().filter(|r| r.controllers > 1) {
        let one = curve
            .rows
            .iter()
            .find(|r| r.controllers == 1 && r.agents == g.agents && r.dashboards == g.dashboards);
        if let Some(one) = one {
            println!("{}", replication::ratio_line(g, one));
        }
    }
    if !curve.points.is_empty() {
        println!();
        for line in verdict::lines(&curve.points, args.cpu.is_some()) {
            println!("- {line}");
        }
    }
    curve
}
