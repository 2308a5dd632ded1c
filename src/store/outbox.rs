//! The outbox: documents waiting to leave the plant, one delivery row per (document, upstream).
//!
//! A document's bytes live in a file, `<data_dir>/outbox/<document id>.<extension>`; its row in
//! `documents` names the file (`file`; the `body` column stays empty) and carries its part
//! number, format and, for an End of Batch, the batch's reconciliation report (`sidecar`).
//!
//! Assembling happens in two steps. `build_next` (a blocking thread, its own read-only
//! connection, never the writer) finds the oldest batch waiting for its End of Batch — at its
//! close (`document = 'pending'`) or at its QA release (`release_document = 'pending'`) — and
//! lets the assembler's build function stream the documents from one read snapshot
//! (`SqliteBatchRows`) into files (`OutboxFiles`: temp file, fsync, rename, fsync of the
//! directory). Then `record_assembly` (the writer) checks in one transaction that the batch
//! still waits, inserts the documents and their deliveries and marks the batch assembled, so a
//! batch is never assembled twice nor lost between the two steps, and the lines' writes never
//! wait for a build. A file is complete and durable before its row can exist; a file without a
//! row (the process died in between, or the build was discarded and its files could not be
//! removed) is never read nor sent: ids are fresh UUIDs, so no later build reuses its name.
//!
//! What happens to a document after it was recorded — its deliveries' states, the order they
//! leave in — is `outbox_queue`'s; operator actions and retention are `outbox_admin`'s.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};

use super::batch_rows::SqliteBatchRows;
use super::ledger::ts;
use super::outbox_queue::now_ms;
use super::{Assembled, BuildFn, ReadOnlyStore, StoreError};
use crate::assemble::partner::{EobTrigger, Format};
use crate::assemble::rows::AssembleError;
use crate::assemble::split::DocumentSink;
use crate::model::NewDocument;

/// The directory of the document files, under the data directory.
pub const OUTBOX_DIR: &str = "outbox";

/// Write buffer of one document file.
const FILE_BUFFER: usize = 256 * 1024;

/// Where a build files its documents: `<data_dir>/outbox/<document id>.<extension>`. It
/// remembers every file it completed, so a build that is not recorded takes them back.
#[derive(Debug)]
pub struct OutboxFiles {
    dir: PathBuf,
    written: Vec<PathBuf>,
}

impl OutboxFiles {
    /// The outbox directory of `data_dir`, created (for the service user only) if needed.
    pub fn open(data_dir: &Path) -> io::Result<OutboxFiles> {
        let dir = data_dir.join(OUTBOX_DIR);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(OutboxFiles {
            dir,
            written: Vec::new(),
        })
    }

    /// The file name of document `document_id` in `format`.
    pub fn file_name(document_id: &str, format: Format) -> String {
        format!("{document_id}.{}", format.extension())
    }

    /// A sink writing each part as a file in `format`.
    pub fn sink(&mut self, format: Format) -> OutboxSink<'_> {
        OutboxSink {
            files: self,
            format,
        }
    }

    /// The files completed so far.
    pub fn written(&self) -> &[PathBuf] {
        &self.written
    }

    /// Removes every file this build completed (it will not be recorded).
    fn remove_all(self) {
        remove_files(&self.written);
    }
}

pub(super) fn remove_files(files: &[PathBuf]) {
    for f in files {
        if let Err(e) = std::fs::remove_file(f)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(file = %f.display(), error = %e, "cannot remove the file of a discarded document; it is never sent");
        }
    }
}

/// The `DocumentSink` of the outbox: one file per part, complete and durable at `close`.
pub struct OutboxSink<'a> {
    files: &'a mut OutboxFiles,
    format: Format,
}

/// A part being written: a buffered temp file beside its final name, removed if dropped
/// before `close` (a build that stopped half-way leaves nothing behind).
pub struct PartFile {
    w: BufWriter<File>,
    temp: PathBuf,
    done: bool,
}

impl Write for PartFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.w.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl DocumentSink for OutboxSink<'_> {
    type W = PartFile;

    fn open(&mut self, document_id: &str) -> io::Result<PartFile> {
        if document_id.is_empty()
            || document_id.starts_with('.')
            || document_id.contains(['/', '\0'])
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{document_id:?} cannot name a file"),
            ));
        }
        let temp = self.files.dir.join(format!(
            ".{}.tmp",
            OutboxFiles::file_name(document_id, self.format)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        Ok(PartFile {
            w: BufWriter::with_capacity(FILE_BUFFER, file),
            temp,
            done: false,
        })
    }

    fn close(&mut self, document_id: &str, mut w: PartFile) -> io::Result<()> {
        w.w.flush()?;
        w.w.get_ref().sync_all()?;
        let path = self
            .files
            .dir
            .join(OutboxFiles::file_name(document_id, self.format));
        std::fs::rename(&w.temp, &path)?;
        w.done = true;
        self.files.written.push(path);
        // The rename is durable only once the directory is.
        File::open(&self.files.dir)?.sync_all()
    }
}

/// A batch's documents as built (or why not), ready to be recorded.
pub(super) struct Built {
    batch: String,
    trigger: EobTrigger,
    /// `closed_at` (or `released_at`) as read: the record step checks it is still the same.
    stamp: String,
    result: Result<Vec<NewDocument>, String>,
    /// The files of `result`: removed again when the build is not recorded.
    pub files: Vec<PathBuf>,
}

/// Finds the oldest batch waiting for its End of Batch and builds it — on the caller's
/// thread, through a read-only connection of its own, the batch read from one snapshot. A
/// batch of a million units takes seconds to build; doing it in the writer (as linegate first
/// did) held every line's acknowledgements for that long. WAL lets this read run beside the
/// writer, and a closed batch no longer changes what its documents say.
///
/// A build that fails on the data is returned as failed (the batch is parked); one that fails
/// reading the store or writing a file is an error (retried later), and its files are removed.
pub(super) fn build_next(data_dir: &Path, build: BuildFn) -> Result<Option<Built>, StoreError> {
    let mut store = ReadOnlyStore::open(data_dir)?;
    let tx = store.conn.transaction()?;
    let job: Option<(String, String, String)> = tx
        .query_row(
            "SELECT batch, job, stamp FROM (
                 SELECT batch, 'close' AS job, closed_at AS stamp FROM batches
                 WHERE document = 'pending'
                 UNION ALL
                 SELECT batch, 'release', released_at FROM batches
                 WHERE release_document = 'pending')
             ORDER BY stamp, batch, job LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((batch, job, stamp)) = job else {
        return Ok(None);
    };
    let trigger = if job == "release" {
        EobTrigger::Release
    } else {
        EobTrigger::Close
    };
    let Some(mut rows) = SqliteBatchRows::open(tx, &batch)? else {
        return Ok(None);
    };
    let mut files = OutboxFiles::open(data_dir).map_err(|e| StoreError::Assembly(e.to_string()))?;
    let result = build(trigger, &mut rows, &mut files);
    drop(rows);
    let result = match result {
        Ok(docs) => Ok(docs),
        Err(e @ (AssembleError::Read(_) | AssembleError::Io(_))) => {
            files.remove_all();
            return Err(StoreError::Assembly(format!("batch {batch}: {e}")));
        }
        Err(e) => {
            files.remove_all();
            return Ok(Some(Built {
                batch,
                trigger,
                stamp,
                result: Err(e.to_string()),
                files: Vec::new(),
            }));
        }
    };
    Ok(Some(Built {
        batch,
        trigger,
        stamp,
        result,
        files: files.written,
    }))
}

/// Records a build in one transaction: the documents and their deliveries, and the batch marked
/// assembled (or failed). `None` when the batch is no longer waiting for documents (another
/// assembler recorded it first); nothing is written then.
pub(super) fn record_assembly(
    conn: &mut Connection,
    built: Built,
) -> Result<Option<Assembled>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let Built {
        batch,
        trigger,
        stamp,
        result,
        files: _,
    } = built;
    let (column, stamp_column) = match trigger {
        EobTrigger::Close => ("document", "closed_at"),
        EobTrigger::Release => ("release_document", "released_at"),
    };
    let waiting: Option<String> = tx
        .query_row(
            &format!(
                "SELECT {stamp_column} FROM batches WHERE batch = ?1 AND {column} = 'pending'"
            ),
            [&batch],
            |r| r.get(0),
        )
        .optional()?;
    if waiting.as_deref() != Some(stamp.as_str()) {
        tracing::warn!(%batch, "batch no longer waits for documents; this build is discarded");
        return Ok(None);
    }
    let now = ts(Utc::now());
    let result = match result {
        Ok(docs) => {
            let mut ids = Vec::with_capacity(docs.len());
            for d in docs {
                insert_document(&tx, &d, Some(&batch), &format!("batch:{batch}"), &now)?;
                ids.push(d.document_id);
            }
            match trigger {
                EobTrigger::Close => tx.execute(
                    "UPDATE batches SET document = 'assembled', assembled_at = ?2 WHERE batch = ?1",
                    params![batch, now],
                )?,
                EobTrigger::Release => tx.execute(
                    "UPDATE batches SET release_document = 'assembled' WHERE batch = ?1",
                    [&batch],
                )?,
            };
            Assembled::Documents {
                batch,
                trigger,
                document_ids: ids,
            }
        }
        Err(reason) => {
            tx.execute(
                &format!("UPDATE batches SET {column} = 'failed', failure = ?2 WHERE batch = ?1"),
                params![batch, reason],
            )?;
            Assembled::Failed {
                batch,
                trigger,
                reason,
            }
        }
    };
    tx.commit()?;
    Ok(Some(result))
}

pub(super) fn parse_ts(s: &str) -> Option<chrono::DateTime<Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The path of a document file named in `documents.file`.
pub(super) fn document_path(data_dir: &Path, file: &str) -> PathBuf {
    data_dir.join(OUTBOX_DIR).join(file)
}

pub(super) fn read_document(data_dir: &Path, file: &str) -> Result<Vec<u8>, StoreError> {
    let path = document_path(data_dir, file);
    std::fs::read(&path).map_err(|source| StoreError::File { path, source })
}

/// Inserts one outbox file part and its pending delivery, in the caller's transaction: every
/// assembly step (End of Batch, shipments, per-event messages) records its documents here. A
/// document of a batch carries the batch's reconciliation report as its sidecar.
///
/// `order_key` is the document's ordering group (`outbox_queue`): its batch's documents, one
/// shipment's, the per-event stream. Documents leave in `seq` order within a group.
pub(super) fn insert_document(
    tx: &Connection,
    d: &NewDocument,
    batch: Option<&str>,
    order_key: &str,
    now: &str,
) -> Result<(), StoreError> {
    let seq: i64 = tx
        .prepare_cached(
            "INSERT INTO documents (document_id, kind, batch, content_type, body, created_at,
                                file, sidecar, part, parts, format, bytes)
         VALUES (?1, ?2, ?3, ?4, x'', ?5, ?6, (SELECT report FROM batches WHERE batch = ?3),
                 ?7, ?8, ?9, ?10) RETURNING seq",
        )?
        .query_row(
            params![
                d.document_id,
                d.kind,
                batch,
                d.content_type,
                now,
                d.file,
                d.part as i64,
                d.parts as i64,
                d.format,
                d.bytes as i64
            ],
            |r| r.get(0),
        )?;
    tx.prepare_cached(
        "INSERT INTO deliveries (document_id, upstream, seq, order_key, state, next_attempt_ms)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
    )?
    .execute(params![d.document_id, d.upstream, seq, order_key, now_ms()])?;
    Ok(())
}
