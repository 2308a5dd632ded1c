//! Where the dots go: the GS1 company-prefix length needed to turn a GTIN,
//! SSCC or GLN into an EPC URI. A key alone does not say how long its
//! company prefix is. linegate asks, in this order: the plant's own
//! prefixes from configuration (`gs1.company_prefixes`, longest match; the
//! plant knows its prefix better than any table), GS1's company-prefix
//! length table (`gcp_table`, from 2022), and last an optional configured
//! default length. When none answers, the key cannot become an EPC URI and
//! the caller gets an error that says which setting to add.

use super::check_digit::require_digits;
use super::code::Code;
use super::epc::EpcUri;
use super::gcp_table::{self, TableLength};
use super::keys::{Gln, Identifier};
use super::{Gs1Error, check_gcp_len};

/// Configured company prefixes, GS1's table, and an optional fallback length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyPrefixes {
    /// Sorted longest first, so the first match is the longest match.
    known: Vec<String>,
    default_len: Option<usize>,
}

impl CompanyPrefixes {
    /// Each known prefix must be 6 to 12 digits; `default_len`, if any, 6 to 12.
    pub fn new(known: Vec<String>, default_len: Option<usize>) -> Result<Self, Gs1Error> {
        if let Some(len) = default_len {
            check_gcp_len(len)?;
        }
        for prefix in &known {
            let lengths = [6, 7, 8, 9, 10, 11, 12];
            require_digits("company prefix", prefix, &lengths, "6 to 12 digits")?;
        }
        let mut known = known;
        known.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        known.dedup();
        Ok(CompanyPrefixes { known, default_len })
    }

    /// Prefix length for `digits` (a key without indicator/extension digit, or a GLN).
    fn match_len(&self, kind: &str, key: &str, digits: &str) -> Result<usize, Gs1Error> {
        if let Some(p) = self.known.iter().find(|p| digits.starts_with(p.as_str())) {
            return Ok(p.len());
        }
        let why = match gcp_table::lookup(digits) {
            TableLength::Length(len) => return Ok(len),
            TableLength::NoPrefix => "lies in a GS1 range without company prefixes",
            TableLength::Unknown => "is not covered by GS1's company-prefix table",
        };
        self.default_len.ok_or_else(|| Gs1Error::Unsupported {
            what: format!(
                "{kind} {key} {why}; add its company prefix to gs1.company_prefixes (or set gs1.default_company_prefix_length)"
            ),
        })
    }

    /// Company-prefix length for an SGTIN or SSCC: the digits after the
    /// GTIN indicator or the SSCC extension digit are matched.
    pub fn len_for(&self, id: &Identifier) -> Result<usize, Gs1Error> {
        let (kind, key) = match id {
            Identifier::Sgtin(s) => ("GTIN", s.gtin.as_str()),
            Identifier::Sscc(s) => ("SSCC", s.as_str()),
        };
        self.match_len(kind, key, key.get(1..).unwrap_or(""))
    }

    /// Company-prefix length for a GLN, matched from its first digit.
    pub fn len_for_gln(&self, gln: &Gln) -> Result<usize, Gs1Error> {
        self.match_len("GLN", gln.as_str(), gln.as_str())
    }

    /// EPC URI of `code`, using the prefix length the code arrived with
    /// (EPC URIs) or else the configured / tabled one.
    pub fn epc_uri(&self, code: &Code) -> Result<EpcUri, Gs1Error> {
        let len = match code.gcp_len {
            Some(len) => len,
            None => self.len_for(&code.id)?,
        };
        code.id.epc_uri(len).map(EpcUri::from_rendered)
    }

    /// SGLN URI of a location (GLN + optional extension).
    pub fn sgln(&self, gln: &Gln, extension: Option<&str>) -> Result<EpcUri, Gs1Error> {
        EpcUri::sgln(gln, self.len_for_gln(gln)?, extension)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Gln, parse_code};
    use super::*;
    use chrono::NaiveDate;

    fn prefixes() -> CompanyPrefixes {
        let known = ["0361414", "036141400", "0355154", "4012345"];
        CompanyPrefixes::new(known.iter().map(|s| s.to_string()).collect(), Some(7)).unwrap()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
    }

    /// Parses `input` and renders its EPC URI with [`prefixes`].
    fn check(input: &str, expected: Result<&str, &str>) {
        let got = parse_code(input, today())
            .and_then(|c| prefixes().epc_uri(&c).map(|u| u.to_string()))
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
        check("(01)04012345000009(21)X", Ok("urn:epc:id:sgtin:4012345.000000.X"));
        check("(01)00300112345670(21)X", Ok("urn:epc:id:sgtin:030011.0234567.X")); // GS1 table: 03001 → 6
        check("(01)02000000000008(21)X", Ok("urn:epc:id:sgtin:2000000.000000.X")); // no GCP range → default
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
            let again = parse_code(p.epc_uri(&code).unwrap().as_str(), today()).unwrap();
            assert_eq!(again.id, code.id);
            assert_eq!(again.id.key(), input);
        }
    }

    #[test]
    fn lengths() {
        let p = prefixes();
        let id = |s: &str| parse_code(s, today()).unwrap().id;
        let len = |s: &str| p.len_for(&id(s)).unwrap();
        assert_eq!(len("(01)00361414001237(21)1"), 9);
        assert_eq!(len("(01)00361414567894(21)1"), 7);
        assert_eq!(len("(00)103614140000000015"), 9);
        assert_eq!(len("(00)003614145000000013"), 7);
        let gln = |s: &str| p.len_for_gln(&Gln::parse(s).unwrap()).unwrap();
        assert_eq!(gln("0361414001237"), 9);
        assert_eq!(gln("0361414000001"), 9); // 036141400 is known
        assert_eq!(gln("0355154000001"), 7);
        // Nothing configured: GS1's table decides.
        let table_only = CompanyPrefixes::new(vec![], None).unwrap();
        assert_eq!(
            table_only.len_for_gln(&Gln::parse("0361414000001").unwrap()),
            Ok(7)
        );
        assert_eq!(table_only.len_for(&id("(01)00000030123458(21)1")), Ok(12));
    }

    #[test]
    fn without_table_entry_or_default_the_error_names_the_setting() {
        let strict = CompanyPrefixes::new(vec![], None).unwrap();
        let id = parse_code("(01)02000000000008(21)X", today()).unwrap().id;
        let err = strict.len_for(&id).unwrap_err().to_string();
        assert!(err.contains("gs1.company_prefixes"), "{err}");
        assert!(err.contains("02000000000008"), "{err}");
    }

    #[test]
    fn construction() {
        let new = |known: &[&str], len| {
            CompanyPrefixes::new(known.iter().map(|s| s.to_string()).collect(), len)
                .map_err(|e| e.code())
        };
        assert!(new(&["036141", "036141456789"], Some(7)).is_ok());
        assert!(new(&[], None).is_ok());
        assert_eq!(new(&[], Some(5)), Err("bad_length"));
        assert_eq!(new(&[], Some(13)), Err("bad_length"));
        assert_eq!(new(&["03614"], None), Err("bad_length"));
        assert_eq!(new(&["0361414567890"], None), Err("bad_length"));
        assert_eq!(new(&[""], None), Err("bad_length"));
        assert_eq!(new(&["036141x"], None), Err("bad_character"));
        assert_eq!(new(&["0361414 "], None), Err("bad_character"));
        let err = CompanyPrefixes::new(vec!["03614".into()], None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "company prefix '03614' has 5 characters, expected 6 to 12 digits"
        );
    }
}
