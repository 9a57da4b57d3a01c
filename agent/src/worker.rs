//! JS worker threads: each runs many VU coroutines from a ready queue (docs/engine.md#threads). HTTP requests run on the shared tokio runtime and come back as
//! [`WorkerMsg::Wake`]; timers (`sleep()`) are kept here in a heap, so a sleeping VU costs no task.
//!
//! The worker also owns the per-worker metric aggregates and merges them into the run's store
//! every flush interval, so recording a sample never takes a lock.

use std::any::Any;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::coro::{Resume, Step, Suspend, Suspender, VuCoroutine};
use crate::metrics::{MetricsStore, Registry, SampleSink, WorkerMetrics};

/// The body of a VU: runs on the VU's coroutine, with access to its worker's local state.
pub type VuBody = Box<dyn FnOnce(&Suspender, Rc<WorkerLocal>) + Send>;

/// Messages to a worker thread.
pub enum WorkerMsg {
    /// Create a VU coroutine and start it (it runs its init code). When its stack cannot be
    /// allocated, the body is dropped unrun and the reason goes to `no_stack`.
    Spawn {
        slot: u64,
        body: VuBody,
        no_stack: tokio::sync::oneshot::Sender<String>,
    },
    /// Give an idle VU a command (see `vu::VuCommand`).
    Command { slot: u64, cmd: Box<dyn Any + Send> },
    /// An operation a VU waits for has completed.
    Wake {
        slot: u64,
        token: u64,
        payload: Box<dyn Any + Send>,
    },
    /// Abort whatever the VU is blocked on (its interrupt flag is already set).
    Interrupt { slot: u64 },
    /// Merge metrics into the store now, then acknowledge.
    Flush { done: Sender<()> },
    /// Exit all idle VUs and stop the thread once every VU has returned.
    Shutdown,
}

/// Worker-local state that VUs on this worker share (single-threaded: `Rc`/`RefCell`).
pub struct WorkerLocal {
    pub index: usize,
    /// The worker's aggregates; its VUs record into them directly.
    pub metrics: Rc<RefCell<WorkerMetrics>>,
    pub tx: Sender<WorkerMsg>,
    /// The QuickJS runtime the worker's VUs share, created by the first VU.
    pub js_runtime: RefCell<Option<Rc<crate::js::shared_runtime::SharedRuntime>>>,
    /// The stack the worker's VUs share for native work that does not suspend (`None` if it
    /// could not be made: that work then runs on each VU's own stack).
    pub work_stack: Option<crate::coro::WorkStack>,
}

/// A handle to a worker thread.
#[derive(Clone)]
pub struct WorkerHandle {
    pub index: usize,
    pub tx: Sender<WorkerMsg>,
}

impl WorkerHandle {
    pub fn send(&self, msg: WorkerMsg) {
        // The worker only goes away at shutdown; a failed send then is harmless.
        let _ = self.tx.send(msg);
    }

    /// Merges this worker's metrics into the store and waits (bounded) for it.
    pub fn flush(&self, timeout: Duration) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(WorkerMsg::Flush { done: tx });
        let _ = rx.recv_timeout(timeout);
    }
}

struct Slot {
    co: VuCoroutine,
    /// Token the VU is blocked on, if any.
    waiting: Option<u64>,
    idle: bool,
}

/// Starts a worker thread.
pub fn spawn_worker(
    index: usize,
    registry: Arc<Registry>,
    store: Arc<MetricsStore>,
    raw_out: Option<Arc<dyn SampleSink>>,
    flush_every: Duration,
) -> std::io::Result<(WorkerHandle, std::thread::JoinHandle<()>)> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let tx2 = tx.clone();
    let join = std::thread::Builder::new()
        .name(format!("volley-js-{index}"))
        .spawn(move || {
            crate::sched::batch_current_thread();
            let local = Rc::new(WorkerLocal {
                index,
                metrics: Rc::new(RefCell::new(WorkerMetrics::new(
                    registry,
                    raw_out.is_some(),
                ))),
                tx: tx2,
                js_runtime: RefCell::new(None),
                work_stack: crate::coro::WorkStack::new()
                    .inspect_err(|e| tracing::debug!("no work stack for the JS worker: {e}"))
                    .ok(),
            });
            let keep = local.clone();
            Worker {
                local,
                rx,
                slots: HashMap::new(),
                timers: BinaryHeap::new(),
                ready: Vec::new(),
                store,
                raw_out,
                flush_every,
                next_flush: Instant::now() + flush_every,
                shutting_down: false,
            }
            .run();
            // Every VU has returned: free their contexts, then the runtime with the worker.
            let js = keep.js_runtime.borrow_mut().take();
            if let Some(js) = js {
                js.collect_exited_vus();
            }
        })?;
    Ok((WorkerHandle { index, tx }, join))
}

struct Worker {
    local: Rc<WorkerLocal>,
    rx: Receiver<WorkerMsg>,
    slots: HashMap<u64, Slot>,
    timers: BinaryHeap<Reverse<(Instant, u64, u64)>>,
    ready: Vec<(u64, Resume)>,
    store: Arc<MetricsStore>,
    raw_out: Option<Arc<dyn SampleSink>>,
    flush_every: Duration,
    next_flush: Instant,
    shutting_down: bool,
}

impl Worker {
    fn run(mut self) {
        loop {
            // Run everything that is ready, then fire due timers, then look at messages.
            while let Some((slot, input)) = self.ready.pop() {
                self.resume(slot, input);
            }
            let now = Instant::now();
            while let Some(Reverse((at, slot, token))) = self.timers.peek().copied() {
                if at > now {
                    break;
                }
                self.timers.pop();
                if self.slots.get(&slot).and_then(|s| s.waiting) == Some(token) {
                    self.ready.push((slot, Resume::Wake(token, Box::new(()))));
                }
            }
            if now >= self.next_flush {
                self.flush();
                self.next_flush = now + self.flush_every;
            }
            if !self.ready.is_empty() {
                // Keep the ready queue moving, but still take messages without blocking.
                while let Ok(msg) = self.rx.try_recv() {
                    self.handle(msg);
                }
                continue;
            }
            if self.shutting_down && self.slots.is_empty() {
                self.flush();
                return;
            }
            let mut deadline = self.next_flush;
            if let Some(Reverse((at, _, _))) = self.timers.peek() {
                deadline = deadline.min(*at);
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(msg) => {
                    self.handle(msg);
                    while let Ok(msg) = self.rx.try_recv() {
                        self.handle(msg);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // Every handle is gone: treat as shutdown.
                    self.shutting_down = true;
                    self.exit_idle();
                    if self.slots.is_empty() {
                        self.flush();
                        return;
                    }
                }
            }
        }
    }

    fn handle(&mut self, msg: WorkerMsg) {
        match msg {
            WorkerMsg::Spawn {
                slot,
                body,
                no_stack,
            } => {
                let local = self.local.clone();
                match VuCoroutine::new(move |s, _| body(s, local)) {
                    Ok(co) => {
                        self.slots.insert(
                            slot,
                            Slot {
                                co,
                                waiting: None,
                                idle: false,
                            },
                        );
                        self.ready.push((slot, Resume::Start));
                    }
                    Err(e) => {
                        // The body (and the init reply channel inside it) is dropped: the engine
                        // sees the VU's init fail and reports this reason (once, not per VU).
                        let _ = no_stack.send(e.to_string());
                    }
                }
            }
            WorkerMsg::Command { slot, cmd } => {
                if let Some(s) = self.slots.get_mut(&slot) {
                    if s.idle {
                        s.idle = false;
                        self.ready.push((slot, Resume::Command(cmd)));
                    } else {
                        tracing::error!("VU slot {slot} got a command while busy; dropped");
                    }
                }
            }
            WorkerMsg::Wake {
                slot,
                token,
                payload,
            } => {
                if let Some(s) = self.slots.get(&slot) {
                    if s.waiting == Some(token) {
                        self.ready.push((slot, Resume::Wake(token, payload)));
                    }
                }
            }
            WorkerMsg::Interrupt { slot } => {
                if let Some(s) = self.slots.get_mut(&slot) {
                    if s.waiting.take().is_some() {
                        self.ready.push((slot, Resume::Abort));
                    }
                }
            }
            WorkerMsg::Flush { done } => {
                self.flush();
                let _ = done.send(());
            }
            WorkerMsg::Shutdown => {
                self.shutting_down = true;
                self.exit_idle();
            }
        }
    }

    fn exit_idle(&mut self) {
        let idle: Vec<u64> = self
            .slots
            .iter()
            .filter(|(_, s)| s.idle)
            .map(|(k, _)| *k)
            .collect();
        for slot in idle {
            if let Some(s) = self.slots.get_mut(&slot) {
                s.idle = false;
            }
            self.ready.push((slot, Resume::Exit));
        }
    }

    fn resume(&mut self, slot: u64, input: Resume) {
        let Some(s) = self.slots.get_mut(&slot) else {
            return;
        };
        if let Resume::Wake(t, _) = &input {
            if s.waiting != Some(*t) {
                return; // stale
            }
        }
        s.waiting = None;
        match s.co.resume(input) {
            Step::Suspended(Suspend::Blocked(token)) => s.waiting = Some(token),
            Step::Suspended(Suspend::Sleep(token, at)) => {
                s.waiting = Some(token);
                self.timers.push(Reverse((at, slot, token)));
            }
            Step::Suspended(Suspend::Idle) => {
                s.idle = true;
                if self.shutting_down {
                    s.idle = false;
                    self.ready.push((slot, Resume::Exit));
                }
            }
            Step::Finished => {
                self.slots.remove(&slot);
            }
        }
    }

    fn flush(&mut self) {
        let (series, raw) = self.local.metrics.borrow_mut().take();
        if !series.is_empty() {
            self.store.merge(series);
        }
        if !raw.is_empty() {
            if let Some(out) = &self.raw_out {
                out.write(raw);
            }
        }
    }
}
