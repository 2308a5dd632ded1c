//! `Code` and `parse_code`: the one serialised item or container a line
//! message is about, with the lot and expiry that came with it.
//!
//! `parse_code` is the convenience over [`parse_scan`] for callers that
//! need an instance identifier (SGTIN from (01)+(21), or SSCC from (00)) and
//! nothing else: it accepts every form `parse_scan` does, including raw
//! scanner text, and refuses valid GS1 data that names no single instance.

use chrono::NaiveDate;

use super::Gs1Error;
use super::expiry::Expiry;
use super::keys::{Identifier, Lot};

/// A scanned or received code: the serialised identifier plus the
/// attributes that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub id: Identifier,
    /// AI (10).
    pub lot: Option<Lot>,
    /// AI (17).
    pub expiry: Option<Expiry>,
    /// Company-prefix length when the input said it (EPC URIs); `None` for
    /// element strings, where configuration decides.
    pub gcp_len: Option<usize>,
}

/// Parses one code in any form [`parse_scan`] understands; `today` anchors
/// the century of two-digit years. The error is a [`Gs1Error::Parse`]
/// wrapping the [`ParseError`] (position and kind).
pub fn parse_code(input: &str, today: NaiveDate) -> Result<Code, Gs1Error> {
    Ok(super::scan::parse_instance(input.as_bytes(), today)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
    }

    /// The key followed by whichever of lot, expiry and company-prefix
    /// length are present, or the error code and message.
    fn render(input: &str) -> String {
        match parse_code(input, today()) {
            Ok(c) => {
                let mut out = c.id.key();
                c.lot.iter().for_each(|l| out += &format!(" lot={l}"));
                c.expiry
                    .iter()
                    .for_each(|e| out += &format!(" exp={}", e.to_xsd_date()));
                c.gcp_len.iter().for_each(|n| out += &format!(" gcp={n}"));
                out
            }
            Err(e) => format!("{}: {e}", e.code()),
        }
    }

    /// `parse_code` over every input form: input, then `render`.
    #[rustfmt::skip]
    pub(crate) const CASES: &[(&str, &str)] = &[
        ("(01)00361414567894(21)ABC123", "(01)00361414567894(21)ABC123"),
        ("  (21)ABC123(01)00361414567894\n", "(01)00361414567894(21)ABC123"),
        ("(01)00361414567894(17)270100(10)L-1(21)S/1", "(01)00361414567894(21)S/1 lot=L-1 exp=2027-01-31"),
        ("]d20100361414567894172701001\x1d0L-1\x1d21S/1", "malformed: expected a GS1 AI at '1\\u{1d}0L-1\\u{1d}2'"),
        ("]d2010036141456789417270100\x1d10L-1\x1d21S/1\r\n", "(01)00361414567894(21)S/1 lot=L-1 exp=2027-01-31"),
        ("]d201003614145678941727010010L-1\x1d21S/1", "(01)00361414567894(21)S/1 lot=L-1 exp=2027-01-31"),
        ("010036141456789421ABC", "(01)00361414567894(21)ABC"),
        ("https://id.gs1.org/01/00361414567894/21/ABC?17=270131&10=L1", "(01)00361414567894(21)ABC lot=L1 exp=2027-01-31"),
        ("urn:epc:id:sgtin:0361414.056789.ABC123", "(01)00361414567894(21)ABC123 gcp=7"),
        (" urn:epc:id:sscc:0361414.0500000001 ", "(00)003614145000000013 gcp=7"),
        ("(00)003614145000000013", "(00)003614145000000013"),
        ("(01)00361414567894", "not_an_instance: this code does not identify exactly one item or container: linegate needs (01) GTIN with (21) serial, or (00) SSCC"),
        ("(00)003614145000000013(01)00361414567894(21)A", "not_an_instance: this code does not identify exactly one item or container: linegate needs (01) GTIN with (21) serial, or (00) SSCC"),
        ("urn:epc:id:sgln:0361414.00000.0", "not_an_instance: this code does not identify exactly one item or container: linegate needs (01) GTIN with (21) serial, or (00) SSCC"),
        ("(01)00361414567895(21)ABC", "check_digit: GTIN check digit should be 4, got 5"),
        ("(00)003614145000000012", "check_digit: SSCC check digit should be 3, got 2"),
        ("(21)ABC", "requires: AI (21) needs AI (01), (03) or (8006) in the same code"),
        ("", "empty: the code is empty"),
        ("hello", "malformed: not a GS1 code: expected scanner data (]d2…, 01…), an element string (01)…, a GS1 Digital Link https://…/01/… or an EPC URI urn:epc:id:…"),
        ("URN:EPC:ID:SGTIN:0361414.056789.1", "unsupported: unsupported EPC URI 'URN:EPC:ID:SGTIN:0361414.056789.1': linegate reads the EPC URIs urn:epc:id:sgtin:…, urn:epc:id:sscc:… and urn:epc:id:sgln:…"),
        ("urn:epc:id:sgtin:0361414.056789.A/", "bad_character: EPC URI 'urn:epc:id:sgtin:0361414.056789.A/' contains '/' which must be percent-escaped in an EPC URI"),
    ];

    #[test]
    fn parse_code_cases() {
        for (input, expected) in CASES {
            assert_eq!(render(input), *expected, "{input:?}");
        }
    }

    #[test]
    fn errors_keep_their_position() {
        let Err(Gs1Error::Parse(e)) = parse_code("(01)00361414567894(21)A B", today()) else {
            panic!("expected a parse error");
        };
        assert_eq!((e.position, e.code()), (23, "bad_character"));
    }
}
