//! Commissioning: a serial enters the registry once, with a label that matches its batch.
//!
//! The batch must be open or running on the line (its first commissioning makes it running).
//! Each code must carry the batch's GTIN (or one of its case/bundle GTINs; SSCCs carry none),
//! and the lot and expiry it carries must be the batch's — a wrong label is stopped here. A
//! serial already in the registry is refused through the serial state machine: `duplicate_scan`
//! for a repeated read in the same batch, `commission_conflict` for different data (TraceLink
//! would silently overwrite it), unless a decommissioned serial may be commissioned again.

use std::collections::HashSet;

use super::batch::{BatchEvent, BatchState, BatchView, usable};
use super::serial::{self, Policy, Refusal, SerialEvent};
use super::{
    BatchWrite, Commissioning, LedgerView, Plan, RulesPolicy, SerialWrite, Verdict, refuse,
    reject_code,
};
use crate::model::{CodeRecord, LineMessage, RejectCode, Rejection};

pub(super) fn commission<L: LedgerView>(
    msg: &LineMessage,
    batch: &str,
    codes: &[CodeRecord],
    ledger: &L,
    policy: &RulesPolicy,
) -> Verdict<L::Error> {
    let view = match usable(
        ledger.batch(batch)?,
        batch,
        &msg.line,
        BatchEvent::Commission,
    ) {
        Ok(v) => v,
        Err(r) => return Ok(Err(r)),
    };
    let state_policy = Policy {
        allow_recommission: policy.allow_recommission,
    };
    let mut seen = HashSet::new();
    let mut writes = Vec::with_capacity(codes.len());
    for (i, code) in codes.iter().enumerate() {
        if let Err(r) = label_matches(&view, batch, i, code) {
            return Ok(Err(r));
        }
        if !seen.insert(code.key.as_str()) {
            return refuse(
                RejectCode::DuplicateCode,
                format!("codes[{i}] {} appears twice in this message", code.key),
            );
        }
        // Same batch means same GTIN, lot and expiry: a repeated read, not a conflict.
        let known = ledger.serial(&code.key)?;
        let same_data = known.as_ref().is_some_and(|r| r.batch == batch);
        let event = SerialEvent::Commission { same_data };
        match serial::transition(known.as_ref().map(|r| r.facts), event, state_policy) {
            Ok(next) => writes.push(SerialWrite {
                key: code.key.clone(),
                state: next.state,
                parent: None,
                commissioned: Some(Commissioning {
                    batch: batch.to_string(),
                    epc: code.epc.as_str().to_string(),
                    replaces: known.is_some(),
                }),
            }),
            Err(refusal) => {
                let note = match (refusal, &known) {
                    (Refusal::CommissionConflict, Some(r)) => format!(" (batch {})", r.batch),
                    _ => String::new(),
                };
                return refuse(
                    reject_code(refusal.code()),
                    format!("codes[{i}] {} {refusal}{note}", code.key),
                );
            }
        }
    }
    let batch_write = (view.state == BatchState::Open).then(|| BatchWrite::State {
        batch: batch.to_string(),
        state: BatchState::Running,
        report: None,
    });
    Ok(Ok(Plan {
        batch: batch_write,
        serials: writes,
    }))
}

/// Wrong-label detection: what the code itself carries must match the batch.
fn label_matches(
    view: &BatchView,
    batch: &str,
    i: usize,
    code: &CodeRecord,
) -> Result<(), Rejection> {
    match code.gtin.as_deref() {
        Some(g) if g != view.gtin && !view.pack_gtins.iter().any(|p| p == g) => {
            return Err(Rejection::new(
                RejectCode::GtinMismatch,
                format!(
                    "codes[{i}] has GTIN {g} but batch {batch} is for GTIN {}",
                    view.gtin
                ),
            ));
        }
        _ => {}
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
