//! How many VUs this process can hold: the default of `volley agent --max-vus` and of
//! `volley run --max-vus`. A run planning more VUs than that is refused before any VU is
//! created, with the numbers, instead of the process dying of an allocation failure halfway
//! through VU init.
//!
//! The per-VU cost was measured on `volley run` with a script that makes one `http.get` to
//! `volley target` and sleeps (every VU holds a QuickJS context with the k6 modules, its
//! coroutine stack and one kept-alive connection): peak RSS (`/usr/bin/time -f %M`) was
//! 28.9 MiB at 1 VU, 330 MiB at 2,000 VUs and 943 MiB at 6,000 VUs, i.e. **157 KiB per VU**.
//! The budget allows 256 KiB per VU (room for the script's own data) out of three quarters
//! of the memory (the rest for response bodies in flight, metrics and the system), so a
//! machine with 16 GiB holds 49,152 VUs by default. The memory is the machine's or, when
//! smaller, the cgroup's limit (a container's).

use sysinfo::{RefreshKind, System};

/// Memory budgeted per VU (the measured 157 KiB plus room for the script's own data).
pub const BUDGET_PER_VU_BYTES: u64 = 256 * 1024;

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
        assert_eq!(vus_for_memory(16 << 30), 49_152);
        assert_eq!(vus_for_memory(1 << 20), 3);
        assert_eq!(vus_for_memory(0), 1);
        let here = default_max_vus().expect("memory is readable on Linux");
        assert!(here >= 1, "{here}");
    }
}
