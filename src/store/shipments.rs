//! Shipments in the store: everything SQL about `ship`, `void_shipment` and `receive`.
//!
//! Inside the writing transaction, `record` keeps what an accepted message of those kinds said,
//! beside the serials' new states that `registry` writes: a shipment row at the message's
//! `serial_events` row, and what it took — the top-level identifiers and everything under
//! them, walked down the registry's parent links at that moment, each with the parent it left
//! in (`shipment_items`). A void marks the shipment; a receipt gets a row and its top-level
//! identifiers. `TxLedger` answers the rules' questions about shipments from the same
//! transaction (`rules::ShipmentLedger`). The assembler's read side is `shipments::rows`.

use rusqlite::{OptionalExtension, Transaction, params};

use super::StoreError;
use super::ledger::ts;
use super::registry::TxLedger;
use crate::model::{LineEvent, LineMessage, Receipt, Shipment, ShipmentKind};
use crate::rules::{LedgerView, ShipmentLedger, ShipmentRecord, ShippedItem};

/// Records the shipment facts of an accepted `ship`, `void_shipment` or `receive` whose
/// serials' writes are `event` (the `serial_events` row); other messages have none.
pub(super) fn record(
    tx: &Transaction<'_>,
    msg: &LineMessage,
    event: i64,
) -> Result<(), StoreError> {
    match &msg.event {
        LineEvent::Ship(s) => record_shipment(tx, msg, s, event),
        LineEvent::VoidShipment { shipment, reason } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE shipments SET voided_at = ?2, void_event = ?3, void_reason = ?4,
                         void_document = 'pending'
                     WHERE desadv = ?1 AND voided_at IS NULL",
                )?
                .execute(params![shipment, ts(msg.time), event, reason])?;
            if changed != 1 {
                return Err(StoreError::Corrupt(format!(
                    "void of shipment {shipment} accepted, but the shipment is not there to void"
                )));
            }
            Ok(())
        }
        LineEvent::Receive(r) => record_receipt(tx, msg, r, event),
        _ => Ok(()),
    }
}

fn record_shipment(
    tx: &Transaction<'_>,
    msg: &LineMessage,
    s: &Shipment,
    event: i64,
) -> Result<(), StoreError> {
    let from = s.from_party.as_ref();
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO shipments (desadv, line, message_id, event, kind, po, from_party,
                 from_party_sgln, from_location, to_party, to_party_sgln, to_location, shipped_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
        )?
        .query_row(
            params![
                s.shipment,
                msg.line,
                msg.message_id,
                event,
                s.kind.as_str(),
                s.po,
                from.map(|p| p.gln.as_str()),
                from.map(|p| p.sgln.as_str()),
                s.from_location.as_ref().map(|l| l.as_str()),
                s.to_party.gln,
                s.to_party.sgln.as_str(),
                s.to_location.as_str(),
                ts(msg.time),
            ],
            |r| r.get(0),
        )?;
    // Shipping changes no parent, so the hierarchy walked here is the one that leaves.
    let mut walk = tx.prepare_cached(
        "WITH RECURSIVE tree(id, parent) AS (
             SELECT id, NULL FROM serials WHERE key = ?2
             UNION ALL
             SELECT s.id, s.parent FROM serials s JOIN tree t ON s.parent = t.id
         )
         INSERT INTO shipment_items (shipment, serial, parent) SELECT ?1, id, parent FROM tree",
    )?;
    for code in &s.codes {
        walk.execute(params![id, code.key])?;
    }
    Ok(())
}

fn record_receipt(
    tx: &Transaction<'_>,
    msg: &LineMessage,
    r: &Receipt,
    event: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO receipts (event, line, message_id, recadv, shipment, received_at)
         VALUES (?1, ?2, ?3, ?4, (SELECT id FROM shipments WHERE desadv = ?5), ?6)",
    )?
    .execute(params![
        event,
        msg.line,
        msg.message_id,
        r.document,
        r.shipment,
        ts(msg.time)
    ])?;
    let mut item = tx.prepare_cached(
        "INSERT INTO receipt_items (receipt, serial) SELECT ?1, id FROM serials WHERE key = ?2",
    )?;
    for code in &r.codes {
        item.execute(params![event, code.key])?;
    }
    Ok(())
}

impl ShipmentLedger for TxLedger<'_, '_> {
    fn shipment(&self, shipment: &str) -> Result<Option<ShipmentRecord>, StoreError> {
        let row: Option<(String, String, String, bool)> = self
            .tx
            .prepare_cached(
                "SELECT kind, line, message_id, voided_at IS NOT NULL FROM shipments
                 WHERE desadv = ?1",
            )?
            .query_row([shipment], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        row.map(|(kind, line, message_id, voided)| {
            Ok(ShipmentRecord {
                kind: ShipmentKind::parse(&kind).ok_or_else(|| {
                    StoreError::Corrupt(format!("shipment {shipment} has kind {kind}"))
                })?,
                line,
                message_id,
                voided,
            })
        })
        .transpose()
    }

    fn shipment_items(&self, shipment: &str) -> Result<Vec<ShippedItem>, StoreError> {
        let keys: Vec<(String, bool, bool)> = self
            .tx
            .prepare_cached(
                "SELECT s.key, i.parent IS NULL,
                        NOT EXISTS (SELECT 1 FROM shipment_items o
                                    WHERE o.serial = i.serial AND o.shipment > i.shipment)
                 FROM shipments sh
                 JOIN shipment_items i ON i.shipment = sh.id
                 JOIN serials s ON s.id = i.serial
                 WHERE sh.desadv = ?1
                 ORDER BY i.parent IS NOT NULL, s.id",
            )?
            .query_map([shipment], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        keys.into_iter()
            .map(|(key, top_level, latest)| {
                let record = self.serial(&key)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("shipment {shipment} lists {key}, which is gone"))
                })?;
                Ok(ShippedItem {
                    key,
                    record,
                    top_level,
                    latest,
                })
            })
            .collect()
    }
}
