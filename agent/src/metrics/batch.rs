//! Interval metric batches: what was merged into a run's aggregates since the last batch, as
//! protobuf series. Agents send them to the controller over their link; a local
//! `volley run --out cloud=URL` posts them over HTTP. Each batch is exact and mergeable.

use volley_proto as pb;

use super::{MetricsStore, Registry};

/// Takes the store's delta since the last call, as series (empty when nothing happened).
pub fn take_series(store: &MetricsStore, registry: &Registry) -> Vec<pb::Series> {
    store
        .take_delta()
        .into_iter()
        .filter_map(|(id, tags, sink)| {
            let def = registry.get(id)?;
            Some(pb::Series::from_sink(
                def.name,
                def.contains,
                tags.iter(),
                sink,
            ))
        })
        .collect()
}
