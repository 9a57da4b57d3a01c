//! The event loop of one VU: what runs after the iteration's function has returned.
//!
//! k6 ends an iteration (and init, `setup`, `teardown`, `handleSummary`) only when its event
//! loop is empty: promise jobs first, then the due timers one by one (each followed by the jobs
//! it queued), until no timer is pending. A VU waits for the next timer by suspending its
//! coroutine (`VuCtx::sleep`), never by blocking its worker. The iteration fails as soon as its
//! promise rejects or a timer's callback throws; then, and when the VU is interrupted, the
//! timers still pending are dropped with k6's warning. Timer ids count up per VU, across
//! iterations. The timers wait in the VU's [`TimerQueue`](crate::js::timer_queue::TimerQueue). Open
//! sockets are event sources too (`js::io_events`): the loop also waits for their events and
//! does not end while one is open (`docs/engine.md`).

use std::time::{Duration, Instant};

use rquickjs::function::Rest;
use rquickjs::{CatchResultExt, Ctx, Function, Promise, Value};

use super::error::JsError;
use super::jobs::run_own_jobs;
use super::timer_queue::callbacks;
use super::vu_ctx::VuCtx;

/// Due timers fired in a row before the VU yields to the other VUs of its worker once.
const FIRES_PER_YIELD: u32 = 1000;

/// Runs the VU's event loop until nothing is pending, or until `promise` (what the function
/// returned) rejects: that rejection (with `rejections`, an error that says so:
/// [`JsError::from_rejection`]), a timer callback's exception, a socket handler's exception or
/// an interruption ends it with an error, dropping the timers still pending and closing the
/// sockets still open.
pub fn run<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    promise: Option<&Promise<'js>>,
    rejections: bool,
) -> Result<(), JsError> {
    match drive(ctx, vu, promise, rejections) {
        Ok(()) => Ok(()),
        Err(e) => {
            stop(ctx, vu);
            Err(e)
        }
    }
}

/// The loop of [`run`], which drops what is pending when it fails.
fn drive<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    promise: Option<&Promise<'js>>,
    rejections: bool,
) -> Result<(), JsError> {
    let mut fired = 0u32;
    loop {
        run_own_jobs(ctx);
        if let Some(p) = promise {
            if let Some(Err(e)) = p.result::<Value>() {
                return Err::<(), _>(e).catch(ctx).map_err(|e| {
                    if rejections {
                        JsError::from_rejection(e, ctx)
                    } else {
                        JsError::from_caught(e, ctx)
                    }
                });
            }
        }
        let io = &vu.io;
        let timer = vu.timers.next();
        let now = vu.timers.now();
        let timer_due = timer.is_some_and(|(_, due)| due <= now);
        if !timer_due && !io.has_queued() {
            if timer.is_none() && !io.any_open() {
                return Ok(());
            }
            // Wait for the next timer or the next socket event, whichever comes first.
            let limit = timer.map(|(_, due)| due.saturating_duration_since(now));
            // A plain sleep (no socket open) ends when the timer is due; a wait for an event
            // may end earlier.
            let waited = if io.any_open() {
                vu.block_on(io.wait(limit)).map(|()| false)
            } else {
                vu.sleep(limit.unwrap_or_default()).map(|()| true)
            };
            let Ok(slept) = waited else {
                return Err(JsError::Interrupted);
            };
            fired = 0;
            if let Some((id, due)) = timer {
                if slept || (Instant::now() >= due && !io.has_queued()) {
                    if vu.interrupt.load(std::sync::atomic::Ordering::Relaxed) {
                        return Err(JsError::Interrupted);
                    }
                    fire(ctx, vu, id, due)?;
                }
            }
            continue;
        }
        if fired >= FIRES_PER_YIELD {
            if vu.sleep(Duration::ZERO).is_err() {
                return Err(JsError::Interrupted);
            }
            fired = 0;
        }
        fired += 1;
        if vu.interrupt.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(JsError::Interrupted);
        }
        // A due timer first (it was due before the event was looked at), then one event.
        if let (true, Some((id, due))) = (timer_due, timer) {
            fire(ctx, vu, id, due)?;
        } else if let Some((source, event)) = io.pop() {
            vu.dispatch_io(ctx, source, event)
                .catch(ctx)
                .map_err(|e| JsError::from_caught(e, ctx))?;
        }
    }
}

/// Calls timer `id`'s callback.
fn fire<'js>(ctx: &Ctx<'js>, vu: &VuCtx, id: u64, due: Instant) -> Result<(), JsError> {
    let caught = |e| JsError::from_caught(e, ctx);
    let Some(stays) = vu.timers.take(id, due) else {
        return Ok(());
    };
    let cbs = callbacks(ctx).catch(ctx).map_err(caught)?;
    let entry: Option<rquickjs::Array> = cbs.get(id as f64).catch(ctx).map_err(caught)?;
    let Some(entry) = entry else {
        return Ok(());
    };
    if !stays {
        cbs.remove(id as f64).catch(ctx).map_err(caught)?;
    }
    let f: Function = entry.get(0).catch(ctx).map_err(caught)?;
    let args: Vec<Value> = entry
        .iter()
        .skip(1)
        .collect::<rquickjs::Result<_>>()
        .catch(ctx)
        .map_err(caught)?;
    f.call::<_, Value>((Rest(args),))
        .catch(ctx)
        .map_err(caught)?;
    if stays {
        vu.timers.rearm(id);
    }
    Ok(())
}

/// Drops the pending timers with k6's warning for each, and closes the open sockets.
pub fn stop(ctx: &Ctx<'_>, vu: &VuCtx) {
    vu.drop_io();
    let pending = vu.timers.drain();
    if pending.is_empty() {
        return;
    }
    let cbs = callbacks(ctx).ok();
    for (kind, id) in pending {
        crate::console::log(
            "warning",
            &format!(
                "{} {id} was stopped because the VU iteration was interrupted",
                kind.name()
            ),
            &[],
        );
        if let Some(cbs) = &cbs {
            let _ = cbs.remove(id as f64);
        }
    }
}
