//! Runs streamed from a local `volley run --out cloud=URL`: the run executes on the user's
//! machine and its metric batches arrive over REST. The controller merges them exactly once
//! each (by sequence number), checkpoints them, and answers every request with what is durable
//! and whether the run was stopped here (API stop, a limit, data_timeout).

use std::sync::{Arc, Mutex};

use volley_common::exit::AbortReason;
use volley_proto as pb;

use super::driver::{self, Clock, SystemClock};
use super::{Coordinator, Tracked};
use crate::model::{Assignment, Run, RunStatus};
use crate::run::machine::{Input, Machine, RunSpec};
use crate::state::{Command, RunChanges, RunPlacement, STREAMED_RUN_PROCESS};

/// What a streamed run's client hears back, and how it ends its run: the REST API's types.
pub use volley_api::{StreamFinish, StreamStatus};

impl Coordinator {
    /// Starts a run streamed from a local `volley run --out cloud=URL` (already created, in
    /// CREATED): it is RUNNING at once; its data comes from `source` through
    /// [`Coordinator::stream_batch`] and it ends with [`Coordinator::stream_finish`], or
    /// TIMED_OUT when nothing arrives for `data_timeout`.
    pub fn start_streamed(self: &Arc<Self>, run: Run, source: String) {
        let assignments = vec![Assignment {
            agent: source.clone(),
            segment: "0:1".into(),
        }];
        self.exec(Command::Assign {
            run_id: run.id,
            placement: RunPlacement {
                sequence: String::new(),
                assignments: assignments.clone(),
            },
        });
        let vus = crate::placement::planned_vus(&run.config);
        self.transition(
            run.id,
            RunStatus::Running,
            &format!("streamed from a local volley run on {source}"),
            RunChanges {
                vus: Some(vus),
                ..Default::default()
            },
        );
        let stream = Arc::new(Mutex::new(StreamStatus {
            acked_seq: 0,
            stop: None,
            run_status: RunStatus::Running,
        }));
        let agents = vec![source];
        let Tracked { inbox, live, .. } = self.track(run.id, &agents, Some(stream.clone()));
        let clock = SystemClock;
        let spec = RunSpec {
            run_id: run.id,
            test_id: run.test_id,
            sequence: String::new(),
            assignments,
            config: run.config.clone(),
            env: run.env.clone(),
            streamed: true,
            degraded_note: None,
        };
        let mut machine = Machine::new(spec, self.config.clone(), live.clone(), clock.now());
        machine.start_streamed(clock.now());
        let me = self.clone();
        tokio::spawn(async move {
            driver::drive(
                me.clone(),
                machine,
                Input::Resume,
                inbox,
                Some(stream),
                clock,
            )
            .await;
            me.retire(run.id, live, &agents);
        });
    }

    /// The stream status of a streamed run in progress (None: not in progress here).
    fn stream_of(
        &self,
        run_id: u64,
    ) -> Option<(
        tokio::sync::mpsc::UnboundedSender<Input>,
        String,
        Arc<Mutex<StreamStatus>>,
    )> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let h = runs.get(&run_id)?;
        let stream = h.stream.clone()?;
        Some((
            h.tx.clone(),
            h.agents.first().cloned().unwrap_or_default(),
            stream,
        ))
    }

    /// What a streamed run's client is told about a run that is not in progress here.
    fn stream_ended(&self, run_id: u64) -> Option<StreamStatus> {
        let run = self
            .db
            .read(|s| s.run(run_id).cloned())
            .filter(|r| r.run_process == STREAMED_RUN_PROCESS)?;
        let stop = run.abort_reason.clone().or_else(|| {
            Some(AbortReason::System {
                message: format!(
                    "run {run_id} is {} on the controller",
                    run.run_status.name()
                ),
            })
        });
        Some(StreamStatus {
            acked_seq: 0,
            stop: run.run_status.is_terminal().then_some(stop).flatten(),
            run_status: run.run_status,
        })
    }

    /// One metric batch of a streamed run. Batches are merged once each (by sequence
    /// number); the answer says what is durable and whether the run was stopped here.
    pub fn stream_batch(&self, run_id: u64, batch: pb::MetricBatch) -> Option<StreamStatus> {
        let Some((tx, source, stream)) = self.stream_of(run_id) else {
            return self.stream_ended(run_id);
        };
        let _ = tx.send(Input::Metrics(source, batch));
        let status = stream.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(status)
    }

    /// The end of a streamed run: its last batch number and why it stopped.
    pub fn stream_finish(&self, run_id: u64, fin: StreamFinish) -> Option<StreamStatus> {
        let Some((tx, source, stream)) = self.stream_of(run_id) else {
            return self.stream_ended(run_id);
        };
        let event = pb::RunEvent {
            run_id,
            phase: pb::RunPhase::Done as i32,
            message: String::new(),
            abort: fin.abort_reason.as_ref().map(pb::AbortReason::from),
            vus: 0,
            iterations: fin.iterations,
            interrupted_iterations: 0,
            last_batch_seq: fin.last_batch_seq,
            marked_failed: fin.marked_failed.is_some(),
            failed_message: fin.marked_failed.unwrap_or_default(),
        };
        let _ = tx.send(Input::Event(source, event));
        let status = stream.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(status)
    }

    /// A batch of a streamed run whose client does not number its batches (`k6 run --out
    /// cloud`): numbered here in arrival order, under the lock that orders them into the run's
    /// task, so each is merged once and none is taken for a replay.
    pub fn stream_push(&self, run_id: u64, mut batch: pb::MetricBatch) -> Option<StreamStatus> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(h) = runs.get_mut(&run_id) else {
            drop(runs);
            return self.stream_ended(run_id);
        };
        let stream = h.stream.clone()?;
        h.pushed += 1;
        batch.seq = h.pushed;
        batch.run_id = run_id;
        let source = h.agents.first().cloned().unwrap_or_default();
        let _ = h.tx.send(Input::Metrics(source, batch));
        drop(runs);
        let status = stream.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(status)
    }

    /// The end of a streamed run whose batches were numbered here ([`Coordinator::stream_push`]):
    /// its last batch is the last one numbered.
    pub fn stream_finish_pushed(&self, run_id: u64, mut fin: StreamFinish) -> Option<StreamStatus> {
        let pushed = {
            let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
            runs.get(&run_id).map(|h| h.pushed)
        };
        fin.last_batch_seq = pushed.unwrap_or(0);
        self.stream_finish(run_id, fin)
    }
}
