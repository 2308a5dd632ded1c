//! The store's schema and its migrations, versioned by SQLite's `user_version`.
//!
//! Each migration is a block of SQL applied in its own transaction together with the bump of
//! `user_version`, so a crash during an upgrade leaves the file at the old or the new version,
//! never in between. Migrations are only ever appended; an existing one is never edited.

use rusqlite::Connection;

use super::StoreError;

/// Migration `i` moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[r#"
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
"#];

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
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
