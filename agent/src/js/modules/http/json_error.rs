//! What `res.json()` throws for a body that is not JSON: Go's `encoding/json` syntax error, with
//! the line and character k6 adds to it
//! (docs/k6-compatibility.md#scripts-from-the-wild-third-sweep).
//!
//! The body is parsed by `JSON.parse` first; only when that fails does this scanner run, to say
//! where and why as k6 does: `cannot parse json due to an error at line 1, character 2 , error:
//! invalid character '<' looking for beginning of value`. It follows the states of Go's JSON
//! scanner byte by byte, so the offset and the wording are Go's (checked against k6 v1.1.0 on
//! 3,000 mutated documents).

/// Go's limit on nested arrays and objects.
const MAX_DEPTH: usize = 10_000;

/// k6's message for `data`, or `None` when Go would accept it as JSON.
pub(super) fn k6_json_error(data: &[u8]) -> Option<String> {
    let (message, offset) = go_syntax_error(data)?;
    let (line, character) = position(data, offset);
    Some(format!(
        "cannot parse json due to an error at line {line}, character {character} , error: \
         {message}"
    ))
}

/// Where k6 says the error is: it walks the body's characters (UTF-8 runes, an invalid byte
/// being one) and stops at the one that starts at Go's offset, counting lines and the
/// characters of the current line (a newline counts as the first of its line). When no
/// character starts there (the offset falls inside a multi-byte one), it counts to the end.
fn position(data: &[u8], offset: usize) -> (usize, usize) {
    let (mut line, mut character) = (1, 0);
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\n' {
            line += 1;
            character = 0;
        }
        character += 1;
        if i == offset {
            break;
        }
        i += rune_width(&data[i..]);
    }
    (line, character)
}

/// The width of the UTF-8 sequence at the start of `b` as Go's decoder reads it: 1 for a byte
/// that does not start a valid sequence.
fn rune_width(b: &[u8]) -> usize {
    let n = match b[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return 1,
    };
    match b.get(..n).map(std::str::from_utf8) {
        Some(Ok(_)) => n,
        _ => 1,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Step {
    BeginValueOrEmpty,
    BeginValue,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Inside `true`, `false` or `null`: the literal and how many of its bytes were read.
    Literal(&'static [u8], usize),
}

#[derive(Clone, Copy)]
enum Nest {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

struct Scanner {
    step: Step,
    nest: Vec<Nest>,
    end_top: bool,
    /// Bytes read so far: Go's offset of an error.
    bytes: usize,
}

type Scan = Result<(), (String, usize)>;

/// Go's `json.Unmarshal` verdict on `data`: its syntax error's text and offset.
fn go_syntax_error(data: &[u8]) -> Option<(String, usize)> {
    let mut s = Scanner {
        step: Step::BeginValue,
        nest: Vec::new(),
        end_top: false,
        bytes: 0,
    };
    for &c in data {
        s.bytes += 1;
        if let Err(e) = s.feed(c) {
            return Some(e);
        }
    }
    // At the end Go feeds a space, which ends a number or reports an unfinished literal.
    if s.end_top {
        return None;
    }
    if let Err(e) = s.feed(b' ') {
        return Some(e);
    }
    if s.end_top {
        None
    } else {
        Some(("unexpected end of JSON input".to_owned(), s.bytes))
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

impl Scanner {
    fn error(&self, c: u8, context: &str) -> Scan {
        Err((
            format!("invalid character {} {context}", quote_char(c)),
            self.bytes,
        ))
    }

    fn push(&mut self, c: u8, n: Nest) -> Scan {
        self.nest.push(n);
        if self.nest.len() > MAX_DEPTH {
            return self.error(c, "exceeded max depth");
        }
        Ok(())
    }

    fn pop(&mut self) {
        self.nest.pop();
        if self.nest.is_empty() {
            self.step = Step::EndTop;
            self.end_top = true;
        } else {
            self.step = Step::EndValue;
        }
    }

    fn feed(&mut self, c: u8) -> Scan {
        match self.step {
            Step::BeginValueOrEmpty => {
                if is_space(c) {
                    return Ok(());
                }
                if c == b']' {
                    return self.end_value(c);
                }
                self.begin_value(c)
            }
            Step::BeginValue => self.begin_value(c),
            Step::BeginStringOrEmpty => {
                if is_space(c) {
                    return Ok(());
                }
                if c == b'}' {
                    if let Some(top) = self.nest.last_mut() {
                        *top = Nest::ObjectValue;
                    }
                    return self.end_value(c);
                }
                self.begin_string(c)
            }
            Step::BeginString => self.begin_string(c),
            Step::EndValue => self.end_value(c),
            Step::EndTop => {
                if is_space(c) {
                    Ok(())
                } else {
                    self.error(c, "after top-level value")
                }
            }
            Step::InString => {
                match c {
                    b'"' => self.step = Step::EndValue,
                    b'\\' => self.step = Step::InStringEsc,
                    0..=0x1f => return self.error(c, "in string literal"),
                    _ => {}
                }
                Ok(())
            }
            Step::InStringEsc => match c {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {
                    self.step = Step::InString;
                    Ok(())
                }
                b'u' => {
                    self.step = Step::InStringEscU(0);
                    Ok(())
                }
                _ => self.error(c, "in string escape code"),
            },
            Step::InStringEscU(n) => {
                if !c.is_ascii_hexdigit() {
                    return self.error(c, "in \\u hexadecimal character escape");
                }
                self.step = if n == 3 {
                    Step::InString
                } else {
                    Step::InStringEscU(n + 1)
                };
                Ok(())
            }
            Step::Neg => match c {
                b'0' => {
                    self.step = Step::Zero;
                    Ok(())
                }
                b'1'..=b'9' => {
                    self.step = Step::One;
                    Ok(())
                }
                _ => self.error(c, "in numeric literal"),
            },
            Step::One if c.is_ascii_digit() => Ok(()),
            Step::One | Step::Zero => match c {
                b'.' => {
                    self.step = Step::Dot;
                    Ok(())
                }
                b'e' | b'E' => {
                    self.step = Step::E;
                    Ok(())
                }
                _ => self.end_value(c),
            },
            Step::Dot => {
                if c.is_ascii_digit() {
                    self.step = Step::Dot0;
                    Ok(())
                } else {
                    self.error(c, "after decimal point in numeric literal")
                }
            }
            Step::Dot0 => match c {
                b'0'..=b'9' => Ok(()),
                b'e' | b'E' => {
                    self.step = Step::E;
                    Ok(())
                }
                _ => self.end_value(c),
            },
            Step::E if c == b'+' || c == b'-' => {
                self.step = Step::ESign;
                Ok(())
            }
            Step::E | Step::ESign => {
                if c.is_ascii_digit() {
                    self.step = Step::E0;
                    Ok(())
                } else {
                    self.error(c, "in exponent of numeric literal")
                }
            }
            Step::E0 if c.is_ascii_digit() => Ok(()),
            Step::E0 => self.end_value(c),
            Step::Literal(word, read) => {
                let want = word[read];
                if c != want {
                    let word = std::str::from_utf8(word).unwrap_or_default();
                    return self.error(
                        c,
                        &format!("in literal {word} (expecting '{}')", want as char),
                    );
                }
                self.step = if read + 1 == word.len() {
                    Step::EndValue
                } else {
                    Step::Literal(word, read + 1)
                };
                Ok(())
            }
        }
    }

    fn begin_value(&mut self, c: u8) -> Scan {
        if is_space(c) {
            return Ok(());
        }
        self.step = match c {
            b'{' => {
                self.step = Step::BeginStringOrEmpty;
                return self.push(c, Nest::ObjectKey);
            }
            b'[' => {
                self.step = Step::BeginValueOrEmpty;
                return self.push(c, Nest::ArrayValue);
            }
            b'"' => Step::InString,
            b'-' => Step::Neg,
            b'0' => Step::Zero,
            b'1'..=b'9' => Step::One,
            b't' => Step::Literal(b"true", 1),
            b'f' => Step::Literal(b"false", 1),
            b'n' => Step::Literal(b"null", 1),
            _ => return self.error(c, "looking for beginning of value"),
        };
        Ok(())
    }

    fn begin_string(&mut self, c: u8) -> Scan {
        if is_space(c) {
            return Ok(());
        }
        if c == b'"' {
            self.step = Step::InString;
            return Ok(());
        }
        self.error(c, "looking for beginning of object key string")
    }

    fn end_value(&mut self, c: u8) -> Scan {
        let Some(&top) = self.nest.last() else {
            self.step = Step::EndTop;
            self.end_top = true;
            return self.feed(c);
        };
        if is_space(c) {
            self.step = Step::EndValue;
            return Ok(());
        }
        match (top, c) {
            (Nest::ObjectKey, b':') => {
                if let Some(t) = self.nest.last_mut() {
                    *t = Nest::ObjectValue;
                }
                self.step = Step::BeginValue;
                Ok(())
            }
            (Nest::ObjectKey, _) => self.error(c, "after object key"),
            (Nest::ObjectValue, b',') => {
                if let Some(t) = self.nest.last_mut() {
                    *t = Nest::ObjectKey;
                }
                self.step = Step::BeginString;
                Ok(())
            }
            (Nest::ObjectValue, b'}') | (Nest::ArrayValue, b']') => {
                self.pop();
                Ok(())
            }
            (Nest::ObjectValue, _) => self.error(c, "after object key:value pair"),
            (Nest::ArrayValue, b',') => {
                self.step = Step::BeginValue;
                Ok(())
            }
            (Nest::ArrayValue, _) => self.error(c, "after array element"),
        }
    }
}

/// A byte as Go's JSON errors quote it: the byte taken as a Latin-1 character, in single
/// quotes, escaped as Go's `strconv.Quote` escapes what it cannot print.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_owned(),
        b'"' => "'\"'".to_owned(),
        0x07 => "'\\a'".to_owned(),
        0x08 => "'\\b'".to_owned(),
        0x0c => "'\\f'".to_owned(),
        b'\n' => "'\\n'".to_owned(),
        b'\r' => "'\\r'".to_owned(),
        b'\t' => "'\\t'".to_owned(),
        0x0b => "'\\v'".to_owned(),
        b'\\' => "'\\\\'".to_owned(),
        0..=0x1f | 0x7f => format!("'\\x{c:02x}'"),
        0x80..=0xa0 | 0xad => format!("'\\u{c:04x}'"),
        _ => format!("'{}'", c as char),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each body with the message k6 v1.1.0 throws for it (captured from k6's `res.json()`).
    #[test]
    fn the_errors_are_k6s_with_gos_wording_and_k6s_positions() {
        let cases: &[(&str, &str)] = &[
            ("<html>", "line 1, character 2 , error: invalid character '<' looking for beginning of value"),
            ("", "line 1, character 0 , error: unexpected end of JSON input"),
            (" ", "line 1, character 1 , error: unexpected end of JSON input"),
            ("{\"a\": 1,", "line 1, character 8 , error: unexpected end of JSON input"),
            ("{\"a\" 1}", "line 1, character 7 , error: invalid character '1' after object key"),
            ("{\"a\": 1} x", "line 1, character 10 , error: invalid character 'x' after top-level value"),
            ("{a: 1}", "line 1, character 3 , error: invalid character 'a' looking for beginning of object key string"),
            ("tru", "line 1, character 3 , error: invalid character ' ' in literal true (expecting 'e')"),
            ("1.x", "line 1, character 3 , error: invalid character 'x' after decimal point in numeric literal"),
            ("1e", "line 1, character 2 , error: invalid character ' ' in exponent of numeric literal"),
            ("\"a\\x\"", "line 1, character 5 , error: invalid character 'x' in string escape code"),
            ("\"\\u12g4\"", "line 1, character 7 , error: invalid character 'g' in \\u hexadecimal character escape"),
            ("\n\n  {\"a\":\n  x}", "line 4, character 5 , error: invalid character 'x' looking for beginning of value"),
            ("{\"é\": é}", "line 1, character 8 , error: invalid character 'Ã' looking for beginning of value"),
            ("-", "line 1, character 1 , error: invalid character ' ' in numeric literal"),
            ("01", "line 1, character 2 , error: invalid character '1' after top-level value"),
            ("\"\t\"", "line 1, character 3 , error: invalid character '\\t' in string literal"),
            ("[1 2]", "line 1, character 5 , error: invalid character '2' after array element"),
            ("  \n", "line 2, character 1 , error: unexpected end of JSON input"),
            ("{\"a\":1,}", "line 1, character 8 , error: invalid character '}' looking for beginning of object key string"),
            ("[true,éfalse,null]", "line 1, character 18 , error: invalid character 'Ã' looking for beginning of value"),
            ("\0", "line 1, character 1 , error: invalid character '\\x00' looking for beginning of value"),
        ];
        for (body, want) in cases {
            let got = k6_json_error(body.as_bytes());
            let want = format!("cannot parse json due to an error at {want}");
            assert_eq!(got.as_deref(), Some(want.as_str()), "body {body:?}");
        }
    }

    #[test]
    fn what_go_accepts_is_no_error() {
        for body in [
            "null",
            " {\"a\": [1, -2.5e+3, true, false, null, \"\\u00e9\"]} \n",
            "0",
            "[]",
            "{}",
        ] {
            assert_eq!(k6_json_error(body.as_bytes()), None, "body {body:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(
            k6_json_error(deep.as_bytes()).as_deref(),
            Some(
                "cannot parse json due to an error at line 1, character 10001 , error: invalid \
                 character '[' exceeded max depth"
            )
        );
    }
}
