//! The store's schema and its migrations, versioned by SQLite's `user_version`.
//!
//! Each migration is a block of SQL applied in its own transaction together with the bump of
//! `user_version`, so a crash during an upgrade leaves the file at the old or the new version,
//! never in between. Migrations are only ever appended; an existing one is never edited.

use rusqlite::Connection;

use super::StoreError;

/// Migration `i` moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE messages (
    line          TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    event_time    TEXT,
    status        TEXT NOT NULL CHECK (status IN ('applied', 'rejected')),
    reject_code   TEXT,
    reject_reason TEXT,
    PRIMARY KEY (line, message_id)
) WITHOUT ROWID;

CREATE TABLE batches (
    batch            TEXT PRIMARY KEY,
    line             TEXT NOT NULL,
    gtin             TEXT NOT NULL,
    lot              TEXT NOT NULL,
    expiry           TEXT NOT NULL,
    work_order       TEXT,
    planned_quantity INTEGER,
    state            TEXT NOT NULL CHECK (state IN ('open', 'closed', 'assembled', 'failed')),
    opened_at        TEXT NOT NULL,
    closed_at        TEXT,
    assembled_at     TEXT,
    failure          TEXT
);

CREATE TABLE serials (
    id              INTEGER PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    epc             TEXT NOT NULL,
    batch           TEXT NOT NULL REFERENCES batches(batch),
    state           TEXT NOT NULL,
    commissioned_at TEXT NOT NULL,
    line            TEXT NOT NULL,
    message_id      TEXT NOT NULL
);
CREATE INDEX serials_by_batch ON serials(batch, id);

CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    line        TEXT,
    topic       TEXT NOT NULL,
    message_id  TEXT,
    code        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    payload     BLOB NOT NULL,
    payload_len INTEGER NOT NULL
);

CREATE TABLE documents (
    seq          INTEGER PRIMARY KEY,
    document_id  TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    batch        TEXT,
    content_type TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE TABLE deliveries (
    document_id     TEXT NOT NULL REFERENCES documents(document_id),
    upstream        TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'rejected')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    last_attempt_at TEXT,
    delivered_at    TEXT,
    PRIMARY KEY (document_id, upstream)
);
CREATE INDEX deliveries_pending ON deliveries(upstream, state);
"#,
    // 2: the batch lifecycle (running, released, cancelled; the document's own state beside it),
    // case and bundle GTINs, the reconciliation report, and the serial registry's aggregation
    // (parent) and history.
    r#"
CREATE TABLE batches_v2 (
    batch            TEXT PRIMARY KEY,
    line             TEXT NOT NULL,
    gtin             TEXT NOT NULL,
    pack_gtins       TEXT NOT NULL DEFAULT '',
    lot              TEXT NOT NULL,
    expiry           TEXT NOT NULL,
    work_order       TEXT,
    planned_quantity INTEGER,
    state            TEXT NOT NULL
                     CHECK (state IN ('open', 'running', 'closed', 'released', 'cancelled')),
    document         TEXT CHECK (document IN ('pending', 'assembled', 'failed')),
    opened_at        TEXT NOT NULL,
    closed_at        TEXT,
    released_at      TEXT,
    cancelled_at     TEXT,
    assembled_at     TEXT,
    failure          TEXT,
    report           TEXT
);
INSERT INTO batches_v2 (batch, line, gtin, lot, expiry, work_order, planned_quantity, state,
                        document, opened_at, closed_at, assembled_at, failure)
SELECT batch, line, gtin, lot, expiry, work_order, planned_quantity,
       CASE WHEN state <> 'open' THEN 'closed'
            WHEN EXISTS (SELECT 1 FROM serials s WHERE s.batch = b.batch) THEN 'running'
            ELSE 'open' END,
       CASE state WHEN 'open' THEN NULL WHEN 'closed' THEN 'pending' ELSE state END,
       opened_at, closed_at, assembled_at, failure
FROM batches b;
DROP TABLE batches;
ALTER TABLE batches_v2 RENAME TO batches;
CREATE INDEX batches_active ON batches(line, gtin) WHERE state IN ('open', 'running');
CREATE INDEX batches_document ON batches(document) WHERE document = 'pending';

ALTER TABLE serials ADD COLUMN parent INTEGER REFERENCES serials(id);
CREATE INDEX serials_by_parent ON serials(parent) WHERE parent IS NOT NULL;

-- One row per applied message that changed identifiers; history rows point at it.
CREATE TABLE serial_events (
    seq        INTEGER PRIMARY KEY,
    line       TEXT NOT NULL,
    message_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    event_time TEXT NOT NULL,
    reason     TEXT
);
CREATE TABLE serial_history (
    serial INTEGER NOT NULL REFERENCES serials(id),
    event  INTEGER NOT NULL REFERENCES serial_events(seq),
    state  TEXT NOT NULL,
    parent INTEGER,
    PRIMARY KEY (serial, event)
) WITHOUT ROWID;
INSERT INTO serial_events (line, message_id, kind, event_time)
SELECT line, message_id, 'commission', MIN(commissioned_at) FROM serials GROUP BY line, message_id;
INSERT INTO serial_history (serial, event, state)
SELECT s.id, e.seq, s.state FROM serials s
JOIN serial_events e ON e.line = s.line AND e.message_id = s.message_id;
"#,
    // 3: every upstream message (issue 6). An End of Batch may wait for the QA release
    // (`release_document`); documents are streamed to files under `outbox/` (`file`, the body
    // column then stays empty), may be split into parts, and an End of Batch carries the
    // reconciliation report beside it (`sidecar`).
    r#"
ALTER TABLE batches ADD COLUMN release_document TEXT
    CHECK (release_document IN ('pending', 'assembled', 'failed'));
CREATE INDEX batches_release_document ON batches(release_document)
    WHERE release_document = 'pending';
ALTER TABLE documents ADD COLUMN file TEXT;
ALTER TABLE documents ADD COLUMN sidecar TEXT;
ALTER TABLE documents ADD COLUMN part INTEGER NOT NULL DEFAULT 1;
ALTER TABLE documents ADD COLUMN parts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE documents ADD COLUMN format TEXT;
"#,
    // 4: shipments (issue 6). One row per `ship`, at its `serial_events` row, with the despatch
    // advice's facts (a NULL ship-from is the site) and its document's state; what it took —
    // the top-level identifiers (parent NULL) and everything under them, with the parent each
    // left in — in `shipment_items`, so its documents and its void read exactly what left. The
    // void of a sale marks the row (its own event and document state). Receipts likewise, with
    // their top-level identifiers.
    r#"
CREATE TABLE shipments (
    id              INTEGER PRIMARY KEY,
    desadv          TEXT NOT NULL UNIQUE,
    line            TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    event           INTEGER NOT NULL UNIQUE REFERENCES serial_events(seq),
    kind            TEXT NOT NULL CHECK (kind IN ('sale', 'transfer')),
    po              TEXT,
    from_party      TEXT,
    from_party_sgln TEXT,
    from_location   TEXT,
    to_party        TEXT NOT NULL,
    to_party_sgln   TEXT NOT NULL,
    to_location     TEXT NOT NULL,
    shipped_at      TEXT NOT NULL,
    document        TEXT NOT NULL DEFAULT 'pending'
                    CHECK (document IN ('pending', 'assembled', 'failed')),
    assembled_at    TEXT,
    failure         TEXT,
    voided_at       TEXT,
    void_event      INTEGER UNIQUE REFERENCES serial_events(seq),
    void_reason     TEXT,
    void_document   TEXT CHECK (void_document IN ('pending', 'assembled', 'failed')),
    void_failure    TEXT
);
CREATE INDEX shipments_document ON shipments(document) WHERE document = 'pending';
CREATE INDEX shipments_void_document ON shipments(void_document)
    WHERE void_document = 'pending';
CREATE TABLE shipment_items (
    shipment INTEGER NOT NULL REFERENCES shipments(id),
    serial   INTEGER NOT NULL REFERENCES serials(id),
    parent   INTEGER REFERENCES serials(id),
    PRIMARY KEY (shipment, serial)
) WITHOUT ROWID;
CREATE INDEX shipment_items_by_parent ON shipment_items(shipment, parent);
CREATE INDEX shipment_items_by_serial ON shipment_items(serial);
CREATE TABLE receipts (
    event        INTEGER PRIMARY KEY REFERENCES serial_events(seq),
    line         TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    recadv       TEXT NOT NULL,
    shipment     INTEGER REFERENCES shipments(id),
    received_at  TEXT NOT NULL,
    document     TEXT NOT NULL DEFAULT 'pending'
                 CHECK (document IN ('pending', 'assembled', 'failed')),
    assembled_at TEXT,
    failure      TEXT
);
CREATE INDEX receipts_document ON receipts(document) WHERE document = 'pending';
CREATE TABLE receipt_items (
    receipt INTEGER NOT NULL REFERENCES receipts(event),
    serial  INTEGER NOT NULL REFERENCES serials(id),
    PRIMARY KEY (receipt, serial)
) WITHOUT ROWID;
"#,
    // Per-event reporting (issue 6): each partner's cursor in `serial_events` (the last message
    // it was reported), and the indexes that find a partner's next message by kind and read a
    // message's identifiers (both are appended to in order as messages commit).
    r#"
CREATE TABLE message_cursor (
    upstream   TEXT PRIMARY KEY,
    last_event INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX serial_events_by_kind ON serial_events(kind, seq);
CREATE INDEX serial_history_by_event ON serial_history(event, serial);
"#,
    // Upstream delivery (issue 7): a delivery can be `in_flight`; each row carries its document's
    // sending order (`seq`) and ordering group (`order_key`: a batch's documents, one shipment's,
    // the per-event stream), the upstream's answer, when it was refused, and what an operator
    // did to it; a dead letter an operator rejected for good is `acknowledged_at` (it no longer
    // holds back its group nor raises the alarm). `deliveries_queue` finds each group's head
    // without reading delivered rows.
    // Documents remember their size and when their bytes were pruned after delivery.
    r#"
CREATE TABLE deliveries_v6 (
    document_id      TEXT NOT NULL REFERENCES documents(document_id),
    upstream         TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    order_key        TEXT NOT NULL,
    state            TEXT NOT NULL
                     CHECK (state IN ('pending', 'in_flight', 'delivered', 'rejected')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    last_status      INTEGER,
    last_error       TEXT,
    response         TEXT,
    first_attempt_at TEXT,
    last_attempt_at  TEXT,
    delivered_at     TEXT,
    rejected_at      TEXT,
    replays          INTEGER NOT NULL DEFAULT 0,
    operator_note    TEXT,
    acknowledged_at  TEXT,
    PRIMARY KEY (document_id, upstream)
);
INSERT INTO deliveries_v6 (document_id, upstream, seq, order_key, state, attempts,
                           next_attempt_ms, last_status, last_error, last_attempt_at,
                           delivered_at, rejected_at)
SELECT d.document_id, d.upstream, doc.seq,
       CASE WHEN doc.batch IS NOT NULL THEN 'batch:' || doc.batch
            ELSE 'document:' || doc.document_id END,
       d.state, d.attempts, d.next_attempt_ms, d.last_status, d.last_error, d.last_attempt_at,
       d.delivered_at, CASE WHEN d.state = 'rejected' THEN d.last_attempt_at END
FROM deliveries d JOIN documents doc ON doc.document_id = d.document_id;
DROP TABLE deliveries;
ALTER TABLE deliveries_v6 RENAME TO deliveries;
CREATE INDEX deliveries_queue ON deliveries(upstream, order_key, seq) WHERE state <> 'delivered';
CREATE INDEX deliveries_by_state ON deliveries(upstream, state, seq);
ALTER TABLE documents ADD COLUMN bytes INTEGER;
ALTER TABLE documents ADD COLUMN pruned_at TEXT;
UPDATE documents SET bytes = length(body) WHERE file IS NULL;
"#,
    // 7: the audit trail (`audit`): append-only, each row chained to the one before by hash.
    // The triggers stop an accidental edit; `linegate audit verify` catches a deliberate one.
    r#"
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    reason    TEXT,
    detail    TEXT,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: rows cannot be changed');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: rows cannot be deleted');
END;
"#,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the file up to `CURRENT_VERSION`. Refuses a file written by a newer linegate.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > CURRENT_VERSION {
        return Err(StoreError::TooNew {
            found: version,
            supported: CURRENT_VERSION,
        });
    }
    // Rebuilding a table (migration 2) drops it while others reference it: SQLite's
    // procedure is to switch foreign keys off around the transaction and check them after.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let result = (|| {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            let broken: i64 =
                tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })?;
            if broken > 0 {
                return Err(StoreError::Corrupt(format!(
                    "migration to version {} left {broken} broken references",
                    i + 1
                )));
            }
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    })();
    conn.pragma_update(None, "foreign_keys", "ON")?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file written by the spine (version 1) keeps its batches and serials across migration 2:
    /// states map onto the lifecycle and the document column, and each serial gets its history.
    #[test]
    fn version_one_files_migrate_with_their_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = Connection::open(dir.path().join("v1.db")).expect("open");
        conn.execute_batch(MIGRATIONS[0]).expect("v1 schema");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO batches (batch, line, gtin, lot, expiry, state, opened_at) VALUES
               ('B-open', 'L1', '00361414567894', 'L', '2027-01-31', 'open', 't'),
               ('B-run', 'L1', '00361414567894', 'L', '2027-01-31', 'open', 't'),
               ('B-closed', 'L1', '00361414567894', 'L', '2027-01-31', 'closed', 't'),
               ('B-sent', 'L1', '00361414567894', 'L', '2027-01-31', 'assembled', 't');
             INSERT INTO serials (key, epc, batch, state, commissioned_at, line, message_id) VALUES
               ('(01)00361414567894(21)A', 'urn:a', 'B-run', 'commissioned', 't1', 'L1', 'm1'),
               ('(01)00361414567894(21)B', 'urn:b', 'B-run', 'commissioned', 't1', 'L1', 'm1'),
               ('(01)00361414567894(21)C', 'urn:c', 'B-sent', 'commissioned', 't2', 'L1', 'm2');",
        )
        .expect("v1 rows");
        migrate(&mut conn).expect("migrates");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, CURRENT_VERSION);
        let mut stmt = conn
            .prepare("SELECT batch, state, coalesce(document, '-') FROM batches ORDER BY batch")
            .expect("query");
        let rows: Vec<(String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        let expect = [
            ("B-closed", "closed", "pending"),
            ("B-open", "open", "-"),
            ("B-run", "running", "-"),
            ("B-sent", "closed", "assembled"),
        ];
        let got: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
            .collect();
        assert_eq!(got, expect);
        let history: i64 = conn
            .query_row(
                "SELECT count(*) FROM serial_history h JOIN serial_events e ON e.seq = h.event
                 WHERE e.kind = 'commission' AND h.state = 'commissioned'",
                [],
                |r| r.get(0),
            )
            .expect("history");
        assert_eq!(history, 3);
        let fk: bool = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .expect("pragma");
        assert!(fk, "foreign keys are back on after migrating");
    }
}
