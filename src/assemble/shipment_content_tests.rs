//! What goes into the messages, read from their EPCIS 2.0 JSON form: the whole hierarchy under
//! each shipped SSCC innermost first, business transactions, parties and places, the DSCSA
//! statement for sales only, one event for a void and for a receipt, splitting.

use super::{Message, build, fixture, json_events, strings};
use crate::assemble::eob::Context;
use crate::assemble::partner::{Format, Limits, Partner, ShipmentVariant};
use crate::assemble::shipment::void_shipment;
use crate::assemble::split::MemorySink;
use crate::assemble::testkit::{assert_valid, at, ids, partner, place, sscc, tz, unit};
use crate::model::ShipmentKind;

#[test]
fn aggregation_covers_the_whole_hierarchy_under_each_shipped_sscc_innermost_first() {
    let p = Partner {
        shipment_variant: ShipmentVariant::CommissionAggregation,
        ..partner(Format::Epcis20Json)
    };
    let (_, events) = json_events(&mut fixture(), &p, Message::Shipment);
    let steps: Vec<&str> = events
        .iter()
        .map(|e| e["bizStep"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        steps,
        [
            "commissioning", // B1 units
            "commissioning", // B1 cases
            "commissioning", // B1 pallet
            "commissioning", // B2 unit
            "packing",
            "packing",
            "packing",
            "shipping"
        ]
    );
    let packed: Vec<(String, Vec<String>)> = events[4..7]
        .iter()
        .map(|e| {
            (
                e["parentID"].as_str().unwrap_or("").to_string(),
                strings(&e["childEPCs"]),
            )
        })
        .collect();
    let s = |n| sscc(n).to_string();
    let u = |x: &str| unit(x).to_string();
    assert_eq!(
        packed,
        [
            (s(1), vec![u("A1"), u("A2")]),
            (s(2), vec![u("A3"), u("A4")]),
            (s(10), vec![s(1), s(2)]),
        ],
        "the cases before the pallet they are on"
    );
    let mut commissioned: Vec<String> = events[..4]
        .iter()
        .flat_map(|e| strings(&e["epcList"]))
        .collect();
    commissioned.sort();
    let mut all: Vec<String> = ["A1", "A2", "A3", "A4", "Z5"]
        .iter()
        .map(|x| u(x))
        .collect();
    all.extend([s(1), s(2), s(10)]);
    all.sort();
    assert_eq!(
        commissioned, all,
        "everything that left is commissioned first"
    );
    assert_eq!(events[0]["ilmd"]["cbvmda:lotNumber"], "LOT1");
    assert_eq!(
        events[3]["ilmd"]["cbvmda:lotNumber"], "LOT2",
        "each batch its own lot"
    );
    assert!(events[1]["ilmd"].is_null(), "no ILMD on SSCCs");
    assert_eq!(
        strings(&events[7]["epcList"]),
        [s(10), u("Z5")],
        "top level only"
    );
}

#[test]
fn the_shipping_event_carries_transactions_parties_and_places() {
    let (doc, events) = json_events(
        &mut fixture(),
        &partner(Format::Epcis20Json),
        Message::Shipment,
    );
    assert_eq!(events.len(), 1, "shipment only: the partner has the rest");
    let e = &events[0];
    assert_eq!(
        (e["action"].as_str(), e["disposition"].as_str()),
        (Some("OBSERVE"), Some("in_transit"))
    );
    assert_eq!(
        e["readPoint"]["id"], "urn:epc:id:sgln:0361414.00000.0",
        "ship-from: the site"
    );
    assert!(
        e["bizLocation"].is_null(),
        "in transit: no business location"
    );
    let bt: Vec<(String, String)> = (e["bizTransactionList"].as_array().expect("list").iter())
        .map(|t| {
            (
                t["type"].as_str().unwrap_or("").into(),
                t["bizTransaction"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        bt,
        [
            (
                "po".to_string(),
                "urn:epcglobal:cbv:bt:0614141000005:PO-7781".to_string()
            ),
            (
                "desadv".into(),
                "urn:epcglobal:cbv:bt:0361414000001:DLV-5521".into()
            ),
        ]
    );
    assert_eq!(
        e["sourceList"][0]["source"],
        "urn:epc:id:sgln:0361414.00000.0"
    );
    assert_eq!(
        e["destinationList"][1]["destination"],
        "urn:epc:id:sgln:0614141.00020.0"
    );
    assert!(
        doc["epcisHeader"].is_null(),
        "no DSCSA statement unless the partner asks"
    );
}

#[test]
fn the_dscsa_statement_goes_with_sales_to_partners_that_want_it_only() {
    let p = Partner {
        dscsa_statement: true,
        dscsa_legal_notice: Some("Seller has complied".into()),
        ..partner(Format::Epcis20Json)
    };
    let (sale, _) = json_events(&mut fixture(), &p, Message::Shipment);
    assert!(
        sale.to_string().contains("dscsaTransactionStatement"),
        "{sale}"
    );
    let mut transfer = fixture();
    transfer.info.kind = ShipmentKind::Transfer;
    let (doc, _) = json_events(&mut transfer, &p, Message::Shipment);
    assert!(
        !doc.to_string().contains("dscsaTransactionStatement"),
        "{doc}"
    );
    let (void, _) = json_events(&mut fixture(), &p, Message::Void);
    assert!(
        !void.to_string().contains("dscsaTransactionStatement"),
        "{void}"
    );
}

#[test]
fn void_and_receive_are_one_event_each_with_their_documents() {
    let p = partner(Format::Epcis20Json);
    let (_, void) = json_events(&mut fixture(), &p, Message::Void);
    assert_eq!(void.len(), 1);
    assert_eq!(
        (void[0]["bizStep"].as_str(), void[0]["disposition"].as_str()),
        (Some("void_shipping"), Some("in_progress"))
    );
    assert_eq!(
        void[0]["bizTransactionList"][0]["bizTransaction"],
        "urn:epcglobal:cbv:bt:0361414000001:DLV-5521"
    );
    assert_eq!(void[0]["eventTime"], "2026-03-04T17:30:00.000Z");
    let (_, rec) = json_events(&mut fixture(), &p, Message::Receive);
    assert_eq!(rec.len(), 1);
    assert_eq!(
        (rec[0]["bizStep"].as_str(), rec[0]["disposition"].as_str()),
        (Some("receiving"), Some("in_progress"))
    );
    assert_eq!(rec[0]["readPoint"]["id"], "urn:epc:id:sgln:0361414.00000.0");
    let docs: Vec<String> = (rec[0]["bizTransactionList"]
        .as_array()
        .expect("list")
        .iter())
    .map(|t| t["bizTransaction"].as_str().unwrap_or("").to_string())
    .collect();
    assert_eq!(
        docs,
        [
            "urn:epcglobal:cbv:bt:0361414000001:REC-0042",
            "urn:epcglobal:cbv:bt:0361414000001:TRF-0042"
        ]
    );

    let mut not_voided = fixture();
    not_voided.info.voided = None;
    let place = place();
    let mut progress = |_| {};
    let p = partner(Format::Epcis12);
    let mut ctx = Context {
        place: &place,
        partner: &p,
        created: at(18, 0),
        tz: &tz,
        progress: &mut progress,
    };
    let err = void_shipment(
        &mut not_voided,
        &mut ctx,
        &mut MemorySink::default(),
        &mut ids("v"),
    )
    .expect_err("not voided");
    assert!(err.to_string().contains("not voided"), "{err}");
}

#[test]
fn large_shipments_split_the_shipping_event_and_the_document() {
    let p = Partner {
        limits: Limits {
            max_epcs_per_event: 1,
            max_events_per_document: 1,
            max_bytes_per_document: 0,
        },
        ..partner(Format::Epcis12)
    };
    let parts = build(&mut fixture(), &p, Message::Shipment);
    assert_eq!(
        parts.len(),
        2,
        "one shipping event per top-level EPC, a document each"
    );
    for part in &parts {
        assert_valid(Format::Epcis12, part);
        assert!(String::from_utf8_lossy(part).contains("DLV-5521"));
    }
}
