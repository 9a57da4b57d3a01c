//! One measurement: N simulated agents on a fresh controller (or a Raft group), measured while
//! they only send heartbeats and then through one run over all of them, with D dashboards
//! open; the figures make a [`Row`] (bench/README.md, "Controller scale").

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use tokio::runtime::Runtime;
use volley_api::client::Client;

use crate::agent::Fleet;
use crate::args::Args;
use crate::batches::{self, Totals};
use crate::controller::Controller;
use crate::dashboards::Dashboards;
use crate::probe::{self, load_average, quantile};
use crate::replication::timed_submits;
use crate::rest::{checkpoints, create_test, final_status};
use crate::row::Row;
use crate::run_record::{self, RecordReads};
use crate::wait::{wait_for, Every};

/// How often the harness asks whether the run ended early while it waits for its agents: the
/// answer comes from `GET /metrics`, which lists every agent, and at 5,000 agents ten of them a
/// second were a share of the controller's CPU that *run, cores* then counted
/// (docs/benchmarks.md, session 13).
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// Measures `n` agents on `controllers` fresh controllers with `dashboards` open; on an error,
/// the controllers' last log lines are in it.
pub fn measure(
    rt: &Runtime,
    args: &Args,
    controllers: u64,
    n: usize,
    dashboards: usize,
) -> Result<Row> {
    // The leader first: the agents and the API client talk to it.
    let group = match controllers {
        1 => vec![Controller::start(&args.volley, args.cpu, n)?],
        c => Controller::start_group(&args.volley, args.cpu, n, c)?,
    };
    measure_on(rt, args, &group, n, dashboards).map_err(|e| {
        // What the controllers said last (a group's deposed leader says why it stopped).
        let tails: Vec<String> = group
            .iter()
            .map(|c| format!("--- {}\n{}", c.rest, c.log_tail()))
            .collect();
        e.context(tails.join("\n"))
    })
}

fn measure_on(
    rt: &Runtime,
    args: &Args,
    group: &[Controller],
    n: usize,
    dashboards: usize,
) -> Result<Row> {
    let controllers = group.len() as u64;
    let ctrl = &group[0];
    let group_cpu = || -> Result<f64> { group.iter().map(|c| c.proc.cpu_seconds()).sum() };
    let submits = args
        .submits
        .unwrap_or(if args.replication() { 20 } else { 0 });
    let alone = submits == 0;
    let client = Client::new(&ctrl.rest)?.with_timeout(Duration::from_secs(20))?;
    let variants = batches::variants(8, args.rps);
    let batch_kib =
        variants.iter().map(|v| v.bytes).sum::<usize>() as f64 / variants.len() as f64 / 1024.0;
    let fleet = Arc::new(Fleet::new(variants, args.duration));
    let agents = fleet.spawn(rt, &ctrl.grpc, n);
    if let Err(e) = fleet.wait_registered(n) {
        agents.stop(rt);
        return Err(e);
    }
    eprintln!(
        "  {n} agents registered; heartbeats only for {} s",
        args.idle
    );
    // The scheduler offers an agent only after its first heartbeat.
    std::thread::sleep(Duration::from_millis(1200));
    let (cpu0, t0) = (ctrl.proc.cpu_seconds()?, Instant::now());
    std::thread::sleep(Duration::from_secs(args.idle));
    let idle_cores = (ctrl.proc.cpu_seconds()? - cpu0) / t0.elapsed().as_secs_f64();

    let test_id = create_test(&client, n, args.duration)?;
    let submitted = Instant::now();
    let run_id = client.start_testrun(test_id, &Default::default())?.run.id;
    let (stop_poll, poller) = probe::spawn_poller(client.clone(), run_id, fleet.clone(), n);
    let follower = (args.follow > 0)
        .then(|| run_record::follow(client.clone(), run_id, Duration::from_secs(args.follow)));
    let dash = match dashboards {
        0 => None,
        d => Some(Dashboards::open(rt, &ctrl.rest, run_id, d)?),
    };
    let dash_bytes = || dash.as_ref().map_or(0, Dashboards::bytes);
    let mut dashboard_kib_s = f64::NAN;
    let (mut group_cores, mut checkpoint_kib_s, mut checkpoint_ms) = (f64::NAN, f64::NAN, f64::NAN);
    let mut submit_ms = Vec::new();
    let limit = Duration::from_secs(args.duration + 120);
    let run = (|| -> Result<(f64, f64, String)> {
        let mut ask = Every::new(STATUS_EVERY);
        wait_for("the Start barrier on every agent", limit, || {
            Ok(fleet.started.load(Ordering::SeqCst) == n
                || (ask.due() && final_status(&client, run_id, alone)?.is_some()))
        })?;
        let start_s = submitted.elapsed().as_secs_f64();
        eprintln!("  run {run_id} started on every agent after {start_s:.2} s");
        let (cpu1, t1, b1) = (ctrl.proc.cpu_seconds()?, Instant::now(), dash_bytes());
        let writes1 = ctrl.proc.write_calls()?;
        let (all1, ck1) = (group_cpu()?, checkpoints(&client)?);
        let submitter = (submits > 0).then(|| {
            let (client, fleet) = (client.clone(), fleet.clone());
            std::thread::spawn(move || timed_submits(&client, submits, &fleet))
        });
        let mut ask = Every::new(STATUS_EVERY);
        wait_for("every agent's DONE", limit, || {
            Ok(fleet.done.load(Ordering::SeqCst) == n
                || (ask.due() && final_status(&client, run_id, alone)?.is_some()))
        })?;
        let secs = t1.elapsed().as_secs_f64();
        let run_cores = (ctrl.proc.cpu_seconds()? - cpu1) / secs;
        group_cores = (group_cpu()? - all1) / secs;
        let ck2 = checkpoints(&client)?;
        checkpoint_kib_s = (ck2.0 - ck1.0) / secs / 1024.0;
        checkpoint_ms = 1e3 * (ck2.2 - ck1.2) / (ck2.1 - ck1.1);
        let task_ms = 1e3 * (ck2.3 - ck1.3) / (ck2.1 - ck1.1);
        let writes = (ctrl.proc.write_calls()? - writes1) / secs;
        eprintln!(
            "  while the agents sent: {writes:.0} write calls/s ({:.2} per agent), checkpoints {checkpoint_kib_s:.0} KiB/s, {checkpoint_ms:.1} ms each, {task_ms:.1} ms of it on the run's task",
            writes / n as f64
        );
        if let Some(s) = submitter {
            submit_ms = s.join().map_err(|_| anyhow!("the submitter panicked"))??;
        }
        if dashboards > 0 {
            dashboard_kib_s = (dash_bytes() - b1) as f64 / secs / dashboards as f64 / 1024.0;
        }
        let mut status = None;
        wait_for("the run to end", limit, || {
            status = final_status(&client, run_id, alone)?;
            Ok(status.is_some())
        })?;
        Ok((start_s, run_cores, status.unwrap_or_default()))
    })();
    stop_poll.store(true, Ordering::SeqCst);
    let api = poller
        .join()
        .map_err(|_| anyhow!("the API poller panicked"))?;
    if let Some((stop, follower)) = follower {
        stop.store(true, Ordering::SeqCst);
        let reads = follower
            .join()
            .map_err(|_| anyhow!("the run's follower panicked"))?;
        eprintln!("  {}", reads.line("the run's record while it went"));
    }
    // Its size depends on the agents, not on the run's progress: read once it has ended, so
    // that the figures above (and the peak RSS) do not include it.
    let peak_rss = ctrl.proc.peak_rss_bytes();
    let mut record = RecordReads::default();
    record.read(&client, run_id);
    eprintln!("  {}", record.line("the run's record after it ended"));
    let outcome = run.and_then(|(start_s, run_cores, status)| {
        let merged = Totals::from_metrics(&client.run_metrics(run_id)?);
        Ok((start_s, run_cores, status, merged))
    });
    agents.stop(rt);
    let (start_s, run_cores, status, merged) = outcome?;
    let sent = fleet.sent_totals();
    let mut notes = fleet.problems();
    notes.extend(dash.as_ref().map(Dashboards::problems).unwrap_or_default());
    if merged != sent {
        notes.push(format!("merged {merged:?} but the agents sent {sent:?}"));
    }
    if api.errors > 0 {
        notes.push(format!("{} API requests failed", api.errors));
    }
    let lost = ctrl.log_lines("AGENT_LOST", 3);
    let agent_lost = !lost.is_empty();
    notes.extend(lost);
    let acks = fleet.acks();
    Ok(Row {
        controllers,
        agents: n,
        dashboards,
        dashboard_kib_s,
        batch_kib,
        idle_cores,
        run_cores,
        group_cores,
        submit: (quantile(&submit_ms, 0.5), quantile(&submit_ms, 0.99)),
        checkpoint_kib_s,
        checkpoint_ms,
        load: load_average(),
        peak_rss_mib: peak_rss? as f64 / (1024.0 * 1024.0),
        run_record_kib: quantile(&record.bytes, 1.0) / 1024.0,
        lag: (quantile(&api.lag_ms, 0.5), quantile(&api.lag_ms, 0.99)),
        end_lag_ms: quantile(&api.end_lag_ms, 1.0),
        ack: (quantile(&acks, 0.5), quantile(&acks, 0.99)),
        api: (
            quantile(&api.latency_ms, 0.5),
            quantile(&api.latency_ms, 0.99),
        ),
        late_p99: quantile(&fleet.late(), 0.99),
        start_s,
        status,
        totals_exact: merged == sent,
        agent_lost,
        notes,
    })
}
