//! What an agent does on SIGTERM, so that scaling agents down never kills a test
//! (docs/cluster-runs.md#sigterm-drain): it is not ready from that moment and takes no new run
//! (its heartbeats say it drains, so the controller offers it to none). Idle, it leaves at
//! once. Serving a run, it finishes its part, up to `--drain-grace`; past that it stops its
//! load with the reason "agent terminated (SIGTERM)", which the controller treats as a lost
//! agent: the run aborts, or goes on without it under `--on-agent-lost continue`.
//! Then it waits (bounded) for the controller to acknowledge its last metric batches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use volley_common::exit::AbortReason;

use super::status::AgentStatus;

/// How long a stopped run may take to wind down after the grace ran out.
const WIND_DOWN: Duration = Duration::from_secs(15);
/// How long the last batches may take to be acknowledged (a checkpoint is about 1 s apart).
const LAST_ACKS: Duration = Duration::from_secs(5);
/// The least time between SIGTERM and stopping the run's part: a heartbeat (one a second)
/// saying the agent drains reaches the controller first, so that it applies the run's
/// agent-lost policy to the stop instead of ending the run.
const HEARD_DRAINING: Duration = Duration::from_millis(1500);

/// Resolves once the agent may exit after a SIGTERM (never without one).
pub(super) async fn on_sigterm(status: Arc<AgentStatus>, grace: Duration, name: String) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        tracing::warn!("cannot trap SIGTERM: the agent will not drain its run on it");
        return std::future::pending().await;
    };
    term.recv().await;
    status.start_draining();
    let Some(run_id) = status.run_id() else {
        crate::console::log(
            "info",
            "SIGTERM while idle: leaving the controller and exiting",
            &[],
        );
        return;
    };
    crate::console::log(
        "info",
        &format!(
            "SIGTERM while serving run {run_id}: finishing its part within the drain grace of \
             {} s (--drain-grace), taking no new run",
            grace.as_secs()
        ),
        &[],
    );
    let began = Instant::now();
    let mut stopped = false;
    while status.run_id().is_some() {
        if !stopped && began.elapsed() >= grace.max(HEARD_DRAINING) {
            stopped = true;
            let why = format!(
                "agent {name} terminated (SIGTERM): its part of run {run_id} did not finish \
                 within the drain grace of {} s",
                grace.as_secs()
            );
            crate::console::log("warning", &why, &[]);
            status.abort_run(AbortReason::System { message: why });
        }
        if stopped && began.elapsed() >= grace + WIND_DOWN {
            crate::console::log(
                "warning",
                &format!(
                    "run {run_id} did not wind down within {} s of its stop: exiting anyway",
                    WIND_DOWN.as_secs()
                ),
                &[],
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acks = Instant::now();
    while status.snapshot().batches_unacked > 0 && acks.elapsed() < LAST_ACKS {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The DONE event went out before the last batches were acknowledged; give the link a
    // moment to flush what is queued behind them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let unacked = status.snapshot().batches_unacked;
    crate::console::log(
        "info",
        &format!(
            "drained after {:.1} s: its part of run {run_id} is done{}; exiting",
            began.elapsed().as_secs_f64(),
            if unacked > 0 {
                format!(" ({unacked} metric batches still unacknowledged)")
            } else {
                String::new()
            }
        ),
        &[],
    );
}
