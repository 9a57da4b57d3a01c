//! The scheduling loop of constant-arrival-rate and ramping-arrival-rate: iterations start on a
//! schedule, whatever the VUs are doing. Each start takes an idle VU; when none is idle the
//! iteration is dropped (`dropped_iterations`) and, below `maxVUs`, a new VU is initialized in
//! the background.
//!
//! With execution segments, global event `g` is due at the unscaled schedule time and this
//! instance runs only the events it owns in the sequence re-segmented by `maxVUs`
//! (docs/k6-compatibility.md#arrival-rate-scheduling).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use volley_common::options::{ScenarioConfig, Stage};

use super::{drain, ExecCtx, IterationSource, Job, ScenarioRt, VuHandle};

/// When global event `g` (0-based) is due, for the whole test.
pub(crate) enum Schedule {
    Constant {
        period: f64,
        duration: f64,
    },
    /// Piecewise-linear rate in events per second: (start rate, end rate, length s).
    Ramping {
        pieces: Vec<(f64, f64, f64)>,
    },
}

impl Schedule {
    pub fn constant(rate: u64, time_unit: Duration, duration: Duration) -> Self {
        let per_sec = rate as f64 / time_unit.as_secs_f64();
        Schedule::Constant {
            period: 1.0 / per_sec,
            duration: duration.as_secs_f64(),
        }
    }

    pub fn ramping(start_rate: u64, time_unit: Duration, stages: &[Stage]) -> Self {
        let unit = time_unit.as_secs_f64();
        let mut from = start_rate as f64 / unit;
        let mut pieces = Vec::new();
        for s in stages {
            let to = s.target as f64 / unit;
            pieces.push((from, to, s.duration.as_secs_f64()));
            from = to;
        }
        Schedule::Ramping { pieces }
    }

    pub fn total(&self) -> f64 {
        match self {
            Schedule::Constant { duration, .. } => *duration,
            Schedule::Ramping { pieces } => pieces.iter().map(|p| p.2).sum(),
        }
    }

    /// Seconds from the start at which global event `g` is due, or None if it falls after the end.
    pub fn due(&self, g: u64) -> Option<f64> {
        match self {
            Schedule::Constant { period, duration } => {
                let t = g as f64 * period;
                (t < *duration).then_some(t)
            }
            Schedule::Ramping { pieces } => {
                // Event n = g + 1 happens where the area under the rate curve equals n.
                let n = (g + 1) as f64;
                let mut done = 0.0;
                let mut t0 = 0.0;
                for &(a, b, d) in pieces {
                    let area = (a + b) / 2.0 * d;
                    if done + area >= n - 1e-9 && d > 0.0 {
                        let x = n - done;
                        let t = if (a - b).abs() < 1e-12 {
                            x / a
                        } else {
                            // Solve a·t + (b−a)/(2d)·t² = x for t in [0, d].
                            let k = (b - a) / (2.0 * d);
                            let disc = (a * a + 4.0 * k * x).max(0.0);
                            (-a + disc.sqrt()) / (2.0 * k)
                        };
                        return Some(t0 + t.clamp(0.0, d));
                    }
                    done += area;
                    t0 += d;
                }
                None
            }
        }
    }
}

pub(super) async fn run_arrivals(
    cfg: &ScenarioConfig,
    sc: &Arc<ScenarioRt>,
    ctx: &ExecCtx,
    schedule: Schedule,
    pre_allocated: u64,
    max_vus: u64,
) {
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let (grown_tx, mut grown_rx) = tokio::sync::mpsc::unbounded_channel::<Option<VuHandle>>();
    let pre = ctx.tuple.scale_u64(pre_allocated);
    let max = ctx.tuple.scale_u64(max_vus);
    let mut idle: Vec<VuHandle> = ctx.pool.take_n(pre);
    idle.reverse();
    // By id: every finished iteration looks its VU up here, thousands of times a second with
    // as many VUs busy (a scan would cost the number of busy VUs per iteration).
    let mut busy: BTreeMap<u64, VuHandle> = BTreeMap::new();
    let mut owned = idle.len() as u64;
    let mut growing = 0u64;
    let t0 = tokio::time::Instant::now();
    let total = Duration::from_secs_f64(schedule.total());
    let mut k: u64 = 0;
    let mut next_due = schedule.due(sc.tuple.global_index(0));
    loop {
        let due_at = next_due.map(|s| t0 + Duration::from_secs_f64(s));
        tokio::select! {
            biased;
            _ = ctx.control.aborted() => break,
            id = done_rx.recv() => {
                let Some(id) = id else { break };
                if let Some(vu) = busy.remove(&id) {
                    idle.push(vu);
                }
            }
            vu = grown_rx.recv() => {
                growing = growing.saturating_sub(1);
                match vu {
                    Some(Some(vu)) => idle.push(vu),
                    Some(None) => owned = owned.saturating_sub(1),
                    None => {}
                }
            }
            _ = async { tokio::time::sleep_until(due_at.unwrap_or(t0)).await }, if due_at.is_some() => {
                // Start every event that is due now (several when we fell behind).
                let now = tokio::time::Instant::now();
                while let Some(at) = next_due.map(|s| t0 + Duration::from_secs_f64(s)) {
                    if at > now {
                        break;
                    }
                    if let Some(vu) = idle.pop() {
                        let job = Arc::new(Job { scenario: sc.clone(), source: IterationSource::Once(k) });
                        vu.run_job(job, done_tx.clone());
                        busy.insert(vu.id, vu);
                    } else {
                        (ctx.dropped)(&sc.name);
                        if owned < max {
                            owned += 1;
                            growing += 1;
                            let pool = ctx.pool.clone();
                            let tx = grown_tx.clone();
                            tokio::spawn(async move {
                                let vu = match pool.grow().await {
                                    Ok(vu) => Some(vu),
                                    Err((id, e)) => {
                                        crate::console::log_error(&format!("cannot initialize VU #{id}: {e}"), &[]);
                                        None
                                    }
                                };
                                let _ = tx.send(vu);
                            });
                        }
                    }
                    k += 1;
                    next_due = schedule.due(sc.tuple.global_index(k));
                }
                sc.active_vus.store(busy.len() as u64, Ordering::Relaxed);
            }
            _ = tokio::time::sleep_until(t0 + total), if due_at.is_none() => break,
        }
    }
    sc.stop.store(true, Ordering::Relaxed);
    // VUs still being initialized join the pool when ready.
    while growing > 0 {
        if let Some(Some(vu)) = grown_rx.recv().await {
            idle.push(vu);
        }
        growing -= 1;
    }
    for vu in idle {
        ctx.pool.put(vu);
    }
    drain(
        busy.into_values(),
        &mut done_rx,
        cfg.graceful_stop,
        &ctx.pool,
    )
    .await;
    sc.active_vus.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_schedule() {
        let s = Schedule::constant(100, Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!(s.due(0), Some(0.0));
        assert!((s.due(3).unwrap() - 0.03).abs() < 1e-12);
        assert_eq!(s.due(200), None);
        assert!(s.due(199).is_some());
    }

    #[test]
    fn ramping_schedule_counts() {
        // 0 → 100/s over 2 s: 100 events.
        let s = Schedule::ramping(
            0,
            Duration::from_secs(1),
            &[Stage {
                duration: Duration::from_secs(2),
                target: 100,
            }],
        );
        let n = (0..1000).take_while(|g| s.due(*g).is_some()).count();
        assert_eq!(n, 100);
        // The first event is where the area is 1: 25 t² = 1 → t = 0.2 s.
        assert!((s.due(0).unwrap() - 0.2).abs() < 1e-9);
        // Constant stage: 10/s for 1 s.
        let c = Schedule::ramping(
            10,
            Duration::from_secs(1),
            &[Stage {
                duration: Duration::from_secs(1),
                target: 10,
            }],
        );
        let times: Vec<f64> = (0..20).filter_map(|g| c.due(g)).collect();
        assert_eq!(times.len(), 10);
        assert!((times[0] - 0.1).abs() < 1e-9);
    }
}
