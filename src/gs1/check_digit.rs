//! The GS1 mod-10 check digit shared by GTIN, SSCC and GLN, and the
//! "all digits, right length, right check digit" validation built on it.
//!
//! Kept apart so that every numeric key is validated by the same code and
//! reports errors the same way. It does not know about the keys themselves
//! (padding GTIN-8/12/13, splitting company prefixes): see `keys.rs`.

use super::{Gs1Error, shown};

/// GS1 mod-10 check digit for `body` (the digits *without* the check digit):
/// weights 3, 1, 3, … starting from the rightmost digit; the check digit is
/// `(10 - sum mod 10) mod 10`. `None` if `body` is empty or not all digits.
pub fn check_digit(body: &str) -> Option<u8> {
    if body.is_empty() {
        return None;
    }
    let mut sum: u32 = 0;
    for (i, c) in body.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let weight = if i % 2 == 0 { 3 } else { 1 };
        sum += u32::from(c - b'0') * weight;
    }
    // `sum % 10` is below 10, so the result always fits in a u8.
    Some(((10 - sum % 10) % 10) as u8)
}

/// Checks that `value` consists of digits only and has one of `lengths`
/// (described for humans by `expected`, e.g. "18 digits").
pub(crate) fn require_digits(
    kind: &'static str,
    value: &str,
    lengths: &[usize],
    expected: &str,
) -> Result<(), Gs1Error> {
    if let Some(ch) = value.chars().find(|c| !c.is_ascii_digit()) {
        return Err(Gs1Error::BadCharacter {
            kind,
            value: shown(value),
            ch,
            why: "is not a digit",
        });
    }
    // All digits, so the byte length is the character count.
    if !lengths.contains(&value.len()) {
        return Err(Gs1Error::BadLength {
            kind,
            value: shown(value),
            found: value.len(),
            expected: expected.to_string(),
        });
    }
    Ok(())
}

/// Checks the last digit of an all-digit `value` against the others.
pub(crate) fn verify_check_digit(kind: &'static str, value: &str) -> Result<(), Gs1Error> {
    let malformed = || Gs1Error::malformed(kind, value, "expected digits ending in a check digit");
    let (body, last) = match value.char_indices().last() {
        Some((i, c)) if i > 0 => (&value[..i], c),
        _ => return Err(malformed()),
    };
    let expected = check_digit(body).ok_or_else(malformed)?;
    if last.to_digit(10) == Some(u32::from(expected)) {
        Ok(())
    } else {
        Err(Gs1Error::CheckDigit {
            kind,
            value: shown(value),
            found: last,
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Option<u8>) {
        assert_eq!(check_digit(body), expected, "check_digit({body:?})");
    }

    #[test]
    fn check_digits() {
        check("0036141456789", Some(4)); // GTIN 00361414567894
        check("5036141456789", Some(9)); // case GTIN 50361414567899
        check("00361414500000001", Some(3)); // SSCC 003614145000000013
        check("80325021000005139", Some(5)); // SSCC 803250210000051395
        check("036141400000", Some(1)); // GLN 0361414000001
        check("0", Some(0));
        check("1", Some(7));
        check("9", Some(3));
        check("", None);
        check("12a4", None);
        check("１２", None); // full-width digits are not digits
        check("-1", None);
    }

    fn digits(value: &str, expected: Result<(), &str>) {
        let got = require_digits("GTIN", value, &[8, 12, 13, 14], "8, 12, 13 or 14 digits");
        assert_eq!(got.map_err(|e| e.code()), expected, "{value:?}");
    }

    #[test]
    fn digit_strings() {
        digits("12345670", Ok(()));
        digits("00361414567894", Ok(()));
        digits("1234567", Err("bad_length"));
        digits("", Err("bad_length"));
        digits("0036141456789X", Err("bad_character"));
        digits("0036141456789 ", Err("bad_character"));
    }

    fn verify(value: &str, expected: Result<(), &str>) {
        let got = verify_check_digit("GTIN", value).map_err(|e| e.code());
        assert_eq!(got, expected, "{value:?}");
    }

    #[test]
    fn verification() {
        verify("00361414567894", Ok(()));
        verify("00361414567895", Err("check_digit"));
        verify("12345670", Ok(()));
        verify("7", Err("malformed"));
        verify("", Err("malformed"));
        verify("1x", Err("check_digit"));
        verify("x1", Err("malformed"));
    }
}
