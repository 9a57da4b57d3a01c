//! The run machine's health checks, run after every input: VU init taking too long, agents
//! silent too long (lost, or the whole run timed out), agents overloaded for too long, the
//! run's limits (groups, series, duration) and the `abortOnFail` thresholds on the merged data.

use std::time::Duration;

use volley_common::duration::format_duration;
use volley_common::exit::AbortReason;
use volley_common::metrics::store::SeriesStore;
use volley_common::summary::build;
use volley_proto as pb;

use super::config::OnAgentLost;
use super::machine::{since, Action, Machine, Now};
use crate::utilization::Utilization;

/// What [`Machine::check_overload`] reads of the config.
struct Overload {
    overload_cpu_percent: f64,
    overload_memory_percent: f64,
    warn_percent: f64,
    overload_after: Duration,
}

/// How long agents get to confirm a stop after VU init timed out; one that does not is given
/// up, so the run ends (a stop is acknowledged within 1 s by a healthy agent).
pub(super) const STOP_GRACE: Duration = Duration::from_secs(5);

impl Machine {
    /// VU init must be over on every agent within the init timeout (`--init-timeout`, or the
    /// run's `options.volley.initTimeout`): else the run is ABORTED_BY_SYSTEM naming the agents
    /// still initializing. They are stopped (their JS is interrupted); one that does not
    /// confirm within [`STOP_GRACE`] is given up.
    pub(super) fn check_init(&mut self, now: Now) {
        if let Some(deadline) = self.stop_deadline {
            if now.mono >= deadline {
                self.stop_deadline = None;
                let silent: Vec<String> = self
                    .order
                    .iter()
                    .filter(|n| self.agents.get(*n).is_some_and(|a| !a.done && !a.gone))
                    .cloned()
                    .collect();
                for name in silent {
                    if let Some(a) = self.agents.get_mut(&name) {
                        a.gone = true;
                    }
                    self.event(
                        "warning",
                        format!(
                            "agent {name} did not confirm the stop within {} s; the run ends without it",
                            STOP_GRACE.as_secs()
                        ),
                    );
                }
            }
        }
        let Some(since_init) = self.init_since else {
            return;
        };
        let (limit, source) = self.init_timeout;
        if self.phase != super::machine::Phase::Initializing
            || self.aborted()
            || since(now, since_init) < limit
        {
            return;
        }
        let late: Vec<String> = self
            .order
            .iter()
            .filter(|n| self.agents.get(*n).is_some_and(|a| !a.ready && !a.gone))
            .map(|n| format!("{n} (segment {})", self.segment_of(n)))
            .collect();
        if late.is_empty() {
            return;
        }
        let what = if late.len() == 1 { "agent" } else { "agents" };
        self.abort(AbortReason::System {
            message: format!(
                "INIT_TIMEOUT: {what} {} did not finish VU init within {} ({source}); look for slow or endless code at the top level of the script, or raise {source}",
                late.join(", "),
                format_duration(limit),
            ),
        });
        self.stop_deadline = Some(now.mono + STOP_GRACE);
    }

    /// Agents silent for `agent_lost_after` are lost: the run aborts (AGENT_LOST) or, with
    /// `on_agent_lost: continue`, goes on without them, marked degraded. Every agent silent for
    /// `data_timeout`: the run times out. Silence is judged on when messages arrived
    /// ([`Machine::last_heard`]), not on when this task got to them.
    pub(super) fn check_agents(&mut self, now: Now) {
        let cfg = self.cfg.clone();
        // Every generator of the run silent (connections may still be open): the run times out.
        let mut waiting = self
            .agents
            .values()
            .filter(|a| !a.done && !a.gone)
            .peekable();
        let timed_out = waiting.peek().is_some()
            && waiting.all(|a| since(now, self.last_heard(a)) >= cfg.data_timeout);
        if !self.aborted() && timed_out {
            self.abort(AbortReason::TimedOut {
                message: format!(
                    "TIMED_OUT: no data or heartbeat from the run's agents for {} s (data_timeout)",
                    cfg.data_timeout.as_secs_f64()
                ),
            });
            // Nobody is answering: do not wait for them to finish; end the run with what arrived.
            for a in self.agents.values_mut() {
                if !a.done {
                    a.gone = true;
                }
            }
            return;
        }
        if self.spec.streamed {
            // A streamed run has no agents to lose: only data_timeout applies.
            return;
        }
        let lost: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| {
                !a.done && !a.gone && since(now, self.last_heard(a)) >= cfg.agent_lost_after
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in lost {
            let silent = since(now, self.last_heard(&self.agents[&name])).as_secs_f64();
            let awaiting_reattach = self.agents[&name].awaiting_reattach;
            if let Some(a) = self.agents.get_mut(&name) {
                a.gone = true;
            }
            let segment = self.segment_of(&name);
            let what = if awaiting_reattach {
                format!("AGENT_LOST: agent {name} (segment {segment}) did not re-attach within {} s (agent_lost_after) after {}", cfg.agent_lost_after.as_secs_f64(), self.resume_cause.happened())
            } else {
                format!("AGENT_LOST: agent {name} (segment {segment}) was silent for {silent:.1} s (agent_lost_after {} s)", cfg.agent_lost_after.as_secs_f64())
            };
            match cfg.on_agent_lost {
                OnAgentLost::Abort => self.abort(AbortReason::System { message: what }),
                OnAgentLost::Continue => {
                    self.go_on_without(&name, what, "its segment's load and data are missing")
                }
            }
        }
    }

    /// An agent whose drain grace ran out after SIGTERM stopped its part of the run
    /// (docs/cluster-runs.md#sigterm-drain): as for a lost agent, the run aborts with its
    /// reason or, with `on_agent_lost: continue`, goes on without it, marked degraded.
    pub(super) fn agent_left(&mut self, name: &str, reason: AbortReason) {
        let message = match (&reason, self.cfg.on_agent_lost) {
            (AbortReason::System { message }, OnAgentLost::Continue) => message.clone(),
            _ => return self.abort(reason),
        };
        if let Some(a) = self.agents.get_mut(name) {
            a.left = true;
        }
        self.go_on_without(
            name,
            message,
            "its segment's load stopped early: the rest is missing",
        );
    }

    /// `on_agent_lost: continue` for agent `name`, gone for the reason `what`: the run is
    /// marked degraded, unless no agent is left or setup() was running there.
    fn go_on_without(&mut self, name: &str, what: String, missing: &str) {
        self.event(
            "warning",
            format!("{what}; the run continues without it (on_agent_lost: continue)"),
        );
        let note = format!("degraded: {what}; {missing} from this run");
        self.degraded_note = Some(note.clone());
        self.actions.push(Action::Degraded { note });
        if self.agents.values().all(|a| a.gone || a.left) {
            self.abort(AbortReason::System {
                message: format!("{what}; no agent is left"),
            });
        } else if self.setup_result.is_none() && self.setup_agent.as_deref() == Some(name) {
            // setup() was running there: its data will never come.
            self.abort(AbortReason::System {
                message: format!("{what} while it ran setup()"),
            });
        }
    }

    /// CPU or memory at or above the overload level on one agent, sustained for
    /// `overload_after`, aborts the run (judged per agent, never averaged). The agent process
    /// and its host are judged separately (`crate::utilization`), and every event and the
    /// abort reason say which one it was.
    pub(super) fn check_overload(&mut self, now: Now, agent: &str, h: &pb::Heartbeat) {
        // The few figures it needs, not a clone of the whole config on every heartbeat.
        let cfg = Overload {
            overload_cpu_percent: self.cfg.overload_cpu_percent,
            overload_memory_percent: self.cfg.overload_memory_percent,
            warn_percent: self.cfg.warn_percent,
            overload_after: self.cfg.overload_after,
        };
        let load = Utilization::of(h);
        let over = load.over(cfg.overload_cpu_percent, cfg.overload_memory_percent);
        let warn = load.over(cfg.warn_percent, cfg.warn_percent);
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if let Some(part) = warn.filter(|_| !a.warned) {
            a.warned = true;
            let msg = format!(
                "{} is busy: {} (warning at {:.0} %; the run aborts at {:.0} % CPU or {:.0} % memory of the agent process or of its host, sustained for {:.0} s)",
                Utilization::subject(part, agent),
                load.figures(part),
                cfg.warn_percent,
                cfg.overload_cpu_percent,
                cfg.overload_memory_percent,
                cfg.overload_after.as_secs_f64()
            );
            self.event("warning", msg);
        }
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        let Some(part) = over else {
            a.overloaded_since = None;
            return;
        };
        let first = a.overloaded_since.is_none();
        let since_then = *a.overloaded_since.get_or_insert(now.mono);
        let done = a.done;
        if first && !done {
            let msg = format!(
                "{} is overloaded: {}; the run aborts if this lasts {:.0} s",
                Utilization::subject(part, agent),
                load.figures(part),
                cfg.overload_after.as_secs_f64()
            );
            self.event("warning", msg);
        }
        let lasted = since(now, since_then);
        if lasted >= cfg.overload_after && !done {
            let msg = format!(
                "AGENT_OVERLOADED: {} at {} for {:.0} s; results would measure the load generator, not the system under test. {}",
                Utilization::subject(part, agent),
                load.figures(part),
                lasted.as_secs_f64(),
                Utilization::advice(part)
            );
            self.abort(AbortReason::System { message: msg });
        }
    }

    /// Limits checked on the merged data: groups, metric series and the run's duration.
    pub(super) fn check_limits(&mut self, now: Now) {
        if self.aborted() {
            return;
        }
        let limits = &self.cfg.limits;
        let (groups, series) = {
            let live = self.live_data();
            (live.series.group_count(), live.series.series_count())
        };
        let reason = if groups > limits.max_groups {
            AbortReason::Limit {
                limit: "max_groups".into(),
                message: format!(
                    "the run has {groups} groups; at most {} are allowed",
                    limits.max_groups
                ),
            }
        } else if series > limits.max_series {
            AbortReason::Limit {
                limit: "max_series".into(),
                message: format!(
                    "the run has {series} metric series (metric × tag set); at most {} are allowed — avoid per-request unique tag values such as full URLs with ids (use the `name` tag)",
                    limits.max_series
                ),
            }
        } else if self
            .started
            .is_some_and(|s| since(now, s) > limits.max_duration)
        {
            AbortReason::Limit {
                limit: "max_duration".into(),
                message: format!(
                    "the run went on longer than {} s",
                    limits.max_duration.as_secs()
                ),
            }
        } else {
            return;
        };
        self.abort(reason);
    }

    /// `abortOnFail` thresholds on the merged data (k6 evaluates them every 2 s).
    /// Evaluates every threshold on the merged data (`store`, else the live series) and
    /// records the ones whose verdict changed (`crossings.rs`), at the end of the newest
    /// interval merged.
    pub(super) fn track_crossings(&mut self, now: Now, store: Option<&SeriesStore>) {
        if self.thresholds.is_empty() {
            return;
        }
        let elapsed = self.started.map(|s| since(now, s)).unwrap_or_default();
        let types = &self.types;
        let type_of = |name: &str| types.get(name).copied();
        let (results, at) = {
            let live = self.live_data();
            let store = store.unwrap_or(&live.series);
            let results = build::evaluate_thresholds(
                &self.thresholds,
                store,
                elapsed.as_secs_f64(),
                &type_of,
            );
            (results, live.timeline.keys().next_back().copied())
        };
        let observed = self.crossings.observe(&results);
        let at_unix_ms = at.unwrap_or(now.unix_ms);
        for crossing in observed.crossings {
            self.actions.push(Action::ThresholdCrossed {
                at_unix_ms,
                crossing,
            });
        }
        if observed.capped {
            self.event("info", super::crossings::capped_message());
        }
    }

    pub(super) fn check_abort_thresholds(&mut self, now: Now) {
        // A streamed run's own engine evaluates its thresholds (on the same data).
        if self.aborted()
            || self.spec.streamed
            || !self
                .thresholds
                .iter()
                .any(|(_, l)| l.iter().any(|t| t.abort_on_fail))
        {
            return;
        }
        let elapsed = self.started.map(|s| since(now, s)).unwrap_or_default();
        let failed = {
            let live = self.live_data();
            build::failed_abort_thresholds(&self.thresholds, &live.series, elapsed)
        };
        if !failed.is_empty() {
            self.abort(volley_common::exit::AbortReason::Threshold { metrics: failed });
        }
    }
}
