//! Per-event messages: each of the seven kinds in every format against its snapshot and GS1's
//! schema, and the rules of what goes in (levels, SGTINs and SSCCs apart, ILMD, chunking,
//! one event for a status update, only the children the message moved).

use chrono::NaiveDate;
use serde_json::Value;

use super::*;
use crate::assemble::partner::{Format, Limits, Partner};
use crate::assemble::split::MemorySink;
use crate::assemble::testkit::{
    assert_snapshot, assert_valid, at, ids, partner, place, sscc, tz, unit,
};

/// One message as the store would return it.
struct FixtureEvent {
    info: EventInfo,
    container: Option<TouchedRow>,
    rows: Vec<TouchedRow>,
}

impl EventRows for FixtureEvent {
    fn info(&self) -> &EventInfo {
        &self.info
    }
    fn container(&mut self) -> Result<Option<TouchedRow>, AssembleError> {
        Ok(self.container.clone())
    }
    fn touched(&mut self, visit: Visit<'_, TouchedRow>) -> Result<(), AssembleError> {
        for r in &self.rows {
            visit(r.clone())?;
        }
        Ok(())
    }
}

fn lot(name: &str) -> Ilmd {
    Ilmd {
        lot: name.into(),
        expiry: NaiveDate::from_ymd_opt(2027, 6, 30).expect("date"),
    }
}

fn row(id: i64, epc: EpcUri, level: PackagingLevel) -> TouchedRow {
    TouchedRow {
        id,
        epc,
        level,
        ilmd: lot("LOT1"),
    }
}

fn units(serials: &[&str]) -> Vec<TouchedRow> {
    serials
        .iter()
        .enumerate()
        .map(|(i, s)| row(i as i64 + 1, unit(s), PackagingLevel::Each))
        .collect()
}

/// The fixture of each kind: what a small line sends, one message each.
fn message(kind: MessageKind) -> FixtureEvent {
    let case = row(20, sscc(1), PackagingLevel::Case);
    let (container, rows) = match kind {
        MessageKind::Commission => {
            let mut rows = units(&["A1", "A2"]);
            rows.push(case);
            (None, rows)
        }
        MessageKind::Aggregation => (Some(case), units(&["A1", "A2"])),
        MessageKind::Disaggregation => (Some(case), units(&["A2"])),
        MessageKind::Decommission => (None, units(&["A3", "A4"])),
        MessageKind::Destroy => (None, units(&["A5"])),
        MessageKind::Sample | MessageKind::StatusUpdate => (None, units(&["A6"])),
        other => panic!("{other:?} is not per event"),
    };
    FixtureEvent {
        info: EventInfo {
            seq: 7,
            line: "L1".into(),
            message_id: "m7".into(),
            kind,
            time: at(10, 30),
            reason: Some("damaged".into()),
        },
        container,
        rows,
    }
}

const KINDS: [MessageKind; 7] = [
    MessageKind::Commission,
    MessageKind::Aggregation,
    MessageKind::Disaggregation,
    MessageKind::Decommission,
    MessageKind::Destroy,
    MessageKind::Sample,
    MessageKind::StatusUpdate,
];

fn build(rows: &mut FixtureEvent, partner: &Partner) -> Vec<(String, Vec<u8>)> {
    let place = place();
    let mut progress = |_| {};
    let ctx = Context {
        place: &place,
        partner,
        created: at(18, 0),
        tz: &tz,
        progress: &mut progress,
    };
    let mut sink = MemorySink::default();
    let mut new_id = ids("esm");
    let parts = event_message(rows, &ctx, &mut sink, &mut new_id).expect("builds");
    assert_eq!(parts.len(), sink.parts.len());
    sink.parts
}

fn json_events(rows: &mut FixtureEvent, p: Partner) -> Vec<Value> {
    let parts = build(
        rows,
        &Partner {
            format: Format::Epcis20Json,
            ..p
        },
    );
    assert_eq!(parts.len(), 1);
    let doc: Value = serde_json::from_slice(&parts[0].1).expect("JSON");
    doc["epcisBody"]["eventList"]
        .as_array()
        .expect("events")
        .clone()
}

fn epcs(e: &Value, key: &str) -> Vec<String> {
    e[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn serials(e: &Value) -> Vec<String> {
    epcs(e, "epcList")
        .iter()
        .map(|u| u.rsplit(['.']).next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn every_kind_in_every_format_matches_its_snapshot_and_validates() {
    for kind in KINDS {
        for format in Format::ALL {
            let parts = build(&mut message(kind), &partner(format));
            assert_eq!(parts.len(), 1, "{} {}", kind.as_str(), format.as_str());
            let doc = &parts[0].1;
            assert_valid(format, doc);
            let name = format!(
                "single/{}.{}.{}",
                kind.as_str(),
                format.as_str(),
                format.extension()
            );
            assert_snapshot(&name, doc);
        }
    }
}

#[test]
fn each_kind_has_its_action_step_and_disposition() {
    let summary = |kind| {
        let e = &json_events(&mut message(kind), partner(Format::Epcis20Json))[0];
        format!(
            "{} {} {} {}",
            e["type"].as_str().unwrap_or("?"),
            e["action"].as_str().unwrap_or("?"),
            e["bizStep"].as_str().unwrap_or("-"),
            e["disposition"].as_str().unwrap_or("?"),
        )
    };
    let got: Vec<String> = KINDS.into_iter().map(summary).collect();
    assert_eq!(
        got,
        [
            "ObjectEvent ADD commissioning active",
            "AggregationEvent ADD packing in_progress",
            "AggregationEvent DELETE unpacking in_progress",
            "ObjectEvent DELETE decommissioning inactive",
            "ObjectEvent DELETE destroying destroyed",
            "ObjectEvent DELETE decommissioning inactive",
            "ObjectEvent OBSERVE - active",
        ]
    );
    for kind in KINDS {
        let e = &json_events(&mut message(kind), partner(Format::Epcis20Json))[0];
        assert_eq!(
            e["eventTime"], "2026-03-04T10:30:00.000Z",
            "the message's time"
        );
        assert_eq!(e["readPoint"]["id"], "urn:epc:id:sgln:0361414.00001.L1");
        assert_eq!(e["bizLocation"]["id"], "urn:epc:id:sgln:0361414.00000.0");
    }
}

#[test]
fn commission_keeps_levels_and_identifier_types_apart_with_ilmd_on_sgtins_only() {
    let mut m = message(MessageKind::Commission);
    // A case SGTIN of the same level as the SSCC, and a unit of another lot.
    let mut other = row(3, unit("B1"), PackagingLevel::Each);
    other.ilmd = lot("LOT2");
    m.rows.insert(2, other);
    let case_sgtin = "urn:epc:id:sgtin:0361414.156789.C1";
    m.rows.push(row(
        21,
        EpcUri::parse(case_sgtin).expect("uri"),
        PackagingLevel::Case,
    ));
    let events = json_events(&mut m, partner(Format::Epcis20Json));
    let lists: Vec<Vec<String>> = events.iter().map(|e| epcs(e, "epcList")).collect();
    assert_eq!(lists.len(), 4, "{lists:?}");
    assert_eq!(serials(&events[0]), ["A1", "A2"]);
    assert_eq!(serials(&events[1]), ["B1"], "another lot is another event");
    assert_eq!(lists[2], ["urn:epc:id:sscc:0361414.0500000001"]);
    assert_eq!(
        lists[3],
        [case_sgtin],
        "SSCCs and SGTINs never share an event"
    );
    assert_eq!(events[0]["ilmd"]["cbvmda:lotNumber"], "LOT1");
    assert_eq!(events[1]["ilmd"]["cbvmda:lotNumber"], "LOT2");
    assert_eq!(events[1]["ilmd"]["cbvmda:itemExpirationDate"], "2027-06-30");
    assert!(events[2]["ilmd"].is_null(), "no ILMD on SSCCs");
    assert_eq!(events[3]["ilmd"]["cbvmda:lotNumber"], "LOT1");
}

#[test]
fn large_messages_become_events_of_at_most_max_epcs_but_a_status_update_stays_one() {
    let small = Partner {
        limits: Limits {
            max_epcs_per_event: 2,
            ..Limits::default()
        },
        ..partner(Format::Epcis20Json)
    };
    let five = &["A1", "A2", "A3", "A4", "A5"];
    for kind in [
        MessageKind::Commission,
        MessageKind::Decommission,
        MessageKind::Destroy,
    ] {
        let mut m = message(kind);
        m.rows = units(five);
        let sizes: Vec<Vec<String>> = json_events(&mut m, small.clone())
            .iter()
            .map(serials)
            .collect();
        assert_eq!(
            sizes,
            [vec!["A1", "A2"], vec!["A3", "A4"], vec!["A5"]],
            "{kind:?}"
        );
    }
    let mut m = message(MessageKind::StatusUpdate);
    m.rows = units(five);
    let events = json_events(&mut m, small);
    assert_eq!(events.len(), 1, "§3.10: exactly one event");
    assert_eq!(serials(&events[0]), five);
}

#[test]
fn aggregation_names_the_container_and_only_the_children_moved() {
    let events = json_events(
        &mut message(MessageKind::Disaggregation),
        partner(Format::Epcis20Json),
    );
    assert_eq!(events[0]["parentID"], "urn:epc:id:sscc:0361414.0500000001");
    assert_eq!(
        epcs(&events[0], "childEPCs"),
        ["urn:epc:id:sgtin:0361414.056789.A2"]
    );
    let mut orphan = message(MessageKind::Aggregation);
    orphan.container = None;
    let place = place();
    let p = partner(Format::Epcis12);
    let ctx = Context {
        place: &place,
        partner: &p,
        created: at(18, 0),
        tz: &tz,
        progress: &mut |_: u64| {},
    };
    let refused = event_message(&mut orphan, &ctx, &mut MemorySink::default(), &mut ids("x"));
    assert!(
        matches!(refused, Err(AssembleError::Data(_))),
        "{refused:?}"
    );
}

#[test]
fn a_message_that_changed_nothing_makes_no_document_and_other_kinds_are_refused() {
    let mut m = message(MessageKind::Decommission);
    m.rows.clear();
    assert!(build(&mut m, &partner(Format::Epcis12)).is_empty());
    let mut eob = message(MessageKind::Commission);
    eob.info.kind = MessageKind::EndOfBatch;
    let place = place();
    let p = partner(Format::Epcis12);
    let ctx = Context {
        place: &place,
        partner: &p,
        created: at(18, 0),
        tz: &tz,
        progress: &mut |_: u64| {},
    };
    let refused = event_message(&mut eob, &ctx, &mut MemorySink::default(), &mut ids("x"));
    assert!(matches!(refused, Err(AssembleError::Data(_))));
    for kind in KINDS {
        let line = line_kind(kind).expect("a line kind");
        assert_eq!(message_kind(line), Some(kind));
    }
    assert_eq!(line_kind(MessageKind::Shipment), None);
}

#[test]
fn a_tracelink_partner_gets_the_packaging_level_on_commission_events() {
    let p = Partner {
        tracelink_extensions: true,
        ..partner(Format::Epcis12)
    };
    let parts = build(&mut message(MessageKind::Commission), &p);
    let doc = &parts[0].1;
    assert_valid(Format::Epcis12, doc);
    let text = String::from_utf8_lossy(doc);
    let levels: Vec<&str> = text
        .match_indices("<tl:packagingLevel>")
        .map(|(i, _)| &text[i + 19..i + 21])
        .collect();
    assert_eq!(levels, ["EA", "CA"]);
}
