//! Validated newtypes for the GS1 keys and attributes the line handles
//! (GTIN, GLN, SSCC, serial, lot) and the serialised identifiers built
//! from them (SGTIN, SSCC).
//!
//! A value of one of these types is valid by construction: the only way in
//! is `parse`, so the rest of linegate never re-checks digits or character
//! sets. EPC URI formatting lives in `epc_uri.rs`; choosing a company-prefix
//! length lives in `company_prefix.rs`.

use std::fmt;

use super::check_digit::{require_digits, verify_check_digit};
use super::{Gs1Error, shown};

/// Whether `c` is in GS1 AI encodable character set 82:
/// `! " % & ' ( ) * + , - . / 0-9 : ; < = > ? A-Z _ a-z`.
pub(crate) fn is_cset82(c: char) -> bool {
    matches!(c, '!' | '"' | '%'..='?' | 'A'..='Z' | '_' | 'a'..='z')
}

/// Checks a 1..=`max` character CSET 82 value (AI format `X..max`).
pub(crate) fn require_cset82(kind: &'static str, value: &str, max: usize) -> Result<(), Gs1Error> {
    if let Some(ch) = value.chars().find(|&c| !is_cset82(c)) {
        return Err(Gs1Error::BadCharacter {
            kind,
            value: shown(value),
            ch,
            why: "GS1 does not allow (character set 82)",
        });
    }
    // CSET 82 is ASCII, so the byte length is the character count.
    if value.is_empty() || value.len() > max {
        return Err(Gs1Error::BadLength {
            kind,
            value: shown(value),
            found: value.len(),
            expected: format!("1 to {max} characters"),
        });
    }
    Ok(())
}

/// Implements `as_str`, `Display` and `AsRef<str>` for a `String` newtype.
macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The canonical text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl $name {
            /// Wraps a value the AI table has already validated (format,
            /// character set, check digit), skipping a second check.
            pub(crate) fn from_checked(value: &str) -> Self {
                $name(value.to_string())
            }

            /// Like `from_checked`, taking the string it already owns.
            #[allow(dead_code)] // not every key type is built from an owned string
            pub(crate) fn from_checked_owned(value: String) -> Self {
                $name(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Global Trade Item Number, always held as GTIN-14 (14 ASCII digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gtin(String);
string_newtype!(Gtin);

impl Gtin {
    /// Accepts GTIN-8, -12, -13 or -14 and left-pads it with zeros to 14.
    pub fn parse(s: &str) -> Result<Self, Gs1Error> {
        require_digits("GTIN", s, &[8, 12, 13, 14], "8, 12, 13 or 14 digits")?;
        verify_check_digit("GTIN", s)?;
        Ok(Gtin(format!("{s:0>14}")))
    }

    /// The packaging indicator (first digit of the GTIN-14).
    pub fn indicator(&self) -> char {
        self.0.chars().next().unwrap_or('0')
    }
}

/// Global Location Number: 13 ASCII digits ending in a check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gln(String);
string_newtype!(Gln);

impl Gln {
    pub fn parse(s: &str) -> Result<Self, Gs1Error> {
        require_digits("GLN", s, &[13], "13 digits")?;
        verify_check_digit("GLN", s)?;
        Ok(Gln(s.to_string()))
    }
}

/// Serial Shipping Container Code: 18 ASCII digits ending in a check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sscc(String);
string_newtype!(Sscc);

impl Sscc {
    pub fn parse(s: &str) -> Result<Self, Gs1Error> {
        require_digits("SSCC", s, &[18], "18 digits")?;
        verify_check_digit("SSCC", s)?;
        Ok(Sscc(s.to_string()))
    }
}

/// Serial number, AI (21): 1 to 20 characters of CSET 82, unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Serial(String);
string_newtype!(Serial);

impl Serial {
    pub fn parse(s: &str) -> Result<Self, Gs1Error> {
        require_cset82("serial", s, 20)?;
        Ok(Serial(s.to_string()))
    }
}

/// Batch or lot number, AI (10): 1 to 20 characters of CSET 82.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lot(String);
string_newtype!(Lot);

impl Lot {
    pub fn parse(s: &str) -> Result<Self, Gs1Error> {
        require_cset82("lot", s, 20)?;
        Ok(Lot(s.to_string()))
    }
}

/// Serialised GTIN: one individual trade item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sgtin {
    pub gtin: Gtin,
    pub serial: Serial,
}

/// A serialised identifier the line can commission, pack or ship.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    Sgtin(Sgtin),
    Sscc(Sscc),
}

impl Identifier {
    /// Canonical GS1 element string, independent of the company-prefix
    /// length: `(01){gtin14}(21){serial}` or `(00){sscc18}`. Used as the
    /// primary key of the serial registry.
    pub fn key(&self) -> String {
        match self {
            Identifier::Sgtin(s) => format!("(01){}(21){}", s.gtin, s.serial),
            Identifier::Sscc(s) => format!("(00){s}"),
        }
    }

    /// The GTIN of an SGTIN; `None` for an SSCC.
    pub fn gtin(&self) -> Option<&Gtin> {
        match self {
            Identifier::Sgtin(s) => Some(&s.gtin),
            Identifier::Sscc(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: fmt::Display>(got: Result<T, Gs1Error>, expected: Result<&str, &str>) {
        let got = got.map(|v| v.to_string()).map_err(|e| e.code());
        assert_eq!(got, expected.map(str::to_string));
    }

    #[test]
    fn gtins() {
        check(Gtin::parse("00361414567894"), Ok("00361414567894"));
        check(Gtin::parse("50361414567899"), Ok("50361414567899"));
        check(Gtin::parse("0361414567894"), Ok("00361414567894")); // GTIN-13
        check(Gtin::parse("361414567894"), Ok("00361414567894")); // GTIN-12
        check(Gtin::parse("12345670"), Ok("00000012345670")); // GTIN-8
        check(Gtin::parse("00361414567895"), Err("check_digit"));
        check(Gtin::parse("1234567"), Err("bad_length"));
        check(Gtin::parse("000361414567894"), Err("bad_length"));
        check(Gtin::parse(""), Err("bad_length"));
        check(Gtin::parse("0036141456789a"), Err("bad_character"));
        check(Gtin::parse(" 0361414567894"), Err("bad_character"));
    }

    #[test]
    fn glns_and_ssccs() {
        check(Gln::parse("0361414000001"), Ok("0361414000001"));
        check(Gln::parse("0361414000002"), Err("check_digit"));
        check(Gln::parse("036141400001"), Err("bad_length"));
        check(Sscc::parse("003614145000000013"), Ok("003614145000000013"));
        check(Sscc::parse("803250210000051395"), Ok("803250210000051395"));
        check(Sscc::parse("003614145000000012"), Err("check_digit"));
        check(Sscc::parse("00361414500000001"), Err("bad_length"));
        check(Sscc::parse("00361414500000001X"), Err("bad_character"));
    }

    #[test]
    #[rustfmt::skip]
    fn serials_and_lots() {
        check(Serial::parse("ABC123"), Ok("ABC123"));
        check(Serial::parse("A/B%C"), Ok("A/B%C"));
        check(Serial::parse("!\"%&'()*+,-./:;<=>?_"), Ok("!\"%&'()*+,-./:;<=>?_"));
        check(Serial::parse("!\"%&'()*+,-./:;<=>?_z"), Err("bad_length")); // 21 characters
        check(Serial::parse("12345678901234567890"), Ok("12345678901234567890"));
        check(Serial::parse("123456789012345678901"), Err("bad_length"));
        check(Serial::parse(""), Err("bad_length"));
        check(Serial::parse("AB C"), Err("bad_character"));
        check(Serial::parse("A#B"), Err("bad_character"));
        check(Serial::parse("A@B"), Err("bad_character"));
        check(Serial::parse("é"), Err("bad_character"));
        check(Serial::parse("A\u{1d}B"), Err("bad_character"));
        check(Serial::parse("ＡＢ"), Err("bad_character"));
        check(Lot::parse("L-2024/07"), Ok("L-2024/07"));
        check(Lot::parse("L 1"), Err("bad_character"));
        check(Lot::parse(""), Err("bad_length"));
        check(Lot::parse("123456789012345678901"), Err("bad_length"));
    }

    #[test]
    fn cset82_has_82_characters() {
        let ascii = (0..=127u8).map(char::from);
        assert_eq!(ascii.filter(|&c| is_cset82(c)).count(), 82);
        for c in "#$@[\\]^`{|}~ \u{7f}é".chars() {
            assert!(!is_cset82(c), "{c:?}");
        }
    }

    #[test]
    fn identifier_keys() {
        let gtin = Gtin::parse("00361414567894").unwrap();
        let sgtin = Identifier::Sgtin(Sgtin {
            gtin: gtin.clone(),
            serial: Serial::parse("A/B").unwrap(),
        });
        assert_eq!(sgtin.key(), "(01)00361414567894(21)A/B");
        assert_eq!(sgtin.gtin(), Some(&gtin));
        assert_eq!(gtin.indicator(), '0');
        let sscc = Identifier::Sscc(Sscc::parse("003614145000000013").unwrap());
        assert_eq!(sscc.key(), "(00)003614145000000013");
        assert_eq!(sscc.gtin(), None);
    }
}
