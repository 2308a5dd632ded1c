//! The writer's side of per-event reporting (`event_rows`): starting the cursors of partners
//! seen for the first time at the end of the log, and recording a step — the documents of one
//! line message with their deliveries, and the cursors moved past it — in one transaction.
//!
//! A step is recorded only if every cursor it moves still stands where the step read it, so
//! a message is reported once however many builds of it were made (a second task, or a build
//! whose recording was lost); a discarded build's files are removed. The documents rows are
//! those of the End of Batch (`outbox`): the bytes in a file of the outbox, `body` empty.

use std::path::PathBuf;

use chrono::Utc;
use rusqlite::{Connection, params};

use super::event_rows::Reported;
use super::ledger::ts;
use super::outbox::{insert_document, remove_files};
use super::{StoreError, Wakeups};
use crate::assemble::partner::MessageKind;
use crate::model::NewDocument;

/// The ordering group of every per-event document: the message log's order, one stream per
/// upstream (a commission must reach the partner before the aggregation that packs it).
pub(super) const EVENTS_ORDER_KEY: &str = "events";

/// A writer request: start cursors, or record a step.
pub(super) enum Write {
    Start(Vec<String>),
    Record(Box<Built>),
}

/// One step as built, ready to record.
pub(super) struct Built {
    pub seq: i64,
    pub kind: MessageKind,
    /// Every cursor this step moves to `seq`, as read.
    pub cursors: Vec<(String, i64)>,
    pub docs: Vec<NewDocument>,
    /// The documents' files: removed if the step is not recorded.
    pub files: Vec<PathBuf>,
}

/// Applies a writer request; the caller is the writer thread.
pub(super) fn apply(
    conn: &mut Connection,
    write: Write,
    wakeups: &Wakeups,
) -> Result<Option<Reported>, StoreError> {
    let built = match write {
        Write::Start(upstreams) => {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for u in upstreams {
                tx.execute(
                    "INSERT OR IGNORE INTO message_cursor (upstream, last_event)
                     SELECT ?1, coalesce(max(seq), 0) FROM serial_events",
                    [u],
                )?;
            }
            tx.commit()?;
            return Ok(None);
        }
        Write::Record(b) => *b,
    };
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (upstream, was) in &built.cursors {
        let moved = tx
            .prepare_cached(
                "UPDATE message_cursor SET last_event = ?3 WHERE upstream = ?1 AND last_event = ?2",
            )?
            .execute(params![upstream, was, built.seq])?;
        if moved == 0 {
            drop(tx);
            tracing::warn!(seq = built.seq, %upstream, "cursor moved meanwhile; this build is discarded");
            remove_files(&built.files);
            return Ok(None);
        }
    }
    let now = ts(Utc::now());
    let mut ids = Vec::new();
    for d in &built.docs {
        insert_document(&tx, d, None, EVENTS_ORDER_KEY, &now)?;
        ids.push(d.document_id.clone());
    }
    tx.commit()?;
    if !ids.is_empty() {
        wakeups.outbox_changed.notify_waiters();
    }
    Ok(Some(Reported::Documents {
        seq: built.seq,
        kind: built.kind,
        document_ids: ids,
    }))
}
