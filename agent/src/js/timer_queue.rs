//! The pending timers of one VU (`setTimeout`, `setInterval`): their ids, due times and
//! periods, in the order the VU's event loop (`js::event_loop`) fires them. Their callbacks wait
//! in JS (`__volley.timerCallbacks`), where the garbage collector sees them.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rquickjs::{Ctx, Object};

/// The `__volley` property holding the callbacks of pending timers (`id -> [fn, ...args]`):
/// kept in JS so that the garbage collector sees them.
pub const CALLBACKS: &str = "timerCallbacks";

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
pub struct TimerQueue {
    last_id: Cell<u64>,
    seq: Cell<u64>,
    /// Timer ids by due time, then creation order.
    queue: RefCell<BTreeMap<(Instant, u64), u64>>,
    timers: RefCell<HashMap<u64, Timer>>,
    /// The due time of the timer fired last: the loop's clock never runs behind it, so timers
    /// keep their order even when a sleep returns early (the module tests' host does not wait).
    clock: Cell<Option<Instant>>,
}

impl TimerQueue {
    /// Now, for the loop.
    pub(super) fn now(&self) -> Instant {
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
    pub(super) fn next(&self) -> Option<(u64, Instant)> {
        self.queue
            .borrow()
            .first_key_value()
            .map(|(&(due, _), &id)| (id, due))
    }

    /// Takes timer `id` off the queue to fire it now: a timeout is gone, an interval waits for
    /// [`TimerQueue::rearm`] once its callback has returned. Returns whether the timer stays
    /// (an interval).
    pub(super) fn take(&self, id: u64, due: Instant) -> Option<bool> {
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
    pub(super) fn rearm(&self, id: u64) {
        let Some(every) = self.timers.borrow().get(&id).map(|t| t.every) else {
            return;
        };
        let key = self.schedule(id, every);
        if let Some(t) = self.timers.borrow_mut().get_mut(&id) {
            t.key = key;
        }
    }

    /// Drops every pending timer; returns them (kind and id) in id order.
    pub(super) fn drain(&self) -> Vec<(TimerKind, u64)> {
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

#[cfg(test)]
mod tests;
