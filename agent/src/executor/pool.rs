//! VUs as the executors see them: handles to VUs living on JS workers, a pool of idle ones and
//! a factory that initializes new ones (before the test, or on demand for arrival-rate
//! executors up to `maxVUs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use volley_common::segment::ExecutionTuple;

use crate::js::JsError;
use crate::run::{RunControl, RunShared};
use crate::vu::{vu_main, Phase, VuCommand, VuSpec};
use crate::worker::{WorkerHandle, WorkerMsg};

use super::Job;

/// An initialized VU, idle or running a job.
pub struct VuHandle {
    pub id: u64,
    pub id_in_test: u64,
    worker: WorkerHandle,
    slot: u64,
    interrupt: Arc<AtomicBool>,
}

impl VuHandle {
    /// Starts a job; the VU reports its id on `done` when the job ends.
    pub fn run_job(&self, job: Arc<Job>, done: tokio::sync::mpsc::UnboundedSender<u64>) {
        self.interrupt.store(false, Ordering::SeqCst);
        self.worker.send(WorkerMsg::Command {
            slot: self.slot,
            cmd: Box::new(VuCommand::RunJob { job, done }),
        });
    }

    /// Calls an exported function (setup, teardown, handleSummary) and waits for its result.
    pub async fn call(
        &self,
        func: &str,
        phase: Phase,
        arg: Option<String>,
    ) -> Result<Option<String>, JsError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.worker.send(WorkerMsg::Command {
            slot: self.slot,
            cmd: Box::new(VuCommand::Call {
                func: func.to_string(),
                phase,
                arg,
                reply: tx,
            }),
        });
        rx.await
            .unwrap_or_else(|_| Err(JsError::Load("the VU stopped unexpectedly".into())))
    }

    /// Interrupts the VU's current iteration (also when it is blocked on IO or sleeping).
    pub fn interrupt(&self) {
        self.interrupt.store(true, Ordering::SeqCst);
        self.worker.send(WorkerMsg::Interrupt { slot: self.slot });
    }
}

/// Creates VUs, spreading them round-robin over the JS workers.
pub struct VuFactory {
    run: Arc<RunShared>,
    workers: Vec<WorkerHandle>,
    next_local: AtomicU64,
    next_slot: AtomicU64,
    tuple: ExecutionTuple,
}

impl VuFactory {
    pub fn new(run: Arc<RunShared>, workers: Vec<WorkerHandle>, tuple: ExecutionTuple) -> Self {
        VuFactory {
            run,
            workers,
            next_local: AtomicU64::new(1),
            next_slot: AtomicU64::new(1),
            tuple,
        }
    }

    /// Initializes the next VU (ids 1, 2, ... in this instance; `idInTest` from the segment).
    pub async fn init_vu(&self) -> Result<VuHandle, (u64, JsError)> {
        let id = self.next_local.fetch_add(1, Ordering::SeqCst);
        let id_in_test = self.tuple.global_index(id - 1) + 1;
        self.spawn(id, id_in_test, true).await.map_err(|e| (id, e))
    }

    /// The run's JS heap budget (None: no limit).
    pub fn js_heap(&self) -> Option<&crate::capacity::JsHeapBudget> {
        self.run.settings.js_heap.as_ref()
    }

    /// A VU with id 0 for setup, teardown and handleSummary (k6 runs them in a fresh VU 0).
    /// `stop_on_abort`: whether a run stop interrupts it (setup: yes; teardown and
    /// handleSummary: no, they finish within their timeout).
    pub async fn init_vu0(&self, stop_on_abort: bool) -> Result<VuHandle, JsError> {
        self.spawn(0, 0, stop_on_abort).await
    }

    async fn spawn(
        &self,
        id: u64,
        id_in_test: u64,
        stop_on_abort: bool,
    ) -> Result<VuHandle, JsError> {
        let slot = self.next_slot.fetch_add(1, Ordering::SeqCst);
        let worker = self.workers[(slot as usize) % self.workers.len()].clone();
        let interrupt = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spec = VuSpec {
            id,
            id_in_test,
            run: self.run.clone(),
            interrupt: interrupt.clone(),
            slot,
            init_reply: tx,
            stop_on_abort,
        };
        let (no_stack_tx, no_stack) = tokio::sync::oneshot::channel();
        worker.send(WorkerMsg::Spawn {
            slot,
            body: Box::new(move |s, local| vu_main(spec, s, local)),
            no_stack: no_stack_tx,
        });
        match rx.await {
            Ok(Ok(())) => Ok(VuHandle {
                id,
                id_in_test,
                worker,
                slot,
                interrupt,
            }),
            Ok(Err(e)) => Err(e),
            // The worker has handled the message (the body is gone), so `no_stack` is settled.
            Err(_) => Err(JsError::Load(match no_stack.await {
                Ok(why) => format!("VU {id} could not be created: {why}"),
                Err(_) => format!("VU {id} could not be created"),
            })),
        }
    }

    pub fn control(&self) -> Arc<RunControl> {
        self.run.control.clone()
    }
}

/// Idle VUs, shared by the executors.
pub struct VuPool {
    /// Idle VUs by id: the lowest id goes out first, so VU ids are handed out in a stable
    /// order (a map, not a vector sorted at every return: 10,000 VUs coming back one by one
    /// made start-up quadratic).
    idle: Mutex<BTreeMap<u64, VuHandle>>,
    pub factory: Arc<VuFactory>,
    /// VUs initialized so far (vus_max).
    pub initialized: AtomicU64,
}

impl VuPool {
    pub fn new(factory: Arc<VuFactory>) -> Self {
        VuPool {
            idle: Mutex::new(BTreeMap::new()),
            factory,
            initialized: AtomicU64::new(0),
        }
    }

    pub fn put(&self, vu: VuHandle) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.insert(vu.id, vu);
    }

    pub fn take(&self) -> Option<VuHandle> {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_first()
            .map(|(_, vu)| vu)
    }

    /// Takes `n` idle VUs (fewer if the pool runs dry, which the planning avoids).
    pub fn take_n(&self, n: u64) -> Vec<VuHandle> {
        (0..n).map_while(|_| self.take()).collect()
    }

    /// Initializes one more VU now (arrival-rate executors growing towards maxVUs).
    pub async fn grow(&self) -> Result<VuHandle, (u64, JsError)> {
        let vu = self.factory.init_vu().await?;
        self.initialized.fetch_add(1, Ordering::Relaxed);
        Ok(vu)
    }

    pub fn control(&self) -> Arc<RunControl> {
        self.factory.control()
    }

    /// Every idle VU (at the end of the run, to shut them down).
    pub fn drain_idle(&self) -> Vec<VuHandle> {
        std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()))
            .into_values()
            .collect()
    }
}
