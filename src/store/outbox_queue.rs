//! The outbox as a queue: what each upstream must be sent next, and every change of a
//! delivery's state.
//!
//! A delivery (one document for one upstream) moves `pending → in_flight → delivered`, or back
//! to `pending` with a later `next_attempt_ms` when the attempt failed, or to `rejected` (a dead
//! letter) when the upstream refused it for good. Every change is one statement inside a writer
//! transaction, and rows are never deleted: a delivered row stays for audit even after
//! retention pruned its document's bytes.
//!
//! Ordering: each delivery carries its document's `seq` (the order documents were recorded)
//! and an ordering group, `order_key` — a batch's documents (`batch:<batch>`), one shipment
//! and its void (`shipment:<id>`), one receipt, or the per-event stream (`events`). Only the
//! head of a group (its lowest undelivered `seq`) may be sent, so documents of one batch leave
//! in causal order, while a head waiting for its retry (or a dead letter, with
//! `block_on_rejected`) holds back its own group only. `group_heads` finds the heads through
//! the partial index `deliveries_queue`, one index seek per group, however long the backlog.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::ledger::ts;
use super::outbox::document_path;
use crate::model::{Body, Outgoing};

/// The most ordering groups one look at the queue considers.
const MAX_GROUPS: usize = 10_000;

/// The head of one ordering group.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueHead {
    pub seq: i64,
    pub order_key: String,
    /// `pending`, `in_flight` or `rejected`.
    pub state: String,
    pub next_attempt_ms: i64,
    pub outgoing: Outgoing,
    /// The document's file is gone (it cannot be sent; it becomes a dead letter).
    pub missing: Option<String>,
}

/// The heads of `upstream`'s ordering groups, in group order. A group whose documents up to
/// `after[group]` were already delivered (recorded, but maybe not committed yet) starts after
/// it. With `block_on_rejected` a dead letter is its group's head (and holds it back) until
/// an operator retries it or rejects it for good (`acknowledged_at`); otherwise dead letters
/// are stepped over.
pub(super) fn group_heads(
    conn: &Connection,
    data_dir: &Path,
    upstream: &str,
    block_on_rejected: bool,
    after: &HashMap<String, i64>,
) -> Result<Vec<QueueHead>, StoreError> {
    let mut heads = Vec::new();
    let mut next_group = conn.prepare_cached(
        "SELECT order_key FROM deliveries
         WHERE upstream = ?1 AND state <> 'delivered' AND order_key > ?2
         ORDER BY order_key LIMIT 1",
    )?;
    let head_sql = format!(
        "SELECT d.seq, d.state, d.next_attempt_ms, d.attempts, d.document_id, doc.kind,
                doc.batch, doc.part, doc.parts, doc.content_type, doc.file, doc.bytes,
                doc.pruned_at
         FROM deliveries d JOIN documents doc ON doc.document_id = d.document_id
         WHERE d.upstream = ?1 AND d.order_key = ?2 AND d.state <> 'delivered'{} AND d.seq > ?3
         ORDER BY d.seq LIMIT 1",
        if block_on_rejected {
            // A dead letter an operator rejected for good no longer holds its group back.
            " AND NOT (d.state = 'rejected' AND d.acknowledged_at IS NOT NULL)"
        } else {
            " AND d.state <> 'rejected'"
        }
    );
    let mut head = conn.prepare_cached(&head_sql)?;
    let mut key = String::new();
    while heads.len() < MAX_GROUPS {
        let Some(group): Option<String> = next_group
            .query_row(params![upstream, key], |r| r.get(0))
            .optional()?
        else {
            break;
        };
        let from = after.get(&group).copied().unwrap_or(i64::MIN);
        let found = head
            .query_row(params![upstream, group, from], |r| {
                let file: Option<String> = r.get(10)?;
                let bytes: Option<i64> = r.get(11)?;
                let pruned: Option<String> = r.get(12)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    Outgoing {
                        attempts: r.get::<_, i64>(3)? as u32,
                        document_id: r.get(4)?,
                        upstream: upstream.to_string(),
                        kind: r.get(5)?,
                        batch: r.get(6)?,
                        part: r.get::<_, i64>(7)? as u32,
                        parts: r.get::<_, i64>(8)? as u32,
                        content_type: r.get(9)?,
                        file_name: file.clone().unwrap_or_default(),
                        body: Body::Inline(Vec::new()),
                    },
                    file,
                    bytes,
                    pruned,
                ))
            })
            .optional()?;
        if let Some((seq, state, next_attempt_ms, mut outgoing, file, bytes, pruned)) = found {
            let mut missing = None;
            match file {
                Some(f) => {
                    let path = document_path(data_dir, &f);
                    match std::fs::metadata(&path) {
                        Ok(m) => outgoing.body = Body::File { path, len: m.len() },
                        Err(e) => {
                            missing = Some(match pruned {
                                Some(at) => format!(
                                    "the document's bytes were pruned at {at} (outbox retention)"
                                ),
                                None => format!("its file {} is unreadable: {e}", path.display()),
                            });
                            outgoing.body = Body::File {
                                path,
                                len: bytes.unwrap_or(0) as u64,
                            };
                        }
                    }
                }
                None => {
                    outgoing.file_name = format!("{}.xml", outgoing.document_id);
                    let body: Vec<u8> = conn.query_row(
                        "SELECT body FROM documents WHERE document_id = ?1",
                        [&outgoing.document_id],
                        |r| r.get(0),
                    )?;
                    outgoing.body = Body::Inline(body);
                }
            }
            heads.push(QueueHead {
                seq,
                order_key: group.clone(),
                state,
                next_attempt_ms,
                outgoing,
                missing,
            });
        }
        key = group;
    }
    Ok(heads)
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered {
        status: Option<u16>,
        response: Option<String>,
    },
    Retry {
        status: Option<u16>,
        error: String,
        response: Option<String>,
        after: Duration,
    },
    Rejected {
        status: Option<u16>,
        error: String,
        response: Option<String>,
    },
}

/// A change of one delivery's state by its forwarder. The writer applies consecutive ones in
/// one transaction (a draining backlog costs one fsync per group, not per document).
#[derive(Debug, Clone)]
pub enum DeliveryWrite {
    /// The forwarder starts sending it.
    InFlight {
        document_id: String,
        upstream: String,
    },
    /// An attempt's outcome.
    Attempt {
        document_id: String,
        upstream: String,
        outcome: AttemptOutcome,
    },
    /// The forwarder starts: whatever it had in flight when it stopped goes back to pending
    /// (it may have arrived; it is sent again with the same id and bytes).
    ResetInFlight { upstream: String },
}

pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Applies one change in the caller's transaction; returns the rows changed (0: the delivery
/// was no longer in the state the change expects — an operator acted on it meanwhile).
pub(super) fn apply(tx: &Connection, w: &DeliveryWrite) -> Result<usize, StoreError> {
    let now = ts(Utc::now());
    let changed = match w {
        DeliveryWrite::InFlight {
            document_id,
            upstream,
        } => tx
            .prepare_cached(
                "UPDATE deliveries SET state = 'in_flight',
                     first_attempt_at = coalesce(first_attempt_at, ?3)
                 WHERE document_id = ?1 AND upstream = ?2 AND state = 'pending'",
            )?
            .execute(params![document_id, upstream, now])?,
        DeliveryWrite::ResetInFlight { upstream } => tx
            .prepare_cached(
                "UPDATE deliveries SET state = 'pending' WHERE upstream = ?1 AND state = 'in_flight'",
            )?
            .execute([upstream])?,
        DeliveryWrite::Attempt {
            document_id,
            upstream,
            outcome,
        } => {
            let (state, status, error, response, next) = match outcome {
                AttemptOutcome::Delivered { status, response } => {
                    ("delivered", *status, None, response, now_ms())
                }
                AttemptOutcome::Retry {
                    status,
                    error,
                    response,
                    after,
                } => (
                    "pending",
                    *status,
                    Some(error.as_str()),
                    response,
                    now_ms().saturating_add(after.as_millis().min(i64::MAX as u128) as i64),
                ),
                AttemptOutcome::Rejected {
                    status,
                    error,
                    response,
                } => ("rejected", *status, Some(error.as_str()), response, now_ms()),
            };
            let changed = tx
                .prepare_cached(
                    "UPDATE deliveries SET state = ?3, attempts = attempts + 1, last_status = ?4,
                         last_error = ?5, response = ?6, next_attempt_ms = ?7,
                         first_attempt_at = coalesce(first_attempt_at, ?8), last_attempt_at = ?8,
                         delivered_at = CASE WHEN ?3 = 'delivered' THEN ?8 ELSE delivered_at END,
                         rejected_at = CASE WHEN ?3 = 'rejected' THEN ?8 ELSE rejected_at END
                     WHERE document_id = ?1 AND upstream = ?2 AND state IN ('pending', 'in_flight')",
                )?
                .execute(params![
                    document_id,
                    upstream,
                    state,
                    status,
                    error,
                    response,
                    next,
                    now
                ])?;
            if changed == 0 {
                tracing::warn!(document = %document_id, %upstream, "an attempt's outcome arrived for a delivery an operator changed meanwhile; the operator's decision stands");
            }
            changed
        }
    };
    Ok(changed)
}

#[cfg(test)]
#[path = "outbox_queue_tests.rs"]
mod tests;
