//! Points in time as the models store them: UTC milliseconds since the Unix epoch, written as
//! RFC 3339 with exactly three fractional digits (`2024-05-01T12:00:00.000Z`).
//!
//! The fixed width is deliberate: two timestamps compare the same way as strings and as
//! instants, so `jq` and SQL `ORDER BY` on the text agree with the model. No clock is read here;
//! callers pass "now" in, which keeps every function of this crate deterministic.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Why a string is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid RFC 3339 timestamp `{input}`: {problem}")]
pub struct TimestampError {
    /// The rejected text.
    pub input: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// A UTC instant with millisecond precision, between `0000-01-01T00:00:00.000Z` and
/// `9999-12-31T23:59:59.999Z` (the years RFC 3339 can write).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Days from 0000-03-01 to 1970-01-01 in the proleptic Gregorian calendar.
const EPOCH_SHIFT_DAYS: i64 = 719_468;
const MILLIS_PER_DAY: i64 = 86_400_000;
/// `0000-01-01T00:00:00.000Z` in Unix milliseconds.
const MIN_MILLIS: i64 = -62_167_219_200_000;
/// `9999-12-31T23:59:59.999Z` in Unix milliseconds.
const MAX_MILLIS: i64 = 253_402_300_799_999;

impl Timestamp {
    /// The earliest representable instant, `0000-01-01T00:00:00.000Z`.
    pub const MIN: Timestamp = Timestamp(MIN_MILLIS);
    /// The latest representable instant, `9999-12-31T23:59:59.999Z`.
    pub const MAX: Timestamp = Timestamp(MAX_MILLIS);
    /// `1970-01-01T00:00:00.000Z`.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// The instant `millis` milliseconds after the Unix epoch, clamped to [`Timestamp::MIN`] ..=
    /// [`Timestamp::MAX`].
    pub fn from_unix_millis(millis: i64) -> Self {
        Timestamp(millis.clamp(MIN_MILLIS, MAX_MILLIS))
    }

    /// The instant a [`SystemTime`](std::time::SystemTime) names (before 1970: the epoch).
    /// Converting is pure; callers read the clock (`SystemTime::now()`) themselves, so this
    /// crate never does.
    pub fn from_system_time(time: std::time::SystemTime) -> Self {
        let millis = time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self::from_unix_millis(millis)
    }

    /// Milliseconds since the Unix epoch (negative before 1970).
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// Milliseconds from `earlier` to `self`; 0 when `earlier` is later.
    pub fn millis_since(self, earlier: Timestamp) -> u64 {
        u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0)
    }

    /// This instant plus `millis` milliseconds, clamped to the representable range.
    pub fn plus_millis(self, millis: i64) -> Self {
        Self::from_unix_millis(self.0.saturating_add(millis))
    }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `t`, `z` and a space
    /// instead of `T` are accepted). Fractions beyond milliseconds are truncated.
    ///
    /// # Errors
    ///
    /// [`TimestampError`] naming the first problem found.
    pub fn parse(input: &str) -> Result<Self, TimestampError> {
        parse_rfc3339(input.as_bytes()).map_err(|problem| TimestampError {
            input: input.to_owned(),
            problem,
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(MILLIS_PER_DAY);
        let in_day = self.0.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let (h, rest) = (in_day / 3_600_000, in_day % 3_600_000);
        let (m, rest) = (rest / 60_000, rest % 60_000);
        let (s, ms) = (rest / 1000, rest % 1000);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z"
        )
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// In schemas: an RFC 3339 string (`date-time`) with milliseconds.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 in UTC with milliseconds, e.g. 2026-11-27T10:42:28.047Z"
        })
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - EPOCH_SHIFT_DAYS
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + EPOCH_SHIFT_DAYS;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads exactly `n` ASCII digits at `*pos`.
fn digits(s: &[u8], pos: &mut usize, n: usize) -> Result<i64, &'static str> {
    let field = s.get(*pos..*pos + n).ok_or("too short")?;
    let mut value = 0i64;
    for &b in field {
        if !b.is_ascii_digit() {
            return Err("expected a digit");
        }
        value = value * 10 + i64::from(b - b'0');
    }
    *pos += n;
    Ok(value)
}

fn expect(
    s: &[u8],
    pos: &mut usize,
    accepted: &[u8],
    problem: &'static str,
) -> Result<(), &'static str> {
    match s.get(*pos) {
        Some(b) if accepted.contains(b) => {
            *pos += 1;
            Ok(())
        }
        _ => Err(problem),
    }
}

fn parse_rfc3339(s: &[u8]) -> Result<Timestamp, &'static str> {
    let mut pos = 0;
    let year = digits(s, &mut pos, 4)?;
    expect(s, &mut pos, b"-", "expected `-` after the year")?;
    let month = digits(s, &mut pos, 2)?;
    expect(s, &mut pos, b"-", "expected `-` after the month")?;
    let day = digits(s, &mut pos, 2)?;
    expect(s, &mut pos, b"Tt ", "expected `T` between date and time")?;
    let hour = digits(s, &mut pos, 2)?;
    expect(s, &mut pos, b":", "expected `:` after the hour")?;
    let minute = digits(s, &mut pos, 2)?;
    expect(s, &mut pos, b":", "expected `:` after the minutes")?;
    let second = digits(s, &mut pos, 2)?;
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range");
    }
    // 60 is a leap second; it is counted as the first second of the next minute.
    if hour > 23 || minute > 59 || second > 60 {
        return Err("time of day out of range");
    }
    let mut millis = 0i64;
    if s.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        let mut scale = 100;
        while let Some(b) = s.get(pos).filter(|b| b.is_ascii_digit()) {
            millis += i64::from(b - b'0') * scale;
            scale /= 10;
            pos += 1;
        }
        if pos == start {
            return Err("expected digits after `.`");
        }
    }
    let offset_minutes = match s.get(pos) {
        Some(b'Z' | b'z') => {
            pos += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            pos += 1;
            let oh = digits(s, &mut pos, 2)?;
            expect(s, &mut pos, b":", "expected `:` in the offset")?;
            let om = digits(s, &mut pos, 2)?;
            if oh > 23 || om > 59 {
                return Err("offset out of range");
            }
            let total = oh * 60 + om;
            if sign == b'-' { -total } else { total }
        }
        _ => return Err("expected `Z` or an offset like `+02:00`"),
    };
    if pos != s.len() {
        return Err("unexpected text after the offset");
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    let unix = seconds * 1000 + millis;
    if !(MIN_MILLIS..=MAX_MILLIS).contains(&unix) {
        return Err("outside the years 0000 to 9999 once converted to UTC");
    }
    Ok(Timestamp(unix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_times_convert_without_reading_the_clock() {
        use std::time::{Duration, UNIX_EPOCH};
        let t = Timestamp::from_system_time(UNIX_EPOCH + Duration::from_millis(1_500));
        assert_eq!(t.unix_millis(), 1_500);
        let before = Timestamp::from_system_time(UNIX_EPOCH - Duration::from_secs(10));
        assert_eq!(before, Timestamp::UNIX_EPOCH);
    }

    #[test]
    fn formats_with_fixed_width() {
        assert_eq!(
            Timestamp::UNIX_EPOCH.to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(1_714_564_800_123).to_string(),
            "2024-05-01T12:00:00.123Z"
        );
        assert_eq!(Timestamp::MIN.to_string(), "0000-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::from_unix_millis(i64::MIN), Timestamp::MIN);
        assert_eq!(Timestamp::from_unix_millis(i64::MAX), Timestamp::MAX);
        assert_eq!(
            Timestamp::from_unix_millis(-1).to_string(),
            "1969-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn parses_what_it_formats_and_common_variants() {
        for ms in [
            0,
            1,
            -1,
            951_782_400_000,
            1_714_564_800_123,
            MIN_MILLIS,
            MAX_MILLIS,
        ] {
            let t = Timestamp::from_unix_millis(ms);
            assert_eq!(Timestamp::parse(&t.to_string()), Ok(t), "{t}");
        }
        let t = |s: &str| Timestamp::parse(s).map(Timestamp::unix_millis);
        assert_eq!(t("2024-05-01T12:00:00Z"), Ok(1_714_564_800_000));
        assert_eq!(t("2024-05-01t12:00:00.1234567z"), Ok(1_714_564_800_123));
        assert_eq!(t("2024-05-01 14:00:00+02:00"), Ok(1_714_564_800_000));
        assert_eq!(t("2024-05-01T07:30:00-04:30"), Ok(1_714_564_800_000));
        assert_eq!(t("2016-12-31T23:59:60Z"), Ok(1_483_228_800_000));
        assert_eq!(t("2000-02-29T00:00:00Z"), Ok(951_782_400_000));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "2024",
            "2024-05-01",
            "2024-05-01T12:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+0200",
            "2024-05-01T12:00:00Zjunk",
            "0000-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-00:01",
            "２０２４-05-01T12:00:00Z",
        ] {
            let error = Timestamp::parse(bad).unwrap_err();
            assert!(
                error.to_string().starts_with("invalid RFC 3339 timestamp"),
                "{bad}"
            );
        }
    }

    #[test]
    fn calendar_round_trips_every_day_of_four_centuries() {
        let start = days_from_civil(1600, 1, 1);
        for days in start..start + 146_097 {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=days_in_month(y, m)).contains(&d));
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn serde_is_the_rfc3339_string() {
        let t = Timestamp::from_unix_millis(1_714_564_800_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#""2024-05-01T12:00:00.123Z""#);
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        assert!(serde_json::from_str::<Timestamp>("12").is_err());
        assert!(serde_json::from_str::<Timestamp>(r#""yesterday""#).is_err());
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_unix_millis(10);
        assert_eq!(t.millis_since(Timestamp::UNIX_EPOCH), 10);
        assert_eq!(Timestamp::UNIX_EPOCH.millis_since(t), 0);
        assert_eq!(Timestamp::MAX.plus_millis(i64::MAX), Timestamp::MAX);
        assert_eq!(Timestamp::MIN.millis_since(Timestamp::MAX), 0);
    }
}

/// Why a string is not a duration such as `15m`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid duration `{input}` (expected a number with a unit, such as 500ms, 2s, 15m, 1h, 7d)"
)]
pub struct DurationError {
    /// The rejected text.
    pub input: String,
}

/// Reads a duration written as one or more number-unit pairs (`ms`, `s`, `m`, `h`, `d`), e.g.
/// `2s`, `15m`, `1h30m`, `7d`, as Go's and systemd's short forms; returns milliseconds.
///
/// # Errors
///
/// [`DurationError`] for anything else, an empty value, or one that overflows.
pub fn parse_duration_ms(input: &str) -> Result<u64, DurationError> {
    let err = || DurationError {
        input: input.to_owned(),
    };
    let text = input.trim();
    if text.is_empty() {
        return Err(err());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(err());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(factor)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(err)?;
    }
    Ok(total)
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn durations_read_like_systemd_short_forms() {
        assert_eq!(parse_duration_ms("2s"), Ok(2_000));
        assert_eq!(parse_duration_ms(" 15m "), Ok(900_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("7d"), Ok(604_800_000));
        for bad in [
            "",
            "15",
            "m",
            "1.5h",
            "2 s",
            "-1s",
            "1w",
            "99999999999999999999d",
        ] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?} accepted");
        }
    }
}
