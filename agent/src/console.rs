//! k6-style log lines on stderr (`time=... level=... msg="..." key=value`), used for `console.*`
//! and for errors the engine reports while a run goes on.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Turns on debug output (`console.debug`), as k6's `--verbose`.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A field's value, quoted as k6's logger (logrus) quotes it: unless every character is a
/// letter, a digit or one of `-._/@^+`.
fn value(s: &str) -> String {
    let plain =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/' | '@' | '^' | '+');
    if s.is_empty() || !s.chars().all(plain) {
        quote(s)
    } else {
        s.to_string()
    }
}

/// Writes one log line: `time="..." level=LEVEL msg="..." k=v ...`.
pub fn log(level: &str, msg: &str, fields: &[(&str, &str)]) {
    let now = volley_common::time::now_rfc3339();
    let mut line = format!("time=\"{now}\" level={level} msg={}", quote(msg));
    for (k, v) in fields {
        line.push(' ');
        line.push_str(k);
        line.push('=');
        line.push_str(&value(v));
    }
    line.push('\n');
    let stderr = std::io::stderr();
    let mut lock = stderr.lock();
    let _ = lock.write_all(line.as_bytes());
}

pub fn log_error(msg: &str, fields: &[(&str, &str)]) {
    log("error", msg, fields);
}

pub use volley_common::time::rfc3339;
