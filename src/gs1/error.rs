//! `ParseError`: why a scanned or received code was refused, as a value a
//! caller can branch on (`kind`), point at (`position`, a byte offset into
//! the input) and show to an operator (`Display`).
//!
//! Messages name the AI and the problem in plain words ("AI (17) day 32 is
//! not a date", "GTIN check digit should be 4, got 7"); they never dump the
//! whole input, which the caller already has. Errors from the validated
//! newtypes (`Gs1Error`) travel inside `ParseErrorKind::Value`.

use std::fmt;

use super::Gs1Error;
#[cfg(test)]
use super::ai_rules::{key_name, subject};
use super::ai_table::Cset;

/// A parse failure and the byte offset in the input where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub position: usize,
    pub kind: ParseErrorKind,
}

/// What went wrong. `ai` fields hold the AI digits, `subject` how the
/// message names the value (e.g. "AI (21) serial").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    Empty,
    /// An AIM symbology identifier of a symbol that cannot carry GS1 data.
    NotGs1Symbol {
        symbology: String,
    },
    /// Not raw scanner data, an element string, a Digital Link or an EPC URI.
    Unrecognised,
    /// Where an AI should start, something else is.
    ExpectedAi {
        found: String,
    },
    UnknownAi {
        ai: String,
    },
    BadLength {
        subject: String,
        found: usize,
        min: usize,
        max: usize,
    },
    /// Length within bounds, but not one the component layout allows.
    BadLayout {
        subject: String,
        found: usize,
        spec: &'static str,
    },
    BadCharacter {
        subject: String,
        ch: char,
        cset: Cset,
    },
    CheckDigit {
        key: String,
        expected: char,
        found: char,
    },
    BadDate {
        ai: String,
        problem: String,
    },
    BadValue {
        subject: String,
        problem: String,
    },
    Duplicate {
        ai: String,
    },
    Excluded {
        ai: String,
        other: String,
    },
    Requires {
        ai: String,
        alternatives: Vec<Vec<String>>,
    },
    DigitalLink {
        problem: String,
    },
    /// Valid GS1 data that identifies no single item or container.
    NotAnInstance,
    Value(Box<Gs1Error>),
}

impl ParseError {
    pub(crate) fn new(position: usize, kind: ParseErrorKind) -> Self {
        ParseError { position, kind }
    }

    /// Short machine-readable code for logs and API responses.
    pub fn code(&self) -> &'static str {
        use ParseErrorKind as K;
        match &self.kind {
            K::Empty => "empty",
            K::NotGs1Symbol { .. } => "not_gs1",
            K::Unrecognised | K::ExpectedAi { .. } => "malformed",
            K::UnknownAi { .. } => "unknown_ai",
            K::BadLength { .. } | K::BadLayout { .. } => "bad_length",
            K::BadCharacter { .. } => "bad_character",
            K::CheckDigit { .. } => "check_digit",
            K::BadDate { .. } => "bad_date",
            K::BadValue { .. } => "bad_value",
            K::Duplicate { .. } => "duplicate",
            K::Excluded { .. } => "excluded",
            K::Requires { .. } => "requires",
            K::DigitalLink { .. } => "digital_link",
            K::NotAnInstance => "not_an_instance",
            K::Value(e) => e.code(),
        }
    }
}

impl From<Gs1Error> for ParseError {
    fn from(e: Gs1Error) -> Self {
        ParseError::new(0, ParseErrorKind::Value(Box::new(e)))
    }
}

fn cset_name(c: Cset) -> &'static str {
    match c {
        Cset::N => "digits only",
        Cset::X => "GS1 character set 82",
        Cset::Y => "GS1 character set 39",
        Cset::Z => "GS1 character set 64",
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseErrorKind as K;
        match &self.kind {
            K::Empty => f.write_str("the code is empty"),
            K::NotGs1Symbol { symbology } => write!(
                f,
                "symbology identifier {symbology} says this is not a GS1 symbol \
                 (GS1 data starts with ]C1, ]d2, ]e0, ]J1 or ]Q3)"
            ),
            K::Unrecognised => f.write_str(
                "not a GS1 code: expected scanner data (]d2…, 01…), an element string (01)…, \
                 a GS1 Digital Link https://…/01/… or an EPC URI urn:epc:id:…",
            ),
            K::ExpectedAi { found } => write!(f, "expected a GS1 AI at '{found}'"),
            K::UnknownAi { ai } => write!(f, "({ai}) is not a GS1 application identifier"),
            K::BadLength {
                subject,
                found,
                min,
                max,
            } if min == max => {
                write!(f, "{subject} is {found} characters, exactly {max} required")
            }
            K::BadLength {
                subject,
                found,
                min,
                max,
            } if *found > *max => {
                write!(f, "{subject} is {found} characters, at most {max} allowed")
            }
            K::BadLength {
                subject,
                found,
                min,
                ..
            } => {
                write!(
                    f,
                    "{subject} is {found} characters, at least {min} required"
                )
            }
            K::BadLayout {
                subject,
                found,
                spec,
            } => {
                write!(
                    f,
                    "{subject} is {found} characters, which does not fit its format {spec}"
                )
            }
            K::BadCharacter { subject, ch, cset } => {
                write!(
                    f,
                    "{subject} contains {ch:?}, which is not allowed ({})",
                    cset_name(*cset)
                )
            }
            K::CheckDigit {
                key,
                expected,
                found,
            } => {
                write!(f, "{key} check digit should be {expected}, got {found}")
            }
            K::BadDate { ai, problem } => write!(f, "AI ({ai}) {problem}"),
            K::BadValue { subject, problem } => write!(f, "{subject} {problem}"),
            K::Duplicate { ai } => write!(f, "AI ({ai}) appears more than once"),
            K::Excluded { ai, other } => {
                write!(f, "AI ({ai}) cannot be used together with AI ({other})")
            }
            K::Requires { ai, alternatives } => {
                let alts: Vec<String> = alternatives
                    .iter()
                    .map(|group| {
                        group
                            .iter()
                            .map(|a| format!("({a})"))
                            .collect::<Vec<_>>()
                            .join("+")
                    })
                    .collect();
                let list = match alts.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("{} or {last}", rest.join(", "))
                    }
                    _ => alts.join(""),
                };
                write!(f, "AI ({ai}) needs AI {list} in the same code")
            }
            K::DigitalLink { problem } => write!(f, "GS1 Digital Link: {problem}"),
            K::NotAnInstance => f.write_str(
                "this code does not identify exactly one item or container: linegate needs \
                 (01) GTIN with (21) serial, or (00) SSCC",
            ),
            K::Value(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: ParseErrorKind) -> String {
        ParseError::new(0, kind).to_string()
    }

    #[test]
    fn messages() {
        use ParseErrorKind as K;
        let s = |t: &str| t.to_string();
        assert_eq!(
            e(K::BadLength {
                subject: subject("21", "SERIAL"),
                found: 23,
                min: 1,
                max: 20
            }),
            "AI (21) serial is 23 characters, at most 20 allowed"
        );
        assert_eq!(
            e(K::BadLength {
                subject: subject("01", "GTIN"),
                found: 13,
                min: 14,
                max: 14
            }),
            "AI (01) GTIN is 13 characters, exactly 14 required"
        );
        assert_eq!(
            e(K::BadLength {
                subject: subject("253", "GDTI"),
                found: 3,
                min: 13,
                max: 30
            }),
            "AI (253) GDTI is 3 characters, at least 13 required"
        );
        assert_eq!(
            e(K::CheckDigit {
                key: key_name("01", "GTIN"),
                expected: '4',
                found: '7'
            }),
            "GTIN check digit should be 4, got 7"
        );
        assert_eq!(
            e(K::BadDate {
                ai: s("17"),
                problem: s("day 32 is not a date")
            }),
            "AI (17) day 32 is not a date"
        );
        assert_eq!(
            e(K::Excluded {
                ai: s("02"),
                other: s("01")
            }),
            "AI (02) cannot be used together with AI (01)"
        );
        let alts = vec![vec![s("01")], vec![s("03")], vec![s("8006")]];
        assert_eq!(
            e(K::Requires {
                ai: s("21"),
                alternatives: alts
            }),
            "AI (21) needs AI (01), (03) or (8006) in the same code"
        );
        let alts = vec![vec![s("01"), s("21")]];
        assert_eq!(
            e(K::Requires {
                ai: s("8040"),
                alternatives: alts
            }),
            "AI (8040) needs AI (01)+(21) in the same code"
        );
        assert_eq!(
            e(K::BadCharacter {
                subject: subject("21", ""),
                ch: ' ',
                cset: Cset::X
            }),
            "AI (21) serial contains ' ', which is not allowed (GS1 character set 82)"
        );
        assert_eq!(subject("8110", ""), "AI (8110)");
        assert_eq!(
            key_name("8017", "GSRN - PROVIDER"),
            "AI (8017) GSRN - PROVIDER"
        );
        let wrapped = ParseError::from(Gs1Error::PrefixLength { len: 5 });
        assert_eq!((wrapped.code(), wrapped.position), ("bad_length", 0));
    }
}
