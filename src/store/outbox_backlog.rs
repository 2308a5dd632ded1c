//! Each upstream's backlog: what it still owes, for the daemon's outbox alarms
//! (`forward::monitor`) and `/metrics`.
//!
//! It runs every few seconds, on a backlog that may hold 500,000 documents after a long outage
//! and millions of delivered ones, so it reads only the index ranges of the undelivered states
//! (`deliveries_by_state(upstream, state, seq)`) and each document by its rowid — never a
//! delivered row (a test checks the plan). Counting 500,000 waiting documents takes about a
//! quarter of a second; the monitor paces itself by it.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::read_outbox::upstreams;
use super::{ReadOnlyStore, StoreError};

/// One upstream's undelivered documents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpstreamBacklog {
    pub upstream: String,
    pub pending: u64,
    pub in_flight: u64,
    /// Dead letters waiting for an operator: refused by the upstream, not yet retried nor
    /// rejected for good (`linegate outbox reject`).
    pub rejected: u64,
    /// Bytes of the pending and in-flight documents.
    pub pending_bytes: u64,
    pub rejected_bytes: u64,
    /// When the oldest pending or in-flight document was recorded, and its age.
    pub oldest_pending_created_at: Option<String>,
    pub oldest_pending_age_secs: Option<u64>,
    /// The most attempts any pending or in-flight document has had.
    pub max_attempts: u32,
}

impl UpstreamBacklog {
    /// Every byte not delivered yet (dead letters included: they stay in the outbox).
    pub fn undelivered_bytes(&self) -> u64 {
        self.pending_bytes + self.rejected_bytes
    }
}

/// The backlog of one (upstream, state): count, bytes, most attempts, lowest seq. Reads the
/// index range of that state only, and each document by its rowid.
pub(super) const STATE_TOTALS: &str = "SELECT count(*), coalesce(sum(doc.bytes), 0),
    coalesce(max(d.attempts), 0), min(d.seq)
    FROM deliveries d JOIN documents doc ON doc.seq = d.seq
    WHERE d.upstream = ?1 AND d.state = ?2
      AND NOT (d.state = 'rejected' AND d.acknowledged_at IS NOT NULL)";

impl ReadOnlyStore {
    /// Each upstream's undelivered documents (every upstream with a delivery, by name). Reads
    /// the pending, in-flight and rejected index ranges only.
    pub fn outbox_backlog(&self) -> Result<Vec<UpstreamBacklog>, StoreError> {
        let now = Utc::now();
        let mut totals = self.conn.prepare_cached(STATE_TOTALS)?;
        let mut created = self
            .conn
            .prepare_cached("SELECT created_at FROM documents WHERE seq = ?1")?;
        let mut out = Vec::new();
        for upstream in upstreams(&self.conn)? {
            let mut b = UpstreamBacklog {
                upstream: upstream.clone(),
                ..UpstreamBacklog::default()
            };
            let mut oldest: Option<i64> = None;
            for state in ["pending", "in_flight", "rejected"] {
                let (count, bytes, attempts, first): (i64, i64, i64, Option<i64>) = totals
                    .query_row(params![upstream, state], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?;
                let (count, bytes) = (count.max(0) as u64, bytes.max(0) as u64);
                match state {
                    "rejected" => (b.rejected, b.rejected_bytes) = (count, bytes),
                    _ => {
                        if state == "pending" {
                            b.pending = count;
                        } else {
                            b.in_flight = count;
                        }
                        b.pending_bytes += bytes;
                        b.max_attempts = b.max_attempts.max(attempts.max(0) as u32);
                        oldest = match (oldest, first) {
                            (Some(a), Some(f)) => Some(a.min(f)),
                            (a, f) => a.or(f),
                        };
                    }
                }
            }
            if let Some(seq) = oldest {
                let at: Option<String> = created.query_row([seq], |r| r.get(0)).optional()?;
                b.oldest_pending_age_secs = at
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| (now - t.with_timezone(&Utc)).num_seconds().max(0) as u64);
                b.oldest_pending_created_at = at;
            }
            out.push(b);
        }
        Ok(out)
    }
}
