//! An abort that started on this agent (`test.abort()`, an exception in init, a threshold's
//! `abortOnFail`) is reported to the controller exactly once: in a FAILED event as soon as the
//! engine aborts, or on the run's DONE when that goes first. Two tasks send those messages, so
//! the report is claimed under one lock held while FAILED is queued:
//! - DONE must not overtake FAILED. Under load it did: a DONE before the start barrier without a
//!   reason reads to the controller as an agent that failed (exit 97), not the script's abort
//!   (108).
//! - A reason sent twice is not harmless: a draining agent's second one would abort the run it
//!   had already left.
//!
//! An abort the controller ordered is never reported back (it knows why it stopped the run).
//! See docs/failures.md for how the controller ends a run on an agent's abort.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

/// The one report of a run's agent-side abort; shared by the task that sends FAILED and the one
/// that sends DONE.
#[derive(Clone)]
pub(crate) struct AbortReport {
    reported: Arc<Mutex<bool>>,
    by_controller: Arc<AtomicBool>,
}

/// The right to report the abort, held until the message carrying it is queued; dropping it
/// without [`Claim::reported`] leaves the report to the other task.
pub(crate) struct Claim<'a>(MutexGuard<'a, bool>);

impl AbortReport {
    /// `by_controller` is set when the controller stopped or aborted the run itself.
    pub(crate) fn new(by_controller: Arc<AtomicBool>) -> Self {
        Self {
            reported: Arc::new(Mutex::new(false)),
            by_controller,
        }
    }

    /// Waits while the other task holds its claim, then claims the report unless it was sent
    /// already or the controller stopped the run.
    pub(crate) async fn claim(&self) -> Option<Claim<'_>> {
        let guard = self.reported.lock().await;
        (!*guard && !self.by_controller.load(Ordering::SeqCst)).then_some(Claim(guard))
    }
}

impl Claim<'_> {
    /// The message carrying the reason is queued: no other will carry it.
    pub(crate) fn reported(mut self) {
        *self.0 = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_abort_is_claimed_once() {
        let report = AbortReport::new(Arc::new(AtomicBool::new(false)));
        report.claim().await.expect("first claim").reported();
        assert!(
            report.claim().await.is_none(),
            "a second report was allowed"
        );
    }

    #[tokio::test]
    async fn a_claim_dropped_without_a_report_leaves_it_to_the_other_task() {
        let report = AbortReport::new(Arc::new(AtomicBool::new(false)));
        drop(report.claim().await.expect("first claim"));
        assert!(report.claim().await.is_some());
    }

    #[tokio::test]
    async fn an_abort_the_controller_ordered_is_not_reported_back() {
        let by_controller = Arc::new(AtomicBool::new(false));
        let report = AbortReport::new(by_controller.clone());
        by_controller.store(true, Ordering::SeqCst);
        assert!(report.claim().await.is_none());
    }

    /// DONE cannot overtake a FAILED still being queued: its claim waits for FAILED's, then
    /// finds the abort reported.
    #[tokio::test]
    async fn done_waits_for_a_failed_being_queued_and_then_carries_no_reason() {
        let report = AbortReport::new(Arc::new(AtomicBool::new(false)));
        let (queued_tx, queued_rx) = tokio::sync::oneshot::channel::<()>();
        let (claimed_tx, claimed_rx) = tokio::sync::oneshot::channel::<()>();
        let failed = {
            let report = report.clone();
            tokio::spawn(async move {
                let claim = report.claim().await.expect("FAILED claims first");
                claimed_tx.send(()).unwrap();
                // The FAILED event waits for room in the outbox.
                queued_rx.await.unwrap();
                claim.reported();
            })
        };
        claimed_rx.await.unwrap();
        let done = {
            let report = report.clone();
            tokio::spawn(async move { report.claim().await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !done.is_finished(),
            "DONE went ahead of a FAILED being queued"
        );
        queued_tx.send(()).unwrap();
        failed.await.unwrap();
        let done_carries_reason = tokio::time::timeout(Duration::from_secs(5), done)
            .await
            .expect("DONE's claim waited past FAILED's")
            .unwrap();
        assert!(!done_carries_reason, "the reason rode on DONE as well");
    }
}
