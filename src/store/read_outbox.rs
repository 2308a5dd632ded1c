//! The outbox as an operator sees it: a page of deliveries and one document with all of its
//! deliveries — for `linegate outbox list|show` and the local API (each upstream's backlog is
//! `outbox_backlog`'s).
//!
//! An outbox may hold millions of rows, most of them delivered long ago, so nothing here reads
//! them all unless asked to. A page is read state by state through the index
//! `deliveries_by_state(upstream, state, seq)` (the undelivered first — dead letters, then what
//! is being sent, then what waits, in sending order — then the newest delivered), each state
//! stopping at the page's limit. The batch filter uses the documents' ordering group
//! (`batch:<batch>`, the only group with a batch): undelivered rows through the partial index
//! `deliveries_queue`; delivered ones have no index on it, so a batch filter over delivered rows
//! walks that upstream's delivered rows, newest first, until the page is full (about a quarter
//! of a second per 500,000).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde::Serialize;

use super::ledger::ts;
use super::outbox::document_path;
use super::{ReadOnlyStore, StoreError};

/// The delivery states, in the order a page lists them.
pub const DELIVERY_STATES: [&str; 4] = ["rejected", "in_flight", "pending", "delivered"];

/// The longest upstream answer a page shows (`show` gives all that was kept).
const RESPONSE_EXCERPT: usize = 200;

/// One (document, upstream) delivery as an operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub document_id: String,
    pub kind: String,
    /// The batch of an End of Batch document; none for shipments and per-event messages.
    pub batch: Option<String>,
    /// The ordering group (`batch:<batch>`, `shipment:<id>`, `events`, …): documents of one
    /// group leave in order, a dead letter holds back its own group only.
    pub group: String,
    /// The sending order within the group.
    pub seq: i64,
    pub upstream: String,
    /// `pending`, `in_flight`, `delivered` or `rejected` (a dead letter).
    pub state: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// The start of the upstream's last answer.
    pub response: Option<String>,
    pub created_at: String,
    pub first_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    /// When a pending document is tried next (RFC 3339); none in other states.
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub rejected_at: Option<String>,
    /// How often an operator replayed it.
    pub replays: u32,
    /// The last operator action: what, by whom, when and why.
    pub operator_note: Option<String>,
    /// The document's size as recorded.
    pub bytes: u64,
    /// When retention removed the document's file (its record stays).
    pub pruned_at: Option<String>,
}

/// Which deliveries a page holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxQuery {
    /// One of `DELIVERY_STATES`, or all.
    pub state: Option<String>,
    pub upstream: Option<String>,
    pub batch: Option<String>,
    /// At most this many rows; `None` reads them all.
    pub limit: Option<usize>,
}

/// A page of deliveries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxPage {
    pub rows: Vec<OutboxRow>,
    /// More deliveries match than the limit let through.
    pub more: bool,
}

/// One document and each of its deliveries (`linegate outbox show`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxDocument {
    pub document_id: String,
    pub kind: String,
    pub batch: Option<String>,
    pub content_type: String,
    pub format: Option<String>,
    pub part: u32,
    pub parts: u32,
    pub created_at: String,
    /// The file under `<data_dir>/outbox/` (none for a document stored in the database).
    pub path: Option<String>,
    /// The size as recorded.
    pub bytes: u64,
    /// The file's size on disk now; none when the file is gone (pruned, or lost).
    pub file_bytes: Option<u64>,
    pub pruned_at: Option<String>,
    pub deliveries: Vec<OutboxRow>,
}

const ROW_COLUMNS: &str = "d.document_id, doc.kind, doc.batch, d.order_key, d.seq, d.upstream,
    d.state, d.attempts, d.last_status, d.last_error, d.response, doc.created_at,
    d.first_attempt_at, d.last_attempt_at, d.next_attempt_ms, d.delivered_at, d.rejected_at,
    d.replays, d.operator_note, doc.bytes, doc.file, doc.pruned_at";

impl ReadOnlyStore {
    /// Every delivery, in sending order (`seq`, then upstream). For tests, the demo and small
    /// stores; the command line and the API read pages (`outbox_page`).
    pub fn outbox(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ROW_COLUMNS} FROM deliveries d
             JOIN documents doc ON doc.document_id = d.document_id
             ORDER BY d.seq, d.upstream"
        ))?;
        let rows = stmt.query_map([], |r| row_of(r, self))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The deliveries `q` asks for: the undelivered first (dead letters, in flight, pending,
    /// each in sending order), then the delivered, newest first; at most `q.limit`.
    pub fn outbox_page(&self, q: &OutboxQuery) -> Result<OutboxPage, StoreError> {
        let states: Vec<&str> = match &q.state {
            Some(s) => match DELIVERY_STATES.iter().find(|k| **k == s.as_str()) {
                Some(k) => vec![*k],
                None => {
                    return Err(StoreError::Refused(format!(
                        "no delivery state '{s}'; the states are {}",
                        DELIVERY_STATES.join(", ")
                    )));
                }
            },
            None => DELIVERY_STATES.to_vec(),
        };
        let upstreams = match &q.upstream {
            Some(u) => vec![u.clone()],
            None => upstreams(&self.conn)?,
        };
        let group = q.batch.as_ref().map(|b| format!("batch:{b}"));
        let mut page = OutboxPage {
            rows: Vec::new(),
            more: false,
        };
        for state in states {
            let room = q.limit.map_or(usize::MAX, |l| l - page.rows.len());
            if room == 0 {
                // Whether anything else matches decides `more`.
                page.more |= self.any_of(&upstreams, state, group.as_deref())?;
                if page.more {
                    break;
                }
                continue;
            }
            let delivered = state == "delivered";
            let sql = state_query(ROW_COLUMNS, delivered, group.is_some());
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut found = Vec::new();
            let fetch = i64::try_from(room.saturating_add(1)).unwrap_or(i64::MAX);
            for up in &upstreams {
                let args = state_args(up, state, group.as_deref(), fetch);
                let rows = stmt.query_map(params_from_iter(args), |r| row_of(r, self))?;
                for row in rows {
                    found.push(row?);
                }
            }
            found.sort_by(|a, b| {
                let order = a.seq.cmp(&b.seq).then_with(|| a.upstream.cmp(&b.upstream));
                if delivered { order.reverse() } else { order }
            });
            if found.len() > room {
                found.truncate(room);
                page.more = true;
            }
            page.rows.extend(found);
            if page.more {
                break;
            }
        }
        Ok(page)
    }

    /// Whether any of `upstreams` has a delivery in `state` (of `group`).
    fn any_of(
        &self,
        upstreams: &[String],
        state: &str,
        group: Option<&str>,
    ) -> Result<bool, StoreError> {
        let sql = state_query("1", state == "delivered", group.is_some());
        let mut stmt = self.conn.prepare_cached(&sql)?;
        for up in upstreams {
            if stmt.exists(params_from_iter(state_args(up, state, group, 1)))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Document `document_id` with all its deliveries, or None when there is no such document.
    pub fn outbox_document(&self, document_id: &str) -> Result<Option<OutboxDocument>, StoreError> {
        let head = self
            .conn
            .query_row(
                "SELECT document_id, kind, batch, content_type, format, part, parts, created_at,
                        file, coalesce(bytes, CASE WHEN file IS NULL THEN length(body) END),
                        pruned_at
                 FROM documents WHERE document_id = ?1",
                [document_id],
                |r| {
                    let doc = OutboxDocument {
                        document_id: r.get(0)?,
                        kind: r.get(1)?,
                        batch: r.get(2)?,
                        content_type: r.get(3)?,
                        format: r.get(4)?,
                        part: r.get::<_, i64>(5)? as u32,
                        parts: r.get::<_, i64>(6)? as u32,
                        created_at: r.get(7)?,
                        path: None,
                        bytes: 0,
                        file_bytes: None,
                        pruned_at: r.get(10)?,
                        deliveries: Vec::new(),
                    };
                    Ok((
                        doc,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, Option<i64>>(9)?,
                    ))
                },
            )
            .optional()?;
        let Some((mut doc, file, bytes)) = head else {
            return Ok(None);
        };
        let path = file.as_ref().map(|f| document_path(&self.dir, f));
        let file_bytes = path
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len());
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ROW_COLUMNS} FROM deliveries d
             JOIN documents doc ON doc.document_id = d.document_id
             WHERE d.document_id = ?1 ORDER BY d.upstream"
        ))?;
        doc.deliveries = stmt
            .query_map([document_id], |r| {
                let mut row = row_of(r, self)?;
                // `show` gives the whole answer that was kept.
                row.response = r.get(10)?;
                Ok(row)
            })?
            .collect::<Result<_, _>>()?;
        doc.bytes = bytes.map_or(file_bytes.unwrap_or(0), |b| b.max(0) as u64);
        doc.file_bytes = file_bytes;
        doc.path = path.map(|p| p.display().to_string());
        Ok(Some(doc))
    }
}

/// The deliveries of one upstream (`?1`) in one state (`?2`), of one group (`?3`) when
/// `grouped`, in page order, at most `?3` (`?4` when grouped).
fn state_query(columns: &str, delivered: bool, grouped: bool) -> String {
    let (from, filter) = match (delivered, grouped) {
        // The partial index holds the undelivered rows only: the group's, in sending order.
        (false, true) => (
            "deliveries d INDEXED BY deliveries_queue",
            " AND d.order_key = ?3 AND d.state <> 'delivered'",
        ),
        // No index on a delivered row's group: the upstream's delivered rows, newest first.
        (true, true) => ("deliveries d", " AND d.order_key = ?3"),
        (_, false) => ("deliveries d", ""),
    };
    format!(
        "SELECT {columns} FROM {from} JOIN documents doc ON doc.document_id = d.document_id
         WHERE d.upstream = ?1 AND d.state = ?2{filter} ORDER BY d.seq {} LIMIT ?{}",
        if delivered { "DESC" } else { "ASC" },
        if grouped { 4 } else { 3 }
    )
}

/// The parameters of `state_query`.
fn state_args(
    upstream: &str,
    state: &str,
    group: Option<&str>,
    limit: i64,
) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value;
    let mut args = vec![Value::Text(upstream.into()), Value::Text(state.into())];
    if let Some(g) = group {
        args.push(Value::Text(g.into()));
    }
    args.push(Value::Integer(limit));
    args
}

/// Every upstream with a delivery, by name: one index seek each, however many rows.
pub(super) fn upstreams(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut next = conn.prepare_cached(
        "SELECT upstream FROM deliveries WHERE upstream > ?1 ORDER BY upstream LIMIT 1",
    )?;
    let mut names = Vec::new();
    let mut after = String::new();
    while let Some(name) = next
        .query_row([&after], |r| r.get::<_, String>(0))
        .optional()?
    {
        after.clone_from(&name);
        names.push(name);
    }
    Ok(names)
}

/// A row of `ROW_COLUMNS`.
fn row_of(r: &rusqlite::Row<'_>, store: &ReadOnlyStore) -> rusqlite::Result<OutboxRow> {
    let state: String = r.get(6)?;
    let next_ms: i64 = r.get(14)?;
    let file: Option<String> = r.get(20)?;
    let bytes: Option<i64> = r.get(19)?;
    let response: Option<String> = r.get(10)?;
    Ok(OutboxRow {
        document_id: r.get(0)?,
        kind: r.get(1)?,
        batch: r.get(2)?,
        group: r.get(3)?,
        seq: r.get(4)?,
        upstream: r.get(5)?,
        attempts: r.get::<_, i64>(7)? as u32,
        last_status: r.get::<_, Option<i64>>(8)?.map(|s| s as u16),
        last_error: r.get(9)?,
        response: response.map(|t| excerpt(&t)),
        created_at: r.get(11)?,
        first_attempt_at: r.get(12)?,
        last_attempt_at: r.get(13)?,
        next_attempt_at: (state == "pending")
            .then(|| DateTime::<Utc>::from_timestamp_millis(next_ms).map(ts))
            .flatten(),
        delivered_at: r.get(15)?,
        rejected_at: r.get(16)?,
        replays: r.get::<_, i64>(17)? as u32,
        operator_note: r.get(18)?,
        // Rows from before sizes were recorded: the file's size (0 when it is gone).
        bytes: bytes.map_or_else(
            || {
                file.as_ref().map_or(0, |f| {
                    std::fs::metadata(document_path(&store.dir, f)).map_or(0, |m| m.len())
                })
            },
            |b| b.max(0) as u64,
        ),
        pruned_at: r.get(21)?,
        state,
    })
}

/// The first `RESPONSE_EXCERPT` characters of an answer.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(RESPONSE_EXCERPT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
