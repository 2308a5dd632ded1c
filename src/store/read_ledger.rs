//! Read-only views of batches and serials for the shift supervisor (`linegate batch`, `serial`).
//!
//! Same connection rules as `read`: its own read-only connection, safe beside the running daemon.
//! A closed batch shows the reconciliation report stored when it closed; an open or running
//! batch shows the report as it would be if it closed now, computed by the same pure function.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::StoreError;
use super::read::ReadOnlyStore;
use crate::rules::batch::BatchState;
use crate::rules::reconcile::{self, Level, Report};
use crate::rules::serial::{SerialFacts, SerialState};

/// One batch as `linegate batch list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRow {
    pub batch: String,
    pub line: String,
    pub state: String,
    pub gtin: String,
    pub lot: String,
    pub expiry: String,
    pub planned_quantity: Option<u64>,
    /// Identifiers this batch commissioned (every level).
    pub serials: u64,
    /// End-of-Batch document: pending, assembled or failed (None until closed).
    pub document: Option<String>,
    pub opened_at: String,
    pub closed_at: Option<String>,
}

/// One batch in full, for `linegate batch show`.
#[derive(Debug, Clone, Serialize)]
pub struct BatchDetail {
    #[serde(flatten)]
    pub row: BatchRow,
    pub pack_gtins: Vec<String>,
    pub work_order: Option<String>,
    pub released_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub failure: Option<String>,
    /// True when the report is the one stored at close; false when computed now.
    pub report_final: bool,
    pub report: Report,
}

/// One identifier, for `linegate serial show`.
#[derive(Debug, Clone, Serialize)]
pub struct SerialDetail {
    pub key: String,
    pub epc: String,
    pub batch: String,
    pub state: String,
    /// Parents from the nearest up to the top (case, then pallet).
    pub parents: Vec<String>,
    pub children: Vec<String>,
    pub history: Vec<HistoryRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub time: String,
    pub event: String,
    pub state: String,
    pub parent: Option<String>,
    pub line: String,
    pub message_id: String,
    pub reason: Option<String>,
}

const BATCH_COLUMNS: &str = "b.batch, b.line, b.state, b.gtin, b.lot, b.expiry,
    b.planned_quantity, (SELECT count(*) FROM serials s WHERE s.batch = b.batch), b.document,
    b.opened_at, b.closed_at";

fn batch_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchRow> {
    Ok(BatchRow {
        batch: r.get(0)?,
        line: r.get(1)?,
        state: r.get(2)?,
        gtin: r.get(3)?,
        lot: r.get(4)?,
        expiry: r.get(5)?,
        planned_quantity: r.get::<_, Option<i64>>(6)?.map(|q| q as u64),
        serials: r.get::<_, i64>(7)? as u64,
        document: r.get(8)?,
        opened_at: r.get(9)?,
        closed_at: r.get(10)?,
    })
}

impl ReadOnlyStore {
    /// Every batch, newest first.
    pub fn batches(&self) -> Result<Vec<BatchRow>, StoreError> {
        self.batches_where(None, None)
    }

    /// The newest `limit` batches (all without one) in `state` (any without one), newest
    /// first. A state that does not exist is refused, naming the states.
    pub fn batches_where(
        &self,
        state: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<BatchRow>, StoreError> {
        if let Some(s) = state
            && BatchState::parse(s).is_none()
        {
            let all: Vec<&str> = BatchState::ALL.iter().map(|b| b.as_str()).collect();
            return Err(StoreError::Refused(format!(
                "'{s}' is not a batch state; the states are {}",
                all.join(", ")
            )));
        }
        let limit = limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches b WHERE ?1 IS NULL OR b.state = ?1
             ORDER BY b.opened_at DESC, b.batch LIMIT ?2"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![state, limit], batch_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn batch(&self, batch: &str) -> Result<Option<BatchDetail>, StoreError> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS}, b.pack_gtins, b.work_order, b.released_at, b.cancelled_at,
                    b.failure, b.report
             FROM batches b WHERE b.batch = ?1"
        );
        type Extra = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let found: Option<(BatchRow, Extra)> = self
            .conn
            .query_row(&sql, [batch], |r| {
                Ok((
                    batch_row(r)?,
                    (
                        r.get(11)?,
                        r.get(12)?,
                        r.get(13)?,
                        r.get(14)?,
                        r.get(15)?,
                        r.get(16)?,
                    ),
                ))
            })
            .optional()?;
        let Some((row, (packs, work_order, released_at, cancelled_at, failure, stored))) = found
        else {
            return Ok(None);
        };
        let (report, report_final) = match stored {
            Some(json) => {
                let r = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("report of batch {batch}: {e}")))?;
                (r, true)
            }
            None => (self.live_report(&row)?, false),
        };
        Ok(Some(BatchDetail {
            pack_gtins: packs.split_whitespace().map(String::from).collect(),
            row,
            work_order,
            released_at,
            cancelled_at,
            failure,
            report_final,
            report,
        }))
    }

    fn live_report(&self, row: &BatchRow) -> Result<Report, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.key, s.state, s.parent IS NOT NULL,
                    (SELECT count(*) FROM serials c WHERE c.parent = s.id)
             FROM serials s WHERE s.batch = ?1",
        )?;
        let mut rows = stmt.query([&row.batch])?;
        let mut units = Vec::new();
        while let Some(r) = rows.next()? {
            let key: String = r.get(0)?;
            let state: String = r.get(1)?;
            let state = SerialState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("serial {key} has state {state}")))?;
            let facts = SerialFacts {
                state,
                packed: r.get(2)?,
                children: r.get::<_, i64>(3)? as usize,
            };
            units.push((Level::of(&key, &row.gtin), facts));
        }
        Ok(reconcile::reconcile(&units, row.planned_quantity))
    }

    /// One identifier by its canonical key, with its parents, children and history.
    pub fn serial(&self, key: &str) -> Result<Option<SerialDetail>, StoreError> {
        let found: Option<(i64, String, String, String, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT id, epc, batch, state, parent FROM serials WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((id, epc, batch, state, mut up)) = found else {
            return Ok(None);
        };
        let mut parents = Vec::new();
        while let Some(pid) = up {
            let (pkey, next): (String, Option<i64>) = self.conn.query_row(
                "SELECT key, parent FROM serials WHERE id = ?1",
                [pid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if parents.contains(&pkey) {
                return Err(StoreError::Corrupt(format!("serial {key} sits in a cycle")));
            }
            parents.push(pkey);
            up = next;
        }
        let mut stmt = self
            .conn
            .prepare("SELECT key FROM serials WHERE parent = ?1 ORDER BY id")?;
        let children = stmt
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut stmt = self.conn.prepare(
            "SELECT e.event_time, e.kind, h.state, p.key, e.line, e.message_id, e.reason
             FROM serial_history h JOIN serial_events e ON e.seq = h.event
             LEFT JOIN serials p ON p.id = h.parent
             WHERE h.serial = ?1 ORDER BY h.event",
        )?;
        let history = stmt
            .query_map(params![id], |r| {
                Ok(HistoryRow {
                    time: r.get(0)?,
                    event: r.get(1)?,
                    state: r.get(2)?,
                    parent: r.get(3)?,
                    line: r.get(4)?,
                    message_id: r.get(5)?,
                    reason: r.get(6)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(SerialDetail {
            key: key.to_string(),
            epc,
            batch,
            state,
            parents,
            children,
            history,
        }))
    }
}
