//! Checking the audit chain: every row's hash recomputed from its fields, every row linked to
//! the one before it, the numbering without gaps — and the first row where any of that fails
//! named in words an operator can act on.
//!
//! What the chain cannot show by itself: rows cut off at the newest end (the shortened chain is
//! still a valid chain), and a forger who rewrites every row from the edit onwards with fresh
//! hashes. Both are caught by comparing the head (`AuditHead`, printed by `linegate audit
//! verify`) with a copy recorded elsewhere earlier.

use serde::Serialize;

use super::audit::{GENESIS, Record, row_hash};

/// The newest row of a chain: record `hash` somewhere else to detect truncation later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHead {
    pub seq: i64,
    pub at: String,
    pub hash: String,
}

/// What is wrong at the first row that does not check out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditProblem {
    /// The row's content (or its number) no longer matches the hash written with it.
    Changed,
    /// Rows `first..=last` are gone: this row follows a row further back.
    Missing { first: i64, last: i64 },
    /// The row does not follow the row before it: a row was inserted, or the row before it was
    /// replaced by one with a recomputed hash.
    NotLinked { previous: Option<i64> },
    /// The row is numbered before the first row the gateway writes (seq 1): inserted.
    BeforeStart,
}

/// The first row at which the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditBreak {
    pub seq: i64,
    #[serde(flatten)]
    pub problem: AuditProblem,
}

impl std::fmt::Display for AuditBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seq = self.seq;
        match &self.problem {
            AuditProblem::Changed => write!(
                f,
                "row {seq} was changed after it was written: its content no longer matches its hash"
            ),
            AuditProblem::Missing { first: 1, last } => write!(
                f,
                "the chain's first rows (1 to {last}) were removed: row {seq} is now the first row"
            ),
            AuditProblem::Missing { first, last } if first == last => write!(
                f,
                "row {first} was removed: row {seq} follows row {} directly",
                first - 1
            ),
            AuditProblem::Missing { first, last } => write!(
                f,
                "rows {first} to {last} were removed: row {seq} follows row {} directly",
                first - 1
            ),
            AuditProblem::NotLinked { previous: Some(p) } => write!(
                f,
                "row {seq} does not follow row {p}: a row was inserted, or row {p} was replaced"
            ),
            AuditProblem::NotLinked { previous: None } => write!(
                f,
                "row {seq} is the first row but does not start the chain: rows before it were removed or it was inserted"
            ),
            AuditProblem::BeforeStart => write!(
                f,
                "row {seq} is numbered before the first row linegate writes (1): it was inserted"
            ),
        }
    }
}

/// The outcome of checking a whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Rows checked (up to and including the broken one).
    pub rows: u64,
    /// The last row that checked out.
    pub head: Option<AuditHead>,
    /// The first row that did not, if any.
    pub broken: Option<AuditBreak>,
    /// Whether the triggers that refuse UPDATE and DELETE are still there.
    pub guarded: bool,
}

/// One stored row as read for checking (borrowed from the database cursor).
pub(super) struct StoredRow<'a> {
    pub seq: i64,
    pub at: &'a str,
    pub record: Record<'a>,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

/// Walks a chain in seq order; stops being useful after the first break.
pub(super) struct Verifier {
    expected_prev: String,
    last: Option<i64>,
    pub rows: u64,
}

impl Verifier {
    pub(super) fn new() -> Verifier {
        Verifier {
            expected_prev: GENESIS.to_string(),
            last: None,
            rows: 0,
        }
    }

    /// Checks the next row; the first problem found is the answer.
    pub(super) fn check(&mut self, row: &StoredRow<'_>) -> Result<(), AuditBreak> {
        self.rows += 1;
        let broken = |problem| AuditBreak {
            seq: row.seq,
            problem,
        };
        if row_hash(row.seq, row.at, row.prev_hash, &row.record) != row.hash {
            return Err(broken(AuditProblem::Changed));
        }
        let expected_seq = self.last.map_or(1, |l| l + 1);
        if row.seq < expected_seq && self.last.is_none() {
            return Err(broken(AuditProblem::BeforeStart));
        }
        if row.seq > expected_seq {
            return Err(broken(AuditProblem::Missing {
                first: expected_seq,
                last: row.seq - 1,
            }));
        }
        if row.prev_hash != self.expected_prev {
            return Err(broken(AuditProblem::NotLinked {
                previous: self.last,
            }));
        }
        self.expected_prev.clear();
        self.expected_prev.push_str(row.hash);
        self.last = Some(row.seq);
        Ok(())
    }
}
