//! VUs as stackful coroutines: the only place that touches `corosensei`.
//!
//! k6's JavaScript API is synchronous (`http.get` blocks the VU), yet we want thousands of VUs on a
//! couple of OS threads. Each VU therefore runs on its own coroutine stack; a blocking call
//! *suspends* the coroutine and the JS worker thread goes on with other VUs. [docs/engine.md](../../docs/engine.md#vus-are-coroutines)
//! states the measured rules that keep QuickJS safe on such stacks, and
//! this module is where they are enforced:
//!
//! 1. QuickJS's own stack limit is set well below the coroutine stack ([`JS_STACK_LIMIT`]), so deep
//!    recursion raises a catchable `RangeError` instead of hitting the guard page.
//! 2. QuickJS checks its stack against one C stack per runtime, and the VUs of a worker share
//!    one runtime: a VU sets its own coroutine stack (and restores its JS frame chain) every
//!    time it starts or resumes (`js::shared_runtime::VuExec::enter`, called by `vu.rs`).
//! 3. A suspended VU is never dropped: it is resumed with [`Resume::Abort`] (the blocking call
//!    fails) or [`Resume::Exit`] (when idle) and returns by itself. [`VuCoroutine`]'s `Drop` only
//!    force-unwinds as a last resort and logs it.
//! 4. A coroutine never migrates: [`VuCoroutine`] is `!Send`.

use std::any::Any;
use std::cell::Cell;
use std::time::Instant;

use corosensei::{Coroutine, CoroutineResult, Yielder};

mod stack;
pub use stack::guard_pages_split_mappings;
use stack::SlabStack;

/// Size of each VU's coroutine stack. Pages are committed lazily, so a large stack costs
/// address space, not memory (measured: 256 KiB and 1 MiB stacks gave the same RSS). Stacks
/// are cut out of shared slabs (`stack`), a few memory mappings for thousands of VUs.
pub const STACK_SIZE: usize = 4 * 1024 * 1024;

/// QuickJS's own stack limit: the coroutine stack minus a margin for native frames (rquickjs,
/// our k6 modules, the HTTP glue) that run below the JS frames.
pub const JS_STACK_LIMIT: usize = STACK_SIZE - 256 * 1024;

/// What the JS worker passes into a VU coroutine when it resumes it.
pub enum Resume {
    /// First resume: start running the VU's body.
    Start,
    /// The operation the VU waits for (token) completed with this payload.
    Wake(u64, Box<dyn Any + Send>),
    /// A command for an idle VU (run a job, call a function...).
    Command(Box<dyn Any + Send>),
    /// The VU must stop what it waits for: the blocking call returns an abort error.
    Abort,
    /// The idle VU must return (drop its JS context) so the coroutine completes.
    Exit,
}

/// What a VU coroutine hands back to its JS worker when it suspends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Suspend {
    /// Waiting for an asynchronous operation that will wake it with this token.
    Blocked(u64),
    /// Waiting for a timer: resume with `Wake(token, ())` at this instant.
    Sleep(u64, Instant),
    /// Done with its unit of work; waiting for the next command.
    Idle,
}

/// A handle a VU uses to suspend itself. Only valid on the coroutine's own stack, while the
/// coroutine runs; it is created by [`VuCoroutine::new`] and handed to the body.
pub struct Suspender {
    yielder: *const Yielder<Resume, Suspend>,
    next_token: Cell<u64>,
    /// An address near the top of the coroutine's stack (taken when the body starts).
    stack_top: usize,
}

/// Stack kept committed below the current frame when unused stack is released: room for the
/// frames of the `madvise` call itself and of the suspend that follows (a few hundred bytes:
/// `Instant::now` and the switch). A sleeping VU keeps the pages from the one holding that
/// point up to the top of its stack: with 8 KiB here that was 4 pages per VU at
/// `bench/scripts/memory.js`'s `sleep(1)`, with 2 KiB 3 pages, with 1 KiB and the VU's outer
/// frames made smaller (`vu::vu_main`) 2 (`docs/benchmarks.md`, "Memory per VU"). Going
/// below the frames still to come costs a page fault, never correctness: released pages read
/// as zero, and nothing below the stack pointer is live.
const KEEP_BELOW_SP: usize = 1024;
/// The lowest part of the stack is never released (it is never reached in normal runs, and
/// this keeps well clear of the guard page whatever the exact mapping is).
const KEEP_AT_BOTTOM: usize = 64 * 1024;

impl Suspender {
    /// A fresh token for the next blocking operation; stale wake-ups carry an old token and are
    /// ignored by the worker.
    pub fn next_token(&self) -> u64 {
        let t = self.next_token.get() + 1;
        self.next_token.set(t);
        t
    }

    /// An address near the top of this coroutine's stack.
    pub fn stack_top(&self) -> usize {
        self.stack_top
    }

    /// Suspends the coroutine. Must be called from inside the coroutine this suspender was made
    /// for (every native JS function of a VU runs there).
    pub fn suspend(&self, why: Suspend) -> Resume {
        // SAFETY: the yielder lives on the coroutine's stack for the whole body, and the
        // Suspender is only reachable from code that runs inside that body (the VU's JS
        // context is created and dropped inside it).
        unsafe { (*self.yielder).suspend(why) }
    }

    /// Gives the pages of this coroutine's stack that lie well below the current frame back
    /// to the OS. VU init (module evaluation) runs much deeper than an iteration does, and its
    /// pages would otherwise stay resident for the VU's whole life: about 30 KiB per VU.
    /// Released pages read as zero when touched again (a page fault, nothing else). Must be
    /// called from inside the coroutine.
    pub fn release_unused_stack(&self) {
        #[cfg(target_os = "linux")]
        {
            const PAGE: usize = 4096;
            let marker = 0u8;
            let sp = std::hint::black_box(&marker) as *const u8 as usize;
            let bottom = self.stack_top.saturating_sub(STACK_SIZE) + KEEP_AT_BOTTOM;
            let start = bottom.next_multiple_of(PAGE);
            let end = sp.saturating_sub(KEEP_BELOW_SP) & !(PAGE - 1);
            if end > start && sp <= self.stack_top && sp > bottom {
                // SAFETY: [start, end) lies inside this coroutine's own stack mapping, below
                // every live frame (the current one is at `sp`, above `end`), so nothing
                // there is in use; MADV_DONTNEED on private anonymous memory only drops it.
                unsafe {
                    libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
                }
            }
        }
    }
}

/// A stack of the worker's own that its VUs take turns on for native work that does not
/// suspend ([`WorkStack::run`]). A VU's own stack is its alone: with a thousand VUs on a
/// worker, the lines of each are last touched a thousand iterations ago, and every frame a
/// request's response and metrics push there misses the cache on its first write
/// (~40 misses an iteration at 1,000 VUs, docs/benchmarks.md#what-each-change-bought). This
/// one is written by every VU in turn, so it stays in the cache.
pub struct WorkStack {
    /// `None` while a VU runs on it (a nested [`WorkStack::run`] then runs where it is).
    stack: Cell<Option<SlabStack>>,
}

impl WorkStack {
    pub fn new() -> std::io::Result<Self> {
        Ok(WorkStack {
            stack: Cell::new(Some(SlabStack::new(STACK_SIZE)?)),
        })
    }

    /// Runs `f` on this stack, passing it the stack's top (`None`: the stack was in use and
    /// `f` runs on the caller's own). Meant for work that neither suspends the VU nor calls
    /// JS; both stay safe: JS is checked against this stack once `f` moves QuickJS's check
    /// here ([`crate::js::shared_runtime::VuExec::on_stack`]), and a VU that suspends in `f`
    /// keeps the stack until it returns, the others meanwhile running on their own.
    pub fn run<R>(&self, f: impl FnOnce(Option<usize>) -> R) -> R {
        match self.stack.take() {
            Some(mut stack) => {
                let top = corosensei::stack::Stack::base(&stack).get();
                // A panic in `f` comes back here and goes on unwinding; the stack is then
                // dropped (returned to its slab), and later calls run on the caller's stack.
                let r = corosensei::on_stack(&mut stack, move || f(Some(top)));
                self.stack.set(Some(stack));
                r
            }
            None => f(None),
        }
    }
}

/// A VU's coroutine. `!Send` (contains raw pointers), so it stays on its worker thread.
pub struct VuCoroutine {
    co: Option<Coroutine<Resume, Suspend, (), SlabStack>>,
}

/// What happened when the worker resumed a VU.
pub enum Step {
    Suspended(Suspend),
    Finished,
}

impl VuCoroutine {
    /// Creates a coroutine that will run `body` on a fresh [`STACK_SIZE`] stack when first resumed.
    pub fn new<F>(body: F) -> std::io::Result<Self>
    where
        F: FnOnce(&Suspender, Resume) + 'static,
    {
        let stack = SlabStack::new(STACK_SIZE)?;
        let co = Coroutine::with_stack(stack, move |yielder: &Yielder<Resume, Suspend>, first| {
            let top_marker = 0u8;
            let suspender = Suspender {
                yielder: yielder as *const _,
                next_token: Cell::new(0),
                stack_top: std::hint::black_box(&top_marker) as *const u8 as usize,
            };
            body(&suspender, first);
        });
        Ok(VuCoroutine { co: Some(co) })
    }

    /// Resumes the coroutine until it suspends or returns.
    pub fn resume(&mut self, input: Resume) -> Step {
        let Some(co) = self.co.as_mut() else {
            return Step::Finished;
        };
        if co.done() {
            return Step::Finished;
        }
        match co.resume(input) {
            CoroutineResult::Yield(s) => Step::Suspended(s),
            CoroutineResult::Return(()) => Step::Finished,
        }
    }

    /// Whether the body has returned.
    pub fn is_done(&self) -> bool {
        self.co.as_ref().is_none_or(|c| c.done())
    }
}

impl Drop for VuCoroutine {
    fn drop(&mut self) {
        if let Some(co) = self.co.as_mut() {
            if co.started() && !co.done() {
                // Rule 3 says this should not happen: the worker exits VUs properly. If it does
                // (a bug, or a panic elsewhere), unwinding is still better than leaking the stack.
                tracing::warn!("dropping a suspended VU coroutine; forcing an unwind");
                co.force_unwind();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rquickjs::{CatchResultExt, Context, Function, Runtime};
    use std::rc::Rc;

    /// The resident KiB of the mapping that contains `addr` (from /proc/self/smaps).
    fn resident_kib_of_mapping(addr: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((a, b)) = range.split_once('-') {
                    if let (Ok(a), Ok(b)) =
                        (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                    {
                        inside = a <= addr && addr < b;
                        continue;
                    }
                }
            }
            if inside {
                if let Some(v) = line.strip_prefix("Rss:") {
                    return v.trim().trim_end_matches(" kB").trim().parse().ok();
                }
            }
        }
        None
    }

    #[inline(never)]
    fn touch_deep(depth: usize) -> u64 {
        let buf = std::hint::black_box([depth as u8; 4096]);
        if depth == 0 {
            return buf[0] as u64;
        }
        touch_deep(depth - 1) + buf[100] as u64
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn unused_stack_is_given_back() {
        let out = Rc::new(std::cell::RefCell::new((0u64, 0u64)));
        let out2 = out.clone();
        let mut co = VuCoroutine::new(move |s, _| {
            // About 1 MiB deep, then back up: those pages stay resident until released.
            std::hint::black_box(touch_deep(256));
            let marker = 0u8;
            let here = std::hint::black_box(&marker) as *const u8 as usize;
            let before = resident_kib_of_mapping(here).unwrap_or(0);
            s.release_unused_stack();
            let after = resident_kib_of_mapping(here).unwrap_or(0);
            *out2.borrow_mut() = (before, after);
            // The released part is usable again.
            std::hint::black_box(touch_deep(64));
        })
        .unwrap();
        assert!(matches!(co.resume(Resume::Start), Step::Finished));
        let (before, after) = *out.borrow();
        assert!(
            before >= 900,
            "the deep call touched the stack: {before} KiB"
        );
        assert!(
            after <= before - 800,
            "released: {before} KiB resident before, {after} KiB after"
        );
    }

    fn js_in_coroutine(limit: Option<usize>, src: &'static str) -> Result<String, String> {
        let out = Rc::new(std::cell::RefCell::new(None));
        let out2 = out.clone();
        let mut co = VuCoroutine::new(move |_s, _| {
            let rt = Runtime::new().unwrap();
            if let Some(l) = limit {
                rt.set_max_stack_size(l);
            }
            let ctx = Context::full(&rt).unwrap();
            let r = ctx.with(|ctx| {
                ctx.eval::<String, _>(src)
                    .catch(&ctx)
                    .map_err(|e| e.to_string())
            });
            *out2.borrow_mut() = Some(r);
        })
        .unwrap();
        assert!(matches!(co.resume(Resume::Start), Step::Finished));
        let r = out.borrow_mut().take().unwrap();
        r
    }

    /// Rule 1 (case A): infinite recursion inside a coroutine gives a catchable RangeError.
    #[test]
    fn deep_recursion_is_a_catchable_range_error() {
        let r = js_in_coroutine(
            Some(JS_STACK_LIMIT),
            "function f(n){ return f(n+1)+1 } try { f(0); 'no error' } catch (e) { e.name + ': ' + e.message }",
        )
        .unwrap();
        assert!(r.starts_with("RangeError"), "{r}");
        // Recursion to a realistic depth still works.
        let r = js_in_coroutine(
            Some(JS_STACK_LIMIT),
            "function f(n){ return n == 0 ? 0 : f(n-1)+1 } String(f(150))",
        )
        .unwrap();
        assert_eq!(r, "150");
    }

    /// Rule 2 (case C): a runtime created inside the coroutine sees the right stack top, so
    /// ordinary calls do not fail with a false stack overflow.
    #[test]
    fn runtime_created_inside_coroutine_works() {
        let r = js_in_coroutine(Some(JS_STACK_LIMIT), "[1,2,3].map(x => x*2).join(',')").unwrap();
        assert_eq!(r, "2,4,6");
    }

    /// Case E: a native call suspends the coroutine deep inside JS frames, the worker resumes it
    /// later with a value, and the JS continues with that value.
    #[test]
    fn suspend_inside_native_call_and_resume_with_value() {
        let out = Rc::new(std::cell::RefCell::new(String::new()));
        let out2 = out.clone();
        let mut co = VuCoroutine::new(move |s, _| {
            let s: &'static Suspender = unsafe { &*(s as *const Suspender) };
            let rt = Runtime::new().unwrap();
            rt.set_max_stack_size(JS_STACK_LIMIT);
            let ctx = Context::full(&rt).unwrap();
            ctx.with(|ctx| {
                let block = Function::new(ctx.clone(), move || -> i32 {
                    let tok = s.next_token();
                    match s.suspend(Suspend::Blocked(tok)) {
                        Resume::Wake(t, v) if t == tok => *v.downcast::<i32>().unwrap(),
                        _ => -1,
                    }
                })
                .unwrap();
                ctx.globals().set("block", block).unwrap();
                let r: String = ctx
                    .eval(
                        "function d(n){ return n == 0 ? block() : d(n-1) } String(d(100) + d(50))",
                    )
                    .unwrap();
                *out2.borrow_mut() = r;
            });
        })
        .unwrap();
        let Step::Suspended(Suspend::Blocked(t1)) = co.resume(Resume::Start) else {
            panic!("expected a blocked VU")
        };
        let Step::Suspended(Suspend::Blocked(t2)) = co.resume(Resume::Wake(t1, Box::new(40)))
        else {
            panic!("expected a second block")
        };
        assert!(matches!(
            co.resume(Resume::Wake(t2, Box::new(2))),
            Step::Finished
        ));
        assert_eq!(*out.borrow(), "42");
    }

    /// Rule 3: a VU suspended in a blocking call is resumed with Abort; the call fails, the JS
    /// unwinds and the coroutine completes by itself (never dropped while suspended).
    #[test]
    fn aborted_vu_unwinds_and_completes() {
        let out = Rc::new(std::cell::RefCell::new(String::new()));
        let out2 = out.clone();
        let mut co = VuCoroutine::new(move |s, _| {
            let s: &'static Suspender = unsafe { &*(s as *const Suspender) };
            let rt = Runtime::new().unwrap();
            rt.set_max_stack_size(JS_STACK_LIMIT);
            let ctx = Context::full(&rt).unwrap();
            ctx.with(|ctx| {
                let block = Function::new(ctx.clone(), move |ctx: rquickjs::Ctx<'_>| {
                    let tok = s.next_token();
                    match s.suspend(Suspend::Blocked(tok)) {
                        Resume::Abort => Err(rquickjs::Exception::throw_internal(&ctx, "aborted")),
                        _ => Ok(1),
                    }
                })
                .unwrap();
                ctx.globals().set("block", block).unwrap();
                let r = ctx
                    .eval::<i32, _>("function d(n){ return n == 0 ? block() : d(n-1) } d(100)")
                    .catch(&ctx);
                *out2.borrow_mut() = format!("{:?}", r.err().map(|e| e.to_string()));
            });
        })
        .unwrap();
        assert!(matches!(
            co.resume(Resume::Start),
            Step::Suspended(Suspend::Blocked(_))
        ));
        assert!(matches!(co.resume(Resume::Abort), Step::Finished));
        assert!(co.is_done());
        assert!(out.borrow().contains("aborted"), "{}", out.borrow());
    }

    /// Work handed to the work stack runs there (not on the caller's stack), returns its
    /// value, and a nested call runs on the stack it is made on.
    #[test]
    fn work_stack_runs_work_on_its_own_stack() {
        let work = WorkStack::new().unwrap();
        let marker = 0u8;
        let caller = std::hint::black_box(&marker) as *const u8 as usize;
        let (top, inner, nested) = work.run(|top| {
            let m = 0u8;
            let here = std::hint::black_box(&m) as *const u8 as usize;
            let nested = work.run(|t| t.is_none());
            (top, here, nested)
        });
        let top = top.expect("the stack was free");
        assert!(
            inner < top && top - inner < 64 * 1024,
            "ran {} below its top",
            top.wrapping_sub(inner)
        );
        assert!(
            caller.abs_diff(inner) > 64 * 1024,
            "ran near the caller's frame"
        );
        assert!(nested, "a nested call runs where it is");
        // The stack is back for the next call, and deep work fits.
        let deep = work.run(|top| top.map(|_| touch_deep(64)));
        assert_eq!(deep, Some((1..=64).sum::<u64>()));
    }

    /// Many VUs suspended at once on one thread, resumed in another order.
    #[test]
    fn many_interleaved_coroutines() {
        let mut cos: Vec<VuCoroutine> = (0..200)
            .map(|i| {
                VuCoroutine::new(move |s, _| {
                    let mut acc = i;
                    for _ in 0..3 {
                        let tok = s.next_token();
                        if let Resume::Wake(_, v) = s.suspend(Suspend::Blocked(tok)) {
                            acc += *v.downcast::<usize>().unwrap();
                        }
                    }
                    assert_eq!(acc, i + 3);
                })
                .unwrap()
            })
            .collect();
        for c in cos.iter_mut() {
            c.resume(Resume::Start);
        }
        for _ in 0..3 {
            for c in cos.iter_mut().rev() {
                c.resume(Resume::Wake(0, Box::new(1usize)));
            }
        }
        assert!(cos.iter().all(|c| c.is_done()));
    }
}
