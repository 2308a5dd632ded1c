//! The outbox's read views and its retention on a real SQLite file: pages list the dead letters
//! and the waiting first and stop at their limit, `show` gives one document with its file, the
//! backlog counts what each upstream still owes (through the index, never the delivered rows),
//! and retention prunes the bytes of documents delivered long enough ago — in bounded steps,
//! keeping every row, removing each file after the commit.

use super::outbox_admin::tests::World;
use super::outbox_backlog::STATE_TOTALS;
use super::outbox_queue::AttemptOutcome;
use super::{OUTBOX_DIR, OperatorAction, OutboxQuery, PruneCursor, StoreError};

fn query(
    state: Option<&str>,
    upstream: Option<&str>,
    batch: Option<&str>,
    limit: Option<usize>,
) -> OutboxQuery {
    OutboxQuery {
        state: state.map(str::to_string),
        upstream: upstream.map(str::to_string),
        batch: batch.map(str::to_string),
        limit,
    }
}

/// Documents in every state for two upstreams: `(delivered, rejected, pending, in_flight,
/// qa's pending)`.
fn mixed(w: &mut World) -> (Vec<String>, String, Vec<String>, String, String) {
    let delivered: Vec<String> = (0..3)
        .map(|i| w.add("mah", Some(&format!("D{i}")), &format!("batch:D{i}"), 10))
        .collect();
    for d in &delivered {
        w.deliver(d, "mah");
    }
    let rejected = w.add("mah", Some("R"), "batch:R", 20);
    w.refuse(&rejected, "mah");
    let pending: Vec<String> = (0..2)
        .map(|_| w.add("mah", Some("P"), "batch:P", 30))
        .collect();
    let in_flight = w.add("mah", None, "events", 40);
    w.runtime
        .block_on(w.store().delivery(super::DeliveryWrite::InFlight {
            document_id: in_flight.clone(),
            upstream: "mah".into(),
        }))
        .expect("in flight");
    let qa = w.add("qa", None, "shipment:S1", 1000);
    (delivered, rejected, pending, in_flight, qa)
}

fn ids(rows: &[super::OutboxRow]) -> Vec<&str> {
    rows.iter().map(|r| r.document_id.as_str()).collect()
}

#[test]
fn a_page_lists_dead_letters_then_in_flight_then_waiting_then_the_newest_delivered() {
    let mut w = World::new();
    let (delivered, rejected, pending, in_flight, qa) = mixed(&mut w);
    let read = w.read();
    let all = read
        .outbox_page(&query(None, None, None, None))
        .expect("a page");
    let mut expect = vec![rejected.as_str(), in_flight.as_str()];
    expect.extend(pending.iter().map(String::as_str));
    expect.push(qa.as_str());
    expect.extend(delivered.iter().rev().map(String::as_str));
    assert_eq!(ids(&all.rows), expect);
    assert!(!all.more);
    assert_eq!(read.outbox().expect("all rows").len(), expect.len());

    let first = read
        .outbox_page(&query(None, None, None, Some(3)))
        .expect("a page");
    assert_eq!(ids(&first.rows), expect[..3]);
    assert!(first.more);
    let exact = read
        .outbox_page(&query(None, None, None, Some(expect.len())))
        .expect("a page");
    assert!(!exact.more, "nothing beyond the last row");

    let waiting = read
        .outbox_page(&query(Some("pending"), None, None, None))
        .expect("a page");
    assert_eq!(
        ids(&waiting.rows),
        [pending[0].as_str(), pending[1].as_str(), qa.as_str()]
    );
    let row = &waiting.rows[0];
    assert_eq!(
        (row.group.as_str(), row.batch.as_deref(), row.bytes),
        ("batch:P", Some("P"), 30)
    );
    assert!(
        row.next_attempt_at.is_some(),
        "a pending row says when it is tried"
    );
    let qa_only = read
        .outbox_page(&query(None, Some("qa"), None, None))
        .expect("a page");
    assert_eq!(ids(&qa_only.rows), [qa.as_str()]);
    let batch = read
        .outbox_page(&query(None, None, Some("P"), Some(1)))
        .expect("a page");
    assert_eq!(
        (ids(&batch.rows), batch.more),
        (vec![pending[0].as_str()], true)
    );
    let old = read
        .outbox_page(&query(Some("delivered"), Some("mah"), Some("D0"), None))
        .expect("a page");
    assert_eq!(ids(&old.rows), [delivered[0].as_str()]);
    let dead = read
        .outbox_page(&query(Some("rejected"), None, None, None))
        .expect("a page");
    let r = &dead.rows[0];
    assert_eq!(
        (
            r.state.as_str(),
            r.last_status,
            r.response.as_deref(),
            r.next_attempt_at.as_deref()
        ),
        ("rejected", Some(400), Some("schema violation"), None)
    );
    match read.outbox_page(&query(Some("lost"), None, None, None)) {
        Err(StoreError::Refused(m)) => {
            assert!(m.contains("rejected, in_flight, pending, delivered"), "{m}")
        }
        other => panic!("a refusal, got {other:?}"),
    }
}

#[test]
fn show_gives_the_document_its_file_and_every_delivery() {
    let mut w = World::new();
    let doc = w.add("mah", Some("B1"), "batch:B1", 123);
    w.deliver(&doc, "mah");
    let shown = w
        .read()
        .outbox_document(&doc)
        .expect("reads")
        .expect("the document");
    let path = w.path().join(OUTBOX_DIR).join(format!("{doc}.xml"));
    assert_eq!(shown.path.as_deref(), Some(path.to_str().expect("UTF-8")));
    assert_eq!((shown.bytes, shown.file_bytes), (123, Some(123)));
    assert_eq!(
        (shown.batch.as_deref(), shown.kind.as_str()),
        (Some("B1"), "end_of_batch")
    );
    assert_eq!(shown.deliveries.len(), 1);
    let d = &shown.deliveries[0];
    assert_eq!(
        (d.state.as_str(), d.last_status, d.response.as_deref()),
        ("delivered", Some(200), Some("accepted"))
    );
    assert!(d.delivered_at.is_some() && d.first_attempt_at.is_some());

    std::fs::remove_file(&path).expect("removed");
    let gone = w
        .read()
        .outbox_document(&doc)
        .expect("reads")
        .expect("the document");
    assert_eq!((gone.bytes, gone.file_bytes), (123, None));
    assert_eq!(w.read().outbox_document("nope").expect("reads"), None);
}

#[test]
fn the_backlog_counts_what_each_upstream_still_owes() {
    let mut w = World::new();
    let (_, _, pending, _, _) = mixed(&mut w);
    // The first pending document failed twice; its age is counted from its record.
    for _ in 0..2 {
        w.attempt(
            &pending[0],
            "mah",
            AttemptOutcome::Retry {
                status: Some(503),
                error: "HTTP 503".into(),
                response: None,
                after: std::time::Duration::ZERO,
            },
        );
    }
    w.sql("UPDATE documents SET created_at = '2020-01-01T00:00:00.000Z' WHERE seq = (SELECT min(seq) FROM deliveries WHERE state IN ('pending', 'in_flight') AND upstream = 'mah')");
    let backlog = w.read().outbox_backlog().expect("the backlog");
    assert_eq!(backlog.len(), 2);
    let mah = &backlog[0];
    assert_eq!(mah.upstream, "mah");
    assert_eq!((mah.pending, mah.in_flight, mah.rejected), (2, 1, 1));
    assert_eq!(
        (
            mah.pending_bytes,
            mah.rejected_bytes,
            mah.undelivered_bytes()
        ),
        (100, 20, 120)
    );
    assert_eq!(mah.max_attempts, 2);
    // The oldest one waiting is the first recorded; its record time was moved back.
    assert_eq!(
        mah.oldest_pending_created_at.as_deref(),
        Some("2020-01-01T00:00:00.000Z")
    );
    assert!(
        mah.oldest_pending_age_secs
            .is_some_and(|a| a > 365 * 86_400)
    );
    let qa = &backlog[1];
    assert_eq!(
        (
            qa.upstream.as_str(),
            qa.pending,
            qa.pending_bytes,
            qa.rejected
        ),
        ("qa", 1, 1000, 0)
    );
    assert!(qa.oldest_pending_age_secs.is_some_and(|a| a < 3600));

    // Everything delivered: nothing owed, and no age.
    let mut calm = World::new();
    let d = calm.add("mah", None, "events", 5);
    calm.deliver(&d, "mah");
    let b = calm.read().outbox_backlog().expect("the backlog");
    assert_eq!(
        (
            b[0].pending,
            b[0].undelivered_bytes(),
            b[0].oldest_pending_age_secs
        ),
        (0, 0, None)
    );
}

#[test]
fn the_backlog_reads_index_ranges_not_the_delivered_rows() {
    let w = World::new();
    let read = w.read();
    let plan: Vec<String> = {
        let mut stmt = read
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {STATE_TOTALS}"))
            .expect("a plan");
        stmt.query_map(rusqlite::params!["mah", "pending"], |r| {
            r.get::<_, String>(3)
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows")
    };
    let text = plan.join(" | ");
    assert!(
        text.contains("INDEX deliveries_by_state (upstream=? AND state=?)"),
        "{text}"
    );
    assert!(
        text.contains("INTEGER PRIMARY KEY (rowid=?)"),
        "documents by rowid: {text}"
    );
    assert!(!text.contains("SCAN"), "{text}");
}

#[test]
fn retention_prunes_the_bytes_of_documents_delivered_long_ago_and_keeps_their_rows() {
    let mut w = World::new();
    let old = w.add("mah", Some("B1"), "batch:B1", 10);
    let recent = w.add("mah", Some("B2"), "batch:B2", 10);
    let waiting = w.add("mah", Some("B3"), "batch:B3", 10);
    let dead = w.add("mah", Some("B4"), "batch:B4", 10);
    w.deliver(&old, "mah");
    w.deliver(&recent, "mah");
    w.refuse(&dead, "mah");
    w.sql(&format!(
        "UPDATE deliveries SET delivered_at = '2020-01-01T00:00:00.000Z' WHERE document_id = '{old}';
         UPDATE deliveries SET rejected_at = '2020-01-01T00:00:00.000Z' WHERE document_id = '{dead}';
         UPDATE documents SET created_at = '2020-01-01T00:00:00.000Z'"
    ));
    let mut cursor = PruneCursor::default();
    let pruned = w
        .runtime
        .block_on(w.store().prune_delivered(30, &mut cursor))
        .expect("pruned");
    assert_eq!(
        (pruned.documents, pruned.files_removed, pruned.round_done),
        (1, 1, true)
    );
    let file = |d: &str| w.path().join(OUTBOX_DIR).join(format!("{d}.xml"));
    assert!(!file(&old).exists());
    for d in [&recent, &waiting, &dead] {
        assert!(file(d).exists(), "{d} is kept");
    }
    let row = w.row(&old);
    assert_eq!((row.state.as_str(), row.bytes), ("delivered", 10));
    assert!(row.pruned_at.is_some() && row.delivered_at.is_some());
    assert_eq!(w.row(&recent).pruned_at, None);
    match w.act(OperatorAction::Replay, &old, None) {
        Err(StoreError::Refused(m)) => assert!(m.contains("pruned"), "{m}"),
        other => panic!("a refusal, got {other:?}"),
    }
    // 0 days keeps everything; a second round finds nothing new.
    let none = w
        .runtime
        .block_on(w.store().prune_delivered(0, &mut cursor))
        .expect("runs");
    assert_eq!(none.documents, 0);
    let again = w
        .runtime
        .block_on(w.store().prune_delivered(30, &mut cursor))
        .expect("runs");
    assert_eq!((again.documents, again.files_removed), (0, 0));
    assert!(file(&recent).exists());
}

#[test]
fn retention_goes_in_bounded_steps_and_comes_back_for_what_was_not_due_yet() {
    let mut w = World::new();
    // A document still waiting comes first: it is passed over, not pruned, and holds the
    // start of the next round.
    let late = w.add("mah", Some("L"), "batch:L", 10);
    let docs: Vec<String> = (0..2300)
        .map(|i| {
            w.add(
                "mah",
                Some(&format!("B{}", i / 100)),
                &format!("batch:B{}", i / 100),
                10,
            )
        })
        .collect();
    for d in &docs {
        w.deliver(d, "mah");
    }
    w.sql("UPDATE deliveries SET delivered_at = '2020-01-01T00:00:00.000Z'");
    let mut cursor = PruneCursor::default();
    let mut steps = Vec::new();
    loop {
        let p = w
            .runtime
            .block_on(w.store().prune_delivered(1, &mut cursor))
            .expect("pruned");
        steps.push(p.documents);
        if p.round_done {
            break;
        }
    }
    assert_eq!(steps, [1000, 1000, 300]);
    let left = std::fs::read_dir(w.path().join(OUTBOX_DIR))
        .expect("the outbox")
        .count();
    assert_eq!(left, 1, "only the waiting document's file is left");

    // A crash between the commit and the removal leaves a pruned file: the next round removes
    // it. The late document, delivered long ago now, is pruned then too.
    std::fs::write(
        w.path().join(OUTBOX_DIR).join(format!("{}.xml", docs[5])),
        b"left",
    )
    .expect("a file");
    w.deliver(&late, "mah");
    w.sql(&format!("UPDATE deliveries SET delivered_at = '2020-01-01T00:00:00.000Z' WHERE document_id = '{late}'"));
    let p = w
        .runtime
        .block_on(w.store().prune_delivered(1, &mut cursor))
        .expect("pruned");
    assert_eq!((p.documents, p.files_removed), (1, 2));
    assert_eq!(
        std::fs::read_dir(w.path().join(OUTBOX_DIR))
            .expect("the outbox")
            .count(),
        0
    );
    let rows = w.read().outbox().expect("rows");
    assert_eq!(rows.len(), 2301, "every row stays");
    assert!(rows.iter().all(|r| r.pruned_at.is_some()));
}
