//! Reading what store format 2 wrote: the run's execution segment sequence repeated in every
//! assignment (of the run in snapshots, of the `Assign` command in the log), where format 3
//! keeps it once per run (`Run::sequence`, [`RunPlacement::sequence`]). The first assignment's
//! copy becomes the run's and the others are dropped as they are read. Every reader of stored
//! state goes through here (the store's snapshot and log, Raft's snapshots and entries), so a
//! replica that reads an old record ends with the same state as one that applied the new form.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::RunPlacement;
use crate::model::{Assignment, Run};

/// An `Assign` command as either format wrote it.
#[derive(Deserialize)]
pub(super) struct PlacementRecord {
    /// Format 3.
    #[serde(default)]
    sequence: Option<String>,
    assignments: Vec<AssignmentRecord>,
}

#[derive(Deserialize)]
struct AssignmentRecord {
    agent: String,
    segment: String,
    /// Format 2's copy of the run's sequence.
    #[serde(default)]
    sequence: Option<String>,
}

impl From<PlacementRecord> for RunPlacement {
    fn from(r: PlacementRecord) -> RunPlacement {
        let mut legacy = None;
        let assignments = r
            .assignments
            .into_iter()
            .map(|a| {
                if legacy.is_none() {
                    legacy = a.sequence;
                }
                Assignment {
                    agent: a.agent,
                    segment: a.segment,
                }
            })
            .collect();
        RunPlacement {
            sequence: r.sequence.or(legacy).unwrap_or_default(),
            assignments,
        }
    }
}

/// The state's runs, each read as JSON first so that a format 2 run's sequence can move from
/// its first assignment to the run (`Run` skips the assignments' copies).
pub(super) fn runs<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u64, Run>, D::Error> {
    let raw = BTreeMap::<u64, Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(id, mut run)| {
            lift_sequence(&mut run);
            Run::deserialize(run)
                .map(|r| (id, r))
                .map_err(|e| serde::de::Error::custom(format!("run {id}: {e}")))
        })
        .collect()
}

/// Gives a run without `sequence` its first assignment's copy, if it has one.
fn lift_sequence(run: &mut Value) {
    let Some(fields) = run.as_object_mut() else {
        return;
    };
    if fields.contains_key("sequence") {
        return;
    }
    let first = fields
        .get("assignments")
        .and_then(|a| a.get(0))
        .and_then(|a| a.get("sequence"))
        .cloned();
    if let Some(sequence) = first {
        fields.insert("sequence".into(), sequence);
    }
}
