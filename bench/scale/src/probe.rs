//! What the harness reads from outside the controller: its CPU time and memory from `/proc`,
//! and, while a run goes, the REST API's latency with the merged iterations each answer shows
//! (turned into the merge lag by the agents' send log).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use volley_api::client::Client;

use crate::agent::Fleet;

/// A process's CPU time and memory, from `/proc/PID`.
pub struct Proc {
    pid: u32,
    ticks_per_second: f64,
}

impl Proc {
    pub fn new(pid: u32) -> Self {
        // SAFETY: sysconf only reads a configuration value.
        let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Proc {
            pid,
            ticks_per_second: if tick > 0 { tick as f64 } else { 100.0 },
        }
    }

    /// User + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> Result<f64> {
        let path = format!("/proc/{}/stat", self.pid);
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        // The fields after the command name (which may hold spaces) start with the state.
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        match (ticks(11), ticks(12)) {
            (Some(u), Some(s)) => Ok((u + s) / self.ticks_per_second),
            _ => anyhow::bail!("{path} has no utime/stime fields"),
        }
    }

    /// Write system calls so far (`syscw` of `/proc/PID/io`): each message the controller
    /// sends an agent is one, so their rate does not depend on how busy the machine is.
    pub fn write_calls(&self) -> Result<f64> {
        let path = format!("/proc/{}/io", self.pid);
        let io = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        io.lines()
            .find_map(|l| l.strip_prefix("syscw:"))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .with_context(|| format!("{path} has no syscw line"))
    }

    /// The peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss_bytes(&self) -> Result<u64> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .with_context(|| format!("{path} has no VmHWM line"))
    }
}

/// What the API poller measured.
#[derive(Default)]
pub struct ApiSamples {
    /// Latency of each `GET /v1/runs/{id}/metrics?intervals=none` (the live totals a polling
    /// client such as `volley submit --wait` asks for), in ms.
    pub latency_ms: Vec<f64>,
    /// The age of the oldest batch not merged yet, at each answer while every agent still
    /// sends its interval batches, in ms (the steady merge lag the row is judged on).
    pub lag_ms: Vec<f64>,
    /// The same after the first agent sent its last batch, while batches still wait: the run's
    /// end, when every agent sends its last batch at once (docs/cluster-runs.md#metric-batches),
    /// in ms.
    pub end_lag_ms: Vec<f64>,
    pub errors: usize,
}

/// Every 500 ms until `stop`: `GET /v1/runs/{id}/metrics?intervals=none`, timed; the iterations it shows
/// merged give the merge lag. Lag samples are kept while every agent still sends its interval
/// batches ([`ApiSamples::lag_ms`]), and after that while batches still wait
/// ([`ApiSamples::end_lag_ms`]).
pub fn poll_api(
    client: &Client,
    run_id: u64,
    fleet: &Fleet,
    agents: usize,
    stop: &AtomicBool,
) -> ApiSamples {
    let mut out = ApiSamples::default();
    while !stop.load(Ordering::SeqCst) {
        let asked = Instant::now();
        let answer = client.run_metric_totals(run_id);
        out.latency_ms.push(asked.elapsed().as_secs_f64() * 1e3);
        let merged = match &answer {
            Ok(m) => m["metrics"]["iterations"]["values"]["count"]
                .as_f64()
                .unwrap_or(0.0),
            // 404 until the first batch is merged.
            Err(e) if e.status() == Some(404) => 0.0,
            Err(_) => {
                out.errors += 1;
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        let lag = fleet.backlog_age(merged, asked);
        let finished = fleet.finished.load(Ordering::SeqCst);
        let started = fleet.started.load(Ordering::SeqCst) > 0;
        let lag_ms = lag.as_secs_f64() * 1e3;
        if started && finished == 0 {
            out.lag_ms.push(lag_ms);
        } else if started && (finished < agents || !lag.is_zero()) {
            out.end_lag_ms.push(lag_ms);
        }
        std::thread::sleep(Duration::from_millis(500).saturating_sub(asked.elapsed()));
    }
    out
}

/// Runs [`poll_api`] on a thread of its own until the returned flag is set.
pub fn spawn_poller(
    client: Client,
    run_id: u64,
    fleet: Arc<Fleet>,
    agents: usize,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<ApiSamples>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || poll_api(&client, run_id, &fleet, agents, &flag));
    (stop, handle)
}

/// The 1-minute load average (`/proc/loadavg`), NaN when unknown.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The `q`-quantile (0..=1) of `v` (nearest rank), NaN when empty.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&[3.0], 0.99), 3.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = Proc::new(std::process::id());
        assert!(me.cpu_seconds().unwrap() >= 0.0);
        assert!(me.peak_rss_bytes().unwrap() > 1 << 20);
    }
}
