//! The run driver: one task per run that feeds the run machine its inputs (from the agents'
//! streams, the API and a 250 ms tick, each stamped by the clock) and performs the actions it
//! returns, in order — messages on agent streams, store writes, checkpoints. Store writes run on
//! tokio's blocking pool, so a slow disk never stalls an async worker. A checkpoint is
//! serialized and written there while the task goes on merging; the acknowledgements it
//! carries, and any action that follows it, wait until it is durable.
//!
//! What the agents send waits in a bounded queue ([`AGENT_QUEUE`]): when the task falls
//! behind, the agents' streams wait for room, gRPC's flow control slows the agents, and they
//! keep their unacknowledged batches — memory stays bounded and nothing is dropped
//! (docs/failures.md#a-controller-that-falls-behind).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use volley_api::StreamStatus;

use super::{now_rfc3339, Coordinator};
use crate::model::RunEvent;
use crate::run::machine::{Action, Input, Machine, Now};
use crate::state::{Command, RunChanges};

/// How long the driver waits for an input before it ticks the machine.
const TICK: Duration = Duration::from_millis(250);

/// Most inputs from a run's agents waiting for its task (about one second of batches of 1,000
/// agents; the bytes held are this many batches at most).
pub const AGENT_QUEUE: usize = 1024;

/// A run's inputs: from its agents (bounded, [`AGENT_QUEUE`]) and from the controller itself
/// (launch, stops, re-attachments, a streamed run's batches: few, never held up).
pub struct Inbox {
    control: mpsc::UnboundedReceiver<Input>,
    agents: mpsc::Receiver<Input>,
}

/// A run's inbox and its two senders: for the controller's own inputs, and for its agents'.
pub fn inbox() -> (mpsc::UnboundedSender<Input>, mpsc::Sender<Input>, Inbox) {
    let (control_tx, control) = mpsc::unbounded_channel();
    let (agents_tx, agents) = mpsc::channel(AGENT_QUEUE);
    (control_tx, agents_tx, Inbox { control, agents })
}

impl Inbox {
    /// The next input, the controller's first; None when nothing came for `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Input> {
        tokio::select! {
            biased;
            Some(i) = self.control.recv() => Some(i),
            Some(i) = self.agents.recv() => Some(i),
            _ = tokio::time::sleep(wait) => None,
        }
    }
}

/// Where the driver gets the time of each step.
pub trait Clock: Send {
    fn now(&self) -> Now;
}

/// The system's clocks.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now {
            mono: Instant::now(),
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }
}

/// One run's task: performs the machine's answer to `first`, then to every input, until the
/// run is finished.
pub async fn drive(
    co: Arc<Coordinator>,
    mut machine: Machine,
    first: Input,
    mut inbox: Inbox,
    stream: Option<Arc<Mutex<StreamStatus>>>,
    clock: impl Clock,
) {
    let mut d = Driver {
        co,
        stream,
        run_id: machine.run_id(),
        writing: None,
    };
    d.step(&mut machine, clock.now(), first).await;
    while !machine.is_finished() {
        let next = tokio::select! {
            biased;
            written = Writing::done(&mut d.writing) => Err(written),
            // Nothing came (or nobody can send any more): time still passes.
            input = inbox.next(TICK) => Ok(input.unwrap_or(Input::Tick)),
        };
        match next {
            Ok(input) => d.step(&mut machine, clock.now(), input).await,
            Err(written) => d.written(&mut machine, written).await,
        }
    }
}

struct Driver {
    co: Arc<Coordinator>,
    stream: Option<Arc<Mutex<StreamStatus>>>,
    run_id: u64,
    /// The checkpoint being written on the blocking pool while the run's task goes on.
    writing: Option<Writing>,
}

/// A checkpoint being serialized and written off the run's task, and what waits for it to be
/// durable: the acknowledgements of the batches it holds (docs/failures.md#exactly-once-merging).
struct Writing {
    began: Instant,
    task: tokio::task::JoinHandle<Result<u64, String>>,
    then: Vec<Action>,
}

impl Writing {
    /// The outcome of the write in progress (its size); never ready when none is.
    async fn done(writing: &mut Option<Writing>) -> Result<u64, String> {
        match writing {
            Some(w) => (&mut w.task).await.unwrap_or_else(|e| Err(e.to_string())),
            None => std::future::pending().await,
        }
    }
}

impl Driver {
    /// One input: the machine's step, then its actions. A step that took a checkpoint's
    /// snapshot is timed as the checkpoint's cost to the run's task.
    async fn step(&mut self, machine: &mut Machine, now: Now, input: Input) {
        let began = Instant::now();
        let actions = machine.step(now, input);
        if actions
            .iter()
            .any(|a| matches!(a, Action::Checkpoint { .. }))
        {
            self.co.meters.checkpoint_held(began.elapsed());
        }
        self.count_merged(machine);
        self.perform(machine, actions).await;
    }

    /// Records the batches the last step merged in the controller's meters.
    fn count_merged(&self, machine: &mut Machine) {
        for lag_ms in machine.take_merged() {
            self.co.meters.batch_merged(Duration::from_millis(lag_ms));
        }
    }

    async fn perform(&mut self, machine: &mut Machine, actions: Vec<Action>) {
        for action in actions {
            // What follows a checkpoint in a step waits until it is durable, as it always
            // did: the teardown agent it names, a transition, the checkpoint's drop.
            self.finish_writing(machine).await;
            match action {
                Action::Checkpoint { checkpoint, then } => {
                    let db = self.co.db.clone();
                    let run_id = self.run_id;
                    let task = tokio::task::spawn_blocking(move || {
                        let bytes = serde_json::to_vec(&checkpoint).map_err(|e| e.to_string())?;
                        db.put_checkpoint(run_id, &bytes)
                            .map(|()| bytes.len() as u64)
                            .map_err(|e| e.to_string())
                    });
                    self.writing = Some(Writing {
                        began: Instant::now(),
                        task,
                        then,
                    });
                }
                other => self.perform_one(other).await,
            }
        }
    }

    /// Waits for the checkpoint being written, if any, and performs what waited for it.
    async fn finish_writing(&mut self, machine: &mut Machine) {
        if self.writing.is_some() {
            let held = Instant::now();
            let written = Writing::done(&mut self.writing).await;
            self.co.meters.checkpoint_held(held.elapsed());
            self.written(machine, written).await;
        }
    }

    /// The checkpoint being written is durable (its size) or failed: acknowledges its batches,
    /// or leaves them to be replayed.
    async fn written(&mut self, machine: &mut Machine, written: Result<u64, String>) {
        let Some(w) = self.writing.take() else {
            return;
        };
        let took = w.began.elapsed();
        match written {
            Ok(size) => {
                self.co.meters.checkpoint_written(took, size);
                machine.checkpoint_written(took);
                for a in w.then {
                    self.perform_one(a).await;
                }
            }
            Err(e) => {
                // Not acknowledged: the agents keep the batches and replay them.
                tracing::error!(run = self.run_id, "cannot write the run's checkpoint: {e}");
                self.co.meters.checkpoint_failed();
                machine.checkpoint_failed(took);
            }
        }
    }

    async fn perform_one(&mut self, action: Action) {
        let run_id = self.run_id;
        match action {
            Action::Send { agent, body } => self.co.send(&agent, body),
            Action::Event { level, message } => {
                tracing::info!(run = run_id, level, "{message}");
                let event = RunEvent {
                    at: now_rfc3339(),
                    level: level.into(),
                    message,
                    threshold: None,
                };
                self.write_event(event).await;
            }
            Action::ThresholdCrossed {
                at_unix_ms,
                crossing,
            } => {
                let message = crate::run::crossings::message(&crossing);
                tracing::info!(run = run_id, "{message}");
                let event = RunEvent {
                    at: crate::state::timestamp::format_rfc3339(
                        i64::try_from(at_unix_ms).unwrap_or(i64::MAX),
                    ),
                    level: if crossing.ok { "info" } else { "warning" }.into(),
                    message,
                    threshold: Some(crossing),
                };
                self.write_event(event).await;
            }
            Action::Degraded { note } => {
                self.write(Command::UpdateRun {
                    run_id,
                    changes: RunChanges {
                        degraded: Some(true),
                        note: Some(note),
                        ..Default::default()
                    },
                })
                .await;
            }
            Action::Transition {
                to,
                reason,
                changes,
            } => {
                self.write(Command::Transition {
                    run_id,
                    to,
                    reason,
                    at: now_rfc3339(),
                    changes,
                })
                .await;
            }
            Action::Summary(summary) => {
                self.write(Command::SetSummary { run_id, summary }).await;
            }
            Action::StreamAcked(seq) => self.with_stream(|s| s.acked_seq = s.acked_seq.max(seq)),
            Action::StreamStop(reason) => self.with_stream(|s| s.stop = Some(reason)),
            Action::StreamStatus(status) => self.with_stream(|s| s.run_status = status),
            Action::DeleteCheckpoint => {
                let db = self.co.db.clone();
                let deleted = tokio::task::spawn_blocking(move || {
                    db.delete_checkpoint(run_id).map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
                if let Err(e) = deleted {
                    tracing::warn!(run = run_id, "cannot delete the run's checkpoint: {e}");
                }
            }
            Action::Finish { status, exit_code } => {
                tracing::info!(
                    run = run_id,
                    status = status.name(),
                    exit_code,
                    "run finished"
                );
            }
            Action::Checkpoint { .. } => {
                tracing::error!(
                    run = run_id,
                    "a checkpoint's follow-up cannot be a checkpoint"
                );
            }
        }
    }

    fn with_stream(&self, f: impl FnOnce(&mut StreamStatus)) {
        if let Some(stream) = &self.stream {
            f(&mut stream.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }

    /// Adds `event` to the run's history.
    async fn write_event(&self, event: RunEvent) {
        self.write(Command::UpdateRun {
            run_id: self.run_id,
            changes: RunChanges {
                event: Some(event),
                ..Default::default()
            },
        })
        .await;
    }

    /// Applies a command to the store on the blocking pool, in order (the driver waits); in a
    /// Raft group it is sent again until committed while this node leads, so a proposal that
    /// timed out never leaves the run without its transition, event or end
    /// (docs/ha.md#writes-sent-again).
    async fn write(&self, cmd: Command) {
        let db = self.co.db.clone();
        let applied = tokio::task::spawn_blocking(move || db.execute_until_committed(cmd)).await;
        match applied {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("controller state: {e}"),
            Err(e) => tracing::error!("controller state: {e}"),
        }
    }
}
