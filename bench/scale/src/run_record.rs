//! The run's record as `volley submit --wait` and `status --follow` read it each second,
//! `GET /loadtests/v2/runs/{id}`: its size and time once the run has ended, and with
//! `--follow SECONDS` every that many seconds while it goes (what a user following the run
//! costs the controller; docs/rest-api.md#the-run-object-k6-run).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use volley_api::client::Client;

use crate::probe::quantile;

/// The run's record, read once or followed.
#[derive(Default)]
pub struct RecordReads {
    /// Each answer's body, in bytes.
    pub bytes: Vec<f64>,
    /// Each request's time, in ms.
    pub ms: Vec<f64>,
    pub errors: usize,
    /// What the first failed read said (the API client refuses an answer over 64 MiB, as
    /// `volley submit --wait` then does).
    pub first_error: Option<String>,
}

impl RecordReads {
    /// Reads the record once.
    pub fn read(&mut self, client: &Client, run_id: u64) {
        let asked = Instant::now();
        match client.request("GET", &format!("/loadtests/v2/runs/{run_id}"), None) {
            Ok(r) if r.status == 200 => {
                self.ms.push(asked.elapsed().as_secs_f64() * 1e3);
                self.bytes.push(r.body.len() as f64);
            }
            failed => {
                self.errors += 1;
                let why = match failed {
                    Ok(r) => format!("status {}", r.status),
                    Err(e) => e.to_string(),
                };
                self.first_error.get_or_insert(why);
            }
        }
    }

    /// One line for stderr: the count, the size and the p50 / p99 time.
    pub fn line(&self, what: &str) -> String {
        format!(
            "{what}: {} reads of {:.0} KiB (largest), {:.1} / {:.1} ms p50 / p99{}",
            self.ms.len(),
            quantile(&self.bytes, 1.0) / 1024.0,
            quantile(&self.ms, 0.5),
            quantile(&self.ms, 0.99),
            match (self.errors, &self.first_error) {
                (0, _) | (_, None) => String::new(),
                (n, Some(why)) => format!(", {n} failed (the first: {why})"),
            }
        )
    }
}

/// Reads the record every `every` on a thread of its own until the returned flag is set.
pub fn follow(
    client: Client,
    run_id: u64,
    every: Duration,
) -> (Arc<AtomicBool>, JoinHandle<RecordReads>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut reads = RecordReads::default();
        while !flag.load(Ordering::SeqCst) {
            let asked = Instant::now();
            reads.read(&client, run_id);
            std::thread::sleep(every.saturating_sub(asked.elapsed()));
        }
        reads
    });
    (stop, handle)
}
