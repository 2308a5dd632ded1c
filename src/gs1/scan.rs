//! `parse_scan`: the front door for a code in any form it reaches linegate
//! — raw scanner data with or without an AIM symbology identifier, a
//! bracketed element string, a GS1 Digital Link URI or an EPC pure-identity
//! URI — returning every element plus the instance identifier (SGTIN or
//! SSCC) and location (SGLN) they add up to.
//!
//! Form detection looks only at how the input starts. The element forms
//! share one pipeline: split (`element.rs`, `digital_link.rs`), check each
//! value (`ai_rules.rs`), check pairing (`pairing.rs`), then build `Code`.
//! EPC URIs carry no attributes, so they skip pairing.

use chrono::NaiveDate;

use super::code::Code;
use super::digital_link::parse_digital_link;
use super::element::{Element, Found, GS, split_bracketed, split_raw};
use super::epc_uri::parse_epc_uri;
use super::error::{ParseError, ParseErrorKind};
use super::expiry::Expiry;
use super::keys::{Gln, Gtin, Identifier, Lot, Serial, Sgtin, Sscc};
use super::pairing::check_pairing;
use super::sgln::parse_sgln_uri;
use super::{Gs1Error, ai_table::table};

/// How a code arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputForm {
    /// Raw scanner data; `symbology` is the AIM identifier such as `]d2`.
    Scanner {
        symbology: Option<String>,
    },
    /// Human-readable element string `(01)…(21)…`.
    Bracketed,
    DigitalLink,
    EpcUri,
}

impl InputForm {
    /// A short description for humans.
    pub fn label(&self) -> String {
        match self {
            InputForm::Scanner { symbology: Some(s) } => {
                let name = match s.get(1..2) {
                    Some("d") => "GS1 DataMatrix",
                    Some("C") => "GS1-128",
                    Some("Q") => "GS1 QR Code",
                    Some("e") => "GS1 DataBar",
                    Some("J") => "GS1 DotCode",
                    _ => "GS1 symbol",
                };
                format!("scanner data, {name} ({s})")
            }
            InputForm::Scanner { symbology: None } => {
                "scanner data without symbology identifier".into()
            }
            InputForm::Bracketed => "bracketed element string".into(),
            InputForm::DigitalLink => "GS1 Digital Link URI".into(),
            InputForm::EpcUri => "EPC pure-identity URI".into(),
        }
    }
}

/// Everything one code says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub form: InputForm,
    /// In input order (Digital Link: path, then query).
    pub elements: Vec<Element>,
    /// The item or container: (01)+(21) as SGTIN or (00) as SSCC; `None`
    /// if neither, or if both are present.
    pub code: Option<Code>,
    /// A location: (414) GLN with its (254) extension, if any.
    pub sgln: Option<(Gln, Option<String>)>,
}

/// AIM symbology identifiers of symbols that carry GS1 element strings.
const GS1_SYMBOLOGIES: [&[u8]; 5] = [b"]d2", b"]C1", b"]Q3", b"]e0", b"]J1"];

fn starts_with_ignore_case(b: &[u8], prefix: &str) -> bool {
    b.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Parses one code in any supported form. Surrounding ASCII whitespace
/// (CR/LF from a scanner, spaces) is ignored; positions in errors count
/// from the start of `input`.
pub fn parse_scan(input: &[u8], today: NaiveDate) -> Result<Scan, ParseError> {
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(input.len());
    let end = input
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    let data = &input[start..end];
    let Some(&first) = data.first() else {
        return Err(ParseError::new(0, ParseErrorKind::Empty));
    };
    let text = || {
        std::str::from_utf8(data)
            .map_err(|e| ParseError::new(start + e.valid_up_to(), ParseErrorKind::Unrecognised))
    };
    let (form, found) = if first == b']' {
        let id = data.get(..3).unwrap_or(data);
        if !GS1_SYMBOLOGIES.contains(&id) {
            let symbology = super::shown(&String::from_utf8_lossy(id));
            return Err(ParseError::new(
                start,
                ParseErrorKind::NotGs1Symbol { symbology },
            ));
        }
        let mut body = (&data[3..], start + 3);
        if body.0.first() == Some(&GS) {
            body = (&body.0[1..], body.1 + 1); // an explicit leading FNC1
        }
        let symbology = Some(String::from_utf8_lossy(id).into_owned());
        (
            InputForm::Scanner { symbology },
            split_raw(body.0, body.1, today)?,
        )
    } else if first.is_ascii_digit() || first == GS {
        let skip = usize::from(first == GS);
        (
            InputForm::Scanner { symbology: None },
            split_raw(&data[skip..], start + skip, today)?,
        )
    } else if first == b'(' {
        (
            InputForm::Bracketed,
            split_bracketed(text()?, start, today)?,
        )
    } else if starts_with_ignore_case(data, "https://") || starts_with_ignore_case(data, "http://")
    {
        (
            InputForm::DigitalLink,
            parse_digital_link(text()?, start, today)?,
        )
    } else if starts_with_ignore_case(data, "urn:") {
        return epc(text()?).map_err(|e| ParseError {
            position: start,
            ..ParseError::from(e)
        });
    } else {
        return Err(ParseError::new(start, ParseErrorKind::Unrecognised));
    };
    if found.is_empty() {
        return Err(ParseError::new(end, ParseErrorKind::Empty));
    }
    check_pairing(&found)?;
    let scan = assemble(form, found, today).map_err(|e| ParseError {
        position: start,
        ..ParseError::from(e)
    })?;
    Ok(scan)
}

fn assemble(form: InputForm, found: Vec<Found>, today: NaiveDate) -> Result<Scan, Gs1Error> {
    // One pass over the elements picks out the AIs that make the code.
    let mut v: [Option<&str>; 7] = [None; 7];
    for f in &found {
        let slot = match f.el.ai.as_bytes() {
            b"00" => 0,
            b"01" => 1,
            b"21" => 2,
            b"10" => 3,
            b"17" => 4,
            b"414" => 5,
            b"254" => 6,
            _ => continue,
        };
        v[slot] = Some(f.el.value.as_str());
    }
    let [sscc, gtin, serial, lot, expiry, gln, extension] = v;
    let sgtin = gtin.zip(serial);
    // The values passed the dictionary's checks (N18/N14 with check digit,
    // X..20), which are exactly what the key types require.
    let id = match (sscc, sgtin) {
        (Some(s), None) => Some(Identifier::Sscc(Sscc::from_checked(s))),
        (None, Some((g, s))) => Some(Identifier::Sgtin(Sgtin {
            gtin: Gtin::from_checked(g),
            serial: Serial::from_checked(s),
        })),
        _ => None,
    };
    let code = match id {
        Some(id) => Some(Code {
            id,
            lot: lot.map(Lot::from_checked),
            expiry: expiry.map(|e| Expiry::from_yymmdd(e, today)).transpose()?,
            gcp_len: None,
        }),
        None => None,
    };
    let sgln = gln.map(|g| (Gln::from_checked(g), extension.map(str::to_string)));
    let elements = found.into_iter().map(|f| f.el).collect();
    Ok(Scan {
        form,
        elements,
        code,
        sgln,
    })
}

fn element(ai: &str, value: &str) -> Element {
    let title = table().get(ai.as_bytes()).map_or("", |e| e.title);
    Element {
        ai: ai.to_string(),
        title,
        value: value.to_string(),
    }
}

/// An EPC pure-identity URI: SGTIN, SSCC or SGLN.
fn epc(uri: &str) -> Result<Scan, Gs1Error> {
    let (elements, code, sgln) = if uri.starts_with("urn:epc:id:sgln:") {
        let (gln, extension, _) = parse_sgln_uri(uri)?;
        let mut elements = vec![element("414", gln.as_str())];
        elements.extend(extension.as_deref().map(|e| element("254", e)));
        (elements, None, Some((gln, extension)))
    } else {
        let (id, gcp_len) = parse_epc_uri(uri)?;
        let elements = match &id {
            Identifier::Sgtin(s) => vec![
                element("01", s.gtin.as_str()),
                element("21", s.serial.as_str()),
            ],
            Identifier::Sscc(s) => vec![element("00", s.as_str())],
        };
        let code = Code {
            id,
            lot: None,
            expiry: None,
            gcp_len: Some(gcp_len),
        };
        (elements, Some(code), None)
    };
    Ok(Scan {
        form: InputForm::EpcUri,
        elements,
        code,
        sgln,
    })
}
