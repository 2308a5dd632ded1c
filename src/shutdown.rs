//! OS signals in one place, and the readiness/stopping notices systemd expects.
//!
//! SIGTERM (systemd stop) and SIGINT (Ctrl-C) both mean "stop gracefully"; the app then stops
//! the sources first and gives the rest a deadline. Graceful shutdown is an optimisation only:
//! correctness never depends on it, because nothing is acknowledged before it is committed.

use sd_notify::NotifyState;

/// Resolves when the process is asked to stop.
pub async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            tracing::error!(
                "cannot install signal handlers; stop the daemon with SIGKILL (nothing acknowledged is lost)"
            );
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
    }
}

/// Tells systemd (when it is listening) the daemon is serving.
pub fn notify_ready() {
    notify(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

/// A one-line status for `systemctl status`.
pub fn notify_status(text: &str) {
    notify(&[NotifyState::Status(text)]);
}

/// Feeds systemd's service watchdog (`WatchdogSec=`); see `watchdog` for when.
pub fn notify_watchdog() {
    notify(&[NotifyState::Watchdog]);
}

pub fn notify_stopping() {
    notify(&[NotifyState::Stopping]);
}

fn notify(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
