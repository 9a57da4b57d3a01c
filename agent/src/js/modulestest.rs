//! One VU for unit tests of the k6 modules (k6 has `js/modulestest`): a QuickJS context with
//! the modules' natives and the globals installed over a [`VuCtx`] of a run of its own, whose
//! host runs IO on a runtime of its own and sleeps without waiting, and whose worker
//! aggregates keep every raw sample. A test runs snippets of JS (ES modules that may import the k6
//! modules) and looks at what they left in `globalThis` and at the samples.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rquickjs::{CatchResultExt, Context, Module, Runtime};

use super::error::JsError;
use super::event_loop;
use super::loader::{ProgramLoader, VolleyResolver};
use super::vu_ctx::{Aborted, IoFuture, IterState, Phase, VuCtx, VuHost};
use crate::http::{HttpConfig, HttpShared, VuHttpClient};
use crate::metrics::{MetricsStore, Registry, WorkerMetrics};
use crate::program::ProgramBuilder;
use crate::run::{RunControl, RunShared, VuSettings};

/// A sample a module emitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub metric: String,
    pub tags: BTreeMap<String, String>,
    pub value: f64,
}

/// The host of the test VU.
struct TestHost {
    io: tokio::runtime::Runtime,
    slept: RefCell<Vec<Duration>>,
}

impl VuHost for TestHost {
    fn block_on(&self, fut: IoFuture) -> Result<Box<dyn Any + Send>, Aborted> {
        Ok(self.io.block_on(fut))
    }

    fn sleep(&self, d: Duration) -> Result<(), Aborted> {
        self.slept.borrow_mut().push(d);
        Ok(())
    }
}

/// One VU with every k6 module, in the iteration phase unless a test sets another.
pub struct TestVu {
    // Dropped in this order: the context before its runtime.
    context: Context,
    _runtime: Runtime,
    pub vu: Rc<VuCtx>,
    host: Rc<TestHost>,
    metrics: Rc<RefCell<WorkerMetrics>>,
    snippets: RefCell<u32>,
}

impl Default for TestVu {
    fn default() -> Self {
        Self::with_settings(VuSettings::default())
    }
}

impl TestVu {
    pub fn new() -> Self {
        Self::default()
    }

    /// A VU of a run with these settings (`throw`, `discardResponseBodies`, tags, ...).
    pub fn with_settings(settings: VuSettings) -> Self {
        let host = Rc::new(TestHost {
            io: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
            slept: RefCell::new(Vec::new()),
        });
        let program = Arc::new(
            ProgramBuilder::new(std::path::Path::new("/test/script.js"))
                .expect("absolute path")
                .finish(Default::default()),
        );
        let run = Arc::new(RunShared {
            program: program.clone(),
            registry: Arc::new(Registry::new()),
            store: Arc::new(MetricsStore::new()),
            settings,
            http: Arc::new(HttpShared::new(HttpConfig::default()).expect("HTTP client")),
            io: host.io.handle().clone(),
            control: Arc::new(RunControl::default()),
            shared_arrays: Default::default(),
            setup_data: RwLock::new(None),
            raw_out: None,
        });
        let metrics = Rc::new(RefCell::new(WorkerMetrics::new(run.registry.clone(), true)));
        let vu = Rc::new(VuCtx {
            id: 1,
            id_in_test: 1,
            program: program.clone(),
            registry: run.registry.clone(),
            control: Some(run.control.clone()),
            host: Some(host.clone()),
            metrics: Some(metrics.clone()),
            http: Some(Arc::new(VuHttpClient::new(run.http.clone()))),
            phase: std::cell::Cell::new(Phase::Iteration),
            state: RefCell::new(IterState::default()),
            interrupt: Arc::new(AtomicBool::new(false)),
            env: run.settings.env.clone(),
            run: Some(run),
            timers: Default::default(),
            io: Default::default(),
            io_dispatcher: Default::default(),
        });
        let runtime = Runtime::new().expect("QuickJS runtime");
        runtime.set_loader(VolleyResolver, ProgramLoader { program });
        let context = Context::full(&runtime).expect("QuickJS context");
        context
            .with(|ctx| -> rquickjs::Result<()> {
                super::modules::install(&ctx, &vu)?;
                super::globals::install(&ctx, &vu)?;
                super::loader::commonjs::install(&ctx, &vu, "/test/script.js")
            })
            .expect("the modules install");
        TestVu {
            context,
            _runtime: runtime,
            vu,
            host,
            metrics,
            snippets: RefCell::new(0),
        }
    }

    /// Runs `f` in the VU's context.
    pub fn with_ctx<R>(&self, f: impl for<'js> FnOnce(rquickjs::Ctx<'js>) -> R) -> R {
        self.context.with(f)
    }

    /// Sets the phase the next snippets run in (`Init` for the init context).
    pub fn set_phase(&self, phase: Phase) {
        self.vu.phase.set(phase);
    }

    /// Runs `src` as an ES module (it may import the k6 modules) to its end.
    pub fn run(&self, src: &str) -> Result<(), JsError> {
        let name = {
            let mut n = self.snippets.borrow_mut();
            *n += 1;
            format!("/test/snippet-{n}.js")
        };
        self.context.with(|ctx| {
            let caught = |e| JsError::from_caught(e, &ctx);
            let module = Module::declare(ctx.clone(), name, src)
                .catch(&ctx)
                .map_err(caught)?;
            let (_, promise) = module.eval().catch(&ctx).map_err(caught)?;
            event_loop::run(&ctx, &self.vu, Some(&promise), false)?;
            match promise.result::<()>() {
                Some(r) => r.catch(&ctx).map_err(caught),
                None => Ok(()),
            }
        })
    }

    /// `JSON.stringify(expr)` of a JS expression (of the globals the snippets left), parsed.
    pub fn json(&self, expr: &str) -> serde_json::Value {
        let s: String = self.context.with(|ctx| {
            ctx.eval(format!("JSON.stringify({expr})"))
                .catch(&ctx)
                .map_err(|e| JsError::from_caught(e, &ctx))
                .unwrap_or_else(|e| panic!("{expr}: {e}"))
        });
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("{expr} gave {s}: {e}"))
    }

    /// The samples emitted so far, in order (and forgets them).
    pub fn take_samples(&self) -> Vec<Sample> {
        let registry = &self.vu.registry;
        let (_, raw) = self.metrics.borrow_mut().take();
        raw.into_iter()
            .map(|s| Sample {
                metric: registry.get(s.metric).map(|d| d.name).unwrap_or_default(),
                tags: s
                    .tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                value: s.value,
            })
            .collect()
    }

    /// The sleeps the snippets asked for.
    pub fn slept(&self) -> Vec<Duration> {
        self.host.slept.borrow().clone()
    }
}
