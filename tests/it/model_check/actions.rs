//! What the model check does: the pool of identifiers it works on, the steps it takes, and the
//! proptest strategies that draw sequences of them.
//!
//! A step is one line message (commission, aggregate, disaggregate, decommission, destroy,
//! sample, ship), a redelivery of an earlier message id, a group of messages queued together,
//! or a crash-restart of the store. The strategies are weighted so most sequences start from a
//! commissioned pool and spend their steps packing and unpacking, where the rules interact most;
//! odd cases (units as parents, a code listed twice) are drawn often enough to be reached.

use std::fmt;

use proptest::prelude::*;

/// The pool: five units, two cases (of the batch's pack GTIN), one pallet (SSCC).
pub(super) const POOL: [(&str, &str); 8] = [
    ("U1", "(01)00361414567894(21)U1"),
    ("U2", "(01)00361414567894(21)U2"),
    ("U3", "(01)00361414567894(21)U3"),
    ("U4", "(01)00361414567894(21)U4"),
    ("U5", "(01)00361414567894(21)U5"),
    ("C1", "(01)50361414567899(21)C1"),
    ("C2", "(01)50361414567899(21)C2"),
    ("P1", "(00)003614145000000013"),
];
const CASES: [usize; 2] = [5, 6];
const PALLET: usize = 7;

/// An identifier of the pool, by index; printed by its short name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Id(pub(super) usize);

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(POOL[self.0].0)
    }
}

pub(super) fn all_ids() -> Vec<Id> {
    (0..POOL.len()).map(Id).collect()
}

#[derive(Clone, Debug)]
pub(super) enum Action {
    Commission(Vec<Id>),
    Aggregate(Id, Vec<Id>),
    Disaggregate(Id, Option<Vec<Id>>),
    Decommission(Vec<Id>),
    Destroy(Vec<Id>),
    Sample(Vec<Id>),
    /// `correct_status`: a sampled unit back to commissioned.
    Correct(Vec<Id>),
    Ship(Vec<Id>),
    /// Drop the store handle, join the writer, open the same directory again.
    Restart,
    /// Send again the message sent `n` messages before the latest one, with its id.
    Redeliver(usize),
    /// 2–4 of the above submitted at once (never `Restart` or `Group`).
    Group(Vec<Action>),
}

/// An identifier's key, as the store and `linegate serial show` spell it.
pub(super) fn key(id: Id) -> String {
    POOL[id.0].1.to_string()
}

/// 1–3 distinct identifiers in random order; one in ten lists one of them a second time.
fn subset() -> impl Strategy<Value = Vec<Id>> {
    (
        proptest::sample::subsequence(all_ids(), 1..=3).prop_shuffle(),
        proptest::bool::weighted(0.1),
        any::<proptest::sample::Index>(),
    )
        .prop_map(|(mut ids, repeat, at)| {
            if repeat {
                let again = ids[at.index(ids.len())];
                ids.push(again);
            }
            ids
        })
}

/// Parents are mostly cases and the pallet, sometimes anything (units, to reach odd cases).
fn parent() -> impl Strategy<Value = Id> {
    prop_oneof![
        3 => proptest::sample::select(CASES.to_vec()).prop_map(Id),
        2 => Just(Id(PALLET)),
        2 => (0..POOL.len()).prop_map(Id),
    ]
}

/// One line message: new, or a redelivery of a recent one.
fn line_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => subset().prop_map(Action::Commission),
        6 => (parent(), subset()).prop_map(|(p, c)| Action::Aggregate(p, c)),
        3 => (parent(), proptest::option::weighted(0.6, subset()))
            .prop_map(|(p, c)| Action::Disaggregate(p, c)),
        1 => subset().prop_map(Action::Decommission),
        1 => subset().prop_map(Action::Destroy),
        1 => subset().prop_map(Action::Sample),
        1 => subset().prop_map(Action::Correct),
        1 => subset().prop_map(Action::Ship),
        1 => (0..4usize).prop_map(Action::Redeliver),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        16 => line_action(),
        1 => Just(Action::Restart),
        2 => proptest::collection::vec(line_action(), 2..=4).prop_map(Action::Group),
    ]
}

/// Seven sequences in ten start by commissioning the whole pool, so most steps do something.
pub(super) fn scenario() -> impl Strategy<Value = Vec<Action>> {
    (
        proptest::bool::weighted(0.7),
        proptest::collection::vec(action(), 1..=40),
    )
        .prop_map(|(whole_pool, mut actions)| {
            if whole_pool {
                actions.insert(0, Action::Commission(all_ids()));
            }
            actions
        })
}
