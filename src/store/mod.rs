//! The durable store: one SQLite file, the only channel between sources, assembly and forwarding.
//!
//! ## Design constraints
//! * Nothing is acknowledged before it is committed. Every write goes through one writer thread
//!   that owns the read-write connection; callers get their answer only after `COMMIT` returned.
//! * Group commit: the writer drains whatever ingest requests are queued (up to `GROUP_MAX`) and
//!   applies them in one transaction, so one fsync covers many line events.
//! * `journal_mode=WAL`, `synchronous=FULL`: a committed transaction survives `kill -9` and power
//!   loss. The schema is migrated by `user_version` (see `schema`).
//! * The request channel is bounded: when the disk is slow, callers wait (backpressure), nobody drops.
//! * Only this module knows SQL. The line rules are judged here, inside the writing transaction,
//!   through `rules::LedgerView`. The assembler's build step runs outside the writer, streaming
//!   a read snapshot (`SqliteBatchRows`, the assembler's `BatchRows`) into files under
//!   `outbox/`; its documents are recorded in the transaction that marks the batch assembled.

mod audit;
mod audit_ingest;
mod audit_read;
#[cfg(test)]
mod audit_tests;
mod audit_verify;
mod batch_rows;
mod checkpoint;
mod event_record;
mod event_rows;
mod ledger;
mod line_batch;
mod line_state;
mod outbox;
mod outbox_admin;
mod outbox_backlog;
mod outbox_enqueue;
mod outbox_prune;
mod outbox_queue;
#[cfg(test)]
mod outbox_read_tests;
#[cfg(test)]
mod outbox_tests;
mod read;
mod read_ledger;
mod read_outbox;
mod registry;
mod requests;
mod schema;
mod shipments;
mod stats;
mod writer;

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

pub use audit::{AuditEntry, GENESIS, Operator};
pub use audit_read::{AuditQuery, AuditRow};
pub use audit_verify::{AuditBreak, AuditHead, AuditProblem, AuditReport};
pub use batch_rows::SqliteBatchRows;
pub use event_rows::{EventBuildFn, Interest, Reported};
pub use line_batch::OpenBatch;
pub use line_state::BatchProgress;
pub use outbox::{OUTBOX_DIR, OutboxFiles, OutboxSink, PartFile};
pub use outbox_admin::{ChangedDelivery, OperatorAction, OperatorRequest};
pub use outbox_backlog::UpstreamBacklog;
pub use outbox_prune::{PruneCursor, Pruned};
pub use outbox_queue::{AttemptOutcome, DeliveryWrite, QueueHead};
pub use read::{QuarantineRow, ReadOnlyStore};
pub use read_ledger::{BatchDetail, BatchRow, HistoryRow, SerialDetail};
pub use read_outbox::{DELIVERY_STATES, OutboxDocument, OutboxPage, OutboxQuery, OutboxRow};
pub use shipments::ShipmentSummary;
pub use shipments::assembly::{ShipmentAssembled, ShipmentBuildFn, ShipmentJob};
pub use stats::{CommitFailure, LATENCY_BUCKETS, MessageCounts, StatsSnapshot, StoreStats};

use crate::assemble::partner::EobTrigger;
use crate::assemble::rows::{AssembleError, BatchRows};
use crate::model::{LineMessage, NewDocument, Rejection};

use requests::Command;

/// Most ingest requests applied in one transaction.
pub const GROUP_MAX: usize = 512;
/// Capacity of the request channel; senders wait when it is full.
const CHANNEL_CAPACITY: usize = 2048;
/// The file name of the database under `gateway.data_dir`.
pub const DB_FILE: &str = "linegate.db";

/// Errors at the storage boundary. A caller that gets one must not acknowledge anything.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "database schema version {found} is newer than this linegate supports ({supported}); install a newer linegate"
    )]
    TooNew { found: i64, supported: i64 },
    #[error("stored value is unreadable: {0}")]
    Corrupt(String),
    #[error("cannot read {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Reading the batch or filing its documents failed; the assembly is tried again later.
    #[error("assembling stopped: {0}")]
    Assembly(String),
    /// The group this request was part of did not commit (the cause is logged once).
    #[error("not committed: {0}")]
    NotCommitted(String),
    #[error("the store writer has stopped")]
    Closed,
    /// An operator's request that does not apply (the message says what would).
    #[error("{0}")]
    Refused(String),
}

/// What a source hands to the store: a decoded message or a refusal, plus the raw facts.
#[derive(Debug, Clone)]
pub struct IngestItem {
    pub topic: String,
    /// The configured line, or None when the topic named a line that is not configured.
    pub line: Option<String>,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub payload: Vec<u8>,
    pub decoded: Decoded,
}

#[derive(Debug, Clone)]
pub enum Decoded {
    Accepted(LineMessage),
    Refused {
        message_id: Option<String>,
        rejection: Rejection,
    },
}

/// The committed result of one ingest.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestOutcome {
    Applied,
    /// Stored in quarantine; the line must be told.
    Rejected(Rejection),
    /// The (line, id) was seen before; nothing was applied again. `earlier` is the first verdict.
    Duplicate {
        earlier: Option<Rejection>,
    },
}

/// The committed outcome of a submitted ingest, once the writer has it.
pub struct PendingIngest(oneshot::Receiver<Result<IngestOutcome, StoreError>>);

impl PendingIngest {
    /// Waits for the outcome. Cancel-safe: dropping the future keeps the answer for a later call.
    pub async fn wait(&mut self) -> Result<IngestOutcome, StoreError> {
        (&mut self.0).await.map_err(|_| StoreError::Closed)?
    }
}

/// Builds the End of Batch documents of one batch for the partners that take them at
/// `trigger`: reads the batch through the rows (one snapshot), writes each document into a file
/// of the outbox, and returns what to record, in sending order. Runs on a blocking thread,
/// never in the writer. An error reading the rows or writing a file (`AssembleError::Read`,
/// `Io`) is retried later; any other parks the batch as failed.
pub type BuildFn = Box<
    dyn FnOnce(
            EobTrigger,
            &mut dyn BatchRows,
            &mut OutboxFiles,
        ) -> Result<Vec<NewDocument>, AssembleError>
        + Send,
>;

/// The result of one assembly step.
#[derive(Debug, Clone, PartialEq)]
pub enum Assembled {
    /// Recorded (no document when no partner takes the End of Batch at `trigger`, or nothing
    /// was commissioned).
    Documents {
        batch: String,
        trigger: EobTrigger,
        document_ids: Vec<String>,
    },
    Failed {
        batch: String,
        trigger: EobTrigger,
        reason: String,
    },
}

/// Wake-ups for the tasks that read from the store. They carry no data: the store does.
#[derive(Default)]
pub struct Wakeups {
    /// Notified after a commit that closed or released a batch (a document may be due).
    pub batch_closed: Notify,
    /// Notified after a commit that enqueued documents.
    pub outbox_changed: Notify,
    /// The writer's figures (`Store::stats`); private: the wake-ups themselves carry no data.
    stats: Arc<StoreStats>,
}

/// A cheap, cloneable handle to the writer thread.
#[derive(Clone)]
pub struct Store {
    commands: mpsc::Sender<Command>,
    wakeups: Arc<Wakeups>,
    data_dir: Arc<PathBuf>,
}

/// Owns the writer thread; `join` waits for it after every `Store` handle is dropped.
pub struct StoreThread {
    handle: Option<std::thread::JoinHandle<()>>,
    checkpointer: Option<checkpoint::Checkpointer>,
}

impl StoreThread {
    /// Waits until the writer has applied everything queued and closed the database.
    pub fn join(mut self) {
        if let Some(c) = self.checkpointer.take() {
            c.finish();
        }
        if let Some(h) = self.handle.take()
            && h.join().is_err()
        {
            tracing::error!("the store writer thread panicked");
        }
    }
}

impl Store {
    /// Opens (creating if needed) `data_dir/linegate.db`, migrates it and starts the writer.
    pub fn open(
        data_dir: &Path,
        policy: crate::rules::RulesPolicy,
    ) -> Result<(Store, StoreThread), StoreError> {
        // Production data: a directory we create is for the service user only.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|source| StoreError::DataDir {
                path: data_dir.to_path_buf(),
                source,
            })?;
        let conn = writer::open_connection(&data_dir.join(DB_FILE))?;
        // Checkpoints run beside the writer (see `checkpoint`), never inside a commit.
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            checkpoint::WRITER_BACKSTOP_PAGES,
        )?;
        let checkpointer = Some(checkpoint::Checkpointer::start(&data_dir.join(DB_FILE))?);
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let wakeups = Arc::new(Wakeups::default());
        let thread_wakeups = wakeups.clone();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer::run(conn, rx, &thread_wakeups, &policy))
            .map_err(|source| StoreError::DataDir {
                path: data_dir.to_path_buf(),
                source,
            })?;
        Ok((
            Store {
                commands: tx,
                wakeups,
                data_dir: Arc::new(data_dir.to_path_buf()),
            },
            StoreThread {
                handle: Some(handle),
                checkpointer,
            },
        ))
    }

    pub fn wakeups(&self) -> &Arc<Wakeups> {
        &self.wakeups
    }

    /// The writer's figures: commits, their latency, messages per line and source.
    pub fn stats(&self) -> &Arc<StoreStats> {
        &self.wakeups.stats
    }

    /// A reader of the outbox queue for one forwarder, with a read-only connection of its own.
    pub fn queue_reader(&self) -> Result<QueueReader, StoreError> {
        Ok(QueueReader {
            store: Arc::new(std::sync::Mutex::new(ReadOnlyStore::open(&self.data_dir)?)),
            dir: self.data_dir.clone(),
        })
    }
}

/// Reads the outbox queue through its own read-only connection, on a blocking thread (the
/// writer is never asked: a forwarder looking at its queue does not hold up the lines).
#[derive(Clone)]
pub struct QueueReader {
    store: Arc<std::sync::Mutex<ReadOnlyStore>>,
    dir: Arc<PathBuf>,
}

impl QueueReader {
    /// The heads of `upstream`'s ordering groups (`outbox_queue::group_heads`).
    pub async fn heads(
        &self,
        upstream: &str,
        block_on_rejected: bool,
        after: std::collections::HashMap<String, i64>,
    ) -> Result<Vec<QueueHead>, StoreError> {
        let (store, dir, upstream) = (self.store.clone(), self.dir.clone(), upstream.to_string());
        tokio::task::spawn_blocking(move || {
            let store = store.lock().unwrap_or_else(|p| p.into_inner());
            outbox_queue::group_heads(&store.conn, &dir, &upstream, block_on_rejected, &after)
        })
        .await
        .map_err(|e| StoreError::NotCommitted(format!("reading the outbox stopped: {e}")))?
    }
}
