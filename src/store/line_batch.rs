//! The batches a line is producing right now, for sources that must find them themselves.
//!
//! A serial scanner reads a bare code: unlike an MQTT `commission` message it names no batch.
//! The scanner station asks here which batches of its line are open or running (with the
//! GTINs they commission, to pick the batch a code belongs to and to tell a case label from a
//! unit) and then sends an ordinary message naming that batch, which the rules judge inside
//! the writing transaction as usual — a batch closed in between is refused there.

use rusqlite::params;

use super::StoreError;
use super::read::ReadOnlyStore;

/// An open or running batch of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBatch {
    pub batch: String,
    pub gtin: String,
    /// GTINs of the bundles and cases this batch commissions.
    pub pack_gtins: Vec<String>,
}

impl OpenBatch {
    /// Whether this batch commissions identifiers of `gtin` (unit or pack level).
    pub fn has_gtin(&self, gtin: &str) -> bool {
        self.gtin == gtin || self.pack_gtins.iter().any(|g| g == gtin)
    }
}

impl ReadOnlyStore {
    /// The open or running batches of `line`, the most recently opened first.
    pub fn open_batches(&self, line: &str) -> Result<Vec<OpenBatch>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT batch, gtin, pack_gtins FROM batches
             WHERE line = ?1 AND state IN ('open', 'running')
             ORDER BY opened_at DESC, rowid DESC",
        )?;
        let rows = stmt.query_map([line], |r| {
            let packs: String = r.get(2)?;
            Ok(OpenBatch {
                batch: r.get(0)?,
                gtin: r.get(1)?,
                pack_gtins: packs.split_whitespace().map(String::from).collect(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many messages scanner station `scanner` of `line` has had committed (applied or
    /// refused), over every daemon start: their ids are `{scanner}-{session}-{seq}`. The serial
    /// simulator waits on this count before a step that depends on the station's reads.
    pub fn scanner_messages(&self, line: &str, scanner: &str) -> Result<u64, StoreError> {
        // The range walks `{scanner}-…` on the primary key; the GLOB leaves out a scanner whose
        // id only starts with `{scanner}-` (its ids have a '-' more after the prefix).
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM messages
                 WHERE line = ?1 AND message_id >= ?2 AND message_id < ?3 AND message_id NOT GLOB ?4",
            )?
            .query_row(
                params![
                    line,
                    format!("{scanner}-"),
                    format!("{scanner}."),
                    format!("{scanner}-*-*-*")
                ],
                |r| r.get(0),
            )?;
        Ok(n as u64)
    }
}
