//! The outbox's alarms and its retention: what an operator must know about documents that do
//! not leave, and the removal of those that left long ago.
//!
//! Every `TICK` (less often when counting a long backlog takes a while: `DUTY`) the monitor
//! reads each upstream's backlog (`ReadOnlyStore::outbox_backlog`, a read-only connection on a
//! blocking thread: index ranges of the undelivered states, never the writer) and turns it
//! into health problems: `outbox:<upstream>` while that upstream has dead
//! letters, `outbox` while the undelivered documents take more than `gateway.max_outbox_bytes`
//! — an alarm, not a cut-off: the lines keep being collected and nothing is dropped. Each
//! alarm is logged at ERROR when it is raised (and when more dead letters join it), and at INFO
//! when it clears; the health registry shows it in `GET /api/v1/health`, the systemd STATUS and
//! the line state. Retention (`gateway.outbox_retention_days`) runs at start and every hour, in
//! bounded steps (`Store::prune_delivered`) between the looks at the backlog.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::health::Health;
use crate::store::{PruneCursor, ReadOnlyStore, Store, StoreError, UpstreamBacklog};

/// How often the backlog is read.
const TICK: Duration = Duration::from_secs(5);
/// The backlog is read at most once per this many times its reading takes.
const DUTY: u32 = 20;
/// How often a retention round starts.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The longest retention works between two looks at the backlog.
const PRUNE_BUDGET: Duration = Duration::from_secs(2);

/// What the monitor watches.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub data_dir: PathBuf,
    /// `gateway.max_outbox_bytes` (0: no limit).
    pub max_outbox_bytes: u64,
    /// `gateway.outbox_retention_days` (0: keep forever).
    pub retention_days: u64,
}

impl MonitorConfig {
    pub fn of(config: &Config) -> MonitorConfig {
        MonitorConfig {
            data_dir: config.gateway.data_dir.clone(),
            max_outbox_bytes: config.gateway.max_outbox_bytes,
            retention_days: config.gateway.outbox_retention_days,
        }
    }
}

/// Runs until `shutdown`.
pub async fn run(store: Store, cfg: MonitorConfig, health: Health, shutdown: CancellationToken) {
    let mut raised: BTreeMap<String, Alarm> = BTreeMap::new();
    let mut reader: Option<ReadOnlyStore> = None;
    let mut read_failed = false;
    let mut cursor = PruneCursor::default();
    let mut next_round = Instant::now();
    let mut in_round = false;
    let mut round_total = 0usize;
    loop {
        let started = Instant::now();
        let read = backlog(&cfg, &mut reader).await;
        let took = started.elapsed();
        match read {
            Ok(b) => {
                read_failed = false;
                raise(&health, &mut raised, alarms(&b, cfg.max_outbox_bytes));
            }
            Err(e) if !read_failed => {
                read_failed = true;
                tracing::warn!(error = %e, "cannot read the outbox's backlog; its alarms are not updated until it can");
            }
            Err(_) => {}
        }
        if cfg.retention_days > 0 && (in_round || Instant::now() >= next_round) {
            if !in_round {
                in_round = true;
                round_total = 0;
                next_round = Instant::now() + PRUNE_EVERY;
            }
            let budget = Instant::now() + PRUNE_BUDGET;
            while in_round && Instant::now() < budget && !shutdown.is_cancelled() {
                match store.prune_delivered(cfg.retention_days, &mut cursor).await {
                    Ok(p) => {
                        round_total += p.documents;
                        if p.round_done {
                            in_round = false;
                            if round_total > 0 {
                                tracing::info!(
                                    documents = round_total,
                                    days = cfg.retention_days,
                                    "outbox retention: the files of documents delivered longer ago were removed (their records stay)"
                                );
                            }
                        }
                    }
                    Err(e) => {
                        in_round = false;
                        tracing::warn!(error = %e, "outbox retention stopped; it runs again within the hour");
                    }
                }
            }
        }
        // A long backlog takes a while to count (about 0.25 s per 500,000 waiting documents):
        // never spend more than 1/`DUTY` of the time on it.
        let pause = TICK.max(took * DUTY);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// The backlog, through a read-only connection kept between looks (reopened after an error).
async fn backlog(
    cfg: &MonitorConfig,
    reader: &mut Option<ReadOnlyStore>,
) -> Result<Vec<UpstreamBacklog>, StoreError> {
    let (dir, kept) = (cfg.data_dir.clone(), reader.take());
    let read = tokio::task::spawn_blocking(move || {
        let store = match kept {
            Some(s) => s,
            None => ReadOnlyStore::open(&dir)?,
        };
        let b = store.outbox_backlog()?;
        Ok::<_, StoreError>((store, b))
    })
    .await
    .map_err(|e| StoreError::NotCommitted(format!("reading the backlog stopped: {e}")))?;
    let (store, b) = read?;
    *reader = Some(store);
    Ok(b)
}

/// One raised alarm: its text, and how many documents it is about (a dead letter joining an
/// alarm is logged again; one leaving it is not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub text: String,
    pub count: u64,
}

/// The alarms `backlog` calls for, by health part.
pub fn alarms(backlog: &[UpstreamBacklog], max_outbox_bytes: u64) -> BTreeMap<String, Alarm> {
    let mut out = BTreeMap::new();
    for b in backlog.iter().filter(|b| b.rejected > 0) {
        let n = b.rejected;
        out.insert(
            format!("outbox:{}", b.upstream),
            Alarm {
                text: format!(
                    "{n} document{} refused by the upstream (dead letter{}): see `linegate outbox list --state rejected --upstream {}`",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "" } else { "s" },
                    b.upstream
                ),
                count: n,
            },
        );
    }
    let total: u64 = backlog.iter().map(UpstreamBacklog::undelivered_bytes).sum();
    if max_outbox_bytes > 0 && total > max_outbox_bytes {
        let documents: u64 = backlog
            .iter()
            .map(|b| b.pending + b.in_flight + b.rejected)
            .sum();
        out.insert(
            "outbox".into(),
            Alarm {
                text: format!(
                    "undelivered documents take {}, above gateway.max_outbox_bytes ({}); collection continues, nothing is dropped; check the upstream connection (`linegate outbox list`)",
                    size(total),
                    size(max_outbox_bytes)
                ),
                count: documents,
            },
        );
    }
    out
}

/// Sets the health of every alarm that changed; logs at ERROR what is new or grew.
fn raise(health: &Health, raised: &mut BTreeMap<String, Alarm>, now: BTreeMap<String, Alarm>) {
    for (part, alarm) in &now {
        let before = raised.get(part);
        if before.is_none_or(|b| alarm.count > b.count && part != "outbox") {
            tracing::error!(%part, problem = %alarm.text, "outbox alarm");
        }
        if before.map(|b| &b.text) != Some(&alarm.text) {
            health.set(part, Some(alarm.text.clone()));
        }
    }
    for part in raised.keys().filter(|p| !now.contains_key(*p)) {
        tracing::info!(%part, "outbox alarm cleared");
        health.set(part, None);
    }
    *raised = now;
}

/// Bytes for people, in binary units (1 GiB = 1024 MiB).
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(name: &str, pending: u64, rejected: u64, bytes: u64) -> UpstreamBacklog {
        UpstreamBacklog {
            upstream: name.into(),
            pending,
            rejected,
            pending_bytes: bytes,
            ..UpstreamBacklog::default()
        }
    }

    #[test]
    fn dead_letters_alarm_their_upstream_and_the_limit_counts_every_undelivered_byte() {
        let b = [up("mah", 3, 2, 6 << 30), up("qa", 1, 0, 5 << 30)];
        let a = alarms(&b, 10 << 30);
        assert_eq!(a.keys().collect::<Vec<_>>(), ["outbox", "outbox:mah"]);
        assert!(
            a["outbox:mah"]
                .text
                .starts_with("2 documents refused by the upstream (dead letters)")
        );
        assert_eq!(
            a["outbox"].text,
            "undelivered documents take 11.0 GiB, above gateway.max_outbox_bytes (10.0 GiB); collection continues, nothing is dropped; check the upstream connection (`linegate outbox list`)"
        );
        assert!(!alarms(&b, 0).contains_key("outbox"), "0 is no limit");
        assert!(alarms(&[up("mah", 1, 0, 10)], 10).is_empty());
    }

    #[test]
    fn an_alarm_is_set_once_grows_and_clears() {
        let health = Health::new();
        let mut raised = BTreeMap::new();
        raise(&health, &mut raised, alarms(&[up("mah", 0, 1, 0)], 0));
        assert!(health.has_problem("outbox:mah"));
        let one = health.problems();
        raise(&health, &mut raised, alarms(&[up("mah", 0, 1, 0)], 0));
        assert_eq!(health.problems(), one, "nothing changed");
        raise(&health, &mut raised, alarms(&[up("mah", 0, 2, 0)], 0));
        assert!(health.problems()[0].problem.starts_with("2 documents"));
        raise(&health, &mut raised, alarms(&[up("mah", 5, 0, 0)], 0));
        assert!(health.is_healthy());
        assert!(raised.is_empty());
    }
}
