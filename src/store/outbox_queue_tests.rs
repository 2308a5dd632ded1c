//! The outbox queue on a real SQLite file: which document each ordering group sends next, how
//! a dead letter holds back its group (and only it), and each state change's guard.

use std::collections::HashMap;
use std::time::Duration;

use rusqlite::Connection;

use super::super::outbox::{OutboxFiles, insert_document};
use super::super::writer::open_connection;
use super::{AttemptOutcome, DeliveryWrite, apply, group_heads};
use crate::model::NewDocument;

struct Queue {
    dir: tempfile::TempDir,
    conn: Connection,
}

impl Queue {
    fn new() -> Queue {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open_connection(&dir.path().join("q.db")).expect("open");
        Queue { dir, conn }
    }

    /// Records document `id` of `group` for upstream "up", with a file of its own.
    fn add(&mut self, id: &str, group: &str) {
        OutboxFiles::open(self.dir.path()).expect("outbox dir");
        let file = format!("{id}.xml");
        let path = self.dir.path().join("outbox").join(&file);
        std::fs::write(&path, format!("<doc id='{id}'/>")).expect("file");
        let d = NewDocument {
            document_id: id.into(),
            kind: "commission".into(),
            content_type: "application/xml".into(),
            upstream: "up".into(),
            file,
            part: 1,
            parts: 1,
            format: "epcis-1.2".into(),
            bytes: 16,
        };
        let tx = self.conn.transaction().expect("tx");
        insert_document(&tx, &d, None, group, "2026-11-22T00:00:00Z").expect("insert");
        tx.commit().expect("commit");
    }

    /// (group, document, state) of every head, in group order.
    fn heads(&self, block: bool, after: &[(&str, i64)]) -> Vec<(String, String, String)> {
        let after: HashMap<String, i64> = after.iter().map(|(g, s)| (g.to_string(), *s)).collect();
        group_heads(&self.conn, self.dir.path(), "up", block, &after)
            .expect("heads")
            .into_iter()
            .map(|h| (h.order_key, h.outgoing.document_id, h.state))
            .collect()
    }

    fn write(&mut self, w: DeliveryWrite) -> usize {
        let tx = self.conn.transaction().expect("tx");
        let n = apply(&tx, &w).expect("apply");
        tx.commit().expect("commit");
        n
    }

    fn attempt(&mut self, id: &str, outcome: AttemptOutcome) -> usize {
        self.write(DeliveryWrite::Attempt {
            document_id: id.into(),
            upstream: "up".into(),
            outcome,
        })
    }

    fn seq(&self, id: &str) -> i64 {
        self.conn
            .query_row(
                "SELECT seq FROM deliveries WHERE document_id = ?1",
                [id],
                |r| r.get(0),
            )
            .expect("seq")
    }

    fn state(&self, id: &str) -> (String, i64) {
        self.conn
            .query_row(
                "SELECT state, attempts FROM deliveries WHERE document_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("state")
    }
}

fn h(g: &str, d: &str, s: &str) -> (String, String, String) {
    (g.into(), d.into(), s.into())
}

fn delivered() -> AttemptOutcome {
    AttemptOutcome::Delivered {
        status: Some(200),
        response: Some("ok".into()),
    }
}

fn refused() -> AttemptOutcome {
    AttemptOutcome::Rejected {
        status: Some(400),
        error: "HTTP 400".into(),
        response: Some("bad document".into()),
    }
}

#[test]
fn each_group_offers_its_oldest_undelivered_document() {
    let mut q = Queue::new();
    for (id, g) in [
        ("a1", "batch:A"),
        ("b1", "batch:B"),
        ("a2", "batch:A"),
        ("b2", "batch:B"),
    ] {
        q.add(id, g);
    }
    assert_eq!(
        q.heads(true, &[]),
        [h("batch:A", "a1", "pending"), h("batch:B", "b1", "pending")]
    );
    // Delivered in memory but not committed yet: the group goes on after it.
    let a1 = q.seq("a1");
    assert_eq!(
        q.heads(true, &[("batch:A", a1)]),
        [h("batch:A", "a2", "pending"), h("batch:B", "b1", "pending")]
    );
    assert_eq!(q.attempt("a1", delivered()), 1);
    assert_eq!(q.attempt("a2", delivered()), 1);
    assert_eq!(q.heads(true, &[]), [h("batch:B", "b1", "pending")]);
    assert_eq!(q.state("a2"), ("delivered".into(), 1));
}

#[test]
fn a_dead_letter_holds_back_its_own_group_only_when_asked() {
    let mut q = Queue::new();
    for (id, g) in [("a1", "batch:A"), ("a2", "batch:A"), ("b1", "batch:B")] {
        q.add(id, g);
    }
    assert_eq!(q.attempt("a1", refused()), 1);
    assert_eq!(
        q.heads(true, &[]),
        [
            h("batch:A", "a1", "rejected"),
            h("batch:B", "b1", "pending")
        ]
    );
    assert_eq!(
        q.heads(false, &[]),
        [h("batch:A", "a2", "pending"), h("batch:B", "b1", "pending")]
    );
    let (response, rejected_at): (Option<String>, Option<String>) = q
        .conn
        .query_row(
            "SELECT response, rejected_at FROM deliveries WHERE document_id = 'a1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!(response.as_deref(), Some("bad document"));
    assert!(rejected_at.is_some());
}

#[test]
fn state_changes_apply_only_from_the_states_they_expect() {
    let mut q = Queue::new();
    q.add("d1", "events");
    let in_flight = || DeliveryWrite::InFlight {
        document_id: "d1".into(),
        upstream: "up".into(),
    };
    assert_eq!(q.write(in_flight()), 1);
    assert_eq!(q.state("d1"), ("in_flight".into(), 0));
    // A restart puts what was in flight back to pending, to be sent again.
    let reset = DeliveryWrite::ResetInFlight {
        upstream: "up".into(),
    };
    assert_eq!(q.write(reset), 1);
    assert_eq!(q.state("d1"), ("pending".into(), 0));
    let retry = AttemptOutcome::Retry {
        status: Some(503),
        error: "HTTP 503".into(),
        response: None,
        after: Duration::from_secs(60),
    };
    assert_eq!(q.attempt("d1", retry), 1);
    let (state, attempts) = q.state("d1");
    assert_eq!((state.as_str(), attempts), ("pending", 1));
    let next: i64 = q
        .conn
        .query_row("SELECT next_attempt_ms FROM deliveries", [], |r| r.get(0))
        .expect("next");
    assert!(next > chrono::Utc::now().timestamp_millis() + 30_000);
    assert_eq!(q.attempt("d1", delivered()), 1);
    // Delivered is final for the forwarder: a late outcome changes nothing.
    assert_eq!(q.attempt("d1", refused()), 0);
    assert_eq!(q.write(in_flight()), 0);
    assert_eq!(q.state("d1"), ("delivered".into(), 2));
}

#[test]
fn a_document_whose_file_is_gone_is_offered_as_missing() {
    let mut q = Queue::new();
    q.add("gone", "events");
    std::fs::remove_file(q.dir.path().join("outbox/gone.xml")).expect("remove");
    let heads = group_heads(&q.conn, q.dir.path(), "up", true, &HashMap::new()).expect("heads");
    assert_eq!(heads.len(), 1);
    let why = heads[0].missing.as_deref().expect("missing");
    assert!(why.contains("gone.xml"), "{why}");
}

#[test]
fn a_dead_letter_given_up_by_an_operator_no_longer_holds_back_its_group() {
    use super::super::outbox_admin::{OperatorAction, OperatorRequest, apply as act};
    let mut q = Queue::new();
    for (id, g) in [("a1", "batch:A"), ("a2", "batch:A")] {
        q.add(id, g);
    }
    assert_eq!(q.attempt("a1", refused()), 1);
    assert_eq!(q.heads(true, &[]), [h("batch:A", "a1", "rejected")]);
    let give_up = OperatorRequest {
        action: OperatorAction::Reject,
        document_id: "a1".into(),
        upstream: None,
        actor: "cli-tester".into(),
        reason: "the partner will never take it".into(),
    };
    let changed = act(&mut q.conn, &give_up).expect("rejected for good");
    assert_eq!(
        (changed[0].from.as_str(), changed[0].to.as_str()),
        ("rejected", "rejected")
    );
    assert_eq!(q.heads(true, &[]), [h("batch:A", "a2", "pending")]);
    // The upstream's own error stays; the operator's decision is the note.
    let (error, note): (String, String) = q
        .conn
        .query_row(
            "SELECT last_error, operator_note FROM deliveries WHERE document_id = 'a1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!(error, "HTTP 400");
    assert!(note.contains("reject by cli-tester"), "{note}");
}
