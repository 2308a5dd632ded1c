//! The disk guard: when free space under `gateway.data_dir` runs low, sources stop taking input.
//!
//! Every `CHECK_EVERY` it asks the file system (statvfs, the space an unprivileged writer may
//! use) how much is free. Below `gateway.min_free_disk_mb` it closes the *intake*: sources
//! finish what the store already has, then hold further messages unacknowledged, so the broker
//! (or the scanner's own buffer) keeps them — nothing is refused, dropped or acknowledged
//! unstored. The part `disk` is reported unhealthy (logged once, systemd STATUS). When space is
//! back above the threshold plus a small margin (so a disk hovering at the line does not flap)
//! the intake opens again by itself. The check lives here, in front of the store rather than
//! inside the writer (ARCHITECTURE.md explains why): a paused source is backpressure, whereas
//! a refused commit would look to the source like a failing store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::health::Health;

/// How often free space is checked.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// The intake opens again only at the threshold plus this share of it (5 %).
const RESUME_MARGIN_DIVISOR: u64 = 20;
const MIB: u64 = 1024 * 1024;

/// Watches free disk space and opens or closes the intake.
pub struct DiskGuard {
    dir: PathBuf,
    min_free: u64,
    health: Health,
    intake: watch::Sender<bool>,
}

impl DiskGuard {
    /// Checks once right away, so a start on a full disk takes no input at all.
    pub fn new(dir: &Path, min_free_mb: u64, health: Health) -> Self {
        let guard = DiskGuard {
            dir: dir.to_path_buf(),
            min_free: min_free_mb.saturating_mul(MIB),
            health,
            intake: watch::Sender::new(true),
        };
        guard.check();
        guard
    }

    /// `true` while sources may hand input to the store.
    pub fn intake(&self) -> watch::Receiver<bool> {
        self.intake.subscribe()
    }

    /// Checks every `CHECK_EVERY` until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(CHECK_EVERY) => self.check(),
            }
        }
    }

    fn check(&self) {
        if self.min_free == 0 {
            return;
        }
        let free = match free_bytes(&self.dir) {
            Ok(f) => f,
            Err(e) => {
                // Keep the last verdict: the store itself reports a disk it cannot use.
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot read free disk space");
                return;
            }
        };
        let was_open = *self.intake.borrow();
        let open = intake_open(was_open, free, self.min_free);
        if open {
            self.health.set("disk", None);
        } else {
            self.health.set(
                "disk",
                Some(format!(
                    "{} MiB free under {}, below gateway.min_free_disk_mb = {}: not taking input (held unacknowledged at the source) until space is freed",
                    free / MIB,
                    self.dir.display(),
                    self.min_free / MIB
                )),
            );
        }
        self.intake
            .send_if_modified(|v| std::mem::replace(v, open) != open);
    }
}

/// The intake decision with hysteresis: close below `min`, reopen at `min` + 5 %.
fn intake_open(was_open: bool, free: u64, min: u64) -> bool {
    if was_open {
        free >= min
    } else {
        free >= min.saturating_add(min / RESUME_MARGIN_DIVISOR)
    }
}

/// Bytes available to an unprivileged writer on the file system holding `dir`.
fn free_bytes(dir: &Path) -> nix::Result<u64> {
    let s = nix::sys::statvfs::statvfs(dir)?;
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    let free = (s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64);
    Ok(free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intake_closes_below_the_threshold_and_reopens_above_the_margin() {
        let min = 512 * MIB;
        assert!(intake_open(true, min, min));
        assert!(!intake_open(true, min - 1, min));
        // Just above the threshold is not enough to reopen: no flapping at the line.
        assert!(!intake_open(false, min + MIB, min));
        assert!(intake_open(false, min + min / 20, min));
    }

    #[test]
    fn a_real_file_system_reports_free_space_and_an_impossible_threshold_closes_the_intake() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(free_bytes(dir.path()).expect("statvfs") > 0);
        let health = Health::new();
        let guard = DiskGuard::new(dir.path(), 1 << 40, health.clone());
        assert!(!*guard.intake().borrow());
        assert!(health.has_problem("disk"));
        let ok = DiskGuard::new(dir.path(), 0, health.clone());
        assert!(*ok.intake().borrow());
    }
}
