//! What the REST API does: tests and runs go through the state machine (`Db`), runs are
//! queued and driven by the [`Coordinator`], agents come from the registry.

use std::collections::BTreeMap;
use std::sync::Arc;

use volley_common::archive::Archive;
use volley_common::exit::AbortReason;
use volley_common::summary::SummaryReport;

use crate::api::{
    ControllerService, Listed, Page, ServiceError, StreamFinish, StreamStatus, StreamedRunRequest,
};
use crate::auth::stream_keys::StreamKeys;
use crate::auth::{tokens, AuthError, Caller};
use crate::coordinator::driver::Clock as _;
use crate::coordinator::{now_rfc3339, validate_options, Coordinator};
use crate::model::{AgentUtilization, AgentView, Run, RunStatus, Test};
use crate::placement::{self, Admission, PlacementRequest};
use crate::run::merge::LiveData;
use crate::state::idempotency::{self, KeyKind};
use crate::state::{Command, Effect, RunChanges, StateError, STREAMED_RUN_PROCESS};
use crate::store::{StoreError, StoreHealth};

mod run_limits;
pub use run_limits::RunCreates;

pub struct Service {
    pub co: Arc<Coordinator>,
    /// Derives each streamed run's secret.
    pub stream_keys: StreamKeys,
    /// How a follower sends writes on to the leader (`None`: it redirects them).
    pub forwarder: Option<Arc<crate::api::Forwarder>>,
    /// Makes a token's count of runs not finished and its next create one step.
    pub run_creates: RunCreates,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::new(
        503,
        "storage_unavailable",
        format!("the controller's store failed: {e}"),
    )
}

/// A store failure as the API answers it: limits are the caller's to fix (413, 507), as is an
/// idempotency key sent with another request (422); anything else is the store's (503, retry
/// later).
fn store_error(e: StoreError) -> ServiceError {
    match &e {
        StoreError::Rejected(StateError::KeyReused { .. }) => {
            ServiceError::new(422, "idempotency_key_reused", e.to_string())
        }
        StoreError::ArchiveTooLarge { .. } | StoreError::ProjectFull { .. } => {
            ServiceError::new(413, "storage_limit_exceeded", e.to_string())
        }
        StoreError::StoreFull { .. } => ServiceError::new(507, "storage_full", e.to_string()),
        _ => internal(e),
    }
}

/// A stop whose effect could not be written is not acknowledged: the caller learns the run
/// may go on (in a Raft group, the stop was not committed by a quorum) and can stop it again.
fn stop_failed(e: StoreError) -> ServiceError {
    ServiceError::new(
        503,
        "stop_not_committed",
        format!(
            "the stop was not stored, so the run may go on: {e}; check the run and stop it again"
        ),
    )
}

/// A stop of a run that has ended (409).
fn run_finished(id: u64) -> ServiceError {
    ServiceError::conflict("run_finished", format!("run {id} has already finished"))
}

impl Service {
    fn run(&self, id: u64) -> Option<Run> {
        self.co.db.read(|s| s.run(id).cloned())
    }

    /// Who a run started by token `user_id` was started by, as the run records it: the
    /// token's name (`token #N` for an unnamed one); empty on an open API (id 0).
    fn started_by(&self, user_id: u64) -> String {
        if user_id == 0 {
            return String::new();
        }
        self.co.db.read(|s| {
            s.token(user_id)
                .map(|t| t.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("token #{user_id}"))
        })
    }

    /// The run a create with an idempotency key already seen answers with.
    fn replayed_run(&self, run_id: u64) -> Result<(Run, bool), ServiceError> {
        let run = self.run(run_id).ok_or_else(|| internal("run vanished"))?;
        Ok((run, true))
    }

    /// The streamed run a create under `key` made, if the key was seen; refused (422) when
    /// the key made something else: a run of another kind or of another token.
    fn streamed_run_replayed(
        &self,
        key: &str,
        caller: &Caller,
    ) -> Result<Option<Run>, ServiceError> {
        let now_ms = crate::coordinator::driver::SystemClock.now().unix_ms as i64;
        let seen = self.co.db.read(|s| {
            s.idempotency_keys()
                .record(KeyKind::Run, key, now_ms)
                .map(|r| (r.id, r.request.clone()))
        });
        let Some((run_id, first)) = seen else {
            return Ok(None);
        };
        let run = self.run(run_id).ok_or_else(|| internal("run vanished"))?;
        if run.run_process == STREAMED_RUN_PROCESS && run.user_id == caller.user_id() {
            return Ok(Some(run));
        }
        let e = StateError::KeyReused {
            key: key.to_string(),
            first,
            now: format!("a streamed run by token {}", caller.user_id()),
        };
        Err(store_error(StoreError::Rejected(e)))
    }

    /// Refuses a run that no placement could ever hold (422): more agents than the controller
    /// allows, labels no connected agent has, more VUs than the connected agents can hold.
    fn check_placeable(&self, config: &serde_json::Value) -> Result<(), ServiceError> {
        let req: PlacementRequest = match config.get("volley") {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                ServiceError::bad_request("invalid_options", format!("options.volley: {e}"))
            })?,
            None => PlacementRequest::default(),
        };
        let limits = &self.co.config.limits;
        let rules = Admission {
            max_agents: limits.max_agents,
            allow_unknown_labels: limits.allow_unknown_labels,
            scaled: self.co.config.scaler.is_some(),
        };
        let vus = placement::planned_vus(config);
        placement::admit(&req, vus, &self.co.registry.connected(), rules)
            .map_err(|e| ServiceError::new(422, "unplaceable", e))
    }
}

impl ControllerService for Service {
    fn create_test_keyed(
        &self,
        name: String,
        project_id: Option<u64>,
        archive: Vec<u8>,
        caller: &Caller,
        key: Option<String>,
    ) -> Result<(Test, bool), ServiceError> {
        let (parsed, archive) = read_archive(archive)?;
        let options = parsed.metadata.options.clone();
        let project_id = tokens::choose_project(project_id, &options, caller)?;
        validate_options(&options).map_err(|e| ServiceError::bad_request("invalid_options", e))?;
        crate::run::declared::check_env("the archive's env", &parsed.metadata.env)
            .map_err(|e| ServiceError::bad_request("invalid_options", e))?;
        let name = if name.trim().is_empty() {
            parsed.metadata.entry.clone()
        } else {
            name
        };
        let sha = crate::store::sha256_hex(&archive);
        // The test and its archive are stored in one transaction.
        let applied = self
            .co
            .db
            .create_test(
                Command::CreateTest {
                    name,
                    project_id,
                    archive_sha256: sha,
                    archive_size: archive.len() as u64,
                    config: options,
                    at: now_rfc3339(),
                    idempotency_key: key,
                },
                &archive,
            )
            .map_err(store_error)?;
        let (test_id, replayed) = match applied.effect {
            Effect::TestCreated { test_id } => (test_id, false),
            Effect::Replayed { test_id, .. } => (test_id, true),
            _ => return Err(internal("unexpected effect")),
        };
        let test = self
            .get_test(test_id)
            .ok_or_else(|| internal("test vanished"))?;
        Ok((test, replayed))
    }

    fn list_tests(&self, keep: &dyn Fn(&Test) -> bool, page: Page) -> Listed<Test> {
        self.co
            .db
            .read(|s| page.collect(s.tests().filter(|t| keep(t))))
    }

    fn get_test(&self, id: u64) -> Option<Test> {
        self.co.db.read(|s| s.test(id).cloned())
    }

    fn script(&self, test_id: u64) -> Option<String> {
        let archive = self.co.db.get_archive(test_id).ok()??;
        let parsed = Archive::from_tar(&archive).ok()?;
        parsed.source(&parsed.metadata.entry).map(str::to_string)
    }

    fn store_health(&self) -> StoreHealth {
        self.co.db.recover_if_due()
    }

    fn meters(&self) -> Option<crate::meters::RunMeters> {
        Some(self.co.meters.clone())
    }

    fn start_run_keyed(
        &self,
        test_id: u64,
        env: BTreeMap<String, String>,
        note: String,
        user_id: u64,
        key: Option<String>,
    ) -> Result<(Run, bool), ServiceError> {
        // A key seen: the run it made, whatever the agents or limits are now.
        if let Some(key) = &key {
            let request = idempotency::run_request(test_id, user_id);
            let now_ms = crate::coordinator::driver::SystemClock.now().unix_ms as i64;
            let seen = self.co.db.read(|s| {
                s.idempotency_keys()
                    .seen(KeyKind::Run, key, &request, now_ms)
            });
            match seen {
                Ok(Some(run_id)) => return self.replayed_run(run_id),
                Ok(None) => {}
                Err(e) => return Err(store_error(StoreError::Rejected(e))),
            }
        }
        let test = self.get_test(test_id).ok_or_else(|| {
            ServiceError::not_found("test_not_found", format!("no test with id {test_id}"))
        })?;
        // Limits that can be checked before the start are refused here (no run is created).
        check_limits_before_start(&test.config, &self.co.config.limits)?;
        self.check_placeable(&test.config)?;
        crate::run::declared::check_env("env", &env)
            .map_err(|e| ServiceError::bad_request("invalid_env", e))?;
        let turn = self.admit_run(user_id)?;
        for k in env.keys() {
            if k.is_empty() || k.contains('=') {
                return Err(ServiceError::bad_request(
                    "invalid_env",
                    format!(
                        "env name {} is invalid: use NAME=VALUE names without '='",
                        volley_common::text::quoted(k)
                    ),
                ));
            }
        }
        self.apply_retention();
        let applied = self
            .co
            .db
            .execute(Command::CreateRun {
                test_id,
                env,
                note,
                config: Some(test.config.clone()),
                run_process: None,
                user_id,
                started_by: self.started_by(user_id),
                at: now_rfc3339(),
                idempotency_key: key,
            })
            .map_err(store_error)?;
        drop(turn);
        // Two creates with one key were committed: the second made nothing.
        if let Effect::Replayed {
            run_id: Some(run_id),
            ..
        } = applied.effect
        {
            return self.replayed_run(run_id);
        }
        let run_id = applied.run_id().ok_or_else(|| internal("no run created"))?;
        // Options were validated when the test was created; validate again (the rules may
        // have changed with a new controller version). The queueing is sent again until
        // committed while this node leads (docs/ha.md#writes-sent-again).
        match validate_options(&test.config) {
            Ok(()) => {
                let _ = self.co.db.execute_until_committed(Command::Transition {
                    run_id,
                    to: RunStatus::Validated,
                    reason: "archive and options valid".into(),
                    at: now_rfc3339(),
                    changes: RunChanges::default(),
                });
                let _ = self.co.db.execute_until_committed(Command::Transition {
                    run_id,
                    to: RunStatus::Queued,
                    reason: "waiting for agents".into(),
                    at: now_rfc3339(),
                    changes: RunChanges::default(),
                });
                self.co.kick();
            }
            Err(e) => {
                self.co.finish_without_agents(
                    run_id,
                    &AbortReason::System {
                        message: format!("invalid options: {}", volley_common::text::echo(&e)),
                    },
                );
            }
        }
        let run = self.run(run_id).ok_or_else(|| internal("run vanished"))?;
        Ok((run, false))
    }

    fn create_streamed_run(
        &self,
        req: StreamedRunRequest,
        caller: &Caller,
        key: Option<String>,
    ) -> Result<(Run, bool), ServiceError> {
        // A key seen: the streamed run it made. Only the run is keyed: the test made for it
        // holds an archive stamped with its time, so a create sent again makes another one
        // when the first stopped between the two.
        if let Some(key) = &key {
            if let Some(replayed) = self.streamed_run_replayed(key, caller)? {
                return Ok((replayed, true));
            }
        }
        let turn = self.admit_run(caller.user_id())?;
        // The test keeps the entry script (for display and download) in a one-file archive.
        let entry = std::path::Path::new(&req.entry)
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .unwrap_or("script.js")
            .to_string();
        if !req.options.is_object() {
            return Err(ServiceError::bad_request(
                "invalid_options",
                "field `options` must be the run's consolidated options, a JSON object",
            ));
        }
        let source: String = req
            .source
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_.:".contains(*c))
            .take(64)
            .collect();
        let source = if source.is_empty() {
            "local".to_string()
        } else {
            format!("local:{source}")
        };
        let archive = Archive {
            metadata: volley_common::archive::Metadata {
                format_version: volley_common::archive::FORMAT_VERSION,
                volley_version: env!("CARGO_PKG_VERSION").to_string(),
                entry: entry.clone(),
                options: req.options.clone(),
                env: BTreeMap::new(),
                modules: vec![entry.clone()],
                created: now_rfc3339(),
                remote_modules: BTreeMap::new(),
            },
            files: [(entry.clone(), req.script.into_bytes())]
                .into_iter()
                .collect(),
        };
        let tar = archive
            .to_tar()
            .map_err(|e| ServiceError::bad_request("invalid_script", e.to_string()))?;
        let test = self.create_test(req.name, None, tar, caller)?;
        check_limits_before_start(&test.config, &self.co.config.limits)?;
        self.apply_retention();
        let applied = self
            .co
            .db
            .execute(Command::CreateRun {
                test_id: test.id,
                env: BTreeMap::new(),
                note: String::new(),
                config: Some(test.config.clone()),
                run_process: Some(STREAMED_RUN_PROCESS.to_string()),
                user_id: caller.user_id(),
                started_by: self.started_by(caller.user_id()),
                at: now_rfc3339(),
                idempotency_key: key,
            })
            .map_err(store_error)?;
        drop(turn);
        if let Effect::Replayed {
            run_id: Some(run_id),
            ..
        } = applied.effect
        {
            return self.replayed_run(run_id);
        }
        let run_id = applied.run_id().ok_or_else(|| internal("no run created"))?;
        let run = self.run(run_id).ok_or_else(|| internal("run vanished"))?;
        self.co.start_streamed(run, source);
        let run = self.run(run_id).ok_or_else(|| internal("run vanished"))?;
        Ok((run, false))
    }

    fn stream_secret(&self, run_id: u64) -> String {
        self.stream_keys.secret(run_id)
    }

    fn verify_stream_secret(&self, run_id: u64, presented: &str) -> bool {
        self.stream_keys.verify(run_id, presented)
    }

    fn leadership(&self) -> crate::store::Leadership {
        self.co.db.leadership()
    }

    fn forwarder(&self) -> Option<Arc<crate::api::Forwarder>> {
        self.forwarder.clone()
    }

    fn controllers(&self) -> volley_api::ControllerList {
        crate::group::controllers(&self.co.db)
    }

    fn add_controller(
        &self,
        id: u64,
        raft: &str,
    ) -> Result<volley_api::ControllerList, ServiceError> {
        crate::group::change_membership(&self.co.db, id, Some(raft))
    }

    fn remove_controller(&self, id: u64) -> Result<volley_api::ControllerList, ServiceError> {
        crate::group::change_membership(&self.co.db, id, None)
    }

    fn state_digest(&self) -> Option<volley_api::StateDigest> {
        crate::group::state_digest(&self.co.db)
    }

    fn raft_status(&self) -> Option<crate::replication::DriverStatus> {
        self.co.db.replica().map(|r| r.handle.status())
    }

    fn auth_required(&self) -> bool {
        self.co.db.read(|s| s.tokens().next().is_some())
    }

    fn authenticate(&self, secret: &str) -> Result<Caller, AuthError> {
        self.co
            .db
            .read(|s| crate::auth::authenticate(s.tokens(), secret))
    }

    fn create_token(
        &self,
        req: volley_api::CreateToken,
        key: Option<String>,
    ) -> Result<volley_api::TokenCreated, ServiceError> {
        tokens::create(&self.co.db, req, key)
    }

    fn tokens(&self) -> Vec<volley_api::TokenView> {
        tokens::list(&self.co.db)
    }

    fn revoke_token(&self, id: u64) -> Result<volley_api::TokenView, ServiceError> {
        tokens::revoke(&self.co.db, id)
    }

    fn stream_batch(&self, run_id: u64, batch: &[u8]) -> Result<StreamStatus, ServiceError> {
        use volley_proto::Message as _;
        let mut batch = volley_proto::MetricBatch::decode(batch).map_err(|e| {
            ServiceError::bad_request(
                "invalid_batch",
                format!("the body is not a protobuf volley.v1.MetricBatch: {e}"),
            )
        })?;
        if batch.seq == 0 {
            return Err(ServiceError::bad_request(
                "invalid_batch",
                "field `seq` of the batch must start at 1 and grow by one per batch",
            ));
        }
        // Each series whole, as the batch was checked before its series were read in place.
        let series = batch.series.decode().map_err(|e| {
            ServiceError::bad_request(
                "invalid_batch",
                format!("the body is not a protobuf volley.v1.MetricBatch: {e}"),
            )
        })?;
        // A `volley run` of another release sends series this build cannot read: say so once
        // rather than dropping every series of the run.
        if let Some(s) = series.iter().find(|s| s.sink.is_none()) {
            return Err(ServiceError::bad_request(
                "invalid_batch",
                format!(
                    "series `{}` of the batch carries no sink (counter, gauge, rate or trend): \
                     this controller reads metric batches of agent protocol {}, so the sending \
                     volley is of another release; run the same release on both ends",
                    volley_common::text::echo(&s.metric),
                    volley_proto::PROTOCOL_VERSION
                ),
            ));
        }
        batch.run_id = run_id;
        self.co.stream_batch(run_id, batch).ok_or_else(|| {
            ServiceError::not_found("run_not_found", format!("no run with id {run_id}"))
        })
    }

    fn stream_finish(&self, run_id: u64, fin: StreamFinish) -> Result<StreamStatus, ServiceError> {
        self.co.stream_finish(run_id, fin).ok_or_else(|| {
            ServiceError::not_found("run_not_found", format!("no run with id {run_id}"))
        })
    }

    fn stream_push(
        &self,
        run_id: u64,
        batch: volley_proto::MetricBatch,
    ) -> Result<StreamStatus, ServiceError> {
        self.co.stream_push(run_id, batch).ok_or_else(|| {
            ServiceError::not_found("run_not_found", format!("no run with id {run_id}"))
        })
    }

    fn stream_finish_pushed(
        &self,
        run_id: u64,
        fin: StreamFinish,
    ) -> Result<StreamStatus, ServiceError> {
        self.co.stream_finish_pushed(run_id, fin).ok_or_else(|| {
            ServiceError::not_found("run_not_found", format!("no run with id {run_id}"))
        })
    }

    fn get_run(&self, id: u64) -> Option<Run> {
        let mut run = self.run(id)?;
        if let Some(live) = self.co.live(id) {
            let live = live.lock().unwrap_or_else(|e| e.into_inner());
            if let (Some(started), None) = (live.started, live.ended) {
                run.duration = started.elapsed().as_secs_f64().round();
            }
        }
        Some(run)
    }

    fn run_head(&self, id: u64) -> Option<crate::model::RunHead> {
        self.co
            .db
            .read(|s| s.run(id).map(crate::model::RunHead::of))
    }

    fn state_index(&self) -> Option<u64> {
        Some(self.co.db.read(|s| s.applied_index()))
    }

    fn list_runs(&self, keep: &dyn Fn(&Run) -> bool, page: Page) -> Listed<Run> {
        self.co
            .db
            .read(|s| page.collect(s.runs().filter(|r| keep(r))))
    }

    fn stop_run(&self, id: u64, stopped_by: Option<u64>) -> Result<Run, ServiceError> {
        self.stop_run_for(id, stopped_by, None)
    }

    fn agents(&self) -> Vec<AgentView> {
        self.co.registry.views()
    }

    fn agents_with_recent(
        &self,
        after: &dyn Fn(&str) -> i64,
    ) -> (Vec<AgentView>, Vec<crate::agent_recent::AgentRecent>) {
        self.co.registry.views_with_recent(after)
    }

    fn agent_heartbeats(&self) -> Vec<crate::model::AgentHeartbeat> {
        self.co.registry.heartbeats()
    }

    fn agents_wanted(&self) -> volley_api::AgentsWanted {
        // Each agent's run and capacity only: its whole view costs ~1 µs an agent to build.
        let agents = self.co.registry.capacities();
        let busy = agents.iter().filter(|(run, _)| run.is_some()).count() as u64;
        // A run being placed is still QUEUED while its agents already hold it (busy): count
        // those agents once, as busy, or the gauge wants one agent too many until it starts.
        let placing: std::collections::BTreeSet<u64> =
            agents.iter().filter_map(|(run, _)| *run).collect();
        let capacity = crate::demand::capacity(
            self.co.config.agent_max_vus,
            agents.iter().map(|(_, max_vus)| *max_vus),
        );
        let queued: Vec<crate::demand::QueuedRun> = self.co.db.read(|s| {
            s.runs_in_status(RunStatus::Queued)
                .filter(|r| !placing.contains(&r.id))
                .map(|r| crate::demand::QueuedRun {
                    request: r
                        .config
                        .get("volley")
                        .and_then(|v| serde_json::from_value::<PlacementRequest>(v.clone()).ok())
                        .unwrap_or_default(),
                    vus: placement::planned_vus(&r.config),
                })
                .collect()
        });
        let queued_want = crate::demand::agents_wanted(0, &queued, capacity);
        volley_api::AgentsWanted {
            wanted: busy.saturating_add(queued_want),
            busy,
            queued_runs: queued.len() as u64,
            queued_want,
            agent_max_vus: capacity,
            connected: agents.len() as u64,
        }
    }

    fn agent(&self, name: &str) -> Option<AgentView> {
        self.co.registry.view(name)
    }

    fn run_agents(&self, run_id: u64) -> Option<Vec<AgentUtilization>> {
        self.run_head(run_id)?;
        let Some(live) = self.co.live(run_id) else {
            return Some(Vec::new());
        };
        let live = live.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            live.utilization
                .iter()
                .map(|(agent, log)| AgentUtilization {
                    agent: agent.clone(),
                    segment: log.segment.clone(),
                    samples: log.samples().to_vec(),
                })
                .collect(),
        )
    }

    fn run_metrics(&self, run_id: u64) -> Option<serde_json::Value> {
        let live = self.co.live(run_id)?;
        let live = live.lock().unwrap_or_else(|e| e.into_inner());
        let (secs, out) = totals_of(&live, &|_| true);
        let stats = trend_stats();
        // Per interval: the key metrics merged over the agents for that interval.
        let intervals: Vec<serde_json::Value> = live
            .timeline
            .iter()
            .map(|(end_ms, store)| {
                let mut m = serde_json::Map::new();
                for (name, _) in store.metrics() {
                    if let Some(sink) = store.aggregate(name, &[]) {
                        let values: serde_json::Map<String, serde_json::Value> = sink
                            .values(&stats, 1.0)
                            .into_iter()
                            .map(|(k, v)| (k, serde_json::json!(v)))
                            .collect();
                        m.insert(name.clone(), serde_json::Value::Object(values));
                    }
                }
                serde_json::json!({"end_unix_ms": end_ms, "metrics": m})
            })
            .collect();
        Some(
            serde_json::json!({"run_id": run_id, "duration_s": secs, "metrics": out, "intervals": intervals}),
        )
    }

    fn run_report(&self, run_id: u64) -> Option<serde_json::Value> {
        self.run(run_id)?.summary
    }

    fn run_totals(&self, run_id: u64, keep: &dyn Fn(&str) -> bool) -> Option<serde_json::Value> {
        let live = self.co.live(run_id)?;
        let live = live.lock().unwrap_or_else(|e| e.into_inner());
        let (secs, out) = totals_of(&live, keep);
        Some(serde_json::json!({"run_id": run_id, "duration_s": secs, "metrics": out}))
    }

    fn run_points(&self, run_id: u64, since_unix_ms: u64) -> Option<Vec<crate::api::RunPoint>> {
        let live = self.co.live(run_id)?;
        let live = live.lock().unwrap_or_else(|e| e.into_inner());
        Some(crate::api::dashboard::run_points(&live, since_unix_ms))
    }

    fn run_metric_series(
        &self,
        run_id: u64,
        since_unix_ms: u64,
    ) -> Option<(u64, u64, Vec<crate::run::metric_series::MetricSeries>)> {
        let live = self.co.live(run_id)?;
        let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
        let m = &mut live.metric_series;
        Some((m.generation, m.point_ms(), m.since(since_unix_ms)))
    }

    fn run_checks(&self, run_id: u64) -> Option<(Vec<crate::api::CheckCount>, bool)> {
        let live = self.co.live(run_id)?;
        let live = live.lock().unwrap_or_else(|e| e.into_inner());
        Some(crate::api::dashboard::live_checks(&live.series))
    }

    fn run_agents_since(
        &self,
        run_id: u64,
        from: &dyn Fn(&str) -> usize,
        max: usize,
    ) -> Option<Vec<crate::api::AgentSince>> {
        self.run_head(run_id)?;
        let Some(live) = self.co.live(run_id) else {
            return Some(Vec::new());
        };
        let live = live.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            live.utilization
                .iter()
                .map(|(agent, log)| {
                    let from = log.position(from(agent));
                    let (segment, samples) = (&log.segment, log.samples());
                    crate::api::dashboard::agent_since(
                        agent,
                        segment,
                        samples,
                        log.weights(),
                        from,
                        log.received(),
                        max,
                    )
                })
                .collect(),
        )
    }

    fn stop_run_for(
        &self,
        id: u64,
        stopped_by: Option<u64>,
        signal: Option<&str>,
    ) -> Result<Run, ServiceError> {
        let reason = match signal {
            Some(signal) => AbortReason::Signal {
                signal: signal.into(),
            },
            None => AbortReason::ApiStop,
        };
        // Committed before the run hears it: a stop acknowledged is a stop a new Raft leader
        // resuming the run finds (docs/ha.md#stops).
        match self.co.db.execute(Command::RequestStop {
            run_id: id,
            by: stopped_by,
            reason: reason.clone(),
            at: now_rfc3339(),
        }) {
            Ok(_) => {}
            Err(StoreError::Rejected(StateError::UnknownRun(_))) => {
                return Err(ServiceError::not_found(
                    "run_not_found",
                    format!("no run with id {id}"),
                ))
            }
            Err(StoreError::Rejected(StateError::Terminal { .. })) => return Err(run_finished(id)),
            Err(e) => return Err(stop_failed(e)),
        }
        match self.co.stop(id, reason.clone()) {
            Ok(true) => {}
            // It ended meanwhile: by this stop (the scheduler ends a queued run whose stop is
            // committed) is a stop done, anything else a run that had finished.
            Ok(false) | Err(StoreError::Rejected(StateError::Terminal { .. })) => {
                let by_this_stop = self
                    .run(id)
                    .is_some_and(|r| r.abort_reason.as_ref() == Some(&reason));
                if !by_this_stop {
                    return Err(run_finished(id));
                }
            }
            Err(e) => return Err(stop_failed(e)),
        }
        self.run(id)
            .ok_or_else(|| ServiceError::not_found("run_not_found", format!("no run with id {id}")))
    }

    fn run_summary(&self, run_id: u64) -> Option<serde_json::Value> {
        let run = self.run(run_id)?;
        let report: SummaryReport = serde_json::from_value(run.summary?).ok()?;
        Some(report.to_handle_summary_data())
    }
}

/// The trend stats the API's metric views show (k6's default `summaryTrendStats`).
fn trend_stats() -> Vec<String> {
    volley_common::summary::DEFAULT_TREND_STATS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// A run's merged metrics so far (`values` of each metric `keep` accepts) and the seconds its
/// rates are over: up to its end once it has ended.
fn totals_of(
    live: &LiveData,
    keep: &dyn Fn(&str) -> bool,
) -> (f64, serde_json::Map<String, serde_json::Value>) {
    let secs = match (live.started, live.ended) {
        (Some(s), Some(e)) => e.duration_since(s).as_secs_f64(),
        (Some(s), None) => s.elapsed().as_secs_f64(),
        _ => 0.0,
    };
    let stats = trend_stats();
    let mut out = serde_json::Map::new();
    for (name, info) in live.series.metrics() {
        if !keep(name) {
            continue;
        }
        if let Some(sink) = live.series.aggregate(name, &[]) {
            let values: serde_json::Map<String, serde_json::Value> = sink
                .values(&stats, secs)
                .into_iter()
                .map(|(k, v)| (k, serde_json::json!(v)))
                .collect();
            out.insert(
                name.clone(),
                serde_json::json!({"type": info.mtype.as_str(), "contains": info.contains.as_str(), "values": values}),
            );
        }
    }
    (secs, out)
}

/// Reads an uploaded archive: Volley's own, or one `k6 archive` wrote (as `k6 cloud run`
/// uploads it), which is stored converted to Volley's format so agents read one format
/// (`volley_common::archive::k6`).
fn read_archive(archive: Vec<u8>) -> Result<(Archive, Vec<u8>), ServiceError> {
    let invalid = |e: volley_common::archive::ArchiveError| {
        ServiceError::bad_request("invalid_archive", e.to_string())
    };
    match Archive::from_tar(&archive) {
        Ok(parsed) => Ok((parsed, archive)),
        Err(_) if volley_common::archive::k6::is_k6_archive(&archive) => {
            let parsed = volley_common::archive::k6::from_k6_tar(&archive).map_err(invalid)?;
            let tar = parsed.to_tar().map_err(invalid)?;
            Ok((parsed, tar))
        }
        Err(e) => Err(invalid(e)),
    }
}

/// Refuses a run whose planned duration or VUs exceed the controller's limits.
fn check_limits_before_start(
    config: &serde_json::Value,
    limits: &crate::coordinator::Limits,
) -> Result<(), ServiceError> {
    let Ok(resolved) =
        volley_common::options::Options::from_script_json(config).and_then(|o| o.resolve())
    else {
        return Ok(()); // invalid options are reported by validation
    };
    let duration = resolved.max_duration_incl_graceful_stop();
    if duration > limits.max_duration {
        return Err(ServiceError::new(
            422,
            "limit_exceeded",
            format!(
                "the test may run for {} s (incl. graceful stop) but runs are limited to {} s (max_duration); shorten the test",
                duration.as_secs(),
                limits.max_duration.as_secs()
            ),
        ));
    }
    let vus: u64 = resolved.scenarios.iter().map(|s| s.max_vus()).sum();
    if let Some(max) = limits.max_vus {
        if vus > max {
            return Err(ServiceError::new(
                422,
                "limit_exceeded",
                format!("the test plans up to {vus} VUs but runs are limited to {max} (max_vus); lower vus/maxVUs"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
