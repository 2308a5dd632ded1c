//! What an operator may do to a delivery: retry a dead letter, replay a delivered document,
//! reject a pending one for good.
//!
//! Each action is one writer transaction that checks the delivery is in a state the action
//! makes sense for, changes it, and notes who did it, when and why (`operator_note`, and an
//! audit row per delivery changed, in the same transaction: `outbox_<action>`). Nothing
//! is ever deleted and a document's bytes and ids never change: a replay sends exactly what was
//! sent before, with the same `Idempotency-Key`, so the receiver can recognise it. The
//! forwarder sees the change at its next look at the queue (at once in the daemon, within
//! seconds when the command line made it).

use chrono::Utc;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::StoreError;
use super::audit::{AuditChain, Record};
use super::ledger::ts;
use super::outbox_queue::now_ms;

/// The operator's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorAction {
    /// A dead letter (or a pending document waiting for its backoff) is sent again now.
    Retry,
    /// A delivered document is sent again, same id and bytes.
    Replay,
    /// A pending document, or a dead letter, is given up for good: it stays `rejected`, no
    /// longer holds back its group and no longer raises the alarm (`acknowledged_at`), e.g.
    /// one the partner will never take.
    Reject,
}

impl OperatorAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorAction::Retry => "retry",
            OperatorAction::Replay => "replay",
            OperatorAction::Reject => "reject",
        }
    }

    /// The states it applies to, and the state it leads to.
    fn transition(self) -> (&'static [&'static str], &'static str) {
        match self {
            OperatorAction::Retry => (&["rejected", "pending"], "pending"),
            OperatorAction::Replay => (&["delivered"], "pending"),
            OperatorAction::Reject => (&["pending", "rejected"], "rejected"),
        }
    }
}

/// One action on one document, for one upstream or all it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRequest {
    pub action: OperatorAction,
    pub document_id: String,
    pub upstream: Option<String>,
    /// Who: the OS user (command line) or the API token's name.
    pub actor: String,
    pub reason: String,
}

/// One delivery the action changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedDelivery {
    pub document_id: String,
    pub upstream: String,
    pub from: String,
    pub to: String,
}

/// Applies `req` in one transaction. Refused (nothing changed) when the document is unknown,
/// when no delivery of it is in a state the action applies to, or when a replay's bytes are
/// gone; the error says what to do instead.
pub(super) fn apply(
    conn: &mut Connection,
    req: &OperatorRequest,
) -> Result<Vec<ChangedDelivery>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut stmt = tx.prepare(
        "SELECT d.upstream, d.state, doc.pruned_at FROM deliveries d
         JOIN documents doc ON doc.document_id = d.document_id
         WHERE d.document_id = ?1 AND (?2 IS NULL OR d.upstream = ?2) ORDER BY d.upstream",
    )?;
    let rows: Vec<(String, String, Option<String>)> = stmt
        .query_map(params![req.document_id, req.upstream], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    if rows.is_empty() {
        return Err(StoreError::Refused(match &req.upstream {
            Some(u) => format!(
                "no document {} for upstream '{u}'; see `linegate outbox list`",
                req.document_id
            ),
            None => format!(
                "no document {}; see `linegate outbox list`",
                req.document_id
            ),
        }));
    }
    let (from_states, to) = req.action.transition();
    let now = ts(Utc::now());
    let note = format!(
        "{} by {} at {now}: {}",
        req.action.as_str(),
        req.actor,
        req.reason
    );
    let mut changed = Vec::new();
    let mut chain = AuditChain::new();
    let action = format!("outbox_{}", req.action.as_str());
    for (upstream, state, pruned) in &rows {
        if !from_states.contains(&state.as_str()) {
            continue;
        }
        if req.action == OperatorAction::Replay
            && let Some(at) = pruned
        {
            return Err(StoreError::Refused(format!(
                "document {} cannot be replayed: its bytes were pruned at {at} \
                 (gateway.outbox_retention_days); its delivery record is kept",
                req.document_id
            )));
        }
        let n = tx.execute(
            "UPDATE deliveries SET state = ?3, next_attempt_ms = ?4, operator_note = ?5,
                 replays = replays + (?6 = 'replay'),
                 rejected_at = CASE WHEN ?3 = 'rejected' THEN coalesce(rejected_at, ?7)
                                    ELSE rejected_at END,
                 acknowledged_at = CASE WHEN ?3 = 'rejected' THEN ?7 END,
                 last_error = CASE WHEN ?3 = 'rejected' AND ?8 = 'pending' THEN ?5 ELSE last_error END
             WHERE document_id = ?1 AND upstream = ?2 AND state = ?8",
            params![
                req.document_id,
                upstream,
                to,
                now_ms(),
                note,
                req.action.as_str(),
                now,
                state
            ],
        )?;
        if n == 1 {
            chain.append(
                &tx,
                &Record {
                    actor: &req.actor,
                    action: &action,
                    subject: &format!("document:{}", req.document_id),
                    old_value: Some(state),
                    new_value: Some(to),
                    reason: Some(&req.reason),
                    detail: Some(&format!("upstream {upstream}")),
                },
            )?;
            changed.push(ChangedDelivery {
                document_id: req.document_id.clone(),
                upstream: upstream.clone(),
                from: state.clone(),
                to: to.to_string(),
            });
        }
    }
    if changed.is_empty() {
        let states: Vec<String> = rows.iter().map(|(u, s, _)| format!("{u}: {s}")).collect();
        let hint = match req.action {
            OperatorAction::Retry => {
                "retry applies to rejected or pending documents; use replay for a delivered one"
            }
            OperatorAction::Replay => {
                "replay applies to delivered documents; use retry for a rejected one"
            }
            OperatorAction::Reject => {
                "reject applies to pending documents (one being sent right now can be rejected once its attempt is recorded)"
            }
        };
        return Err(StoreError::Refused(format!(
            "document {} is {}: {hint}",
            req.document_id,
            states.join(", ")
        )));
    }
    tx.commit()?;
    Ok(changed)
}

#[cfg(test)]
#[path = "outbox_admin_tests.rs"]
pub(super) mod tests;
