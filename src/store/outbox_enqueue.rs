//! Ready-made documents recorded as the assembler records its own: for tools that bring a
//! backlog into the outbox (`linegate bench backlog`, the drain benchmark, the outage test).
//!
//! The assembly steps record a subject's documents in the transaction that marks the subject
//! assembled (`outbox::record_assembly`, `shipments::assembly`, `event_record`). A backlog has
//! no subject in the ledger: its documents were built elsewhere (still through the `Splitter`
//! and `OutboxFiles`, so each file is complete and durable before its row exists) and only
//! need their `documents` rows and pending deliveries, through the same `insert_document`, in
//! one writer transaction per call, in the order given.

use chrono::Utc;
use rusqlite::Connection;

use super::StoreError;
use super::ledger::ts;
use super::outbox::insert_document;
use crate::model::NewDocument;

/// Documents to record in one transaction, in sending order, in one ordering group.
pub(super) struct Enqueue {
    pub docs: Vec<NewDocument>,
    pub batch: Option<String>,
    pub order_key: String,
}

/// Inserts every document and its pending delivery; all or nothing.
pub(super) fn apply(conn: &mut Connection, e: &Enqueue) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = ts(Utc::now());
    for d in &e.docs {
        insert_document(&tx, d, e.batch.as_deref(), &e.order_key, &now)?;
    }
    tx.commit()?;
    Ok(())
}
