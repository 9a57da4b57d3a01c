//! Capture of a child's output line by line with arrival times, and the reading of its
//! `console.*` log lines.

use std::io::{BufRead, BufReader};

/// The lines of a child's pipe, each stamped with the time it arrived, collected by a thread so
/// a test can wait for a line while the process runs (and measure when it came).
#[derive(Clone)]
pub struct LineLog {
    inner: std::sync::Arc<(std::sync::Mutex<LineLogState>, std::sync::Condvar)>,
}

#[derive(Default)]
struct LineLogState {
    lines: Vec<(std::time::Instant, String)>,
    closed: bool,
    closed_at: Option<std::time::Instant>,
}

impl LineLog {
    /// Starts reading `pipe` line by line until it closes.
    pub fn capture<R: std::io::Read + Send + 'static>(pipe: R) -> LineLog {
        let log = LineLog {
            inner: std::sync::Arc::new((
                std::sync::Mutex::new(LineLogState::default()),
                std::sync::Condvar::new(),
            )),
        };
        let inner = log.inner.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = reader.read_until(b'\n', &mut buf).unwrap_or(0);
                let (lock, cvar) = &*inner;
                let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    st.closed = true;
                    st.closed_at = Some(std::time::Instant::now());
                    cvar.notify_all();
                    return;
                }
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                st.lines.push((std::time::Instant::now(), line));
                cvar.notify_all();
            }
        });
        log
    }

    /// Waits up to `timeout` for a line matching `pred` (lines already read count too); returns
    /// when that line arrived. `None` on timeout or when the pipe closed without a match.
    pub fn wait_for(
        &self,
        pred: impl Fn(&str) -> bool,
        timeout: std::time::Duration,
    ) -> Option<std::time::Instant> {
        let deadline = std::time::Instant::now() + timeout;
        let (lock, cvar) = &*self.inner;
        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = 0;
        loop {
            if let Some((t, _)) = st.lines[seen..].iter().find(|(_, l)| pred(l)) {
                return Some(*t);
            }
            seen = st.lines.len();
            let now = std::time::Instant::now();
            if st.closed || now >= deadline {
                return None;
            }
            st = cvar
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits up to `timeout` for the pipe to close; true when it did.
    pub fn wait_closed(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let (lock, cvar) = &*self.inner;
        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !st.closed {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            st = cvar
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// When the pipe closed (for a child's stdout or stderr: about when it exited).
    pub fn closed_at(&self) -> Option<std::time::Instant> {
        let (lock, _) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).closed_at
    }

    /// Every line read so far, with its arrival time.
    pub fn lines(&self) -> Vec<(std::time::Instant, String)> {
        let (lock, _) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).lines.clone()
    }

    /// Everything read so far, one line per line.
    pub fn text(&self) -> String {
        self.lines().into_iter().map(|(_, l)| l + "\n").collect()
    }

    /// The last `n` lines read so far, each indented by four spaces, for a failure message.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|(_, l)| format!("    {l}\n"))
            .collect()
    }
}

/// The message of a `console.*` log line as agents and `volley run` print it
/// (`time="…" level=info msg="…" source=console`); `None` for other lines.
pub fn console_message(line: &str) -> Option<String> {
    if !line.ends_with("source=console") {
        return None;
    }
    let start = line.find(" msg=")? + " msg=".len();
    // As k6's logger writes it: bare when the message is plain (`msg=ITER`), else quoted.
    let Some(quoted) = line[start..].strip_prefix('"') else {
        let bare = &line[start..];
        return Some(bare[..bare.find(' ').unwrap_or(bare.len())].to_string());
    };
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_log_waits_for_lines_and_the_end() {
        let log = LineLog::capture(std::io::Cursor::new(b"a\nMARK:x\r\nlast".to_vec()));
        assert!(log
            .wait_for(|l| l == "MARK:x", std::time::Duration::from_secs(5))
            .is_some());
        assert!(log.wait_closed(std::time::Duration::from_secs(5)));
        assert!(log.closed_at().is_some());
        assert!(log
            .wait_for(|l| l == "nope", std::time::Duration::from_secs(5))
            .is_none());
        assert_eq!(log.text(), "a\nMARK:x\nlast\n");
    }

    #[test]
    fn console_messages_are_unescaped() {
        let line =
            r#"time="2026-01-01T00:00:00Z" level=info msg="SHARED 1 \"x\" \\ y" source=console"#;
        assert_eq!(
            console_message(line).as_deref(),
            Some(r#"SHARED 1 "x" \ y"#)
        );
        assert_eq!(
            console_message(r#"time="t" level=info msg="registered with the controller""#),
            None
        );
        assert_eq!(
            console_message(r#"time="t" level=info msg=ITER source=console"#).as_deref(),
            Some("ITER")
        );
    }
}
