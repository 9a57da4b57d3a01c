//! k6-style log lines on stderr, used for `console.*`, for errors the engine reports while a
//! run goes on, and (through the CLI's one `tracing` subscriber) for every log event. The
//! formats are k6's (logrus's), as `k6 run` v1.1.0 prints them:
//!
//! * text: `time="..." level=... msg="..." key=value`; on a terminal with colours,
//!   `INFO[0003] msg…  key=value` with the level coloured (the message padded to 44);
//! * json (`--log-format json`): `{"level":"info","msg":"...","source":"console","time":"..."}`,
//!   keys in alphabetical order;
//! * raw: the message alone.

use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

static VERBOSE: AtomicBool = AtomicBool::new(false);
/// Set by [`last_word`]: later log lines are dropped.
static SILENCED: AtomicBool = AtomicBool::new(false);
static FORMAT: AtomicU8 = AtomicU8::new(LogFormat::Text as u8);
/// Text lines in k6's coloured terminal form.
static HUMAN: AtomicBool = AtomicBool::new(false);
/// Where `[0003]` of the terminal form counts from.
static START: OnceLock<Instant> = OnceLock::new();
/// Runs each write of a line, e.g. to lift a live progress display drawn on the same terminal
/// while the line is written, as k6 prints its log lines above its progress bars.
static AROUND_WRITE: OnceLock<fn(&mut dyn FnMut())> = OnceLock::new();

/// The values of secrets the script read through `k6/secrets`: every log line shows
/// [`REDACTED`] in their place, as k6 v1.1.0's do (docs/k6-compatibility.md#k6secrets).
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
/// Whether [`SECRETS`] holds any value (read on every line, without the lock).
static REDACTING: AtomicBool = AtomicBool::new(false);

/// What a secret's value reads as in log lines.
pub const REDACTED: &str = "***SECRET_REDACTED***";

/// Hides `value` in every log line from now on (an empty value hides nothing).
pub fn redact(value: &str) {
    if value.is_empty() {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_string());
    }
    REDACTING.store(true, Ordering::SeqCst);
}

/// Whether a secret was read, so that log lines are redacted.
pub fn redacting() -> bool {
    REDACTING.load(Ordering::Relaxed)
}

/// `s` with every secret read so far replaced by [`REDACTED`], in the order they were read.
fn redacted(s: &str) -> Cow<'_, str> {
    if !redacting() {
        return Cow::Borrowed(s);
    }
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(s);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
        }
    }
    out
}

/// Sets, once, what every line's write runs inside: e.g. lifting a live progress display.
pub fn set_around_write(around: fn(&mut dyn FnMut())) {
    let _ = AROUND_WRITE.set(around);
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text = 0,
    Json = 1,
    Raw = 2,
}

/// Sets the format of every log line from now on. `human`: text lines in k6's coloured
/// terminal form (the caller decides: stderr is a terminal and colours are not turned off).
pub fn set_format(format: LogFormat, human: bool) {
    START.get_or_init(Instant::now);
    FORMAT.store(format as u8, Ordering::Relaxed);
    HUMAN.store(human && format == LogFormat::Text, Ordering::Relaxed);
}

fn format() -> LogFormat {
    match FORMAT.load(Ordering::Relaxed) {
        1 => LogFormat::Json,
        2 => LogFormat::Raw,
        _ => LogFormat::Text,
    }
}

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

/// Writes one log line in the format set by [`set_format`] (`time="..." level=LEVEL
/// msg="..." k=v ...` by default). Nothing is written after [`last_word`].
pub fn log(level: &str, msg: &str, fields: &[(&str, &str)]) {
    write_line(level, msg, fields, false);
}

/// Writes `msg` as an error line and silences every log line after it, from every thread: the
/// process is about to exit (a second Ctrl+C) and this line must stay its last, as k6's is.
/// Without it a warning streamed from the controller or a VU's `console.log` could land after
/// the line saying what was skipped.
pub fn last_word(msg: &str) {
    write_line("error", msg, &[], true);
}

/// Writes `line` to stderr as it is (no level or time), unless [`last_word`] was said.
pub fn plain(line: &str) {
    write_guarded(format!("{}\n", redacted(line)), false);
}

fn write_line(level: &str, msg: &str, fields: &[(&str, &str)], last: bool) {
    if redacting() {
        let msg = redacted(msg);
        let owned: Vec<(&str, Cow<'_, str>)> =
            fields.iter().map(|(k, v)| (*k, redacted(v))).collect();
        let fields: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        return write_formatted(level, &msg, &fields, last);
    }
    write_formatted(level, msg, fields, last);
}

fn write_formatted(level: &str, msg: &str, fields: &[(&str, &str)], last: bool) {
    let mut line = match format() {
        LogFormat::Json => json_line(level, msg, fields),
        LogFormat::Raw => msg.to_string(),
        LogFormat::Text if HUMAN.load(Ordering::Relaxed) => human_line(level, msg, fields),
        LogFormat::Text => text_line(level, msg, fields),
    };
    line.push('\n');
    write_guarded(line, last);
}

fn write_guarded(line: String, last: bool) {
    let mut write = || {
        // The check and the write under stderr's lock, so no line slips in after the last word.
        let mut err = std::io::stderr().lock();
        if SILENCED.load(Ordering::SeqCst) {
            return;
        }
        let _ = err.write_all(line.as_bytes());
        if last {
            SILENCED.store(true, Ordering::SeqCst);
        }
    };
    match AROUND_WRITE.get() {
        Some(around) => around(&mut write),
        None => write(),
    }
}

fn text_line(level: &str, msg: &str, fields: &[(&str, &str)]) -> String {
    let now = volley_common::time::now_rfc3339();
    let mut line = format!("time=\"{now}\" level={level}");
    // logrus leaves an empty message out and quotes the message as any other value.
    if !msg.is_empty() {
        line.push_str(" msg=");
        line.push_str(&value(msg));
    }
    for (k, v) in fields {
        line.push(' ');
        line.push_str(k);
        line.push('=');
        line.push_str(&value(v));
    }
    line
}

/// logrus's JSON: one object, keys sorted, every field a string.
fn json_line(level: &str, msg: &str, fields: &[(&str, &str)]) -> String {
    let mut m = std::collections::BTreeMap::new();
    for (k, v) in fields {
        m.insert(*k, *v);
    }
    let now = volley_common::time::now_rfc3339();
    m.insert("level", level);
    m.insert("msg", msg);
    m.insert("time", &now);
    serde_json::to_string(&m).unwrap_or_default()
}

/// logrus's coloured terminal form: `INFO[0003] msg<padded to 44>  key=value`.
fn human_line(level: &str, msg: &str, fields: &[(&str, &str)]) -> String {
    let color = match level {
        "error" | "fatal" | "panic" => 31,
        "warning" | "warn" => 33,
        "info" => 36,
        _ => 37,
    };
    let upper = level.to_ascii_uppercase();
    let short: String = upper.chars().take(4).collect();
    let secs = START.get_or_init(Instant::now).elapsed().as_secs();
    let mut line = format!("\x1b[{color}m{short}\x1b[0m[{secs:04}] {msg:<44} ");
    for (k, v) in fields {
        line.push_str(&format!(" \x1b[{color}m{k}\x1b[0m={}", value(v)));
    }
    line
}

pub fn log_error(msg: &str, fields: &[(&str, &str)]) {
    log("error", msg, fields);
}

pub use volley_common::time::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    /// As k6 v1.1.0 redacts: every occurrence, inside other text too, once the value was read.
    #[test]
    fn secrets_read_are_redacted_wherever_they_appear() {
        let value = "volley-console-secret-7";
        assert_eq!(redacted(&format!("x{value}y")), format!("x{value}y"));
        redact(value);
        redact("");
        assert_eq!(
            redacted(&format!("Bearer {value}, again {value}!")),
            "Bearer ***SECRET_REDACTED***, again ***SECRET_REDACTED***!"
        );
        assert_eq!(redacted("nothing secret"), "nothing secret");
    }

    /// The three forms, as `k6 run` v1.1.0 prints `console.warn('careful', 1)`.
    #[test]
    fn lines_take_k6s_forms() {
        let fields = [("source", "console")];
        let text = text_line("warning", "careful 1", &fields);
        assert!(text.starts_with("time=\""), "{text}");
        assert!(
            text.ends_with("\" level=warning msg=\"careful 1\" source=console"),
            "{text}"
        );
        // Quoted only when needed, and left out when empty, as `console.log('teardown')` and
        // `console.log('')` print in k6.
        let bare = text_line("info", "teardown", &fields);
        assert!(
            bare.ends_with("\" level=info msg=teardown source=console"),
            "{bare}"
        );
        let empty = text_line("info", "", &fields);
        assert!(empty.ends_with("\" level=info source=console"), "{empty}");
        let json: serde_json::Value =
            serde_json::from_str(&json_line("warning", "careful 1", &fields)).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["level", "msg", "source", "time"]);
        assert_eq!(json["msg"], "careful 1");
        let human = human_line("warning", "careful 1", &fields);
        assert!(human.starts_with("\x1b[33mWARN\x1b[0m["), "{human:?}");
        assert!(
            human.ends_with(
                "] careful 1                                     \x1b[33msource\x1b[0m=console"
            ),
            "{human:?}"
        );
    }
}
