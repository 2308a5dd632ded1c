//! The line rules: what may happen to a batch and to each serial, judged before anything is stored.
//!
//! Pure judgement: given what the ledger already holds (through `LedgerView`, which the store
//! implements over its open transaction) and a decoded `LineMessage`, decide whether the message
//! may be applied, and if so return the `Plan` of writes it makes. The store calls `judge` inside
//! the same transaction that then writes the plan, so the check and the write cannot be separated
//! by another message, and a message is applied whole or not at all. Nothing here does I/O.
//!
//! * `batch`: the batch lifecycle (open → running → closed → released, or cancelled).
//! * `commission`: commissioning, wrong-label detection, one commissioning per serial.
//! * `units`: aggregation, disaggregation, decommission, destroy, sample and ship.
//! * `ship`: shipments — `ship` (units' ship plus a despatch advice used once), `void_shipment`
//!   (sales only) and `receive`, against the store's shipments (`ShipmentLedger`).
//! * `serial`, `aggregation`: the per-identifier state machine and the packing checks.
//! * `reconcile`: the end-of-batch report.

pub mod aggregation;
pub mod batch;
pub mod commission;
pub mod reconcile;
pub mod serial;
pub mod ship;
pub mod units;

use std::collections::HashMap;

use crate::model::{BatchOpen, LineEvent, LineMessage, RejectCode, Rejection};
pub use batch::{BatchState, BatchView};
use serial::SerialFacts;
pub use serial::SerialState;
pub use ship::{ShipmentLedger, ShipmentRecord, ShippedItem};

/// Plant settings that change the rules (from the configuration file).
#[derive(Debug, Clone, Default)]
pub struct RulesPolicy {
    /// A decommissioned serial may be commissioned again (every upstream accepts it).
    pub allow_recommission: bool,
    pub lines: HashMap<String, LinePolicy>,
}

/// Per-line settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinePolicy {
    pub open_batches_per_gtin: u32,
    /// Loose units refuse `batch_close` instead of only being reported.
    pub block_unaggregated: bool,
}

impl Default for LinePolicy {
    fn default() -> Self {
        LinePolicy {
            open_batches_per_gtin: 1,
            block_unaggregated: false,
        }
    }
}

impl RulesPolicy {
    pub fn line(&self, line: &str) -> LinePolicy {
        self.lines.get(line).copied().unwrap_or_default()
    }
}

/// One identifier as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialRecord {
    /// The batch that commissioned it.
    pub batch: String,
    pub facts: SerialFacts,
    /// The key of the parent it is packed in.
    pub parent: Option<String>,
}

/// Read access to the ledger, provided by the store inside its transaction.
pub trait LedgerView {
    type Error;
    fn batch(&self, batch: &str) -> Result<Option<BatchView>, Self::Error>;
    /// Batches of `gtin` on `line` that are open or running.
    fn active_batches(&self, line: &str, gtin: &str) -> Result<u32, Self::Error>;
    /// An identifier by its canonical key.
    fn serial(&self, key: &str) -> Result<Option<SerialRecord>, Self::Error>;
    /// The keys packed directly in `key`.
    fn children(&self, key: &str) -> Result<Vec<String>, Self::Error>;
    /// Every identifier the batch commissioned, in commissioning order.
    fn batch_units(&self, batch: &str) -> Result<Vec<(String, SerialRecord)>, Self::Error>;
}

/// What the store writes for an accepted message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub batch: Option<BatchWrite>,
    /// New facts per identifier, each also a line of its history.
    pub serials: Vec<SerialWrite>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BatchWrite {
    Open(BatchOpen),
    State {
        batch: String,
        state: BatchState,
        /// The reconciliation report, stored on close.
        report: Option<reconcile::Report>,
    },
}

/// The state an identifier is left in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialWrite {
    pub key: String,
    pub state: SerialState,
    pub parent: Option<String>,
    /// Set when this write (re)commissions the identifier.
    pub commissioned: Option<Commissioning>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commissioning {
    pub batch: String,
    pub epc: String,
    /// The identifier is in the registry already (a permitted recommissioning).
    pub replaces: bool,
}

/// A verdict: the writes to make, or why not. The outer error is the ledger's own failure (I/O),
/// which must not be mistaken for a refusal.
pub type Verdict<E> = Result<Result<Plan, Rejection>, E>;

/// Decides whether `msg` may be applied and what it writes.
pub fn judge<L: ShipmentLedger>(
    msg: &LineMessage,
    ledger: &L,
    policy: &RulesPolicy,
) -> Verdict<L::Error> {
    match &msg.event {
        LineEvent::BatchOpen(open) => batch::open(msg, open, ledger, policy),
        LineEvent::BatchClose { batch } => batch::close(msg, batch, ledger, policy),
        LineEvent::BatchCancel { batch, .. } => batch::cancel(msg, batch, ledger),
        LineEvent::BatchRelease { batch } => batch::release(batch, ledger),
        LineEvent::Commission { batch, codes } => {
            commission::commission(msg, batch, codes, ledger, policy)
        }
        LineEvent::Aggregate { parent, children } => {
            units::aggregate(msg, parent, children, ledger)
        }
        LineEvent::Disaggregate { parent, children } => {
            units::disaggregate(msg, parent, children.as_deref(), ledger)
        }
        LineEvent::Units { action, codes, .. } => units::units(msg, *action, codes, ledger),
        LineEvent::Ship(s) => ship::ship(msg, s, ledger),
        LineEvent::VoidShipment { shipment, .. } => ship::void(shipment, ledger),
        LineEvent::Receive(r) => ship::receive(r, ledger),
    }
}

/// The wire code of a refusal from the state machine or the packing checks.
pub(crate) fn reject_code(code: &str) -> RejectCode {
    RejectCode::parse(code).unwrap_or(RejectCode::InvalidTransition)
}

/// Shorthand for a refusal inside a verdict.
pub(crate) fn refuse<E>(code: RejectCode, reason: impl Into<String>) -> Verdict<E> {
    Ok(Err(Rejection::new(code, reason)))
}

#[cfg(test)]
mod tests;
