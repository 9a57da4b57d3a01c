//! A virtual user: its own QuickJS context (in its worker's shared runtime, see
//! `js::shared_runtime`), created inside its coroutine, running the init code once and then the
//! commands the executors give it (iterations of a scenario, or a single call of `setup`,
//! `teardown` or `handleSummary`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rquickjs::{CatchResultExt, Context, Ctx, Function, Object, Runtime, Value};
use volley_common::metrics::TagSet;

use crate::coro::{Resume, Suspend, Suspender, JS_STACK_LIMIT};
use crate::executor::Job;
use crate::http::VuHttpClient;
use crate::js::shared_runtime::{self, SharedRuntime, VuExec};
use crate::js::{self, JsError, VolleyResolver};
use crate::metrics::{builtin, MetricId};
use crate::run::RunShared;
use crate::worker::{WorkerLocal, WorkerMsg};

/// The phase a VU's JS is in; some APIs are only allowed in some phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Init,
    Setup,
    Iteration,
    Teardown,
    HandleSummary,
}

/// Commands an idle VU accepts.
pub enum VuCommand {
    /// Run iterations of a scenario until the job says stop; then report on `done`.
    RunJob {
        job: Arc<Job>,
        done: tokio::sync::mpsc::UnboundedSender<u64>,
    },
    /// Call an exported function once (setup, teardown, handleSummary) with a JSON argument;
    /// reply with its JSON result (`None` for undefined).
    Call {
        func: String,
        phase: Phase,
        arg: Option<String>,
        reply: tokio::sync::oneshot::Sender<Result<Option<String>, JsError>>,
    },
}

/// Raised when a blocking call is aborted (the VU is being stopped).
#[derive(Debug)]
pub struct Aborted;

/// How a VU reaches its worker and the IO runtime. Absent for the first init (VU 0 reading
/// options), which cannot block.
pub struct VuLink {
    pub suspender: &'static Suspender,
    pub local: Rc<WorkerLocal>,
    pub slot: u64,
    /// The VU's place in its worker's shared JS runtime.
    pub exec: VuExec,
}

impl VuLink {
    /// Suspends the VU's coroutine; other VUs of the worker run JS meanwhile, so the VU's JS
    /// execution state is saved first and restored once it is resumed.
    pub fn suspend(&self, why: Suspend) -> Resume {
        self.exec.leave();
        let r = self.suspender.suspend(why);
        self.exec.enter();
        r
    }
}

/// Sleeps at least this long release the VU's unused stack pages first.
const RELEASE_STACK_SLEEP: Duration = Duration::from_millis(200);

/// Tag sets a VU remembers (see `IterState::tag_memo`).
const TAG_MEMO_SIZE: usize = 16;

/// A remembered tag set: the base-tags generation it was built from, the extra pairs, the set.
pub type TagMemo = (u64, Vec<(String, String)>, TagSet);

/// Per-iteration state of a VU.
#[derive(Default)]
pub struct IterState {
    pub job: Option<Arc<Job>>,
    /// `__ITER` / `exec.vu.iterationInScenario`.
    pub iteration_in_scenario: u64,
    /// `exec.vu.iterationInInstance`: across all scenarios.
    pub iteration_in_instance: u64,
    pub scenario_iteration_local: u64,
    pub scenario_iteration_global: u64,
    /// Current group path ("" at the root, "::a::b" inside groups).
    pub group: String,
    /// Start times of the groups the VU is inside (innermost last), for group_duration.
    pub group_starts: Vec<Instant>,
    /// `exec.vu.tags` set by the script.
    pub vu_tags: BTreeMap<String, String>,
    /// The cached tags every sample of this VU carries (invalidated when they change).
    pub base_tags: Option<Vec<(String, String)>>,
    /// Tag sets recently built by [`VuCtx::tags_with`] from the current base tags, by their
    /// extra pairs: a loop's requests carry the same tags, so their set is built once (and its
    /// hash computed once). An entry is valid while `base_tags` is the one it was built from.
    pub tag_memo: Vec<TagMemo>,
    /// Bumped every time `base_tags` is rebuilt.
    pub base_tags_gen: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// The URL string of the VU's last request and its parse: a loop usually requests the same
    /// URLs again, and parsing one was ~6 % of an `http.get` iteration.
    pub last_url: Option<(String, url::Url)>,
    /// Whether `__ENV` currently holds a scenario's `env` (and must be rebuilt for the next job).
    pub env_from_scenario: bool,
    /// Set when this VU's own `exec.test.abort()` ended the iteration: k6 still counts that
    /// iteration in `iterations` and `iteration_duration` (but as interrupted in the progress).
    pub aborted_test: bool,
}

/// The native side of one VU, shared by its native JS functions.
pub struct VuCtx {
    /// `__VU` / `exec.vu.idInInstance` (0 for the setup/teardown VU and the first init).
    pub id: u64,
    /// `exec.vu.idInTest`.
    pub id_in_test: u64,
    pub program: Arc<js::Program>,
    pub registry: Arc<crate::metrics::Registry>,
    /// Absent during the first init.
    pub run: Option<Arc<RunShared>>,
    /// The run's control (also during the first init, so test.abort()/fail() count there).
    pub control: Option<Arc<crate::run::RunControl>>,
    pub link: Option<VuLink>,
    pub http: Option<Arc<VuHttpClient>>,
    pub phase: Cell<Phase>,
    pub state: RefCell<IterState>,
    pub interrupt: Arc<AtomicBool>,
    /// Extra cookie jars made with `new http.CookieJar()` (id 0 is the VU's own jar).
    pub jars: RefCell<Vec<Arc<crate::http::CookieJar>>>,
    /// The run's environment variables (`__ENV`, before a scenario's own `env`).
    pub env: BTreeMap<String, String>,
}

impl VuCtx {
    /// Blocks the VU until `fut` completes on the IO runtime. Other VUs of the worker run
    /// meanwhile. Fails with [`Aborted`] when the VU is interrupted.
    pub fn block_on<T, F>(&self, fut: F) -> Result<T, Aborted>
    where
        T: Send + 'static,
        F: std::future::Future<Output = T> + Send + 'static,
    {
        let (Some(link), Some(run)) = (self.link.as_ref(), self.run.as_ref()) else {
            return Err(Aborted);
        };
        if self.interrupt.load(Ordering::Relaxed) {
            return Err(Aborted);
        }
        let token = link.suspender.next_token();
        let tx = link.local.tx.clone();
        let slot = link.slot;
        // Boxed first: an HTTP request's future is several KiB, and tokio moves the task's
        // future a few times while spawning it (profiled: memcpy was ~5 % of the generator).
        let fut = Box::pin(fut);
        let task = run.io.spawn(async move {
            let out = fut.await;
            let _ = tx.send(WorkerMsg::Wake {
                slot,
                token,
                payload: Box::new(out),
            });
        });
        match link.suspend(Suspend::Blocked(token)) {
            Resume::Wake(t, payload) if t == token => match payload.downcast::<T>() {
                Ok(v) => Ok(*v),
                Err(_) => Err(Aborted),
            },
            _ => {
                task.abort();
                Err(Aborted)
            }
        }
    }

    /// Suspends the VU for `d` (k6's `sleep`). Fails with [`Aborted`] when interrupted.
    pub fn sleep(&self, d: Duration) -> Result<(), Aborted> {
        let Some(link) = self.link.as_ref() else {
            std::thread::sleep(d.min(Duration::from_secs(1)));
            return Ok(());
        };
        if self.interrupt.load(Ordering::Relaxed) {
            return Err(Aborted);
        }
        if d >= RELEASE_STACK_SLEEP {
            // A long sleep: the stack pages the iteration touched go back to the OS meanwhile
            // (thousands of sleeping VUs are the memory-bound case).
            link.suspender.release_unused_stack();
        }
        let token = link.suspender.next_token();
        match link.suspend(Suspend::Sleep(token, Instant::now() + d)) {
            Resume::Wake(t, _) if t == token => Ok(()),
            _ => Err(Aborted),
        }
    }

    /// The tags every sample of this VU carries now: options.tags, the scenario's tags, the
    /// VU's tags, `scenario` and `group`.
    pub fn base_tags(&self) -> Vec<(String, String)> {
        let mut st = self.state.borrow_mut();
        if let Some(t) = &st.base_tags {
            return t.clone();
        }
        let mut m: BTreeMap<String, String> = BTreeMap::new();
        if let Some(run) = &self.run {
            for (k, v) in &run.settings.global_tags {
                m.insert(k.clone(), v.clone());
            }
        }
        if let Some(job) = &st.job {
            for (k, v) in &job.scenario.tags {
                m.insert(k.clone(), v.clone());
            }
            m.insert("scenario".into(), job.scenario.name.clone());
        }
        for (k, v) in &st.vu_tags {
            m.insert(k.clone(), v.clone());
        }
        m.insert("group".into(), st.group.clone());
        let v: Vec<(String, String)> = m.into_iter().collect();
        st.base_tags = Some(v.clone());
        st.base_tags_gen += 1;
        v
    }

    pub fn invalidate_tags(&self) {
        self.state.borrow_mut().base_tags = None;
    }

    /// Builds a tag set from the VU's base tags plus `extra` (later keys win).
    pub fn tags_with(&self, extra: &[(&str, &str)]) -> TagSet {
        {
            let st = self.state.borrow();
            if st.base_tags.is_some() {
                let gen = st.base_tags_gen;
                let hit = st.tag_memo.iter().find(|(g, k, _)| {
                    *g == gen
                        && k.len() == extra.len()
                        && k.iter().zip(extra).all(|((a, b), (c, d))| a == c && b == d)
                });
                if let Some((_, _, t)) = hit {
                    return t.clone();
                }
            }
        }
        let mut set = self.build_tags(extra);
        if let Some(link) = &self.link {
            set = link.local.metrics.borrow_mut().intern(set);
        }
        let mut st = self.state.borrow_mut();
        let gen = st.base_tags_gen;
        st.tag_memo.retain(|(g, _, _)| *g == gen);
        if st.tag_memo.len() >= TAG_MEMO_SIZE {
            st.tag_memo.remove(0);
        }
        let key = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        st.tag_memo.push((gen, key, set.clone()));
        set
    }

    fn build_tags(&self, extra: &[(&str, &str)]) -> TagSet {
        let mut base = self.base_tags();
        for (k, v) in extra {
            if let Some(e) = base.iter_mut().find(|(bk, _)| bk == k) {
                e.1 = v.to_string();
            } else {
                base.push((k.to_string(), v.to_string()));
            }
        }
        TagSet::from_pairs(base)
    }

    /// Records a sample into the worker's aggregates. Samples outside a worker (first init) are
    /// dropped, as k6 does not allow metrics in the init context.
    pub fn emit(&self, metric: MetricId, tags: &TagSet, value: f64, time: SystemTime) {
        if let Some(link) = &self.link {
            link.local
                .metrics
                .borrow_mut()
                .add(metric, tags, value, time);
        }
    }

    /// Marks the run aborted by the script and interrupts this VU.
    pub fn abort_test(&self, reason: volley_common::exit::AbortReason) {
        if let Some(control) = &self.control {
            control.abort(reason);
        }
        if let Ok(mut st) = self.state.try_borrow_mut() {
            st.aborted_test = true;
        }
        self.interrupt.store(true, Ordering::SeqCst);
    }
}

/// Throws QuickJS's uncatchable "interrupted" error, so a stopping VU unwinds even through
/// `try/catch` in the script.
pub fn throw_interrupted(ctx: &Ctx<'_>) -> rquickjs::Error {
    let e = rquickjs::Exception::from_message(ctx.clone(), "interrupted");
    match e {
        Ok(ex) => {
            let _ = ex.as_object().set("name", "InternalError");
            let v = ex.into_value();
            // SAFETY: marks a live error object of this context as uncatchable.
            unsafe { rquickjs::qjs::JS_SetUncatchableError(ctx.as_raw().as_ptr(), v.as_raw()) };
            ctx.throw(v)
        }
        Err(e) => e,
    }
}

/// What a VU needs to be created.
pub struct VuSpec {
    pub id: u64,
    pub id_in_test: u64,
    pub run: Arc<RunShared>,
    pub interrupt: Arc<AtomicBool>,
    pub slot: u64,
    /// Receives the result of the VU's init code.
    pub init_reply: tokio::sync::oneshot::Sender<Result<(), JsError>>,
    /// Whether aborting the run interrupts this VU's JS at once. True for test VUs and the
    /// setup VU; false for the teardown and handleSummary VUs, which a stop lets finish.
    pub stop_on_abort: bool,
}

/// The body of a VU coroutine: create the VU's context, run init, then serve commands until
/// told to exit. Everything JS of the VU lives and dies inside this function, on the
/// coroutine's stack.
pub fn vu_main(spec: VuSpec, suspender: &Suspender, local: Rc<WorkerLocal>) {
    // SAFETY: the suspender lives on this coroutine's stack for the whole body, and every user
    // of this reference (native functions) runs inside the body.
    let suspender: &'static Suspender = unsafe { &*(suspender as *const Suspender) };
    let run = spec.run.clone();
    let runtime = match worker_runtime(&local, &run) {
        Ok(rt) => rt,
        Err(e) => {
            let _ = spec.init_reply.send(Err(e));
            return;
        }
    };
    let flag = spec.interrupt.clone();
    let control = run.control.clone();
    let stop_on_abort = spec.stop_on_abort;
    let exec = VuExec::new(
        runtime.clone(),
        suspender.stack_top(),
        JS_STACK_LIMIT,
        Rc::new(move || flag.load(Ordering::Relaxed) || (stop_on_abort && control.is_aborted())),
    );
    exec.enter();
    let context = match runtime.starting_vu(|| runtime.new_context()) {
        Ok(c) => c,
        Err(e) => {
            let _ = spec.init_reply.send(Err(e));
            return;
        }
    };
    let vu = Rc::new(VuCtx {
        id: spec.id,
        id_in_test: spec.id_in_test,
        program: run.program.clone(),
        registry: run.registry.clone(),
        run: Some(run.clone()),
        control: Some(run.control.clone()),
        link: Some(VuLink {
            suspender,
            local,
            slot: spec.slot,
            exec,
        }),
        http: Some(Arc::new(VuHttpClient::new(run.http.clone()))),
        phase: Cell::new(Phase::Init),
        state: RefCell::new(IterState::default()),
        interrupt: spec.interrupt.clone(),
        jars: RefCell::new(Vec::new()),
        env: run.settings.env.clone(),
    });
    let Some(link) = vu.link.as_ref() else {
        return;
    };

    shared_runtime::enter_context(&context, |ctx| {
        let ns = match runtime.starting_vu(|| init_context(&ctx, &vu, None)) {
            Ok(ns) => {
                let _ = spec.init_reply.send(Ok(()));
                ns
            }
            Err(e) => {
                let _ = spec.init_reply.send(Err(e));
                return;
            }
        };
        run.control.initialized_vus.fetch_add(1, Ordering::Relaxed);
        suspender.release_unused_stack();
        loop {
            match link.suspend(Suspend::Idle) {
                Resume::Command(cmd) => match cmd.downcast::<VuCommand>() {
                    Ok(cmd) => match *cmd {
                        VuCommand::RunJob { job, done } => {
                            run_job(&ctx, &vu, &ns, job);
                            let _ = done.send(vu.id);
                        }
                        VuCommand::Call {
                            func,
                            phase,
                            arg,
                            reply,
                        } => {
                            let r = call_export(&ctx, &vu, &ns, &func, phase, arg.as_deref());
                            let _ = reply.send(r);
                        }
                    },
                    Err(_) => tracing::error!("VU {} got an unknown command", vu.id),
                },
                Resume::Exit => break,
                // Interrupt or stale wake while idle: nothing to stop.
                _ => {}
            }
        }
    });
    // The context goes before the VU's natives that it holds; both while this VU is the
    // runtime's running code.
    drop(context);
    drop(vu);
}

/// The worker's shared JS runtime, created by its first VU.
fn worker_runtime(local: &WorkerLocal, run: &RunShared) -> Result<Rc<SharedRuntime>, JsError> {
    let mut slot = local.js_runtime.borrow_mut();
    if let Some(rt) = slot.as_ref() {
        return Ok(rt.clone());
    }
    let rt = Rc::new(SharedRuntime::new(run.program.clone())?);
    *slot = Some(rt.clone());
    Ok(rt)
}

/// Installs the globals and natives, then evaluates the entry module (the init context).
pub fn init_context<'js>(
    ctx: &Ctx<'js>,
    vu: &Rc<VuCtx>,
    disk: Option<&js::DiskLoader>,
) -> Result<Object<'js>, JsError> {
    let err = |e: rquickjs::Error| JsError::Load(e.to_string());
    js::native::install(ctx, vu).map_err(err)?;
    let g = ctx.globals();
    g.set("__VU", vu.id).map_err(err)?;
    g.set("__ITER", 0).map_err(err)?;
    let env = Object::new(ctx.clone()).map_err(err)?;
    for (k, v) in &vu.env {
        env.set(k.as_str(), v.as_str()).map_err(err)?;
    }
    g.set("__ENV", env).map_err(err)?;
    let entry = vu.program.entry.clone();
    let ns = js::eval_entry(ctx, &entry, disk, Some(&vu.program))?;
    shared_runtime::run_own_jobs(ctx);
    Ok(ns)
}

/// Calls `value` if it is a function returning a promise, waiting for the promise.
fn settle<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> Result<Value<'js>, JsError> {
    if let Some(p) = v.as_promise() {
        let r = shared_runtime::finish_promise::<Value>(ctx, p)
            .catch(ctx)
            .map_err(|e| JsError::from_caught(e, ctx));
        shared_runtime::run_own_jobs(ctx);
        return r;
    }
    shared_runtime::run_own_jobs(ctx);
    Ok(v)
}

fn json_parse<'js>(ctx: &Ctx<'js>, s: Option<&str>) -> Result<Value<'js>, JsError> {
    match s {
        None => Ok(Value::new_undefined(ctx.clone())),
        Some(s) => ctx
            .json_parse(s)
            .catch(ctx)
            .map_err(|e| JsError::from_caught(e, ctx)),
    }
}

fn json_stringify<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> Result<Option<String>, JsError> {
    if v.is_undefined() {
        return Ok(None);
    }
    match ctx.json_stringify(v).catch(ctx) {
        Ok(Some(s)) => Ok(Some(
            s.to_string().map_err(|e| JsError::Load(e.to_string()))?,
        )),
        Ok(None) => Ok(None),
        Err(e) => Err(JsError::from_caught(e, ctx)),
    }
}

fn call_export<'js>(
    ctx: &Ctx<'js>,
    vu: &Rc<VuCtx>,
    ns: &Object<'js>,
    func: &str,
    phase: Phase,
    arg: Option<&str>,
) -> Result<Option<String>, JsError> {
    vu.interrupt.store(false, Ordering::SeqCst);
    vu.phase.set(phase);
    {
        let mut st = vu.state.borrow_mut();
        st.group = match phase {
            Phase::Setup => "::setup".into(),
            Phase::Teardown => "::teardown".into(),
            _ => String::new(),
        };
        st.base_tags = None;
    }
    let f: Function = ns.get(func).map_err(|_| {
        JsError::Load(format!(
            "the script does not export a function named {func}"
        ))
    })?;
    let data = json_parse(ctx, arg)?;
    let r = f
        .call::<_, Value>((data,))
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx))
        .and_then(|v| settle(ctx, v));
    let out = match r {
        Ok(v) => json_stringify(ctx, v),
        Err(e) => Err(e),
    };
    if vu.interrupt.load(Ordering::SeqCst) && out.is_err() {
        return Err(JsError::Interrupted);
    }
    out
}

/// Runs iterations of a job until its iteration source says stop or the VU is interrupted.
fn run_job<'js>(ctx: &Ctx<'js>, vu: &Rc<VuCtx>, ns: &Object<'js>, job: Arc<Job>) {
    let Some(run) = vu.run.clone() else {
        return;
    };
    vu.interrupt.store(false, Ordering::SeqCst);
    vu.phase.set(Phase::Iteration);
    {
        let mut st = vu.state.borrow_mut();
        st.job = Some(job.clone());
        st.iteration_in_scenario = 0;
        st.group.clear();
        st.base_tags = None;
    }
    let scenario = &job.scenario;
    let func: Function = match ns.get::<_, Function>(scenario.exec.as_str()) {
        Ok(f) => f,
        Err(_) => {
            tracing::error!(
                "scenario {}: the script exports no function named {}",
                scenario.name,
                scenario.exec
            );
            return;
        }
    };
    // Each VU gets its own copy of the setup data, parsed once per job.
    let setup_json = run
        .setup_data
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let data = match json_parse(ctx, setup_json.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("cannot pass setup data to VU {}: {e}", vu.id);
            Value::new_undefined(ctx.clone())
        }
    };
    // __ENV is the run's env plus this scenario's `env` (k6 rebuilds it on every activation), so
    // one scenario's env never leaks into the next scenario this VU runs.
    let had_scenario_env = std::mem::replace(
        &mut vu.state.borrow_mut().env_from_scenario,
        !scenario.env.is_empty(),
    );
    if had_scenario_env || !scenario.env.is_empty() {
        if let Ok(env) = Object::new(ctx.clone()) {
            for (k, v) in vu.env.iter().chain(scenario.env.iter()) {
                let _ = env.set(k.as_str(), v.as_str());
            }
            let _ = ctx.globals().set("__ENV", env);
        }
    }
    run.control.active_vus.fetch_add(1, Ordering::Relaxed);
    let mut local_count = 0u64;
    loop {
        if vu.interrupt.load(Ordering::Relaxed) || run.control.is_aborted() {
            break;
        }
        let Some(k) = job.next_iteration(local_count) else {
            break;
        };
        local_count += 1;
        let global = scenario.iteration_in_test(k);
        let iter_no = {
            let mut st = vu.state.borrow_mut();
            st.scenario_iteration_local = k;
            st.scenario_iteration_global = global;
            st.bytes_sent = 0;
            st.bytes_received = 0;
            st.group_starts.clear();
            leave_groups(&mut st);
            st.aborted_test = false;
            st.iteration_in_scenario
        };
        let _ = ctx.globals().set("__ITER", iter_no);
        let start = Instant::now();
        let start_wall = SystemTime::now();
        let r = func
            .call::<_, Value>((data.clone(),))
            .catch(ctx)
            .map_err(|e| JsError::from_caught(e, ctx))
            .and_then(|v| settle(ctx, v));
        let interrupted = vu.interrupt.load(Ordering::Relaxed);
        match &r {
            Err(JsError::Interrupted) => {}
            Err(_) if interrupted => {}
            Err(e) => log_iteration_error(vu, e),
            Ok(_) => {}
        }
        let full = !interrupted && !matches!(r, Err(JsError::Interrupted));
        let aborted_here = {
            let mut st = vu.state.borrow_mut();
            st.iteration_in_scenario += 1;
            st.iteration_in_instance += 1;
            leave_groups(&mut st);
            std::mem::take(&mut st.aborted_test)
        };
        end_of_iteration(vu, start, start_wall, full || aborted_here);
        scenario.done_iterations.fetch_add(1, Ordering::Relaxed);
        if full {
            run.control
                .complete_iterations
                .fetch_add(1, Ordering::Relaxed);
        } else {
            run.control
                .interrupted_iterations
                .fetch_add(1, Ordering::Relaxed);
            break;
        }
        if let Some(min) = run.settings.min_iteration_duration {
            let el = start.elapsed();
            if el < min && vu.sleep(min - el).is_err() {
                break;
            }
        }
        if let Some(http) = &vu.http {
            if run.settings.no_vu_connection_reuse {
                http.reset_connections();
            }
            if !run.settings.no_cookies_reset {
                http.cookie_jar().clear();
            }
        }
    }
    run.control.active_vus.fetch_sub(1, Ordering::Relaxed);
    vu.state.borrow_mut().job = None;
    vu.invalidate_tags();
}

/// Back to the root group. The VU's tags (and the tag sets memoized from them) change only if
/// the VU was in a group: rebuilding them on every iteration cost ~5 % of a JS worker's time.
fn leave_groups(st: &mut IterState) {
    if !st.group.is_empty() {
        st.group.clear();
        st.base_tags = None;
    }
}

/// Emits the per-iteration metrics k6 emits: data_sent, data_received, and for complete
/// iterations (or the one that called `exec.test.abort()`) iteration_duration and iterations.
fn end_of_iteration(vu: &VuCtx, start: Instant, start_wall: SystemTime, full: bool) {
    let tags = vu.tags_with(&[]);
    let (sent, recv) = {
        let st = vu.state.borrow();
        (st.bytes_sent, st.bytes_received)
    };
    let now = SystemTime::now();
    vu.emit(builtin::DATA_SENT, &tags, sent as f64, now);
    vu.emit(builtin::DATA_RECEIVED, &tags, recv as f64, now);
    if full {
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        vu.emit(builtin::ITERATION_DURATION, &tags, ms, start_wall);
        vu.emit(builtin::ITERATIONS, &tags, 1.0, start_wall);
    }
}

fn log_iteration_error(vu: &VuCtx, e: &JsError) {
    let (executor, scenario) = {
        let st = vu.state.borrow();
        st.job
            .as_ref()
            .map(|j| (j.scenario.executor.to_string(), j.scenario.name.clone()))
            .unwrap_or_default()
    };
    crate::console::log_error(
        &e.with_stack(),
        &[
            ("executor", executor.as_str()),
            ("scenario", scenario.as_str()),
            ("source", "stacktrace"),
        ],
    );
}

/// The first init: evaluates the script once as VU 0 from disk, compiling every local module
/// into the program and collecting `options` and the exported function names.
pub struct FirstInit {
    pub program: Arc<js::Program>,
    /// `JSON.stringify(options)`, or None when the script exports no options.
    pub options_json: Option<String>,
    pub exports: Vec<String>,
}

pub fn first_init(
    script: &std::path::Path,
    env: &BTreeMap<String, String>,
    registry: Arc<crate::metrics::Registry>,
    control: Option<Arc<crate::run::RunControl>>,
) -> Result<FirstInit, JsError> {
    let builder = js::ProgramBuilder::new(script).map_err(|e| JsError::Load(e.to_string()))?;
    let entry = builder.entry();
    let builder = Rc::new(RefCell::new(builder));
    // The program that open() reads through during the first init: files land there.
    let files_program = Arc::new(
        js::ProgramBuilder::new(script)
            .map_err(|e| JsError::Load(e.to_string()))?
            .finish(Default::default()),
    );
    let rt = Runtime::new().map_err(|e| JsError::Load(e.to_string()))?;
    rt.set_max_stack_size(JS_STACK_LIMIT);
    if let Some(control) = control.clone() {
        // A stop during the first init (a busy loop at the top level) interrupts it at once.
        rt.set_interrupt_handler(Some(Box::new(move || control.is_aborted())));
    }
    rt.set_loader(
        VolleyResolver,
        js::DiskLoader {
            builder: builder.clone(),
        },
    );
    let context = Context::full(&rt).map_err(|e| JsError::Load(e.to_string()))?;
    let vu = Rc::new(VuCtx {
        id: 0,
        id_in_test: 0,
        program: files_program.clone(),
        registry,
        run: None,
        control: control.clone(),
        link: None,
        http: None,
        phase: Cell::new(Phase::Init),
        state: RefCell::new(IterState::default()),
        interrupt: Arc::new(AtomicBool::new(false)),
        jars: RefCell::new(Vec::new()),
        env: env.clone(),
    });
    let disk = js::DiskLoader {
        builder: builder.clone(),
    };
    let (options_json, exports) = context.with(|ctx| -> Result<_, JsError> {
        let ns = init_context(&ctx, &vu, Some(&disk))?;
        let mut exports = Vec::new();
        for k in ns.keys::<String>().flatten() {
            if ns.get::<_, Function>(k.as_str()).is_ok() {
                exports.push(k);
            }
        }
        let opts: Value = ns
            .get("options")
            .unwrap_or(Value::new_undefined(ctx.clone()));
        let options_json = if opts.is_undefined() || opts.is_null() {
            None
        } else {
            json_stringify(&ctx, opts)?
        };
        Ok((options_json, exports))
    })?;
    drop(context);
    drop(rt);
    drop(disk);
    let files: BTreeMap<_, _> = files_program
        .opened_files()
        .into_iter()
        .filter_map(|p| files_program.open_file(&p).ok().map(|d| (p, d)))
        .collect();
    let builder = Rc::try_unwrap(builder)
        .map_err(|_| JsError::Load("internal error: module loader still in use".into()))?
        .into_inner();
    let _ = entry;
    Ok(FirstInit {
        program: Arc::new(builder.finish(files)),
        options_json,
        exports,
    })
}
