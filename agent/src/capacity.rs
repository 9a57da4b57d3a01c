//! What this process can hold: how many VUs (the default of `volley agent --max-vus` and of
//! `volley run --max-vus`) and how much JavaScript heap (`--max-js-heap`). A run planning more
//! VUs than that is refused before any VU is created, with the numbers, instead of the process
//! dying of an allocation failure halfway through VU init; a script whose data outgrows the JS
//! heap budget ends its run ("out of JS memory") instead of the kernel killing the process.
//!
//! The per-VU cost was measured on `volley run` (`docs/benchmarks.md`, "Memory per VU" and
//! "Scale: sleeping VUs"): a VU with the k6 modules loaded and its coroutine stack takes
//! 84 KiB at 10,000–100,000 VUs that only sleep, 90 KiB when 15 % of them hold a kept-alive
//! connection, 109 KiB at 10,000 VUs that each hold one and ~130 KiB at 1,000 (the
//! process's fixed ~20 MiB, mostly the binary's code, counted in). The budget allows 128 KiB
//! per VU out of three quarters of the memory (the rest for the script's own data, response
//! bodies in flight, metrics and the system), so a machine with 16 GiB holds 98,304 VUs by
//! default. The memory is the machine's or, when smaller, the cgroup's limit (a container's).

use sysinfo::{RefreshKind, System};
use volley_common::exit::AbortReason;

/// Memory budgeted per VU: the measured 84–130 KiB (module doc); the quarter of the memory
/// left out is the margin.
pub const BUDGET_PER_VU_BYTES: u64 = 128 * 1024;

/// The share of the memory VUs may take, in percent.
const VU_MEMORY_PERCENT: u64 = 75;

/// The memory this process may use: the machine's, or its cgroup's limit when smaller. None
/// when it cannot be read.
pub fn memory_bytes() -> Option<u64> {
    let mut sys = System::new_with_specifics(RefreshKind::nothing()).ok()?;
    sys.refresh_memory();
    let machine = sys.total_memory();
    let cgroup = sys
        .cgroup_limits()
        .map(|c| c.total_memory)
        .filter(|m| *m > 0);
    match (machine, cgroup) {
        (0, None) => None,
        (0, Some(c)) => Some(c),
        (m, Some(c)) => Some(m.min(c)),
        (m, None) => Some(m),
    }
}

/// The most VUs `memory` bytes hold at the budgeted cost (at least 1).
pub fn vus_for_memory(memory: u64) -> u64 {
    let vus =
        u128::from(memory) * u128::from(VU_MEMORY_PERCENT) / 100 / u128::from(BUDGET_PER_VU_BYTES);
    u64::try_from(vus).unwrap_or(u64::MAX).max(1)
}

/// The default VU capacity of this process (None when the memory cannot be read: no limit).
pub fn default_max_vus() -> Option<u64> {
    memory_bytes().map(vus_for_memory)
}

/// The share of the memory the JS heaps may take together, in percent (the default of
/// `--max-js-heap`): a VU's JS heap is about half of its measured cost, and the rest of the
/// memory is for the VUs' stacks, connections and the metrics.
const JS_HEAP_MEMORY_PERCENT: u64 = 50;

/// The default JS heap budget of this process, in bytes (None: no limit).
pub fn default_js_heap() -> Option<u64> {
    memory_bytes().map(|m| m / 100 * JS_HEAP_MEMORY_PERCENT)
}

/// A run's JS heap budget: the process's (`--max-js-heap`), split evenly over its JS workers
/// (each has one QuickJS runtime, shared by its VUs; VUs are spread evenly over workers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsHeapBudget {
    /// QuickJS's memory limit of each worker's runtime.
    pub per_runtime: usize,
    pub total: u64,
    pub workers: usize,
    /// The flag that sets the total (for messages).
    pub flag: String,
}

impl JsHeapBudget {
    pub fn new(total: u64, workers: usize, flag: String) -> Self {
        let workers = workers.max(1);
        JsHeapBudget {
            per_runtime: usize::try_from(total / workers as u64).unwrap_or(usize::MAX),
            total,
            workers,
            flag,
        }
    }

    /// The reason a run ends when a script allocates past the budget.
    pub fn exhausted(&self) -> AbortReason {
        const MIB: u64 = 1 << 20;
        AbortReason::Limit {
            limit: "max_js_heap".into(),
            message: format!(
                "out of JS memory: the script's data outgrew the JS heap budget of {} MiB per JS worker ({} MiB over {} worker{}, {}); keep less data in global variables, or raise {}",
                self.per_runtime as u64 / MIB,
                self.total / MIB,
                self.workers,
                if self.workers == 1 { "" } else { "s" },
                self.flag,
                self.flag
            ),
        }
    }
}

/// Why a run cannot start here: it plans `planned` VUs, more than `capacity`, the limit set
/// by `flag` (or its default).
pub fn too_many_vus(planned: u64, capacity: u64, flag: &str) -> String {
    format!(
        "the test needs up to {planned} VUs at once but this process can hold {capacity} ({flag}; by default what its memory allows at {} KiB per VU); lower vus, stages' target, preAllocatedVUs or maxVUs, or split the test over more agents",
        BUDGET_PER_VU_BYTES / 1024
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_follows_memory() {
        assert_eq!(vus_for_memory(16 << 30), 98_304);
        assert_eq!(vus_for_memory(24 << 30), 147_456);
        assert_eq!(vus_for_memory(1 << 20), 6);
        assert_eq!(vus_for_memory(0), 1);
        let here = default_max_vus().expect("memory is readable on Linux");
        assert!(here >= 1, "{here}");
    }

    #[test]
    fn the_js_heap_budget_is_split_over_workers() {
        let b = JsHeapBudget::new(256 << 20, 4, "volley run --max-js-heap".into());
        assert_eq!(b.per_runtime, 64 << 20);
        assert_eq!(
            b.exhausted().message(),
            "limit exceeded (max_js_heap): out of JS memory: the script's data outgrew the JS heap budget of 64 MiB per JS worker (256 MiB over 4 workers, volley run --max-js-heap); keep less data in global variables, or raise volley run --max-js-heap"
        );
        assert!(default_js_heap().is_some_and(|b| b > 0));
    }
}
