//! Event sources of a VU's event loop besides timers: open sockets (`k6/ws`,
//! `k6/websockets`), whose readers run on the IO runtime and must not touch JS.
//!
//! A source's IO task posts its events through an [`EventPoster`] into the VU's queue and wakes
//! the VU if it is waiting; the event loop (`js::event_loop`) takes them in arrival order and
//! hands each to the VU's [`Dispatcher`](crate::js::vu_ctx::Dispatcher) (the module that owns
//! the sources), which turns it into JS handler calls. A source counts as pending work from [`IoSources::open`] until its
//! dispatcher calls [`IoSources::end`], so an iteration waits for its open sockets exactly as
//! it waits for its timers ([docs/engine.md](../../../docs/engine.md#the-vus-event-loop-promises-and-timers)).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

/// One event of a source, as its IO task made it (the dispatcher knows its real type).
pub type IoEvent = Box<dyn Any + Send>;

/// The queue IO tasks post into, shared with them.
#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<(u64, IoEvent)>>,
    notify: Notify,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, VecDeque<(u64, IoEvent)>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How one source's IO task reaches its VU: `Send`, cheap to clone.
#[derive(Clone)]
pub struct EventPoster {
    shared: Arc<Shared>,
    source: u64,
}

impl EventPoster {
    /// Queues an event for the VU and wakes it if it waits for one.
    pub fn post(&self, event: IoEvent) {
        self.shared.queue().push_back((self.source, event));
        self.shared.notify.notify_one();
    }
}

/// The IO sources of one VU.
#[derive(Default)]
pub struct IoSources {
    shared: Arc<Shared>,
    last_id: Cell<u64>,
    open: RefCell<BTreeSet<u64>>,
}

impl IoSources {
    /// Opens a source: pending work until [`IoSources::end`]. Returns its id and the poster its
    /// IO task uses.
    pub fn open(&self) -> (u64, EventPoster) {
        let id = self.last_id.get() + 1;
        self.last_id.set(id);
        self.open.borrow_mut().insert(id);
        let poster = EventPoster {
            shared: self.shared.clone(),
            source: id,
        };
        (id, poster)
    }

    /// The source is done: the loop no longer waits for it; its later events are dropped.
    pub fn end(&self, source: u64) {
        self.open.borrow_mut().remove(&source);
    }

    pub fn is_open(&self, source: u64) -> bool {
        self.open.borrow().contains(&source)
    }

    /// Whether any source is open.
    pub fn any_open(&self) -> bool {
        !self.open.borrow().is_empty()
    }

    /// The next queued event of a source still open (events of ended sources are dropped).
    pub(super) fn pop(&self) -> Option<(u64, IoEvent)> {
        let mut q = self.shared.queue();
        while let Some((id, ev)) = q.pop_front() {
            if self.is_open(id) {
                return Some((id, ev));
            }
        }
        None
    }

    /// The next queued event of `source` alone, the others staying queued in their order:
    /// `k6/ws`'s `connect` runs only its own socket's events, as k6 does.
    pub fn pop_source(&self, source: u64) -> Option<IoEvent> {
        if !self.is_open(source) {
            return None;
        }
        let mut q = self.shared.queue();
        let i = q.iter().position(|(id, _)| *id == source)?;
        q.remove(i).map(|(_, ev)| ev)
    }

    /// A future that completes when an event is posted, or after `limit` (`None`: only when an
    /// event comes; the VU's interruption aborts the wait). It is meant for `VuCtx::block_on`.
    pub fn wait(
        &self,
        limit: Option<Duration>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            let notified = shared.notify.notified();
            match limit {
                Some(d) => {
                    let _ = tokio::time::timeout(d, notified).await;
                }
                None => notified.await,
            }
        }
    }

    /// Whether an event is queued.
    pub(super) fn has_queued(&self) -> bool {
        !self.shared.queue().is_empty()
    }

    /// Forgets every source and its queued events (their dispatcher has closed them).
    pub(super) fn forget_all(&self) {
        self.open.borrow_mut().clear();
        self.shared.queue().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_ended_sources_are_dropped_and_posters_wake_waiters() {
        let s = IoSources::default();
        let (a, pa) = s.open();
        let (b, pb) = s.open();
        assert!(s.any_open());
        pa.post(Box::new(1u32));
        pb.post(Box::new(2u32));
        pa.post(Box::new(3u32));
        s.end(a);
        let (id, ev) = s.pop().unwrap();
        assert_eq!((id, *ev.downcast::<u32>().unwrap()), (b, 2));
        assert!(s.pop().is_none());
        // One source's events can be taken alone; the others keep their order.
        pb.post(Box::new(5u32));
        let (c, pc) = s.open();
        pc.post(Box::new(6u32));
        pb.post(Box::new(7u32));
        assert_eq!(*s.pop_source(c).unwrap().downcast::<u32>().unwrap(), 6);
        assert!(s.pop_source(c).is_none());
        s.end(c);
        assert_eq!(*s.pop().unwrap().1.downcast::<u32>().unwrap(), 5);
        assert_eq!(*s.pop().unwrap().1.downcast::<u32>().unwrap(), 7);
        s.end(b);
        assert!(!s.any_open());
        // A post before the wait leaves a permit: the wait returns at once.
        let (_, pd) = s.open();
        pd.post(Box::new(4u32));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        rt.block_on(s.wait(Some(Duration::from_secs(5))));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
