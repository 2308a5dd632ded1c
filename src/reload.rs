//! Reloading the configuration file on SIGHUP (`systemctl kill -s HUP linegate`, `kill -HUP`).
//!
//! On SIGHUP the daemon reads and validates its file again with `config::load` — the path of
//! startup and of `linegate validate`, so a file that reloads is a file that would start. An
//! invalid file is refused: its problems are logged, with their key paths, and the daemon goes
//! on with the settings it runs on. A valid file is compared with those settings (`changes`):
//! what can change live is applied at once — today `gateway.min_free_disk_mb`, the disk
//! guard's threshold, so a site that freed no space can still let input resume — and every
//! other changed setting is named in a warning as needing a restart. Those are not applied,
//! and the next reload names them again, because `running` is what is in effect, not what the
//! file says.
//!
//! Making another setting live means: a `Change` variant, its comparison in `changes`, and the
//! part's handle given to `Reloader::run` (as the disk guard's `Threshold` is). SIGHUP is the
//! one signal handled outside `shutdown`: it stops nothing.

use std::path::{Path, PathBuf};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::disk_guard::Threshold;
use crate::store::{AuditEntry, Store};

/// What a reloaded file changes, against the settings in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `gateway.min_free_disk_mb`: applied live.
    MinFreeDiskMb { from: u64, to: u64 },
    /// A setting (a key or a section) that takes effect only after a restart.
    NeedsRestart(&'static str),
}

/// Reloads the configuration file on every SIGHUP.
pub struct Reloader {
    file: PathBuf,
    /// The settings in effect: the started configuration plus what was applied live since.
    running: Config,
    hangups: Signal,
}

impl Reloader {
    /// Installs the SIGHUP handler (from here on SIGHUP no longer ends the process).
    pub fn listen(file: &Path, running: &Config) -> std::io::Result<Reloader> {
        Ok(Reloader {
            file: file.to_path_buf(),
            running: running.clone(),
            hangups: signal(SignalKind::hangup())?,
        })
    }

    /// Reloads on each SIGHUP until `shutdown`, setting the disk guard's `threshold`; each
    /// reload, applied or refused, is appended to the audit trail with the file's hash.
    pub async fn run(mut self, threshold: Threshold, store: Store, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = self.hangups.recv() => match got {
                    Some(()) => {
                        let entry = self.reload(&threshold);
                        if let Err(e) = store.audit(entry).await {
                            tracing::error!(error = %e, "cannot record the reload in the audit trail");
                        }
                    }
                    None => return,
                },
            }
        }
    }

    /// Reads the file again and applies what is live; returns the audit row describing it.
    fn reload(&mut self, threshold: &Threshold) -> AuditEntry {
        let file = self.file.display().to_string();
        tracing::info!(%file, "SIGHUP: reading the configuration file again");
        let mut entry = AuditEntry {
            actor: "linegate (SIGHUP)".into(),
            action: "config_reload".into(),
            subject: file.clone(),
            old_value: self.running.file_sha256.clone(),
            new_value: None,
            reason: None,
            detail: None,
        };
        let new = match config::load(&self.file) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(%file, "configuration refused, nothing changed; the daemon keeps running on its previous settings. {e}");
                entry.action = "config_reload_refused".into();
                entry.new_value = std::fs::read(&self.file)
                    .ok()
                    .map(|b| config::sha256_hex(&b));
                entry.detail = Some(e.to_string());
                return entry;
            }
        };
        entry.new_value = new.file_sha256.clone();
        let changes = changes(&self.running, &new);
        if changes.is_empty() {
            tracing::info!(%file, "configuration reloaded: nothing changed");
        }
        let mut applied = Vec::new();
        let mut restart = Vec::new();
        for change in changes {
            match change {
                Change::MinFreeDiskMb { from, to } => {
                    threshold.set(to);
                    self.running.gateway.min_free_disk_mb = to;
                    applied.push(format!("gateway.min_free_disk_mb {from} -> {to}"));
                    tracing::info!(
                        setting = "gateway.min_free_disk_mb",
                        from,
                        to,
                        "configuration reloaded: applied live"
                    );
                }
                Change::NeedsRestart(setting) => {
                    restart.push(setting);
                    tracing::warn!(
                        setting,
                        "configuration reloaded: this setting changed and takes effect only after a restart (not applied)"
                    );
                }
            }
        }
        // What runs now is the file's hash only if nothing waits for a restart.
        if restart.is_empty() {
            self.running.file_sha256 = new.file_sha256;
        }
        entry.detail = Some(format!(
            "applied live: {}; needs a restart: {}",
            if applied.is_empty() {
                "nothing".into()
            } else {
                applied.join(", ")
            },
            if restart.is_empty() {
                "nothing".into()
            } else {
                restart.join(", ")
            },
        ));
        entry
    }
}

/// What `new` changes against `running`, live changes first.
pub fn changes(running: &Config, new: &Config) -> Vec<Change> {
    let (a, b) = (&running.gateway, &new.gateway);
    let mut out = Vec::new();
    if a.min_free_disk_mb != b.min_free_disk_mb {
        out.push(Change::MinFreeDiskMb {
            from: a.min_free_disk_mb,
            to: b.min_free_disk_mb,
        });
    }
    let restart = [
        ("gateway.data_dir", a.data_dir != b.data_dir),
        ("gateway.site_gln", a.site_gln != b.site_gln),
        (
            "gateway.shutdown_timeout_secs",
            a.shutdown_timeout != b.shutdown_timeout,
        ),
        (
            "gateway.timezone_offset",
            a.timezone_offset != b.timezone_offset,
        ),
        ("gs1", running.prefixes != new.prefixes),
        ("mqtt", running.mqtt != new.mqtt),
        ("line", running.lines != new.lines),
        ("upstream", running.upstreams != new.upstreams),
        ("scanner", running.scanners != new.scanners),
        ("api", running.api != new.api),
    ];
    out.extend(
        restart
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(key, _)| Change::NeedsRestart(key)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/linegate.toml"))
            .expect("config/linegate.toml")
    }

    fn parse(text: &str) -> Config {
        config::parse(text).expect("valid")
    }

    #[test]
    fn the_threshold_is_live_and_everything_else_is_named_for_a_restart() {
        let text = example();
        let running = parse(&text);
        assert_eq!(changes(&running, &parse(&text)), []);
        let lowered = text.replace("min_free_disk_mb = 512", "min_free_disk_mb = 64");
        assert_eq!(
            changes(&running, &parse(&lowered)),
            [Change::MinFreeDiskMb { from: 512, to: 64 }]
        );
        let more = lowered
            .replace("shutdown_timeout_secs = 20", "shutdown_timeout_secs = 30")
            .replace("retry_max_ms = 600000", "retry_max_ms = 60000")
            .replace("client_id = \"linegate\"", "client_id = \"other\"");
        assert_eq!(
            changes(&running, &parse(&more)),
            [
                Change::MinFreeDiskMb { from: 512, to: 64 },
                Change::NeedsRestart("gateway.shutdown_timeout_secs"),
                Change::NeedsRestart("mqtt"),
                Change::NeedsRestart("upstream"),
            ]
        );
    }

    #[tokio::test]
    async fn a_reload_applies_the_threshold_and_refuses_an_invalid_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("linegate.toml");
        let text = example();
        std::fs::write(&file, &text).expect("write");
        let started = config::load(&file).expect("valid");
        assert_eq!(started.file.as_deref(), Some(file.as_path()));
        let guard = crate::disk_guard::DiskGuard::new(dir.path(), 0, crate::health::Health::new());
        let threshold = guard.threshold();
        let mut r = Reloader::listen(&file, &started).expect("SIGHUP handler");

        std::fs::write(
            &file,
            text.replace("min_free_disk_mb = 512", "min_free_disk_mb = 7"),
        )
        .expect("write");
        r.reload(&threshold);
        assert_eq!(
            (threshold.get(), r.running.gateway.min_free_disk_mb),
            (7, 7)
        );

        // Invalid: refused whole, the threshold in it not applied.
        let broken = text
            .replace("min_free_disk_mb = 512", "min_free_disk_mb = 9")
            .replace("site_gln = \"0361414000001\"", "site_gln = \"12\"");
        std::fs::write(&file, broken).expect("write");
        r.reload(&threshold);
        assert_eq!(
            (threshold.get(), r.running.gateway.min_free_disk_mb),
            (7, 7)
        );
        std::fs::remove_file(&file).expect("rm");
        r.reload(&threshold);
        assert_eq!(threshold.get(), 7, "an unreadable file changes nothing");
    }
}
