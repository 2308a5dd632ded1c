//! Retention (`gateway.outbox_retention_days`): the files of documents delivered long ago are
//! removed; their rows stay, for audit, with `pruned_at` saying when the bytes went.
//!
//! A document is due when every delivery of it is `delivered` and the last of them was
//! delivered before the cutoff. Finding those must not hold up the lines, and the documents
//! table has no index for it, so the search is split off the writer: a read-only connection
//! walks the documents in `seq` order from a `PruneCursor` (at most `SCAN_MAX` per call, the
//! first `BATCH_MAX` due ones), and then one writer transaction checks each found document is
//! still due (an operator may have replayed it meanwhile) and sets `pruned_at`. The files are
//! removed after the commit: a crash in between leaves a pruned document's file behind, which
//! the next walk removes (a pruned document is never sent again, so its file is never needed).
//! The cursor remembers the lowest document that was not due yet; everything below it is
//! pruned for good, so each round (a walk to the end) starts there, not at the first document.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::ledger::ts;
use super::outbox::{document_path, remove_files};
use super::{Command, OUTBOX_DIR, ReadOnlyStore, Store, StoreError};

/// Most documents pruned in one writer transaction.
const BATCH_MAX: usize = 1000;
/// Most documents one call looks at.
const SCAN_MAX: usize = 20_000;

/// Where the walk through the documents goes on; kept by the caller between calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneCursor {
    /// The next document (`seq`) to look at.
    next: i64,
    /// The lowest document of this round that was not pruned.
    low: Option<i64>,
}

/// What one call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Documents whose bytes were pruned now.
    pub documents: usize,
    /// Files removed (those of `documents`, and any a crash left behind).
    pub files_removed: usize,
    /// The walk reached the last document; the next call starts a new round.
    pub round_done: bool,
}

/// The writer's part: prune these documents if they are still due.
#[derive(Debug)]
pub(super) struct Request {
    document_ids: Vec<String>,
    cutoff: String,
}

/// The documents the writer pruned, with their files.
pub(super) type Recorded = Vec<(String, Option<String>)>;

/// A document is due when it has deliveries, all delivered before the cutoff (`?2`).
const DUE: &str = "EXISTS (SELECT 1 FROM deliveries d WHERE d.document_id = doc.document_id)
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.document_id = doc.document_id
        AND (d.state <> 'delivered' OR d.delivered_at IS NULL OR d.delivered_at >= ?2))";

impl Store {
    /// Prunes up to `BATCH_MAX` documents delivered more than `retention_days` ago, going on
    /// from `cursor`. Call it again until `round_done`; 0 days prunes nothing.
    pub async fn prune_delivered(
        &self,
        retention_days: u64,
        cursor: &mut PruneCursor,
    ) -> Result<Pruned, StoreError> {
        if retention_days == 0 {
            return Ok(Pruned {
                round_done: true,
                ..Pruned::default()
            });
        }
        let days = chrono::Duration::days(i64::try_from(retention_days).unwrap_or(i64::MAX / 2));
        let cutoff = Utc::now()
            .checked_sub_signed(days)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        self.prune_before(cutoff, cursor).await
    }

    /// `prune_delivered` with the cutoff given.
    pub(super) async fn prune_before(
        &self,
        cutoff: DateTime<Utc>,
        cursor: &mut PruneCursor,
    ) -> Result<Pruned, StoreError> {
        let cutoff = ts(cutoff);
        let (dir, from, c) = (self.data_dir.clone(), cursor.next, cutoff.clone());
        let walk = tokio::task::spawn_blocking(move || walk(&dir, from, &c))
            .await
            .map_err(|e| StoreError::NotCommitted(format!("the retention walk stopped: {e}")))??;
        let mut pruned = Pruned {
            files_removed: walk.leftovers,
            ..Pruned::default()
        };
        let mut low = walk.low;
        if !walk.due.is_empty() {
            let req = Request {
                document_ids: walk.due.iter().map(|(_, id)| id.clone()).collect(),
                cutoff,
            };
            let done = self.call(|tx| Command::Prune(req, tx)).await?;
            // A found document the writer did not prune (replayed meanwhile) is not settled.
            for (seq, id) in &walk.due {
                if !done.iter().any(|(d, _)| d == id) {
                    low = Some(low.map_or(*seq, |l| l.min(*seq)));
                }
            }
            pruned.documents = done.len();
            let dir = self.data_dir.clone();
            pruned.files_removed += tokio::task::spawn_blocking(move || remove(&dir, &done))
                .await
                .unwrap_or(0);
        }
        if let Some(l) = low {
            cursor.low = Some(cursor.low.map_or(l, |c| c.min(l)));
        }
        cursor.next = walk.next;
        if walk.end {
            // Everything below the round's lowest unsettled document is pruned for good.
            cursor.next = cursor.low.take().unwrap_or(walk.next);
            pruned.round_done = true;
        }
        Ok(pruned)
    }
}

/// What one walk found.
struct Walk {
    /// Due documents `(seq, id)`, at most `BATCH_MAX`.
    due: Vec<(i64, String)>,
    /// The lowest document seen that is not pruned and not due.
    low: Option<i64>,
    /// Where the next walk starts.
    next: i64,
    /// No document after `next`.
    end: bool,
    /// Files of pruned documents removed (left behind by a crash).
    leftovers: usize,
}

fn walk(data_dir: &Path, from: i64, cutoff: &str) -> Result<Walk, StoreError> {
    let store = ReadOnlyStore::open(data_dir)?;
    let mut stmt = store.conn.prepare(&format!(
        "SELECT doc.seq, doc.document_id, doc.file, doc.pruned_at IS NOT NULL, {DUE}
         FROM documents doc WHERE doc.seq >= ?1 ORDER BY doc.seq LIMIT ?3"
    ))?;
    let mut rows = stmt.query(params![from, cutoff, SCAN_MAX as i64 + 1])?;
    let mut w = Walk {
        due: Vec::new(),
        low: None,
        next: from,
        end: true,
        leftovers: 0,
    };
    let mut seen = 0;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        if seen == SCAN_MAX || w.due.len() == BATCH_MAX {
            w.end = false;
            w.next = seq;
            break;
        }
        seen += 1;
        w.next = seq + 1;
        let (pruned, due): (bool, bool) = (r.get(3)?, r.get(4)?);
        if pruned {
            let file: Option<String> = r.get(2)?;
            if let Some(f) = file {
                let path = document_path(data_dir, &f);
                if std::fs::remove_file(&path).is_ok() {
                    w.leftovers += 1;
                }
            }
        } else if due {
            w.due.push((seq, r.get(1)?));
        } else if w.low.is_none() {
            w.low = Some(seq);
        }
    }
    Ok(w)
}

/// Removes the files of the pruned documents; returns how many were there.
fn remove(data_dir: &Path, done: &Recorded) -> usize {
    let files: Vec<PathBuf> = (done.iter())
        .filter_map(|(_, f)| f.as_ref().map(|f| document_path(data_dir, f)))
        .filter(|p| p.exists())
        .collect();
    remove_files(&files);
    if let Ok(dir) = std::fs::File::open(data_dir.join(OUTBOX_DIR)) {
        let _ = dir.sync_all();
    }
    files.len()
}

/// Sets `pruned_at` (and empties a body kept in the database) on each requested document that
/// is still due, in one transaction; returns those documents and their files.
pub(super) fn apply(conn: &mut Connection, req: &Request) -> Result<Recorded, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = ts(Utc::now());
    let mut done = Vec::new();
    {
        let mut stmt = tx.prepare_cached(&format!(
            "UPDATE documents AS doc SET pruned_at = ?3, body = x''
             WHERE doc.document_id = ?1 AND doc.pruned_at IS NULL AND {DUE}
             RETURNING file"
        ))?;
        for id in &req.document_ids {
            let mut rows = stmt.query(params![id, req.cutoff, now])?;
            if let Some(r) = rows.next()? {
                done.push((id.clone(), r.get::<_, Option<String>>(0)?));
            }
        }
    }
    tx.commit()?;
    Ok(done)
}
