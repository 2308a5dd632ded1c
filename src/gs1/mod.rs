//! GS1 identifiers as the packaging line sees them: every form a code
//! arrives in (raw scanner data with AIM symbology identifiers and GS
//! separators, bracketed element strings, GS1 Digital Link URIs, EPC
//! pure-identity URIs), checked against GS1's own table of all Application
//! Identifiers; GTIN, SSCC and GLN with their check digits; serials and lots
//! in character set 82; YYMMDD dates; and EPC URIs (SGTIN, SSCC, SGLN).
//!
//! Everything in this module is pure: it parses, validates and formats
//! strings and never does I/O, never reads the clock (callers pass `today`)
//! and never panics on any input. `parse_scan` returns everything a code
//! says; `parse_code` is the shortcut for "the one item or container".
//! Company-prefix lengths come in through [`CompanyPrefixes`].

mod ai_rules;
mod ai_table;
mod check_digit;
mod code;
mod company_prefix;
mod dictionary;
mod digital_link;
mod element;
mod epc;
mod epc_uri;
mod error;
mod expiry;
mod gcp_table;
mod keys;
mod linters;
mod pairing;
mod scan;
mod sgln;

#[cfg(test)]
mod cases_scanner;
#[cfg(test)]
mod cases_text;
#[cfg(test)]
mod proptests;

pub use ai_table::Cset;
pub use check_digit::check_digit;
pub use code::{Code, parse_code};
pub use company_prefix::CompanyPrefixes;
pub use element::Element;
pub use epc::EpcUri;
pub use error::{ParseError, ParseErrorKind};
pub use expiry::Expiry;
pub use keys::{Gln, Gtin, Identifier, Lot, Serial, Sgtin, Sscc};
pub use scan::{InputForm, Scan, parse_scan};
pub use sgln::validate_sgln_uri;

/// The EPC URIs linegate reads, quoted in "unsupported" errors.
const ACCEPTED: &str =
    "linegate reads the EPC URIs urn:epc:id:sgtin:…, urn:epc:id:sscc:… and urn:epc:id:sgln:…";

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
    /// A code that `parse_scan` refused; position and kind inside.
    #[error("{0}")]
    Parse(ParseError),
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
            Gs1Error::Parse(e) => e.code(),
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

impl From<ParseError> for Gs1Error {
    fn from(e: ParseError) -> Self {
        Gs1Error::Parse(e)
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

/// Runs a data-driven case table: each input is parsed with
/// [`parse_scan`] and rendered as `form (ai)value… [=> EPC URI]` (company
/// prefix 7 unless the input said otherwise) or `err@position: message`.
#[cfg(test)]
pub(crate) fn run_cases(cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (input, expected) in cases {
        let got = render_scan(input.as_bytes());
        if got != *expected {
            failures.push(format!("{input:?}\n   got: {got:?}\n  want: {expected:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[cfg(test)]
pub(crate) fn render_scan(input: &[u8]) -> String {
    let today = chrono::NaiveDate::from_ymd_opt(2025, 6, 15).unwrap();
    let scan = match parse_scan(input, today) {
        Ok(scan) => scan,
        Err(e) => return format!("err@{}: {e}", e.position),
    };
    let mut out = match &scan.form {
        InputForm::Scanner { symbology: Some(s) } => s.to_string(),
        InputForm::Scanner { symbology: None } => "raw".into(),
        InputForm::Bracketed => "hri".into(),
        InputForm::DigitalLink => "dl".into(),
        InputForm::EpcUri => "epc".into(),
    };
    out.push(' ');
    for e in &scan.elements {
        assert!(
            !e.title.is_empty() || e.ai == "8110" || e.ai == "8112",
            "{}",
            e.ai
        );
        out += &format!("({}){}", e.ai, e.value);
    }
    if let Some(code) = &scan.code {
        let uri = code.id.epc_uri(code.gcp_len.unwrap_or(7));
        out += &format!(" => {}", uri.unwrap_or_else(|e| e.to_string()));
    }
    if let Some((gln, ext)) = &scan.sgln {
        let uri = gln.sgln_uri(7, ext.as_deref());
        out += &format!(" => {}", uri.unwrap_or_else(|e| e.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data-driven case tables; print the total with
    /// `cargo test --lib gs1::tests::case_total -- --nocapture`.
    #[test]
    fn case_total() {
        let tables = [
            ("cases_scanner", cases_scanner::CASES.len()),
            ("cases_text", cases_text::CASES.len()),
            ("digital_link", digital_link::tests::CASES.len()),
            ("pairing", pairing::tests::CASES.len()),
            ("code", code::tests::CASES.len()),
        ];
        let total: usize = tables.iter().map(|(_, n)| n).sum();
        println!("gs1 data-driven cases: {tables:?}, total {total}");
        assert!(total >= 150, "{total}");
    }

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
            Gs1Error::Unsupported { what: "EPC scheme 'giai'".into() },
            "unsupported",
            "unsupported EPC scheme 'giai': linegate reads the EPC URIs urn:epc:id:sgtin:…, urn:epc:id:sscc:… and urn:epc:id:sgln:…",
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
