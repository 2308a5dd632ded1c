//! The store's own health: whether its database is sound, its writer answers, and its commits
//! succeed — the parts `store:integrity`, `store:writer` and `store:commits`.
//!
//! The other parts report themselves (the disk guard, the sources, the outbox monitor); the
//! store cannot, because a writer that hangs says nothing and a damaged page is found only by
//! reading it. So at start this task runs SQLite's `quick_check` once, on a read-only
//! connection on a blocking thread (it reads every page: seconds for a large database, and the
//! writer and the sources must not wait for it), and then asks the writer every few seconds
//! to answer a ping and looks at the outcome of its latest commit (`Store::stats`). Damage
//! found at start stays reported until linegate starts on a sound database; the two others
//! clear by themselves when the writer answers or commits again.

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Health;
use crate::store::{ReadOnlyStore, Store, StoreError};

/// How often the writer is asked to answer.
const EVERY: Duration = Duration::from_secs(2);
/// A writer silent this long is reported.
const SILENT: Duration = Duration::from_secs(10);
/// Problems of `quick_check` shown at most (the log and the health show the first ones).
const INTEGRITY_LINES: usize = 5;

pub const INTEGRITY: &str = "store:integrity";
pub const WRITER: &str = "store:writer";
pub const COMMITS: &str = "store:commits";

/// Checks the database once, then watches the writer until `stop`.
pub async fn watch(store: Store, data_dir: PathBuf, health: Health, stop: CancellationToken) {
    let check = tokio::task::spawn_blocking(move || {
        ReadOnlyStore::open(&data_dir)?.quick_check(INTEGRITY_LINES)
    });
    let mut check = Some(check);
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            found = async { check.as_mut().expect("polled only while running").await }, if check.is_some() => {
                check = None;
                integrity(&health, found.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())));
            }
            _ = tick.tick() => {
                let answered = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = tokio::time::timeout(SILENT, store.ping()) => r,
                };
                match answered {
                    Ok(Ok(())) => health.set(WRITER, None),
                    // The writer is gone: linegate is stopping.
                    Ok(Err(StoreError::Closed)) => return,
                    Ok(Err(e)) => health.set(WRITER, Some(format!("the store writer failed: {e}"))),
                    Err(_) => health.set(WRITER, Some(format!(
                        "the store writer has not answered for {} s: nothing is being committed, so \
                         no source is acknowledged; if it stays so, restart linegate",
                        SILENT.as_secs()
                    ))),
                }
                let failing = store.stats().failing().map(|f| format!(
                    "the latest commit failed ({}); what the sources sent since is held, not \
                     acknowledged: check the disk and the journal",
                    f.error
                ));
                health.set(COMMITS, failing);
            }
        }
    }
}

/// Records the outcome of the start's `quick_check`.
fn integrity(health: &Health, found: Result<Vec<String>, String>) {
    match found {
        Ok(lines) if lines.is_empty() => {
            tracing::info!("database integrity check (quick_check) found no problem");
            health.set(INTEGRITY, None);
        }
        Ok(lines) => {
            let shown = lines.join("; ");
            tracing::error!(problems = %shown, "the database is damaged (PRAGMA quick_check); stop linegate, keep a copy of the data directory and restore the database from a backup");
            health.set(
                INTEGRITY,
                Some(format!(
                    "the database is damaged (quick_check at start found: {shown}); stop \
                     linegate, keep a copy of the data directory, restore from a backup"
                )),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "the database integrity check could not run");
            health.set(
                INTEGRITY,
                Some(format!("the integrity check at start could not run: {e}")),
            );
        }
    }
}
