//! What an agent knows about itself for its own listener (`cluster::probe`): whether it is
//! registered with the controller and whether it drains, the run it serves, and counters of its
//! link. The link (`cluster::client`) writes it; probes and scrapes read it. Atomics, so
//! neither side waits on the other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::run::RunControl;

/// The agent's state as probes and `/metrics` see it.
#[derive(Default)]
pub struct AgentStatus {
    registered: AtomicBool,
    draining: AtomicBool,
    registrations: AtomicU64,
    batches_sent: AtomicU64,
    batches_unacked: AtomicU64,
    /// Iterations completed by this agent's runs that have ended.
    past_iterations: AtomicU64,
    run: Mutex<Option<(u64, Arc<RunControl>)>>,
    /// The agent's capacity (`--max-vus`; 0: no limit).
    max_vus: AtomicU64,
}

/// The figures of one scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    pub registered: bool,
    pub draining: bool,
    /// Registrations after the first: how often the link had to be dialed again.
    pub reconnects: u64,
    pub batches_sent: u64,
    pub batches_unacked: u64,
    /// The run served now; 0 when idle.
    pub run_id: u64,
    pub vus: i64,
    pub max_vus: u64,
    /// Iterations completed over all runs, the current one included.
    pub iterations: u64,
}

impl AgentStatus {
    pub fn new(max_vus: u64) -> Self {
        let s = Self::default();
        s.max_vus.store(max_vus, Ordering::Relaxed);
        s
    }

    /// The controller accepted (true) or the link was lost (false).
    pub fn set_registered(&self, yes: bool) {
        if yes {
            self.registrations.fetch_add(1, Ordering::Relaxed);
        }
        self.registered.store(yes, Ordering::SeqCst);
    }

    /// From SIGTERM on the agent takes no new run and is not ready.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Ready: registered with the controller and not draining (`GET /readyz`).
    pub fn ready(&self) -> bool {
        self.registered.load(Ordering::SeqCst) && !self.draining()
    }

    pub fn batch_sent(&self) {
        self.batches_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_unacked(&self, n: usize) {
        self.batches_unacked.store(n as u64, Ordering::Relaxed);
    }

    pub fn run_started(&self, run_id: u64, control: Arc<RunControl>) {
        *self.run.lock().unwrap_or_else(|e| e.into_inner()) = Some((run_id, control));
    }

    pub fn run_ended(&self) {
        if let Some((_, control)) = self.run.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.past_iterations.fetch_add(
                control.complete_iterations.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
        }
    }

    /// Stops the run served now, if any, with `reason` (reported to the controller like any
    /// abort that starts on the agent).
    pub fn abort_run(&self, reason: volley_common::exit::AbortReason) {
        if let Some((_, control)) = self.run.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            control.abort(reason);
        }
    }

    /// The run served now, if any.
    pub fn run_id(&self) -> Option<u64> {
        self.run
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(id, _)| *id)
    }

    pub fn snapshot(&self) -> Snapshot {
        let run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        let (run_id, vus, current) = run.as_ref().map_or((0, 0, 0), |(id, c)| {
            (
                *id,
                c.active_vus.load(Ordering::Relaxed).max(0),
                c.complete_iterations.load(Ordering::Relaxed),
            )
        });
        Snapshot {
            registered: self.registered.load(Ordering::SeqCst),
            draining: self.draining(),
            reconnects: self.registrations.load(Ordering::Relaxed).saturating_sub(1),
            batches_sent: self.batches_sent.load(Ordering::Relaxed),
            batches_unacked: self.batches_unacked.load(Ordering::Relaxed),
            run_id,
            vus,
            max_vus: self.max_vus.load(Ordering::Relaxed),
            iterations: self.past_iterations.load(Ordering::Relaxed) + current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_means_registered_and_not_draining() {
        let s = AgentStatus::new(10);
        assert!(!s.ready(), "not registered yet");
        s.set_registered(true);
        assert!(s.ready());
        s.set_registered(false);
        assert!(!s.ready(), "link lost");
        s.set_registered(true);
        assert_eq!(s.snapshot().reconnects, 1);
        s.start_draining();
        assert!(!s.ready(), "draining");
        assert!(s.snapshot().draining);
    }

    #[test]
    fn iterations_add_up_over_runs() {
        let s = AgentStatus::new(0);
        let c = Arc::new(RunControl::default());
        c.complete_iterations.store(5, Ordering::Relaxed);
        c.active_vus.store(3, Ordering::Relaxed);
        s.run_started(7, c.clone());
        let now = s.snapshot();
        assert_eq!((now.run_id, now.vus, now.iterations), (7, 3, 5));
        c.complete_iterations.store(8, Ordering::Relaxed);
        s.run_ended();
        let c2 = Arc::new(RunControl::default());
        c2.complete_iterations.store(2, Ordering::Relaxed);
        s.run_started(8, c2);
        assert_eq!(s.snapshot().iterations, 10);
        s.run_ended();
        let idle = s.snapshot();
        assert_eq!((idle.run_id, idle.vus, idle.iterations), (0, 0, 10));
    }
}
