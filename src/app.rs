//! Wiring: open the store, start every part from its configuration, stop them in order.
//!
//! The only module that names every other one. Start: store, then assembler and forwarders (so
//! a backlog from before a crash starts moving at once), the disk guard, then the MQTT source
//! and the scanner stations — all reporting into one `Health` and obeying one intake; READY is
//! sent when the MQTT source is subscribed. While running, the main loop feeds systemd's
//! watchdog and STATUS line (`watchdog`). The configuration a run starts with is an audit row
//! (its file's SHA-256); a configuration read from a file is reloaded on SIGHUP (`reload`). Stop: sources first (no new input), then the workers, each bounded by
//! `gateway.shutdown_timeout_secs`, then the store writer drains and closes.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::assemble::{self, AssemblerConfig, Partner};
use crate::config::Config;
use crate::disk_guard::DiskGuard;
use crate::forward::{self, ForwardConfig};
use crate::health::Health;
use crate::reload::Reloader;
use crate::shutdown;
use crate::sources::mqtt::{self, MqttSourceConfig};
use crate::sources::serial::{self, StationConfig};
use crate::store::{AuditEntry, Store};
use crate::watchdog::Watchdog;

/// Runs the daemon until `stop` resolves.
pub async fn run(config: Config, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    run_until(config, stop, oneshot::channel().0).await
}

/// [`run`], telling `serving` once the MQTT source is subscribed (`linegate demo` waits for it).
pub async fn run_until(
    config: Config,
    stop: impl Future<Output = ()>,
    serving: oneshot::Sender<()>,
) -> anyhow::Result<()> {
    // Installed first: from here on SIGHUP reloads instead of ending the process.
    let reloader = match &config.file {
        Some(file) => {
            Some(Reloader::listen(file, &config).context("installing the SIGHUP handler")?)
        }
        None => None,
    };
    if config.mqtt.embedded_broker {
        let (host, port) = (config.mqtt.host.clone(), config.mqtt.port);
        tokio::task::spawn_blocking(move || crate::broker::start(&host, port))
            .await
            .context("starting the embedded MQTT broker")??;
    }
    // The local API (`[api]`): its token read and its socket bound before anything starts.
    let api = match &config.api {
        Some(cfg) => Some(
            api::Listener::open(cfg)
                .await
                .context("starting the local API")?,
        ),
        None => None,
    };
    let (store, store_thread) = Store::open(&config.gateway.data_dir, config.rules_policy())
        .with_context(|| format!("opening the store in {}", config.gateway.data_dir.display()))?;
    tracing::info!(data_dir = %config.gateway.data_dir.display(), "store open");
    // The audit trail records which configuration this run started with.
    store
        .audit(AuditEntry {
            actor: "linegate".into(),
            action: "config_load".into(),
            subject: (config.file.as_ref()).map_or_else(
                || "(built-in configuration)".into(),
                |f| f.display().to_string(),
            ),
            old_value: None,
            new_value: config.file_sha256.clone(),
            reason: None,
            detail: Some(format!("linegate {} started", env!("CARGO_PKG_VERSION"))),
        })
        .await
        .context("recording the configuration load in the audit trail")?;

    let workers = CancellationToken::new();
    let mut worker_tasks: Vec<JoinHandle<()>> = Vec::new();
    worker_tasks.push(tokio::spawn(assemble::run(
        store.clone(),
        assembler_config(&config),
        workers.clone(),
    )));
    // Per-event messages (commission, aggregation, …) for the partners that take them.
    worker_tasks.push(tokio::spawn(assemble::single_task::run(
        store.clone(),
        assembler_config(&config),
        workers.clone(),
    )));
    for up in &config.upstreams {
        let sink = forward::build_sink(up).with_context(|| format!("upstream '{}'", up.name))?;
        let cfg = ForwardConfig::of(up);
        worker_tasks.push(tokio::spawn(forward::run(
            store.clone(),
            cfg,
            sink,
            workers.clone(),
        )));
    }

    let sources = CancellationToken::new();
    let (ready_tx, ready_rx) = oneshot::channel();
    // The disk guard closes the sources' intake when free space runs low (stops with the workers).
    let health = Health::new();
    let guard = DiskGuard::new(
        &config.gateway.data_dir,
        config.gateway.min_free_disk_mb,
        health.clone(),
    );
    let intake = guard.intake();
    if let Some(reloader) = reloader {
        worker_tasks.push(tokio::spawn(reloader.run(
            guard.threshold(),
            store.clone(),
            workers.clone(),
        )));
    }
    worker_tasks.push(tokio::spawn(guard.run(workers.clone())));
    // The outbox's alarms (dead letters, gateway.max_outbox_bytes) and its retention.
    worker_tasks.push(tokio::spawn(forward::monitor::run(
        store.clone(),
        forward::monitor::MonitorConfig::of(&config),
        health.clone(),
        workers.clone(),
    )));
    // The store's own health: quick_check at start (read-only, off the writer), then whether
    // the writer answers and its commits succeed.
    worker_tasks.push(tokio::spawn(crate::health::store_watch::watch(
        store.clone(),
        config.gateway.data_dir.clone(),
        health.clone(),
        workers.clone(),
    )));
    let mqtt_cfg = MqttSourceConfig {
        mqtt: config.mqtt.clone(),
        lines: config.lines.iter().map(|l| l.id.clone()).collect(),
        prefixes: config.prefixes.clone(),
        data_dir: config.gateway.data_dir.clone(),
    };
    let shared = mqtt::Shared {
        store: store.clone(),
        health: health.clone(),
        intake: intake.clone(),
    };
    let source_task = tokio::spawn(mqtt::run(mqtt_cfg, shared, sources.clone(), ready_tx));
    // Serial scanner stations: they wait for their ports, never for READY.
    let station_tasks: Vec<JoinHandle<()>> = config
        .scanners
        .iter()
        .map(|scanner| {
            let cfg = StationConfig {
                scanner: scanner.clone(),
                prefixes: config.prefixes.clone(),
                data_dir: config.gateway.data_dir.clone(),
            };
            let shared = serial::Shared {
                store: store.clone(),
                health: health.clone(),
                intake: intake.clone(),
            };
            tokio::spawn(serial::run(cfg, shared, sources.clone()))
        })
        .collect();
    // A source like the others: it reaches only the store, and obeys the intake.
    let api_tasks: Vec<JoinHandle<()>> = (api.into_iter())
        .map(|listener| {
            let shared = api::Shared {
                store: store.clone(),
                health: health.clone(),
                intake: intake.clone(),
            };
            let (config, stop) = (config.clone(), sources.clone());
            tokio::spawn(async move { listener.serve(&config, shared, stop).await })
        })
        .collect();
    // The main loop's watchdog (fed only while the writer answers and every source task
    // runs) and the unit's STATUS line; its store handle goes before the writer is joined.
    let lines: Vec<String> = config.lines.iter().map(|l| l.id.clone()).collect();
    let mut watchdog = Watchdog::new(store, health.clone(), lines, &config.gateway.data_dir);

    watchdog.starting(format!(
        "waiting for MQTT broker {}:{}",
        config.mqtt.host, config.mqtt.port
    ));
    tokio::pin!(stop);
    let mut ready_rx = Some(ready_rx);
    let mut serving = Some(serving);
    loop {
        tokio::select! {
            r = async { ready_rx.as_mut().expect("polled only while waiting").await }, if ready_rx.is_some() => {
                ready_rx = None;
                if r.is_ok() {
                    shutdown::notify_ready();
                    tracing::info!("linegate is serving");
                    if let Some(tx) = serving.take() {
                        let _ = tx.send(());
                    }
                }
            }
            _ = watchdog.tick() => {
                let alive = !source_task.is_finished()
                    && station_tasks.iter().all(|t| !t.is_finished());
                // A stop is not kept waiting for a writer that does not answer.
                tokio::select! {
                    _ = watchdog.check(alive, serving.is_none()) => {}
                    _ = &mut stop => break,
                }
            }
            _ = &mut stop => break,
        }
    }
    drop(watchdog);

    shutdown::notify_stopping();
    let deadline = tokio::time::Instant::now() + config.gateway.shutdown_timeout;
    sources.cancel();
    finish("MQTT source", vec![source_task], deadline).await;
    finish("serial scanner stations", station_tasks, deadline).await;
    finish("local API", api_tasks, deadline).await;
    workers.cancel();
    finish("assembler and forwarders", worker_tasks, deadline).await;
    // Every Store handle is gone now; the writer applies what is queued and closes the file.
    tokio::task::spawn_blocking(move || store_thread.join())
        .await
        .context("joining the store writer")?;
    tracing::info!("linegate stopped");
    Ok(())
}

/// Waits for `tasks` until `deadline`, then aborts what is left (it is safe: see shutdown.rs).
async fn finish(what: &str, tasks: Vec<JoinHandle<()>>, deadline: tokio::time::Instant) {
    for mut t in tasks {
        if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
            tracing::warn!(%what, "did not stop before the shutdown deadline; aborting it");
            t.abort();
            let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
        }
    }
}

fn assembler_config(config: &Config) -> AssemblerConfig {
    AssemblerConfig {
        biz_location: config.gateway.site_sgln.clone(),
        read_points: config
            .lines
            .iter()
            .map(|l| (l.id.clone(), l.sgln.clone()))
            .collect(),
        // Each upstream's settings (format, messages, variants, limits…), read and checked by
        // `config::upstream`.
        partners: (config.upstreams.iter())
            .map(|u| u.partner.clone())
            .collect::<Vec<Partner>>(),
        tz_offset: config.gateway.timezone_offset.clone(),
    }
}
