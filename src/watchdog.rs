//! systemd's service watchdog and the unit's STATUS line, fed from the daemon's main loop.
//!
//! `WatchdogSec=` in the unit makes systemd restart linegate when it stops hearing
//! `WATCHDOG=1`. A process that merely exists proves nothing: the ping goes out only when, at
//! that tick, the store's writer thread answered a no-op request ([`Store::ping`]) within the
//! tick and every source task (the MQTT source, each scanner station) is still running. A
//! writer stuck on a lock or a dead disk, or a source task that ended, therefore leads to a
//! restart after `WatchdogSec`, which is what the line needs: a daemon that no longer commits
//! and acknowledges is worse than one that restarts. Without `WATCHDOG_USEC` (not under
//! systemd, or no `WatchdogSec=`) nothing is pinged, but the writer is still probed so the
//! STATUS line and the log tell about a stall.
//!
//! The STATUS line (`systemctl status linegate`) says what matters at a glance: serving or
//! degraded (with the health registry's problems), the open batches, and what the outbox
//! still owes upstream. It is sent when it changes.

use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::health::Health;
use crate::shutdown;
use crate::store::{ReadOnlyStore, Store};

/// How often STATUS facts are read from the store (and the writer probed) without a watchdog.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// The main loop's watchdog and STATUS state.
pub struct Watchdog {
    store: Store,
    health: Health,
    lines: Vec<String>,
    data_dir: std::path::PathBuf,
    /// Half the watchdog interval when systemd asked for pings.
    ping_every: Option<Duration>,
    interval: tokio::time::Interval,
    /// When the writer last answered; `None` while it has not answered since a stall began.
    writer_answered: Instant,
    stalled: bool,
    sources_down_logged: bool,
    last_status: String,
    /// The STATUS head until the daemon serves (e.g. "waiting for MQTT broker …").
    starting: String,
    facts: String,
    facts_read: Option<Instant>,
}

impl Watchdog {
    /// Reads `WATCHDOG_USEC`/`WATCHDOG_PID` (as systemd sets them) to decide whether to ping.
    pub fn new(
        store: Store,
        health: Health,
        lines: Vec<String>,
        data_dir: &std::path::Path,
    ) -> Self {
        let ping_every =
            sd_notify::watchdog_enabled().map(|d| (d / 2).max(Duration::from_millis(100)));
        let period = ping_every.map_or(STATUS_EVERY, |p| p.min(STATUS_EVERY));
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        if let Some(every) = ping_every {
            tracing::info!(
                ping_every_ms = every.as_millis() as u64,
                "systemd watchdog enabled"
            );
        }
        Watchdog {
            store,
            health,
            lines,
            data_dir: data_dir.to_path_buf(),
            ping_every,
            interval,
            writer_answered: Instant::now(),
            stalled: false,
            sources_down_logged: false,
            last_status: String::new(),
            starting: "starting".into(),
            facts: String::new(),
            facts_read: None,
        }
    }

    /// What STATUS says (and is sent now) until the daemon serves.
    pub fn starting(&mut self, status: String) {
        shutdown::notify_status(&status);
        self.starting = status;
    }

    /// Resolves at the next tick.
    pub async fn tick(&mut self) {
        self.interval.tick().await;
    }

    /// One tick's work: probe the writer, feed the watchdog if everything is alive, refresh
    /// the STATUS line. `sources_alive` is false when a source task has ended.
    pub async fn check(&mut self, sources_alive: bool, serving: bool) {
        let wait = self.interval.period();
        let answered = matches!(
            tokio::time::timeout(wait, self.store.ping()).await,
            Ok(Ok(()))
        );
        if answered {
            self.writer_answered = Instant::now();
            if self.stalled {
                self.stalled = false;
                tracing::info!("the store writer answers again; feeding the systemd watchdog");
            }
        } else if !self.stalled {
            self.stalled = true;
            tracing::error!(
                waited_ms = wait.as_millis() as u64,
                "the store writer is not answering: nothing is being committed or acknowledged; \
                 the systemd watchdog is no longer fed and systemd will restart linegate if this lasts"
            );
        }
        if !sources_alive && !self.sources_down_logged {
            self.sources_down_logged = true;
            tracing::error!(
                "a source task (MQTT or a scanner station) has ended; the systemd watchdog is no \
                 longer fed so that systemd restarts linegate"
            );
        }
        if answered && sources_alive && self.ping_every.is_some() {
            shutdown::notify_watchdog();
        }
        self.refresh_facts().await;
        let status = self.status_line(serving, sources_alive);
        if status != self.last_status {
            shutdown::notify_status(&status);
            self.last_status = status;
        }
    }

    /// Open batches and the outbox's backlog, read at most every [`STATUS_EVERY`] on a
    /// read-only connection (never through the writer).
    async fn refresh_facts(&mut self) {
        if self.facts_read.is_some_and(|t| t.elapsed() < STATUS_EVERY) {
            return;
        }
        self.facts_read = Some(Instant::now());
        let (dir, lines) = (self.data_dir.clone(), self.lines.clone());
        let read = tokio::task::spawn_blocking(move || read_facts(&dir, &lines)).await;
        match read {
            Ok(Ok(facts)) => self.facts = facts,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cannot read the STATUS facts");
                self.facts.clear();
            }
            Err(_) => self.facts.clear(),
        }
    }

    fn status_line(&self, serving: bool, sources_alive: bool) -> String {
        let mut problems: Vec<String> = (self.health.problems().into_iter())
            .map(|p| format!("{}: {}", p.part, p.problem))
            .collect();
        // The health registry names a writer silent for long (`store:writer`); until then
        // the watchdog's own, quicker finding is shown.
        if self.stalled && !problems.iter().any(|p| p.starts_with("store:writer")) {
            let secs = self.writer_answered.elapsed().as_secs();
            problems.insert(0, format!("store writer not answering for {secs} s"));
        }
        if !sources_alive {
            problems.insert(0, "a source task has ended".into());
        }
        let head = match (serving, problems.is_empty()) {
            (false, true) => self.starting.clone(),
            (_, true) => "serving".to_string(),
            (_, false) => format!("degraded — {}", problems.join("; ")),
        };
        if self.facts.is_empty() {
            head
        } else {
            format!("{head} · {}", self.facts)
        }
    }
}

/// "2 open batches · outbox: 3 documents (1.2 MB) owed upstream".
fn read_facts(
    data_dir: &std::path::Path,
    lines: &[String],
) -> Result<String, crate::store::StoreError> {
    let reader = ReadOnlyStore::open(data_dir)?;
    let mut open = 0usize;
    for line in lines {
        open += reader.open_batches(line)?.len();
    }
    let backlog = reader.outbox_backlog()?;
    let documents: u64 = backlog
        .iter()
        .map(|b| b.pending + b.in_flight + b.rejected)
        .sum();
    let bytes: u64 = backlog.iter().map(|b| b.undelivered_bytes()).sum();
    let batches = if open == 1 { "batch" } else { "batches" };
    Ok(if documents == 0 {
        format!("{open} open {batches} · outbox empty")
    } else {
        format!(
            "{open} open {batches} · outbox: {documents} documents ({}) owed upstream",
            human_bytes(bytes)
        )
    })
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_like_an_operator_expects() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 20), "5.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
