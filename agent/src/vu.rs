//! A virtual user: its own QuickJS context (in its worker's shared runtime, see
//! `js::shared_runtime`), created inside its coroutine, running the init code once and then the
//! commands the executors give it (iterations of a scenario, or a single call of `setup`,
//! `teardown` or `handleSummary`).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rquickjs::{CatchResultExt, Context, Ctx, Function, Object, Runtime, Value};

use crate::coro::{Resume, Suspend, Suspender, JS_STACK_LIMIT};
use crate::http::VuHttpClient;
use crate::js::event_loop;
use crate::js::shared_runtime::{self, SharedRuntime, VuExec};
use crate::js::vu_ctx::{Aborted, IoFuture, IterState, VuCtx, VuHost};
use crate::js::{self, JsError, VolleyResolver};
use crate::metrics::builtin;
use crate::program::{Program, ProgramBuilder};
use crate::run::RunShared;
use crate::sandbox::FileScope;
use crate::scenario::Job;
use crate::worker::{WorkerLocal, WorkerMsg};
use volley_common::metrics::TagSet;

pub use crate::js::vu_ctx::Phase;

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

/// How a VU reaches its worker and the IO runtime (its [`VuHost`]). The first init (VU 0
/// reading options) has none: it cannot block.
pub struct VuLink {
    pub suspender: &'static Suspender,
    pub local: Rc<WorkerLocal>,
    pub slot: u64,
    /// The VU's place in its worker's shared JS runtime.
    pub exec: VuExec,
    /// The run's IO runtime, where the VU's requests run.
    pub io: tokio::runtime::Handle,
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

impl VuHost for VuLink {
    fn block_on(&self, fut: IoFuture) -> Result<Box<dyn Any + Send>, Aborted> {
        let token = self.suspender.next_token();
        let tx = self.local.tx.clone();
        let slot = self.slot;
        let task = self.io.spawn(async move {
            let payload = fut.await;
            let _ = tx.send(WorkerMsg::Wake {
                slot,
                token,
                payload,
            });
        });
        match self.suspend(Suspend::Blocked(token)) {
            Resume::Wake(t, payload) if t == token => Ok(payload),
            _ => {
                task.abort();
                Err(Aborted)
            }
        }
    }

    fn on_work_stack(&self, f: &mut dyn FnMut()) {
        match &self.local.work_stack {
            Some(stack) => stack.run(|top| match top {
                Some(top) => self.exec.on_stack(top, f),
                None => f(),
            }),
            None => f(),
        }
    }

    fn sleep(&self, d: Duration) -> Result<(), Aborted> {
        if d >= RELEASE_STACK_SLEEP {
            // A long sleep: the stack pages the iteration touched go back to the OS meanwhile
            // (thousands of sleeping VUs are the memory-bound case).
            self.suspender.release_unused_stack();
        }
        let token = self.suspender.next_token();
        match self.suspend(Suspend::Sleep(token, Instant::now() + d)) {
            Resume::Wake(t, _) if t == token => Ok(()),
            _ => Err(Aborted),
        }
    }
}

/// Sleeps at least this long release the VU's unused stack pages first.
const RELEASE_STACK_SLEEP: Duration = Duration::from_millis(200);

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
///
/// The frames under a VU's blocking calls stay on its stack while it waits, so what is needed
/// only to start the VU (`start_vu`, `init_vu`) or for one-off calls (`call_export`) runs
/// in frames of its own, popped before the iterations: at `bench/scripts/memory.js`'s
/// `sleep(1)` the two frames here took 2.2 KiB of the 6.2 KiB of stack a sleeping VU keeps
/// (`docs/benchmarks.md`, "Memory per VU: where it goes").
pub fn vu_main(spec: VuSpec, suspender: &Suspender, local: Rc<WorkerLocal>) {
    // SAFETY: the suspender lives on this coroutine's stack for the whole body, and every user
    // of this reference (native functions) runs inside the body.
    let suspender: &'static Suspender = unsafe { &*(suspender as *const Suspender) };
    let Some(started) = start_vu(spec, suspender, local) else {
        return;
    };
    let StartedVu {
        run,
        runtime,
        context,
        link,
        vu,
        init_reply,
    } = started;
    shared_runtime::enter_context(&context, |ctx| {
        serve(ctx, &run, &runtime, &link, &vu, init_reply)
    });
    // The context goes before the VU's natives that it holds; all while this VU is the
    // runtime's running code.
    drop(context);
    drop(vu);
    drop(link);
    drop(runtime);
    drop(run);
}

/// What a started VU holds for its life (a few pointers: see [`vu_main`]).
struct StartedVu {
    run: Arc<RunShared>,
    runtime: Rc<SharedRuntime>,
    context: Context,
    link: Rc<VuLink>,
    vu: Rc<VuCtx>,
    init_reply: tokio::sync::oneshot::Sender<Result<(), JsError>>,
}

/// Makes the VU's context and native state; `None` (with the error sent on `init_reply`) if
/// the context cannot be made.
#[inline(never)]
fn start_vu(
    spec: VuSpec,
    suspender: &'static Suspender,
    local: Rc<WorkerLocal>,
) -> Option<StartedVu> {
    let run = spec.run.clone();
    let runtime = match worker_runtime(&local, &run) {
        Ok(rt) => rt,
        Err(e) => {
            let _ = spec.init_reply.send(Err(e));
            return None;
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
            return None;
        }
    };
    let link = Rc::new(VuLink {
        suspender,
        local,
        slot: spec.slot,
        exec,
        io: run.io.clone(),
    });
    let vu = Rc::new(VuCtx {
        id: spec.id,
        id_in_test: spec.id_in_test,
        program: run.program.clone(),
        registry: run.registry.clone(),
        run: Some(run.clone()),
        control: Some(run.control.clone()),
        host: Some(link.clone()),
        metrics: Some(link.local.metrics.clone()),
        http: Some(Arc::new(VuHttpClient::new(run.http.clone()))),
        phase: Cell::new(Phase::Init),
        state: RefCell::new(IterState::default()),
        interrupt: spec.interrupt.clone(),
        env: run.settings.env.clone(),
        timers: Default::default(),
        io: Default::default(),
        io_dispatcher: Default::default(),
    });
    Some(StartedVu {
        run,
        runtime,
        context,
        link,
        vu,
        init_reply: spec.init_reply,
    })
}

/// Runs the VU's init code, then the commands it is given until told to exit.
#[inline(never)]
fn serve<'js>(
    ctx: Ctx<'js>,
    run: &RunShared,
    runtime: &SharedRuntime,
    link: &VuLink,
    vu: &Rc<VuCtx>,
    init_reply: tokio::sync::oneshot::Sender<Result<(), JsError>>,
) {
    let ns = match init_vu(&ctx, runtime, vu) {
        Ok(ns) => {
            // Counted before the reply: once every VU has replied the run may start, and an
            // iteration on another thread must read every VU in `exec.instance.vusInitialized`.
            run.control.initialized_vus.fetch_add(1, Ordering::Relaxed);
            let _ = init_reply.send(Ok(()));
            ns
        }
        Err(e) => {
            let _ = init_reply.send(Err(e));
            return;
        }
    };
    link.suspender.release_unused_stack();
    loop {
        match link.suspend(Suspend::Idle) {
            Resume::Command(cmd) => match cmd.downcast::<VuCommand>() {
                Ok(cmd) => match *cmd {
                    VuCommand::RunJob { job, done } => {
                        run_job(&ctx, vu, &ns, job);
                        let _ = done.send(vu.id);
                    }
                    VuCommand::Call {
                        func,
                        phase,
                        arg,
                        reply,
                    } => {
                        let r = call_export(&ctx, vu, &ns, &func, phase, arg.as_deref());
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
}

/// The VU's init code (a frame of its own: module evaluation runs deep and holds much).
#[inline(never)]
fn init_vu<'js>(
    ctx: &Ctx<'js>,
    runtime: &SharedRuntime,
    vu: &Rc<VuCtx>,
) -> Result<Object<'js>, JsError> {
    runtime.starting_vu(|| init_context(ctx, vu, None))
}

/// The worker's shared JS runtime, created by its first VU.
fn worker_runtime(local: &WorkerLocal, run: &RunShared) -> Result<Rc<SharedRuntime>, JsError> {
    let mut slot = local.js_runtime.borrow_mut();
    if let Some(rt) = slot.as_ref() {
        return Ok(rt.clone());
    }
    let rt = Rc::new(SharedRuntime::new(run.program.clone())?);
    if let Some(budget) = &run.settings.js_heap {
        rt.set_heap_limit(budget.per_runtime);
    }
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
    js::modules::install(ctx, vu).map_err(err)?;
    js::globals::install(ctx, vu).map_err(err)?;
    js::loader::commonjs::install(ctx, vu, &vu.program.entry).map_err(err)?;
    let g = ctx.globals();
    g.set("__VU", vu.id).map_err(err)?;
    g.set("__ITER", 0).map_err(err)?;
    let env = Object::new(ctx.clone()).map_err(err)?;
    for (k, v) in vu.env.iter() {
        env.set(k.as_str(), v.as_str()).map_err(err)?;
    }
    g.set("__ENV", env).map_err(err)?;
    let entry = vu.program.entry.clone();
    let ns = js::loader::eval_entry(ctx, &entry, disk, Some(&vu.program));
    let ns = settle(ctx, vu, ns.map(|ns| ns.into_value()), false)?;
    ns.into_object()
        .ok_or_else(|| JsError::Load("internal error: the entry module has no namespace".into()))
}

/// Finishes a call of the script's function that returned `v`: runs the VU's event loop
/// (promise jobs and timers) until it is empty, as k6 does, and gives the value `v` settled to
/// (`undefined` for a promise still pending then). A call that threw has its pending timers
/// dropped instead. With `rejections`, a rejected promise's error says so
/// ([`JsError::from_rejection`]; not for the entry module, whose evaluation is a promise
/// however it fails).
fn settle<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    called: Result<Value<'js>, JsError>,
    rejections: bool,
) -> Result<Value<'js>, JsError> {
    let v = match called {
        Ok(v) => v,
        Err(e) => {
            event_loop::stop(ctx, vu);
            return Err(e);
        }
    };
    let promise = v.as_promise().cloned();
    event_loop::run(ctx, vu, promise.as_ref(), rejections)?;
    match promise {
        Some(p) => match p.result::<Value>() {
            Some(r) => r.catch(ctx).map_err(|e| {
                if rejections {
                    JsError::from_rejection(e, ctx)
                } else {
                    JsError::from_caught(e, ctx)
                }
            }),
            None => Ok(Value::new_undefined(ctx.clone())),
        },
        None => Ok(v),
    }
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

/// Calls `setup`, `teardown` or `handleSummary` (a frame of its own, off the iterations' stack).
#[inline(never)]
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
        st.bytes_sent = 0;
        st.bytes_received = 0;
    }
    let f: Function = ns.get(func).map_err(|_| {
        JsError::Load(format!(
            "the script does not export a function named {func}"
        ))
    })?;
    let data = json_parse(ctx, arg)?;
    let called = f
        .call::<_, Value>((data,))
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx));
    let r = settle(ctx, vu, called, true);
    if matches!(phase, Phase::Setup | Phase::Teardown) {
        // k6 counts the bytes of setup's and teardown's requests too, also when they throw or
        // abort the test.
        emit_data_counts(vu, SystemTime::now());
    }
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
        let called = func
            .call::<_, Value>((data.clone(),))
            .catch(ctx)
            .map_err(|e| JsError::from_caught(e, ctx));
        let r = settle(ctx, vu, called, true);
        let interrupted = vu.interrupt.load(Ordering::Relaxed);
        match &r {
            Err(JsError::Interrupted) => {}
            Err(_) if interrupted => {}
            Err(e) if e.is_out_of_memory() && run.settings.js_heap.is_some() => {
                // Every VU of this worker shares the heap: the run cannot go on.
                if let Some(budget) = &run.settings.js_heap {
                    run.control.abort(budget.exhausted());
                }
            }
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

/// Emits `data_sent` and `data_received` for what the VU's requests sent and received since
/// the iteration (or setup, or teardown) began; returns the tags they carry.
fn emit_data_counts(vu: &VuCtx, now: SystemTime) -> TagSet {
    let tags = vu.tags_with(&[]);
    let (sent, recv) = {
        let st = vu.state.borrow();
        (st.bytes_sent, st.bytes_received)
    };
    vu.emit_all(
        &tags,
        now,
        &[
            (builtin::DATA_SENT, sent as f64),
            (builtin::DATA_RECEIVED, recv as f64),
        ],
    );
    tags
}

/// Emits the per-iteration metrics k6 emits: data_sent, data_received, and for complete
/// iterations (or the one that called `exec.test.abort()`) iteration_duration and iterations.
fn end_of_iteration(vu: &VuCtx, start: Instant, start_wall: SystemTime, full: bool) {
    let tags = emit_data_counts(vu, SystemTime::now());
    if full {
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        vu.emit_all(
            &tags,
            start_wall,
            &[
                (builtin::ITERATION_DURATION, ms),
                (builtin::ITERATIONS, 1.0),
            ],
        );
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
    // k6 v1.1.0 marks a thrown exception's line `source=stacktrace`, not a rejected promise's.
    let fields: &[(&str, &str)] = &[
        ("executor", executor.as_str()),
        ("scenario", scenario.as_str()),
        ("source", "stacktrace"),
    ];
    let fields = if e.is_rejection() {
        &fields[..2]
    } else {
        fields
    };
    crate::console::log_error(&e.with_stack(), fields);
}

/// The first init: evaluates the script once as VU 0 from disk, compiling every local module
/// into the program and collecting `options` and the exported function names.
pub struct FirstInit {
    pub program: Arc<Program>,
    /// `JSON.stringify(options)`, or None when the script exports no options.
    pub options_json: Option<String>,
    pub exports: Vec<String>,
}

pub fn first_init(
    script: &std::path::Path,
    env: &BTreeMap<String, String>,
    registry: Arc<crate::metrics::Registry>,
    control: Option<Arc<crate::run::RunControl>>,
    heap_limit: Option<usize>,
    scope: FileScope,
    remote: js::RemoteSource,
) -> Result<FirstInit, JsError> {
    let builder = ProgramBuilder::new(script)
        .map_err(|e| JsError::Load(e.to_string()))?
        .scoped(scope.clone());
    let entry = builder.entry();
    let builder = Rc::new(RefCell::new(builder));
    let disk = js::DiskLoader::new(builder.clone(), remote);
    // The program that open() reads through during the first init: files land there.
    let files_program = Arc::new(
        ProgramBuilder::new(script)
            .map_err(|e| JsError::Load(e.to_string()))?
            .scoped(scope)
            .finish(Default::default()),
    );
    let rt = Runtime::new().map_err(|e| JsError::Load(e.to_string()))?;
    rt.set_max_stack_size(JS_STACK_LIMIT);
    if let Some(bytes) = heap_limit {
        rt.set_memory_limit(bytes);
    }
    if let Some(control) = control.clone() {
        // A stop during the first init (a busy loop at the top level) interrupts it at once.
        rt.set_interrupt_handler(Some(Box::new(move || control.is_aborted())));
    }
    rt.set_loader(VolleyResolver, disk.clone());
    let context = Context::full(&rt).map_err(|e| JsError::Load(e.to_string()))?;
    let vu = Rc::new(VuCtx {
        id: 0,
        id_in_test: 0,
        program: files_program.clone(),
        registry,
        run: None,
        control: control.clone(),
        host: None,
        metrics: None,
        http: None,
        phase: Cell::new(Phase::Init),
        state: RefCell::new(IterState::default()),
        interrupt: Arc::new(AtomicBool::new(false)),
        env: Arc::new(env.clone()),
        timers: Default::default(),
        io: Default::default(),
        io_dispatcher: Default::default(),
    });
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
