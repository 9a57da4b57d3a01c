//! How the run machine takes in what agents report: lifecycle events, metric batches (merged
//! exactly once each, acknowledged once a checkpoint holds them), setup results, heartbeats,
//! re-attachments and disconnections.

use volley_common::exit::AbortReason;
use volley_proto as pb;

use pb::controller_message::Body;

use super::machine::{Input, Machine, Now, Phase};
use super::utilization_log::{self, AgentLog};
use super::{merge, messages};
use crate::model::UtilizationSample;
use crate::state::timestamp::format_rfc3339;

impl Machine {
    pub(super) fn handle(&mut self, now: Now, input: Input) {
        let from = match &input {
            Input::Event(a, _)
            | Input::Metrics(a, _)
            | Input::Setup(a, _)
            | Input::Heartbeat(a, _) => Some(a.clone()),
            _ => None,
        };
        if let Some(a) = from.and_then(|a| self.agents.get_mut(&a)) {
            a.last_seen = now.mono;
            a.awaiting_reattach = false;
        }
        match input {
            Input::Event(agent, e) => self.on_event(agent, e),
            Input::Metrics(agent, batch) => self.on_batch(now, agent, batch),
            Input::Setup(agent, s) => {
                if s.ok {
                    self.setup_result = Some((!s.data_json.is_empty()).then_some(s.data_json));
                } else {
                    let reason = messages::setup_failure(s.abort, || {
                        format!("setup() failed on agent {agent}")
                    });
                    self.abort(reason);
                }
            }
            Input::Heartbeat(agent, h) => self.on_heartbeat(now, agent, h),
            Input::Reattached(agent) => self.on_reattached(now, agent),
            Input::AgentGone(agent) => {
                // The agent may come back within agent_lost_after; check_agents decides.
                if self.agents.get(&agent).is_some_and(|a| !a.done && !a.gone) {
                    let msg = format!(
                        "agent {agent} disconnected; the run waits up to {:.0} s (agent_lost_after) for it to come back",
                        self.cfg.agent_lost_after.as_secs_f64()
                    );
                    self.event("warning", msg);
                }
            }
            Input::Stop(reason) => self.abort(reason),
            Input::Launch { .. } | Input::Resume | Input::Tick => {}
        }
    }

    fn on_event(&mut self, agent: String, e: pb::RunEvent) {
        let phase = pb::RunPhase::try_from(e.phase).unwrap_or(pb::RunPhase::Unspecified);
        // Only the run's own agents report on it; nothing of another's is applied.
        if !self.agents.contains_key(&agent) {
            return;
        }
        if let Some(reason) =
            messages::reported_reason(e.abort.clone(), || format!("agent {agent}: {}", e.message))
        {
            if self.spec.streamed && self.reason.is_none() {
                self.local_abort = true;
            }
            // A draining agent whose grace ran out stops only its own part: the run's
            // on_agent_lost policy says what that does to the run.
            let drained = !self.spec.streamed
                && self.reason.is_none()
                && self
                    .agents
                    .get(&agent)
                    .is_some_and(|a| a.draining && !a.left)
                && matches!(reason, AbortReason::System { .. });
            if drained {
                self.agent_left(&agent, reason);
            } else {
                self.abort(reason);
            }
        }
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        match phase {
            pb::RunPhase::Ready => {
                a.ready = true;
                a.vus = e.vus;
            }
            pb::RunPhase::ExecutionDone => a.execution_done = true,
            pb::RunPhase::Done => {
                a.done = true;
                a.final_seq = Some(e.last_batch_seq);
                a.iterations = e.iterations;
                if e.marked_failed {
                    a.marked_failed = Some(e.failed_message.clone());
                }
                // An agent whose engine ended before the start barrier, with no abort of its
                // own, can never become ready: end the run instead of waiting.
                if self.started.is_none() && self.reason.is_none() {
                    let why = if e.message.is_empty() {
                        "its engine ended before the run started".to_string()
                    } else {
                        e.message.clone()
                    };
                    self.abort(AbortReason::System {
                        message: format!(
                            "agent {agent} ended its part of the run during VU init: {why}"
                        ),
                    });
                }
            }
            _ => {}
        }
    }

    fn on_batch(&mut self, now: Now, agent: String, batch: pb::MetricBatch) {
        let step_ms = self.cfg.metrics_interval.as_millis().max(1) as u64;
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        // Exactly once: a replayed or duplicated batch is acknowledged, not merged.
        let (run_id, end_unix_ms) = (batch.run_id, batch.end_unix_ms);
        if batch.seq > a.last_seq {
            a.last_seq = batch.seq;
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            merge::merge_batch_within(
                &mut live,
                &mut self.agent_gauges,
                &agent,
                batch,
                step_ms,
                self.cfg.limits.max_series,
            );
            // Bounded: the driver takes them after every step.
            self.merged_lags_ms
                .push(now.unix_ms.saturating_sub(end_unix_ms));
        }
        // Acknowledged once a checkpoint holds it (replays of merged batches at once).
        let started = self.started.is_some();
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        if started {
            a.unacked_seq = Some(a.last_seq);
            self.dirty = true;
        } else {
            let body = messages::ack(run_id, a.last_seq);
            self.send(&agent, body);
        }
    }

    fn on_heartbeat(&mut self, now: Now, agent: String, h: pb::Heartbeat) {
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        a.draining |= h.draining;
        self.check_overload(now, &agent, &h);
        let mem = crate::registry::memory_percent(&h);
        // Bounded across the run, whatever its agents and length (utilization_log.rs).
        let cap = utilization_log::per_agent(self.order.len());
        let mut live = self.live_data();
        if !live.utilization.contains_key(&agent) {
            let segment = self.segment_of(&agent);
            live.utilization
                .insert(agent.clone(), AgentLog::new(segment));
        }
        let Some(log) = live.utilization.get_mut(&agent) else {
            return;
        };
        log.push(
            UtilizationSample {
                at: format_rfc3339(now.unix_ms as i64),
                cpu_percent: h.cpu_percent,
                memory_percent: mem,
                process_cpu_percent: h.process_cpu_percent,
                process_rss_bytes: h.process_rss_bytes,
                active_vus: h.active_vus,
                requests_per_second: h.requests_per_second,
                iterations_per_second: h.iterations_per_second,
            },
            cap,
        );
    }

    fn on_reattached(&mut self, now: Now, agent: String) {
        self.event("info", format!("agent {agent} re-attached to the run"));
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        a.awaiting_reattach = false;
        a.last_seen = now.mono;
        // Batches already merged are acknowledged again, so the agent drops them.
        if a.last_seq > 0 {
            a.unacked_seq = Some(a.last_seq);
            self.dirty = true;
        }
        // The run was stopping when the controller went away: tell the agent again.
        let going = !a.done && !a.gone;
        if self.reason.is_some() && going {
            let body: Body =
                messages::stop(self.run_id, self.reason.as_ref(), !self.setup_completed);
            self.send(&agent, body);
        }
        // Teardown went out while the agent was away (a resumed run whose agents had finished
        // executing sends it before any re-attached): an agent waits for it with no timeout of
        // its own, and its heartbeats keep it from being lost, so without it the run would
        // never end (docs/ha.md#leadership).
        let draining = self.phase == Phase::Draining && self.setup_completed && !self.spec.streamed;
        if draining && going {
            let body = Body::Teardown(pb::Teardown {
                run_id: self.run_id,
                run_teardown: self.teardown_agent.as_deref() == Some(agent.as_str()),
            });
            self.send(&agent, body);
        }
    }
}
