//! The native state of one VU, shared by the native functions of the k6 modules it installs
//! (k6 splits the same between `modules.VU` and `lib.State`): its ids and phase, its tags and
//! iteration counters, the run it belongs to, its HTTP client, its worker's aggregates, and —
//! through [`VuHost`] — the thread it runs on.
//!
//! The VU driver (`crate::vu`) makes one per VU and implements [`VuHost`] over its worker and
//! coroutine; the first init has no host, and the module tests (`js::modulestest`) their own.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rquickjs::Ctx;
use volley_common::exit::AbortReason;
use volley_common::metrics::TagSet;

use super::io_events::{IoEvent, IoSources};
use super::timer_queue::TimerQueue;
use crate::http::VuHttpClient;
use crate::metrics::{MetricId, Registry, WorkerMetrics};
use crate::program::Program;
use crate::run::{RunControl, RunShared};
use crate::scenario::Job;

/// Work a VU waits for on the IO runtime, with its result type erased.
pub type IoFuture = Pin<Box<dyn Future<Output = Box<dyn Any + Send>> + Send>>;

/// How a VU reaches the thread it runs on: waiting for IO and sleeping without blocking the
/// other VUs of its worker.
pub trait VuHost {
    /// Suspends the VU until `fut` completes on the IO runtime.
    fn block_on(&self, fut: IoFuture) -> Result<Box<dyn Any + Send>, Aborted>;
    /// Suspends the VU for `d`.
    fn sleep(&self, d: Duration) -> Result<(), Aborted>;
    /// Calls `f` once, on the worker's shared stack where it has one
    /// ([`crate::coro::WorkStack`]).
    fn on_work_stack(&self, f: &mut dyn FnMut()) {
        f()
    }
}

/// The module that owns a VU's IO sources ([`IoSources`]): turns their events into JS calls.
pub trait Dispatcher {
    /// Delivers `event` of `source` (an error is the exception of the handler it called).
    fn dispatch<'js>(
        &self,
        ctx: &Ctx<'js>,
        vu: &VuCtx,
        source: u64,
        event: IoEvent,
    ) -> rquickjs::Result<()>;
    /// Closes every source still open, without calling JS (the iteration failed or the VU is
    /// being stopped).
    fn drop_all(&self, vu: &VuCtx);
}

/// The phase a VU's JS is in; some APIs are only allowed in some phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Init,
    Setup,
    Iteration,
    Teardown,
    HandleSummary,
}

/// Raised when a blocking call is aborted (the VU is being stopped).
#[derive(Debug)]
pub struct Aborted;

/// Tag sets a VU remembers (see `IterState::tag_memo`).
const TAG_MEMO_SIZE: usize = 16;

/// A remembered tag set: the base-tags generation it was built from, the extra pairs, the set.
pub type TagMemo = (u64, MemoKey, TagSet);

/// The extra pairs of a remembered tag set in one block: each key and value as its length
/// (`u32`, native byte order) and its bytes. Every request compares its pairs with these; kept
/// as a `Vec<(String, String)>` they were a dozen allocations, and with 1,000 VUs each was a
/// cache miss on every request (`bench/instructions.sh --cache`,
/// [docs/benchmarks.md](../../../docs/benchmarks.md#what-each-change-bought)).
pub struct MemoKey(Box<[u8]>);

impl MemoKey {
    /// The key of `extra`; `None` when a text is too long to remember (over 4 GiB).
    pub fn new(extra: &[(&str, &str)]) -> Option<MemoKey> {
        let len = extra.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
        let mut b = Vec::with_capacity(len);
        for s in extra.iter().flat_map(|(k, v)| [k, v]) {
            b.extend_from_slice(&u32::try_from(s.len()).ok()?.to_ne_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        Some(MemoKey(b.into_boxed_slice()))
    }

    /// Whether this is the key of `extra` (the same pairs in the same order).
    pub fn matches(&self, extra: &[(&str, &str)]) -> bool {
        let mut rest: &[u8] = &self.0;
        for s in extra.iter().flat_map(|(k, v)| [k, v]) {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return false;
            };
            let n = u32::from_ne_bytes(*len) as usize;
            if n != s.len() || tail.get(..n) != Some(s.as_bytes()) {
                return false;
            }
            rest = &tail[n..];
        }
        rest.is_empty()
    }
}

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
    /// Bytes the iteration's requests sent and received (`data_sent`, `data_received`).
    pub bytes_sent: u64,
    pub bytes_received: u64,
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
    pub program: Arc<Program>,
    pub registry: Arc<Registry>,
    /// Absent during the first init.
    pub run: Option<Arc<RunShared>>,
    /// The run's control (also during the first init, so test.abort()/fail() count there).
    pub control: Option<Arc<RunControl>>,
    /// How the VU reaches its thread (absent during the first init, which cannot block).
    pub host: Option<Rc<dyn VuHost>>,
    /// The aggregates of the VU's worker, which its samples go to (absent during the first
    /// init: k6 records no samples there). Held directly rather than through [`VuHost`]:
    /// an iteration records a dozen samples.
    pub metrics: Option<Rc<RefCell<WorkerMetrics>>>,
    pub http: Option<Arc<VuHttpClient>>,
    pub phase: Cell<Phase>,
    pub state: RefCell<IterState>,
    pub interrupt: Arc<AtomicBool>,
    /// The run's environment variables (`__ENV`, before a scenario's own `env`), shared by the
    /// run's VUs.
    pub env: Arc<BTreeMap<String, String>>,
    /// The VU's pending timers (`setTimeout`, `setInterval`).
    pub timers: TimerQueue,
    /// The VU's open sockets and the events they posted.
    pub io: IoSources,
    /// The module that dispatches the events of [`VuCtx::io`] (set when it installs).
    pub io_dispatcher: RefCell<Option<Rc<dyn Dispatcher>>>,
}

impl VuCtx {
    /// Blocks the VU until `fut` completes on the IO runtime. Other VUs of the worker run
    /// meanwhile. Fails with [`Aborted`] when the VU is interrupted, and in the first init.
    pub fn block_on<T, F>(&self, fut: F) -> Result<T, Aborted>
    where
        T: Send + 'static,
        F: std::future::Future<Output = T> + Send + 'static,
    {
        let Some(host) = self.host.as_ref() else {
            return Err(Aborted);
        };
        if self.interrupt.load(Ordering::Relaxed) {
            return Err(Aborted);
        }
        // Boxed first: an HTTP request's future is several KiB, and tokio moves the task's
        // future a few times while spawning it (profiled: memcpy was ~5 % of the generator).
        // The type-erasing wrapper then holds only the box, so it is cheap to move too.
        let fut = Box::pin(fut);
        let fut: IoFuture = Box::pin(async move { Box::new(fut.await) as Box<dyn Any + Send> });
        match host.block_on(fut)?.downcast::<T>() {
            Ok(v) => Ok(*v),
            Err(_) => Err(Aborted),
        }
    }

    /// Like [`VuCtx::block_on`], but the future is made by `make` on the IO runtime when its
    /// task first runs, so the VU's thread moves only what `make` captures. An HTTP request's
    /// future is kilobytes: made here, it was copied twice on every request (into the call and
    /// into its box), which with hundreds of VUs put those bytes through the JS worker's caches
    /// for every request (docs/benchmarks.md#what-each-change-bought).
    pub fn block_on_with<T, F, M>(&self, make: M) -> Result<T, Aborted>
    where
        T: Send + 'static,
        F: std::future::Future<Output = T> + Send + 'static,
        M: FnOnce() -> F + Send + 'static,
    {
        let Some(host) = self.host.as_ref() else {
            return Err(Aborted);
        };
        if self.interrupt.load(Ordering::Relaxed) {
            return Err(Aborted);
        }
        let fut: IoFuture = Box::pin(made_on_io(make));
        match host.block_on(fut)?.downcast::<T>() {
            Ok(v) => Ok(*v),
            Err(_) => Err(Aborted),
        }
    }

    /// Runs `f` on the worker's shared stack ([`crate::coro::WorkStack`]), or here when the VU
    /// has no worker: for the native work of a request's end (its metrics, its response
    /// object), which with many VUs missed the cache on the VU's own stack. Meant for work
    /// that neither suspends nor calls JS (safe if it does: [`crate::coro::WorkStack::run`]).
    /// `None` only if `f` did not return.
    pub fn on_work_stack<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let mut f = Some(f);
        let mut out = None;
        if let Some(host) = &self.host {
            host.on_work_stack(&mut || {
                if let Some(g) = f.take() {
                    out = Some(g());
                }
            });
        }
        if let Some(g) = f.take() {
            out = Some(g());
        }
        out
    }

    /// Suspends the VU for `d` (k6's `sleep`). Fails with [`Aborted`] when interrupted. The
    /// first init has no worker to yield to: it sleeps (at most a second) on its thread.
    pub fn sleep(&self, d: Duration) -> Result<(), Aborted> {
        let Some(host) = self.host.as_ref() else {
            std::thread::sleep(d.min(Duration::from_secs(1)));
            return Ok(());
        };
        if self.interrupt.load(Ordering::Relaxed) {
            return Err(Aborted);
        }
        host.sleep(d)
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
                let hit = st
                    .tag_memo
                    .iter()
                    .find(|(g, k, _)| *g == gen && k.matches(extra));
                if let Some((_, _, t)) = hit {
                    return t.clone();
                }
            }
        }
        let mut set = self.build_tags(extra);
        if let Some(m) = &self.metrics {
            set = m.borrow_mut().intern(set);
        }
        let mut st = self.state.borrow_mut();
        let gen = st.base_tags_gen;
        st.tag_memo.retain(|(g, _, _)| *g == gen);
        if st.tag_memo.len() >= TAG_MEMO_SIZE {
            st.tag_memo.remove(0);
        }
        if let Some(key) = MemoKey::new(extra) {
            st.tag_memo.push((gen, key, set.clone()));
        }
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
        if let Some(m) = &self.metrics {
            m.borrow_mut().add(metric, tags, value, time);
        }
    }

    /// Records samples of one moment with one tag set ([`crate::metrics::WorkerMetrics::add_all`]).
    pub fn emit_all(&self, tags: &TagSet, time: SystemTime, samples: &[(MetricId, f64)]) {
        if let Some(m) = &self.metrics {
            m.borrow_mut().add_all(tags, time, samples);
        }
    }

    /// Sets the module that dispatches this VU's IO events (once, when it installs).
    pub fn set_dispatcher(&self, d: Rc<dyn Dispatcher>) {
        *self.io_dispatcher.borrow_mut() = Some(d);
    }

    /// Delivers one event of `source` to the dispatcher (a source without one just ends).
    pub fn dispatch_io<'js>(
        &self,
        ctx: &Ctx<'js>,
        source: u64,
        event: IoEvent,
    ) -> rquickjs::Result<()> {
        let d = self.io_dispatcher.borrow().clone();
        match d {
            Some(d) => d.dispatch(ctx, self, source, event),
            None => {
                self.io.end(source);
                Ok(())
            }
        }
    }

    /// Closes every open source (through the dispatcher) and forgets their events.
    pub fn drop_io(&self) {
        if !self.io.any_open() {
            return;
        }
        let d = self.io_dispatcher.borrow().clone();
        if let Some(d) = d {
            d.drop_all(self);
        }
        self.io.forget_all();
    }

    /// Marks the run aborted by the script and interrupts this VU.
    pub fn abort_test(&self, reason: AbortReason) {
        if let Some(control) = &self.control {
            control.abort(reason);
        }
        if let Ok(mut st) = self.state.try_borrow_mut() {
            st.aborted_test = true;
        }
        self.interrupt.store(true, Ordering::SeqCst);
    }
}

/// The future [`VuCtx::block_on_with`] hands to the IO runtime: until its task first polls
/// it, it holds `make` and an empty slot for the box of the future `make` makes there.
pub(crate) async fn made_on_io<T, F, M>(make: M) -> Box<dyn Any + Send>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
    M: FnOnce() -> F + Send + 'static,
{
    let fut = Box::pin(make());
    Box::new(fut.await)
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

#[cfg(test)]
mod tests {
    use super::MemoKey;

    #[test]
    fn a_memo_key_matches_only_the_same_pairs_in_the_same_order() {
        let pairs = [("method", "GET"), ("url", "http://a/"), ("status", "200")];
        let key = MemoKey::new(&pairs).expect("short texts are remembered");
        assert!(key.matches(&pairs));
        // Another value, another order, a pair more or less, texts split differently.
        assert!(!key.matches(&[("method", "GET"), ("url", "http://a/"), ("status", "404")]));
        assert!(!key.matches(&[("url", "http://a/"), ("method", "GET"), ("status", "200")]));
        assert!(!key.matches(&pairs[..2]));
        assert!(!key.matches(&[pairs[0], pairs[1], pairs[2], ("proto", "HTTP/1.1")]));
        assert!(!key.matches(&[("methodGET", ""), ("url", "http://a/"), ("status", "200")]));
        assert!(!key.matches(&[("method", "GE"), ("Turl", "http://a/"), ("status", "200")]));
        let empty = MemoKey::new(&[]).expect("no pairs is a key too");
        assert!(empty.matches(&[]));
        assert!(!empty.matches(&[("", "")]));
        assert!(!MemoKey::new(&[("", "")]).unwrap().matches(&[]));
    }
}
