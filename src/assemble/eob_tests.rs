//! End of Batch: every variant in every format against its snapshot and GS1's schema, and the
//! rules of what goes in (levels, ILMD, units taken out, innermost-first aggregation, release).

use serde_json::Value;

use super::*;
use crate::assemble::partner::{EobVariant, Format, Limits, Partner};
use crate::assemble::rows::FixtureRows;
use crate::assemble::split::MemorySink;
use crate::assemble::testkit::{
    assert_snapshot, assert_valid, at, batch, ids, partner, place, tz, validate,
};

fn build(rows: &mut FixtureRows, partner: &Partner) -> Vec<(String, Vec<u8>)> {
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
    let mut new_id = ids("eob");
    let parts = end_of_batch(rows, &mut ctx, &mut sink, &mut new_id).expect("builds");
    assert_eq!(parts.len(), sink.parts.len());
    for (info, (id, bytes)) in parts.iter().zip(&sink.parts) {
        assert_eq!(&info.document_id, id);
        assert_eq!(info.bytes, bytes.len() as u64);
    }
    sink.parts
}

fn json_events(rows: &mut FixtureRows, variant: EobVariant) -> Vec<Value> {
    let p = Partner {
        eob_variant: variant,
        ..partner(Format::Epcis20Json)
    };
    let parts = build(rows, &p);
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

fn summary(e: &Value) -> String {
    format!(
        "{} {} {}",
        e["type"].as_str().unwrap_or("?"),
        e["action"].as_str().unwrap_or("?"),
        e["bizStep"].as_str().unwrap_or("?")
    )
}

#[test]
fn every_variant_in_every_format_matches_its_snapshot_and_validates() {
    for variant in EobVariant::ALL {
        for format in Format::ALL {
            let p = Partner {
                eob_variant: variant,
                ..partner(format)
            };
            let parts = build(&mut batch(), &p);
            assert_eq!(parts.len(), 1, "{} {}", variant.as_str(), format.as_str());
            let doc = &parts[0].1;
            assert_valid(format, doc);
            let name = format!(
                "end_of_batch/{}.{}.{}",
                variant.as_str(),
                format.as_str(),
                format.extension()
            );
            assert_snapshot(&name, doc);
        }
    }
}

#[test]
fn the_schema_check_refuses_a_broken_document() {
    let parts = build(&mut batch(), &partner(Format::Epcis12));
    let broken = String::from_utf8(parts[0].1.clone())
        .expect("utf-8")
        .replacen("<action>ADD</action>", "<action>CREATE</action>", 1);
    assert!(validate(Format::Epcis12, broken.as_bytes()).is_err());
    let parts = build(&mut batch(), &partner(Format::Epcis20Json));
    let broken = String::from_utf8(parts[0].1.clone())
        .expect("utf-8")
        .replacen("\"action\":\"ADD\"", "\"action\":\"CREATE\"", 1);
    assert!(validate(Format::Epcis20Json, broken.as_bytes()).is_err());
}

#[test]
fn commission_reports_each_level_with_ilmd_on_sgtins_only() {
    let events = json_events(&mut batch(), EobVariant::CommissionAggregationRelease);
    let commissions: Vec<&Value> = events
        .iter()
        .filter(|e| e["bizStep"] == "commissioning")
        .collect();
    // Units, cases, pallet: three levels.
    assert_eq!(commissions.len(), 3);
    assert_eq!(
        epcs(commissions[0], "epcList"),
        ["A1", "A2", "A3", "A4", "A5"]
            .iter()
            .map(|s| format!("urn:epc:id:sgtin:0361414.056789.{s}"))
            .collect::<Vec<_>>(),
        "units taken out are left out when the variant does not report them"
    );
    assert_eq!(commissions[0]["ilmd"]["cbvmda:lotNumber"], "LOT1");
    assert_eq!(
        commissions[0]["ilmd"]["cbvmda:itemExpirationDate"],
        "2027-06-30"
    );
    assert_eq!(commissions[0]["eventTime"], "2026-03-04T10:05:00.000Z");
    assert!(
        commissions[1]["ilmd"].is_null(),
        "SSCC events carry no ILMD"
    );
    assert_eq!(
        epcs(commissions[2], "epcList"),
        ["urn:epc:id:sscc:0361414.0500000010"]
    );
    for e in &events {
        assert!(
            e["eventID"]
                .as_str()
                .is_some_and(|id| id.starts_with("ni:///sha-256;")),
            "every event has its hash id: {e}"
        );
    }
}

#[test]
fn aggregation_comes_after_every_commission_innermost_first() {
    let events = json_events(&mut batch(), EobVariant::CommissionAggregationRelease);
    let order: Vec<String> = events.iter().map(summary).collect();
    assert_eq!(
        order,
        [
            "ObjectEvent ADD commissioning",
            "ObjectEvent ADD commissioning",
            "ObjectEvent ADD commissioning",
            "AggregationEvent ADD packing",
            "AggregationEvent ADD packing",
            "AggregationEvent ADD packing",
            "ObjectEvent OBSERVE inspecting",
        ]
    );
    assert_eq!(events[3]["parentID"], "urn:epc:id:sscc:0361414.0500000001");
    assert_eq!(events[5]["parentID"], "urn:epc:id:sscc:0361414.0500000010");
    assert_eq!(
        epcs(&events[5], "childEPCs"),
        [
            "urn:epc:id:sscc:0361414.0500000001",
            "urn:epc:id:sscc:0361414.0500000002"
        ]
    );
    let none = json_events(&mut batch(), EobVariant::CommissionRelease);
    assert!(none.iter().all(|e| e["type"] == "ObjectEvent"));
}

#[test]
fn rejects_variants_report_what_was_taken_out_in_their_order() {
    let events = json_events(&mut batch(), EobVariant::CommissionReleaseRejects);
    let order: Vec<String> = events.iter().map(summary).collect();
    assert_eq!(
        &order[3..],
        [
            "ObjectEvent OBSERVE inspecting",
            "ObjectEvent DELETE destroying",
            "ObjectEvent DELETE decommissioning",
            "ObjectEvent DELETE decommissioning",
        ]
    );
    assert_eq!(
        epcs(&events[0], "epcList").len(),
        9,
        "every unit is commissioned"
    );
    assert_eq!(events[5]["disposition"], "inactive");
    assert_eq!(
        epcs(&events[5], "epcList").len(),
        2,
        "one event per message"
    );
    let last = json_events(
        &mut batch(),
        EobVariant::CommissionAggregationRejectsRelease,
    );
    assert_eq!(
        summary(last.last().expect("events")),
        "ObjectEvent OBSERVE inspecting"
    );
    assert_eq!(summary(&last[6]), "ObjectEvent DELETE destroying");
}

#[test]
fn the_release_event_is_the_partners_over_the_top_level_at_release_time() {
    let mut rows = batch();
    let events = json_events(&mut rows, EobVariant::CommissionAggregationRelease);
    let release = events.last().expect("events");
    assert_eq!(
        epcs(release, "epcList"),
        [
            "urn:epc:id:sgtin:0361414.056789.A5",
            "urn:epc:id:sscc:0361414.0500000010"
        ]
    );
    assert_eq!(
        release["eventTime"], "2026-03-04T17:00:00.000Z",
        "close time"
    );
    assert_eq!(release["disposition"], "sellable_not_accessible");
    let mut released = batch();
    if let Some(info) = released.info.as_mut() {
        info.released_at = Some(at(19, 30));
    }
    let p = Partner {
        release: custom_release(),
        ..partner(Format::Epcis20Json)
    };
    let parts = build(&mut released, &p);
    let doc: Value = serde_json::from_slice(&parts[0].1).expect("JSON");
    let release = doc["epcisBody"]["eventList"]
        .as_array()
        .and_then(|a| a.last())
        .expect("release")
        .clone();
    assert_eq!(release["eventTime"], "2026-03-04T19:30:00.000Z");
    assert_eq!(release["action"], "ADD");
    assert_eq!(
        release["bizStep"],
        "https://partner.example.com/voc/release"
    );
    assert_eq!(release["disposition"], "sellable_not_accessible");
}

fn custom_release() -> crate::assemble::partner::ReleaseEvent {
    crate::assemble::partner::ReleaseEvent {
        action: Action::Add,
        biz_step: Term::biz_step("https://partner.example.com/voc/release"),
        disposition: Term::disposition("urn:epcglobal:cbv:disp:sellable_not_accessible"),
    }
}

#[test]
fn large_levels_become_several_events_of_at_most_max_epcs() {
    let p = Partner {
        limits: Limits {
            max_epcs_per_event: 2,
            ..Limits::default()
        },
        ..partner(Format::Epcis20Json)
    };
    let parts = build(&mut batch(), &p);
    let doc: Value = serde_json::from_slice(&parts[0].1).expect("JSON");
    let events = doc["epcisBody"]["eventList"].as_array().expect("events");
    let unit_events: Vec<Vec<String>> = events
        .iter()
        .filter(|e| e["bizStep"] == "commissioning" && !e["ilmd"].is_null())
        .map(|e| epcs(e, "epcList"))
        .collect();
    assert_eq!(
        unit_events.iter().map(Vec::len).collect::<Vec<_>>(),
        [2, 2, 1]
    );
    assert_eq!(unit_events[1][0], "urn:epc:id:sgtin:0361414.056789.A3");
}

#[test]
fn a_batch_that_commissioned_nothing_makes_no_document() {
    let mut rows = batch();
    rows.units.clear();
    rows.containers.clear();
    assert!(build(&mut rows, &partner(Format::Epcis12)).is_empty());
}

#[test]
fn event_ids_are_the_same_in_every_format_and_on_every_build() {
    let ids_in = |format: Format| -> Vec<String> {
        let doc =
            String::from_utf8(build(&mut batch(), &partner(format))[0].1.clone()).expect("utf-8");
        doc.match_indices("ni:///sha-256;")
            .map(|(i, _)| doc[i..i + 14 + 64].to_string())
            .collect()
    };
    let json = ids_in(Format::Epcis20Json);
    assert_eq!(json.len(), 7);
    assert_eq!(json, ids_in(Format::Epcis20Json));
    assert_eq!(json, ids_in(Format::Epcis12));
    assert_eq!(json, ids_in(Format::Epcis20Xml));
}

#[test]
fn a_tracelink_partner_gets_packaging_levels_on_commission_events() {
    let p = Partner {
        tracelink_extensions: true,
        ..partner(Format::Epcis12)
    };
    let parts = build(&mut batch(), &p);
    let doc = &parts[0].1;
    assert_valid(Format::Epcis12, doc);
    assert_snapshot("end_of_batch/tracelink.epcis-1.2.xml", doc);
    let text = String::from_utf8_lossy(doc);
    let levels: Vec<&str> = text
        .match_indices("<tl:packagingLevel>")
        .map(|(i, _)| &text[i + 19..i + 21])
        .collect();
    assert_eq!(levels, ["EA", "CA", "PL"]);
}
