//! Number formatting for the end-of-test summary.
//!
//! k6 renders its summary in JavaScript, so its numbers follow JS semantics: `toFixed` rounds
//! exact ties away from zero (Rust's `{:.N}` rounds them to even), `Number#toString` prints the
//! shortest round-trip form, and durations are *truncated* (not rounded) to two decimals. These
//! helpers reproduce that bit for bit so Volley's summary matches k6 v1.1.0 character for
//! character (checked against `k6-formats/json_out.stdout`: `14.959…ms` prints as `14.95ms`).

/// Extra digits requested from Rust's exact float formatter to decide JS-style rounding.
/// 40 is far beyond the distance between any f64 and a decimal tie point at ≤ 20 places.
const GUARD_DIGITS: usize = 40;

/// JS `Number.prototype.toString()`: shortest round-trip digits, exponent form outside
/// `[1e-6, 1e21)`, and `"0"` for negative zero.
pub fn format_number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let abs = x.abs();
    if (1e-6..1e21).contains(&abs) {
        return format!("{x}");
    }
    // Rust prints `1e21` / `1.5e-7`; JS always signs the exponent: `1e+21` / `1.5e-7`.
    let s = format!("{x:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
        _ => s,
    }
}

/// JS `Number.prototype.toFixed(digits)`: exact ties round away from zero.
pub(crate) fn js_to_fixed(x: f64, digits: usize) -> String {
    if !x.is_finite() || x.abs() >= 1e21 {
        return format_number(x);
    }
    let negative = x < 0.0;
    let exact = format!("{:.*}", digits + GUARD_DIGITS, x.abs());
    let (kept, tail) = exact.split_at(exact.len() - GUARD_DIGITS);
    let kept = kept.strip_suffix('.').unwrap_or(kept);
    let mut out = if tail.as_bytes().first().is_some_and(|d| *d >= b'5') {
        increment_decimal(kept)
    } else {
        kept.to_string()
    };
    if negative {
        out.insert(0, '-');
    }
    out
}

/// Adds one unit in the last place to a non-negative decimal string ("9.99" -> "10.00").
fn increment_decimal(s: &str) -> String {
    let mut bytes = s.as_bytes().to_vec();
    for i in (0..bytes.len()).rev() {
        match bytes[i] {
            b'.' => continue,
            b'9' => bytes[i] = b'0',
            d => {
                bytes[i] = d + 1;
                return String::from_utf8_lossy(&bytes).into_owned();
            }
        }
    }
    let mut out = String::with_capacity(bytes.len() + 1);
    out.push('1');
    out.push_str(&String::from_utf8_lossy(&bytes));
    out
}

/// `parseFloat(x.toFixed(prec)).toString()`: rounded, without trailing zeros.
fn fixed_trimmed(x: f64, prec: usize) -> String {
    let fixed = js_to_fixed(x, prec);
    format_number(fixed.parse::<f64>().unwrap_or(f64::NAN))
}

/// Like [`fixed_trimmed`] but truncating first, as k6 does for durations so that a value
/// just under a threshold never prints as the threshold itself.
fn fixed_trimmed_trunc(x: f64, prec: usize) -> String {
    let mult = 10f64.powi(prec as i32);
    fixed_trimmed((mult * x).trunc() / mult, prec)
}

/// A raw number the way k6 prints non-time, non-data values: six decimals, trailing zeros
/// dropped (`55.498211`, `19.45622`, `11`).
pub fn format_float(v: f64) -> String {
    fixed_trimmed(v, 6)
}

/// A duration given in milliseconds, in k6's automatic unit: `0s`, `750ns`, `490.4µs`,
/// `62.52ms`, `1.5s`, `1m2s`, `1h0m5s`. Two decimals, truncated, trailing zeros dropped.
pub fn format_duration(ms: f64) -> String {
    if !ms.is_finite() {
        return format_number(ms);
    }
    if ms == 0.0 {
        return "0s".to_string();
    }
    if ms < 0.001 {
        return format!("{}ns", format_number((ms * 1_000_000.0).trunc()));
    }
    if ms < 1.0 {
        return format!("{}µs", fixed_trimmed_trunc(ms * 1000.0, 2));
    }
    if ms < 1000.0 {
        return format!("{}ms", fixed_trimmed_trunc(ms, 2));
    }
    let second_decimals = if ms > 60_000.0 { 0 } else { 2 };
    let mut out = format!(
        "{}s",
        fixed_trimmed_trunc((ms % 60_000.0) / 1000.0, second_decimals)
    );
    let minutes = (ms / 60_000.0).trunc();
    if minutes < 1.0 {
        return out;
    }
    out = format!("{}m{out}", format_number(minutes % 60.0));
    let hours = (minutes / 60.0).trunc();
    if hours < 1.0 {
        return out;
    }
    format!("{}h{out}", format_number(hours))
}

/// The time units `summaryTimeUnit` accepts, with the factor from milliseconds and the suffix.
const TIME_UNITS: [(&str, f64, &str); 3] =
    [("s", 0.001, "s"), ("ms", 1.0, "ms"), ("us", 1000.0, "µs")];

/// Whether `unit` is a valid `summaryTimeUnit` (`s`, `ms` or `us`; empty means automatic).
pub fn is_valid_time_unit(unit: &str) -> bool {
    unit.is_empty() || TIME_UNITS.iter().any(|(name, _, _)| *name == unit)
}

/// A duration in milliseconds, forced into `unit` when it is `s`, `ms` or `us` (two fixed
/// decimals, rounded: `62.52ms`, `0.06s`, `490.40µs`); any other unit, or none, falls back to
/// [`format_duration`] like k6 does.
pub fn format_duration_in_unit(ms: f64, unit: Option<&str>) -> String {
    match unit.and_then(|u| TIME_UNITS.iter().find(|(name, _, _)| *name == u)) {
        Some((_, factor, suffix)) => format!("{}{suffix}", js_to_fixed(ms * factor, 2)),
        None => format_duration(ms),
    }
}

/// A byte amount in SI units with one significant decimal below 10: `8 B`, `8.8 kB`,
/// `47 kB`, `1.2 MB`. Append `/s` for throughputs (`2.8 kB/s`).
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    if bytes < 10.0 || !bytes.is_finite() {
        return format!("{} B", format_number(bytes));
    }
    let exp = (bytes.ln() / 1000f64.ln()).floor().clamp(0.0, 8.0);
    let scaled = ((bytes / 1000f64.powi(exp as i32)) * 10.0 + 0.5).floor() / 10.0;
    let decimals = if scaled < 10.0 { 1 } else { 0 };
    format!("{} {}", js_to_fixed(scaled, decimals), UNITS[exp as usize])
}

/// A rate (0..1) as a percentage with two decimals, truncated so that 99.999% never shows as
/// 100.00%: `75.00%`, `33.33%`.
pub fn format_percent(rate: f64) -> String {
    format!(
        "{}%",
        js_to_fixed((rate * 100.0 * 100.0).trunc() / 100.0, 2)
    )
}

/// Formats one metric value the way k6 does for the metric's kind: rates as percentages,
/// `contains: "data"` as bytes, `contains: "time"` as durations (honouring `time_unit`),
/// anything else as a raw number. Counter rates get `/s` appended by the caller.
pub fn format_value(
    value: f64,
    metric_type: &str,
    contains: &str,
    time_unit: Option<&str>,
) -> String {
    if metric_type == "rate" {
        return format_percent(value);
    }
    match contains {
        "data" => format_bytes(value),
        "time" => format_duration_in_unit(value, time_unit),
        _ => format_float(value),
    }
}

/// A counter's per-second rate: the value formatted for the metric's kind, plus `/s`
/// (`6.485407/s`, `2.8 kB/s`).
pub fn format_per_second(rate: f64, contains: &str, time_unit: Option<&str>) -> String {
    format!("{}/s", format_value(rate, "counter", contains, time_unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_to_string_follows_js() {
        assert_eq!(format_number(20.0), "20");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_number(1e21), "1e+21");
        assert_eq!(format_number(1.5e-7), "1.5e-7");
        assert_eq!(format_number(1e-7), "1e-7");
        assert_eq!(format_number(123456.5), "123456.5");
        assert_eq!(format_number(f64::NAN), "NaN");
        assert_eq!(format_number(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn to_fixed_rounds_ties_away_from_zero_like_js() {
        // 0.0078125 and 2.5 are exact binary ties: JS picks the larger candidate.
        assert_eq!(js_to_fixed(0.0078125, 6), "0.007813");
        assert_eq!(js_to_fixed(2.5, 0), "3");
        assert_eq!(js_to_fixed(0.5, 0), "1");
        // 1.005 is really 1.00499999999999989…, so it rounds down in JS too.
        assert_eq!(js_to_fixed(1.005, 2), "1.00");
        assert_eq!(js_to_fixed(9.995, 2), "9.99");
        assert_eq!(js_to_fixed(9.9951, 2), "10.00");
        assert_eq!(js_to_fixed(99.5, 0), "100");
        assert_eq!(js_to_fixed(-1.25, 1), "-1.3");
        assert_eq!(js_to_fixed(-0.0, 2), "0.00");
        assert_eq!(js_to_fixed(75.0, 2), "75.00");
        assert_eq!(js_to_fixed(1e21, 2), "1e+21");
    }

    #[test]
    fn floats_use_six_decimals_without_trailing_zeros() {
        assert_eq!(format_float(55.498211), "55.498211");
        assert_eq!(format_float(19.45622), "19.45622");
        assert_eq!(format_float(6.461334867361919), "6.461335");
        assert_eq!(format_float(48.25258072007934), "48.252581");
        assert_eq!(format_float(89.4975196273359), "89.49752");
        assert_eq!(format_float(11.0), "11");
        assert_eq!(format_float(0.0), "0");
        assert_eq!(format_float(0.0000004), "0");
    }

    #[test]
    fn durations_truncate_to_two_decimals() {
        assert_eq!(format_duration(0.0), "0s");
        assert_eq!(format_duration(0.000_75), "750ns");
        assert_eq!(format_duration(0.4904), "490.4µs");
        assert_eq!(format_duration(0.265663), "265.66µs");
        assert_eq!(format_duration(62.529), "62.52ms");
        assert_eq!(format_duration(14.959585819436075), "14.95ms");
        assert_eq!(format_duration(63.19926314999999), "63.19ms");
        assert_eq!(format_duration(1.5), "1.5ms");
        assert_eq!(format_duration(36.0009), "36ms");
        assert_eq!(format_duration(1500.0), "1.5s");
        assert_eq!(format_duration(59_999.0), "59.99s");
        assert_eq!(format_duration(60_000.0), "1m0s");
        assert_eq!(format_duration(62_000.0), "1m2s");
        assert_eq!(format_duration(62_900.0), "1m2s");
        assert_eq!(format_duration(3_605_000.0), "1h0m5s");
        assert_eq!(format_duration(90_061_000.0), "25h1m1s");
    }

    #[test]
    fn forced_time_units_keep_two_fixed_decimals() {
        assert_eq!(format_duration_in_unit(62.52, Some("ms")), "62.52ms");
        assert_eq!(format_duration_in_unit(62.52, Some("s")), "0.06s");
        assert_eq!(format_duration_in_unit(0.4904, Some("us")), "490.40µs");
        assert_eq!(format_duration_in_unit(1500.0, Some("s")), "1.50s");
        assert_eq!(format_duration_in_unit(62.529, Some("m")), "62.52ms");
        assert_eq!(format_duration_in_unit(62.529, None), "62.52ms");
        assert!(is_valid_time_unit("us"));
        assert!(is_valid_time_unit(""));
        assert!(!is_valid_time_unit("m"));
    }

    #[test]
    fn bytes_use_si_units() {
        assert_eq!(format_bytes(0.0), "0 B");
        assert_eq!(format_bytes(9.0), "9 B");
        assert_eq!(format_bytes(10.0), "10 B");
        assert_eq!(format_bytes(999.0), "999 B");
        assert_eq!(format_bytes(8780.0), "8.8 kB");
        assert_eq!(format_bytes(4680.0), "4.7 kB");
        assert_eq!(format_bytes(2834.163798309446), "2.8 kB");
        assert_eq!(format_bytes(47_000.0), "47 kB");
        assert_eq!(format_bytes(1_250_000.0), "1.3 MB");
        assert_eq!(format_bytes(3.2e9), "3.2 GB");
        assert_eq!(
            format_per_second(2834.163798309446, "data", None),
            "2.8 kB/s"
        );
    }

    #[test]
    fn percentages_truncate() {
        assert_eq!(format_percent(0.75), "75.00%");
        assert_eq!(format_percent(1.0 / 3.0), "33.33%");
        assert_eq!(format_percent(0.603490838958534), "60.34%");
        assert_eq!(format_percent(0.99999), "99.99%");
        assert_eq!(format_percent(1.0), "100.00%");
        assert_eq!(format_percent(0.0), "0.00%");
    }

    #[test]
    fn values_follow_the_metric_kind() {
        assert_eq!(format_value(0.5, "rate", "default", None), "50.00%");
        assert_eq!(format_value(8780.0, "counter", "data", None), "8.8 kB");
        assert_eq!(format_value(35.631, "trend", "time", None), "35.63ms");
        assert_eq!(format_value(35.631, "trend", "time", Some("s")), "0.04s");
        assert_eq!(
            format_value(55.498211, "trend", "default", None),
            "55.498211"
        );
        assert_eq!(format_per_second(6.485407, "default", None), "6.485407/s");
    }
}
