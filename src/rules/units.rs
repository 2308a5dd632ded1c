//! Events on identifiers already in the registry: pack, unpack, decommission, destroy, sample,
//! correct a sample's status, ship.
//!
//! Each message is judged whole against the registry as it was before the message: every
//! identifier it names must be known, belong to a batch that is still producing on this line
//! (shipping also accepts closed and released batches), and pass the serial state machine or the
//! packing checks. The plan lists the new facts of every identifier touched; shipping a unit
//! ships everything packed in it, at any depth.

use std::collections::{HashMap, HashSet};

use super::aggregation::{self, AggregationRefusal, ChildFacts};
use super::batch::BatchState;
use super::serial::{self, Policy, Refusal, SerialEvent, SerialFacts, SerialState};
use super::{LedgerView, Plan, SerialRecord, SerialWrite, Verdict, refuse, reject_code};
use crate::model::{CodeRecord, LineMessage, RejectCode, Rejection, UnitAction};

/// Checks that every identifier's batch accepts the event, caching batch lookups per message.
struct BatchGate<'a, L: LedgerView> {
    ledger: &'a L,
    line: &'a str,
    /// Shipping is allowed after the batch closed.
    after_close: bool,
    seen: HashMap<String, Option<(String, BatchState)>>,
}

impl<'a, L: LedgerView> BatchGate<'a, L> {
    fn new(ledger: &'a L, line: &'a str, after_close: bool) -> Self {
        BatchGate {
            ledger,
            line,
            after_close,
            seen: HashMap::new(),
        }
    }

    /// `Ok(Err(..))` when the identifier `what` may not change because of its batch.
    fn check(&mut self, what: &str, rec: &SerialRecord) -> Result<Result<(), Rejection>, L::Error> {
        if !self.seen.contains_key(&rec.batch) {
            let found = self.ledger.batch(&rec.batch)?.map(|b| (b.line, b.state));
            self.seen.insert(rec.batch.clone(), found);
        }
        let batch = &rec.batch;
        let verdict = match &self.seen[batch] {
            None => Err(format!("{what} belongs to batch {batch}, which is unknown")),
            Some((line, _)) if line != self.line => Err(format!(
                "{what} belongs to batch {batch} of line {line}, not line {}",
                self.line
            )),
            Some((_, s)) if s.is_active() => Ok(()),
            Some((_, BatchState::Closed | BatchState::Released)) if self.after_close => Ok(()),
            Some((_, s)) => Err(format!(
                "{what} belongs to batch {batch}, which is {}; only an open or running batch changes",
                s.as_str()
            )),
        };
        Ok(verdict.map_err(|why| Rejection::new(RejectCode::BatchNotOpen, why)))
    }
}

fn refusal_of(e: &AggregationRefusal) -> Rejection {
    Rejection::new(reject_code(e.code()), e.to_string())
}

/// The named children as the packing checks need them, or the refusal of one whose batch does
/// not accept the event.
fn load_children<L: LedgerView>(
    gate: &mut BatchGate<'_, L>,
    keys: impl Iterator<Item = String>,
) -> Result<Result<Vec<ChildFacts>, Rejection>, L::Error> {
    let mut out = Vec::new();
    for (i, key) in keys.enumerate() {
        let rec = gate.ledger.serial(&key)?;
        if let Some(r) = &rec
            && let Err(refusal) = gate.check(&format!("children[{i}] {key}"), r)?
        {
            return Ok(Err(refusal));
        }
        out.push(ChildFacts {
            facts: rec.as_ref().map(|r| r.facts),
            parent: rec.and_then(|r| r.parent),
            key,
        });
    }
    Ok(Ok(out))
}

/// The container's own history line: its state and place do not change when it is (un)packed.
fn container_write(key: &str, next: SerialFacts, rec: Option<SerialRecord>) -> SerialWrite {
    SerialWrite {
        key: key.to_string(),
        state: next.state,
        parent: rec.and_then(|r| r.parent),
        commissioned: None,
    }
}

pub(super) fn aggregate<L: LedgerView>(
    msg: &LineMessage,
    parent: &CodeRecord,
    children: &[CodeRecord],
    ledger: &L,
) -> Verdict<L::Error> {
    let mut gate = BatchGate::new(ledger, &msg.line, false);
    let parent_rec = ledger.serial(&parent.key)?;
    let mut ancestors = Vec::new();
    if let Some(rec) = &parent_rec {
        if let Err(r) = gate.check(&format!("parent {}", parent.key), rec)? {
            return Ok(Err(r));
        }
        let mut up = rec.parent.clone();
        while let Some(key) = up {
            if ancestors.contains(&key) {
                break;
            }
            up = ledger.serial(&key)?.and_then(|r| r.parent);
            ancestors.push(key);
        }
    }
    let facts = match load_children(&mut gate, children.iter().map(|c| c.key.clone()))? {
        Ok(f) => f,
        Err(r) => return Ok(Err(r)),
    };
    let p_facts = parent_rec.as_ref().map(|r| r.facts);
    let (p_next, _) = match aggregation::check_pack(&parent.key, p_facts, &ancestors, &facts) {
        Ok(x) => x,
        Err(e) => return Ok(Err(refusal_of(&e))),
    };
    let mut writes = vec![container_write(&parent.key, p_next, parent_rec)];
    writes.extend(facts.into_iter().map(|c| SerialWrite {
        key: c.key,
        state: SerialState::Commissioned,
        parent: Some(parent.key.clone()),
        commissioned: None,
    }));
    Ok(Ok(Plan {
        batch: None,
        serials: writes,
    }))
}

pub(super) fn disaggregate<L: LedgerView>(
    msg: &LineMessage,
    parent: &CodeRecord,
    children: Option<&[CodeRecord]>,
    ledger: &L,
) -> Verdict<L::Error> {
    let mut gate = BatchGate::new(ledger, &msg.line, false);
    let parent_rec = ledger.serial(&parent.key)?;
    if let Some(rec) = &parent_rec
        && let Err(r) = gate.check(&format!("parent {}", parent.key), rec)?
    {
        return Ok(Err(r));
    }
    let keys: Vec<String> = match children {
        Some(list) => list.iter().map(|c| c.key.clone()).collect(),
        None if parent_rec.is_some() => ledger.children(&parent.key)?,
        None => Vec::new(),
    };
    let facts = match load_children(&mut gate, keys.into_iter())? {
        Ok(f) => f,
        Err(r) => return Ok(Err(r)),
    };
    let p_facts = parent_rec.as_ref().map(|r| r.facts);
    let (p_next, next) = match aggregation::check_unpack(&parent.key, p_facts, &facts) {
        Ok(x) => x,
        Err(e) => return Ok(Err(refusal_of(&e))),
    };
    let mut writes = vec![container_write(&parent.key, p_next, parent_rec)];
    writes.extend(facts.into_iter().zip(next).map(|(c, f)| SerialWrite {
        key: c.key,
        state: f.state,
        parent: None,
        commissioned: None,
    }));
    Ok(Ok(Plan {
        batch: None,
        serials: writes,
    }))
}

/// Decommission, destroy, sample or ship: each unit must be loose (shipping: top-level).
pub(super) fn units<L: LedgerView>(
    msg: &LineMessage,
    action: UnitAction,
    codes: &[CodeRecord],
    ledger: &L,
) -> Verdict<L::Error> {
    let event = match action {
        UnitAction::Decommission => SerialEvent::Decommission,
        UnitAction::Destroy => SerialEvent::Destroy,
        UnitAction::Sample => SerialEvent::Sample,
        UnitAction::CorrectStatus => SerialEvent::CorrectStatus,
        UnitAction::Ship => SerialEvent::Ship,
    };
    let mut gate = BatchGate::new(ledger, &msg.line, action == UnitAction::Ship);
    let mut seen = HashSet::new();
    let mut writes = Vec::with_capacity(codes.len());
    for (i, code) in codes.iter().enumerate() {
        if !seen.insert(code.key.as_str()) {
            return refuse(
                RejectCode::DuplicateCode,
                format!("codes[{i}] {} appears twice in this message", code.key),
            );
        }
        let rec = ledger.serial(&code.key)?;
        if let Some(r) = &rec
            && let Err(r) = gate.check(&format!("codes[{i}] {}", code.key), r)?
        {
            return Ok(Err(r));
        }
        let facts = rec.as_ref().map(|r| r.facts);
        let next = match serial::transition(facts, event, Policy::default()) {
            Ok(n) => n,
            Err(refusal) => {
                let why = match action {
                    UnitAction::Ship => shipping_refusal(refusal),
                    _ => refusal.to_string(),
                };
                return refuse(
                    reject_code(refusal.code()),
                    format!("codes[{i}] {} {why}", code.key),
                );
            }
        };
        writes.push(SerialWrite {
            key: code.key.clone(),
            state: next.state,
            parent: rec.as_ref().and_then(|r| r.parent.clone()),
            commissioned: None,
        });
        if action == UnitAction::Ship
            && next.children > 0
            && let Err(r) = ship_contents(&code.key, ledger, &mut writes)?
        {
            return Ok(Err(r));
        }
    }
    Ok(Ok(Plan {
        batch: None,
        serials: writes,
    }))
}

/// Why a unit cannot leave, in the shipper's words.
fn shipping_refusal(refusal: Refusal) -> String {
    match refusal {
        Refusal::Terminal => "was destroyed; a destroyed unit never leaves the site".into(),
        Refusal::WrongState { state } => format!(
            "is {}; only a commissioned unit can be shipped",
            state.as_str()
        ),
        Refusal::Packed => {
            "is packed in a parent; ship the top-level container, or unpack it first".into()
        }
        other => other.to_string(),
    }
}

/// Everything packed in `key`, at any depth, leaves with it — all of it commissioned: a
/// container with a sampled, decommissioned or destroyed unit in it does not leave.
fn ship_contents<L: LedgerView>(
    key: &str,
    ledger: &L,
    writes: &mut Vec<SerialWrite>,
) -> Result<Result<(), Rejection>, L::Error> {
    let mut stack = vec![key.to_string()];
    while let Some(k) = stack.pop() {
        for child in ledger.children(&k)? {
            let state = ledger.serial(&child)?.map(|r| r.facts.state);
            if state != Some(SerialState::Commissioned) {
                let (code, what) = match state {
                    Some(SerialState::Destroyed) => (RejectCode::Destroyed, "destroyed"),
                    Some(s) => (RejectCode::InvalidTransition, s.as_str()),
                    None => (RejectCode::NotCommissioned, "unknown"),
                };
                return Ok(Err(Rejection::new(
                    code,
                    format!(
                        "{child}, packed in {k} (under {key}), is {what}; a container leaves only \
                         with commissioned contents — unpack it first"
                    ),
                )));
            }
            writes.push(SerialWrite {
                key: child.clone(),
                state: SerialState::Shipped,
                parent: Some(k.clone()),
                commissioned: None,
            });
            stack.push(child);
        }
    }
    Ok(Ok(()))
}
