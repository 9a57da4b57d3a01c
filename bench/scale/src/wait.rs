//! Waiting for something the harness polls (every agent registered, a run's status), always
//! within a limit whose error names what it waited for.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// Waits until `done` holds, checking every 100 ms; fails after `limit` saying `what`.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let began = Instant::now();
    while !done()? {
        if began.elapsed() > limit {
            bail!("timed out after {} s waiting for {what}", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Lets a check through at most once per `period`, the first at once: for a poll that costs the
/// controller more than the harness learns from asking every 100 ms.
pub struct Every {
    period: Duration,
    last: Option<Instant>,
}

impl Every {
    pub fn new(period: Duration) -> Self {
        Every { period, last: None }
    }

    /// Whether the check is due now (then it is counted as done).
    pub fn due(&mut self) -> bool {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < self.period)
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_that_never_ends_names_what_it_waited_for() {
        let e = wait_for("the moon", Duration::ZERO, || Ok(false)).unwrap_err();
        assert_eq!(e.to_string(), "timed out after 0 s waiting for the moon");
        let mut polls = 0;
        wait_for("three polls", Duration::from_secs(5), || {
            polls += 1;
            Ok(polls == 3)
        })
        .unwrap();
        assert_eq!(polls, 3);
    }

    #[test]
    fn a_check_is_due_at_once_then_once_a_period() {
        let mut every = Every::new(Duration::from_secs(3600));
        assert!(every.due(), "the first check is at once");
        assert!(!every.due(), "not again within the period");
        let mut always = Every::new(Duration::ZERO);
        assert!(always.due() && always.due());
    }
}
