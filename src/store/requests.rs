//! The writer's requests: what callers may ask of the writer thread, and the `Store` methods
//! that ask.
//!
//! Every request reaches the writer as one `Command` on the bounded channel, carrying a
//! oneshot for its answer; the writer (`writer.rs`) answers a write only after the transaction
//! that applied it committed, so an `Ok` from a write always means durable. Callers either wait for the
//! answer in place (`call`), or queue the request and wait later (`submit_ingest`,
//! `submit_delivery`), which lets a source keep several messages in one group commit. A full
//! channel makes the caller wait: that is the store's backpressure. The assembly step is the
//! one request with work before it: its documents are built on a blocking thread from a read
//! snapshot, and only their recording goes to the writer.

use tokio::sync::oneshot;

use super::{
    Assembled, AuditEntry, BuildFn, ChangedDelivery, DeliveryWrite, IngestItem, IngestOutcome,
    Operator, OperatorRequest, PendingIngest, Reported, ShipmentAssembled, Store, StoreError,
    event_record, outbox, outbox_enqueue, outbox_prune, shipments,
};
use crate::model::NewDocument;

pub(super) enum Command {
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

impl Store {
    pub(super) async fn call<T>(
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
    pub(super) async fn record(
        &self,
        built: outbox::Built,
    ) -> Result<Option<Assembled>, StoreError> {
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
}
