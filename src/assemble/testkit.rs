//! Test support for the message builders: a small but complete batch as `FixtureRows`, the
//! partner and place it is reported for, the official-schema check for any of the three formats,
//! and snapshot files (`tests/snapshots/`, rewritten with `UPDATE_SNAPSHOTS=1`).

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::eob::Place;
use super::partner::{Format, Partner};
use super::rows::{BatchInfo, ContainerRow, EndKind, EndRow, FixtureRows, UnitRow};
use crate::epcis::PackagingLevel;
use crate::epcis::testkit::{XSD_12, XSD_20, json_errors, xmllint};
use crate::gs1::{EpcUri, Gln};
use crate::rules::SerialState;

pub fn uri(s: &str) -> EpcUri {
    EpcUri::parse(s).expect("a valid EPC URI")
}

pub fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 4, h, m, 0)
        .single()
        .expect("time")
}

pub fn unit(serial: &str) -> EpcUri {
    uri(&format!("urn:epc:id:sgtin:0361414.056789.{serial}"))
}

pub fn sscc(n: u32) -> EpcUri {
    uri(&format!("urn:epc:id:sscc:0361414.05{n:08}"))
}

pub fn place() -> Place {
    Place {
        read_point: uri("urn:epc:id:sgln:0361414.00001.L1"),
        biz_location: uri("urn:epc:id:sgln:0361414.00000.0"),
    }
}

pub fn partner(format: Format) -> Partner {
    Partner {
        format,
        ..Partner::new(
            "mah",
            Gln::parse("0361414000001").expect("gln"),
            Gln::parse("0614141000005").expect("gln"),
        )
    }
}

pub fn tz(_: DateTime<Utc>) -> String {
    "+01:00".to_string()
}

/// Ids `{prefix}-1`, `{prefix}-2`, … in drawing order.
pub fn ids(prefix: &'static str) -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("{prefix}-{n}")
    }
}

/// Batch B1 of lot LOT1: units A1–A4 in cases 1 and 2 on pallet 10, A5 loose, A6 destroyed,
/// A7 and A8 decommissioned by one message, A9 sampled.
pub fn batch() -> FixtureRows {
    let unit_row =
        |id: i64, serial: &str, m: u32, state: SerialState, parent: Option<i64>| UnitRow {
            id,
            epc: unit(serial),
            level: PackagingLevel::Each,
            state,
            commissioned_at: at(10, m),
            parent,
        };
    let container = |id: i64, n: u32, level: PackagingLevel, m: u32, parent: Option<i64>| UnitRow {
        id,
        epc: sscc(n),
        level,
        state: SerialState::Commissioned,
        commissioned_at: at(11, m),
        parent,
    };
    use PackagingLevel::{Case, Pallet};
    use SerialState::{Commissioned, Decommissioned, Destroyed, Sampled};
    let units = vec![
        unit_row(1, "A1", 1, Commissioned, Some(10)),
        unit_row(2, "A2", 2, Commissioned, Some(10)),
        unit_row(3, "A3", 3, Commissioned, Some(11)),
        unit_row(4, "A4", 4, Commissioned, Some(11)),
        unit_row(5, "A5", 5, Commissioned, None),
        unit_row(6, "A6", 6, Destroyed, None),
        unit_row(7, "A7", 7, Decommissioned, None),
        unit_row(8, "A8", 8, Decommissioned, None),
        unit_row(9, "A9", 9, Sampled, None),
        container(10, 1, Case, 1, Some(12)),
        container(11, 2, Case, 2, Some(12)),
        container(12, 10, Pallet, 3, None),
    ];
    let containers = vec![
        ContainerRow {
            id: 10,
            epc: sscc(1),
            level: Case,
            packed_at: at(11, 10),
        },
        ContainerRow {
            id: 11,
            epc: sscc(2),
            level: Case,
            packed_at: at(11, 11),
        },
        ContainerRow {
            id: 12,
            epc: sscc(10),
            level: Pallet,
            packed_at: at(11, 20),
        },
    ];
    let end = |event: i64, kind: EndKind, m: u32, serial: &str| EndRow {
        event,
        kind,
        time: at(12, m),
        reason: Some("damaged".into()),
        epc: unit(serial),
    };
    FixtureRows {
        info: Some(BatchInfo {
            batch: "B1".into(),
            line: "L1".into(),
            gtin: "00361414567894".into(),
            lot: "LOT1".into(),
            expiry: NaiveDate::from_ymd_opt(2027, 6, 30).expect("date"),
            work_order: Some("WO-7".into()),
            opened_at: at(9, 0),
            closed_at: at(17, 0),
            released_at: None,
            report: Some(r#"{"commissioned":12}"#.into()),
        }),
        units,
        containers,
        ends: vec![
            end(20, EndKind::Destroy, 1, "A6"),
            end(21, EndKind::Decommission, 2, "A7"),
            end(21, EndKind::Decommission, 2, "A8"),
            end(22, EndKind::Sample, 3, "A9"),
        ],
    }
}

/// Validates a document against GS1's official schema for its format; Err has the diagnostics.
pub fn validate(format: Format, doc: &[u8]) -> Result<(), String> {
    match format {
        Format::Epcis12 => xmllint(doc, XSD_12),
        Format::Epcis20Xml => xmllint(doc, XSD_20),
        Format::Epcis20Json => {
            let value: serde_json::Value =
                serde_json::from_slice(doc).map_err(|e| format!("not JSON: {e}"))?;
            let errors = json_errors(&value);
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors.join("\n"))
            }
        }
    }
}

pub fn assert_valid(format: Format, doc: &[u8]) {
    if let Err(diag) = validate(format, doc) {
        panic!(
            "{} document does not validate:\n{diag}\n{}",
            format.as_str(),
            String::from_utf8_lossy(doc)
        );
    }
}

/// Compares `doc` with `tests/snapshots/{name}`; `UPDATE_SNAPSHOTS=1` writes it instead.
pub fn assert_snapshot(name: &str, doc: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("snapshot dir");
        std::fs::write(&path, doc).expect("write snapshot");
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "snapshot {} is missing ({e}); run with UPDATE_SNAPSHOTS=1 and review it",
            path.display()
        )
    });
    if expected != doc {
        panic!(
            "document differs from snapshot {} (UPDATE_SNAPSHOTS=1 rewrites it after review):\n{}",
            path.display(),
            String::from_utf8_lossy(doc)
        );
    }
}
