//! Assembling shipment messages, the store's two steps — as for the End of Batch (`outbox`).
//!
//! `build_next` (a blocking thread, its own read-only connection, never the writer) takes the
//! oldest shipment, void or receipt whose document is due (`next_due`: in `serial_events`
//! order, a void only after its shipment's document) and lets the assembler's build function
//! stream its documents from one read snapshot (`SqliteShipmentRows`, or the receipt) into
//! outbox files. `record` (the writer) then checks in one transaction that the message still
//! waits, inserts the documents and their deliveries and marks it assembled — or failed, when
//! the data cannot make the document; a build that failed reading or writing is retried. A
//! build that is not recorded takes its files back.

use std::path::{Path, PathBuf};

use chrono::Utc;
use rusqlite::Connection;

use super::rows::{SqliteShipmentRows, receipt};
use super::{Due, mark, next_due};
use crate::assemble::partner::MessageKind;
use crate::assemble::rows::AssembleError;
use crate::assemble::shipment::{ReceiptInfo, ShipmentRows};
use crate::model::NewDocument;
use crate::store::ledger::ts;
use crate::store::outbox::{OutboxFiles, insert_document, remove_files};
use crate::store::{Command, ReadOnlyStore, Store, StoreError, Wakeups};

/// What a shipment message's documents are built from.
pub enum ShipmentJob<'a> {
    Shipment(&'a mut dyn ShipmentRows),
    /// The void of the shipment these rows read.
    Void(&'a mut dyn ShipmentRows),
    Receipt(&'a ReceiptInfo),
}

impl ShipmentJob<'_> {
    pub fn kind(&self) -> MessageKind {
        match self {
            ShipmentJob::Shipment(_) => MessageKind::Shipment,
            ShipmentJob::Void(_) => MessageKind::VoidShipment,
            ShipmentJob::Receipt(_) => MessageKind::Receive,
        }
    }
}

/// Builds the documents of one shipment message into outbox files, in sending order; runs on a
/// blocking thread. `Read` and `Io` errors are retried, any other parks the message as failed.
pub type ShipmentBuildFn = Box<
    dyn FnOnce(ShipmentJob<'_>, &mut OutboxFiles) -> Result<Vec<NewDocument>, AssembleError> + Send,
>;

/// What one step came to.
#[derive(Debug, Clone, PartialEq)]
pub enum ShipmentAssembled {
    /// Recorded (no ids when no partner takes this message).
    Documents {
        kind: MessageKind,
        /// The despatch or receiving advice number.
        document: String,
        document_ids: Vec<String>,
    },
    /// Parked as failed: the data cannot make the document.
    Failed {
        kind: MessageKind,
        document: String,
        reason: String,
    },
}

/// A build, ready to be recorded by the writer.
pub(in crate::store) struct Built {
    due: Due,
    kind: MessageKind,
    document: String,
    result: Result<Vec<NewDocument>, String>,
    files: Vec<PathBuf>,
}

impl Store {
    /// Assembles the oldest shipment, void or receipt whose documents are due, if any: read
    /// and built outside the writer, recorded by it.
    pub async fn assemble_next_shipment(
        &self,
        build: ShipmentBuildFn,
    ) -> Result<Option<ShipmentAssembled>, StoreError> {
        let dir = self.data_dir.clone();
        let built = tokio::task::spawn_blocking(move || build_next(&dir, build))
            .await
            .map_err(|e| StoreError::NotCommitted(format!("the shipment build stopped: {e}")))??;
        let Some(built) = built else {
            return Ok(None);
        };
        let files = built.files.clone();
        let recorded = self
            .call(|tx| Command::Shipments(Box::new(built), tx))
            .await;
        match &recorded {
            Ok(Some(ShipmentAssembled::Documents { .. })) | Err(StoreError::Closed) => {}
            _ => {
                let _ = tokio::task::spawn_blocking(move || remove_files(&files)).await;
            }
        }
        recorded
    }
}

fn build_next(data_dir: &Path, build: ShipmentBuildFn) -> Result<Option<Built>, StoreError> {
    let mut store = ReadOnlyStore::open(data_dir)?;
    let tx = store.conn.transaction()?;
    let Some((due, _)) = next_due(&tx)? else {
        return Ok(None);
    };
    let mut files = OutboxFiles::open(data_dir).map_err(|source| StoreError::File {
        path: data_dir.join(crate::store::OUTBOX_DIR),
        source,
    })?;
    let gone = || StoreError::Corrupt(format!("{due:?} is due but not recorded"));
    let read = |e: AssembleError| StoreError::Assembly(e.to_string());
    let (kind, document, result) = match due {
        Due::Shipment(id) | Due::Void(id) => {
            let mut rows = SqliteShipmentRows::open(&tx, id)
                .map_err(read)?
                .ok_or_else(gone)?;
            let document = rows.info().shipment.clone();
            let job = match due {
                Due::Void(_) => ShipmentJob::Void(&mut rows),
                _ => ShipmentJob::Shipment(&mut rows),
            };
            (job.kind(), document, build(job, &mut files))
        }
        Due::Receipt(event) => {
            let r = receipt(&tx, event).map_err(read)?.ok_or_else(gone)?;
            let job = ShipmentJob::Receipt(&r);
            (job.kind(), r.document.clone(), build(job, &mut files))
        }
    };
    let written = files.written().to_vec();
    let result = match result {
        Ok(docs) => Ok(docs),
        Err(e) => {
            remove_files(&written);
            if let AssembleError::Read(_) | AssembleError::Io(_) = e {
                return Err(StoreError::Assembly(format!(
                    "{} {document}: {e}",
                    kind.as_str()
                )));
            }
            Err(e.to_string())
        }
    };
    Ok(Some(Built {
        due,
        kind,
        document,
        files: if result.is_ok() { written } else { Vec::new() },
        result,
    }))
}

/// Records a build in one transaction (the writer's); None when the message no longer waits.
pub(in crate::store) fn record(
    conn: &mut Connection,
    built: Built,
    wakeups: &Wakeups,
) -> Result<Option<ShipmentAssembled>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let Built {
        due,
        kind,
        document,
        result,
        files: _,
    } = built;
    let outcome = match result {
        Ok(docs) => {
            if !mark(&tx, due, Ok(()))? {
                tracing::warn!(
                    ?due,
                    "no longer waits for documents; this build is discarded"
                );
                return Ok(None);
            }
            let now = ts(Utc::now());
            let mut ids = Vec::with_capacity(docs.len());
            let order_key = match due {
                Due::Shipment(id) | Due::Void(id) => format!("shipment:{id}"),
                Due::Receipt(seq) => format!("receipt:{seq}"),
            };
            for d in docs {
                insert_document(&tx, &d, None, &order_key, &now)?;
                ids.push(d.document_id);
            }
            ShipmentAssembled::Documents {
                kind,
                document,
                document_ids: ids,
            }
        }
        Err(reason) => {
            if !mark(&tx, due, Err(&reason))? {
                return Ok(None);
            }
            ShipmentAssembled::Failed {
                kind,
                document,
                reason,
            }
        }
    };
    tx.commit()?;
    if matches!(&outcome, ShipmentAssembled::Documents { document_ids, .. } if !document_ids.is_empty())
    {
        wakeups.outbox_changed.notify_waiters();
    }
    Ok(Some(outcome))
}

#[cfg(test)]
#[path = "assembly_tests.rs"]
mod tests;
