//! The warehouse's messages: `ship`, `void_shipment` and `receive` (docs/mqtt-protocol-v1.md,
//! "Shipments").
//!
//! They share the line's topic and the decoder's rules, but carry what a despatch advice says
//! rather than what a line scanned: document numbers that end up inside EPCIS business
//! transaction ids (`urn:epcglobal:cbv:bt:<GLN>:<number>`), so they are held to characters that
//! need no escaping in a URI; and trading parties and places as GLNs (or SGLN URIs), rendered
//! once here into the SGLNs the documents carry, with the site's company-prefix rules. Whether
//! a shipment id is new or a unit may leave is for `rules::ship`, which sees the ledger.

use serde_json::Value;

use super::DecodeContext;
use super::fields::{Fields, codes, invalid};
use crate::gs1::{EpcUri, Gln, validate_sgln_uri};
use crate::model::{LineEvent, Party, Receipt, Rejection, Shipment, ShipmentKind};

/// Longest document number (a despatch advice, purchase order or receiving advice): EDIFACT's
/// document number is an35.
pub const MAX_DOCUMENT_LEN: usize = 35;

/// Longest change-reason code of a void.
const MAX_REASON_CODE_LEN: usize = 64;

/// A document number: 1–35 letters, digits, `-`, `.`, `_` or `/`.
fn document_number(f: &Fields<'_>, key: &str) -> Result<String, Rejection> {
    let s = f.string(key)?;
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/');
    if s.len() > MAX_DOCUMENT_LEN || !s.chars().all(ok_char) {
        return Err(invalid(
            key,
            format!(
                "must be 1 to {MAX_DOCUMENT_LEN} letters, digits, '-', '.', '_' or '/' \
                 (it becomes part of a business-transaction URI)"
            ),
        ));
    }
    Ok(s)
}

fn opt_document_number(f: &Fields<'_>, key: &str) -> Result<Option<String>, Rejection> {
    match f.obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => document_number(f, key).map(Some),
    }
}

fn gln(key: &str, text: &str) -> Result<Gln, Rejection> {
    Gln::parse(text).map_err(|e| invalid(key, e.to_string()))
}

/// A trading party given by its GLN.
fn party(f: &Fields<'_>, key: &str, ctx: &DecodeContext<'_>) -> Result<Party, Rejection> {
    let g = gln(key, &f.string(key)?)?;
    let sgln = ctx
        .prefixes
        .sgln(&g, None)
        .map_err(|e| invalid(key, e.to_string()))?;
    Ok(Party {
        gln: g.as_str().to_string(),
        sgln,
    })
}

/// A place given by its GLN (no extension) or its SGLN URI (`urn:epc:id:sgln:…`).
fn location(f: &Fields<'_>, key: &str, ctx: &DecodeContext<'_>) -> Result<EpcUri, Rejection> {
    let text = f.string(key)?;
    if text.starts_with("urn:") {
        return validate_sgln_uri(&text)
            .and_then(|()| EpcUri::parse(&text))
            .map_err(|e| invalid(key, e.to_string()));
    }
    let g = gln(key, &text)?;
    ctx.prefixes
        .sgln(&g, None)
        .map_err(|e| invalid(key, e.to_string()))
}

fn present(f: &Fields<'_>, key: &str) -> bool {
    !matches!(f.obj.get(key), None | Some(Value::Null))
}

/// `ship`: a despatch advice.
pub(super) fn ship(f: &Fields<'_>, ctx: &DecodeContext<'_>) -> Result<LineEvent, Rejection> {
    let shipment = document_number(f, "shipment")?;
    let kind_text = f.string("kind")?;
    let kind = ShipmentKind::parse(&kind_text).ok_or_else(|| {
        invalid(
            "kind",
            format!("is '{kind_text}'; it must be sale or transfer"),
        )
    })?;
    let codes = codes(f, "codes", ctx)?;
    let po = opt_document_number(f, "po")?;
    let from_party = match present(f, "from_party") {
        true => Some(party(f, "from_party", ctx)?),
        false => None,
    };
    let from_location = match present(f, "from_location") {
        true => Some(location(f, "from_location", ctx)?),
        false => None,
    };
    Ok(LineEvent::Ship(Box::new(Shipment {
        shipment,
        kind,
        codes,
        po,
        from_party,
        from_location,
        to_party: party(f, "to_party", ctx)?,
        to_location: location(f, "to_location", ctx)?,
    })))
}

/// `void_shipment`: a sale that did not leave.
pub(super) fn void_shipment(f: &Fields<'_>) -> Result<LineEvent, Rejection> {
    let shipment = document_number(f, "shipment")?;
    let reason = f.string("reason")?;
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if reason.len() > MAX_REASON_CODE_LEN || !reason.chars().all(ok_char) {
        return Err(invalid(
            "reason",
            format!(
                "must be a reason code of 1 to {MAX_REASON_CODE_LEN} letters, digits, '-', '.' \
                 or '_'"
            ),
        ));
    }
    Ok(LineEvent::VoidShipment { shipment, reason })
}

/// `receive`: units shipped earlier arrive back.
pub(super) fn receive(f: &Fields<'_>, ctx: &DecodeContext<'_>) -> Result<LineEvent, Rejection> {
    Ok(LineEvent::Receive(Receipt {
        document: document_number(f, "document")?,
        codes: codes(f, "codes", ctx)?,
        shipment: opt_document_number(f, "shipment")?,
    }))
}

#[cfg(test)]
#[path = "ship_tests.rs"]
mod tests;
