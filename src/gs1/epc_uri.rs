//! EPC pure-identity URIs (GS1 EPC Tag Data Standard) for the objects of
//! EPCIS events from the line: `urn:epc:id:sgtin:…` and `urn:epc:id:sscc:…`,
//! plus the percent-escaping rules shared with `sgln.rs`.
//!
//! Building a URI needs the GS1 company-prefix length, which cannot be
//! derived from the key itself: callers pass it in (see `company_prefix.rs`).
//! This module does not handle tag URIs (`urn:epc:tag:…`), id patterns or
//! binary EPC encodings.

use super::check_digit::check_digit;
use super::keys::{Gtin, Identifier, Serial, Sgtin, Sscc};
use super::{Gs1Error, check_gcp_len, shown};

const ID_PREFIX: &str = "urn:epc:id:";
const SGTIN: &str = "urn:epc:id:sgtin:";
const SSCC: &str = "urn:epc:id:sscc:";

/// The CSET 82 characters that must be percent-escaped inside a URI.
const ESCAPES: [(char, &str); 7] = [
    ('"', "22"),
    ('%', "25"),
    ('&', "26"),
    ('/', "2F"),
    ('<', "3C"),
    ('>', "3E"),
    ('?', "3F"),
];

/// Percent-escapes the seven reserved characters of a CSET 82 value.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    escape_into(&mut out, value);
    out
}

/// [`escape`], appending to `out`.
pub(crate) fn escape_into(out: &mut String, value: &str) {
    if !value.contains(['"', '%', '&', '/', '<', '>', '?']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match ESCAPES.iter().find(|(raw, _)| *raw == c) {
            Some((_, hex)) => {
                out.push('%');
                out.push_str(hex);
            }
            None => out.push(c),
        }
    }
}

/// Reverses [`escape`]. Only the seven escapes are accepted (hex digits in
/// either case); any other `%` sequence or a literal reserved character is
/// an error. `uri` is quoted in errors.
pub(crate) fn unescape(uri: &str, value: &str) -> Result<String, Gs1Error> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let hex: String = chars.by_ref().take(2).collect();
            let found = ESCAPES.iter().find(|(_, h)| h.eq_ignore_ascii_case(&hex));
            match found {
                Some((raw, _)) => out.push(*raw),
                None => {
                    let reason =
                        format!("'%{hex}' is not one of the escapes %22 %25 %26 %2F %3C %3E %3F");
                    return Err(Gs1Error::malformed("EPC URI", uri, reason));
                }
            }
        } else if ESCAPES.iter().any(|(raw, _)| *raw == c) {
            return Err(Gs1Error::BadCharacter {
                kind: "EPC URI",
                value: shown(uri),
                ch: c,
                why: "must be percent-escaped in an EPC URI",
            });
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

impl Identifier {
    /// The EPC pure-identity URI, splitting the key after a company prefix
    /// of `gcp_len` digits (6 to 12).
    pub fn epc_uri(&self, gcp_len: usize) -> Result<String, Gs1Error> {
        check_gcp_len(gcp_len)?;
        // The keys are ASCII digits of fixed length and 6 <= gcp_len <= 12,
        // so every slice below is in range.
        Ok(match self {
            Identifier::Sgtin(s) => {
                let g = s.gtin.as_str();
                let (indicator, gcp, item) = (&g[..1], &g[1..=gcp_len], &g[1 + gcp_len..13]);
                let serial = s.serial.as_str();
                let mut uri = String::with_capacity(SGTIN.len() + 16 + 3 * serial.len());
                for part in [SGTIN, gcp, ".", indicator, item, "."] {
                    uri.push_str(part);
                }
                escape_into(&mut uri, serial);
                uri
            }
            Identifier::Sscc(s) => {
                let s = s.as_str();
                let (extension, gcp, serial_ref) = (&s[..1], &s[1..=gcp_len], &s[1 + gcp_len..17]);
                format!("{SSCC}{gcp}.{extension}{serial_ref}")
            }
        })
    }
}

/// Checks the digits-only fields of a URI: the company prefix must have 6
/// to 12 digits, the other field `min` or more, and together `total`.
pub(crate) fn numeric_fields(
    uri: &str,
    gcp: &str,
    other: &str,
    min: usize,
    total: usize,
) -> Result<(), Gs1Error> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if gcp.is_empty() || !digits(gcp) || !digits(other) {
        return Err(Gs1Error::malformed(
            "EPC URI",
            uri,
            "the numeric fields must be digits only",
        ));
    }
    check_gcp_len(gcp.len())?;
    if other.len() < min || gcp.len() + other.len() != total {
        let reason = format!(
            "company prefix ({} digits) and the next field ({} digits) must have {total} digits together",
            gcp.len(),
            other.len()
        );
        return Err(Gs1Error::malformed("EPC URI", uri, reason));
    }
    Ok(())
}

/// Parses a `urn:epc:id:sgtin:` or `urn:epc:id:sscc:` URI into the
/// identifier and the company-prefix length the URI was written with.
pub(crate) fn parse_epc_uri(uri: &str) -> Result<(Identifier, usize), Gs1Error> {
    if let Some(body) = uri.strip_prefix(SGTIN) {
        let mut parts = body.splitn(3, '.');
        let (Some(gcp), Some(item), Some(serial)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Gs1Error::malformed(
                "EPC URI",
                uri,
                "expected urn:epc:id:sgtin:<company prefix>.<indicator and item reference>.<serial>",
            ));
        };
        numeric_fields(uri, gcp, item, 1, 13)?;
        let body13 = format!("{}{gcp}{}", &item[..1], &item[1..]);
        let cd = check_digit(&body13)
            .ok_or_else(|| Gs1Error::malformed("EPC URI", uri, "not digits"))?;
        let gtin = Gtin::parse(&format!("{body13}{cd}"))?;
        let serial = Serial::parse(&unescape(uri, serial)?)?;
        return Ok((Identifier::Sgtin(Sgtin { gtin, serial }), gcp.len()));
    }
    if let Some(body) = uri.strip_prefix(SSCC) {
        let mut parts = body.split('.');
        let (Some(gcp), Some(rest), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Gs1Error::malformed(
                "EPC URI",
                uri,
                "expected urn:epc:id:sscc:<company prefix>.<extension digit and serial reference>",
            ));
        };
        numeric_fields(uri, gcp, rest, 1, 17)?;
        let body17 = format!("{}{gcp}{}", &rest[..1], &rest[1..]);
        let cd = check_digit(&body17)
            .ok_or_else(|| Gs1Error::malformed("EPC URI", uri, "not digits"))?;
        return Ok((
            Identifier::Sscc(Sscc::parse(&format!("{body17}{cd}"))?),
            gcp.len(),
        ));
    }
    let what = match uri
        .strip_prefix(ID_PREFIX)
        .and_then(|rest| rest.split_once(':'))
    {
        Some((scheme, _)) => format!("EPC scheme '{}' in '{}'", shown(scheme), shown(uri)),
        None => format!("EPC URI '{}'", shown(uri)),
    };
    Err(Gs1Error::Unsupported { what })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn escaping() {
        for (raw, escaped) in [
            ("A/B%C", "A%2FB%25C"),
            ("ABC123", "ABC123"),
            ("\"%&/<>?", "%22%25%26%2F%3C%3E%3F"),
            ("%25", "%2525"),
            ("a'b(c).d", "a'b(c).d"),
        ] {
            assert_eq!(escape(raw), escaped);
            assert_eq!(unescape("u", escaped).as_deref(), Ok(raw));
        }
        assert_eq!(unescape("u", "a%2fb%3c").as_deref(), Ok("a/b<"));
        for (bad, code) in [
            ("%41", "malformed"), ("%2", "malformed"), ("%", "malformed"), ("%%25", "malformed"),
            ("%é9", "malformed"), ("a/b", "bad_character"), ("a?", "bad_character"), ("\"", "bad_character"),
        ] {
            assert_eq!(unescape("u", bad).map_err(|e| e.code()), Err(code), "{bad:?}");
        }
    }

    /// `expected` is the identifier key and company-prefix length, or the error code.
    fn check(uri: &str, expected: Result<(&str, usize), &str>) {
        let got = parse_epc_uri(uri)
            .map(|(id, len)| (id.key(), len))
            .map_err(|e| e.code());
        assert_eq!(got, expected.map(|(k, l)| (k.to_string(), l)), "{uri:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn parsing() {
        check("urn:epc:id:sgtin:0361414.056789.ABC123", Ok(("(01)00361414567894(21)ABC123", 7)));
        check("urn:epc:id:sgtin:0361414.056789.A%2FB%25C", Ok(("(01)00361414567894(21)A/B%C", 7)));
        check("urn:epc:id:sgtin:036141.0456789.1.2", Ok(("(01)00361414567894(21)1.2", 6)));
        check("urn:epc:id:sgtin:036141456789.0.X", Ok(("(01)00361414567894(21)X", 12)));
        check("urn:epc:id:sgtin:0361414.556789.1", Ok(("(01)50361414567899(21)1", 7)));
        check("urn:epc:id:sgtin:0361414.056789.1234567890123456789%25", Ok(("(01)00361414567894(21)1234567890123456789%", 7)));
        check("urn:epc:id:sscc:0361414.0500000001", Ok(("(00)003614145000000013", 7)));
        check("urn:epc:id:sscc:036141.04500000001", Ok(("(00)003614145000000013", 6)));
        check("urn:epc:id:sscc:0361414.05000000010", Err("malformed"));
        check("urn:epc:id:sscc:0361414.0500000001.1", Err("malformed"));
        check("urn:epc:id:sscc:0361414", Err("malformed"));
        check("urn:epc:id:sscc:03614145000000001.", Err("bad_length"));
        check("urn:epc:id:sgtin:0361414.56789.ABC", Err("malformed"));
        check("urn:epc:id:sgtin:03614.1456789.ABC", Err("bad_length"));
        check("urn:epc:id:sgtin:0361414567894..ABC", Err("bad_length"));
        check("urn:epc:id:sgtin:0361414.056789", Err("malformed"));
        check("urn:epc:id:sgtin:0361414.056789.", Err("bad_length"));
        check("urn:epc:id:sgtin:0361414.056789.AB C", Err("bad_character"));
        check("urn:epc:id:sgtin:0361414.056789.A/B", Err("bad_character"));
        check("urn:epc:id:sgtin:0361414.056789.A%41", Err("malformed"));
        check("urn:epc:id:sgtin:0361414.056789.123456789012345678901", Err("bad_length"));
        check("urn:epc:id:sgtin:036141a.056789.1", Err("malformed"));
        check("urn:epc:id:sgtin:.0361414056789.1", Err("malformed"));
        check("urn:epc:id:sgtin:0361414.0567８9.1", Err("malformed"));
        check("urn:epc:id:sgln:0361414.00000.0", Err("unsupported"));
        check("urn:epc:tag:sgtin-96:3.0361414.056789.1", Err("unsupported"));
        check("URN:EPC:ID:SGTIN:0361414.056789.1", Err("unsupported"));
    }

    #[test]
    #[rustfmt::skip]
    fn formatting() {
        let (sgtin, _) = parse_epc_uri("urn:epc:id:sgtin:0361414.056789.A%2FB%25C").unwrap();
        assert_eq!(sgtin.epc_uri(7).as_deref(), Ok("urn:epc:id:sgtin:0361414.056789.A%2FB%25C"));
        assert_eq!(sgtin.epc_uri(6).as_deref(), Ok("urn:epc:id:sgtin:036141.0456789.A%2FB%25C"));
        assert_eq!(sgtin.epc_uri(12).as_deref(), Ok("urn:epc:id:sgtin:036141456789.0.A%2FB%25C"));
        let sscc = Identifier::Sscc(Sscc::parse("003614145000000013").unwrap());
        assert_eq!(sscc.epc_uri(7).as_deref(), Ok("urn:epc:id:sscc:0361414.0500000001"));
        assert_eq!(sscc.epc_uri(12).as_deref(), Ok("urn:epc:id:sscc:036141450000.00001"));
        for len in [0, 5, 13, usize::MAX] {
            assert_eq!(sgtin.epc_uri(len).map_err(|e| e.code()), Err("bad_length"));
            assert_eq!(sscc.epc_uri(len).map_err(|e| e.code()), Err("bad_length"));
        }
    }
}
