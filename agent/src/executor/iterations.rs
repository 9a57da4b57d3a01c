//! The loop of shared-iterations and per-vu-iterations: a fixed number of VUs run until their
//! iterations are done or `maxDuration` passes (then `gracefulStop` lets running iterations
//! finish).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use volley_common::options::ScenarioConfig;

use super::{drain, ExecCtx, IterationSource, Job, ScenarioRt};

pub(super) async fn run_iterations(
    cfg: &ScenarioConfig,
    sc: &Arc<ScenarioRt>,
    ctx: &ExecCtx,
    vus: u64,
    max_duration: Duration,
    source: impl Fn(u64) -> IterationSource,
) {
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let handles = ctx.pool.take_n(vus);
    sc.active_vus.store(handles.len() as u64, Ordering::Relaxed);
    for (i, vu) in handles.iter().enumerate() {
        let job = Arc::new(Job {
            scenario: sc.clone(),
            source: source(i as u64),
        });
        vu.run_job(job, done_tx.clone());
    }
    let mut running = handles;
    let end = tokio::time::Instant::now() + max_duration;
    // Collect VUs as they finish, until all are done or maxDuration passes.
    loop {
        if running.is_empty() {
            break;
        }
        tokio::select! {
            id = done_rx.recv() => match id {
                Some(id) => {
                    if let Some(i) = running.iter().position(|v| v.id == id) {
                        ctx.pool.put(running.swap_remove(i));
                        sc.active_vus.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep_until(end) => break,
            _ = ctx.control.aborted() => break,
        }
    }
    sc.stop.store(true, Ordering::Relaxed);
    drain(running, &mut done_rx, cfg.graceful_stop, &ctx.pool).await;
    sc.active_vus.store(0, Ordering::Relaxed);
}
