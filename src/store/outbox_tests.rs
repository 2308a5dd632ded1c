//! The assembly steps on a real SQLite file: a build made outside the writer is recorded once,
//! and a second build of the same batch (one that lost a race) writes nothing.

use chrono::{NaiveDate, TimeZone, Utc};

use super::outbox::{build_next, record_assembly};
use super::{Assembled, BuildFn, Decoded, IngestItem, IngestOutcome, ReadOnlyStore, Store};
use crate::gs1::EpcUri;
use crate::model::{BatchOpen, CodeRecord, LineEvent, LineMessage, NewDocument};
use crate::rules::RulesPolicy;

fn item(n: u32, event: LineEvent) -> IngestItem {
    let time = Utc
        .with_ymd_and_hms(2026, 3, 4, 10, 0, n)
        .single()
        .expect("a time");
    IngestItem {
        topic: "t/lines/L1/events".into(),
        line: Some("L1".into()),
        received_at: time,
        payload: Vec::new(),
        decoded: Decoded::Accepted(LineMessage {
            line: "L1".into(),
            message_id: format!("m{n}"),
            time,
            event,
        }),
    }
}

fn unit(serial: &str) -> CodeRecord {
    CodeRecord {
        key: format!("(01)00361414567894(21){serial}"),
        epc: EpcUri::parse(&format!("urn:epc:id:sgtin:0361414.056789.{serial}")).expect("epc"),
        gtin: Some("00361414567894".into()),
        lot: None,
        expiry: None,
    }
}

/// A build that names the batch and the number of EPCs it saw, so the test can check both.
fn build() -> BuildFn {
    Box::new(|snap| {
        Ok(vec![NewDocument {
            document_id: format!("doc-{}-{}", snap.batch, snap.commissioned.len()),
            kind: "end_of_batch".into(),
            content_type: "text/plain".into(),
            body: b"body".to_vec(),
            upstream: "mah".into(),
        }])
    })
}

#[test]
fn a_build_is_recorded_once_and_a_late_second_build_writes_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (store, thread) = Store::open(dir.path(), RulesPolicy::default()).expect("the store");
    let messages = vec![
        item(
            1,
            LineEvent::BatchOpen(BatchOpen {
                batch: "B1".into(),
                gtin: "00361414567894".into(),
                pack_gtins: vec![],
                lot: "LOT1".into(),
                expiry: NaiveDate::from_ymd_opt(2027, 6, 30).expect("a date"),
                work_order: None,
                planned_quantity: None,
            }),
        ),
        item(
            2,
            LineEvent::Commission {
                batch: "B1".into(),
                codes: vec![unit("A1"), unit("A2")],
            },
        ),
        item(3, LineEvent::BatchClose { batch: "B1".into() }),
    ];
    runtime.block_on(async {
        for m in messages {
            assert_eq!(
                store.ingest(m).await.expect("committed"),
                IngestOutcome::Applied
            );
        }
    });
    drop(store);
    thread.join();

    // Two builds of the same closed batch, as two assemblers racing would make them.
    let first = build_next(dir.path(), build())
        .expect("reads")
        .expect("a batch waits");
    let second = build_next(dir.path(), build())
        .expect("reads")
        .expect("still waits");
    let mut conn = super::writer::open_connection(&dir.path().join(super::DB_FILE)).expect("db");
    let recorded = record_assembly(&mut conn, first).expect("recorded");
    assert_eq!(
        recorded,
        Some(Assembled::Documents {
            batch: "B1".into(),
            document_ids: vec!["doc-B1-2".into()],
        })
    );
    assert_eq!(record_assembly(&mut conn, second).expect("no error"), None);
    assert!(build_next(dir.path(), build()).expect("reads").is_none());

    let outbox = ReadOnlyStore::open(dir.path())
        .expect("read-only")
        .outbox()
        .expect("outbox");
    assert_eq!(outbox.len(), 1, "one document, one delivery: {outbox:?}");
    assert_eq!(outbox[0].document_id, "doc-B1-2");
}
