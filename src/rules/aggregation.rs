//! Aggregation rules: which children may be packed into which parent, as pure checks.
//!
//! Packing builds the hierarchy item → bundle → case → pallet, of any depth. The store reads
//! the facts (the parent's state and its chain of ancestors, each child's state and current
//! parent) and asks here; the answer is the list of changes to write or the first refusal, with
//! the index of the child it concerns. Rules (MESSAGES.md §4, PEERS.md §1.9): the parent and
//! every child are commissioned and not sampled, decommissioned, destroyed or shipped; a child
//! sits in at most one parent; no identifier is packed into itself or into its own descendant.

use super::serial::{Policy, Refusal, SerialEvent, SerialFacts, SerialState, transition};

/// One child as the store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFacts {
    pub key: String,
    /// None: never commissioned here.
    pub facts: Option<SerialFacts>,
    /// The parent it is packed in now, if any.
    pub parent: Option<String>,
}

/// Why a pack or unpack was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggregationRefusal {
    /// The parent cannot take children.
    Parent { key: String, refusal: Refusal },
    /// Child number `index` (in the message's order) cannot be packed or unpacked.
    Child {
        index: usize,
        key: String,
        why: ChildProblem,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildProblem {
    State(Refusal),
    /// Packed in another parent: unpack it there first.
    InOtherParent {
        parent: String,
    },
    /// Already in this parent.
    AlreadyInParent,
    /// Not in the parent it is being unpacked from.
    NotInParent,
    /// The child is the parent itself or one of its ancestors: packing would make a cycle.
    Cycle,
    /// Listed twice in one message.
    Repeated,
}

impl AggregationRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            AggregationRefusal::Parent { refusal, .. } => refusal.code(),
            AggregationRefusal::Child { why, .. } => match why {
                ChildProblem::State(r) => r.code(),
                ChildProblem::InOtherParent { .. } => "in_other_parent",
                ChildProblem::AlreadyInParent => "already_in_parent",
                ChildProblem::NotInParent => "not_in_parent",
                ChildProblem::Cycle => "aggregation_cycle",
                ChildProblem::Repeated => "repeated_child",
            },
        }
    }
}

impl std::fmt::Display for AggregationRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AggregationRefusal::Parent { key, refusal } => write!(f, "parent {key} {refusal}"),
            AggregationRefusal::Child { index, key, why } => {
                write!(f, "children[{index}] {key} ")?;
                match why {
                    ChildProblem::State(r) => write!(f, "{r}"),
                    ChildProblem::InOtherParent { parent } => {
                        write!(f, "is packed in {parent}; unpack it there first")
                    }
                    ChildProblem::AlreadyInParent => write!(f, "is already packed in this parent"),
                    ChildProblem::NotInParent => write!(f, "is not packed in this parent"),
                    ChildProblem::Cycle => write!(
                        f,
                        "is the parent itself or contains it; packing it would make a cycle"
                    ),
                    ChildProblem::Repeated => write!(f, "is listed twice"),
                }
            }
        }
    }
}

/// The parent's facts if `usable` accepts them; an unknown parent was never commissioned.
fn usable_parent(
    parent: &str,
    facts: Option<SerialFacts>,
    usable: impl Fn(SerialFacts) -> Result<(), Refusal>,
) -> Result<SerialFacts, AggregationRefusal> {
    let refused = |refusal| AggregationRefusal::Parent {
        key: parent.to_string(),
        refusal,
    };
    let f = facts.ok_or_else(|| refused(Refusal::NotCommissioned))?;
    usable(f).map_err(refused)?;
    Ok(f)
}

/// Runs `check` on every child in order (after refusing a child listed twice) and collects the
/// children's new facts, or the first problem with the child's index.
fn each_child(
    children: &[ChildFacts],
    check: impl Fn(&ChildFacts) -> Result<SerialFacts, ChildProblem>,
) -> Result<Vec<SerialFacts>, AggregationRefusal> {
    children
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let repeated = children[..index].iter().any(|o| o.key == c.key);
            let result = if repeated {
                Err(ChildProblem::Repeated)
            } else {
                check(c)
            };
            result.map_err(|why| AggregationRefusal::Child {
                index,
                key: c.key.clone(),
                why,
            })
        })
        .collect()
}

/// Checks packing `children` into `parent`. `ancestors` is the parent's chain upwards (its
/// parent, that one's parent, …). Returns the parent's and each child's new facts.
pub fn check_pack(
    parent: &str,
    parent_facts: Option<SerialFacts>,
    ancestors: &[String],
    children: &[ChildFacts],
) -> Result<(SerialFacts, Vec<SerialFacts>), AggregationRefusal> {
    let mut p = usable_parent(parent, parent_facts, |f| match f.state {
        SerialState::Commissioned => Ok(()),
        SerialState::Destroyed => Err(Refusal::Terminal),
        state => Err(Refusal::WrongState { state }),
    })?;
    let out = each_child(children, |c| {
        if c.key == parent || ancestors.contains(&c.key) {
            return Err(ChildProblem::Cycle);
        }
        match c.parent.as_deref() {
            Some(x) if x == parent => Err(ChildProblem::AlreadyInParent),
            Some(x) => Err(ChildProblem::InOtherParent {
                parent: x.to_string(),
            }),
            None => transition(c.facts, SerialEvent::Pack, Policy::default())
                .map_err(ChildProblem::State),
        }
    })?;
    p.children += children.len();
    Ok((p, out))
}

/// Checks unpacking `children` from `parent` (the store passes every current child when the
/// message named none: "unpack all").
pub fn check_unpack(
    parent: &str,
    parent_facts: Option<SerialFacts>,
    children: &[ChildFacts],
) -> Result<(SerialFacts, Vec<SerialFacts>), AggregationRefusal> {
    let mut p = usable_parent(parent, parent_facts, |f| match f.state {
        SerialState::Destroyed => Err(Refusal::Terminal),
        _ => Ok(()),
    })?;
    let out = each_child(children, |c| match c.parent.as_deref() {
        Some(x) if x != parent => Err(ChildProblem::NotInParent),
        // In this parent, or loose (the state machine says not_packed, not_commissioned or
        // destroyed: more precise than "not in this parent").
        _ => {
            transition(c.facts, SerialEvent::Unpack, Policy::default()).map_err(ChildProblem::State)
        }
    })?;
    p.children = p.children.saturating_sub(children.len());
    Ok((p, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOSE: Option<SerialFacts> = Some(SerialFacts::loose(SerialState::Commissioned));

    fn child(key: &str, facts: Option<SerialFacts>, parent: Option<&str>) -> ChildFacts {
        ChildFacts {
            key: key.into(),
            facts,
            parent: parent.map(Into::into),
        }
    }

    fn pack(
        parent_facts: Option<SerialFacts>,
        ancestors: &[&str],
        children: &[ChildFacts],
    ) -> Result<usize, String> {
        let ancestors: Vec<String> = ancestors.iter().map(|a| a.to_string()).collect();
        check_pack("CASE", parent_facts, &ancestors, children)
            .map(|(p, _)| p.children)
            .map_err(|e| format!("{}: {e}", e.code()))
    }

    fn check(got: Result<usize, String>, expected: Result<usize, &str>) {
        match (&got, expected) {
            (Ok(n), Ok(m)) => assert_eq!(*n, m),
            (Err(e), Err(prefix)) => {
                assert!(e.starts_with(prefix), "{e} does not start with {prefix}")
            }
            _ => panic!("got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    #[rustfmt::skip]
    fn packing_rules() {
        let sampled = Some(SerialFacts::loose(SerialState::Sampled));
        let destroyed = Some(SerialFacts::loose(SerialState::Destroyed));
        let shipped = Some(SerialFacts::loose(SerialState::Shipped));
        let packed = Some(SerialFacts { state: SerialState::Commissioned, packed: true, children: 0 });
        check(pack(LOOSE, &[], &[child("A", LOOSE, None), child("B", LOOSE, None)]), Ok(2));
        check(pack(Some(SerialFacts { children: 3, ..SerialFacts::loose(SerialState::Commissioned) }), &["PALLET"], &[child("A", LOOSE, None)]), Ok(4));
        check(pack(None, &[], &[child("A", LOOSE, None)]), Err("not_commissioned: parent CASE was never commissioned"));
        check(pack(sampled, &[], &[child("A", LOOSE, None)]), Err("invalid_transition: parent CASE is sampled"));
        check(pack(destroyed, &[], &[child("A", LOOSE, None)]), Err("destroyed: parent CASE was destroyed"));
        check(pack(LOOSE, &[], &[child("A", None, None)]), Err("not_commissioned: children[0] A was never commissioned"));
        check(pack(LOOSE, &[], &[child("A", LOOSE, None), child("B", destroyed, None)]), Err("destroyed: children[1] B"));
        check(pack(LOOSE, &[], &[child("A", sampled, None)]), Err("invalid_transition: children[0] A is sampled"));
        check(pack(LOOSE, &[], &[child("A", shipped, None)]), Err("invalid_transition"));
        check(pack(LOOSE, &[], &[child("A", packed, Some("CASE2"))]), Err("in_other_parent: children[0] A is packed in CASE2; unpack it there first"));
        check(pack(LOOSE, &[], &[child("A", packed, Some("CASE"))]), Err("already_in_parent"));
        check(pack(LOOSE, &[], &[child("A", LOOSE, None), child("A", LOOSE, None)]), Err("repeated_child: children[1] A"));
        check(pack(LOOSE, &[], &[child("CASE", LOOSE, None)]), Err("aggregation_cycle"));
        check(pack(LOOSE, &["PALLET", "ROOT"], &[child("ROOT", LOOSE, None)]), Err("aggregation_cycle: children[0] ROOT"));
    }

    #[test]
    fn unpacking_rules() {
        let in_case = Some(SerialFacts {
            state: SerialState::Commissioned,
            packed: true,
            children: 0,
        });
        let full = Some(SerialFacts {
            children: 2,
            ..SerialFacts::loose(SerialState::Commissioned)
        });
        let unpack = |children: &[ChildFacts]| {
            check_unpack("CASE", full, children)
                .map(|(p, c)| (p.children, c.iter().all(|f| !f.packed)))
                .map_err(|e| e.code())
        };
        assert_eq!(
            unpack(&[
                child("A", in_case, Some("CASE")),
                child("B", in_case, Some("CASE"))
            ]),
            Ok((0, true))
        );
        assert_eq!(unpack(&[child("A", in_case, Some("CASE"))]), Ok((1, true)));
        assert_eq!(
            unpack(&[child("A", in_case, Some("OTHER"))]),
            Err("not_in_parent")
        );
        assert_eq!(unpack(&[child("A", LOOSE, None)]), Err("not_packed"));
        assert_eq!(unpack(&[child("A", None, None)]), Err("not_commissioned"));
        let destroyed = Some(SerialFacts::loose(SerialState::Destroyed));
        assert_eq!(unpack(&[child("A", destroyed, None)]), Err("destroyed"));
        assert_eq!(
            unpack(&[
                child("A", in_case, Some("CASE")),
                child("A", in_case, Some("CASE"))
            ]),
            Err("repeated_child")
        );
        assert_eq!(
            check_unpack("CASE", None, &[])
                .map_err(|e| e.code())
                .map(|_| ()),
            Err("not_commissioned")
        );
    }
}
