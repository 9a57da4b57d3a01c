//! The settings of mimalloc, the binary's allocator (`GLOBAL` in `main.rs`), that Volley
//! chooses over mimalloc's defaults.
//!
//! **Full pages kept in their size class's queue: 16 instead of 2.** A request's buffers are
//! allocated on one thread and freed on another (a JS worker and an IO thread), so many small
//! pages fill up and empty again through other threads' frees. With mimalloc's default of 2, a
//! size class's third full page leaves the queue and is abandoned, and the thread that frees into
//! it later reclaims it (`mi_abandoned_page_try_reclaim`, `_mi_arenas_page_abandon`): work that
//! grows with the pages in use, so with the VUs. With 16 the queues keep those pages: 0.2–1.5k
//! fewer instructions per `http.get` iteration at 1,000 VUs (0–2 %, the search of the kept
//! pages varies by run), 0.4–0.8k fewer at 64, and no growth of the peak RSS at 1,000 or
//! 10,000 sleeping VUs
//! (docs/benchmarks.md#what-each-change-bought). `MIMALLOC_PAGE_FULL_RETAIN` in the
//! environment still wins.

use std::ffi::{c_int, c_long};

/// `mi_option_page_full_retain` in mimalloc's `mi_option_t` (its `mimalloc.h`; the `mimalloc`
/// crate has no constant for it). The test below checks it against mimalloc's name for it.
const PAGE_FULL_RETAIN: c_int = 36;

/// Full small pages a thread keeps per size class before abandoning them.
const FULL_PAGES_RETAINED: c_long = 16;

extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
}

/// Applies Volley's settings. Call first thing in `main`: mimalloc reads them when a thread
/// first allocates, so threads started before keep the defaults (the main thread does no
/// load-generating work).
pub fn tune() {
    if std::env::var_os("MIMALLOC_PAGE_FULL_RETAIN").is_none() {
        // SAFETY: mi_option_set takes any option of mi_option_t and any value; it only
        // stores it (clamped where it is read).
        unsafe { mi_option_set(PAGE_FULL_RETAIN, FULL_PAGES_RETAINED) };
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::{c_char, c_void, CStr};

    use super::*;

    type OutputFun = unsafe extern "C" fn(msg: *const c_char, arg: *mut c_void);

    extern "C" {
        fn mi_options_print_out(out: OutputFun, arg: *mut c_void);
    }

    unsafe extern "C" fn collect(msg: *const c_char, arg: *mut c_void) {
        // SAFETY: `arg` is the `String` passed below; `msg` a NUL-terminated message.
        let out = unsafe { &mut *(arg as *mut String) };
        out.push_str(&unsafe { CStr::from_ptr(msg) }.to_string_lossy());
    }

    #[test]
    fn page_full_retain_is_the_option_mimalloc_names_so() {
        tune();
        let mut printed = String::new();
        // SAFETY: the callback writes only into `printed`, which outlives the call.
        unsafe { mi_options_print_out(collect, &mut printed as *mut String as *mut c_void) };
        let want = match std::env::var("MIMALLOC_PAGE_FULL_RETAIN") {
            Ok(v) => format!("option 'page_full_retain': {}", v.trim()),
            Err(_) => format!("option 'page_full_retain': {FULL_PAGES_RETAINED}"),
        };
        assert!(
            printed.lines().any(|l| l.trim_end() == want),
            "mimalloc's options do not show `{want}` (did mi_option_t change? PAGE_FULL_RETAIN \
             must be mi_option_page_full_retain's index):\n{printed}"
        );
    }
}
