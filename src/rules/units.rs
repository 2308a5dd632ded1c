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
use super::serial::{self, Policy, SerialEvent, SerialState};
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
    let mut facts = Vec::with_capacity(children.len());
    for (i, c) in children.iter().enumerate() {
        let rec = ledger.serial(&c.key)?;
        if let Some(r) = &rec
            && let Err(r) = gate.check(&format!("children[{i}] {}", c.key), r)?
        {
            return Ok(Err(r));
        }
        facts.push(ChildFacts {
            key: c.key.clone(),
            facts: rec.as_ref().map(|r| r.facts),
            parent: rec.and_then(|r| r.parent),
        });
    }
    let p_facts = parent_rec.as_ref().map(|r| r.facts);
    let (p_next, _) = match aggregation::check_pack(&parent.key, p_facts, &ancestors, &facts) {
        Ok(x) => x,
        Err(e) => return Ok(Err(refusal_of(&e))),
    };
    let mut writes = vec![SerialWrite {
        key: parent.key.clone(),
        state: p_next.state,
        parent: parent_rec.and_then(|r| r.parent),
        commissioned: None,
    }];
    writes.extend(children.iter().map(|c| SerialWrite {
        key: c.key.clone(),
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
    let mut facts = Vec::with_capacity(keys.len());
    let mut states = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let rec = ledger.serial(key)?;
        if let Some(r) = &rec
            && let Err(r) = gate.check(&format!("children[{i}] {key}"), r)?
        {
            return Ok(Err(r));
        }
        states.push(rec.as_ref().map(|r| r.facts.state));
        facts.push(ChildFacts {
            key: key.clone(),
            facts: rec.as_ref().map(|r| r.facts),
            parent: rec.and_then(|r| r.parent),
        });
    }
    let p_facts = parent_rec.as_ref().map(|r| r.facts);
    let (p_next, _) = match aggregation::check_unpack(&parent.key, p_facts, &facts) {
        Ok(x) => x,
        Err(e) => return Ok(Err(refusal_of(&e))),
    };
    let mut writes = vec![SerialWrite {
        key: parent.key.clone(),
        state: p_next.state,
        parent: parent_rec.and_then(|r| r.parent),
        commissioned: None,
    }];
    for (key, state) in keys.into_iter().zip(states) {
        writes.push(SerialWrite {
            key,
            state: state.unwrap_or(SerialState::Commissioned),
            parent: None,
            commissioned: None,
        });
    }
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
                return refuse(
                    reject_code(refusal.code()),
                    format!("codes[{i}] {} {refusal}", code.key),
                );
            }
        };
        writes.push(SerialWrite {
            key: code.key.clone(),
            state: next.state,
            parent: rec.as_ref().and_then(|r| r.parent.clone()),
            commissioned: None,
        });
        if action == UnitAction::Ship && next.children > 0 {
            ship_contents(&code.key, ledger, &mut writes)?;
        }
    }
    Ok(Ok(Plan {
        batch: None,
        serials: writes,
    }))
}

/// Everything packed in `key`, at any depth, leaves with it.
fn ship_contents<L: LedgerView>(
    key: &str,
    ledger: &L,
    writes: &mut Vec<SerialWrite>,
) -> Result<(), L::Error> {
    let mut stack = vec![key.to_string()];
    while let Some(k) = stack.pop() {
        for child in ledger.children(&k)? {
            writes.push(SerialWrite {
                key: child.clone(),
                state: SerialState::Shipped,
                parent: Some(k.clone()),
                commissioned: None,
            });
            stack.push(child);
        }
    }
    Ok(())
}
