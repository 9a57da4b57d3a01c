//! constant-vus: a fixed number of VUs loop for `duration`; then `gracefulStop` lets running
//! iterations finish before they are interrupted.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use volley_common::options::executors::ConstantVus;
use volley_common::options::ScenarioConfig;

use super::{drain, ExecCtx, IterationSource, Job, Runtime, ScenarioRt};

pub(super) async fn run(
    cfg: &ScenarioConfig,
    sc: &Arc<ScenarioRt>,
    ctx: &ExecCtx,
    vus: u64,
    duration: Duration,
) {
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let handles = ctx.pool.take_n(vus);
    sc.active_vus.store(handles.len() as u64, Ordering::Relaxed);
    let job = Arc::new(Job {
        scenario: sc.clone(),
        source: IterationSource::Loop,
    });
    for vu in &handles {
        vu.run_job(job.clone(), done_tx.clone());
    }
    let end = tokio::time::Instant::now() + duration;
    tokio::select! {
        _ = tokio::time::sleep_until(end) => {}
        _ = ctx.control.aborted() => {}
    }
    sc.stop.store(true, Ordering::Relaxed);
    drain(handles, &mut done_rx, cfg.graceful_stop, &ctx.pool).await;
    sc.active_vus.store(0, Ordering::Relaxed);
}

impl Runtime for ConstantVus {
    async fn run(&self, cfg: &ScenarioConfig, sc: &Arc<ScenarioRt>, ctx: &ExecCtx) {
        run(cfg, sc, ctx, ctx.tuple.scale_u64(self.vus), self.duration).await
    }
}
