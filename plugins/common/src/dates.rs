//! Civil dates and RFC 3339 timestamps without a clock or a date library.
//!
//! Plugins run in a sandbox with no clock, and the formats they read need
//! only the proleptic Gregorian calendar in UTC, so a few hand-written
//! functions beat a dependency. Day arithmetic uses Howard Hinnant's
//! `days_from_civil` / `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>).
//!
//! Every parser returns a [`DateError`] whose message says what was wrong and
//! what to write instead; callers prefix it with the field name.

use std::fmt;

/// Seconds in one day (leap seconds are ignored, as in unix time).
pub const SECONDS_PER_DAY: i64 = 86_400;

/// Why a date or timestamp was refused. The message names the offending
/// value and the expected form; it does not name the field, which the caller
/// knows and adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateError {
    message: String,
}

impl DateError {
    fn new(message: impl Into<String>) -> Self {
        DateError {
            message: message.into(),
        }
    }

    /// The message, as also given by `Display`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DateError {}

/// A calendar date whose day, or day and month, may be unknown (ICAO 9303
/// allows this for dates of birth). Mirrors the WIT `partial-date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialDate {
    pub year: u16,
    /// 1-12, or `None` when unknown.
    pub month: Option<u8>,
    /// 1-31, or `None` when unknown; always `None` when `month` is.
    pub day: Option<u8>,
}

impl PartialDate {
    /// Unix seconds of the earliest instant the date may denote (00:00:00
    /// UTC of its first possible day): a birth date is after a moment only if
    /// even this is.
    pub fn earliest_unix(&self) -> i64 {
        let month = self.month.unwrap_or(1);
        let day = self.day.unwrap_or(1);
        days_from_civil(i32::from(self.year), u32::from(month), u32::from(day)) * SECONDS_PER_DAY
    }
}

/// Whether `year` is a leap year in the proleptic Gregorian calendar.
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1-12) of `year`; 0 for a month outside 1-12.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Whether `year-month-day` exists in the proleptic Gregorian calendar.
pub fn is_valid_date(year: i32, month: u32, day: u32) -> bool {
    day >= 1 && day <= days_in_month(year, month)
}

/// Days since 1970-01-01 of a civil date (negative before it). The date is
/// not validated: out-of-range days roll over, as in Hinnant's original.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March-based month, [0, 11]
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction, so the casts cannot truncate.
    (year, month as u32, day as u32)
}

/// The civil date (UTC) of a unix timestamp.
pub fn civil_from_unix(seconds: i64) -> (i64, u32, u32) {
    civil_from_days(seconds.div_euclid(SECONDS_PER_DAY))
}

/// Unix seconds of 00:00:00 UTC on the given day.
pub fn start_of_day_unix(year: i32, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day) * SECONDS_PER_DAY
}

/// Unix seconds of 23:59:59 UTC on the given day: "until the end of the day".
pub fn end_of_day_unix(year: i32, month: u32, day: u32) -> i64 {
    start_of_day_unix(year, month, day) + SECONDS_PER_DAY - 1
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// English name of a month 1-12, for messages.
pub fn month_name(month: u32) -> &'static str {
    match month {
        1..=12 => MONTH_NAMES[month as usize - 1],
        _ => "(no such month)",
    }
}

/// Parses exactly `n` ASCII digits at the start of `bytes`.
fn digits(bytes: &[u8], n: usize) -> Option<u32> {
    let part = bytes.get(..n)?;
    let mut value = 0u32;
    for &b in part {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
    }
    Some(value)
}

/// Checks a day of a known month and year, with a message saying why not.
fn check_day(text: &str, year: i32, month: u32, day: u32, hint: &str) -> Result<(), DateError> {
    if !(1..=12).contains(&month) {
        return Err(DateError::new(format!(
            "'{text}' has month {month:02}, which does not exist: months are 01-12; {hint}"
        )));
    }
    if !is_valid_date(year, month, day) {
        return Err(DateError::new(format!(
            "'{text}' is not a date: {} {year} has {} days; {hint}",
            month_name(month),
            days_in_month(year, month)
        )));
    }
    Ok(())
}

const FULL_DATE_HINT: &str = "write YYYY-MM-DD, e.g. 2027-05-20";
const PARTIAL_DATE_HINT: &str =
    "write YYYY-MM-DD, with 00 for an unknown month or day (1980-06-00, 1980-00-00)";

/// Splits `YYYY-MM-DD` into numbers, checking only the shape.
fn date_shape(text: &str, hint: &str) -> Result<(i32, u32, u32), DateError> {
    let b = text.as_bytes();
    let shape_ok = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    let parts = (
        digits(b, 4),
        b.get(5..).and_then(|r| digits(r, 2)),
        b.get(8..).and_then(|r| digits(r, 2)),
    );
    match (shape_ok, parts) {
        (true, (Some(y), Some(m), Some(d))) => Ok((y as i32, m, d)),
        _ if text.trim().is_empty() => Err(DateError::new(format!("the date is empty; {hint}"))),
        _ => Err(DateError::new(format!(
            "'{text}' is not in the form YYYY-MM-DD; {hint}"
        ))),
    }
}

/// Parses a full `YYYY-MM-DD` date that must exist (no unknown parts).
pub fn parse_date(text: &str) -> Result<(i32, u32, u32), DateError> {
    let (year, month, day) = date_shape(text, FULL_DATE_HINT)?;
    if month == 0 || day == 0 {
        return Err(DateError::new(format!(
            "'{text}' has an unknown (00) month or day, but this date must be complete; {FULL_DATE_HINT}"
        )));
    }
    check_day(text, year, month, day, FULL_DATE_HINT)?;
    Ok((year, month, day))
}

/// Parses `YYYY-MM-DD` where `00` stands for an unknown month and/or day
/// (`1980-06-00`, `1980-00-00`); a known day in an unknown month is refused,
/// and a year `0000` is refused as no real date of birth.
pub fn parse_partial_date(text: &str) -> Result<PartialDate, DateError> {
    let (year, month, day) = date_shape(text, PARTIAL_DATE_HINT)?;
    if year == 0 {
        return Err(DateError::new(format!(
            "'{text}' has year 0000; the year must be known; {PARTIAL_DATE_HINT}"
        )));
    }
    match (month, day) {
        (0, 0) => Ok(PartialDate {
            year: year as u16,
            month: None,
            day: None,
        }),
        (0, _) => Err(DateError::new(format!(
            "'{text}' has a day but an unknown (00) month; when the month is unknown the day must be 00 too"
        ))),
        (m, 0) if (1..=12).contains(&m) => Ok(PartialDate {
            year: year as u16,
            month: Some(m as u8),
            day: None,
        }),
        (m, d) => {
            check_day(text, year, m, if d == 0 { 1 } else { d }, PARTIAL_DATE_HINT)?;
            Ok(PartialDate {
                year: year as u16,
                month: Some(m as u8),
                day: Some(d as u8),
            })
        }
    }
}

const RFC3339_HINT: &str =
    "write an RFC 3339 timestamp such as 2026-11-21T14:03:00Z or 2026-11-21T09:03:00-05:00";

/// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS`, optional fraction of
/// a second, then `Z` or `±HH:MM`) to unix seconds. The fraction is dropped
/// (rounded down); `T`/`Z` may be lower case and `T` may be a space, as RFC
/// 3339 permits. A leap second (`:60`) counts as the next second.
pub fn parse_rfc3339(text: &str) -> Result<i64, DateError> {
    let b = text.as_bytes();
    if text.trim().is_empty() {
        return Err(DateError::new(format!(
            "the timestamp is empty; {RFC3339_HINT}"
        )));
    }
    let shape = |what: &str| {
        DateError::new(format!(
            "'{text}' is not an RFC 3339 timestamp ({what}); {RFC3339_HINT}"
        ))
    };
    if b.len() < 19 {
        return Err(shape("too short"));
    }
    let date_text = text.get(..10).ok_or_else(|| shape("bad date"))?;
    let (year, month, day) = date_shape(date_text, RFC3339_HINT)
        .map_err(|_| shape("the date part is not YYYY-MM-DD"))?;
    if month == 0 || day == 0 {
        return Err(shape("month and day must be known"));
    }
    check_day(date_text, year, month, day, RFC3339_HINT)?;
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(shape("expected 'T' between date and time"));
    }
    let (hour, minute, second) = match (
        digits(&b[11..], 2),
        digits(&b[14..], 2),
        digits(&b[17..], 2),
    ) {
        (Some(h), Some(m), Some(s)) if b[13] == b':' && b[16] == b':' => (h, m, s),
        _ => return Err(shape("the time part is not HH:MM:SS")),
    };
    if hour > 23 || minute > 59 || second > 60 {
        return Err(DateError::new(format!(
            "'{text}' has time {hour:02}:{minute:02}:{second:02}, which does not exist: hours are 00-23, minutes 00-59, seconds 00-60; {RFC3339_HINT}"
        )));
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err(shape("a '.' must be followed by digits of a second"));
        }
        rest = &rest[1 + n..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (oh, om) = match (digits(&[*h1, *h2], 2), digits(&[*m1, *m2], 2)) {
                (Some(h), Some(m)) => (h, m),
                _ => return Err(shape("the offset is not ±HH:MM")),
            };
            if oh > 23 || om > 59 {
                return Err(shape("the offset's hours must be 00-23 and minutes 00-59"));
            }
            let seconds = i64::from(oh * 3600 + om * 60);
            if *sign == b'+' { seconds } else { -seconds }
        }
        [] => return Err(shape("the offset is missing: end with Z for UTC or ±HH:MM")),
        _ => return Err(shape("expected Z or ±HH:MM after the time")),
    };
    let local = start_of_day_unix(year, month, day) + i64::from(hour * 3600 + minute * 60 + second);
    Ok(local - offset)
}

/// Formats unix seconds as an RFC 3339 timestamp in UTC (`...Z`), the form
/// [`parse_rfc3339`] reads back.
pub fn format_rfc3339(seconds: i64) -> String {
    let (year, month, day) = civil_from_unix(seconds);
    let s = seconds.rem_euclid(SECONDS_PER_DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_years_and_month_lengths() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(2024));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2023));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 13), 0);
        assert!(is_valid_date(2000, 2, 29));
        assert!(!is_valid_date(1900, 2, 29));
        assert!(!is_valid_date(1990, 2, 30));
        assert!(!is_valid_date(1990, 0, 1));
        assert!(!is_valid_date(1990, 1, 0));
        assert!(!is_valid_date(1990, 4, 31));
    }

    #[test]
    fn day_counts_match_known_points() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(start_of_day_unix(2026, 11, 21), 1_795_219_200);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn day_counts_round_trip_over_centuries() {
        // Every day from 1600 to 2400 covers each branch of both algorithms.
        let start = days_from_civil(1600, 1, 1);
        let end = days_from_civil(2400, 12, 31);
        let mut expected = (1600i64, 1u32, 1u32);
        for z in start..=end {
            let got = civil_from_days(z);
            assert_eq!(got, expected, "day {z}");
            assert_eq!(days_from_civil(got.0 as i32, got.1, got.2), z);
            let (y, m, d) = expected;
            expected = if d < days_in_month(y as i32, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn full_dates() {
        assert_eq!(parse_date("2027-05-20"), Ok((2027, 5, 20)));
        let e = parse_date("1990-02-30").unwrap_err();
        assert_eq!(
            e.message(),
            "'1990-02-30' is not a date: February 1990 has 28 days; write YYYY-MM-DD, e.g. 2027-05-20"
        );
        assert!(
            parse_date("2027-13-01")
                .unwrap_err()
                .message()
                .contains("months are 01-12")
        );
        assert!(
            parse_date("2027-05-00")
                .unwrap_err()
                .message()
                .contains("must be complete")
        );
        assert!(
            parse_date("27-05-20")
                .unwrap_err()
                .message()
                .contains("not in the form YYYY-MM-DD")
        );
        assert!(parse_date("2027/05/20").is_err());
        assert!(parse_date("").unwrap_err().message().contains("empty"));
        assert!(parse_date("２０２７-05-20").is_err());
    }

    #[test]
    fn partial_dates() {
        let p = |y, m, d| PartialDate {
            year: y,
            month: m,
            day: d,
        };
        assert_eq!(
            parse_partial_date("1974-08-12"),
            Ok(p(1974, Some(8), Some(12)))
        );
        assert_eq!(parse_partial_date("1980-06-00"), Ok(p(1980, Some(6), None)));
        assert_eq!(parse_partial_date("1980-00-00"), Ok(p(1980, None, None)));
        assert!(
            parse_partial_date("1980-00-05")
                .unwrap_err()
                .message()
                .contains("unknown (00) month")
        );
        assert!(
            parse_partial_date("1990-02-30")
                .unwrap_err()
                .message()
                .contains("February 1990 has 28 days")
        );
        assert!(
            parse_partial_date("1980-13-00")
                .unwrap_err()
                .message()
                .contains("months are 01-12")
        );
        assert!(
            parse_partial_date("0000-01-01")
                .unwrap_err()
                .message()
                .contains("year 0000")
        );
        assert_eq!(
            p(1980, None, None).earliest_unix(),
            start_of_day_unix(1980, 1, 1)
        );
        assert_eq!(
            p(1980, Some(6), None).earliest_unix(),
            start_of_day_unix(1980, 6, 1)
        );
    }

    #[test]
    fn rfc3339_timestamps() {
        let base = 1_795_219_200 + 14 * 3600 + 3 * 60;
        assert_eq!(parse_rfc3339("2026-11-21T14:03:00Z"), Ok(base));
        assert_eq!(parse_rfc3339("2026-11-21t14:03:00z"), Ok(base));
        assert_eq!(parse_rfc3339("2026-11-21 14:03:00Z"), Ok(base));
        assert_eq!(parse_rfc3339("2026-11-21T09:03:00-05:00"), Ok(base));
        assert_eq!(parse_rfc3339("2026-11-21T19:33:00+05:30"), Ok(base));
        assert_eq!(parse_rfc3339("2026-11-21T14:03:00.999999Z"), Ok(base));
        assert_eq!(parse_rfc3339("2026-11-21T14:03:00-00:00"), Ok(base));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Ok(-1));
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2017-01-01T00:00:00Z")
        );
    }

    #[test]
    fn rfc3339_refusals_say_why() {
        let msg = |s| parse_rfc3339(s).unwrap_err().message().to_string();
        assert!(msg("2026-11-21T14:03:00").contains("offset is missing"));
        assert!(msg("2026-11-21").contains("too short"));
        assert!(msg("2026-02-30T14:03:00Z").contains("February 2026 has 28 days"));
        assert!(msg("2026-11-21T24:03:00Z").contains("hours are 00-23"));
        assert!(msg("2026-11-21T14:03:00.Z").contains("followed by digits"));
        assert!(msg("2026-11-21T14:03:00+0500").contains("Z or ±HH:MM"));
        assert!(msg("2026-11-21T14:03:00+25:00").contains("offset's hours"));
        assert!(msg("2026-11-21X14:03:00Z").contains("'T'"));
        assert!(msg("2026-11-21T14-03-00Z").contains("HH:MM:SS"));
        assert!(msg("2026-11-21T14:03:00Zjunk").contains("Z or ±HH:MM"));
        assert!(msg("").contains("empty"));
        assert!(msg("2026-11-21T14:03:00é").contains("Z or ±HH:MM"));
        assert!(msg("éééééééééééé").contains("not an RFC 3339"));
    }

    #[test]
    fn formats_what_it_parses() {
        for s in [
            "2026-11-21T14:03:00Z",
            "1969-12-31T23:59:59Z",
            "2000-02-29T00:00:00Z",
        ] {
            assert_eq!(format_rfc3339(parse_rfc3339(s).unwrap()), s);
        }
        assert_eq!(
            end_of_day_unix(2027, 5, 20) - start_of_day_unix(2027, 5, 21),
            -1
        );
        assert_eq!(civil_from_unix(end_of_day_unix(2027, 5, 20)), (2027, 5, 20));
    }
}
