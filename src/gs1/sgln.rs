//! SGLN EPC URIs (`urn:epc:id:sgln:…`): how EPCIS names read points,
//! business locations, sources and destinations.
//!
//! Locations mostly come from configuration, so this file builds an SGLN
//! from a GLN, validates SGLN strings taken from configuration, and parses
//! an SGLN back into the GLN (AI 414) and extension (AI 254) when one is
//! scanned or received. Extension `0` means "no extension".

use super::check_digit::check_digit;
use super::epc_uri::{escape, numeric_fields, unescape};
use super::keys::{Gln, require_cset82};
use super::{Gs1Error, check_gcp_len};

const SGLN: &str = "urn:epc:id:sgln:";

impl Gln {
    /// `urn:epc:id:sgln:{GCP}.{location ref}.{extension}`; the extension
    /// (AI 254, 1 to 20 CSET 82 characters) defaults to `0`.
    pub fn sgln_uri(&self, gcp_len: usize, extension: Option<&str>) -> Result<String, Gs1Error> {
        check_gcp_len(gcp_len)?;
        let extension = match extension {
            Some(e) => {
                require_cset82("GLN extension", e, 20)?;
                escape(e)
            }
            None => "0".to_string(),
        };
        // A GLN is 13 ASCII digits and 6 <= gcp_len <= 12.
        let (gcp, location) = (&self.as_str()[..gcp_len], &self.as_str()[gcp_len..12]);
        Ok(format!("{SGLN}{gcp}.{location}.{extension}"))
    }
}

/// Checks `urn:epc:id:sgln:{GCP}.{location ref}.{extension}`: 6 to 12 digit
/// company prefix, location reference digits (possibly none) making 12
/// digits with it, and a 1 to 20 character CSET 82 extension.
pub fn validate_sgln_uri(s: &str) -> Result<(), Gs1Error> {
    let fields = s
        .strip_prefix(SGLN)
        .map(|body| body.splitn(3, '.').collect::<Vec<_>>());
    let Some([gcp, location, extension]) = fields.as_deref() else {
        let reason = "expected urn:epc:id:sgln:<company prefix>.<location reference>.<extension>";
        return Err(Gs1Error::malformed("SGLN URI", s, reason));
    };
    numeric_fields(s, gcp, location, 0, 12)?;
    require_cset82("GLN extension", &unescape(s, extension)?, 20)
}

/// Parses an SGLN URI into the GLN, the extension (`None` for `0`) and
/// the company-prefix length the URI was written with.
pub(crate) fn parse_sgln_uri(s: &str) -> Result<(Gln, Option<String>, usize), Gs1Error> {
    validate_sgln_uri(s)?;
    let body = s.strip_prefix(SGLN).unwrap_or_default();
    let mut fields = body.splitn(3, '.');
    let (gcp, location) = (
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
    );
    let extension = unescape(s, fields.next().unwrap_or_default())?;
    let body12 = format!("{gcp}{location}");
    let cd =
        check_digit(&body12).ok_or_else(|| Gs1Error::malformed("SGLN URI", s, "not digits"))?;
    let gln = Gln::parse(&format!("{body12}{cd}"))?;
    let extension = (extension != "0").then_some(extension);
    Ok((gln, extension, gcp.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(result: Result<String, Gs1Error>, expected: Result<&str, &str>) {
        assert_eq!(result.map_err(|e| e.code()), expected.map(str::to_string));
    }

    #[test]
    #[rustfmt::skip]
    fn from_gln() {
        let gln = Gln::parse("0361414000001").unwrap();
        check(gln.sgln_uri(7, None), Ok("urn:epc:id:sgln:0361414.00000.0"));
        check(gln.sgln_uri(6, Some("12")), Ok("urn:epc:id:sgln:036141.400000.12"));
        check(gln.sgln_uri(12, Some("A/1")), Ok("urn:epc:id:sgln:036141400000..A%2F1"));
        check(gln.sgln_uri(13, None), Err("bad_length"));
        check(gln.sgln_uri(5, None), Err("bad_length"));
        check(gln.sgln_uri(7, Some("")), Err("bad_length"));
        check(gln.sgln_uri(7, Some("123456789012345678901")), Err("bad_length"));
        check(gln.sgln_uri(7, Some("a b")), Err("bad_character"));
    }

    fn valid(uri: &str, expected: Result<(), &str>) {
        assert_eq!(
            validate_sgln_uri(uri).map_err(|e| e.code()),
            expected,
            "{uri:?}"
        );
    }

    #[test]
    #[rustfmt::skip]
    fn validation() {
        valid("urn:epc:id:sgln:0361414.00000.0", Ok(()));
        valid("urn:epc:id:sgln:8888882.02867.0", Ok(()));
        valid("urn:epc:id:sgln:0358716.00000.0", Ok(()));
        valid("urn:epc:id:sgln:036141400000..A%2F1", Ok(()));
        valid("urn:epc:id:sgln:0361414.00000.12345678901234567890", Ok(()));
        valid("urn:epc:id:sgln:0361414.00000.a.b", Ok(()));
        valid("urn:epc:id:sgln:0361414.00000.123456789012345678901", Err("bad_length"));
        valid("urn:epc:id:sgln:0361414.00000.", Err("bad_length"));
        valid("urn:epc:id:sgln:03614.1400000.0", Err("bad_length"));
        valid("urn:epc:id:sgln:0361414.0000.0", Err("malformed"));
        valid("urn:epc:id:sgln:0358716.0.0", Err("malformed")); // seen in a TraceLink example, but 8 digits
        valid("urn:epc:id:sgln:0361414.00000", Err("malformed"));
        valid("urn:epc:id:sgln:0361414.0000x.0", Err("malformed"));
        valid("urn:epc:id:sgln:0361414.00000.%41", Err("malformed"));
        valid("urn:epc:id:sgln:0361414.00000.a/b", Err("bad_character"));
        valid("urn:epc:id:sgln:0361414.00000.a b", Err("bad_character"));
        valid("urn:epc:id:sgtin:0361414.00000.0", Err("malformed"));
        valid("8888882.02867.0", Err("malformed"));
        valid("", Err("malformed"));
    }

    #[test]
    fn parsing() {
        let parse = |s: &str| {
            parse_sgln_uri(s)
                .map(|(g, e, l)| (g.to_string(), e, l))
                .map_err(|e| e.code())
        };
        let gln = "0361414000001".to_string();
        assert_eq!(
            parse("urn:epc:id:sgln:0361414.00000.0"),
            Ok((gln.clone(), None, 7))
        );
        assert_eq!(
            parse("urn:epc:id:sgln:036141.400000.12"),
            Ok((gln.clone(), Some("12".into()), 6))
        );
        assert_eq!(
            parse("urn:epc:id:sgln:036141400000..A%2F1"),
            Ok((gln, Some("A/1".into()), 12))
        );
        assert_eq!(parse("urn:epc:id:sgln:0361414.0000.0"), Err("malformed"));
        let g = Gln::parse("0361414000001").unwrap();
        for len in 6..=12 {
            let uri = g.sgln_uri(len, Some("X%1")).unwrap();
            assert_eq!(parse(&uri), Ok((g.to_string(), Some("X%1".into()), len)));
        }
    }
}
