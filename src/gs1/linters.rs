//! The content checks ("linters") the GS1 Syntax Dictionary attaches to
//! components of an AI's data field: check digits, dates and times, and a
//! few small value rules.
//!
//! Each linter sees one component's characters, already known to be of the
//! right character set and length, and says what is wrong in words an
//! operator understands. Linters that need external tables (country and
//! currency codes, IBAN, company-prefix positions, coupon structure, ...)
//! are parsed but deliberately not checked: they are `Unchecked`, which
//! accepts every value — none of them occur in the AIs a packaging line
//! uses to identify an item.

use chrono::{Datelike, NaiveDate};

use super::check_digit::check_digit;

/// A named linter from the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linter {
    Csum,
    /// `YYMMDD` where day `00` is allowed (last day of the month).
    Yymmd0,
    Yymmdd,
    Yyyymmdd,
    Hhmi,
    Hh,
    Mi,
    Ss,
    Zero,
    Nonzero,
    Yesno,
    Hyphen,
    Nozeroprefix,
    Hasnondigit,
    Pieceoftotal,
    Winding,
    Iso5218,
    /// Known to GS1 but not checked here: accepted as is.
    Unchecked(&'static str),
}

/// What a linter found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    CheckDigit { expected: char, found: char },
    Date(String),
    Other(String),
}

impl Linter {
    pub fn from_name(name: &'static str) -> Linter {
        match name {
            "csum" => Linter::Csum,
            "yymmd0" => Linter::Yymmd0,
            "yymmdd" => Linter::Yymmdd,
            "yyyymmdd" => Linter::Yyyymmdd,
            "hhmi" => Linter::Hhmi,
            "hh" => Linter::Hh,
            "mi" => Linter::Mi,
            "ss" => Linter::Ss,
            "zero" => Linter::Zero,
            "nonzero" => Linter::Nonzero,
            "yesno" => Linter::Yesno,
            "hyphen" => Linter::Hyphen,
            "nozeroprefix" => Linter::Nozeroprefix,
            "hasnondigit" => Linter::Hasnondigit,
            "pieceoftotal" => Linter::Pieceoftotal,
            "winding" => Linter::Winding,
            "iso5218" => Linter::Iso5218,
            other => Linter::Unchecked(other),
        }
    }

    /// Checks one component value; `today` anchors two-digit years.
    pub fn check(self, v: &str, today: NaiveDate) -> Result<(), Problem> {
        let other = |m: &str| Err(Problem::Other(format!("{m}, got '{v}'")));
        match self {
            Linter::Csum => csum(v),
            Linter::Yymmd0 => date(v, today, true),
            Linter::Yymmdd => date(v, today, false),
            Linter::Yyyymmdd => match (num(v, 0..4), v.len()) {
                (Some(year), 8) => ymd(year as i32, &v[4..], false),
                _ => Err(Problem::Date(format!("'{v}' is not a date YYYYMMDD"))),
            },
            Linter::Hhmi => time(v, 0..2, "hour", 24).and_then(|()| time(v, 2..4, "minute", 60)),
            Linter::Hh => time(v, 0..2, "hour", 24),
            Linter::Mi => time(v, 0..2, "minute", 60),
            Linter::Ss => time(v, 0..2, "second", 60),
            Linter::Zero if v != "0" => other("must be 0"),
            Linter::Nonzero if v.bytes().all(|b| b == b'0') => other("must not be zero"),
            Linter::Yesno if v != "0" && v != "1" => other("must be 0 or 1"),
            Linter::Hyphen if v != "-" => other("must be '-'"),
            Linter::Nozeroprefix if v.len() > 1 && v.starts_with('0') => {
                other("must not start with 0")
            }
            Linter::Hasnondigit if v.bytes().all(|b| b.is_ascii_digit()) => {
                other("must contain a character that is not a digit")
            }
            Linter::Pieceoftotal => match (num(v, 0..2), num(v, 2..4)) {
                (Some(p), Some(t)) if p >= 1 && p <= t => Ok(()),
                _ => other("piece must be between 1 and the total"),
            },
            Linter::Winding if !matches!(v, "0" | "1" | "9") => other("must be 0, 1 or 9"),
            Linter::Iso5218 if !matches!(v, "0" | "1" | "2" | "9") => other("must be 0, 1, 2 or 9"),
            _ => Ok(()),
        }
    }
}

/// The decimal value of the ASCII digits at `range`.
fn num(v: &str, range: std::ops::Range<usize>) -> Option<u32> {
    let part = v.get(range)?;
    part.bytes().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

fn csum(v: &str) -> Result<(), Problem> {
    let bad = || Problem::Other(format!("'{v}' has no check digit"));
    let (body, last) = v
        .split_at_checked(v.len().saturating_sub(1))
        .ok_or_else(bad)?;
    let expected = check_digit(body).ok_or_else(bad)?;
    let expected = char::from(b'0' + expected);
    let found = last.chars().next().ok_or_else(bad)?;
    if found == expected {
        Ok(())
    } else {
        Err(Problem::CheckDigit { expected, found })
    }
}

/// The year of `yy` in GS1's sliding window around `today`: up to 50
/// years ahead or 49 years back.
pub(crate) fn window_year(yy: u32, today: NaiveDate) -> i32 {
    let current_yy = today.year().rem_euclid(100);
    let century = today.year() - current_yy;
    let yy = yy as i32; // below 100
    match yy - current_yy {
        d if d >= 51 => century - 100 + yy,
        d if d > -50 => century + yy,
        _ => century + 100 + yy,
    }
}

fn date(v: &str, today: NaiveDate, day00: bool) -> Result<(), Problem> {
    match (num(v, 0..2), v.len()) {
        (Some(yy), 6) => ymd(window_year(yy, today), &v[2..], day00),
        _ => Err(Problem::Date(format!("'{v}' is not a date YYMMDD"))),
    }
}

/// Checks `MMDD` in `year`.
fn ymd(year: i32, mmdd: &str, day00: bool) -> Result<(), Problem> {
    let (Some(month), Some(day)) = (num(mmdd, 0..2), num(mmdd, 2..4)) else {
        return Err(Problem::Date(format!("'{mmdd}' is not a month and day")));
    };
    if !(1..=12).contains(&month) {
        return Err(Problem::Date(format!("month {month:02} is not a month")));
    }
    if day == 0 && day00 {
        return Ok(());
    }
    if day == 0 || day > 31 {
        return Err(Problem::Date(format!("day {day:02} is not a date")));
    }
    if NaiveDate::from_ymd_opt(year, month, day).is_none() {
        return Err(Problem::Date(format!(
            "day {day:02} is not a date in {year}-{month:02}"
        )));
    }
    Ok(())
}

fn time(v: &str, range: std::ops::Range<usize>, unit: &str, limit: u32) -> Result<(), Problem> {
    match num(v, range) {
        Some(n) if n < limit => Ok(()),
        Some(n) => Err(Problem::Date(format!("{unit} {n:02} is not a time"))),
        None => Err(Problem::Date(format!("'{v}' is not a time"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(linter: &str, v: &str, expected: Result<(), &str>) {
        let today = NaiveDate::from_ymd_opt(2025, 6, 15).unwrap();
        let name: &'static str = Box::leak(linter.to_string().into_boxed_str());
        let got = Linter::from_name(name)
            .check(v, today)
            .map_err(|p| match p {
                Problem::CheckDigit { expected, found } => format!("cd {expected} {found}"),
                Problem::Date(m) | Problem::Other(m) => m,
            });
        assert_eq!(got, expected.map_err(str::to_string), "{linter} {v:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn linters() {
        check("csum", "00361414567894", Ok(()));
        check("csum", "00361414567897", Err("cd 4 7"));
        check("csum", "0", Err("'0' has no check digit"));
        check("csum", "", Err("'' has no check digit"));
        check("yymmd0", "270100", Ok(()));
        check("yymmd0", "240229", Ok(()));
        check("yymmd0", "250229", Err("day 29 is not a date in 2025-02"));
        check("yymmd0", "251301", Err("month 13 is not a month"));
        check("yymmd0", "250132", Err("day 32 is not a date"));
        check("yymmdd", "270100", Err("day 00 is not a date"));
        check("yymmdd", "000229", Ok(()));
        check("yyyymmdd", "19000229", Err("day 29 is not a date in 1900-02"));
        check("yyyymmdd", "20000229", Ok(()));
        check("hhmi", "2359", Ok(()));
        check("hhmi", "2400", Err("hour 24 is not a time"));
        check("hhmi", "1260", Err("minute 60 is not a time"));
        check("ss", "59", Ok(()));
        check("ss", "60", Err("second 60 is not a time"));
        check("zero", "1", Err("must be 0, got '1'"));
        check("nonzero", "000", Err("must not be zero, got '000'"));
        check("nonzero", "010", Ok(()));
        check("yesno", "2", Err("must be 0 or 1, got '2'"));
        check("hyphen", "-", Ok(()));
        check("nozeroprefix", "012", Err("must not start with 0, got '012'"));
        check("nozeroprefix", "0", Ok(()));
        check("hasnondigit", "123", Err("must contain a character that is not a digit, got '123'"));
        check("pieceoftotal", "0203", Ok(()));
        check("pieceoftotal", "0302", Err("piece must be between 1 and the total, got '0302'"));
        check("winding", "9", Ok(()));
        check("iso5218", "3", Err("must be 0, 1, 2 or 9, got '3'"));
        check("iso3166", "999", Ok(())); // unchecked
        check("iban", "anything", Ok(())); // unchecked
    }

    #[test]
    fn century_window() {
        let t = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        assert_eq!(window_year(75, t), 2075);
        assert_eq!(window_year(76, t), 1976);
        let t = NaiveDate::from_ymd_opt(2080, 1, 1).unwrap();
        assert_eq!(window_year(30, t), 2130);
        assert_eq!(window_year(31, t), 2031);
    }
}
