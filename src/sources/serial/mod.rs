//! Serial scanner stations: barcode scanners and cameras on a serial port (docs/scanners.md).
//!
//! One task per `[[scanner]]`. It opens the port (usually a `/dev/serial/by-id/…` link), splits
//! the byte stream into reads (`framing`), turns each read into a line message or a refusal
//! (`station`, with `grouping` for aggregation) and submits it to the store like any source.
//! Only after the store committed the message — or its refusal — is the optional reply written
//! back to the port (`reply_ok` / `reply_reject`, e.g. for a light stack or a reject gate), in
//! read order. A port that fails, ends or is replaced (`port`) is closed and reopened with
//! backoff; the outage is logged once and shown in the daemon's `health::Health` (the station's
//! record and its `scanner:{id}` problem). A store that fails to commit gets the same item
//! again (the message id makes that safe), so a read is not lost while it waits.
//!
//! The disk guard: while it has closed the intake, reads are still taken from the port,
//! interpreted (with the time they were read and the batch open then) and **held** in memory,
//! in order — not submitted, not committed, not answered — and go to the store when the intake
//! opens. Serial has no broker to give reads back later, and a port that is not read loses
//! bytes once the kernel's buffer (4 KiB) is full unless the scanner uses hardware flow
//! control; held in memory they survive until the intake opens. At `MAX_HELD` the station
//! stops reading the port after all (the kernel's buffer, then flow control, hold the rest). At
//! a graceful stop held reads are committed anyway (the threshold leaves room for that): the
//! alternative would be dropping reads nobody can redeliver. Only `kill -9` while reads are
//! held loses them — unanswered, so a line that waits for `reply_ok` knows.

mod framing;
mod grouping;
mod port;
mod station;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

pub use port::{REOPEN_FIRST, REOPEN_MAX, SerialError};

use framing::Deframer;
use station::Interpreter;

use crate::config::{Scanner, Station};
use crate::gs1::CompanyPrefixes;
use crate::health::Health;
use crate::model::RejectCode;
use crate::store::{
    IngestItem, IngestOutcome, OpenBatch, PendingIngest, ReadOnlyStore, Store, StoreError,
};

/// Reads submitted but not yet answered; at this many the station stops reading the port
/// (the scanner's and the kernel's buffers hold the rest) until commits catch up.
const MAX_UNANSWERED: usize = 256;
/// Reads held while the disk guard has closed the intake; at this many the station stops
/// reading the port until it opens. Minutes of a line's reads, a few MiB of memory.
const MAX_HELD: usize = 4096;
/// How often an open port's path is checked and the idle alarm evaluated.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What a station needs besides the store.
#[derive(Debug, Clone)]
pub struct StationConfig {
    pub scanner: Scanner,
    pub prefixes: CompanyPrefixes,
    /// The store's directory, for the read-only lookup of the line's open batches.
    pub data_dir: PathBuf,
}

/// What a station shares with the rest of the daemon.
pub struct Shared {
    pub store: Store,
    /// The daemon's health registry: the station's record and its `scanner:{id}` problem.
    pub health: Health,
    /// `false` while the disk guard holds input back.
    pub intake: watch::Receiver<bool>,
}

/// Runs one station until `shutdown`.
pub async fn run(cfg: StationConfig, shared: Shared, shutdown: CancellationToken) {
    let Shared {
        store,
        health,
        intake,
    } = shared;
    let id = cfg.scanner.id.clone();
    health.register_station(
        &id,
        &cfg.scanner.line,
        cfg.scanner.station.name(),
        cfg.scanner.device.clone(),
    );
    let batches = match ReadOnlyStore::open(&cfg.data_dir) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(scanner = %id, error = %e, "cannot read the store; the station does not run");
            return;
        }
    };
    let session = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    tracing::info!(scanner = %id, station = cfg.scanner.station.name(), device = %cfg.scanner.device.display(), %session, "scanner station starting");
    let mut s = Link {
        deframer: Deframer::new(cfg.scanner.framing.clone()),
        interpreter: Interpreter::new(cfg.scanner.clone(), cfg.prefixes, session),
        scanner: cfg.scanner,
        store,
        health,
        batches,
        intake,
        held: VecDeque::new(),
        unanswered: VecDeque::new(),
        epoch: 0,
        last_read: Instant::now(),
        idle_raised: false,
    };
    s.run(&shutdown).await;
}

/// A read held while the intake is closed: not submitted, not answered.
struct Held {
    item: IngestItem,
    /// The port connection it was read on.
    epoch: u64,
}

/// A read handed to the store, waiting for its commit before it is answered.
struct Unanswered {
    item: IngestItem,
    pending: PendingIngest,
    /// The port connection it was read on: a reply goes only to that one.
    epoch: u64,
}

enum Ended {
    Shutdown,
    Lost(SerialError),
}

struct Link {
    scanner: Scanner,
    store: Store,
    health: Health,
    batches: ReadOnlyStore,
    deframer: Deframer,
    interpreter: Interpreter,
    /// `false` while the disk guard holds input back.
    intake: watch::Receiver<bool>,
    /// Reads waiting for the intake to open, in read order (before anything read later).
    held: VecDeque<Held>,
    unanswered: VecDeque<Unanswered>,
    epoch: u64,
    last_read: Instant,
    idle_raised: bool,
}

impl Link {
    async fn run(&mut self, shutdown: &CancellationToken) {
        let id = self.scanner.id.clone();
        let device = self.scanner.device.clone();
        let mut delay = REOPEN_FIRST;
        let mut outage = Instant::now();
        let mut logged = false;
        loop {
            match port::open(&device, &self.scanner.port) {
                Ok(mut open) => {
                    self.health.station_up(&id);
                    let down_ms = outage.elapsed().as_millis() as u64;
                    tracing::info!(scanner = %id, target = %open.target.display(), down_ms, "scanner port open");
                    delay = REOPEN_FIRST;
                    self.epoch += 1;
                    self.deframer.reset();
                    match self.serve(&mut open, shutdown).await {
                        Ended::Shutdown => return self.drain(Some(&mut open)).await,
                        Ended::Lost(e) => {
                            self.health.station_down(&id, &e.to_string());
                            tracing::warn!(scanner = %id, error = %e, "scanner port lost; reopening as soon as it returns (logged once per outage)");
                            (outage, logged) = (Instant::now(), true);
                        }
                    }
                }
                Err(e) => {
                    self.health.station_down(&id, &e.to_string());
                    if logged {
                        tracing::debug!(scanner = %id, error = %e, "scanner port still unavailable");
                    } else {
                        tracing::warn!(scanner = %id, error = %e, "scanner port unavailable; retrying with backoff up to every 2 s (logged once per outage)");
                        logged = true;
                    }
                }
            }
            let until = tokio::time::Instant::now() + delay;
            delay = port::next_delay(delay);
            // While down, commits still come back: answer them (no port to reply to); and held
            // reads go to the store when the intake opens.
            loop {
                let open = match self.release_held().await {
                    Ok(open) => open,
                    Err(e) => {
                        tracing::error!(scanner = %id, error = %e, "the store is closed; the station stops");
                        return;
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return self.drain(None).await,
                    _ = tokio::time::sleep_until(until) => break,
                    Some(outcome) = next_outcome(&mut self.unanswered), if !self.unanswered.is_empty() => {
                        if self.answer(outcome, None, shutdown).await.is_err() {
                            return;
                        }
                    }
                    // Only while closed: wakes the loop when it opens (an error: the guard is
                    // gone, at shutdown; the branch is then disabled).
                    Ok(()) = self.intake.changed(), if !open => {}
                }
            }
        }
    }

    async fn serve(&mut self, open: &mut port::OpenPort, shutdown: &CancellationToken) -> Ended {
        let device = self.scanner.device.clone();
        let mut buf = vec![0u8; 4096];
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let taking = match self.release_held().await {
                Ok(taking) => taking,
                Err(e) => {
                    tracing::error!(scanner = %self.scanner.id, error = %e, "the store is closed; the station stops");
                    return Ended::Shutdown;
                }
            };
            let room = self.unanswered.len() < MAX_UNANSWERED && self.held.len() < MAX_HELD;
            tokio::select! {
                _ = shutdown.cancelled() => return Ended::Shutdown,
                // Only while closed: wakes the loop when the disk guard opens the intake.
                Ok(()) = self.intake.changed(), if !taking => {}
                // Cancel-safe: the receiver keeps its value if another branch wins.
                Some(outcome) = next_outcome(&mut self.unanswered), if !self.unanswered.is_empty() => {
                    match self.answer(outcome, Some(open), shutdown).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Ended::Lost(e),
                        Err(()) => return Ended::Shutdown,
                    }
                }
                // Cancel-safe: a read that did not complete consumed nothing.
                r = open.stream.read(&mut buf), if room => match r {
                    Ok(0) => return Ended::Lost(SerialError::Eof { device }),
                    Ok(n) => {
                        if let Err(e) = self.on_bytes(&buf[..n]).await {
                            tracing::error!(scanner = %self.scanner.id, error = %e, "the store is closed; the station stops");
                            return Ended::Shutdown;
                        }
                    }
                    Err(source) => return Ended::Lost(SerialError::Read { device, source }),
                },
                _ = tick.tick() => {
                    if !open.still_there(&device) {
                        return Ended::Lost(SerialError::Replaced { device });
                    }
                    self.check_idle();
                }
            }
        }
    }

    /// Deframes, interprets and submits what was read (waiting here is backpressure).
    async fn on_bytes(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        for frame in self.deframer.push(bytes) {
            self.health.station_read(&self.scanner.id);
            self.last_read = Instant::now();
            if std::mem::take(&mut self.idle_raised) {
                tracing::info!(scanner = %self.scanner.id, "scanner reads again");
            }
            let batches = self.open_batches();
            for item in self.interpreter.frame(frame, &batches, Utc::now()) {
                if *self.intake.borrow() && self.held.is_empty() {
                    self.submit(item).await?;
                } else {
                    tracing::debug!(scanner = %self.scanner.id, held = self.held.len() + 1, "intake closed: read held, not committed or answered");
                    let epoch = self.epoch;
                    self.held.push_back(Held { item, epoch });
                }
            }
        }
        Ok(())
    }

    /// Submits the held reads, in order, if the intake is open. Returns whether it is.
    async fn release_held(&mut self) -> Result<bool, StoreError> {
        let open = *self.intake.borrow_and_update();
        if open && !self.held.is_empty() {
            tracing::info!(scanner = %self.scanner.id, reads = self.held.len(), "intake open again: committing the reads held meanwhile");
            self.submit_held().await?;
        }
        Ok(open)
    }

    /// Hands every held read to the store, in read order, each with its own connection.
    async fn submit_held(&mut self) -> Result<(), StoreError> {
        while let Some(h) = self.held.pop_front() {
            let pending = self.store.submit_ingest(h.item.clone()).await?;
            self.unanswered.push_back(Unanswered {
                item: h.item,
                pending,
                epoch: h.epoch,
            });
        }
        Ok(())
    }

    async fn submit(&mut self, item: IngestItem) -> Result<(), StoreError> {
        let pending = self.store.submit_ingest(item.clone()).await?;
        self.unanswered.push_back(Unanswered {
            item,
            pending,
            epoch: self.epoch,
        });
        Ok(())
    }

    fn open_batches(&self) -> Vec<OpenBatch> {
        if matches!(self.scanner.station, Station::Reject(_) | Station::Sample) {
            return Vec::new();
        }
        self.batches
            .open_batches(&self.scanner.line)
            .unwrap_or_else(|e| {
                tracing::error!(scanner = %self.scanner.id, error = %e, "cannot read the line's open batches");
                Vec::new()
            })
    }

    /// Handles the oldest read's commit outcome: logs a refusal, writes the reply. A failed
    /// commit submits the same item again (same message id). `Err(())`: shut down meanwhile.
    async fn answer(
        &mut self,
        outcome: Result<IngestOutcome, StoreError>,
        port: Option<&mut port::OpenPort>,
        shutdown: &CancellationToken,
    ) -> Result<Result<(), SerialError>, ()> {
        let Some(mut u) = self.unanswered.pop_front() else {
            return Ok(Ok(()));
        };
        let outcome = match outcome {
            Ok(o) => {
                self.health.station_answered(&self.scanner.id);
                o
            }
            Err(e) => {
                tracing::error!(scanner = %self.scanner.id, error = %e, "read not committed; submitting it again in 1 s (no reply until it is)");
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                u.pending = self
                    .store
                    .submit_ingest(u.item.clone())
                    .await
                    .map_err(|_| ())?;
                self.unanswered.push_front(u);
                return Ok(Ok(()));
            }
        };
        let good = match &outcome {
            IngestOutcome::Applied | IngestOutcome::Duplicate { earlier: None } => true,
            IngestOutcome::Rejected(r) | IngestOutcome::Duplicate { earlier: Some(r) } => {
                tracing::warn!(scanner = %self.scanner.id, code = r.code.as_str(), reason = %r.reason, "read refused and quarantined");
                // A repeated read of a unit already commissioned in this batch: the unit is good.
                r.code == RejectCode::DuplicateScan
            }
        };
        let reply = if good {
            &self.scanner.reply_ok
        } else {
            &self.scanner.reply_reject
        };
        let (Some(reply), Some(port)) = (reply, port) else {
            return Ok(Ok(()));
        };
        if u.epoch != self.epoch {
            tracing::debug!(scanner = %self.scanner.id, "no reply: the read came from a connection that has since closed");
            return Ok(Ok(()));
        }
        Ok(port.write_reply(&self.scanner.device, reply).await)
    }

    /// At shutdown: commit held reads (no one could redeliver them), quarantine an unfinished
    /// group, answer what is committed (bounded by the app's shutdown deadline).
    async fn drain(&mut self, mut port: Option<&mut port::OpenPort>) {
        if !self.held.is_empty() {
            tracing::warn!(scanner = %self.scanner.id, reads = self.held.len(), "stopping while the disk guard holds input: the held reads are committed now, as a serial port cannot send them again");
            if self.submit_held().await.is_err() {
                return;
            }
        }
        if let Some(item) = self.interpreter.abandon(Utc::now()) {
            tracing::warn!(scanner = %self.scanner.id, "an unfinished aggregation group is quarantined at shutdown");
            if self.submit(item).await.is_err() {
                return;
            }
        }
        let never = CancellationToken::new();
        while let Some(outcome) = next_outcome(&mut self.unanswered).await {
            let port = port.as_deref_mut();
            if !matches!(self.answer(outcome, port, &never).await, Ok(Ok(()))) {
                return;
            }
        }
    }

    /// Warns once when the line has an open batch and nothing was read for `idle_alarm_secs`.
    fn check_idle(&mut self) {
        let Some(limit) = self.scanner.idle_alarm else {
            return;
        };
        if self.idle_raised || self.last_read.elapsed() < limit {
            return;
        }
        let open = self
            .batches
            .open_batches(&self.scanner.line)
            .unwrap_or_default();
        let Some(batch) = open.first() else {
            // No batch running: the clock starts when one is.
            self.last_read = Instant::now();
            return;
        };
        tracing::warn!(scanner = %self.scanner.id, batch = %batch.batch, idle_secs = limit.as_secs(), "no read from this scanner while a batch is open");
        self.health.station_idle(&self.scanner.id, true);
        self.idle_raised = true;
    }
}

/// The commit outcome of the oldest unanswered read (answers go out in read order).
async fn next_outcome(
    unanswered: &mut VecDeque<Unanswered>,
) -> Option<Result<IngestOutcome, StoreError>> {
    Some(unanswered.front_mut()?.pending.wait().await)
}
