//! The line rules that exist in the spine: batches and single commissioning.
//!
//! Pure judgement: given what the ledger already holds (through `LedgerView`, which the store
//! implements over its open transaction) and a decoded `LineMessage`, decide whether the message
//! may be applied. The store calls this inside the same transaction that will write the message,
//! so the check and the write cannot be separated by another message. Nothing here does I/O.
//! Issue "line rules" extends this with the full serial state machine and aggregation.

pub mod aggregation;
pub mod reconcile;
pub mod serial;

use std::collections::HashSet;

use crate::model::{LineEvent, LineMessage, RejectCode, Rejection};
use serial::{Policy, Refusal, SerialEvent, SerialFacts};

/// The lifecycle of a batch as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchState {
    Open,
    Closed,
    Assembled,
}

impl BatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Open => "open",
            BatchState::Closed => "closed",
            BatchState::Assembled => "assembled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(BatchState::Open),
            "closed" => Some(BatchState::Closed),
            "assembled" => Some(BatchState::Assembled),
            _ => None,
        }
    }
}

/// A batch as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchView {
    pub line: String,
    pub state: BatchState,
    pub gtin: String,
    pub lot: String,
    pub expiry: chrono::NaiveDate,
}

/// Read access to the ledger, provided by the store inside its transaction.
pub trait LedgerView {
    type Error;
    fn batch(&self, batch: &str) -> Result<Option<BatchView>, Self::Error>;
    /// An identifier's registry facts (by its canonical key) and the batch that commissioned it.
    fn serial(&self, key: &str) -> Result<Option<(String, SerialFacts)>, Self::Error>;
}

/// Decides whether `msg` may be applied. `Ok(Err(rejection))` is a refusal; the outer error is
/// the ledger's own failure (I/O), which must not be mistaken for a refusal.
pub fn judge<L: LedgerView>(
    msg: &LineMessage,
    ledger: &L,
) -> Result<Result<(), Rejection>, L::Error> {
    match &msg.event {
        LineEvent::BatchOpen(open) => Ok(match ledger.batch(&open.batch)? {
            Some(b) => Err(Rejection::new(
                RejectCode::BatchExists,
                format!(
                    "batch {} already exists on line {} ({}); use a new batch id",
                    open.batch,
                    b.line,
                    b.state.as_str()
                ),
            )),
            None => Ok(()),
        }),
        LineEvent::BatchClose { batch } => {
            Ok(open_batch(ledger.batch(batch)?, batch, &msg.line).map(|_| ()))
        }
        LineEvent::Commission { batch, codes } => {
            let view = match open_batch(ledger.batch(batch)?, batch, &msg.line) {
                Ok(v) => v,
                Err(r) => return Ok(Err(r)),
            };
            let mut seen = HashSet::new();
            for (i, code) in codes.iter().enumerate() {
                if let Err(r) = label_matches(&view, batch, i, code) {
                    return Ok(Err(r));
                }
                if !seen.insert(code.key.as_str()) {
                    return Ok(Err(Rejection::new(
                        RejectCode::DuplicateCode,
                        format!("codes[{i}] {} appears twice in this message", code.key),
                    )));
                }
                // Same batch means same GTIN, lot and expiry: a repeated read, not a conflict.
                let known = ledger.serial(&code.key)?;
                let same_data = known.as_ref().is_some_and(|(b, _)| b == batch);
                let event = SerialEvent::Commission { same_data };
                if let Err(refusal) =
                    serial::transition(known.map(|(_, f)| f), event, Policy::default())
                {
                    let code_for = match refusal {
                        Refusal::DuplicateScan => RejectCode::DuplicateScan,
                        Refusal::CommissionConflict => RejectCode::CommissionConflict,
                        _ => RejectCode::InvalidTransition,
                    };
                    let batch_note = if same_data { "" } else { " (in another batch)" };
                    return Ok(Err(Rejection::new(
                        code_for,
                        format!("codes[{i}] {} {refusal}{batch_note}", code.key),
                    )));
                }
            }
            Ok(Ok(()))
        }
    }
}

fn open_batch(found: Option<BatchView>, batch: &str, line: &str) -> Result<BatchView, Rejection> {
    match found {
        None => Err(Rejection::new(
            RejectCode::BatchNotOpen,
            format!("batch {batch} was never opened; send batch_open first"),
        )),
        Some(b) if b.line != line => Err(Rejection::new(
            RejectCode::BatchNotOpen,
            format!("batch {batch} belongs to line {}, not line {line}", b.line),
        )),
        Some(b) if b.state != BatchState::Open => Err(Rejection::new(
            RejectCode::BatchNotOpen,
            format!("batch {batch} is {}, not open", b.state.as_str()),
        )),
        Some(b) => Ok(b),
    }
}

/// Wrong-label detection: what the code itself carries must match the batch.
fn label_matches(
    view: &BatchView,
    batch: &str,
    i: usize,
    code: &crate::model::CodeRecord,
) -> Result<(), Rejection> {
    match code.gtin.as_deref() {
        Some(g) if g != view.gtin => {
            return Err(Rejection::new(
                RejectCode::GtinMismatch,
                format!(
                    "codes[{i}] has GTIN {g} but batch {batch} is for GTIN {}",
                    view.gtin
                ),
            ));
        }
        None => {
            return Err(Rejection::new(
                RejectCode::GtinMismatch,
                format!(
                    "codes[{i}] {} is not a GTIN serial; batch {batch} commissions GTIN {}",
                    code.key, view.gtin
                ),
            ));
        }
        Some(_) => {}
    }
    if let Some(lot) = code.lot.as_deref().filter(|l| *l != view.lot) {
        return Err(Rejection::new(
            RejectCode::LabelMismatch,
            format!(
                "codes[{i}] carries lot {lot} but batch {batch} is lot {}",
                view.lot
            ),
        ));
    }
    if let Some(exp) = code.expiry.filter(|e| *e != view.expiry) {
        return Err(Rejection::new(
            RejectCode::LabelMismatch,
            format!(
                "codes[{i}] carries expiry {exp} but batch {batch} expires {}",
                view.expiry
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BatchOpen, CodeRecord};
    use chrono::{NaiveDate, Utc};
    use std::collections::HashMap;

    #[derive(Default)]
    struct Ledger {
        batches: HashMap<String, BatchView>,
        /// Commissioned keys and their batch.
        keys: HashMap<String, String>,
    }

    impl LedgerView for Ledger {
        type Error = std::convert::Infallible;
        fn batch(&self, batch: &str) -> Result<Option<BatchView>, Self::Error> {
            Ok(self.batches.get(batch).cloned())
        }
        fn serial(&self, key: &str) -> Result<Option<(String, SerialFacts)>, Self::Error> {
            let facts = SerialFacts::loose(serial::SerialState::Commissioned);
            Ok(self.keys.get(key).map(|b| (b.clone(), facts)))
        }
    }

    fn expiry() -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 6, 30).expect("date")
    }

    fn ledger(state: BatchState) -> Ledger {
        let mut l = Ledger::default();
        let view = BatchView {
            line: "L1".into(),
            state,
            gtin: "00361414567894".into(),
            lot: "LOT1".into(),
            expiry: expiry(),
        };
        l.batches.insert("B1".into(), view);
        l.keys
            .insert("(01)00361414567894(21)OLD".into(), "B0".into());
        l.keys
            .insert("(01)00361414567894(21)MINE".into(), "B1".into());
        l
    }

    fn code(gtin: &str, serial: &str, lot: Option<&str>) -> CodeRecord {
        let key = format!("(01){gtin}(21){serial}");
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

    fn check(state: BatchState, line: &str, event: LineEvent, expect: Option<RejectCode>) {
        let msg = LineMessage {
            line: line.into(),
            message_id: "m".into(),
            time: Utc::now(),
            event,
        };
        let Ok(verdict) = judge(&msg, &ledger(state));
        assert_eq!(
            verdict.as_ref().err().map(|r| r.code),
            expect,
            "{verdict:?}"
        );
    }

    fn commission(codes: Vec<CodeRecord>) -> LineEvent {
        LineEvent::Commission {
            batch: "B1".into(),
            codes,
        }
    }

    #[test]
    fn judges_messages_against_the_ledger() {
        let g = "00361414567894";
        use BatchState::*;
        use RejectCode::*;
        check(Open, "L1", commission(vec![code(g, "A", None)]), None);
        check(
            Open,
            "L1",
            commission(vec![code(g, "A", Some("LOT1"))]),
            None,
        );
        check(
            Open,
            "L2",
            commission(vec![code(g, "A", None)]),
            Some(BatchNotOpen),
        );
        check(
            Closed,
            "L1",
            commission(vec![code(g, "A", None)]),
            Some(BatchNotOpen),
        );
        check(
            Open,
            "L1",
            commission(vec![code(g, "OLD", None)]),
            Some(CommissionConflict),
        );
        check(
            Open,
            "L1",
            commission(vec![code(g, "MINE", None)]),
            Some(DuplicateScan),
        );
        check(
            Open,
            "L1",
            commission(vec![code(g, "A", None), code(g, "A", None)]),
            Some(DuplicateCode),
        );
        check(
            Open,
            "L1",
            commission(vec![code("00012345600012", "A", None)]),
            Some(GtinMismatch),
        );
        check(
            Open,
            "L1",
            commission(vec![code(g, "A", Some("LOT2"))]),
            Some(LabelMismatch),
        );
        check(
            Open,
            "L1",
            LineEvent::BatchClose { batch: "B1".into() },
            None,
        );
        check(
            Assembled,
            "L1",
            LineEvent::BatchClose { batch: "B1".into() },
            Some(BatchNotOpen),
        );
        check(
            Open,
            "L1",
            LineEvent::BatchClose { batch: "B9".into() },
            Some(BatchNotOpen),
        );
        let open = |b: &str| {
            LineEvent::BatchOpen(BatchOpen {
                batch: b.into(),
                gtin: g.into(),
                lot: "L".into(),
                expiry: expiry(),
                work_order: None,
                planned_quantity: None,
            })
        };
        check(Open, "L1", open("B1"), Some(BatchExists));
        check(Open, "L1", open("B2"), None);
    }
}
