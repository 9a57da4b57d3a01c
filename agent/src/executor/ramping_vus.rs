//! ramping-vus: the number of looping VUs follows `stages`. Ramping down lets a VU finish its
//! iteration within `gracefulRampDown`; at the end `gracefulStop` applies to the VUs still
//! active, while those ramped down keep their `gracefulRampDown` deadline (capped by
//! `gracefulStop`), as in k6: a last stage ramping to 0 with `gracefulRampDown: '0s'` ends the
//! scenario when the stages end, whatever its iterations were doing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use volley_common::options::executors::RampingVus;
use volley_common::options::{ScenarioConfig, Stage};

use super::{ExecCtx, IterationSource, Job, Runtime, ScenarioRt, VuHandle, VuPool};

/// The planned (unscaled) VU count changes: (offset from the start, new count).
pub(crate) fn steps(start_vus: u64, stages: &[Stage]) -> Vec<(Duration, u64)> {
    let mut out = vec![(Duration::ZERO, start_vus)];
    let mut from = start_vus;
    let mut t0 = Duration::ZERO;
    for st in stages {
        let to = st.target;
        let d = st.duration;
        if d.is_zero() {
            if to != from {
                out.push((t0, to));
            }
        } else if to > from {
            for i in from + 1..=to {
                let t = t0 + d.mul_f64((i - from) as f64 / (to - from) as f64);
                out.push((t, i));
            }
        } else if to < from {
            for i in (to..from).rev() {
                let t = t0 + d.mul_f64((from - i) as f64 / (from - to) as f64);
                out.push((t, i));
            }
        }
        from = to;
        t0 += d;
    }
    out
}

struct Active {
    vu: VuHandle,
    flag: Arc<AtomicBool>,
}

pub(super) async fn run(
    cfg: &ScenarioConfig,
    sc: &Arc<ScenarioRt>,
    ctx: &ExecCtx,
    start_vus: u64,
    stages: &[Stage],
    graceful_ramp_down: Duration,
) {
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let plan = steps(start_vus, stages);
    let total: Duration = stages.iter().map(|s| s.duration).sum();
    let t0 = tokio::time::Instant::now();
    let mut active: Vec<Active> = Vec::new();
    // VUs ramped down that are still finishing their iteration, with their deadline.
    let mut leaving: Vec<(VuHandle, tokio::time::Instant)> = Vec::new();
    let mut i = 0;
    loop {
        let next_at = plan.get(i).map(|(t, _)| t0 + *t);
        let leave_deadline = leaving.iter().map(|(_, d)| *d).min();
        tokio::select! {
            _ = async { tokio::time::sleep_until(next_at.unwrap_or(t0)).await }, if next_at.is_some() => {
                let target = ctx.tuple.scale_u64(plan[i].1);
                i += 1;
                while (active.len() as u64) < target {
                    let Some(vu) = ctx.pool.take() else { break };
                    let flag = Arc::new(AtomicBool::new(true));
                    vu.run_job(Arc::new(Job { scenario: sc.clone(), source: IterationSource::Active(flag.clone()) }), done_tx.clone());
                    active.push(Active { vu, flag });
                }
                while (active.len() as u64) > target {
                    let Some(a) = active.pop() else { break };
                    a.flag.store(false, Ordering::Relaxed);
                    leaving.push((a.vu, tokio::time::Instant::now() + graceful_ramp_down));
                }
                sc.active_vus.store(active.len() as u64, Ordering::Relaxed);
            }
            id = done_rx.recv() => {
                let Some(id) = id else { break };
                if let Some(p) = leaving.iter().position(|(v, _)| v.id == id) {
                    ctx.pool.put(leaving.swap_remove(p).0);
                } else if let Some(p) = active.iter().position(|a| a.vu.id == id) {
                    // A VU ended on its own (aborted run): treat as gone.
                    ctx.pool.put(active.swap_remove(p).vu);
                }
            }
            _ = async { tokio::time::sleep_until(leave_deadline.unwrap_or(t0)).await }, if leave_deadline.is_some() => {
                let now = tokio::time::Instant::now();
                for (v, d) in &mut leaving {
                    if *d <= now {
                        v.interrupt();
                        *d = now + Duration::from_secs(3600);
                    }
                }
            }
            _ = tokio::time::sleep_until(t0 + total), if next_at.is_none() => break,
            _ = ctx.control.aborted() => break,
        }
    }
    sc.stop.store(true, Ordering::Relaxed);
    let stop_at = tokio::time::Instant::now() + cfg.graceful_stop;
    let mut rest: Vec<(VuHandle, tokio::time::Instant)> =
        active.into_iter().map(|a| (a.vu, stop_at)).collect();
    rest.extend(leaving.into_iter().map(|(v, d)| (v, d.min(stop_at))));
    drain_by_deadline(rest, &mut done_rx, &ctx.pool).await;
    sc.active_vus.store(0, Ordering::Relaxed);
}

/// Waits for every VU to finish its iteration, interrupting each at its own deadline (all of
/// them at once when the run is stopped), and gives them back to the pool.
async fn drain_by_deadline(
    vus: Vec<(VuHandle, tokio::time::Instant)>,
    done_rx: &mut tokio::sync::mpsc::UnboundedReceiver<u64>,
    pool: &VuPool,
) {
    // (VU, deadline, interrupted)
    let mut running: Vec<(VuHandle, tokio::time::Instant, bool)> =
        vus.into_iter().map(|(v, d)| (v, d, false)).collect();
    let control = pool.control();
    let mut aborted = false;
    while !running.is_empty() {
        let next = running.iter().filter(|r| !r.2).map(|r| r.1).min();
        tokio::select! {
            _ = control.aborted(), if !aborted => {
                aborted = true;
                for r in &mut running {
                    r.0.interrupt();
                    r.2 = true;
                }
            }
            id = done_rx.recv() => {
                let Some(id) = id else { break };
                if let Some(i) = running.iter().position(|r| r.0.id == id) {
                    pool.put(running.swap_remove(i).0);
                }
            }
            _ = async { tokio::time::sleep_until(next.unwrap_or_else(tokio::time::Instant::now)).await }, if next.is_some() => {
                let now = tokio::time::Instant::now();
                for r in running.iter_mut().filter(|r| !r.2 && r.1 <= now) {
                    r.0.interrupt();
                    r.2 = true;
                }
            }
        }
    }
}

impl Runtime for RampingVus {
    async fn run(&self, cfg: &ScenarioConfig, sc: &Arc<ScenarioRt>, ctx: &ExecCtx) {
        run(
            cfg,
            sc,
            ctx,
            self.start_vus,
            &self.stages,
            self.graceful_ramp_down,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_steps_up_and_down() {
        let s = steps(
            0,
            &[
                Stage {
                    duration: Duration::from_secs(10),
                    target: 5,
                },
                Stage {
                    duration: Duration::from_secs(5),
                    target: 0,
                },
            ],
        );
        let counts: Vec<u64> = s.iter().map(|(_, c)| *c).collect();
        assert_eq!(counts, vec![0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0]);
        assert_eq!(s[1].0, Duration::from_secs(2));
        assert_eq!(s[5].0, Duration::from_secs(10));
        assert_eq!(s[6].0, Duration::from_secs(11));
        assert_eq!(s[10].0, Duration::from_secs(15));
    }
}
