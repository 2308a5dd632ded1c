//! The audit trail: who changed what, when, from which value to which, and why — written in
//! the very transaction that makes the change, so a change and its audit row commit together
//! or not at all.
//!
//! The `audit` table is append-only (triggers refuse UPDATE and DELETE) and hash-chained: each
//! row stores the hash of the row before it (`prev_hash`) and its own `hash`, a SHA-256 over its
//! number, `prev_hash` and every field, each length-prefixed so no two different rows can
//! hash alike by moving bytes between fields, and NULL is told apart from "". The first row's
//! `prev_hash` is 64 zeros. Triggers can be dropped by whoever holds the file; the chain is what
//! makes such an edit visible (`audit_verify`). Both the daemon's writer and a command line's
//! own store append, so the chain head is read inside each IMMEDIATE transaction (which holds
//! the write lock) and carried in an `AuditChain` only until that transaction ends.

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::StoreError;
use super::ledger::ts;

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Marks what the hash covers, so a future layout can never be mistaken for this one.
const DOMAIN: &[u8] = b"linegate-audit-v1";

/// One audit row to append (`Store::audit`, and the rows the store writes itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Who: `cli-<os user>`, `api:<token name>`, `mqtt:<topic>`, `scanner:<station>`, `linegate`.
    pub actor: String,
    /// What: `serial_state`, `batch_close`, `ship`, `outbox_retry`, `config_load`, …
    pub action: String,
    /// What it was done to: an identifier's key, `batch:<id>`, `shipment:<id>`, a file …
    pub subject: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// The operator's reason (required of every operator action).
    pub reason: Option<String>,
    /// Anything else worth keeping (line, message id, outcome).
    pub detail: Option<String>,
}

impl AuditEntry {
    pub(super) fn record(&self) -> Record<'_> {
        Record {
            actor: &self.actor,
            action: &self.action,
            subject: &self.subject,
            old_value: self.old_value.as_deref(),
            new_value: self.new_value.as_deref(),
            reason: self.reason.as_deref(),
            detail: self.detail.as_deref(),
        }
    }
}

/// Who takes an operator action and why (`Store::ingest_by`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// `cli-<os user>` or `api:<token name>`.
    pub actor: String,
    pub reason: String,
}

/// An audit row's fields, borrowed (appending one allocates nothing but the hash).
#[derive(Debug, Clone, Copy)]
pub(super) struct Record<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub old_value: Option<&'a str>,
    pub new_value: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// The chain head as one transaction sees it. Create one per transaction, after it began (the
/// head is read at the first append, under the transaction's write lock), and drop it with
/// the transaction: a rolled-back transaction's head is not the file's.
pub(super) struct AuditChain {
    /// The time every row of this transaction is stamped with.
    at: String,
    /// The last row's seq and hash, once read.
    head: Option<(i64, String)>,
}

impl AuditChain {
    pub(super) fn new() -> AuditChain {
        AuditChain {
            at: ts(Utc::now()),
            head: None,
        }
    }

    /// Appends one row after the current head; returns its seq.
    pub(super) fn append(&mut self, conn: &Connection, r: &Record<'_>) -> Result<i64, StoreError> {
        let (last, prev) = match self.head.take() {
            Some(h) => h,
            None => conn
                .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
                .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?
                .unwrap_or_else(|| (0, GENESIS.to_string())),
        };
        let seq = last + 1;
        let hash = row_hash(seq, &self.at, &prev, r);
        conn.prepare_cached(
            "INSERT INTO audit (seq, at, actor, action, subject, old_value, new_value, reason,
                                detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            seq,
            self.at,
            r.actor,
            r.action,
            r.subject,
            r.old_value,
            r.new_value,
            r.reason,
            r.detail,
            prev,
            hash
        ])?;
        self.head = Some((seq, hash));
        Ok(seq)
    }
}

/// Appends `entries` in a transaction of their own (`Store::audit`, `Store::audit_all`).
pub(super) fn append_all(conn: &mut Connection, entries: &[AuditEntry]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut chain = AuditChain::new();
    for entry in entries {
        chain.append(&tx, &entry.record())?;
    }
    tx.commit()?;
    Ok(())
}

/// The hash of a row, as 64 lowercase hex digits.
pub(super) fn row_hash(seq: i64, at: &str, prev_hash: &str, r: &Record<'_>) -> String {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(seq.to_be_bytes());
    for field in [
        Some(prev_hash),
        Some(at),
        Some(r.actor),
        Some(r.action),
        Some(r.subject),
        r.old_value,
        r.new_value,
        r.reason,
        r.detail,
    ] {
        match field {
            None => h.update([0u8]),
            Some(s) => {
                h.update([1u8]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
        }
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}
