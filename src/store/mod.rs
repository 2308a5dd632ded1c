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

enum Command {
    Ingest(
        Box<IngestItem>,
        oneshot::Sender<Result<IngestOutcome, StoreError>>,
    ),
    /// An operator's line message: applied as `Ingest`, plus the operator's audit row.
    IngestBy(
        Box<IngestItem>,
        Operator,
        oneshot::Sender<Result<IngestOutcome, StoreError>>,
    ),
    /// Audit rows in one transaction of their own (`audit`, `audit_all`).
    Audit(Vec<AuditEntry>, oneshot::Sender<Result<(), StoreError>>),
    Assemble(
        Box<outbox::Built>,
        oneshot::Sender<Result<Option<Assembled>, StoreError>>,
    ),
    /// Record a shipment message's documents (`shipments::assembly`).
    Shipments(
        Box<shipments::assembly::Built>,
        oneshot::Sender<Result<Option<ShipmentAssembled>, StoreError>>,
    ),
    /// A forwarder's change of one delivery (grouped with the ones queued behind it).
    Delivery(DeliveryWrite, oneshot::Sender<Result<usize, StoreError>>),
    /// An operator's action on a document (`outbox_admin`).
    Outbox(
        OperatorRequest,
        oneshot::Sender<Result<Vec<ChangedDelivery>, StoreError>>,
    ),
    /// Retention: prune the bytes of documents still due (`outbox_prune`).
    Prune(
        outbox_prune::Request,
        oneshot::Sender<Result<outbox_prune::Recorded, StoreError>>,
    ),
    /// Per-event reporting: start cursors, or record a message's documents (`event_record`).
    Events(
        event_record::Write,
        oneshot::Sender<Result<Option<Reported>, StoreError>>,
    ),
    /// Ready-made documents to record (`outbox_enqueue`).
    Enqueue(
        Box<outbox_enqueue::Enqueue>,
        oneshot::Sender<Result<(), StoreError>>,
    ),
    /// Liveness: answered by the writer thread after the groups queued before it committed.
    Ping(oneshot::Sender<()>),
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

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores one message (or refusal) and returns only after it is committed.
    pub async fn ingest(&self, item: IngestItem) -> Result<IngestOutcome, StoreError> {
        self.call(|tx| Command::Ingest(Box::new(item), tx)).await
    }

    /// An operator-originated line message (CLI or API): applied exactly like `ingest`, plus an
    /// audit row (actor, action = message kind, subject = batch/shipment, old → new, reason)
    /// in the same transaction. Returns only after it is committed.
    pub async fn ingest_by(
        &self,
        item: IngestItem,
        operator: Operator,
    ) -> Result<IngestOutcome, StoreError> {
        self.call(|tx| Command::IngestBy(Box::new(item), operator, tx))
            .await
    }

    /// Appends one row to the audit trail (a config load or reload, …) in a transaction of
    /// its own; returns after it is committed.
    pub async fn audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        self.call(|tx| Command::Audit(vec![entry], tx)).await
    }

    /// Appends `entries`, in order, in one transaction: all of them or none (several rows
    /// that belong together, imports, benchmarks).
    pub async fn audit_all(&self, entries: Vec<AuditEntry>) -> Result<(), StoreError> {
        self.call(|tx| Command::Audit(entries, tx)).await
    }

    /// Queues one message for the next group commit and returns the receiver of its outcome.
    /// Waiting here is backpressure (the writer is behind); the outcome arrives after `COMMIT`.
    pub async fn submit_ingest(&self, item: IngestItem) -> Result<PendingIngest, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Ingest(Box::new(item), tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(PendingIngest(rx))
    }

    /// Assembles the oldest batch waiting for its End of Batch (at close or at release), if
    /// any: reads it and runs `build` on a blocking thread (never in the writer, so lines keep
    /// being acknowledged meanwhile), then records the documents and marks the batch assembled
    /// in one transaction. The files of a build that is not recorded are removed.
    pub async fn assemble_next(&self, build: BuildFn) -> Result<Option<Assembled>, StoreError> {
        let dir = self.data_dir.clone();
        let built = tokio::task::spawn_blocking(move || outbox::build_next(&dir, build))
            .await
            .map_err(|e| StoreError::NotCommitted(format!("the document build stopped: {e}")))??;
        match built {
            Some(b) => self.record(b).await,
            None => Ok(None),
        }
    }

    /// Records a build through the writer; removes its files unless it was recorded.
    async fn record(&self, built: outbox::Built) -> Result<Option<Assembled>, StoreError> {
        let files = built.files.clone();
        let recorded = self.call(|tx| Command::Assemble(Box::new(built), tx)).await;
        match &recorded {
            Ok(Some(Assembled::Documents { .. })) => {}
            // Whether the writer committed before it stopped is unknown: keep the files (a file
            // without a row is never sent).
            Err(StoreError::Closed) => {}
            // Discarded (another build was recorded first), failed, or not committed.
            _ => {
                let _ = tokio::task::spawn_blocking(move || outbox::remove_files(&files)).await;
            }
        }
        recorded
    }

    /// Queues one delivery change for the next group commit and returns the receiver of its
    /// result (rows changed), which arrives after `COMMIT`. Waiting here is backpressure.
    pub async fn submit_delivery(
        &self,
        write: DeliveryWrite,
    ) -> Result<oneshot::Receiver<Result<usize, StoreError>>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Delivery(write, tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    /// Applies one delivery change and returns after it committed.
    pub async fn delivery(&self, write: DeliveryWrite) -> Result<usize, StoreError> {
        self.call(|tx| Command::Delivery(write, tx)).await
    }

    /// An operator's retry, replay or reject (`outbox_admin`), in one transaction.
    pub async fn outbox_action(
        &self,
        req: OperatorRequest,
    ) -> Result<Vec<ChangedDelivery>, StoreError> {
        self.call(|tx| Command::Outbox(req, tx)).await
    }

    /// Ready-made documents recorded as the assembler records its own (tools that bring a
    /// backlog, benchmarks): each document's row and its pending delivery, in `order_key`'s
    /// ordering group in the order given, in one transaction. Their files must already be
    /// complete and durable in the outbox directory (`OutboxFiles`); a file without a row is
    /// never sent, a row without a file becomes a dead letter.
    pub async fn enqueue_documents(
        &self,
        docs: Vec<NewDocument>,
        batch: Option<String>,
        order_key: String,
    ) -> Result<(), StoreError> {
        let e = outbox_enqueue::Enqueue {
            docs,
            batch,
            order_key,
        };
        self.call(|tx| Command::Enqueue(Box::new(e), tx)).await
    }

    /// Answers once the writer thread has taken this request (after committing what was queued
    /// before it): a writer that is hung never answers. `Err(Closed)` when the writer is gone.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Ping(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
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
