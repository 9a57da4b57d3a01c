//! The loop of shared-iterations and per-vu-iterations: a fixed number of VUs run until their
//! iterations are done or `maxDuration` passes (then `gracefulStop` lets running iterations
//! finish).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use volley_common::options::ScenarioConfig;

use super::{drain, ExecCtx, IterationSource, Job, ScenarioRt, VuHandle};

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
    // By id: a VU that finishes is found in O(log n), where a scan of the running ones makes a
    // run's end quadratic (10,000 VUs finishing: up to 50 million id comparisons). VUs go back
    // to the pool as they finish, and the pool hands out the lowest id first (`pool::VuPool`),
    // so which VUs a later scenario gets does not depend on this map's order.
    let mut running: BTreeMap<u64, VuHandle> = handles.into_iter().map(|vu| (vu.id, vu)).collect();
    let end = tokio::time::Instant::now() + max_duration;
    // Collect VUs as they finish, until all are done or maxDuration passes.
    loop {
        if running.is_empty() {
            break;
        }
        tokio::select! {
            id = done_rx.recv() => match id {
                Some(id) => {
                    if let Some(vu) = running.remove(&id) {
                        ctx.pool.put(vu);
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
    drain(
        running.into_values(),
        &mut done_rx,
        cfg.graceful_stop,
        &ctx.pool,
    )
    .await;
    sc.active_vus.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::super::test_run::run_script;

    /// Shared iterations over 4 VUs, then per-VU iterations over 2 VUs once the first scenario
    /// has ended: each scenario runs its iterations exactly, and the second one is given the
    /// lowest-numbered idle VUs (1 and 2, back in the pool from the first scenario), not the two
    /// it never used (5 and 6).
    #[test]
    fn iterations_are_run_exactly_and_finished_vus_are_picked_again_by_id() {
        let counted = [
            "it{scenario:a}",
            "it{scenario:b}",
            "it{scenario:b,vu:1}",
            "it{scenario:b,vu:2}",
        ];
        let thresholds: Vec<String> = counted
            .iter()
            .map(|k| format!("'{k}': ['count>=0']"))
            .collect();
        let count = run_script(
            "iterations.js",
            &format!(
                "import exec from 'k6/execution';\n\
                 import {{ Counter }} from 'k6/metrics';\n\
                 const it = new Counter('it');\n\
                 export const options = {{\n\
                   scenarios: {{\n\
                     a: {{ executor: 'shared-iterations', vus: 4, iterations: 23, maxDuration: '30s' }},\n\
                     b: {{ executor: 'per-vu-iterations', vus: 2, iterations: 3, startTime: '2s', maxDuration: '30s' }},\n\
                   }},\n\
                   thresholds: {{ {} }},\n\
                 }};\n\
                 export default function () {{ it.add(1, {{ vu: String(exec.vu.idInInstance) }}); }}\n",
                thresholds.join(", ")
            ),
        );
        assert_eq!(count("iterations"), Some(29.0));
        let got: Vec<Option<f64>> = counted.iter().map(|k| count(k)).collect();
        assert_eq!(got, [Some(23.0), Some(6.0), Some(3.0), Some(3.0)]);
    }
}
