//! Expiry dates, AI (17): the six-digit `YYMMDD` form printed in the
//! barcode and the `YYYY-MM-DD` form EPCIS wants, kept side by side.
//!
//! GS1 allows day `00` ("day not specified"); EPCIS and TraceLink do not, so
//! the calendar date resolves it to the last day of the month while the raw
//! form is kept for VRS and barcode contexts. The century of `YY` comes from
//! GS1's sliding window around the caller's `today`; this module never reads
//! the clock itself.

use chrono::{Datelike, NaiveDate};

use super::{Gs1Error, shown};

/// An expiry date that remembers its raw barcode form. Two expiries are
/// equal only if both the date and the raw form match (`YYMM00` and the
/// explicit last day of that month are different barcodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    date: NaiveDate,
    /// The six YYMMDD digits as read (no allocation: an expiry is parsed per scanned code).
    raw: [u8; 6],
}

fn bad(value: &str, reason: impl Into<String>) -> Gs1Error {
    Gs1Error::BadDate {
        value: shown(value),
        reason: reason.into(),
    }
}

/// Value of the 2-digit decimal field at `range`, if it is all digits.
fn field(s: &str, range: std::ops::Range<usize>) -> Option<u32> {
    let part = s.get(range)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// The last day of `month` in `year` (28 to 31).
fn last_day(year: i32, month: u32) -> Option<NaiveDate> {
    (28..=31)
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
}

impl Expiry {
    /// Parses `YYMMDD` as printed in a barcode. The century follows GS1's
    /// sliding window: YY at least 51 years after `today`'s two-digit year
    /// is in the previous century, YY 50 or more years before it is in the
    /// next century, everything else is in `today`'s century. Day `00`
    /// means the last day of the month.
    pub fn from_yymmdd(raw: &str, today: NaiveDate) -> Result<Self, Gs1Error> {
        let (Some(yy), Some(month), Some(day), 6) = (
            field(raw, 0..2),
            field(raw, 2..4),
            field(raw, 4..6),
            raw.len(),
        ) else {
            return Err(bad(raw, "expected six digits YYMMDD"));
        };
        if !(1..=12).contains(&month) {
            return Err(bad(
                raw,
                format!("month {month:02} is not between 01 and 12"),
            ));
        }
        let current_yy = today.year().rem_euclid(100);
        let century = today.year() - current_yy;
        let yy = yy as i32; // at most 99
        let year = match yy - current_yy {
            d if d >= 51 => century - 100 + yy,
            d if d > -50 => century + yy,
            _ => century + 100 + yy,
        };
        let date = if day == 0 {
            last_day(year, month)
        } else {
            NaiveDate::from_ymd_opt(year, month, day)
        };
        let date =
            date.ok_or_else(|| bad(raw, format!("{year}-{month:02} has no day {day:02}")))?;
        Ok(Expiry {
            date,
            raw: raw
                .as_bytes()
                .try_into()
                .map_err(|_| bad(raw, "expected six digits YYMMDD"))?,
        })
    }

    /// Parses an ISO `YYYY-MM-DD` date, which must be a real date. The raw
    /// barcode form becomes the corresponding `YYMMDD`.
    pub fn from_iso(s: &str) -> Result<Self, Gs1Error> {
        let dashes = s.len() == 10 && s.get(4..5) == Some("-") && s.get(7..8) == Some("-");
        let year = s
            .get(0..4)
            .filter(|y| y.bytes().all(|b| b.is_ascii_digit()));
        let (true, Some(year), Some(month), Some(day)) =
            (dashes, year, field(s, 5..7), field(s, 8..10))
        else {
            return Err(bad(s, "expected YYYY-MM-DD"));
        };
        let year: i32 = year.parse().map_err(|_| bad(s, "expected YYYY-MM-DD"))?;
        let date = NaiveDate::from_ymd_opt(year, month, day)
            .ok_or_else(|| bad(s, "not a calendar date"))?;
        let raw = format!("{:02}{month:02}{day:02}", year % 100);
        let raw = raw
            .as_bytes()
            .try_into()
            .map_err(|_| bad(s, "year out of range"))?;
        Ok(Expiry { date, raw })
    }

    /// The calendar date, with day `00` already resolved.
    pub fn date(&self) -> NaiveDate {
        self.date
    }

    /// The date as xsd:date `YYYY-MM-DD` (EPCIS `itemExpirationDate`).
    pub fn to_xsd_date(&self) -> String {
        self.date.format("%Y-%m-%d").to_string()
    }

    /// The `YYMMDD` form as printed in the barcode (day `00` kept).
    pub fn raw_yymmdd(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// `expected` is the xsd date or the error code.
    fn check(raw: &str, today: NaiveDate, expected: Result<&str, &str>) {
        let got = Expiry::from_yymmdd(raw, today);
        if let Ok(e) = &got {
            assert_eq!(e.raw_yymmdd(), raw);
        }
        let got = got.map(|e| e.to_xsd_date()).map_err(|e| e.code());
        assert_eq!(got, expected.map(str::to_string), "{raw:?} on {today}");
    }

    #[test]
    fn yymmdd() {
        let t = day(2025, 6, 15);
        check("270131", t, Ok("2027-01-31"));
        check("270100", t, Ok("2027-01-31"));
        check("240200", t, Ok("2024-02-29")); // leap year
        check("250200", t, Ok("2025-02-28"));
        check("240229", t, Ok("2024-02-29"));
        check("250229", t, Err("bad_date"));
        check("000229", t, Ok("2000-02-29"));
        check("250431", t, Err("bad_date"));
        check("251301", t, Err("bad_date"));
        check("250001", t, Err("bad_date"));
        check("250132", t, Err("bad_date"));
        check("75012", t, Err("bad_date"));
        check("7501011", t, Err("bad_date"));
        check("", t, Err("bad_date"));
        check("2501a1", t, Err("bad_date"));
        check("+50101", t, Err("bad_date"));
        check("25０101", t, Err("bad_date"));
    }

    #[test]
    fn century_window() {
        let t = day(2025, 1, 1);
        check("750101", t, Ok("2075-01-01")); // +50: this century
        check("760101", t, Ok("1976-01-01")); // +51: previous century
        check("990101", t, Ok("1999-01-01"));
        check("000101", t, Ok("2000-01-01"));
        let t = day(2080, 1, 1);
        check("310101", t, Ok("2031-01-01")); // -49: this century
        check("300101", t, Ok("2130-01-01")); // -50: next century
        let t = day(2099, 12, 31);
        check("500101", t, Ok("2050-01-01"));
        check("490101", t, Ok("2149-01-01"));
        check("000100", t, Ok("2100-01-31"));
        let t = day(2100, 1, 1);
        check("510101", t, Ok("2051-01-01")); // +51: previous century
        check("500101", t, Ok("2150-01-01"));
    }

    fn iso(s: &str, expected: Result<(&str, &str), &str>) {
        let got = Expiry::from_iso(s).map(|e| (e.to_xsd_date(), e.raw_yymmdd()));
        let expected = expected.map(|(d, r)| (d.to_string(), r.to_string()));
        assert_eq!(got.map_err(|e| e.code()), expected, "{s:?}");
    }

    #[test]
    fn iso_dates() {
        iso("2027-01-31", Ok(("2027-01-31", "270131")));
        iso("2024-02-29", Ok(("2024-02-29", "240229")));
        iso("2027-02-29", Err("bad_date"));
        iso("2027-02-30", Err("bad_date"));
        iso("2027-13-01", Err("bad_date"));
        iso("2027-01-00", Err("bad_date"));
        iso("2027-1-31", Err("bad_date"));
        iso("27-01-31", Err("bad_date"));
        iso("2027/01/31", Err("bad_date"));
        iso("2027-01-31 ", Err("bad_date"));
        iso("", Err("bad_date"));
        iso("+027-01-31", Err("bad_date"));
        iso("2027-0a-31", Err("bad_date"));
        iso("２０27-01-31", Err("bad_date"));
    }

    #[test]
    fn raw_form_is_part_of_equality() {
        let explicit = Expiry::from_iso("2027-01-31").unwrap();
        let day00 = Expiry::from_yymmdd("270100", day(2025, 1, 1)).unwrap();
        assert_eq!(explicit.date(), day00.date());
        assert_ne!(explicit, day00);
    }
}
