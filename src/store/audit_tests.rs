//! The audit trail on a real SQLite file through the real writer: rows written by line
//! messages, operators and `Store::audit` form one chain even when two stores (two processes'
//! writers) append to the same file; each kind of tampering is named at the right row; and a
//! serial state change's audit row commits or rolls back with the change itself.

use std::path::Path;

use chrono::{NaiveDate, Utc};
use rusqlite::{Connection, params};

use super::audit::{Record, row_hash};
use super::batch_rows::tests::{CASE_GTIN, Feed, UNIT_GTIN, open_store, sgtin};
use super::{
    AuditBreak, AuditEntry, AuditProblem, AuditQuery, AuditReport, AuditRow, DB_FILE, Decoded,
    GENESIS, IngestItem, IngestOutcome, Operator, ReadOnlyStore, Store, StoreError, StoreThread,
    writer,
};
use crate::model::{BatchOpen, LineEvent, LineMessage, UnitAction};

/// Every audit row, oldest first.
pub(in crate::store) fn audit_rows(dir: &Path) -> Vec<AuditRow> {
    let store = ReadOnlyStore::open(dir).expect("read-only");
    let mut rows = Vec::new();
    store
        .audit_rows(&AuditQuery::default(), |r| -> Result<(), StoreError> {
            rows.push(r);
            Ok(())
        })
        .expect("rows");
    rows
}

fn verify(dir: &Path) -> AuditReport {
    ReadOnlyStore::open(dir)
        .expect("read-only")
        .audit_verify(&mut |_| {})
        .expect("verifies")
}

fn entry(actor: &str, n: usize) -> AuditEntry {
    AuditEntry {
        actor: actor.into(),
        action: "config_load".into(),
        subject: "/etc/linegate/linegate.toml".into(),
        old_value: None,
        new_value: Some(format!("hash-{n}")),
        reason: None,
        detail: Some(format!("entry {n}")),
    }
}

fn close(store: StoreThread, handle: Store) {
    drop(handle);
    store.join();
}

/// A trail of `n` rows written by `Store::audit`, then a raw connection without the triggers.
fn tamperable(n: usize) -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runtime, store, thread) = open_store(dir.path());
    for i in 1..=n {
        runtime
            .block_on(store.audit(entry("daemon", i)))
            .expect("appended");
    }
    close(thread, store);
    let conn = writer::open_connection(&dir.path().join(DB_FILE)).expect("a connection");
    let refused = conn
        .execute("UPDATE audit SET reason = 'x' WHERE seq = 1", [])
        .expect_err("the trigger refuses an update");
    assert!(refused.to_string().contains("append-only"), "{refused}");
    conn.execute("DELETE FROM audit WHERE seq = 1", [])
        .expect_err("the trigger refuses a delete");
    conn.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .expect("an attacker drops the triggers");
    (dir, conn)
}

fn broken(dir: &Path) -> AuditBreak {
    let report = verify(dir);
    assert!(!report.guarded, "the dropped triggers are noticed");
    report.broken.expect("the tampering is found")
}

#[test]
fn two_stores_appending_to_one_file_make_one_chain() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runtime, a, a_thread) = open_store(dir.path());
    let mut feed = Feed::new();
    feed.open("B1", UNIT_GTIN, CASE_GTIN);
    feed.commission("B1", &[sgtin(UNIT_GTIN, "U1"), sgtin(UNIT_GTIN, "U2")]);
    feed.run(&runtime, &a);
    runtime.block_on(a.audit(entry("daemon", 1))).expect("a");
    // A second writer on the same file, as `linegate batch close` is beside the daemon.
    let (b, b_thread) = Store::open(dir.path(), Default::default()).expect("a second store");
    for i in 2..8 {
        let store = if i % 2 == 0 { &b } else { &a };
        runtime
            .block_on(store.audit(entry(if i % 2 == 0 { "b" } else { "a" }, i)))
            .expect("appended");
    }
    close(a_thread, a);
    runtime.block_on(b.audit(entry("b", 8))).expect("b alone");
    close(b_thread, b);

    let rows = audit_rows(dir.path());
    // Two units commissioned by one message (one row), then eight entries alternating between
    // the writers.
    assert_eq!(rows.len(), 9, "{rows:#?}");
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
    assert_eq!(rows[0].prev_hash, GENESIS);
    for pair in rows.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "row {}", pair[1].seq);
    }
    let report = verify(dir.path());
    assert_eq!(report.broken, None);
    assert_eq!((report.rows, report.guarded), (9, true));
    let head = report.head.expect("a head");
    assert_eq!((head.seq, head.hash.as_str()), (9, rows[8].hash.as_str()));
}

#[test]
fn an_empty_trail_verifies_with_no_head() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_runtime, store, thread) = open_store(dir.path());
    close(thread, store);
    let report = verify(dir.path());
    assert_eq!((report.rows, report.head, report.broken), (0, None, None));
}

#[test]
fn a_changed_field_is_named_at_its_row() {
    let (dir, conn) = tamperable(10);
    conn.execute("UPDATE audit SET new_value = 'forged' WHERE seq = 4", [])
        .expect("edit");
    let b = broken(dir.path());
    assert_eq!((b.seq, &b.problem), (4, &AuditProblem::Changed));
    assert!(b.to_string().contains("row 4 was changed"), "{b}");
}

#[test]
fn null_and_empty_text_hash_differently() {
    let (dir, conn) = tamperable(5);
    conn.execute("UPDATE audit SET reason = '' WHERE seq = 3", [])
        .expect("edit");
    assert_eq!(
        broken(dir.path()),
        AuditBreak {
            seq: 3,
            problem: AuditProblem::Changed
        }
    );
}

#[test]
fn a_deleted_middle_row_is_named_as_missing() {
    let (dir, conn) = tamperable(10);
    conn.execute("DELETE FROM audit WHERE seq = 5", [])
        .expect("delete");
    let b = broken(dir.path());
    assert_eq!(
        (b.seq, &b.problem),
        (6, &AuditProblem::Missing { first: 5, last: 5 })
    );
    assert!(b.to_string().contains("row 5 was removed"), "{b}");
    let report = verify(dir.path());
    assert_eq!(
        report.head.map(|h| h.seq),
        Some(4),
        "rows before it check out"
    );
}

/// An inserted row with a well-formed hash but not linked to its predecessor.
fn insert_forged(conn: &Connection, seq: i64, prev: &str) {
    let at = "2026-03-04T10:00:00.000Z";
    let r = Record {
        actor: "cli-mallory",
        action: "batch_release",
        subject: "batch:B1",
        old_value: Some("closed"),
        new_value: Some("released"),
        reason: Some("looks fine"),
        detail: None,
    };
    let hash = row_hash(seq, at, prev, &r);
    conn.execute(
        "INSERT INTO audit (seq, at, actor, action, subject, old_value, new_value, reason,
                            detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?10)",
        params![
            seq,
            at,
            r.actor,
            r.action,
            r.subject,
            r.old_value,
            r.new_value,
            r.reason,
            prev,
            hash
        ],
    )
    .expect("insert");
}

#[test]
fn an_inserted_row_is_named() {
    let (dir, conn) = tamperable(10);
    let hash_of_9: String = conn
        .query_row("SELECT hash FROM audit WHERE seq = 9", [], |r| r.get(0))
        .expect("row 9");
    insert_forged(&conn, 11, &hash_of_9);
    let b = broken(dir.path());
    assert_eq!(
        (b.seq, &b.problem),
        (11, &AuditProblem::NotLinked { previous: Some(10) })
    );

    // Before the first row: a well-formed chain start, but not where linegate starts.
    let (dir, conn) = tamperable(3);
    insert_forged(&conn, 0, GENESIS);
    assert_eq!(
        broken(dir.path()),
        AuditBreak {
            seq: 0,
            problem: AuditProblem::BeforeStart
        }
    );
}

#[test]
fn swapped_rows_are_named_at_the_first_of_them() {
    let (dir, conn) = tamperable(10);
    conn.execute_batch(
        "CREATE TEMP TABLE six AS SELECT * FROM audit WHERE seq = 6;
         UPDATE audit SET (at, actor, action, subject, old_value, new_value, reason, detail,
                           prev_hash, hash) =
             (SELECT at, actor, action, subject, old_value, new_value, reason, detail,
                     prev_hash, hash FROM audit WHERE seq = 7) WHERE seq = 6;
         UPDATE audit SET (at, actor, action, subject, old_value, new_value, reason, detail,
                           prev_hash, hash) =
             (SELECT at, actor, action, subject, old_value, new_value, reason, detail,
                     prev_hash, hash FROM six) WHERE seq = 7;",
    )
    .expect("swap");
    assert_eq!(
        broken(dir.path()),
        AuditBreak {
            seq: 6,
            problem: AuditProblem::Changed
        }
    );
}

fn operator_item(line: &str, id: &str, event: LineEvent) -> IngestItem {
    let now = Utc::now();
    IngestItem {
        topic: "cli".into(),
        line: Some(line.into()),
        received_at: now,
        payload: Vec::new(),
        decoded: Decoded::Accepted(LineMessage {
            line: line.into(),
            message_id: id.into(),
            time: now,
            event,
        }),
    }
}

#[test]
fn serial_state_changes_and_operator_actions_are_audited_in_their_transaction() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runtime, store, thread) = open_store(dir.path());
    let mut feed = Feed::new();
    let units: Vec<String> = (1..=3)
        .map(|i| sgtin(UNIT_GTIN, &format!("U{i}")))
        .collect();
    let case = sgtin(CASE_GTIN, "C1");
    feed.open("B1", UNIT_GTIN, CASE_GTIN);
    feed.commission("B1", &units);
    feed.commission("B1", std::slice::from_ref(&case));
    // Packing changes parents only: no audit row.
    feed.aggregate(&case, &units[..2]);
    feed.units(UnitAction::Destroy, &units[2..], Some("dropped"));
    feed.run(&runtime, &store);

    let rows = audit_rows(dir.path());
    let keys: Vec<String> = units.iter().map(|u| feed.code(u).key).collect();
    let summary: Vec<(&str, &str, Option<&str>, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r.action.as_str(),
                r.subject.as_str(),
                r.old_value.as_deref(),
                r.new_value.as_deref(),
            )
        })
        .collect();
    let case_key = feed.code(&case).key;
    // One row per distinct change a message makes, naming every identifier that made it.
    let three = keys.join(" ");
    let expected = vec![
        ("serial_state", three.as_str(), None, Some("commissioned")),
        (
            "serial_state",
            case_key.as_str(),
            None,
            Some("commissioned"),
        ),
        (
            "serial_state",
            keys[2].as_str(),
            Some("commissioned"),
            Some("destroyed"),
        ),
    ];
    assert_eq!(summary, expected);
    assert_eq!(rows[0].actor, "mqtt:t/lines/L1/events");
    assert_eq!(
        rows[0].detail.as_deref(),
        Some("line L1, message m1, 3 identifiers")
    );
    assert_eq!(rows[1].detail.as_deref(), Some("line L1, message m2"));

    // An operator's close: the batch's state before and after, who and why.
    let operator = Operator {
        actor: "cli-anna".into(),
        reason: "end of shift".into(),
    };
    let item = operator_item(
        "L1",
        "cli-anna-00000000-0000-0000-0000-000000000000",
        LineEvent::BatchClose { batch: "B1".into() },
    );
    let outcome = runtime
        .block_on(store.ingest_by(item, operator.clone()))
        .expect("committed");
    assert_eq!(outcome, IngestOutcome::Applied);
    // Closing an unknown batch is refused, and the attempt is on record too.
    let item = operator_item(
        "L1",
        "cli-anna-x",
        LineEvent::BatchClose { batch: "B9".into() },
    );
    let refused = runtime
        .block_on(store.ingest_by(item, operator))
        .expect("committed");
    assert!(matches!(refused, IngestOutcome::Rejected(_)), "{refused:?}");

    let rows = audit_rows(dir.path());
    let closed = &rows[3];
    assert_eq!(
        (
            closed.actor.as_str(),
            closed.action.as_str(),
            closed.subject.as_str(),
            closed.old_value.as_deref(),
            closed.new_value.as_deref(),
            closed.reason.as_deref(),
        ),
        (
            "cli-anna",
            "batch_close",
            "batch:B1",
            Some("running"),
            Some("closed"),
            Some("end of shift")
        )
    );
    let attempt = &rows[4];
    assert_eq!(
        (attempt.subject.as_str(), attempt.new_value.as_deref()),
        ("batch:B9", None)
    );
    assert!(
        attempt
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("refused (")),
        "{attempt:?}"
    );
    assert_eq!(rows.len(), 5);

    // A group that fails after its first serial was written leaves neither change nor row.
    let conn = writer::open_connection(&dir.path().join(DB_FILE)).expect("a connection");
    conn.execute_batch(
        "CREATE TRIGGER fail_late BEFORE INSERT ON serial_history
         WHEN (SELECT count(*) FROM serials) > 4
         BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;",
    )
    .expect("a trigger that fails the next commission");
    let open = operator_item(
        "L1",
        "m-open-b2",
        LineEvent::BatchOpen(BatchOpen {
            batch: "B2".into(),
            gtin: UNIT_GTIN.into(),
            pack_gtins: vec![CASE_GTIN.into()],
            lot: "LOT2".into(),
            expiry: NaiveDate::from_ymd_opt(2027, 6, 30).expect("a date"),
            work_order: None,
            planned_quantity: None,
        }),
    );
    let opened = runtime.block_on(store.ingest(open)).expect("committed");
    assert_eq!(opened, IngestOutcome::Applied);
    let codes = vec![feed.code(&sgtin(UNIT_GTIN, "V1"))];
    let mut item = operator_item(
        "L1",
        "m-fails",
        LineEvent::Commission {
            batch: "B2".into(),
            codes,
        },
    );
    item.topic = "scanner/st1".into();
    let failed = runtime.block_on(store.ingest(item));
    assert!(
        matches!(failed, Err(StoreError::NotCommitted(_))),
        "{failed:?}"
    );
    let after = audit_rows(dir.path());
    assert_eq!(
        after.len(),
        5,
        "nothing of the failed group is in the trail"
    );
    let serials: i64 = conn
        .query_row("SELECT count(*) FROM serials", [], |r| r.get(0))
        .expect("count");
    assert_eq!(serials, 4);
    close(thread, store);
    assert_eq!(verify(dir.path()).broken, None);
}

#[test]
fn the_actor_of_a_message_is_where_it_came_from() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runtime, store, thread) = open_store(dir.path());
    let mut feed = Feed::new();
    feed.open("B1", UNIT_GTIN, CASE_GTIN);
    feed.run(&runtime, &store);
    let cases = [
        ("scanner/st1", "s-1", "scanner:st1"),
        ("api/lines/L1/messages", "a-1", "api"),
        (
            "cli",
            "cli-bob-0b5e0a55-7a55-4b8e-9f1e-2b1f3c4d5e6f",
            "cli-bob",
        ),
    ];
    for (n, (topic, id, _)) in cases.iter().enumerate() {
        let code = feed.code(&sgtin(UNIT_GTIN, &format!("A{n}")));
        let mut item = operator_item(
            "L1",
            id,
            LineEvent::Commission {
                batch: "B1".into(),
                codes: vec![code],
            },
        );
        item.topic = (*topic).into();
        let outcome = runtime.block_on(store.ingest(item)).expect("committed");
        assert_eq!(outcome, IngestOutcome::Applied);
    }
    close(thread, store);
    let actors: Vec<String> = audit_rows(dir.path())
        .into_iter()
        .map(|r| r.actor)
        .collect();
    let expected: Vec<&str> = cases.iter().map(|c| c.2).collect();
    assert_eq!(actors, expected);
}

#[test]
fn removed_first_rows_are_named() {
    let (dir, conn) = tamperable(4);
    conn.execute("DELETE FROM audit WHERE seq <= 2", [])
        .expect("delete");
    let b = broken(dir.path());
    assert_eq!(
        (b.seq, &b.problem),
        (3, &AuditProblem::Missing { first: 1, last: 2 })
    );
    assert!(b.to_string().contains("first rows (1 to 2)"), "{b}");
}
