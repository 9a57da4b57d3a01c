//! `--merge-cost BATCHES`: the controller's own work per metric batch without a controller
//! process. The prepared batches (`crate::batches`) are encoded as an agent sends them, then
//! BATCHES times decoded (from a shared buffer, as tonic decodes a message from its receive
//! buffer: the batch's series are views of it, not copies, read in place by the merge) and
//! merged into one run's live data by the controller's code (`volley_controller::run::merge`),
//! as from 100 agents sending one batch a second each.
//! Under callgrind (`bench/merge_cost.sh`) its instructions per batch are the same on a busy
//! machine as on an idle one, so a change to the protocol or the merge is measured to a few
//! percent; the wall time per batch is printed as well.

use std::time::Instant;

use anyhow::{bail, Result};
use bytes::Bytes;
use volley_controller::run::merge::{merge_batch, AgentGauges, LiveData};
use volley_proto as pb;
use volley_proto::Message as _;

use crate::batches;

/// Agents the batches are spread over (each sends one batch per second of the run).
const AGENTS: u64 = 100;

pub fn run(batches: u64, rps: u32) -> Result<()> {
    let variants = batches::variants(8, rps);
    let encoded: Vec<Bytes> = variants
        .iter()
        .map(|v| {
            pb::AgentMessage {
                version: pb::PROTOCOL_VERSION,
                body: Some(pb::agent_message::Body::Metrics(pb::MetricBatch {
                    run_id: 1,
                    seq: 1,
                    start_unix_ms: 0,
                    end_unix_ms: 0,
                    series: v.series.clone(),
                })),
            }
            .encode_to_vec()
            .into()
        })
        .collect();
    let agents: Vec<String> = (0..AGENTS).map(|i| format!("agent-{i}")).collect();
    let (mut live, mut gauges) = (LiveData::default(), AgentGauges::default());
    let began = Instant::now();
    for i in 0..batches {
        let bytes = &encoded[i as usize % encoded.len()];
        let Some(pb::agent_message::Body::Metrics(mut batch)) =
            pb::AgentMessage::decode(bytes.clone())?.body
        else {
            bail!("a prepared batch did not decode as one");
        };
        let second = i / AGENTS + 1;
        (batch.seq, batch.start_unix_ms, batch.end_unix_ms) =
            (second, (second - 1) * 1000, second * 1000);
        merge_batch(
            &mut live,
            &mut gauges,
            &agents[(i % AGENTS) as usize],
            batch,
            1000,
        );
    }
    let took = began.elapsed();
    let iterations = live
        .series
        .aggregate("iterations", &[])
        .and_then(|s| s.stat("count", 1.0))
        .unwrap_or(0.0);
    println!(
        "{batches} batches of {:.1} KiB merged in {:.3} s: {:.1} µs per batch; {iterations} iterations",
        variants.iter().map(|v| v.bytes).sum::<usize>() as f64 / variants.len() as f64 / 1024.0,
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / batches.max(1) as f64
    );
    Ok(())
}
