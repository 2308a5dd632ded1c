//! Snapshots of the EPCIS 2.0 JSON-LD writer, every document checked against GS1's JSON Schema
//! (formats validated), and eventIDs checked against GS1's expected hashes.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::*;
use crate::epcis::event::{
    Action, BizTransaction, DscsaStatement, Ilmd, PackagingLevel, Vocabulary, cbv,
};
use crate::gs1::{EpcUri, Gln};

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference");

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

fn epc(s: &str) -> EpcUri {
    EpcUri::parse(s).expect("EPC URI")
}

fn header(dscsa: Option<DscsaStatement>) -> Header {
    Header {
        instance_id: "5b0e8c36-1f3a-4c8e-9d2a-7f1e2d3c4b5a".into(),
        created: t("2026-03-04T12:00:00Z"),
        sender_gln: Gln::parse("0361414000001").expect("GLN"),
        receiver_gln: Gln::parse("0312345000004").expect("GLN"),
        dscsa_statement: dscsa,
        tracelink_extensions: false,
    }
}

fn line() -> Option<EpcUri> {
    Some(epc("urn:epc:id:sgln:0361414.00010.1"))
}

fn site() -> Option<EpcUri> {
    Some(epc("urn:epc:id:sgln:0361414.00000.0"))
}

fn unit(serial: &str) -> EpcUri {
    epc(&format!("urn:epc:id:sgtin:0361414.056789.{serial}"))
}

fn case() -> EpcUri {
    epc("urn:epc:id:sscc:0361414.0500000000")
}

fn commission() -> Event {
    let mut e = Event::object(
        vec![unit("1001"), unit("1002")],
        Action::Add,
        t("2026-03-04T10:15:30.25+01:00"),
        "+01:00".into(),
    )
    .with_step(cbv::COMMISSIONING, cbv::ACTIVE)
    .at(line(), site());
    e.ilmd = Some(Ilmd {
        lot: "L2603A".into(),
        expiry: NaiveDate::from_ymd_opt(2028, 2, 29).expect("date"),
    });
    e.packaging_level = Some(PackagingLevel::Each);
    e
}

fn pack() -> Event {
    Event::aggregation(
        Some(case()),
        vec![unit("1001"), unit("1002")],
        Action::Add,
        t("2026-03-04T09:20:00Z"),
        "+01:00".into(),
    )
    .with_step(cbv::PACKING, cbv::IN_PROGRESS)
    .at(line(), site())
}

fn unpack_all() -> Event {
    Event::aggregation(
        Some(case()),
        vec![],
        Action::Delete,
        t("2026-03-04T09:25:00Z"),
        "+01:00".into(),
    )
    .with_step(cbv::UNPACKING, cbv::IN_PROGRESS)
    .at(line(), site())
}

fn retire(step: &str, disposition: &str, serial: &str) -> Event {
    Event::object(
        vec![unit(serial)],
        Action::Delete,
        t("2026-03-04T09:30:00.001Z"),
        "+01:00".into(),
    )
    .with_step(step, disposition)
    .at(line(), site())
}

fn party(kind: &str, id: &str) -> SourceDest {
    SourceDest {
        kind: Term::new(Vocabulary::SourceDestType, kind),
        id: epc(id),
    }
}

fn ship() -> Event {
    let mut e = Event::object(
        vec![case()],
        Action::Observe,
        t("2026-03-05T16:00:00Z"),
        "-05:00".into(),
    )
    .with_step(cbv::SHIPPING, cbv::IN_TRANSIT)
    .at(Some(epc("urn:epc:id:sgln:0361414.00010.DOCK1")), site());
    e.biz_transactions = vec![
        BizTransaction {
            kind: Term::new(Vocabulary::BizTransactionType, cbv::BTT_PO),
            id: "urn:epcglobal:cbv:bt:0312345000004:PO-7781".into(),
        },
        BizTransaction {
            kind: Term::new(Vocabulary::BizTransactionType, cbv::BTT_DESADV),
            id: "urn:epcglobal:cbv:bt:0361414000001:DLV-5521".into(),
        },
    ];
    e.sources = vec![
        party(cbv::SDT_OWNING_PARTY, "urn:epc:id:sgln:0361414.00000.0"),
        party(cbv::SDT_LOCATION, "urn:epc:id:sgln:0361414.00010.0"),
    ];
    e.destinations = vec![
        party(cbv::SDT_OWNING_PARTY, "urn:epc:id:sgln:0312345.00000.0"),
        party(cbv::SDT_LOCATION, "urn:epc:id:sgln:0312345.00020.0"),
    ];
    e
}

/// Writes a document with eventIDs assigned, checks it is JSON and schema-valid, and returns
/// its text with each eventID replaced by `ID`.
fn document(header: &Header, events: &[Event]) -> String {
    let (mut text, ids) = raw_document(header, events);
    for id in ids {
        assert!(
            id.starts_with("ni:///sha-256;") && id.ends_with("?ver=CBV2.0"),
            "{id}"
        );
        text = text.replacen(&id, "ID", 1);
    }
    text
}

/// The document as written, schema-checked, and the eventIDs it got.
fn raw_document(header: &Header, events: &[Event]) -> (String, Vec<String>) {
    let mut w = Json20Writer::begin(Vec::new(), header).expect("begin");
    let mut ids = Vec::new();
    for e in events {
        let mut e = e.clone();
        assign_event_id(&mut e).expect("eventID");
        ids.push(e.event_id.clone().expect("set"));
        w.event(&e).expect("event");
    }
    let text = String::from_utf8(w.finish().expect("finish")).expect("UTF-8");
    let value: Value = serde_json::from_str(&text).expect("the document is JSON");
    assert_valid(&value);
    (text, ids)
}

fn errors(doc: &Value) -> Vec<String> {
    crate::epcis::testkit::json_errors(doc)
}

fn assert_valid(doc: &Value) {
    let errors = errors(doc);
    assert!(errors.is_empty(), "schema errors: {errors:#?}\n{doc:#}");
}

const HEAD: &str = r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{"cbvmda":"urn:epcglobal:cbv:mda:","gs1ushc":"http://epcis.gs1us.org/hc/ns/"}],"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2026-03-04T12:00:00.000Z","id":"urn:uuid:5b0e8c36-1f3a-4c8e-9d2a-7f1e2d3c4b5a","instanceIdentifier":"5b0e8c36-1f3a-4c8e-9d2a-7f1e2d3c4b5a","sender":"0361414000001","receiver":"0312345000004""#;
const BODY: &str = r#","epcisBody":{"eventList":["#;
const END: &str = "\n]}}\n";

fn expect(head: &str, events: &[&str]) -> String {
    format!("{head}{BODY}\n{}{END}", events.join(",\n"))
}

#[test]
fn a_commissioning_object_event_carries_its_lot_and_expiry_as_ilmd() {
    let text = document(&header(None), &[commission()]);
    let event = r#"{"type":"ObjectEvent","eventTime":"2026-03-04T09:15:30.250Z","eventTimeZoneOffset":"+01:00","eventID":"ID","epcList":["urn:epc:id:sgtin:0361414.056789.1001","urn:epc:id:sgtin:0361414.056789.1002"],"action":"ADD","bizStep":"commissioning","disposition":"active","readPoint":{"id":"urn:epc:id:sgln:0361414.00010.1"},"bizLocation":{"id":"urn:epc:id:sgln:0361414.00000.0"},"ilmd":{"cbvmda:lotNumber":"L2603A","cbvmda:itemExpirationDate":"2028-02-29"}}"#;
    assert_eq!(text, expect(HEAD, &[event]));
    // The packaging level (TraceLink, 1.2 only) is not written.
    assert!(!text.contains("EA") && !text.contains("packag"));
}

#[test]
fn packing_adds_children_and_unpacking_all_leaves_childepcs_out() {
    let text = document(&header(None), &[pack(), unpack_all()]);
    let pack = r#"{"type":"AggregationEvent","eventTime":"2026-03-04T09:20:00.000Z","eventTimeZoneOffset":"+01:00","eventID":"ID","parentID":"urn:epc:id:sscc:0361414.0500000000","childEPCs":["urn:epc:id:sgtin:0361414.056789.1001","urn:epc:id:sgtin:0361414.056789.1002"],"action":"ADD","bizStep":"packing","disposition":"in_progress","readPoint":{"id":"urn:epc:id:sgln:0361414.00010.1"},"bizLocation":{"id":"urn:epc:id:sgln:0361414.00000.0"}}"#;
    let unpack = r#"{"type":"AggregationEvent","eventTime":"2026-03-04T09:25:00.000Z","eventTimeZoneOffset":"+01:00","eventID":"ID","parentID":"urn:epc:id:sscc:0361414.0500000000","action":"DELETE","bizStep":"unpacking","disposition":"in_progress","readPoint":{"id":"urn:epc:id:sgln:0361414.00010.1"},"bizLocation":{"id":"urn:epc:id:sgln:0361414.00000.0"}}"#;
    assert_eq!(text, expect(HEAD, &[pack, unpack]));
}

#[test]
fn decommission_and_destroy_are_object_events_with_their_dispositions() {
    let events = [
        retire(cbv::DECOMMISSIONING, cbv::INACTIVE, "1003"),
        retire(cbv::DESTROYING, cbv::DESTROYED, "1004"),
    ];
    let text = document(&header(None), &events);
    let decommission = r#"{"type":"ObjectEvent","eventTime":"2026-03-04T09:30:00.001Z","eventTimeZoneOffset":"+01:00","eventID":"ID","epcList":["urn:epc:id:sgtin:0361414.056789.1003"],"action":"DELETE","bizStep":"decommissioning","disposition":"inactive","readPoint":{"id":"urn:epc:id:sgln:0361414.00010.1"},"bizLocation":{"id":"urn:epc:id:sgln:0361414.00000.0"}}"#;
    let destroy = r#"{"type":"ObjectEvent","eventTime":"2026-03-04T09:30:00.001Z","eventTimeZoneOffset":"+01:00","eventID":"ID","epcList":["urn:epc:id:sgtin:0361414.056789.1004"],"action":"DELETE","bizStep":"destroying","disposition":"destroyed","readPoint":{"id":"urn:epc:id:sgln:0361414.00010.1"},"bizLocation":{"id":"urn:epc:id:sgln:0361414.00000.0"}}"#;
    assert_eq!(text, expect(HEAD, &[decommission, destroy]));
}

#[test]
fn a_sales_shipment_has_transactions_parties_and_the_dscsa_statement() {
    let statement = DscsaStatement {
        legal_notice: Some("Seller has complied with FDCA Sec. 581(27)(A)-(G).".into()),
    };
    let text = document(&header(Some(statement)), &[ship()]);
    let head = format!(
        "{HEAD}{}",
        r#","epcisHeader":{"gs1ushc:dscsaTransactionStatement":{"gs1ushc:affirmTransactionStatement":true,"gs1ushc:legalNotice":"Seller has complied with FDCA Sec. 581(27)(A)-(G)."}}"#
    );
    let ship = r#"{"type":"ObjectEvent","eventTime":"2026-03-05T16:00:00.000Z","eventTimeZoneOffset":"-05:00","eventID":"ID","epcList":["urn:epc:id:sscc:0361414.0500000000"],"action":"OBSERVE","bizStep":"shipping","disposition":"in_transit","readPoint":{"id":"urn:epc:id:sgln:0361414.00010.DOCK1"},"bizLocation":{"id":"urn:epc:id:sgln:0361414.00000.0"},"bizTransactionList":[{"type":"po","bizTransaction":"urn:epcglobal:cbv:bt:0312345000004:PO-7781"},{"type":"desadv","bizTransaction":"urn:epcglobal:cbv:bt:0361414000001:DLV-5521"}],"sourceList":[{"type":"owning_party","source":"urn:epc:id:sgln:0361414.00000.0"},{"type":"location","source":"urn:epc:id:sgln:0361414.00010.0"}],"destinationList":[{"type":"owning_party","destination":"urn:epc:id:sgln:0312345.00000.0"},{"type":"location","destination":"urn:epc:id:sgln:0312345.00020.0"}]}"#;
    assert_eq!(text, expect(&head, &[ship]));
}

#[test]
fn a_partner_biz_step_is_written_as_its_uri() {
    let mut release = Event::object(
        vec![unit("1001")],
        Action::Observe,
        t("2026-03-04T11:00:00Z"),
        "+01:00".into(),
    )
    .with_step("https://partner.example.com/voc/release", cbv::ACTIVE)
    .at(None, site());
    release.packaging_level = Some(PackagingLevel::Case);
    let text = document(&header(None), &[release]);
    let event = r#"{"type":"ObjectEvent","eventTime":"2026-03-04T11:00:00.000Z","eventTimeZoneOffset":"+01:00","eventID":"ID","epcList":["urn:epc:id:sgtin:0361414.056789.1001"],"action":"OBSERVE","bizStep":"https://partner.example.com/voc/release","disposition":"active","bizLocation":{"id":"urn:epc:id:sgln:0361414.00000.0"}}"#;
    assert_eq!(text, expect(HEAD, &[event]));
}

#[test]
fn a_document_without_events_and_with_a_non_uuid_id_is_valid() {
    let mut h = header(None);
    h.instance_id = "LG-2026-0001".into();
    let text = document(&h, &[]);
    assert!(!text.contains("\"id\":"));
    assert!(text.contains(r#""instanceIdentifier":"LG-2026-0001""#));
}

#[test]
fn the_writer_streams_each_event_as_it_comes() {
    let mut w = Json20Writer::begin(Vec::new(), &header(None)).expect("begin");
    let mut sizes = Vec::new();
    for serial in 0..50 {
        w.event(&retire(
            cbv::DESTROYING,
            cbv::DESTROYED,
            &format!("{serial}"),
        ))
        .expect("event");
        sizes.push(w.sink.len());
    }
    assert!(sizes.windows(2).all(|p| p[0] < p[1]), "{sizes:?}");
    let doc: Value = serde_json::from_slice(&w.finish().expect("finish")).expect("JSON");
    assert_eq!(
        doc["epcisBody"]["eventList"].as_array().map(Vec::len),
        Some(50)
    );
    assert_valid(&doc);
}

#[test]
fn event_value_is_the_written_event() {
    let mut e = ship();
    assign_event_id(&mut e).expect("eventID");
    let mut w = Json20Writer::begin(Vec::new(), &header(None)).expect("begin");
    w.event(&e).expect("event");
    let doc: Value = serde_json::from_slice(&w.finish().expect("finish")).expect("JSON");
    assert_eq!(doc["epcisBody"]["eventList"][0], event_value(&e));
    assert_eq!(event_value(&e)["eventID"], json!(e.event_id));
}

#[test]
fn the_event_id_is_stable_and_pinned() {
    let mut a = commission();
    assign_event_id(&mut a).expect("eventID");
    let first = a.event_id.clone();
    assign_event_id(&mut a).expect("eventID again");
    assert_eq!(
        a.event_id, first,
        "an assigned eventID does not change the hash"
    );
    let mut b = commission();
    assign_event_id(&mut b).expect("eventID");
    assert_eq!(b.event_id, first);
    assert_eq!(
        first.as_deref(),
        Some(
            "ni:///sha-256;0790a621923b5422d20b97befddee41d2afd3a058d596c8ea0bc51de4be7ab9b?ver=CBV2.0"
        )
    );
    // Not part of the hash: the packaging level is not in the 2.0 form.
    b.packaging_level = Some(PackagingLevel::Pallet);
    b.event_id = None;
    assign_event_id(&mut b).expect("eventID");
    assert_eq!(b.event_id, first);
}

#[test]
fn the_event_id_changes_with_what_the_event_says() {
    let id = |e: &Event| {
        let mut e = e.clone();
        assign_event_id(&mut e).expect("eventID");
        e.event_id.expect("set")
    };
    let base = commission();
    let mut changes: Vec<Event> = Vec::new();
    let mut e = base.clone();
    e.event_time += chrono::Duration::milliseconds(1);
    changes.push(e);
    let mut e = base.clone();
    e.tz_offset = "+02:00".into();
    changes.push(e);
    let mut e = base.clone();
    e.kind = EventKind::Object {
        epcs: vec![unit("1001")],
    };
    changes.push(e);
    let mut e = base.clone();
    e.action = Action::Observe;
    changes.push(e);
    changes.push(base.clone().with_step(cbv::COMMISSIONING, cbv::IN_PROGRESS));
    changes.push(base.clone().at(site(), site()));
    let mut e = base.clone();
    if let Some(ilmd) = e.ilmd.as_mut() {
        ilmd.lot = "L2603B".into();
    }
    changes.push(e);
    let mut e = base.clone();
    if let Some(ilmd) = e.ilmd.as_mut() {
        ilmd.expiry = NaiveDate::from_ymd_opt(2028, 3, 1).expect("date");
    }
    changes.push(e);
    let mut e = ship();
    let before = id(&e);
    e.destinations.pop();
    changes.push(e);
    let mut all: Vec<String> = changes.iter().map(id).collect();
    all.push(id(&base));
    all.push(before);
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "every change gives another eventID");
}

/// Official examples (GS1) whose events linegate's model can say: built as events, written and
/// hashed by this module, they get GS1's expected eventIDs, and the JSON equals GS1's.
#[test]
fn official_example_events_reproduce_their_event_ids() {
    let read = |rel: &str| {
        let path = format!("{REFERENCE}/examples/epcis-2.0/{rel}");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let various: Value =
        serde_json::from_str(&read("json/epcisDocWithVariousEventTypes.jsonld")).expect("JSON");
    let hashes: Vec<String> = read("epcisDocWithVariousEventTypes.hashes")
        .lines()
        .map(str::to_string)
        .collect();
    let example_961: Value =
        serde_json::from_str(&read("json/Example_9.6.1-ObjectEvent.jsonld")).expect("JSON");
    let sgln = |s: &str| Some(epc(&format!("urn:epc:id:sgln:{s}")));
    let bt = |kind: &str, id: &str| BizTransaction {
        kind: Term::new(Vocabulary::BizTransactionType, kind),
        id: id.into(),
    };

    // epcisDocWithVariousEventTypes, event 2: ObjectEvent OBSERVE inspecting.
    let inspect = Event::object(
        vec![epc("urn:epc:id:sscc:4012345.0111111111")],
        Action::Observe,
        t("2019-10-21T15:45:00.000+01:00"),
        "+01:00".into(),
    )
    .with_step("inspecting", "in_progress")
    .at(sgln("4012345.00024.0"), None);
    // Event 4: AggregationEvent ADD packing.
    let children = ["98", "97", "107", "109"]
        .iter()
        .map(|s| epc(&format!("urn:epc:id:sgtin:4047023.077551.{s}")))
        .collect();
    let mut packing = Event::aggregation(
        Some(epc("urn:epc:id:sscc:4047023.0111111122")),
        children,
        Action::Add,
        t("2019-10-21T11:58:56.591+02:00"),
        "+02:00".into(),
    )
    .at(sgln("4047023.00012.0"), None);
    packing.biz_step = Some(Term::biz_step("packing"));
    // Event 6: AggregationEvent DELETE unpacking without children.
    let mut unpack = Event::aggregation(
        Some(epc("urn:epc:id:sscc:4012344.0111111144")),
        vec![],
        Action::Delete,
        t("2019-10-21T11:58:56.591+02:00"),
        "+02:00".into(),
    )
    .at(sgln("4012345.00025.0"), None);
    unpack.biz_step = Some(Term::biz_step("unpacking"));
    unpack.biz_transactions = vec![bt("inv", "urn:epcglobal:cbv:bt:4012345123456:RE1099")];
    // Event 7: AggregationEvent DELETE unpacking with children.
    let children = ["3", "4", "5"]
        .iter()
        .map(|s| epc(&format!("urn:epc:id:sscc:4012344.099881112{s}")))
        .collect();
    let mut unpack_some = Event::aggregation(
        Some(epc("urn:epc:id:sscc:4012344.0998811122")),
        children,
        Action::Delete,
        t("2019-10-21T14:02:56.000+02:00"),
        "+02:00".into(),
    )
    .at(sgln("4012345.00077.0"), None);
    unpack_some.biz_step = Some(Term::biz_step("unpacking"));
    unpack_some.biz_transactions = vec![bt("inv", "urn:epcglobal:cbv:bt:4012345123456:4711")];
    // Example 9.6.1, event 0: shipping with a purchase order. The eventID the example carries is
    // not its hash; this is the reference implementation's hash of it (as in hash_tests.rs).
    let mut shipping = Event::object(
        vec![
            epc("urn:epc:id:sgtin:0614141.107346.2017"),
            epc("urn:epc:id:sgtin:0614141.107346.2018"),
        ],
        Action::Observe,
        t("2005-04-03T20:33:31.116-06:00"),
        "-06:00".into(),
    )
    .with_step("shipping", "in_transit")
    .at(sgln("0614141.07346.1234"), None);
    shipping.biz_transactions = vec![bt("po", "http://transaction.acme.com/po/12345678")];

    let cases = [
        (inspect, &various, 2, hashes[2].as_str()),
        (packing, &various, 4, hashes[4].as_str()),
        (unpack, &various, 6, hashes[6].as_str()),
        (unpack_some, &various, 7, hashes[7].as_str()),
        (
            shipping,
            &example_961,
            0,
            "ni:///sha-256;df6523665bc5e5803d6c7b84f5a04e103694d8220f2abc4f2c74310e89f31bc6?ver=CBV2.0",
        ),
    ];
    for (mut event, doc, index, expected) in cases {
        assign_event_id(&mut event).expect("eventID");
        assert_eq!(event.event_id.as_deref(), Some(expected), "event {index}");
        // The same event as GS1 wrote it, but for the eventTime (we write UTC).
        let mut official = doc["epcisBody"]["eventList"][index].clone();
        let mut ours = event_value(&event);
        if let (Some(o), Some(m)) = (official.as_object_mut(), ours.as_object_mut()) {
            o.remove("eventTime");
            m.remove("eventTime");
            m.remove("eventID");
            o.remove("eventID");
        }
        assert_eq!(ours, official, "event {index}");
    }
}

/// A change that makes a valid document invalid.
type Spoil = fn(&mut Value);

/// The check can fail: GS1's schema, formats included, refuses broken documents.
#[test]
fn the_schema_check_refuses_broken_documents() {
    let (text, _) = raw_document(&header(None), &[commission()]);
    let good: Value = serde_json::from_str(&text).expect("JSON");
    let broken: [(&str, Spoil); 6] = [
        ("eventTime not a date-time", |d| {
            d["epcisBody"]["eventList"][0]["eventTime"] = json!("2026-03-04 09:15");
        }),
        ("an EPC that is not a URI", |d| {
            d["epcisBody"]["eventList"][0]["epcList"][0] = json!("not a uri");
        }),
        ("an unprefixed ILMD field", |d| {
            d["epcisBody"]["eventList"][0]["ilmd"] = json!({"lotNumber": "L1"});
        }),
        ("an unknown action", |d| {
            d["epcisBody"]["eventList"][0]["action"] = json!("ADDX");
        }),
        ("no @context", |d| {
            if let Some(o) = d.as_object_mut() {
                o.remove("@context");
            }
        }),
        ("a bad creationDate", |d| {
            d["creationDate"] = json!("yesterday");
        }),
    ];
    assert!(errors(&good).is_empty());
    for (what, spoil) in broken {
        let mut doc = good.clone();
        spoil(&mut doc);
        assert!(!errors(&doc).is_empty(), "the schema check accepted {what}");
    }
}

#[test]
fn an_event_hash_error_is_an_epcis_error() {
    let err = EpcisError::from(crate::epcis::EventHashError::Missing { field: "eventTime" });
    assert!(err.to_string().contains("eventID"), "{err}");
}

/// GS1's reference implementation (`epcis-event-hash-generator` 1.9.3), run on the document
/// this module writes for these fixtures, gives these eventIDs (docs/epcis-formats.md).
#[test]
fn fixture_event_ids_are_the_reference_implementations() {
    let release = Event::object(
        vec![unit("1001")],
        Action::Observe,
        t("2026-03-04T11:00:00Z"),
        "+01:00".into(),
    )
    .with_step("https://partner.example.com/voc/release", cbv::ACTIVE)
    .at(None, site());
    let events = [
        commission(),
        pack(),
        unpack_all(),
        retire(cbv::DECOMMISSIONING, cbv::INACTIVE, "1003"),
        retire(cbv::DESTROYING, cbv::DESTROYED, "1004"),
        ship(),
        release,
    ];
    let statement = DscsaStatement { legal_notice: None };
    let (_, ids) = raw_document(&header(Some(statement)), &events);
    let expected = [
        "0790a621923b5422d20b97befddee41d2afd3a058d596c8ea0bc51de4be7ab9b",
        "425dc31150bcaaaf89826eb6f1fbfb8d7c0211c0e51a47f21a8f8caee401050f",
        "7d54662b458e67e9f6e7142ec7f2753ce213d6ceab95d4ef54d6597f2625cf8a",
        "6d041fc6f9108b73a3bc2319a97325c34f567d229374865060b902fd7c966169",
        "c748783c794bc2ac692761e83090c16b5c80dd4afb6956dd783759580ba518cc",
        "9f8856e844954e32bc8240365ff8249d77fffc9e81ede58007835364daefe6c9",
        "12c9a9bd9afe360f958fe555f0c56c495bcdfa5cdfdae33cd10cec7783c35405",
    ]
    .map(|hex| format!("ni:///sha-256;{hex}?ver=CBV2.0"));
    assert_eq!(ids, expected);
}
