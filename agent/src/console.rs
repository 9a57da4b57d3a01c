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

fn value(s: &str) -> String {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == '"' || c == '=') {
        quote(s)
    } else {
        s.to_string()
    }
}

/// Writes one log line: `time="..." level=LEVEL msg="..." k=v ...`.
pub fn log(level: &str, msg: &str, fields: &[(&str, &str)]) {
    let now = humantime_now();
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

/// RFC 3339 UTC time with second precision, without pulling a date crate.
pub fn humantime_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos(), false)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SS[.nnnnnnnnn]Z` (civil-from-days algorithm).
pub fn rfc3339(secs: i64, nanos: u32, with_nanos: bool) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (h, m, s) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    if with_nanos {
        let mut frac = format!("{nanos:09}");
        while frac.ends_with('0') && frac.len() > 1 {
            frac.pop();
        }
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{frac}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(super::rfc3339(0, 0, false), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(1_795_312_766, 139_397_943, true),
            "2026-11-22T01:59:26.139397943Z"
        );
        assert_eq!(
            super::rfc3339(951_782_400, 0, false),
            "2000-02-29T00:00:00Z"
        );
    }
}
