//! Wall-clock time as RFC 3339 text (UTC), without a date crate: log lines, `--out json`
//! timestamps and archive metadata all use this.

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

/// Now, with second precision.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos(), false)
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
