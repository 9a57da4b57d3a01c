//! The telemetry an agent sends with every heartbeat: machine CPU and memory, this process's
//! RSS (sysinfo), plus what the run reports (VUs, rates).

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System};

/// A machine/process sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    pub cpu_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
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
        if let Some(pid) = self.pid {
            sys.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_memory(),
            );
            if let Some(p) = sys.process(pid) {
                rss = p.memory();
            }
        }
        Sample {
            cpu_percent: sys.global_cpu_usage() as f64,
            memory_used_bytes: sys.used_memory(),
            memory_total_bytes: sys.total_memory(),
            process_rss_bytes: rss,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_are_plausible() {
        let mut t = super::Telemetry::new();
        std::thread::sleep(std::time::Duration::from_millis(250));
        let s = t.sample();
        assert!(s.memory_total_bytes > 0);
        assert!(s.memory_used_bytes <= s.memory_total_bytes);
        assert!(s.process_rss_bytes > 0);
        assert!((0.0..=100.0).contains(&s.cpu_percent), "{s:?}");
        assert!(t.cpus() >= 1);
    }
}
