//! The disk guard: when free space under `gateway.data_dir` runs low, sources stop taking input.
//!
//! Every `CHECK_EVERY` it asks the file system (statvfs, the space an unprivileged writer may
//! use) how much is free. Below `gateway.min_free_disk_mb` it closes the *intake*: sources
//! finish what the store already has, then hold further messages unacknowledged, so the broker
//! keeps them (a scanner station, which has no broker, holds its reads unanswered in memory) —
//! nothing is refused, dropped or acknowledged unstored. The part `disk` is reported unhealthy (logged once, systemd STATUS). When space is
//! back above the threshold plus a small margin (so a disk hovering at the line does not flap)
//! the intake opens again by itself. The check lives here, in front of the store rather than
//! inside the writer (ARCHITECTURE.md explains why): a paused source is backpressure, whereas
//! a refused commit would look to the source like a failing store.
//!
//! The threshold is live: `threshold()` hands out a [`Threshold`] through which a reloaded
//! configuration (SIGHUP, `reload`) sets a new `min_free_disk_mb`; the guard checks again at
//! once, so a lowered threshold reopens the intake without a restart (0 turns the guard off and
//! opens it).

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
    /// `gateway.min_free_disk_mb`, as configured now (set through [`Threshold`]).
    min_free_mb: watch::Sender<u64>,
    /// Subscribed at construction, so a threshold set before `run` first polls is not missed.
    threshold_set: watch::Receiver<u64>,
    health: Health,
    intake: watch::Sender<bool>,
}

/// Sets the guard's `min_free_disk_mb` while it runs (a configuration reload).
#[derive(Clone)]
pub struct Threshold(watch::Sender<u64>);

impl Threshold {
    /// The new threshold in MiB; the guard checks free space again at once.
    pub fn set(&self, min_free_mb: u64) {
        self.0.send_replace(min_free_mb);
    }

    pub fn get(&self) -> u64 {
        *self.0.borrow()
    }
}

impl DiskGuard {
    /// Checks once right away, so a start on a full disk takes no input at all.
    pub fn new(dir: &Path, min_free_mb: u64, health: Health) -> Self {
        let min_free_mb = watch::Sender::new(min_free_mb);
        let guard = DiskGuard {
            dir: dir.to_path_buf(),
            threshold_set: min_free_mb.subscribe(),
            min_free_mb,
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

    /// The handle a configuration reload sets the threshold through.
    pub fn threshold(&self) -> Threshold {
        Threshold(self.min_free_mb.clone())
    }

    /// Checks every `CHECK_EVERY`, and at once when the threshold is set, until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                // The guard holds a sender itself, so this never ends with an error.
                Ok(()) = self.threshold_set.changed() => self.check(),
                _ = tokio::time::sleep(CHECK_EVERY) => self.check(),
            }
        }
    }

    fn check(&self) {
        let min_free = self.min_free_mb.borrow().saturating_mul(MIB);
        if min_free == 0 {
            // Off: nothing to measure, and an intake closed under an earlier threshold opens.
            self.set_intake(true, None);
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
        let open = intake_open(was_open, free, min_free);
        let problem = (!open).then(|| {
            format!(
                "{} MiB free under {}, below gateway.min_free_disk_mb = {}: not taking input (held unacknowledged at the source) until space is freed or the threshold lowered",
                free / MIB,
                self.dir.display(),
                min_free / MIB
            )
        });
        self.set_intake(open, problem);
    }

    fn set_intake(&self, open: bool, problem: Option<String>) {
        self.health.set("disk", problem);
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

    #[tokio::test]
    async fn a_threshold_set_while_running_closes_and_reopens_the_intake_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let health = Health::new();
        let guard = DiskGuard::new(dir.path(), 0, health.clone());
        let (mut intake, threshold) = (guard.intake(), guard.threshold());
        let stop = CancellationToken::new();
        let task = tokio::spawn(guard.run(stop.clone()));
        // Well within one CHECK_EVERY: the change itself triggers the check.
        let within = Duration::from_millis(1500);
        threshold.set(1 << 40);
        tokio::time::timeout(within, intake.wait_for(|open| !open))
            .await
            .expect("closed at once")
            .expect("guard running");
        assert!(health.has_problem("disk") && threshold.get() == 1 << 40);
        // Lowered to 0 (off): open, and the problem is gone.
        threshold.set(0);
        tokio::time::timeout(within, intake.wait_for(|open| *open))
            .await
            .expect("open at once")
            .expect("guard running");
        assert!(health.is_healthy());
        stop.cancel();
        task.await.expect("guard stops");
    }
}
