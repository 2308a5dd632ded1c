//! Shipments in the store: everything SQL about `ship`, `void_shipment` and `receive`.
//!
//! Inside the writing transaction, `record` keeps what an accepted message of those kinds said,
//! beside the serials' new states that `registry` writes: a shipment row at the message's
//! `serial_events` row, and what it took — the top-level identifiers and everything under
//! them, walked down the registry's parent links at that moment, each with the parent it left
//! in (`shipment_items`). A void marks the shipment; a receipt gets a row and its top-level
//! identifiers. `TxLedger` answers the rules' questions about shipments from the same
//! transaction (`rules::ShipmentLedger`).
//!
//! For the assembler: `next_due` finds the oldest shipment, void or receipt whose document is
//! still to be built (by `serial_events` order, so a void never overtakes its shipment), `rows`
//! reads it for the pure builders, and `mark` records the outcome in the transaction that
//! records its documents. `ReadOnlyStore::shipment` is the operator's view (`linegate ship`).

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::ledger::ts;
use super::registry::TxLedger;
use super::{ReadOnlyStore, StoreError};
use crate::model::{LineEvent, LineMessage, Receipt, Shipment, ShipmentKind};
use crate::rules::{LedgerView, ShipmentLedger, ShipmentRecord, ShippedItem};

pub mod assembly;
pub mod rows;
#[cfg(test)]
mod tests;

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

/// A shipment message whose document is still to be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// The shipment with this row id.
    Shipment(i64),
    /// The void of the shipment with this row id.
    Void(i64),
    /// The receipt at this `serial_events` row.
    Receipt(i64),
}

/// The oldest due document's message, with its `serial_events` row; a void waits until its
/// shipment's document is built (or failed).
pub fn next_due(conn: &Connection) -> Result<Option<(Due, i64)>, StoreError> {
    let row: Option<(String, i64, i64)> = conn
        .prepare_cached(
            "SELECT * FROM (
                 SELECT 'shipment', id, event FROM shipments WHERE document = 'pending'
                 UNION ALL
                 SELECT 'void', id, void_event FROM shipments
                 WHERE void_document = 'pending' AND document <> 'pending'
                 UNION ALL
                 SELECT 'receipt', event, event FROM receipts WHERE document = 'pending'
             ) ORDER BY 3 LIMIT 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.map(|(kind, id, seq)| {
        let due = match kind.as_str() {
            "shipment" => Due::Shipment(id),
            "void" => Due::Void(id),
            _ => Due::Receipt(id),
        };
        (due, seq)
    }))
}

/// Marks `due`'s document assembled (`Ok`) or failed (`Err`, the reason) if it still waits;
/// returns whether it did (false: another assembler recorded it first).
pub fn mark(tx: &Transaction<'_>, due: Due, result: Result<(), &str>) -> Result<bool, StoreError> {
    let (state, failure) = match result {
        Ok(()) => ("assembled", None),
        Err(reason) => ("failed", Some(reason)),
    };
    let changed = match due {
        Due::Void(id) => tx.execute(
            "UPDATE shipments SET void_document = ?2, void_failure = ?3
             WHERE id = ?1 AND void_document = 'pending'",
            params![id, state, failure],
        )?,
        Due::Shipment(id) | Due::Receipt(id) => {
            let (table, key) = match due {
                Due::Shipment(_) => ("shipments", "id"),
                _ => ("receipts", "event"),
            };
            let sql = format!(
                "UPDATE {table} SET document = ?2, failure = ?3, assembled_at = ?4
                 WHERE {key} = ?1 AND document = 'pending'"
            );
            tx.execute(&sql, params![id, state, failure, ts(chrono::Utc::now())])?
        }
    };
    Ok(changed == 1)
}

/// A shipment as an operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShipmentSummary {
    pub shipment: String,
    pub line: String,
    pub message_id: String,
    pub kind: String,
    pub shipped_at: String,
    /// The top-level identifiers (canonical keys), in commissioning order.
    pub top_level: Vec<String>,
    /// Every identifier that left, contents included.
    pub identifiers: u64,
    /// pending, assembled or failed.
    pub document: String,
    pub voided_at: Option<String>,
}

impl ReadOnlyStore {
    /// The shipment with this despatch-advice number, if any.
    pub fn shipment(&self, shipment: &str) -> Result<Option<ShipmentSummary>, StoreError> {
        let row: Option<(i64, [String; 6], Option<String>)> = self
            .conn
            .query_row(
                "SELECT id, line, message_id, kind, shipped_at, document, desadv, voided_at
                 FROM shipments WHERE desadv = ?1",
                [shipment],
                |r| {
                    let t = |i| r.get::<_, String>(i);
                    Ok((
                        r.get(0)?,
                        [t(1)?, t(2)?, t(3)?, t(4)?, t(5)?, t(6)?],
                        r.get(7)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, [line, message_id, kind, shipped_at, document, shipment], voided_at)) = row
        else {
            return Ok(None);
        };
        let top_level = self
            .conn
            .prepare(
                "SELECT s.key FROM shipment_items i JOIN serials s ON s.id = i.serial
                 WHERE i.shipment = ?1 AND i.parent IS NULL ORDER BY s.id",
            )?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let identifiers: i64 = self.conn.query_row(
            "SELECT count(*) FROM shipment_items WHERE shipment = ?1",
            [id],
            |r| r.get(0),
        )?;
        Ok(Some(ShipmentSummary {
            shipment,
            line,
            message_id,
            kind,
            shipped_at,
            top_level,
            identifiers: identifiers as u64,
            document,
            voided_at,
        }))
    }
}
