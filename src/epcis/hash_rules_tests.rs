//! Tests of the event hash's rules, beyond GS1's expected hashes (`hash_tests.rs`): what the
//! hash ignores and what changes it, the canonical forms of timestamps, numbers and identifiers,
//! and an error (never a panic) for odd input. Expected forms come from the CBV text or from the
//! reference implementation (`epcis-event-hash-generator` 1.9.3), never from this code's output.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::ids::digital_link;
use super::values::{number, timestamp};
use super::{EventHashError, EventHasher, event_id};

/// A commissioning event as linegate sends them.
fn commissioning() -> Value {
    json!({
        "type": "ObjectEvent",
        "eventTime": "2024-03-01T08:15:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": ["urn:epc:id:sgtin:4012345.011111.1001", "urn:epc:id:sgtin:4012345.011111.1002"],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
        "bizLocation": {"id": "urn:epc:id:sgln:4012345.00000.0"},
        "bizTransactionList": [
            {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO-7"},
            {"type": "prodorder", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:WO-1"}
        ],
        "ilmd": {"cbvmda:lotNumber": "L2024-01", "cbvmda:itemExpirationDate": "2026-02-28"}
    })
}

fn hash(event: &Value) -> String {
    event_id(event, None).expect("hash")
}

fn with(change: impl FnOnce(&mut Value)) -> Value {
    let mut event = commissioning();
    change(&mut event);
    event
}

#[test]
fn an_event_id_is_an_ni_uri_of_sha_256() {
    let id = hash(&commissioning());
    let hex = id
        .strip_prefix("ni:///sha-256;")
        .and_then(|rest| rest.strip_suffix("?ver=CBV2.0"))
        .expect("ni:///sha-256;…?ver=CBV2.0");
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}

/// eventID, recordTime and errorDeclaration take no part: an event keeps its hash when they are
/// set, e.g. when the hash itself is written into `eventID`.
#[test]
fn the_left_out_fields_do_not_change_the_hash() {
    let base = hash(&commissioning());
    let with_id = with(|e| e["eventID"] = json!(base.clone()));
    assert_eq!(hash(&with_id), base);
    let recorded = with(|e| e["recordTime"] = json!("2024-03-02T00:00:00Z"));
    assert_eq!(hash(&recorded), base);
    let declared = with(|e| {
        e["errorDeclaration"] = json!({"declarationTime": "2024-03-03T00:00:00Z",
            "reason": "incorrect_data", "correctiveEventIDs": ["urn:uuid:1"]});
    });
    assert_eq!(hash(&declared), base);
}

/// The same event with its keys written in another order and its lists reversed.
#[test]
fn the_order_of_keys_and_list_entries_does_not_change_the_hash() {
    let reordered: Value = serde_json::from_str(
        r#"{"ilmd": {"cbvmda:itemExpirationDate": "2026-02-28", "cbvmda:lotNumber": "L2024-01"},
            "bizTransactionList": [
              {"bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:WO-1", "type": "prodorder"},
              {"bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO-7", "type": "po"}],
            "bizLocation": {"id": "urn:epc:id:sgln:4012345.00000.0"},
            "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
            "disposition": "active", "bizStep": "commissioning", "action": "ADD",
            "epcList": ["urn:epc:id:sgtin:4012345.011111.1002",
                        "urn:epc:id:sgtin:4012345.011111.1001"],
            "eventTimeZoneOffset": "+01:00", "eventTime": "2024-03-01T08:15:00.000+01:00",
            "type": "ObjectEvent"}"#,
    )
    .expect("JSON");
    assert_eq!(hash(&reordered), hash(&commissioning()));
}

/// The CBV's equivalent spellings of one value give one hash: bare words, URNs, CURIEs and web
/// URIs; EPC URIs and Digital Link URIs on any domain; any UTC offset; `2`, `2.0` and `"2.00"`;
/// whitespace around a value; a document prefix or the full IRI for an extension key.
#[test]
fn equivalent_spellings_of_a_value_hash_alike() {
    let base = hash(&commissioning());
    let same = [
        with(|e| e["bizStep"] = json!("urn:epcglobal:cbv:bizstep:commissioning")),
        with(|e| e["bizStep"] = json!("cbv:BizStep-commissioning")),
        with(|e| e["bizStep"] = json!("https://ref.gs1.org/cbv/BizStep-commissioning")),
        with(|e| e["bizStep"] = json!("  commissioning ")),
        with(|e| e["disposition"] = json!("urn:epcglobal:cbv:disp:active")),
        with(|e| e["epcList"][0] = json!("https://id.gs1.org/01/04012345111118/21/1001")),
        with(|e| e["epcList"][0] = json!("https://brand.example/gtin/4012345111118/ser/1001?x=1")),
        with(|e| e["readPoint"]["id"] = json!("https://id.gs1.org/414/4012345000016")),
        with(|e| e["eventTime"] = json!("2024-03-01T07:15:00Z")),
        with(|e| e["eventTime"] = json!("2024-03-01T02:15:00.0004-05:00")),
        with(|e| e["bizTransactionList"][0]["type"] = json!("urn:epcglobal:cbv:btt:po")),
        with(|e| {
            let ilmd = e["ilmd"].as_object_mut().expect("ilmd");
            let lot = ilmd.remove("cbvmda:lotNumber").expect("lot");
            ilmd.insert("urn:epcglobal:cbv:mda:lotNumber".into(), lot);
        }),
    ];
    for (i, event) in same.iter().enumerate() {
        assert_eq!(hash(event), base, "spelling {i}");
    }
    let quantity = |q: Value| {
        with(|e| {
            e["quantityList"] = json!([{"epcClass": "urn:epc:class:lgtin:4012345.012345.L1",
            "quantity": q, "uom": "KGM"}])
        })
    };
    assert_eq!(hash(&quantity(json!(2))), hash(&quantity(json!(2.0))));
    assert_eq!(hash(&quantity(json!(2))), hash(&quantity(json!("2.00"))));
    let context = json!(["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"lg": "https://linegate.example/ns/"}]);
    let prefixed = with(|e| e["lg:line"] = json!("L1"));
    let full = with(|e| e["https://linegate.example/ns/line"] = json!("L1"));
    let in_event = with(|e| {
        e["@context"] = json!({"own": "https://linegate.example/ns/"});
        e["own:line"] = json!("L1");
    });
    let expected = event_id(&prefixed, Some(&context)).expect("hash");
    assert_eq!(hash(&full), expected);
    assert_eq!(hash(&in_event), expected);
}

/// Every change to what the event says gives another hash.
#[test]
fn a_change_that_matters_changes_the_hash() {
    let changed = [
        with(|e| e["epcList"][1] = json!("urn:epc:id:sgtin:4012345.011111.1003")),
        with(|e| {
            e["epcList"].as_array_mut().expect("list").pop();
        }),
        with(|e| e["eventTime"] = json!("2024-03-01T08:15:00.001+01:00")),
        with(|e| e["eventTimeZoneOffset"] = json!("+02:00")),
        with(|e| e["type"] = json!("TransactionEvent")),
        with(|e| e["action"] = json!("OBSERVE")),
        with(|e| e["bizStep"] = json!("packing")),
        with(|e| e["disposition"] = json!("in_progress")),
        with(|e| e["readPoint"]["id"] = json!("urn:epc:id:sgln:4012345.00001.1")),
        with(|e| {
            e.as_object_mut().expect("event").remove("bizLocation");
        }),
        with(|e| e["bizTransactionList"][0]["type"] = json!("inv")),
        with(|e| e["ilmd"]["cbvmda:lotNumber"] = json!("L2024-02")),
        with(|e| e["ilmd"]["cbvmda:itemExpirationDate"] = json!("2026-02-27")),
        with(|e| e["https://linegate.example/ns/line"] = json!("L1")),
        with(|e| e["https://linegate.example/ns/line"] = json!("L2")),
        with(|e| e["persistentDisposition"] = json!({"set": ["completeness_verified"]})),
    ];
    let mut hashes: Vec<String> = changed.iter().map(hash).collect();
    hashes.push(hash(&commissioning()));
    let count = hashes.len();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), count, "two different events hash alike");
}

/// Timestamps, as the reference implementation writes them except for the last two: it rounds
/// half to even (`.1425` → `.142`) and fails on a carry into the next second, where the CBV's
/// rule ("round the 3rd decimal up if the 4th is 5–9") gives `.143` and the next second.
#[test]
fn timestamps_are_utc_with_milliseconds() {
    let cases = [
        ("2019-10-21T11:00:30.000+01:00", "2019-10-21T10:00:30.000Z"),
        ("2019-10-21T00:05:00-06:00", "2019-10-21T06:05:00.000Z"),
        (
            "2005-04-03T20:33:31.116000-06:00",
            "2005-04-04T02:33:31.116Z",
        ),
        ("2022-02-17T11:30:47.0Z", "2022-02-17T11:30:47.000Z"),
        ("2023-01-18T11:04:03.1414Z", "2023-01-18T11:04:03.141Z"),
        ("2023-01-18T11:04:03.1415Z", "2023-01-18T11:04:03.142Z"),
        ("2023-01-18T11:04:03.1425Z", "2023-01-18T11:04:03.143Z"),
        ("2023-12-31T23:59:59.9996Z", "2024-01-01T00:00:00.000Z"),
    ];
    for (input, expected) in cases {
        assert_eq!(timestamp(input).as_deref(), Some(expected), "{input}");
    }
    for bad in [
        "2019-10-21T11:00:30",
        "2019-10-21",
        "yesterday",
        "",
        "2019-13-01T00:00:00Z",
    ] {
        assert_eq!(timestamp(bad), None, "{bad}");
    }
}

/// Numbers as the reference implementation writes every value that reads as one (it does not
/// read `1_000`, `inf` or `1e400` the way Python does; those stay as they are).
#[test]
fn numbers_are_written_without_trailing_zeros() {
    let cases = [
        ("123", "123"),
        ("0123", "123"),
        ("1.50", "1.5"),
        ("-0.0", "0"),
        ("+5", "5"),
        ("5.", "5"),
        (".5", "0.5"),
        ("1e3", "1000"),
        ("1E-7", "1e-07"),
        ("0.00001", "1e-05"),
        ("0.0001", "0.0001"),
        ("12.5e-10", "1.25e-09"),
        ("3.14159265358979323846", "3.141592653589793"),
        ("1e22", "10000000000000000000000"),
        ("9007199254740993", "9007199254740992"),
        (
            "123456789012345678901234567890",
            "123456789012345677877719597056",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(number(input).as_deref(), Some(expected), "{input}");
    }
    for not_a_number in [
        "abc",
        "2019-10-21",
        "1.2.3",
        "e5",
        "1e",
        "nan",
        "inf",
        "1e400",
        "1_000",
    ] {
        assert_eq!(number(not_a_number), None, "{not_a_number}");
    }
}

/// EPC URIs as Digital Link URIs (each from the reference implementation).
#[test]
fn epc_uris_become_canonical_digital_link_uris() {
    let cases = [
        (
            "urn:epc:id:sgtin:0614141.812345.6789",
            "01/80614141123458/21/6789",
        ),
        (
            "urn:epc:id:sgtin:0614141.712345.32a%2Fb",
            "01/70614141123451/21/32a%2Fb",
        ),
        (
            "urn:epc:id:sgtin:061414112345.1.ser!(x)*+,:;='_-.",
            "01/10614141123459/21/ser%21%28x%29%2A%2B%2C%3A;='_-.",
        ),
        (
            "urn:epc:id:sscc:0614141.1234567890",
            "00/106141412345678908",
        ),
        (
            "urn:epc:id:sgln:0614141.12345.400",
            "414/0614141123452/254/400",
        ),
        ("urn:epc:id:sgln:0614141.12345.0", "414/0614141123452"),
        (
            "urn:epc:id:grai:0614141.12345.400",
            "8003/00614141123452400",
        ),
        ("urn:epc:id:giai:0614141.AB%2FC!", "8004/0614141AB%2FC%21"),
        (
            "urn:epc:id:gsrn:0614141.1234567890",
            "8018/061414112345678902",
        ),
        (
            "urn:epc:id:gsrnp:0614141.1234567890",
            "8017/061414112345678902",
        ),
        ("urn:epc:id:gdti:0614141.12345.400", "253/0614141123452400"),
        ("urn:epc:id:gdti:0614141.12345.", "253/0614141123452"),
        (
            "urn:epc:id:cpi:0614141.123%2FBC-.12",
            "8010/0614141123%2FBC-/8011/12",
        ),
        (
            "urn:epc:id:sgcn:4012345.67890.04711",
            "255/401234567890104711",
        ),
        (
            "urn:epc:id:ginc:0614141.xyz47(11)",
            "401/0614141xyz47%2811%29",
        ),
        ("urn:epc:id:gsin:0614141.123456789", "402/06141411234567890"),
        (
            "urn:epc:id:itip:4012345.012345.01.02.987",
            "8006/040123451234560102/21/987",
        ),
        (
            "urn:epc:id:upui:1234567.098765.51qIgY)%3C%26Jp3*j7'SDB",
            "01/01234567987651/235/51qIgY%29%3C%26Jp3%2Aj7'SDB",
        ),
        ("urn:epc:id:pgln:061414112345.", "417/0614141123452"),
        (
            "urn:epc:class:lgtin:4012345.012345.a+b",
            "01/04012345123456/10/a%2Bb",
        ),
        ("urn:epc:idpat:sgtin:4012345.066666.*", "01/04012345666663"),
        ("urn:epc:idpat:grai:4012345.12345.*", "8003/04012345123456"),
        ("urn:epc:idpat:cpi:0614141.123ABC.*", "8010/0614141123ABC"),
        (
            "urn:epc:idpat:itip:4012345.012345.01.02.*",
            "8006/040123451234560102",
        ),
    ];
    for (epc, path) in cases {
        let expected = format!("https://id.gs1.org/{path}");
        assert_eq!(
            digital_link(epc).as_deref(),
            Some(expected.as_str()),
            "{epc}"
        );
    }
    for kept in [
        "urn:epc:id:sgtin:0614141.812345.123456789012345678901",
        "urn:epc:id:sgtin:0614141.81234.1",
        "urn:epc:id:gid:95100000.12345.400",
        "urn:epc:idpat:sgtin:4012345.*.*",
    ] {
        assert_eq!(digital_link(kept), None, "{kept}");
    }
}

/// Digital Link URIs constrained (each from the reference implementation).
#[test]
fn digital_link_uris_are_constrained() {
    let cases = [
        (
            "https://id.gs1.org/01/09520123456788/10/ABC/21/12345",
            "01/09520123456788/21/12345",
        ),
        (
            "https://example.com/01/9520123456788/10/ABC?17=201225",
            "01/09520123456788/10/ABC",
        ),
        (
            "http://example.com/some/path/gtin/9520123456788/lot/ABC/ser/X1",
            "01/09520123456788/21/X1",
        ),
        (
            "https://id.gs1.org/01/09520123456788/22/2A/10/ABC/21/1",
            "01/09520123456788/21/1",
        ),
        (
            "https://id.gs1.org/01/12345678/21/1",
            "01/00000012345678/21/1",
        ),
        (
            "https://id.gs1.org/sscc/106141412345678908",
            "00/106141412345678908",
        ),
        ("https://example.org/8004/401234599999", "8004/401234599999"),
        (
            "https://example.com/253/4012345000054987",
            "253/4012345000054987",
        ),
        (
            "https://id.gs1.org/8010/0614141ABC/8011/12",
            "8010/0614141ABC/8011/12",
        ),
    ];
    for (uri, path) in cases {
        let expected = format!("https://id.gs1.org/{path}");
        assert_eq!(
            digital_link(uri).as_deref(),
            Some(expected.as_str()),
            "{uri}"
        );
    }
    for kept in [
        "https://id.gs1.org/414/4012345000009/254/a%2Fb",
        "https://id.gs1.org/01/09520123456788/21/1#frag",
        "https://id.gs1.org/01/09520123456788/7003/2101011200",
        "https://id.gs1.org/01/09520123456788/21/12345/",
        "http://transaction.acme.com/po/12345678",
    ] {
        assert_eq!(digital_link(kept), None, "{kept}");
    }
}

#[test]
fn odd_events_get_an_error_that_names_the_field() {
    let err = |event: Value| event_id(&event, None).expect_err("an error");
    assert!(matches!(
        err(json!([])),
        EventHashError::NotAnObject { found: "an array" }
    ));
    let no_type = with(|e| {
        e.as_object_mut().expect("event").remove("type");
    });
    assert_eq!(err(no_type), EventHashError::Missing { field: "type" });
    let unknown = err(with(|e| e["type"] = json!("ObjectEvnt")));
    assert!(unknown.to_string().contains("\"ObjectEvnt\""), "{unknown}");
    let no_time = with(|e| {
        e.as_object_mut().expect("event").remove("eventTime");
    });
    assert_eq!(err(no_time), EventHashError::Missing { field: "eventTime" });
    let bad_time = err(with(|e| e["eventTime"] = json!("2024-03-01 08:15")));
    assert!(matches!(&bad_time, EventHashError::BadTimestamp { path, .. } if path == "eventTime"));
    let not_a_list = err(with(|e| e["bizTransactionList"] = json!("po")));
    assert_eq!(
        not_a_list.to_string(),
        "`bizTransactionList` must be an array, not a string"
    );
    let nested = err(with(|e| e["readPoint"]["id"] = json!({"id": "x"})));
    assert!(matches!(&nested, EventHashError::WrongType { path, .. } if path == "readPoint.id"));
    let unprefixed = err(with(|e| e["lotNumber"] = json!("L1")));
    assert_eq!(
        unprefixed,
        EventHashError::UnknownField {
            path: "lotNumber".into()
        }
    );
    let undeclared = err(with(|e| e["ilmd"]["lg:line"] = json!("L1")));
    assert_eq!(
        undeclared,
        EventHashError::UndeclaredPrefix {
            path: "ilmd.lg:line".into(),
            prefix: "lg".into()
        }
    );
    let sensor_time = err(with(|e| {
        e["sensorElementList"] = json!([{"sensorReport": [{"type": "Temperature"}, {"time": 5}]}]);
    }));
    assert!(
        matches!(&sensor_time, EventHashError::WrongType { path, .. }
            if path == "sensorElementList[0].sensorReport[1].time"),
        "{sensor_time}"
    );
    let mut deep = json!("bottom");
    for _ in 0..100 {
        deep = json!({"https://x.example/a": deep});
    }
    let too_deep = err(with(|e| e["https://x.example/a"] = deep));
    assert!(matches!(too_deep, EventHashError::TooDeep { .. }));
    let context = EventHasher::new(Some(&json!(42))).expect_err("a bad context");
    assert!(matches!(context, EventHashError::BadContext { .. }));
}

/// Values that could trip the hash: identifiers cut short, stray `%`, non-ASCII, numbers.
const AWKWARD: [&str; 16] = [
    "urn:epc:id:sgtin:",
    "urn:epc:id:sgtin:0614141.812345.%",
    "urn:epc:id:sgtin:0614141.812345.%é1",
    "urn:epc:id:sscc:0614141.",
    "urn:epc:id:cpi:0614141..",
    "urn:epc:idpat:itip:4012345.012345.*",
    "urn:epc:class:lgtin:4012345.012345.",
    "https://",
    "https://a/01/",
    "https://a/01/9520123456788é/21/1",
    "https://a/253/40123éé",
    "ex:",
    ":",
    "1e400",
    "2019-10-21T11:00:30.99999999999Z",
    "ünïcödé",
];

fn awkward_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::String),
        proptest::sample::select(AWKWARD.to_vec()).prop_map(Value::from),
    ];
    let key = prop_oneof![
        proptest::sample::select(vec![
            "id",
            "type",
            "epcClass",
            "quantity",
            "set",
            "sensorReport",
            "sensorMetadata",
            "time",
            "ex:a",
            "cbvmda:lotNumber",
            "https://x.example/a",
            "@context",
        ])
        .prop_map(String::from),
        "[a-z:@/]{0,6}",
    ];
    leaf.prop_recursive(4, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Whatever a field holds, hashing gives a hash or an error, never a panic.
    #[test]
    fn any_value_in_any_field_gives_a_hash_or_an_error(
        field in proptest::sample::select(vec![
            "eventTime", "eventTimeZoneOffset", "certificationInfo", "parentID", "epcList",
            "quantityList", "action", "bizStep", "persistentDisposition", "readPoint",
            "sensorElementList", "bizTransactionList", "sourceList", "ilmd", "ex:ext", "@context",
        ]),
        value in awkward_json(),
    ) {
        let event = with(|e| e[field] = value);
        let context = json!([{"ex": "https://ns.example.com/epcis/"}]);
        let _ = event_id(&event, Some(&context));
    }

    #[test]
    fn any_text_canonicalises_without_panicking(
        text in "\\PC{0,40}",
        awkward in proptest::sample::select(AWKWARD.to_vec()),
    ) {
        let _ = digital_link(&format!("{awkward}{text}"));
        let _ = timestamp(&format!("{awkward}{text}"));
        let _ = number(&text);
    }
}
