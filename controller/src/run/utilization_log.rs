//! Each agent's heartbeats over a run (the dashboard's per-generator utilization views,
//! `GET /v1/runs/{id}/agents`), bounded across the run: the run keeps at most
//! [`RUN_SAMPLES`] samples over all its agents (each agent at least [`AGENT_MIN`], at most
//! [`AGENT_MAX`]). When an agent reaches its share, its older half is merged pairwise — as the
//! dashboard merges heartbeats into a point (docs/dashboard.md): the highest CPU, memory, RSS
//! and VUs, the mean rates — so the whole run stays covered, every spike survives, and the
//! newest heartbeats stay one sample each. An hour at 5,000 agents was 18 million samples.

use crate::model::UtilizationSample;

/// Samples a run keeps over all its agents (about 120 bytes each).
pub const RUN_SAMPLES: usize = 1_000_000;
/// Samples an agent keeps whatever the run's size (the dashboard asks for up to 600 points).
pub const AGENT_MIN: usize = 64;
/// Samples an agent keeps at most (27 hours at one heartbeat a second).
pub const AGENT_MAX: usize = 100_000;

/// The samples each agent of a run of `agents` agents keeps.
pub fn per_agent(agents: usize) -> usize {
    (RUN_SAMPLES / agents.max(1)).clamp(AGENT_MIN, AGENT_MAX)
}

/// One agent's heartbeats over a run, oldest first.
#[derive(Debug, Clone, Default)]
pub struct AgentLog {
    /// The agent's execution segment in the run.
    pub segment: String,
    samples: Vec<UtilizationSample>,
    /// How many heartbeats each sample holds (1 until it is merged).
    weights: Vec<u32>,
    /// Heartbeats received in all.
    received: usize,
}

impl AgentLog {
    pub fn new(segment: String) -> Self {
        AgentLog {
            segment,
            ..Default::default()
        }
    }

    /// Adds the newest heartbeat; past `cap` samples, the older half is merged pairwise.
    pub fn push(&mut self, sample: UtilizationSample, cap: usize) {
        self.received += 1;
        self.samples.push(sample);
        self.weights.push(1);
        while self.samples.len() > cap.max(4) {
            self.halve_older();
        }
    }

    /// The kept samples, oldest first (older ones each hold several heartbeats).
    pub fn samples(&self) -> &[UtilizationSample] {
        &self.samples
    }

    /// How many heartbeats each of [`Self::samples`] holds.
    pub fn weights(&self) -> &[u32] {
        &self.weights
    }

    /// Heartbeats received in all (a live stream's position: [`Self::position`]).
    pub fn received(&self) -> usize {
        self.received
    }

    /// The index of the first sample holding a heartbeat numbered `from` or later (heartbeats
    /// are numbered from 0 in arrival order): what a stream that has seen `from` heartbeats
    /// still has to send. Costs the samples after it, not the whole log.
    pub fn position(&self, from: usize) -> usize {
        let mut want = self.received.saturating_sub(from);
        let mut i = self.samples.len();
        while want > 0 && i > 0 {
            i -= 1;
            want = want.saturating_sub(self.weights[i] as usize);
        }
        i
    }

    /// Merges the older half of the samples pairwise (amortized O(1) a heartbeat: a quarter
    /// of the cap is freed each time).
    fn halve_older(&mut self) {
        let older = self.samples.len() / 2 / 2 * 2;
        let mut samples = Vec::with_capacity(self.samples.capacity());
        let mut weights = Vec::with_capacity(self.weights.capacity());
        let mut it = self.samples.drain(..).zip(self.weights.drain(..));
        for _ in 0..older / 2 {
            let (Some((a, wa)), Some((b, wb))) = (it.next(), it.next()) else {
                break;
            };
            samples.push(merged(a, wa, b, wb));
            weights.push(wa.saturating_add(wb));
        }
        for (s, w) in it {
            samples.push(s);
            weights.push(w);
        }
        self.samples = samples;
        self.weights = weights;
    }
}

/// Two consecutive samples as one (`a` the older, each holding `wa`, `wb` heartbeats): the
/// newer one's time, the highest CPU, memory, RSS and VUs, the mean rates.
fn merged(a: UtilizationSample, wa: u32, b: UtilizationSample, wb: u32) -> UtilizationSample {
    let (wa, wb) = (f64::from(wa), f64::from(wb));
    let mean = |x: f64, y: f64| (x * wa + y * wb) / (wa + wb);
    UtilizationSample {
        cpu_percent: a.cpu_percent.max(b.cpu_percent),
        memory_percent: a.memory_percent.max(b.memory_percent),
        process_cpu_percent: match (a.process_cpu_percent, b.process_cpu_percent) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        },
        process_rss_bytes: a.process_rss_bytes.max(b.process_rss_bytes),
        active_vus: a.active_vus.max(b.active_vus),
        requests_per_second: mean(a.requests_per_second, b.requests_per_second),
        iterations_per_second: mean(a.iterations_per_second, b.iterations_per_second),
        at: b.at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: usize, cpu: f64) -> UtilizationSample {
        UtilizationSample {
            at: crate::state::timestamp::format_rfc3339(1_000_000 + i as i64 * 1000),
            cpu_percent: cpu,
            memory_percent: 10.0,
            process_cpu_percent: Some(cpu),
            process_rss_bytes: i as u64,
            active_vus: 1,
            requests_per_second: 10.0,
            iterations_per_second: 2.0,
        }
    }

    #[test]
    fn a_run_keeps_a_bounded_number_of_samples_whatever_its_agents() {
        assert_eq!(per_agent(1), AGENT_MAX);
        assert_eq!(per_agent(5_000), 200);
        assert_eq!(per_agent(1_000_000), AGENT_MIN);
        // An hour of 5,000 agents: 18 million heartbeats, at most a million samples.
        let cap = per_agent(5_000);
        let mut log = AgentLog::new("0:1".into());
        for i in 0..3600 {
            log.push(sample(i, if i == 100 { 95.0 } else { 20.0 }), cap);
            assert!(log.samples().len() <= cap, "{} at {i}", log.samples().len());
        }
        assert!(log.samples().len() * 5_000 <= RUN_SAMPLES);
        assert_eq!(log.received(), 3600);
        assert_eq!(log.weights.iter().map(|w| *w as usize).sum::<usize>(), 3600);
        let s = log.samples();
        assert!(
            s[0].at > sample(0, 0.0).at,
            "a merged sample has its newest time"
        );
        assert_eq!(
            s.last().unwrap().at,
            sample(3599, 0.0).at,
            "the newest, alone"
        );
        assert_eq!(
            s.iter().filter(|x| x.cpu_percent == 95.0).count(),
            1,
            "the spike"
        );
        assert_eq!(s.iter().map(|x| x.process_rss_bytes).max(), Some(3599));
        assert!(s.iter().all(|x| x.requests_per_second == 10.0), "means");
    }

    #[test]
    fn a_stream_gets_the_heartbeats_it_has_not_seen() {
        let mut log = AgentLog::new(String::new());
        for i in 0..10 {
            log.push(sample(i, 1.0), 1000);
        }
        assert_eq!(log.position(10), 10, "nothing new");
        assert_eq!(log.position(7), 7);
        assert_eq!(log.position(0), 0);
        // Merged: the newest half stays one heartbeat a sample.
        for i in 10..13 {
            log.push(sample(i, 1.0), 8);
        }
        let n = log.samples().len();
        assert!(n <= 8, "{n}");
        assert_eq!(log.position(12), n - 1);
        assert_eq!(log.samples()[log.position(12)].at, sample(12, 0.0).at);
        assert_eq!(log.position(11), n - 2);
        assert_eq!(log.position(0), 0);
        assert_eq!(log.position(99), n);
    }
}
