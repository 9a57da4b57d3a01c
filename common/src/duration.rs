//! Durations written the way k6 scripts write them.
//!
//! k6 takes Go duration strings (`"1h2m3s"`, `"1.5s"`, `"500ms"`, `"10µs"`) with two extensions
//! (a leading day count such as `"2d12h"`, and a bare integer meaning milliseconds), and a bare
//! JSON number also means milliseconds. It prints durations with Go's `Duration.String()`
//! (`"30s"`, `"1m30s"`, `"1h0m0s"`, `"500ms"`), and Volley must print the same text in the
//! banner, summaries and errors, so both directions follow Go to the character.

use std::time::Duration;

use serde_json::Value;

use crate::text::go_quote;

/// A duration that could not be parsed. The message follows Go's wording, e.g.
/// `time: invalid duration "banana"`, because k6 users already know it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DurationError {
    message: String,
}

impl DurationError {
    fn new(message: String) -> Self {
        Self { message }
    }

    fn invalid(orig: &str) -> Self {
        Self::new(format!("time: invalid duration {}", time_quote(orig)))
    }

    /// The human-readable message (the same text as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

const NANOSECOND: u128 = 1;
const MICROSECOND: u128 = 1_000 * NANOSECOND;
const MILLISECOND: u128 = 1_000 * MICROSECOND;
const SECOND: u128 = 1_000 * MILLISECOND;
const MINUTE: u128 = 60 * SECOND;
const HOUR: u128 = 60 * MINUTE;
const DAY: u128 = 24 * HOUR;
/// Go durations are an `int64` of nanoseconds; anything beyond is an overflow there.
const MAX_NANOS: u128 = i64::MAX as u128;

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => NANOSECOND,
        // Go accepts "us", the micro sign U+00B5 and the Greek mu U+03BC.
        "us" | "\u{00b5}s" | "\u{03bc}s" => MICROSECOND,
        "ms" => MILLISECOND,
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        _ => return None,
    })
}

/// Parses Go's duration grammar, returning the sign and the magnitude in nanoseconds.
/// `orig` is the text quoted in error messages (the caller may have stripped a day prefix).
fn parse_go_magnitude(s: &str, orig: &str) -> Result<(bool, u128), DurationError> {
    let mut rest = s;
    let mut negative = false;
    if let Some(stripped) = rest.strip_prefix('-') {
        negative = true;
        rest = stripped;
    } else if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    }
    if rest == "0" {
        return Ok((negative, 0));
    }
    if rest.is_empty() {
        return Err(DurationError::invalid(orig));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let bytes = rest.as_bytes();
        if !(bytes[0] == b'.' || bytes[0].is_ascii_digit()) {
            return Err(DurationError::invalid(orig));
        }
        // Integer part.
        let int_len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        let int_digits = &rest[..int_len];
        rest = &rest[int_len..];
        let mut int_value: u128 = 0;
        for d in int_digits.bytes() {
            int_value = int_value * 10 + u128::from(d - b'0');
            if int_value > MAX_NANOS {
                return Err(DurationError::invalid(orig));
            }
        }
        // Fraction part.
        let mut frac_digits = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(|b| b.is_ascii_digit()).count();
            frac_digits = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_len == 0 && frac_digits.is_empty() {
            // "." or ".s" alone
            return Err(DurationError::invalid(orig));
        }
        // Unit: everything up to the next digit or dot.
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(DurationError::new(format!(
                "time: missing unit in duration {}",
                time_quote(orig)
            )));
        }
        let Some(unit_ns) = unit_nanos(unit) else {
            return Err(DurationError::new(format!(
                "time: unknown unit {} in duration {}",
                time_quote(unit),
                time_quote(orig)
            )));
        };
        let mut value = int_value
            .checked_mul(unit_ns)
            .filter(|v| *v <= MAX_NANOS)
            .ok_or_else(|| DurationError::invalid(orig))?;
        if !frac_digits.is_empty() {
            // Only the digits that can still matter at nanosecond precision (19 is plenty).
            let kept = &frac_digits[..frac_digits.len().min(19)];
            let mut frac: u128 = 0;
            let mut scale: u128 = 1;
            for d in kept.bytes() {
                frac = frac * 10 + u128::from(d - b'0');
                scale *= 10;
            }
            value += frac * unit_ns / scale;
            if value > MAX_NANOS {
                return Err(DurationError::invalid(orig));
            }
        }
        total += value;
        if total > MAX_NANOS + u128::from(negative) {
            return Err(DurationError::invalid(orig));
        }
    }
    Ok((negative, total))
}

/// How Go's `time` package quotes text in its errors (not `strconv.Quote`): every byte of a
/// character that is not ASCII, and every control character below a space, as `\xNN`; `"` and
/// `\\` escaped. k6 v1.1.0: `time: invalid duration "\xc3\xa9"` for `"é"`.
fn time_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if (c as u32) < 0x20 || !c.is_ascii() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.ParseFloat(s, 64)`, which k6 tries first: a number without a unit is
/// milliseconds (`"1500"`, `"1.5"`, `"5e2"`, `"1_0"`, `"inf"`, `"NaN"`). `None` where Go
/// fails: bad syntax, underscores that do not separate digits, a value beyond `f64`'s range.
/// Hexadecimal floats (`"0x1p4"`), which Go also takes, are not read.
fn go_parse_float(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let special = ["inf", "infinity", "nan"]
        .iter()
        .any(|w| unsigned.eq_ignore_ascii_case(w));
    if special {
        return s.parse().ok();
    }
    let b = unsigned.as_bytes();
    if !b.first().is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
        return None;
    }
    let text = if b.contains(&b'_') {
        let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        let separates = b
            .iter()
            .enumerate()
            .all(|(i, c)| *c != b'_' || (i > 0 && digit(i - 1) && digit(i + 1)));
        if !separates {
            return None;
        }
        std::borrow::Cow::Owned(s.replace('_', ""))
    } else {
        std::borrow::Cow::Borrowed(s)
    };
    let v: f64 = text.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Go's `time.Duration(ms * float64(time.Millisecond))`: truncated toward zero, and on amd64
/// the minimum `int64` for NaN and what does not fit (a negative duration: a request times out
/// at once, an option is refused as negative).
pub fn go_millis_to_nanos(ms: f64) -> i128 {
    let nanos = ms * MILLISECOND as f64;
    if nanos.is_nan() || nanos >= MAX_NANOS as f64 || nanos < -(MAX_NANOS as f64) {
        return i128::from(i64::MIN);
    }
    nanos.trunc() as i128
}

/// k6's extended grammar (`types.ParseExtendedDuration`) as signed nanoseconds: a number Go's
/// float parser reads is milliseconds, an optional `<days>d` prefix may precede a Go duration,
/// and the rest is Go's grammar; the errors are k6's.
fn parse_k6_signed(s: &str) -> Result<i128, DurationError> {
    if let Some(ms) = go_parse_float(s) {
        return Ok(go_millis_to_nanos(ms));
    }
    if let Some(d_pos) = s.find('d') {
        let (days_text, rest) = (&s[..d_pos], &s[d_pos + 1..]);
        // k6 reads the part after the days first, then the days with `strconv.ParseInt`.
        let mut rest_nanos: u128 = 0;
        if !rest.is_empty() {
            let (neg, nanos) = parse_go_magnitude(rest, rest)?;
            if neg && nanos > 0 {
                return Err(DurationError::new(format!("invalid time format '{rest}'")));
            }
            rest_nanos = nanos;
        }
        let days: i128 = parse_go_int(days_text)?;
        let magnitude = days
            .unsigned_abs()
            .checked_mul(DAY)
            .and_then(|v| v.checked_add(rest_nanos))
            .filter(|v| *v <= MAX_NANOS)
            .ok_or_else(|| DurationError::invalid(s))?;
        let signed = magnitude as i128;
        return Ok(if days < 0 { -signed } else { signed });
    }
    let (neg, nanos) = parse_go_magnitude(s, s)?;
    let signed = nanos as i128;
    Ok(if neg { -signed } else { signed })
}

/// Go's `strconv.ParseInt(s, 10, 64)`, with its errors.
fn parse_go_int(s: &str) -> Result<i128, DurationError> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let fail =
        |why: &str| DurationError::new(format!("strconv.ParseInt: parsing {}: {why}", go_quote(s)));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail("invalid syntax"));
    }
    let v: i128 = s.parse().map_err(|_| fail("value out of range"))?;
    if v > i128::from(i64::MAX) || v < i128::from(i64::MIN) {
        return Err(fail("value out of range"));
    }
    Ok(v)
}

fn nanos_to_duration(nanos: u128) -> Duration {
    // MAX_NANOS bounds every value, so both parts fit.
    Duration::new((nanos / SECOND) as u64, (nanos % SECOND) as u32)
}

fn non_negative(nanos: i128, shown: &str) -> Result<Duration, DurationError> {
    if nanos < 0 {
        return Err(DurationError::new(format!(
            "negative duration {} is not allowed here",
            shown
        )));
    }
    Ok(nanos_to_duration(nanos as u128))
}

/// Parses exactly Go's `time.ParseDuration` grammar (no days, no bare integers), rejecting
/// negative values. Use it where k6 itself calls Go's parser, e.g. `http.get(url, {timeout})`.
pub fn parse_go_duration(s: &str) -> Result<Duration, DurationError> {
    let (neg, nanos) = parse_go_magnitude(s, s)?;
    non_negative(
        if neg { -(nanos as i128) } else { nanos as i128 },
        &go_quote(s),
    )
}

/// Parses a k6 option duration: Go's grammar (`"1h2m3s"`, `"1.5s"`, `"500ms"`, `"10us"`,
/// `"10µs"`, `"0"`), a `<days>d` prefix (`"1d12h"`), or a bare integer meaning milliseconds
/// (`"1500"`), as k6 accepts in options, env vars and flags. Negative values are rejected.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let nanos = parse_k6_signed(s)?;
    non_negative(nanos, &go_quote(s))
}

/// Like [`parse_duration`] but keeps the sign, as nanoseconds. The options code needs it to
/// report a negative `startTime` with k6's own message instead of a parse error.
pub fn parse_duration_signed(s: &str) -> Result<i128, DurationError> {
    parse_k6_signed(s)
}

/// Reads an option duration from JSON: a number is milliseconds (k6 behaviour), a string is
/// parsed with [`parse_duration_signed`]. Returns signed nanoseconds.
pub fn duration_from_json_signed(v: &Value) -> Result<i128, DurationError> {
    match v {
        Value::Number(n) => {
            let ms = n
                .as_f64()
                .ok_or_else(|| DurationError::invalid(&n.to_string()))?;
            let nanos = ms * MILLISECOND as f64;
            if !nanos.is_finite() || nanos.abs() > MAX_NANOS as f64 {
                return Err(DurationError::invalid(&n.to_string()));
            }
            // Go truncates toward zero when converting float64 to Duration.
            Ok(nanos.trunc() as i128)
        }
        Value::String(s) => parse_k6_signed(s),
        other => Err(DurationError::new(format!(
            "a duration must be a string like \"30s\" or a number of milliseconds, got {}",
            other
        ))),
    }
}

/// Reads an option duration from JSON: a number is milliseconds (k6 behaviour), a string is
/// parsed as in [`parse_duration`]. Negative values are rejected.
pub fn duration_from_json(v: &Value) -> Result<Duration, DurationError> {
    let nanos = duration_from_json_signed(v)?;
    non_negative(nanos, &v.to_string())
}

/// Writes `v` (a fraction of `10^prec`) as Go does: a dot and the digits without trailing
/// zeros, or nothing when the fraction is zero.
fn push_frac(out: &mut String, v: u128, prec: u32) {
    if v == 0 {
        return;
    }
    let digits = format!("{:0width$}", v, width = prec as usize);
    out.push('.');
    out.push_str(digits.trim_end_matches('0'));
}

fn format_nanos(u: u128) -> String {
    let mut out = String::new();
    if u < SECOND {
        if u == 0 {
            return "0s".to_string();
        }
        let (whole, frac, prec, unit) = if u < MICROSECOND {
            (u, 0, 0, "ns")
        } else if u < MILLISECOND {
            (u / MICROSECOND, u % MICROSECOND, 3, "\u{00b5}s")
        } else {
            (u / MILLISECOND, u % MILLISECOND, 6, "ms")
        };
        out.push_str(&whole.to_string());
        push_frac(&mut out, frac, prec);
        out.push_str(unit);
        return out;
    }
    let hours = u / HOUR;
    let minutes = (u % HOUR) / MINUTE;
    let seconds = (u % MINUTE) / SECOND;
    let frac = u % SECOND;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&seconds.to_string());
    push_frac(&mut out, frac, 9);
    out.push('s');
    out
}

/// Formats like Go's `Duration.String()`, which is what k6 prints: `"30s"`, `"1m30s"`,
/// `"1h0m0s"`, `"500ms"`, `"1.5s"`, `"0s"`.
pub fn format_duration(d: Duration) -> String {
    format_nanos(d.as_nanos())
}

/// Formats signed nanoseconds like Go (`"-1.5s"`), for echoing negative values in errors.
pub fn format_signed_nanos(nanos: i128) -> String {
    if nanos < 0 {
        format!("-{}", format_nanos(nanos.unsigned_abs()))
    } else {
        format_nanos(nanos as u128)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn parses_go_strings() {
        assert_eq!(parse_duration("1h2m3s").unwrap(), Duration::from_secs(3723));
        assert_eq!(parse_duration("1.5s").unwrap(), ms(1500));
        assert_eq!(parse_duration("500ms").unwrap(), ms(500));
        assert_eq!(parse_duration("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_duration("10µs").unwrap(), Duration::from_micros(10));
        assert_eq!(
            parse_duration("10\u{03bc}s").unwrap(),
            Duration::from_micros(10)
        );
        assert_eq!(parse_duration("7ns").unwrap(), Duration::from_nanos(7));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration(".5s").unwrap(), ms(500));
        assert_eq!(parse_duration("1.s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("+2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1s1s").unwrap(), Duration::from_secs(2));
        assert_eq!(
            parse_duration("1.0000000001s").unwrap(),
            Duration::from_secs(1)
        );
        assert_eq!(
            parse_duration("2h45m0.5s").unwrap(),
            Duration::from_millis(9_900_500)
        );
    }

    #[test]
    fn parses_k6_extensions() {
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(
            parse_duration("1d12h").unwrap(),
            Duration::from_secs(129_600)
        );
        assert_eq!(parse_duration("1500").unwrap(), ms(1500));
        assert_eq!(
            parse_duration_signed("-1d1h").unwrap(),
            -(25 * HOUR as i128)
        );
        assert!(parse_duration("xd").is_err());
        assert!(parse_duration("1d-1h").is_err());
    }

    /// k6 v1.1.0's verdicts on these `timeout` params (and options: the same parser).
    #[test]
    fn numbers_go_reads_are_milliseconds_and_errors_are_k6s() {
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_micros(1500));
        assert_eq!(parse_duration("5e2").unwrap(), ms(500));
        assert_eq!(parse_duration("1_0").unwrap(), ms(10));
        assert_eq!(parse_duration(".5").unwrap(), Duration::from_micros(500));
        assert_eq!(parse_duration("+.5e1").unwrap(), ms(5));
        assert_eq!(parse_duration_signed("-1d").unwrap(), -(DAY as i128));
        for at_once in ["inf", "-Infinity", "NaN"] {
            assert_eq!(
                parse_duration_signed(at_once).unwrap(),
                i128::from(i64::MIN),
                "{at_once}"
            );
        }
        let err = |s: &str| parse_duration_signed(s).unwrap_err().to_string();
        assert_eq!(err("xd"), "strconv.ParseInt: parsing \"x\": invalid syntax");
        assert_eq!(
            err("1.5d"),
            "strconv.ParseInt: parsing \"1.5\": invalid syntax"
        );
        assert_eq!(err("d"), "strconv.ParseInt: parsing \"\": invalid syntax");
        assert_eq!(err("1d-1h"), "invalid time format '-1h'");
        assert_eq!(err("1dx"), "time: invalid duration \"x\"");
        assert_eq!(
            err("1e400"),
            "time: unknown unit \"e\" in duration \"1e400\""
        );
        assert_eq!(
            err("1__0"),
            "time: unknown unit \"__\" in duration \"1__0\""
        );
        assert_eq!(err("_10"), "time: invalid duration \"_10\"");
        assert_eq!(err("10_"), "time: unknown unit \"_\" in duration \"10_\"");
        assert_eq!(err("0x10"), "time: unknown unit \"x\" in duration \"0x10\"");
        assert_eq!(err("1x"), "time: unknown unit \"x\" in duration \"1x\"");
        assert_eq!(err("a\nb"), "time: invalid duration \"a\\x0ab\"");
        assert_eq!(err("\u{e9}"), "time: invalid duration \"\\xc3\\xa9\"");
        assert_eq!(
            err("1\u{b5}x"),
            "time: unknown unit \"\\xc2\\xb5x\" in duration \"1\\xc2\\xb5x\""
        );
        assert_eq!(err("9999999999h"), "time: invalid duration \"9999999999h\"");
    }

    #[test]
    fn errors_use_go_wording() {
        assert_eq!(
            parse_duration("banana").unwrap_err().to_string(),
            "time: invalid duration \"banana\""
        );
        assert_eq!(
            parse_duration("").unwrap_err().to_string(),
            "time: invalid duration \"\""
        );
        assert_eq!(
            parse_duration("1.5s2").unwrap_err().to_string(),
            "time: missing unit in duration \"1.5s2\""
        );
        assert_eq!(
            parse_duration("3x").unwrap_err().to_string(),
            "time: unknown unit \"x\" in duration \"3x\""
        );
        assert_eq!(
            parse_duration(".s").unwrap_err().to_string(),
            "time: invalid duration \".s\""
        );
        assert_eq!(
            parse_duration("1 s").unwrap_err().to_string(),
            "time: unknown unit \" s\" in duration \"1 s\""
        );
        assert!(parse_duration("-").is_err());
        assert!(
            parse_duration("3000000h").is_err(),
            "overflows Go's int64 nanoseconds"
        );
        assert!(parse_duration("-1s")
            .unwrap_err()
            .to_string()
            .contains("negative"));
        assert!(parse_go_duration("1500").is_err(), "Go itself needs a unit");
        assert!(parse_go_duration("1d").is_err());
        assert_eq!(parse_go_duration("2s").unwrap(), Duration::from_secs(2));
    }

    #[test]
    fn signed_parse_keeps_sign() {
        assert_eq!(parse_duration_signed("-1s").unwrap(), -(SECOND as i128));
        assert_eq!(parse_duration_signed("-0").unwrap(), 0);
        assert_eq!(format_signed_nanos(-1_500_000_000), "-1.5s");
        assert_eq!(format_signed_nanos(2_000_000_000), "2s");
    }

    #[test]
    fn json_numbers_are_milliseconds() {
        assert_eq!(duration_from_json(&json!(1500)).unwrap(), ms(1500));
        assert_eq!(
            duration_from_json(&json!(0.5)).unwrap(),
            Duration::from_micros(500)
        );
        assert_eq!(
            duration_from_json(&json!("2m")).unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            duration_from_json(&json!("banana"))
                .unwrap_err()
                .to_string(),
            "time: invalid duration \"banana\""
        );
        assert!(duration_from_json(&json!(true)).is_err());
        assert!(duration_from_json(&json!(-5)).is_err());
        assert_eq!(duration_from_json_signed(&json!(-5)).unwrap(), -5_000_000);
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(33)), "33s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m0s");
        assert_eq!(format_duration(ms(500)), "500ms");
        assert_eq!(format_duration(ms(1500)), "1.5s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(format_duration(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(
            format_duration(Duration::from_nanos(3_723_000_000_001)),
            "1h2m3.000000001s"
        );
        assert_eq!(format_duration(Duration::from_secs(86_400)), "24h0m0s");
    }

    #[test]
    fn round_trips() {
        for text in [
            "30s",
            "1m30s",
            "1h0m0s",
            "500ms",
            "1.5s",
            "10µs",
            "7ns",
            "2h45m0.5s",
            "0s",
            "33s",
            "1.234567ms",
            "10m0s",
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text, "round trip of {text}");
        }
        for nanos in [
            1u64,
            999,
            1_000,
            1_001,
            999_999,
            1_000_000,
            59_999_999_999,
            3_600_000_000_000,
        ] {
            let d = Duration::from_nanos(nanos);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
