//! Each generator's utilization over a run as the run page charts it (`docs/dashboard.md`,
//! "Generators over time"): columns of numbers rather than one JSON object per heartbeat, and a
//! run stream opens with the whole run downsampled to at most [`MAX_AGENT_POINTS`] points per
//! agent, so an hour of 50 agents stays small on the wire and in the browser. A point merges
//! consecutive heartbeats: the highest CPU, RSS and VUs of them (a spike is never averaged
//! away), their mean requests/s (weighted by the heartbeats each kept sample already holds:
//! `crate::run::utilization_log` merges a long run's older ones), and the worst health level.

use serde::Serialize;

use crate::model::UtilizationSample;
use crate::state::timestamp::parse_rfc3339;

/// Points per agent a run stream opens with (the whole run, downsampled), and the most the
/// page keeps per agent.
pub const MAX_AGENT_POINTS: usize = 600;

/// An agent's utilization as columns of equal length, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgentSeries {
    /// The point's time, Unix ms (its newest heartbeat's).
    pub t: Vec<i64>,
    /// The agent process's CPU, % of the host's CPUs (null: the agent does not report it).
    pub process_cpu: Vec<Option<f64>>,
    /// The host's CPU, %.
    pub host_cpu: Vec<f64>,
    /// The agent process's resident memory, bytes.
    pub rss: Vec<u64>,
    pub vus: Vec<i64>,
    /// Requests per second (the mean over the point's heartbeats).
    pub rps: Vec<f64>,
    /// The worst health of the point's heartbeats: 0 ok, 1 warning (≥ 80 %), 2 overloaded
    /// (≥ 90 %), judged as `GET /v1/agents` judges `health`.
    pub level: Vec<u8>,
}

impl AgentSeries {
    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// Appends one point made of `samples` (not empty), `weights[i]` the heartbeats sample `i`
    /// holds (1 where `weights` is shorter).
    fn push(&mut self, samples: &[UtilizationSample], weights: &[u32]) {
        let Some(last) = samples.last() else {
            return;
        };
        let max = |f: fn(&UtilizationSample) -> f64| {
            samples.iter().map(f).fold(f64::NEG_INFINITY, f64::max)
        };
        self.t.push(parse_rfc3339(&last.at).unwrap_or(0));
        let process: Vec<f64> = samples
            .iter()
            .filter_map(|s| s.process_cpu_percent)
            .collect();
        self.process_cpu
            .push(process.iter().copied().reduce(f64::max).map(round1));
        self.host_cpu.push(round1(max(|s| s.cpu_percent)));
        self.rss.push(
            samples
                .iter()
                .map(|s| s.process_rss_bytes)
                .max()
                .unwrap_or(0),
        );
        self.vus
            .push(samples.iter().map(|s| s.active_vus).max().unwrap_or(0));
        let weight = |i: usize| f64::from(weights.get(i).copied().unwrap_or(1).max(1));
        let (sum, heartbeats) = samples
            .iter()
            .enumerate()
            .fold((0.0, 0.0), |(sum, n), (i, s)| {
                (sum + s.requests_per_second * weight(i), n + weight(i))
            });
        self.rps.push(round1(sum / heartbeats));
        self.level
            .push(samples.iter().map(|s| level(s).0).max().unwrap_or(0));
    }
}

/// One decimal: what the page shows, and a third of the bytes of a full `f64`.
fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A heartbeat's health: 0 `ok`, 1 `warning` (≥ 80 %) or 2 `overloaded` (≥ 90 %), judged on
/// the agent process's CPU and the host's CPU and memory, with the part that is loaded
/// (`process` or `host`).
pub fn level(s: &UtilizationSample) -> (u8, Option<&'static str>) {
    let u = crate::utilization::Utilization {
        process_cpu: s.process_cpu_percent,
        process_memory: 0.0,
        host_cpu: s.cpu_percent,
        host_memory: s.memory_percent,
    };
    if let Some(p) = u.over(90.0, 90.0) {
        (2, Some(p.name()))
    } else if let Some(p) = u.over(80.0, 80.0) {
        (1, Some(p.name()))
    } else {
        (0, None)
    }
}

/// What a run stream sends of one agent: its newest heartbeat (the generators table) and its
/// heartbeats from an index on as points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentSince {
    pub agent: String,
    pub segment: String,
    /// The agent's heartbeats in the run so far (a stream asks for the ones after them next).
    pub samples: usize,
    pub latest: Option<UtilizationSample>,
    pub series: AgentSeries,
}

/// An agent's samples from index `from` on, downsampled to at most `max` points; `received`:
/// its heartbeats in all (older samples may each hold several, `weights[i]` for sample `i`, 1
/// where `weights` is shorter: `crate::run::utilization_log`).
pub fn since(
    agent: &str,
    segment: &str,
    samples: &[UtilizationSample],
    weights: &[u32],
    from: usize,
    received: usize,
    max: usize,
) -> AgentSince {
    AgentSince {
        agent: agent.to_string(),
        segment: segment.to_string(),
        samples: received,
        latest: samples.last().cloned(),
        series: downsample(
            &samples[from.min(samples.len())..],
            weights.get(from..).unwrap_or_default(),
            max,
        ),
    }
}

/// `samples` as at most `max` points: one per heartbeat when they fit, else consecutive
/// heartbeats merged into equal groups, the newest heartbeat always a point of its own (so the
/// last point is the agent's latest state). `weights[i]`: the heartbeats sample `i` holds (1
/// where `weights` is shorter), so a point's mean requests/s is over heartbeats, not samples.
pub fn downsample(samples: &[UtilizationSample], weights: &[u32], max: usize) -> AgentSeries {
    let mut out = AgentSeries::default();
    let max = max.max(2);
    let weights_of = |from: usize, len: usize| {
        &weights[from.min(weights.len())..(from + len).min(weights.len())]
    };
    if samples.len() <= max {
        for (i, s) in samples.iter().enumerate() {
            out.push(std::slice::from_ref(s), weights_of(i, 1));
        }
        return out;
    }
    let (older, newest) = samples.split_at(samples.len() - 1);
    let group = older.len().div_ceil(max - 1);
    for (n, chunk) in older.chunks(group).enumerate() {
        out.push(chunk, weights_of(n * group, chunk.len()));
    }
    out.push(newest, weights_of(older.len(), 1));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: usize, cpu: f64) -> UtilizationSample {
        UtilizationSample {
            at: crate::state::timestamp::format_rfc3339(1_000_000 + i as i64 * 1000),
            cpu_percent: 10.0,
            memory_percent: 10.0,
            process_cpu_percent: Some(cpu),
            process_rss_bytes: 1000 + i as u64,
            active_vus: i as i64,
            requests_per_second: i as f64,
            iterations_per_second: 0.0,
        }
    }

    #[test]
    fn few_heartbeats_are_one_point_each() {
        let samples: Vec<_> = (0..3).map(|i| sample(i, 12.34)).collect();
        let s = downsample(&samples, &[], 10);
        assert_eq!(s.t, [1_000_000, 1_001_000, 1_002_000]);
        assert_eq!(s.process_cpu, [Some(12.3); 3], "one decimal");
        assert_eq!(s.vus, [0, 1, 2]);
        assert_eq!(s.level, [0, 0, 0]);
    }

    #[test]
    fn an_hour_is_merged_into_at_most_the_points_asked_keeping_peaks_and_the_latest() {
        // An hour at one heartbeat a second, one overloaded second in the middle.
        let samples: Vec<_> = (0..3600)
            .map(|i| sample(i, if i == 1800 { 95.0 } else { 20.0 }))
            .collect();
        let s = downsample(&samples, &[], MAX_AGENT_POINTS);
        assert!(s.len() <= MAX_AGENT_POINTS, "{} points", s.len());
        assert!(s.len() > MAX_AGENT_POINTS / 2, "{} points", s.len());
        for column in [
            s.process_cpu.len(),
            s.host_cpu.len(),
            s.rss.len(),
            s.vus.len(),
            s.rps.len(),
            s.level.len(),
        ] {
            assert_eq!(column, s.len());
        }
        assert_eq!(
            s.level.iter().filter(|l| **l == 2).count(),
            1,
            "the spike is kept"
        );
        assert_eq!(
            s.process_cpu.iter().flatten().copied().fold(0.0, f64::max),
            95.0
        );
        assert_eq!(
            *s.t.last().unwrap(),
            1_000_000 + 3599 * 1000,
            "the latest heartbeat"
        );
        assert_eq!(*s.vus.last().unwrap(), 3599);
        // 3,599 older heartbeats in groups of 7.
        assert_eq!(
            s.rps[0], 3.0,
            "the mean of the first seven heartbeats' req/s"
        );
        assert_eq!(s.vus[0], 6, "the highest of their VUs");
    }

    #[test]
    fn a_points_requests_per_second_are_the_mean_over_heartbeats_not_samples() {
        // A long run's log: an older sample holding 3 heartbeats at 10 req/s, then single
        // heartbeats at 2 req/s and at 7 (the newest, always a point of its own).
        let mut samples: Vec<_> = (0..3).map(|i| sample(i, 20.0)).collect();
        for (s, rps) in samples.iter_mut().zip([10.0, 2.0, 7.0]) {
            s.requests_per_second = rps;
        }
        let s = downsample(&samples, &[3, 1, 1], 2);
        assert_eq!(
            s.rps,
            [8.0, 7.0],
            "(3 x 10 + 2) / 4 heartbeats, then the newest"
        );
        let unweighted = downsample(&samples, &[], 2);
        assert_eq!(
            unweighted.rps,
            [6.0, 7.0],
            "without weights, each sample is one heartbeat"
        );
        // A stream that has seen the first sample gets the rest with their own weights.
        let rest = since("a", "0:1", &samples, &[3, 1, 1], 1, 5, 2);
        assert_eq!(rest.series.rps, [2.0, 7.0]);
        assert_eq!(rest.samples, 5);
    }

    #[test]
    fn health_is_judged_on_the_process_then_the_host() {
        let mut s = sample(0, 85.0);
        assert_eq!(level(&s), (1, Some("process")));
        s.process_cpu_percent = Some(5.0);
        s.memory_percent = 95.0;
        assert_eq!(level(&s), (2, Some("host")));
    }
}
