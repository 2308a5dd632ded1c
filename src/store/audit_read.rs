//! Reading the audit trail through a read-only connection: checking the chain (`audit_verify`)
//! and streaming rows for `linegate audit list|export` (`audit_rows`), while the daemon runs.
//!
//! Rows are visited from the database cursor one at a time, never collected: a trail of
//! millions of rows is checked or exported in constant memory. Checking borrows each field
//! straight from SQLite's row buffer, so a row costs one SHA-256 and no allocation.

use rusqlite::types::ValueRef;
use serde::Serialize;

use super::audit::Record;
use super::audit_verify::{AuditBreak, AuditHead, AuditProblem, AuditReport, StoredRow, Verifier};
use super::{ReadOnlyStore, StoreError};

/// One audit row as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// Which rows to visit. Times are UTC RFC 3339 strings as stored (`2026-03-01T00:00:00.000Z`),
/// compared as text; `to` is exclusive.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub actor: Option<String>,
    pub limit: Option<u64>,
    /// Newest first (for `list`); oldest first otherwise (for `export`).
    pub newest_first: bool,
}

/// How often `audit_verify` reports progress, in rows.
const PROGRESS_EVERY: u64 = 65_536;

const COLUMNS: &str =
    "seq, at, actor, action, subject, old_value, new_value, reason, detail, prev_hash, hash";

impl ReadOnlyStore {
    /// Refuses clearly when the file predates the audit trail (schema version 7).
    fn audit_table(&self) -> Result<(), StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit'",
            [],
            |r| r.get(0),
        )?;
        if n == 0 {
            return Err(StoreError::Refused(
                "this database has no audit trail yet: it was last written by an older linegate; \
                 start this version's daemon once (it upgrades the file) and try again"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The highest seq in the trail (0 when empty): the length of a progress bar.
    pub fn audit_last_seq(&self) -> Result<i64, StoreError> {
        self.audit_table()?;
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(seq), 0) FROM audit", [], |r| r.get(0))?)
    }

    /// Recomputes the whole chain, oldest row first, and stops at the first row that does not
    /// check out. `progress` is called now and then with the rows checked so far.
    pub fn audit_verify(&self, progress: &mut dyn FnMut(u64)) -> Result<AuditReport, StoreError> {
        self.audit_table()?;
        let guards: i64 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'
             AND tbl_name = 'audit' AND name IN ('audit_no_update', 'audit_no_delete')",
            [],
            |r| r.get(0),
        )?;
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"))?;
        let mut rows = stmt.query([])?;
        let mut verifier = Verifier::new();
        let mut head: Option<AuditHead> = None;
        let mut broken = None;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let checked = match stored(r, seq) {
                Some(row) => verifier.check(&row).map(|()| row),
                // A field that is no longer text was written by someone else.
                None => {
                    verifier.rows += 1;
                    Err(AuditBreak {
                        seq,
                        problem: AuditProblem::Changed,
                    })
                }
            };
            match checked {
                Ok(row) => {
                    let h = head.get_or_insert_with(|| AuditHead {
                        seq,
                        at: String::new(),
                        hash: String::new(),
                    });
                    h.seq = seq;
                    h.at.clear();
                    h.at.push_str(row.at);
                    h.hash.clear();
                    h.hash.push_str(row.hash);
                }
                Err(b) => {
                    broken = Some(b);
                    break;
                }
            }
            if verifier.rows % PROGRESS_EVERY == 0 {
                progress(verifier.rows);
            }
        }
        progress(verifier.rows);
        Ok(AuditReport {
            rows: verifier.rows,
            head,
            broken,
            guarded: guards == 2,
        })
    }

    /// Visits the rows `q` selects, in order, one at a time; returns how many were visited.
    pub fn audit_rows<E: From<StoreError>>(
        &self,
        q: &AuditQuery,
        mut visit: impl FnMut(AuditRow) -> Result<(), E>,
    ) -> Result<u64, E> {
        self.audit_table()?;
        let order = if q.newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {COLUMNS} FROM audit
             WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at < ?2) AND (?3 IS NULL OR actor = ?3)
             ORDER BY seq {order} LIMIT ?4"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(StoreError::from)?;
        let limit = q.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut rows = stmt
            .query(rusqlite::params![q.from, q.to, q.actor, limit])
            .map_err(StoreError::from)?;
        let mut n = 0;
        while let Some(r) = rows.next().map_err(StoreError::from)? {
            let row = (|| -> rusqlite::Result<AuditRow> {
                Ok(AuditRow {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    subject: r.get(4)?,
                    old_value: r.get(5)?,
                    new_value: r.get(6)?,
                    reason: r.get(7)?,
                    detail: r.get(8)?,
                    prev_hash: r.get(9)?,
                    hash: r.get(10)?,
                })
            })()
            .map_err(StoreError::from)?;
            visit(row)?;
            n += 1;
        }
        Ok(n)
    }
}

/// The row's fields borrowed from the cursor; None when one is not text (or NULL where only
/// NULL is allowed), which only an edit behind linegate's back can cause.
fn stored<'r>(r: &'r rusqlite::Row<'_>, seq: i64) -> Option<StoredRow<'r>> {
    let text = |i: usize| match r.get_ref(i).ok()? {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    };
    let nullable = |i: usize| match r.get_ref(i).ok()? {
        ValueRef::Null => Some(None),
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(Some),
        _ => None,
    };
    Some(StoredRow {
        seq,
        at: text(1)?,
        record: Record {
            actor: text(2)?,
            action: text(3)?,
            subject: text(4)?,
            old_value: nullable(5)?,
            new_value: nullable(6)?,
            reason: nullable(7)?,
            detail: nullable(8)?,
        },
        prev_hash: text(9)?,
        hash: text(10)?,
    })
}
