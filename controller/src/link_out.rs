//! The sending half of an agent's link: one bounded queue that the registry (the runs'
//! messages) and the agent's own stream (heartbeat answers, refusals) share, read by gRPC as
//! the response stream. It remembers when it last gave the agent a message, so that a
//! heartbeat is answered only when the agent has heard nothing for a while: during a run the
//! acknowledgements already tell it the controller is there, and every answer is a write on
//! the agent's connection — at thousands of agents, a system call and an HTTP/2 frame each,
//! several per agent per second (docs/benchmarks.md#controller-scale).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tonic::Status;
use volley_proto as pb;

/// A heartbeat is answered when nothing went to its agent for this long (the heartbeat
/// interval the controller announces), unless the agent said how long its dead-man switch
/// waits ([`answer_after`]): it then hears from the controller at least every two heartbeat
/// intervals, within any `orphan_after` (docs/failures.md).
pub const ANSWER_AFTER: Duration = Duration::from_secs(1);

/// The longest quiet before a heartbeat is answered, whatever the agent's dead-man switch.
const LONGEST_QUIET: Duration = Duration::from_secs(5);

/// How long an agent whose dead-man switch fires after `orphan_after_ms` (its Register; 0: not
/// said) may go without a message before its heartbeat is answered: a sixth of it, between
/// [`ANSWER_AFTER`] and 5 s, so that it hears from the controller at least every 6 s (one
/// heartbeat interval more) with the default `--orphan-after 30s`. Each answer is a write on the
/// agent's connection: an idle agent answered every second cost the controller about a third
/// of its heartbeats' CPU at 5,000 agents (docs/benchmarks.md, session 13).
pub fn answer_after(orphan_after_ms: u32) -> Duration {
    match orphan_after_ms {
        0 => ANSWER_AFTER,
        ms => (Duration::from_millis(u64::from(ms)) / 6).clamp(ANSWER_AFTER, LONGEST_QUIET),
    }
}

/// When a link last gave its agent a message.
#[derive(Debug)]
pub struct LastSent {
    base: Instant,
    /// Milliseconds since `base` plus one; 0: nothing yet.
    ms: AtomicU64,
}

impl LastSent {
    fn new() -> Self {
        LastSent {
            base: Instant::now(),
            ms: AtomicU64::new(0),
        }
    }

    fn stamp_at(&self, at: Instant) {
        let ms = at.saturating_duration_since(self.base).as_millis() as u64 + 1;
        self.ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long nothing went to the agent at `at` (None: nothing ever did).
    pub fn quiet_for(&self, at: Instant) -> Option<Duration> {
        match self.ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(at.saturating_duration_since(self.base + Duration::from_millis(ms - 1))),
        }
    }

    /// Whether a heartbeat arriving at `at` needs an answer: nothing went to the agent for
    /// `after` ([`answer_after`]).
    pub fn needs_answer(&self, at: Instant, after: Duration) -> bool {
        self.quiet_for(at).is_none_or(|q| q >= after)
    }
}

/// The response stream of an agent's link: what was queued for the agent, in order.
pub struct Outbound {
    rx: mpsc::Receiver<pb::ControllerMessage>,
    last: Arc<LastSent>,
}

/// A link's queue of at most `cap` messages: its sender, and the stream gRPC writes from.
pub fn channel(cap: usize) -> (mpsc::Sender<pb::ControllerMessage>, Outbound) {
    let (tx, rx) = mpsc::channel(cap);
    let out = Outbound {
        rx,
        last: Arc::new(LastSent::new()),
    };
    (tx, out)
}

impl Outbound {
    /// When this link last gave its agent a message.
    pub fn last_sent(&self) -> Arc<LastSent> {
        self.last.clone()
    }
}

impl tokio_stream::Stream for Outbound {
    type Item = Result<pb::ControllerMessage, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(_)) = &polled {
            self.last.stamp_at(Instant::now());
        }
        polled.map(|m| m.map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    use super::*;

    fn ack(seq: u64) -> pb::ControllerMessage {
        crate::run::messages::envelope(crate::run::messages::ack(1, seq))
    }

    #[tokio::test]
    async fn a_heartbeat_is_answered_only_after_a_quiet_interval() {
        let (tx, mut out) = channel(4);
        let last = out.last_sent();
        // Nothing sent yet: the first heartbeat is answered.
        assert!(last.needs_answer(Instant::now(), ANSWER_AFTER));
        tx.send(ack(1)).await.unwrap();
        let got = out.next().await.unwrap().unwrap();
        assert_eq!(got, ack(1));
        let now = Instant::now();
        // An acknowledgement just went out: the agent heard from the controller.
        assert!(!last.needs_answer(now, ANSWER_AFTER));
        assert!(!last.needs_answer(now + ANSWER_AFTER / 2, ANSWER_AFTER));
        assert!(last.needs_answer(now + ANSWER_AFTER + Duration::from_millis(5), ANSWER_AFTER));
        // An agent that waits 30 s for a word is answered after 5 s of quiet, not 1 s.
        let after = answer_after(30_000);
        assert!(!last.needs_answer(now + Duration::from_secs(4), after));
        assert!(last.needs_answer(now + Duration::from_millis(5_005), after));
        drop(tx);
        assert!(out.next().await.is_none());
    }

    #[tokio::test]
    async fn only_what_was_written_counts_as_sent() {
        let (tx, out) = channel(4);
        let last = out.last_sent();
        // Queued but not taken by the connection yet: the agent has not heard it.
        tx.send(ack(1)).await.unwrap();
        assert_eq!(last.quiet_for(Instant::now()), None);
        assert!(last.needs_answer(Instant::now(), answer_after(30_000)));
    }

    #[test]
    fn an_agent_hears_well_within_its_dead_man_switch() {
        let s = Duration::from_secs;
        assert_eq!(
            answer_after(0),
            ANSWER_AFTER,
            "not said: every second, as before"
        );
        assert_eq!(answer_after(30_000), s(5), "the default --orphan-after 30s");
        assert_eq!(answer_after(600_000), s(5), "never quieter than 5 s");
        assert_eq!(answer_after(12_000), s(2));
        assert_eq!(answer_after(6_000), s(1));
        assert_eq!(
            answer_after(1),
            ANSWER_AFTER,
            "never more often than each heartbeat"
        );
        assert_eq!(answer_after(3_000), ANSWER_AFTER);
        // The longest an agent goes without a word, the quiet plus one heartbeat interval, is at
        // most half its switch's wait (below 4 s every heartbeat is answered, as before).
        for ms in [4_000u32, 6_000, 10_000, 30_000, u32::MAX] {
            let longest = answer_after(ms) + s(1);
            assert!(
                longest * 2 <= Duration::from_millis(u64::from(ms)),
                "{ms} ms: {longest:?}"
            );
        }
    }
}
