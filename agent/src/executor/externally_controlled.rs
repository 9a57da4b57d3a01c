//! externally-controlled: the number of looping VUs is set live through the REST API
//! (`PATCH /v1/status {"vus": N}`), between 0 and `maxVUs`, for `duration` (0 = until stopped).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use volley_common::options::executors::ExternallyControlled;
use volley_common::options::ScenarioConfig;

use super::{drain, ExecCtx, IterationSource, Job, Runtime, ScenarioRt, VuHandle};
use crate::run::ExternalVus;

pub(super) async fn run(
    cfg: &ScenarioConfig,
    sc: &Arc<ScenarioRt>,
    ctx: &ExecCtx,
    vus: u64,
    max_vus: u64,
    duration: Duration,
) {
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let (target_tx, mut target_rx) = tokio::sync::watch::channel(vus);
    ctx.control.set_external(Some(ExternalVus {
        vus: target_tx,
        max_vus,
    }));
    let mut active: Vec<(VuHandle, Arc<AtomicBool>)> = Vec::new();
    // VUs told to leave, finishing their iteration, by id (found in O(log n) when they finish;
    // `active` is searched only for a VU that ended on its own, an aborted run).
    let mut leaving: BTreeMap<u64, VuHandle> = BTreeMap::new();
    let end = (!duration.is_zero()).then(|| tokio::time::Instant::now() + duration);
    loop {
        let target = ctx.tuple.scale_u64(*target_rx.borrow_and_update());
        while (active.len() as u64) < target {
            let Some(vu) = ctx.pool.take() else { break };
            let flag = Arc::new(AtomicBool::new(true));
            vu.run_job(
                Arc::new(Job {
                    scenario: sc.clone(),
                    source: IterationSource::Active(flag.clone()),
                }),
                done_tx.clone(),
            );
            active.push((vu, flag));
        }
        while (active.len() as u64) > target {
            let Some((vu, flag)) = active.pop() else {
                break;
            };
            // The VU finishes its current iteration, then leaves.
            flag.store(false, Ordering::Relaxed);
            leaving.insert(vu.id, vu);
        }
        sc.active_vus.store(active.len() as u64, Ordering::Relaxed);
        tokio::select! {
            r = target_rx.changed() => if r.is_err() { break },
            id = done_rx.recv() => {
                let Some(id) = id else { break };
                if let Some(vu) = leaving.remove(&id) {
                    ctx.pool.put(vu);
                } else if let Some(p) = active.iter().position(|(v, _)| v.id == id) {
                    ctx.pool.put(active.swap_remove(p).0);
                }
            }
            _ = async { tokio::time::sleep_until(end.unwrap_or_else(tokio::time::Instant::now)).await }, if end.is_some() => break,
            _ = ctx.control.aborted() => break,
        }
    }
    ctx.control.set_external(None);
    sc.stop.store(true, Ordering::Relaxed);
    let mut rest: Vec<VuHandle> = active.into_iter().map(|(v, _)| v).collect();
    rest.extend(leaving.into_values());
    drain(rest, &mut done_rx, cfg.graceful_stop, &ctx.pool).await;
    sc.active_vus.store(0, Ordering::Relaxed);
}

impl Runtime for ExternallyControlled {
    async fn run(&self, cfg: &ScenarioConfig, sc: &Arc<ScenarioRt>, ctx: &ExecCtx) {
        run(cfg, sc, ctx, self.vus, self.max_vus, self.duration).await
    }
}
