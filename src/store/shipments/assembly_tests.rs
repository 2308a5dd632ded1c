//! The shipment step end to end in the store: built outside the writer into outbox files,
//! recorded with its deliveries in one transaction, once; a message no partner takes is marked
//! assembled without documents.

use std::collections::HashMap;

use super::super::tests::{ship, sscc, unit, world};
use super::ShipmentAssembled;
use crate::assemble::partner::{MessageKind, Partner};
use crate::assemble::{AssemblerConfig, shipment_task};
use crate::gs1::{EpcUri, Gln};
use crate::model::ShipmentKind;
use crate::store::{IngestOutcome, OUTBOX_DIR, ReadOnlyStore};

fn config(messages: Vec<MessageKind>) -> AssemblerConfig {
    let gln = |s: &str| Gln::parse(s).expect("gln");
    let site = EpcUri::parse("urn:epc:id:sgln:0361414.00000.0").expect("sgln");
    AssemblerConfig {
        read_points: HashMap::from([("L1".to_string(), site.clone())]),
        biz_location: site,
        partners: vec![Partner {
            messages,
            ..Partner::new("mah", gln("0361414000001"), gln("0614141000005"))
        }],
        tz_offset: Some("+01:00".into()),
    }
}

#[test]
fn a_shipment_is_assembled_into_the_outbox_once_with_its_delivery() {
    let mut w = world();
    let top = vec![sscc(10), unit("A5")];
    assert_eq!(
        w.send(ship("DLV-9", ShipmentKind::Sale, top)),
        IngestOutcome::Applied
    );
    let cfg = config(vec![MessageKind::Shipment]);
    let step = |w: &super::super::tests::World| {
        (w.runtime)
            .block_on(w.store.assemble_next_shipment(shipment_task::builder(&cfg)))
            .expect("assembled")
    };
    let Some(ShipmentAssembled::Documents {
        kind,
        document,
        document_ids,
    }) = step(&w)
    else {
        panic!("no documents");
    };
    assert_eq!(
        (kind, document.as_str(), document_ids.len()),
        (MessageKind::Shipment, "DLV-9", 1)
    );
    let file = w
        .dir
        .path()
        .join(OUTBOX_DIR)
        .join(format!("{}.xml", document_ids[0]));
    let xml = std::fs::read_to_string(&file).expect("the document's file");
    assert!(
        xml.contains("urn:epcglobal:cbv:bt:0361414000001:DLV-9"),
        "{xml}"
    );
    let ro = ReadOnlyStore::open(w.dir.path()).expect("read");
    let outbox = ro.outbox().expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        (outbox[0].kind.as_str(), outbox[0].upstream.as_str()),
        ("shipment", "mah")
    );
    let summary = ro.shipment("DLV-9").expect("read").expect("there");
    assert_eq!(summary.document, "assembled");
    assert_eq!(step(&w), None, "nothing else is due");
}

#[test]
fn a_message_no_partner_takes_is_assembled_without_documents() {
    let mut w = world();
    assert_eq!(
        w.send(ship("S1", ShipmentKind::Sale, vec![unit("A5")])),
        IngestOutcome::Applied
    );
    let void = crate::model::LineEvent::VoidShipment {
        shipment: "S1".into(),
        reason: "X".into(),
    };
    assert_eq!(w.send(void), IngestOutcome::Applied);
    let cfg = config(vec![MessageKind::EndOfBatch, MessageKind::VoidShipment]);
    let step = || {
        (w.runtime)
            .block_on(w.store.assemble_next_shipment(shipment_task::builder(&cfg)))
            .expect("assembled")
    };
    let kinds: Vec<(MessageKind, usize)> = std::iter::from_fn(step)
        .map(|a| match a {
            ShipmentAssembled::Documents {
                kind, document_ids, ..
            } => (kind, document_ids.len()),
            ShipmentAssembled::Failed { reason, .. } => panic!("{reason}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [(MessageKind::Shipment, 0), (MessageKind::VoidShipment, 1)]
    );
    let outbox = ReadOnlyStore::open(w.dir.path())
        .expect("read")
        .outbox()
        .expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].kind, "void_shipment");
}
