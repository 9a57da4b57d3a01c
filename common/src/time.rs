//! Wall-clock time as RFC 3339 text (UTC): log lines, `--out json` timestamps and archive
//! metadata all use this. The calendar arithmetic and formatting are the `time` crate's.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: RFC 3339 has four-digit years only.
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`, or with `with_nanos` as
/// `YYYY-MM-DDTHH:MM:SS.fZ` where `f` is the nanoseconds without trailing zeros (at least one
/// digit). Times beyond the four-digit years are clamped to them.
pub fn rfc3339(secs: i64, nanos: u32, with_nanos: bool) -> String {
    let secs = secs.clamp(MIN_SECS, MAX_SECS);
    let nanos = if with_nanos {
        nanos.min(999_999_999)
    } else {
        0
    };
    let formatted = OffsetDateTime::from_unix_timestamp(secs)
        .and_then(|t| t.replace_nanosecond(nanos))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok());
    // In range by construction, so this cannot fail; the fallback is for the type checker.
    let mut out = formatted.unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string());
    if with_nanos && nanos == 0 {
        // The `time` crate leaves out a zero fraction; these timestamps always carry one.
        out.insert_str(out.len() - 1, ".0");
    }
    out
}

/// Now, with second precision.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos(), false)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0, 0, false), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_795_312_766, 139_397_943, true),
            "2026-11-22T01:59:26.139397943Z"
        );
        assert_eq!(rfc3339(951_782_400, 0, false), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1, 0, false), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn fractions_are_trimmed_but_never_empty() {
        assert_eq!(rfc3339(0, 500_000_000, true), "1970-01-01T00:00:00.5Z");
        assert_eq!(rfc3339(0, 1_000, true), "1970-01-01T00:00:00.000001Z");
        assert_eq!(rfc3339(0, 0, true), "1970-01-01T00:00:00.0Z");
        assert_eq!(rfc3339(0, 123, false), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn out_of_range_years_are_clamped() {
        assert_eq!(rfc3339(i64::MAX, 0, false), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(i64::MIN, 0, false), "0000-01-01T00:00:00Z");
    }
}
