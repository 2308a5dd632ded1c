//! What a line's HMI shows: its open and running batches with their counts so far.
//!
//! Read by the MQTT source's line-state publisher over its own read-only connection (WAL lets
//! it read beside the writer), after commits that touched the line and every few seconds for
//! changes made from the command line. The counts are one pass over the batch's serials by the
//! `serials_by_batch` index: cheap for the batch sizes of a packaging line (10⁴–10⁵ units), and
//! the publisher runs it at most once a second per line.

use serde::Serialize;

use super::StoreError;
use super::read::ReadOnlyStore;

/// An open or running batch and how far it has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchProgress {
    pub batch: String,
    pub gtin: String,
    pub lot: String,
    pub expiry: String,
    /// `open` (nothing commissioned yet) or `running`.
    pub state: String,
    pub opened_at: String,
    pub work_order: Option<String>,
    pub planned_quantity: Option<u64>,
    /// Identifiers (units and packs) commissioned in this batch so far.
    pub commissioned: u64,
    /// Of those, destroyed or decommissioned since (line rejects, damaged labels).
    pub rejected: u64,
}

impl ReadOnlyStore {
    /// The open and running batches of `line`, oldest first, with their counts.
    pub fn line_progress(&self, line: &str) -> Result<Vec<BatchProgress>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT b.batch, b.gtin, b.lot, b.expiry, b.state, b.opened_at, b.work_order,
                    b.planned_quantity,
                    (SELECT count(*) FROM serials s WHERE s.batch = b.batch),
                    (SELECT count(*) FROM serials s
                     WHERE s.batch = b.batch AND s.state IN ('destroyed', 'decommissioned'))
             FROM batches b
             WHERE b.line = ?1 AND b.state IN ('open', 'running')
             ORDER BY b.opened_at, b.rowid",
        )?;
        let rows = stmt.query_map([line], |r| {
            Ok(BatchProgress {
                batch: r.get(0)?,
                gtin: r.get(1)?,
                lot: r.get(2)?,
                expiry: r.get(3)?,
                state: r.get(4)?,
                opened_at: r.get(5)?,
                work_order: r.get(6)?,
                planned_quantity: r.get::<_, Option<i64>>(7)?.map(|q| q.max(0) as u64),
                commissioned: r.get::<_, i64>(8)?.max(0) as u64,
                rejected: r.get::<_, i64>(9)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
