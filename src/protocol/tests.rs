//! Decoding of the line's messages: every refusal has its code, every form of a code is read.

use super::*;

fn ctx_decode(payload: &str) -> Result<LineMessage, Refused> {
    let prefixes = CompanyPrefixes::new(vec!["0361414".into()], None).expect("prefixes");
    let ctx = DecodeContext {
        line: "L1",
        received_at: Utc::now(),
        max_payload_bytes: 4096,
        prefixes: &prefixes,
    };
    decode(payload.as_bytes(), &ctx)
}

fn check_reject(payload: &str, code: RejectCode, id: Option<&str>) {
    let err = ctx_decode(payload).expect_err(payload);
    assert_eq!(
        err.rejection.code, code,
        "{payload}: {}",
        err.rejection.reason
    );
    assert_eq!(err.message_id.as_deref(), id, "{payload}");
    assert!(!err.rejection.reason.is_empty());
}

#[test]
fn rejects_bad_payloads_with_a_code() {
    check_reject("{", RejectCode::InvalidJson, None);
    check_reject("[1,2]", RejectCode::InvalidJson, None);
    check_reject(r#"{"type":"commission"}"#, RejectCode::MissingField, None);
    check_reject(
        r#"{"id":5,"type":"commission"}"#,
        RejectCode::InvalidField,
        None,
    );
    check_reject(
        r#"{"id":"m1","type":"explode"}"#,
        RejectCode::UnknownType,
        Some("m1"),
    );
    check_reject(
        r#"{"id":"m1","type":"commission","batch":"B1"}"#,
        RejectCode::MissingField,
        Some("m1"),
    );
    check_reject(
        r#"{"id":"m1","type":"commission","batch":"B1","codes":[]}"#,
        RejectCode::InvalidField,
        Some("m1"),
    );
    check_reject(
        r#"{"id":"m1","type":"commission","batch":"B1","codes":["(01)00361414567895(21)A"]}"#,
        RejectCode::InvalidCode,
        Some("m1"),
    );
    check_reject(
        r#"{"id":"m1","type":"commission","batch":"B1","codes":[7]}"#,
        RejectCode::InvalidField,
        Some("m1"),
    );
    check_reject(
        r#"{"id":"m1","type":"batch_open","batch":"B1","gtin":"123","lot":"L","expiry":"2027-01-31"}"#,
        RejectCode::InvalidField,
        Some("m1"),
    );
    check_reject(
        r#"{"id":"m1","type":"batch_open","batch":"B1","gtin":"00361414567894","lot":"L","expiry":"2027-02-30"}"#,
        RejectCode::InvalidField,
        Some("m1"),
    );
    check_reject(
        r#"{"id":"m1","type":"batch_close","batch":"B1","time":"yesterday"}"#,
        RejectCode::InvalidField,
        Some("m1"),
    );
    check_reject(
        &format!(r#"{{"id":"m1","pad":"{}"}}"#, "x".repeat(5000)),
        RejectCode::PayloadTooLarge,
        None,
    );
}

#[test]
fn decodes_the_three_message_types() {
    let open = ctx_decode(r#"{"id":"m1","type":"batch_open","batch":"B1","gtin":"00361414567894","lot":"LOT1","expiry":"2027-06-30","planned_quantity":100}"#).expect("open");
    let LineEvent::BatchOpen(b) = open.event else {
        panic!("not batch_open")
    };
    assert_eq!(
        (b.gtin.as_str(), b.lot.as_str(), b.planned_quantity),
        ("00361414567894", "LOT1", Some(100))
    );
    assert_eq!(
        b.expiry,
        NaiveDate::from_ymd_opt(2027, 6, 30).expect("date")
    );

    let c = ctx_decode(r#"{"id":"m2","type":"commission","batch":"B1","time":"2026-03-04T10:15:00+01:00","codes":["(01)00361414567894(21)ABC123","urn:epc:id:sgtin:0361414.056789.X%2FY"]}"#).expect("commission");
    assert_eq!(c.time.to_rfc3339(), "2026-03-04T09:15:00+00:00");
    let LineEvent::Commission { batch, codes } = c.event else {
        panic!("not commission")
    };
    assert_eq!(batch, "B1");
    assert_eq!(
        codes[0].epc.as_str(),
        "urn:epc:id:sgtin:0361414.056789.ABC123"
    );
    assert_eq!(codes[0].key, "(01)00361414567894(21)ABC123");
    assert_eq!(codes[1].key, "(01)00361414567894(21)X/Y");
    assert_eq!(codes[1].gtin.as_deref(), Some("00361414567894"));

    let close = ctx_decode(r#"{"id":"m3","type":"batch_close","batch":"B1"}"#).expect("close");
    assert_eq!(close.event, LineEvent::BatchClose { batch: "B1".into() });
}

#[test]
fn codes_arrive_in_every_gs1_form() {
    let payload = r#"{"id":"m9","type":"commission","batch":"B1","codes":[
        "]d2010036141456789417280630\u001d21RAW1",
        "https://id.example.com/01/00361414567894/21/DL%2F1?17=280630",
        "(01)00361414567894(21)HRI1",
        "urn:epc:id:sgtin:0361414.056789.URI1"]}"#;
    let LineEvent::Commission { codes, .. } = ctx_decode(payload).expect("decodes").event else {
        panic!("not commission")
    };
    let epcs: Vec<&str> = codes.iter().map(|c| c.epc.as_str()).collect();
    assert_eq!(
        epcs,
        [
            "urn:epc:id:sgtin:0361414.056789.RAW1",
            "urn:epc:id:sgtin:0361414.056789.DL%2F1",
            "urn:epc:id:sgtin:0361414.056789.HRI1",
            "urn:epc:id:sgtin:0361414.056789.URI1"
        ]
    );
    assert_eq!(codes[0].expiry, NaiveDate::from_ymd_opt(2028, 6, 30));
    let bad = r#"{"id":"m9","type":"commission","batch":"B1","codes":["]d2010036141456789417281332\u001d21X"]}"#;
    let err = ctx_decode(bad).expect_err("bad date");
    assert_eq!(err.rejection.code, RejectCode::InvalidCode);
    assert!(
        err.rejection.reason.contains("(17)"),
        "{}",
        err.rejection.reason
    );
}

#[test]
fn decodes_the_unit_messages() {
    let agg = ctx_decode(r#"{"id":"a","type":"aggregate","parent":"(00)003614145000000013","children":["(01)00361414567894(21)A","urn:epc:id:sgtin:0361414.056789.B"]}"#).expect("aggregate");
    let LineEvent::Aggregate { parent, children } = agg.event else {
        panic!("not aggregate")
    };
    assert_eq!(parent.epc.as_str(), "urn:epc:id:sscc:0361414.0500000001");
    assert_eq!(children[1].key, "(01)00361414567894(21)B");
    let all = ctx_decode(r#"{"id":"d","type":"disaggregate","parent":"(00)003614145000000013"}"#)
        .expect("unpack all");
    assert!(matches!(
        all.event,
        LineEvent::Disaggregate { children: None, .. }
    ));
    let d = ctx_decode(
        r#"{"id":"x","type":"destroy","codes":["(01)00361414567894(21)A"],"reason":"crushed"}"#,
    )
    .expect("destroy");
    let LineEvent::Units {
        action,
        codes,
        reason,
    } = d.event
    else {
        panic!("not units")
    };
    assert_eq!(
        (action, codes.len(), reason.as_deref()),
        (UnitAction::Destroy, 1, Some("crushed"))
    );
    let fix =
        ctx_decode(r#"{"id":"f","type":"correct_status","codes":["(01)00361414567894(21)A"]}"#)
            .expect("correction");
    assert!(matches!(
        fix.event,
        LineEvent::Units {
            action: UnitAction::CorrectStatus,
            ..
        }
    ));
    let c = ctx_decode(r#"{"id":"c","type":"batch_cancel","batch":"B1"}"#).expect("cancel");
    assert_eq!(
        c.event,
        LineEvent::BatchCancel {
            batch: "B1".into(),
            reason: None
        }
    );
    check_reject(
        r#"{"id":"a","type":"aggregate","parent":"(01)00361414567894(21)A"}"#,
        RejectCode::MissingField,
        Some("a"),
    );
    check_reject(
        r#"{"id":"a","type":"aggregate","parent":"(00)003614145000000012","children":["(01)00361414567894(21)A"]}"#,
        RejectCode::InvalidCode,
        Some("a"),
    );
    check_reject(
        r#"{"id":"a","type":"sample","codes":["(01)00361414567894(21)A"],"reason":7}"#,
        RejectCode::InvalidField,
        Some("a"),
    );
    check_reject(
        r#"{"id":"a","type":"batch_open","batch":"B1","gtin":"00361414567894","lot":"L","expiry":"2027-01-31","pack_gtins":["1"]}"#,
        RejectCode::InvalidField,
        Some("a"),
    );
}

/// The published schema lists exactly the message types the decoder knows.
#[test]
fn the_line_event_schema_lists_every_type() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/line-event-v1.schema.json"
    );
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json");
    let listed: Vec<&str> = schema["properties"]["type"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(listed, TYPES);
}
