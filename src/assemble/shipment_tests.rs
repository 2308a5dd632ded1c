//! Shipment, Void Shipment and Receive: every variant in every format against its snapshot and
//! GS1's schema, and the rules of what goes in (the whole hierarchy under each shipped SSCC,
//! innermost first; transactions, parties, the DSCSA statement for sales only).

use chrono::NaiveDate;
use serde_json::Value;

use super::*;
use crate::assemble::partner::{Format, Partner, ShipmentVariant};
use crate::assemble::split::MemorySink;
use crate::assemble::testkit::{
    assert_snapshot, assert_valid, at, ids, partner, place, sscc, tz, unit, uri, validate,
};

/// What left: pallet 10 holding cases 1 (A1, A2) and 2 (A3, A4) of batch B1, and unit Z5 of
/// batch B2 loose beside it.
#[derive(Clone)]
pub(super) struct Fixture {
    pub info: ShipmentInfo,
    /// (batch, level, unit)
    units: Vec<(&'static str, PackagingLevel, ShippedUnit)>,
    containers: Vec<ContainerRow>,
    /// (container, child)
    children: Vec<(i64, EpcUri)>,
    top: Vec<EpcUri>,
}

impl ShipmentRows for Fixture {
    fn info(&self) -> &ShipmentInfo {
        &self.info
    }
    fn top_level(&mut self, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError> {
        self.top.iter().try_for_each(|e| visit(e.clone()))
    }
    fn batches(&mut self) -> Result<Vec<ShippedBatch>, AssembleError> {
        let lot = |batch: &str, lot: &str, d| ShippedBatch {
            batch: batch.into(),
            lot: lot.into(),
            expiry: NaiveDate::from_ymd_opt(2027, 6, d).expect("date"),
        };
        Ok(vec![lot("B1", "LOT1", 30), lot("B2", "LOT2", 1)])
    }
    fn units(
        &mut self,
        batch: &str,
        level: PackagingLevel,
        visit: Visit<'_, ShippedUnit>,
    ) -> Result<(), AssembleError> {
        let matching = self
            .units
            .iter()
            .filter(|(b, l, _)| *b == batch && *l == level);
        matching.map(|(.., u)| u.clone()).try_for_each(visit)
    }
    fn containers(&mut self) -> Result<Vec<ContainerRow>, AssembleError> {
        Ok(self.containers.clone())
    }
    fn children(&mut self, container: i64, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError> {
        let of = self.children.iter().filter(|(c, _)| *c == container);
        of.map(|(_, e)| e.clone()).try_for_each(visit)
    }
}

fn gln_party(gln: &str, sgln: &str) -> Party {
    Party {
        gln: gln.into(),
        sgln: uri(sgln),
    }
}

pub(super) fn fixture() -> Fixture {
    use PackagingLevel::{Case, Each, Pallet};
    let shipped = |epc: EpcUri, m| ShippedUnit {
        epc,
        commissioned_at: at(10, m),
    };
    let container = |id, n, level, m| ContainerRow {
        id,
        epc: sscc(n),
        level,
        packed_at: at(11, m),
    };
    Fixture {
        info: ShipmentInfo {
            shipment: "DLV-5521".into(),
            line: "L1".into(),
            kind: ShipmentKind::Sale,
            po: Some("PO-7781".into()),
            from_party: None,
            from_location: None,
            to_party: gln_party("0614141000005", "urn:epc:id:sgln:0614141.00000.0"),
            to_location: uri("urn:epc:id:sgln:0614141.00020.0"),
            shipped_at: at(16, 0),
            voided: Some((at(17, 30), "ORDER_CANCELLED".into())),
        },
        units: vec![
            ("B1", Each, shipped(unit("A1"), 1)),
            ("B1", Each, shipped(unit("A2"), 2)),
            ("B1", Each, shipped(unit("A3"), 3)),
            ("B1", Each, shipped(unit("A4"), 4)),
            ("B1", Case, shipped(sscc(1), 20)),
            ("B1", Case, shipped(sscc(2), 21)),
            ("B1", Pallet, shipped(sscc(10), 22)),
            ("B2", Each, shipped(unit("Z5"), 5)),
        ],
        containers: vec![
            container(11, 1, Case, 10),
            container(12, 2, Case, 11),
            container(13, 10, Pallet, 20),
        ],
        children: vec![
            (11, unit("A1")),
            (11, unit("A2")),
            (12, unit("A3")),
            (12, unit("A4")),
            (13, sscc(1)),
            (13, sscc(2)),
        ],
        top: vec![sscc(10), unit("Z5")],
    }
}

fn receipt() -> ReceiptInfo {
    ReceiptInfo {
        document: "REC-0042".into(),
        received_at: at(19, 0),
        shipment: Some(("TRF-0042".into(), None)),
        epcs: vec![sscc(10)],
    }
}

#[derive(Clone, Copy)]
pub(super) enum Message {
    Shipment,
    Void,
    Receive,
}

/// Builds one message for `partner`; returns each part's bytes.
pub(super) fn build(fx: &mut Fixture, partner: &Partner, message: Message) -> Vec<Vec<u8>> {
    let place = place();
    let mut progress = |_| {};
    let mut ctx = Context {
        place: &place,
        partner,
        created: at(18, 0),
        tz: &tz,
        progress: &mut progress,
    };
    let mut sink = MemorySink::default();
    let mut new_id = ids("ship");
    let parts = match message {
        Message::Shipment => shipment(fx, &mut ctx, &mut sink, &mut new_id),
        Message::Void => void_shipment(fx, &mut ctx, &mut sink, &mut new_id),
        Message::Receive => receive(&receipt(), &mut ctx, &mut sink, &mut new_id),
    }
    .expect("builds");
    assert_eq!(parts.len(), sink.parts.len());
    sink.parts.into_iter().map(|(_, bytes)| bytes).collect()
}

pub(super) fn json_events(
    fx: &mut Fixture,
    partner: &Partner,
    message: Message,
) -> (Value, Vec<Value>) {
    let json = Partner {
        format: Format::Epcis20Json,
        ..partner.clone()
    };
    let parts = build(fx, &json, message);
    assert_eq!(parts.len(), 1);
    let doc: Value = serde_json::from_slice(&parts[0]).expect("JSON");
    let events = doc["epcisBody"]["eventList"]
        .as_array()
        .expect("events")
        .clone();
    (doc, events)
}

pub(super) fn strings(v: &Value) -> Vec<String> {
    let list = v.as_array().map(|a| a.iter().filter_map(|s| s.as_str()));
    list.map(|l| l.map(String::from).collect())
        .unwrap_or_default()
}

#[test]
fn every_message_in_every_format_matches_its_snapshot_and_validates() {
    let mut cases: Vec<(String, ShipmentVariant, Message)> = ShipmentVariant::ALL
        .into_iter()
        .map(|v| (v.as_str().to_string(), v, Message::Shipment))
        .collect();
    cases.push(("void".into(), ShipmentVariant::ShipmentOnly, Message::Void));
    cases.push((
        "receive".into(),
        ShipmentVariant::ShipmentOnly,
        Message::Receive,
    ));
    for (name, variant, message) in cases {
        for format in Format::ALL {
            let p = Partner {
                shipment_variant: variant,
                ..partner(format)
            };
            let parts = build(&mut fixture(), &p, message);
            assert_eq!(parts.len(), 1, "{name} {}", format.as_str());
            assert_valid(format, &parts[0]);
            let file = format!("shipment/{name}.{}.{}", format.as_str(), format.extension());
            assert_snapshot(&file, &parts[0]);
        }
    }
}

#[test]
fn the_schema_check_refuses_a_broken_shipment() {
    for format in Format::ALL {
        let parts = build(&mut fixture(), &partner(format), Message::Shipment);
        let text = String::from_utf8(parts[0].clone()).expect("utf-8");
        assert!(validate(format, text.as_bytes()).is_ok());
        let broken = match format {
            Format::Epcis20Json => {
                text.replacen("\"action\":\"OBSERVE\"", "\"action\":\"LOOK\"", 1)
            }
            _ => text.replacen("<action>OBSERVE</action>", "<action>LOOK</action>", 1),
        };
        assert_ne!(broken, text);
        assert!(
            validate(format, broken.as_bytes()).is_err(),
            "{}",
            format.as_str()
        );
    }
}

#[path = "shipment_content_tests.rs"]
mod content;
