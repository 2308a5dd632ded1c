//! GS1 identifiers as the packaging line sees them: GTIN, SSCC and GLN with
//! their check digits, serials and lots in character set 82, YYMMDD expiry
//! dates, bracketed element strings such as `(01)…(21)…`, and EPC
//! pure-identity URIs (`urn:epc:id:sgtin|sscc|sgln:…`).
//!
//! Everything in this module is pure: it parses, validates and formats
//! strings and never does I/O, never reads the clock (callers pass `today`)
//! and never panics on any input. It deliberately does not know the GS1
//! company-prefix length table (the configured prefixes come in through
//! [`CompanyPrefixes`]), does not parse raw scanner data with FNC1/GS
//! separators, and accepts only the application identifiers the line uses:
//! (00), (01), (10), (17) and (21).

mod check_digit;
mod code;
mod company_prefix;
mod epc_uri;
mod expiry;
mod gcp_table;
mod keys;
mod sgln;

pub use check_digit::check_digit;
pub use code::{Code, parse_code};
pub use company_prefix::CompanyPrefixes;
pub use expiry::Expiry;
pub use keys::{Gln, Gtin, Identifier, Lot, Serial, Sgtin, Sscc};
pub use sgln::validate_sgln_uri;

/// The forms `parse_code` understands, quoted in "unsupported" errors.
const ACCEPTED: &str = "linegate accepts (01) GTIN with (21) serial [and (10) lot, (17) expiry], \
                        (00) SSCC, or an sgtin/sscc EPC URI";

/// Why a GS1 value was rejected. The `Display` text is meant for operators:
/// it names the kind of value, quotes it and says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gs1Error {
    /// A GTIN, SSCC or GLN whose last digit does not match the mod-10 rule.
    #[error("{kind} {value} has check digit {found}, expected {expected}")]
    CheckDigit {
        kind: &'static str,
        value: String,
        found: char,
        expected: u8,
    },
    /// A value with the wrong number of characters.
    #[error("{kind} '{value}' has {found} characters, expected {expected}")]
    BadLength {
        kind: &'static str,
        value: String,
        found: usize,
        expected: String,
    },
    /// A GS1 company-prefix length outside 6..=12.
    #[error("GS1 company prefix length {len} is not between 6 and 12")]
    PrefixLength { len: usize },
    /// A character that is not allowed at that place.
    #[error("{kind} '{value}' contains {ch:?} which {why}")]
    BadCharacter {
        kind: &'static str,
        value: String,
        ch: char,
        why: &'static str,
    },
    /// A date that is not a real calendar date in the expected format.
    #[error("date '{value}' is not valid: {reason}")]
    BadDate { value: String, reason: String },
    /// Valid GS1 perhaps, but not something linegate handles (yet).
    #[error("unsupported {what}: {accepted}", accepted = ACCEPTED)]
    Unsupported { what: String },
    /// Input whose structure is wrong (missing parts, bad pairing, ...).
    #[error("{kind} '{value}' is malformed: {reason}")]
    Malformed {
        kind: &'static str,
        value: String,
        reason: String,
    },
}

impl Gs1Error {
    /// Short machine-readable code for logs, metrics and API responses.
    pub fn code(&self) -> &'static str {
        match self {
            Gs1Error::CheckDigit { .. } => "check_digit",
            Gs1Error::BadLength { .. } | Gs1Error::PrefixLength { .. } => "bad_length",
            Gs1Error::BadCharacter { .. } => "bad_character",
            Gs1Error::BadDate { .. } => "bad_date",
            Gs1Error::Unsupported { .. } => "unsupported",
            Gs1Error::Malformed { .. } => "malformed",
        }
    }

    pub(crate) fn malformed(kind: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Gs1Error::Malformed {
            kind,
            value: shown(value),
            reason: reason.into(),
        }
    }
}

/// Longest excerpt of user input quoted in an error message.
const SHOWN_MAX: usize = 64;

/// Makes untrusted input safe to quote in a one-line message: control and
/// other unprintable characters are escaped, long input is cut with `…`.
pub(crate) fn shown(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == SHOWN_MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Checks a GS1 company-prefix length.
pub(crate) fn check_gcp_len(len: usize) -> Result<(), Gs1Error> {
    if (6..=12).contains(&len) {
        Ok(())
    } else {
        Err(Gs1Error::PrefixLength { len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(err: Gs1Error, code: &str, message: &str) {
        assert_eq!(err.code(), code, "{err:?}");
        assert_eq!(err.to_string(), message);
    }

    #[test]
    #[rustfmt::skip]
    fn messages_name_the_value_and_the_problem() {
        check(Gtin::parse("00361414567895").unwrap_err(), "check_digit", "GTIN 00361414567895 has check digit 5, expected 4");
        check(Gtin::parse("0361414567893").unwrap_err(), "check_digit", "GTIN 0361414567893 has check digit 3, expected 4");
        check(Serial::parse("AB C").unwrap_err(), "bad_character", "serial 'AB C' contains ' ' which GS1 does not allow (character set 82)");
        check(Lot::parse("L\u{1d}1").unwrap_err(), "bad_character", "lot 'L\\u{1d}1' contains '\\u{1d}' which GS1 does not allow (character set 82)");
        check(Gln::parse("036141400000x").unwrap_err(), "bad_character", "GLN '036141400000x' contains 'x' which is not a digit");
        check(Sscc::parse("1234").unwrap_err(), "bad_length", "SSCC '1234' has 4 characters, expected 18 digits");
        check(Gs1Error::PrefixLength { len: 5 }, "bad_length", "GS1 company prefix length 5 is not between 6 and 12");
        check(Gs1Error::malformed("code", "", "it is empty"), "malformed", "code '' is malformed: it is empty");
        check(Gs1Error::BadDate { value: "x".into(), reason: "y".into() }, "bad_date", "date 'x' is not valid: y");
        check(
            Gs1Error::Unsupported { what: "element string '(99)X'".into() },
            "unsupported",
            "unsupported element string '(99)X': linegate accepts (01) GTIN with (21) serial [and (10) lot, (17) expiry], (00) SSCC, or an sgtin/sscc EPC URI",
        );
    }

    #[test]
    fn shown_escapes_and_truncates() {
        assert_eq!(shown("a\u{1d}b"), "a\\u{1d}b");
        assert_eq!(shown(&"x".repeat(100)), format!("{}…", "x".repeat(64)));
        assert_eq!(shown("(01)ü"), "(01)ü");
    }

    #[test]
    fn gcp_len_bounds() {
        for (len, ok) in [(5, false), (6, true), (12, true), (13, false), (0, false)] {
            assert_eq!(check_gcp_len(len).is_ok(), ok, "{len}");
        }
    }
}
