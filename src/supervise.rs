//! The shift supervisor's decisions: `linegate batch close | release | cancel`.
//!
//! A decision taken at the command line is judged exactly like a message from the line: it goes
//! through the store's writer and the line rules in one transaction, is logged under a message id
//! that names the operating-system user (`cli-<user>-<uuid>`), and is refused with the same codes
//! and sentences. The daemon may be running meanwhile: SQLite serialises the two writers, and the
//! daemon's assembler picks up a batch closed here on its next poll. Every decision needs a
//! reason; it goes to the audit trail with the user and the batch's state before and after, in
//! the transaction that applies the decision (`Store::ingest_by`).

use chrono::Utc;

use crate::config::Config;
use crate::model::{LineEvent, LineMessage};
use crate::store::{
    Decoded, IngestItem, IngestOutcome, Operator, ReadOnlyStore, Store, StoreError,
};

/// What the supervisor decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Close,
    Release,
    /// The reason is also kept in every unit's history.
    Cancel,
}

#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("batch {0} is unknown here; `linegate batch list` shows the batches")]
    UnknownBatch(String),
}

/// The operating-system user at the command line, as the audit trail names it: `cli-<user>`.
pub fn os_user() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Applies `decision` to `batch`, audited with `reason`, and returns the committed outcome.
pub async fn decide(
    config: &Config,
    batch: &str,
    decision: Decision,
    reason: &str,
) -> Result<IngestOutcome, SuperviseError> {
    let data_dir = &config.gateway.data_dir;
    let line = ReadOnlyStore::open(data_dir)?
        .batch(batch)?
        .map(|b| b.row.line)
        .ok_or_else(|| SuperviseError::UnknownBatch(batch.to_string()))?;
    let event = match decision {
        Decision::Close => LineEvent::BatchClose {
            batch: batch.to_string(),
        },
        Decision::Release => LineEvent::BatchRelease {
            batch: batch.to_string(),
        },
        Decision::Cancel => LineEvent::BatchCancel {
            batch: batch.to_string(),
            reason: Some(reason.to_string()),
        },
    };
    let user = os_user();
    let now = Utc::now();
    let payload = serde_json::json!({"type": event.kind(), "batch": batch, "user": user});
    let item = IngestItem {
        topic: "cli".into(),
        line: Some(line.clone()),
        received_at: now,
        payload: payload.to_string().into_bytes(),
        decoded: Decoded::Accepted(LineMessage {
            line,
            message_id: format!("cli-{user}-{}", uuid::Uuid::new_v4()),
            time: now,
            event,
        }),
    };
    let (store, thread) = Store::open(data_dir, config.rules_policy())?;
    let operator = Operator {
        actor: format!("cli-{user}"),
        reason: reason.to_string(),
    };
    let outcome = store.ingest_by(item, operator).await;
    drop(store);
    thread.join();
    Ok(outcome?)
}
