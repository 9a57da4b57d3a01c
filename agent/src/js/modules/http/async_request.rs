//! `http.asyncRequest`: the request runs on the IO runtime while the VU's JS goes on, and its
//! promise settles on the VU's event loop (`js::io_events`), as in k6: several of them run at
//! once, timers fire while they are in flight, and an iteration waits for the pending ones
//! ([docs/engine.md](../../../../../docs/engine.md#the-vus-event-loop-promises-and-timers)).
//!
//! The VU's dispatcher for them is installed on its first `asyncRequest` (most VUs never make
//! one); it keeps the dispatcher installed before it and passes on the events that are not its.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use rquickjs::{Array, Ctx, Exception, Function, Object};

use super::request::Prepared;
use super::response::ResponseShapes;
use super::state::{HeaderNames, HttpVu};
use super::{finish, R};
use crate::http::{execute, HttpExchange};
use crate::js::io_events::IoEvent;
use crate::js::vu_ctx::{throw_interrupted, Dispatcher, VuCtx};

/// The `__volley` property holding each pending request's `[resolve, reject, shapes]`: kept in
/// JS so that the garbage collector sees them.
const HANDLERS: &str = "httpAsyncHandlers";

/// What a request's task reports: one exchange per hop.
struct Done(Vec<HttpExchange>);

/// The pending `asyncRequest`s of one VU.
pub(super) struct AsyncRequests {
    /// The VU's header names of `k6/http` (not its `HttpVu`: the VU holds this dispatcher, and
    /// `HttpVu` holds the VU).
    header_names: Rc<RefCell<HeaderNames>>,
    pending: RefCell<HashMap<u64, Prepared>>,
    prev: Option<Rc<dyn Dispatcher>>,
}

/// The VU's [`AsyncRequests`] (kept in `slot`), installed on first use.
fn requests(
    ctx: &Ctx<'_>,
    h: &Rc<HttpVu>,
    slot: &OnceCell<Rc<AsyncRequests>>,
) -> R<Rc<AsyncRequests>> {
    if let Some(r) = slot.get() {
        return Ok(r.clone());
    }
    let r = Rc::new(AsyncRequests {
        header_names: h.header_names.clone(),
        pending: RefCell::default(),
        prev: h.vu.io_dispatcher.borrow().clone(),
    });
    h.vu.set_dispatcher(r.clone());
    ctx.globals()
        .get::<_, Object>("__volley")?
        .set(HANDLERS, Object::new(ctx.clone())?)?;
    Ok(slot.get_or_init(|| r).clone())
}

/// Starts `p` and settles `resolve`/`reject` when it ends. A request that cannot be sent (an
/// unknown `compression`) settles at once, as `http.request` returns at once. `slot` holds the
/// VU's [`AsyncRequests`] once made.
pub(super) fn start<'js>(
    ctx: &Ctx<'js>,
    h: &Rc<HttpVu>,
    slot: &OnceCell<Rc<AsyncRequests>>,
    p: Prepared,
    shapes: Array<'js>,
    resolve: Function<'js>,
    reject: Function<'js>,
) -> R<()> {
    if p.failure.is_some() {
        let parsed = ResponseShapes::from_js(ctx, &shapes, &h.header_names)?;
        return settle(ctx, &h.vu, p, Vec::new(), &parsed, resolve, reject);
    }
    let Some(client) = h.vu.http.clone() else {
        return Err(Exception::throw_message(ctx, "no HTTP client in this VU"));
    };
    let reqs = requests(ctx, h, slot)?;
    let handlers: Object = ctx.globals().get::<_, Object>("__volley")?.get(HANDLERS)?;
    if reqs.pending.borrow().is_empty() {
        // Handlers of requests dropped with a failed iteration never got their event.
        let stale: Vec<String> = handlers.keys::<String>().collect::<R<_>>()?;
        for k in stale {
            handlers.remove(k)?;
        }
    }
    let (id, poster) = h.vu.io.open();
    let entry = Array::new(ctx.clone())?;
    entry.set(0, resolve)?;
    entry.set(1, reject)?;
    entry.set(2, shapes)?;
    handlers.set(id as f64, entry)?;
    let req = Box::new(p.req.clone());
    reqs.pending.borrow_mut().insert(id, p);
    let spawn = async move {
        tokio::spawn(async move {
            let hops = execute(&client, req).await;
            poster.post(Box::new(Done(hops)));
        });
    };
    // Spawned from the IO runtime (the VU's thread has none).
    h.vu.block_on(spawn).map_err(|_| throw_interrupted(ctx))
}

/// Records the request's metrics and resolves with its response, or rejects with its error
/// when the run throws on failed requests (`throw: true`).
fn settle<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    p: Prepared,
    hops: Vec<HttpExchange>,
    shapes: &ResponseShapes<'js>,
    resolve: Function<'js>,
    reject: Function<'js>,
) -> R<()> {
    match finish(ctx, vu, &p, hops, shapes) {
        Ok(res) => resolve.call::<_, ()>((res,)),
        Err(rquickjs::Error::Exception) => {
            let e = super::rejection(ctx, ctx.catch())?;
            reject.call::<_, ()>((e,))
        }
        Err(e) => Err(e),
    }
}

impl Dispatcher for AsyncRequests {
    fn dispatch<'js>(&self, ctx: &Ctx<'js>, vu: &VuCtx, id: u64, event: IoEvent) -> R<()> {
        let done = match event.downcast::<Done>() {
            Ok(d) => d,
            Err(other) => {
                return match &self.prev {
                    Some(p) => p.dispatch(ctx, vu, id, other),
                    None => {
                        vu.io.end(id);
                        Ok(())
                    }
                }
            }
        };
        vu.io.end(id);
        let handlers: Object = ctx.globals().get::<_, Object>("__volley")?.get(HANDLERS)?;
        let entry: Option<Array> = handlers.get(id as f64)?;
        handlers.remove(id as f64)?;
        let (Some(p), Some(entry)) = (self.pending.borrow_mut().remove(&id), entry) else {
            return Ok(());
        };
        let shapes: Array = entry.get(2)?;
        let shapes = ResponseShapes::from_js(ctx, &shapes, &self.header_names)?;
        let (resolve, reject): (Function, Function) = (entry.get(0)?, entry.get(1)?);
        settle(ctx, vu, p, done.0, &shapes, resolve, reject)
    }

    fn drop_all(&self, vu: &VuCtx) {
        // The iteration ended without them: their results are dropped, their handlers cleared
        // from JS by the next `start`.
        self.pending.borrow_mut().clear();
        if let Some(p) = &self.prev {
            p.drop_all(vu);
        }
    }
}
