//! Tests of the routing to scanner stations: a replay of the steps as the stations read them
//! (a tiny ledger and a re-statement of the grouping rules of docs/scanners.md) must end in the
//! state the route expects, with exactly as many station messages as the route counts.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::NaiveDate;

use super::*;
use crate::config::{
    Aggregation, FlowControl, Framing, Parity, PortSettings, RejectAction, Scanner, Station,
};
use crate::gs1;
use crate::rules::reconcile::{Level, LevelCounts};
use crate::simulate::plan::generate;
use crate::simulate::plan_tests::spec;

const CASE_GTIN: &str = "50361414567899";

fn scanner(id: &str, station: Station) -> Scanner {
    Scanner {
        id: id.into(),
        line: "L1".into(),
        station,
        device: PathBuf::from(format!("/run/sim/{id}")),
        port: PortSettings {
            baud: 9600,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
            flow_control: FlowControl::None,
        },
        framing: Framing::Cr,
        strip_prefix: None,
        strip_suffix: None,
        multi_code_separator: None,
        reply_ok: None,
        reply_reject: None,
        idle_alarm: None,
    }
}

fn aggregate(
    order: Order,
    per: Option<usize>,
    close: Option<&str>,
    parents: ParentRule,
) -> Station {
    Station::Aggregate(Aggregation {
        order,
        children_per_parent: per,
        close_code: close.map(String::from),
        parents,
    })
}

/// A line with every kind of station: a case packer closed by count or close code, a
/// palletiser reading cases first, a reject bin that destroys, a QA station.
fn full_line(case_size: usize) -> Vec<Scanner> {
    vec![
        scanner("labeler", Station::Commission),
        scanner(
            "packer",
            aggregate(
                Order::ParentFirst,
                Some(case_size),
                Some("CLOSE"),
                ParentRule::PackGtins,
            ),
        ),
        scanner(
            "palletiser",
            aggregate(Order::ChildrenFirst, None, None, ParentRule::Sscc),
        ),
        scanner("bin", Station::Reject(RejectAction::Destroy)),
        scanner("qa", Station::Sample),
    ]
}

fn key(raw: &str) -> String {
    let today = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
    gs1::parse_code(raw, today).unwrap().id.key()
}

/// The ledger the steps leave behind, and the messages each station produced.
#[derive(Default)]
struct Replay {
    state: HashMap<String, &'static str>,
    parent: HashMap<String, String>,
    messages: Vec<u64>,
}

impl Replay {
    fn end(&mut self, raw: &str, to: &'static str) {
        let k = key(raw);
        assert!(!self.parent.contains_key(&k), "{raw} ended while packed");
        assert_eq!(self.state.get(&k), Some(&"commissioned"), "{raw}");
        self.state.insert(k, to);
    }

    fn pack(&mut self, parent: &str, children: &[String]) {
        assert!(
            !children.is_empty(),
            "a group without children for {parent}"
        );
        for c in children {
            assert_eq!(self.state.get(&key(c)), Some(&"commissioned"), "{c}");
            assert!(
                self.parent.insert(key(c), key(parent)).is_none(),
                "{c} packed twice"
            );
        }
    }

    fn levels(&self) -> BTreeMap<Level, LevelCounts> {
        let mut levels: BTreeMap<Level, LevelCounts> = BTreeMap::new();
        for (k, s) in &self.state {
            let c = levels.entry(Level::of(k, "00361414567894")).or_default();
            c.commissioned += 1;
            match *s {
                "commissioned" if self.parent.contains_key(k) => c.aggregated += 1,
                "commissioned" => c.unaggregated += 1,
                "destroyed" => c.destroyed += 1,
                "decommissioned" => c.decommissioned += 1,
                _ => c.sampled += 1,
            }
        }
        levels
    }
}

/// Plays the route's steps as the stations read them (faults are left out: they change nothing).
fn replay(plan: &Plan, route: &Route, scanners: &[Scanner]) -> Replay {
    let mut r = Replay {
        messages: vec![0; scanners.len()],
        ..Replay::default()
    };
    let mut groups: Vec<(Option<String>, Vec<String>)> = vec![(None, Vec::new()); scanners.len()];
    for step in &route.steps {
        let Action::Reads { station, codes, .. } = &step.action else {
            let b = &plan.messages[step.first].body;
            match b["type"].as_str().unwrap() {
                "batch_open" | "batch_close" => {}
                "commission" if plan.messages[step.first].refusal.is_some() => {}
                "commission" => strings(&b["codes"]).iter().for_each(|c| {
                    r.state.insert(key(c), "commissioned");
                }),
                "aggregate" => {
                    let children: Vec<String> = strings(&b["children"])
                        .into_iter()
                        .map(String::from)
                        .collect();
                    r.pack(b["parent"].as_str().unwrap(), &children);
                }
                "disaggregate" => strings(&b["children"]).iter().for_each(|c| {
                    r.parent.remove(&key(c)).expect("unpacking a loose unit");
                }),
                "destroy" => r.end(strings(&b["codes"])[0], "destroyed"),
                "decommission" => r.end(strings(&b["codes"])[0], "decommissioned"),
                "sample" => r.end(strings(&b["codes"])[0], "sampled"),
                other => panic!("{other} through the store"),
            }
            continue;
        };
        let (s, faulty) = (*station, plan.messages[step.first].refusal.is_some());
        for code in codes {
            match &scanners[s].station {
                Station::Commission => {
                    r.messages[s] += 1;
                    if !faulty {
                        r.state.insert(key(code), "commissioned");
                    }
                }
                Station::Reject(action) => {
                    r.messages[s] += 1;
                    let to = match action {
                        RejectAction::Destroy => "destroyed",
                        RejectAction::Decommission => "decommissioned",
                    };
                    r.end(code, to);
                }
                Station::Sample => {
                    r.messages[s] += 1;
                    r.end(code, "sampled");
                }
                Station::Aggregate(a) => {
                    let (sscc, case) = (code.starts_with("]C1"), code.contains(CASE_GTIN));
                    let is_parent = match a.parents {
                        ParentRule::Sscc => sscc,
                        ParentRule::PackGtins => case,
                        ParentRule::PackGtinsOrSscc => sscc || case,
                    };
                    let g = &mut groups[s];
                    let close = |g: &mut (Option<String>, Vec<String>), r: &mut Replay| {
                        if let Some(p) = g.0.take() {
                            r.pack(&p, &std::mem::take(&mut g.1));
                            r.messages[s] += 1;
                        }
                    };
                    match (a.order, is_parent) {
                        _ if a.close_code.as_deref() == Some(code.as_str()) => close(g, &mut r),
                        (Order::ParentFirst, true) => {
                            close(g, &mut r);
                            g.0 = Some(code.clone());
                        }
                        (Order::ParentFirst, false) => {
                            assert!(g.0.is_some(), "{code} read with no open parent");
                            g.1.push(code.clone());
                            if a.children_per_parent == Some(g.1.len()) {
                                close(g, &mut r);
                            }
                        }
                        (Order::ChildrenFirst, true) => {
                            g.0 = Some(code.clone());
                            close(g, &mut r);
                        }
                        (Order::ChildrenFirst, false) => g.1.push(code.clone()),
                    }
                }
            }
        }
    }
    assert!(
        groups.iter().all(|g| g.0.is_none() && g.1.is_empty()),
        "a group left open"
    );
    r
}

fn closes(route: &Route, station: usize) -> u64 {
    route
        .steps
        .iter()
        .map(|s| match &s.action {
            Action::Reads {
                station: st,
                closes,
                ..
            } if *st == station => *closes,
            _ => 0,
        })
        .sum()
}

#[test]
fn every_station_reads_its_part_and_the_batch_ends_as_expected() {
    for seed in [1, 2, 3] {
        let plan = generate(&spec(seed)).unwrap();
        let line = full_line(24);
        let route = route(&plan, &line).unwrap();
        let r = replay(&plan, &route, &line);
        assert_eq!(r.levels(), route.expected.levels, "seed {seed}");
        for (s, scanner) in line.iter().enumerate() {
            let id = &scanner.id;
            assert_eq!(r.messages[s], closes(&route, s), "seed {seed}, {id}");
        }
        // Only the batch's open and close go through the store.
        let stored: Vec<usize> = route
            .steps
            .iter()
            .filter(|s| s.action == Action::Store)
            .map(|s| s.first)
            .collect();
        assert_eq!(stored, [0, plan.messages.len() - 1]);
        let covered: usize = route.steps.iter().map(|s| s.messages).sum();
        assert_eq!(
            covered,
            plan.messages.len(),
            "progress counts every plan message"
        );
        // The bin destroys: the plan's decommissions are destroyed instead.
        let (planned, routed) = (
            plan.expected.levels[&Level::Each],
            route.expected.levels[&Level::Each],
        );
        assert_eq!(routed.decommissioned, 0);
        assert_eq!(routed.destroyed, planned.destroyed + planned.decommissioned);
        assert!(route.expected.rejects.iter().all(|r| r.1 != "decommission"));
        assert!(
            planned.decommissioned > 0 || seed != 1,
            "seed 1 has late decommissions"
        );
    }
}

#[test]
fn what_the_line_has_no_station_for_goes_through_the_store() {
    let plan = generate(&spec(4)).unwrap();
    let line = vec![scanner("labeler", Station::Commission)];
    let route = route(&plan, &line).unwrap();
    assert_eq!(route.expected, plan.expected);
    let r = replay(&plan, &route, &line);
    assert_eq!(r.levels(), plan.expected.levels);
    for step in &route.steps {
        let kind = plan.messages[step.first].body["type"].as_str().unwrap();
        let read = matches!(step.action, Action::Reads { .. });
        assert_eq!(read, kind == "commission", "{kind}");
    }
}

#[test]
fn a_parent_first_group_nothing_closes_is_refused_before_playing() {
    let plan = generate(&spec(5)).unwrap();
    let mut line = full_line(24);
    line[1] = scanner(
        "packer",
        aggregate(Order::ParentFirst, None, None, ParentRule::PackGtinsOrSscc),
    );
    let err = route(&plan, &line).unwrap_err();
    assert!(
        err.contains("packer") && err.contains("close_code"),
        "{err}"
    );

    line[1] = scanner(
        "packer",
        aggregate(
            Order::ParentFirst,
            Some(10),
            Some("X"),
            ParentRule::PackGtinsOrSscc,
        ),
    );
    let err = route(&plan, &line).unwrap_err();
    assert!(
        err.contains("children_per_parent = 10") && err.contains("--case-size"),
        "{err}"
    );
}

#[test]
fn full_cases_close_by_count_and_the_next_label_without_a_close_code() {
    let mut s = spec(6);
    (s.units, s.reject_rate, s.samples, s.faults) = (240, 0.0, 0, 0);
    let plan = generate(&s).unwrap();
    let mut line = full_line(24);
    line[1] = scanner(
        "packer",
        aggregate(Order::ParentFirst, None, None, ParentRule::PackGtinsOrSscc),
    );
    assert!(route(&plan, &line).is_err(), "the last case stays open");
    line[1] = scanner(
        "packer",
        aggregate(
            Order::ParentFirst,
            Some(24),
            None,
            ParentRule::PackGtinsOrSscc,
        ),
    );
    let route = route(&plan, &line).unwrap();
    let r = replay(&plan, &route, &line);
    assert_eq!(r.levels(), plan.expected.levels);
    assert_eq!(closes(&route, 1), u64::from(plan.expected.cases));
}
