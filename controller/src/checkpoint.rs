//! Checkpoints of running runs: what a restarted controller needs to resume a run where it was.
//!
//! The coordinator writes a run's checkpoint (its merged metrics, the batch sequence numbers
//! merged per agent, and how far the run got) about once a second, and acknowledges metric
//! batches to agents only once a checkpoint holding them is durable. After a crash, agents
//! re-attach and replay every batch they have not seen acknowledged: batches in the checkpoint
//! are skipped by sequence number, the others are merged — nothing is lost or counted twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use volley_common::exit::AbortReason;
use volley_common::metrics::store::{MetricInfo, SeriesStore};
use volley_common::metrics::{MetricType, Sink, TagSet, ValueType};

use crate::model::{Run, RunStatus};
use crate::store::Db;

/// The checkpoint format; a checkpoint of another version is not resumed.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// When the start barrier was released (wall clock, ms since the Unix epoch).
    pub started_unix_ms: u64,
    pub setup_completed: bool,
    /// setup()'s data as JSON (None: undefined).
    pub setup_data: Option<String>,
    /// The agent chosen for teardown(), once chosen.
    pub teardown_agent: Option<String>,
    /// The run is stopping for this reason.
    pub reason: Option<AbortReason>,
    pub agents: BTreeMap<String, AgentProgress>,
    pub series: Vec<StoredSeries>,
    /// `vus`/`vus_max` per agent (summed across agents, not merged).
    pub agent_gauges: BTreeMap<String, BTreeMap<String, Sink>>,
}

/// One agent's progress in the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentProgress {
    /// The highest metric batch sequence number merged.
    pub last_seq: u64,
    pub vus: u64,
    pub execution_done: bool,
    pub done: bool,
    pub gone: bool,
    pub final_seq: Option<u64>,
    pub marked_failed: Option<String>,
    pub iterations: u64,
}

/// One merged series (metric × tag set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSeries {
    pub metric: String,
    pub metric_type: String,
    pub contains: String,
    pub tags: Vec<(String, String)>,
    pub sink: Sink,
}

/// The checkpoint a RUNNING run can be resumed from, or why it cannot be.
pub fn load(db: &Db, run: &Run) -> Result<Checkpoint, String> {
    if run.run_status != RunStatus::Running {
        return Err("only running runs are resumed".into());
    }
    let bytes = db
        .get_checkpoint(run.id)
        .map_err(|e| e.to_string())?
        .ok_or("no checkpoint was written before the restart")?;
    let cp: Checkpoint =
        serde_json::from_slice(&bytes).map_err(|e| format!("unreadable checkpoint: {e}"))?;
    if cp.version != VERSION {
        return Err(format!(
            "checkpoint format {} is not {}",
            cp.version, VERSION
        ));
    }
    Ok(cp)
}

/// The series of a store, for a checkpoint.
pub fn store_to_series(store: &SeriesStore) -> Vec<StoredSeries> {
    store
        .series()
        .filter_map(|(name, tags, sink)| {
            let info = store.info(name)?;
            Some(StoredSeries {
                metric: name.to_string(),
                metric_type: info.mtype.as_str().to_string(),
                contains: info.contains.as_str().to_string(),
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                sink: sink.clone(),
            })
        })
        .collect()
}

/// Rebuilds a store from a checkpoint's series; series that do not fit are reported.
pub fn series_to_store(series: &[StoredSeries]) -> Result<SeriesStore, String> {
    let mut store = SeriesStore::new();
    for s in series {
        let mtype: MetricType = s
            .metric_type
            .parse()
            .map_err(|_| format!("metric {}: unknown type {}", s.metric, s.metric_type))?;
        let contains: ValueType = s
            .contains
            .parse()
            .map_err(|_| format!("metric {}: unknown value type {}", s.metric, s.contains))?;
        let tags = TagSet::from_pairs(s.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        store
            .merge(&s.metric, MetricInfo { mtype, contains }, &tags, &s.sink)
            .map_err(|e| e.to_string())?;
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_round_trip_exactly() {
        let mut store = SeriesStore::new();
        let trend = MetricInfo {
            mtype: MetricType::Trend,
            contains: ValueType::Time,
        };
        let mut sink = Sink::new(MetricType::Trend);
        for v in [1.0, 2.5, 7.25] {
            sink.add(v, 0);
        }
        let tags = TagSet::from_pairs([("status", "200"), ("name", "a")]);
        store
            .merge("http_req_duration", trend, &tags, &sink)
            .unwrap();
        let mut c = Sink::new(MetricType::Counter);
        c.add(3.0, 0);
        let counter = MetricInfo {
            mtype: MetricType::Counter,
            contains: ValueType::Default,
        };
        store
            .merge("iterations", counter, &TagSet::new(), &c)
            .unwrap();

        let json = serde_json::to_vec(&store_to_series(&store)).unwrap();
        let back: Vec<StoredSeries> = serde_json::from_slice(&json).unwrap();
        let restored = series_to_store(&back).unwrap();
        assert_eq!(restored.series_count(), 2);
        let t = restored.aggregate("http_req_duration", &[]).unwrap();
        let orig = store.aggregate("http_req_duration", &[]).unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            serde_json::to_string(&orig).unwrap()
        );
        let it = restored.aggregate("iterations", &[]).unwrap();
        assert_eq!(
            serde_json::to_string(&it).unwrap(),
            serde_json::to_string(&c).unwrap()
        );
    }

    #[test]
    fn unknown_types_are_refused() {
        let bad = vec![StoredSeries {
            metric: "x".into(),
            metric_type: "histogramish".into(),
            contains: "default".into(),
            tags: vec![],
            sink: Sink::new(MetricType::Counter),
        }];
        assert!(series_to_store(&bad).unwrap_err().contains("unknown type"));
    }
}
