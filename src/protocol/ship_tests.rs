//! Decoding `ship`, `void_shipment` and `receive`: parties and places become SGLNs, document
//! numbers stay URI-safe, and every mistake has its code.

use chrono::Utc;

use crate::gs1::CompanyPrefixes;
use crate::model::{LineEvent, LineMessage, RejectCode, ShipmentKind};
use crate::protocol::{DecodeContext, Refused, decode};

fn decode_str(payload: &str) -> Result<LineMessage, Refused> {
    let prefixes =
        CompanyPrefixes::new(vec!["0361414".into(), "0614141".into()], None).expect("prefixes");
    let ctx = DecodeContext {
        line: "L1",
        received_at: Utc::now(),
        max_payload_bytes: 4096,
        prefixes: &prefixes,
    };
    decode(payload.as_bytes(), &ctx)
}

fn refused(payload: &str) -> (RejectCode, String) {
    let r = decode_str(payload).expect_err(payload).rejection;
    (r.code, r.reason)
}

const SHIP: &str = r#""id":"s1","type":"ship","shipment":"DLV-5521","kind":"sale","codes":["(00)003614145000000013"],"to_party":"0614141000005","to_location":"urn:epc:id:sgln:0614141.00020.0""#;

#[test]
fn a_ship_message_names_the_shipment_the_parties_and_the_top_level_codes() {
    let m = decode_str(&format!(
        r#"{{{SHIP},"po":"PO-7781","from_party":"0361414000001","from_location":"0361414000018","time":"2026-03-04T16:00:00Z"}}"#
    ))
    .expect("decodes");
    assert_eq!(m.time.to_rfc3339(), "2026-03-04T16:00:00+00:00");
    let LineEvent::Ship(s) = m.event else {
        panic!("not a shipment: {:?}", m.event)
    };
    assert_eq!(
        (s.shipment.as_str(), s.kind, s.po.as_deref()),
        ("DLV-5521", ShipmentKind::Sale, Some("PO-7781"))
    );
    assert_eq!(
        s.codes[0].epc.as_str(),
        "urn:epc:id:sscc:0361414.0500000001"
    );
    assert_eq!(s.to_party.gln, "0614141000005");
    assert_eq!(s.to_party.sgln.as_str(), "urn:epc:id:sgln:0614141.00000.0");
    assert_eq!(s.to_location.as_str(), "urn:epc:id:sgln:0614141.00020.0");
    let from = s.from_party.expect("from party");
    assert_eq!(from.sgln.as_str(), "urn:epc:id:sgln:0361414.00000.0");
    assert_eq!(
        s.from_location.expect("from location").as_str(),
        "urn:epc:id:sgln:0361414.00001.0",
        "a GLN location becomes its SGLN without extension"
    );
}

#[test]
fn ship_from_defaults_to_the_site() {
    let m = decode_str(&format!("{{{SHIP}}}")).expect("decodes");
    assert_eq!(m.event.kind(), "ship");
    let LineEvent::Ship(s) = m.event else {
        panic!("not a shipment")
    };
    assert_eq!((s.from_party, s.from_location, s.po), (None, None, None));
}

#[test]
fn a_bad_ship_message_is_refused_with_the_field_named() {
    let cases = [
        (
            r#"{"id":"s","type":"ship","kind":"sale","codes":["(00)003614145000000013"],"to_party":"0614141000005","to_location":"0614141000005"}"#,
            RejectCode::MissingField,
            "shipment",
        ),
        (
            &*format!(
                r#"{{{}}}"#,
                SHIP.replace(r#""kind":"sale""#, r#""kind":"gift""#)
            ),
            RejectCode::InvalidField,
            "kind",
        ),
        (
            &*format!(r#"{{{}}}"#, SHIP.replace("DLV-5521", "DLV 5521")),
            RejectCode::InvalidField,
            "shipment",
        ),
        (
            &*format!(r#"{{{}}}"#, SHIP.replace("0614141000005", "0614141000006")),
            RejectCode::InvalidField,
            "to_party",
        ),
        (
            &*format!(
                r#"{{{}}}"#,
                SHIP.replace(
                    "urn:epc:id:sgln:0614141.00020.0",
                    "urn:epc:id:sgln:0614141.0002.0"
                )
            ),
            RejectCode::InvalidField,
            "to_location",
        ),
        (
            &*format!(r#"{{{},"po":"{}"}}"#, SHIP, "P".repeat(36)),
            RejectCode::InvalidField,
            "po",
        ),
        (
            &*format!(
                r#"{{{}}}"#,
                SHIP.replace("(00)003614145000000013", "(00)003614145000000012")
            ),
            RejectCode::InvalidCode,
            "codes[0]",
        ),
        (
            r#"{"id":"s","type":"ship","shipment":"D1","kind":"sale","codes":["(00)003614145000000013"],"to_location":"0614141000005"}"#,
            RejectCode::MissingField,
            "to_party",
        ),
    ];
    for (payload, code, field) in cases {
        let (got, reason) = refused(payload);
        assert_eq!(got, code, "{payload}: {reason}");
        assert!(reason.contains(field), "{payload}: {reason}");
    }
}

#[test]
fn void_and_receive_decode_and_check_their_fields() {
    let v = decode_str(
        r#"{"id":"v","type":"void_shipment","shipment":"DLV-5521","reason":"ORDER_CANCELLED"}"#,
    )
    .expect("void");
    assert_eq!(
        v.event,
        LineEvent::VoidShipment {
            shipment: "DLV-5521".into(),
            reason: "ORDER_CANCELLED".into()
        }
    );
    let (code, reason) =
        refused(r#"{"id":"v","type":"void_shipment","shipment":"DLV-5521","reason":"no way"}"#);
    assert_eq!(code, RejectCode::InvalidField, "{reason}");
    let (code, _) = refused(r#"{"id":"v","type":"void_shipment","shipment":"DLV-5521"}"#);
    assert_eq!(code, RejectCode::MissingField);

    let r = decode_str(
        r#"{"id":"r","type":"receive","document":"REC-9","shipment":"DLV-5521","codes":["(00)003614145000000013"]}"#,
    )
    .expect("receive");
    let LineEvent::Receive(r) = r.event else {
        panic!("not a receipt")
    };
    assert_eq!(
        (r.document.as_str(), r.shipment.as_deref(), r.codes.len()),
        ("REC-9", Some("DLV-5521"), 1)
    );
    let (code, reason) =
        refused(r#"{"id":"r","type":"receive","codes":["(00)003614145000000013"]}"#);
    assert_eq!(code, RejectCode::MissingField, "{reason}");
    assert!(reason.contains("document"), "{reason}");
}

/// The examples of docs/mqtt-protocol-v1.md are valid by the published schema and decode; and
/// the schema refuses what the decoder refuses for the same reason.
#[test]
fn the_documented_examples_match_the_schema_and_the_decoder() {
    let root = env!("CARGO_MANIFEST_DIR");
    let docs = std::fs::read_to_string(format!("{root}/docs/mqtt-protocol-v1.md")).expect("docs");
    let section = docs
        .split("### Shipment examples")
        .nth(1)
        .and_then(|s| s.split("```json").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("the shipment examples in the docs");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/schemas/line-event-v1.schema.json"))
            .expect("schema"),
    )
    .expect("json");
    let validator = jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles");
    let examples: Vec<&str> = section.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(examples.len(), 4, "{section}");
    for line in examples {
        let value: serde_json::Value = serde_json::from_str(line).expect(line);
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{line}: {errors:?}");
        decode_str(line).unwrap_or_else(|r| panic!("{line}: {r:?}"));
    }
    for bad in [
        format!(r#"{{{}}}"#, SHIP.replace("DLV-5521", "DLV 5521")),
        format!(
            r#"{{{}}}"#,
            SHIP.replace(r#""kind":"sale""#, r#""kind":"gift""#)
        ),
        r#"{"id":"v","type":"void_shipment","shipment":"D1","reason":"no way"}"#.to_string(),
        r#"{"id":"r","type":"receive","codes":["(00)003614145000000013"]}"#.to_string(),
    ] {
        let value: serde_json::Value = serde_json::from_str(&bad).expect("json");
        assert!(!validator.is_valid(&value), "the schema accepts {bad}");
        assert!(decode_str(&bad).is_err(), "the decoder accepts {bad}");
    }
}
