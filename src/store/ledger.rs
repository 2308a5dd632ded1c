//! Applying line messages to the ledger: message log, batches, serial registry and quarantine.
//!
//! Runs inside the writer's group transaction. Each message first claims its (line, message id)
//! in the message log — one insert that is also the de-duplication: a redelivery finds the id
//! taken and gets the first verdict back without being applied twice. Then it is judged by
//! `rules::judge` against the ledger as this very transaction sees it (`registry::TxLedger`),
//! and either its plan is written or it is quarantined and its log row marked rejected.
//! Every identifier whose state the plan changes gets an audit row, and an operator's message
//! one more for the action itself (`audit_ingest`), in the same transaction.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::audit_ingest::{self, IngestAudit, SerialAudit};
use super::registry::{self, GroupCache, TxLedger};
use super::{Decoded, IngestItem, IngestOutcome, StoreError};
use crate::model::{QUARANTINE_PAYLOAD_MAX, RejectCode, Rejection};
use crate::rules::{self, RulesPolicy};

pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Applies one item. Returns the outcome and whether a batch was closed.
pub(super) fn ingest(
    tx: &Transaction<'_>,
    item: &IngestItem,
    policy: &RulesPolicy,
    cache: &GroupCache,
    audit: IngestAudit<'_, '_>,
) -> Result<(IngestOutcome, bool), StoreError> {
    let Some(operator) = audit.operator else {
        return apply(tx, item, policy, cache, audit.chain, None);
    };
    let before = audit_ingest::before(tx, item)?;
    let (outcome, due) = apply(tx, item, policy, cache, audit.chain, Some(&operator.actor))?;
    audit_ingest::operator_row(tx, audit.chain, operator, item, before, &outcome)?;
    Ok((outcome, due))
}

/// Applies one item; its serial state changes are audited under `actor` (else its source).
fn apply(
    tx: &Transaction<'_>,
    item: &IngestItem,
    policy: &RulesPolicy,
    cache: &GroupCache,
    chain: &mut super::audit::AuditChain,
    actor: Option<&str>,
) -> Result<(IngestOutcome, bool), StoreError> {
    match &item.decoded {
        Decoded::Refused {
            message_id,
            rejection,
        } => {
            if let Some(id) = message_id {
                let line = item.line.as_deref().unwrap_or(&item.topic);
                let claimed = claim(
                    tx,
                    line,
                    id,
                    "unknown",
                    item.received_at,
                    None,
                    Some(rejection),
                )?;
                if !claimed {
                    return Ok((duplicate(tx, line, id)?, false));
                }
            }
            quarantine(tx, item, message_id.as_deref(), rejection)?;
            Ok((IngestOutcome::Rejected(rejection.clone()), false))
        }
        Decoded::Accepted(msg) => {
            let claimed = claim(
                tx,
                &msg.line,
                &msg.message_id,
                msg.event.kind(),
                item.received_at,
                Some(msg.time),
                None,
            )?;
            if !claimed {
                return Ok((duplicate(tx, &msg.line, &msg.message_id)?, false));
            }
            match rules::judge(msg, &TxLedger { tx, cache }, policy)? {
                Ok(plan) => {
                    let mut audit = SerialAudit {
                        chain,
                        actor: actor
                            .map_or_else(|| audit_ingest::source_actor(item, msg), str::to_string),
                        detail: format!("line {}, message {}", msg.line, msg.message_id),
                        pending: Vec::new(),
                    };
                    let closed = registry::write_plan(tx, msg, plan, cache, &mut audit)?;
                    Ok((IngestOutcome::Applied, closed))
                }
                Err(rejection) => {
                    quarantine(tx, item, Some(&msg.message_id), &rejection)?;
                    mark_rejected(tx, &msg.line, &msg.message_id, &rejection)?;
                    Ok((IngestOutcome::Rejected(rejection), false))
                }
            }
        }
    }
}

/// The outcome for an id already in the log: its first verdict.
fn duplicate(tx: &Transaction<'_>, line: &str, id: &str) -> Result<IngestOutcome, StoreError> {
    let earlier = earlier_verdict(tx, line, id)?.ok_or_else(|| {
        StoreError::Corrupt(format!("message {line}/{id} is claimed but not in the log"))
    })?;
    Ok(IngestOutcome::Duplicate { earlier })
}

fn earlier_verdict(
    tx: &Transaction<'_>,
    line: &str,
    id: &str,
) -> Result<Option<Option<Rejection>>, StoreError> {
    let row: Option<(String, Option<String>, Option<String>)> = tx
        .prepare_cached("SELECT status, reject_code, reject_reason FROM messages WHERE line = ?1 AND message_id = ?2")?
        .query_row(params![line, id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.map(|(status, code, reason)| {
        if status == "applied" {
            return None;
        }
        let code = code
            .as_deref()
            .and_then(RejectCode::parse)
            .unwrap_or(RejectCode::InvalidField);
        Some(Rejection::new(code, reason.unwrap_or_default()))
    }))
}

/// Logs (line, id) with its verdict, unless the id is logged already: returns whether it was
/// new. An accepted message is logged `applied` before it is judged; `mark_rejected` corrects
/// that in the same transaction when the rules refuse it.
fn claim(
    tx: &Transaction<'_>,
    line: &str,
    id: &str,
    kind: &str,
    received_at: DateTime<Utc>,
    event_time: Option<DateTime<Utc>>,
    rejection: Option<&Rejection>,
) -> Result<bool, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO messages (line, message_id, kind, received_at, event_time, status, reject_code, reject_reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (line, message_id) DO NOTHING",
        )?
        .execute(params![
            line,
            id,
            kind,
            ts(received_at),
            event_time.map(ts),
            if rejection.is_some() { "rejected" } else { "applied" },
            rejection.map(|r| r.code.as_str()),
            rejection.map(|r| r.reason.as_str()),
        ])?;
    Ok(inserted == 1)
}

fn mark_rejected(
    tx: &Transaction<'_>,
    line: &str,
    id: &str,
    rejection: &Rejection,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE messages SET status = 'rejected', reject_code = ?3, reject_reason = ?4
         WHERE line = ?1 AND message_id = ?2",
    )?
    .execute(params![line, id, rejection.code.as_str(), rejection.reason])?;
    Ok(())
}

fn quarantine(
    tx: &Transaction<'_>,
    item: &IngestItem,
    id: Option<&str>,
    rejection: &Rejection,
) -> Result<(), StoreError> {
    let kept = &item.payload[..item.payload.len().min(QUARANTINE_PAYLOAD_MAX)];
    tx.prepare_cached(
        "INSERT INTO quarantine (received_at, line, topic, message_id, code, reason, payload, payload_len)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        ts(item.received_at),
        item.line,
        item.topic,
        id,
        rejection.code.as_str(),
        rejection.reason,
        kept,
        item.payload.len() as i64
    ])?;
    Ok(())
}
