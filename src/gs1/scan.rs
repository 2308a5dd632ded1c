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

use std::borrow::Cow;

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
        symbology: Option<&'static str>,
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
const GS1_SYMBOLOGIES: [&str; 5] = ["]d2", "]C1", "]Q3", "]e0", "]J1"];

fn starts_with_ignore_case(b: &[u8], prefix: &str) -> bool {
    b.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// What a code is made of before it becomes a [`Scan`] or a [`Code`].
enum Parsed<'a> {
    Epc(Scan),
    Elements {
        form: InputForm,
        found: Vec<Found<'a>>,
        start: usize,
    },
}

/// Splits and checks `input` (every form, every value, pairing rules).
fn parse_parts(input: &[u8], today: NaiveDate) -> Result<Parsed<'_>, ParseError> {
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
        let Some(symbology) = GS1_SYMBOLOGIES.iter().copied().find(|s| s.as_bytes() == id) else {
            let symbology = super::shown(&String::from_utf8_lossy(id));
            return Err(ParseError::new(
                start,
                ParseErrorKind::NotGs1Symbol { symbology },
            ));
        };
        let mut body = (&data[3..], start + 3);
        if body.0.first() == Some(&GS) {
            body = (&body.0[1..], body.1 + 1); // an explicit leading FNC1
        }
        let symbology = Some(symbology);
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
        return epc(text()?).map(Parsed::Epc).map_err(|e| ParseError {
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
    Ok(Parsed::Elements { form, found, start })
}

/// Parses one code in any supported form into a [`Scan`]: the elements,
/// and the identifier and location they name. Surrounding ASCII whitespace
/// (CR/LF from a scanner, spaces) is ignored; positions in errors count
/// from the start of `input`.
pub fn parse_scan(input: &[u8], today: NaiveDate) -> Result<Scan, ParseError> {
    match parse_parts(input, today)? {
        Parsed::Epc(scan) => Ok(scan),
        Parsed::Elements { form, found, start } => {
            assemble(form, found, today).map_err(|e| ParseError {
                position: start,
                ..ParseError::from(e)
            })
        }
    }
}

/// The identifier of a code (SGTIN or SSCC) without building the element
/// list: the daemon's path, per scanned code. The values the elements
/// already own move into the identifier's types.
pub(crate) fn parse_instance(input: &[u8], today: NaiveDate) -> Result<Code, ParseError> {
    let (found, start) = match parse_parts(input, today)? {
        Parsed::Epc(scan) => {
            return scan
                .code
                .ok_or_else(|| ParseError::new(0, ParseErrorKind::NotAnInstance));
        }
        Parsed::Elements { found, start, .. } => (found, start),
    };
    let [mut sscc, mut gtin, mut serial, mut lot, mut expiry] = [None, None, None, None, None];
    for f in found {
        let slot = match (f.entry.ai_len, f.entry.lo, f.entry.hi) {
            (2, 0, 0) => &mut sscc,
            (2, 1, 1) => &mut gtin,
            (2, 21, 21) => &mut serial,
            (2, 10, 10) => &mut lot,
            (2, 17, 17) => &mut expiry,
            _ => continue,
        };
        *slot = Some(f.value);
    }
    // The values passed the dictionary's checks, which are what the key types require.
    let id = match (sscc, gtin.zip(serial)) {
        (Some(s), None) => Identifier::Sscc(Sscc::from_checked_owned(s.into_owned())),
        (None, Some((g, s))) => Identifier::Sgtin(Sgtin {
            gtin: Gtin::from_checked_owned(g.into_owned()),
            serial: Serial::from_checked_owned(s.into_owned()),
        }),
        _ => return Err(ParseError::new(0, ParseErrorKind::NotAnInstance)),
    };
    let expiry = expiry
        .map(|e: Cow<'_, str>| Expiry::from_yymmdd(&e, today))
        .transpose()
        .map_err(|e| ParseError {
            position: start,
            ..ParseError::from(e)
        })?;
    Ok(Code {
        id,
        lot: lot.map(|l| Lot::from_checked_owned(l.into_owned())),
        expiry,
        gcp_len: None,
    })
}

fn assemble(form: InputForm, found: Vec<Found<'_>>, today: NaiveDate) -> Result<Scan, Gs1Error> {
    // One pass over the elements picks out the AIs that make the code.
    let mut v: [Option<&str>; 7] = [None; 7];
    for f in &found {
        // By the row's numeric AI: cheaper than comparing strings, per element per code.
        let slot = match (f.entry.ai_len, f.entry.lo, f.entry.hi) {
            (2, 0, 0) => 0,
            (2, 1, 1) => 1,
            (2, 21, 21) => 2,
            (2, 10, 10) => 3,
            (2, 17, 17) => 4,
            (3, 414, 414) => 5,
            (3, 254, 254) => 6,
            _ => continue,
        };
        v[slot] = Some(&*f.value);
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
    let elements = found.into_iter().map(Found::into_element).collect();
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
        ai: table().name(ai.as_bytes()).unwrap_or("??"),
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
