//! The shift supervisor's decisions: `linegate batch close | release | cancel`.
//!
//! A decision taken at the command line is judged exactly like a message from the line: it goes
//! through the store's writer and the line rules in one transaction, is logged under a message id
//! that names the operating-system user (`cli-<user>-<uuid>`), and is refused with the same codes
//! and sentences. The daemon may be running meanwhile: SQLite serialises the two writers, and the
//! daemon's assembler picks up a batch closed here on its next poll.

use chrono::Utc;

use crate::config::Config;
use crate::model::{LineEvent, LineMessage};
use crate::store::{Decoded, IngestItem, IngestOutcome, ReadOnlyStore, Store, StoreError};

/// What the supervisor decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Close,
    Release,
    Cancel { reason: Option<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("batch {0} is unknown here; `linegate batch list` shows the batches")]
    UnknownBatch(String),
}

/// Applies `decision` to `batch` and returns the committed outcome.
pub async fn decide(
    config: &Config,
    batch: &str,
    decision: Decision,
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
        Decision::Cancel { reason } => LineEvent::BatchCancel {
            batch: batch.to_string(),
            reason,
        },
    };
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
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
    let outcome = store.ingest(item).await;
    drop(store);
    thread.join();
    Ok(outcome?)
}
