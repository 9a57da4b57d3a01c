//! ramping-vus: the number of looping VUs follows `stages`. Ramping down lets a VU finish its
//! iteration within `gracefulRampDown`; at the end `gracefulStop` applies to the VUs still
//! active, while those ramped down keep their `gracefulRampDown` deadline (capped by
//! `gracefulStop`), as in k6: a last stage ramping to 0 with `gracefulRampDown: '0s'` ends the
//! scenario when the stages end, whatever its iterations were doing.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

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
    let t0 = Instant::now();
    let mut active: Vec<Active> = Vec::new();
    // VUs ramped down that are still finishing their iteration, by id, with their deadline.
    let mut leaving: BTreeMap<u64, (VuHandle, Instant)> = BTreeMap::new();
    // The same deadlines in the order the VUs left, which is their order too (one
    // `gracefulRampDown` for all): the next one is the front, not a scan of every VU leaving (a
    // ramp-down of 10,000 VUs would be quadratic). An entry whose VU has finished, or left
    // again since with a later deadline, is skipped.
    let mut deadlines: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut i = 0;
    loop {
        let next_at = plan.get(i).map(|(t, _)| t0 + *t);
        let leave_deadline = deadlines.front().map(|(d, _)| *d);
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
                    let deadline = Instant::now() + graceful_ramp_down;
                    deadlines.push_back((deadline, a.vu.id));
                    leaving.insert(a.vu.id, (a.vu, deadline));
                }
                sc.active_vus.store(active.len() as u64, Ordering::Relaxed);
            }
            id = done_rx.recv() => {
                let Some(id) = id else { break };
                if let Some((vu, _)) = leaving.remove(&id) {
                    ctx.pool.put(vu);
                } else if let Some(p) = active.iter().position(|a| a.vu.id == id) {
                    // A VU ended on its own (aborted run): treat as gone.
                    ctx.pool.put(active.swap_remove(p).vu);
                }
            }
            _ = async { tokio::time::sleep_until(leave_deadline.unwrap_or(t0)).await }, if leave_deadline.is_some() => {
                let now = Instant::now();
                while let Some(&(due, id)) = deadlines.front() {
                    if due > now {
                        break;
                    }
                    deadlines.pop_front();
                    match leaving.get_mut(&id) {
                        Some((v, d)) if *d == due => {
                            v.interrupt();
                            *d = now + Duration::from_secs(3600);
                        }
                        _ => {}
                    }
                }
            }
            _ = tokio::time::sleep_until(t0 + total), if next_at.is_none() => break,
            _ = ctx.control.aborted() => break,
        }
    }
    sc.stop.store(true, Ordering::Relaxed);
    let stop_at = Instant::now() + cfg.graceful_stop;
    let mut rest: Vec<(VuHandle, Instant)> = active.into_iter().map(|a| (a.vu, stop_at)).collect();
    rest.extend(leaving.into_values().map(|(v, d)| (v, d.min(stop_at))));
    drain_by_deadline(rest, &mut done_rx, &ctx.pool).await;
    sc.active_vus.store(0, Ordering::Relaxed);
}

/// Waits for every VU to finish its iteration, interrupting each at its own deadline (all of
/// them at once when the run is stopped), and gives them back to the pool. VUs are found by id
/// and deadlines taken in order, so each VU that finishes costs O(log n), not a scan.
async fn drain_by_deadline(
    vus: Vec<(VuHandle, Instant)>,
    done_rx: &mut tokio::sync::mpsc::UnboundedReceiver<u64>,
    pool: &VuPool,
) {
    let mut deadlines: Vec<(Instant, u64)> = vus.iter().map(|(v, d)| (*d, v.id)).collect();
    deadlines.sort_unstable();
    let mut deadlines = VecDeque::from(deadlines);
    let mut running: BTreeMap<u64, VuHandle> = vus.into_iter().map(|(v, _)| (v.id, v)).collect();
    let control = pool.control();
    let mut aborted = false;
    while !running.is_empty() {
        let next = deadlines.front().map(|(d, _)| *d);
        tokio::select! {
            _ = control.aborted(), if !aborted => {
                aborted = true;
                for v in running.values() {
                    v.interrupt();
                }
                deadlines.clear();
            }
            id = done_rx.recv() => {
                let Some(id) = id else { break };
                if let Some(vu) = running.remove(&id) {
                    pool.put(vu);
                }
            }
            _ = async { tokio::time::sleep_until(next.unwrap_or_else(Instant::now)).await }, if next.is_some() => {
                let now = Instant::now();
                while let Some(&(due, id)) = deadlines.front() {
                    if due > now {
                        break;
                    }
                    deadlines.pop_front();
                    if let Some(v) = running.get(&id) {
                        v.interrupt();
                    }
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
    use super::super::test_run::run_script;
    use super::*;

    /// Two VUs ramped down at 0.7 s (deadline 2.1 s) finish their iteration at 1.0 s, are ramped
    /// up again at 1.3 s and down at 1.9 s (deadline 3.3 s), in their iteration of 1.8–2.3 s.
    /// The first deadline must not interrupt it: all 8 iterations of 0.5 s complete (the stages
    /// end at 2.5 s, so the ramp-down's own loop, not the final drain, is waiting then).
    #[test]
    fn a_vu_ramped_down_twice_keeps_only_its_latest_deadline() {
        let count = run_script(
            "ramping.js",
            "import { sleep } from 'k6';\n\
             export const options = { scenarios: { r: { executor: 'ramping-vus', startVUs: 2,\n\
               gracefulRampDown: '1.4s', stages: [\n\
                 { duration: '0.7s', target: 2 }, { duration: '0s', target: 0 },\n\
                 { duration: '0.6s', target: 0 }, { duration: '0s', target: 2 },\n\
                 { duration: '0.6s', target: 2 }, { duration: '0s', target: 0 },\n\
                 { duration: '0.6s', target: 0 },\n\
               ] } } };\n\
             export default function () { sleep(0.5); }\n",
        );
        assert_eq!(count("iterations"), Some(8.0));
    }

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
