//! Judging whole messages against an in-memory ledger.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};

use super::batch::{BatchEvent, batch_transition};
use super::serial::{SerialFacts, SerialState};
use super::*;
use crate::model::{BatchOpen, CodeRecord, UnitAction};

pub(super) const G: &str = "00361414567894";
pub(super) const CASE_G: &str = "50361414567899";

/// The ledger in memory: what the store holds, as the rules see it.
#[derive(Default)]
pub(super) struct Ledger {
    pub batches: HashMap<String, BatchView>,
    pub serials: HashMap<String, SerialRecord>,
    pub shipments: Vec<Recorded>,
}

/// A shipment in shipping order: its id, its record and each identifier with "top-level".
pub(super) type Recorded = (String, ShipmentRecord, Vec<(String, bool)>);

impl LedgerView for Ledger {
    type Error = std::convert::Infallible;
    fn batch(&self, batch: &str) -> Result<Option<BatchView>, Self::Error> {
        Ok(self.batches.get(batch).cloned())
    }
    fn active_batches(&self, line: &str, gtin: &str) -> Result<u32, Self::Error> {
        let n = self.batches.values();
        Ok(
            n.filter(|b| b.line == line && b.gtin == gtin && b.state.is_active())
                .count() as u32,
        )
    }
    fn serial(&self, key: &str) -> Result<Option<SerialRecord>, Self::Error> {
        let Some(mut rec) = self.serials.get(key).cloned() else {
            return Ok(None);
        };
        rec.facts.packed = rec.parent.is_some();
        rec.facts.children = self.children(key)?.len();
        Ok(Some(rec))
    }
    fn children(&self, key: &str) -> Result<Vec<String>, Self::Error> {
        let mut c: Vec<String> = (self.serials.iter())
            .filter(|(_, r)| r.parent.as_deref() == Some(key))
            .map(|(k, _)| k.clone())
            .collect();
        c.sort();
        Ok(c)
    }
    fn batch_units(&self, batch: &str) -> Result<Vec<(String, SerialRecord)>, Self::Error> {
        let mut keys: Vec<&String> = self.serials.keys().collect();
        keys.sort();
        let keys = keys.into_iter().filter(|k| self.serials[*k].batch == batch);
        Ok(keys
            .map(|k| (k.clone(), self.serial(k).ok().flatten().expect("known")))
            .collect())
    }
}

impl ShipmentLedger for Ledger {
    fn shipment(&self, id: &str) -> Result<Option<ShipmentRecord>, Self::Error> {
        let found = self.shipments.iter().find(|(s, ..)| s == id);
        Ok(found.map(|(_, r, _)| r.clone()))
    }
    fn shipment_items(&self, id: &str) -> Result<Vec<ShippedItem>, Self::Error> {
        let Some(at) = self.shipments.iter().position(|(s, ..)| s == id) else {
            return Ok(Vec::new());
        };
        let later = &self.shipments[at + 1..];
        let mut items: Vec<ShippedItem> = (self.shipments[at].2.iter())
            .map(|(key, top)| ShippedItem {
                key: key.clone(),
                record: self.serial(key).ok().flatten().expect("known"),
                top_level: *top,
                latest: !later
                    .iter()
                    .any(|(.., keys)| keys.iter().any(|(k, _)| k == key)),
            })
            .collect();
        items.sort_by_key(|i| !i.top_level);
        Ok(items)
    }
}

impl Ledger {
    /// Applies an accepted message's plan and records its shipment, as the store does.
    pub(super) fn apply_message(&mut self, msg: &LineMessage, plan: Plan) {
        match &msg.event {
            LineEvent::Ship(s) => {
                let items = (plan.serials.iter())
                    .map(|w| (w.key.clone(), s.codes.iter().any(|c| c.key == w.key)))
                    .collect();
                let record = ShipmentRecord {
                    kind: s.kind,
                    line: msg.line.clone(),
                    message_id: msg.message_id.clone(),
                    voided: false,
                };
                self.shipments.push((s.shipment.clone(), record, items));
            }
            LineEvent::VoidShipment { shipment, .. } => {
                for (id, record, _) in &mut self.shipments {
                    record.voided |= id == shipment;
                }
            }
            _ => {}
        }
        self.apply(plan);
    }

    /// Applies an accepted plan, as the store does.
    pub(super) fn apply(&mut self, plan: Plan) {
        if let Some(BatchWrite::State { batch, state, .. }) = &plan.batch {
            self.batches.get_mut(batch).expect("batch").state = *state;
        }
        for w in plan.serials {
            let batch = match (&w.commissioned, self.serials.get(&w.key)) {
                (Some(c), _) => c.batch.clone(),
                (None, Some(r)) => r.batch.clone(),
                (None, None) => panic!("write to unknown {}", w.key),
            };
            let facts = SerialFacts::loose(w.state);
            self.serials.insert(
                w.key,
                SerialRecord {
                    batch,
                    facts,
                    parent: w.parent,
                },
            );
        }
    }
}

fn expiry() -> NaiveDate {
    NaiveDate::from_ymd_opt(2027, 6, 30).expect("date")
}

fn view(state: BatchState) -> BatchView {
    BatchView {
        line: "L1".into(),
        state,
        gtin: G.into(),
        pack_gtins: vec![CASE_G.into()],
        lot: "LOT1".into(),
        expiry: expiry(),
        planned: Some(10),
    }
}

pub(super) fn ledger(state: BatchState) -> Ledger {
    let mut l = Ledger::default();
    l.batches.insert("B1".into(), view(state));
    l.batches.insert("B0".into(), view(BatchState::Closed));
    let rec = |b: &str| SerialRecord {
        batch: b.into(),
        facts: SerialFacts::loose(SerialState::Commissioned),
        parent: None,
    };
    l.serials.insert(key(G, "OLD"), rec("B0"));
    l.serials.insert(key(G, "MINE"), rec("B1"));
    l
}

fn key(gtin: &str, serial: &str) -> String {
    format!("(01){gtin}(21){serial}")
}

pub(super) fn code(gtin: &str, serial: &str, lot: Option<&str>) -> CodeRecord {
    let key = key(gtin, serial);
    let parsed = crate::gs1::parse_code(&key, expiry()).expect("test code parses");
    let prefixes = crate::gs1::CompanyPrefixes::new(vec![], Some(7)).expect("prefixes");
    CodeRecord {
        epc: prefixes.epc_uri(&parsed).expect("uri"),
        key,
        gtin: Some(gtin.into()),
        lot: lot.map(Into::into),
        expiry: None,
    }
}

pub(super) fn msg(line: &str, event: LineEvent) -> LineMessage {
    LineMessage {
        line: line.into(),
        message_id: "m".into(),
        time: Utc::now(),
        event,
    }
}

pub(super) fn verdict(l: &Ledger, line: &str, event: LineEvent) -> Result<Plan, Rejection> {
    let policy = RulesPolicy::default();
    let Ok(v) = judge(&msg(line, event), l, &policy);
    v
}

fn check(state: BatchState, line: &str, event: LineEvent, expect: Option<RejectCode>) {
    let v = verdict(&ledger(state), line, event);
    assert_eq!(v.as_ref().err().map(|r| r.code), expect, "{v:?}");
}

pub(super) fn commission(codes: Vec<CodeRecord>) -> LineEvent {
    LineEvent::Commission {
        batch: "B1".into(),
        codes,
    }
}

#[test]
fn judges_batch_and_commission_messages() {
    use BatchState::*;
    use RejectCode::*;
    check(Open, "L1", commission(vec![code(G, "A", None)]), None);
    check(
        Running,
        "L1",
        commission(vec![code(G, "A", Some("LOT1"))]),
        None,
    );
    check(Open, "L1", commission(vec![code(CASE_G, "C1", None)]), None);
    check(
        Open,
        "L2",
        commission(vec![code(G, "A", None)]),
        Some(BatchNotOpen),
    );
    check(
        Closed,
        "L1",
        commission(vec![code(G, "A", None)]),
        Some(BatchNotOpen),
    );
    check(
        Cancelled,
        "L1",
        commission(vec![code(G, "A", None)]),
        Some(BatchNotOpen),
    );
    check(
        Open,
        "L1",
        commission(vec![code(G, "OLD", None)]),
        Some(CommissionConflict),
    );
    check(
        Open,
        "L1",
        commission(vec![code(G, "MINE", None)]),
        Some(DuplicateScan),
    );
    let twice = vec![code(G, "A", None), code(G, "A", None)];
    check(Open, "L1", commission(twice), Some(DuplicateCode));
    let other = code("00012345600012", "A", None);
    check(Open, "L1", commission(vec![other]), Some(GtinMismatch));
    check(
        Open,
        "L1",
        commission(vec![code(G, "A", Some("LOT2"))]),
        Some(LabelMismatch),
    );
    let close = |b: &str| LineEvent::BatchClose { batch: b.into() };
    check(Running, "L1", close("B1"), None);
    check(Closed, "L1", close("B1"), Some(BatchNotOpen));
    check(Open, "L1", close("B9"), Some(BatchNotOpen));
    let release = LineEvent::BatchRelease { batch: "B1".into() };
    check(Closed, "L1", release.clone(), None);
    check(Running, "L1", release, Some(InvalidTransition));
    let cancel = LineEvent::BatchCancel {
        batch: "B1".into(),
        reason: None,
    };
    check(Open, "L1", cancel.clone(), None);
    check(Released, "L1", cancel, Some(BatchNotOpen));
    let open = |b: &str, gtin: &str| {
        LineEvent::BatchOpen(BatchOpen {
            batch: b.into(),
            gtin: gtin.into(),
            pack_gtins: vec![],
            lot: "L".into(),
            expiry: expiry(),
            work_order: None,
            planned_quantity: None,
        })
    };
    check(Open, "L1", open("B1", "00012345600012"), Some(BatchExists));
    check(Running, "L1", open("B2", G), Some(BatchLimit));
    check(Running, "L2", open("B2", G), None);
    check(Closed, "L1", open("B2", G), None);
    check(Open, "L1", open("B2", "00012345600012"), None);
}

#[test]
fn first_commission_makes_the_batch_running() {
    let plan = verdict(
        &ledger(BatchState::Open),
        "L1",
        commission(vec![code(G, "A", None)]),
    );
    let plan = plan.expect("accepted");
    assert!(matches!(
        plan.batch,
        Some(BatchWrite::State {
            state: BatchState::Running,
            ..
        })
    ));
    assert_eq!(plan.serials.len(), 1);
    assert_eq!(
        plan.serials[0]
            .commissioned
            .as_ref()
            .map(|c| c.batch.as_str()),
        Some("B1")
    );
    let plan = verdict(
        &ledger(BatchState::Running),
        "L1",
        commission(vec![code(G, "A", None)]),
    );
    assert_eq!(plan.expect("accepted").batch, None);
}

/// Packs, unpacks and ends units through whole messages, as a line would.
#[test]
fn aggregation_scenarios() {
    use RejectCode::*;
    let mut l = ledger(BatchState::Running);
    let units: Vec<CodeRecord> = (0..4).map(|i| code(G, &format!("U{i}"), None)).collect();
    let cases: Vec<CodeRecord> = (0..2)
        .map(|i| code(CASE_G, &format!("C{i}"), None))
        .collect();
    let step = |l: &mut Ledger, event: LineEvent, expect: Option<RejectCode>| {
        let v = verdict(l, "L1", event);
        assert_eq!(v.as_ref().err().map(|r| r.code), expect, "{v:?}");
        if let Ok(plan) = v {
            l.apply(plan);
        }
    };
    let all: Vec<CodeRecord> = units.iter().chain(&cases).cloned().collect();
    step(&mut l, commission(all), None);
    let pack = |p: &CodeRecord, c: &[CodeRecord]| LineEvent::Aggregate {
        parent: p.clone(),
        children: c.to_vec(),
    };
    let unpack = |p: &CodeRecord, c: Option<&[CodeRecord]>| LineEvent::Disaggregate {
        parent: p.clone(),
        children: c.map(|c| c.to_vec()),
    };
    let units_ev = |action, c: &[CodeRecord]| LineEvent::Units {
        action,
        codes: c.to_vec(),
        reason: None,
    };
    step(&mut l, pack(&cases[0], &units[0..2]), None);
    step(&mut l, pack(&cases[1], &units[1..3]), Some(InOtherParent));
    step(&mut l, pack(&cases[1], &cases[0..1]), None);
    step(
        &mut l,
        pack(&cases[0], &cases[1..2]),
        Some(AggregationCycle),
    );
    step(&mut l, units_ev(UnitAction::Destroy, &units[3..4]), None);
    step(&mut l, pack(&cases[0], &units[3..4]), Some(Destroyed));
    step(
        &mut l,
        units_ev(UnitAction::Sample, &units[0..1]),
        Some(Packed),
    );
    step(
        &mut l,
        units_ev(UnitAction::Destroy, &cases[0..1]),
        Some(Packed),
    );
    step(&mut l, unpack(&cases[0], Some(&units[0..1])), None);
    step(&mut l, units_ev(UnitAction::Destroy, &units[0..1]), None);
    step(
        &mut l,
        unpack(&cases[0], Some(&units[0..1])),
        Some(Destroyed),
    );
    step(
        &mut l,
        unpack(&cases[0], Some(&units[2..3])),
        Some(NotPacked),
    );
    step(
        &mut l,
        unpack(&cases[1], Some(&units[1..2])),
        Some(NotInParent),
    );
    step(&mut l, unpack(&cases[1], None), None);
    assert_eq!(
        l.serial(&cases[0].key).ok().flatten().map(|r| r.parent),
        Some(None)
    );
    step(
        &mut l,
        units_ev(UnitAction::Decommission, &cases[0..1]),
        Some(HasChildren),
    );
    step(&mut l, units_ev(UnitAction::Ship, &cases[1..2]), None);
    step(
        &mut l,
        pack(&cases[1], &units[1..2]),
        Some(InvalidTransition),
    );
}

#[test]
fn shipping_takes_the_contents_and_close_reconciles() {
    let mut l = ledger(BatchState::Running);
    let units: Vec<CodeRecord> = (0..3).map(|i| code(G, &format!("U{i}"), None)).collect();
    let case = code(CASE_G, "C0", None);
    let mut all = units.clone();
    all.push(case.clone());
    l.apply(verdict(&l, "L1", commission(all)).expect("commission"));
    let pack = LineEvent::Aggregate {
        parent: case.clone(),
        children: units[0..2].to_vec(),
    };
    l.apply(verdict(&l, "L1", pack).expect("pack"));
    let policy = RulesPolicy {
        lines: [(
            "L1".to_string(),
            LinePolicy {
                open_batches_per_gtin: 1,
                block_unaggregated: true,
            },
        )]
        .into(),
        ..RulesPolicy::default()
    };
    let close = msg("L1", LineEvent::BatchClose { batch: "B1".into() });
    let Ok(blocked) = judge(&close, &l, &policy);
    assert_eq!(
        blocked.err().map(|r| r.code),
        Some(RejectCode::UnaggregatedUnits)
    );
    let Ok(closed) = judge(&close, &l, &RulesPolicy::default());
    let Some(BatchWrite::State {
        report: Some(report),
        ..
    }) = closed.expect("closes").batch
    else {
        panic!("no report");
    };
    assert_eq!(
        (report.loose, report.good_units),
        (2, 4),
        "MINE and U2 are loose"
    );
    let ship = LineEvent::Units {
        action: UnitAction::Ship,
        codes: vec![case],
        reason: None,
    };
    let plan = verdict(&l, "L1", ship).expect("ships");
    let shipped: Vec<(&str, SerialState)> = plan
        .serials
        .iter()
        .map(|w| (w.key.as_str(), w.state))
        .collect();
    assert_eq!(shipped.len(), 3, "{shipped:?}");
    assert!(shipped.iter().all(|(_, s)| *s == SerialState::Shipped));
}

#[test]
fn batch_lifecycle_table_is_complete() {
    use BatchEvent as E;
    use BatchState as S;
    let expect = |s, e| match (s, e) {
        (S::Open | S::Running, E::Commission) => Some(S::Running),
        (S::Open | S::Running, E::Close) => Some(S::Closed),
        (S::Open | S::Running, E::Cancel) => Some(S::Cancelled),
        (S::Closed, E::Release) => Some(S::Released),
        _ => None,
    };
    for s in BatchState::ALL {
        for e in BatchEvent::ALL {
            assert_eq!(batch_transition(s, e).ok(), expect(s, e), "{s:?} × {e:?}");
        }
    }
}

#[test]
fn the_documented_batch_table_is_the_code() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/serial-states.md"
    ))
    .expect("docs/serial-states.md");
    let table = batch::table_markdown();
    assert!(
        doc.contains(&table),
        "docs/serial-states.md is out of date; the batch table is now:\n{table}"
    );
}

/// A decommissioned serial comes back only where every partner allows it.
#[test]
fn recommissioning_follows_the_policy() {
    let mut l = ledger(BatchState::Running);
    let gone = SerialRecord {
        batch: "B0".into(),
        facts: SerialFacts::loose(SerialState::Decommissioned),
        parent: None,
    };
    l.serials.insert(key(G, "GONE"), gone);
    let event = || commission(vec![code(G, "GONE", None)]);
    let refused = verdict(&l, "L1", event()).expect_err("off by default");
    assert_eq!(
        refused.code,
        RejectCode::InvalidTransition,
        "{}",
        refused.reason
    );
    let allow = RulesPolicy {
        allow_recommission: true,
        ..RulesPolicy::default()
    };
    let Ok(v) = judge(&msg("L1", event()), &l, &allow);
    let plan = v.expect("allowed by policy");
    let c = plan.serials[0]
        .commissioned
        .as_ref()
        .expect("commissioning");
    assert!(c.replaces && c.batch == "B1", "{c:?}");
}

/// A unit wrongly recorded as sampled is corrected back; only a sampled unit can be.
#[test]
fn a_sample_can_be_corrected() {
    let mut l = ledger(BatchState::Running);
    let unit = code(G, "MINE", None);
    let ev = |action| LineEvent::Units {
        action,
        codes: vec![unit.clone()],
        reason: None,
    };
    let refused = verdict(&l, "L1", ev(UnitAction::CorrectStatus)).expect_err("not sampled");
    assert_eq!(refused.code, RejectCode::InvalidTransition);
    l.apply(verdict(&l, "L1", ev(UnitAction::Sample)).expect("sampled"));
    let plan = verdict(&l, "L1", ev(UnitAction::CorrectStatus)).expect("corrected");
    assert_eq!(plan.serials[0].state, SerialState::Commissioned);
}
