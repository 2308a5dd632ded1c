//! Shipments on a real SQLite file: shipping a pallet marks everything under it shipped and
//! records what left; the documents' rows read that hierarchy back; voids wait for their
//! shipment's document; receipts take the units back.

use chrono::{NaiveDate, TimeZone, Utc};

use super::rows::{SqliteShipmentRows, receipt};
use super::{Due, mark, next_due};
use crate::assemble::eob::{Context, Place};
use crate::assemble::partner::{Format, Partner, ShipmentVariant};
use crate::assemble::shipment::{receive, shipment, void_shipment};
use crate::assemble::split::MemorySink;
use crate::assemble::testkit::assert_valid;
use crate::gs1::{CompanyPrefixes, EpcUri, Gln};
use crate::model::{
    BatchOpen, CodeRecord, LineEvent, LineMessage, Party, Receipt, RejectCode, Shipment,
    ShipmentKind,
};
use crate::rules::RulesPolicy;
use crate::store::{Decoded, IngestItem, IngestOutcome, ReadOnlyStore, Store};

fn code(text: &str) -> CodeRecord {
    let prefixes = CompanyPrefixes::new(vec!["0361414".into()], None).expect("prefixes");
    crate::protocol::code(
        "code",
        text,
        &crate::protocol::DecodeContext {
            line: "L1",
            received_at: Utc::now(),
            max_payload_bytes: 1 << 20,
            prefixes: &prefixes,
        },
    )
    .expect("a valid code")
}

pub(super) fn unit(s: &str) -> CodeRecord {
    code(&format!("(01)00361414567894(21){s}"))
}

pub(super) fn sscc(n: u32) -> CodeRecord {
    let body = format!("0036141450{n:07}");
    code(&format!(
        "(00){body}{}",
        crate::gs1::check_digit(&body).expect("digits")
    ))
}

pub(super) fn ship(id: &str, kind: ShipmentKind, codes: Vec<CodeRecord>) -> LineEvent {
    LineEvent::Ship(Box::new(Shipment {
        shipment: id.into(),
        kind,
        codes,
        po: Some("PO-1".into()),
        from_party: None,
        from_location: None,
        to_party: Party {
            gln: "0614141000005".into(),
            sgln: EpcUri::parse("urn:epc:id:sgln:0614141.00000.0").expect("sgln"),
        },
        to_location: EpcUri::parse("urn:epc:id:sgln:0614141.00020.0").expect("sgln"),
    }))
}

pub(super) struct World {
    pub dir: tempfile::TempDir,
    pub runtime: tokio::runtime::Runtime,
    pub store: Store,
    n: u32,
}

impl World {
    pub fn send(&mut self, event: LineEvent) -> IngestOutcome {
        self.n += 1;
        let time = Utc
            .with_ymd_and_hms(2026, 3, 4, 10, self.n, 0)
            .single()
            .expect("time");
        let item = IngestItem {
            topic: "t/lines/L1/events".into(),
            line: Some("L1".into()),
            received_at: time,
            payload: Vec::new(),
            decoded: Decoded::Accepted(LineMessage {
                line: "L1".into(),
                message_id: format!("m{}", self.n),
                time,
                event,
            }),
        };
        self.runtime
            .block_on(self.store.ingest(item))
            .expect("committed")
    }

    fn state(&self, c: &CodeRecord) -> (String, Vec<String>) {
        let ro = ReadOnlyStore::open(self.dir.path()).expect("read");
        let s = ro.serial(&c.key).expect("read").expect("known");
        (s.state, s.parents)
    }

    /// Builds the document of the next due message for `partner`, validates it, and marks it.
    fn assemble(&self, partner: &Partner) -> (Due, String) {
        let mut ro = ReadOnlyStore::open(self.dir.path()).expect("read");
        let tx = ro.conn.transaction().expect("snapshot");
        let (due, _) = next_due(&tx).expect("read").expect("something is due");
        let place = Place {
            read_point: EpcUri::parse("urn:epc:id:sgln:0361414.00001.L1").expect("sgln"),
            biz_location: EpcUri::parse("urn:epc:id:sgln:0361414.00000.0").expect("sgln"),
        };
        let (mut progress, tz) = (|_| {}, |_| "+01:00".to_string());
        let mut ctx = Context {
            place: &place,
            partner,
            created: Utc::now(),
            tz: &tz,
            progress: &mut progress,
        };
        let (mut sink, mut ids) = (MemorySink::default(), || "doc".to_string());
        match due {
            Due::Shipment(id) | Due::Void(id) => {
                let mut rows = SqliteShipmentRows::open(&tx, id)
                    .expect("read")
                    .expect("there");
                match due {
                    Due::Void(_) => void_shipment(&mut rows, &mut ctx, &mut sink, &mut ids),
                    _ => shipment(&mut rows, &mut ctx, &mut sink, &mut ids),
                }
            }
            Due::Receipt(event) => {
                let r = receipt(&tx, event).expect("read").expect("there");
                receive(&r, &mut ctx, &mut sink, &mut ids)
            }
        }
        .expect("builds");
        drop(tx);
        let doc = &sink.parts[0].1;
        assert_valid(partner.format, doc);
        let mut conn =
            rusqlite::Connection::open(self.dir.path().join(crate::store::DB_FILE)).expect("open");
        let tx = conn.transaction().expect("write");
        assert!(mark(&tx, due, Ok(())).expect("mark"), "it was waiting");
        assert!(!mark(&tx, due, Ok(())).expect("mark"), "only once");
        tx.commit().expect("commit");
        (due, String::from_utf8(doc.clone()).expect("utf-8"))
    }
}

/// Batch B1: cases 1 (A1, A2) and 2 (A3, A4) on pallet 10, and A5 loose.
pub(super) fn world() -> World {
    let dir = tempfile::tempdir().expect("a temp dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (store, _thread) = Store::open(dir.path(), RulesPolicy::default()).expect("the store");
    let mut w = World {
        dir,
        runtime,
        store,
        n: 0,
    };
    w.send(LineEvent::BatchOpen(BatchOpen {
        batch: "B1".into(),
        gtin: "00361414567894".into(),
        pack_gtins: vec![],
        lot: "LOT1".into(),
        expiry: NaiveDate::from_ymd_opt(2027, 6, 30).expect("date"),
        work_order: None,
        planned_quantity: None,
    }));
    let units: Vec<CodeRecord> = ["A1", "A2", "A3", "A4", "A5"].map(unit).to_vec();
    let all = [units.clone(), vec![sscc(1), sscc(2), sscc(10)]].concat();
    for (parent, children) in [
        (None, all),
        (Some(sscc(1)), units[..2].to_vec()),
        (Some(sscc(2)), units[2..4].to_vec()),
        (Some(sscc(10)), vec![sscc(1), sscc(2)]),
    ] {
        let event = match parent {
            None => LineEvent::Commission {
                batch: "B1".into(),
                codes: children,
            },
            Some(parent) => LineEvent::Aggregate { parent, children },
        };
        assert_eq!(w.send(event), IngestOutcome::Applied);
    }
    w
}

fn refused(outcome: IngestOutcome) -> RejectCode {
    match outcome {
        IngestOutcome::Rejected(r) => r.code,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn shipping_a_pallet_ships_everything_under_it_and_its_document_reports_that_hierarchy() {
    let mut w = world();
    let top = vec![sscc(10), unit("A5")];
    assert_eq!(
        w.send(ship("DLV-1", ShipmentKind::Sale, top.clone())),
        IngestOutcome::Applied
    );
    for c in ["A1", "A2", "A3", "A4", "A5"]
        .map(unit)
        .iter()
        .chain(&[sscc(1), sscc(2), sscc(10)])
    {
        assert_eq!(w.state(c).0, "shipped", "{}", c.key);
    }
    assert_eq!(
        w.state(&unit("A1")).1,
        [sscc(1).key, sscc(10).key],
        "still in its case"
    );
    let ro = ReadOnlyStore::open(w.dir.path()).expect("read");
    let summary = ro.shipment("DLV-1").expect("read").expect("recorded");
    assert_eq!(
        summary.top_level,
        [unit("A5").key, sscc(10).key],
        "commissioning order"
    );
    assert_eq!(
        (summary.identifiers, summary.document.as_str()),
        (8, "pending")
    );
    let again = w.send(ship("DLV-1", ShipmentKind::Sale, vec![sscc(2)]));
    assert_eq!(refused(again), RejectCode::ShipmentExists);

    let partner = Partner {
        shipment_variant: ShipmentVariant::CommissionAggregation,
        format: Format::Epcis12,
        ..Partner::new(
            "mah",
            Gln::parse("0361414000001").expect("gln"),
            Gln::parse("0614141000005").expect("gln"),
        )
    };
    let (due, doc) = w.assemble(&partner);
    assert!(matches!(due, Due::Shipment(_)));
    let packed: Vec<usize> = [sscc(1), sscc(2), sscc(10)]
        .iter()
        .map(|c| {
            doc.find(&format!("<parentID>{}</parentID>", c.epc))
                .expect("packed")
        })
        .collect();
    assert!(
        packed[0] < packed[2] && packed[1] < packed[2],
        "cases before their pallet"
    );
    for c in ["A1", "A4", "A5"] {
        assert!(
            doc.contains(unit(c).epc.as_str()),
            "{c} is commissioned in the document"
        );
    }
    assert!(doc.contains("<cbvmda:lotNumber>LOT1</cbvmda:lotNumber>"));
    assert!(doc.contains("urn:epcglobal:cbv:bt:0361414000001:DLV-1"));
}

#[test]
fn a_void_waits_for_its_shipment_and_a_receipt_takes_a_transfer_back() {
    let mut w = world();
    let partner = Partner::new(
        "mah",
        Gln::parse("0361414000001").expect("gln"),
        Gln::parse("0614141000005").expect("gln"),
    );
    assert_eq!(
        w.send(ship("T1", ShipmentKind::Transfer, vec![sscc(10)])),
        IngestOutcome::Applied
    );
    assert_eq!(
        refused(w.send(LineEvent::VoidShipment {
            shipment: "T1".into(),
            reason: "X".into()
        })),
        RejectCode::InvalidTransition
    );
    assert_eq!(
        w.send(ship("S1", ShipmentKind::Sale, vec![unit("A5")])),
        IngestOutcome::Applied
    );
    assert_eq!(
        w.send(LineEvent::VoidShipment {
            shipment: "S1".into(),
            reason: "X".into()
        }),
        IngestOutcome::Applied
    );
    assert_eq!(w.state(&unit("A5")).0, "commissioned");
    let receipt = LineEvent::Receive(Receipt {
        document: "REC-1".into(),
        codes: vec![sscc(10)],
        shipment: Some("T1".into()),
    });
    assert_eq!(w.send(receipt), IngestOutcome::Applied);
    assert_eq!(
        w.state(&unit("A3")),
        ("commissioned".into(), vec![sscc(2).key, sscc(10).key])
    );

    // In causal order: T1, S1, then S1's void (it waited for S1), then the receipt.
    let (due, doc) = w.assemble(&partner);
    assert!(
        matches!(due, Due::Shipment(_)) && doc.contains(":T1<"),
        "{doc}"
    );
    let (due, _) = w.assemble(&partner);
    assert!(matches!(due, Due::Shipment(_)));
    let (due, doc) = w.assemble(&partner);
    assert!(
        matches!(due, Due::Void(_)) && doc.contains("void_shipping"),
        "{doc}"
    );
    let (due, doc) = w.assemble(&partner);
    assert!(
        matches!(due, Due::Receipt(_)) && doc.contains("REC-1"),
        "{doc}"
    );
    assert!(
        doc.contains("urn:epcglobal:cbv:bt:0361414000001:T1"),
        "{doc}"
    );
    let mut ro = ReadOnlyStore::open(w.dir.path()).expect("read");
    assert_eq!(
        next_due(&ro.conn.transaction().expect("tx")).expect("read"),
        None
    );
}
