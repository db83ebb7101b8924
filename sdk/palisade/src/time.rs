//! Instants as RFC 3339 text, without a calendar crate (filters stay small): one formatter for
//! CloudEvents `time` and OPA-Envoy's `attributes.request.time` (protojson's layout).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `format_rfc3339`, with the Unix epoch for instants RFC 3339 cannot write.
pub fn rfc3339(at: SystemTime) -> String {
    format_rfc3339(at).unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

const SECS_PER_DAY: i64 = 86_400;
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z, as seconds from the Unix epoch.
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

/// Seconds and nanoseconds from the Unix epoch (`nanos` always counts forward).
pub(crate) fn to_unix(time: SystemTime) -> Option<(i64, u32)> {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => Some((i64::try_from(after.as_secs()).ok()?, after.subsec_nanos())),
        Err(err) => {
            let before = err.duration();
            let secs = i64::try_from(before.as_secs()).ok()?;
            match before.subsec_nanos() {
                0 => Some((-secs, 0)),
                n => Some((-secs - 1, 1_000_000_000 - n)),
            }
        }
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days`: exact for every `i64` day here.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Formats an instant as RFC 3339 in UTC, e.g. `2018-04-05T17:31:00Z` or
/// `2018-04-05T17:31:00.250Z` (0, 3, 6 or 9 fractional digits, the fewest that are exact).
/// `None` outside years 0000 to 9999, which RFC 3339 cannot write.
pub(crate) fn format_rfc3339(time: SystemTime) -> Option<String> {
    let (secs, nanos) = to_unix(time)?;
    if !(MIN_SECS..=MAX_SECS).contains(&secs) {
        return None;
    }
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (hour, minute, second) = (sod / 3600, sod / 60 % 60, sod % 60);
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z"
    ))
}

/// Reads exactly `n` ASCII digits at `*pos` as a number and moves past them.
fn digits(bytes: &[u8], pos: &mut usize, n: usize) -> Option<i64> {
    let mut value = 0i64;
    for _ in 0..n {
        let b = *bytes.get(*pos).filter(|b| b.is_ascii_digit())?;
        value = value * 10 + i64::from(b - b'0');
        *pos += 1;
    }
    Some(value)
}

fn expect_byte(bytes: &[u8], pos: &mut usize, allowed: &[u8]) -> Option<u8> {
    let b = *bytes.get(*pos).filter(|b| allowed.contains(b))?;
    *pos += 1;
    Some(b)
}

/// Parses an RFC 3339 `date-time` (section 5.6), any offset. Leap seconds (`:60`) are
/// rejected: `SystemTime` counts Unix time, which has none. Digits past nanoseconds are
/// dropped.
pub(crate) fn parse_rfc3339(text: &str) -> Result<SystemTime, &'static str> {
    const SHAPE: &str = "must be an RFC 3339 date-time like 2018-04-05T17:31:00Z";
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut field = |n: usize, sep: &[u8]| -> Option<i64> {
        let v = digits(bytes, &mut pos, n)?;
        if !sep.is_empty() {
            expect_byte(bytes, &mut pos, sep)?;
        }
        Some(v)
    };
    let (year, month, day) = (
        field(4, b"-").ok_or(SHAPE)?,
        field(2, b"-").ok_or(SHAPE)?,
        field(2, b"Tt").ok_or(SHAPE)?,
    );
    let (hour, minute, second) = (
        field(2, b":").ok_or(SHAPE)?,
        field(2, b":").ok_or(SHAPE)?,
        field(2, b"").ok_or(SHAPE)?,
    );
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return Err("the date does not exist");
    }
    if second == 60 {
        return Err("leap seconds (:60) cannot be represented");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("the time of day does not exist");
    }
    let mut nanos = 0u32;
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while let Some(b) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
            if pos - start < 9 {
                nanos = nanos * 10 + u32::from(b - b'0');
            }
            pos += 1;
        }
        match pos - start {
            0 => return Err(SHAPE),
            n @ 1..=8 => nanos *= 10u32.pow(9 - n as u32),
            _ => {}
        }
    }
    let offset_secs = match expect_byte(bytes, &mut pos, b"Zz+-").ok_or(SHAPE)? {
        b'Z' | b'z' => 0,
        sign => {
            let h = digits(bytes, &mut pos, 2).ok_or(SHAPE)?;
            expect_byte(bytes, &mut pos, b":").ok_or(SHAPE)?;
            let m = digits(bytes, &mut pos, 2).ok_or(SHAPE)?;
            if h > 23 || m > 59 {
                return Err("the UTC offset does not exist");
            }
            let offset = h * 3600 + m * 60;
            if sign == b'-' {
                -offset
            } else {
                offset
            }
        }
    };
    if pos != bytes.len() {
        return Err(SHAPE);
    }
    let secs =
        days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second
            - offset_secs;
    let since_epoch = Duration::from_secs(secs.unsigned_abs());
    let instant = if secs >= 0 {
        UNIX_EPOCH.checked_add(since_epoch)
    } else {
        UNIX_EPOCH.checked_sub(since_epoch)
    };
    instant
        .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
        .ok_or("the instant cannot be represented on this platform")
}

/// The instant `secs` seconds and `nanos` nanoseconds from the epoch (before it if negative).
#[cfg(test)]
pub(crate) fn at(secs: i64, nanos: u32) -> SystemTime {
    let whole = Duration::from_secs(secs.unsigned_abs());
    let t = if secs >= 0 {
        UNIX_EPOCH + whole
    } else {
        UNIX_EPOCH - whole
    };
    t + Duration::from_nanos(u64::from(nanos))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_writes_the_epoch_for_unwritable_instants() {
        assert_eq!(rfc3339(at(253_402_300_800, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(1, 500_000_000)), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn formats_known_instants() {
        for (secs, nanos, want) in [
            (0, 0, "1970-01-01T00:00:00Z"),
            (1_522_949_460, 0, "2018-04-05T17:31:00Z"),
            (1_522_900_584, 0, "2018-04-05T03:56:24Z"),
            (951_782_400, 0, "2000-02-29T00:00:00Z"), // divisible by 400: leap
            (1_078_012_800, 0, "2004-02-29T00:00:00Z"),
            (1_582_934_400, 0, "2020-02-29T00:00:00Z"),
            (-2_203_891_200, 0, "1900-03-01T00:00:00Z"), // 1900: not leap
            (4_107_542_399, 0, "2100-02-28T23:59:59Z"),  // 2100: not leap
            (4_107_542_400, 0, "2100-03-01T00:00:00Z"),
            (-11_670_955_200, 0, "1600-02-29T12:00:00Z"),
            (2_147_483_648, 0, "2038-01-19T03:14:08Z"),
            (-1, 0, "1969-12-31T23:59:59Z"),
            (253_402_300_799, 0, "9999-12-31T23:59:59Z"),
            (-62_167_219_200, 0, "0000-01-01T00:00:00Z"),
        ] {
            assert_eq!(
                format_rfc3339(at(secs, nanos)).as_deref(),
                Some(want),
                "{secs}"
            );
        }
    }

    #[test]
    fn formats_sub_second_precision() {
        for (secs, nanos, want) in [
            (1, 500_000_000, "1970-01-01T00:00:01.500Z"),
            (1, 1_000_000, "1970-01-01T00:00:01.001Z"),
            (1, 123_000, "1970-01-01T00:00:01.000123Z"),
            (1, 1, "1970-01-01T00:00:01.000000001Z"),
            (1, 999_999_999, "1970-01-01T00:00:01.999999999Z"),
            (951_868_799, 999_000_000, "2000-02-29T23:59:59.999Z"),
            (-1, 999_999_999, "1969-12-31T23:59:59.999999999Z"), // 1 ns before the epoch
            (-1, 250_000_000, "1969-12-31T23:59:59.250Z"),
        ] {
            assert_eq!(
                format_rfc3339(at(secs, nanos)).as_deref(),
                Some(want),
                "{want}"
            );
        }
    }

    #[test]
    fn years_outside_0000_to_9999_are_rejected() {
        assert_eq!(format_rfc3339(at(253_402_300_800, 0)), None);
        assert_eq!(format_rfc3339(at(-62_167_219_201, 0)), None);
        assert_eq!(format_rfc3339(at(-62_167_219_201, 999_999_999)), None);
    }

    #[test]
    fn civil_conversion_round_trips_every_day_of_a_long_span() {
        // Every day from 0000-01-01 to 9999-12-31 maps to a valid date and back.
        let (first, last) = (MIN_SECS / SECS_PER_DAY, MAX_SECS / SECS_PER_DAY);
        let mut expected = (0, 1, 1);
        for days in first..=last {
            let (y, m, d) = civil_from_days(days);
            assert_eq!((y, m, d), expected, "day {days}");
            assert_eq!(days_from_civil(y, m, d), days);
            expected = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn parses_rfc3339_strings_into_utc() {
        for (text, secs, nanos, canonical) in [
            (
                "2018-04-05T17:31:00Z",
                1_522_949_460,
                0,
                "2018-04-05T17:31:00Z",
            ),
            (
                "2018-04-05T19:31:00+02:00",
                1_522_949_460,
                0,
                "2018-04-05T17:31:00Z",
            ),
            (
                "2018-04-05t12:01:00.5-05:30",
                1_522_949_460,
                500_000_000,
                "2018-04-05T17:31:00.500Z",
            ),
            (
                "2000-02-29T00:00:00.000000001z",
                951_782_400,
                1,
                "2000-02-29T00:00:00.000000001Z",
            ),
            (
                "1969-12-31T23:59:59.1234567891Z",
                -1,
                123_456_789,
                "1969-12-31T23:59:59.123456789Z",
            ),
        ] {
            let parsed = parse_rfc3339(text).expect(text);
            assert_eq!(parsed, at(secs, nanos), "{text}");
            assert_eq!(format_rfc3339(parsed).as_deref(), Some(canonical), "{text}");
        }
    }

    #[test]
    fn rejects_bad_rfc3339_strings() {
        for text in [
            "",
            "2018-04-05",
            "2018-04-05 17:31:00Z",
            "2018-04-05T17:31:00",
            "2018-04-05T17:31Z",
            "2018-04-05T17:31:00.Z",
            "2018-04-05T17:31:00+0200",
            "2018-04-05T17:31:00Z ",
            "2019-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2018-13-01T00:00:00Z",
            "2018-04-31T00:00:00Z",
            "2018-04-05T24:00:00Z",
            "2016-12-31T23:59:60Z",
            "2018-04-05T17:31:00+24:00",
            "0000-01-01T00:00:00+00:01",
            "+2018-04-05T17:31:00Z",
        ] {
            let written = parse_rfc3339(text).ok().and_then(format_rfc3339);
            assert_eq!(written, None, "{text:?} should not be accepted");
        }
    }

    #[test]
    fn format_and_parse_round_trip() {
        let mut secs = MIN_SECS;
        let mut nanos = 0u32;
        while secs <= MAX_SECS {
            let t = at(secs, nanos);
            let text = format_rfc3339(t).unwrap();
            assert_eq!(parse_rfc3339(&text), Ok(t), "{text}");
            secs += 7_777_777; // about 90 days, so it lands on every time of day over the span
            nanos = (nanos + 123_457_000) % 1_000_000_000;
        }
    }
}
