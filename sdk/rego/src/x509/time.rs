//! ASN.1 UTCTime and GeneralizedTime as Go's `cryptobyte` reads them (Go's `time.Parse` with
//! layout `060102150405Z0700` or `20060102150405Z0700`, and only text the layout writes back
//! the same way), written as Go's JSON writes a `time.Time` (RFC 3339).

use super::der::{tag, Der, Malformed, Read};

/// A time as written in the certificate: the wall clock and its offset from UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Time {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// Seconds east of UTC.
    offset: i64,
}

impl Time {
    /// Seconds since the Unix epoch.
    pub(crate) fn unix(&self) -> i64 {
        let days = days_from_civil(self.year, self.month, self.day);
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - self.offset
    }

    /// RFC 3339, as Go's `time.Time.MarshalJSON` writes it.
    pub(crate) fn rfc3339(&self) -> String {
        let zone = match self.offset {
            0 => "Z".to_string(),
            offset => {
                let sign = if offset < 0 { '-' } else { '+' };
                let minutes = offset.abs() / 60;
                format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
            }
        };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{zone}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// Whether Go's `MarshalJSON` can write it (years 0 to 9999).
    pub(crate) fn writable(&self) -> bool {
        (0..=9999).contains(&self.year)
    }
}

/// The next element as a time (Go's `readASN1Time`).
pub(crate) fn read(der: &mut Der<'_>) -> Read<Time> {
    if der.peek(tag::UTC_TIME) {
        let text = der.read(tag::UTC_TIME)?.remaining();
        // cryptobyte falls back to minutes when seconds do not parse.
        let mut time = parse(text, false, true)
            .or_else(|| parse(text, false, false))
            .ok_or(Malformed)?;
        if time.year >= 2050 {
            time.year -= 100;
        }
        Ok(time)
    } else if der.peek(tag::GENERALIZED_TIME) {
        let text = der.read(tag::GENERALIZED_TIME)?.remaining();
        parse(text, true, true).ok_or(Malformed)
    } else {
        Err(Malformed)
    }
}

/// `YYMMDDhhmm[ss]` (or `YYYYMMDDhhmmss`) then `Z` or `±hhmm`, exactly as Go formats it back.
fn parse(text: &[u8], long_year: bool, with_seconds: bool) -> Option<Time> {
    let text = std::str::from_utf8(text).ok()?;
    let year_digits = if long_year { 4 } else { 2 };
    let digits = year_digits + if with_seconds { 10 } else { 8 };
    let (clock, zone) = (text.get(..digits)?, text.get(digits..)?);
    if !clock.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number =
        |from: usize, len: usize| -> Option<u32> { clock.get(from..from + len)?.parse().ok() };
    let mut year = i64::from(number(0, year_digits)?);
    if !long_year {
        year += if year >= 69 { 1900 } else { 2000 };
    }
    let at = year_digits;
    let (month, day) = (number(at, 2)?, number(at + 2, 2)?);
    let (hour, minute) = (number(at + 4, 2)?, number(at + 6, 2)?);
    let second = if with_seconds { number(at + 8, 2)? } else { 0 };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in(month, year)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let offset = match zone.as_bytes() {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 4 => {
            if !rest.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let hours: i64 = zone.get(1..3)?.parse().ok()?;
            let minutes: i64 = zone.get(3..5)?.parse().ok()?;
            // Go writes the offset back from seconds: "+0000", "+0060" do not round-trip.
            if hours > 24 || minutes > 59 || (hours == 0 && minutes == 0) {
                return None;
            }
            let seconds = (hours * 60 + minutes) * 60;
            if *sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    Some(Time {
        year,
        month,
        day,
        hour,
        minute,
        second,
        offset,
    })
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Option<Time> {
        let mut der = vec![tag::UTC_TIME, text.len() as u8];
        der.extend_from_slice(text.as_bytes());
        read(&mut Der::new(&der)).ok()
    }

    fn generalized(text: &str) -> Option<Time> {
        let mut der = vec![tag::GENERALIZED_TIME, text.len() as u8];
        der.extend_from_slice(text.as_bytes());
        read(&mut Der::new(&der)).ok()
    }

    #[test]
    fn utc_times_and_their_century() {
        assert_eq!(
            utc("240601123045Z").unwrap().rfc3339(),
            "2024-06-01T12:30:45Z"
        );
        assert_eq!(
            utc("500101000000Z").unwrap().rfc3339(),
            "1950-01-01T00:00:00Z"
        );
        assert_eq!(
            utc("491231235959Z").unwrap().rfc3339(),
            "2049-12-31T23:59:59Z"
        );
        assert_eq!(utc("700101000000Z").unwrap().unix(), 0);
        assert_eq!(
            utc("200101000000+0130").unwrap().rfc3339(),
            "2020-01-01T00:00:00+01:30"
        );
        assert_eq!(
            utc("200101000000+0130").unwrap().unix(),
            1_577_836_800 - 5400
        );
    }

    #[test]
    fn what_go_refuses() {
        assert_eq!(
            utc("2401011230Z").unwrap().rfc3339(),
            "2024-01-01T12:30:00Z"
        );
        for bad in [
            "24010112301Z",
            "240230000000Z",
            "240101240000Z",
            "240101000000+0000",
            "240101000000",
            "24010100000aZ",
        ] {
            assert_eq!(utc(bad), None, "{bad}");
        }
        assert_eq!(generalized("20240101000000.5Z"), None);
        assert_eq!(
            generalized("20991231235959Z").unwrap().rfc3339(),
            "2099-12-31T23:59:59Z"
        );
    }
}
