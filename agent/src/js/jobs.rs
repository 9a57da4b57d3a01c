//! Promise jobs per context: QuickJS queues the jobs of all the contexts of a runtime together,
//! and a VU must run only its own (another VU's belong to that VU's coroutine).

use rquickjs::{Ctx, FromJs, Promise};

extern "C" {
    fn JS_VolleyExecutePendingJobOf(ctx: *mut rquickjs::qjs::JSContext) -> std::ffi::c_int;
}

/// Runs this context's pending promise jobs (async functions, `.then`) until none is left.
/// Jobs of other contexts stay queued for their own VUs.
pub fn run_own_jobs(ctx: &Ctx<'_>) {
    // Bounded so a script that keeps queueing jobs cannot hang the VU forever.
    for _ in 0..1_000_000 {
        if !run_one_job(ctx) {
            break;
        }
    }
}

/// Runs one pending job of this context; false when there was none.
fn run_one_job(ctx: &Ctx<'_>) -> bool {
    // SAFETY: ctx is a live context of the running VU.
    match unsafe { JS_VolleyExecutePendingJobOf(ctx.as_raw().as_ptr()) } {
        0 => false,
        r => {
            if r < 0 {
                // The job threw: the exception is pending on ctx. An unhandled rejection is
                // not the caller's exception; clear it so later calls do not mistake it.
                let _ = ctx.catch();
            }
            true
        }
    }
}

/// Runs this context's jobs until `promise` settles, and returns its value (or its rejection
/// as an exception). `WouldBlock` if it cannot settle with the jobs there are.
pub fn finish_promise<'js, T: FromJs<'js>>(
    ctx: &Ctx<'js>,
    promise: &Promise<'js>,
) -> rquickjs::Result<T> {
    loop {
        if let Some(r) = promise.result() {
            return r;
        }
        if !run_one_job(ctx) {
            return Err(rquickjs::Error::WouldBlock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::shared_runtime::enter_context;
    use rquickjs::{Context, Runtime};

    /// A runtime with two contexts, as two VUs of a worker have.
    fn two_contexts() -> (Runtime, Context, Context) {
        let rt = Runtime::new().unwrap();
        let a = Context::full(&rt).unwrap();
        let b = Context::full(&rt).unwrap();
        (rt, a, b)
    }

    #[test]
    fn a_context_runs_only_its_own_promise_jobs() {
        let (_rt, a, b) = two_contexts();
        enter_context(&a, |ctx| {
            ctx.eval::<(), _>("globalThis.ran = 0; Promise.resolve().then(() => { ran++; });")
                .unwrap();
        });
        enter_context(&b, |ctx| {
            ctx.eval::<(), _>("globalThis.ran = 0; Promise.resolve().then(() => { ran++; });")
                .unwrap();
            run_own_jobs(&ctx);
            assert_eq!(ctx.globals().get::<_, i32>("ran").unwrap(), 1);
        });
        // A's job is still queued, for A.
        enter_context(&a, |ctx| {
            assert_eq!(ctx.globals().get::<_, i32>("ran").unwrap(), 0);
            run_own_jobs(&ctx);
            assert_eq!(ctx.globals().get::<_, i32>("ran").unwrap(), 1);
        });
    }

    #[test]
    fn finish_promise_settles_with_own_jobs_and_reports_rejections() {
        let (_rt, a, b) = two_contexts();
        // A job of another context does not help (nor disturb) this one.
        enter_context(&b, |ctx| {
            ctx.eval::<(), _>("Promise.resolve().then(() => {});")
                .unwrap();
        });
        enter_context(&a, |ctx| {
            let p: Promise = ctx
                .eval("(async () => { await null; return 41 + 1; })()")
                .unwrap();
            assert_eq!(finish_promise::<i32>(&ctx, &p).unwrap(), 42);
            let p: Promise = ctx
                .eval("(async () => { await null; throw new Error('no'); })()")
                .unwrap();
            assert!(finish_promise::<i32>(&ctx, &p).is_err());
            let p: Promise = ctx.eval("new Promise(() => {})").unwrap();
            assert!(matches!(
                finish_promise::<i32>(&ctx, &p),
                Err(rquickjs::Error::WouldBlock)
            ));
        });
    }
}
