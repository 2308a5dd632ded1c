//! `SqliteBatchRows` on a real SQLite file filled through the daemon's ingest path (the line
//! rules judge every message): levels, containers innermost first with their contents and
//! packing times, the top level, the units taken out. `Feed` builds the line's messages and is
//! shared with the outbox tests.

use std::path::Path;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::super::{Decoded, IngestItem, IngestOutcome, ReadOnlyStore, Store, StoreThread};
use crate::assemble::rows::{BatchRows, EndKind};
use crate::epcis::PackagingLevel;
use crate::gs1::{CompanyPrefixes, check_digit, parse_code};
use crate::model::{BatchOpen, CodeRecord, LineEvent, LineMessage, UnitAction};
use crate::rules::{RulesPolicy, SerialState};

pub(in crate::store) const UNIT_GTIN: &str = "00361414567894";
pub(in crate::store) const CASE_GTIN: &str = "50361414567899";

/// A GTIN-14 from its first 13 digits.
fn gtin(body: &str) -> String {
    format!("{body}{}", check_digit(body).expect("digits"))
}

/// A unit of `gtin` (bracketed element string).
pub(in crate::store) fn sgtin(gtin: &str, serial: &str) -> String {
    format!("(01){gtin}(21){serial}")
}

/// The SSCC with serial reference `n` (company prefix 0361414).
pub(in crate::store) fn sscc(n: usize) -> String {
    let body = format!("00361414{n:09}");
    format!("(00){body}{}", check_digit(&body).expect("digits"))
}

/// A line's messages, one second apart, ingested in order by `run`.
pub(in crate::store) struct Feed {
    prefixes: CompanyPrefixes,
    t0: DateTime<Utc>,
    /// Messages made so far (their ids and times count on).
    sent: usize,
    items: Vec<IngestItem>,
}

impl Feed {
    pub(in crate::store) fn new() -> Feed {
        Feed {
            prefixes: CompanyPrefixes::new(vec!["0361414".into()], None).expect("a prefix"),
            t0: Utc
                .with_ymd_and_hms(2026, 3, 4, 10, 0, 0)
                .single()
                .expect("a time"),
            sent: 0,
            items: Vec::new(),
        }
    }

    /// A code as the decoder makes it.
    pub(in crate::store) fn code(&self, text: &str) -> CodeRecord {
        let today = NaiveDate::from_ymd_opt(2026, 3, 4).expect("a date");
        let code = parse_code(text, today).unwrap_or_else(|e| panic!("{text}: {e}"));
        CodeRecord {
            key: code.id.key(),
            epc: self.prefixes.epc_uri(&code).expect("an EPC"),
            gtin: code.id.gtin().map(|g| g.as_str().to_string()),
            lot: None,
            expiry: None,
        }
    }

    pub(in crate::store) fn epc(&self, text: &str) -> String {
        self.code(text).epc.as_str().to_string()
    }

    /// The time of message `n` (0-based).
    pub(in crate::store) fn time(&self, n: usize) -> DateTime<Utc> {
        self.t0 + chrono::Duration::seconds(n as i64)
    }

    /// Adds a message; returns its time.
    pub(in crate::store) fn push(&mut self, event: LineEvent) -> DateTime<Utc> {
        let n = self.sent;
        self.sent += 1;
        let time = self.time(n);
        self.items.push(IngestItem {
            topic: "t/lines/L1/events".into(),
            line: Some("L1".into()),
            received_at: time,
            payload: Vec::new(),
            decoded: Decoded::Accepted(LineMessage {
                line: "L1".into(),
                message_id: format!("m{n}"),
                time,
                event,
            }),
        });
        time
    }

    pub(in crate::store) fn open(&mut self, batch: &str, gtin: &str, pack: &str) {
        self.push(LineEvent::BatchOpen(BatchOpen {
            batch: batch.into(),
            gtin: gtin.into(),
            pack_gtins: vec![pack.into()],
            lot: "LOT1".into(),
            expiry: NaiveDate::from_ymd_opt(2027, 6, 30).expect("a date"),
            work_order: None,
            planned_quantity: None,
        }));
    }

    pub(in crate::store) fn commission(&mut self, batch: &str, codes: &[String]) {
        let codes = codes.iter().map(|c| self.code(c)).collect();
        self.push(LineEvent::Commission {
            batch: batch.into(),
            codes,
        });
    }

    pub(in crate::store) fn aggregate(
        &mut self,
        parent: &str,
        children: &[String],
    ) -> DateTime<Utc> {
        let parent = self.code(parent);
        let children = children.iter().map(|c| self.code(c)).collect();
        self.push(LineEvent::Aggregate { parent, children })
    }

    pub(in crate::store) fn units(
        &mut self,
        action: UnitAction,
        codes: &[String],
        reason: Option<&str>,
    ) -> DateTime<Utc> {
        let codes = codes.iter().map(|c| self.code(c)).collect();
        self.push(LineEvent::Units {
            action,
            codes,
            reason: reason.map(String::from),
        })
    }

    pub(in crate::store) fn close(&mut self, batch: &str) -> DateTime<Utc> {
        self.push(LineEvent::BatchClose {
            batch: batch.into(),
        })
    }

    pub(in crate::store) fn release(&mut self, batch: &str) -> DateTime<Utc> {
        self.push(LineEvent::BatchRelease {
            batch: batch.into(),
        })
    }

    /// Ingests every message added so far; each must be applied.
    pub(in crate::store) fn run(&mut self, runtime: &tokio::runtime::Runtime, store: &Store) {
        let items = std::mem::take(&mut self.items);
        runtime.block_on(async {
            for item in items {
                let id = match &item.decoded {
                    Decoded::Accepted(m) => format!("{} {}", m.message_id, m.event.kind()),
                    Decoded::Refused { .. } => "refused".into(),
                };
                let outcome = store.ingest(item).await.expect("committed");
                assert_eq!(outcome, IngestOutcome::Applied, "{id}");
            }
        });
    }
}

/// A runtime and a store in `dir`.
pub(in crate::store) fn open_store(dir: &Path) -> (tokio::runtime::Runtime, Store, StoreThread) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (store, thread) = Store::open(dir, RulesPolicy::default()).expect("the store");
    (runtime, store, thread)
}

fn units_of(rows: &mut dyn BatchRows, level: PackagingLevel) -> Vec<(String, SerialState)> {
    let mut out = Vec::new();
    rows.units(level, &mut |u| {
        assert_eq!(u.level, level, "{}", u.epc);
        out.push((u.epc.as_str().to_string(), u.state));
        Ok(())
    })
    .expect("units");
    out
}

#[test]
fn levels_containers_top_level_and_ends_of_a_packed_batch() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runtime, store, thread) = open_store(dir.path());
    let mut f = Feed::new();
    let u = |i: usize| sgtin(UNIT_GTIN, &format!("U{i}"));
    let (unit2, case2) = (gtin("0036141456781"), gtin("5036141456781"));
    let case = |s: &str| sgtin(CASE_GTIN, s);
    // B1's identifiers: nine units, two cases, a shipper case (SSCC), a pallet and an SSCC that
    // ends up holding another batch's case.
    let (s1, p1, e1) = (sscc(1), sscc(2), sscc(3));
    // B2 on the same line: a unit and two cases, one packed on B1's SSCC, one holding B1's U9.
    let (x1, q, q2) = (sgtin(&unit2, "X1"), sgtin(&case2, "Q"), sgtin(&case2, "Q2"));
    f.open("B1", UNIT_GTIN, CASE_GTIN);
    f.open("B2", &unit2, &case2);
    f.commission("B1", &(1..=9).map(u).collect::<Vec<_>>());
    f.commission("B1", &[case("C1"), case("C2")]);
    f.commission("B1", &[s1.clone(), p1.clone(), e1.clone()]);
    f.commission("B2", &[x1.clone(), q.clone(), q2.clone()]);
    f.aggregate(&case("C1"), &[u(1), u(2)]);
    let s1_packed = f.aggregate(&s1, &[u(3)]);
    let c2_packed = f.aggregate(&case("C2"), &[u(4)]);
    let p1_packed = f.aggregate(&p1, &[case("C1"), case("C2")]);
    // More units into C1 while it is on the pallet: C1 was last packed now, not when it went
    // onto the pallet.
    let c1_packed = f.aggregate(&case("C1"), &[u(5)]);
    f.aggregate(&q, std::slice::from_ref(&x1));
    let e1_packed = f.aggregate(&e1, std::slice::from_ref(&q));
    f.aggregate(&q2, &[u(9)]);
    let decommissioned = f.units(UnitAction::Decommission, &[u(6)], Some("damaged"));
    let sampled = f.units(UnitAction::Sample, &[u(7), u(8)], Some("qa"));
    let destroyed = f.units(UnitAction::Destroy, &[u(7)], None);
    // U8 was sampled by mistake: it is back, and not reported as taken out.
    f.units(UnitAction::CorrectStatus, &[u(8)], None);
    let closed = f.close("B1");
    f.run(&runtime, &store);

    let mut ro = ReadOnlyStore::open(dir.path()).expect("read-only");
    assert!(ro.batch_rows("nope").expect("reads").is_none());
    let mut rows = ro.batch_rows("B1").expect("reads").expect("B1");
    let info = rows.info().clone();
    assert_eq!(
        (info.gtin.as_str(), info.lot.as_str(), info.closed_at),
        (UNIT_GTIN, "LOT1", closed)
    );
    assert_eq!(info.released_at, None);
    assert!(info.report.is_some(), "the close stored a report");

    // Levels: B2's identifiers are not here; the SSCC holding B2's case is a pallet.
    let each = units_of(&mut rows, PackagingLevel::Each);
    let want: Vec<String> = (1..=9).map(|i| f.epc(&u(i))).collect();
    assert_eq!(
        each.iter().map(|e| e.0.clone()).collect::<Vec<_>>(),
        want,
        "every unit, whatever its state, in commissioning order"
    );
    assert_eq!(each[5].1, SerialState::Decommissioned);
    assert_eq!(each[6].1, SerialState::Destroyed);
    assert_eq!(each[7].1, SerialState::Commissioned);
    let cases: Vec<String> = units_of(&mut rows, PackagingLevel::Case)
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(cases, [f.epc(&case("C1")), f.epc(&case("C2")), f.epc(&s1)]);
    let pallets: Vec<String> = units_of(&mut rows, PackagingLevel::Pallet)
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(pallets, [f.epc(&p1), f.epc(&e1)]);

    // Containers innermost first (ties in commissioning order), their time and contents.
    let containers = rows.containers().expect("containers");
    let got: Vec<(String, PackagingLevel, DateTime<Utc>)> = containers
        .iter()
        .map(|c| (c.epc.as_str().to_string(), c.level, c.packed_at))
        .collect();
    assert_eq!(
        got,
        [
            (f.epc(&case("C1")), PackagingLevel::Case, c1_packed),
            (f.epc(&case("C2")), PackagingLevel::Case, c2_packed),
            (f.epc(&s1), PackagingLevel::Case, s1_packed),
            (f.epc(&e1), PackagingLevel::Pallet, e1_packed),
            (f.epc(&p1), PackagingLevel::Pallet, p1_packed),
        ]
    );
    let mut children = |id: i64| {
        let mut out = Vec::new();
        rows.children(id, &mut |e| {
            out.push(e.as_str().to_string());
            Ok(())
        })
        .expect("children");
        out
    };
    assert_eq!(
        children(containers[0].id),
        [f.epc(&u(1)), f.epc(&u(2)), f.epc(&u(5))]
    );
    assert_eq!(
        children(containers[4].id),
        [f.epc(&case("C1")), f.epc(&case("C2"))]
    );
    assert_eq!(children(containers[3].id), [f.epc(&q)]);

    // Top level: live, and loose or in a container of another batch (U9 in B2's Q2).
    let mut top = Vec::new();
    rows.top_level(&mut |e| {
        top.push(e.as_str().to_string());
        Ok(())
    })
    .expect("top level");
    assert_eq!(
        top,
        [
            f.epc(&u(8)),
            f.epc(&u(9)),
            f.epc(&s1),
            f.epc(&p1),
            f.epc(&e1)
        ]
    );

    // Units taken out: one row per (message, unit), in message order.
    let mut ends = Vec::new();
    rows.ends(&mut |e| {
        ends.push((e.kind, e.time, e.reason, e.epc.as_str().to_string()));
        Ok(())
    })
    .expect("ends");
    assert_eq!(
        ends,
        [
            (
                EndKind::Decommission,
                decommissioned,
                Some("damaged".into()),
                f.epc(&u(6))
            ),
            (EndKind::Sample, sampled, Some("qa".into()), f.epc(&u(7))),
            (EndKind::Destroy, destroyed, None, f.epc(&u(7))),
        ]
    );
    drop(rows);
    drop(ro);
    drop(store);
    thread.join();
}

/// The shape is the same whichever method asks first (`units(Each)` builds it on the way).
#[test]
fn case_rows_come_the_same_before_and_after_the_unit_pass() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runtime, store, thread) = open_store(dir.path());
    let mut f = Feed::new();
    f.open("B1", UNIT_GTIN, CASE_GTIN);
    let units: Vec<String> = (1..=4)
        .map(|i| sgtin(UNIT_GTIN, &format!("U{i}")))
        .collect();
    f.commission("B1", &units);
    f.commission("B1", &[sscc(7), sscc(8)]);
    f.aggregate(&sscc(7), &units[..2]);
    f.aggregate(&sscc(8), &[sscc(7)]);
    f.close("B1");
    f.run(&runtime, &store);
    let mut ro = ReadOnlyStore::open(dir.path()).expect("read-only");
    let first = {
        let mut rows = ro.batch_rows("B1").expect("reads").expect("B1");
        let c = units_of(&mut rows, PackagingLevel::Case);
        let p = units_of(&mut rows, PackagingLevel::Pallet);
        assert_eq!(units_of(&mut rows, PackagingLevel::Each).len(), 4);
        (c, p)
    };
    let mut rows = ro.batch_rows("B1").expect("reads").expect("B1");
    assert_eq!(units_of(&mut rows, PackagingLevel::Each).len(), 4);
    let second = (
        units_of(&mut rows, PackagingLevel::Case),
        units_of(&mut rows, PackagingLevel::Pallet),
    );
    assert_eq!(first, second);
    assert_eq!(first.0.len(), 1, "the SSCC holding units is a case");
    assert_eq!(first.1.len(), 1, "the SSCC holding it is a pallet");
    drop(rows);
    drop(ro);
    drop(store);
    thread.join();
}

/// Loose units scattered between packed ones come out of `top_level` in id order, however the
/// first pass grouped them into ranges.
#[test]
fn scattered_loose_units_and_loose_cases_are_the_top_level() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runtime, store, thread) = open_store(dir.path());
    let mut f = Feed::new();
    f.open("B1", UNIT_GTIN, CASE_GTIN);
    let units: Vec<String> = (0..200)
        .map(|i| sgtin(UNIT_GTIN, &format!("U{i}")))
        .collect();
    let cases: Vec<String> = (0..20)
        .map(|i| sgtin(CASE_GTIN, &format!("C{i}")))
        .collect();
    f.commission("B1", &units);
    f.commission("B1", &cases);
    let loose = [5, 100, 101, 199];
    for (i, case) in cases.iter().enumerate() {
        let packed: Vec<String> = (i * 10..(i + 1) * 10)
            .filter(|u| !loose.contains(u))
            .map(|u| units[u].clone())
            .collect();
        f.aggregate(case, &packed);
    }
    f.close("B1");
    f.run(&runtime, &store);
    let mut ro = ReadOnlyStore::open(dir.path()).expect("read-only");
    let mut rows = ro.batch_rows("B1").expect("reads").expect("B1");
    let mut top = Vec::new();
    rows.top_level(&mut |e| {
        top.push(e.as_str().to_string());
        Ok(())
    })
    .expect("top level");
    let want: Vec<String> = (loose.iter().map(|&u| &units[u]))
        .chain(cases.iter())
        .map(|c| f.epc(c))
        .collect();
    assert_eq!(top, want);
    assert_eq!(rows.containers().expect("containers").len(), 20);
    drop(rows);
    drop(ro);
    drop(store);
    thread.join();
}
