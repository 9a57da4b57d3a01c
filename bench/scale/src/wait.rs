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
}
