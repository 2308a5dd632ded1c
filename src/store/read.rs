//! Read-only views of the store for the command line (`linegate quarantine list`, document
//! bodies; the outbox's views are `read_outbox`'s), and the integrity check the daemon runs
//! at start (`quick_check`).
//!
//! Opens its own read-only connection, so an operator can look while the daemon runs (WAL lets
//! readers and the writer work side by side). Never writes, never migrates.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use super::{DB_FILE, StoreError, outbox};

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

    /// `PRAGMA quick_check`: an empty list when the database's b-trees are sound, else the
    /// first `max` problems SQLite found (page and cell level; it does not compare indexes
    /// with their tables, which a full `integrity_check` would, at many times the cost). Reads
    /// every page once: run it beside the writer, never in it. A database too damaged to be
    /// read at all is reported the same way, as one problem.
    pub fn quick_check(&self, max: usize) -> Result<Vec<String>, StoreError> {
        let max = i64::try_from(max.max(1)).unwrap_or(i64::MAX);
        let run = || -> rusqlite::Result<Vec<String>> {
            let mut stmt = self.conn.prepare(&format!("PRAGMA quick_check({max})"))?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        };
        match run() {
            Ok(lines) if lines.len() == 1 && lines[0] == "ok" => Ok(Vec::new()),
            Ok(lines) => Ok(lines),
            Err(rusqlite::Error::SqliteFailure(e, msg))
                if e.code == rusqlite::ErrorCode::DatabaseCorrupt
                    || e.code == rusqlite::ErrorCode::NotADatabase =>
            {
                Ok(vec![msg.unwrap_or_else(|| e.to_string())])
            }
            Err(e) => Err(e.into()),
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
