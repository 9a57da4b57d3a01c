//! The open-files limit: the harness and the controller (which inherits the limit) each hold
//! one connection per simulated agent, so an agent count needs that many descriptors.

use crate::dashboards::MAX_DASHBOARDS;

/// Raises this process's open-files soft limit to its hard limit (the controllers it starts
/// inherit it) and returns the limit in force.
pub fn raise_open_files() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

/// Open files `agents` agents need in this process and in the controller: one connection per
/// agent and per dashboard, plus room for the rest of each process.
pub fn open_files_needed(agents: usize) -> u64 {
    (agents + MAX_DASHBOARDS) as u64 + 256
}

/// Why `agents` agents cannot be measured under the open-files limit `files` (`None`: they can).
pub fn too_many(agents: usize, files: u64) -> Option<String> {
    let need = open_files_needed(agents);
    (need > files).then(|| format!(
        "needs {need} open files in this process and in the controller, the limit is {files} (ulimit -n: its hard limit, raise it with `ulimit -Hn` or limits.conf)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_20000_file_limit_holds_5000_agents_and_says_why_not_20000() {
        assert_eq!(too_many(5000, 20_000), None);
        let why = too_many(20_000, 20_000).unwrap();
        assert!(why.starts_with("needs 20320 open files"), "{why}");
        assert!(why.contains("the limit is 20000"), "{why}");
    }
}
