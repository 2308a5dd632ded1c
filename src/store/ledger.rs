//! Applying line messages to the ledger: message log, batches, serial registry and quarantine.
//!
//! Runs inside the writer's group transaction. Each message is first de-duplicated on
//! (line, message id), then judged by `rules::judge` against the ledger as this very transaction
//! sees it (`registry::TxLedger`), then either its plan is written or it is quarantined — and in
//! both cases logged, so a redelivery of the same id gets the same verdict without being applied
//! twice.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::registry::{self, TxLedger};
use super::{Decoded, IngestItem, IngestOutcome, StoreError};
use crate::model::{LineMessage, QUARANTINE_PAYLOAD_MAX, RejectCode, Rejection};
use crate::rules::{self, RulesPolicy};

pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Applies one item. Returns the outcome and whether a batch was closed.
pub(super) fn ingest(
    tx: &Transaction<'_>,
    item: &IngestItem,
    policy: &RulesPolicy,
) -> Result<(IngestOutcome, bool), StoreError> {
    match &item.decoded {
        Decoded::Refused {
            message_id,
            rejection,
        } => {
            if let Some(id) = message_id {
                let line = item.line.as_deref().unwrap_or(&item.topic);
                if let Some(earlier) = earlier_verdict(tx, line, id)? {
                    return Ok((IngestOutcome::Duplicate { earlier }, false));
                }
                log_message(
                    tx,
                    line,
                    id,
                    "unknown",
                    item.received_at,
                    None,
                    Some(rejection),
                )?;
            }
            quarantine(tx, item, message_id.as_deref(), rejection)?;
            Ok((IngestOutcome::Rejected(rejection.clone()), false))
        }
        Decoded::Accepted(msg) => {
            if let Some(earlier) = earlier_verdict(tx, &msg.line, &msg.message_id)? {
                return Ok((IngestOutcome::Duplicate { earlier }, false));
            }
            let verdict = rules::judge(msg, &TxLedger { tx }, policy)?;
            let (verdict, closed) = match verdict {
                Ok(plan) => (Ok(()), registry::write_plan(tx, msg, plan)?),
                Err(rejection) => {
                    quarantine(tx, item, Some(&msg.message_id), &rejection)?;
                    (Err(rejection), false)
                }
            };
            log(tx, item, msg, verdict.as_ref().err())?;
            let outcome = match verdict {
                Ok(()) => IngestOutcome::Applied,
                Err(rejection) => IngestOutcome::Rejected(rejection),
            };
            Ok((outcome, closed))
        }
    }
}

fn log(
    tx: &Transaction<'_>,
    item: &IngestItem,
    msg: &LineMessage,
    rejection: Option<&Rejection>,
) -> Result<(), StoreError> {
    let (line, id, kind) = (&msg.line, &msg.message_id, msg.event.kind());
    log_message(
        tx,
        line,
        id,
        kind,
        item.received_at,
        Some(msg.time),
        rejection,
    )
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

fn log_message(
    tx: &Transaction<'_>,
    line: &str,
    id: &str,
    kind: &str,
    received_at: DateTime<Utc>,
    event_time: Option<DateTime<Utc>>,
    rejection: Option<&Rejection>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO messages (line, message_id, kind, received_at, event_time, status, reject_code, reject_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
