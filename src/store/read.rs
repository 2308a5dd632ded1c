//! Read-only views of the store for the command line (`linegate outbox list`, `quarantine list`).
//!
//! Opens its own read-only connection, so an operator can look while the daemon runs (WAL lets
//! readers and the writer work side by side). Never writes, never migrates.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use super::{DB_FILE, StoreError, outbox};

/// One (document, upstream) delivery as an operator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub document_id: String,
    pub kind: String,
    pub batch: Option<String>,
    pub upstream: String,
    pub state: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub last_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub bytes: u64,
}

/// One quarantined message.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineRow {
    pub id: i64,
    pub received_at: String,
    pub line: Option<String>,
    pub topic: String,
    pub message_id: Option<String>,
    pub code: String,
    pub reason: String,
    pub payload_len: u64,
}

pub struct ReadOnlyStore {
    pub(super) conn: Connection,
    /// The data directory (document files are under `outbox/`).
    pub(super) dir: PathBuf,
}

impl ReadOnlyStore {
    /// Opens `data_dir/linegate.db` read-only; fails clearly when the daemon never ran there.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            return Err(StoreError::DataDir {
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no database yet: has `linegate run` started with this config?",
                ),
            });
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(ReadOnlyStore {
            conn,
            dir: data_dir.to_path_buf(),
        })
    }

    pub fn outbox(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT d.document_id, doc.kind, doc.batch, d.upstream, d.state, d.attempts, d.last_status, d.last_error,
                    doc.created_at, d.last_attempt_at, d.delivered_at, length(doc.body), doc.file
             FROM deliveries d JOIN documents doc ON doc.document_id = d.document_id
             ORDER BY doc.seq, d.upstream",
        )?;
        let rows = stmt.query_map([], |r| {
            let file: Option<String> = r.get(12)?;
            let stored = r.get::<_, i64>(11)? as u64;
            Ok(OutboxRow {
                document_id: r.get(0)?,
                kind: r.get(1)?,
                batch: r.get(2)?,
                upstream: r.get(3)?,
                state: r.get(4)?,
                attempts: r.get::<_, i64>(5)? as u32,
                last_status: r.get::<_, Option<i64>>(6)?.map(|s| s as u16),
                last_error: r.get(7)?,
                created_at: r.get(8)?,
                last_attempt_at: r.get(9)?,
                delivered_at: r.get(10)?,
                // A file that is gone reads as 0 bytes here; sending it names the problem.
                bytes: file.map_or(stored, |f| {
                    std::fs::metadata(outbox::document_path(&self.dir, &f)).map_or(0, |m| m.len())
                }),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The body of document `document_id` (from its file in the outbox), or None when there
    /// is no such document.
    pub fn document_body(&self, document_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT body, file FROM documents WHERE document_id = ?1",
                [document_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((_, Some(file))) => outbox::read_document(&self.dir, &file).map(Some),
            Some((body, None)) => Ok(Some(body)),
        }
    }

    pub fn quarantine(&self) -> Result<Vec<QuarantineRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, received_at, line, topic, message_id, code, reason, payload_len FROM quarantine ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(QuarantineRow {
                id: r.get(0)?,
                received_at: r.get(1)?,
                line: r.get(2)?,
                topic: r.get(3)?,
                message_id: r.get(4)?,
                code: r.get(5)?,
                reason: r.get(6)?,
                payload_len: r.get::<_, i64>(7)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
