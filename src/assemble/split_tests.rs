//! The splitter: limits on events and bytes give complete, valid parts in causal order, and
//! every event keeps its id whichever part it lands in.

use serde_json::Value;

use super::*;
use crate::assemble::eob::{Context, end_of_batch};
use crate::assemble::partner::{Format, Partner};
use crate::assemble::testkit::{assert_valid, at, batch, ids, partner, place, tz};

/// The End of Batch of the fixture batch under `limits`, as parts.
fn parts(format: Format, limits: Limits) -> (Vec<PartInfo>, Vec<(String, Vec<u8>)>) {
    let p = Partner {
        limits,
        ..partner(format)
    };
    let place = place();
    let mut progress = |_| {};
    let mut ctx = Context {
        place: &place,
        partner: &p,
        created: at(18, 0),
        tz: &tz,
        progress: &mut progress,
    };
    let mut sink = MemorySink::default();
    let mut new_id = ids("part");
    let info = end_of_batch(&mut batch(), &mut ctx, &mut sink, &mut new_id).expect("builds");
    (info, sink.parts)
}

/// (bizStep or type, eventID) of every event of every part, in sending order.
fn events_of(parts: &[(String, Vec<u8>)]) -> Vec<(String, String)> {
    parts
        .iter()
        .flat_map(|(_, doc)| {
            let doc: Value = serde_json::from_slice(doc).expect("JSON");
            doc["epcisBody"]["eventList"]
                .as_array()
                .expect("events")
                .iter()
                .map(|e| {
                    let step = e["bizStep"].as_str().unwrap_or("?").to_string();
                    (step, e["eventID"].as_str().unwrap_or("?").to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn max_events_splits_into_complete_parts_in_causal_order() {
    let (_, whole) = parts(Format::Epcis20Json, Limits::default());
    let (info, split) = parts(
        Format::Epcis20Json,
        Limits {
            max_events_per_document: 2,
            ..Limits::default()
        },
    );
    // 7 events: 3 commissions, 3 packings, 1 release.
    assert_eq!(split.len(), 4);
    assert_eq!(
        info.iter().map(|p| (p.part, p.events)).collect::<Vec<_>>(),
        [(1, 2), (2, 2), (3, 2), (4, 1)]
    );
    for (_, doc) in &split {
        assert_valid(Format::Epcis20Json, doc);
    }
    assert_eq!(
        events_of(&split),
        events_of(&whole),
        "same events, same order"
    );
    let ids: Vec<&str> = split.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["part-1", "part-2", "part-3", "part-4"]);
}

#[test]
fn max_bytes_keeps_every_part_under_the_limit() {
    for format in Format::ALL {
        let (_, whole) = parts(format, Limits::default());
        let limit = whole[0].1.len() as u64 / 2;
        let (info, split) = parts(
            format,
            Limits {
                max_bytes_per_document: limit,
                ..Limits::default()
            },
        );
        assert!(
            split.len() >= 2,
            "{}: split in {}",
            format.as_str(),
            split.len()
        );
        for (p, (_, doc)) in info.iter().zip(&split) {
            assert!(
                doc.len() as u64 <= limit,
                "{} part {} has {} bytes, limit {limit}",
                format.as_str(),
                p.part,
                doc.len()
            );
            assert_valid(format, doc);
        }
        let total: usize = info.iter().map(|p| p.events).sum();
        assert_eq!(total, 7, "{}: no event lost or doubled", format.as_str());
    }
}

#[test]
fn an_event_larger_than_the_byte_limit_gets_a_part_of_its_own() {
    let (info, split) = parts(
        Format::Epcis12,
        Limits {
            max_bytes_per_document: 100,
            ..Limits::default()
        },
    );
    assert_eq!(info.len(), 7);
    assert!(info.iter().all(|p| p.events == 1));
    for (_, doc) in &split {
        assert_valid(Format::Epcis12, doc);
    }
}

#[test]
fn nothing_pushed_writes_no_part() {
    let mut sink = MemorySink::default();
    let mut new_id = ids("none");
    let template = HeaderTemplate {
        created: at(18, 0),
        sender_gln: partner(Format::Epcis12).sender_gln,
        receiver_gln: partner(Format::Epcis12).receiver_gln,
        dscsa_statement: None,
        tracelink_extensions: false,
    };
    let s = Splitter::new(
        Format::Epcis12,
        Limits::default(),
        template,
        &mut sink,
        &mut new_id,
    )
    .expect("splitter");
    assert!(s.finish().expect("finish").is_empty());
    assert!(sink.parts.is_empty());
}
