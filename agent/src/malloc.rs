//! Allocator settings for a run.
//!
//! Every VU allocates its own JS heap, and the JS workers' glibc arenas grow a page at a time
//! with an `mprotect` each (the kernel takes the process's memory-map lock every time): with
//! 10,000 VUs initializing at once that was a fifth of the start-up time. A larger top pad
//! makes an arena grow in big steps; pages are still committed only when touched, so resident
//! memory does not change (measured: same peak RSS at 1,000 VUs).

/// How much an arena grows by at least.
const TOP_PAD: i32 = 32 << 20;

/// Applies the settings (once, before the JS workers start). Ignored where unsupported.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters.
        unsafe {
            libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
        }
    }
}
