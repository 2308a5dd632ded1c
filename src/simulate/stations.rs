//! Which scanner station reads what: a plan's messages as the line's `[[scanner]]` stations
//! would produce them, and what is left for the store.
//!
//! Pure: from the plan and the line's scanners to an ordered list of steps. A `commission`
//! message becomes one read per code at the line's (first) commission station; consecutive
//! `aggregate` messages of one parent become one group at the aggregation station that tells
//! that parent from its children (a case packer — `parents` is `pack_gtins_or_sscc` or
//! `pack_gtins` — for cases, a palletiser — `parents = "sscc"` — for pallets), read in the
//! station's `order` and closed the way the station closes groups (its `children_per_parent`,
//! its `close_code`, or the next parent label); `destroy` and `decommission` go to a reject
//! station (the one whose `reject_action` matches, else any: the expectation then follows the
//! station), `sample` to a sample station. No scanner unpacks, so where a station packs the
//! case, a unit the plan pulls out of it again (QA, rework) is left out of the case's group,
//! the plan's `disaggregate` is dropped, and the unit is then read at its station: the batch
//! ends in the same state. What no station can send — the batch's open and close, and every
//! message the line has no station for — goes through the store, as `linegate batch close`
//! does. A parent-first group that nothing would ever close (no close code, fewer children
//! than `children_per_parent`, and no parent label after it) is refused before anything is
//! played, with the key to set.

use std::collections::HashSet;

use serde_json::Value;

use super::plan::{Expected, Plan};
use crate::config::{Order, ParentRule, RejectAction, Scanner, Station};
use crate::rules::reconcile::Level;

/// One step of the play, in order. `first` is the first plan message it covers (for pacing)
/// and `messages` how many plan messages it accounts for (for progress).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub first: usize,
    pub messages: usize,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Plan message `first` through the store.
    Store,
    /// `codes` read at scanner `station` (an index into the line's scanners), one frame each;
    /// they complete `closes` of the station's messages (a parent label may close the group
    /// before it, a group may stay open until the next one).
    Reads {
        station: usize,
        codes: Vec<String>,
        closes: u64,
    },
}

/// The steps, and what the batch must look like after them.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub steps: Vec<Step>,
    pub expected: Expected,
}

/// Routes `plan` to `scanners` (the line's, in configuration order).
pub fn route(plan: &Plan, scanners: &[Scanner]) -> Result<Route, String> {
    let find = |want: &dyn Fn(&Station) -> bool| scanners.iter().position(|s| want(&s.station));
    let commission = find(&|s| matches!(s, Station::Commission));
    let cases = find(&|s| matches!(s, Station::Aggregate(a) if a.parents != ParentRule::Sscc));
    let pallets = find(&|s| matches!(s, Station::Aggregate(a) if a.parents == ParentRule::Sscc));
    let sample = find(&|s| matches!(s, Station::Sample));
    let reject = |event: &str| {
        let action = match event {
            "destroy" => RejectAction::Destroy,
            _ => RejectAction::Decommission,
        };
        find(&|s| *s == Station::Reject(action))
            .or_else(|| find(&|s| matches!(s, Station::Reject(_))))
    };
    let pulled: HashSet<(&str, &str)> = plan
        .messages
        .iter()
        .filter(|m| m.body["type"] == "disaggregate")
        .flat_map(|m| {
            let parent = m.body["parent"].as_str().unwrap_or_default();
            strings(&m.body["children"])
                .into_iter()
                .map(move |c| (parent, c))
        })
        .collect();
    let mut r = Route {
        steps: Vec::new(),
        expected: plan.expected.clone(),
    };
    let mut packed_by_station: HashSet<&str> = HashSet::new();
    let mut open_group = vec![false; scanners.len()];
    let mut ended = 0; // end-of-life messages so far: their index in `expected.rejects`
    let msgs = &plan.messages;
    let mut i = 0;
    while i < msgs.len() {
        let body = &msgs[i].body;
        let kind = body["type"].as_str().unwrap_or_default();
        let codes = strings(&body["codes"]);
        let reads = |station, codes: Vec<&str>, closes| Action::Reads {
            station,
            codes: codes.into_iter().map(String::from).collect(),
            closes,
        };
        let (action, count) = match (kind, commission) {
            ("commission", Some(s)) => (reads(s, codes.clone(), codes.len() as u64), 1),
            ("aggregate", _) => {
                let parent = body["parent"].as_str().unwrap_or_default();
                let mut j = i;
                let mut children = Vec::new();
                while j < msgs.len()
                    && msgs[j].body["type"] == "aggregate"
                    && msgs[j].body["parent"] == parent
                {
                    children.extend(strings(&msgs[j].body["children"]));
                    j += 1;
                }
                let station = if parent.starts_with("]C1") {
                    pallets
                } else {
                    cases
                };
                let Some(s) = station else {
                    r.steps.extend((i..j).map(|k| Step {
                        first: k,
                        messages: 1,
                        action: Action::Store,
                    }));
                    i = j;
                    continue;
                };
                children.retain(|c| !pulled.contains(&(parent, *c)));
                packed_by_station.insert(parent);
                let (codes, closes) = group(&scanners[s], &mut open_group[s], parent, children)?;
                (reads(s, codes, closes), j - i)
            }
            ("disaggregate", _)
                if packed_by_station.contains(body["parent"].as_str().unwrap_or_default()) =>
            {
                if let Some(last) = r.steps.last_mut() {
                    last.messages += 1;
                }
                i += 1;
                continue;
            }
            ("destroy" | "decommission" | "sample", _) => {
                ended += 1;
                let station = if kind == "sample" {
                    sample
                } else {
                    reject(kind)
                };
                match station {
                    Some(s) => {
                        if let Station::Reject(action) = &scanners[s].station {
                            follow(&mut r.expected, ended - 1, kind, *action);
                        }
                        (reads(s, codes.clone(), codes.len() as u64), 1)
                    }
                    None => (Action::Store, 1),
                }
            }
            _ => (Action::Store, 1),
        };
        r.steps.push(Step {
            first: i,
            messages: count,
            action,
        });
        i += count;
    }
    if let Some(s) = open_group.iter().position(|&open| open) {
        return Err(format!(
            "scanner {} (aggregate, parent_first) would keep the batch's last group open: nothing closes it — set `close_code` (the simulator reads it after each group) or use `order = \"children_first\"`",
            scanners[s].id
        ));
    }
    Ok(r)
}

/// The reads of one group at aggregation station `scanner` and how many groups they close;
/// `open` says whether the station has a group open that only its next parent label closes.
fn group<'a>(
    scanner: &'a Scanner,
    open: &mut bool,
    parent: &'a str,
    children: Vec<&'a str>,
) -> Result<(Vec<&'a str>, u64), String> {
    let Station::Aggregate(a) = &scanner.station else {
        return Ok((Vec::new(), 0));
    };
    if children.is_empty() {
        return Ok((Vec::new(), 0)); // every unit of the case was pulled: nothing to pack
    }
    if a.order == Order::ChildrenFirst {
        let mut codes = children;
        codes.push(parent);
        return Ok((codes, 1));
    }
    let mut closes = u64::from(*open); // this parent label closes the group before it
    let n = children.len();
    let mut codes = vec![parent];
    codes.extend(children);
    *open = true;
    match a.children_per_parent {
        Some(max) if n > max => {
            return Err(format!(
                "scanner {} closes a group after children_per_parent = {max} children, but the plan packs {n} into {parent}; pass --case-size / --pallet-size of at most {max}",
                scanner.id
            ));
        }
        Some(max) if n == max => (closes, *open) = (closes + 1, false),
        _ => {}
    }
    if let (true, Some(close)) = (*open, &a.close_code) {
        codes.push(close);
        (closes, *open) = (closes + 1, false);
    }
    Ok((codes, closes))
}

/// A reject read at a station that `action`s it: the expected counts follow the station.
fn follow(expected: &mut Expected, index: usize, event: &str, action: RejectAction) {
    let done = match action {
        RejectAction::Destroy => "destroy",
        RejectAction::Decommission => "decommission",
    };
    if event == done {
        return;
    }
    if let Some(each) = expected.levels.get_mut(&Level::Each) {
        if done == "destroy" {
            (each.destroyed, each.decommissioned) =
                (each.destroyed + 1, each.decommissioned.saturating_sub(1));
        } else {
            (each.destroyed, each.decommissioned) =
                (each.destroyed.saturating_sub(1), each.decommissioned + 1);
        }
    }
    if let Some(reject) = expected.rejects.get_mut(index) {
        reject.1 = done;
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "stations_tests.rs"]
mod tests;
