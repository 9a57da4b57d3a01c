//! Where a VU's Rust heap goes: a census of live allocations by call site over whole runs of
//! sleeping VUs, after their init and after their first request.
//!
//! Heap profilers cannot unwind the allocations VUs make on their coroutine stacks (massif and
//! heaptrack stop or crash there), which is where a VU's state and natives are made. This test
//! binary's global allocator counts live bytes itself and, while recording, keys every
//! allocation by its caller's return addresses (glibc's `backtrace`, which follows the
//! coroutines' unwind tables). Two runs with different VU counts give the cost of one more VU,
//! in total and by site (`docs/benchmarks.md`, "Memory per VU: where it goes").
//!
//! `cargo test -p volley-agent --test vu_heap -- --nocapture` prints the split; the test fails
//! when a VU's Rust heap grows past its budget. QuickJS allocates with the C allocator, not
//! through Rust's, so its heap is not counted here (the agent's unit tests account for it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use volley_agent::engine::{self, RunObserver, RunRequest};
use volley_agent::run::RunControl;

/// Return addresses kept per allocation: enough to get past the allocator's and `alloc`'s own
/// frames to the code that asked.
const DEPTH: usize = 28;
type Stack = [usize; DEPTH];

struct Census;

#[global_allocator]
static CENSUS: Census = Census;

static RECORDING: AtomicBool = AtomicBool::new(false);
/// What is recorded: live allocations (address → size, site) and the sites (stack → id).
static LIVE: Mutex<Option<HashMap<usize, (usize, u32)>>> = Mutex::new(None);
static SITES: Mutex<Option<HashMap<Stack, u32>>> = Mutex::new(None);
/// Live bytes of the threads the census looks at (not its own work, not the test's server).
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
/// The most live bytes since the last [`reset_peak`].
static PEAK_BYTES: AtomicIsize = AtomicIsize::new(0);

fn counted() -> bool {
    !QUIET.try_with(|q| q.get()).unwrap_or(true)
}

fn grew(size: usize) {
    if counted() {
        let now = LIVE_BYTES.fetch_add(size as isize, Ordering::Relaxed) + size as isize;
        PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
    }
}

fn shrank(size: usize) {
    if counted() {
        LIVE_BYTES.fetch_sub(size as isize, Ordering::Relaxed);
    }
}

fn reset_peak() -> isize {
    PEAK_BYTES.swap(LIVE_BYTES.load(Ordering::Relaxed), Ordering::Relaxed)
}

thread_local! {
    /// Set while this thread is inside the census itself (its maps allocate too), and for
    /// good on the test's own server threads.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with this thread's allocations untracked; false if it already was.
fn quietly<R>(f: impl FnOnce() -> R) -> Option<R> {
    let was = QUIET.try_with(|q| q.replace(true)).unwrap_or(true);
    if was {
        return None;
    }
    let r = f();
    let _ = QUIET.try_with(|q| q.set(false));
    Some(r)
}

fn record(ptr: *mut u8, size: usize) {
    if ptr.is_null() || !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    quietly(|| {
        let mut stack: Stack = [0; DEPTH];
        // SAFETY: `backtrace` writes at most DEPTH addresses into the buffer.
        unsafe { libc::backtrace(stack.as_mut_ptr() as *mut *mut libc::c_void, DEPTH as i32) };
        let site = {
            let mut sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
            let sites = sites.get_or_insert_with(HashMap::new);
            let n = sites.len() as u32;
            *sites.entry(stack).or_insert(n)
        };
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.get_or_insert_with(HashMap::new)
            .insert(ptr as usize, (size, site));
    });
}

fn forget(ptr: *mut u8) {
    if !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    quietly(|| {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(live) = live.as_mut() {
            live.remove(&(ptr as usize));
        }
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the census only reads
// the results.
unsafe impl GlobalAlloc for Census {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        record(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        record(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        forget(ptr);
        shrank(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            forget(ptr);
            shrank(layout.size());
            grew(new_size);
            record(p, new_size);
        }
        p
    }
}

/// Live recorded bytes and allocations by site.
#[derive(Default)]
struct Snapshot {
    bytes: usize,
    by_site: HashMap<u32, (usize, usize)>,
}

fn snapshot() -> Snapshot {
    quietly(|| {
        let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = Snapshot::default();
        for (size, site) in live.iter().flat_map(|m| m.values()) {
            s.bytes += size;
            let e = s.by_site.entry(*site).or_default();
            e.0 += size;
            e.1 += 1;
        }
        s
    })
    .unwrap_or_default()
}

fn start_recording() {
    quietly(|| {
        *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(HashMap::new());
    });
    RECORDING.store(true, Ordering::SeqCst);
}

fn stop_recording() {
    RECORDING.store(false, Ordering::SeqCst);
    quietly(|| {
        *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    });
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 that answers every request with a short body and
/// counts the requests; its threads are not part of the census.
struct Target {
    url: String,
    requests: Arc<AtomicUsize>,
}

fn target() -> Target {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    std::thread::spawn(move || {
        QUIET.with(|q| q.set(true));
        for conn in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                QUIET.with(|q| q.set(true));
                serve(conn, &count);
            });
        }
    });
    Target { url, requests }
}

fn serve(conn: TcpStream, count: &AtomicUsize) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    let mut w = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    // Request heads are bounded: the VUs send a GET of a few hundred bytes.
    let mut r = BufReader::new(conn.take(1 << 20));
    loop {
        let mut line = String::new();
        let mut head = 0;
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(n) => head += n,
            }
            if line == "\r\n" || head > 64 * 1024 {
                break;
            }
        }
        count.fetch_add(1, Ordering::SeqCst);
        let body = "ok";
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if w.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

struct Quiet;
impl RunObserver for Quiet {}

/// What one run measured: after every VU's init, and after every VU's first request.
struct Measured {
    vus: usize,
    init: Snapshot,
    request: Snapshot,
    /// The most bytes live at once (all of the process's) during the VUs' init, and during
    /// their first requests.
    init_peak: isize,
    request_peak: isize,
}

/// Waits (bounded) for `cond`, naming what it waited for when it times out.
fn wait_for(what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `vus` VUs of `bench/scripts/memory.js`'s shape (one request, then a sleep) with one JS
/// worker, recording the heap. Each VU first sleeps `INIT_SLEEP` so its state after init can
/// be seen before any request.
fn measure(vus: usize, target: &Target) -> Measured {
    const INIT_SLEEP: u64 = 6;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vu_heap");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join(format!("memory-{vus}.js"));
    std::fs::write(
        &script,
        format!(
            "import http from 'k6/http';\n\
             import {{ sleep }} from 'k6';\n\
             export const options = {{ scenarios: {{ s: {{ executor: 'per-vu-iterations', \
             vus: {vus}, iterations: 1, maxDuration: '60s' }} }} }};\n\
             export default function () {{\n\
               sleep({INIT_SLEEP});\n\
               http.get(__ENV.BASE_URL);\n\
               sleep(3);\n\
             }}\n"
        ),
    )
    .unwrap();
    let before = target.requests.load(Ordering::SeqCst);
    let control = Arc::new(RunControl::default());
    let req = RunRequest {
        script,
        env: [("BASE_URL".to_string(), target.url.clone())].into(),
        workers: 1,
        no_summary: true,
        ..Default::default()
    };
    start_recording();
    reset_peak();
    let ctl = control.clone();
    let run = std::thread::spawn(move || engine::run(req, ctl, Arc::new(Quiet)));
    let limit = Duration::from_secs(120);
    wait_for("every VU to start its iteration", limit, || {
        control.active_vus.load(Ordering::SeqCst) == vus as i64
    });
    // Every VU is inside its first sleep: what it holds now is what its init left.
    std::thread::sleep(Duration::from_millis(300));
    let init = snapshot();
    let init_peak = reset_peak();
    assert_eq!(
        target.requests.load(Ordering::SeqCst),
        before,
        "a VU's first sleep ({INIT_SLEEP} s) ended before the snapshot after init"
    );
    wait_for("every VU's first request", limit, || {
        target.requests.load(Ordering::SeqCst) == before + vus
    });
    // The responses are read and the VUs sleep again.
    std::thread::sleep(Duration::from_millis(500));
    let request = snapshot();
    let request_peak = reset_peak();
    let outcome = run.join().expect("the run panicked");
    stop_recording();
    assert_eq!(outcome.exit_code, 0, "the run failed: {:?}", outcome.error);
    Measured {
        vus,
        init,
        request,
        init_peak,
        request_peak,
    }
}

/// Function names (and source lines) for the given return addresses of this executable.
fn symbolize(addrs: &[usize]) -> HashMap<usize, String> {
    let mut names = HashMap::new();
    let base = {
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr only reads the address and fills `info`.
        unsafe { libc::dladdr(symbolize as *const libc::c_void, &mut info) };
        info.dli_fbase as usize
    };
    let mut ours = Vec::new();
    for &a in addrs {
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let found = unsafe { libc::dladdr(a as *const libc::c_void, &mut info) } != 0;
        if found && info.dli_fbase as usize == base {
            ours.push(a);
        } else {
            names.insert(a, "?".to_string());
        }
    }
    if ours.is_empty() {
        return names;
    }
    // A return address points after its call: look up the call itself.
    let args: Vec<String> = ours
        .iter()
        .map(|a| format!("{:#x}", a - base - 1))
        .collect();
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let out = std::process::Command::new("addr2line")
        .args(["-f", "-C", "-e"])
        .arg(&exe)
        .args(&args)
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let lines: Vec<&str> = text.lines().collect();
            for (i, a) in ours.iter().enumerate() {
                let func = lines.get(2 * i).copied().unwrap_or("?");
                let place = lines.get(2 * i + 1).copied().unwrap_or("?");
                let place = place.rsplit('/').next().unwrap_or(place);
                names.insert(*a, format!("{} ({place})", short(func)));
            }
        }
        _ => {
            for a in ours {
                names.insert(a, format!("{:#x}", a - base));
            }
        }
    }
    names
}

/// A function name without its generic arguments and hash.
fn short(func: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in func.chars() {
        match c {
            '<' => {
                depth += 1;
                if depth == 1 {
                    out.push_str("<…>");
                }
            }
            '>' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim_end_matches("::{{closure}}").to_string()
}

/// Frames of the allocator and of std's containers: skipped to reach the code that asked.
fn plumbing(name: &str) -> bool {
    const SKIP: [&str; 14] = [
        "vu_heap::",
        "?",
        "__rust",
        "__rdl",
        "alloc::",
        "<…>::",
        "core::",
        "std::",
        "hashbrown::",
        "backtrace",
        "__libc",
        "malloc",
        "<alloc",
        "<core",
    ];
    SKIP.iter().any(|s| name.starts_with(s))
}

/// The growth per VU between two runs, by the first frames of the code that allocated.
fn split(small: &Measured, big: &Measured, pick: fn(&Measured) -> &Snapshot) -> Vec<(f64, String)> {
    let sites = quietly(|| SITES.lock().unwrap().clone().unwrap_or_default()).unwrap();
    let stacks: HashMap<u32, Stack> = sites.into_iter().map(|(s, id)| (id, s)).collect();
    let mut addrs: Vec<usize> = stacks
        .values()
        .flatten()
        .copied()
        .filter(|a| *a != 0)
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    let names = symbolize(&addrs);
    let label = |site: &u32| -> String {
        let Some(stack) = stacks.get(site) else {
            return "?".into();
        };
        let frames: Vec<&str> = stack
            .iter()
            .filter(|a| **a != 0)
            .filter_map(|a| names.get(a).map(|s| s.as_str()))
            .collect();
        let first = frames.iter().position(|f| !plumbing(f)).unwrap_or(0);
        frames[first..]
            .iter()
            .take(3)
            .copied()
            .collect::<Vec<_>>()
            .join(" ← ")
    };
    let mut by_label: BTreeMap<String, f64> = BTreeMap::new();
    let per = (big.vus - small.vus) as f64;
    for (site, (bytes, _)) in &pick(big).by_site {
        *by_label.entry(label(site)).or_default() += *bytes as f64 / per;
    }
    for (site, (bytes, _)) in &pick(small).by_site {
        *by_label.entry(label(site)).or_default() -= *bytes as f64 / per;
    }
    let mut rows: Vec<(f64, String)> = by_label.into_iter().map(|(l, b)| (b, l)).collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    rows
}

fn print_split(title: &str, total: f64, rows: &[(f64, String)]) {
    println!("\n{title}: {total:.0} B per VU");
    for (b, l) in rows.iter().filter(|(b, _)| b.abs() >= 16.0) {
        println!("{b:>8.0}  {l}");
    }
}

#[test]
fn a_vus_rust_heap_stays_within_its_budget() {
    let target = target();
    let small = measure(20, &target);
    let big = measure(120, &target);
    let per = (big.vus - small.vus) as f64;
    let init = (big.init.bytes as f64 - small.init.bytes as f64) / per;
    let request = (big.request.bytes as f64 - small.request.bytes as f64) / per;
    print_split(
        "Rust heap per VU after init",
        init,
        &split(&small, &big, |m| &m.init),
    );
    print_split(
        "Rust heap per VU after its first request",
        request,
        &split(&small, &big, |m| &m.request),
    );
    let peak = |f: fn(&Measured) -> isize| (f(&big) as f64 - f(&small) as f64) / per;
    println!(
        "\nPeak of the Rust heap per VU: {:.0} B during init, {:.0} B during the first requests",
        peak(|m| m.init_peak),
        peak(|m| m.request_peak)
    );
    assert!(init > 0.0 && request > init, "{init} then {request}");
    // Measured 2.4 KiB after init and 35 KiB after the first request (25 KiB of it hyper's
    // buffers and dispatch channel): the budgets leave room for noise, not for a new per-VU
    // structure.
    assert!(
        init <= INIT_BUDGET,
        "a VU's Rust heap after init is {init:.0} B, over its budget of {INIT_BUDGET} B: see \
         the split above"
    );
    assert!(
        request <= REQUEST_BUDGET,
        "a VU's Rust heap after its first request is {request:.0} B, over its budget of \
         {REQUEST_BUDGET} B: see the split above"
    );
}

/// Bytes of Rust heap one more VU may hold after its init, and after its first request.
const INIT_BUDGET: f64 = 4096.0;
const REQUEST_BUDGET: f64 = 49152.0;
