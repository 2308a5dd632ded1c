//! Per-event reporting on the store's side: which applied line message a partner hears of next,
//! that message's rows for the pure builder (`assemble::single::EventRows`), and the recording
//! of its documents together with the partners' cursors.
//!
//! Each line message that changed identifiers has a `serial_events` row (`seq` grows in commit
//! order; rows are never deleted); each partner a cursor (`message_cursor`), the last `seq` it
//! was reported. A step reads (read-only snapshot, blocking thread) the lowest `seq` past any
//! partner's cursor of a kind that partner takes and builds its documents into outbox files;
//! the writer then records them with their deliveries and moves the cursors in one transaction
//! (`event_record`), if the cursors still stand where they were read: no message twice nor
//! skipped, even across `kill -9` (the file of a step that did not commit is an orphan, never
//! sent). A partner seen for the first time starts at the end of the log (`start_cursors`): it
//! hears of what happens from then on, not of the site's history. A kind it takes later starts
//! at its cursor.

use std::path::Path;

use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, params};

use super::event_record::{Built, Write};
use super::outbox::{OutboxFiles, parse_ts, remove_files};
use super::{ReadOnlyStore, Store, StoreError};
use crate::assemble::partner::MessageKind;
use crate::assemble::rows::{AssembleError, Visit};
use crate::assemble::single::{EventInfo, EventRows, TouchedRow, line_kind, message_kind};
use crate::epcis::{Ilmd, PackagingLevel};
use crate::gs1::EpcUri;
use crate::model::NewDocument;

/// A partner and the per-event kinds it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Interest {
    pub upstream: String,
    pub kinds: Vec<MessageKind>,
}

/// Builds the documents of one message for the named partners into outbox files, in sending
/// order; runs on a blocking thread. Any error leaves the message unreported (retried).
pub type EventBuildFn = Box<
    dyn FnOnce(
            &mut dyn EventRows,
            &[String],
            &mut OutboxFiles,
        ) -> Result<Vec<NewDocument>, AssembleError>
        + Send,
>;

/// What one step came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Reported {
    /// Recorded (no ids when the message changed nothing a partner hears of).
    Documents {
        seq: i64,
        kind: MessageKind,
        document_ids: Vec<String>,
    },
    /// The build failed; nothing was recorded and the cursors stand (the step is retried).
    Failed { seq: i64, reason: String },
}

impl Store {
    /// Starts the cursor of each partner that has none at the current end of the log.
    pub async fn start_cursors(&self, upstreams: Vec<String>) -> Result<(), StoreError> {
        self.call(|tx| super::Command::Events(Write::Start(upstreams), tx))
            .await
            .map(|_| ())
    }

    /// Reports the next applied line message some partner of `interest` takes, if any: read
    /// and built outside the writer, recorded by it. `None` when every cursor is at the end.
    pub async fn report_next_event(
        &self,
        interest: Vec<Interest>,
        build: EventBuildFn,
    ) -> Result<Option<Reported>, StoreError> {
        let dir = self.data_dir.clone();
        let built = tokio::task::spawn_blocking(move || build_next(&dir, &interest, build))
            .await
            .map_err(|e| StoreError::NotCommitted(format!("the event build stopped: {e}")))??;
        match built {
            None => Ok(None),
            Some(Err(failed)) => Ok(Some(failed)),
            Some(Ok(b)) => {
                let files = b.files.clone();
                let write = Write::Record(Box::new(b));
                let recorded = self.call(|tx| super::Command::Events(write, tx)).await;
                // Not committed: the files go (unknown when the writer stopped: they stay).
                if matches!(&recorded, Err(e) if !matches!(e, StoreError::Closed)) {
                    remove_files(&files);
                }
                recorded
            }
        }
    }
}

/// The next message and its build, from one read snapshot.
pub(super) fn build_next(
    data_dir: &Path,
    interest: &[Interest],
    build: EventBuildFn,
) -> Result<Option<Result<Built, Reported>>, StoreError> {
    let mut store = ReadOnlyStore::open(data_dir)?;
    let tx = store.conn.transaction()?;
    let mut cursors = Vec::new();
    let mut next: Option<i64> = None;
    for i in interest {
        let at: Option<i64> = tx
            .prepare_cached("SELECT last_event FROM message_cursor WHERE upstream = ?1")?
            .query_row([&i.upstream], |r| r.get(0))
            .optional()?;
        let Some(at) = at else {
            continue; // not started (`start_cursors`)
        };
        cursors.push((i, at));
        for kind in i.kinds.iter().filter_map(|k| line_kind(*k)) {
            let seq: Option<i64> = tx
                .prepare_cached("SELECT min(seq) FROM serial_events WHERE kind = ?1 AND seq > ?2")?
                .query_row(params![kind, at], |r| r.get(0))?;
            next = next.into_iter().chain(seq).min();
        }
    }
    let Some(seq) = next else {
        return Ok(None);
    };
    let info = event_info(&tx, seq)?;
    // No partner takes anything between its cursor and `seq` (the lowest): every cursor behind
    // moves; the partners that take its kind get documents.
    cursors.retain(|(_, at)| *at < seq);
    let takers: Vec<String> = (cursors.iter())
        .filter(|(i, _)| i.kinds.contains(&info.kind))
        .map(|(i, _)| i.upstream.clone())
        .collect();
    let moved = (cursors.iter())
        .map(|(i, at)| (i.upstream.clone(), *at))
        .collect();
    let kind = info.kind;
    let mut files = OutboxFiles::open(data_dir).map_err(|source| StoreError::File {
        path: data_dir.join(super::OUTBOX_DIR),
        source,
    })?;
    let mut rows = TxEvent { conn: &tx, info };
    let result = build(&mut rows, &takers, &mut files);
    let written = files.written().to_vec();
    Ok(Some(match result {
        Ok(docs) => Ok(Built {
            seq,
            kind,
            cursors: moved,
            docs,
            files: written,
        }),
        Err(e) => {
            remove_files(&written);
            Err(Reported::Failed {
                seq,
                reason: e.to_string(),
            })
        }
    }))
}

fn event_info(conn: &Connection, seq: i64) -> Result<EventInfo, StoreError> {
    let (line, message_id, kind, time, reason): (String, String, String, String, Option<String>) =
        conn.query_row(
            "SELECT line, message_id, kind, event_time, reason FROM serial_events WHERE seq = ?1",
            [seq],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("serial event {seq}: {what}"));
    Ok(EventInfo {
        seq,
        kind: message_kind(&kind).ok_or_else(|| corrupt(&format!("kind {kind}")))?,
        time: parse_ts(&time).ok_or_else(|| corrupt("event_time"))?,
        line,
        message_id,
        reason,
    })
}

/// The packaging level as the End of Batch has it (`batch_rows`): 0 an SGTIN of the batch's
/// GTIN, 1 another SGTIN or an SSCC, 2 an SSCC that holds (now) a container — an identifier
/// that itself holds something. `s` is the serial, `b` its batch.
const LEVEL: &str = "CASE
    WHEN s.key LIKE '(00)%' THEN CASE WHEN EXISTS (SELECT 1 FROM serials c WHERE c.parent = s.id
        AND EXISTS (SELECT 1 FROM serials g WHERE g.parent = c.id)) THEN 2 ELSE 1 END
    WHEN substr(s.key, 5, 14) = b.gtin THEN 0 ELSE 1 END";

fn read(e: rusqlite::Error) -> AssembleError {
    AssembleError::Read(e.to_string())
}

/// `EventRows` over the read transaction.
struct TxEvent<'a> {
    conn: &'a Connection,
    info: EventInfo,
}

impl TxEvent<'_> {
    fn rows(
        &self,
        filter: &str,
        arg: i64,
        visit: Visit<'_, TouchedRow>,
    ) -> Result<(), AssembleError> {
        let sql = format!(
            "SELECT s.id, s.epc, {LEVEL} AS level, s.key LIKE '(00)%' AS sscc, b.lot, b.expiry
             FROM serial_history h JOIN serials s ON s.id = h.serial
             JOIN batches b ON b.batch = s.batch
             WHERE h.event = ?1 AND {filter} ORDER BY level, sscc, s.batch, s.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(read)?;
        let mut q = stmt.query(params![self.info.seq, arg]).map_err(read)?;
        while let Some(r) = q.next().map_err(read)? {
            let id: i64 = r.get(0).map_err(read)?;
            let bad = |what: &str| AssembleError::Read(format!("serial {id}: unreadable {what}"));
            let expiry: String = r.get(5).map_err(read)?;
            visit(TouchedRow {
                id,
                epc: EpcUri::parse(&r.get::<_, String>(1).map_err(read)?)
                    .map_err(|_| bad("epc"))?,
                level: match r.get::<_, i64>(2).map_err(read)? {
                    0 => PackagingLevel::Each,
                    1 => PackagingLevel::Case,
                    _ => PackagingLevel::Pallet,
                },
                ilmd: Ilmd {
                    lot: r.get(4).map_err(read)?,
                    expiry: NaiveDate::parse_from_str(&expiry, "%Y-%m-%d")
                        .map_err(|_| bad("expiry"))?,
                },
            })?;
        }
        Ok(())
    }

    /// The container's row id: what the children of an aggregate point at now, or (unpack)
    /// what they pointed at before; a message that touched one identifier only, that one.
    fn container_id(&self) -> Result<Option<i64>, AssembleError> {
        let children = match self.info.kind {
            MessageKind::Aggregation => {
                "SELECT c.parent AS was FROM serial_history c WHERE c.event = ?1"
            }
            MessageKind::Disaggregation => {
                "SELECT (SELECT p.parent FROM serial_history p WHERE p.serial = c.serial
                         AND p.event < ?1 ORDER BY p.event DESC LIMIT 1) AS was
                 FROM serial_history c WHERE c.event = ?1"
            }
            _ => return Ok(None),
        };
        let sql = format!(
            "SELECT was FROM ({children}) WHERE was IN (SELECT serial FROM serial_history WHERE event = ?1)
             UNION ALL SELECT max(serial) FROM serial_history WHERE event = ?1 HAVING count(*) = 1
             LIMIT 1"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(read)?;
        stmt.query_row([self.info.seq], |r| r.get(0))
            .optional()
            .map_err(read)
    }
}

impl EventRows for TxEvent<'_> {
    fn info(&self) -> &EventInfo {
        &self.info
    }

    fn container(&mut self) -> Result<Option<TouchedRow>, AssembleError> {
        let Some(id) = self.container_id()? else {
            return Ok(None);
        };
        let mut found = None;
        self.rows("s.id = ?2", id, &mut |r| {
            found = Some(r);
            Ok(())
        })?;
        Ok(found)
    }

    fn touched(&mut self, visit: Visit<'_, TouchedRow>) -> Result<(), AssembleError> {
        let container = self.container_id()?.unwrap_or(-1);
        self.rows("s.id IS NOT ?2", container, visit)
    }
}

#[cfg(test)]
#[path = "event_rows_tests.rs"]
mod tests;
