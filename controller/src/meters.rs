//! Meters of the run pipeline that only the moment something happens can measure: metric
//! batches merged and how late (from the end of a batch's interval on its agent to its merge
//! here), and checkpoints written (time, size, failures, and the time they held their run's
//! task). The run drivers record into them;
//! `GET /metrics` exposes them (docs/rest-api.md#prometheus-metrics). Everything else there is
//! read at scrape time from the API's own answers.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Handles to the pipeline's meters; clones share them.
#[derive(Clone)]
pub struct RunMeters {
    batches_merged: Counter,
    merge_lag: Histogram,
    checkpoint_time: Histogram,
    checkpoint_size: Histogram,
    checkpoint_failures: Counter,
    checkpoint_bytes: Counter<u64, AtomicU64>,
    checkpoint_held: Counter<f64, AtomicU64>,
}

impl Default for RunMeters {
    fn default() -> Self {
        RunMeters {
            batches_merged: Counter::default(),
            // 10 ms .. ~40 s: an agent sends a batch every second, so a healthy lag is below 1 s.
            merge_lag: Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 40.0]),
            // 1 ms .. 8 s.
            checkpoint_time: Histogram::new([
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 8.0,
            ]),
            // 1 KiB .. 256 MiB, ×4.
            checkpoint_size: Histogram::new((0..10).map(|i| 1024.0 * 4f64.powi(i))),
            checkpoint_failures: Counter::default(),
            checkpoint_bytes: Counter::default(),
            checkpoint_held: Counter::default(),
        }
    }
}

impl RunMeters {
    /// A batch was merged `lag` after its interval ended on its agent (0 when the agent's
    /// clock is ahead).
    pub fn batch_merged(&self, lag: Duration) {
        self.batches_merged.inc();
        self.merge_lag.observe(lag.as_secs_f64());
    }

    /// A run's checkpoint of `bytes` was written in `took`.
    pub fn checkpoint_written(&self, took: Duration, bytes: u64) {
        self.checkpoint_time.observe(took.as_secs_f64());
        self.checkpoint_size.observe(bytes as f64);
        self.checkpoint_bytes.inc_by(bytes);
    }

    /// A run's task spent `held` on a checkpoint: taking its snapshot, or waiting for its
    /// write before an action that must follow it (the write itself runs off the task).
    pub fn checkpoint_held(&self, held: Duration) {
        self.checkpoint_held.inc_by(held.as_secs_f64());
    }

    /// A run's checkpoint could not be written (its batches stay unacknowledged).
    pub fn checkpoint_failed(&self) {
        self.checkpoint_failures.inc();
    }

    /// Adds the meters to a scrape's registry.
    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "volley_metric_batches_merged",
            "Agents' metric batches merged into their runs (each once)",
            self.batches_merged.clone(),
        );
        reg.register_with_unit(
            "volley_metric_batch_merge_lag",
            "From the end of a batch's interval on its agent to its merge on the controller",
            Unit::Seconds,
            self.merge_lag.clone(),
        );
        reg.register_with_unit(
            "volley_checkpoint_duration",
            "Time to write one run checkpoint to the store",
            Unit::Seconds,
            self.checkpoint_time.clone(),
        );
        reg.register_with_unit(
            "volley_checkpoint_size",
            "Size of one written run checkpoint",
            Unit::Bytes,
            self.checkpoint_size.clone(),
        );
        reg.register_with_unit(
            "volley_checkpoint_written",
            "Bytes of run checkpoints written",
            Unit::Bytes,
            self.checkpoint_bytes.clone(),
        );
        reg.register_with_unit(
            "volley_checkpoint_task",
            "Time runs' tasks spent on their checkpoints (snapshots, waits for a write), not merging",
            Unit::Seconds,
            self.checkpoint_held.clone(),
        );
        reg.register(
            "volley_checkpoint_failures",
            "Run checkpoints that could not be written",
            self.checkpoint_failures.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_show_in_the_exposition() {
        let m = RunMeters::default();
        m.batch_merged(Duration::from_millis(300));
        m.batch_merged(Duration::from_millis(20));
        m.checkpoint_written(Duration::from_millis(3), 5000);
        m.checkpoint_failed();
        m.checkpoint_held(Duration::from_millis(250));
        let mut reg = Registry::default();
        m.clone().register(&mut reg);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &reg).unwrap();
        for line in [
            "volley_metric_batches_merged_total 2",
            "volley_metric_batch_merge_lag_seconds_count 2",
            "volley_metric_batch_merge_lag_seconds_bucket{le=\"0.05\"} 1",
            "volley_metric_batch_merge_lag_seconds_bucket{le=\"0.5\"} 2",
            "volley_checkpoint_duration_seconds_count 1",
            "volley_checkpoint_size_bytes_sum 5000.0",
            "volley_checkpoint_written_bytes_total 5000",
            "volley_checkpoint_failures_total 1",
            "volley_checkpoint_task_seconds_total 0.25",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
