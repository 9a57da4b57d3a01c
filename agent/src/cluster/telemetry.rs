//! The telemetry an agent sends with every heartbeat: the host's CPU and memory, and this
//! process's own CPU and RSS (sysinfo, which reads `/proc`), plus what the run reports (VUs,
//! rates). The host's figures include every other process on the machine; the process's are
//! the agent's alone, so the controller can tell which one is overloaded
//! (docs/failures.md#agent-overloaded).

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System};

/// A host/process sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// The host's CPU use, % of all its logical CPUs together (0–100).
    pub cpu_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// This process's CPU use since the previous sample, % of all the host's logical CPUs
    /// together (0–100); `None` where it cannot be read.
    pub process_cpu_percent: Option<f64>,
    pub process_rss_bytes: u64,
}

/// Samples CPU and memory. CPU usage needs two refreshes some time apart, so keep one
/// `Telemetry` and call [`Telemetry::sample`] periodically (every heartbeat).
pub struct Telemetry {
    /// None where sysinfo cannot read the system (then samples are zeros).
    sys: Option<System>,
    pid: Option<Pid>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        let sys = match System::new_with_specifics(RefreshKind::nothing()) {
            Ok(mut sys) => {
                sys.refresh_cpu_usage();
                sys.refresh_memory();
                // The first process refresh sets the reference the next one's CPU use is
                // measured from.
                if let Ok(pid) = sysinfo::get_current_pid() {
                    sys.refresh_processes_specifics(
                        ProcessesToUpdate::Some(&[pid]),
                        true,
                        ProcessRefreshKind::nothing().with_memory().with_cpu(),
                    );
                }
                Some(sys)
            }
            Err(e) => {
                tracing::warn!("system telemetry unavailable: {e}");
                None
            }
        };
        Telemetry {
            sys,
            pid: sysinfo::get_current_pid().ok(),
        }
    }

    /// Logical CPUs of this machine.
    pub fn cpus(&self) -> u32 {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    }

    pub fn sample(&mut self) -> Sample {
        let Some(sys) = self.sys.as_mut() else {
            return Sample::default();
        };
        sys.refresh_cpu_usage();
        sys.refresh_memory();
        let mut rss = 0;
        let mut process_cpu = None;
        if let Some(pid) = self.pid {
            // Measured over the same interval as the host's CPU use just refreshed: sysinfo
            // divides the process's ticks by the host's, as a % of one CPU.
            sys.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_memory().with_cpu(),
            );
            let cpus = sys.cpus().len();
            if let Some(p) = sys.process(pid) {
                rss = p.memory();
                if cpus > 0 {
                    process_cpu = Some(share_of_host(p.cpu_usage() as f64, cpus));
                }
            }
        }
        Sample {
            cpu_percent: (sys.global_cpu_usage() as f64).clamp(0.0, 100.0),
            memory_used_bytes: sys.used_memory(),
            memory_total_bytes: sys.total_memory(),
            process_cpu_percent: process_cpu,
            process_rss_bytes: rss,
        }
    }
}

/// The agent process's totals since it started, for `/metrics` (`cluster::probe`): CPU time
/// (a counter, so a scraper computes rates over its own interval) and resident memory now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessTotals {
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// Reads [`ProcessTotals`] from the kernel (`getrusage` and `/proc/self/statm`); zeros where
/// they cannot be read.
pub fn process_totals() -> ProcessTotals {
    // SAFETY: getrusage only writes the struct it is given; zeroed is a valid `rusage`.
    let cpu_seconds = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut u) == 0 {
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            secs(u.ru_utime) + secs(u.ru_stime)
        } else {
            0.0
        }
    };
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    let rss_pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    ProcessTotals {
        cpu_seconds,
        rss_bytes: rss_pages.saturating_mul(page),
    }
}

/// A process's CPU use as a % of one CPU (what `top` shows, up to 100 × `cpus`) → as a % of
/// the whole host (0–100).
fn share_of_host(of_one_cpu: f64, cpus: usize) -> f64 {
    if !of_one_cpu.is_finite() {
        return 0.0;
    }
    (of_one_cpu / cpus.max(1) as f64).clamp(0.0, 100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn process_cpu_is_a_share_of_the_whole_host() {
        assert_eq!(super::share_of_host(100.0, 4), 25.0);
        assert_eq!(super::share_of_host(800.0, 4), 100.0);
        assert_eq!(super::share_of_host(f64::NAN, 4), 0.0);
        assert_eq!(super::share_of_host(50.0, 0), 50.0);
    }

    /// A thread spinning for the sample's interval shows as about one CPU of the host in the
    /// process's figure.
    #[test]
    fn a_busy_thread_shows_in_the_process_cpu() {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spin = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            })
        };
        // sysinfo reports 0 for a process whose first reference reading had no CPU time yet
        // (a test process just started): let the spinner run a little before it.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut t = super::Telemetry::new();
        let cpus = t.sys.as_ref().map_or(1, |s| s.cpus().len().max(1));
        std::thread::sleep(std::time::Duration::from_millis(600));
        let s = t.sample();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spin.join().unwrap();
        let process = s.process_cpu_percent.expect("process CPU is read on Linux");
        let one_cpu = 100.0 / cpus as f64;
        // On a loaded machine (the whole test suite on 2 shared cores) the spinner gets far
        // less than a whole CPU; a tenth of one still tells it from an idle process, which
        // measures 0 over such a window.
        assert!(
            process >= one_cpu / 10.0 && process <= 100.0,
            "process CPU {process} % of a {cpus}-CPU host, spinning one thread: {s:?}"
        );
    }

    #[test]
    fn process_totals_are_read() {
        let t = super::process_totals();
        assert!(t.rss_bytes > 0, "{t:?}");
        assert!(t.cpu_seconds > 0.0 && t.cpu_seconds.is_finite(), "{t:?}");
    }

    #[test]
    fn samples_are_plausible() {
        let mut t = super::Telemetry::new();
        std::thread::sleep(std::time::Duration::from_millis(250));
        let s = t.sample();
        assert!(s.memory_total_bytes > 0);
        assert!(s.memory_used_bytes <= s.memory_total_bytes);
        assert!(s.process_rss_bytes > 0);
        assert!((0.0..=100.0).contains(&s.cpu_percent), "{s:?}");
        assert!(s
            .process_cpu_percent
            .is_some_and(|p| (0.0..=100.0).contains(&p)));
        assert!(t.cpus() >= 1);
    }
}
