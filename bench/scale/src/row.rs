//! One measurement's figures ([`Row`]): a row of the curve's table, a point of its verdicts
//! and an entry of `--json`'s rows. The replication table prints the same figures with other
//! columns (`replication`).

use crate::verdict;

/// One measurement's figures: N agents on one controller (or a group), with D dashboards open.
#[derive(Default)]
pub struct Row {
    pub controllers: u64,
    pub agents: usize,
    pub dashboards: usize,
    /// Bytes per second each open dashboard received while the agents sent, in KiB/s.
    pub dashboard_kib_s: f64,
    pub batch_kib: f64,
    pub idle_cores: f64,
    pub run_cores: f64,
    /// Every controller's CPU during the run, in cores (the leader's alone is `run_cores`).
    pub group_cores: f64,
    /// Time of each submit (create the test, start a run) while the run went, p50 / p99 ms.
    pub submit: (f64, f64),
    /// Bytes of the run's checkpoints per second of the run, KiB/s, and their average
    /// write (one controller) or commit (a group) time in ms.
    pub checkpoint_kib_s: f64,
    pub checkpoint_ms: f64,
    /// The 1-minute load average at the end of the measurement.
    pub load: f64,
    pub peak_rss_mib: f64,
    /// The run's record (`GET /loadtests/v2/runs/{id}`) after the run, KiB (NaN: not read).
    pub run_record_kib: f64,
    /// Merge lag while every agent sends its interval batches, acknowledgement delay and API
    /// latency, p50 / p99 ms.
    pub lag: (f64, f64),
    /// The highest merge lag after the first agent sent its last batch (every agent sends it
    /// at the run's end, at once), ms.
    pub end_lag_ms: f64,
    pub ack: (f64, f64),
    pub api: (f64, f64),
    /// p99 of how late batches left the simulated agents.
    pub late_p99: f64,
    /// Submit → the Start barrier on every agent, s.
    pub start_s: f64,
    /// The run's final status (`FINISHED`, `ABORTED_BY_SYSTEM`, …).
    pub status: String,
    /// The merged totals equal the sum of what the agents sent.
    pub totals_exact: bool,
    /// The controller logged an AGENT_LOST (the simulated agents send all along: a false one).
    pub agent_lost: bool,
    pub notes: Vec<String>,
}

impl Row {
    /// What the verdicts read of this row.
    pub fn point(&self) -> verdict::Point {
        verdict::Point {
            agents: self.agents,
            status: self.status.clone(),
            totals_exact: self.totals_exact,
            lag_p99_ms: self.lag.1,
            run_cores: self.run_cores,
            agent_lost: self.agent_lost,
        }
    }

    /// This row in `--json`'s `rows` (bench/summary.py reads them).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "controllers": self.controllers,
            "agents": self.agents,
            "dashboards": self.dashboards,
            "batch_kib": self.batch_kib,
            "idle_cores": self.idle_cores,
            "run_cores": self.run_cores,
            "peak_rss_mib": self.peak_rss_mib,
            "run_record_kib": self.run_record_kib,
            "lag_p50_ms": self.lag.0,
            "lag_p99_ms": self.lag.1,
            "end_lag_max_ms": self.end_lag_ms,
            "ack_p50_ms": self.ack.0,
            "ack_p99_ms": self.ack.1,
            "api_p50_ms": self.api.0,
            "api_p99_ms": self.api.1,
            "send_delay_p99_ms": self.late_p99,
            "start_s": self.start_s,
            "status": self.status,
            "totals_exact": self.totals_exact,
            "agent_lost": self.agent_lost,
            "notes": self.notes,
        })
    }

    /// The curve table's header (markdown).
    pub fn header() -> &'static str {
        "| agents | dashboards | KiB/s per dashboard | batch KiB | heartbeats only, cores | run, cores | peak RSS MiB | merge lag p50 / p99 ms | last batches' lag, max ms | ack p50 / p99 ms | API p50 / p99 ms | agents' send delay p99 ms | submit → all running, s | status | merged totals |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    }

    /// This row in the curve table.
    pub fn line(&self) -> String {
        format!(
            "| {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.0} | {} / {} | {} | {} / {} | {} / {} | {} | {:.2} | {} | {} |",
            self.agents,
            self.dashboards,
            if self.dashboards == 0 {
                "–".to_string()
            } else {
                format!("{:.1}", self.dashboard_kib_s)
            },
            self.batch_kib,
            self.idle_cores,
            self.run_cores,
            self.peak_rss_mib,
            ms(self.lag.0),
            ms(self.lag.1),
            ms(self.end_lag_ms),
            ms(self.ack.0),
            ms(self.ack.1),
            ms(self.api.0),
            ms(self.api.1),
            ms(self.late_p99),
            self.start_s,
            self.status,
            totals(self.totals_exact),
        )
    }

    /// The curve table's row of a measurement that could not be made.
    pub fn error_line(agents: usize, dashboards: usize) -> String {
        format!("| {agents} | {dashboards} | – | – | – | – | – | – | – | – | – | – | – | harness error | – |")
    }
}

/// Milliseconds as a table shows them: one decimal below 10, a dash for none.
pub fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v < 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// The merged totals' column.
pub fn totals(exact: bool) -> &'static str {
    if exact {
        "exact"
    } else {
        "**differ**"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_keep_one_decimal_below_10() {
        assert_eq!(ms(f64::NAN), "–");
        assert_eq!(ms(3.24), "3.2");
        assert_eq!(ms(123.6), "124");
    }

    #[test]
    fn every_line_has_the_header_columns() {
        let columns = Row::header().lines().next().unwrap().matches('|').count();
        assert_eq!(Row::error_line(10, 0).matches('|').count(), columns);
        let row = Row {
            agents: 10,
            status: "FINISHED".into(),
            ..Row::default()
        };
        assert_eq!(row.line().matches('|').count(), columns);
    }
}
