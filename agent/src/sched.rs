//! Scheduling policy of the load generator's own threads.
//!
//! A JS worker and the IO threads hand work to each other for every request (the IO thread
//! wakes the worker with each response). With the default policy a woken thread preempts the
//! running one at once, so on a busy core every response costs a context switch. `SCHED_BATCH`
//! turns wake-up preemption off for these threads: a woken worker runs when the IO thread has
//! handled what is ready (and blocks), and then handles every response that arrived meanwhile.
//! Latency is still measured on the IO threads, so batching does not inflate it.

/// Puts the calling thread under `SCHED_BATCH` (Linux). Failures are ignored: it is an
/// optimization, and the default policy works too.
pub fn batch_current_thread() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid param.
        unsafe {
            let param = libc::sched_param { sched_priority: 0 };
            let _ = libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
        }
    }
}
