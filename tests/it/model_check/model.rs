//! The model: the line rules as the documentation states them, independent of `linegate::rules`.
//!
//! A deliberately naive map identifier → (state, parent), written from `docs/serial-states.md`
//! and `docs/mqtt-protocol-v1.md`. Where the docs are silent (the order in which problems inside
//! one message are reported, the parent of a `disaggregate`, rows the transition table does not
//! have) the comment on the rule says which source file settled it. The model judges a message
//! on the state before it and applies it whole or not at all, and shows its registry the way
//! `linegate serial show` reads the store's, so the two can be compared field by field.

use super::actions::{Action, Id, POOL, all_ids, key};
use super::report::{View, sorted};

/// Serial states, docs/serial-states.md.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Commissioned,
    Sampled,
    Decommissioned,
    Destroyed,
    Shipped,
}

impl St {
    fn as_str(self) -> &'static str {
        match self {
            St::Commissioned => "commissioned",
            St::Sampled => "sampled",
            St::Decommissioned => "decommissioned",
            St::Destroyed => "destroyed",
            St::Shipped => "shipped",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Entry {
    state: St,
    parent: Option<Id>,
}

/// What the line rules say, from the documentation: every identifier's state and parent.
/// Batch B1 stays open/running throughout, so the batch rules never decide anything here.
#[derive(Clone, Default)]
pub(super) struct Model {
    serials: [Option<Entry>; POOL.len()],
    /// Every upstream accepts a decommissioned serial being commissioned again.
    pub(super) recommission: bool,
}

/// The writes of an accepted message, or the refusal code.
type Judged = Result<Vec<(Id, Entry)>, &'static str>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Decommission,
    Destroy,
    Sample,
    Correct,
    Ship,
}

impl Model {
    fn get(&self, id: Id) -> Option<Entry> {
        self.serials[id.0]
    }

    fn children(&self, id: Id) -> Vec<Id> {
        all_ids()
            .into_iter()
            .filter(|c| self.get(*c).and_then(|e| e.parent) == Some(id))
            .collect()
    }

    /// Parent, grandparent, … (nearest first).
    fn ancestors(&self, id: Id) -> Vec<Id> {
        let mut out = Vec::new();
        let mut up = self.get(id).and_then(|e| e.parent);
        while let Some(p) = up {
            assert!(!out.contains(&p), "model: {id:?} sits in a cycle");
            out.push(p);
            up = self.get(p).and_then(|e| e.parent);
        }
        out
    }

    fn descendants(&self, id: Id) -> Vec<Id> {
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(k) = stack.pop() {
            for c in self.children(k) {
                out.push(c);
                stack.push(c);
            }
        }
        out
    }

    /// Applies a message whole or not at all; the verdict is judged on the state before it.
    pub(super) fn apply(&mut self, action: &Action) -> Result<(), &'static str> {
        let writes = self.judge(action)?;
        for (id, entry) in writes {
            self.serials[id.0] = Some(entry);
        }
        Ok(())
    }

    fn judge(&self, action: &Action) -> Judged {
        match action {
            Action::Commission(codes) => self.commission(codes),
            Action::Aggregate(parent, children) => self.aggregate(*parent, children),
            Action::Disaggregate(parent, children) => {
                self.disaggregate(*parent, children.as_deref())
            }
            Action::Decommission(codes) => self.units(Unit::Decommission, codes),
            Action::Destroy(codes) => self.units(Unit::Destroy, codes),
            Action::Sample(codes) => self.units(Unit::Sample, codes),
            Action::Correct(codes) => self.units(Unit::Correct, codes),
            Action::Ship(codes) => self.units(Unit::Ship, codes),
            Action::Restart | Action::Redeliver(_) | Action::Group(_) => {
                unreachable!("not one line message")
            }
        }
    }

    /// Precedence inside a message (the docs only say a message is judged whole): identifiers
    /// are judged in message order, and an identifier listed a second time is refused at that
    /// position (`duplicate_code` / `repeated_child`) before its own state is looked at. Settled
    /// from src/rules/commission.rs, units.rs and aggregation.rs (`each_child`): an earlier
    /// identifier's refusal wins over a later repetition.
    fn commission(&self, codes: &[Id]) -> Judged {
        let mut writes = Vec::new();
        for (i, &c) in codes.iter().enumerate() {
            if codes[..i].contains(&c) {
                return Err("duplicate_code");
            }
            match self.get(c) {
                None => writes.push((
                    c,
                    Entry {
                        state: St::Commissioned,
                        parent: None,
                    },
                )),
                // Same batch, same data: a repeated read (packed or holding children alike).
                Some(e) if e.state == St::Commissioned => return Err("duplicate_scan"),
                Some(e) if e.state == St::Destroyed => return Err("destroyed"),
                // "Recommissioning a decommissioned serial is off by default; a partner that
                // accepts it can allow it" (docs/serial-states.md).
                Some(e) if e.state == St::Decommissioned && self.recommission => writes.push((
                    c,
                    Entry {
                        state: St::Commissioned,
                        parent: None,
                    },
                )),
                Some(_) => return Err("invalid_transition"),
            }
        }
        Ok(writes)
    }

    /// "The parent and every child must be commissioned, active …; a child sits in at most one
    /// parent (`in_other_parent`); nothing is packed into itself or into its own content
    /// (`aggregation_cycle`)." Parent first, then each child: repeated, cycle, packed elsewhere,
    /// already here, then the table's `pack` column.
    fn aggregate(&self, parent: Id, children: &[Id]) -> Judged {
        match self.get(parent) {
            None => return Err("not_commissioned"),
            // The table refuses every event on a destroyed serial with `destroyed`, and so does
            // `disaggregate` for its parent (aggregation.rs `check_unpack`).
            Some(e) if e.state == St::Destroyed => return Err("destroyed"),
            Some(e) if e.state != St::Commissioned => return Err("invalid_transition"),
            Some(_) => {}
        }
        let ancestors = self.ancestors(parent);
        let mut writes = Vec::new();
        for (i, &c) in children.iter().enumerate() {
            if children[..i].contains(&c) {
                return Err("repeated_child");
            }
            if c == parent || ancestors.contains(&c) {
                return Err("aggregation_cycle");
            }
            let entry = self.get(c);
            match entry.and_then(|e| e.parent) {
                Some(p) if p == parent => return Err("already_in_parent"),
                Some(_) => return Err("in_other_parent"),
                None => {}
            }
            // The `pack` column: a loose commissioned unit (holding children or not) is packed.
            match entry.map(|e| e.state) {
                None => return Err("not_commissioned"),
                Some(St::Commissioned) => {}
                Some(St::Destroyed) => return Err("destroyed"),
                Some(_) => return Err("invalid_transition"),
            }
            writes.push((
                c,
                Entry {
                    state: St::Commissioned,
                    parent: Some(parent),
                },
            ));
        }
        Ok(writes)
    }

    /// The docs give no rule for the parent of a `disaggregate`; settled from aggregation.rs
    /// (`check_unpack`): it must be known and not destroyed, any other state will do, and
    /// "unpack all" of an empty parent is an accepted no-op. Each child follows the table's
    /// `unpack` column and the refusal codes' meanings: never commissioned → `not_commissioned`,
    /// destroyed → `destroyed`, in no parent → `not_packed` ("unpacking a unit that is in no
    /// parent"), in another parent → `not_in_parent`; a packed child that is not commissioned
    /// (shipped with its container — a row the table does not have) → `invalid_transition`, as
    /// src/rules/serial.rs `transition` decides.
    fn disaggregate(&self, parent: Id, children: Option<&[Id]>) -> Judged {
        match self.get(parent) {
            None => return Err("not_commissioned"),
            Some(e) if e.state == St::Destroyed => return Err("destroyed"),
            Some(_) => {}
        }
        let list = match children {
            Some(list) => list.to_vec(),
            None => self.children(parent),
        };
        let mut writes = Vec::new();
        for (i, &c) in list.iter().enumerate() {
            if list[..i].contains(&c) {
                return Err("repeated_child");
            }
            let Some(e) = self.get(c) else {
                return Err("not_commissioned");
            };
            if e.state == St::Destroyed {
                return Err("destroyed");
            }
            match e.parent {
                None => return Err("not_packed"),
                Some(p) if p != parent => return Err("not_in_parent"),
                Some(_) => {}
            }
            if e.state != St::Commissioned {
                return Err("invalid_transition");
            }
            writes.push((
                c,
                Entry {
                    state: e.state,
                    parent: None,
                },
            ));
        }
        Ok(writes)
    }

    /// The table's sample / correct status / decommission / destroy / ship columns. Sample, decommission and
    /// destroy need a loose, empty unit; ship needs a top-level commissioned unit and takes
    /// everything inside it along (descendants keep their parent and become shipped). Where the
    /// table has no row for a combination (packed *and* holding children, or shipped and packed)
    /// the state is checked first, then `packed`, then `has_children` — src/rules/serial.rs.
    fn units(&self, unit: Unit, codes: &[Id]) -> Judged {
        let (allowed, next): (&[St], St) = match unit {
            Unit::Sample => (&[St::Commissioned], St::Sampled),
            // "`correct_status` puts a unit wrongly recorded as sampled back to commissioned".
            Unit::Correct => (&[St::Sampled], St::Commissioned),
            Unit::Decommission => (&[St::Commissioned, St::Sampled], St::Decommissioned),
            Unit::Destroy => (
                &[St::Commissioned, St::Sampled, St::Decommissioned],
                St::Destroyed,
            ),
            Unit::Ship => (&[St::Commissioned], St::Shipped),
        };
        let mut writes = Vec::new();
        for (i, &c) in codes.iter().enumerate() {
            if codes[..i].contains(&c) {
                return Err("duplicate_code");
            }
            let Some(e) = self.get(c) else {
                return Err("not_commissioned");
            };
            if e.state == St::Destroyed {
                return Err("destroyed");
            }
            if !allowed.contains(&e.state) {
                return Err("invalid_transition");
            }
            if e.parent.is_some() {
                return Err("packed");
            }
            if unit != Unit::Ship && !self.children(c).is_empty() {
                return Err("has_children");
            }
            writes.push((
                c,
                Entry {
                    state: next,
                    parent: None,
                },
            ));
            if unit == Unit::Ship {
                for d in self.descendants(c) {
                    let parent = self.get(d).and_then(|e| e.parent);
                    writes.push((
                        d,
                        Entry {
                            state: St::Shipped,
                            parent,
                        },
                    ));
                }
            }
        }
        Ok(writes)
    }

    /// The registry as `linegate serial show` would show it, per pool identifier.
    pub(super) fn view(&self) -> Vec<Option<View>> {
        all_ids()
            .into_iter()
            .map(|id| {
                self.get(id).map(|e| View {
                    state: e.state.as_str().to_string(),
                    parents: self.ancestors(id).iter().map(|p| key(*p)).collect(),
                    children: sorted(self.children(id).iter().map(|c| key(*c)).collect()),
                })
            })
            .collect()
    }
}
