//! RFC 3339 timestamps as unix milliseconds, without a date-time dependency: the state machine
//! only needs to parse them, compute differences and print one canonical form.

use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

const MS_PER_DAY: i64 = 86_400_000;
/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: four-digit years only.
const MIN_MS: i64 = -62_135_596_800_000;
const MAX_MS: i64 = 253_402_300_799_999;

/// The current time in the canonical form. Call it where commands are built, never inside
/// the state machine.
pub fn now_rfc3339() -> String {
    let ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(MAX_MS),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(-MIN_MS),
    };
    format_rfc3339(ms.clamp(MIN_MS, MAX_MS))
}

/// What is wrong with a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimestampError {
    #[error("expected YYYY-MM-DDTHH:MM:SS followed by Z or an offset")]
    Shape,
    #[error("the {what} is not {len} digits")]
    NotDigits { what: &'static str, len: usize },
    #[error("expected {what} at position {position}")]
    Expected { what: &'static str, position: usize },
    #[error("month {0} is not 1..12")]
    Month(i64),
    #[error("year 0000 is out of range")]
    YearZero,
    #[error("{year:04}-{month:02} has no day {day}")]
    Day { year: i64, month: i64, day: i64 },
    #[error("time {hour:02}:{minute:02}:{second:02} is out of range")]
    Time { hour: i64, minute: i64, second: i64 },
    #[error("the fraction after '.' has no digits")]
    EmptyFraction,
    #[error("offset {hour:02}:{minute:02} is out of range")]
    Offset { hour: i64, minute: i64 },
    #[error("expected Z or an offset like +02:00 at the end")]
    End,
    #[error("the instant is outside the years 0001..9999 in UTC")]
    Range,
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into unix milliseconds (fractions beyond
/// milliseconds are truncated). The error says what is wrong.
pub fn parse_rfc3339(s: &str) -> Result<i64, TimestampError> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 64 {
        return Err(TimestampError::Shape);
    }
    let num = |from: usize, len: usize, what: &'static str| -> Result<i64, TimestampError> {
        let part = &b[from..from + len];
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(TimestampError::NotDigits { what, len });
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, want: &[u8], what: &'static str| -> Result<(), TimestampError> {
        if want.contains(&b[at]) {
            Ok(())
        } else {
            Err(TimestampError::Expected {
                what,
                position: at + 1,
            })
        }
    };
    let year = num(0, 4, "year")?;
    sep(4, b"-", "'-'")?;
    let month = num(5, 2, "month")?;
    sep(7, b"-", "'-'")?;
    let day = num(8, 2, "day")?;
    sep(10, b"Tt", "'T'")?;
    let hour = num(11, 2, "hour")?;
    sep(13, b":", "':'")?;
    let minute = num(14, 2, "minute")?;
    sep(16, b":", "':'")?;
    let second = num(17, 2, "second")?;
    if !(1..=12).contains(&month) {
        return Err(TimestampError::Month(month));
    }
    if year == 0 {
        return Err(TimestampError::YearZero);
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(TimestampError::Day { year, month, day });
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(TimestampError::Time {
            hour,
            minute,
            second,
        });
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                frac_ms = frac_ms * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return Err(TimestampError::EmptyFraction);
        }
        for _ in (i - start)..3 {
            frac_ms *= 10;
        }
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            sep(i + 3, b":", "':' in the offset")?;
            let oh = num(i + 1, 2, "offset hour")?;
            let om = num(i + 4, 2, "offset minute")?;
            if oh > 23 || om > 59 {
                return Err(TimestampError::Offset {
                    hour: oh,
                    minute: om,
                });
            }
            let m = oh * 60 + om;
            if *sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return Err(TimestampError::End),
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_min * 60;
    let ms = secs * 1000 + frac_ms;
    if !(MIN_MS..=MAX_MS).contains(&ms) {
        return Err(TimestampError::Range);
    }
    Ok(ms)
}

/// The canonical form: UTC, `Z`, milliseconds only when not zero (as the k6 legacy API:
/// `2020-08-13T18:28:45Z`).
pub fn format_rfc3339(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(MS_PER_DAY);
    let in_day = unix_ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (secs, ms) = (in_day / 1000, in_day % 1000);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if ms == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2020-08-13T18:28:45Z"), Ok(1_597_343_325_000));
        assert_eq!(
            parse_rfc3339("2020-08-13T20:28:45+02:00"),
            Ok(1_597_343_325_000)
        );
        assert_eq!(
            parse_rfc3339("2020-08-13T17:58:45-00:30"),
            Ok(1_597_343_325_000)
        );
        assert_eq!(
            parse_rfc3339("2020-08-13t18:28:45.5z"),
            Ok(1_597_343_325_500)
        );
        assert_eq!(
            parse_rfc3339("2020-08-13T18:28:45.123456789Z"),
            Ok(1_597_343_325_123)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999Z"), Ok(-1));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Ok(951_782_400_000));
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Ok(MIN_MS));
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59.999Z"), Ok(MAX_MS));
        // A leap second counts into the next minute.
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Ok(1_483_228_800_000));
    }

    #[test]
    fn canonical_form() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_597_343_325_000), "2020-08-13T18:28:45Z");
        assert_eq!(
            format_rfc3339(1_597_343_325_007),
            "2020-08-13T18:28:45.007Z"
        );
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_rfc3339(MIN_MS), "0001-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(MAX_MS), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn round_trip_over_many_days() {
        // Every day of 1896..2104 at a few times of day, leap years and centuries included.
        let start = parse_rfc3339("1896-01-01T00:00:00Z").unwrap_or_default();
        for day in 0..(208 * 366) {
            for ms in [0, 1, 43_200_123, MS_PER_DAY - 1] {
                let t = start + day * MS_PER_DAY + ms;
                let s = format_rfc3339(t);
                assert_eq!(parse_rfc3339(&s), Ok(t), "{s}");
            }
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2020-08-13",
            "2020-08-13T18:28:45",
            "2020-08-13 18:28:45Z",
            "2020-13-01T00:00:00Z",
            "2020-00-01T00:00:00Z",
            "2021-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2020-04-31T00:00:00Z",
            "2020-08-13T24:00:00Z",
            "2020-08-13T18:60:00Z",
            "2020-08-13T18:28:61Z",
            "2020-08-13T18:28:45.Z",
            "2020-08-13T18:28:45+0200",
            "2020-08-13T18:28:45+24:00",
            "2020-08-13T18:28:45Zjunk",
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "２020-08-13T18:28:45Z",
            "2020-8-13T18:28:45Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?} was accepted");
        }
    }

    /// The errors say what is wrong, where.
    #[test]
    fn errors_name_the_problem() {
        let cases = [
            (
                "2020-08-13",
                "expected YYYY-MM-DDTHH:MM:SS followed by Z or an offset",
            ),
            ("2020-08-13 18:28:45Z", "expected 'T' at position 11"),
            ("2020-0a-13T18:28:45Z", "the month is not 2 digits"),
            ("2020-13-01T00:00:00Z", "month 13 is not 1..12"),
            ("0000-01-01T00:00:00Z", "year 0000 is out of range"),
            ("2021-02-29T00:00:00Z", "2021-02 has no day 29"),
            ("2020-08-13T24:00:00Z", "time 24:00:00 is out of range"),
            (
                "2020-08-13T18:28:45.Z",
                "the fraction after '.' has no digits",
            ),
            ("2020-08-13T18:28:45+24:00", "offset 24:00 is out of range"),
            (
                "2020-08-13T18:28:45+0200",
                "expected Z or an offset like +02:00 at the end",
            ),
            (
                "0001-01-01T00:00:00+00:01",
                "the instant is outside the years 0001..9999 in UTC",
            ),
        ];
        for (input, want) in cases {
            let got = parse_rfc3339(input).err().map(|e| e.to_string());
            assert_eq!(got.as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn now_is_canonical() {
        let now = now_rfc3339();
        let ms = parse_rfc3339(&now);
        assert!(ms.is_ok(), "{now}");
        assert_eq!(format_rfc3339(ms.unwrap_or_default()), now);
    }
}
