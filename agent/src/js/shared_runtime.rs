//! One QuickJS runtime per JS worker, shared by the worker's VUs (each VU has its own context).
//!
//! Why: a runtime with a full context costs ~165 KiB of RSS, one more context in a shared runtime
//! ~54 KiB; atoms, shapes and the runtime's tables are shared, and start-up creates one runtime
//! per worker instead of one per VU (`docs/benchmarks.md`).
//!
//! What makes it safe: every VU runs on its own coroutine stack and may be suspended inside a
//! native call (`http.get`, `sleep`) while other VUs of the worker run JS. QuickJS keeps the
//! state of the *running* code in the runtime: the chain of JS stack frames and the bounds of the
//! C stack. A VU therefore saves that state when it suspends and restores it when it resumes
//! ([`VuExec::leave`] / [`VuExec::enter`]), through the small functions Volley adds to QuickJS
//! (`vendor/rquickjs-sys/VOLLEY.md`). Promise jobs are queued per runtime, so a VU runs only the
//! jobs of its own context (see [`super::jobs`]). rquickjs's `Context::with`
//! borrows the runtime for as long as its closure runs, which a suspended VU would hold: VUs
//! enter their context with [`enter_context`] instead, which takes no borrow (the worker is a
//! single thread and runs one VU at a time).
//!
//! The VUs also share the bytecode of the modules they load: every VU reads the same buffers
//! (the k6 modules' and the [`Program`]'s), and QuickJS keeps one copy of each function read
//! from a buffer position per runtime instead of one per context (~16 KiB per VU for a small
//! script; `vendor/rquickjs-sys/VOLLEY.md`, `docs/benchmarks.md`). Such a function runs in the
//! realm of the context that calls it, which is always its own: VUs never hold each other's
//! JS values.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::rc::Rc;
use std::sync::Arc;

use rquickjs::{qjs, Context, Ctx, Runtime};

use super::error::JsError;
use super::loader::{ProgramLoader, VolleyResolver};
use crate::program::Program;

extern "C" {
    fn JS_VolleyGetStackFrame(rt: *mut qjs::JSRuntime) -> *mut c_void;
    fn JS_VolleySetStackFrame(rt: *mut qjs::JSRuntime, sf: *mut c_void);
    fn JS_VolleySetStack(rt: *mut qjs::JSRuntime, top: usize, size: usize);
    fn JS_VolleyMallocSize(rt: *mut qjs::JSRuntime) -> qjs::size_t;
    fn JS_VolleyShareBytecode(rt: *mut qjs::JSRuntime, on: std::ffi::c_int);
    #[cfg(test)]
    fn JS_VolleySharedBytecodeCount(rt: *mut qjs::JSRuntime) -> u32;
}

/// Decides whether the running VU must be interrupted (checked by QuickJS every few thousand
/// bytecodes).
pub type InterruptCheck = Rc<dyn Fn() -> bool>;

/// The QuickJS runtime of one JS worker.
pub struct SharedRuntime {
    rt: Runtime,
    raw: *mut qjs::JSRuntime,
    /// The interrupt check of the VU that runs now.
    current: Rc<RefCell<Option<InterruptCheck>>>,
    /// The context that made what the runtime keeps for its whole life (the interned property
    /// names of `keys`, rquickjs's cached prototype of native functions). Not a VU's: what the
    /// runtime keeps, keeps its context alive, and a VU's context holds the VU's natives, which
    /// hold this runtime (a cycle that would leak it).
    _names: Context,
}

impl SharedRuntime {
    /// A runtime whose modules load from `program` (one run per worker).
    pub fn new(program: Arc<Program>) -> Result<Self, JsError> {
        let rt = Runtime::new().map_err(|e| JsError::Load(e.to_string()))?;
        let current: Rc<RefCell<Option<InterruptCheck>>> = Rc::new(RefCell::new(None));
        let cur = current.clone();
        rt.set_interrupt_handler(Some(Box::new(move || {
            cur.borrow().as_ref().is_some_and(|check| check())
        })));
        rt.set_loader(VolleyResolver, ProgramLoader { program });
        let names = Context::base(&rt).map_err(|e| JsError::Load(e.to_string()))?;
        names
            .with(|ctx| -> rquickjs::Result<()> {
                super::keys::keys(&ctx)?;
                // rquickjs caches the prototype of native functions per runtime, made in the
                // context that makes the first one: make it here too.
                rquickjs::Function::new(ctx.clone(), || ())?;
                Ok(())
            })
            .map_err(|e| JsError::Load(e.to_string()))?;
        // rquickjs does not expose the raw runtime; a context of it does.
        let raw = names.get_runtime_ptr();
        // SAFETY: the runtime is live. What QuickJS asks in return: every buffer it reads
        // bytecode from lives, unchanged, as long as the runtime. The only reader is the
        // loader above: the k6 modules' bytecode is static, and the program's is immutable
        // and held by the loader, which the runtime keeps until it is freed.
        unsafe { JS_VolleyShareBytecode(raw, 1) };
        Ok(SharedRuntime {
            rt,
            raw,
            current,
            _names: names,
        })
    }

    /// Caps the runtime's heap: an allocation past it throws `InternalError: out of memory`
    /// in the VU that makes it.
    pub fn set_heap_limit(&self, bytes: usize) {
        self.rt.set_memory_limit(bytes);
    }

    /// Frees the contexts of VUs that have exited. Call when the worker's VUs are all done:
    /// a context (with the VU's natives, which hold this runtime) is freed only by QuickJS's
    /// cycle collector, so without this the runtime would never be dropped.
    pub fn collect_exited_vus(&self) {
        // SAFETY: no VU runs JS any more; no frame chain is live, and the stack QuickJS knows
        // is the last VU's (gone): this thread's own stack is the one in use now.
        unsafe {
            JS_VolleySetStackFrame(self.raw, std::ptr::null_mut());
            qjs::JS_UpdateStackTop(self.raw);
        }
        self.rt.run_gc();
    }

    /// A new context with every standard intrinsic, for one VU.
    pub fn new_context(&self) -> Result<Context, JsError> {
        Context::full(&self.rt).map_err(|e| JsError::Load(e.to_string()))
    }

    /// Runs a VU's start-up (its context and init code) with the cycle collector held off.
    ///
    /// QuickJS collects cycles when the heap reaches 1.5 × its size after the last collection,
    /// and a collection scans the whole runtime: while thousands of VUs start one after
    /// another, the heap only grows, and collecting on the way scanned it about three times
    /// over (a quarter of the start-up time of 10,000 VUs). Start-up makes almost no cyclic
    /// garbage, so the threshold is set from the heap *after* each VU's start-up instead.
    pub fn starting_vu<R>(&self, f: impl FnOnce() -> R) -> R {
        /// Sets the threshold back even if `f` unwinds.
        struct Restore {
            raw: *mut qjs::JSRuntime,
            before: qjs::size_t,
        }
        impl Drop for Restore {
            fn drop(&mut self) {
                // SAFETY: plain reads and writes of the live runtime's GC settings.
                let size = unsafe { JS_VolleyMallocSize(self.raw) };
                unsafe { qjs::JS_SetGCThreshold(self.raw, self.before.max(size + size / 2)) };
            }
        }
        // SAFETY: as above.
        let before = unsafe { qjs::JS_GetGCThreshold(self.raw) };
        let _restore = Restore {
            raw: self.raw,
            before,
        };
        unsafe { qjs::JS_SetGCThreshold(self.raw, qjs::size_t::MAX) };
        f()
    }
}

/// The execution state of one VU in its worker's shared runtime.
pub struct VuExec {
    runtime: Rc<SharedRuntime>,
    /// An address near the top of the VU's coroutine stack, and how much of it JS may use.
    stack_top: usize,
    stack_size: usize,
    /// The top of the stack the VU's code runs on now: its own ([`VuExec::stack_top`]), or
    /// the worker's while it runs there ([`VuExec::on_stack`]).
    running_top: Cell<usize>,
    /// The VU's JS frame chain while it is suspended.
    frame: Cell<*mut c_void>,
    interrupt: InterruptCheck,
}

impl VuExec {
    /// The state of a VU that has not run any JS yet. Call [`VuExec::enter`] before it does.
    pub fn new(
        runtime: Rc<SharedRuntime>,
        stack_top: usize,
        stack_size: usize,
        interrupt: InterruptCheck,
    ) -> Self {
        VuExec {
            runtime,
            stack_top,
            stack_size,
            running_top: Cell::new(stack_top),
            frame: Cell::new(std::ptr::null_mut()),
            interrupt,
        }
    }

    /// Makes this VU the runtime's running code: its stack, its frame chain, its interrupt
    /// check. Called on the VU's own stack when it starts and after every resume.
    pub fn enter(&self) {
        let raw = self.runtime.raw;
        // SAFETY: `raw` is the live runtime (held by `self.runtime`); the frame chain was saved
        // by `leave` on this same coroutine stack, whose frames are intact while it was
        // suspended; the stack bounds are this coroutine's own.
        unsafe {
            JS_VolleySetStack(raw, self.running_top.get(), self.stack_size);
            JS_VolleySetStackFrame(raw, self.frame.get());
        }
        *self.runtime.current.borrow_mut() = Some(self.interrupt.clone());
    }

    /// Runs `f` with QuickJS's stack-overflow check moved to the stack whose top is `top`
    /// (the worker's [`crate::coro::WorkStack`], on which `f` is running), and back to the
    /// VU's own after: native code that runs there and happens to call into JS is then checked
    /// against the stack it is really on.
    pub fn on_stack<R>(&self, top: usize, f: impl FnOnce() -> R) -> R {
        let raw = self.runtime.raw;
        self.running_top.set(top);
        // SAFETY: `raw` is the live runtime; `top` is the top of the stack `f` runs on, which
        // has `stack_size` bytes below it (every coroutine-sized stack does).
        unsafe { JS_VolleySetStack(raw, top, self.stack_size) };
        let restore = RestoreStack(self);
        let r = f();
        drop(restore);
        r
    }

    /// Saves this VU's frame chain before it suspends.
    pub fn leave(&self) {
        // SAFETY: reads a field of the live runtime.
        self.frame
            .set(unsafe { JS_VolleyGetStackFrame(self.runtime.raw) });
    }
}

/// Puts QuickJS's stack check back on the VU's own stack, also when unwinding.
struct RestoreStack<'a>(&'a VuExec);

impl Drop for RestoreStack<'_> {
    fn drop(&mut self) {
        self.0.running_top.set(self.0.stack_top);
        // SAFETY: as in `VuExec::enter`: the VU's own stack bounds on the live runtime.
        unsafe { JS_VolleySetStack(self.0.runtime.raw, self.0.stack_top, self.0.stack_size) };
    }
}

/// Runs `f` with a [`Ctx`] of `context` without borrowing the runtime (see the module docs).
/// The caller must have entered the VU ([`VuExec::enter`]) and the worker must run nothing
/// else on this runtime while `f` runs except other VUs that entered themselves the same way.
pub fn enter_context<R>(context: &Context, f: impl for<'js> FnOnce(Ctx<'js>) -> R) -> R {
    // SAFETY: the context is alive (held by `context`); `Ctx::from_raw` takes a reference of
    // its own; the higher-ranked closure keeps every value it makes inside this call.
    let ctx = unsafe { Ctx::from_raw(context.as_raw()) };
    f(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime with two contexts, as two VUs of a worker have.
    fn two_contexts() -> (Runtime, Context, Context) {
        let rt = Runtime::new().unwrap();
        let a = Context::full(&rt).unwrap();
        let b = Context::full(&rt).unwrap();
        (rt, a, b)
    }

    /// Date, RegExp, Map/Set, the typed arrays and WeakRef are made on a context's first use of them
    /// (vendor/rquickjs-sys/VOLLEY.md): from a global, or when the engine needs their
    /// prototype first. Either way they must be what eager ones would have been.
    #[test]
    fn lazy_intrinsics_are_made_on_first_use_and_behave_as_eager_ones() {
        let (_rt, a, b) = two_contexts();
        let raw = a.get_runtime_ptr();
        enter_context(&a, |ctx| {
            // The engine needs ArrayBuffer.prototype before the script ever named it.
            // SAFETY: reads of the live runtime's allocation counter.
            let before = unsafe { JS_VolleyMallocSize(raw) };
            let buf = rquickjs::ArrayBuffer::new(ctx.clone(), vec![1u8, 2, 3]).unwrap();
            let grown = unsafe { JS_VolleyMallocSize(raw) } - before;
            assert!(
                grown > 4096,
                "the typed arrays existed before first use (+{grown} B)"
            );
            ctx.globals().set("buf", buf).unwrap();
            let checks: Vec<bool> = ctx
                .eval(
                    r#"[
                    Object.getPrototypeOf(buf) === ArrayBuffer.prototype,
                    new Uint8Array(buf)[2] === 3 && ArrayBuffer.isView(new DataView(buf)),
                    Object.getPrototypeOf(Int8Array) === Object.getPrototypeOf(Float64Array),
                    typeof Uint8Array.fromBase64 === 'function' && new Uint8Array([255]).toHex() === 'ff',
                    typeof Atomics.add === 'function',
                    new Date(0).toISOString() === '1970-01-01T00:00:00.000Z',
                    new (class extends Map {})([[1, 2]]).get(1) === 2,
                    [...new Set([1, 1, 2]).values()].length === 2,
                    typeof new WeakRef({}).deref === 'function',
                    typeof FinalizationRegistry === 'function' && typeof WeakSet === 'function',
                    'x1y2'.replace(/\d/g, '#') === 'x#y#' && new RegExp('a+', 'g').flags === 'g',
                    ['Map', 'Date', 'Uint8Array', 'WeakRef'].every((n) => {
                        const d = Object.getOwnPropertyDescriptor(globalThis, n);
                        return d.writable && d.configurable && !d.enumerable && typeof d.value === 'function';
                    }),
                    Object.getOwnPropertyNames(globalThis).includes('SharedArrayBuffer'),
                    (delete globalThis.Set) && typeof globalThis.Set === 'undefined',
                ]"#,
                )
                .unwrap();
            let failed: Vec<usize> = (0..checks.len()).filter(|&i| !checks[i]).collect();
            assert!(failed.is_empty(), "failed checks: {failed:?}");
        });
        // Another context makes its own, also when the first one has made them.
        enter_context(&b, |ctx| {
            let own: bool = ctx
                .eval(
                    "'abc'.match('b')[0] === 'b' && Object.getPrototypeOf(/x/) === RegExp.prototype \
                     && typeof Set === 'function' && new Map([[1, 1]]).size === 1",
                )
                .unwrap();
            assert!(own);
        });
    }

    fn shared() -> Rc<SharedRuntime> {
        let program = Arc::new(
            crate::program::ProgramBuilder::new(std::path::Path::new("t.js"))
                .unwrap()
                .finish(Default::default()),
        );
        Rc::new(SharedRuntime::new(program).unwrap())
    }

    #[test]
    fn vus_share_the_bytecode_of_the_modules_they_load() {
        // A script module with enough code to see, compiled as the first init does.
        let src = format!(
            "export const marker = globalThis.marker;\n\
             export function f() {{ return [marker, globalThis.marker, []]; }}\n\
             export function big(x) {{\n{}  return x;\n}}\n",
            "  x = (x * 3 + 1) % 1000;\n".repeat(300)
        );
        let compiler = Runtime::new().unwrap();
        let bc = Context::full(&compiler).unwrap().with(|ctx| {
            rquickjs::Module::declare(ctx, "/t/script.js", src.as_str())
                .unwrap()
                .write(Default::default())
                .unwrap()
        });
        let mut builder =
            crate::program::ProgramBuilder::new(std::path::Path::new("/t/script.js")).unwrap();
        builder.record("/t/script.js", bc, src.clone());
        let program = Arc::new(builder.finish(Default::default()));
        let rt = SharedRuntime::new(program.clone()).unwrap();
        // SAFETY: reads of the live runtime's counters.
        let size = || unsafe { JS_VolleyMallocSize(rt.raw) };
        let count = || unsafe { JS_VolleySharedBytecodeCount(rt.raw) };
        let mut grew = Vec::new();
        let mut contexts = Vec::new();
        for marker in ["a", "b", "c"] {
            let context = rt.new_context().unwrap();
            let before = size();
            enter_context(&context, |ctx| {
                ctx.globals().set("marker", marker).unwrap();
                let ns = crate::js::loader::eval_entry(&ctx, "/t/script.js", None, Some(&program))
                    .unwrap();
                ctx.globals().set("ns", ns).unwrap();
                // Globals, the module's bindings and new objects are the calling VU's own.
                let own: bool = ctx
                    .eval(format!(
                        "const r = ns.f(); r[0] === '{marker}' && r[1] === '{marker}' \
                         && Object.getPrototypeOf(r[2]) === Array.prototype"
                    ))
                    .unwrap();
                assert!(own, "shared bytecode in context {marker}");
            });
            grew.push(size() - before);
            contexts.push(context);
        }
        // The module's function, f and big.
        assert_eq!(count(), 3);
        assert!(
            grew[1] + 2000 < grew[0] && grew[2] + 2000 < grew[0],
            "later contexts did not share the bytecode: {grew:?}"
        );
    }

    #[test]
    fn exited_vus_release_the_runtime() {
        // A VU's natives hold its VuExec, which holds the runtime; the first VU also makes the
        // runtime's interned names and native-function prototype. Once the VUs are gone and
        // their contexts collected, only the worker's own reference is left.
        let rt = shared();
        for _ in 0..3 {
            let held = rt.clone();
            let context = rt.new_context().unwrap();
            enter_context(&context, |ctx| {
                crate::js::keys::keys(&ctx).unwrap();
                let f =
                    rquickjs::Function::new(ctx.clone(), move || Rc::strong_count(&held)).unwrap();
                ctx.globals().set("native", f).unwrap();
            });
        }
        assert_eq!(Rc::strong_count(&rt), 4);
        rt.collect_exited_vus();
        assert_eq!(Rc::strong_count(&rt), 1);
    }

    #[test]
    fn vu_start_up_holds_the_collector_off_then_sets_it_from_the_heap() {
        let shared = shared();
        // SAFETY: reads the live runtime's settings.
        let inside = shared.starting_vu(|| unsafe { qjs::JS_GetGCThreshold(shared.raw) });
        assert_eq!(inside, qjs::size_t::MAX);
        let after = unsafe { qjs::JS_GetGCThreshold(shared.raw) };
        let size = unsafe { JS_VolleyMallocSize(shared.raw) };
        assert!(
            after < qjs::size_t::MAX && after >= size + size / 2,
            "{after} vs {size}"
        );
    }
}
