//! The serial registry and batch table inside the writing transaction: reads for the rules,
//! writes of their plans.
//!
//! `TxLedger` answers the rules' questions (`rules::LedgerView`) from the open transaction, so
//! a message is judged against everything committed plus everything earlier in the same group.
//! `write_plan` writes an accepted message's plan: batch rows, the identifiers' new state and
//! parent, and one history row per identifier pointing at one `serial_events` row per message,
//! plus an audit row for each distinct state change, listing the identifiers that made it (a
//! change of parent alone — packing, unpacking — is in the history, not in the audit trail: it
//! changes no state).

use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, params};

use super::StoreError;
use super::audit_ingest::SerialAudit;
use super::ledger::ts;
use crate::model::{LineEvent, LineMessage};
use crate::rules::serial::{SerialFacts, SerialState};
use crate::rules::{
    BatchState, BatchView, BatchWrite, LedgerView, Plan, SerialRecord, SerialWrite,
};

/// The ledger as the open transaction sees it, for the rules.
pub(super) struct TxLedger<'a, 'c> {
    pub tx: &'a Transaction<'c>,
    pub cache: &'a GroupCache,
}

/// What stays true for the rest of one group transaction unless this transaction changes it:
/// the batches the group's messages name (nearly always the same one or two). Every message
/// asks for its batch; a group of 500 reads it once. Any batch write empties the cache. It
/// lives no longer than the transaction, which holds the write lock, so no other process can
/// change a batch meanwhile.
#[derive(Default)]
pub(super) struct GroupCache {
    batches: RefCell<HashMap<String, BatchView>>,
}

impl GroupCache {
    fn forget_batches(&self) {
        self.batches.borrow_mut().clear();
    }
}

/// `batch, state, parent key, child count` of the serial row `s`. Scalar subqueries, not a
/// join: SQLite re-prepares a self-join on `serials` for every new key bound (measured: 34 µs
/// instead of 2 µs per lookup, half the writer's time in `benches/ingest.rs`).
const SERIAL_COLUMNS: &str = "s.batch, s.state,
    (SELECT p.key FROM serials p WHERE p.id = s.parent),
    (SELECT count(*) FROM serials c WHERE c.parent = s.id)";

fn record(key: &str, r: &rusqlite::Row<'_>, first: usize) -> Result<SerialRecord, StoreError> {
    let state: String = r.get(first + 1)?;
    let state = SerialState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("serial {key} has state {state}")))?;
    let parent: Option<String> = r.get(first + 2)?;
    let children: i64 = r.get(first + 3)?;
    Ok(SerialRecord {
        batch: r.get(first)?,
        facts: SerialFacts {
            state,
            packed: parent.is_some(),
            children: children as usize,
        },
        parent,
    })
}

pub(super) fn batch_state(batch: &str, s: &str) -> Result<BatchState, StoreError> {
    BatchState::parse(s).ok_or_else(|| StoreError::Corrupt(format!("batch {batch} has state {s}")))
}

/// One batch row as the rules see it.
fn read_batch(tx: &Transaction<'_>, batch: &str) -> Result<Option<BatchView>, StoreError> {
    type Row = (String, String, String, String, String, String, Option<i64>);
    let row: Option<Row> = tx
        .prepare_cached(
            "SELECT line, state, gtin, pack_gtins, lot, expiry, planned_quantity
                 FROM batches WHERE batch = ?1",
        )?
        .query_row([batch], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .optional()?;
    let Some((line, state, gtin, packs, lot, expiry, planned)) = row else {
        return Ok(None);
    };
    let expiry = chrono::NaiveDate::parse_from_str(&expiry, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt(format!("batch {batch} has expiry {expiry}")))?;
    Ok(Some(BatchView {
        line,
        state: batch_state(batch, &state)?,
        gtin,
        pack_gtins: packs.split_whitespace().map(String::from).collect(),
        lot,
        expiry,
        planned: planned.map(|p| p as u64),
    }))
}

impl LedgerView for TxLedger<'_, '_> {
    type Error = StoreError;

    fn batch(&self, batch: &str) -> Result<Option<BatchView>, StoreError> {
        if let Some(view) = self.cache.batches.borrow().get(batch) {
            return Ok(Some(view.clone()));
        }
        let view = read_batch(self.tx, batch)?;
        if let Some(v) = &view {
            self.cache
                .batches
                .borrow_mut()
                .insert(batch.to_string(), v.clone());
        }
        Ok(view)
    }

    fn active_batches(&self, line: &str, gtin: &str) -> Result<u32, StoreError> {
        let n: i64 = self
            .tx
            .prepare_cached(
                "SELECT count(*) FROM batches
                 WHERE line = ?1 AND gtin = ?2 AND state IN ('open', 'running')",
            )?
            .query_row([line, gtin], |r| r.get(0))?;
        Ok(n as u32)
    }

    fn serial(&self, key: &str) -> Result<Option<SerialRecord>, StoreError> {
        let sql = format!("SELECT {SERIAL_COLUMNS} FROM serials s WHERE s.key = ?1");
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let mut rows = stmt.query([key])?;
        match rows.next()? {
            Some(r) => record(key, r, 0).map(Some),
            None => Ok(None),
        }
    }

    fn children(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT c.key FROM serials s JOIN serials c ON c.parent = s.id
             WHERE s.key = ?1 ORDER BY c.id",
        )?;
        let keys = stmt.query_map([key], |r| r.get(0))?;
        Ok(keys.collect::<Result<_, _>>()?)
    }

    fn batch_units(&self, batch: &str) -> Result<Vec<(String, SerialRecord)>, StoreError> {
        let sql = format!(
            "SELECT s.key, {SERIAL_COLUMNS} FROM serials s WHERE s.batch = ?1 ORDER BY s.id"
        );
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let mut rows = stmt.query([batch])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let key: String = r.get(0)?;
            let rec = record(&key, r, 1)?;
            out.push((key, rec));
        }
        Ok(out)
    }
}

/// Writes an accepted message's plan. Returns whether it made an End of Batch due: a close sets
/// the batch's `document` pending, a QA release its `release_document` (the assembler builds
/// each for the partners that take the End of Batch at that moment).
pub(super) fn write_plan(
    tx: &Transaction<'_>,
    msg: &LineMessage,
    plan: Plan,
    cache: &GroupCache,
    audit: &mut SerialAudit<'_>,
) -> Result<bool, StoreError> {
    let at = ts(msg.time);
    if plan.batch.is_some() {
        cache.forget_batches();
    }
    let mut closed = false;
    match plan.batch {
        Some(BatchWrite::Open(b)) => {
            tx.prepare_cached(
                "INSERT INTO batches (batch, line, gtin, pack_gtins, lot, expiry, work_order,
                                      planned_quantity, state, opened_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open', ?9)",
            )?
            .execute(params![
                b.batch,
                msg.line,
                b.gtin,
                b.pack_gtins.join(" "),
                b.lot,
                b.expiry.format("%Y-%m-%d").to_string(),
                b.work_order,
                b.planned_quantity.map(|q| q as i64),
                at
            ])?;
        }
        Some(BatchWrite::State {
            batch,
            state,
            report,
        }) => {
            let column = match state {
                BatchState::Closed => "closed_at",
                BatchState::Released => "released_at",
                BatchState::Cancelled => "cancelled_at",
                BatchState::Open | BatchState::Running => {
                    tx.prepare_cached("UPDATE batches SET state = ?2 WHERE batch = ?1")?
                        .execute(params![batch, state.as_str()])?;
                    return write_serials(tx, msg, plan.serials, audit).map(|()| false);
                }
            };
            let report = report
                .map(|r| serde_json::to_string(&r))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("report of batch {batch}: {e}")))?;
            let released = state == BatchState::Released;
            let document = (state == BatchState::Closed).then_some("pending");
            let release_document = released.then_some("pending");
            closed = document.is_some() || released;
            let sql = format!(
                "UPDATE batches SET state = ?2, {column} = ?3, report = coalesce(?4, report),
                     document = coalesce(?5, document),
                     release_document = coalesce(?6, release_document)
                 WHERE batch = ?1"
            );
            tx.prepare_cached(&sql)?.execute(params![
                batch,
                state.as_str(),
                at,
                report,
                document,
                release_document
            ])?;
        }
        None => {}
    }
    write_serials(tx, msg, plan.serials, audit)?;
    Ok(closed)
}

/// The identifiers' new facts and one history row each, under one `serial_events` row; an
/// audit row per distinct state change, listing the identifiers.
fn write_serials(
    tx: &Transaction<'_>,
    msg: &LineMessage,
    serials: Vec<SerialWrite>,
    audit: &mut SerialAudit<'_>,
) -> Result<(), StoreError> {
    if serials.is_empty() {
        return Ok(());
    }
    let at = ts(msg.time);
    let reason = match &msg.event {
        LineEvent::Units { reason, .. } | LineEvent::BatchCancel { reason, .. } => reason.clone(),
        _ => None,
    };
    let event: i64 = tx
        .prepare_cached(
            "INSERT INTO serial_events (line, message_id, kind, event_time, reason)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
        )?
        .query_row(
            params![msg.line, msg.message_id, msg.event.kind(), at, reason],
            |r| r.get(0),
        )?;
    super::shipments::record(tx, msg, event)?;
    // A message names few parents (one case, one pallet): resolve each key to its row once.
    let mut parent_ids: HashMap<String, i64> = HashMap::new();
    for w in serials {
        let new_state = w.state.as_str();
        let (id, parent, old_state): (i64, Option<i64>, Option<String>) = match &w.commissioned {
            Some(c) if !c.replaces => {
                tx.prepare_cached(
                    "INSERT INTO serials (key, epc, batch, state, commissioned_at, line, message_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![w.key, c.epc, c.batch, new_state, at, msg.line, msg.message_id])?;
                (tx.last_insert_rowid(), None, None)
            }
            Some(c) => {
                let (id, old) = current(tx, &w.key)?;
                tx.prepare_cached(
                    "UPDATE serials SET epc = ?2, batch = ?3, state = ?4, commissioned_at = ?5,
                         line = ?6, message_id = ?7, parent = NULL
                     WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    c.epc,
                    c.batch,
                    new_state,
                    at,
                    msg.line,
                    msg.message_id
                ])?;
                (id, None, Some(old))
            }
            None => {
                let parent = match &w.parent {
                    None => None,
                    Some(key) => Some(match parent_ids.get(key) {
                        Some(id) => *id,
                        None => {
                            let id: i64 = tx
                                .prepare_cached("SELECT id FROM serials WHERE key = ?1")?
                                .query_row([key], |r| r.get(0))?;
                            parent_ids.insert(key.clone(), id);
                            id
                        }
                    }),
                };
                let (id, old) = current(tx, &w.key)?;
                tx.prepare_cached("UPDATE serials SET state = ?2, parent = ?3 WHERE id = ?1")?
                    .execute(params![id, new_state, parent])?;
                (id, parent, Some(old))
            }
        };
        // A recommissioning is a state change even when the state stays `commissioned`.
        let recommissioned = w.commissioned.is_some();
        if recommissioned || old_state.as_deref() != Some(new_state) {
            audit.changed(&w.key, old_state.as_deref(), new_state);
        }
        tx.prepare_cached(
            "INSERT OR REPLACE INTO serial_history (serial, event, state, parent)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![id, event, new_state, parent])?;
    }
    audit.flush(tx)
}

/// The row id and state of the identifier `key`, which the rules found in the registry.
fn current(tx: &Transaction<'_>, key: &str) -> Result<(i64, String), StoreError> {
    Ok(tx
        .prepare_cached("SELECT id, state FROM serials WHERE key = ?1")?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))?)
}
