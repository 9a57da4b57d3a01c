//! Outputs (`--out`): raw samples in k6's formats (`json`), and the run's aggregates streamed
//! to a Volley controller (`cloud`). The engine creates them through the traits here.

pub mod cloud;
pub mod json;

use std::path::PathBuf;
use std::sync::Arc;

use volley_common::threshold::Threshold;

use crate::metrics::{MetricsStore, Registry, SampleSink};
use crate::run::RunControl;

/// A remote copy of the run's results (`--out cloud=URL`, see [`crate::output::cloud`]): it
/// gets the run's aggregates once they exist and ships their interval deltas.
pub trait MetricsStream: Send + Sync {
    /// The options are known and the aggregates exist (before VU init): create the remote run
    /// and start shipping. An error (exit code, message) ends the run before it starts.
    fn start(&self, start: StreamStart) -> Result<(), (i32, String)>;
    /// The run is over and every sample is in the aggregates: ship the rest and end the remote
    /// run (bounded in time).
    fn finish(&self, control: &RunControl);
}

/// What a [`MetricsStream`] gets when the run starts.
pub struct StreamStart {
    pub script: PathBuf,
    /// The consolidated options (k6 shape).
    pub options: serde_json::Value,
    pub store: Arc<MetricsStore>,
    pub registry: Arc<Registry>,
    pub control: Arc<RunControl>,
}

/// Creates an output once the run knows its registry and thresholds.
pub trait OutputFactory: Send + Sync {
    fn create(
        &self,
        registry: Arc<Registry>,
        thresholds: &[(String, Vec<Threshold>)],
    ) -> anyhow_like::Result<Arc<dyn RawOutput>>;
}

/// A raw-sample output that also needs to be closed at the end.
pub trait RawOutput: SampleSink {
    fn close(&self) {}
}

/// Tiny local result alias so this module does not depend on anyhow.
pub mod anyhow_like {
    pub type Result<T> = std::result::Result<T, String>;
}
