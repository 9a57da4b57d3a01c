//! What one heartbeat says about an agent's load, with the agent **process** and its **host**
//! judged separately: a host kept busy by other processes is not the agent's doing, and the
//! words of every warning and abort say which of the two it is
//! (docs/failures.md#agent-overloaded). Pure functions, shared by the registry's `health` and
//! the run's overload check (`run/checks.rs`).

use volley_proto as pb;

/// One heartbeat's figures, as percentages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Utilization {
    /// The agent process's CPU, % of the whole host; `None` from agents that do not report it.
    pub process_cpu: Option<f64>,
    /// The agent process's RSS, % of the host's memory.
    pub process_memory: f64,
    /// The host's CPU, % of all its CPUs.
    pub host_cpu: f64,
    /// The host's memory in use, %.
    pub host_memory: f64,
}

/// Which part of an agent reached a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The agent process itself.
    Process,
    /// The agent's machine as a whole, with the agent process below the level.
    Host,
}

impl Part {
    /// `process` or `host` (the API's `health_cause`).
    pub fn name(self) -> &'static str {
        match self {
            Part::Process => "process",
            Part::Host => "host",
        }
    }
}

/// `used` of `total` as a percentage (0 when the total is unknown).
pub fn percent(used: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        used as f64 * 100.0 / total as f64
    }
}

impl Utilization {
    pub fn of(h: &pb::Heartbeat) -> Self {
        Utilization {
            process_cpu: h.process_cpu_percent,
            process_memory: percent(h.process_rss_bytes, h.memory_total_bytes),
            host_cpu: h.cpu_percent,
            host_memory: percent(h.memory_used_bytes, h.memory_total_bytes),
        }
    }

    /// The part at or above `cpu` % CPU or `memory` % memory: the process first (its own load
    /// is the more precise cause), then the host; `None` when neither is.
    pub fn over(&self, cpu: f64, memory: f64) -> Option<Part> {
        let process = self.process_cpu.is_some_and(|c| c >= cpu) || self.process_memory >= memory;
        if process {
            Some(Part::Process)
        } else if self.host_cpu >= cpu || self.host_memory >= memory {
            Some(Part::Host)
        } else {
            None
        }
    }

    /// Who: `agent gen-1's process` or `the host of agent gen-1`.
    pub fn subject(part: Part, agent: &str) -> String {
        match part {
            Part::Process => format!("agent {agent}'s process"),
            Part::Host => format!("the host of agent {agent}"),
        }
    }

    /// The figures of `part`: `98 % CPU, 3 % memory`; for the host, the process's figures
    /// follow in parentheses, so a reader sees whether the agent is the cause.
    pub fn figures(&self, part: Part) -> String {
        let process = format!(
            "{} CPU, {:.0} % memory",
            self.process_cpu
                .map_or_else(|| "? %".to_string(), |c| format!("{c:.0} %")),
            self.process_memory
        );
        match part {
            Part::Process => process,
            Part::Host => format!(
                "{:.0} % CPU, {:.0} % memory (the agent process {process})",
                self.host_cpu, self.host_memory
            ),
        }
    }

    /// What to do about it.
    pub fn advice(part: Part) -> &'static str {
        match part {
            Part::Process => {
                "Add agents, add sleep() to the script, or set discardResponseBodies: true"
            }
            Part::Host => {
                "Other processes load that machine: give the agent a machine of its own, or add agents, add sleep() to the script, or set discardResponseBodies: true"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(
        process_cpu: Option<f64>,
        process_memory: f64,
        host_cpu: f64,
        host_memory: f64,
    ) -> Utilization {
        Utilization {
            process_cpu,
            process_memory,
            host_cpu,
            host_memory,
        }
    }

    #[test]
    fn the_process_and_the_host_are_judged_separately() {
        // The agent saturates its machine: the process is named.
        assert_eq!(
            load(Some(95.0), 3.0, 97.0, 40.0).over(90.0, 90.0),
            Some(Part::Process)
        );
        // Something else saturates it: the host is named.
        assert_eq!(
            load(Some(12.0), 3.0, 97.0, 40.0).over(90.0, 90.0),
            Some(Part::Host)
        );
        assert_eq!(
            load(Some(12.0), 3.0, 50.0, 95.0).over(90.0, 90.0),
            Some(Part::Host)
        );
        // The process's memory alone.
        assert_eq!(
            load(Some(1.0), 91.0, 10.0, 92.0).over(90.0, 90.0),
            Some(Part::Process)
        );
        assert_eq!(load(Some(89.0), 89.0, 89.0, 89.0).over(90.0, 90.0), None);
        // An agent that does not report its process CPU: judged on the host (and its RSS).
        assert_eq!(
            load(None, 3.0, 97.0, 40.0).over(90.0, 90.0),
            Some(Part::Host)
        );
    }

    #[test]
    fn the_words_say_which_part_and_give_both_figures_for_the_host() {
        let u = load(Some(12.4), 2.0, 97.2, 41.0);
        assert_eq!(
            format!(
                "{} at {}",
                Utilization::subject(Part::Host, "gen-1"),
                u.figures(Part::Host)
            ),
            "the host of agent gen-1 at 97 % CPU, 41 % memory (the agent process 12 % CPU, 2 % memory)"
        );
        assert_eq!(
            format!(
                "{} at {}",
                Utilization::subject(Part::Process, "gen-1"),
                load(Some(98.0), 3.0, 99.0, 41.0).figures(Part::Process)
            ),
            "agent gen-1's process at 98 % CPU, 3 % memory"
        );
        assert_eq!(
            load(None, 3.0, 99.0, 41.0).figures(Part::Process),
            "? % CPU, 3 % memory"
        );
    }

    #[test]
    fn percentages_of_an_unknown_total_are_zero() {
        assert_eq!(percent(5, 0), 0.0);
        assert_eq!(percent(1, 4), 25.0);
        let h = pb::Heartbeat {
            cpu_percent: 50.0,
            memory_used_bytes: 1,
            memory_total_bytes: 4,
            process_rss_bytes: 2,
            process_cpu_percent: Some(10.0),
            ..Default::default()
        };
        assert_eq!(Utilization::of(&h), load(Some(10.0), 50.0, 50.0, 25.0));
    }
}
