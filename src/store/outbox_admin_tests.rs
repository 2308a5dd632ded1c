//! Operator actions on a real SQLite file, through the real writer: a dead letter retried goes
//! back to the queue, a delivered document replayed is sent again with the same id and bytes,
//! a pending one rejected becomes a dead letter with the operator's note — and every action
//! that does not apply is refused with the reason and changes nothing.
//!
//! `World` is the outbox fixture the other outbox tests share: documents are files in the
//! outbox directory recorded by `outbox::insert_document` (the assembler's own insert), and
//! their deliveries change state only through the store's writer, as the forwarder changes them.

use std::path::Path;

use chrono::Utc;
use rusqlite::Connection;

use super::super::batch_rows::tests::open_store;
use super::super::outbox::{OutboxFiles, insert_document};
use super::super::outbox_queue::{AttemptOutcome, DeliveryWrite};
use super::super::{ReadOnlyStore, Store, StoreError, StoreThread, writer};
use super::{ChangedDelivery, OperatorAction, OperatorRequest};
use crate::model::NewDocument;

/// A store with an outbox to play with.
pub(in crate::store) struct World {
    pub dir: tempfile::TempDir,
    pub runtime: tokio::runtime::Runtime,
    pub store: Option<Store>,
    thread: Option<StoreThread>,
    /// A second writing connection, for recording documents (as the assembler's transaction
    /// does) and for moving times into the past.
    conn: Connection,
    next: usize,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (runtime, store, thread) = open_store(dir.path());
        let conn = writer::open_connection(&dir.path().join(super::super::DB_FILE))
            .expect("a second connection");
        World {
            dir,
            runtime,
            store: Some(store),
            thread: Some(thread),
            conn,
            next: 0,
        }
    }

    pub fn store(&self) -> &Store {
        self.store.as_ref().expect("open")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Records a document of `bytes` bytes for `upstream` in `group` (a batch's when `batch`
    /// is given), its file written first; returns its id.
    pub fn add(
        &mut self,
        upstream: &str,
        batch: Option<&str>,
        group: &str,
        bytes: usize,
    ) -> String {
        self.next += 1;
        let id = format!("doc-{:05}", self.next);
        OutboxFiles::open(self.path()).expect("the outbox directory");
        let file = format!("{id}.xml");
        let body: Vec<u8> = (0..bytes).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(
            self.path().join(super::super::OUTBOX_DIR).join(&file),
            &body,
        )
        .expect("the document's file");
        let doc = NewDocument {
            document_id: id.clone(),
            kind: "end_of_batch".into(),
            content_type: "application/xml".into(),
            upstream: upstream.into(),
            file,
            part: 1,
            parts: 1,
            format: "epcis-1.2".into(),
            bytes: bytes as u64,
        };
        let tx = self.conn.transaction().expect("a transaction");
        insert_document(
            &tx,
            &doc,
            batch,
            group,
            &super::super::ledger::ts(Utc::now()),
        )
        .expect("recorded");
        tx.commit().expect("committed");
        id
    }

    /// One attempt at `doc` for `upstream`, recorded as the forwarder records it.
    pub fn attempt(&self, doc: &str, upstream: &str, outcome: AttemptOutcome) {
        let write = |w| self.runtime.block_on(self.store().delivery(w));
        write(DeliveryWrite::InFlight {
            document_id: doc.into(),
            upstream: upstream.into(),
        })
        .expect("in flight");
        let n = write(DeliveryWrite::Attempt {
            document_id: doc.into(),
            upstream: upstream.into(),
            outcome,
        })
        .expect("recorded");
        assert_eq!(n, 1, "the attempt at {doc} was recorded");
    }

    pub fn deliver(&self, doc: &str, upstream: &str) {
        self.attempt(
            doc,
            upstream,
            AttemptOutcome::Delivered {
                status: Some(200),
                response: Some("accepted".into()),
            },
        );
    }

    pub fn refuse(&self, doc: &str, upstream: &str) {
        self.attempt(
            doc,
            upstream,
            AttemptOutcome::Rejected {
                status: Some(400),
                error: "HTTP 400".into(),
                response: Some("schema violation".into()),
            },
        );
    }

    /// Runs `sql` on the second connection (moving times into the past).
    pub fn sql(&self, sql: &str) {
        self.conn.execute_batch(sql).expect("the statement");
    }

    pub fn read(&self) -> ReadOnlyStore {
        ReadOnlyStore::open(self.path()).expect("read-only")
    }

    /// `doc`'s only delivery as an operator sees it.
    pub fn row(&self, doc: &str) -> super::super::OutboxRow {
        let shown = self.read().outbox_document(doc).expect("reads");
        let mut d = shown.expect("the document").deliveries;
        assert_eq!(d.len(), 1, "{d:?}");
        d.remove(0)
    }

    pub fn act(
        &self,
        action: OperatorAction,
        doc: &str,
        upstream: Option<&str>,
    ) -> Result<Vec<ChangedDelivery>, StoreError> {
        self.runtime
            .block_on(self.store().outbox_action(OperatorRequest {
                action,
                document_id: doc.into(),
                upstream: upstream.map(str::to_string),
                actor: "cli-tester".into(),
                reason: format!("testing {}", action.as_str()),
            }))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.store.take();
        if let Some(t) = self.thread.take() {
            t.join();
        }
    }
}

fn refused(r: Result<Vec<ChangedDelivery>, StoreError>) -> String {
    match r {
        Err(StoreError::Refused(msg)) => msg,
        other => panic!("a refusal, got {other:?}"),
    }
}

#[test]
fn retry_puts_a_dead_letter_back_in_the_queue_now() {
    let mut w = World::new();
    let doc = w.add("mah", Some("B1"), "batch:B1", 100);
    w.refuse(&doc, "mah");
    assert_eq!(w.row(&doc).state, "rejected");

    let changed = w.act(OperatorAction::Retry, &doc, None).expect("retried");
    assert_eq!(
        changed,
        [ChangedDelivery {
            document_id: doc.clone(),
            upstream: "mah".into(),
            from: "rejected".into(),
            to: "pending".into(),
        }]
    );
    let row = w.row(&doc);
    assert_eq!((row.state.as_str(), row.attempts), ("pending", 1));
    let note = row.operator_note.expect("a note");
    assert!(
        note.starts_with("retry by cli-tester at ") && note.ends_with(": testing retry"),
        "{note}"
    );
    // Due now: the forwarder's look at the queue finds it as its group's head.
    let heads = w
        .runtime
        .block_on(w.store().queue_reader().expect("a reader").heads(
            "mah",
            true,
            Default::default(),
        ))
        .expect("heads");
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].outgoing.document_id, doc);
    assert!(heads[0].next_attempt_ms <= Utc::now().timestamp_millis());
}

#[test]
fn replay_sends_a_delivered_document_again_with_its_id_and_bytes() {
    let mut w = World::new();
    let doc = w.add("mah", Some("B1"), "batch:B1", 300);
    w.deliver(&doc, "mah");
    let before = w.read().document_body(&doc).expect("reads");

    w.act(OperatorAction::Replay, &doc, Some("mah"))
        .expect("replayed");
    let row = w.row(&doc);
    assert_eq!(
        (row.state.as_str(), row.replays, row.bytes),
        ("pending", 1, 300)
    );
    assert!(
        row.delivered_at.is_some(),
        "the first delivery stays on record"
    );
    let heads = w
        .runtime
        .block_on(w.store().queue_reader().expect("a reader").heads(
            "mah",
            true,
            Default::default(),
        ))
        .expect("heads");
    let head = &heads[0].outgoing;
    assert_eq!(head.document_id, doc);
    let body = w.runtime.block_on(head.body.read_all()).expect("the body");
    assert_eq!(Some(body), before, "the very same bytes");

    // Delivered again, replayed again: the count goes on.
    w.deliver(&doc, "mah");
    w.act(OperatorAction::Replay, &doc, None).expect("replayed");
    assert_eq!(w.row(&doc).replays, 2);
}

#[test]
fn reject_makes_a_pending_document_a_dead_letter_with_the_operator_s_reason() {
    let mut w = World::new();
    let doc = w.add("mah", None, "shipment:DLV-1", 50);
    w.act(OperatorAction::Reject, &doc, Some("mah"))
        .expect("rejected");
    let row = w.row(&doc);
    assert_eq!((row.state.as_str(), row.attempts), ("rejected", 0));
    assert!(row.rejected_at.is_some());
    let note = row.operator_note.expect("a note");
    assert!(note.contains("reject by cli-tester"), "{note}");
    assert_eq!(row.last_error.as_deref(), Some(note.as_str()));
    assert_eq!(row.next_attempt_at, None);
    // The audit trail has who, what, old → new and why, from the same transaction.
    let audit = super::super::audit_tests::audit_rows(w.path());
    let rows: Vec<_> = audit
        .iter()
        .map(|a| {
            (
                a.actor.as_str(),
                a.action.as_str(),
                a.subject.clone(),
                a.old_value.as_deref(),
                a.new_value.as_deref(),
                a.reason.as_deref(),
                a.detail.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [(
            "cli-tester",
            "outbox_reject",
            format!("document:{doc}"),
            Some("pending"),
            Some("rejected"),
            Some("testing reject"),
            Some("upstream mah"),
        )]
    );
}

#[test]
fn actions_that_do_not_apply_are_refused_and_change_nothing() {
    let mut w = World::new();
    let unknown = refused(w.act(OperatorAction::Retry, "no-such-doc", None));
    assert!(unknown.contains("no document no-such-doc"), "{unknown}");

    let delivered = w.add("mah", Some("B1"), "batch:B1", 10);
    w.deliver(&delivered, "mah");
    let other = refused(w.act(OperatorAction::Retry, &delivered, Some("qa")));
    assert!(other.contains("for upstream 'qa'"), "{other}");
    let retry = refused(w.act(OperatorAction::Retry, &delivered, None));
    assert!(
        retry.contains("mah: delivered") && retry.contains("use replay"),
        "{retry}"
    );
    let reject = refused(w.act(OperatorAction::Reject, &delivered, None));
    assert!(reject.contains("reject applies to pending"), "{reject}");
    let row = w.row(&delivered);
    assert_eq!((row.state.as_str(), row.operator_note), ("delivered", None));

    let pending = w.add("mah", Some("B2"), "batch:B2", 10);
    let replay = refused(w.act(OperatorAction::Replay, &pending, None));
    assert!(replay.contains("mah: pending"), "{replay}");
    assert_eq!(w.row(&pending).replays, 0);

    // A document whose bytes retention removed cannot be sent again; its record stays.
    w.sql(&format!(
        "UPDATE documents SET pruned_at = '2020-01-01T00:00:00.000Z' WHERE document_id = '{delivered}'"
    ));
    let pruned = refused(w.act(OperatorAction::Replay, &delivered, None));
    assert!(
        pruned.contains("pruned at 2020-01-01") && pruned.contains("outbox_retention_days"),
        "{pruned}"
    );
    assert_eq!(w.row(&delivered).state, "delivered");
    let audit = super::super::audit_tests::audit_rows(w.path());
    assert!(
        audit.is_empty(),
        "a refused action writes no audit row: {audit:?}"
    );
}
