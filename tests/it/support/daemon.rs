//! Runs the real `linegate` binary: the daemon as a child process, and the CLI.
//!
//! Tests must see the daemon exactly as production does, so it is started as
//! `linegate run --config PATH` with a real `NOTIFY_SOCKET`; readiness is the
//! daemon's own `READY=1` datagram, never a delay. The same binary's CLI
//! (`outbox list`, `quarantine list`, `validate`) is the only window into its
//! state: no test reads the SQLite file behind the daemon's back.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixDatagram;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::{log_tail, pace};

pub const BIN: &str = env!("CARGO_BIN_EXE_linegate");
const READY_DEADLINE: Duration = Duration::from_secs(30);
const EXIT_DEADLINE: Duration = Duration::from_secs(30);
static SEQ: AtomicUsize = AtomicUsize::new(0);

pub struct Daemon {
    child: Child,
    pid: u32,
    log_path: PathBuf,
    drain: JoinHandle<()>,
}

impl Daemon {
    /// Spawns `linegate run --config PATH` and waits for its `READY=1`.
    /// Log and notify socket live next to the config file.
    pub async fn start(config: &Path) -> Result<Daemon> {
        let dir = config.parent().context("config has no parent dir")?;
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let log_path = dir.join(format!("daemon-{n}.log"));
        let sock_path = dir.join(format!("notify-{n}.sock"));
        let sock = UnixDatagram::bind(&sock_path).context("bind NOTIFY_SOCKET")?;
        let log = std::fs::File::create(&log_path)?;
        let mut child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,linegate=debug")
            .env("NOTIFY_SOCKET", &sock_path)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {BIN}"))?;
        let pid = child.id().context("daemon pid")?;
        let deadline = Instant::now() + READY_DEADLINE;
        let mut tick = pace(Duration::from_millis(100));
        let mut buf = vec![0u8; 4096];
        let mut seen = Vec::new();
        loop {
            tokio::select! {
                got = sock.recv(&mut buf) => {
                    let msg = String::from_utf8_lossy(&buf[..got?]).into_owned();
                    let ready = msg.lines().any(|l| l.trim() == "READY=1");
                    seen.push(msg);
                    if ready {
                        break;
                    }
                }
                _ = tick.tick() => {
                    if let Some(status) = child.try_wait()? {
                        bail!("daemon exited before READY=1 ({status}); log tail:\n{}",
                            log_tail(&log_path, 40));
                    }
                    if Instant::now() > deadline {
                        bail!("no READY=1 within {READY_DEADLINE:?} (got {seen:?}); log tail:\n{}",
                            log_tail(&log_path, 40));
                    }
                }
            }
        }
        // Keep reading the socket so later notifications (STOPPING=1,
        // WATCHDOG=1, ...) never block or fail in the daemon.
        let drain = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while sock.recv(&mut buf).await.is_ok() {}
        });
        Ok(Daemon {
            child,
            pid,
            log_path,
            drain,
        })
    }

    /// SIGKILL, then reap.
    pub async fn kill9(&mut self) -> Result<ExitStatus> {
        self.child.start_kill().context("SIGKILL daemon")?;
        Ok(self.child.wait().await?)
    }

    /// SIGTERM and wait (bounded) for the process to exit.
    pub async fn terminate(&mut self) -> Result<ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await?;
        if !sent.success() {
            bail!("kill -TERM {} failed: {sent}", self.pid);
        }
        tokio::time::timeout(EXIT_DEADLINE, self.child.wait())
            .await
            .map_err(|_| anyhow!("daemon still running {EXIT_DEADLINE:?} after SIGTERM"))?
            .context("wait for daemon")
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The daemon's combined stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.drain.abort();
        let _ = self.child.start_kill();
        // libtest shows a test's stderr only when the test fails (or with
        // --nocapture), so the tail is always written: it is what explains a
        // failure, whether the test panicked or returned an error.
        eprintln!(
            "---- linegate log tail ({}) ----\n{}",
            self.log_path.display(),
            log_tail(&self.log_path, 60)
        );
    }
}

/// Result of one CLI invocation.
pub struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// stdout and stderr together, for "the message is printed somewhere".
    pub fn all_text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `linegate ARGS...` to completion (bounded).
pub async fn cli(args: &[&str]) -> Result<CliOutput> {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .map_err(|_| anyhow!("linegate {args:?} did not finish within 60 s"))??;
    Ok(CliOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Runs `linegate <sub...> --config PATH --json`, requires exit 0, parses stdout.
pub async fn cli_json<T: DeserializeOwned>(sub: &[&str], config: &Path) -> Result<T> {
    let config = config.to_str().context("non-UTF-8 config path")?;
    let mut args = sub.to_vec();
    args.extend(["--config", config, "--json"]);
    let out = cli(&args).await?;
    if !out.status.success() {
        bail!(
            "linegate {args:?} failed ({}):\n{}",
            out.status,
            out.all_text()
        );
    }
    serde_json::from_str(&out.stdout).with_context(|| {
        format!(
            "stdout of linegate {args:?} is not the expected JSON:\n{}",
            out.stdout
        )
    })
}

/// A row of `linegate outbox list --json`.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboxRow {
    pub document_id: String,
    /// None for documents of no batch (shipments, per-event messages).
    pub batch: Option<String>,
    pub upstream: String,
    pub state: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// A row of `linegate quarantine list --json`.
#[derive(Debug, Clone, Deserialize)]
pub struct QuarantineRow {
    pub id: i64,
    pub received_at: String,
    pub line: Option<String>,
    pub topic: String,
    pub message_id: Option<String>,
    pub code: String,
    pub reason: String,
    pub payload_len: u64,
}
