//! `EpcUri`: an EPC pure-identity URI that linegate built from a validated key, or checked.
//!
//! EPCIS documents carry identifiers as URIs (`urn:epc:id:sgtin:…`, `…:sscc:…`, `…:sgln:…`),
//! and the XSD accepts any string there. This type is the only way a URI reaches the EPCIS
//! writer: it is either rendered by this module from parsed keys (`CompanyPrefixes::epc_uri`,
//! `EpcUri::sgln`) or parsed back with the same rules (`EpcUri::parse`, e.g. when the store
//! reads what it wrote), so an unvalidated string cannot end up in a document.

use super::Gs1Error;
use super::epc_uri::parse_epc_uri;
use super::keys::Gln;
use super::sgln::parse_sgln_uri;

/// A checked SGTIN, SSCC or SGLN pure-identity URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EpcUri(String);

impl EpcUri {
    /// Checks `s` as an SGTIN, SSCC or SGLN pure-identity URI.
    pub fn parse(s: &str) -> Result<Self, Gs1Error> {
        if s.starts_with("urn:epc:id:sgln:") {
            parse_sgln_uri(s)?;
        } else {
            parse_epc_uri(s)?;
        }
        Ok(EpcUri(s.to_string()))
    }

    /// The SGLN URI of a location: `gcp_len` digits of company prefix, extension `0` if none.
    pub fn sgln(gln: &Gln, gcp_len: usize, extension: Option<&str>) -> Result<Self, Gs1Error> {
        gln.sgln_uri(gcp_len, extension).map(EpcUri)
    }

    /// Wraps a URI this module rendered from validated parts.
    pub(crate) fn from_rendered(s: String) -> Self {
        EpcUri(s)
    }

    /// Whether this is an SSCC (a logistic unit), not an SGTIN or SGLN.
    pub fn is_sscc(&self) -> bool {
        self.0.starts_with("urn:epc:id:sscc:")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EpcUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, ok: bool) {
        assert_eq!(EpcUri::parse(input).is_ok(), ok, "{input}");
    }

    #[test]
    fn accepts_only_checked_identity_uris() {
        check("urn:epc:id:sgtin:0361414.056789.ABC123", true);
        check("urn:epc:id:sgtin:0361414.056789.A%2FB", true);
        check("urn:epc:id:sscc:0361414.0500000001", true);
        check("urn:epc:id:sgln:0361414.00001.L1", true);
        check("urn:epc:id:sgln:0361414.00000.0", true);
        check("urn:epc:id:sgtin:0361414.056789.A/B", false);
        check("urn:epc:id:sgtin:0361414.05678.X", false);
        check("urn:epc:id:sgln:0361414.1.L2", false);
        check("urn:epc:id:giai:0361414.1", false);
        check("not a uri", false);
        check("", false);
    }

    #[test]
    fn renders_sglns() {
        let gln = Gln::parse("0361414000001").expect("gln");
        assert_eq!(
            EpcUri::sgln(&gln, 7, None).expect("sgln").as_str(),
            "urn:epc:id:sgln:0361414.00000.0"
        );
        assert_eq!(
            EpcUri::sgln(&gln, 7, Some("DOCK7")).expect("sgln").as_str(),
            "urn:epc:id:sgln:0361414.00000.DOCK7"
        );
    }
}
