//! The `station` key of a `[[scanner]]` and the keys only some station kinds use.
//!
//! What a read means differs per station (docs/scanners.md): an aggregation station needs to
//! know how to group reads into cases and which codes are parents, a reject station what to do
//! with a rejected unit. Each such key is read for every scanner (so none is reported as
//! unknown) and refused with its key path where the station kind does not use it.

use super::reader::{Problems, Table};
use super::scanner::Station;

/// How an aggregation station groups what it reads into cases or pallets.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    pub order: Order,
    /// parent_first: the group closes by itself after this many children.
    pub children_per_parent: Option<usize>,
    /// parent_first: reading exactly this text closes the group.
    pub close_code: Option<String>,
    /// Which codes are parents (the rest are children).
    pub parents: ParentRule,
}

/// How an aggregation station tells a parent label from a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentRule {
    /// An SSCC, or an SGTIN whose GTIN is in an open batch's `pack_gtins` (a case packer).
    PackGtinsOrSscc,
    /// Only an SSCC; cases are children (a palletiser).
    Sscc,
    /// Only an SGTIN of a `pack_gtins` GTIN (a bundler or case packer without pallets).
    PackGtins,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The case label first, then its units; the next case label closes the group.
    ParentFirst,
    /// The units first; the case label closes the group.
    ChildrenFirst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectAction {
    Decommission,
    Destroy,
}

/// The station kind and the keys only some kinds use (each is read, so none is "unknown").
pub(super) fn station(t: &Table<'_>, kind: Option<&str>, p: &mut Problems) -> Option<Station> {
    let order = t.opt_string("order", p);
    let per_parent = t.opt_int("children_per_parent", 1..=100_000, p);
    let close_code = t.opt_string("close_code", p);
    let action = t.opt_string("reject_action", p);
    let parents = t.opt_string("parents", p);
    let only = |p: &mut Problems, key: &str, present: bool, kind_needed: &str| {
        if present {
            p.add(
                t.path_of(key),
                format!("only applies to station = \"{kind_needed}\""),
            );
        }
    };
    let kind = match kind {
        None => {
            p.add(
                t.path_of("station"),
                "is required: commission, aggregate, reject or sample",
            );
            return None;
        }
        Some(k) => k,
    };
    if kind != "aggregate" {
        only(p, "order", order.is_some(), "aggregate");
        only(p, "children_per_parent", per_parent.is_some(), "aggregate");
        only(p, "close_code", close_code.is_some(), "aggregate");
        only(p, "parents", parents.is_some(), "aggregate");
    }
    if kind != "reject" {
        only(p, "reject_action", action.is_some(), "reject");
    }
    match kind {
        "commission" => Some(Station::Commission),
        "sample" => Some(Station::Sample),
        "reject" => match action.as_deref() {
            None | Some("decommission") => Some(Station::Reject(RejectAction::Decommission)),
            Some("destroy") => Some(Station::Reject(RejectAction::Destroy)),
            Some(other) => {
                p.add(
                    t.path_of("reject_action"),
                    format!("'{other}' must be one of: decommission, destroy"),
                );
                None
            }
        },
        "aggregate" => {
            let order = match order.as_deref() {
                None | Some("parent_first") => Order::ParentFirst,
                Some("children_first") => Order::ChildrenFirst,
                Some(other) => {
                    p.add(
                        t.path_of("order"),
                        format!("'{other}' must be one of: parent_first, children_first"),
                    );
                    return None;
                }
            };
            if order == Order::ChildrenFirst {
                only(
                    p,
                    "children_per_parent",
                    per_parent.is_some(),
                    "aggregate\" with order = \"parent_first",
                );
                only(
                    p,
                    "close_code",
                    close_code.is_some(),
                    "aggregate\" with order = \"parent_first",
                );
            }
            let parents = match parents.as_deref() {
                None | Some("pack_gtins_or_sscc") => ParentRule::PackGtinsOrSscc,
                Some("sscc") => ParentRule::Sscc,
                Some("pack_gtins") => ParentRule::PackGtins,
                Some(other) => {
                    p.add(
                        t.path_of("parents"),
                        format!("'{other}' must be one of: pack_gtins_or_sscc, sscc, pack_gtins"),
                    );
                    return None;
                }
            };
            Some(Station::Aggregate(Aggregation {
                order,
                children_per_parent: per_parent.map(|n| n as usize),
                close_code,
                parents,
            }))
        }
        other => {
            p.add(
                t.path_of("station"),
                format!("'{other}' must be one of: commission, aggregate, reject, sample"),
            );
            None
        }
    }
}
