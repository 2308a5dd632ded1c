//! Where the dots go: the GS1 company-prefix length needed to turn a GTIN,
//! SSCC or GLN into an EPC URI. A key alone does not say how long its
//! company prefix is, so linegate takes the prefixes it deals with from
//! configuration and falls back to a default length (7 for most US pharma
//! labelers, whose prefix is `03` + a 5-digit NDC labeler code).
//!
//! This is deliberately not GS1's global prefix-length table: that table is
//! large, changes continuously and is loaded elsewhere if ever needed.

use super::check_digit::require_digits;
use super::code::Code;
use super::keys::{Gln, Identifier};
use super::{Gs1Error, check_gcp_len};

/// Configured company prefixes plus the length used for everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyPrefixes {
    /// Sorted longest first, so the first match is the longest match.
    known: Vec<String>,
    default_len: usize,
}

impl CompanyPrefixes {
    /// Each known prefix must be 6 to 12 digits; `default_len` 6 to 12.
    pub fn new(known: Vec<String>, default_len: usize) -> Result<Self, Gs1Error> {
        check_gcp_len(default_len)?;
        for prefix in &known {
            let lengths = [6, 7, 8, 9, 10, 11, 12];
            require_digits("company prefix", prefix, &lengths, "6 to 12 digits")?;
        }
        let mut known = known;
        known.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        known.dedup();
        Ok(CompanyPrefixes { known, default_len })
    }

    /// Length of the longest known prefix that `digits` starts with.
    fn match_len(&self, digits: &str) -> usize {
        self.known
            .iter()
            .find(|p| digits.starts_with(p.as_str()))
            .map_or(self.default_len, String::len)
    }

    /// Company-prefix length for an SGTIN or SSCC: the digits after the
    /// GTIN indicator or the SSCC extension digit are matched.
    pub fn len_for(&self, id: &Identifier) -> usize {
        let key = match id {
            Identifier::Sgtin(s) => s.gtin.as_str(),
            Identifier::Sscc(s) => s.as_str(),
        };
        self.match_len(key.get(1..).unwrap_or(""))
    }

    /// Company-prefix length for a GLN, matched from its first digit.
    pub fn len_for_gln(&self, gln: &Gln) -> usize {
        self.match_len(gln.as_str())
    }

    /// EPC URI of `code`, using the prefix length the code arrived with
    /// (EPC URIs) or else the configured one.
    pub fn epc_uri(&self, code: &Code) -> Result<String, Gs1Error> {
        let len = code.gcp_len.unwrap_or_else(|| self.len_for(&code.id));
        code.id.epc_uri(len)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Gln, parse_code};
    use super::*;
    use chrono::NaiveDate;

    fn prefixes() -> CompanyPrefixes {
        let known = ["0361414", "036141400", "0355154", "4012345"];
        CompanyPrefixes::new(known.iter().map(|s| s.to_string()).collect(), 7).unwrap()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
    }

    /// Parses `input` and renders its EPC URI with [`prefixes`].
    fn check(input: &str, expected: Result<&str, &str>) {
        let got = parse_code(input, today())
            .and_then(|c| prefixes().epc_uri(&c))
            .map_err(|e| e.code());
        assert_eq!(got, expected.map(str::to_string), "{input:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn element_strings_to_uris() {
        check("(01)00361414567894(21)ABC123", Ok("urn:epc:id:sgtin:0361414.056789.ABC123"));
        check("(01)00361414567894(21)A/B%C", Ok("urn:epc:id:sgtin:0361414.056789.A%2FB%25C"));
        check("(00)003614145000000013", Ok("urn:epc:id:sscc:0361414.0500000001"));
        check("(00)103614140000000015", Ok("urn:epc:id:sscc:036141400.10000001")); // longest match
        check("(01)00361414001237(21)1", Ok("urn:epc:id:sgtin:036141400.0123.1")); // longest match
        check("(01)50355154094494(21)1", Ok("urn:epc:id:sgtin:0355154.509449.1"));
        check("(01)09999999999994(21)1", Ok("urn:epc:id:sgtin:9999999.099999.1")); // default length
        check("(01)04012345000009(21)X", Ok("urn:epc:id:sgtin:4012345.000000.X"));
    }

    #[test]
    fn uris_round_trip_with_their_own_prefix_length() {
        for uri in [
            "urn:epc:id:sgtin:0361414.056789.ABC123",
            "urn:epc:id:sgtin:036141.0456789.A%2FB%25C",
            "urn:epc:id:sgtin:036141456789.0.%22%26%3C%3E%3F",
            "urn:epc:id:sgtin:0361414.556789.x'y(z)*+,-.:;=_!",
            "urn:epc:id:sscc:0361414.0500000001",
            "urn:epc:id:sscc:036141.00500000001",
            "urn:epc:id:sscc:036141450000.00001",
        ] {
            check(uri, Ok(uri));
        }
    }

    #[test]
    fn element_strings_round_trip_through_uris() {
        let p = prefixes();
        for input in ["(01)00361414567894(21)A/B%C", "(00)103614140000000015"] {
            let code = parse_code(input, today()).unwrap();
            let again = parse_code(&p.epc_uri(&code).unwrap(), today()).unwrap();
            assert_eq!(again.id, code.id);
            assert_eq!(again.id.key(), input);
        }
    }

    #[test]
    fn lengths() {
        let p = prefixes();
        let id = |s: &str| parse_code(s, today()).unwrap().id;
        assert_eq!(p.len_for(&id("(01)00361414001237(21)1")), 9);
        assert_eq!(p.len_for(&id("(01)00361414567894(21)1")), 7);
        assert_eq!(p.len_for(&id("(00)103614140000000015")), 9);
        assert_eq!(p.len_for(&id("(00)003614145000000013")), 7);
        assert_eq!(p.len_for_gln(&Gln::parse("0361414001237").unwrap()), 9);
        assert_eq!(p.len_for_gln(&Gln::parse("0361414000001").unwrap()), 9); // 036141400 is known
        assert_eq!(p.len_for_gln(&Gln::parse("0355154000001").unwrap()), 7);
        assert_eq!(p.len_for_gln(&Gln::parse("1234567890128").unwrap()), 7);
        let six = CompanyPrefixes::new(vec![], 6).unwrap();
        assert_eq!(six.len_for_gln(&Gln::parse("0361414000001").unwrap()), 6);
    }

    #[test]
    fn construction() {
        let new = |known: &[&str], len| {
            CompanyPrefixes::new(known.iter().map(|s| s.to_string()).collect(), len)
                .map_err(|e| e.code())
        };
        assert!(new(&["036141", "036141456789"], 7).is_ok());
        assert_eq!(new(&[], 5), Err("bad_length"));
        assert_eq!(new(&[], 13), Err("bad_length"));
        assert_eq!(new(&["03614"], 7), Err("bad_length"));
        assert_eq!(new(&["0361414567890"], 7), Err("bad_length"));
        assert_eq!(new(&[""], 7), Err("bad_length"));
        assert_eq!(new(&["036141x"], 7), Err("bad_character"));
        assert_eq!(new(&["0361414 "], 7), Err("bad_character"));
        let err = CompanyPrefixes::new(vec!["03614".into()], 7).unwrap_err();
        assert_eq!(
            err.to_string(),
            "company prefix '03614' has 5 characters, expected 6 to 12 digits"
        );
    }
}
