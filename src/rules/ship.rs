//! Shipments: `ship`, `void_shipment` and `receive`, judged against the ledger and its
//! shipments.
//!
//! Shipping is the unit judgement of `units` (top-level identifiers only, everything packed in
//! them leaves too, none of it sampled, decommissioned or destroyed) plus the shipment's own
//! facts: a despatch-advice number is used once. A void takes back a *sale* only (MESSAGES.md
//! §3.8: a transfer ends with a receipt at its destination, not a void), once, and only while
//! every identifier it shipped is still out with it; everything goes back to commissioned, in
//! the containers it left in. A receipt takes shipped top-level identifiers back, with their
//! contents (MESSAGES.md §4.2, SHIPPED → COMMISSIONED). The shipments themselves are the store's
//! (`ShipmentLedger`), which records them when it writes the plan.

use std::collections::HashSet;

use super::serial::{self, Policy, SerialEvent, SerialState};
use super::{LedgerView, Plan, SerialRecord, SerialWrite, Verdict, refuse, reject_code, units};
use crate::model::{
    LineMessage, Receipt, RejectCode, Rejection, Shipment, ShipmentKind, UnitAction,
};

/// A shipment as the ledger recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentRecord {
    pub kind: ShipmentKind,
    /// The line and message that shipped it.
    pub line: String,
    pub message_id: String,
    /// Whether a void took it back.
    pub voided: bool,
}

/// One identifier a shipment took (a top-level one or its contents), as the ledger holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedItem {
    pub key: String,
    pub record: SerialRecord,
    /// Named in the `ship` message (not shipped as contents).
    pub top_level: bool,
    /// No later shipment took it: its present state is this shipment's doing or later events'.
    pub latest: bool,
}

/// The ledger's shipments, beside its batches and serials.
pub trait ShipmentLedger: LedgerView {
    /// A shipment by its despatch-advice number.
    fn shipment(&self, shipment: &str) -> Result<Option<ShipmentRecord>, Self::Error>;
    /// Every identifier the shipment took, top-level ones first.
    fn shipment_items(&self, shipment: &str) -> Result<Vec<ShippedItem>, Self::Error>;
}

pub(super) fn ship<L: ShipmentLedger>(
    msg: &LineMessage,
    s: &Shipment,
    ledger: &L,
) -> Verdict<L::Error> {
    if let Some(earlier) = ledger.shipment(&s.shipment)? {
        return refuse(
            RejectCode::ShipmentExists,
            format!(
                "shipment {} was already shipped by message {} of line {}; a despatch-advice \
                 number is used once",
                s.shipment, earlier.message_id, earlier.line
            ),
        );
    }
    units::units(msg, UnitAction::Ship, &s.codes, ledger)
}

/// The recorded shipment `id`, or the refusal of a message naming an unknown or voided one.
fn known<L: ShipmentLedger>(
    ledger: &L,
    id: &str,
) -> Result<Result<ShipmentRecord, Rejection>, L::Error> {
    Ok(match ledger.shipment(id)? {
        None => Err(Rejection::new(
            RejectCode::UnknownShipment,
            format!("shipment {id} was never shipped from this site"),
        )),
        Some(r) if r.voided => Err(Rejection::new(
            RejectCode::InvalidTransition,
            format!("shipment {id} was voided; its units never left"),
        )),
        Some(r) => Ok(r),
    })
}

pub(super) fn void<L: ShipmentLedger>(shipment: &str, ledger: &L) -> Verdict<L::Error> {
    let record = match known(ledger, shipment)? {
        Ok(r) => r,
        Err(r) => return Ok(Err(r)),
    };
    if record.kind == ShipmentKind::Transfer {
        return refuse(
            RejectCode::InvalidTransition,
            format!(
                "shipment {shipment} was a transfer; only a sale can be voided — a transfer ends \
                 with a receive at its destination"
            ),
        );
    }
    let mut writes = Vec::new();
    for item in ledger.shipment_items(shipment)? {
        if !item.latest {
            return refuse(
                RejectCode::InvalidTransition,
                format!(
                    "{} of shipment {shipment} left again in a later shipment; void that one",
                    item.key
                ),
            );
        }
        let facts = Some(item.record.facts);
        if let Err(refusal) =
            serial::transition(facts, SerialEvent::VoidShipment, Policy::default())
        {
            return refuse(
                reject_code(refusal.code()),
                format!(
                    "{} of shipment {shipment} {refusal}; only units still out with the \
                     shipment can be voided",
                    item.key
                ),
            );
        }
        writes.push(SerialWrite {
            key: item.key,
            state: SerialState::Commissioned,
            parent: item.record.parent,
            commissioned: None,
        });
    }
    Ok(Ok(Plan {
        batch: None,
        serials: writes,
    }))
}

pub(super) fn receive<L: ShipmentLedger>(r: &Receipt, ledger: &L) -> Verdict<L::Error> {
    let mut from_shipment = None;
    if let Some(id) = &r.shipment {
        if let Err(refusal) = known(ledger, id)? {
            return Ok(Err(refusal));
        }
        let top: HashSet<String> = (ledger.shipment_items(id)?.into_iter())
            .filter(|i| i.top_level)
            .map(|i| i.key)
            .collect();
        from_shipment = Some((id, top));
    }
    let mut seen = HashSet::new();
    let mut writes = Vec::new();
    for (i, code) in r.codes.iter().enumerate() {
        let what = format!("codes[{i}] {}", code.key);
        if !seen.insert(code.key.as_str()) {
            return refuse(
                RejectCode::DuplicateCode,
                format!("{what} appears twice in this message"),
            );
        }
        if let Some((id, top)) = &from_shipment
            && !top.contains(&code.key)
        {
            return refuse(
                RejectCode::InvalidTransition,
                format!("{what} did not leave as a top-level unit of shipment {id}"),
            );
        }
        let rec = ledger.serial(&code.key)?;
        if let Some(parent) = rec.as_ref().and_then(|r| r.parent.as_ref()) {
            return refuse(
                RejectCode::Packed,
                format!("{what} travelled packed in {parent}; receive {parent}"),
            );
        }
        let facts = rec.as_ref().map(|r| r.facts);
        if let Err(refusal) = serial::transition(facts, SerialEvent::Receive, Policy::default()) {
            return refuse(
                reject_code(refusal.code()),
                format!("{what} {refusal}; only shipped units are received"),
            );
        }
        writes.push(SerialWrite {
            key: code.key.clone(),
            state: SerialState::Commissioned,
            parent: None,
            commissioned: None,
        });
        if let Err(refusal) = contents_back(&code.key, ledger, &mut writes)? {
            return Ok(Err(refusal));
        }
    }
    Ok(Ok(Plan {
        batch: None,
        serials: writes,
    }))
}

/// Everything packed in `key`, at any depth, comes back with it.
fn contents_back<L: LedgerView>(
    key: &str,
    ledger: &L,
    writes: &mut Vec<SerialWrite>,
) -> Result<Result<(), Rejection>, L::Error> {
    let mut stack = vec![key.to_string()];
    while let Some(k) = stack.pop() {
        for child in ledger.children(&k)? {
            let facts = ledger.serial(&child)?.map(|r| r.facts);
            if let Err(refusal) = serial::transition(facts, SerialEvent::Receive, Policy::default())
            {
                return Ok(Err(Rejection::new(
                    reject_code(refusal.code()),
                    format!("{child} (in {key}) {refusal}; only shipped units are received"),
                )));
            }
            writes.push(SerialWrite {
                key: child.clone(),
                state: SerialState::Commissioned,
                parent: Some(k.clone()),
                commissioned: None,
            });
            stack.push(child);
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
#[path = "ship_tests.rs"]
mod tests;
