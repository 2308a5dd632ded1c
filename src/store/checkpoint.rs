//! WAL checkpoints on a thread of their own, so no line waits for one.
//!
//! In WAL mode every commit appends pages to `linegate.db-wal`; a checkpoint copies them back
//! into the database file and fsyncs it. SQLite's default runs that inside whichever commit
//! pushes the WAL past 1,000 pages, so every few seconds one line message waited for megabytes
//! of random writes and an fsync of the whole database (tens of ms on a large file: the p99 of
//! `benches/mqtt_ingest.rs`: 15–60 ms after a large batch, 5 ms with this thread). So this
//! thread runs a PASSIVE checkpoint every second through its own connection: PASSIVE never
//! blocks the writer or readers, it copies what no reader still needs, and once it has caught
//! up the writer's next transaction starts the WAL from the beginning again. Under sustained
//! load it may never quite catch up, so the writer keeps an automatic checkpoint as a backstop
//! at `WRITER_BACKSTOP_PAGES` (64 MiB of WAL; measured: without it the WAL grew past 250 MB
//! in a minute) — and since this thread copied most frames already, that one is short.
//! Durability does not depend on any of it — a commit is durable once its WAL frames are
//! fsynced — only the WAL's size does. The writer still truncates the WAL at shutdown.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::StoreError;

/// The writer's own automatic checkpoint, in WAL pages (SQLite's default is 1,000).
pub(super) const WRITER_BACKSTOP_PAGES: i64 = 16 * 1024;

/// How often the WAL is copied back into the database.
const EVERY: Duration = Duration::from_secs(1);

/// The running checkpoint thread; dropping `stop` (in `finish`) ends it.
pub(super) struct Checkpointer {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (already created and migrated).
    pub(super) fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|source| StoreError::DataDir {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Checkpointer { stop, handle })
    }

    /// Stops the thread after its current checkpoint.
    pub(super) fn finish(self) {
        drop(self.stop);
        if self.handle.join().is_err() {
            tracing::error!("the WAL checkpoint thread panicked");
        }
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    let mut failing = false;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        // Columns: busy flag, WAL frames, frames copied. Only errors matter here.
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) if failing => {
                tracing::info!("WAL checkpoints work again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                tracing::warn!(error = %e, "WAL checkpoint failed; the WAL file grows until one succeeds (nothing is lost)");
                failing = true;
            }
            Err(_) => {}
        }
    }
}
