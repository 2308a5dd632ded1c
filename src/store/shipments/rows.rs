//! `assemble::shipment::ShipmentRows` over SQLite: what the Shipment and Void Shipment builders
//! read about one shipment, from one read transaction of a read-only connection; and the
//! receipt a Receive reports.
//!
//! Everything comes from what the shipment recorded when it left (`shipment_items`: each
//! identifier with the parent it left in), not from the registry as it is now: a shipment
//! voided and unpacked before its document was built is still reported as it left. Units are
//! visited straight from the statement's cursor; containers are few and come as a list.
//!
//! Packaging levels are the End of Batch's (`batch_rows`), judged on the shipped hierarchy: an
//! SGTIN of its batch's GTIN is `Each`, another SGTIN `Case`, an SSCC `Pallet` when it left
//! holding a container and `Case` otherwise.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::assemble::rows::{AssembleError, ContainerRow, Visit};
use crate::assemble::shipment::{
    ReceiptInfo, ShipmentInfo, ShipmentRows, ShippedBatch, ShippedUnit,
};
use crate::epcis::PackagingLevel;
use crate::gs1::EpcUri;
use crate::model::{Party, ShipmentKind};

fn read(e: rusqlite::Error) -> AssembleError {
    AssembleError::Read(e.to_string())
}

fn time(s: &str) -> Result<DateTime<Utc>, AssembleError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| AssembleError::Read(format!("stored time {s} is unreadable")))
}

/// An EPC URI linegate rendered at ingest (checked again: shipments are small).
fn epc(s: &str) -> Result<EpcUri, AssembleError> {
    EpcUri::parse(s).map_err(|e| AssembleError::Read(format!("stored EPC {s}: {e}")))
}

fn party(gln: Option<String>, sgln: Option<String>) -> Result<Option<Party>, AssembleError> {
    match (gln, sgln) {
        (Some(gln), Some(sgln)) => Ok(Some(Party {
            gln,
            sgln: epc(&sgln)?,
        })),
        _ => Ok(None),
    }
}

/// SQL: the level of shipment item `i` (serial `s`, batch `b`) — 0 each, 1 case, 2 pallet.
const LEVEL: &str = "CASE
    WHEN s.key LIKE '(00)%' THEN CASE WHEN EXISTS (
        SELECT 1 FROM shipment_items c WHERE c.shipment = i.shipment AND c.parent = i.serial
            AND EXISTS (SELECT 1 FROM shipment_items g
                        WHERE g.shipment = c.shipment AND g.parent = c.serial)) THEN 2 ELSE 1 END
    WHEN substr(s.key, 5, 14) = b.gtin THEN 0 ELSE 1 END";

fn level(n: i64) -> PackagingLevel {
    match n {
        0 => PackagingLevel::Each,
        1 => PackagingLevel::Case,
        _ => PackagingLevel::Pallet,
    }
}

/// One shipment, read from the caller's read transaction.
pub struct SqliteShipmentRows<'a> {
    conn: &'a Connection,
    id: i64,
    /// Its `serial_events` row: containers were packed before it.
    event: i64,
    info: ShipmentInfo,
}

impl<'a> SqliteShipmentRows<'a> {
    /// The shipment with row id `id`; None when there is none.
    pub fn open(conn: &'a Connection, id: i64) -> Result<Option<Self>, AssembleError> {
        const COLUMNS: &str = "desadv, line, kind, po, from_party, from_party_sgln, from_location,
            to_party, to_party_sgln, to_location, shipped_at, voided_at, void_reason, event";
        let row: Option<(Vec<Option<String>>, i64)> = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM shipments WHERE id = ?1"),
                [id],
                |r| {
                    Ok((
                        (0..13).map(|i| r.get(i)).collect::<Result<_, _>>()?,
                        r.get(13)?,
                    ))
                },
            )
            .optional()
            .map_err(read)?;
        let Some((mut text, event)) = row else {
            return Ok(None);
        };
        let mut take = |i: usize| text[i].take();
        let desadv = take(0).unwrap_or_default();
        let line = take(1).unwrap_or_default();
        let kind = take(2).unwrap_or_default();
        let bad = |what: &str| AssembleError::Read(format!("shipment {desadv}: {what}"));
        let info = ShipmentInfo {
            kind: ShipmentKind::parse(&kind).ok_or_else(|| bad(&format!("kind {kind}")))?,
            po: take(3),
            from_party: party(take(4), take(5))?,
            from_location: take(6).as_deref().map(epc).transpose()?,
            to_party: party(take(7), take(8))?.ok_or_else(|| bad("no ship-to party"))?,
            to_location: epc(&take(9).unwrap_or_default())?,
            shipped_at: time(&take(10).unwrap_or_default())?,
            voided: match (take(11), take(12)) {
                (Some(t), reason) => Some((time(&t)?, reason.unwrap_or_default())),
                (None, _) => None,
            },
            line,
            shipment: desadv.clone(),
        };
        Ok(Some(SqliteShipmentRows {
            conn,
            id,
            event,
            info,
        }))
    }

    /// Visits `sql`'s first column (an EPC) for each row.
    fn epcs(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        visit: Visit<'_, EpcUri>,
    ) -> Result<(), AssembleError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(read)?;
        let mut rows = stmt.query(args).map_err(read)?;
        while let Some(r) = rows.next().map_err(read)? {
            visit(epc(&r.get::<_, String>(0).map_err(read)?)?)?;
        }
        Ok(())
    }
}

impl ShipmentRows for SqliteShipmentRows<'_> {
    fn info(&self) -> &ShipmentInfo {
        &self.info
    }

    fn top_level(&mut self, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError> {
        self.epcs(
            "SELECT s.epc FROM shipment_items i JOIN serials s ON s.id = i.serial
             WHERE i.shipment = ?1 AND i.parent IS NULL ORDER BY s.id",
            [self.id],
            visit,
        )
    }

    fn batches(&mut self) -> Result<Vec<ShippedBatch>, AssembleError> {
        let mut stmt = (self.conn)
            .prepare_cached(
                "SELECT DISTINCT b.batch, b.lot, b.expiry
                 FROM shipment_items i JOIN serials s ON s.id = i.serial
                 JOIN batches b ON b.batch = s.batch
                 WHERE i.shipment = ?1 ORDER BY b.batch",
            )
            .map_err(read)?;
        let rows = stmt.query_map([self.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)));
        let rows: Vec<(String, String, String)> = rows.and_then(|r| r.collect()).map_err(read)?;
        rows.into_iter()
            .map(|(batch, lot, expiry)| {
                let expiry = NaiveDate::parse_from_str(&expiry, "%Y-%m-%d")
                    .map_err(|_| AssembleError::Read(format!("batch {batch}: expiry {expiry}")))?;
                Ok(ShippedBatch { batch, lot, expiry })
            })
            .collect()
    }

    fn units(
        &mut self,
        batch: &str,
        want: PackagingLevel,
        visit: Visit<'_, ShippedUnit>,
    ) -> Result<(), AssembleError> {
        let sql = format!(
            "SELECT s.epc, s.commissioned_at, {LEVEL}
             FROM shipment_items i JOIN serials s ON s.id = i.serial
             JOIN batches b ON b.batch = s.batch
             WHERE i.shipment = ?1 AND s.batch = ?2 ORDER BY s.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(read)?;
        let mut rows = stmt.query(params![self.id, batch]).map_err(read)?;
        while let Some(r) = rows.next().map_err(read)? {
            let (e, at, n): (String, String, i64) = (
                r.get(0).map_err(read)?,
                r.get(1).map_err(read)?,
                r.get(2).map_err(read)?,
            );
            if level(n) == want {
                visit(ShippedUnit {
                    epc: epc(&e)?,
                    commissioned_at: time(&at)?,
                })?;
            }
        }
        Ok(())
    }

    fn containers(&mut self) -> Result<Vec<ContainerRow>, AssembleError> {
        let sql = format!(
            "SELECT s.id, s.epc, i.parent, {LEVEL}, s.commissioned_at,
                    (SELECT max(e.event_time) FROM serial_history h
                     JOIN serial_events e ON e.seq = h.event
                     WHERE h.serial = s.id AND h.event < ?2 AND e.kind = 'aggregate')
             FROM shipment_items i JOIN serials s ON s.id = i.serial
             JOIN batches b ON b.batch = s.batch
             WHERE i.shipment = ?1 AND EXISTS (SELECT 1 FROM shipment_items c
                                               WHERE c.shipment = ?1 AND c.parent = i.serial)
             ORDER BY s.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(read)?;
        type Row = (i64, String, Option<i64>, i64, String, Option<String>);
        let rows: Vec<Row> = stmt
            .query_map(params![self.id, self.event], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .and_then(|r| r.collect())
            .map_err(read)?;
        // Depth from the top: a container comes after every container packed in it.
        let parents: HashMap<i64, Option<i64>> = rows.iter().map(|r| (r.0, r.2)).collect();
        let depth = |mut id: i64| {
            let mut d = 0usize;
            while let Some(Some(p)) = parents.get(&id) {
                (d, id) = (d + 1, *p);
            }
            d
        };
        let mut out = Vec::with_capacity(rows.len());
        for (id, e, _, n, commissioned, packed) in rows {
            out.push((
                depth(id),
                ContainerRow {
                    id,
                    epc: epc(&e)?,
                    level: level(n),
                    packed_at: time(packed.as_deref().unwrap_or(&commissioned))?,
                },
            ));
        }
        out.sort_by(|(da, a), (db, b)| db.cmp(da).then(a.id.cmp(&b.id)));
        Ok(out.into_iter().map(|(_, c)| c).collect())
    }

    fn children(&mut self, container: i64, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError> {
        self.epcs(
            "SELECT s.epc FROM shipment_items i JOIN serials s ON s.id = i.serial
             WHERE i.shipment = ?1 AND i.parent = ?2 ORDER BY s.id",
            [self.id, container],
            visit,
        )
    }
}

/// The receipt recorded at `event`, with the shipment it names (and who shipped it).
pub fn receipt(conn: &Connection, event: i64) -> Result<Option<ReceiptInfo>, AssembleError> {
    let row: Option<(String, String, Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT r.recadv, r.received_at, sh.desadv, sh.from_party
             FROM receipts r LEFT JOIN shipments sh ON sh.id = r.shipment WHERE r.event = ?1",
            [event],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(read)?;
    let Some((document, at, shipment, shipper)) = row else {
        return Ok(None);
    };
    let mut epcs = Vec::new();
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.epc FROM receipt_items i JOIN serials s ON s.id = i.serial
             WHERE i.receipt = ?1 ORDER BY s.id",
        )
        .map_err(read)?;
    let mut rows = stmt.query([event]).map_err(read)?;
    while let Some(r) = rows.next().map_err(read)? {
        epcs.push(epc(&r.get::<_, String>(0).map_err(read)?)?);
    }
    Ok(Some(ReceiptInfo {
        document,
        received_at: time(&at)?,
        shipment: shipment.map(|s| (s, shipper)),
        epcs,
    }))
}
