//! VU coroutine stacks cut out of shared slabs, so that 100,000 VUs do not need 200,000 memory
//! mappings.
//!
//! Every stack needs a guard page below it (a stack overflow must fault, not write into the
//! next stack). A stack mapped on its own, with its guard page made `PROT_NONE`, costs two
//! mappings, and Linux stops a process at `vm.max_map_count` mappings (65,530 by default):
//! about 32,000 VUs. Here [`SLAB_STACKS`] stacks share one mapping and their guard pages are
//! installed with `MADV_GUARD_INSTALL` (Linux 6.13 and later), which makes pages fault
//! without splitting the mapping. On older kernels the guard pages fall back to
//! `mprotect(PROT_NONE)`, which splits it: two mappings per VU again, and `vm.max_map_count`
//! must be raised for more than ~30,000 VUs ([docs/benchmarks.md](../../../docs/benchmarks.md#scale-sleeping-vus)).
//!
//! A freed stack gives its pages back to the OS at once and goes to a free list; a slab with no
//! stack left in use is unmapped (except the last one, kept for the next VU).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

use corosensei::stack::{Stack, StackPointer};

/// Stacks per slab: 64 × (4 MiB + a guard page) is 256 MiB of address space per mapping, so
/// 100,000 VUs take ~1,600 mappings.
pub const SLAB_STACKS: usize = 64;

/// `MADV_GUARD_INSTALL` from the kernel's `mman-common.h` (not yet in the `libc` crate).
#[cfg(target_os = "linux")]
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// How guard pages are made: not yet known, by `madvise` (no extra mapping), by `mprotect`.
static GUARD_MODE: AtomicU8 = AtomicU8::new(GUARD_UNKNOWN);
const GUARD_UNKNOWN: u8 = 0;
const GUARD_MADVISE: u8 = 1;
const GUARD_MPROTECT: u8 = 2;

/// Whether guard pages cost a mapping each on this kernel (`None` until the first stack).
pub fn guard_pages_split_mappings() -> Option<bool> {
    match GUARD_MODE.load(Ordering::Relaxed) {
        GUARD_MADVISE => Some(false),
        GUARD_MPROTECT => Some(true),
        _ => None,
    }
}

fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 && (n as usize).is_power_of_two() => n as usize,
        _ => 4096,
    })
}

/// One coroutine stack of a slab: `size` usable bytes above one guard page. Returned to the
/// pool when dropped.
pub struct SlabStack {
    /// Lowest address of the slot (its guard page).
    slot: usize,
    /// Guard page plus usable stack.
    slot_len: usize,
}

impl SlabStack {
    /// A stack with `size` usable bytes (rounded up to pages). Every stack of the process must
    /// have the same size (the slabs are cut for the first size asked).
    pub fn new(size: usize) -> io::Result<SlabStack> {
        let slot_len = size.next_multiple_of(page_size()) + page_size();
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let slot = pool.take(slot_len)?;
        Ok(SlabStack { slot, slot_len })
    }
}

// SAFETY: [slot + page, slot + slot_len) is read-write memory owned by this stack alone until
// it is dropped, and the page at `slot` below it faults on any access (a guard page).
unsafe impl Stack for SlabStack {
    #[inline]
    fn base(&self) -> StackPointer {
        StackPointer::new(self.slot + self.slot_len).expect("a mapped address is not 0")
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.slot).expect("a mapped address is not 0")
    }
}

impl Drop for SlabStack {
    fn drop(&mut self) {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        pool.give_back(self.slot, self.slot_len);
    }
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    slabs: BTreeMap::new(),
    with_free: BTreeSet::new(),
    slot_len: 0,
});

struct Slab {
    /// Free slots, by index.
    free: Vec<u32>,
}

struct Pool {
    /// Slabs by base address.
    slabs: BTreeMap<usize, Slab>,
    /// Bases of the slabs that have a free slot.
    with_free: BTreeSet<usize>,
    /// Slot size of every slab (set by the first stack).
    slot_len: usize,
}

impl Pool {
    fn take(&mut self, slot_len: usize) -> io::Result<usize> {
        if self.slot_len == 0 {
            self.slot_len = slot_len;
        } else if self.slot_len != slot_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "coroutine stacks are {} bytes; a stack of {slot_len} bytes cannot come from the same slabs",
                    self.slot_len
                ),
            ));
        }
        let base = match self.with_free.first() {
            Some(&b) => b,
            None => {
                let b = map_slab(slot_len)?;
                self.slabs.insert(
                    b,
                    Slab {
                        free: (0..SLAB_STACKS as u32).rev().collect(),
                    },
                );
                self.with_free.insert(b);
                b
            }
        };
        let slab = self
            .slabs
            .get_mut(&base)
            .expect("with_free names mapped slabs");
        let i = slab
            .free
            .pop()
            .expect("with_free names slabs with a free slot");
        if slab.free.is_empty() {
            self.with_free.remove(&base);
        }
        Ok(base + i as usize * slot_len)
    }

    fn give_back(&mut self, slot: usize, slot_len: usize) {
        let Some((&base, slab)) = self.slabs.range_mut(..=slot).next_back() else {
            return;
        };
        let i = (slot - base) / slot_len;
        // The stack's pages go back to the OS now, whether or not the slab is kept; the guard
        // page stays a guard page.
        // SAFETY: the range is this stack's usable part, which no coroutine uses any more.
        unsafe {
            libc::madvise(
                (slot + page_size()) as *mut libc::c_void,
                slot_len - page_size(),
                libc::MADV_DONTNEED,
            );
        }
        slab.free.push(i as u32);
        self.with_free.insert(base);
        if slab.free.len() == SLAB_STACKS && self.slabs.len() > 1 {
            self.slabs.remove(&base);
            self.with_free.remove(&base);
            // SAFETY: every stack of this slab has been dropped; nothing points into it.
            unsafe {
                libc::munmap(base as *mut libc::c_void, SLAB_STACKS * slot_len);
            }
        }
    }
}

/// Maps one slab of [`SLAB_STACKS`] slots and makes the first page of each slot a guard page.
fn map_slab(slot_len: usize) -> io::Result<usize> {
    let len = SLAB_STACKS * slot_len;
    #[cfg(target_os = "linux")]
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    #[cfg(not(target_os = "linux"))]
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    // SAFETY: a fresh anonymous mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(explain(io::Error::last_os_error(), len));
    }
    let base = p as usize;
    // SAFETY: every call below works on pages of the mapping just made.
    unsafe {
        // A touched stack page must stay one 4 KiB page, even where huge pages are on always.
        #[cfg(target_os = "linux")]
        libc::madvise(p, len, libc::MADV_NOHUGEPAGE);
        for i in 0..SLAB_STACKS {
            if let Err(e) = install_guard(base + i * slot_len) {
                libc::munmap(p, len);
                return Err(explain(e, len));
            }
        }
    }
    Ok(base)
}

/// Makes the page at `addr` fault on any access.
///
/// # Safety
/// `addr` is a page of a mapping this module owns that no stack uses.
unsafe fn install_guard(addr: usize) -> io::Result<()> {
    let page = page_size();
    #[cfg(target_os = "linux")]
    if GUARD_MODE.load(Ordering::Relaxed) != GUARD_MPROTECT {
        if libc::madvise(addr as *mut libc::c_void, page, MADV_GUARD_INSTALL) == 0 {
            GUARD_MODE.store(GUARD_MADVISE, Ordering::Relaxed);
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if GUARD_MODE.load(Ordering::Relaxed) == GUARD_MADVISE {
            return Err(e);
        }
        tracing::info!(
            "this kernel has no MADV_GUARD_INSTALL ({e}): coroutine guard pages use mprotect, \
             2 memory mappings per VU (more than ~30,000 VUs need a higher vm.max_map_count)"
        );
    }
    GUARD_MODE.store(GUARD_MPROTECT, Ordering::Relaxed);
    if libc::mprotect(addr as *mut libc::c_void, page, libc::PROT_NONE) != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Adds what the user can do to a failed mapping: the usual cause is `vm.max_map_count`.
fn explain(e: io::Error, len: usize) -> io::Error {
    let mut msg = format!(
        "cannot map coroutine stacks for {SLAB_STACKS} more VUs ({} MiB of address space): {e}",
        len >> 20
    );
    #[cfg(target_os = "linux")]
    if e.raw_os_error() == Some(libc::ENOMEM) {
        let maps = std::fs::read_to_string("/proc/self/maps").map(|m| m.lines().count());
        let max = std::fs::read_to_string("/proc/sys/vm/max_map_count");
        if let (Ok(maps), Ok(max)) = (maps, max) {
            msg.push_str(&format!(
                "; the process has {maps} memory mappings and vm.max_map_count is {}: raise it \
                 (`sysctl -w vm.max_map_count=262144`) or run fewer VUs per agent",
                max.trim()
            ));
        }
    }
    io::Error::new(e.kind(), msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOT: usize = crate::coro::STACK_SIZE + 4096;

    /// The mappings of this process that overlap [lo, hi), from /proc/self/maps.
    fn mappings_within(lo: usize, hi: usize) -> usize {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines()
            .filter_map(|l| {
                let (a, b) = l.split_once(' ')?.0.split_once('-')?;
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            })
            .filter(|&(a, b)| a < hi && b > lo)
            .count()
    }

    fn pool() -> Pool {
        Pool {
            slabs: BTreeMap::new(),
            with_free: BTreeSet::new(),
            slot_len: 0,
        }
    }

    /// A whole slab of usable, distinct stacks takes one mapping where the kernel has guard
    /// regions (this one does if `guard_pages_split_mappings` says so), two per stack otherwise.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_slab_of_stacks_shares_one_mapping() {
        assert_eq!(page_size(), 4096, "the test's SLOT assumes 4 KiB pages");
        let mut p = pool();
        let slots: Vec<usize> = (0..SLAB_STACKS).map(|_| p.take(SLOT).unwrap()).collect();
        let lo = *slots.iter().min().unwrap();
        let hi = *slots.iter().max().unwrap() + SLOT;
        assert_eq!(hi - lo, SLAB_STACKS * SLOT, "one slab holds them all");
        for &s in &slots {
            // SAFETY: the usable part of stacks this test owns: top and bottom byte.
            unsafe {
                *((s + SLOT - 1) as *mut u8) = 1;
                *((s + 4096) as *mut u8) = 2;
            }
        }
        let n = mappings_within(lo, hi);
        match guard_pages_split_mappings() {
            Some(false) => assert_eq!(n, 1, "guard regions must not split the slab"),
            Some(true) => assert_eq!(n, 2 * SLAB_STACKS),
            None => panic!("the guard mode is known once a slab exists"),
        }
        // One more stack opens a second slab; giving every stack of it back unmaps it.
        let extra = p.take(SLOT).unwrap();
        assert!(extra < lo || extra >= hi);
        p.give_back(extra, SLOT);
        assert_eq!(
            p.slabs.len(),
            1,
            "an empty slab is unmapped while another exists"
        );
        for s in slots {
            p.give_back(s, SLOT);
        }
        assert_eq!(p.slabs.len(), 1, "the last slab is kept");
    }

    /// A freed stack is reused first, and comes back with its pages released (zero).
    #[cfg(target_os = "linux")]
    #[test]
    fn freed_stack_is_reused_and_released() {
        let mut p = pool();
        let a = p.take(SLOT).unwrap();
        let _b = p.take(SLOT).unwrap();
        let top = a + SLOT - 8;
        // SAFETY: the usable part of a stack this test owns.
        unsafe { *(top as *mut u64) = 0xfeed };
        p.give_back(a, SLOT);
        assert_eq!(p.take(SLOT).unwrap(), a);
        // SAFETY: as above.
        assert_eq!(unsafe { *(top as *const u64) }, 0);
        assert!(p.take(SLOT + 4096).is_err(), "one slot size per pool");
    }

    /// A write to a guard page kills the process (checked in a child: it must die by SIGSEGV).
    #[cfg(target_os = "linux")]
    #[test]
    fn guard_page_faults() {
        if std::env::var_os("VOLLEY_TEST_TOUCH_GUARD").is_some() {
            let s = SlabStack::new(crate::coro::STACK_SIZE).unwrap();
            // SAFETY: none; this must fault.
            unsafe { std::ptr::write_volatile(s.limit().get() as *mut u8, 1) };
            std::process::exit(0);
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "coro::stack::tests::guard_page_faults",
                "--test-threads=1",
            ])
            .env("VOLLEY_TEST_TOUCH_GUARD", "1")
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGSEGV),
            "the child wrote into a guard page and lived: {:?}",
            out.status
        );
    }
}
