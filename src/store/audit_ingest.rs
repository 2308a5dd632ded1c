//! The audit rows a line message writes, inside the transaction that applies it: one per
//! distinct serial state change it makes (listing the identifiers), and — when an operator sent it (`Store::ingest_by`) —
//! one for the operator's action itself, with its subject's state before and after.
//!
//! Who a message came from is read off where it was stored from (`IngestItem::topic`): an MQTT
//! topic, a scanner station, the API, or the command line (whose message id names the OS
//! user). An operator's own name, when there is one, wins.

use rusqlite::{OptionalExtension, Transaction};

use super::audit::{AuditChain, Operator, Record};
use super::{Decoded, IngestItem, IngestOutcome, StoreError};
use crate::model::{LineEvent, LineMessage};

/// The audit context of one message in a writing transaction.
pub(super) struct IngestAudit<'c, 'o> {
    pub chain: &'c mut AuditChain,
    pub operator: Option<&'o Operator>,
}

/// What the serial state changes of one message are recorded with: one `serial_state` row
/// per distinct change (old → new state) the message makes, listing every identifier that
/// made it. A case of 100 units commissioned is one row naming the 100 keys, not 100 rows:
/// the trail stays a small part of the database, and the line's ingest rate with it.
pub(super) struct SerialAudit<'c> {
    pub chain: &'c mut AuditChain,
    pub actor: String,
    /// `line <line>, message <id>`.
    pub detail: String,
    /// The changes not yet written, in the order first seen: (old, new) → keys.
    pub pending: Vec<(Option<String>, String, Vec<String>)>,
}

impl SerialAudit<'_> {
    /// Notes that `key` went from `old` (None: newly commissioned) to `new`.
    pub(super) fn changed(&mut self, key: &str, old: Option<&str>, new: &str) {
        let same = |(o, n, _): &&mut (Option<String>, String, Vec<String>)| {
            o.as_deref() == old && n == new
        };
        match self.pending.iter_mut().find(same) {
            Some((_, _, keys)) => keys.push(key.to_string()),
            None => self.pending.push((
                old.map(str::to_string),
                new.to_string(),
                vec![key.to_string()],
            )),
        }
    }

    /// Writes one row per change noted since the last flush (subject: the keys, space
    /// separated; detail: the message and how many identifiers).
    pub(super) fn flush(&mut self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        for (old, new, keys) in std::mem::take(&mut self.pending) {
            let detail = match keys.len() {
                1 => self.detail.clone(),
                n => format!("{}, {n} identifiers", self.detail),
            };
            self.chain.append(
                tx,
                &Record {
                    actor: &self.actor,
                    action: "serial_state",
                    subject: &keys.join(" "),
                    old_value: old.as_deref(),
                    new_value: Some(&new),
                    reason: None,
                    detail: Some(&detail),
                },
            )?;
        }
        Ok(())
    }
}

/// Who sent `item`: `mqtt:<topic>`, `scanner:<station>`, `api`, `cli-<user>`, or the topic.
pub(super) fn source_actor(item: &IngestItem, msg: &LineMessage) -> String {
    let topic = item.topic.as_str();
    if let Some(station) = topic.strip_prefix("scanner/") {
        format!("scanner:{station}")
    } else if topic == "api" || topic.starts_with("api/") {
        "api".into()
    } else if topic == "cli" {
        // `cli-<user>-<uuid>`: the user is all but the last 37 characters.
        let id = msg.message_id.as_str();
        match id.len().checked_sub(37).and_then(|end| id.get(..end)) {
            Some(user) if user.starts_with("cli-") => user.to_string(),
            _ => "cli".into(),
        }
    } else if topic.contains("/lines/") {
        format!("mqtt:{topic}")
    } else {
        topic.to_string()
    }
}

/// What an operator's message acts on, and how its state is read.
enum Subject {
    Batch(String),
    Shipment(String),
    Receipt(String),
    Line(String),
}

impl Subject {
    fn of(item: &IngestItem) -> Subject {
        let msg = match &item.decoded {
            Decoded::Accepted(m) => m,
            Decoded::Refused { .. } => {
                return Subject::Line(item.line.clone().unwrap_or_else(|| item.topic.clone()));
            }
        };
        match &msg.event {
            LineEvent::BatchOpen(b) => Subject::Batch(b.batch.clone()),
            LineEvent::Commission { batch, .. }
            | LineEvent::BatchClose { batch }
            | LineEvent::BatchCancel { batch, .. }
            | LineEvent::BatchRelease { batch } => Subject::Batch(batch.clone()),
            LineEvent::Ship(s) => Subject::Shipment(s.shipment.clone()),
            LineEvent::VoidShipment { shipment, .. } => Subject::Shipment(shipment.clone()),
            LineEvent::Receive(r) => Subject::Receipt(r.document.clone()),
            LineEvent::Aggregate { .. }
            | LineEvent::Disaggregate { .. }
            | LineEvent::Units { .. } => Subject::Line(msg.line.clone()),
        }
    }

    fn name(&self) -> String {
        match self {
            Subject::Batch(b) => format!("batch:{b}"),
            Subject::Shipment(s) => format!("shipment:{s}"),
            Subject::Receipt(r) => format!("receipt:{r}"),
            Subject::Line(l) => format!("line:{l}"),
        }
    }

    /// The subject's state as this transaction sees it (None: it does not exist, or a line).
    fn state(&self, tx: &Transaction<'_>) -> Result<Option<String>, StoreError> {
        let (sql, key) = match self {
            Subject::Batch(b) => ("SELECT state FROM batches WHERE batch = ?1", b),
            Subject::Shipment(s) => (
                "SELECT CASE WHEN voided_at IS NULL THEN 'shipped' ELSE 'voided' END
                 FROM shipments WHERE desadv = ?1",
                s,
            ),
            Subject::Receipt(r) => (
                "SELECT 'received' FROM receipts WHERE recadv = ?1 LIMIT 1",
                r,
            ),
            Subject::Line(_) => return Ok(None),
        };
        Ok(tx
            .prepare_cached(sql)?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }
}

/// Before an operator's message is applied: its subject and that subject's state.
pub(super) struct Before {
    subject: Subject,
    state: Option<String>,
}

pub(super) fn before(tx: &Transaction<'_>, item: &IngestItem) -> Result<Before, StoreError> {
    let subject = Subject::of(item);
    let state = subject.state(tx)?;
    Ok(Before { subject, state })
}

/// After it was applied (or refused): the operator's row, old → new state, with the outcome.
pub(super) fn operator_row(
    tx: &Transaction<'_>,
    chain: &mut AuditChain,
    operator: &Operator,
    item: &IngestItem,
    before: Before,
    outcome: &IngestOutcome,
) -> Result<(), StoreError> {
    let after = before.subject.state(tx)?;
    let (action, id) = match &item.decoded {
        Decoded::Accepted(m) => (m.event.kind(), Some(m.message_id.as_str())),
        Decoded::Refused { message_id, .. } => ("message", message_id.as_deref()),
    };
    let verdict = match outcome {
        IngestOutcome::Applied => "applied".to_string(),
        IngestOutcome::Rejected(r) => format!("refused ({}): {}", r.code.as_str(), r.reason),
        IngestOutcome::Duplicate { .. } => "duplicate, not applied again".to_string(),
    };
    let line = item.line.as_deref().unwrap_or("-");
    let detail = format!("line {line}, message {}: {verdict}", id.unwrap_or("-"));
    chain.append(
        tx,
        &Record {
            actor: &operator.actor,
            action,
            subject: &before.subject.name(),
            old_value: before.state.as_deref(),
            new_value: after.as_deref(),
            reason: Some(&operator.reason),
            detail: Some(&detail),
        },
    )?;
    Ok(())
}
