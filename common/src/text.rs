//! Echoing input back in messages without echoing all of it. Errors name the value that was
//! wrong, but a value can be megabytes (a tar entry name, a query parameter, a JSON key), and an
//! error message that repeats it costs its size again in memory, logs and answers. Every echoed
//! value goes through [`bounded`].

use std::borrow::Cow;

/// How many bytes of a value a message repeats by default.
pub const ECHO_BYTES: usize = 200;

/// `s` itself if it has at most `max` bytes, else its first `max` bytes (cut at a character
/// boundary) followed by `…(N bytes)`, N being the whole value's size.
pub fn bounded(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…({} bytes)", &s[..end], s.len()))
}

/// [`bounded`] with the default [`ECHO_BYTES`].
pub fn echo(s: &str) -> Cow<'_, str> {
    bounded(s, ECHO_BYTES)
}

/// Whether `c` changes how a terminal shows what follows rather than showing itself: a control
/// character (C0, DEL, C1: escape sequences, carriage return, bell) or a Unicode
/// bidirectional control (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069, which reorder
/// the text around them: "Trojan Source", CVE-2021-42574).
pub fn is_terminal_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` as a terminal may show it: each [`is_terminal_control`] character but newline and tab
/// escaped as Rust writes it (`\u{1b}`), everything else as it is. For text another client
/// chose (a run's note) printed by the CLI.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s
        .chars()
        .any(|c| c != '\n' && c != '\t' && is_terminal_control(c))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c != '\n' && c != '\t' && is_terminal_control(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`echo`] in double quotes with escapes, as `{:?}` shows a string.
pub fn quoted(s: &str) -> String {
    format!("{:?}", echo(s))
}

/// Go's `strconv.Quote`, as k6's Go error messages quote a value: double quotes, with what it
/// cannot print escaped (`\n`, `\x07`... as Go writes them).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || c == '\u{a0}' || c == '\u{ad}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_would_drive_a_terminal() {
        assert!(matches!(printable("plain\nnote\tok é"), Cow::Borrowed(_)));
        assert_eq!(
            printable("\x1b[2Jred\r\u{7}\u{9b}x\u{202e}gpj.exe"),
            "\\u{1b}[2Jred\\u{d}\\u{7}\\u{9b}x\\u{202e}gpj.exe"
        );
        assert!(is_terminal_control('\u{2067}') && !is_terminal_control('é'));
    }

    #[test]
    fn short_values_are_kept() {
        assert_eq!(bounded("abc", 3), "abc");
        assert!(matches!(bounded("abc", 3), Cow::Borrowed(_)));
        assert_eq!(echo(""), "");
    }

    #[test]
    fn long_values_are_cut_and_sized() {
        assert_eq!(bounded("abcdef", 3), "abc…(6 bytes)");
        let huge = "n".repeat(8 << 20);
        let e = echo(&huge);
        assert!(e.len() < ECHO_BYTES + 32, "{}", e.len());
        assert!(e.ends_with("…(8388608 bytes)"), "{e}");
    }

    #[test]
    fn cuts_at_character_boundaries() {
        // "é" is 2 bytes: a cut after 3 bytes keeps 1 character and a half, so 1.
        assert_eq!(bounded("éé", 3), "é…(4 bytes)");
    }
}
