//! Checks one AI value against its dictionary row: overall length, the
//! layout of its components (`N13,csum [X..17]`), each component's
//! character set, and the component's linters.
//!
//! This is where "AI (21) serial is 23 characters, at most 20 allowed" and
//! "GTIN check digit should be 4, got 7" come from. It knows nothing about
//! input forms or which AIs appear together (see `scan.rs`, `pairing.rs`).

use chrono::NaiveDate;

use super::ai_table::{AiEntry, Cset};
use super::error::{ParseError, ParseErrorKind};
use super::linters::Problem;

/// Where a value sits in the input: its first byte, and whether its bytes
/// map one to one onto the input (false after unescaping), so a bad
/// character can be pointed at exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    pub pos: usize,
    pub exact: bool,
}

impl At {
    fn at(self, offset: usize) -> usize {
        if self.exact {
            self.pos + offset
        } else {
            self.pos
        }
    }
}

/// Whether byte `b` belongs to character set `cset`.
pub(crate) fn in_cset(cset: Cset, b: u8) -> bool {
    match cset {
        Cset::N => b.is_ascii_digit(),
        Cset::X => matches!(b, b'!' | b'"' | b'%'..=b'?' | b'A'..=b'Z' | b'_' | b'a'..=b'z'),
        Cset::Y => matches!(b, b'#' | b'-' | b'/' | b'0'..=b'9' | b'A'..=b'Z'),
        Cset::Z => matches!(b, b'-' | b'_' | b'=' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z'),
    }
}

/// Validates `value` of `ai` (whose row is `entry`).
pub(crate) fn check_value(
    ai: &str,
    entry: &AiEntry,
    value: &str,
    at: At,
    today: NaiveDate,
) -> Result<(), ParseError> {
    let subject = || subject(ai, entry.title);
    if let Some((i, ch)) = (!value.is_ascii())
        .then(|| value.char_indices().find(|(_, c)| !c.is_ascii()))
        .flatten()
    {
        let cset = entry.components.first().map_or(Cset::X, |c| c.cset);
        let kind = ParseErrorKind::BadCharacter {
            subject: subject(),
            ch,
            cset,
        };
        return Err(ParseError::new(at.at(i), kind));
    }
    // ASCII from here on: bytes are characters.
    let len = value.len();
    if len < entry.min_len || len > entry.max_len {
        let (min, max) = (entry.min_len, entry.max_len);
        let kind = ParseErrorKind::BadLength {
            subject: subject(),
            found: len,
            min,
            max,
        };
        return Err(ParseError::new(at.pos, kind));
    }
    let layout = || {
        let kind = ParseErrorKind::BadLayout {
            subject: subject(),
            found: len,
            spec: entry.spec,
        };
        ParseError::new(at.pos, kind)
    };
    let bytes = value.as_bytes();
    let mut start = 0;
    for c in &entry.components {
        if start == len && c.optional {
            break;
        }
        let end = if c.min == c.max {
            start + c.max
        } else {
            len.min(start + c.max)
        };
        let part = value.get(start..end).ok_or_else(layout)?;
        if let Some(i) = part.bytes().position(|b| !in_cset(c.cset, b)) {
            let ch = char::from(bytes[start + i]);
            let kind = ParseErrorKind::BadCharacter {
                subject: subject(),
                ch,
                cset: c.cset,
            };
            return Err(ParseError::new(at.at(start + i), kind));
        }
        for linter in &c.linters {
            linter.check(part, today).map_err(|p| {
                let kind = match p {
                    Problem::CheckDigit { expected, found } => {
                        let key = key_name(ai, entry.title);
                        ParseErrorKind::CheckDigit {
                            key,
                            expected,
                            found,
                        }
                    }
                    Problem::Date(problem) => ParseErrorKind::BadDate {
                        ai: ai.to_string(),
                        problem,
                    },
                    Problem::Other(problem) => ParseErrorKind::BadValue {
                        subject: subject(),
                        problem,
                    },
                };
                ParseError::new(at.at(start), kind)
            })?;
        }
        start = end;
    }
    if start != len {
        return Err(layout());
    }
    Ok(())
}

/// How messages name the value of `ai`: a short noun for the AIs a
/// packaging line uses, the dictionary title otherwise.
pub(crate) fn subject(ai: &str, title: &str) -> String {
    match noun(ai) {
        Some(n) => format!("AI ({ai}) {n}"),
        None if title.is_empty() => format!("AI ({ai})"),
        None => format!("AI ({ai}) {title}"),
    }
}

/// The name of a key in check-digit messages ("GTIN check digit ...").
pub(crate) fn key_name(ai: &str, title: &str) -> String {
    match ai {
        "00" => "SSCC".into(),
        "01" | "02" | "03" => "GTIN".into(),
        "410" | "411" | "412" | "413" | "414" | "415" | "416" | "417" => "GLN".into(),
        _ => subject(ai, title),
    }
}

fn noun(ai: &str) -> Option<&'static str> {
    Some(match ai {
        "00" => "SSCC",
        "01" | "02" | "03" => "GTIN",
        "10" => "lot",
        "11" => "production date",
        "17" => "expiry date",
        "21" => "serial",
        "254" => "GLN extension",
        "414" => "GLN",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::ai_table::table;
    use super::*;

    /// `expected` is "ok" or "@position message".
    fn check(ai: &str, value: &str, expected: &str) {
        let today = NaiveDate::from_ymd_opt(2025, 6, 15).unwrap();
        let entry = table().get(ai.as_bytes()).unwrap();
        let got = match check_value(
            ai,
            entry,
            value,
            At {
                pos: 10,
                exact: true,
            },
            today,
        ) {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("@{} {e}", e.position),
        };
        assert_eq!(got, expected, "({ai}){value}");
    }

    #[test]
    #[rustfmt::skip]
    fn values() {
        check("01", "00361414567894", "ok");
        check("01", "00361414567897", "@10 GTIN check digit should be 4, got 7");
        check("01", "0036141456789", "@10 AI (01) GTIN is 13 characters, exactly 14 required");
        check("01", "0036141456789X", "@23 AI (01) GTIN contains 'X', which is not allowed (digits only)");
        check("21", "ABCDEFGHIJKLMNOPQRSTUVW", "@10 AI (21) serial is 23 characters, at most 20 allowed");
        check("21", "AB C", "@12 AI (21) serial contains ' ', which is not allowed (GS1 character set 82)");
        check("21", "Aé", "@11 AI (21) serial contains 'é', which is not allowed (GS1 character set 82)");
        check("17", "250132", "@10 AI (17) day 32 is not a date");
        check("17", "270100", "ok");
        check("7003", "2701312359", "ok");
        check("7003", "2701312460", "@16 AI (7003) hour 24 is not a time");
        check("7003", "270100", "@10 AI (7003) EXPIRY TIME is 6 characters, exactly 10 required");
        check("253", "0361414000001ABC", "ok");
        check("253", "0361414000001", "ok");
        check("7007", "250101250", "@10 AI (7007) HARVEST DATE is 9 characters, which does not fit its format N6,yymmdd [N6],yymmdd");
        check("7007", "250101250102", "ok");
        check("8010", "AB-12/#", "ok");
        check("8010", "ab", "@10 AI (8010) CPID contains 'a', which is not allowed (GS1 character set 39)");
        check("8030", "QUJD-_=", "ok");
        check("8030", "QU+D", "@12 AI (8030) DIGSIG contains '+', which is not allowed (GS1 character set 64)");
        check("8006", "003614145678940102", "ok");
        check("8006", "003614145678940302", "@24 AI (8006) ITIP piece must be between 1 and the total, got '0302'");
        check("8011", "0123", "@10 AI (8011) CPID SERIAL must not start with 0, got '0123'");
    }
}
