//! The batch lifecycle: open → running → closed → released, or cancelled before it closes.
//!
//! A batch is opened by the line with its master data (GTINs, lot, expiry, work order, planned
//! quantity), becomes running with its first commissioning, and is closed by the line or the
//! shift supervisor. Closing computes the reconciliation report (and, if the line is configured
//! so, refuses while units are still loose). A closed batch is released by QA; an open or
//! running one may be cancelled, which decommissions every unit it made. Only an open or running
//! batch accepts production events. The table is in `docs/serial-states.md`, rendered from
//! `batch_transition` by a test.

use super::reconcile::{self, Level};
use super::serial::{SerialFacts, SerialState};
use super::{BatchWrite, LedgerView, Plan, RulesPolicy, SerialWrite, Verdict, refuse};
use crate::model::{BatchOpen, LineMessage, RejectCode, Rejection};

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchState {
    /// Opened, nothing commissioned yet.
    Open,
    /// Producing: at least one commissioning.
    Running,
    /// Closed: reconciled; its End-of-Batch document is assembled.
    Closed,
    /// Released by QA.
    Released,
    /// Abandoned before closing; its units were decommissioned.
    Cancelled,
}

impl BatchState {
    pub const ALL: [BatchState; 5] = [
        BatchState::Open,
        BatchState::Running,
        BatchState::Closed,
        BatchState::Released,
        BatchState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Open => "open",
            BatchState::Running => "running",
            BatchState::Closed => "closed",
            BatchState::Released => "released",
            BatchState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// Accepts production events (commission, aggregate, decommission, …).
    pub fn is_active(self) -> bool {
        matches!(self, BatchState::Open | BatchState::Running)
    }
}

/// What happens to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchEvent {
    Commission,
    Close,
    Release,
    Cancel,
}

impl BatchEvent {
    pub const ALL: [BatchEvent; 4] = [
        BatchEvent::Commission,
        BatchEvent::Close,
        BatchEvent::Release,
        BatchEvent::Cancel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BatchEvent::Commission => "commission",
            BatchEvent::Close => "close",
            BatchEvent::Release => "release",
            BatchEvent::Cancel => "cancel",
        }
    }
}

/// The batch lifecycle table. `Err` is the sentence ending "batch B1 …".
pub fn batch_transition(state: BatchState, event: BatchEvent) -> Result<BatchState, String> {
    use BatchEvent as E;
    use BatchState as S;
    match (state, event) {
        (S::Open | S::Running, E::Commission) => Ok(S::Running),
        (S::Open | S::Running, E::Close) => Ok(S::Closed),
        (S::Open | S::Running, E::Cancel) => Ok(S::Cancelled),
        (S::Closed, E::Release) => Ok(S::Released),
        (S::Open | S::Running, E::Release) => Err("is not closed yet; close it first".into()),
        (s, _) => Err(format!("is {}, not open", s.as_str())),
    }
}

/// A batch as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchView {
    pub line: String,
    pub state: BatchState,
    pub gtin: String,
    pub pack_gtins: Vec<String>,
    pub lot: String,
    pub expiry: chrono::NaiveDate,
    pub planned: Option<u64>,
}

impl BatchView {
    /// The packaging level of one of this batch's identifiers.
    pub fn level(&self, key: &str) -> Level {
        Level::of(key, &self.gtin)
    }
}

/// The batch, if it exists, is on `line` and allows `event`; else the refusal.
pub(crate) fn usable(
    found: Option<BatchView>,
    batch: &str,
    line: &str,
    event: BatchEvent,
) -> Result<BatchView, Rejection> {
    let b = found.ok_or_else(|| {
        Rejection::new(
            RejectCode::BatchNotOpen,
            format!("batch {batch} was never opened; send batch_open first"),
        )
    })?;
    if b.line != line {
        return Err(Rejection::new(
            RejectCode::BatchNotOpen,
            format!("batch {batch} belongs to line {}, not line {line}", b.line),
        ));
    }
    match batch_transition(b.state, event) {
        Ok(_) => Ok(b),
        Err(why) => {
            let code = match event {
                BatchEvent::Release => RejectCode::InvalidTransition,
                _ => RejectCode::BatchNotOpen,
            };
            Err(Rejection::new(code, format!("batch {batch} {why}")))
        }
    }
}

pub(super) fn open<L: LedgerView>(
    msg: &LineMessage,
    open: &BatchOpen,
    ledger: &L,
    policy: &RulesPolicy,
) -> Verdict<L::Error> {
    if let Some(b) = ledger.batch(&open.batch)? {
        return refuse(
            RejectCode::BatchExists,
            format!(
                "batch {} already exists on line {} ({}); use a new batch id",
                open.batch,
                b.line,
                b.state.as_str()
            ),
        );
    }
    let limit = policy.line(&msg.line).open_batches_per_gtin;
    let active = ledger.active_batches(&msg.line, &open.gtin)?;
    if active >= limit {
        return refuse(
            RejectCode::BatchLimit,
            format!(
                "line {} already has {active} open batch(es) of GTIN {} (limit {limit}); close or cancel it first",
                msg.line, open.gtin
            ),
        );
    }
    Ok(Ok(Plan {
        batch: Some(BatchWrite::Open(open.clone())),
        serials: Vec::new(),
    }))
}

pub(super) fn close<L: LedgerView>(
    msg: &LineMessage,
    batch: &str,
    ledger: &L,
    policy: &RulesPolicy,
) -> Verdict<L::Error> {
    let view = match usable(ledger.batch(batch)?, batch, &msg.line, BatchEvent::Close) {
        Ok(v) => v,
        Err(r) => return Ok(Err(r)),
    };
    let units = ledger.batch_units(batch)?;
    let levelled: Vec<(Level, SerialFacts)> = units
        .iter()
        .map(|(key, rec)| (view.level(key), rec.facts))
        .collect();
    let report = reconcile::reconcile(&levelled, view.planned);
    if policy.line(&msg.line).block_unaggregated && report.loose > 0 {
        return refuse(
            RejectCode::UnaggregatedUnits,
            format!(
                "batch {batch} still has {} unit(s) not packed in a parent; pack, decommission or destroy them, or set unaggregated_at_close = \"report\"",
                report.loose
            ),
        );
    }
    Ok(Ok(Plan {
        batch: Some(BatchWrite::State {
            batch: batch.to_string(),
            state: BatchState::Closed,
            report: Some(report),
        }),
        serials: Vec::new(),
    }))
}

/// Cancelling decommissions every active unit of the batch and unpacks it; units of other
/// batches packed in its containers are unpacked. Shipped units make a batch uncancellable.
pub(super) fn cancel<L: LedgerView>(
    msg: &LineMessage,
    batch: &str,
    ledger: &L,
) -> Verdict<L::Error> {
    if let Err(r) = usable(ledger.batch(batch)?, batch, &msg.line, BatchEvent::Cancel) {
        return Ok(Err(r));
    }
    let units = ledger.batch_units(batch)?;
    let mut writes = Vec::new();
    for (key, rec) in &units {
        match rec.facts.state {
            SerialState::Shipped => {
                return refuse(
                    RejectCode::InvalidTransition,
                    format!("batch {batch} cannot be cancelled: {key} was shipped"),
                );
            }
            SerialState::Commissioned | SerialState::Sampled => writes.push(SerialWrite {
                key: key.clone(),
                state: SerialState::Decommissioned,
                parent: None,
                commissioned: None,
            }),
            SerialState::Decommissioned | SerialState::Destroyed => {}
        }
        if rec.facts.children > 0 {
            for child in ledger.children(key)? {
                if units.iter().any(|(k, _)| *k == child) {
                    continue;
                }
                if let Some(c) = ledger.serial(&child)? {
                    writes.push(SerialWrite {
                        key: child,
                        state: c.facts.state,
                        parent: None,
                        commissioned: None,
                    });
                }
            }
        }
    }
    Ok(Ok(Plan {
        batch: Some(BatchWrite::State {
            batch: batch.to_string(),
            state: BatchState::Cancelled,
            report: None,
        }),
        serials: writes,
    }))
}

pub(super) fn release<L: LedgerView>(batch: &str, ledger: &L) -> Verdict<L::Error> {
    let found = ledger.batch(batch)?;
    let line = found.as_ref().map(|b| b.line.clone()).unwrap_or_default();
    if let Err(r) = usable(found, batch, &line, BatchEvent::Release) {
        return Ok(Err(r));
    }
    Ok(Ok(Plan {
        batch: Some(BatchWrite::State {
            batch: batch.to_string(),
            state: BatchState::Released,
            report: None,
        }),
        serials: Vec::new(),
    }))
}

/// The lifecycle table as Markdown, for `docs/serial-states.md`.
pub fn table_markdown() -> String {
    let mut out = String::from("| batch state \\ event |");
    for e in BatchEvent::ALL {
        out.push_str(&format!(" {} |", e.as_str()));
    }
    out.push_str(&format!(
        "\n|---|{}\n",
        "---|".repeat(BatchEvent::ALL.len())
    ));
    for s in BatchState::ALL {
        out.push_str(&format!("| {} |", s.as_str()));
        for e in BatchEvent::ALL {
            let cell = match batch_transition(s, e) {
                Ok(next) => format!("→ {}", next.as_str()),
                Err(_) if e == BatchEvent::Release => "✗ `invalid_transition`".into(),
                Err(_) => "✗ `batch_not_open`".into(),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out
}
