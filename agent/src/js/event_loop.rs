//! The event loop of one VU: what runs after the iteration's function has returned.
//!
//! k6 ends an iteration (and init, `setup`, `teardown`, `handleSummary`) only when its event
//! loop is empty: promise jobs first, then the due timers one by one (each followed by the jobs
//! it queued), until no timer is pending. A VU waits for the next timer by suspending its
//! coroutine (`VuCtx::sleep`), never by blocking its worker. The iteration fails as soon as its
//! promise rejects or a timer's callback throws; then, and when the VU is interrupted, the
//! timers still pending are dropped with k6's warning. Timer ids count up per VU, across
//! iterations. Open sockets are event sources too (`js::io_events`): the loop also waits for
//! their events and does not end while one is open (`docs/engine.md`).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rquickjs::function::Rest;
use rquickjs::{CatchResultExt, Ctx, Function, Object, Promise, Value};

use super::error::JsError;
use super::io_events::IoSources;
use super::jobs::run_own_jobs;
use super::vu_ctx::VuCtx;

/// The `__volley` property holding the callbacks of pending timers (`id -> [fn, ...args]`):
/// kept in JS so that the garbage collector sees them.
pub const CALLBACKS: &str = "timerCallbacks";

/// Due timers fired in a row before the VU yields to the other VUs of its worker once.
const FIRES_PER_YIELD: u32 = 1000;

/// Which function made a timer (it names the timer in warnings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    Timeout,
    Interval,
}

impl TimerKind {
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::Timeout => "setTimeout",
            TimerKind::Interval => "setInterval",
        }
    }
}

struct Timer {
    kind: TimerKind,
    /// Its place in the queue: due time and creation order.
    key: (Instant, u64),
    /// The period of an interval.
    every: Duration,
}

/// The pending timers of one VU.
#[derive(Default)]
pub struct EventLoop {
    last_id: Cell<u64>,
    seq: Cell<u64>,
    /// Timer ids by due time, then creation order.
    queue: RefCell<BTreeMap<(Instant, u64), u64>>,
    timers: RefCell<HashMap<u64, Timer>>,
    /// The due time of the timer fired last: the loop's clock never runs behind it, so timers
    /// keep their order even when a sleep returns early (the module tests' host does not wait).
    clock: Cell<Option<Instant>>,
    /// The VU's open sockets and the events they posted.
    pub io: IoSources,
}

impl EventLoop {
    /// Now, for the loop.
    fn now(&self) -> Instant {
        let now = Instant::now();
        self.clock.get().map_or(now, |c| c.max(now))
    }

    /// Adds a timer due in `delay_ms` (negative or NaN: now), and returns its id.
    pub fn add(&self, kind: TimerKind, delay_ms: f64) -> u64 {
        let ms = if delay_ms.is_finite() && delay_ms > 0.0 {
            delay_ms.min(1e12)
        } else {
            0.0
        };
        let mut every = Duration::from_secs_f64(ms / 1000.0);
        if kind == TimerKind::Interval {
            // A period of zero would fire forever without the loop's clock moving.
            every = every.max(Duration::from_millis(1));
        }
        let id = self.last_id.get() + 1;
        self.last_id.set(id);
        let key = self.schedule(id, Duration::from_secs_f64(ms / 1000.0));
        self.timers
            .borrow_mut()
            .insert(id, Timer { kind, key, every });
        id
    }

    fn schedule(&self, id: u64, after: Duration) -> (Instant, u64) {
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        let key = (self.now() + after, seq);
        self.queue.borrow_mut().insert(key, id);
        key
    }

    /// Cancels a timer; true if it was pending.
    pub fn clear(&self, id: u64) -> bool {
        match self.timers.borrow_mut().remove(&id) {
            Some(t) => {
                self.queue.borrow_mut().remove(&t.key);
                true
            }
            None => false,
        }
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.timers.borrow().is_empty()
    }

    /// The next timer due: its id and due time.
    fn next(&self) -> Option<(u64, Instant)> {
        self.queue
            .borrow()
            .first_key_value()
            .map(|(&(due, _), &id)| (id, due))
    }

    /// Takes timer `id` off the queue to fire it now: a timeout is gone, an interval waits for
    /// [`EventLoop::rearm`] once its callback has returned. Returns whether the timer stays
    /// (an interval).
    fn take(&self, id: u64, due: Instant) -> Option<bool> {
        self.clock.set(Some(self.now().max(due)));
        let mut timers = self.timers.borrow_mut();
        let t = timers.get(&id)?;
        self.queue.borrow_mut().remove(&t.key);
        match t.kind {
            TimerKind::Timeout => {
                timers.remove(&id);
                Some(false)
            }
            TimerKind::Interval => Some(true),
        }
    }

    /// Makes interval `id` due again one period from now, after its callback ran (as k6 does:
    /// a callback that takes 20 ms every 30 ms fires every 50 ms), unless the callback
    /// cleared it.
    fn rearm(&self, id: u64) {
        let Some(every) = self.timers.borrow().get(&id).map(|t| t.every) else {
            return;
        };
        let key = self.schedule(id, every);
        if let Some(t) = self.timers.borrow_mut().get_mut(&id) {
            t.key = key;
        }
    }

    /// Drops every pending timer; returns them (kind and id) in id order.
    fn drain(&self) -> Vec<(TimerKind, u64)> {
        self.queue.borrow_mut().clear();
        let mut all: Vec<(TimerKind, u64)> = self
            .timers
            .borrow_mut()
            .drain()
            .map(|(id, t)| (t.kind, id))
            .collect();
        all.sort_by_key(|t| t.1);
        self.clock.set(None);
        all
    }
}

/// The JS object that holds the callbacks of pending timers.
pub fn callbacks<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let v: Object = ctx.globals().get("__volley")?;
    v.get(CALLBACKS)
}

/// Runs the VU's event loop until nothing is pending, or until `promise` (what the function
/// returned) rejects: that rejection, a timer callback's exception, a socket handler's
/// exception or an interruption ends it with an error, dropping the timers still pending and
/// closing the sockets still open.
pub fn run<'js>(ctx: &Ctx<'js>, vu: &VuCtx, promise: Option<&Promise<'js>>) -> Result<(), JsError> {
    match drive(ctx, vu, promise) {
        Ok(()) => Ok(()),
        Err(e) => {
            stop(ctx, vu);
            Err(e)
        }
    }
}

/// The loop of [`run`], which drops what is pending when it fails.
fn drive<'js>(ctx: &Ctx<'js>, vu: &VuCtx, promise: Option<&Promise<'js>>) -> Result<(), JsError> {
    let mut fired = 0u32;
    loop {
        run_own_jobs(ctx);
        if let Some(p) = promise {
            if let Some(Err(e)) = p.result::<Value>() {
                return Err::<(), _>(e)
                    .catch(ctx)
                    .map_err(|e| JsError::from_caught(e, ctx));
            }
        }
        let io = &vu.timers.io;
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
            io.dispatch(ctx, vu, source, event)
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
    vu.timers.io.drop_all(vu);
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

#[cfg(test)]
mod tests;
