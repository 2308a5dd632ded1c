//! Tests of the pure line generator: determinism per seed, codes a gateway can read, and counts
//! that an independent replay of the messages (a tiny ledger here) agrees with.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde_json::Value;

use super::plan::{LineSpec, Plan, generate};
use crate::gs1;
use crate::rules::reconcile::{Level, LevelCounts};

pub(super) fn spec(seed: u64) -> LineSpec {
    LineSpec {
        line: "L1".into(),
        batch: "B-TEST".into(),
        gtin: "00361414567894".into(),
        case_gtin: "50361414567899".into(),
        company_prefix: "0361414".into(),
        lot: "LOT42".into(),
        expiry: NaiveDate::from_ymd_opt(2028, 6, 30).unwrap(),
        units: 2_000,
        case_size: 24,
        pallet_size: 7,
        reject_rate: 0.02,
        samples: 4,
        faults: 3,
        codes_per_message: 24,
        seed,
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 15).unwrap()
}

fn codes_of(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for field in ["codes", "children"] {
        if let Some(list) = body[field].as_array() {
            out.extend(list.iter().filter_map(|c| c.as_str().map(str::to_string)));
        }
    }
    if let Some(p) = body["parent"].as_str() {
        out.push(p.to_string());
    }
    out
}

#[test]
fn the_same_seed_gives_the_same_messages_and_another_seed_does_not() {
    let a = generate(&spec(42)).unwrap();
    assert_eq!(a, generate(&spec(42)).unwrap());
    let b = generate(&spec(43)).unwrap();
    assert_ne!(a.messages, b.messages);
}

#[test]
fn every_code_parses_and_carries_the_batch_lot_and_expiry() {
    let plan = generate(&spec(7)).unwrap();
    let mut ssccs = 0;
    for m in plan.messages.iter().filter(|m| m.refusal.is_none()) {
        for raw in codes_of(&m.body) {
            let code = gs1::parse_code(&raw, today())
                .unwrap_or_else(|e| panic!("{raw:?} in {}: {e}", m.id));
            match code.id {
                gs1::Identifier::Sscc(_) => {
                    assert!(raw.starts_with("]C100"), "{raw:?}");
                    ssccs += 1;
                }
                gs1::Identifier::Sgtin(_) => {
                    assert!(
                        raw.starts_with("]d201") && raw.contains('\u{1d}'),
                        "{raw:?}"
                    );
                    assert_eq!(code.lot.map(|l| l.to_string()).as_deref(), Some("LOT42"));
                    assert_eq!(
                        code.expiry.map(|e| e.to_xsd_date()).as_deref(),
                        Some("2028-06-30")
                    );
                }
            }
        }
    }
    assert!(ssccs > 0, "pallets are commissioned and packed");
}

/// Replays the messages against a minimal ledger: state and parent per key.
fn replay(plan: &Plan) -> BTreeMap<Level, LevelCounts> {
    let key = |raw: &str| gs1::parse_code(raw, today()).unwrap().id.key();
    let mut state: HashMap<String, &str> = HashMap::new();
    let mut parent: HashMap<String, String> = HashMap::new();
    for m in plan.messages.iter().filter(|m| m.refusal.is_none()) {
        let b = &m.body;
        let codes = |f: &str| -> Vec<String> {
            b[f].as_array()
                .map(|l| l.iter().map(|c| key(c.as_str().unwrap())).collect())
                .unwrap_or_default()
        };
        match b["type"].as_str().unwrap() {
            "commission" => codes("codes").into_iter().for_each(|k| {
                assert!(
                    state.insert(k, "commissioned").is_none(),
                    "{} commissions twice",
                    m.id
                )
            }),
            "aggregate" => {
                let p = key(b["parent"].as_str().unwrap());
                assert_eq!(state.get(&p), Some(&"commissioned"), "{}: parent", m.id);
                for c in codes("children") {
                    assert_eq!(state.get(&c), Some(&"commissioned"), "{}: child", m.id);
                    assert!(
                        parent.insert(c, p.clone()).is_none(),
                        "{}: packed twice",
                        m.id
                    );
                }
            }
            "disaggregate" => codes("children").iter().for_each(|c| {
                assert!(
                    parent.remove(c).is_some(),
                    "{}: unpacking a loose unit",
                    m.id
                )
            }),
            ended @ ("destroy" | "decommission" | "sample") => {
                for c in codes("codes") {
                    assert!(!parent.contains_key(&c), "{}: ending a packed unit", m.id);
                    let to = match ended {
                        "destroy" => "destroyed",
                        "decommission" => "decommissioned",
                        _ => "sampled",
                    };
                    state.insert(c, to);
                }
            }
            "batch_open" | "batch_close" => {}
            other => panic!("unexpected type {other}"),
        }
    }
    let mut levels: BTreeMap<Level, LevelCounts> = BTreeMap::new();
    for (k, s) in &state {
        let c = levels.entry(Level::of(k, "00361414567894")).or_default();
        c.commissioned += 1;
        match *s {
            "commissioned" if parent.contains_key(k) => c.aggregated += 1,
            "commissioned" => c.unaggregated += 1,
            "destroyed" => c.destroyed += 1,
            "decommissioned" => c.decommissioned += 1,
            _ => c.sampled += 1,
        }
    }
    levels
}

#[test]
fn counts_match_an_independent_replay_of_the_messages() {
    for seed in [1, 2, 3, 99] {
        let s = spec(seed);
        let plan = generate(&s).unwrap();
        let e = &plan.expected;
        assert_eq!(replay(&plan), e.levels, "seed {seed}");
        let each = e.levels[&Level::Each];
        assert_eq!(each.commissioned, u64::from(s.units));
        assert_eq!(each.sampled, u64::from(s.samples));
        let rejects = each.destroyed + each.decommissioned;
        assert!(
            (10..=80).contains(&rejects),
            "2% of 2000, seed {seed}: {rejects}"
        );
        let packed = u64::from(s.units)
            - e.rejects
                .iter()
                .filter(|r| r.2.starts_with("camera") || r.2.starts_with("checkweigher"))
                .count() as u64;
        assert_eq!(u64::from(e.cases), packed.div_ceil(24), "seed {seed}");
        assert_eq!(e.pallets, e.cases.div_ceil(7));
        assert_eq!(e.good_units, each.aggregated);
        let units_sent: u32 = plan.messages.iter().map(|m| m.units).sum();
        assert_eq!(units_sent, s.units);
        let refusals: Vec<&str> = plan.messages.iter().filter_map(|m| m.refusal).collect();
        assert_eq!(
            refusals,
            ["label_mismatch", "duplicate_scan", "invalid_code"]
        );
    }
}

#[test]
fn the_batch_opens_first_closes_last_and_ids_are_unique() {
    let plan = generate(&spec(5)).unwrap();
    let types: Vec<&str> = plan
        .messages
        .iter()
        .map(|m| m.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"batch_open"));
    assert_eq!(types.last(), Some(&"batch_close"));
    assert_eq!(plan.messages[0].body["pack_gtins"][0], "50361414567899");
    let ids: std::collections::HashSet<&str> =
        plan.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), plan.messages.len());
    assert!(plan.messages.iter().all(|m| m.body["id"] == m.id.as_str()));
}

#[test]
fn one_code_per_message_when_asked() {
    let mut s = spec(11);
    s.codes_per_message = 1;
    let plan = generate(&s).unwrap();
    assert!(
        plan.messages.iter().all(|m| codes_of(&m.body).len() <= 2),
        "a parent and one child at most"
    );
    let commissions = plan
        .messages
        .iter()
        .filter(|m| m.body["type"] == "commission" && m.refusal.is_none())
        .count();
    let e = &plan.expected;
    assert_eq!(commissions as u32, s.units + e.cases + e.pallets);
    assert_eq!(replay(&plan), e.levels);
}
