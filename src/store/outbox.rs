//! The outbox: documents waiting to leave the plant, one delivery row per (document, upstream).
//!
//! A closed batch is read and built outside the writer (`build_next`, its own read-only
//! connection), then its documents are inserted in the same transaction that marks it
//! assembled (`record_assembly`, which first checks the batch still waits), so a batch is never
//! assembled twice nor lost between the two steps, and the lines' writes never wait for a build. Deliveries move
//! `pending → delivered` (2xx) or `pending → rejected` (refused for good, kept for the operator);
//! a retry only bumps the attempt count and the next attempt time. Rows are never deleted here.

use std::path::Path;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::ledger::ts;
use super::{Assembled, BuildFn, ReadOnlyStore, StoreError};
use crate::gs1::EpcUri;
use crate::model::{BatchSnapshot, Commissioned, NewDocument};

/// A document due (or waiting) for one upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub document_id: String,
    pub upstream: String,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not before this time (milliseconds since the Unix epoch).
    pub next_attempt_ms: i64,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered {
        status: u16,
    },
    Retry {
        status: Option<u16>,
        error: String,
        after: Duration,
    },
    Rejected {
        status: Option<u16>,
        error: String,
    },
}

pub(super) struct AttemptRecord {
    pub document_id: String,
    pub upstream: String,
    pub outcome: AttemptOutcome,
}

pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A closed batch built into documents (or a build failure), ready to be recorded.
pub(super) struct Built {
    batch: String,
    /// The batch's `closed_at` as read: the record step checks it is still the same close.
    closed_at: String,
    result: Result<Vec<NewDocument>, String>,
}

/// Reads the oldest batch waiting for its documents and builds them — on the caller's thread,
/// through a read-only connection of its own. A batch of a million units takes seconds to
/// build; doing it in the writer (as linegate first did) held every line's acknowledgements
/// for that long. WAL lets this read run beside the writer, and a closed batch no longer
/// changes what its documents say.
pub(super) fn build_next(data_dir: &Path, build: BuildFn) -> Result<Option<Built>, StoreError> {
    let mut store = ReadOnlyStore::open(data_dir)?;
    // One read transaction: the batch row and its serials from the same snapshot.
    let tx = store.conn.transaction()?;
    let Some((snapshot, closed_at)) = closed_batch(&tx)? else {
        return Ok(None);
    };
    drop(tx);
    Ok(Some(Built {
        batch: snapshot.batch.clone(),
        closed_at,
        result: build(&snapshot),
    }))
}

/// Records a build in one transaction: the documents and their deliveries, and the batch marked
/// assembled (or failed). `None` when the batch is no longer waiting for documents (another
/// assembler recorded it first); nothing is written then.
pub(super) fn record_assembly(
    conn: &mut Connection,
    built: Built,
) -> Result<Option<Assembled>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let batch = built.batch;
    let waiting: Option<String> = tx
        .query_row(
            "SELECT closed_at FROM batches WHERE batch = ?1 AND document = 'pending'",
            [&batch],
            |r| r.get(0),
        )
        .optional()?;
    if waiting.as_deref() != Some(built.closed_at.as_str()) {
        tracing::warn!(%batch, "batch no longer waits for documents; this build is discarded");
        return Ok(None);
    }
    let now = ts(Utc::now());
    let result = match built.result {
        Ok(docs) => {
            let mut ids = Vec::with_capacity(docs.len());
            for d in docs {
                tx.prepare_cached(
                    "INSERT INTO documents (document_id, kind, batch, content_type, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![d.document_id, d.kind, batch, d.content_type, d.body, now])?;
                tx.prepare_cached("INSERT INTO deliveries (document_id, upstream, state, next_attempt_ms) VALUES (?1, ?2, 'pending', ?3)")?
                    .execute(params![d.document_id, d.upstream, now_ms()])?;
                ids.push(d.document_id);
            }
            tx.execute(
                "UPDATE batches SET document = 'assembled', assembled_at = ?2 WHERE batch = ?1",
                params![batch, now],
            )?;
            Assembled::Documents {
                batch,
                document_ids: ids,
            }
        }
        Err(reason) => {
            tx.execute(
                "UPDATE batches SET document = 'failed', failure = ?2 WHERE batch = ?1",
                params![batch, reason],
            )?;
            Assembled::Failed { batch, reason }
        }
    };
    tx.commit()?;
    Ok(Some(result))
}

/// The oldest batch waiting for its documents, and its `closed_at` as stored.
fn closed_batch(tx: &Connection) -> Result<Option<(BatchSnapshot, String)>, StoreError> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        Option<i64>,
        String,
        Option<String>,
    );
    let row: Option<Row> = tx
        .query_row(
            "SELECT batch, line, gtin, lot, expiry, work_order, planned_quantity, opened_at, closed_at
             FROM batches WHERE document = 'pending' ORDER BY closed_at, batch LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?)),
        )
        .optional()?;
    let Some((batch, line, gtin, lot, expiry, work_order, planned, opened_at, closed_at)) = row
    else {
        return Ok(None);
    };
    let corrupt = |what: &str| StoreError::Corrupt(format!("batch {batch}: unreadable {what}"));
    let expiry = NaiveDate::parse_from_str(&expiry, "%Y-%m-%d").map_err(|_| corrupt("expiry"))?;
    let opened_at = parse_ts(&opened_at).ok_or_else(|| corrupt("opened_at"))?;
    let closed_text = closed_at.ok_or_else(|| corrupt("closed_at"))?;
    let closed_at = parse_ts(&closed_text).ok_or_else(|| corrupt("closed_at"))?;
    let mut stmt =
        tx.prepare_cached("SELECT epc, commissioned_at FROM serials WHERE batch = ?1 ORDER BY id")?;
    let mut commissioned = Vec::new();
    for row in stmt.query_map([&batch], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })? {
        let (epc, at) = row?;
        // Only URIs linegate rendered are stored; re-checking keeps the EPCIS input typed.
        let epc = EpcUri::parse(&epc)
            .map_err(|e| StoreError::Corrupt(format!("batch {batch}: serial {epc}: {e}")))?;
        commissioned.push(Commissioned {
            epc,
            time: parse_ts(&at).ok_or_else(|| corrupt("commissioned_at"))?,
        });
    }
    let snapshot = BatchSnapshot {
        batch: batch.clone(),
        line,
        gtin,
        lot,
        expiry,
        work_order,
        planned_quantity: planned.map(|q| q as u64),
        opened_at,
        closed_at,
        commissioned,
    };
    Ok(Some((snapshot, closed_text)))
}

pub(super) fn parse_ts(s: &str) -> Option<chrono::DateTime<Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(super) fn next_delivery(
    conn: &Connection,
    upstream: &str,
) -> Result<Option<Delivery>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT d.document_id, doc.content_type, doc.body, d.attempts, d.next_attempt_ms
             FROM deliveries d JOIN documents doc ON doc.document_id = d.document_id
             WHERE d.upstream = ?1 AND d.state = 'pending' ORDER BY doc.seq LIMIT 1",
        )?
        .query_row([upstream], |r| {
            Ok(Delivery {
                document_id: r.get(0)?,
                upstream: upstream.to_string(),
                content_type: r.get(1)?,
                body: r.get(2)?,
                attempts: r.get::<_, i64>(3)? as u32,
                next_attempt_ms: r.get(4)?,
            })
        })
        .optional()?;
    Ok(row)
}

pub(super) fn record_attempt(conn: &mut Connection, rec: &AttemptRecord) -> Result<(), StoreError> {
    let now = Utc::now();
    let (state, status, error, next) = match &rec.outcome {
        AttemptOutcome::Delivered { status } => ("delivered", Some(*status), None, now_ms()),
        AttemptOutcome::Retry {
            status,
            error,
            after,
        } => (
            "pending",
            *status,
            Some(error.as_str()),
            now_ms() + after.as_millis().min(i64::MAX as u128) as i64,
        ),
        AttemptOutcome::Rejected { status, error } => {
            ("rejected", *status, Some(error.as_str()), now_ms())
        }
    };
    let delivered_at = (state == "delivered").then(|| ts(now));
    let changed = conn
        .prepare_cached(
            "UPDATE deliveries SET state = ?3, attempts = attempts + 1, last_status = ?4, last_error = ?5,
                 next_attempt_ms = ?6, last_attempt_at = ?7, delivered_at = COALESCE(?8, delivered_at)
             WHERE document_id = ?1 AND upstream = ?2 AND state = 'pending'",
        )?
        .execute(params![rec.document_id, rec.upstream, state, status, error, next, ts(now), delivered_at])?;
    if changed == 0 {
        tracing::warn!(document = %rec.document_id, upstream = %rec.upstream, "delivery outcome for a row that is no longer pending was ignored");
    }
    Ok(())
}
